#!/usr/bin/env bash
# Starts the local services the tests talk to, unless they already run: PostgreSQL on
# 127.0.0.1:5432 (trust auth, user postgres) with a database `test`. Idempotent and quiet;
# scripts/test.sh runs it first. When Postgres cannot be started it says so and carries on:
# the Postgres tests then fail with the same advice. Last, it installs moto's S3 server
# (scripts/moto.sh) for the files destination's S3 tests.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

if ! command -v pg_isready >/dev/null 2>&1; then
    echo "services.sh: PostgreSQL is not installed (no pg_isready); the Postgres tests will fail." >&2
    exit 0
fi
if ! pg_up; then
    if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1; then
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
        done
    fi
    for _ in $(seq 1 30); do
        pg_up && break
        sleep 1
    done
fi
if ! pg_up; then
    echo "services.sh: PostgreSQL does not answer on 127.0.0.1:5432; start it with" \
        "'pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start'." >&2
    exit 0
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1; then
    createdb -h 127.0.0.1 -U postgres test
fi
"$(dirname "${BASH_SOURCE[0]}")/moto.sh" >/dev/null || echo "services.sh: could not install moto (scripts/moto.sh); the S3 tests of dest-files will fail" >&2

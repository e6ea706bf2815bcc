#!/usr/bin/env bash
# The test suite, on a fresh machine: fetches the prebuilt libduckdb, builds, runs every test
# (unit, integration against the emulator over 127.0.0.1, real DuckDB files, the CLI binary).
# Extra arguments go to the test runner (e.g. scripts/test.sh -E 'test(resume)').
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/services.sh   # PostgreSQL on 127.0.0.1:5432 with a database `test`, for dest-postgres
# shellcheck disable=SC2086
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace $SPILLWAY_CARGO_FEATURES --no-fail-fast "$@"
else
    cargo test --workspace $SPILLWAY_CARGO_FEATURES --no-fail-fast "$@"
fi

#!/usr/bin/env bash
# The demo, on a fresh machine: builds spillway against the prebuilt libduckdb, starts the
# Convex emulator in-process with sample data and syncs it into ./demo.duckdb.
# Arguments go to `spillway demo` (e.g. --sample 100000, --path other.duckdb).
set -euo pipefail
here="$(pwd)"
cd "$(dirname "$0")/.."
source scripts/env.sh
# shellcheck disable=SC2086
cargo build --quiet --bin spillway $SPILLWAY_CARGO_FEATURES
cd "$here"
exec "$CARGO_TARGET_DIR/debug/spillway" demo "$@"

# Sourced by the other scripts: a shared target directory outside the clone (so CI and later
# sessions reuse the build) and the prebuilt libduckdb (see prebuilt-duckdb.sh).
# shellcheck shell=bash
export SPILLWAY_CACHE="${SPILLWAY_CACHE:-$HOME/.cache/spillway}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SPILLWAY_CACHE/target}"
DUCKDB_LIB_DIR="$("$(dirname "${BASH_SOURCE[0]}")/prebuilt-duckdb.sh")"
export DUCKDB_LIB_DIR
export LD_LIBRARY_PATH="$DUCKDB_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Linking the prebuilt library instead of compiling DuckDB.
export SPILLWAY_CARGO_FEATURES="--no-default-features"

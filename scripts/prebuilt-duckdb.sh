#!/usr/bin/env bash
# Fetch DuckDB's official prebuilt libduckdb.so (1.5.6, the version the `duckdb` crate
# 1.10506.x binds) from the npm registry and print the directory holding it.
#
# Building DuckDB from source takes ~45 minutes on two cores; tests, CI and the demo link this
# prebuilt library instead (cargo --no-default-features + DUCKDB_LIB_DIR). `cargo install`
# keeps the default `bundled` feature and needs none of this.
set -euo pipefail

version="1.5.6-r.1"
dir="${SPILLWAY_CACHE:-$HOME/.cache/spillway}/duckdb-${version}"
if [[ ! -f "$dir/libduckdb.so" ]]; then
    command -v npm >/dev/null || { echo "prebuilt-duckdb: npm is needed to fetch libduckdb (apt-get install npm)" >&2; exit 1; }
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "@duckdb/node-bindings-linux-x64@${version}" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    mkdir -p "$dir"
    cp "$tmp/package/libduckdb.so" "$dir/libduckdb.so.part"
    mv "$dir/libduckdb.so.part" "$dir/libduckdb.so"
fi
echo "$dir"

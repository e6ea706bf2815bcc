#!/usr/bin/env bash
# Installs moto's S3-compatible server (for the files destination's S3 tests) into a venv
# under the spillway cache, once, and prints the path of its `moto_server` executable.
# Idempotent: a second run only prints the path.
set -euo pipefail
cache="${SPILLWAY_CACHE:-$HOME/.cache/spillway}"
venv="$cache/moto-venv"
server="$venv/bin/moto_server"
if [ ! -x "$server" ]; then
    mkdir -p "$cache"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]' >&2
fi
echo "$server"

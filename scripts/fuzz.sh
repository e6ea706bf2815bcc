#!/usr/bin/env bash
# Fuzzes the Convex page parser and value decoder (fuzz/fuzz_targets/) for a while each.
#
#   scripts/fuzz.sh [seconds] [target...]    # default: 20 s, every target
#
# Installs cargo-fuzz if missing and builds with the pinned stable toolchain (RUSTC_BOOTSTRAP=1
# unlocks the sanitizer flags cargo-fuzz needs), into a target directory of its own so the main
# build cache stays valid. New inputs grow fuzz/corpus/<target>/ (ignored by git). Exits 1 if a
# target crashed; the input that did it is in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(page_parser value_decoder)
fi
for t in "${targets[@]}"; do
    if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
        echo "fuzz: no target $t (see fuzz/fuzz_targets/)" >&2
        exit 2
    fi
done

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz into ~/.cargo/bin"
    env -u CARGO_TARGET_DIR cargo install cargo-fuzz --version 0.13.2 --locked
fi

export SPILLWAY_CACHE="${SPILLWAY_CACHE:-$HOME/.cache/spillway}"
# Always our own: scripts/env.sh (sourced by .ci/run) points CARGO_TARGET_DIR at the main one.
export CARGO_TARGET_DIR="$SPILLWAY_CACHE/fuzz-target"
export RUSTC_BOOTSTRAP=1

logs="$SPILLWAY_CACHE/fuzz-logs"
mkdir -p "$logs"
# -a: debug assertions and overflow checks; address sanitizer (cargo-fuzz's default).
flags=(-a --fuzz-dir fuzz)
echo "fuzz: building (log: $logs/build.log)"
if ! cargo fuzz build "${flags[@]}" >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log" >&2
    echo "fuzz: build failed" >&2
    exit 1
fi

failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "fuzz: $t for ${seconds}s (log: $logs/$t.log)"
    if cargo fuzz run "${flags[@]}" "$t" -- \
        -max_total_time="$seconds" -timeout=30 -dict="$PWD/fuzz/convex.dict" \
        -print_final_stats=1 >"$logs/$t.log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)|^#[0-9]+.*DONE' "$logs/$t.log" | sed 's/^/  /'
        echo "  corpus: $(find "fuzz/corpus/$t" -type f | wc -l) inputs"
    else
        echo "fuzz: $t FAILED (full output: $logs/$t.log):" >&2
        grep -E -A3 'panicked at|^==[0-9]+== ?ERROR|^SUMMARY' "$logs/$t.log" | head -n 40 >&2 ||
            tail -n 20 "$logs/$t.log" >&2
        artifact="$(sed -n 's/.*Test unit written to //p' "$logs/$t.log" | tail -n 1)"
        echo "fuzz: crash input: ${artifact:-see fuzz/artifacts/$t/}; reproduce with:" >&2
        echo "  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz run -a --fuzz-dir fuzz $t ${artifact:-fuzz/artifacts/$t/<file>}" >&2
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in ${targets[*]} (${seconds}s each)"

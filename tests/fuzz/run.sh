#!/bin/bash
# Builds (if needed) and runs every libFuzzer target for SECONDS each.
# Usage: tests/fuzz/run.sh [SECONDS]   (default 60)
# Exits non-zero when a target crashes or reports; the reproducer is left in
# build-fuzz/fuzz-artifacts/. New inputs go to a scratch copy of the corpus,
# so the committed seed corpus stays as it is.
set -eu

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BK_FUZZ_BUILD_DIR:-$root/build-fuzz}
targets="fuzz_request fuzz_response fuzz_record_batch fuzz_metadata fuzz_principal fuzz_sasl"

if ! command -v clang >/dev/null 2>&1; then
    # Not a finding: the unit tests do not need clang. Set
    # BK_FUZZ_REQUIRED=1 to make a missing clang an error.
    echo "fuzz: SKIP, clang not found (libFuzzer needs clang)" >&2
    [ "${BK_FUZZ_REQUIRED:-0}" = 1 ] && exit 1
    exit 0
fi

mkdir -p "$build"
log="$build/fuzz-build.log"
if [ ! -f "$build/CMakeCache.txt" ]; then
    if ! CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
        -DBK_FUZZ=ON -DBK_TESTS=ON >"$log" 2>&1; then
        echo "fuzz: cmake failed:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
fi
# shellcheck disable=SC2086
if ! cmake --build "$build" -j2 --target $targets >"$log" 2>&1; then
    echo "fuzz: build failed:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi

mkdir -p "$build/fuzz-artifacts"
# One target per core at a time: each libFuzzer run is single-threaded, so
# on a 2-core machine two run side by side in the time of one.
fuzz_one() { # fuzz_one TARGET: runs it; returns its status
    local t=$1 work seeds
    work=$(mktemp -d)
    seeds="$root/tests/fuzz/corpus/$t"
    echo "fuzz: $t for ${secs}s"
    local rc=0
    if ! "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$t-" \
        "$work" "$seeds" >"$build/fuzz-artifacts/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see $build/fuzz-artifacts/$t.log" >&2
        tail -n 40 "$build/fuzz-artifacts/$t.log" >&2
        rc=1
    else
        grep -E '^stat::number_of_executed_units' \
            "$build/fuzz-artifacts/$t.log" || true
    fi
    rm -rf "$work"
    return $rc
}

par=$(nproc 2>/dev/null || echo 1)
status=0
pids=()
for t in $targets; do
    fuzz_one "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$par" ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status

#!/bin/sh
# Runs each libFuzzer target of BUILD for SECONDS on its seed corpus (fuzz/corpus/<t>,
# copied to a scratch corpus so new inputs do not land in the repository). A crash
# leaves its input in fuzz/findings/<t>/; keep it as fuzz/regress/<t>/<name> once
# fixed (tests/fuzz/test_fuzz_regress.c runs those in every build).
# FUZZ_SEED: libFuzzer's -seed (make fuzz-smoke sets 1 so CI explores the same inputs
# each run; unset, 0: a new seed each run, as a campaign wants).
# usage: tools/run-fuzz.sh BUILD SECONDS [TARGET...]
set -eu
build=$1
secs=$2
shift 2
targets=${*:-"safetensors idx cifar image npy mat onnx"}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for t in $targets; do
    bin="$build/fuzz_$t"
    [ -x "$bin" ] || { echo "run-fuzz: $bin is not built" >&2; exit 2; }
    work=$(mktemp -d "${TMPDIR:-/tmp}/cnn-fuzz-$t-XXXXXX")
    cp "$root/fuzz/corpus/$t"/* "$work"/
    [ -d "$root/fuzz/regress/$t" ] && cp "$root/fuzz/regress/$t"/* "$work"/ 2>/dev/null || true
    mkdir -p "$root/fuzz/findings/$t"
    echo "== fuzz_$t: ${secs}s"
    # -rss_limit_mb: a reader must stay bounded; -timeout: and fast on every input
    if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive \
        "$bin" -seed="${FUZZ_SEED:-0}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$root/fuzz/findings/$t/" -print_final_stats=1 "$work" 2>"$work.log"; then
        tail -40 "$work.log" >&2
        echo "fuzz_$t: FAILED (input in fuzz/findings/$t/)" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|cov:" "$work.log" | tail -2
    fi
    rm -rf "$work" "$work.log"
done
exit $status

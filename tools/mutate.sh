#!/bin/bash
# Mutation check of the test suite: plants each bug of tools/mutations.list in turn,
# rebuilds (own build dir), runs CTest on both backends (cpu, then CNN_BACKEND=ref)
# and restores the sources, even on Ctrl-C. Prints caught / missed per bug.
#
#   tools/mutate.sh [-j N] [-B builddir] [-R regex] [-E regex] [-k] [--baseline] [bug ...]
#     -j N        build and CTest parallelism (default 2)
#     -B dir      build directory (default build-mutate; configured on first use)
#     -R / -E     restrict / exclude CTest tests by regex (default: the whole suite)
#     -k          keep going after a backend's first failing test (default: stop
#                 there, which is enough to call the bug caught and much faster)
#     --baseline  first run the suite unmutated (it must pass)
#     --list      print the bug names and exit
#     bug ...     only these bugs (default: every bug in the list)
# Run it on a tree nobody edits meanwhile (it changes src/ files while it runs), e.g.
# a copy: mkdir /tmp/cnn-mut && git ls-files -z | xargs -0 cp --parents -t /tmp/cnn-mut && /tmp/cnn-mut/tools/mutate.sh
# Ctrl-C (or kill -TERM) stops it and restores the sources. (A job started with '&'
# from a script ignores SIGINT: stop that one with kill -TERM.)
# Exit status: the number of bugs missed on at least one backend (plus those not
# applied), 0 when every planted bug was caught on both backends.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIST="$ROOT/tools/mutations.list"
JOBS=2
BUILD="$ROOT/build-mutate"
KEEP=0
BASELINE=0
CTEST_SEL=()
ONLY=()
while [ $# -gt 0 ]; do
    case "$1" in
    -j) JOBS="$2"; shift 2 ;;
    -B) BUILD=$(realpath -m "$2"); shift 2 ;;
    -R | -E) CTEST_SEL+=("$1" "$2"); shift 2 ;;
    -k) KEEP=1; shift ;;
    --baseline) BASELINE=1; shift ;;
    --list) awk '$1 == "bug" { print $2 }' "$LIST"; exit 0 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "mutate.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) ONLY+=("$1"); shift ;;
    esac
done

# Parse the list into parallel arrays: NAMES[i], WHYS[i], EDITS[i] (edits joined by
# a newline, each "file<TAB>sed-expression").
NAMES=() WHYS=() EDITS=()
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
    "bug "*) NAMES+=("$(echo "${line#bug }" | xargs)"); WHYS+=(""); EDITS+=("") ;;
    "why "*) WHYS[${#WHYS[@]}-1]="$(echo "${line#why }" | sed 's/^ *//')" ;;
    "edit "*)
        rest=$(echo "${line#edit }" | sed 's/^ *//')
        file=${rest%% *}
        expr=${rest#* }
        i=$((${#EDITS[@]} - 1))
        EDITS[$i]+="$file"$'\t'"$expr"$'\n' ;;
    esac
done <"$LIST"
for b in "${ONLY[@]}"; do
    found=0
    for n in "${NAMES[@]}"; do [ "$n" = "$b" ] && found=1; done
    [ $found = 1 ] || { echo "mutate.sh: no bug '$b' in $LIST (see --list)" >&2; exit 2; }
done

# Restore every planted file from its backup: on success, error and signals.
BACKUP=$(mktemp -d /tmp/cnn-mutate.XXXXXX)
PLANTED=()
restore() {
    local f key
    for f in "${PLANTED[@]}"; do
        key=$(echo "$f" | tr / _)
        [ -f "$BACKUP/$key" ] && cp "$BACKUP/$key" "$ROOT/$f" && rm -f "$BACKUP/$key"
    done
    PLANTED=()
}
cleanup() { restore; rm -rf "$BACKUP"; }
# Builds and test runs go to the background and are waited for, so that a signal
# is handled at once: the trap stops them (by process id) and restores the sources.
CHILD=
kill_tree() {
    local p
    for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$p"; done
    kill -TERM "$1" 2>/dev/null
}
interrupted() {
    [ -n "$CHILD" ] && kill_tree "$CHILD"
    wait 2>/dev/null
    echo
    echo "mutate.sh: interrupted, sources restored" >&2
    exit 130
}
trap cleanup EXIT
trap interrupted INT TERM HUP
bg_wait() {
    "$@" &
    CHILD=$!
    wait "$CHILD"
    local rc=$?
    CHILD=
    return $rc
}

LOGDIR="$BUILD/mutate-logs"
mkdir -p "$LOGDIR"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$LOGDIR/configure.log" 2>&1 ||
        { echo "mutate.sh: cmake configure failed, see $LOGDIR/configure.log" >&2; exit 2; }
fi

# With -R / -E only the selected tests' programs (and the CLI) are rebuilt.
TARGETS=()
select_targets() {
    [ ${#CTEST_SEL[@]} -gt 0 ] || return 0
    local t
    for t in $(ctest --test-dir "$BUILD" -N "${CTEST_SEL[@]}" 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p'); do
        TARGETS+=(--target "test_$t")
    done
    [ ${#TARGETS[@]} -gt 0 ] && TARGETS+=(--target cnn)
}
build() { bg_wait cmake --build "$BUILD" -j "$JOBS" "${TARGETS[@]}" >"$1" 2>&1; }

# run_suite <backend> <log>: sets SUITE to "pass" or the failed tests (comma-separated).
# (No command substitution: the run stays in this shell, where the traps can stop it.)
run_suite() {
    local be=$1 log=$2 stop=(--stop-on-failure)
    [ $KEEP = 1 ] && stop=()
    rm -f "$BUILD/Testing/Temporary/LastTestsFailed.log"
    if [ "$be" = ref ]; then
        bg_wait env CNN_BACKEND=ref ctest --test-dir "$BUILD" -j "$JOBS" "${stop[@]}" --timeout 900 \
            "${CTEST_SEL[@]}" >"$log" 2>&1
    else
        bg_wait env -u CNN_BACKEND ctest --test-dir "$BUILD" -j "$JOBS" "${stop[@]}" --timeout 900 \
            "${CTEST_SEL[@]}" >"$log" 2>&1
    fi
    local rc=$?
    SUITE=pass
    [ $rc = 0 ] && return
    SUITE=$(sed -n 's/^[0-9]*:\(.*\)$/\1/p' "$BUILD/Testing/Temporary/LastTestsFailed.log" 2>/dev/null | paste -sd, -)
    SUITE=${SUITE:-ctest-rc$rc}
}

if [ ${#CTEST_SEL[@]} -gt 0 ]; then
    # the test list needs a configured and built tree once
    [ -f "$BUILD/CTestTestfile.cmake" ] || build "$LOGDIR/initial-build.log"
    select_targets
fi

if [ $BASELINE = 1 ]; then
    echo "== baseline (no bug planted)"
    build "$LOGDIR/baseline-build.log" || { echo "baseline build failed: $LOGDIR/baseline-build.log"; exit 2; }
    for be in cpu ref; do
        run_suite $be "$LOGDIR/baseline-$be.log"
        echo "   $be: $SUITE"
        [ "$SUITE" = pass ] || { echo "mutate.sh: the unmutated suite fails on $be; fix that first" >&2; exit 2; }
    done
fi

RESULTS=()
missed=0
for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]}
    if [ ${#ONLY[@]} -gt 0 ]; then
        sel=0
        for b in "${ONLY[@]}"; do [ "$b" = "$name" ] && sel=1; done
        [ $sel = 1 ] || continue
    fi
    echo "== $name: ${WHYS[$i]}"
    applied=1
    while IFS=$'\t' read -r file expr; do
        [ -n "$file" ] || continue
        key=$(echo "$file" | tr / _)
        if [ ! -f "$BACKUP/$key" ]; then
            cp "$ROOT/$file" "$BACKUP/$key" || { applied=0; break; }
            PLANTED+=("$file")
        fi
        before=$(md5sum <"$ROOT/$file")
        sed -i "$expr" "$ROOT/$file" || { applied=0; break; }
        [ "$before" != "$(md5sum <"$ROOT/$file")" ] || { echo "   edit changed nothing: $file $expr"; applied=0; }
    done <<<"${EDITS[$i]}"
    if [ $applied = 0 ]; then
        RESULTS+=("$name|not applied|not applied|")
        missed=$((missed + 1))
        restore
        continue
    fi
    t0=$(date +%s)
    if ! build "$LOGDIR/$name-build.log"; then
        echo "   build failed (a bad mutation): $LOGDIR/$name-build.log"
        RESULTS+=("$name|build failed|build failed|")
        missed=$((missed + 1))
        restore
        continue
    fi
    run_suite cpu "$LOGDIR/$name-cpu.log"
    rc=$SUITE
    run_suite ref "$LOGDIR/$name-ref.log"
    rr=$SUITE
    t1=$(date +%s)
    c=$([ "$rc" = pass ] && echo MISSED || echo caught)
    r=$([ "$rr" = pass ] && echo MISSED || echo caught)
    echo "   cpu: $c ${rc#pass}; ref: $r ${rr#pass} ($((t1 - t0)) s)"
    [ "$c" = caught ] && [ "$r" = caught ] || missed=$((missed + 1))
    RESULTS+=("$name|$c|$r|cpu: ${rc#pass}; ref: ${rr#pass}")
    restore
done
# leave the build dir matching the restored sources
build "$LOGDIR/final-build.log" || true

echo
printf '%-26s %-8s %-8s %s\n' bug cpu ref "first failing tests"
for r in "${RESULTS[@]}"; do
    IFS='|' read -r n c rr by <<<"$r"
    printf '%-26s %-8s %-8s %s\n' "$n" "$c" "$rr" "$by"
done
echo "missed or not applied: $missed of ${#RESULTS[@]}"
exit $missed

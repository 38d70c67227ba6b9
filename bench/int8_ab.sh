#!/bin/sh
# int8 vs fp32 speed, alternated in the same minutes (docs/architecture.md, "int8
# precision"): per model and batch, ROUNDS rounds of cnn bench (median ms per batch,
# ITERS iterations, THREADS threads): fp32 of CNN, int8 of CNN_OLD (if given: the
# binary before a change), int8 of CNN. A loaded machine moves every number, so only
# the same round's figures compare; the table gives each round and the ratio of the
# medians over rounds.
# usage: bench/int8_ab.sh [CNN] [CNN_OLD|-] [OUT_DIR]   (needs Debian's dataset-fashion-mnist)
# Environment: MODELS ("mobilenet_v2 resnet18 shufflenet_v2_x1_0"), BATCHES ("1 16"),
# ROUNDS (4), ITERS (40 at batch 1; a quarter, at least 4, above), THREADS (2),
# CALIB (8 resized Fashion-MNIST images, entropy calibration; random weights, 1x224x224),
# CPU (1: instead of wall-clock medians, user CPU ms per batch = (CPU time of ITERS + 1
# iterations - that of 1) / ITERS, GNU time's %U: robust to other jobs on a loaded
# machine, blind to threads waiting on each other, so use THREADS=1 with it).
# An OUT_DIR/M.int8.safetensors already there is used as it is.
set -eu
CNN=${1:-build/cnn}
OLD=${2:--}
OUT=${3:-${TMPDIR:-/tmp}/cnn_int8_ab}
MODELS=${MODELS-mobilenet_v2 resnet18 shufflenet_v2_x1_0}
BATCHES=${BATCHES:-1 16}
ROUNDS=${ROUNDS:-4}
IT1=${ITERS:-40}
T=${THREADS:-2}
CALIB=${CALIB:-8}
mkdir -p "$OUT"
ms() {
    if [ "${CPU:-0}" = 1 ]; then
        a=$(/usr/bin/time -f %U "$@" --threads "$T" --iters 1 --warmup 0 --peak 100 2>&1 >/dev/null | tail -1)
        b=$(/usr/bin/time -f %U "$@" --threads "$T" --iters $((IT + 1)) --warmup 0 --peak 100 2>&1 >/dev/null | tail -1)
        echo "$a $b $IT" | awk '{printf "%.2f", ($2 - $1) * 1000 / $3}'
    else
        "$@" --threads "$T" --iters "$IT" --warmup 2 --peak 100 --json | sed 's/.*"ms_per_batch": \([0-9.]*\).*/\1/'
    fi
}
med() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $("$CNN" version | head -1); $T threads"
echo
if [ "$OLD" = - ]; then
    echo "| model | batch | fp32 ms (rounds) | int8 ms (rounds) | int8 speed-up (medians) | load |"
    echo "|---|---|---|---|---|---|"
else
    echo "| model | batch | fp32 ms (rounds) | int8 before ms (rounds) | int8 ms (rounds) | int8 speed-up before -> now (medians) | load |"
    echo "|---|---|---|---|---|---|---|"
fi
for m in $MODELS; do
    q="$OUT/$m.int8.safetensors"
    [ -f "$q" ] || "$CNN" quantize "$m" --input 1x224x224 --data fashion-mnist --resize 224x224 \
        --calib "$CALIB" --method entropy --batch 8 --out "$q" > "$OUT/$m.int8.log"
    for b in $BATCHES; do
        IT=$IT1
        [ "$b" -gt 1 ] && IT=$((IT1 / 4 > 4 ? IT1 / 4 : 4))
        F='' O='' N=''
        l0=$(cut -d' ' -f1 /proc/loadavg)
        i=0
        while [ $i -lt "$ROUNDS" ]; do
            F="$F $(ms "$CNN" bench "$m" --input 1x224x224 --batch "$b")"
            [ "$OLD" = - ] || O="$O $(ms "$OLD" bench "$q" --batch "$b")"
            N="$N $(ms "$CNN" bench "$q" --batch "$b")"
            i=$((i + 1))
        done
        fm=$(echo "$F" | med) nm=$(echo "$N" | med)
        load="$l0 / $(cut -d' ' -f1 /proc/loadavg)"
        if [ "$OLD" = - ]; then
            echo "| $m | $b |$F |$N | $(echo "$fm $nm" | awk '{printf "%.2fx", $1 / $2}') | $load |"
        else
            om=$(echo "$O" | med)
            echo "| $m | $b |$F |$O |$N | $(echo "$fm $om $nm" | awk '{printf "%.2fx -> %.2fx", $1 / $2, $1 / $3}') | $load |"
        fi
    done
done

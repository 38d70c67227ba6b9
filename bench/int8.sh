#!/bin/sh
# int8 vs fp32 on one machine in one run (docs/architecture.md, "int8 precision"):
#   accuracy  LeNet and a ReLU6 MobileNet V2 (width 0.5, 32x32 input) trained on
#             Fashion-MNIST by cnn.c, then quantized with each calibration method (512
#             training examples) and evaluated on the 10000 test images; a HybridSN
#             trained on a synthetic hyperspectral scene (cnn hsi-synth, 60x60x40, 8
#             classes, PCA 15, patch 11), the same on its 70% test split (OA);
#   speed     cnn bench of mobilenet_v2, resnet18, shufflenet_v2_x1_0 (random weights,
#             1x224x224 input so Fashion-MNIST resized can calibrate them) at batch 1
#             and 16, fp32 vs the int8 checkpoint, median ms per batch;
#   size      the weights' bytes, fp32 vs int8 (as cnn quantize reports them).
# usage: bench/int8.sh [CNN_BINARY] [OUT_DIR]   (needs Debian's dataset-fashion-mnist)
# (OUT_DIR defaults to $TMPDIR/cnn_int8)
# Environment: EPOCHS_LENET (default 5), EPOCHS_MBV2 (2), LIMIT_MBV2 (60000), EPOCHS_HSN (3),
# ITERS (10), ACC_MODELS ("lenet mobilenet_v2 hybridsn"), SPEED_MODELS ("mobilenet_v2 resnet18 shufflenet_v2_x1_0"),
# SPEED_CALIB (32 examples), SPEED_METHOD (entropy); an empty ACC_MODELS / SPEED_MODELS skips that part. A checkpoint already in OUT_DIR
# (OUT_DIR/lenet.safetensors, OUT_DIR/mobilenet_v2.safetensors, OUT_DIR/hybridsn.safetensors)
# is used as it is.
set -eu
CNN=${1:-build/cnn}
OUT=${2:-${TMPDIR:-/tmp}/cnn_int8}
EL=${EPOCHS_LENET:-5}
EM=${EPOCHS_MBV2:-2}
LM=${LIMIT_MBV2:-60000}
EH=${EPOCHS_HSN:-3}
IT=${ITERS:-10}
ACC=${ACC_MODELS-lenet mobilenet_v2 hybridsn}
SPEED=${SPEED_MODELS-mobilenet_v2 resnet18 shufflenet_v2_x1_0}
SC=${SPEED_CALIB:-32}
SMETH=${SPEED_METHOD:-entropy}
mkdir -p "$OUT"
HSI="hsi:$OUT/hsi/synthetic.mat --pca 15 --patch 11 --test-ratio 0.7"
data_of() { case "$1" in hybridsn) echo "$HSI";; *) echo fashion-mnist;; esac; }
# shellcheck disable=SC2046,SC2086
acc() { "$CNN" eval "$1" --data $(data_of "$2") --json | sed 's/.*"overall_acc": \([0-9.]*\).*/\1/'; }
ms() { "$CNN" bench "$@" --iters "$IT" --warmup 2 --json | sed 's/.*"ms_per_batch": \([0-9.]*\).*/\1/'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $("$CNN" version | head -1)"
echo
echo "## accuracy (Fashion-MNIST test, 10000 images; hybridsn: overall accuracy on the 70% test split)"
case " $ACC " in *" lenet "*) [ -f "$OUT/lenet.safetensors" ] || "$CNN" train lenet --data fashion-mnist --epochs "$EL" --batch 256 \
    --lr 0.9 --init xavier --out "$OUT/lenet.safetensors" > "$OUT/lenet_train.log";; esac
case " $ACC " in *" mobilenet_v2 "*) [ -f "$OUT/mobilenet_v2.safetensors" ] || "$CNN" train mobilenet_v2 --data fashion-mnist --width 0.5 \
    --input 1x32x32 --resize 32x32 --epochs "$EM" --limit-train "$LM" --batch 64 --optimizer adam --lr 0.002 \
    --out "$OUT/mobilenet_v2.safetensors" > "$OUT/mobilenet_v2_train.log";; esac
# shellcheck disable=SC2086
case " $ACC " in *" hybridsn "*) [ -f "$OUT/hybridsn.safetensors" ] || { [ -f "$OUT/hsi/synthetic.mat" ] ||
    "$CNN" hsi-synth --out "$OUT/hsi" --height 60 --width 60 --bands 40 --classes 8 > /dev/null; "$CNN" train hybridsn \
    --data $HSI --epochs "$EH" --batch 64 --optimizer adam --lr 0.001 --out "$OUT/hybridsn.safetensors" \
    > "$OUT/hybridsn_train.log"; };; esac
echo "| model | fp32 | int8 minmax | int8 percentile | int8 entropy | weights fp32 -> int8 |"
echo "|---|---|---|---|---|---|"
for m in $ACC; do
    f=$(acc "$OUT/$m.safetensors" "$m")
    line="| $m | $f"
    for meth in minmax percentile entropy; do
        # shellcheck disable=SC2046
        "$CNN" quantize "$OUT/$m.safetensors" --data $(data_of "$m") --calib 512 --method $meth \
            --out "$OUT/$m.$meth.safetensors" > "$OUT/$m.$meth.log"
        line="$line | $(acc "$OUT/$m.$meth.safetensors" "$m")"
    done
    size=$(grep '^weights:' "$OUT/$m.entropy.log" | sed 's/weights: \(.*\); wrote.*/\1/')
    echo "$line | $size |"
done
echo
echo "## speed (cnn bench, median ms per batch, $IT iterations; random weights, input 1x224x224,"
echo "## int8 scales from $SMETH calibration on $SC resized Fashion-MNIST images)"
echo "| model | batch | fp32 ms | int8 ms | int8 speed-up | weights fp32 -> int8 |"
echo "|---|---|---|---|---|---|"
for m in $SPEED; do
    "$CNN" quantize $m --input 1x224x224 --data fashion-mnist --resize 224x224 --calib "$SC" \
        --method "$SMETH" --batch 8 \
        --out "$OUT/$m.int8.safetensors" > "$OUT/$m.int8.log"
    size=$(grep '^weights:' "$OUT/$m.int8.log" | sed 's/weights: \(.*\); wrote.*/\1/')
    for b in 1 16; do
        f=$(ms $m --input 1x224x224 --batch $b)
        q=$(ms "$OUT/$m.int8.safetensors" --batch $b)
        echo "| $m | $b | $f | $q | $(echo "$f $q" | awk '{printf "%.2fx", $1 / $2}') | $size |"
    done
done

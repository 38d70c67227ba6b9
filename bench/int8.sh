#!/bin/sh
# int8 vs fp32 on one machine in one run (docs/architecture.md, "int8 precision"):
#   accuracy  LeNet and a ReLU6 MobileNet V2 trained on Fashion-MNIST by cnn.c, then
#             quantized with each calibration method (512 training examples) and
#             evaluated on the 10000 test images;
#   speed     cnn bench of mobilenet_v2, resnet18, shufflenet_v2_x1_0 (random weights,
#             1x224x224 input so Fashion-MNIST resized can calibrate them) at batch 1
#             and 16, fp32 vs the int8 checkpoint, median ms per batch;
#   size      the weights' bytes, fp32 vs int8 (as cnn quantize reports them).
# usage: bench/int8.sh [CNN_BINARY] [OUT_DIR]   (needs Debian's dataset-fashion-mnist)
# Environment: EPOCHS_LENET (default 5), EPOCHS_MBV2 (1), LIMIT_MBV2 (20000), ITERS (10).
set -eu
CNN=${1:-build/cnn}
OUT=${2:-bench/int8_out}
EL=${EPOCHS_LENET:-5}
EM=${EPOCHS_MBV2:-1}
LM=${LIMIT_MBV2:-20000}
IT=${ITERS:-10}
mkdir -p "$OUT"
acc() { "$CNN" eval "$1" --data fashion-mnist --json | sed 's/.*"overall_acc": \([0-9.]*\).*/\1/'; }
ms() { "$CNN" bench "$@" --iters "$IT" --warmup 2 --json | sed 's/.*"ms_per_batch": \([0-9.]*\).*/\1/'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $("$CNN" version | head -1)"
echo
echo "## accuracy (Fashion-MNIST test, 10000 images)"
[ -f "$OUT/lenet.safetensors" ] || "$CNN" train lenet --data fashion-mnist --epochs "$EL" --batch 256 \
    --lr 0.9 --init xavier --out "$OUT/lenet.safetensors" > "$OUT/lenet_train.log"
[ -f "$OUT/mobilenet_v2.safetensors" ] || "$CNN" train mobilenet_v2 --data fashion-mnist --width 0.5 \
    --epochs "$EM" --limit-train "$LM" --batch 64 --optimizer adam --lr 0.002 \
    --out "$OUT/mobilenet_v2.safetensors" > "$OUT/mobilenet_v2_train.log"
echo "| model | fp32 | int8 minmax | int8 percentile | int8 entropy | weights fp32 -> int8 |"
echo "|---|---|---|---|---|---|"
for m in lenet mobilenet_v2; do
    f=$(acc "$OUT/$m.safetensors")
    line="| $m | $f"
    for meth in minmax percentile entropy; do
        "$CNN" quantize "$OUT/$m.safetensors" --data fashion-mnist --calib 512 --method $meth \
            --out "$OUT/$m.$meth.safetensors" > "$OUT/$m.$meth.log"
        line="$line | $(acc "$OUT/$m.$meth.safetensors")"
    done
    size=$(grep '^weights:' "$OUT/$m.entropy.log" | sed 's/weights: \(.*\); wrote.*/\1/')
    echo "$line | $size |"
done
echo
echo "## speed (cnn bench, median ms per batch, $IT iterations; random weights, input 1x224x224)"
echo "| model | batch | fp32 ms | int8 ms | int8 speed-up | weights fp32 -> int8 |"
echo "|---|---|---|---|---|---|"
for m in mobilenet_v2 resnet18 shufflenet_v2_x1_0; do
    "$CNN" quantize $m --input 1x224x224 --data fashion-mnist --resize 224x224 --calib 32 --batch 16 \
        --out "$OUT/$m.int8.safetensors" > "$OUT/$m.int8.log"
    size=$(grep '^weights:' "$OUT/$m.int8.log" | sed 's/weights: \(.*\); wrote.*/\1/')
    for b in 1 16; do
        f=$(ms $m --input 1x224x224 --batch $b)
        q=$(ms "$OUT/$m.int8.safetensors" --batch $b)
        echo "| $m | $b | $f | $q | $(echo "$f $q" | awk '{printf "%.2fx", $1 / $2}') | $size |"
    done
done

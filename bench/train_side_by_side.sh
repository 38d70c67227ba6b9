#!/usr/bin/env bash
# Trains the same recipe with cnn.c and PyTorch on real Fashion-MNIST, in one run,
# with the same thread count, and prints both tables and the images/s ratio.
#   bench/train_side_by_side.sh [lenet|lenet_relu] [EPOCHS] [THREADS]
# Needs: make (build/cnn), dataset-fashion-mnist, python3-torch (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-lenet}
epochs=${2:-10}
threads=${3:-$(nproc)}
if [ "$model" = lenet ]; then
  cnn_args=(--lr 0.9); torch_args=(--lr 0.9)
else
  # SGD lr 0.1 momentum 0.9 diverges for some seeds on both sides; Adam is stable
  cnn_args=(--optimizer adam --lr 0.002 --resize 32x32); torch_args=(--optimizer adam --lr 0.002)
fi
echo "== cnn.c ($(./build/cnn version))"
./build/cnn train "$model" --data fashion-mnist --epochs "$epochs" --batch 256 --init xavier \
  --threads "$threads" --quiet "${cnn_args[@]}" | tee /tmp/cnn_side.txt
echo "== PyTorch"
/usr/bin/python3 bench/torch_train.py "$model" --epochs "$epochs" --batch 256 --threads "$threads" \
  "${torch_args[@]}" | tee /tmp/torch_side.txt
awk 'FNR==1{f++} /^ +[0-9]+ /{ips[f]+=$5; n[f]++; acc[f]=$4}
     END{a=ips[1]/n[1]; b=ips[2]/n[2];
         printf "\nmean images/s: cnn.c %.0f, PyTorch %.0f, ratio %.2fx; final test acc: cnn.c %s, PyTorch %s\n", a, b, a/b, acc[1], acc[2]}' \
  /tmp/cnn_side.txt /tmp/torch_side.txt

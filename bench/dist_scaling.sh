#!/usr/bin/env bash
# Data-parallel training, 1 rank x T threads against 2 ranks x T/2 threads (the same
# total threads), on Fashion-MNIST: images/s, time per step split into collectives
# (all-reduce, including waiting for the slower rank) and the rest (compute, data), and
# the gradient bytes all-reduced per step, per model. Feeds docs/scaling.md.
#   bench/dist_scaling.sh [THREADS] [STEPS]
# Needs: make (build/cnn with MPI), openmpi-bin, dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-20}
half=$(( threads / 2 > 0 ? threads / 2 : 1 ))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
mpirun=(mpirun --oversubscribe --bind-to none)
printf "%-14s %6s %-12s %9s %10s %12s %12s %14s\n" model batch ranks×thr img/s ms/step "comm ms" "other ms" "bytes/step"
run() { # model batch extra-args...
  local model=$1 batch=$2; shift 2
  local common=(train "$model" --data fashion-mnist --epochs 1 --batch "$batch" --limit-train $(( batch * steps ))
                --limit-test "$batch" --lr 0.01 --quiet "$@")
  local one two
  one=$(./build/cnn "${common[@]}" --threads "$threads")
  two=$("${mpirun[@]}" -np 2 ./build/cnn "${common[@]}" --threads "$half")
  for out in "$one" "$two"; do
    local ips ranks comm other bytes
    ips=$(awk '/^ +1 /{print $5}' <<<"$out")
    if grep -q "^communication" <<<"$out"; then
      ranks="2×$half"
      comm=$(sed -n 's/^per step.*: \([0-9.]*\) ms in collectives.*/\1/p' <<<"$out")
      other=$(sed -n 's/^per step.*collectives, \([0-9.]*\) ms the rest.*/\1/p' <<<"$out")
      bytes=$(sed -n 's/.*all-reduced per step: \([0-9]*\) bytes.*/\1/p' <<<"$out")
    else
      ranks="1×$threads"; comm=0; other=-; bytes=0
    fi
    printf "%-14s %6s %-12s %9s %10.1f %12s %12s %14s\n" "$model" "$batch" "$ranks" "$ips" \
      "$(awk -v b="$batch" -v i="$ips" 'BEGIN{print 1000*b/i}')" "$comm" "$other" "$bytes"
  done
}
run lenet 256 --init xavier
run resnet18 64 --resize 32
run mobilenet_v2 64 --resize 32

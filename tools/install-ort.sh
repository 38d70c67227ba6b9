#!/bin/sh
# Installs ONNX Runtime's Node.js package into DIR/node_modules (default build/ort) for
# the ONNX Runtime round-trip test (tests/io/test_onnx_export.c). The package bundles
# the CPU runtime (bin/napi-v*/linux/<arch>/libonnxruntime.so.1); --ignore-scripts
# skips its install script, which only fetches the optional CUDA binaries.
# Needs node and npm (Debian: nodejs, npm) and the npm registry.
set -eu
dir=${1:-build/ort}
version=${ORT_NODE_VERSION:-1.31.1}
here=$(cd "$(dirname "$0")" && pwd)
arch=$(uname -m)
case "$arch" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; esac
if ls "$dir"/node_modules/onnxruntime-node/bin/napi-v*/linux/"$arch"/libonnxruntime.so* >/dev/null 2>&1; then
    exit 0
fi
command -v node >/dev/null 2>&1 || "$here/install-deps.sh" nodejs
command -v npm >/dev/null 2>&1 || "$here/install-deps.sh" npm
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "cnn-ort-test", "private": true}' > package.json
echo "installing onnxruntime-node@$version into $dir (npm)"
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "onnxruntime-node@$version"
if ! ls node_modules/onnxruntime-node/bin/napi-v*/linux/"$arch"/libonnxruntime.so* >/dev/null 2>&1; then
    echo "error: onnxruntime-node@$version ships no CPU runtime for linux/$arch" >&2
    exit 1
fi

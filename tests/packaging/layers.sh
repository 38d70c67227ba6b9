#!/bin/sh
# Layers that only point down (docs/architecture.md, "Layers and who includes what"):
# no file under src/{zoo,train,io,data,cli,export,dist} includes the graph layer's
# internals (graph/graph_internal.h), an operator header (ops/*.h), the kernel table
# (kernels/*), the SIMD helpers (core/clones.h, core/vmath.h), nor the internal core
# and graph interfaces (core/core.h, core/optim_seg.h, graph/graph_api.h): they use
# include/ (cnn.h) and their own layer's headers. The allow-list below names each
# exception and why.
# Usage: layers.sh SOURCE_DIR. Also checks itself: a planted violation must be found.
set -eu
src=$1

# file|header|reason: the exceptions, one a line. None today: the exporters and tools
# read a graph through include/cnn/describe.h and cnn_graph_profile, calibration uses
# the executor's public observer, allocation and atomic files are in include/cnn/core.h,
# the optimizer's graph interface in include/cnn/train.h. A new entry needs a reason
# a reviewer accepts.
ALLOW=''

# scan ROOT: prints "file: header" for every forbidden include not allowed
scan() {
    root=$1
    for dir in zoo train io data cli export dist; do
        [ -d "$root/src/$dir" ] || continue
        find "$root/src/$dir" -type f \( -name '*.c' -o -name '*.h' \) | sort | while read -r f; do
            rel=${f#"$root"/}
            grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
                sed -E 's/^[^"]*"([^"]*)".*/\1/' | while read -r h; do
                case "$h" in
                *graph_internal.h | *ops/* | *kernels/* | *kernels.h | *clones.h | *vmath.h | \
                    *ops_common.h | *op_describe.h | *conv_common.h | \
                    *core/core.h | *core/optim_seg.h | *graph/graph_api.h) ;;
                *) continue ;;
                esac
                tail=$(echo "$h" | sed -E 's@^(\.\./)+@@')
                if echo "$ALLOW" | grep -q -F "$rel|$tail|"; then continue; fi
                echo "$rel: $h"
            done
        done
    done
}

# self-check: a planted include of graph_internal.h in zoo/ is reported
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/zoo"
printf '#include "../graph/graph_internal.h"\n' >"$tmp/src/zoo/planted.c"
if [ -z "$(scan "$tmp")" ]; then
    echo "FAIL: the scan does not see a planted include (the check itself is broken)"
    exit 1
fi
# ... and so are planted includes of core.h and graph_api.h in a layer's own header
mkdir -p "$tmp/src/train"
printf '#include "../core/core.h"\n#include "../graph/graph_api.h"\n' >"$tmp/src/train/planted.h"
if [ "$(scan "$tmp" | grep -c 'src/train/planted.h')" -ne 2 ]; then
    echo "FAIL: the scan does not see planted core.h / graph_api.h includes"
    exit 1
fi

bad=$(scan "$src")
if [ -n "$bad" ]; then
    echo "FAIL: internal headers included above the graph layer (use include/cnn.h, or"
    echo "add an accessor; docs/architecture.md, \"Layers and who includes what\"):"
    echo "$bad" | sed 's/^/  /'
    exit 1
fi
echo "ok: zoo, train, io, data, cli, export and dist include no internal core/graph/ops/kernel header"
if [ -n "$(echo "$ALLOW" | sed '/^$/d')" ]; then
    echo "allowed exceptions:"
    echo "$ALLOW" | sed '/^$/d; s/|/: /; s/|/ -- /; s/^/  /'
fi

#!/bin/sh
# `cmake --install` into a temporary prefix, then the README's C example ("The C API
# in ten lines") compiled with `pkg-config --cflags --libs cnn` against the installed
# library, shared and static (--static, libcnn.a), and run: one training step.
# Usage: install.sh CMAKE BUILD_DIR CC README [EXTRA_CFLAGS]
set -eu
cmake=$1 build=$2 cc=$3 readme=$4 extra=${5:-}
command -v pkg-config >/dev/null || { echo "pkg-config not found"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
pc=$(find "$prefix" -name cnn.pc)
[ -n "$pc" ] || { echo "FAIL: no cnn.pc installed under $prefix"; exit 1; }
echo "installed $pc:"
cat "$pc"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir cnn)
case $libdir in
"$prefix"/*) ;;
*) echo "FAIL: cnn.pc's libdir $libdir is not under the install prefix $prefix"; exit 1 ;;
esac
[ -f "$libdir/libcnn.so" ] && [ -f "$libdir/libcnn.a" ] || { echo "FAIL: no libcnn in $libdir"; exit 1; }
incdir=$(pkg-config --variable=includedir cnn)
[ -f "$incdir/cnn.h" ] || { echo "FAIL: no cnn.h at includedir"; exit 1; }
# every part the umbrella includes is installed beside it
for part in $(sed -n 's/^#include "\(cnn\/[a-z_]*\.h\)"/\1/p' "$incdir/cnn.h"); do
    [ -f "$incdir/$part" ] || { echo "FAIL: cnn.h includes $part, not installed"; exit 1; }
done

# The README's block, as it is: #include lines on top, the rest as main's body.
awk '/^## The C API in ten lines/ { s = 1 } s && /^```c/ { b = 1; next } b && /^```/ { exit }
     b { print }' "$readme" >"$tmp/block"
[ "$(wc -l <"$tmp/block")" -ge 8 ] || { echo "FAIL: README example not found in $readme"; exit 1; }
{
    echo '#include <math.h>'
    echo '#include <stdio.h>'
    grep '^#include' "$tmp/block"
    cat <<'C'
int main(void)
{
    static float images[256 * 28 * 28], labels[256];
    int n = 256;
    for (int i = 0; i < n * 28 * 28; i++) images[i] = (float)(i % 97) / 97.0f;
    for (int i = 0; i < n; i++) labels[i] = (float)(i % 10);
C
    grep -v '^#include' "$tmp/block" | sed 's/^/    /'
    cat <<'C'
    if (cnn_graph_status(g) != CNN_OK || !opt) {
        fprintf(stderr, "example failed: %s\n", cnn_error_message());
        return 1;
    }
    float l = cnn_node_value(loss).data[0];
    printf("loss %.4f after one step on %d images\n", l, n);
    cnn_optimizer_free(opt);
    cnn_graph_free(g);
    return isfinite(l) && l > 0.0f ? 0 : 1;
}
C
} >"$tmp/example.c"

# shellcheck disable=SC2086,SC2046
"$cc" -std=c11 -Wall -Werror $extra -o "$tmp/example_shared" "$tmp/example.c" \
    $(pkg-config --cflags --libs cnn) -Wl,-rpath,"$libdir"
"$tmp/example_shared"
ldd "$tmp/example_shared" | grep -q "$libdir/libcnn.so" ||
    { echo "FAIL: the shared example does not use $libdir/libcnn.so"; exit 1; }
echo "ok: shared"
# Static: libcnn.a and what --static adds (Requires.private, Libs.private).
# shellcheck disable=SC2086,SC2046
"$cc" -std=c11 -Wall -Werror $extra -o "$tmp/example_static" "$tmp/example.c" \
    $(pkg-config --cflags cnn) "$libdir/libcnn.a" $(pkg-config --static --libs cnn | sed 's/-lcnn//')
"$tmp/example_static"
if ldd "$tmp/example_static" | grep -q libcnn; then echo "FAIL: static example uses libcnn.so"; exit 1; fi
echo "ok: static"

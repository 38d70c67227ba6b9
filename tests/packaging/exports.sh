#!/bin/sh
# The shared library exports exactly the functions include/cnn.h declares (the umbrella
# and every part it includes, include/cnn/*.h, each under the visibility pragma): no internal
# cnn_* symbol leaks out (the library is built -fvisibility=hidden and the header
# marks its declarations default-visible; docs/architecture.md, "Build options"), and
# no declared function is missing. Usage: exports.sh CC HEADER LIBCNN.so
set -eu
cc=$1 header=$2 lib=$3
command -v nm >/dev/null || { echo "nm (binutils) not found"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Declared functions: every `cnn_name (` in the preprocessed header (function-pointer
# typedefs read `(*cnn_name)(` and do not match).
"$cc" -E -P -x c "$header" | grep -o 'cnn_[A-Za-z0-9_]*[[:space:]]*(' | sed 's/[[:space:](]//g' |
    sort -u >"$tmp/declared"
nm -D --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[TDBRVWiu]$/ { print $3 }' |
    grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start | sort -u >"$tmp/exported"
n_decl=$(wc -l <"$tmp/declared")
n_exp=$(wc -l <"$tmp/exported")
echo "$lib: $n_exp symbols exported, $n_decl functions declared in $header"
[ "$n_decl" -gt 100 ] || { echo "FAIL: only $n_decl declarations found in $header"; exit 1; }
fail=0
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
if [ -n "$extra" ]; then
    echo "FAIL: exported but not declared in the public header:"
    echo "$extra" | sed 's/^/  /'
    fail=1
fi
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$missing" ]; then
    echo "FAIL: declared in the public header but not exported:"
    echo "$missing" | sed 's/^/  /'
    fail=1
fi
[ "$fail" -eq 0 ] && echo "ok: the exports are the public API"
exit "$fail"

#!/usr/bin/env bash
# container-rootfs.sh OUT BINARY...: the root filesystem of an image FROM scratch. Each
# BINARY goes to OUT/usr/bin/ without its debug sections, with every shared library `ldd`
# names (the dynamic loader included) at the path the loader looks for it: exactly what the
# binary loads, nothing else. A static binary brings no library.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 OUT BINARY..." >&2
    exit 2
fi
out=$1
shift

mkdir -p "$out/usr/bin"
for binary in "$@"; do
    [ -x "$binary" ] || { echo "container-rootfs: $binary is not an executable" >&2; exit 1; }
    strip --strip-debug -o "$out/usr/bin/$(basename "$binary")" "$binary"
    # "libx.so.1 => /lib/…/libx.so.1 (0x…)" or "/lib64/ld-linux….so.2 (0x…)": the first
    # absolute path on a line; the vDSO has none. ldd fails on a static binary.
    libraries=$(ldd "$binary" 2>/dev/null || true)
    while read -r library; do
        [ -n "$library" ] || continue
        [ -e "$out$library" ] || install -D -m 0755 "$library" "$out$library"
    done < <(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; break } }' <<<"$libraries")
done

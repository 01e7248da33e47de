#!/usr/bin/env bash
# Installs what compatd's tests and benchmark need: QEMU user mode (the translator compatd
# launches programs under; `qemu-user` is the dynamic build that accepts TCG plugins,
# `qemu-user-static` the static one) and the riscv64 and aarch64 cross compilers with their
# C libraries (the tests cross-compile the shipped C programs). All are Debian 12 packages.
# Idempotent: does nothing when everything is present. Needs root (or sudo) only when
# something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v qemu-riscv64 >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
command -v qemu-riscv64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
command -v riscv64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-riscv64-linux-gnu)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
[ -e /usr/riscv64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-riscv64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-arm64-cross)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-compat: qemu-user, qemu-user-static and the riscv64/aarch64 cross compilers already installed"
    exit 0
fi

apt_install install-compat "${missing[@]}"

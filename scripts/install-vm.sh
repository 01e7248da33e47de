#!/usr/bin/env bash
# Installs what the guest-kernel tests need (crates/server/tests/guest_tiers.rs): QEMU's
# system emulator, a static busybox for the guest's init, cpio, kmod (depmod/modprobe to order
# the CXL modules), xz, and ndctl/daxctl (the `cxl`, `ndctl` and `daxctl` the CXL scenario runs
# inside the guest, copied in with their shared libraries). Then caches Debian's 6.12 cloud
# kernel, unpacked, under the build folder: `target/vm/kernel/<version>/` with `vmlinuz`, the
# CXL/DAX modules decompressed to `modules/<name>.ko`, and `modules/load-order` (dependency
# order). `target/vm/kernel/current` names the version the tests boot; `kernel/lts` names
# Debian 12's own 6.1 cloud kernel, booted once to show discovery on a kernel whose memory
# tiers ignore HMAT.
#
# The kernel is never installed on the host: `apt-get download` + `dpkg-deb -x`. The versioned
# package is resolved through the meta-package on every run (old versions leave the mirror);
# when the mirror cannot be reached, an already cached kernel is used.
# Idempotent. Needs root (or sudo) only to install packages.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${CORRIDOR_VM_CACHE:-$repo/target/vm}
# The modules the CXL scenario loads (memory-cxl/kvm-tiers recipe); their dependencies are
# added by modprobe's resolution below.
cxl_modules="libnvdimm cxl_acpi cxl_pci cxl_mem cxl_pmem nd_btt nd_pmem device_dax dax_pmem dax_cxl kmem"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    as_root=(false)
fi

missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
command -v depmod >/dev/null 2>&1 || missing+=(kmod)
command -v ndctl >/dev/null 2>&1 || missing+=(ndctl)
command -v daxctl >/dev/null 2>&1 || missing+=(daxctl)
if [ ${#missing[@]} -gt 0 ]; then
    if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        "${as_root[@]}" apt-get update
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
fi
# depmod and modprobe live in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

mkdir -p "$cache/kernel"
# Unpacking directories of a failed run do not outlive it.
trap 'rm -rf "$cache"/unpack.*' EXIT

# cache_kernel META NAME [MODULES…]: the kernel META points to, unpacked into
# $cache/kernel/<version>/ (vmlinuz, and MODULES with their dependencies decompressed into
# modules/ with their load order), its version recorded in $cache/kernel/NAME.
cache_kernel() {
    local meta=$1 name=$2
    shift 2
    local version
    version=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}' || true)
    version=${version#linux-image-}
    if [ -z "$version" ]; then
        if [ -s "$cache/kernel/$name" ]; then
            echo "install-vm: cannot resolve $meta; using the cached kernel $(cat "$cache/kernel/$name")"
            return 0
        fi
        echo "install-vm: cannot resolve $meta and no kernel is cached" >&2
        return 1
    fi
    local dest="$cache/kernel/$version"
    if [ -s "$dest/vmlinuz" ] && [ -f "$dest/modules/load-order" ]; then
        echo "$version" > "$cache/kernel/$name"
        echo "install-vm: kernel $version cached ($name)"
        return 0
    fi
    local work
    work=$(mktemp -d "$cache/unpack.XXXXXX")
    (cd "$work" && apt-get download "linux-image-$version" >/dev/null 2>&1) || {
        # apt drops privileges to _apt for downloads; a root-owned cache directory is fine too.
        (cd "$work" && "${as_root[@]}" apt-get download "linux-image-$version")
    }
    dpkg-deb -x "$work"/linux-image-*.deb "$work/root"
    depmod -b "$work/root" "$version"
    mkdir -p "$work/out/modules"
    cp "$work/root/boot/vmlinuz-$version" "$work/out/vmlinuz"
    : > "$work/out/modules/load-order"
    # `-C /dev/null`: ignore the host's modprobe.d (ndctl ships an `install libnvdimm` rule).
    for module in "$@"; do
        modprobe -C /dev/null -d "$work/root" -S "$version" --show-depends "$module"
    done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r path; do
        local module_name
        module_name=$(basename "$path")
        module_name=${module_name%.xz}
        module_name=${module_name%.ko}
        case "$path" in
            *.xz) xz -dc "$path" > "$work/out/modules/$module_name.ko" ;;
            *) cp "$path" "$work/out/modules/$module_name.ko" ;;
        esac
        echo "$module_name" >> "$work/out/modules/load-order"
    done
    rm -rf "$dest"
    mv "$work/out" "$dest"
    rm -rf "$work"
    echo "$version" > "$cache/kernel/$name"
    echo "install-vm: cached kernel $version ($name, $(wc -l < "$dest/modules/load-order") modules) in $dest"
}

# The kernel the tests boot (6.12: HMAT-aware memory tiers, CXL regions), with the CXL modules.
# shellcheck disable=SC2086
cache_kernel linux-image-6.12-cloud-amd64 current $cxl_modules
# Debian 12's own kernel (6.1), where every node sits in one memory tier: discovery must still
# classify by HMAT. The two-node scenario only, so no modules.
cache_kernel linux-image-cloud-amd64 lts

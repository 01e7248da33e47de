#!/bin/busybox sh
# PID 1 of the guest-kernel tests (crates/server/tests/guest_tiers.rs builds the initramfs
# around it): mounts the kernel's filesystems, brings up loopback, onlines the emulated CXL
# memory as a NUMA node in the `cxl` scenario, runs the test agent and powers off. The host
# test passes on the agent's own result lines, never on this script's.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
ip link set lo up

scenario=$(sed -n 's/.*corridor\.scenario=\([a-z0-9]*\).*/\1/p' /proc/cmdline)
echo "corridor-guest: kernel $(uname -r), scenario ${scenario:-none}"
# The host's huge-page policy for memfds (Debian's default is `never`).
shmem=$(sed -n 's/.*corridor\.shmem=\([a-z_]*\).*/\1/p' /proc/cmdline)
if [ -n "$shmem" ]; then
    echo "$shmem" > /sys/kernel/mm/transparent_hugepage/shmem_enabled
    echo "corridor-guest: shmem_enabled $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"
fi

# 2 MiB hugetlb pages per node, for memqosd's hugetlb bundles.
hugetlb=$(sed -n 's/.*corridor\.hugetlb=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$hugetlb" ] && [ "$hugetlb" -gt 0 ]; then
    for pool in /sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages; do
        echo "$hugetlb" > "$pool"
        echo "corridor-guest: $pool $(cat "$pool")"
    done
fi

step() {
    echo "corridor-guest: $*"
    "$@" > /tmp/step.log 2>&1 || { echo "corridor-guest: FAILED: $*"; cat /tmp/step.log; }
}

if [ "$scenario" = cxl ]; then
    for module in $(cat /modules/load-order); do
        insmod "/modules/$module.ko" || echo "corridor-guest: insmod $module failed"
    done
    # cxl_pci probes asynchronously: wait for the memory device.
    n=0
    while [ ! -e /sys/bus/cxl/devices/mem0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    # The recipe of ../shared/reference/kvm-tiers.md §4: a persistent region on the Type-3
    # device, a devdax namespace on it, handed to the kernel as system RAM (a new node).
    step cxl create-region -m -d decoder0.0 -w 1 -g 256 -t pmem mem0
    step ndctl create-namespace -r region0 -m devdax
    # Debian's kernel onlines hot-added memory itself, and daxctl then refuses to race it
    # ("kernel policy will auto-online memory"): leave onlining to daxctl.
    echo offline > /sys/devices/system/memory/auto_online_blocks
    step daxctl reconfigure-device --mode=system-ram dax0.0
fi

CORRIDOR_GUEST_SCENARIO="$scenario" /bin/agent guest_agent --exact --ignored --nocapture --test-threads=1
echo "corridor-guest: agent exited $?"
poweroff -f

#!/usr/bin/env bash
# Installs ndctl, whose `cxl` tool the device inventory runs (`cxl list`) to discover CXL
# memory devices on Linux, and whose real output a hal test decodes
# (crates/hal/tests/cxl_discovery.rs). Debian 12 packages ndctl 76.1. Without CXL hardware
# `cxl list` prints an empty array and exits 0, so the test runs on any machine.
# Idempotent: does nothing when `cxl` is present. Needs root (or sudo) only to install.
set -euo pipefail

if command -v cxl >/dev/null 2>&1; then
    echo "install-cxl: cxl already installed ($(cxl version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-cxl: need root (or sudo) to install ndctl" >&2
    exit 1
fi

# An apt cache with no package lists cannot resolve anything; refresh it once in that case only.
if ! apt-cache policy ndctl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    "${as_root[@]}" apt-get update
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ndctl
command -v cxl >/dev/null 2>&1 || { echo "install-cxl: ndctl installed but no cxl on PATH" >&2; exit 1; }
echo "install-cxl: installed ndctl ($(cxl version))"

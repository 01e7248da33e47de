#!/usr/bin/env bash
# Installs ndctl, whose `cxl` tool the device inventory runs (`cxl list`) to discover CXL
# memory devices on Linux, and whose real output a hal test decodes
# (crates/hal/tests/cxl_discovery.rs). Debian 12 packages ndctl 76.1. Without CXL hardware
# `cxl list` prints an empty array and exits 0, so the test runs on any machine.
# Idempotent: does nothing when `cxl` is present. Needs root (or sudo) only to install.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

if command -v cxl >/dev/null 2>&1; then
    echo "install-cxl: cxl already installed ($(cxl version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

apt_install install-cxl ndctl
command -v cxl >/dev/null 2>&1 || { echo "install-cxl: ndctl installed but no cxl on PATH" >&2; exit 1; }
echo "install-cxl: installed ndctl ($(cxl version))"

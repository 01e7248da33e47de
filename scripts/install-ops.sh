#!/usr/bin/env bash
# Installs what the operations tests use: systemd-analyze (verifies the
# installed unit; it needs no running systemd) and make. Idempotent: does
# nothing when both are on PATH. Needs root only when something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v make >/dev/null 2>&1 || missing+=(make)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-ops: systemd-analyze and make already installed"
    exit 0
fi

apt_install install-ops "${missing[@]}"

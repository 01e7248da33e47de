#!/usr/bin/env bash
# Installs what the operations tests use: systemd-analyze (verifies the
# installed unit; it needs no running systemd) and make. Idempotent: does
# nothing when both are on PATH. Needs root only when something is missing.
set -euo pipefail

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v make >/dev/null 2>&1 || missing+=(make)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-ops: systemd-analyze and make already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-ops: need root to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update
fi
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-ops: installed ${missing[*]}"

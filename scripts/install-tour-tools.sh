#!/usr/bin/env bash
# Installs what the README's tour uses beside corridorctl: curl (the REST
# calls) and jq (picks ids out of JSON answers). Idempotent: does nothing when
# both are on PATH. Needs root only when something is missing.
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-tour-tools: curl and jq already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-tour-tools: need root to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update
fi
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-tour-tools: installed ${missing[*]}"

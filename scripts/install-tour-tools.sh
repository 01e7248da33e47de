#!/usr/bin/env bash
# Installs what the README's tour uses beside corridorctl: curl (the REST
# calls) and jq (picks ids out of JSON answers). Idempotent: does nothing when
# both are on PATH. Needs root only when something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-tour-tools: curl and jq already installed"
    exit 0
fi

apt_install install-tour-tools "${missing[@]}"

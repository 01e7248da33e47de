#!/usr/bin/env bash
# Installs what the console's browser test drives: Debian's headless-capable
# Chromium and its WebDriver server (chromedriver). Idempotent: does nothing
# when both are on PATH. Needs root (or sudo) only when something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-browser: chromium and chromedriver already installed"
    exit 0
fi

apt_install install-browser "${missing[@]}"

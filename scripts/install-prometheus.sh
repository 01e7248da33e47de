#!/usr/bin/env bash
# Installs Prometheus and promtool (Debian's `prometheus` package ships
# both) for the metrics tests: `promtool check metrics` on a real scrape and
# a real Prometheus scraping corridord over mTLS. Idempotent: does nothing
# when both are on PATH. Needs root only when something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    echo "install-prometheus: prometheus and promtool already installed"
    exit 0
fi

# The package's post-install starts a service only where systemd is PID 1;
# the tests start their own Prometheus on a free loopback port.
apt_install install-prometheus prometheus
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-prometheus: $tool is still missing after installing the package" >&2
        exit 1
    }
done
echo "install-prometheus: installed prometheus $(prometheus --version 2>&1 | head -n1)"

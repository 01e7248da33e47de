#!/usr/bin/env bash
# Installs what the container images and the compose stack need (make images, make
# compose-up and the test that starts the stack): podman and buildah (build and run images
# without a Docker engine), runc (the runtime deploy/containers/containers.conf names),
# podman-compose, CNI's dnsname plugin (containers of one compose project find each other by
# service name) and strip (binutils; the images carry binaries without debug sections).
# All are Debian 12 packages. Idempotent: does nothing when everything is present. Needs root
# (or sudo) only when something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v podman-compose >/dev/null 2>&1 || missing+=(podman-compose)
dpkg -s golang-github-containernetworking-plugin-dnsname >/dev/null 2>&1 ||
    missing+=(golang-github-containernetworking-plugin-dnsname)
command -v strip >/dev/null 2>&1 || missing+=(binutils)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-containers: podman, buildah, runc, podman-compose and the dnsname plugin already installed"
    exit 0
fi

apt_install install-containers "${missing[@]}"

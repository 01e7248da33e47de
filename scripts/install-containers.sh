#!/usr/bin/env bash
# Installs what the container images and the compose stack need (make images, make
# compose-up and the test that starts the stack): podman and buildah (build and run images
# without a Docker engine), runc (the runtime deploy/containers/containers.conf names),
# podman-compose, CNI's dnsname plugin (containers of one compose project find each other by
# service name) and strip (binutils; the images carry binaries without debug sections).
# All are Debian 12 packages. Idempotent: does nothing when everything is present. Needs root
# (or sudo) only when something is missing.
set -euo pipefail

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

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-containers: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi

# An apt cache with no package lists cannot resolve anything; refresh it once in that case only.
if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    "${as_root[@]}" apt-get update
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-containers: installed ${missing[*]}"

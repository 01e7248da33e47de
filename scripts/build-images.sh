#!/usr/bin/env bash
# build-images.sh BUILT [TAG]: builds the images of deploy/compose.yaml with buildah, FROM
# scratch, no base image and no registry:
#   localhost/corridoros/corridord:TAG    corridord and corridorctl from the directory BUILT
#   localhost/corridoros/prometheus:TAG   Debian's prometheus and deploy/containers/prometheus.yml
#   localhost/corridoros/etcd:TAG         Debian's etcd, the store of the RFC daemons' stack
#                                         (docker-compose.yml at the repository root)
# each with exactly the shared libraries ldd names (scripts/container-rootfs.sh). The build
# contexts are assembled under target/containers/TAG (or $CORRIDOR_IMAGE_WORK/TAG) and removed
# afterwards. podman's settings come from CONTAINERS_CONF, by default
# deploy/containers/containers.conf.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILT [TAG]" >&2
    exit 2
fi
built=$1
tag=${2:-latest}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/deploy/containers/containers.conf}

for bin in corridord corridorctl; do
    [ -x "$built/$bin" ] || { echo "build-images: $built/$bin is missing: run 'make build' first" >&2; exit 1; }
done
prometheus=$(command -v prometheus) ||
    { echo "build-images: no prometheus on PATH: run scripts/install-prometheus.sh" >&2; exit 1; }
etcd=$(command -v etcd) ||
    { echo "build-images: no etcd on PATH: run scripts/install-etcd.sh" >&2; exit 1; }
command -v buildah >/dev/null 2>&1 ||
    { echo "build-images: no buildah on PATH: run scripts/install-containers.sh" >&2; exit 1; }

work=${CORRIDOR_IMAGE_WORK:-$repo/target/containers}/$tag
rm -rf "$work"
trap 'rm -rf "$work"' EXIT

# A user for the UID both images run as, so that tools inside show a name.
users() {
    mkdir -p "$1/etc"
    echo "corridoros:x:65532:65532:CorridorOS:/var/lib/corridoros:/nonexistent" > "$1/etc/passwd"
    echo "corridoros:x:65532:" > "$1/etc/group"
}

# --format docker keeps HEALTHCHECK (the OCI image format has no health check).
build() {
    local name=$1 context=$2
    buildah bud --quiet --format docker --layers=false \
        -f "$repo/deploy/containers/$name.Containerfile" \
        -t "localhost/corridoros/$name:$tag" "$context" >/dev/null
    echo "build-images: localhost/corridoros/$name:$tag"
}

ctx=$work/corridord
"$here/container-rootfs.sh" "$ctx/rootfs" "$built/corridord" "$built/corridorctl"
users "$ctx/rootfs"
mkdir -m 0700 "$ctx/state"
build corridord "$ctx"

ctx=$work/prometheus
"$here/container-rootfs.sh" "$ctx/rootfs" "$prometheus"
users "$ctx/rootfs"
mkdir -m 0700 "$ctx/data"
cp "$repo/deploy/containers/prometheus.yml" "$ctx/prometheus.yml"
build prometheus "$ctx"

ctx=$work/etcd
"$here/container-rootfs.sh" "$ctx/rootfs" "$etcd"
users "$ctx/rootfs"
mkdir -m 0700 "$ctx/data"
build etcd "$ctx"

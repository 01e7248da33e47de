#!/usr/bin/env bash
# Installs what the store's etcd comparison (and the future etcd backend) needs:
# a single-node etcd 3.4 server, etcdctl, and protoc plus the well-known .proto files
# (google/protobuf/*.proto, in libprotobuf-dev) for the etcd-client crate's build script.
# Idempotent: does nothing when the binaries are already on PATH. Must run as root.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || missing+=(libprotobuf-dev)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-etcd: etcd, etcdctl, protoc and the protobuf includes already installed"
    exit 0
fi

apt_install install-etcd "${missing[@]}"

# Debian's etcd-server package starts a system etcd on the default ports 2379/2380; the
# benchmark and tests start their own on free ports, so the packaged service only wastes memory.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl stop etcd || true
    systemctl disable etcd >/dev/null 2>&1 || true
fi


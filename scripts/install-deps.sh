#!/usr/bin/env bash
# Installs what `make test`, `make run` and `make bench` need on a fresh
# Debian 12 with the Rust toolchain. Idempotent: does nothing when all is
# present. Needs root (or sudo) only when something is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# Rust components the checks use.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

# etcd (for the store benchmark's side-by-side comparison and the etcd
# backend) and protoc (etcd-client compiles etcd's protobufs).
"$here/install-etcd.sh"

# The API contract tools (OpenAPI 3.1 validator, Schemathesis) under target/.
"$here/install-api-tools.sh"

# curl and jq for the README's tour (and the test that runs it).
"$here/install-tour-tools.sh"

# swtpm, tpm2-tools and libtss2-dev for TPM measured boot (quotes against a software TPM,
# tss-esapi's link, and tpm2_eventlog for the event-log cross-check).
"$here/install-tpm.sh"

# systemd-analyze for the installed unit's verification (make install test).
"$here/install-ops.sh"
# QEMU user mode and the riscv64/aarch64 cross compilers for compatd's launches and tests.
"$here/install-compat.sh"
# QEMU's system emulator, busybox, ndctl/daxctl and Debian's 6.12 cloud kernel (cached under
# target/vm) for the guest-kernel tests of memqosd on real NUMA/HMAT/CXL tiers.
"$here/install-vm.sh"
# Prometheus and promtool for the metrics tests (a real scrape checked by promtool,
# a real Prometheus scraping corridord over mTLS, the dashboards' queries).
"$here/install-prometheus.sh"
# podman, buildah, runc, podman-compose and CNI's dnsname plugin for the container images and
# the compose stack (make images, make compose-up, and the test that starts the stack).
"$here/install-containers.sh"

#!/usr/bin/env bash
# Installs what the TPM measured-boot code and its tests need: swtpm and swtpm-tools (the
# software TPM the tests start on free ports), libtss2-dev and pkg-config (tss-esapi 7.7
# links Debian 12's tpm2-tss 3.2 through pkg-config), and tpm2-tools (`tpm2_eventlog`, which
# the event-log tests use as an independent cross-check of our parser); and, for the test that
# shows a persistent memory bundle is ciphertext on disk (an ext4 image with `-O encrypt` on a
# loop device), e2fsprogs (mkfs.ext4, filefrag), mount (losetup, mount) and util-linux
# (blockdev).
# Idempotent: does nothing when everything is present. Needs root (or sudo) only when
# something is missing.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

missing=()
command -v swtpm >/dev/null 2>&1 || missing+=(swtpm)
command -v swtpm_setup >/dev/null 2>&1 || missing+=(swtpm-tools)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v tpm2_eventlog >/dev/null 2>&1 || missing+=(tpm2-tools)
command -v mkfs.ext4 >/dev/null 2>&1 && command -v filefrag >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v losetup >/dev/null 2>&1 && command -v mount >/dev/null 2>&1 || missing+=(mount)
command -v blockdev >/dev/null 2>&1 || missing+=(util-linux)
# The development package is what tss-esapi-sys's build script looks for.
if ! pkg-config --exists tss2-esys tss2-tctildr tss2-mu 2>/dev/null; then
    missing+=(libtss2-dev)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-tpm: swtpm, swtpm-tools, tpm2-tools, libtss2-dev, pkg-config and the loop-device tools already installed"
    exit 0
fi

apt_install install-tpm "${missing[@]}"

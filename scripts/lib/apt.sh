# Sourced by the install scripts: one way to install Debian packages.
#
# apt_install NAME PACKAGE...
#   Installs the packages with apt-get as root, or through sudo when not root (fails naming
#   them when neither is possible). The package lists are refreshed first only when apt cannot
#   resolve the first package (a fresh image's cache is empty; a warm one is not touched).
#   NAME prefixes the messages (the calling script's name).
apt_install() {
    local name=$1
    shift
    [ $# -gt 0 ] || return 0
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo)
        else
            echo "$name: need root (or sudo) to install: $*" >&2
            return 1
        fi
    fi
    if ! apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        "${as_root[@]}" apt-get update
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
    echo "$name: installed $*"
}

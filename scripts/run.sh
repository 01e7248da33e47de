#!/usr/bin/env bash
# Runs corridord in the foreground on the embedded store and the default
# twin, over HTTPS with the local PKI it creates in its state directory,
# and tells the user where it listens once it is ready.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release"
listen=${LISTEN:-127.0.0.1:7070}
server="https://$listen"
state=${CORRIDOR_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/corridoros}
pki="$state/pki"

# The twin host's measured boot runs on swtpm (scripts/install-tpm.sh installs it).
"$bin/corridord" --listen "$listen" --state-dir "$state" --log-format "${CORRIDOR_LOG_FORMAT:-text}" \
    --tpm "${CORRIDOR_TPM:-swtpm}" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 1 100); do
    if "$bin/corridorctl" --server "$server" --state-dir "$state" status >/dev/null 2>&1; then
        cat <<MSG

CorridorOS is listening on $server  (TLS 1.3, X25519MLKEM768; state and PKI: $state)
Try, in another terminal:
    $bin/corridorctl get devices
    curl -s --cacert $pki/ca.pem --cert $pki/admin.pem --key $pki/admin.key $server/v1/fabman/devices
Stop with Ctrl-C.

MSG
        break
    fi
    if ! kill -0 $pid 2>/dev/null; then
        wait $pid
        exit $?
    fi
    sleep 0.1
done
wait $pid

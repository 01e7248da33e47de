#!/usr/bin/env bash
# Runs corridord in the foreground on the embedded store and the default
# twin, and tells the user where it listens once it is ready.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release"
listen=${LISTEN:-127.0.0.1:7070}
server="http://$listen"

"$bin/corridord" --listen "$listen" --log-format "${CORRIDOR_LOG_FORMAT:-text}" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 1 100); do
    if "$bin/corridorctl" --server "$server" status >/dev/null 2>&1; then
        cat <<MSG

CorridorOS is listening on $server  (state: \${XDG_STATE_HOME:-~/.local/state}/corridoros)
Try, in another terminal:
    $bin/corridorctl --server $server get devices
    curl -s $server/v1/fabman/devices
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

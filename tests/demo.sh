#!/usr/bin/env bash
# make demo: the main job on the embedded default.
# standby serve (image target) on a unix socket; a simulated primary streams a
# 64 MiB HVM guest, 50 epochs at 50 ms, and crashes in epoch 37 mid-pages;
# standby fails over; standby verify checks the replica against the primary's
# expectations and prints the verified epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
S=./standby
D=$(mktemp -d /tmp/standby-demo.XXXXXX)
trap 'kill $SERVE 2>/dev/null || true; wait 2>/dev/null || true' EXIT

echo "== standby serve --listen unix:$D/sock --target image:$D/replicas"
$S serve --listen "unix:$D/sock" --target "image:$D/replicas" --status-socket "$D/status" 2>"$D/serve.log" &
SERVE=$!
for _ in $(seq 100); do [ -S "$D/sock" ] && break; sleep 0.05; done
[ -S "$D/sock" ] || { cat "$D/serve.log"; exit 1; }

echo "== standby primary: 64 MiB HVM guest 'demo', 50 epochs at 50 ms, crash in epoch 37 mid-pages"
$S primary --type hvm --memory 64M --mode remus --epochs 50 --interval 50 --name demo \
	--crash-in-epoch 37 --crash-at mid-pages --expect "$D/expect" --to "unix:$D/sock" || true

for _ in $(seq 100); do grep -q failover "$D/serve.log" && break; sleep 0.05; done
echo "== what standby logged:"
grep -E 'failover|error|activat' "$D/serve.log" || { cat "$D/serve.log"; exit 1; }
kill -TERM $SERVE; wait $SERVE || true

replica=$(find "$D/replicas" -mindepth 1 -maxdepth 1 -type d | head -1)
echo "== standby verify $replica --expect $D/expect"
$S verify "$replica" --expect "$D/expect"
echo "demo: ok (work files in $D)"

#!/usr/bin/env bash
# 32 streams at once to one `standby serve`: 30 well-behaved primaries (each
# its own domain and seed), one that stalls for a long time with its
# connection open, and one that sends garbage.  The others must all finish
# with correct replicas while the stalled one is still stalled; the garbage one
# gets an error line naming its stream; a second live stream for a domain
# that is already streaming is refused.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
T=$TESTTMP
N=30
start_serve $T/serve.log --listen unix:$T/sock --xl --target image:$T/root --heartbeat-ms 0 --status-socket $T/status

# the stalled one: xl-framed, domain "stalled", stops in epoch 1 for 600 s
"$STANDBY" primary --xl --name stalled --mode remus --epochs 4 --memory 256K --interval 0 \
	--stall-ms 600000 --stall-in-epoch 1 --stall-at mid-pages --to unix:$T/sock --quiet 2>/dev/null &
stalled=$!
wait_for "grep -q 'unix:1' $T/serve.log || [ -d $T/root/stalled ]" 5 || true
# the garbage one
python3 - "$T/sock" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(5)
try:
    s.recv(54)                      # the banner
    s.sendall(os.urandom(4096))
    s.recv(1)                       # wait for serve to drop us
except OSError:
    pass
PY
garbage=$!

pids=()
for i in $(seq $N); do
	"$STANDBY" primary --xl --name dom-$i --seed $i --mode remus --epochs 5 --memory 256K --interval 20 \
		--expect $T/e$i --to unix:$T/sock --quiet 2>$T/p$i.log &
	pids+=($!)
done
for i in $(seq $N); do
	wait ${pids[$((i - 1))]} || { cat $T/p$i.log; die "primary dom-$i failed"; }
done
for i in $(seq $N); do
	wait_for "[ \"\$(manifest_field $T/root/dom-$i activated)\" = true ]" 20 ||
		die "dom-$i not activated: $(grep dom-$i $T/serve.log)"
	check_replica $T/root/dom-$i $T/e$i 4
done
kill -0 $stalled 2>/dev/null || die "the stalled primary is gone already: the test proves nothing"
wait $garbage
grep -q "restore failed: parse error" $T/serve.log || die "no parse error line for the garbage stream: $(cat $T/serve.log)"

# the stalled stream is still live and visible in the status
"$STANDBY" status --socket $T/status >$T/status.json || die "standby status"
python3 - $T/status.json <<'PY' || die "status does not show the stalled stream: $(cat $T/status.json)"
import json, sys
doc = json.load(open(sys.argv[1]))
live = [s for s in doc["streams"] if s["domain"] == "stalled"]
assert len(live) == 1 and live[0]["phase"] == "buffering" and live[0]["committed_epoch"] == 0, live
PY

# a second stream for the same domain while it is live: refused, the first untouched
"$STANDBY" primary --xl --name stalled --mode remus --epochs 2 --memory 256K --interval 0 \
	--to unix:$T/sock --quiet 2>/dev/null
wait_for "grep -q \"domain 'stalled' already has a live stream\" $T/serve.log" 5 ||
	die "second stream for a live domain not refused: $(tail -5 $T/serve.log)"
[ "$(manifest_field $T/root/stalled committed_epoch)" = 0 ] || die "the refused stream touched the live replica"

kill $stalled 2>/dev/null; wait $stalled 2>/dev/null
stop_serve || die "serve did not stop cleanly"
echo "concurrent streams passed"

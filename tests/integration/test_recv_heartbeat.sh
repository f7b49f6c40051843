#!/usr/bin/env bash
# Heartbeat: a primary that stalls (connection open, no bytes) is failed over
# about one heartbeat after its last byte; a slow primary (checkpoints every
# 300 ms, heartbeat 1000 ms) is not; the heartbeat only counts once an epoch
# is committed; --heartbeat-ms 0 turns it off.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
T=$TESTTMP
P="--mode remus --memory 512K --quiet"

echo "== stall in epoch 2 with --heartbeat-ms 400"
: >$T/log1
start=$(date +%s.%N)
"$STANDBY" primary $P --epochs 6 --interval 0 --expect $T/e1 --stall-ms 8000 --stall-in-epoch 2 --stall-at mid-pages \
	--exec "$STANDBY receive --heartbeat-ms 400 --target image:$T/r1 2>$T/log1" 2>/dev/null &
pp=$!
wait_for "grep -q 'failover: heartbeat' $T/log1" 10 || die "no heartbeat failover: $(cat $T/log1)"
detected=$(date +%s.%N)
wait_for "[ \"\$(manifest_field $T/r1 activated)\" = true ]" 5 || die "not activated"
check_replica $T/r1 $T/e1 1
# silence began at the commit of epoch 1: failover between 0.4 s and 0.4 + 2 s later
python3 - "$T/r1/manifest.json" <<'PY' || die "failover outside the heartbeat window"
import json, sys
m = json.load(open(sys.argv[1]))
gap = m["activation_time"] - m["commit_time"]
print("failover %.3f s after the last commit" % gap)
sys.exit(0 if 0.38 <= gap <= 2.4 else 1)
PY
awk -v a="$start" -v b="$detected" 'BEGIN { exit !(b - a < 7) }' || die "failover waited for the stall to end"
kill $pp 2>/dev/null; wait $pp 2>/dev/null

echo "== slow primary: 300 ms between checkpoints, heartbeat 1000 ms"
"$STANDBY" primary $P --epochs 6 --interval 300 --expect $T/e2 \
	--exec "$STANDBY receive --heartbeat-ms 1000 --target image:$T/r2 2>$T/log2" || die "slow primary failed"
grep -q "heartbeat" $T/log2 && die "slow primary failed over on heartbeat: $(cat $T/log2)"
check_replica $T/r2 $T/e2 5

echo "== stall before the first commit: no heartbeat failover, nothing claimed"
"$STANDBY" primary $P --epochs 3 --interval 0 --stall-ms 1500 --stall-in-epoch 0 --stall-at mid-pages \
	--crash-in-epoch 0 --crash-at before-checkpoint-end \
	--exec "$STANDBY receive --heartbeat-ms 200 --target image:$T/r3 2>$T/log3" 2>/dev/null
grep -q "heartbeat" $T/log3 && die "heartbeat counted before the first commit: $(cat $T/log3)"
grep -q "restore failed" $T/log3 || die "no restore failure line: $(cat $T/log3)"
no_replica $T/r3

echo "== --heartbeat-ms 0: a 1.5 s stall is waited out"
"$STANDBY" primary $P --epochs 4 --interval 0 --expect $T/e4 --stall-ms 1500 --stall-in-epoch 2 --stall-at mid-pages \
	--exec "$STANDBY receive --heartbeat-ms 0 --target image:$T/r4 2>$T/log4" || die "primary (hb off)"
grep -q "heartbeat" $T/log4 && die "failover with heartbeat off"
check_replica $T/r4 $T/e4 3
echo "== serve --initial-timeout-ms: a stream silent before its first commit is dropped, its domain freed"
start_serve $T/serve.log --listen unix:$T/sock --xl --initial-timeout-ms 500 --target image:$T/root
"$STANDBY" primary --xl --name quiet $P --epochs 3 --interval 0 --stall-ms 20000 --stall-in-epoch 0 --stall-at mid-pages \
	--to unix:$T/sock 2>/dev/null &
qp=$!
wait_for "grep -q '(quiet): restore failed: initial timeout: no data for 500 ms before the first commit' $T/serve.log" 5 ||
	die "no initial timeout: $(cat $T/serve.log)"
"$STANDBY" primary --xl --name quiet $P --epochs 3 --interval 0 --expect $T/e5 --to unix:$T/sock || die "second stream for the freed domain"
wait_for "grep -q '(quiet): activated epoch 2' $T/serve.log" 10 || die "second stream not served: $(cat $T/serve.log)"
check_replica $T/root/quiet $T/e5 2
kill $qp 2>/dev/null; wait $qp 2>/dev/null
stop_serve
echo "heartbeat passed"

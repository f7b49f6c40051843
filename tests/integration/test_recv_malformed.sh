#!/usr/bin/env bash
# Malformed input over a socket (primary --corrupt KIND in epoch 3): an error
# line naming the stream and the byte offset, failover to the last committed
# epoch (2), and serve goes on serving the next stream.  A malformation in
# epoch 0 is a failed restore: nothing claimed.  An epoch over
# --max-epoch-bytes is a stream error like any other.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
T=$TESTTMP
P="--mode remus --memory 256K --interval 0 --epochs 6 --quiet"
start_serve $T/serve.log --listen unix:$T/sock --xl --target image:$T/root --heartbeat-ms 0 -v

# every kind that can hit a Remus epoch (big-endian-header hits the header,
# short-checkpoint-state is COLO's)
kinds="bad-length bad-pfn-type bad-pfn zero-count unknown-record unknown-libxl-record bad-padding"
n=0
for k in $kinds; do
	n=$((n + 1))
	"$STANDBY" primary --xl --name m-$k $P --corrupt $k --corrupt-in-epoch 3 --expect $T/e-$k \
		--to unix:$T/sock 2>/dev/null
	wait_for "grep -q '(m-$k): activated epoch' $T/serve.log" 10 || die "$k: no activation: $(grep m-$k $T/serve.log)"
	line=$(grep "(m-$k): failover:" $T/serve.log)
	echo "$line" | grep -Eq "^standby: stream unix:$n \(m-$k\): failover: parse error: .*offset [0-9]+.*; activating epoch 2$" ||
		die "$k: failover line lacks stream, offset or epoch: $line"
	check_replica $T/root/m-$k $T/e-$k 2
done
echo "$n corruption kinds failed over to epoch 2"

# epoch 0 corrupted, or the header: restore failed, nothing claimed
"$STANDBY" primary --xl --name m0 $P --corrupt bad-pfn --corrupt-in-epoch 0 --to unix:$T/sock 2>/dev/null
wait_for "grep -q '(m0): restore failed: parse error' $T/serve.log" 10 || die "no restore failure for m0"
no_replica $T/root/m0
"$STANDBY" primary --xl --name m-be $P --corrupt big-endian-header --to unix:$T/sock 2>/dev/null
wait_for "grep -Eq 'restore failed: parse error: .*offset [0-9]+' $T/serve.log" 10 || die "no restore failure for a big-endian header"
[ ! -e $T/root/m-be/manifest.json ] || no_replica $T/root/m-be

# COLO: a short CHECKPOINT_STATE in epoch 2 fails over to epoch 1
"$STANDBY" primary --mode colo --memory 256K --interval 0 --epochs 4 --corrupt short-checkpoint-state --corrupt-in-epoch 2 \
	--expect $T/e-colo --exec "$STANDBY receive --colo --target image:$T/colo 2>$T/colo.log" 2>/dev/null
grep -Eq "failover: parse error: .*offset [0-9]+.*CHECKPOINT_STATE.*; activating epoch 1" $T/colo.log ||
	die "COLO short CHECKPOINT_STATE: $(cat $T/colo.log)"
check_replica $T/colo $T/e-colo 1

# an epoch bigger than --max-epoch-bytes
stop_serve
start_serve $T/serve2.log --listen unix:$T/sock --xl --target image:$T/root2 --max-epoch-bytes 64K
"$STANDBY" primary --xl --name big --mode remus --memory 1M --dirty 50% --interval 0 --epochs 4 --expect $T/ebig \
	--to unix:$T/sock --quiet 2>/dev/null
wait_for "grep -q '(big): failover: epoch buffer full' $T/serve2.log" 10 || die "no epoch-bound failover: $(cat $T/serve2.log)"
check_replica $T/root2/big $T/ebig 0

# serve still serves
"$STANDBY" primary --xl --name after $P --expect $T/e-after --to unix:$T/sock || die "primary after errors"
wait_for "grep -q '(after): activated epoch 5' $T/serve2.log" 10 || die "serve stopped serving"
check_replica $T/root2/after $T/e-after 5
stop_serve
echo "malformed input passed"

#!/usr/bin/env bash
# The --fence hook guards activation: it sees the documented environment; a
# failing fence means no activation and a clear log line; a succeeding one
# (even slow) activates; other streams go on while a fence runs.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
T=$TESTTMP
P="--mode remus --memory 256K --interval 0 --quiet"

echo "== failing fence: no activation"
"$STANDBY" primary --xl --name fenced $P --epochs 4 --expect $T/e1 \
	--exec "$STANDBY receive --xl --remus --fence 'env | grep ^STANDBY_ | sort >$T/env1; grep -E \"^Sig(Blk|Ign)\" /proc/self/status >$T/sig1; exit 3' --target image:$T/r1 2>$T/log1"
grep -q "failover refused: fence .* exited 3: not activating epoch 3" $T/log1 || die "no refusal line: $(cat $T/log1)"
grep -q "activated epoch" $T/log1 && die "activated despite the fence"
[ "$(manifest_field $T/r1 activated)" = false ] || die "replica marked activated"
[ "$(manifest_field $T/r1 committed_epoch)" = 3 ] || die "replica lost its committed epoch"
grep -q "^SigBlk:[[:space:]]*0*$" $T/sig1 || die "the fence runs with signals blocked: $(cat $T/sig1)"
# standard signals only (1-31): 32 and up include glibc's internal ones, which
# a process cannot reset and may inherit ignored from whatever started the test
ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' $T/sig1)
[ -n "$ign" ] && [ $(( 16#$ign & 0x7fffffff )) -eq 0 ] || die "the fence runs with signals ignored: $(cat $T/sig1)"
printf 'STANDBY_DOMAIN=fenced\nSTANDBY_EPOCH=3\nSTANDBY_REASON=eof\nSTANDBY_STREAM=stdin\n' | diff - $T/env1 ||
	die "fence environment differs"

echo "== fence that cannot run (killed by a signal): no activation"
"$STANDBY" primary $P --epochs 2 --exec "$STANDBY receive --fence 'kill -9 \$\$' --target image:$T/r2 2>$T/log2"
grep -q "failover refused: fence .* killed by signal 9" $T/log2 || die "no refusal line: $(cat $T/log2)"
[ "$(manifest_field $T/r2 activated)" = false ] || die "replica r2 activated"

echo "== slow fence that succeeds: activation; meanwhile another stream is served"
start_serve $T/serve.log --listen unix:$T/sock --xl --target image:$T/root --fence "sleep 2; exit 0"
"$STANDBY" primary --xl --name a $P --epochs 3 --expect $T/ea --to unix:$T/sock || die "primary a"
wait_for "grep -q \"(a): failover: eof.*fencing\" $T/serve.log" 5 || die "no fencing line for a"
t0=$(date +%s.%N)
"$STANDBY" primary --xl --name b $P --epochs 3 --expect $T/eb --to unix:$T/sock || die "primary b during a's fence"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 1.5) }' || die "stream b waited for a's fence"
wait_for "grep -q '(a): activated epoch 2' $T/serve.log" 10 || die "a not activated after its fence: $(cat $T/serve.log)"
wait_for "grep -q '(b): activated epoch 2' $T/serve.log" 10 || die "b not activated"
check_replica $T/root/a $T/ea 2
check_replica $T/root/b $T/eb 2
grep -q "(a): failover: fence 'sleep 2; exit 0' exited 0: activating epoch 2" $T/serve.log || die "no fence decision line"
stop_serve
echo "== replay runs the fence too (an instant one must not be missed)"
"$STANDBY" primary $P --epochs 3 --to $T/rec --expect $T/erec || die "primary --to"
for i in 1 2 3; do
	timeout 20 "$STANDBY" replay $T/rec --fence 'exit 0' --target image:$T/rp$i 2>$T/rp$i.log || die "replay with fence exit 0: $(cat $T/rp$i.log)"
	check_replica $T/rp$i $T/erec 2
	[ "$(manifest_field $T/rp$i activated)" = true ] || die "replay + fence 0 not activated"
done
timeout 20 "$STANDBY" replay $T/rec --fence 'exit 1' --target image:$T/rq 2>$T/rq.log && die "replay with a failing fence exited 0"
[ "$(manifest_field $T/rq activated)" = false ] || die "replay activated despite the fence"
grep -q "failover refused: fence 'exit 1' exited 1" $T/rq.log || die "no refusal line in replay"
echo "fence passed"

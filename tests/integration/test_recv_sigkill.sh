#!/usr/bin/env bash
# SIGKILL of the receiver at random moments while it commits epochs: after
# each kill `standby verify` (which recovers the image first) must find a
# committed epoch whose memory and state digests match the primary's
# expectation of that very epoch, or no replica at all if the first commit
# never completed.  Then a new receiver on the same replica must work.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
have_verify || skip "standby verify is not built yet"
T=$TESTTMP
RANDOM=777
committed_runs=0
for i in $(seq 12); do
	dir=$T/r$i
	rm -f $T/pid
	"$STANDBY" primary --mode remus --epochs 400 --memory 4M --dirty 40% --interval 0 --seed $i \
		--expect $T/e$i --exec "echo \$\$ >$T/pid; exec $STANDBY receive --target image:$dir 2>$T/log$i" \
		--quiet 2>/dev/null &
	pp=$!
	wait_for "[ -s $T/pid ]" 5 || die "receiver did not start"
	sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
	kill -KILL "$(cat $T/pid)" 2>/dev/null
	wait $pp 2>/dev/null
	"$STANDBY" verify "$dir" --expect $T/e$i >$T/v$i 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		e=$(manifest_field "$dir" committed_epoch)
		[ -n "$(expect_line $T/e$i "$e")" ] || die "run $i: epoch $e is not in the expectations"
		committed_runs=$((committed_runs + 1))
		echo "run $i: killed, replica consistent at epoch $e"
	elif [ $rc -eq 1 ] && [ "$(manifest_field "$dir" committed_epoch)" = none ]; then
		echo "run $i: killed before the first commit, no replica"
	else
		cat $T/v$i
		die "run $i: verify exit $rc on a killed receiver's replica"
	fi
done
[ $committed_runs -ge 6 ] || die "only $committed_runs of 12 kills hit after the first commit"

# SIGKILL of serve while four streams commit at once: every replica consistent
# (and the next serve starts over the stale socket the killed one left)
for round in 1 2 3; do
	root=$T/serve-$round
	start_serve $T/serve-$round.log --listen unix:$T/sock --xl --target image:$root
	pids=()
	for d in 1 2 3 4; do
		"$STANDBY" primary --xl --name d$d --seed $((round * 10 + d)) --mode remus --epochs 400 --memory 2M --dirty 40% \
			--interval 0 --expect $T/se-$round-$d --to unix:$T/sock --quiet 2>/dev/null &
		pids+=($!)
	done
	sleep "0.$((RANDOM % 7 + 3))"
	kill -KILL $SERVE_PID; wait $SERVE_PID 2>/dev/null; SERVE_PID=
	for p in "${pids[@]}"; do wait $p 2>/dev/null; done
	for d in 1 2 3 4; do
		[ -d $root/d$d ] || continue
		"$STANDBY" verify $root/d$d --expect $T/se-$round-$d >$T/sv 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			echo "serve round $round, d$d: consistent at epoch $(manifest_field $root/d$d committed_epoch)"
		elif [ $rc -ne 1 ] || [ "$(manifest_field $root/d$d committed_epoch)" != none ]; then
			cat $T/sv; die "serve round $round, d$d: verify exit $rc"
		fi
	done
done

# the killed replica is reusable: a new stream into it
"$STANDBY" primary --mode remus --epochs 3 --memory 4M --interval 0 --seed 99 --expect $T/enew \
	--exec "$STANDBY receive --target image:$T/r1 2>$T/lognew" --quiet || die "new stream into a killed replica"
check_replica $T/r1 $T/enew 2
echo "SIGKILL during commits passed"

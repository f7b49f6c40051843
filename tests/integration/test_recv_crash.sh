#!/usr/bin/env bash
# The primary crashes at every record boundary of a 6-epoch Remus stream, and
# at 50 random byte offsets: the replica must always equal the last epoch
# whose CHECKPOINT_END was sent whole; before the first commit no replica may
# be claimed.  Record boundaries come from an independent walker
# (recv_walk.py) over the primary's own stream.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
T=$TESTTMP
P="--mode remus --epochs 6 --memory 256K --interval 0 --seed 3 --quiet"

"$STANDBY" primary $P --to $T/stream --expect $T/expect || die "primary --to"
python3 "$HERE/recv_walk.py" $T/stream >$T/bounds || die "walker"
total=$(stat -c %s $T/stream)
[ "$(tail -1 $T/bounds | cut -d' ' -f2)" = 6 ] || die "walker found $(tail -1 $T/bounds) epochs"

# epochs complete when the stream is cut after N bytes
epochs_at() {
	awk -v n="$1" '$1 <= n { e = $2 } END { print e + 0 }' $T/bounds
}

run_cut() {  # N [xl]
	local n=$1 dir=$T/r-$1 e
	rm -rf "$dir"
	"$STANDBY" primary $P --crash-after-bytes "$n" \
		--exec "$STANDBY receive --heartbeat-ms 0 --target image:$dir 2>>$T/recv.log" 2>>$T/primary.log
	e=$(epochs_at "$n")
	if [ "$e" -eq 0 ]; then
		no_replica "$dir"
	else
		check_replica "$dir" $T/expect $((e - 1))
		[ "$(manifest_field "$dir" activated)" = true ] || die "cut at $n: not activated"
	fi
	cuts=$((cuts + 1))
}

cuts=0
while read -r off ep; do
	[ "$off" -lt "$total" ] || continue
	run_cut "$off"
	[ "$off" -gt 0 ] && run_cut $((off - 1))
done <$T/bounds
echo "$cuts cuts at record boundaries"

RANDOM=4242
for i in $(seq 50); do
	run_cut $(( (RANDOM * 32768 + RANDOM) % total ))
done
echo "$cuts cuts in all"

# the same through xl's framing and protocol (receive --xl --remus), 25 random cuts
"$STANDBY" primary $P --xl --name xg --to $T/xstream --expect $T/xexpect || die "primary --xl --to"
python3 "$HERE/recv_walk.py" $T/xstream >$T/xbounds || die "walker (xl)"
xtotal=$(stat -c %s $T/xstream)
for i in $(seq 25); do
	n=$(( (RANDOM * 32768 + RANDOM) % xtotal ))
	dir=$T/x-$n
	"$STANDBY" primary $P --xl --name xg --crash-after-bytes "$n" \
		--exec "$STANDBY receive --xl --remus --heartbeat-ms 0 --target image:$dir 2>>$T/xrecv.log" 2>>$T/primary.log
	e=$(awk -v n="$n" '$1 <= n { e = $2 } END { print e + 0 }' $T/xbounds)
	if [ "$e" -eq 0 ]; then no_replica "$dir"; else check_replica "$dir" $T/xexpect $((e - 1)); fi
done
grep -c "restore failed" $T/recv.log >/dev/null || die "no run failed before the first commit?"
grep -q "failover: eof" $T/recv.log || die "no failover line"
echo "crash points passed"

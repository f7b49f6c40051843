#!/usr/bin/env bash
# tests/bench/run.sh - `make bench` (QUICK=1 for a short run): standby against
# the limits of this machine, as ratios measured side by side in one run.
# What each figure means and how it is measured: docs/benchmarks.md.
#
# Output: one line per figure (value, goal, ok/MISS) on stdout and in
# $OUT/results.txt; raw samples, logs and plots (PNG, gnuplot) in $OUT
# (default build/bench).  Scratch files live on tmpfs (/dev/shm).
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
STANDBY=${STANDBY:-$SRCDIR/standby}
OUT=${BENCH_OUT:-$SRCDIR/build/bench}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=

if [ -n "$QUICK" ]; then
	GUEST=256M; EPOCHS=50; REPS=1                    # 1: ingest
	LAT_GUEST=64M; LAT_N="10:300 1000:100 10000:12"  # 2: pages:epochs
	RATE_EPOCHS=3000                                 # 3
	RSS_GUESTS="64M 256M"; RSS_EPOCHS="10 1000"      # 4
	CONC_GUEST=8M; CONC_EPOCHS=10; CONC_DIRTY=200; CONC_STREAMS="1 8 16 32"; CONC_TOTAL=32   # 5
	FO_GUEST=64M; FO_RUNS=5                          # 6
else
	GUEST=1G; EPOCHS=200; REPS=5
	LAT_GUEST=256M; LAT_N="10:2000 1000:300 10000:40"
	RATE_EPOCHS=20000
	RSS_GUESTS="256M 1G 4G"; RSS_EPOCHS="10 10000"
	CONC_GUEST=16M; CONC_EPOCHS=20; CONC_DIRTY=500; CONC_STREAMS="1 8 32 64"; CONC_TOTAL=64
	FO_GUEST=256M; FO_RUNS=20; FO_BIG_GUEST=1G; FO_BIG_RUNS=3
fi

mkdir -p "$OUT"
W=$(mktemp -d /dev/shm/standby-bench.XXXXXX)
SERVE_PID=
cleanup() {
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
RES=$OUT/results.txt
: >"$RES"

say() { echo "$*" | tee -a "$RES"; }
log() { echo "  .. $*" >&2; }

# ---- tools ----
CC=${CC:-cc}
for t in send drain; do
	$CC -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$OUT/$t" "$SRCDIR/tests/bench/$t.c"
done
SEND=$OUT/send
DRAIN=$OUT/drain
if [ ! -x /usr/bin/time ]; then
	apt-get install -y -q time >/dev/null 2>&1 || true
fi
if ! command -v gnuplot >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null 2>&1 ||
		echo "gnuplot not available (apt-get install gnuplot-nox failed): plots skipped" >&2
fi

# ---- helpers ----
# percentile P (0-100) of the numbers in FILE (nearest rank)
pct() { sort -g "$2" | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "nan"; exit}
	i=int((p*NR+99)/100); if (i<1) i=1; if (i>NR) i=NR; print a[i]}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
calc() { awk "BEGIN {printf \"%.${2:-3}f\", $1}"; }
verdict() { awk "BEGIN {exit !($1)}" && echo ok || echo MISS; }
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p" | head -1; }

# record: FILE GUEST EPOCHS DIRTY -> the primary's stream, written once
record() {
	"$STANDBY" primary --to "$1" --memory "$2" --epochs "$3" --dirty "$4" \
		--interval 0 --seed 7 --quiet
}
# bounds FILE -> FILE.bounds: the end offset of every complete epoch
bounds() {
	"$STANDBY" inspect "$1" | sed -n 's/^epoch .* complete: .* ends @\([0-9]*\)$/\1/p' >"$1.bounds"
}

PORT=$((20000 + $$ % 20000))
SERVE_PREFIX=           # e.g. "chrt -f 10": serve with a real-time priority
# serve_start LISTEN LOG ARGS...: start `standby serve` and wait for it to listen
serve_start() {
	local listen=$1 logf=$2
	shift 2
	: >"$logf"
	$SERVE_PREFIX "$STANDBY" serve --listen "$listen" "$@" 2>"$logf" &
	SERVE_PID=$!
	for _ in $(seq 500); do
		grep -q "listening on" "$logf" && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.01
	done
	echo "serve did not start:" >&2; cat "$logf" >&2; exit 1
}
serve_stop() {
	kill "$SERVE_PID" 2>/dev/null || true
	wait "$SERVE_PID" 2>/dev/null || true
	SERVE_PID=
}
where() {       # where TRANSPORT NAME: a fresh listen address in $ADDR
	if [ "$1" = unix ]; then ADDR="unix:$W/$2.sock"; else PORT=$((PORT + 1)); ADDR="tcp:127.0.0.1:$PORT"; fi
}

echo "standby bench$( [ -n "$QUICK" ] && echo ' (QUICK)'): $(date -u '+%F %T UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES"
T_BEGIN=$(date +%s)

# =====================================================================
# 1. Ingest throughput, as a ratio to a reader that only discards
# =====================================================================
log "1. recording the ingest stream ($GUEST guest, $EPOCHS epochs of 2000 pages)"
A=$W/ingest.raw
record "$A" "$GUEST" $((EPOCHS + 1)) 2000
ABYTES=$(stat -c %s "$A")

# one_ingest TRANSPORT KIND: seconds in $SECS (sender: first byte written to done)
one_ingest() {
	local tr=$1 kind=$2 addr out
	where "$tr" "$kind"; addr=$ADDR
	case $kind in
	drain)
		rm -f "$W/ready"
		"$DRAIN" "$addr" "$W/ready" & SERVE_PID=$!
		for _ in $(seq 500); do [ -e "$W/ready" ] && break; sleep 0.01; done
		out=$("$SEND" -c "$addr" -f "$A" -m drain) ;;
	null)
		serve_start "$addr" "$W/serve-$tr-$kind.log" --target null
		out=$("$SEND" -c "$addr" -f "$A" -e "$EPOCHS") ;;
	image)
		rm -rf "$W/img"
		serve_start "$addr" "$W/serve-$tr-$kind.log" --target "image:$W/img"
		out=$("$SEND" -c "$addr" -f "$A" -e "$EPOCHS") ;;
	esac
	serve_stop
	rm -rf "$W/img"
	SECS=$(echo "$out" | field seconds)
}

for tr in unix tcp; do
	declare -a rn=() ri=() dn=() dt=() tn=() ti=()
	for rep in $(seq "$REPS"); do
		# interleaved, so that load changes hit all three alike
		one_ingest "$tr" drain; d=$SECS; one_ingest "$tr" null; n=$SECS; one_ingest "$tr" image; i=$SECS
		log "1. $tr rep $rep: drain $d s, null $n s, image $i s"
		dt+=("$d"); tn+=("$n"); ti+=("$i")
		rn+=("$(calc "$d / $n")"); ri+=("$(calc "$d / $i")")
	done
	R=$(median "${rn[@]}"); D=$(median "${dt[@]}"); N=$(median "${tn[@]}")
	say "$(printf '1 ingest %-4s null  : ratio %s to raw drain (%s vs %s MB/s)  goal >= 0.95  %s' "$tr" "$R" \
		"$(calc "$ABYTES / $N / 1e6" 0)" "$(calc "$ABYTES / $D / 1e6" 0)" "$(verdict "$R >= 0.95")")"
	R=$(median "${ri[@]}"); I=$(median "${ti[@]}")
	say "$(printf '1 ingest %-4s image : ratio %s to raw drain (%s vs %s MB/s)  goal >= 0.85  %s' "$tr" "$R" \
		"$(calc "$ABYTES / $I / 1e6" 0)" "$(calc "$ABYTES / $D / 1e6" 0)" "$(verdict "$R >= 0.85")")"
	echo "$tr drain ${dt[*]} null ${tn[*]} image ${ti[*]}" >>"$OUT/ingest-seconds.txt"
done
rm -f "$A"

# =====================================================================
# 2. Commit latency (lockstep: epoch k+1 is sent once epoch k is acked)
# =====================================================================
: >"$OUT/latency.txt"
for spec in $LAT_N; do
	P=${spec%%:*}; NE=${spec##*:}
	L=$W/lat-$P.raw
	log "2. $NE epochs of $P pages ($LAT_GUEST guest)"
	record "$L" "$LAT_GUEST" $((NE + 1)) "$P"
	bounds "$L"
	for tgt in null null-rt image; do
		where unix "lat-$P-$tgt"; addr=$ADDR
		rm -rf "$W/img"
		slog=$OUT/latency-$P-$tgt.log
		SERVE_PREFIX=
		if [ $tgt = null-rt ]; then
			chrt -f 10 true 2>/dev/null || { log "2. chrt -f unavailable: no real-time run"; continue; }
			SERVE_PREFIX="chrt -f 10"
		fi
		serve_start "$addr" "$slog" -v --target "$([ $tgt = image ] && echo "image:$W/img" || echo null)"
		SERVE_PREFIX=
		"$SEND" -c "$addr" -f "$L" -e "$NE" -b "$L.bounds" -r "$W/rtt" >/dev/null
		serve_stop
		rm -rf "$W/img"
		grep -v ' epoch 0 committed' "$slog" | sed -n 's/.*end_to_ack_us \([0-9.]*\).*/\1/p' >"$OUT/lat-end-$P-$tgt.txt"
		grep -v ' epoch 0 committed' "$slog" | sed -n 's/.*read_to_ack_us \([0-9.]*\),.*/\1/p' >"$OUT/lat-read-$P-$tgt.txt"
		tail -n +2 "$W/rtt" >"$OUT/lat-rtt-$P-$tgt.txt"
		for k in end read rtt; do
			f=$OUT/lat-$k-$P-$tgt.txt
			echo "$P $tgt $k $(pct 50 "$f") $(pct 99 "$f") $(pct 100 "$f") $(wc -l <"$f")" >>"$OUT/latency.txt"
		done
		e99=$(pct 99 "$OUT/lat-end-$P-$tgt.txt")
		goal="(no goal)"; v=
		if [ "$P" = 1000 ] && [ $tgt != image ]; then goal="goal p99 < 100 us"; v=$(verdict "$e99 < 100"); fi
		say "$(printf '2 commit latency %5s pages %-7s: end->ack p50 %s p99 %s max %s us; read->ack p99 %s us; ack round trip p99 %s us  %s  %s' \
			"$P" "$tgt" "$(pct 50 "$OUT/lat-end-$P-$tgt.txt")" "$e99" "$(pct 100 "$OUT/lat-end-$P-$tgt.txt")" \
			"$(pct 99 "$OUT/lat-read-$P-$tgt.txt")" "$(pct 99 "$OUT/lat-rtt-$P-$tgt.txt")" "$goal" "$v")"
	done
	rm -f "$L" "$L.bounds"
done

# =====================================================================
# 3. Sustained checkpoint rate, 10-page epochs
# =====================================================================
log "3. $RATE_EPOCHS epochs of 10 pages"
R3=$W/rate.raw
record "$R3" 64M $((RATE_EPOCHS + 1)) 10
bounds "$R3"
for tgt in null image; do
	tspec=$([ $tgt = null ] && echo null || echo "image:$W/img")
	# pipelined: the primary sends as fast as it can; rate counted from the ack of epoch 0
	where unix "rate-$tgt"; addr=$ADDR; rm -rf "$W/img"
	serve_start "$addr" "$W/rate.log" --target "$tspec"
	out=$("$SEND" -c "$addr" -f "$R3" -e "$RATE_EPOCHS")
	serve_stop
	s=$(echo "$out" | field seconds); f=$(echo "$out" | field first_ack_s)
	pipe=$(calc "$RATE_EPOCHS / ($s - $f)" 0)
	# lockstep: each epoch only after the previous one's ack
	where unix "rate2-$tgt"; addr=$ADDR; rm -rf "$W/img"
	serve_start "$addr" "$W/rate.log" --target "$tspec"
	out=$("$SEND" -c "$addr" -f "$R3" -e "$RATE_EPOCHS" -b "$R3.bounds" -r "$W/rtt")
	serve_stop
	rm -rf "$W/img"
	s=$(echo "$out" | field seconds); f=$(echo "$out" | field first_ack_s)
	lock=$(calc "$RATE_EPOCHS / ($s - $f)" 0)
	say "$(printf '3 checkpoint rate 10 pages %-5s: %s/s pipelined, %s/s lockstep (one epoch in flight)  goal > 1000/s  %s' \
		"$tgt" "$pipe" "$lock" "$(verdict "$pipe > 1000")")"
done
rm -f "$R3" "$R3.bounds"

# =====================================================================
# 4. Peak RSS against guest size and epoch count
# =====================================================================
# rss TARGET GUEST EPOCHS DIRTY -> peak RSS of `standby receive` in KiB
rss() {
	local tspec=$1
	rm -rf "$W/img"
	[ "$tspec" = image ] && tspec="image:$W/img"
	"$STANDBY" primary --exec "/usr/bin/time -f %M -o $W/rss $STANDBY receive --target $tspec --heartbeat-ms 0 2>/dev/null" \
		--memory "$2" --epochs "$3" --dirty "$4" --interval 0 --seed 7 --quiet 2>/dev/null || true
	rm -rf "$W/img"
	tail -1 "$W/rss"
}
if [ -x /usr/bin/time ]; then
	: >"$OUT/rss.txt"
	for tgt in null image; do
		first=; line=
		for g in $RSS_GUESTS; do
			log "4. RSS, $tgt, $g guest"
			k=$(rss $tgt "$g" 11 2000)
			echo "guest $tgt $g $k" >>"$OUT/rss.txt"
			[ -z "$first" ] && first=$k
			line="$line $g: $(calc "$k / 1024" 1) MiB,"; last=$k
		done
		say "$(printf '4 peak RSS vs guest size %-5s:%s ratio largest/smallest %s  goal ~1.0 (<= 1.10)  %s' \
			"$tgt" "$line" "$(calc "$last / $first" 2)" "$(verdict "$last / $first <= 1.10")")"
		first=; line=
		for e in $RSS_EPOCHS; do
			log "4. RSS, $tgt, $e epochs"
			k=$(rss $tgt 64M $((e + 1)) 100)
			echo "epochs $tgt $e $k" >>"$OUT/rss.txt"
			[ -z "$first" ] && first=$k
			line="$line $e epochs: $(calc "$k / 1024" 1) MiB,"; last=$k
		done
		say "$(printf '4 peak RSS vs epoch count %-5s:%s ratio %s  goal ~1.0 (<= 1.10)  %s' \
			"$tgt" "$line" "$(calc "$last / $first" 2)" "$(verdict "$last / $first <= 1.10")")"
	done
else
	say "4 peak RSS: skipped (/usr/bin/time missing and could not be installed)"
fi

# =====================================================================
# 5. Concurrent streams (null target): aggregate throughput vs one stream
# =====================================================================
log "5. concurrency: $CONC_TOTAL streams of $CONC_GUEST + $CONC_EPOCHS x $CONC_DIRTY pages, N at a time"
C=$W/conc.raw
record "$C" "$CONC_GUEST" $((CONC_EPOCHS + 1)) "$CONC_DIRTY"
CBYTES=$(stat -c %s "$C")
: >"$OUT/concurrency.txt"
base=; line=
for n in $CONC_STREAMS; do
	where unix "conc-$n"; addr=$ADDR
	serve_start "$addr" "$W/conc.log" --target null --max-streams 256
	out=$("$SEND" -c "$addr" -f "$C" -e "$CONC_EPOCHS" -n "$n" -t "$CONC_TOTAL")
	serve_stop
	s=$(echo "$out" | field seconds)
	rate=$(calc "$CBYTES * $CONC_TOTAL / $s / 1e6" 0)
	[ -z "$base" ] && base=$rate
	r=$(calc "$rate / $base" 2)
	echo "$n $rate $r" >>"$OUT/concurrency.txt"
	line="$line $n: $r,"
	last=$r; lastn=$n
done
say "$(printf '5 concurrency (aggregate / 1 stream, null):%s at %s streams %s  goal >= 0.8  %s' \
	"$line" "$lastn" "$last" "$(verdict "$last >= 0.8")")"
rm -f "$C"

# =====================================================================
# 6. Failover time: the primary's connection cut (RST) -> replica activated
# =====================================================================
# failover GUEST RUNS: send up to half-way through epoch 6, cut with RST, wait
# for the manifest to say activated; ms from the cut to activation_time
failover() {
	local g=$1 runs=$2 F=$W/fo.raw b5 b6 cut addr i t0 m ta ep
	log "6. failover, $runs runs ($g guest, image target)"
	record "$F" "$g" 11 2000
	bounds "$F"
	b5=$(sed -n 6p "$F.bounds"); b6=$(sed -n 7p "$F.bounds")
	cut=$(( (b5 + b6) / 2 ))        # epoch 5 is the one to activate
	where unix "fo-$g"; addr=$ADDR
	rm -rf "$W/fo"
	serve_start "$addr" "$OUT/failover-$g-serve.log" --target "image:$W/fo"
	: >"$OUT/failover-$g-ms.txt"
	for i in $(seq "$runs"); do
		t0=$("$SEND" -c "$addr" -f "$F" -x "$cut" | field crash_realtime)
		m=$W/fo/conn-$i/manifest.json
		for _ in $(seq 6000); do
			grep -q '"activated": true' "$m" 2>/dev/null && break
			sleep 0.005
		done
		ta=$(sed -n 's/.*"activation_time": \([0-9.]*\).*/\1/p' "$m")
		ep=$(sed -n 's/.*"activation_epoch": \([0-9]*\).*/\1/p' "$m")
		[ "$ep" = 5 ] || { echo "failover run $i activated epoch '$ep', expected 5" >&2; exit 1; }
		echo "$(calc "($ta - $t0) * 1000" 2)" >>"$OUT/failover-$g-ms.txt"
		rm -rf "$W/fo/conn-$i"
	done
	serve_stop
	rm -rf "$W/fo" "$F" "$F.bounds"
	say "$(printf '6 failover (%s guest, image): p50 %s ms, max %s ms over %s runs  (no numeric goal)' \
		"$g" "$(pct 50 "$OUT/failover-$g-ms.txt")" "$(pct 100 "$OUT/failover-$g-ms.txt")" "$runs")"
}
failover "$FO_GUEST" "$FO_RUNS"
[ -n "${FO_BIG_GUEST:-}" ] && failover "$FO_BIG_GUEST" "$FO_BIG_RUNS"

# =====================================================================
# plots
# =====================================================================
if command -v gnuplot >/dev/null; then
	for tgt in null null-rt image; do
		for P in $(for s in $LAT_N; do echo "${s%%:*}"; done); do
			[ -s "$OUT/lat-end-$P-$tgt.txt" ] || continue
			sort -g "$OUT/lat-end-$P-$tgt.txt" | awk '{a[NR]=$1} END {for (i=1;i<=NR;i++) print a[i], i/NR}' \
				>"$OUT/cdf-$P-$tgt.dat"
		done
	done
	plots=""
	for P in $(for s in $LAT_N; do echo "${s%%:*}"; done); do
		plots="$plots '$OUT/cdf-$P-null.dat' w l lw 2 t '$P pages, null',"
		[ -s "$OUT/cdf-$P-null-rt.dat" ] && plots="$plots '$OUT/cdf-$P-null-rt.dat' w l lw 2 dt 3 t '$P pages, null, SCHED_FIFO',"
		plots="$plots '$OUT/cdf-$P-image.dat' w l lw 2 dt 2 t '$P pages, image',"
	done
	gnuplot <<EOF || echo "gnuplot failed: plots skipped" >&2
set terminal pngcairo size 900,540 noenhanced
set output '$OUT/latency-cdf.png'
set title 'Commit latency: CHECKPOINT_END parsed -> ack written (CDF)'
set logscale x
set xlabel 'microseconds'
set ylabel 'fraction of epochs'
set key bottom right
set grid
plot ${plots%,}
set output '$OUT/concurrency.png'
unset logscale x
set logscale x 2
set title 'Concurrent streams into one standby serve (null target)'
set xlabel 'simultaneous streams'
set ylabel 'aggregate throughput / one stream'
set yrange [0:$(awk 'BEGIN { m = 1.3 } $3 * 1.1 > m { m = $3 * 1.1 } END { print m }' "$OUT/concurrency.txt")]
unset key
plot '$OUT/concurrency.txt' u 1:3 w lp lw 2 pt 7, 0.8 w l dt 2 lc rgb 'red'
EOF
fi
echo "done in $(( $(date +%s) - T_BEGIN )) s; load $(cut -d' ' -f1-3 /proc/loadavg); details in $OUT" | tee -a "$RES"

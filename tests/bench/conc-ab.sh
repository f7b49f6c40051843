#!/bin/bash
# conc-ab.sh - A/B of figure 5 (concurrent streams) for one or more standby
# binaries, interleaved and repeated, with the CPU time of each side.
#
#   tests/bench/conc-ab.sh [-r REPS] [-n "1 8 32 64"] [-t TOTAL] [-q] BINARY...
#     -q   QUICK stream (8 MiB + 10 x 200 pages) instead of 16 MiB + 20 x 500
#
# For every repetition, every N and every binary (in that nesting, so that a
# change in the machine's load hits all binaries alike): a fresh
# `serve --target null --max-streams 256` on a unix socket, `send -n N -t
# TOTAL` of the recorded stream, and one line
#   BINARY N MB/s serve_cpu_s send_cpu_s other_cpu_s serve_s_per_GB
# other_cpu_s is what the rest of the machine used meanwhile (/proc/stat):
# on a shared machine a wall-time figure means little when it is not ~0.
# serve_s_per_GB is the figure that does not depend on the neighbours.
# Medians per binary and N at the end (MB/s also as a ratio to the first N).
set -e
REPS=3; NS="1 8 32 64"; TOTAL=64; QUICK=
while getopts r:n:t:q o; do
	case $o in
	r) REPS=$OPTARG ;; n) NS=$OPTARG ;; t) TOTAL=$OPTARG ;; q) QUICK=1 ;;
	*) sed -n '4,6p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '4,6p' "$0" >&2; exit 2; }
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /dev/shm/standby-conc-ab.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill $SERVE_PID 2>/dev/null; rm -rf "$W"' EXIT

cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$W/send" "$SRCDIR/tests/bench/send.c"
if [ -n "$QUICK" ]; then g=8M e=10 d=200; else g=16M e=20 d=500; fi
"$1" primary --to "$W/s.raw" --memory $g --epochs $((e + 1)) --dirty $d --interval 0 --seed 7 --quiet
BYTES=$(( $(stat -c %s "$W/s.raw") * TOTAL ))
HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

for rep in $(seq "$REPS"); do
	for n in $NS; do
		for b in "$@"; do
			rm -f "$W/c.sock"
			"$b" serve --listen "unix:$W/c.sock" --target null --max-streams 256 2>"$W/log" &
			SERVE_PID=$!
			for _ in $(seq 500); do [ -S "$W/c.sock" ] && break; sleep 0.01; done
			m0=$(busy); c0=$(ticks $SERVE_PID)
			out=$("$W/send" -c "unix:$W/c.sock" -f "$W/s.raw" -e $e -n "$n" -t "$TOTAL")
			m1=$(busy); c1=$(ticks $SERVE_PID)
			kill $SERVE_PID; wait $SERVE_PID 2>/dev/null || true; SERVE_PID=
			echo "$out" | awk -v b="$b" -v n="$n" -v B="$BYTES" -v hz="$HZ" \
				-v c=$((c1 - c0)) -v m=$((m1 - m0)) '{
				for (i = 1; i < NF; i++) v[$i] = $(i + 1)
				s = c / hz; o = m / hz - s - v["cpu_s"]; if (o < 0) o = 0
				printf "%s %d %.0f %.2f %.2f %.2f %.3f\n", b, n, B / v["seconds"] / 1e6,
				       s, v["cpu_s"], o, s / (B / 1e9) }' | tee -a "$W/all"
		done
	done
done

echo "medians of $REPS: binary N MB/s ratio serve_s_per_GB"
for b in "$@"; do
	base=
	for n in $NS; do
		r=$(awk -v b="$b" -v n="$n" '$1 == b && $2 == n {print $3}' "$W/all" | sort -g |
			awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
		c=$(awk -v b="$b" -v n="$n" '$1 == b && $2 == n {print $7}' "$W/all" | sort -g |
			awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
		[ -z "$base" ] && base=$r
		awk -v b="$b" -v n="$n" -v r="$r" -v base="$base" -v c="$c" \
			'BEGIN {printf "%s %d %s %.2f %s\n", b, n, r, r / base, c}'
	done
done

#!/usr/bin/env bash
# standby inspect on streams written by real Xen 4.17 (../shared/streams):
# an `xl save` of a PV guest and an `xl remus` stream of a PVH guest.
# The expected structure comes from the summaries written beside them by an
# independent walker (shared/xen/stream-summary.py), not from our code.
set -euo pipefail
S=$SHARED/streams
for f in xl-save-pv-128M.xlsave xl-remus-pvh-128M.fwd; do
	[ -e "$S/$f.xz" ] || { echo "skipped: $S/$f.xz not found"; exit 77; }
done
cd "$TESTTMP"
xz -dc "$S/xl-save-pv-128M.xlsave.xz" >save
xz -dc "$S/xl-remus-pvh-128M.fwd.xz" >remus
sed -e 's/xl-save-pv-128M.xlsave$/save/' -e 's/xl-remus-pvh-128M.fwd$/remus/' "$S/SHA256SUMS.uncompressed" | sha256sum -c --quiet -
fail() { echo "FAIL: $*"; exit 1; }

# --- the xl save file: valid plain stream, structure as the summary says
"$STANDBY" inspect save >save.txt || fail "inspect save exit $?"
grep -q '^verdict: valid plain stream: complete (END)' save.txt || fail "save verdict: $(tail -1 save.txt)"
grep -q 'domain "guest", type pv' save.txt || fail "save preamble: $(grep preamble save.txt)"
grep -q '^libxc header @977: version 3, PV guest' save.txt || fail "save libxc header"
# every non-PAGE_DATA record the summary lists appears at the same offset with the same length
sed -n 's/^ *\[ *[0-9]*\] @ *\([0-9]*\) \(libx[lc]\) *\([A-Z0-9_]*\) *len=\([0-9]*\).*/\1 \2 \3 \4/p' \
	"$S/xl-save-pv-128M.summary.txt" >expect-records
[ "$(wc -l <expect-records)" -ge 12 ] || fail "could not read the summary"
while read -r off layer name len; do
	grep -Eq "^@ *$off $layer +$name +len $len " save.txt || fail "save: missing $layer $name @$off len $len"
done <expect-records
n=$(grep -c 'libxc PAGE_DATA' save.txt)
[ "$n" -gt 30 ] || fail "save: only $n PAGE_DATA records"
"$STANDBY" inspect --quiet save | grep -q 'valid plain stream' || fail "--quiet"
"$STANDBY" inspect --json save | tail -1 | grep -q '"valid":true,"mode":"plain"' || fail "--json verdict"

# --- the xl remus stream: 17 complete epochs, ends exactly after the 17th
"$STANDBY" inspect remus >remus.txt || fail "inspect remus exit $?"
grep -q '^verdict: valid Remus stream: 17 complete epochs, 0 bytes of an incomplete epoch' remus.txt ||
	fail "remus verdict: $(tail -1 remus.txt)"
grep -q 'domain "guest", type pvh' remus.txt || fail "remus preamble"
[ "$(grep -c '^epoch [0-9]* complete' remus.txt)" = 17 ] || fail "remus epoch lines"
# epoch sizes and ends as in the summary
sed -n 's/^  checkpoint *\([0-9]*\): *[0-9]* PAGE_DATA recs, *\([0-9]*\) pages, *\([0-9]*\) bytes, ends @\([0-9]*\)/\1 \2 \3 \4/p' \
	"$S/xl-remus-pvh-128M.summary.txt" | while read -r k pages bytes end; do
	grep -q "^epoch $k complete: $pages pages ([0-9]* with data), $bytes bytes, [0-9]* records, ends @$end\$" remus.txt ||
		fail "epoch $k: expected $pages pages, $bytes bytes, end $end; got: $(grep "^epoch $k " remus.txt)"
done

# --- prefixes of the remus stream: cut inside every epoch and exactly at every end
ends=$(grep -E '\] @ *[0-9]+ libxl CHECKPOINT_END' "$S/xl-remus-pvh-128M.summary.txt" | sed 's/.*@ *\([0-9]*\) .*/\1/')
prev=1243   # first record after the libxl header
k=0
for o in $ends; do
	end=$((o + 8))
	mid=$(( (prev + end) / 2 ))
	out=$(head -c "$mid" remus | "$STANDBY" inspect --quiet - 2>/dev/null) && rc=0 || rc=$?
	if [ $k -eq 0 ]; then
		[ $rc -eq 1 ] || fail "cut at $mid (inside epoch 0): exit $rc, want 1"
		echo "$out" | grep -q 'invalid stream: .*0 complete epochs' || fail "cut at $mid: $out"
	else
		[ $rc -eq 0 ] || fail "cut at $mid: exit $rc"
		echo "$out" | grep -q "valid Remus stream: $k complete epochs, $((mid - prev)) bytes of an incomplete epoch" ||
			fail "cut at $mid (inside epoch $k): $out"
	fi
	out=$(head -c "$end" remus | "$STANDBY" inspect --quiet -) || fail "cut at end of epoch $k: exit $?"
	echo "$out" | grep -q "valid Remus stream: $((k + 1)) complete epochs, 0 bytes of an incomplete epoch" ||
		fail "cut at $end (end of epoch $k): $out"
	# one byte past the end: a truncated record header of the next epoch
	if [ $k -lt 16 ]; then
		out=$(head -c "$((end + 1))" remus | "$STANDBY" inspect --quiet -) || fail "cut at $((end + 1)): exit $?"
		echo "$out" | grep -q "valid Remus stream: $((k + 1)) complete epochs, 1 bytes of an incomplete epoch" ||
			fail "cut at $((end + 1)): $out"
	fi
	prev=$end
	k=$((k + 1))
done
[ $k -eq 17 ] || fail "walked $k epochs"

# --- cuts inside the headers are invalid, with the offset named
for cut in 10 40 1000 1230 1250 1280; do
	head -c $cut remus >cut
	"$STANDBY" inspect cut >/dev/null 2>err && fail "cut at $cut accepted"
	grep -q 'offset' err || fail "cut at $cut: no offset in: $(cat err)"
done
echo "ok: real save and remus streams, 50 prefixes"

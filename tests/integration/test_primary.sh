#!/usr/bin/env bash
# test_primary.sh - `standby primary`, checked against an independent reader.
#
# primary_check.py (same folder) parses the streams with no code shared with
# standby, replays every complete epoch into a flat image and recomputes the
# digests; fake_receiver.py plays the secondary (xl banner and handshake,
# standby acks, the COLO back channel).
set -u
: "${STANDBY:?}" "${TESTTMP:?}" "${SRCDIR:?}"
T=$TESTTMP
HERE=$SRCDIR/tests/integration
CHECK="/usr/bin/python3 $HERE/primary_check.py"
FAKE="/usr/bin/python3 $HERE/fake_receiver.py"
MEM=4M
MEMB=4194304
fails=0

[ -x /usr/bin/python3 ] || { echo "python3 is needed for the independent checker"; exit 77; }

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
INSPECT=0
"$STANDBY" inspect --help >/dev/null 2>&1 && INSPECT=1
inspect_says() {   # file pattern: standby inspect's verdict (skipped while inspect does not exist)
	[ $INSPECT = 1 ] || return 0
	"$STANDBY" inspect --quiet "$1" >"$T/inspect.out" 2>&1
	grep -q -- "$2" "$T/inspect.out" || { fail "inspect on $1: wanted '$2'"; cat "$T/inspect.out"; }
}
ok() { echo "ok: $*"; }
P() { "$STANDBY" primary --quiet "$@"; }
has() {   # file pattern
	grep -q -- "$2" "$1" || { fail "$1 lacks '$2'"; sed 's/^/    /' "$1" | head -20; return 1; }
}
check() {   # stream [--expect file] -> $T/check.out
	$CHECK "$@" --memory $MEMB >"$T/check.out" 2>&1
}

# ---- determinism -------------------------------------------------------
for type in hvm pv; do
	P --to "$T/a.bin" --type $type --memory $MEM --epochs 4 --interval 0 --seed 7 || fail "run a"
	P --to "$T/b.bin" --type $type --memory $MEM --epochs 4 --interval 0 --seed 7 || fail "run b"
	P --to "$T/c.bin" --type $type --memory $MEM --epochs 4 --interval 0 --seed 8 || fail "run c"
	cmp -s "$T/a.bin" "$T/b.bin" && ok "$type: same seed, same bytes" || fail "$type: same seed gave different bytes"
	cmp -s "$T/a.bin" "$T/c.bin" && fail "$type: different seeds gave the same bytes" || ok "$type: different seed, different bytes"
done

# ---- record order, as Xen 4.17 senders write it -------------------------
P --to "$T/h.bin" --type hvm --memory $MEM --epochs 3 --interval 0 --dirty 100 --expect "$T/h.exp" || fail "hvm remus"
check "$T/h.bin" --expect "$T/h.exp" && ok "hvm remus: expectations match the independent recomputation" \
	|| { fail "hvm remus check"; cat "$T/check.out"; }
has "$T/check.out" "^sequence 0 LIBXC_CONTEXT X86_CPUID_POLICY X86_MSR_POLICY STATIC_DATA_END PAGE_DATA X86_TSC_INFO HVM_CONTEXT HVM_PARAMS CHECKPOINT EMULATOR_XENSTORE_DATA EMULATOR_CONTEXT CHECKPOINT_END$"
has "$T/check.out" "^sequence 1 PAGE_DATA X86_TSC_INFO HVM_CONTEXT HVM_PARAMS CHECKPOINT EMULATOR_XENSTORE_DATA EMULATOR_CONTEXT CHECKPOINT_END$"
has "$T/check.out" "^pages 0 1024$"
has "$T/check.out" "^pages 1 100$"
has "$T/check.out" "^complete 3$"

P --to "$T/p.bin" --type pv --memory $MEM --epochs 2 --interval 0 --dirty 10% --vcpus 2 --expect "$T/p.exp" || fail "pv remus"
check "$T/p.bin" --expect "$T/p.exp" && ok "pv remus: expectations match" || { fail "pv remus check"; cat "$T/check.out"; }
has "$T/check.out" "^sequence 0 LIBXC_CONTEXT X86_PV_INFO X86_CPUID_POLICY X86_MSR_POLICY STATIC_DATA_END X86_PV_P2M_FRAMES PAGE_DATA X86_TSC_INFO SHARED_INFO X86_PV_VCPU_BASIC X86_PV_VCPU_EXTENDED X86_PV_VCPU_XSAVE X86_PV_VCPU_BASIC X86_PV_VCPU_EXTENDED X86_PV_VCPU_XSAVE CHECKPOINT CHECKPOINT_END$"
has "$T/check.out" "^pages 1 102$"

# 64 MiB default guest: 16 full batches of 1024 in the initial pass
P --to "$T/big.bin" --mode plain --expect "$T/big.exp" || fail "plain 64M"
$CHECK "$T/big.bin" --memory 67108864 --expect "$T/big.exp" >"$T/check.out" 2>&1 && ok "plain 64M: expectations match" \
	|| { fail "plain 64M check"; cat "$T/check.out"; }
has "$T/check.out" "^sequence 0 LIBXC_CONTEXT X86_CPUID_POLICY X86_MSR_POLICY STATIC_DATA_END PAGE_DATA\*16 X86_TSC_INFO HVM_CONTEXT HVM_PARAMS END EMULATOR_XENSTORE_DATA EMULATOR_CONTEXT END$"
has "$T/check.out" "^last-record libxl END epoch 0$"
rm -f "$T/big.bin"

for pat in random hot sequential; do
	P --to "$T/pat.bin" --memory $MEM --epochs 3 --interval 0 --dirty 50 --pattern $pat --expect "$T/pat.exp" || fail "$pat"
	check "$T/pat.bin" --expect "$T/pat.exp" && has "$T/check.out" "^pages 2 50$" && ok "pattern $pat" || fail "pattern $pat"
done

# ---- crash points: each yields the truncation it names ------------------
crash() {   # point epoch -> check.out of the truncated stream
	P --to "$T/x.bin" --memory $MEM --epochs 4 --interval 0 --dirty 300 \
		--crash-in-epoch "$2" --crash-at "$1" --expect "$T/x.exp" 2>"$T/x.err"
	local rc=$?
	[ $rc -eq 0 ] || fail "crash $1: exit $rc"
	check "$T/x.bin" --expect "$T/x.exp" || fail "crash $1: check failed: $(cat "$T/check.out")"
	if [ "$2" -gt 0 ]; then
		inspect_says "$T/x.bin" "verdict: valid Remus stream: $2 complete epochs"
	else
		inspect_says "$T/x.bin" "verdict: invalid"
	fi
}
crash mid-pages 2
has "$T/check.out" "^complete 2$" && has "$T/check.out" "^end mid-record libxc PAGE_DATA epoch 2 offset [0-9]* have 615608 of 1231216$" \
	&& has "$T/check.out" "^last-record libxl CHECKPOINT_END epoch 1$" && ok "crash mid-pages"
has "$T/x.exp" "^# last complete epoch: 1$"
crash before-checkpoint 2
has "$T/check.out" "^end boundary$" && has "$T/check.out" "^last-record libxc HVM_PARAMS epoch 2$" && ok "crash before-checkpoint"
crash after-checkpoint 2
has "$T/check.out" "^end boundary$" && has "$T/check.out" "^last-record libxc CHECKPOINT epoch 2$" && ok "crash after-checkpoint"
crash mid-emulator 2
has "$T/check.out" "^end mid-record libxl EMULATOR_CONTEXT epoch 2 offset [0-9]* have [0-9]* of [0-9]*$" \
	&& has "$T/check.out" "^last-record libxl EMULATOR_XENSTORE_DATA epoch 2$" && ok "crash mid-emulator"
awk '/^end mid-record/ { if ($(NF-2) * 2 != $NF - ($NF % 2)) exit 1 }' "$T/check.out" || fail "mid-emulator: not half of the record"
crash before-checkpoint-end 2
has "$T/check.out" "^end boundary$" && has "$T/check.out" "^last-record libxl EMULATOR_CONTEXT epoch 2$" \
	&& has "$T/check.out" "^complete 2$" && ok "crash before-checkpoint-end"
crash before-checkpoint-end 0
has "$T/check.out" "^complete 0$" && has "$T/x.exp" "^# last complete epoch: none$" && ok "crash in epoch 0: no complete epoch"
"$STANDBY" primary --to "$T/x.bin" --memory $MEM --epochs 4 --interval 0 --crash-in-epoch 3 --crash-at mid-pages \
	--expect "$T/x.exp" 2>"$T/x.err" || fail "crash run with summary"
has "$T/x.err" "crashed as asked: mid-pages of epoch 3" && has "$T/x.err" "last complete epoch: 2" && ok "summary names the last complete epoch"

P --to "$T/x.bin" --memory $MEM --epochs 3 --interval 0 --crash-after-bytes 1234567 || fail "crash-after-bytes exit"
[ "$(stat -c %s "$T/x.bin")" = 1234567 ] && ok "crash-after-bytes: exactly 1234567 bytes" || fail "crash-after-bytes size $(stat -c %s "$T/x.bin")"
P --to "$T/y.bin" --memory $MEM --epochs 3 --interval 0 || fail "clean run"
cmp -s "$T/x.bin" <(head -c 1234567 "$T/y.bin") && ok "crash-after-bytes: a prefix of the clean stream" || fail "crash-after-bytes: not a prefix"
P --to "$T/x.bin" --xl --memory $MEM --epochs 3 --interval 0 --crash-after-bytes 100 || fail "xl crash-after-bytes exit"
[ "$(stat -c %s "$T/x.bin")" = 100 ] && ok "crash-after-bytes counts the xl header" || fail "xl crash size"
P --to "$T/x.bin" --memory $MEM --epochs 2 --interval 0 --crash-after-bytes 99999999999 2>/dev/null \
	&& fail "an unreached crash point must fail" || ok "unreached crash point fails"
P --to "$T/x.bin" --memory $MEM --epochs 3 --interval 0 --crash-in-epoch 1 --crash-at mid-pages --crash-exit-code 9
[ $? -eq 9 ] && ok "--crash-exit-code" || fail "--crash-exit-code"

# ---- stalls keep the bytes, take the time --------------------------------
start=$(date +%s%N)
P --to "$T/s.bin" --memory $MEM --epochs 3 --interval 0 --stall-ms 600 --stall-in-epoch 1 --stall-at mid-pages || fail "stall run"
el=$(( ($(date +%s%N) - start) / 1000000 ))
cmp -s "$T/s.bin" "$T/y.bin" && [ $el -ge 600 ] && ok "stall: same bytes, ${el} ms" || fail "stall: ${el} ms or bytes differ"

# ---- corruptions: the independent reader rejects each ---------------------
corrupt() {   # kind epoch message [extra]
	P --to "$T/k.bin" --memory $MEM --epochs 3 --interval 0 --dirty 20 --corrupt "$1" --corrupt-in-epoch "$2" ${4:-} || fail "corrupt $1 run"
	$CHECK "$T/k.bin" --memory $MEMB >"$T/check.out" 2>&1
	[ $? -eq 3 ] && has "$T/check.out" "$3" && ok "corrupt $1 caught ($3)" || fail "corrupt $1 not caught"
	inspect_says "$T/k.bin" "verdict: invalid"
}
corrupt bad-length 1 "PAGE_DATA length"
corrupt bad-pfn-type 2 "PAGE_DATA entry 0x5"
corrupt bad-pfn 1 "PAGE_DATA entry 0x10"
corrupt zero-count 1 "PAGE_DATA count 0"
corrupt unknown-record 1 "unknown libxc record 0x7f"
corrupt unknown-libxl-record 2 "unknown libxl record 0x7f"
corrupt bad-padding 1 "non-zero padding"
corrupt big-endian-header 0 "libxl header"
P --to "$T/k.bin" --type pv --memory $MEM --corrupt bad-padding 2>/dev/null; [ $? -eq 2 ] && ok "bad-padding refused for PV" || fail "bad-padding pv"

# ---- xl framing ------------------------------------------------------------
P --to "$T/xl.bin" --xl --mode plain --memory $MEM --name "guest \"1\"" || fail "xl to file"
head -c 32 "$T/xl.bin" | cmp -s - <(printf 'Xen saved domain, xl format\n \0 \r') && ok "xl header magic" || fail "xl magic"
check "$T/xl.bin" && has "$T/check.out" "^complete 1$" && ok "xl save-style file parses"
"$STANDBY" primary --exec "$FAKE --xl --out $T/xr.bin --log $T/xr.log" --xl --mode plain --memory $MEM 2>"$T/xr.err" \
	&& has "$T/xr.err" "target reports successful startup" && has "$T/xr.log" "go b'domain is yours, you are cleared to unpause" \
	&& ok "xl plain handshake" || fail "xl plain handshake"
cmp -s "$T/xr.bin" <(P --to - --xl --mode plain --memory $MEM) && ok "xl receiver got the same bytes as the file" || fail "xl bytes"
"$STANDBY" primary --exec "$FAKE --xl --status 3 --out /dev/null" --xl --mode plain --memory $MEM 2>"$T/xr.err"
[ $? -eq 1 ] && has "$T/xr.err" "status code 3" && ok "xl startup failure reported, exit 1" || fail "xl status 3"
timeout 10 "$STANDBY" primary --exec "$FAKE --banner hello --out /dev/null" --xl --memory $MEM 2>"$T/xr.err"
[ $? -eq 1 ] && has "$T/xr.err" "unexpected data instead of xl's migration receiver banner" && ok "wrong banner refused" || fail "banner"
"$STANDBY" primary --exec "$FAKE --xl --out $T/xr.bin --log $T/xr.log" --xl --memory $MEM --epochs 3 --interval 10 2>"$T/xr.err" \
	&& has "$T/xr.log" "epoch 2 complete" && has "$T/xr.err" "no acks (xl framing)" && ok "xl remus over exec" || fail "xl remus"

# ---- unix socket, acks -------------------------------------------------------
listen() {   # extra fake args...
	rm -f "$T/s.sock" "$T/s.sock.ready"
	$FAKE --listen "$T/s.sock" --out "$T/u.bin" "$@" &
	fpid=$!
	for _ in $(seq 100); do [ -e "$T/s.sock.ready" ] && break; sleep 0.05; done
}
listen --acks --ack-delay 2
P --to "unix:$T/s.sock" --memory $MEM --epochs 5 --interval 20 --json >"$T/u.json" || fail "unix acks run"
wait $fpid
has "$T/u.json" '"acks":{"received":5,"expected":5' && ok "unix: 5 acks read" || cat "$T/u.json"
/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); a=j["acks"]; sys.exit(0 if 2 <= a["p50_ms"] <= a["p90_ms"] <= a["p99_ms"] <= a["max_ms"] < 2000 else 1)' "$T/u.json" \
	&& ok "ack round trips ordered and >= the 2 ms delay" || fail "ack percentiles"
cmp -s "$T/u.bin" <(P --to - --memory $MEM --epochs 5 --interval 0) && ok "unix receiver got the file's bytes" || fail "unix bytes"

listen
start=$(date +%s%N)
"$STANDBY" primary --to "unix:$T/s.sock" --memory $MEM --epochs 2 --interval 0 --ack-timeout 300 2>"$T/u.err" || fail "no-ack run"
el=$(( ($(date +%s%N) - start) / 1000000 ))
wait $fpid
has "$T/u.err" "no acks (none received)" && [ $el -lt 5000 ] && ok "silent receiver: no acks, no hang (${el} ms)" || fail "silent receiver"

rm -f "$T/tcp.ready"
$FAKE --listen tcp --ready "$T/tcp.ready" --acks --out "$T/t.bin" &
fpid=$!
for _ in $(seq 100); do [ -s "$T/tcp.ready" ] && break; sleep 0.05; done
"$STANDBY" primary --to "tcp:127.0.0.1:$(cat "$T/tcp.ready")" --memory $MEM --epochs 3 --interval 0 2>"$T/t.err" || fail "tcp run"
wait $fpid
has "$T/t.err" "(3 of 3)" && cmp -s "$T/t.bin" <(P --to - --memory $MEM --epochs 3 --interval 0) && ok "tcp: bytes and acks" || fail "tcp"

# ---- COLO --------------------------------------------------------------------
"$STANDBY" primary --exec "$FAKE --colo --svm-pfns 1,2,3,1000 --out $T/co.bin --log $T/co.log" --mode colo \
	--epochs 4 --interval 0 --memory $MEM --dirty 10 --pattern sequential --expect "$T/co.exp" 2>"$T/co.err" || fail "colo run"
check "$T/co.bin" --expect "$T/co.exp" && ok "colo: expectations match" || { fail "colo check"; cat "$T/check.out"; }
has "$T/check.out" "^sequence 1 CHECKPOINT_STATE PAGE_DATA X86_TSC_INFO HVM_CONTEXT HVM_PARAMS CHECKPOINT EMULATOR_XENSTORE_DATA EMULATOR_CONTEXT CHECKPOINT_END$"
has "$T/check.out" "^pages 1 11$" && has "$T/check.out" "^pages 2 14$" && ok "colo: SVM-dirty pfns resent with the guest's (union)"
has "$T/co.err" "12 pages resent for the SVM"
"$STANDBY" primary --exec "$FAKE --out /dev/null" --mode colo --epochs 3 --memory $MEM --wait-timeout 500 2>"$T/co.err"
[ $? -eq 1 ] && has "$T/co.err" "CHECKPOINT_STATE(SVM_READY)" && ok "colo: silent secondary fails clearly" || fail "colo silent"
"$STANDBY" primary --exec "$FAKE --xl --colo --svm-pfns 7 --out $T/cx.bin" --xl --mode colo --epochs 3 --interval 0 \
	--memory $MEM --dirty 5 --expect "$T/cx.exp" 2>"$T/co.err" || fail "colo --xl run"
check "$T/cx.bin" --expect "$T/cx.exp" && has "$T/check.out" "^complete 3$" && ok "colo with xl framing" || fail "colo xl"
"$STANDBY" primary --exec "$FAKE --colo --out $T/k.bin" --mode colo --epochs 3 --interval 0 --memory $MEM \
	--corrupt short-checkpoint-state --corrupt-in-epoch 2 2>"$T/co.err" || fail "colo short-checkpoint-state run"
$CHECK "$T/k.bin" --memory $MEMB >"$T/check.out" 2>&1
[ $? -eq 3 ] && has "$T/check.out" "CHECKPOINT_STATE" && ok "corrupt short-checkpoint-state caught" || fail "short-checkpoint-state"
inspect_says "$T/k.bin" "verdict: invalid"
"$STANDBY" primary --exec "$FAKE --colo --bad-back order --out /dev/null" --mode colo --epochs 3 --interval 0 \
	--memory $MEM --wait-timeout 2000 2>"$T/co.err"
[ $? -eq 1 ] && has "$T/co.err" "expected CHECKPOINT_STATE(SVM_SUSPENDED), found CHECKPOINT_STATE(SVM_RESUMED)" \
	&& ok "colo: out-of-order secondary refused" || fail "colo order"
"$STANDBY" primary --exec "$FAKE --colo --bad-back pfn --out /dev/null" --mode colo --epochs 3 --interval 0 \
	--memory $MEM --wait-timeout 2000 2>"$T/co.err"
[ $? -eq 1 ] && has "$T/co.err" "COLO back channel of exec:.*0x10000000000" && ok "colo: dirty pfn beyond the guest refused" || fail "colo pfn"
P --to "$T/k.bin" --mode colo --type pv 2>/dev/null; [ $? -eq 2 ] && ok "colo refuses pv" || fail "colo pv"
P --to "$T/k.bin" --mode colo 2>/dev/null; [ $? -eq 2 ] && ok "colo refuses a file" || fail "colo file"

# ---- receiver gone, usage ----------------------------------------------------
"$STANDBY" primary --exec "head -c 1000 >/dev/null" --memory $MEM --epochs 3 2>"$T/g.err"
[ $? -eq 1 ] && has "$T/g.err" "receiver gone" && ok "receiver gone: exit 1" || fail "receiver gone"
P --memory 4M 2>/dev/null; [ $? -eq 2 ] || fail "no --to must be a usage error"
P --to "$T/k.bin" --dirty 5x 2>/dev/null; [ $? -eq 2 ] || fail "bad --dirty must be a usage error"
P --to "$T/k.bin" --crash-at nowhere 2>/dev/null; [ $? -eq 2 ] || fail "bad --crash-at must be a usage error"
"$STANDBY" primary --help | grep -q -- "--crash-after-bytes" || fail "--help"

# ---- standby inspect, when it exists ---------------------------------------
if [ $INSPECT = 1 ]; then
	inspect_says "$T/h.bin" "verdict: valid Remus stream: 3 complete epochs, 0 bytes"
	inspect_says "$T/p.bin" "verdict: valid Remus stream: 2 complete epochs, 0 bytes"
	inspect_says "$T/xl.bin" "verdict: valid"
	inspect_says "$T/co.bin" "verdict: valid COLO stream: 4 complete epochs, 0 bytes"
	P --to "$T/pl.bin" --mode plain --type pv --memory $MEM
	inspect_says "$T/pl.bin" "verdict: valid"
	"$STANDBY" inspect --mode plain "$T/pl.bin" >/dev/null 2>&1 || fail "inspect --mode plain rejects a plain stream"
	ok "standby inspect agrees on every stream above"
else
	echo "note: standby inspect is not implemented here yet; skipped its part"
fi

echo "$fails failure(s)"
[ $fails -eq 0 ]

#!/usr/bin/env bash
# test_netbuf_host.sh - `standby netbuf` on a kernel WITHOUT sch_plug (the
# project's build machines): every path fails with a clear message, and
# leaves nothing behind.  Everything runs in a private network namespace
# (unshare -n), so the host's interfaces are never touched.  On a kernel that
# has sch_plug these checks cannot be made: skipped (tests/vm covers it).
set -u
S=$STANDBY
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
expect_fail() {   # desc rc-wanted pattern cmd...
	local d=$1 want=$2 pat=$3 out rc; shift 3
	out=$("$@" 2>&1 < /dev/null); rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$pat" <<< "$out"; then ok "$d"
	else bad "$d (exit $rc, wanted $want and '$pat'; got: $out)"; fi
}

[ "$(id -u)" = 0 ] || { echo "needs root (unshare -n for a private network namespace)"; exit 77; }
unshare -n true 2>/dev/null || { echo "cannot create a network namespace here (unshare -n)"; exit 77; }
NS=(unshare -n)

# Does this kernel have sch_plug?  Ask it, inside a throwaway namespace.
out=$("${NS[@]}" "$S" netbuf drive lo < /dev/null 2>&1); rc=$?
if [ $rc = 0 ]; then
	echo "this kernel has sch_plug: the no-sch_plug checks do not apply (tests/vm covers sch_plug)"
	exit 77
fi

expect_fail "drive: no sch_plug -> clear error" 1 \
	"lo: cannot create a plug qdisc: the kernel has no 'plug' qdisc (libnl: Object not found; needs sch_plug" \
	"${NS[@]}" "$S" netbuf drive lo
expect_fail "drive: missing interface" 1 "nosuch0: no such network interface" \
	"${NS[@]}" "$S" netbuf drive nosuch0
expect_fail "drive: the first failing interface is named" 1 "nosuch1: no such network interface" \
	"${NS[@]}" "$S" netbuf drive nosuch1 lo
expect_fail "drive: an interface given twice" 1 "interface lo given twice" \
	"${NS[@]}" "$S" netbuf drive lo lo
expect_fail "drive: an overlong interface name" 1 "is not a valid interface name" \
	"${NS[@]}" "$S" netbuf drive abcdefghijklmnopqrstuvwxyz
if command -v setpriv >/dev/null; then
	expect_fail "drive: without CAP_NET_ADMIN -> permission error" 1 \
		"lo: cannot create a plug qdisc: Operation not permitted (needs root or CAP_NET_ADMIN)" \
		"${NS[@]}" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$S" netbuf drive lo
fi
expect_fail "usage: no action" 2 "usage: standby netbuf" "$S" netbuf
expect_fail "usage: drive without interfaces" 2 "usage: standby netbuf" "$S" netbuf drive
expect_fail "usage: --limit 0" 2 "--limit wants bytes from 1 to 2147483647" "$S" netbuf drive --limit 0 lo
expect_fail "usage: --limit over the plug's int" 2 "--limit wants bytes" "$S" netbuf drive --limit 4294967296 lo
expect_fail "usage: unknown action" 2 "unknown action 'frob'" "$S" netbuf frob
expect_fail "usage: setup needs VIF and IFB" 2 "usage: standby netbuf" "$S" netbuf setup lo
out=$("$S" netbuf --help); [ $? = 0 ] && grep -q "matchall filter" <<< "$out" && ok "--help describes it" || bad "--help"
out=$("$S" --help); grep -q "netbuf" <<< "$out" && ok "listed in standby --help" || bad "standby --help lacks netbuf"

expect_fail "setup: missing VIF" 1 "nosuch0: no such network interface" \
	"${NS[@]}" "$S" netbuf setup nosuch0 lo
expect_fail "setup: IFB that is not an ifb device" 1 "lo is not an ifb device" \
	"${NS[@]}" sh -c 'ip link add d0 type veth peer name d1 2>/dev/null || exit 0; exec "$0" netbuf setup d0 lo' "$S"
# With an ifb device (if this kernel can make one): the sch_plug error, and nothing left behind.
if "${NS[@]}" ip link add ifbt type ifb 2>/dev/null; then
	out=$("${NS[@]}" sh -c '
		ip link add ifbt type ifb && ip link add v0 type veth peer name v1 || exit 3
		"$0" netbuf setup v0 ifbt; echo "rc=$?"
		echo "ingress: $(tc qdisc show dev v0 | grep -c ingress)"
		echo "plug: $(tc qdisc show dev ifbt | grep -c plug)"
		echo "ifbt: $(ip -br link show ifbt | awk "{print \$2}")"' "$S" 2>&1)
	if grep -q "the kernel has no 'plug' qdisc" <<< "$out" && grep -q "rc=1" <<< "$out" &&
	   grep -q "ingress: 0" <<< "$out" && grep -q "plug: 0" <<< "$out" && grep -q "ifbt: DOWN" <<< "$out"; then
		ok "setup: no sch_plug -> clear error, nothing changed (no ingress qdisc, ifb still down)"
	else
		bad "setup without sch_plug: $out"
	fi
	expect_fail "teardown of nothing is fine" 0 "" "${NS[@]}" sh -c 'ip link add ifbt type ifb; ip link add v0 type veth peer name v1; exec "$0" netbuf teardown v0 ifbt' "$S"
else
	echo "skip  setup with an ifb device: this kernel cannot create one"
fi

# ---- the receiver's --netbuf (receive) and --netbuf-map (serve): the plug
# cannot be made, so the stream fails cleanly: the module's message, a
# non-zero exit, and no replica claimed.
R=$TESTTMP/netbuf-recv; rm -rf "$R"; mkdir -p "$R"
out=$("${NS[@]}" "$S" receive --netbuf lo --target "image:$R/r" < /dev/null 2>&1); rc=$?
if [ $rc = 1 ] && grep -qF "restore failed: netbuf: lo: cannot create a plug qdisc: the kernel has no 'plug' qdisc" <<< "$out" &&
   [ ! -e "$R/r" ]; then ok "receive --netbuf lo: module's error, exit 1, no replica"
else bad "receive --netbuf lo (exit $rc, replica $(ls "$R" 2>&1)): $out"; fi
# A real stream behind it: the receiver gives up before reading anything.
out=$("${NS[@]}" "$S" primary --mode remus --epochs 3 --interval 0 --memory 256K \
	--exec "$S receive -v --heartbeat-ms 0 --netbuf lo --target image:$R/p" 2>&1); rc=$?
if [ $rc != 0 ] && grep -qF "the kernel has no 'plug' qdisc" <<< "$out" && ! grep -q " committed:" <<< "$out" &&
   [ ! -e "$R/p" ]; then ok "primary | receive --netbuf lo: fails, nothing committed, no replica"
else bad "primary | receive --netbuf lo (exit $rc, replica $(ls "$R" 2>&1)): $out"; fi
expect_fail "receive: --netbuf nosuch0" 1 "nosuch0: no such network interface" \
	"${NS[@]}" "$S" receive --netbuf nosuch0 --target "image:$R/n"
[ ! -e "$R/n" ] && ok "receive --netbuf nosuch0: no replica" || bad "receive --netbuf nosuch0 made $R/n"
expect_fail "receive: --netbuf twice" 2 "bad --netbuf 'lo'" "$S" receive --netbuf lo --netbuf lo
expect_fail "receive: --netbuf-limit without --netbuf" 2 "need --netbuf IFACE" "$S" receive --netbuf-limit 1M
expect_fail "receive: bad --netbuf-failover" 2 "bad --netbuf-failover 'hold' (release or drop)" \
	"$S" receive --netbuf lo --netbuf-failover hold
expect_fail "receive: --netbuf-limit 0" 2 "bad --netbuf-limit '0'" "$S" receive --netbuf lo --netbuf-limit 0
expect_fail "serve: --netbuf refused, --netbuf-map named" 2 "use --netbuf-map NAME=IFACE" \
	"$S" serve --listen "unix:$R/sock" --target "image:$R/root" --netbuf lo
expect_fail "serve: one interface mapped twice" 2 "interface lo is mapped already" \
	"$S" serve --listen "unix:$R/sock" --netbuf-map a=lo --netbuf-map b=lo
expect_fail "serve: bad --netbuf-map" 2 "bad --netbuf-map 'lo'" \
	"$S" serve --listen "unix:$R/sock" --netbuf-map lo
out=$("$S" receive --help); grep -q -- "--netbuf IFACE" <<< "$out" && grep -q -- "--netbuf-failover" <<< "$out" &&
	ok "receive --help lists --netbuf" || bad "receive --help lacks --netbuf"
# serve --netbuf-map: the mapped domain's stream fails (no plug), the
# unmapped one is received and activated as ever.
"${NS[@]}" "$S" serve --xl --listen "unix:$R/sock" --target "image:$R/root" --heartbeat-ms 0 \
	--netbuf-map mapped=lo 2> "$R/serve.log" & spid=$!
for _ in $(seq 100); do grep -q "listening on" "$R/serve.log" && break; sleep 0.1; done
"$S" primary --xl --name mapped --mode remus --epochs 3 --interval 0 --memory 256K --to "unix:$R/sock" \
	> "$R/p1.log" 2>&1; rc1=$?
"$S" primary --xl --name free --mode remus --epochs 3 --interval 0 --memory 256K --to "unix:$R/sock" \
	> "$R/p2.log" 2>&1; rc2=$?
for _ in $(seq 100); do grep -q "(free): activated" "$R/serve.log" && grep -q "(mapped): restore failed" "$R/serve.log" && break; sleep 0.1; done
kill "$spid"; wait "$spid"
if grep -F "(mapped): restore failed: netbuf: " "$R/serve.log" |
	grep -qF "lo: cannot create a plug qdisc: the kernel has no 'plug' qdisc" &&
   [ ! -e "$R/root/mapped" ] && grep -q "(free): activated epoch 2" "$R/serve.log" && [ -d "$R/root/free" ]; then
	ok "serve --netbuf-map mapped=lo: that stream fails with the module's error, no replica; an unmapped one is activated"
else bad "serve --netbuf-map (primaries exit $rc1 $rc2; root: $(ls "$R/root" 2>&1)): $(cat "$R/serve.log" "$R/p1.log")"; fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]

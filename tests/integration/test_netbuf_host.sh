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

echo "$pass passed, $fail failed"
[ $fail = 0 ]

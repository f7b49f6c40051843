# recv_lib.sh - helpers for the receiver's integration tests (sourced).
# Needs $STANDBY and $TESTTMP.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

need_primary() {
	"$STANDBY" primary --help >/dev/null 2>&1 || skip "standby primary is not built yet"
}

have_verify() { "$STANDBY" verify --help >/dev/null 2>&1; }

# expect_line EXPECT N -> "memory state" digests of epoch N
expect_line() {
	awk -v n="$2" '$1 == "epoch" && $2 == n { print $4, $6 }' "$1"
}

# manifest_field DIR FIELD -> value from the replica's manifest.json
manifest_field() {
	python3 - "$1/manifest.json" "$2" <<'PY'
import json, sys
try:
    m = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print("none"); sys.exit(0)
v = m.get(sys.argv[2])
print("none" if v is None else str(v).lower())
PY
}

# check_replica DIR EXPECT EPOCH: the replica holds exactly epoch EPOCH of the
# expectations (memory image and state digests), and `standby verify` agrees.
check_replica() {
	local dir=$1 exp=$2 epoch=$3 want got mem state
	want=$(expect_line "$exp" "$epoch")
	[ -n "$want" ] || die "no expectation for epoch $epoch in $exp"
	got=$(manifest_field "$dir" committed_epoch)
	[ "$got" = "$epoch" ] || die "$dir: committed epoch $got, expected $epoch"
	mem=$(sha256sum "$dir/memory" | cut -d' ' -f1)
	state=$(manifest_field "$dir" state_digest)
	[ "$mem ${state}" = "$want" ] || die "$dir: digests '$mem $state' != expected '$want' (epoch $epoch)"
	if have_verify; then
		"$STANDBY" verify "$dir" --expect "$exp" >"$TESTTMP/verify.out" 2>&1 ||
			{ cat "$TESTTMP/verify.out" >&2; die "standby verify $dir failed"; }
	fi
}

# no_replica DIR: nothing committed is claimed there.
no_replica() {
	local dir=$1
	if have_verify; then
		"$STANDBY" verify "$dir" >/dev/null 2>&1
		[ $? -eq 1 ] || die "standby verify $dir: expected exit 1 (no replica)"
	fi
	[ "$(manifest_field "$dir" committed_epoch)" = none ] || die "$dir: a committed epoch is claimed"
}

# wait_for COND_CMD TIMEOUT_S: poll until COND_CMD succeeds
wait_for() {
	local cond=$1 t=${2:-10} i=0
	while ! eval "$cond"; do
		sleep 0.05
		i=$((i + 1))
		[ $i -ge $((t * 20)) ] && return 1
	done
	return 0
}

# start_serve LOG ARGS...: standby serve in the background; sets SERVE_PID
start_serve() {
	local log=$1; shift
	: >"$log"
	"$STANDBY" serve "$@" 2>>"$log" &
	SERVE_PID=$!
	wait_for "grep -q 'listening on' '$log'" 10 || { cat "$log" >&2; die "serve did not start"; }
}

stop_serve() {
	[ -n "${SERVE_PID:-}" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	local rc=$?
	SERVE_PID=
	return $rc
}

# Sanitizer reports in any receiver log fail the test (the receivers' exit
# status is often not what the test looks at).
sanitizer_check() {
	local rc=$?
	if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$TESTTMP"/*log* "$TESTTMP"/*.out 2>/dev/null; then
		grep -hE -A20 "AddressSanitizer|LeakSanitizer|runtime error:" "$TESTTMP"/*log* 2>/dev/null | head -60
		echo "FAIL: sanitizer report in a receiver log" >&2
		exit 1
	fi
	exit $rc
}
trap sanitizer_check EXIT

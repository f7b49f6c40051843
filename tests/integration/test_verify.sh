#!/usr/bin/env bash
# test_verify.sh - `standby verify` exit codes without a receiver: no replica
# (1), usage errors (2), --help (0).  Replicas themselves are checked in
# tests/unit/test_image.c (which runs the same command on real replicas).
set -u
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() {  # want cmd...
	local want=$1; shift
	"$@" >"$TESTTMP/out" 2>"$TESTTMP/err"
	local rc=$?
	[ $rc -eq "$want" ] || { cat "$TESTTMP/out" "$TESTTMP/err"; fail "'$*' exited $rc, expected $want"; }
}

# usage errors
expect_rc 2 "$STANDBY" verify
expect_rc 2 "$STANDBY" verify --bogus "$TESTTMP"
expect_rc 2 "$STANDBY" verify "$TESTTMP" "$TESTTMP"
expect_rc 2 "$STANDBY" verify "$TESTTMP" --expect
printf 'epoch 0 memory nothex state nothex\n' >"$TESTTMP/bad.expect"
expect_rc 2 "$STANDBY" verify "$TESTTMP" --expect "$TESTTMP/bad.expect"
grep -q 'bad.expect:1:' "$TESTTMP/err" || fail "no line number for a malformed expectations file"
expect_rc 2 "$STANDBY" verify "$TESTTMP" --expect "$TESTTMP/missing.expect"
expect_rc 0 "$STANDBY" verify --help
grep -q -- '--expect FILE' "$TESTTMP/out" || fail "--help does not describe --expect"

# no replica: a missing directory, an empty one, one with an uncommitted start
expect_rc 1 "$STANDBY" verify "$TESTTMP/nonexistent"
mkdir "$TESTTMP/empty"
expect_rc 1 "$STANDBY" verify "$TESTTMP/empty"
grep -q 'no committed replica' "$TESTTMP/err" || fail "no reason given for an empty directory"
expect_rc 1 "$STANDBY" verify --json "$TESTTMP/empty"
grep -q '"ok":false' "$TESTTMP/out" || fail "--json does not report ok:false"
grep -q '"committed_epoch":null' "$TESTTMP/out" || fail "--json does not report committed_epoch:null"

# a stream that died before its first commit: .incoming only -> dropped, still no replica
mkdir -p "$TESTTMP/partial/.incoming/state.new"
head -c 8192 /dev/urandom >"$TESTTMP/partial/.incoming/memory"
expect_rc 1 "$STANDBY" verify "$TESTTMP/partial"
[ ! -e "$TESTTMP/partial/.incoming" ] || fail "recovery left .incoming behind"
grep -q 'dropped an unfinished new stream' "$TESTTMP/out" || fail "recovery not reported"

# a corrupt manifest is not a replica either
mkdir "$TESTTMP/corrupt"
echo '{"format":"standby-image/1",' >"$TESTTMP/corrupt/manifest.json"
expect_rc 1 "$STANDBY" verify "$TESTTMP/corrupt"
grep -q 'manifest.json' "$TESTTMP/err" || fail "corrupt manifest not named"
echo "ok"

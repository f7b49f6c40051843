#!/usr/bin/env bash
# run-all.sh - every test of standby: unit tests (cmocka) and integration tests
# (the real binary over real sockets), first plainly, then again built with
# AddressSanitizer + UndefinedBehaviorSanitizer, then the parser fuzzer for a
# bounded time.  Prints one "N passed, N failed, N skipped" line at the end.
#
# Integration tests are tests/integration/test_*.sh.  Each gets:
#   STANDBY   the binary under test       SHARED  the ../shared folder
#   TESTTMP   a fresh scratch directory   SRCDIR  the source tree
# and exits 0 (pass), 77 (skipped: it prints why) or anything else (fail).
#
# Environment: TESTS="name ..." runs only those; NO_ASAN=1, NO_FUZZ=1 skip phases.
set -u
cd "$(dirname "$0")/.."
SRCDIR=$(pwd)
export SRCDIR
SHARED=${SHARED:-$(cd "$SRCDIR/.." && pwd)/shared}
export SHARED
B=build
pass=0 fail=0 skip=0
failed_names=()

log() { printf '%s\n' "$*"; }

run_one() {   # label cmd...
	local label=$1; shift
	local out="$B/test-logs/${label//\//_}.log"
	mkdir -p "$B/test-logs"
	local t0=$SECONDS
	"$@" >"$out" 2>&1
	local rc=$?
	local dt=$((SECONDS - t0))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); log "PASS  $label (${dt}s)"
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1)); log "SKIP  $label: $(tail -n 1 "$out")"
	else
		fail=$((fail + 1)); failed_names+=("$label")
		log "FAIL  $label (rc=$rc, ${dt}s; log $out)"; tail -n 25 "$out" | sed 's/^/      /'
	fi
}

selected() {  # name
	[ -z "${TESTS:-}" ] && return 0
	local t; for t in $TESTS; do [ "$t" = "$1" ] && return 0; done; return 1
}

run_integration() {  # binary tag
	local bin=$1 tag=$2 t name
	for t in tests/integration/test_*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "$name" || continue
		local tmp; tmp=$(mktemp -d /tmp/standby-test.XXXXXX)
		# a test may ask for more than 900 s with a '# timeout: N' line near its top
		local limit; limit=$(sed -n '1,5s/^# timeout: \([0-9]*\)$/\1/p' "$t" | head -1)
		run_one "$tag/$name" env STANDBY="$SRCDIR/$bin" TESTTMP="$tmp" SHARED="$SHARED" \
			SRCDIR="$SRCDIR" timeout "${limit:-900}" bash "$t"
		rm -rf "$tmp"
	done
}

run_units() {  # dir tag
	local dir=$1 tag=$2 u name
	for u in tests/unit/test_*.c; do
		[ -e "$u" ] || continue
		name=$(basename "$u" .c)
		selected "$name" || continue
		run_one "$tag/$name" env SHARED="$SHARED" SRCDIR="$SRCDIR" timeout 900 "$dir/$name"
	done
}

log "== build"
make -s standby test-unit >"$B/build.log" 2>&1 || { cat "$B/build.log"; echo "0 passed, 1 failed"; exit 1; }

log "== unit and integration tests"
run_units "$B/unit" plain
run_integration standby plain

if [ -z "${NO_ASAN:-}" ]; then
	log "== again under AddressSanitizer + UndefinedBehaviorSanitizer"
	make -s test-asan >"$B/build-asan.log" 2>&1 || { cat "$B/build-asan.log"; echo "0 passed, 1 failed"; exit 1; }
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_units "$B/asan-unit" asan
	run_integration "$B/asan/standby" asan
fi

if [ -z "${NO_FUZZ:-}" ] && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1 && selected fuzz; then
	log "== fuzzing the parser for ${FUZZ_TEST_SECONDS:-60}s"
	make -s test-fuzz >"$B/build-fuzz.log" 2>&1 || { cat "$B/build-fuzz.log"; fail=$((fail + 1)); }
	for f in tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		mkdir -p "$B/fuzz-corpus/$n"
		run_one "fuzz/$n" "$B/fuzz/$n" -max_total_time="${FUZZ_TEST_SECONDS:-60}" -max_len=65536 \
			-timeout=10 -rss_limit_mb=2048 "$B/fuzz-corpus/$n" "tests/corpus/$n"
	done
fi

if [ ${#failed_names[@]} -gt 0 ]; then log "failed: ${failed_names[*]}"; fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]

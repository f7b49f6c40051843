#!/bin/bash
# timeout: 2700
# test_xen_e2e.sh - standby against real Xen 4.17 (tests/xen/run.sh): xl remus
# into standby, failover, a cut inside an epoch, a cut before the first
# checkpoint, and replay of an xl save file, in dom0 of a Xen booted in QEMU.
# Skips (77) when it cannot run here; runs once (plain phase), not again
# under the sanitizers, to keep CI's budget.
set -u
case "${STANDBY:-}" in
*/asan/*) echo "skipped under ASan: the Xen end-to-end suite runs once, in the plain phase"; exit 77 ;;
esac
[ "$(id -u)" = 0 ] || { echo "needs root (QEMU, apt-get for the Xen packages)"; exit 77; }
[ -n "${XEN_E2E_SKIP:-}" ] && { echo "XEN_E2E_SKIP is set"; exit 77; }
if ! command -v qemu-system-x86_64 >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null 2>&1 ||
	       { apt-get update -qq >/dev/null 2>&1 &&
	         apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null 2>&1; }; }; then
		echo "qemu-system-x86_64 missing and not installable (apt-get failed)"; exit 77
	fi
fi
export XEN_VM_TIMEOUT=${XEN_VM_TIMEOUT:-720}
export STANDBY
# The dom0 under QEMU TCG is not fully reliable (docs/xen-target.md: unrelated
# processes such as bash or xl occasionally segfault in libc; about one VM
# boot in five here fails a scenario for no reason a rerun shows: libxc
# reading garbage, xl remus stopping early). A failed run is therefore tried
# again in a fresh VM, up to three runs; every failed run's result lines and
# the tails of its scenario logs are printed, so a real regression (failing
# three times) still fails, with its evidence in the CI log.
for attempt in 1 2 3; do
	export XEN_OUT="$TESTTMP/xen-$attempt"
	timeout $((XEN_VM_TIMEOUT + 150)) "$SRCDIR/tests/xen/run.sh" && exit 0
	rc=$?
	echo "== attempt $attempt failed (rc $rc); results:"
	grep -h '^RESULT' "$XEN_OUT/io/out/results.txt" 2>/dev/null | sed 's/^/   /'
	for f in "$XEN_OUT"/io/out/s[0-9]-*.log; do
		[ -e "$f" ] || continue
		echo "   -- tail of $(basename "$f")"
		grep -v progress "$f" | tail -n 8 | cut -c1-240 | sed 's/^/      /'
	done
done
exit 1

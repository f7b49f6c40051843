#!/usr/bin/env bash
# test_netbuf_vm.sh - the netbuf tests that need sch_plug, on Debian's own
# kernel in a QEMU VM (tests/vm/run.sh: tests/vm/vmrun.sh boots it,
# tests/vm/suite.sh runs inside it against $STANDBY).  Skipped (77) with the
# reason when QEMU cannot run here.
set -u
[ "$(id -u)" = 0 ] || { echo "needs root (QEMU with a 9p passthrough of /, apt for the kernel)"; exit 77; }
cd "$SRCDIR" || exit 1
out=$TESTTMP/vm.out
tests/vm/run.sh "$STANDBY" > "$out" 2>&1
rc=$?
cat "$out"
if [ $rc = 125 ]; then
	echo "the QEMU VM cannot run here: $(grep '^vmrun:' "$out" | tail -n 1)"
	exit 77
fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
[ -n "$line" ] || { echo "the VM suite printed no summary (exit $rc)"; exit 1; }
echo "VM suite: $line"
exit $rc

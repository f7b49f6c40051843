#!/bin/bash
# run.sh - standby's end-to-end test on real Xen 4.17 (inside QEMU TCG).
#
# Builds standby and the test tools on the host, boots Xen + dom0 with
# tests/xen/vm.sh, runs tests/xen/job.sh in dom0 (real xl as the primary,
# standby as the receiver), and prints one "N passed, N failed" line.
# Exit 0 when every scenario passed.
#
# Env: XEN_OUT (output dir; default a fresh /var/tmp/standby-xen.*),
#      XEN_SCENARIOS ("1 2 4 3"; add "bench" after 1 for the xl comparison), XEN_CHECKPOINTS (10),
#      XEN_VM_TIMEOUT (whole VM, s; default 720), XENVM_WORK (cache).
set -u
cd "$(dirname "$0")/../.."
SRCDIR=$(pwd)
export SRCDIR
OUTDIR=${XEN_OUT:-$(mktemp -d /var/tmp/standby-xen.XXXXXX)}
mkdir -p "$OUTDIR"
export XEN_SCENARIOS=${XEN_SCENARIOS:-"1 2 4 3"}
export XEN_CHECKPOINTS=${XEN_CHECKPOINTS:-10}
export XENVM_PASS_ENV="XEN_SCENARIOS XEN_CHECKPOINTS STANDBY"
export STANDBY=${STANDBY:-$SRCDIR/standby}
export XENVM_TIMEOUT=${XEN_VM_TIMEOUT:-720}

echo "== building standby and the test tools"
make -s standby >"$OUTDIR/build.log" 2>&1 || { tail -n 30 "$OUTDIR/build.log"; echo "0 passed, 1 failed"; exit 1; }
CFLAGS_T="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -Iinclude -Isrc $(make -s --no-print-directory print-pkg-cflags)"
LIBS_T="$(make -s --no-print-directory print-pkg-libs)"
OBJS=$(find build/obj -name '*.o' ! -path '*/src/main.o')
mkdir -p build/xen
for t in relay rawfeed drive; do
	cc $CFLAGS_T -o build/xen/$t tests/xen/$t.c $OBJS $LIBS_T >>"$OUTDIR/build.log" 2>&1 ||
		{ tail -n 30 "$OUTDIR/build.log"; echo "0 passed, 1 failed"; exit 1; }
done

# dom0 sees the host's root through an overlay but mounts tmpfs on /tmp, /run,
# /var/log, /root ...: a checkout there would be invisible.  Stage the binaries
# in the I/O share, which dom0 always sees as /xenvm-io.
mkdir -p "$OUTDIR/io/bin"
cp "$STANDBY" "$OUTDIR/io/bin/standby" && cp build/xen/relay build/xen/rawfeed build/xen/drive "$OUTDIR/io/bin/" ||
	{ echo "cannot stage the binaries in $OUTDIR/io/bin"; echo "0 passed, 1 failed"; exit 1; }
export STANDBY=/xenvm-io/bin/standby XEN_BIN=/xenvm-io/bin
export XENVM_PASS_ENV="$XENVM_PASS_ENV XEN_BIN"

echo "== booting Xen in QEMU (timeout ${XENVM_TIMEOUT}s); output in $OUTDIR"
timeout $((XENVM_TIMEOUT + 120)) tests/xen/vm.sh tests/xen/job.sh "$OUTDIR"
vmrc=$?
RES="$OUTDIR/io/out/results.txt"
echo "== results"
[ -f "$RES" ] && cat "$RES"
[ -f "$OUTDIR/io/out/timings.txt" ] && cat "$OUTDIR/io/out/timings.txt"
pass=0 fail=0
for s in $XEN_SCENARIOS; do
	case $s in
	1) n=remus-failover ;; 2) n=mid-epoch-cut ;; 3) n=replay-xl-save ;; 4) n=cut-before-first ;; *) continue ;;
	esac
	if [ -f "$RES" ] && grep -q "^RESULT $n PASS" "$RES"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		[ -f "$RES" ] && grep -q "^RESULT $n " "$RES" || echo "RESULT $n FAIL (no result: VM rc $vmrc; see $OUTDIR/serial.log)"
	fi
done
if [ -f "$RES" ] && grep -q '^RESULT setup FAIL' "$RES"; then fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

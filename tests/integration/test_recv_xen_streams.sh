#!/usr/bin/env bash
# Streams written by real Xen 4.17 through the receiver:
#  - the `xl remus` stream into `standby receive --xl --remus`: stdout must be
#    byte for byte what the real `xl migrate-receive -r` wrote back (the banner
#    alone), and the replica must be the last of its 17 checkpoints;
#  - the same stream through `standby replay --until-epoch 3`;
#  - the `xl save` (PV, plain) file through replay: a completed migration.
set -u
. "$(dirname "$0")/recv_lib.sh"
T=$TESTTMP
S=${SHARED:-/work/shared}/streams
[ -r $S/xl-remus-pvh-128M.fwd.xz ] || skip "no Xen streams in $S"
command -v xz >/dev/null || skip "xz is not installed"
have_verify || skip "standby verify is not built yet"

xz -dc $S/xl-remus-pvh-128M.fwd.xz >$T/remus || die "xz"
"$STANDBY" receive --xl --remus --target image:$T/r1 <$T/remus >$T/back.out 2>$T/log1 || die "receive --xl --remus: $(tail -3 $T/log1)"
cmp $T/back.out $S/xl-remus-pvh-128M.back || die "stdout differs from real xl migrate-receive -r"
grep -q "failover: eof: .*right after epoch 16; activating epoch 16" $T/log1 || die "$(tail -3 $T/log1)"
"$STANDBY" verify $T/r1 >$T/v1 || die "verify r1: $(cat $T/v1)"
[ "$(manifest_field $T/r1 committed_epoch)" = 16 ] || die "r1 not at epoch 16"
[ "$(manifest_field $T/r1 domain)" = guest ] || die "domain name not taken from the xl config"
rm -rf $T/r1

"$STANDBY" replay $T/remus --until-epoch 3 --target image:$T/r2 2>$T/log2 || die "replay --until-epoch 3"
"$STANDBY" verify $T/r2 >$T/v2 || die "verify r2"
[ "$(manifest_field $T/r2 committed_epoch)" = 3 ] || die "r2 not at epoch 3"
rm -rf $T/r2 $T/remus

if [ -r $S/xl-save-pv-128M.xlsave.xz ]; then
	xz -dc $S/xl-save-pv-128M.xlsave.xz >$T/save || die "xz"
	"$STANDBY" replay $T/save --target image:$T/r3 2>$T/log3 || die "replay of xl save: $(tail -3 $T/log3)"
	"$STANDBY" verify $T/r3 >$T/v3 || die "verify r3"
	[ "$(manifest_field $T/r3 committed_epoch)" = 0 ] || die "r3 not at epoch 0"
	[ "$(manifest_field $T/r3 activation_reason)" = "migration complete" ] || die "plain stream not a completed migration"
fi
echo "Xen streams passed"

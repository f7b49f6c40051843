#!/usr/bin/env bash
# Remus, COLO and plain streams end to end through the receiver: over a unix
# socket (serve), over stdin/stdout (primary --exec "standby receive"), with
# xl's protocol (--xl), then the recorded stream again through replay.  Each
# replica must hold exactly the last epoch of the primary's expectations.
set -u
. "$(dirname "$0")/recv_lib.sh"
need_primary
T=$TESTTMP
P="--memory 1M --interval 0 --quiet"

echo "== native Remus over stdin/stdout, recorded"
"$STANDBY" primary --mode remus --epochs 5 $P --expect $T/e1 \
	--exec "$STANDBY receive --record $T/rec1 --target image:$T/r1 2>$T/log1" || die "primary (native)"
check_replica $T/r1 $T/e1 4
[ "$(manifest_field $T/r1 activated)" = true ] || die "r1 not activated after EOF"
grep -q "failover: eof" $T/log1 || die "no failover line: $(cat $T/log1)"

echo "== xl Remus (banner, then nothing on stdout)"
"$STANDBY" primary --xl --name guest-x --mode remus --epochs 4 $P --expect $T/e2 \
	--exec "$STANDBY receive --xl --remus --target image:$T/r2 2>$T/log2" || die "primary (xl remus)"
check_replica $T/r2 $T/e2 3
# the exact bytes of xl migrate-receive -r on stdout: the banner alone
"$STANDBY" primary --xl --mode remus --epochs 2 $P --to $T/xl.stream || die "primary --to"
"$STANDBY" receive --xl --remus --target image:$T/r2b <$T/xl.stream >$T/xl.out 2>$T/log2b || die "receive --xl file"
printf 'xl migration receiver ready, send binary domain data.\n' | cmp - $T/xl.out || die "xl remus stdout is not the banner alone"

echo "== plain xl migration (ready / GO / report)"
"$STANDBY" primary --xl --name guest-p --mode plain --memory 1M --expect $T/e3 \
	--exec "$STANDBY receive --xl --target image:$T/r3 2>$T/log3" 2>$T/p3 || { cat $T/p3 $T/log3; die "primary (xl plain)"; }
grep -q "successful startup" $T/p3 || die "xl handshake not completed: $(cat $T/p3)"
check_replica $T/r3 $T/e3 0
[ "$(manifest_field $T/r3 activated)" = true ] || die "plain migration not activated"

echo "== plain xl handshake, byte for byte, with a right and a wrong GO"
"$STANDBY" primary --xl --name guest-q --mode plain --memory 256K --to $T/plain.xl --expect $T/eq --quiet || die "primary --to (plain)"
{ cat $T/plain.xl; printf 'domain is yours, you are cleared to unpause\0'; } |
	"$STANDBY" receive --xl --target image:$T/rq >$T/q.out 2>$T/logq || die "receive --xl (plain, GO)"
{ printf 'xl migration receiver ready, send binary domain data.\n'
  printf 'domain received, ready to unpause\0'
  printf 'my copy unpause results are as follows\0\0'; } | cmp - $T/q.out || die "plain xl handshake bytes differ"
check_replica $T/rq $T/eq 0
[ "$(manifest_field $T/rq activated)" = true ] || die "not activated after GO"
{ cat $T/plain.xl; printf 'domain is yours, you are NOT cleared!!!!!!!\0'; } |
	"$STANDBY" receive --xl --target image:$T/rw >$T/w.out 2>$T/logw && die "receive --xl accepted a wrong GO"
{ printf 'xl migration receiver ready, send binary domain data.\n'
  printf 'domain received, ready to unpause\0'
  printf 'my copy unpause results are as follows\0\377'
  printf 'domain is yours, you are cleared to unpause\0'; } | cmp - $T/w.out || die "failure report bytes differ"
[ "$(manifest_field $T/rw activated)" = false ] || die "activated after a wrong GO"
"$STANDBY" receive --xl --target image:$T/rx <$T/plain.xl >/dev/null 2>$T/logx && die "receive --xl without GO succeeded"
grep -q "handshake failed: eof" $T/logx || die "no handshake failure line: $(cat $T/logx)"
[ "$(manifest_field $T/rx activated)" = false ] || die "activated without GO"

echo "== plain native (ack of epoch 0, then activation)"
"$STANDBY" primary --mode plain $P --expect $T/e4 \
	--exec "$STANDBY receive --target image:$T/r4 2>$T/log4" 2>$T/p4 || { cat $T/p4; die "primary (plain)"; }
check_replica $T/r4 $T/e4 0

echo "== COLO back channel (native and --xl)"
"$STANDBY" primary --mode colo --epochs 4 $P --expect $T/e5 \
	--exec "$STANDBY receive --colo --target image:$T/r5 2>$T/log5" || die "primary (colo)"
check_replica $T/r5 $T/e5 3
"$STANDBY" primary --xl --mode colo --epochs 3 $P --expect $T/e6 \
	--exec "$STANDBY receive --xl --colo --colo-dirty-pfns 3,7-9 --target image:$T/r6 2>$T/log6" 2>$T/p6 || die "primary (xl colo)"
check_replica $T/r6 $T/e6 2

echo "== serve over a unix socket: two domains, xl-framed and bare"
start_serve $T/serve.log --listen unix:$T/sock --target image:$T/root -v
"$STANDBY" primary --mode remus --epochs 6 --memory 1M --interval 0 --seed 7 --expect $T/e7 --to unix:$T/sock 2>$T/p7 ||
	die "primary -> serve (bare)"
grep -q "acks .*(6 of 6)" $T/p7 || die "serve's acks did not all come back: $(cat $T/p7)"
wait_for "grep -q 'activated epoch 5' $T/serve.log" 10 || die "serve did not activate: $(cat $T/serve.log)"
check_replica $T/root/conn-1 $T/e7 5
stop_serve
mkdir -p $T/recdir
start_serve $T/serve3.log --listen unix:$T/sock --target image:$T/root3 --record $T/recdir
"$STANDBY" primary --mode remus --epochs 4 $P --seed 8 --expect $T/e11 --to unix:$T/sock || die "primary -> serve --record"
wait_for "grep -q 'activated epoch 3' $T/serve3.log" 10 || die "serve --record did not activate: $(cat $T/serve3.log)"
stop_serve
"$STANDBY" primary --mode remus --epochs 4 $P --seed 8 --to $T/s11 || die "primary --to"
cmp $T/s11 $T/recdir/stream-1.raw || die "serve --record DIR kept other bytes"
"$STANDBY" replay $T/recdir/stream-1.raw --target image:$T/r11 2>/dev/null || die "replay of serve's recording"
check_replica $T/r11 $T/e11 3
[ ! -e $T/sock ] || die "socket left behind after SIGTERM"
start_serve $T/serve2.log --listen unix:$T/sock --xl --target image:$T/root2
"$STANDBY" primary --xl --name web-1 --mode remus --epochs 3 $P --expect $T/e8 --to unix:$T/sock || die "primary -> serve --xl"
wait_for "grep -q 'activated epoch 2' $T/serve2.log" 10 || die "serve --xl did not activate: $(cat $T/serve2.log)"
check_replica $T/root2/web-1 $T/e8 2
stop_serve

echo "== serve --colo: the COLO back channel on the connection"
start_serve $T/serve4.log --listen unix:$T/sock --colo --target image:$T/root4
"$STANDBY" primary --mode colo --epochs 4 $P --seed 9 --expect $T/e12 --to unix:$T/sock || die "COLO primary -> serve --colo"
wait_for "grep -q 'activated epoch 3' $T/serve4.log" 10 || die "serve --colo did not activate: $(cat $T/serve4.log)"
check_replica $T/root4/conn-1 $T/e12 3
stop_serve

echo "== replay of the recorded stream, whole and --until-epoch"
cmp <("$STANDBY" primary --mode remus --epochs 5 $P --to - 2>/dev/null) $T/rec1 || die "--record did not keep the raw stream"
"$STANDBY" replay $T/rec1 --target image:$T/r9 2>$T/log9 || die "replay"
check_replica $T/r9 $T/e1 4
"$STANDBY" replay $T/rec1 --target image:$T/r10 --until-epoch 2 2>$T/log10 || die "replay --until-epoch"
check_replica $T/r10 $T/e1 2
[ "$(manifest_field $T/r10 activated)" = true ] || die "replay --until-epoch did not activate"
echo "all end-to-end cases passed"

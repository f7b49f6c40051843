#!/bin/bash
# job.sh - the end-to-end scenarios, run as root in dom0 of the Xen VM
# (tests/xen/vm.sh).  Real xl is the primary, standby the receiver.
# Writes "RESULT <name> PASS|FAIL <detail>" lines to $OUT/results.txt and
# "TIMING ..." lines to $OUT/timings.txt; the host side (run.sh) counts them.
#
#   1 remus-failover   xl remus -> standby receive --target xen; >= 10 commits;
#                      xl destroy the primary; the restored guest runs as
#                      "guest" and its console counter goes on
#   2 mid-epoch-cut    the same with the stream cut inside an epoch (relay):
#                      standby fails over to the previous epoch; guest runs
#   4 cut-before-first a stream cut inside the live copy: no domain is left
#   3 replay-xl-save   standby replay of an `xl save` file: the guest runs
#   bench              xl migrate-receive -r vs standby: primary loss -> running
. /xenvm-io/env.sh
export PATH=/usr/lib/xen-4.17/bin:$PATH
SB=${STANDBY:-$SRCDIR/standby}
XEN_BIN=${XEN_BIN:-$SRCDIR/build/xen}
RELAY=$XEN_BIN/relay
RAWFEED=$XEN_BIN/rawfeed
DRIVE=${XEN_DRIVE:-$XEN_BIN/drive}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
# The receiver under test: `standby receive` / `standby replay`.  While the
# engine is not in the tree (those commands missing), tests/xen/drive drives
# the same target through backend.h instead, and every result says so.
if "$SB" receive --help >/dev/null 2>&1 && "$SB" replay --help >/dev/null 2>&1; then
	# --heartbeat-ms 0: fail over on EOF only, as xl's receiver does.  Under
	# TCG a checkpoint can take longer than the 1 s default heartbeat, and the
	# mid-epoch test holds the stream open while it destroys the primary.
	RECV="$SB receive --xl --remus --heartbeat-ms 0 --target xen:verbose"
	replay() { "$SB" replay "$1" --target xen:verbose; }
	VIA=""
else
	RECV="$DRIVE --xl xen:verbose"
	replay() { "$DRIVE" xen:verbose < "$1"; }
	VIA=" [via tests/xen/drive: standby receive/replay not available]"
fi
ONLY=${XEN_SCENARIOS:-"1 bench 2 4 3"}
CKPTS=${XEN_CHECKPOINTS:-10}
MEM=128
LOGS=/var/log/xen/console
R=$OUT/results.txt; : > $R
T0=${EPOCHREALTIME/./}
now() { local d=$(( ${EPOCHREALTIME/./} - T0 )); printf '%d.%02d' $((d/1000000)) $(( (d/10000) % 100 )); }
mark() { echo "XENVM-MARK [job +$(now)s] $*"; }
result() { echo "RESULT $1 $2 ${*:3}$VIA" | tee -a $R; }
us() { echo ${EPOCHREALTIME/./}; }
secs() { local d=$(( $2 - $1 )); printf '%d.%03d' $((d/1000000)) $(( (d/1000) % 1000 )); }

guest_cfg() {
cat <<EOC
name = "guest"
type = "pvh"
kernel = "$DOMU_KERNEL"
ramdisk = "$DOMU_INITRD"
extra = "console=hvc0 rdinit=/init quiet"
memory = $MEM
vcpus = 1
on_crash = "preserve"
tsc_mode = "native"
cpuid = "host,rdtscp=0"
EOC
}
XL() { timeout 60 xl "$@"; }
domid_of() { XL domid "$1" 2>/dev/null; }
ticks_in() { grep -ao 'domU tick [0-9]*' "$@" 2>/dev/null | awk '{print $3}'; }
last_tick_in() { ticks_in "$@" | tail -n 1; }
# wait_for SECS cmd...: poll every 0.2 s
wait_for() { local n=$(( $1 * 5 )); shift; while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.2; n=$((n-1)); done; return 1; }
log_has_tick() { [ -n "$(ticks_in "$1")" ]; }
running_as() {   # running_as NAME DOMID: the domain DOMID is called NAME and not paused
	local line; line=$(XL list 2>/dev/null | awk -v n="$1" -v d="$2" '$1==n && $2==d')
	[ -n "$line" ] && ! echo "$line" | awk '{print $5}' | grep -q p
}
incoming_domid() { XL list 2>/dev/null | awk '$1=="guest--incoming"{print $2}'; }
count_in() { local n; n=$(grep -c "$2" "$1" 2>/dev/null); echo "${n:-0}"; }   # count_in FILE REGEX
at_least() { [ "$(count_in "$1" "$2")" -ge "$3" ]; }                           # at_least FILE REGEX N
count_domains() { XL list 2>/dev/null | tail -n +2 | wc -l; }

ensure_primary() {   # a running "guest" that xl can replicate
	local d; d=$(domid_of guest)
	if [ -n "$d" ] && ! XL list -l guest >/dev/null 2>&1; then
		mark "guest $d has no libxl config (xl cannot replicate it): replacing it with a fresh guest"
		XL destroy guest; d=""
	fi
	if [ -z "$d" ]; then
		mark "creating guest"
		guest_cfg > /etc/xen/guest.cfg
		rm -f $LOGS/guest-guest.log
		PRIMARY_LOG=$LOGS/guest-guest.log
		XL create /etc/xen/guest.cfg || return 1
		wait_for 120 log_has_tick $LOGS/guest-guest.log || return 1
	fi
	wait_for 30 log_has_tick "$(primary_log)"
}
ensure_primary_aside() { ensure_primary && set_aside "$1"; }
# Console logs: xenconsoled names a log after the domain's name when it first
# meets the domain ("guest" or "guest--incoming", depending on timing) and
# keeps writing to the open file even when it is renamed.  So each scenario
# first moves the primary's log aside (primary_log), and any guest-guest*.log
# that appears afterwards is the restored domain's (restored_log).
PRIMARY_LOG=$LOGS/guest-guest.log
primary_log() { echo "$PRIMARY_LOG"; }
set_aside() {   # set_aside TAG: the current guest's log becomes $LOGS/TAG-primary.log
	local f
	for f in $LOGS/guest-guest*.log; do
		[ -e "$f" ] || continue
		if [ "$f" = "$PRIMARY_LOG" ]; then mv "$f" $LOGS/$1-primary.log; PRIMARY_LOG=$LOGS/$1-primary.log
		else mv "$f" $LOGS/$1-stale-$(basename "$f"); fi
	done
}
restored_log() { ls -t $LOGS/guest-guest*.log 2>/dev/null | head -n 1; }
restored_has_tick() { local f; f=$(restored_log); [ -n "$f" ] && log_has_tick "$f"; }
adopt_restored() {   # the restored guest becomes the next scenario's primary
	local f; f=$(restored_log)
	[ -n "$f" ] && mv "$f" $LOGS/restored-$1.log && PRIMARY_LOG=$LOGS/restored-$1.log
}


# check_counter NAME: the primary is gone; its log's last tick is where it
# stopped; the restored guest must go on from the last committed checkpoint,
# at most that tick + 1, and not from much earlier (a fresh boot starts at 1)
check_counter() {
	local name=$1 p log first last
	p=$(last_tick_in "$(primary_log)")
	if ! wait_for 60 restored_has_tick; then
		result "$name" FAIL "no console output from the restored guest ($(ls $LOGS | tr '\n' ' '))"; return 1
	fi
	log=$(restored_log)
	first=$(ticks_in "$log" | head -n 1)
	wait_for 30 sh -c "[ \$(grep -ao 'domU tick [0-9]*' $log | tail -n1 | awk '{print \$3}') -ge $((first + 3)) ]"
	last=$(last_tick_in "$log")
	echo "$name: primary's last tick $p, restored guest's first tick $first, now $last"
	if [ "$first" -gt $((p + 1)) ] || [ "$first" -lt $((p - 10)) ]; then
		result "$name" FAIL "counter did not go on from the checkpoint: primary at $p, restored starts at $first"; return 1
	fi
	if [ "$last" -lt $((first + 3)) ]; then
		result "$name" FAIL "restored guest's counter stuck at $last (first $first)"; return 1
	fi
	return 0
}

# remus_to CMD: xl remus of "guest" into CMD (backgrounded; sender log in $OUT)
remus_to() {
	local tag=$1 cmd=$2
	( timeout 300 xl remus -s "" -F -n -d -e -i 200 guest "$cmd" > $OUT/$tag-sender.log 2>&1
	  echo "xl remus exit $?" >> $OUT/$tag-sender.log ) &
	REMUS_PID=$!
}

# measure_failover TAG OLD_PRIMARY_DOMID BACKUP_DOMID: destroy the primary, time until
# the backup runs as "guest", then until its console prints a new tick.
measure_failover() {
	local tag=$1 prim=$2 back=$3 t0 t1 t2
	t0=$(us)
	mark "$tag: destroying primary $prim (backup $back) at realtime $EPOCHREALTIME"
	XL destroy "$prim"
	if ! wait_for 120 running_as guest "$back"; then
		echo "TIMING $tag failover-to-running FAILED ($(XL list | tr '\n' ' '))" | tee -a $OUT/timings.txt; return 1
	fi
	t1=$(us)
	mark "$tag: backup $back runs as guest"
	wait_for 60 restored_has_tick
	t2=$(us)
	echo "TIMING $tag primary-destroyed->running $(secs $t0 $t1) s, ->next-console-tick $(secs $t0 $t2) s" | tee -a $OUT/timings.txt
}

# ---------------------------------------------------------------- 1
scenario_1() {
	mark "scenario 1: remus failover"
	ensure_primary_aside s1 || { result remus-failover FAIL "cannot start the primary guest"; return; }
	local prim back p
	prim=$(domid_of guest)
	remus_to s1 "$RECV 2>$OUT/s1-standby.log"
	wait_for 300 sh -c "! kill -0 $REMUS_PID 2>/dev/null || [ \$(grep -c 'xen: epoch [0-9]* committed' $OUT/s1-standby.log 2>/dev/null || echo 0) -ge $CKPTS ]"
	if ! at_least $OUT/s1-standby.log 'xen: epoch [0-9]* committed' $CKPTS; then
		result remus-failover FAIL "fewer than $CKPTS commits (primary: $(grep -v progress $OUT/s1-sender.log | grep -m1 'error' | cut -c1-120)): $(tail -n 2 $OUT/s1-standby.log | tr '\n' ' ')"
		xl destroy $prim; wait $REMUS_PID; return
	fi
	back=$(incoming_domid)
	p=$(last_tick_in "$(primary_log)")
	measure_failover s1-standby "$prim" "$back"
	wait $REMUS_PID
	sleep 1
	cat $OUT/s1-standby.log | tail -n 5
	if ! running_as guest "$back"; then
		result remus-failover FAIL "no running domain \"guest\" with the backup's id $back: $(xl list | tr '\n' ' ')"; return
	fi
	check_counter remus-failover || return
	result remus-failover PASS "domain $back runs as guest; $(grep -o 'running from epoch [0-9]*' $OUT/s1-standby.log)"
	if XL list -l guest >/dev/null 2>&1; then echo "INFO xl knows the restored guest's config (xl list -l works)" | tee -a $R
	else echo "INFO xl does not know the restored guest's config: $(XL list -l guest 2>&1 | head -n 2 | tr '\n' ' ')" | tee -a $R; fi
	adopt_restored 1
}

# ---------------------------------------------------------------- 2
scenario_2() {
	mark "scenario 2: cut inside an epoch"
	ensure_primary_aside s2 || { result mid-epoch-cut FAIL "cannot start the primary guest"; return; }
	local prim back p cutep
	prim=$(domid_of guest)
	rm -f /tmp/release-2 /tmp/cut-2
	remus_to s2 "$RELAY --cut-in-epoch $CKPTS --status /tmp/cut-2 --release /tmp/release-2 2>$OUT/s2-relay.log | $RECV 2>$OUT/s2-standby.log"
	wait_for 400 sh -c "! kill -0 $REMUS_PID 2>/dev/null || test -s /tmp/cut-2"
	if ! test -s /tmp/cut-2; then
		result mid-epoch-cut FAIL "relay never cut: $(tail -n 3 $OUT/s2-relay.log | tr '\n' ' ')"
		touch /tmp/release-2; xl destroy $prim; wait $REMUS_PID; return
	fi
	cat /tmp/cut-2
	back=$(incoming_domid)
	p=$(last_tick_in "$(primary_log)")
	mark "s2: destroying primary $prim, then releasing the relay"
	XL destroy "$prim"
	touch /tmp/release-2
	wait $REMUS_PID
	if ! wait_for 120 running_as guest "$back"; then
		result mid-epoch-cut FAIL "no running \"guest\" ($back): $(tail -n 3 $OUT/s2-standby.log | tr '\n' ' ')"; return
	fi
	cutep=$((CKPTS - 1))
	if ! grep -q "running from epoch $cutep\b" $OUT/s2-standby.log; then
		result mid-epoch-cut FAIL "expected failover to epoch $cutep: $(grep -o 'running from epoch [0-9]*' $OUT/s2-standby.log)"; return
	fi
	check_counter mid-epoch-cut || return
	result mid-epoch-cut PASS "cut inside epoch $CKPTS; running from epoch $cutep as domain $back"
	adopt_restored 2
}

# ---------------------------------------------------------------- 4
scenario_4() {
	mark "scenario 4: cut before the first checkpoint"
	ensure_primary_aside s4 || { result cut-before-first FAIL "cannot start the primary guest"; return; }
	local prim before after
	prim=$(domid_of guest)
	before=$(count_domains)
	rm -f /tmp/release-4 /tmp/cut-4
	touch /tmp/release-4
	remus_to s4 "$RELAY --cut-in-epoch 0 --status /tmp/cut-4 --release /tmp/release-4 2>$OUT/s4-relay.log | $RECV 2>$OUT/s4-standby.log; echo \"standby exit \$?\" >> $OUT/s4-standby.log"
	wait $REMUS_PID
	wait_for 30 grep -q 'standby exit' $OUT/s4-standby.log
	sleep 2
	after=$(count_domains)
	xl list
	if [ ! -s /tmp/cut-4 ]; then
		result cut-before-first FAIL "relay never cut"; return
	fi
	if [ -n "$(incoming_domid)" ] || [ "$after" -ne "$before" ]; then
		result cut-before-first FAIL "a domain was left behind: $(xl list | tr '\n' ' ')"; return
	fi
	if grep -q 'standby exit 0' $OUT/s4-standby.log; then
		result cut-before-first FAIL "standby exited 0 on a stream with no checkpoint"; return
	fi
	result cut-before-first PASS "$(cat /tmp/cut-4); $(grep -o 'domain [0-9]* destroyed' $OUT/s4-standby.log | head -n1)"
	# the primary keeps running after a failed remus; make sure it is unpaused
	xl unpause guest 2>/dev/null
}

# ---------------------------------------------------------------- 3
scenario_3() {
	mark "scenario 3: replay of an xl save file"
	ensure_primary_aside s3 || { result replay-xl-save FAIL "cannot start the guest"; return; }
	local p d
	xl save guest /tmp/guest.xlsave || { result replay-xl-save FAIL "xl save failed"; return; }
	p=$(last_tick_in "$(primary_log)")
	local t0 t1; t0=$(us)
	replay /tmp/guest.xlsave 2>$OUT/s3-standby.log
	echo "standby replay exit $?" >> $OUT/s3-standby.log
	t1=$(us)
	echo "TIMING s3-replay $(secs $t0 $t1) s" | tee -a $OUT/timings.txt
	d=$(domid_of guest)
	if [ -z "$d" ] || ! running_as guest "$d"; then
		result replay-xl-save FAIL "no running guest after replay: $(tail -n 3 $OUT/s3-standby.log | tr '\n' ' ')"; return
	fi
	check_counter replay-xl-save || return
	result replay-xl-save PASS "domain $d runs as guest after replay"
	adopt_restored 3
	rm -f /tmp/guest.xlsave
}

# ---------------------------------------------------------------- bench
bench() {
	mark "bench: xl migrate-receive -r"
	ensure_primary_aside bx || return
	local prim back
	prim=$(domid_of guest)
	# the same interval and the same wait: $CKPTS checkpoints applied by the
	# real receiver (libxc logs "All records processed" from the second on)
	remus_to bx "xl -vvv migrate-receive -r -e 2>$OUT/bx-receiver.log"
	wait_for 300 sh -c "! kill -0 $REMUS_PID 2>/dev/null || [ \$(grep -c 'All records processed' $OUT/bx-receiver.log 2>/dev/null || echo 0) -ge $((CKPTS - 1)) ]"
	back=$(incoming_domid)
	[ -n "$back" ] || { echo "TIMING bx no backup domain" | tee -a $OUT/timings.txt; return; }
	measure_failover bx-xl "$prim" "$back"
	wait $REMUS_PID
	adopt_restored bx
}

mark "job start: standby $SB; receiver: $RECV"
[ -x "$SB" ] || [ "$ONLY" = raw ] || { result setup FAIL "no standby binary at $SB"; exit 0; }
for s in $ONLY; do
	case $s in
	1) scenario_1 ;; 2) scenario_2 ;; 3) scenario_3 ;; 4) scenario_4 ;; bench) bench ;;
	raw) # diagnostic: the target's shell + helper without the engine
		ensure_primary_aside raw && { prim=$(domid_of guest)
		remus_to raw "$RAWFEED guest $MEM pvh 2>$OUT/raw.log"
		wait_for 300 at_least $OUT/raw.log 'epoch [0-9]* committed' $CKPTS
		back=$(incoming_domid); p=$(last_tick_in "$(primary_log)")
		measure_failover raw "$prim" "$back"
		wait $REMUS_PID; check_counter rawfeed && result rawfeed PASS "domain $back"
		adopt_restored raw; } ;;
	esac
done
xl list
mark "job done"

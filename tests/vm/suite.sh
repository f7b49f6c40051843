#!/bin/bash
# suite.sh - the netbuf tests that need a kernel with sch_plug.  Runs INSIDE
# the VM (tests/vm/run.sh starts it through tests/vm/vmrun.sh), as root, from
# the source tree, with $STANDBY and $PROBE built on the host.
#
# Every packet is a numbered probe (tests/vm/probe.c), so each check says
# exactly which packets came out, in which order.  Ends with one line
# "N passed, N failed"; exits 1 if anything failed.
set -u
STANDBY=${STANDBY:?} PROBE=${PROBE:?}
T=$(mktemp -d /tmp/netbuf-vm.XXXXXX)
pass=0 fail=0
QUIET=0.4        # seconds to wait before concluding that nothing arrives

ok()  { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; return 1; fi; }

# ---- packets
RX=$T/rx
rx_start() {   # ns iface: a receiver in ns (or "" for the root ns)
	: > "$RX"
	# appending, so that truncating $RX later restarts it cleanly
	if [ -n "$1" ]; then ip netns exec "$1" "$PROBE" recv "$2" >> "$RX" 2>&1 &
	else "$PROBE" recv "$2" >> "$RX" 2>&1 & fi
	RXPID=$!
	for _ in $(seq 50); do grep -q ready "$RX" && return 0; sleep 0.1; done
	echo "receiver did not start: $(cat "$RX")"; return 1
}
rx_stop() { kill "$RXPID" 2>/dev/null; wait "$RXPID" 2>/dev/null; }
send() {       # ns iface first count size kind=dst...
	local ns=$1; shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$PROBE" send "$@"; else "$PROBE" send "$@"; fi
}
s4() { send "" veth0 "$1" "$2" "${3:-0}" udp4=10.99.0.2; }                  # veth: IPv4
g3() { send guest eth0 "$1" "$2" 0 udp4=10.99.1.1 udp6=fd99:1::1 arp=10.99.1.250; }  # guest: all
got() { awk -v k="$1" '$1 == k { printf "%s%s", sep, $2; sep = " " }' "$RX"; }
# expect KIND "SEQS" [KIND "SEQS"...]: wait until exactly those arrived (in
# that order), then a little longer to be sure nothing else follows.
expect() {
	local a=("$@") i k rc=0 all
	for i in $(seq 60); do
		all=1
		for ((k = 0; k + 1 < ${#a[@]}; k += 2)); do
			[ "$(got "${a[k]}")" = "${a[k + 1]}" ] || all=0
		done
		[ $all = 1 ] && break
		sleep 0.1
	done
	sleep "$QUIET"
	while [ $# -ge 2 ]; do
		if [ "$(got "$1")" != "$2" ]; then
			echo "      $1: expected [$2], received [$(got "$1")]"; rc=1
		fi
		shift 2
	done
	return $rc
}
expect3() { expect udp4 "$1" udp6 "$1" arp "$1"; }

# ---- the driver: standby netbuf drive, as a coprocess
LOG=$T/drive.log
drv_start() {
	: > "$LOG"
	coproc DRV { exec "$STANDBY" netbuf drive "$@" 2>> "$LOG"; }
	DRVPID=$DRV_PID
	read -r -t 20 -u "${DRV[0]}" line || line="(no answer; log: $(cat "$LOG"))"
	[ "$line" = "ok open" ] || { echo "      drive: $line"; return 1; }
}
drv() {        # one command; fails unless the answer is "ok ..."
	echo "$*" >&"${DRV[1]}"
	read -r -t 20 -u "${DRV[0]}" ANSWER || ANSWER="(no answer)"
	echo "> $* -> $ANSWER" >> "$LOG"
	case $ANSWER in ok*) return 0 ;; *) echo "      drive: $* -> $ANSWER"; return 1 ;; esac
}
drv_status() { drv status >/dev/null || true; STATUS=$ANSWER; }
has() { case $STATUS in *"$1"*) return 0 ;; esac; echo "      status lacks $1: $STATUS"; return 1; }
lacks() { case $STATUS in *"$1"*) echo "      status has $1: $STATUS"; return 1 ;; esac; return 0; }
drv_stop() {   # [expected exit status, default 0]: quit, and check how drive ended
	local rc
	echo quit >&"${DRV[1]}" 2>/dev/null
	wait "$DRVPID"; rc=$?
	check "drive exits ${1:-0}" [ "$rc" = "${1:-0}" ]
	check "drive's stderr has no sanitizer report" eval '! grep -Eq "Sanitizer|runtime error" "$LOG"'
}
root_qdisc() { tc qdisc show dev "$1" | awk '/ root /{ print $2; exit }'; }

# ---- topologies
veth_up() {    # root ns veth0 10.99.0.1 <-> veth1 10.99.0.2 in netns "peer"
	ip netns add peer
	ip link add veth0 type veth peer name veth1
	ip link set veth1 netns peer
	# IPv4 only here, and no neighbour discovery: no stray packets in the plug
	echo 1 > /proc/sys/net/ipv6/conf/veth0/disable_ipv6
	ip netns exec peer sh -c 'echo 1 > /proc/sys/net/ipv6/conf/veth1/disable_ipv6'
	ip addr add 10.99.0.1/24 dev veth0
	ip -n peer addr add 10.99.0.2/24 dev veth1
	ip link set veth0 up; ip -n peer link set veth1 up; ip -n peer link set lo up
	ip neigh replace 10.99.0.2 lladdr "$(ip -n peer -br link show veth1 | awk '{print $3}')" dev veth0 nud permanent
}
veth_down() { ip link del veth0 2>/dev/null; ip netns del peer 2>/dev/null; }

guest_up() {   # netns "guest" eth0 <-> vif1.0 in the root ns (dom0's side), IPv4 + IPv6
	ip netns add guest
	ip link add vif1.0 type veth peer name eth0
	ip link set eth0 netns guest
	ip addr add 10.99.1.1/24 dev vif1.0
	ip addr add fd99:1::1/64 dev vif1.0 nodad
	ip -n guest addr add 10.99.1.2/24 dev eth0
	ip -n guest addr add fd99:1::2/64 dev eth0 nodad
	ip link set vif1.0 up; ip -n guest link set eth0 up; ip -n guest link set lo up
	local vmac; vmac=$(ip -br link show vif1.0 | awk '{print $3}')
	ip -n guest neigh replace 10.99.1.1 lladdr "$vmac" dev eth0 nud permanent
	ip -n guest -6 neigh replace fd99:1::1 lladdr "$vmac" dev eth0 nud permanent
}
guest_down() { ip link del vif1.0 2>/dev/null; ip netns del guest 2>/dev/null; }

# =================================================================== tests
t_epochs_veth() {
	echo "-- veth: epoch barriers on a plug standby creates"
	veth_up; rx_start peer veth1 || return
	check "drive creates a plug on veth0" drv_start veth0 --limit 1000000
	check "root qdisc of veth0 is plug" [ "$(root_qdisc veth0)" = plug ]
	s4 1 5
	check "epoch 0 output held before the barrier" expect udp4 ""
	check "begin 0" drv begin 0
	s4 6 3
	check "nothing released by the seal itself" expect udp4 ""
	check "commit 0" drv commit 0
	check "commit 0 releases exactly the sealed packets 1-5, in order" expect udp4 "1 2 3 4 5"
	check "begin 1" drv begin 1
	s4 9 2
	check "commit 1" drv commit 1
	check "commit 1 releases 6-8, not 9-10 (sent after barrier 1)" expect udp4 "1 2 3 4 5 6 7 8"
	check "begin 2; commit 2" eval 'drv begin 2 && drv commit 2'
	check "commit 2 releases 9-10" expect udp4 "1 2 3 4 5 6 7 8 9 10"
	drv_status
	check "status: created, 3 sealed, 3 released, 0 held" eval 'has "\"qdisc\":\"created\"" && has "\"epochs_sealed\":3" && has "\"epochs_released\":3" && has "\"held_packets\":0"'

	echo "-- veth: never two seals without a release between them"
	check "begin 3" drv begin 3
	s4 11 1
	check "begin 4 while 3 is unreleased" drv begin 4
	s4 12 1
	check "commit 3" drv commit 3
	check "11 and 12 (after barrier 3) stay held" expect udp4 "1 2 3 4 5 6 7 8 9 10"
	check "commit 4 (nothing was sealed for it)" drv commit 4
	check "11 and 12 still held" expect udp4 "1 2 3 4 5 6 7 8 9 10"
	drv_status
	check "status: deferred_seals 1, held 2, state buffering" eval 'has "\"deferred_seals\":1" && has "\"held_packets\":2" && has "\"state\":\"buffering\""'
	check "begin 5; commit 5" eval 'drv begin 5 && drv commit 5'
	check "11 and 12 released with epoch 5" expect udp4 "1 2 3 4 5 6 7 8 9 10 11 12"

	echo "-- veth: stop, and the failed-release path"
	s4 13 1
	check "begin 6" drv begin 6
	tc qdisc del dev veth0 root
	check "commit 6 fails when the plug vanished" eval '! drv commit 6'
	check "the failure names the plug" eval 'case $ANSWER in *"is gone or was replaced"*) true ;; *) false ;; esac'
	check "no plug was recreated by the command (it would have limit 0)" [ "$(root_qdisc veth0)" != plug ]
	drv_status
	check "status: release_failures 1, still sealed at 6" eval 'has "\"release_failures\":1" && has "\"sealed_epoch\":6"'
	check "the failure is logged as serious" grep -q "SERIOUS: epoch 6 committed but its output was NOT released" "$LOG"
	drv_stop 1
	rx_stop; veth_down
}

t_failover() {
	echo "-- veth: crash mid-epoch, then failover"
	veth_up; rx_start peer veth1 || return
	check "drive" drv_start veth0
	s4 1 2
	check "begin 0" drv begin 0
	s4 3 1
	check "primary lost mid-epoch: nothing released before failover" expect udp4 ""
	check "failover" drv failover
	check "failover releases everything held, in order" expect udp4 "1 2 3"
	s4 4 2
	check "after failover traffic passes straight through" expect udp4 "1 2 3 4 5"
	drv_status
	check "status: failed_over, pass-through" eval 'has "\"failed_over\":true" && has "\"state\":\"pass-through\""'
	drv_stop
	check "stopping removes the plug standby created" [ "$(root_qdisc veth0)" != plug ]

	echo "-- veth: failover dropping what was held"
	: > "$RX"
	check "drive" drv_start veth0
	s4 1 2
	check "begin 0" drv begin 0
	s4 3 1
	check "failover drop" drv failover drop
	check "the dropped output of the lost epoch never appears" expect udp4 ""
	check "the drop is logged with its size" grep -q "failover: dropping the uncommitted output.*: 3 packets" "$LOG"
	s4 4 1
	check "then traffic passes" expect udp4 "4"
	drv_stop

	echo "-- veth: stream that dies before its first commit"
	: > "$RX"
	check "drive" drv_start veth0
	s4 1 2
	check "begin 0" drv begin 0
	drv_stop
	check "close logs what it held" grep -q "removing the plug qdisc standby created; dropping: 2 packets" "$LOG"
	check "nothing of the uncommitted epoch came out" expect udp4 ""
	rx_stop; veth_down
}

t_adopt_and_errors() {
	echo "-- veth: adopting an existing plug; refusing other qdiscs"
	veth_up; rx_start peer veth1 || return
	tc qdisc add dev veth0 root handle 5: plug limit 100000
	s4 1 1
	check "a tc-made plug starts plugged" expect udp4 ""
	check "drive adopts it" drv_start veth0
	check "packets from before the stream are let out (logged)" expect udp4 "1"
	check "... and logged" grep -q "adopted plug held 1 packets" "$LOG"
	s4 2 1
	check "then it holds again" expect udp4 "1"
	check "begin 0; commit 0" eval 'drv begin 0 && drv commit 0'
	check "released at commit" expect udp4 "1 2"
	drv_status
	check "status says adopted" has '"qdisc":"adopted"'
	drv_stop
	check "stopping leaves the adopted plug in place" eval 'tc qdisc show dev veth0 | grep -q "plug 5: root"'
	tc qdisc del dev veth0 root

	echo "-- limit: packets over it are dropped and counted"
	check "drive --limit 3000" drv_start veth0 --limit 3000
	s4 1 5 1000
	drv_status
	check "status counts drops, holds at most 3000 bytes" eval 'has "\"drops\":" && lacks "\"drops\":0," && [ "$(echo "$STATUS" | sed "s/.*\"held_bytes\":\([0-9]*\).*/\1/")" -le 3000 ]'
	drv_stop

	tc qdisc add dev veth0 root handle 7: pfifo
	"$STANDBY" netbuf drive veth0 < /dev/null > "$T/out" 2>&1; rc=$?
	check "a root qdisc that is not a plug is refused (exit 1)" [ $rc = 1 ]
	check "... with a clear message" grep -q "veth0: the root qdisc is 'pfifo' (handle 7:), not a plug" "$T/out"
	check "... and left alone" eval 'tc qdisc show dev veth0 | grep -q "pfifo 7: root"'
	"$STANDBY" netbuf drive nosuch9 < /dev/null > "$T/out" 2>&1; rc=$?
	check "a missing interface is refused clearly" eval '[ $rc = 1 ] && grep -q "nosuch9: no such network interface" "$T/out"'
	tc qdisc del dev veth0 root
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$STANDBY" netbuf drive veth0 < /dev/null > "$T/out" 2>&1; rc=$?
	check "without CAP_NET_ADMIN: a clear permission error" eval '[ $rc = 1 ] && grep -q "needs root or CAP_NET_ADMIN" "$T/out"'
	check "... and nothing created" [ "$(root_qdisc veth0)" != plug ]
	rx_stop; veth_down
}

t_ifb() {
	echo "-- IFB redirect (standby netbuf setup): IPv4, IPv6 and ARP all buffered"
	guest_up; rx_start "" vif1.0 || return
	send guest eth0 100 1 0 udp4=10.99.1.1
	check "without setup, the guest's packets pass" expect udp4 "100"
	: > "$RX"
	check "setup vif1.0 ifb0" "$STANDBY" netbuf setup vif1.0 ifb0 --limit 1000000
	check "ifb0 has a root plug" [ "$(root_qdisc ifb0)" = plug ]
	check "vif1.0 has an ingress qdisc with a matchall filter" eval 'tc qdisc show dev vif1.0 | grep -q ingress && tc filter show dev vif1.0 ingress | grep -q matchall'
	"$STANDBY" netbuf setup vif1.0 ifb1 > "$T/out" 2>&1
	check "setup again on the same vif is refused" grep -q "vif1.0 already has an ingress qdisc" "$T/out"
	"$STANDBY" netbuf setup lo veth-none > "$T/out" 2>&1
	check "setup names a missing interface" grep -q "veth-none: no such network interface" "$T/out"
	g3 1 2
	check "a fresh setup holds everything (IPv4, IPv6, ARP)" expect3 ""
	check "drive adopts the plug on ifb0" drv_start ifb0
	check "pre-stream packets let out (IPv4, IPv6, ARP)" expect3 "1 2"
	g3 3 2
	check "epoch output held (IPv4, IPv6, ARP)" expect3 "1 2"
	check "begin 0" drv begin 0
	g3 5 1
	check "commit 0" drv commit 0
	check "commit 0 releases 3,4, not 5 (IPv4, IPv6, ARP)" expect3 "1 2 3 4"
	check "begin 1; commit 1" eval 'drv begin 1 && drv commit 1'
	check "then 5 (IPv4, IPv6, ARP)" expect3 "1 2 3 4 5"
	g3 6 1
	check "begin 2" drv begin 2
	g3 7 1
	check "primary lost: nothing of epoch 2 out before failover (IPv4, IPv6, ARP)" expect3 "1 2 3 4 5"
	check "failover" drv failover
	check "failover releases all (IPv4, IPv6, ARP)" expect3 "1 2 3 4 5 6 7"
	drv_stop
	check "the adopted plug stays after drive stops" [ "$(root_qdisc ifb0)" = plug ]
	check "teardown" "$STANDBY" netbuf teardown vif1.0 ifb0
	check "teardown removed the ingress qdisc and the plug" eval '! tc qdisc show dev vif1.0 | grep -q ingress && [ "$(root_qdisc ifb0)" != plug ]'
	check "teardown again is harmless" "$STANDBY" netbuf teardown vif1.0 ifb0
	send guest eth0 8 1 0 udp4=10.99.1.1
	check "after teardown the guest's packets pass directly" expect udp4 "1 2 3 4 5 6 7 8"
	rx_stop; guest_down
}


# ---- the receiver with --netbuf, end to end.  `standby primary` streams 8
# Remus epochs into `standby receive -v --netbuf veth0`; it stalls 1.5 s in the
# middle of epoch 7's pages, then crashes before its CHECKPOINT_END (so epoch 7
# never commits: failover activates epoch 6).  Meanwhile `probe pace` sends
# numbered packets through veth0 every 20 ms, noting for each the receiver's
# log just before and just after the send (C = epochs committed, counted from
# the receiver's "netbuf: epoch N committed, releasing its output" lines,
# written after the target's commit and before the release; A = 1 once
# activated, 2 once the netbuf failover is done);
# the sink notes the log when each packet arrives.  Only orderings are asserted.
#   sent: "sent SEQ C A C2 A2"    rx: "udp4 SEQ C A"
# With "serve" the same runs through `standby serve --xl --netbuf-map web=veth0`:
# the stream is xl-framed with domain name "web", so serve takes veth0's plug
# when the preamble names the domain.
t_receiver() {   # release|drop [serve]
	local how=$1 mode=${2:-receive} log=$T/recv-$1-${2:-receive}.log sent=$T/sent-$1-${2:-receive}
	local img=$T/img-$1-${2:-receive} ppid spid rc servepid=
	local faults="--stall-ms 1500 --stall-in-epoch 7 --stall-at mid-pages --crash-in-epoch 7 --crash-at before-checkpoint-end"
	veth_up
	: > "$log"
	PROBE_LOG=$log rx_start peer veth1 || { veth_down; return; }
	if [ "$mode" = serve ]; then
		echo "-- serve --netbuf-map web=veth0 --netbuf-failover $how: output leaves only after its epoch commits"
		"$STANDBY" serve -v --xl --listen "unix:$T/serve.sock" --heartbeat-ms 0 --netbuf-map web=veth0 \
			--netbuf-failover "$how" --target "image:$img" 2>> "$log" & servepid=$!
		for _ in $(seq 100); do [ -S "$T/serve.sock" ] && break; sleep 0.1; done
		check "serve leaves veth0 alone until the domain's stream comes" eval '[ "$(root_qdisc veth0)" != plug ]'
		# shellcheck disable=SC2086
		"$STANDBY" primary --xl --name web --mode remus --epochs 8 --interval 300 --memory 1M \
			$faults --to "unix:$T/serve.sock" 2>> "$log" & ppid=$!
	else
		echo "-- receive --netbuf veth0 --netbuf-failover $how: output leaves only after its epoch commits"
		# shellcheck disable=SC2086
		"$STANDBY" primary --mode remus --epochs 8 --interval 300 --memory 1M $faults \
			--exec "$STANDBY receive -v --heartbeat-ms 0 --netbuf veth0 --netbuf-failover $how --target image:$img" \
			2>> "$log" & ppid=$!
	fi
	for _ in $(seq 100); do grep -q "netbuf: holding" "$log" && break; sleep 0.1; done
	check "the receiver took veth0's plug" eval '[ "$(root_qdisc veth0)" = plug ]' ||
		sed -n '1,15s/^/      | /p' "$log"
	"$PROBE" pace 10.99.0.2 20 "$log" > "$sent" & spid=$!
	wait "$ppid"; rc=$?
	check "primary: crashed in epoch 7 as asked (exit 0)" [ "$rc" = 0 ]
	sleep 1                   # pass-through after failover
	kill "$spid"; wait "$spid" 2>/dev/null
	sleep 1; rx_stop
	check "failover activated epoch 6" grep -q "activated epoch 6 (eof)" "$log"
	check "the plug standby created is gone" [ "$(root_qdisc veth0)" != plug ]
	awk -v how="$how" '
		FNR == NR { if ($1 == "sent") { c[$2] = $3; a[$2] = $4; c2[$2] = $5; a2[$2] = $6; n++ }; next }
		$1 == "udp4" {
			got[$2] = 1; nr++
			if ($2 <= last) { print "      out of order: " $2 " after " last; bad++ }
			last = $2
			# sent while epoch c[] was in progress: released by its commit at the earliest
			if (!$4 && $3 < c[$2] + 1) { printf "      packet %d sent in epoch %d left before that epoch committed (log had %d commits)\n", $2, c[$2], $3; bad++ }
			if (!$4) bycommit++
		}
		END {
			for (i = 1; i <= n; i++) {
				if (!a2[i]) before++
				if (!a2[i] && c[i] >= 7) lost++          # uncommitted at failover
				# replacing the root qdisc (removing the plug: at failover with
				# drop, at close with release) drops what is sent during the
				# swap: tolerated for at most 2 packets sent after failover
				if (a2[i] && !got[i]) { printf "      packet %d (sent after failover) never arrived\n", i; swap++; continue }
				if (how == "release" && !got[i]) { printf "      packet %d never arrived\n", i; bad++ }
				if (how == "drop") {
					if (!a2[i] && c[i] >= 7 && got[i]) { printf "      packet %d (uncommitted epoch %d) arrived after failover drop\n", i, c[i]; bad++ }
					if (c2[i] <= 5 && !got[i]) { printf "      packet %d (committed) never arrived\n", i; bad++ }
				}
			}
			printf "      %d sent (%d before failover, %d of them uncommitted at failover), %d received (%d released by a commit)\n", n, before, lost, nr, bycommit
			if (swap > 2) { printf "      %d packets sent after failover lost: more than a qdisc swap explains\n", swap; bad++ }
			if (before < 10) { print "      too few packets before failover: proves nothing"; bad++ }
			if (lost < 1) { print "      no packet was held at failover: proves nothing"; bad++ }
			if (bycommit < 1) { print "      no packet was released by a commit"; bad++ }
			exit bad > 0
		}' "$sent" "$RX"
	check "packets leave only after their epoch commits, in order; failover $how" [ $? = 0 ]
	check "the receiver logged the failover choice" grep -q "netbuf: failover: $([ "$how" = drop ] && echo dropping || echo releasing)" "$log"
	if [ -n "$servepid" ]; then
		check "serve still runs after the stream's failover" kill -0 "$servepid"
		kill "$servepid"; wait "$servepid" 2>/dev/null
		check "the replica is the domain's own (ROOT/web), verified at epoch 6" \
			eval '"$STANDBY" verify "$img/web" | grep -qx "epoch      6"'
	fi
	veth_down
}

echo "netbuf VM suite on $(uname -r)"
for t in t_epochs_veth t_failover t_adopt_and_errors t_ifb "t_receiver release" "t_receiver drop" \
	"t_receiver release serve" "t_receiver drop serve"; do
	$t
done
rm -rf "$T"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

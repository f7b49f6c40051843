#!/bin/bash
# vmrun.sh - run one command as root in a short-lived QEMU guest that boots
# Debian's own kernel, for the tests that need kernel features this host
# lacks (sch_plug above all; also ifb, veth, act_mirred, cls_matchall).
#
#   tests/vm/vmrun.sh [--timeout SEC] [--mem MB] [--rebuild] [--] CMD [ARG...]
#
# The guest has no network device and no disk of its own.  It sees the host's
# root filesystem read-only (virtio-9p) and the current directory read-write
# at the same path, with fresh /proc /sys /dev /tmp /run.  CMD runs under bash
# in the current directory with the caller's exported environment, stdin
# /dev/null; its stdout and stderr come out on ours (the serial console).  So
# whatever was built on the host runs unchanged in the guest: no per-binary
# image building, and nothing is compiled under the (slow) emulator.
#
# Exit status: CMD's, or 125 when the guest never reported one (QEMU missing
# and not installable, kernel download failure, boot failure, timeout).
#
# One-time setup (about 35 s on a fresh machine), as root:
#   - installs qemu-system-x86 with apt if it is missing;
#   - `apt-get download`s the kernel package behind linux-image-amd64 and
#     busybox-static into $STANDBY_VM_CACHE/debs (not installed: nothing
#     touches the host's /boot);
#   - keeps the uncompressed vmlinux (booted through its PVH entry, which
#     skips the real-mode setup and the xz decompressor, slow under TCG) and a
#     small initramfs (busybox + the modules below + /init) in
#     $STANDBY_VM_CACHE (default /var/cache/standby-vm), rebuilt when the
#     kernel package or this script changes.
#
# Acceleration: TCG, unless hardware KVM (kvm_intel/kvm_amd) is loaded.  The
# project's build machines expose only a paravirtual /dev/kvm under which an
# unmodified kernel does not boot (see ../shared/vm/README.md), and TCG boots
# in about 4 s.  One vCPU: under TCG a second one is slower, and the machines
# are shared.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
CACHE=${STANDBY_VM_CACHE:-/var/cache/standby-vm}
TIMEOUT=${STANDBY_VM_TIMEOUT:-600}
MEM=${STANDBY_VM_MEM:-384}
REBUILD=0
APT=(-o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root -y -q)
# Loaded at boot, with everything they depend on (modules.dep closure).
MODULES="virtio_pci 9pnet_virtio 9p sch_plug sch_ingress ifb veth act_mirred cls_u32 cls_matchall"

fail() { echo "vmrun: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--rebuild) REBUILD=1; shift ;;
	--) shift; break ;;
	-*) fail "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || fail "usage: vmrun.sh [--timeout SEC] [--mem MB] [--rebuild] [--] CMD [ARG...]"
[ "$(id -u)" = 0 ] || fail "needs root (9p passthrough of the host root, apt)"

# ------------------------------------------------------------------ setup
host_tools() {
	local missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v xz >/dev/null || missing+=(xz-utils)
	command -v flock >/dev/null || missing+=(util-linux)
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "vmrun: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get "${APT[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get "${APT[@]}" update >/dev/null 2>&1 || true
		  DEBIAN_FRONTEND=noninteractive apt-get "${APT[@]}" install --no-install-recommends "${missing[@]}" >/dev/null; } ||
		fail "cannot install ${missing[*]}"
}

kernel_package() {   # the versioned package the metapackage points at
	apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# The modules to put in the initramfs: $MODULES and their dependencies, as
# paths relative to lib/modules/KV.
module_closure() {   # moddir
	local dep=$1/modules.dep todo=() seen=" " m path d
	for m in $MODULES; do
		path=$(awk -v n="$m" -F: '{ b = $1; sub(".*/", "", b); sub("\\.ko.*", "", b); gsub("-", "_", b)
			if (b == n) { print $1; exit } }' "$dep")
		[ -n "$path" ] || fail "module $m is not in $dep"
		todo+=("$path")
	done
	while [ ${#todo[@]} -gt 0 ]; do
		m=${todo[0]}; todo=("${todo[@]:1}")
		case $seen in *" $m "*) continue ;; esac
		seen="$seen$m "
		for d in $(awk -v n="$m:" '$1 == n { $1 = ""; print }' "$dep"); do todo+=("$d"); done
	done
	echo "$seen"
}

build_image() {   # kernel package
	local kpkg=$1 kv=${1#linux-image-} dl=$CACHE/build debs=$CACHE/debs bb root m off
	rm -rf "$dl"; mkdir -p "$dl/bb" "$dl/root" "$debs"
	# The .debs are kept, so that a change to this script rebuilds without downloading.
	if ! ls "$debs/${kpkg}_"*.deb "$debs"/busybox-static_*.deb >/dev/null 2>&1; then
		echo "vmrun: one-time setup: downloading $kpkg and busybox-static" >&2
		rm -f "$debs"/*.deb
		(cd "$debs" && apt-get "${APT[@]}" download "$kpkg" busybox-static >/dev/null 2>&1) ||
			{ apt-get "${APT[@]}" update >/dev/null 2>&1 || true
			  [ "$(kernel_package)" = "$kpkg" ] || fail "linux-image-amd64 moved on to $(kernel_package); rerun"
			  (cd "$debs" && apt-get "${APT[@]}" download "$kpkg" busybox-static >/dev/null); } ||
			fail "apt-get download $kpkg busybox-static failed"
	fi
	dpkg-deb --fsys-tarfile "$debs/${kpkg}_"*.deb |
		tar -x -C "$dl" --wildcards "./boot/vmlinuz-*" "./lib/modules/$kv/kernel/*" "./lib/modules/$kv/modules.*"
	dpkg-deb -x "$debs"/busybox-static_*.deb "$dl/bb"
	bb=$dl/bb/bin/busybox
	"$bb" depmod -b "$dl" "$kv"      # the .deb ships no modules.dep (its postinst makes one)

	root=$dl/root
	mkdir -p "$root"/{bin,proc,sys,dev,host,ctl,lib/modules/$kv}
	cp "$bb" "$root/bin/busybox"
	for m in $(module_closure "$dl/lib/modules/$kv"); do
		mkdir -p "$root/lib/modules/$kv/$(dirname "$m")"
		cp "$dl/lib/modules/$kv/$m" "$root/lib/modules/$kv/$m"
	done
	"$bb" depmod -b "$root" "$kv"
	guest_init > "$root/init"; chmod 755 "$root/init"
	(cd "$root" && find . | LC_ALL=C sort | "$bb" cpio -o -H newc 2>/dev/null) > "$CACHE/initramfs.new"

	# vmlinuz is a bzImage with an xz payload: cut out the ELF vmlinux.
	off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$dl/boot/vmlinuz-$kv" | head -n1 | cut -d: -f1) || true
	[ -n "$off" ] || fail "no xz payload found in vmlinuz-$kv"
	tail -c +"$((off + 1))" "$dl/boot/vmlinuz-$kv" > "$dl/payload.xz"
	xz -dc --single-stream "$dl/payload.xz" > "$CACHE/vmlinux.new" 2>/dev/null ||
		[ -s "$CACHE/vmlinux.new" ] || fail "cannot decompress vmlinuz-$kv"
	mv "$CACHE/vmlinux.new" "$CACHE/vmlinux"
	mv "$CACHE/initramfs.new" "$CACHE/initramfs.cpio"
	echo "$2" > "$CACHE/stamp"
	rm -rf "$dl"
}

# /init of the guest (busybox sh).  It stays the root filesystem (so the
# kernel finds modules in it) and runs CMD in a chroot of the host's root.
guest_init() {
	cat <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $MODULES; do modprobe \$m || echo "vm: modprobe \$m failed"; done
EOF
	cat <<'EOF'
rc=125
opts=trans=virtio,version=9p2000.L,msize=512000
if mount -t 9p -o $opts,cache=none ctl /ctl; then
	: > /ctl/booted
	mount -t 9p -o $opts,ro,cache=loose hostroot /host
	mount -t proc proc /host/proc
	mount -t sysfs sys /host/sys
	mount -t devtmpfs dev /host/dev
	mkdir -p /host/dev/pts /host/dev/shm
	mount -t devpts devpts /host/dev/pts
	for d in /dev/shm /tmp /run /var/tmp /root; do mount -t tmpfs tmpfs /host$d 2>/dev/null; done
	mkdir -p /host/run/vm && mount --bind /ctl /host/run/vm
	mkdir -p "/host$(cat /ctl/workdir)" 2>/dev/null   # a work dir under /tmp etc. lies on the tmpfs above
	mount -t 9p -o $opts,cache=none work "/host$(cat /ctl/workdir)"
	ip link set lo up
	stty -onlcr < /dev/console 2>/dev/null
	chroot /host /bin/bash /run/vm/cmd.sh < /dev/null
	rc=$?
	echo $rc > /ctl/rc
fi
echo "vm: exit status $rc"
sync
echo 0 > /proc/sys/kernel/printk
poweroff -f
EOF
}

host_tools
KPKG=$(kernel_package)
if [ -z "$KPKG" ]; then
	apt-get "${APT[@]}" update >/dev/null 2>&1 || true
	KPKG=$(kernel_package)
fi
[ -n "$KPKG" ] || fail "apt cannot resolve linux-image-amd64"
WANT="$KPKG $(sha1sum < "$SELF" | cut -c1-12)"
mkdir -p "$CACHE"
if [ "$REBUILD" = 1 ] || [ "$(cat "$CACHE/stamp" 2>/dev/null)" != "$WANT" ]; then
	exec 9> "$CACHE/.lock"
	flock 9
	if [ "$REBUILD" = 1 ] || [ "$(cat "$CACHE/stamp" 2>/dev/null)" != "$WANT" ]; then
		build_image "$KPKG" "$WANT"
	fi
	exec 9>&-
fi

# ------------------------------------------------------------------ run
[ "$PWD" != / ] || fail "run it from a directory other than / (shared read-write)"
CTL=$(mktemp -d /tmp/standby-vm.XXXXXX)
trap 'rm -rf "$CTL"' EXIT
echo "$PWD" > "$CTL/workdir"
{
	export -p | grep -Ev '^declare -x (HOME|PWD|OLDPWD|SHLVL|TERM|TMPDIR|DISPLAY|SSH_[A-Z_]*|XDG_[A-Z_]*)(=|$)' || true
	echo 'export HOME=/root TERM=dumb STANDBY_IN_VM=1'
	printf 'cd %q || exit 125\n' "$PWD"
	printf 'exec'; printf ' %q' "$@"; echo
} > "$CTL/cmd.sh"

ACCEL=${STANDBY_VM_ACCEL:-tcg}
if [ -z "${STANDBY_VM_ACCEL:-}" ] && [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
	ACCEL=kvm
fi
P9=security_model=passthrough,multidevs=remap
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -cpu max -m "$MEM" -smp 1 \
	-nodefaults -no-user-config -display none -vga none -nic none \
	-serial stdio -monitor none -no-reboot \
	-kernel "$CACHE/vmlinux" -initrd "$CACHE/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=1 no_timer_check tsc=reliable i8042.noaux i8042.nomux i8042.nopnp" \
	-virtfs "local,path=/,mount_tag=hostroot,$P9,readonly=on" \
	-virtfs "local,path=$CTL,mount_tag=ctl,$P9" \
	-virtfs "local,path=$PWD,mount_tag=work,$P9" < /dev/null 2> "$CTL/qemu.err"
qrc=$?
set -e
[ -s "$CTL/rc" ] && exit "$(cat "$CTL/rc")"
cat "$CTL/qemu.err" >&2
[ "$qrc" = 124 ] && fail "guest timed out after ${TIMEOUT}s"
[ -e "$CTL/booted" ] || fail "guest did not boot (qemu status $qrc)"
fail "guest exited without CMD's status (qemu status $qrc)"

#!/bin/bash
# vm.sh - boot a real Xen 4.17 (Debian bookworm packages) + Linux 6.1 PV dom0
# inside QEMU (TCG), run a job script inside dom0, collect its output, power
# off.  No network inside the VM.  The project's copy of ../shared/xen/run.sh,
# adapted for tests/xen (own cache dir, own initramfs scripts, SRCDIR passed in).
#
#   vm.sh JOB_SCRIPT OUT_DIR
#
# JOB_SCRIPT runs in dom0 as root (bash) after xenstored/xenconsoled are up,
# with cwd=/xenvm-io; it must write its results under $OUT (= /xenvm-io/out in
# dom0 = OUT_DIR/out on the host).  The host's / is dom0's (read-only, with a
# tmpfs overlay), so anything installed on the host is usable in dom0.
# Env knobs: XENVM_WORK (build/cache dir, default /var/tmp/xenvm),
# XENVM_TIMEOUT (whole-VM limit, s, default 1500), XENVM_MEM (MiB, 3072),
# XENVM_DOM0_MEM (MiB, 1024), XENVM_ACCEL (tcg (default) | kvm),
# XENVM_CPU (qemu -cpu, default host for kvm / max for tcg).
set -euo pipefail
# whole body in a function: bash parses it completely before running, so
# editing this file while a run is in progress cannot corrupt that run.
main() {
HERE=$(cd "$(dirname "$0")" && pwd)
JOB=${1:?usage: vm.sh JOB_SCRIPT OUT_DIR}
JOB=$(readlink -f "$JOB")
OUTDIR=${2:-/var/tmp/xenvm-out-$(date +%Y%m%d-%H%M%S)}
WORK=${XENVM_WORK:-/var/tmp/standby-xenvm}
TIMEOUT=${XENVM_TIMEOUT:-1500}
MEM=${XENVM_MEM:-3072}
DOM0_MEM=${XENVM_DOM0_MEM:-1024}
T_START_US=${EPOCHREALTIME/./}
el() { local d=$(( ${EPOCHREALTIME/./} - T_START_US )); printf '%d.%d' $((d/1000000)) $(( (d/100000) % 10 )); }
log() { echo "[xenvm +$(el)s] $*" >&2; }

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$WORK" "$OUTDIR"

# ---------------------------------------------------------------- install
need_pkgs="qemu-system-x86 xen-utils-4.17 xen-utils-common xenstore-utils busybox-static kmod cpio"
missing=""
for p in $need_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    log "apt-get install$missing"
    apt-get update -qq
    apt-get install -y -q --no-install-recommends $missing >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; exit 1; }
fi
# Kernel: whatever linux-image-amd64 points to (6.1.0-NN-amd64 on bookworm).
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6/{print $2; exit}')
[ -n "$KPKG" ] || { apt-get update -qq; KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/{print $2; exit}'); }
KVER=${KPKG#linux-image-}
if [ ! -f "$WORK/kernel/boot/vmlinuz-$KVER" ] || [ ! -f "$WORK/xen/xen.elf" ]; then
    log "downloading + extracting $KPKG and xen-hypervisor-4.17-amd64 (not installed on host)"
    rm -rf "$WORK/debs" "$WORK/kernel" "$WORK/xen"; mkdir -p "$WORK/debs"
    ( cd "$WORK/debs" && apt-get download -q "$KPKG" xen-hypervisor-4.17-amd64 >/dev/null 2>&1 ) \
      || { apt-get update -qq; ( cd "$WORK/debs" && apt-get download -q "$KPKG" xen-hypervisor-4.17-amd64 ); }
    dpkg-deb -x "$WORK"/debs/linux-image-*.deb "$WORK/kernel"
    dpkg-deb -x "$WORK"/debs/xen-hypervisor-*.deb "$WORK/xen"
    # QEMU's -kernel multiboot loader wants the uncompressed 32-bit ELF
    zcat "$WORK"/xen/boot/xen-4.17-amd64.gz > "$WORK/xen/xen.elf"
    depmod -b "$WORK/kernel" "$KVER"
fi
log "kernel $KVER, xen $(ls "$WORK"/xen/boot/*.gz)"

# ---------------------------------------------------------------- initramfs
mk_initrd() { # $1=init script $2=output $3...=modules
    local init=$1 out=$2; shift 2
    local d; d=$(mktemp -d)
    mkdir -p "$d"/{bin,proc,sys,dev,modules,etc,tmp}
    cp /bin/busybox "$d/bin/busybox"
    cp "$init" "$d/init"; chmod +x "$d/init"
    echo "KVER=$KVER; XENVM_WORK=$WORK" > "$d/xenvm.conf"
    : > "$d/modules.order"
    if [ $# -gt 0 ]; then
        for m in $(for mod in "$@"; do modprobe -d "$WORK/kernel" -S "$KVER" --show-depends "$mod"; done | awk '$1=="insmod"{print $2}' | awk '!s[$0]++'); do
            cp "$m" "$d/modules/"; basename "$m" >> "$d/modules.order"
        done
    fi
    ( cd "$d" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$out"
    rm -rf "$d"
}
if [ ! -f "$WORK/dom0-initrd.gz" ] || [ "$HERE/dom0-init.sh" -nt "$WORK/dom0-initrd.gz" ]; then
    mk_initrd "$HERE/dom0-init.sh" "$WORK/dom0-initrd.gz" 9p 9pnet_virtio overlay virtio_pci
fi
if [ ! -f "$WORK/domU-initrd.gz" ] || [ "$HERE/domU-init.sh" -nt "$WORK/domU-initrd.gz" ]; then
    mk_initrd "$HERE/domU-init.sh" "$WORK/domU-initrd.gz"
fi

# ---------------------------------------------------------------- I/O share
IO="$OUTDIR/io"; mkdir -p "$IO/out"
cp "$HERE/stage2.sh" "$IO/stage2.sh"
cp "$JOB" "$IO/job.sh"; chmod +x "$IO/job.sh"
cat > "$IO/env.sh" <<EOF
KVER=$KVER
XENVM_WORK=$WORK
DOMU_KERNEL=$WORK/kernel/boot/vmlinuz-$KVER
DOMU_INITRD=$WORK/domU-initrd.gz
JOB_TIMEOUT=$((TIMEOUT - 120))
EOF
echo "SRCDIR=${SRCDIR:-$(cd "$HERE/../.." && pwd)}" >> "$IO/env.sh"
for v in ${XENVM_PASS_ENV:-}; do printf '%s=%q\n' "$v" "${!v:-}" >> "$IO/env.sh"; done

# ---------------------------------------------------------------- boot
# Default TCG: on this machine kind /dev/kvm is "kvm_pvm" (nested PVM, no
# VMX), whose instruction emulator dies on Xen's unconditional rdsspq
# ("KVM internal error. Suberror: 1 ... emulation failure").  XENVM_ACCEL=kvm
# is only worth trying on a host with real VMX/SVM.
ACCEL=${XENVM_ACCEL:-tcg}
# TCG: "max" minus SMAP -- with SMAP advertised, QEMU 7.2 TCG + Xen 4.17 kill
# the PV dom0 on its first exception ("d0v0 Unhandled: vec 14, #PF[0001]",
# "domain_crash_sync called from entry.S: fault at ... create_bounce_frame").
# TCG, and no AVX: QEMU 7.2 is the first TCG with AVX/AVX2, and with them
# advertised (xstate 0x21f) dom0 processes saw their vector state corrupted:
# glibc's AVX2 string functions then corrupt memory at random (seen here:
# bash segfaults in libc, "malloc(): corrupted top size", a libxc PAGE_DATA
# whose count differed from the bytes sent, a double turning into -nan).
# Without AVX (xstate 0x3 in dom0) glibc uses SSE2 and these go away.
if [ "$ACCEL" = kvm ]; then CPU=${XENVM_CPU:-host}; else CPU=${XENVM_CPU:-max,-smap,-avx,-avx2,-fma,-f16c}; fi
# XENVM_TCG_THREAD=single: one host thread for both vCPUs (no MTTCG)
ACCEL_OPTS=$ACCEL
[ "$ACCEL" = tcg ] && [ -n "${XENVM_TCG_THREAD:-}" ] && ACCEL_OPTS="tcg,thread=$XENVM_TCG_THREAD"
# guest_loglvl=warning: at all, Xen prints ~20 "HVM dN save: ..." lines per
# Remus checkpoint (5 a second); the 115200-baud console is then saturated and
# dom0's own console writes (the job's progress lines) block for minutes.
XEN_ARGS="console=com1 com1=115200,8n1 loglvl=all guest_loglvl=warning dom0_mem=${DOM0_MEM}M,max:${DOM0_MEM}M dom0_max_vcpus=2 console_timestamps=boot"
# (in -initrd, module args must not contain commas: ',' separates modules)
DOM0_ARGS="console=hvc0 earlyprintk=xen rdinit=/init panic=5"
log "booting QEMU accel=$ACCEL cpu=$CPU mem=${MEM}M dom0_mem=${DOM0_MEM}M (timeout ${TIMEOUT}s); serial -> $OUTDIR/serial.log"
set +e
timeout "$TIMEOUT" qemu-system-x86_64 \
    -accel "$ACCEL_OPTS" -cpu "$CPU" -smp 2 -m "$MEM" \
    -nodefaults -display none -vga none -nic none -no-reboot \
    -serial stdio -monitor none \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$WORK/xen/xen.elf" -append "$XEN_ARGS" \
    -initrd "$WORK/kernel/boot/vmlinuz-$KVER $DOM0_ARGS,$WORK/dom0-initrd.gz" \
    -fsdev local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot \
    -fsdev local,id=fsio,path="$IO",security_model=none,multidevs=remap \
    -device virtio-9p-pci,fsdev=fsio,mount_tag=xenvmio \
    </dev/null 2>"$OUTDIR/qemu.stderr" | while IFS= read -r line; do
        printf '[+%6ss] %s\n' "$(el)" "${line%$'\r'}"
    done > "$OUTDIR/serial.log"
rc=${PIPESTATUS[0]}
set -e
log "qemu exited rc=$rc (1 = clean isa-debug-exit poweroff, 124 = timeout)"
grep -E 'XENVM-MARK|XENVM:' "$OUTDIR/serial.log" | head -50 >&2 || true
log "outputs in $IO/out ; serial log $OUTDIR/serial.log"
[ "$rc" = 1 ] || [ "$rc" = 0 ]
}
main "$@"
exit $?

#!/bin/bash
# Boots a kernel built by scripts/build-kernel.sh under QEMU with the given
# guest script, streams the serial console, keeps it in LOG, and exits
# with the guest script's status.  Fails (exit 99) if the console shows a
# kernel problem: BUG, WARNING, Oops, KASAN, lockdep, a refcount or list
# corruption report, or a Call Trace.  Exit 98: the guest never reported.
#
#   qemu/run-vm.sh BZIMAGE LOG GUEST_SCRIPT [SRC:DEST ...]
#
# Environment: VM_CPUS (default 2), VM_MEM (default 1G), VM_TIMEOUT
# seconds (default 900), VM_ACCEL (kvm|tcg; default: kvm only if usable),
# VM_QEMU_ARGS (more QEMU arguments, split at spaces; e.g. a -plugin).
source "$(dirname "$0")/../scripts/lib.sh"

BZIMAGE="${1:?usage}"; LOG="${2:?usage}"; GUEST="${3:?usage}"; shift 3
CPUS="${VM_CPUS:-2}"; MEM="${VM_MEM:-1G}"; TIMEOUT="${VM_TIMEOUT:-900}"

# A usable KVM needs /dev/kvm and hardware virtualisation the host CPU
# advertises; this machine's /dev/kvm is a PVM device with neither vmx nor
# svm, on which a normal guest crawls, so it gets TCG.
accel="${VM_ACCEL:-}"
if [ -z "$accel" ]; then
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
cpu_args=(); [ "$accel" = kvm ] && cpu_args=(-cpu host)

# A TSC-calibrated clock: under TCG calibration often fails and time falls
# back to jiffies; give the guest the host's TSC frequency.
tsc_khz="$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)"

mkdir -p "$(dirname "$LOG")"
INITRD="$(dirname "$LOG")/$(basename "$LOG" .log).cpio"
"$(dirname "$0")/mkinitramfs.sh" "$INITRD" "$GUEST" "$@"

log "booting $(basename "$BZIMAGE") ($accel, $CPUS vCPUs), console in $LOG"
set +e
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 -accel "$accel" "${cpu_args[@]}" \
    -m "$MEM" -smp "$CPUS,sockets=$CPUS" -nographic -no-reboot -monitor none \
    -kernel "$BZIMAGE" -initrd "$INITRD" ${VM_QEMU_ARGS:-} \
    -append "console=ttyS0 panic=-1 reboot=t oops=panic tsc_early_khz=$tsc_khz tsc=reliable ${VM_APPEND:-}" \
    < /dev/null 2>&1 | tee "$LOG"
set -e
rm -f "$INITRD"

# What the kernel prints when something is wrong.
PROBLEMS='BUG:|WARNING:|Oops|KASAN|possible circular locking|possible recursive locking|inconsistent lock state|refcount_t:|list_add corruption|list_del corruption|Call Trace|[Kk]ernel panic|unreferenced object'
status="$(grep -a '^AFC-EXIT: ' "$LOG" | tail -1 | tr -dc '0-9')"
if grep -aqE "$PROBLEMS" "$LOG"; then
    log "kernel problem reported on the console (see $LOG):"
    grep -aE "$PROBLEMS" "$LOG" | head -20 >&2
    exit 99
fi
if [ -z "$status" ]; then
    log "the guest never reported an exit status (timeout ${TIMEOUT}s or crash); see $LOG"
    exit 98
fi
exit "$status"

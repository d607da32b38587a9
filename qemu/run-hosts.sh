#!/bin/bash
# Boots N guests of one kernel on two shared Ethernet segments and runs
# one guest script in each; exits 0 only if every guest reported exit 0
# and no console shows a kernel problem (each console is scanned as
# qemu/run-vm.sh scans its one).
#
#   qemu/run-hosts.sh BZIMAGE LOGDIR N GUEST_SCRIPT [SRC:DEST ...]
#
# Guest i (1..N) has two NICs, each on its own segment:
#   virtio-net  MAC 52:54:00:99:00:0i  segment "virtio" (10.99.0.0/24 by convention)
#   e1000       MAC 52:54:00:98:00:0i  segment "e1000"  (10.98.0.0/24)
# and finds its number on the kernel command line (afc.host=i afc.hosts=N).
# The guest script configures the addresses (selftests/vm/hosts.sh).
#
# The segments are vde_switch processes (Debian vde2) on Unix sockets in
# LOGDIR: a learning switch for any number of guests, with no IP traffic
# or privilege needed on the host (docs/DESIGN.md, "Between hosts").
#
# Console of guest i: LOGDIR/host-i.log.  Environment: VM_CPUS (default 1
# per guest), VM_MEM (default 512M), VM_TIMEOUT (default 900 s), VM_APPEND.
# A guest may end without an AFC-EXIT line only if it printed
# "AFC-POWEROFF" first (a test that pulls the plug on its own guest).
source "$(dirname "$0")/../scripts/lib.sh"

BZIMAGE="${1:?usage}"; LOGDIR="${2:?usage}"; N="${3:?usage}"; GUEST="${4:?usage}"; shift 4
CPUS="${VM_CPUS:-1}"; MEM="${VM_MEM:-512M}"; TIMEOUT="${VM_TIMEOUT:-900}"
command -v vde_switch >/dev/null || die "vde_switch not found (Debian package vde2; make setup installs it)"
mkdir -p "$LOGDIR"
tsc_khz="$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)"

SW="$(mktemp -d /tmp/afc-hosts.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for s in virtio e1000; do
        [ -f "$SW/$s.pid" ] && kill "$(cat "$SW/$s.pid")" 2>/dev/null || true
    done
    rm -rf "$SW"
}
trap cleanup EXIT

for s in virtio e1000; do
    vde_switch --sock "$SW/$s" --daemon --pidfile "$SW/$s.pid" --mod 700 >/dev/null 2>&1 ||
        die "vde_switch for segment $s did not start"
done
for _ in $(seq 50); do [ -e "$SW/virtio/ctl" ] && [ -e "$SW/e1000/ctl" ] && break; sleep 0.1; done

INITRD="$LOGDIR/hosts.cpio"
"$(dirname "$0")/mkinitramfs.sh" "$INITRD" "$GUEST" "$@"

log "booting $N guests of $(basename "$BZIMAGE") (tcg, $CPUS vCPU each), consoles in $LOGDIR/host-*.log"
for i in $(seq "$N"); do
    rm -f "$LOGDIR/host-$i.log"
    timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg \
        -m "$MEM" -smp "$CPUS" -nographic -no-reboot -monitor none \
        -kernel "$BZIMAGE" -initrd "$INITRD" \
        -netdev "vde,id=n0,sock=$SW/virtio" -device "virtio-net-pci,netdev=n0,mac=52:54:00:99:00:0$i" \
        -netdev "vde,id=n1,sock=$SW/e1000" -device "e1000,netdev=n1,mac=52:54:00:98:00:0$i" \
        -append "console=ttyS0 panic=-1 reboot=t oops=panic tsc_early_khz=$tsc_khz tsc=reliable afc.host=$i afc.hosts=$N ${VM_APPEND:-}" \
        < /dev/null > "$LOGDIR/host-$i.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()
rm -f "$INITRD"

PROBLEMS='BUG:|WARNING:|Oops|KASAN|possible circular locking|possible recursive locking|inconsistent lock state|refcount_t:|list_add corruption|list_del corruption|Call Trace|[Kk]ernel panic|unreferenced object'
rc=0
for i in $(seq "$N"); do
    l="$LOGDIR/host-$i.log"
    if grep -aqE "$PROBLEMS" "$l"; then
        log "host $i: kernel problem reported on the console (see $l):"
        grep -aE "$PROBLEMS" "$l" | head -20 >&2
        rc=99; continue
    fi
    status="$(grep -a '^AFC-EXIT: ' "$l" | tail -1 | tr -dc '0-9' || true)"
    if [ -z "$status" ] && ! grep -aq '^AFC-POWEROFF' "$l"; then
        log "host $i never reported an exit status (timeout ${TIMEOUT}s or crash); see $l"
        [ "$rc" = 0 ] && rc=98; continue
    fi
    if [ -n "$status" ] && [ "$status" != 0 ] && [ "$rc" = 0 ]; then rc=$status; fi
done
exit "$rc"

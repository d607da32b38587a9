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
# The segments are libvdeplug4 switches (`vde_plug null:// switch://...`,
# Debian vdeplug, which vde2 pulls in) on Unix sockets in a temporary
# folder: learning switches for any number of guests that carry jumbo
# frames, with no IP traffic or privilege needed on the host
# (docs/DESIGN.md, "Between hosts").
#
# Console of guest i: LOGDIR/host-i.log.  Environment: VM_CPUS (default 1
# per guest), VM_MEM (default 512M), VM_TIMEOUT (default 900 s per boot),
# VM_APPEND.
# A guest may end without an AFC-EXIT line if it printed "AFC-POWEROFF"
# (a test that pulls the plug on its own guest) or "AFC-REBOOT" (a test
# that reboots its guest: the runner boots it again, same NICs, with
# afc.boot=2 on the command line; console LOGDIR/host-i.boot2.log).
source "$(dirname "$0")/../scripts/lib.sh"

BZIMAGE="${1:?usage}"; LOGDIR="${2:?usage}"; N="${3:?usage}"; GUEST="${4:?usage}"; shift 4
CPUS="${VM_CPUS:-1}"; MEM="${VM_MEM:-512M}"; TIMEOUT="${VM_TIMEOUT:-900}"
command -v vde_plug >/dev/null || die "vde_plug not found (Debian package vdeplug, in vde2; make setup installs it)"
mkdir -p "$LOGDIR"
tsc_khz="$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)"

SW="$(mktemp -d /tmp/afc-hosts.XXXXXX)"
switches=()
declare -A guest_of=()   # pid of a running boot -> guest number
cleanup() {
    for p in "${!guest_of[@]}" "${switches[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$SW"
}
trap cleanup EXIT

# A segment: a switch at $SW/NAME that QEMU's vde netdev joins.
# (vde_switch of vde2 cuts every frame to 1518 bytes: no jumbo frames.)
start_segment() {
    vde_plug null:// "switch://$SW/$1[mode=0700]" </dev/null >/dev/null 2>&1 &
    switches+=($!)
    for _ in $(seq 50); do [ -S "$SW/$1/ctl" ] && return; sleep 0.1; done
    die "the switch for segment $1 did not start"
}

# The console of boot B (1, 2) of guest I.
console() { if [ "$2" = 1 ]; then echo "$LOGDIR/host-$1.log"; else echo "$LOGDIR/host-$1.boot$2.log"; fi; }

# Starts boot B of guest I in the background (its pid in guest_of).
start_guest() {
    local i="$1" boot="$2" log
    log="$(console "$i" "$boot")"
    rm -f "$log"
    timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg \
        -m "$MEM" -smp "$CPUS" -nographic -no-reboot -monitor none \
        -kernel "$BZIMAGE" -initrd "$INITRD" \
        -netdev "vde,id=n0,sock=$SW/virtio" -device "virtio-net-pci,netdev=n0,mac=52:54:00:99:00:0$i" \
        -netdev "vde,id=n1,sock=$SW/e1000" -device "e1000,netdev=n1,mac=52:54:00:98:00:0$i" \
        -append "console=ttyS0 panic=-1 reboot=t oops=panic tsc_early_khz=$tsc_khz tsc=reliable afc.host=$i afc.hosts=$N afc.boot=$boot ${VM_APPEND:-}" \
        < /dev/null > "$log" 2>&1 &
    guest_of[$!]="$i:$boot"
}

# Whether boot B of guest I asked to be booted again: its last AFC- line
# is AFC-REBOOT.
wants_reboot() {
    [ "$(grep -a '^AFC-' "$(console "$1" "$2")" | tail -1 | tr -d '\r')" = AFC-REBOOT ]
}

# Runs every guest to its end, booting again those that ask (once).
run_guests() {
    local i pid g
    for i in $(seq "$N"); do start_guest "$i" 1; done
    while [ "${#guest_of[@]}" -gt 0 ]; do
        pid=""
        wait -n -p pid "${!guest_of[@]}" || true
        [ -n "$pid" ] || continue
        g="${guest_of[$pid]}"; unset "guest_of[$pid]"
        if [ "${g#*:}" = 1 ] && wants_reboot "${g%:*}" 1; then
            log "host ${g%:*} rebooted itself: booting it again (afc.boot=2)"
            start_guest "${g%:*}" 2
        fi
    done
}

# 0 if console LOG shows no kernel problem and an exit status of 0 (or
# a power-off or a reboot the test asked for), else the status to report.
check_console() {
    local l="$1" status
    local problems='BUG:|WARNING:|Oops|KASAN|possible circular locking|possible recursive locking|inconsistent lock state|refcount_t:|list_add corruption|list_del corruption|Call Trace|[Kk]ernel panic|unreferenced object'
    if grep -aqE "$problems" "$l"; then
        log "$(basename "$l"): kernel problem reported on the console:"
        grep -aE "$problems" "$l" | head -20 >&2
        return 99
    fi
    status="$(grep -a '^AFC-EXIT: ' "$l" | tail -1 | tr -dc '0-9' || true)"
    if [ -z "$status" ]; then
        grep -aqE '^AFC-(POWEROFF|REBOOT)' "$l" && return 0
        log "$(basename "$l"): no exit status (timeout ${TIMEOUT}s or crash)"
        return 98
    fi
    return "$status"
}

start_segment virtio
start_segment e1000
INITRD="$LOGDIR/hosts.cpio"
"$(dirname "$0")/mkinitramfs.sh" "$INITRD" "$GUEST" "$@"
log "booting $N guests of $(basename "$BZIMAGE") (tcg, $CPUS vCPU each), consoles in $LOGDIR/host-*.log"
run_guests
rm -f "$INITRD"

rc=0
for l in "$LOGDIR"/host-*.log; do
    check_console "$l" && continue
    s=$?
    # A kernel problem first, then a missing status, then a test's.
    if [ "$s" = 99 ] || [ "$rc" = 0 ] || { [ "$s" = 98 ] && [ "$rc" != 99 ]; }; then rc=$s; fi
done
exit "$rc"

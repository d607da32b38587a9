#!/bin/bash
# `make bench-hosts`: AF_CUSTOM against TCP between two guests (one vCPU
# each) on the segments of qemu/run-hosts.sh, over virtio-net and over
# e1000: stream, rr and crr (qemu/bench-hosts.sh, afc_bench -m server /
# -m client), and one table: median (min-max), AF_CUSTOM/TCP, frames per
# MiB and per transaction (both hosts' counters), issue 14's targets.
# Not part of `make check`.
#
# Consoles: build/bench-hosts/host-{1,2}.log; table: build/bench-hosts.out.
# Environment: BENCH_REPS (default 5), BENCH_SECS (default 2), BENCH_ONLY
# (stream rr crr), BENCH_NETS (virtio e1000), BENCH_FAMS (custom inet),
# BENCH_PROFILE=1 (perf in both guests, the host's perf copied in; flat
# profiles of each whole guest appended to the table: e.g.
# BENCH_PROFILE=1 BENCH_REPS=1 BENCH_ONLY=stream BENCH_NETS=virtio
# BENCH_FAMS=custom), BENCH_PCT, BENCH_TOP, VM_TIMEOUT.
# BENCH_FROM_LOG=1: no VM, only rebuild the table from the consoles.
source "$(dirname "$0")/lib.sh"

BIN="$("$TOP/bench/build.sh")"
LOGDIR="$TOP/build/bench-hosts"
OUT="$TOP/build/bench-hosts.out"
secs="?"
if [ "${BENCH_FROM_LOG:-0}" != 1 ]; then
    KOBJ="$("$TOP/scripts/build-kernel.sh" normal)"
    KO="$("$TOP/scripts/build-module.sh" "$KOBJ" normal)"
    rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
    GUEST="$LOGDIR/bench-hosts-guest.sh"
    {
        echo '#!/bin/sh'
        for v in BENCH_REPS BENCH_SECS BENCH_ONLY BENCH_NETS BENCH_FAMS BENCH_PROFILE BENCH_PCT BENCH_TOP; do
            [ -n "${!v:-}" ] && printf "export %s='%s'\n" "$v" "${!v}"
        done
        cat "$TOP/qemu/bench-hosts.sh"
    } > "$GUEST"
    files=("$KO:/afc/af_custom.ko" "$BIN:/afc/afc_bench")
    if [ "${BENCH_PROFILE:-0}" = 1 ]; then
        perf="$(command -v perf || true)"
        [ -n "$perf" ] || die "BENCH_PROFILE needs perf on the host (Debian package linux-perf)"
        files+=("$perf:/afc/bin/perf")
    fi
    start=$(date +%s)
    set +e
    VM_CPUS=1 VM_TIMEOUT="${VM_TIMEOUT:-1800}" "$TOP/qemu/run-hosts.sh" "$KOBJ/arch/x86/boot/bzImage" "$LOGDIR" 2 "$GUEST" \
        "${files[@]}" >"$LOGDIR/run-hosts.out" 2>&1
    rc=$?
    set -e
    secs=$(( $(date +%s) - start ))
    [ "$rc" = 0 ] || { tail -30 "$LOGDIR/run-hosts.out"; tail -20 "$LOGDIR"/host-*.log; die "the guests failed (status $rc); consoles in $LOGDIR"; }
fi
LOG="$LOGDIR/host-2.log"
[ -f "$LOG" ] || die "no console $LOG"
{
    echo "AF_CUSTOM between two hosts, $(date -u -r "$LOG" +%Y-%m-%d), host $(nproc) cores, two QEMU TCG guests with ONE vCPU each"
    echo "(server on host 1, client on host 2; virtio-net 10.99.0.0/24 and e1000 10.98.0.0/24 segments, vde switches)."
    for l in "$LOGDIR"/host-1.log "$LOG"; do
        grep -a '^AFC-BENCH-INFO host' "$l" | tail -1 | tr -d '\r' | sed 's/^AFC-BENCH-INFO //'
        grep -a '^AFC-BENCH-WARNING' "$l" | tr -d '\r' || true
    done
    [ "$secs" != "?" ] && echo "VM wall ${secs} s"
    echo "Cells: median (min-max) over the repetitions. Ratio: AF_CUSTOM median / TCP median."
    echo
    sed -n '/^AFC-BENCH-RESULTS-BEGIN/,/^AFC-BENCH-RESULTS-END/p' "$LOG" | tr -d '\r' | { grep -a '^RESULT ' || true; } | "$BIN" -t report-hosts
    for l in "$LOGDIR"/host-1.log "$LOG"; do
        if grep -aq '^AFC-BENCH-PROFILE-BEGIN' "$l"; then
            echo
            echo "Profile (perf, cpu-clock, whole guest):"
            sed -n '/^AFC-BENCH-PROFILE-BEGIN/,/^AFC-BENCH-PROFILE-END/p' "$l" | tr -d '\r' | grep -av '^AFC-BENCH-PROFILE-END' |
                sed 's/^AFC-BENCH-PROFILE-BEGIN /== /'
        fi
    done
    if grep -aq '^FAILED ' "$LOG"; then
        echo
        echo "Runs that failed:"
        grep -a '^FAILED ' "$LOG" | tr -d '\r'
    fi
} > "$OUT"
cat "$OUT"

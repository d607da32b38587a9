#!/bin/bash
# `make bench`: boots the VM with ONE vCPU, runs qemu/bench.sh (every
# metric of bench/afc_bench.c for AF_CUSTOM, TCP and AF_UNIX, over lo and
# over veth between two namespaces, several repetitions), and prints one
# table: median (min-max) per metric and family, and AF_CUSTOM/TCP.
#
# Console: build/vm-bench.log; table: build/bench.out.
# Environment: BENCH_REPS, BENCH_REPS_SLOW, BENCH_SECS, BENCH_CONNS,
# BENCH_LISTENERS, BENCH_ONLY, BENCH_PROFILE, BENCH_SYSCTL (see qemu/bench.sh; the
# host's perf is copied in when BENCH_PROFILE is set), VM_TIMEOUT.
# BENCH_FROM_LOG=1: no VM, only rebuild the table from build/vm-bench.log.
source "$(dirname "$0")/lib.sh"

BIN="$("$TOP/bench/build.sh")"
LOG="$TOP/build/vm-bench.log"
OUT="$TOP/build/bench.out"
secs="?"
if [ "${BENCH_FROM_LOG:-0}" != 1 ]; then
KOBJ="$("$TOP/scripts/build-kernel.sh" normal)"
KO="$("$TOP/scripts/build-module.sh" "$KOBJ" normal)"

# The guest script: the settings, then qemu/bench.sh.
GUEST="$TOP/build/bench-guest.sh"
{
    echo '#!/bin/sh'
    for v in BENCH_REPS BENCH_REPS_SLOW BENCH_SECS BENCH_CONNS BENCH_LISTENERS BENCH_ONLY BENCH_PROFILE BENCH_PCT BENCH_TOP BENCH_SYSCTL; do
        [ -n "${!v:-}" ] && printf "export %s='%s'\n" "$v" "${!v}"
    done
    echo 'exec sh /afc/bench.sh'
} > "$GUEST"

files=("$KO:/afc/af_custom.ko" "$BIN:/afc/afc_bench" "$TOP/qemu/bench.sh:/afc/bench.sh")
if [ -n "${BENCH_PROFILE:-}" ]; then
    perf="$(command -v perf || true)"
    [ -n "$perf" ] || die "BENCH_PROFILE needs perf on the host (Debian package linux-perf)"
    files+=("$perf:/afc/bin/perf")
fi

# One vCPU: client and server share it, as on a loaded machine; cross-CPU
# wake-ups on this nested host would otherwise dominate every latency.
start=$(date +%s)
set +e
VM_CPUS=1 VM_TIMEOUT="${VM_TIMEOUT:-1200}" "$TOP/qemu/run-vm.sh" "$KOBJ/arch/x86/boot/bzImage" "$LOG" "$GUEST" "${files[@]}" >"$TOP/build/bench-vm.out" 2>&1
rc=$?
set -e
secs=$(( $(date +%s) - start ))
[ "$rc" = 0 ] || { tail -30 "$TOP/build/bench-vm.out"; die "the VM run failed (status $rc); console in $LOG"; }
fi

info="$(grep -a '^AFC-BENCH-INFO vcpus' "$LOG" | tail -1 | tr -d '\r')"
{
    echo "AF_CUSTOM benchmark, $(date -u -r "$LOG" +%Y-%m-%d), host $(nproc) cores, QEMU TCG guest with ONE vCPU"
    echo "(figures are for 1 vCPU: client and server share it)."
    echo "${info#AFC-BENCH-INFO }$([ "$secs" != "?" ] && echo ", VM wall ${secs} s")"
    grep -a '^AFC-BENCH-WARNING' "$LOG" | tr -d '\r' || true
    echo "Cells: median (min-max) over the repetitions. Ratio: AF_CUSTOM median / TCP median."
    echo
    sed -n '/^AFC-BENCH-RESULTS-BEGIN/,/^AFC-BENCH-RESULTS-END/p' "$LOG" | tr -d '\r' | { grep -a '^RESULT ' || true; } | "$BIN" -t report
    if grep -aq '^AFC-BENCH-PROFILE-BEGIN' "$LOG"; then
        echo
        echo "Profiles (perf, cpu-clock, whole guest):"
        sed -n '/^AFC-BENCH-PROFILE-BEGIN/,/^AFC-BENCH-PROFILE-END/p' "$LOG" | tr -d '\r' | grep -av '^AFC-BENCH-PROFILE' | grep -av '^\['
    fi
    if grep -aq '^FAILED ' "$LOG"; then
        echo
        echo "Runs that failed:"
        grep -a '^FAILED ' "$LOG" | tr -d '\r'
    fi
} > "$OUT"
cat "$OUT"

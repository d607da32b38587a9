#!/bin/bash
# `make bench`: boots the VM with ONE vCPU, runs qemu/bench.sh (every
# metric of bench/afc_bench.c for AF_CUSTOM, TCP and AF_UNIX, over lo and
# over veth between two namespaces, several repetitions), then boots it
# again with TWO vCPUs for the 8 parallel streams (stream8) alone, and
# prints one table: median (min-max) per metric and family, and
# AF_CUSTOM/TCP.
#
# Consoles: build/vm-bench.log (1 vCPU), build/vm-bench-2cpu.log (2 vCPUs);
# table: build/bench.out.
# Environment: BENCH_REPS, BENCH_REPS_SLOW, BENCH_SECS, BENCH_CONNS,
# BENCH_LISTENERS, BENCH_EPOLL_CONNS, BENCH_ONLY (stream8 selects the
# second boot; without it there is none; threads selects the second,
# independent harness bench/threads_bench.c, server and client as threads
# of one process, copied in as /afc/threads_bench: rows "threads: ..."),
# BENCH_PROFILE, BENCH_SORT, BENCH_SYSCTL, BENCH_LO_MTU (see
# qemu/bench.sh; the host's perf is copied in when BENCH_PROFILE is set;
# stream8 profiles run in the 2-vCPU boot), VM_TIMEOUT.
# BENCH_BASELINE=REV: the module of git revision REV (e.g. the commit
# before a change) is built against the same kernel and run as a fourth
# family, "base", in every repetition of stream, rr, rr-nagle, crr, epoll,
# stream8 and threads (the guest swaps modules around each of its runs): the
# table then compares the two modules with TCP in the same run.
# BENCH_ICOUNT=1: QEMU counts the guest's instructions in each measured
# window of stream, rr, rr-nagle, crr and threads (bench/icount_plugin.c);
# the report ends with instructions per transaction (per KiB for streams),
# and scripts/icount-report.py --diff compares two families' windows by
# symbol. The guest runs about a fifth slower: for counting, not timing.
# BENCH_ICOUNT=mem: the same, and every data access goes through a model
# of QEMU's TLB: accesses, distinct pages and TLB misses per unit too
# (several times slower).
# BENCH_FROM_LOG=1: no VM, only rebuild the table from the consoles.
source "$(dirname "$0")/lib.sh"

BIN="$("$TOP/bench/build.sh")"
LOG="$TOP/build/vm-bench.log"
LOG2="$TOP/build/vm-bench-2cpu.log"
OUT="$TOP/build/bench.out"
ALL="copy memory listeners reuseport stream rr rr-nagle crr epoll stream8 threads"
ONLY="${BENCH_ONLY:-$ALL}"
# The 1-vCPU boot runs everything selected but stream8; the 2-vCPU boot
# runs stream8 alone.
ONLY1=""; ONLY2=""; PROF1=""; PROF2=""
for t in $ONLY; do if [ "$t" = stream8 ]; then ONLY2="stream8"; else ONLY1="$ONLY1 $t"; fi; done
for p in ${BENCH_PROFILE:-}; do case "$p" in stream8:*) PROF2="$PROF2 $p" ;; *) PROF1="$PROF1 $p" ;; esac; done
secs="?"

# boot CPUS LOG ONLY PROFILE: one VM run of qemu/bench.sh.
boot() {
    local cpus="$1" log="$2" only="$3" prof="$4" guest="$TOP/build/bench-guest-$1cpu.sh" rc v
    {
        echo '#!/bin/sh'
        for v in BENCH_REPS BENCH_REPS_SLOW BENCH_SECS BENCH_CONNS BENCH_LISTENERS BENCH_EPOLL_CONNS BENCH_PCT BENCH_TOP BENCH_SYSCTL BENCH_CALLERS BENCH_SYMOFF BENCH_SORT BENCH_LO_MTU; do
            [ -n "${!v:-}" ] && printf "export %s='%s'\n" "$v" "${!v}"
        done
        printf "export BENCH_ONLY='%s'\n" "${only:-none}"
        [ -n "$prof" ] && printf "export BENCH_PROFILE='%s'\n" "$prof"
        echo 'exec sh /afc/bench.sh'
    } > "$guest"
    files=("$KO:/afc/af_custom.ko" "$BIN:/afc/afc_bench" "$(dirname "$BIN")/threads_bench:/afc/threads_bench"
        "$TOP/qemu/bench.sh:/afc/bench.sh")
    [ -n "${BASE_KO:-}" ] && files+=("$BASE_KO:/afc/af_custom_base.ko")
    if [ -n "$prof" ]; then
        perf="$(command -v perf || true)"
        [ -n "$perf" ] || die "BENCH_PROFILE needs perf on the host (Debian package linux-perf)"
        files+=("$perf:/afc/bin/perf")
    fi
    local qargs=""
    if [ "${BENCH_ICOUNT:-0}" != 0 ]; then
        rm -rf "$TOP/build/icount-$cpus"; mkdir -p "$TOP/build/icount-$cpus"
        qargs="-plugin $PLUGIN,out=$TOP/build/icount-$cpus/w"
        [ "$BENCH_ICOUNT" = mem ] && qargs="$qargs,mem=1"
    fi
    set +e
    VM_QEMU_ARGS="$qargs" VM_CPUS="$cpus" VM_TIMEOUT="${VM_TIMEOUT:-1200}" "$TOP/qemu/run-vm.sh" "$KOBJ/arch/x86/boot/bzImage" "$log" "$guest" "${files[@]}" >"$TOP/build/bench-vm.out" 2>&1
    rc=$?
    set -e
    [ "$rc" = 0 ] || { tail -30 "$TOP/build/bench-vm.out"; die "the VM run ($cpus vCPUs) failed (status $rc); console in $log"; }
}

if [ "${BENCH_FROM_LOG:-0}" != 1 ]; then
    KOBJ="$("$TOP/scripts/build-kernel.sh" normal)"
    KO="$("$TOP/scripts/build-module.sh" "$KOBJ" normal)"
    PLUGIN="$TOP/build/bench/icount_plugin.so"
    if [ "${BENCH_ICOUNT:-0}" != 0 ]; then
        gcc -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -pthread -o "$PLUGIN" "$TOP/bench/icount_plugin.c"
    fi
    BASE_KO=""
    if [ -n "${BENCH_BASELINE:-}" ]; then
        # The baseline's own tree and scripts, unpacked once per commit.
        rev="$(git -C "$TOP" rev-parse --verify "${BENCH_BASELINE}^{commit}")" ||
            die "BENCH_BASELINE=$BENCH_BASELINE is not a commit of this repository"
        wt="$CACHE/baseline/$rev"
        if [ ! -f "$wt/.unpacked" ]; then
            rm -rf "$wt"; mkdir -p "$wt"
            git -C "$TOP" archive "$rev" | tar -x -C "$wt"
            touch "$wt/.unpacked"
        fi
        log "baseline module: $BENCH_BASELINE ($rev), built in $wt"
        BASE_KO="$("$wt/scripts/build-module.sh" "$KOBJ" normal)"
    fi
    rm -f "$LOG" "$LOG2"
    start=$(date +%s)
    # One vCPU: client and server share it, as on a loaded machine;
    # cross-CPU wake-ups on this nested host would otherwise dominate every
    # latency.  Skipped when only stream8 is asked for.
    # BENCH_ONLY=none boots only for the profiles asked for (a stream8
    # profile alone boots the 2-vCPU guest alone).
    [ "${ONLY1# }" = none ] && [ -z "$PROF1" ] && [ -n "$PROF2" ] && ONLY1=""
    if [ -n "$ONLY1" ]; then boot 1 "$LOG" "${ONLY1# }" "${PROF1# }"; fi
    # Two vCPUs for the 8 parallel streams: room for parallelism.
    [ -z "$ONLY2" ] && [ -n "$PROF2" ] && ONLY2=none
    if [ -n "$ONLY2" ]; then boot 2 "$LOG2" "$ONLY2" "${PROF2# }"; fi
    secs=$(( $(date +%s) - start ))
fi
LOGS=()
for l in "$LOG" "$LOG2"; do [ -f "$l" ] && LOGS+=("$l"); done
[ "${#LOGS[@]}" -gt 0 ] || die "no console to build the table from ($LOG, $LOG2)"

{
    echo "AF_CUSTOM benchmark, $(date -u -r "${LOGS[0]}" +%Y-%m-%d), host $(nproc) cores, QEMU TCG guest with ONE vCPU"
    echo "(figures are for 1 vCPU: client and server share it; stream x8 rows: a second boot with 2 vCPUs)."
    for l in "${LOGS[@]}"; do
        info="$(grep -a '^AFC-BENCH-INFO vcpus' "$l" | tail -1 | tr -d '\r')"
        echo "${info#AFC-BENCH-INFO }"
        grep -a '^AFC-BENCH-WARNING' "$l" | tr -d '\r' || true
    done
    [ "$secs" != "?" ] && echo "VM wall ${secs} s"
    echo "Cells: median (min-max) over the repetitions. Ratio: AF_CUSTOM median / TCP median."
    echo
    for l in "${LOGS[@]}"; do
        sed -n '/^AFC-BENCH-RESULTS-BEGIN/,/^AFC-BENCH-RESULTS-END/p' "$l" | tr -d '\r' | { grep -a '^RESULT ' || true; }
    done | "$BIN" -t report
    for l in "${LOGS[@]}"; do
        if grep -aq '^AFC-BENCH-PROFILE-BEGIN' "$l"; then
            echo
            echo "Profiles (perf, cpu-clock, whole guest, $(basename "$l")):"
            sed -n '/^AFC-BENCH-PROFILE-BEGIN/,/^AFC-BENCH-PROFILE-END/p' "$l" | tr -d '\r' | grep -av '^AFC-BENCH-PROFILE' | grep -av '^\['
        fi
    done
    for l in "${LOGS[@]}"; do
        if grep -aq 'AFC-ICOUNT window=' "$l"; then
            echo
            echo "Instructions per unit of work (BENCH_ICOUNT, whole guest, $(basename "$l")):"
            python3 "$TOP/scripts/icount-report.py" "$l"
        fi
    done
    if grep -aq '^FAILED ' "${LOGS[@]}"; then
        echo
        echo "Runs that failed:"
        grep -ah '^FAILED ' "${LOGS[@]}" | tr -d '\r'
    fi
} > "$OUT"
cat "$OUT"

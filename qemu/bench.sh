#!/bin/sh
# Guest side of `make bench` (scripts/bench.sh): loads the module, sets up
# two network namespaces joined by a veth pair, and runs /afc/afc_bench for
# every metric and family, repetitions interleaved (rep 1 of every family,
# then rep 2, ...) so that noise from the host hits all families alike.
# Each run prints one RESULT line; the host builds the table from them.
#
# Environment: BENCH_REPS (repetitions of stream/rr/crr/copy, default 5),
# BENCH_REPS_SLOW (memory/listeners/reuseport, default 3), BENCH_SECS
# (seconds per stream/rr/crr run, default 2), BENCH_CONNS (connections for
# memory, default 10000), BENCH_LISTENERS (default 10000),
# BENCH_EPOLL_CONNS (connections of the epoll round, default 10000),
# BENCH_ONLY (a space-separated subset of: copy memory listeners reuseport
# stream rr rr-nagle crr epoll stream8 threads, and crr1, which only a
# BENCH_ONLY naming it runs: crr's work in one thread; "none" for none;
# scripts/bench.sh runs stream8 alone in a second boot with 2 vCPUs;
# "threads" runs /afc/threads_bench, the second, independent harness
# (bench/threads_bench.c: server and client as two threads of one process),
# for its shapes stream, rr, rr-nodelay and crr, inside the same repetition
# loop, as tests t-stream, t-rr, t-rr-nodelay and t-crr; those names as
# tokens select one shape of it each), BENCH_PROFILE (runs to profile with perf, when
# /afc/bin/perf is there: "test:family:net ...", e.g. "stream:custom:lo",
# or "t-stream:custom:lo" for the second harness;
# family "base" profiles the baseline module),
# BENCH_CALLERS (with BENCH_PROFILE: symbols whose call chains each profile
# prints from a second, call-graph run, e.g. "rcu_core call_rcu"; the
# word "children" prints every symbol's inclusive share instead),
# BENCH_SYMOFF (with BENCH_PROFILE: substrings of symbols whose samples
# each profile prints by offset, e.g. "7sendmsg conn5drive"),
# BENCH_SORT (with BENCH_PROFILE: perf report's sort keys, default "sym";
# "comm,sym" splits stream8's readers from its writers),
# BENCH_LO_MTU (the loopback's MTU, both families), BENCH_SYSCTL
# (key=value settings applied after the module loads, in the
# init namespace and in both veth namespaces; commas stand for spaces in
# vector values, e.g. "net.af_custom.rmem_default=1048576
# net.af_custom.rmem=4096,131072,2097152").
# /afc/af_custom_base.ko (scripts/bench.sh's BENCH_BASELINE): a second
# module, run as family "base" beside "custom" in the repetition loop; the
# guest swaps modules around each of its runs.
B=/afc/afc_bench
# The second harness (BENCH_ONLY token "threads"); run_threads runs it.
TB=/afc/threads_bench
REPS=${BENCH_REPS:-5}
REPS_SLOW=${BENCH_REPS_SLOW:-3}
SECS=${BENCH_SECS:-2}
CONNS=${BENCH_CONNS:-10000}
LISTENERS=${BENCH_LISTENERS:-10000}
EPOLL_CONNS=${BENCH_EPOLL_CONNS:-10000}
ONLY=${BENCH_ONLY:-copy memory listeners reuseport stream rr rr-nagle crr epoll threads}
RES=/tmp/results
: > $RES

# Latencies need the TSC clocksource (see ../shared/TOOLCHAIN-FACTS.md).
CS=/sys/devices/system/clocksource/clocksource0/current_clocksource
i=0
while [ "$(cat $CS)" != tsc ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "AFC-BENCH-INFO vcpus=$(grep -c ^processor /proc/cpuinfo) clocksource=$(cat $CS) kernel=$(uname -r) reps=$REPS reps_slow=$REPS_SLOW secs=$SECS conns=$CONNS listeners=$LISTENERS epoll_conns=$EPOLL_CONNS only=$(echo $ONLY | tr ' ' ,)"
[ "$(cat $CS)" = tsc ] || echo "AFC-BENCH-WARNING clocksource is $(cat $CS), not tsc: latencies are unreliable"

insmod /afc/af_custom.ko || exit 1
# Where the module's code is, for scripts/icount-report.py.
mod_text() { echo "AFC-BENCH-MODTEXT $1 $(cat /sys/module/af_custom/sections/.text)"; }
mod_text af_custom
# BENCH_LO_MTU: the loopback's MTU for every lo run (both families: it
# sets TCP's MSS and ours), e.g. 32768 to see what frames of half the
# size cost.
if [ -n "${BENCH_LO_MTU:-}" ]; then
    ip link set lo mtu "$BENCH_LO_MTU" && echo "AFC-BENCH-INFO lo mtu $BENCH_LO_MTU"
fi
CUSTOMS=custom
[ -f /afc/af_custom_base.ko ] && CUSTOMS="custom base"

# veth between two namespaces, as the tests: 10.77.0.1/24 (afc-srv) and
# 10.77.0.2/24 (afc-cli), fixed MACs and permanent neighbours (no ARP).
ip netns add afc-srv
ip netns add afc-cli
ip link add va netns afc-srv address 02:77:00:00:00:01 type veth peer name vb netns afc-cli address 02:77:00:00:00:02
ip -n afc-srv link set lo up
ip -n afc-cli link set lo up
# The module's sysctls (again after a module swap: they are the module's).
apply_sysctls() {
    for kv in ${BENCH_SYSCTL:-}; do
        kv="$(echo "$kv" | tr , ' ')"
        echo "AFC-BENCH-INFO sysctl $kv"
        for ns in "" afc-srv afc-cli; do
            if [ -n "$ns" ]; then ip netns exec $ns sysctl -qw "$kv"; else sysctl -qw "$kv"; fi || echo "AFC-BENCH-WARNING sysctl $kv failed${ns:+ in $ns}"
        done
    done
}
apply_sysctls
ip -n afc-srv addr add 10.77.0.1/24 dev va
ip -n afc-cli addr add 10.77.0.2/24 dev vb
ip -n afc-srv link set va up
ip -n afc-cli link set vb up
ip -n afc-srv neigh replace 10.77.0.2 lladdr 02:77:00:00:00:02 dev va nud permanent
ip -n afc-cli neigh replace 10.77.0.1 lladdr 02:77:00:00:00:01 dev vb nud permanent
# crr makes thousands of short TCP connections: let TIME_WAIT ports be
# reused on veth too (the default, 2, does it for loopback only).
echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse
ip netns exec afc-cli sh -c 'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse'
VETH="-S /run/netns/afc-srv -C /run/netns/afc-cli -a 10.77.0.1 -N veth"

# Closed AF_CUSTOM connections linger in TIME_WAIT (2 s) and each pins the
# module: wait until none is left, so that one run does not load the next.
wait_idle() {
    i=0
    while [ "$(cat /sys/module/af_custom/refcnt)" != 0 ] && [ $i -lt 40 ]; do sleep 0.1; i=$((i + 1)); done
}

# Loads module $1 in place of the loaded one (family "base").
swap_module() {
    wait_idle
    rmmod af_custom || echo "AFC-BENCH-WARNING rmmod failed before loading $1"
    insmod "$1" || echo "AFC-BENCH-WARNING insmod $1 failed"
    mod_text "$(basename "$1" .ko)"
    apply_sysctls >/dev/null
}

# Family "base" is the baseline module run as family "custom": fam_begin
# F loads it for one run and sets FAM to the family to run; fam_end F
# loads the module under test again.
fam_begin() {
    FAM=$1
    if [ "$1" = base ]; then swap_module /afc/af_custom_base.ko; FAM=custom; fi
}
fam_end() {
    if [ "$1" = base ]; then swap_module /afc/af_custom.ko; fi
}

PORT=9000
# The program run() runs (run_threads switches it to $TB for one run) and
# the prefix of its test names in failure lines.
BIN=$B
TPFX=
run() { # test family [args...]
    t=$1; f=$2; shift 2
    PORT=$((PORT + 1))
    fam_begin "$f"; fam=$FAM
    start=$(cut -d' ' -f1 /proc/uptime)
    if timeout 180 $BIN -t "$t" -f "$fam" -p $PORT "$@" > /tmp/one 2>/tmp/err; then
        [ "$f" = base ] && sed -i 's/ fam=custom / fam=base /' /tmp/one
        cat /tmp/one >> $RES
        echo "  $(cut -c1-150 /tmp/one)"
    else
        echo "AFC-BENCH-FAIL test=$TPFX$t fam=$f args=$* rc=$? $(cat /tmp/err)"
        echo "FAILED test=$TPFX$t fam=$f $*: $(cat /tmp/err)" >> /tmp/failures
    fi
    [ "$fam" = custom ] && wait_idle
    fam_end "$f"
    end=$(cut -d' ' -f1 /proc/uptime)
    echo "  ($TPFX$t $f $*: $(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }') s)"
}
# One run of the second harness: shape family -n lo|veth [args...]; its
# RESULT lines name the tests t-<shape> themselves.
run_threads() {
    BIN=$TB; TPFX=t-
    run "$@"
    BIN=$B; TPFX=
}

has() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

T0=$(cut -d' ' -f1 /proc/uptime)
if has copy; then
    echo "== copy limit"
    r=0; while [ $r -lt $REPS ]; do r=$((r + 1)); run copy none -l 1; done
fi
# Free pages by order (/proc/buddyinfo) before and after the memory
# test, which slows every later stream: this kernel has no
# CONFIG_COMPACTION, but high orders did not run short (docs/NOTES.md,
# session 19).
buddy() { echo "AFC-BENCH-INFO buddyinfo $1: $(tr -s ' ' < /proc/buddyinfo | tr '\n' ';')"; }
# Memory before anything leaves TIME_WAIT sockets behind.
if has memory; then
    buddy "before the memory test"
    echo "== memory per idle connection ($CONNS connections)"
    r=0; while [ $r -lt $REPS_SLOW ]; do r=$((r + 1))
        for f in custom inet unix; do run memory $f -n $CONNS; sleep 1; done
    done
    buddy "after the memory test"
fi
if has listeners; then
    echo "== connect latency, 1 vs $LISTENERS listeners"
    r=0; while [ $r -lt $REPS_SLOW ]; do r=$((r + 1))
        for f in custom inet; do run listeners $f -n $LISTENERS; done
        for f in custom inet; do run listeners $f -n $LISTENERS $VETH; done
    done
fi
if has reuseport; then
    echo "== reuseport, 4 shards"
    r=0; while [ $r -lt $REPS_SLOW ]; do r=$((r + 1))
        for f in custom inet; do run reuseport $f -k 4 -n 4000; done
    done
fi
r=0; while [ $r -lt $REPS ]; do r=$((r + 1))
    for t in stream rr rr-nagle crr crr1; do
        has $t || continue
        echo "== $t, repetition $r of $REPS"
        for f in $CUSTOMS inet unix; do run $t $f -l $SECS; done
        for f in $CUSTOMS inet; do run $t $f -l $SECS $VETH; done
    done
    # 8 flows at once (the 2-vCPU boot of scripts/bench.sh).
    if has stream8; then
        echo "== stream8, repetition $r of $REPS"
        for f in $CUSTOMS inet; do run stream8 $f -P 8 -l $SECS; done
        for f in $CUSTOMS inet; do run stream8 $f -P 8 -l $SECS $VETH; done
    fi
    # The second harness: server and client threads of one process.
    if has threads || has t-stream || has t-rr || has t-rr-nodelay || has t-crr; then
        for t in stream rr rr-nodelay crr; do
            has threads || has "t-$t" || continue
            echo "== threads $t, repetition $r of $REPS"
            for f in $CUSTOMS inet unix; do run_threads $t $f -n lo -l $SECS; done
            for f in $CUSTOMS inet; do run_threads $t $f -n veth -l $SECS; done
        done
    fi
    # One epoll server, EPOLL_CONNS connections, one request each per round.
    if has epoll; then
        echo "== epoll, $EPOLL_CONNS connections, repetition $r of $REPS"
        for f in $CUSTOMS inet; do run epoll $f -n $EPOLL_CONNS -l $SECS; sleep 1; done
    fi
done
T1=$(cut -d' ' -f1 /proc/uptime)
echo "AFC-BENCH-INFO elapsed_s=$(echo "$T0 $T1" | awk '{ printf "%.0f", $2 - $1 }')"

# Flat kernel+user profiles (perf, cpu-clock sampling, whole system).
if [ -n "${BENCH_PROFILE:-}" ] && [ -x /afc/bin/perf ]; then
    echo "AFC-BENCH-PROFILE-BEGIN"
    for p in $BENCH_PROFILE; do
        t=${p%%:*}; rest=${p#*:}; f=${rest%%:*}; n=${rest#*:}
        args=""; [ "$n" = veth ] && args="$VETH"
        # A second-harness test (t-stream, t-rr, ...) runs threads_bench.
        PB=$B
        case "$t" in t-*) PB=$TB; t=${t#t-}; args="-n $n" ;; esac
        PORT=$((PORT + 1))
        echo "== profile $t $f $n"
        asked=$f; fam_begin "$f"; f=$FAM
        PORT=$((PORT + 1))
        /afc/bin/perf stat -e context-switches -a -o /tmp/perf.stat -- \
            $PB -t "$t" -f "$f" -p $PORT -l $SECS $args 2>&1 | grep '^RESULT' | cut -c1-700
        grep context-switches /tmp/perf.stat
        [ "$f" = custom ] && wait_idle
        /afc/bin/perf record -q -e cpu-clock -F 4000 -a -o /tmp/perf.data -- \
            $PB -t "$t" -f "$f" -p $PORT -l $SECS $args 2>&1 | grep '^RESULT' | cut -c1-700
        /afc/bin/perf report -i /tmp/perf.data --stdio --sort ${BENCH_SORT:-sym} --percent-limit ${BENCH_PCT:-0.7} 2>/dev/null |
            grep -v '^#' | grep -v "^$" | head -${BENCH_TOP:-45}
        # BENCH_SYMOFF="sub1 sub2": where in each symbol whose name
        # contains one of these the samples fell (symbol+offset, most
        # first), to read against `objdump -d` of the module on the host.
        for sub in ${BENCH_SYMOFF:-}; do
            echo "== offsets in *$sub* ($t $f $n)"
            /afc/bin/perf script -i /tmp/perf.data -F ip,sym,symoff 2>/dev/null | awk '{ print $2 }' | grep -F -- "$sub" |
                sed 's/^ *//' | sort | uniq -c | sort -rn | head -${BENCH_TOP:-45}
        done
        # BENCH_CALLERS="sym1 sym2": a second run with call graphs, and
        # the call chains that reach each of those symbols.
        if [ -n "${BENCH_CALLERS:-}" ]; then
            [ "$f" = custom ] && wait_idle
            PORT=$((PORT + 1))
            /afc/bin/perf record -q -g -e cpu-clock -F 4000 -a -o /tmp/perf.data -- \
                $PB -t "$t" -f "$f" -p $PORT -l $SECS $args 2>&1 | grep '^RESULT' | cut -c1-700
            for sym in $BENCH_CALLERS; do
                # "children": every symbol with the samples of what it
                # called (inclusive), to see which syscall or handler a
                # flat profile's time belongs to.
                if [ "$sym" = children ]; then
                    echo "== inclusive ($t $f $n)"
                    /afc/bin/perf report -i /tmp/perf.data --stdio --children -g none --sort sym \
                        --percent-limit ${BENCH_PCT:-0.7} 2>/dev/null | grep -v '^#' | grep -v "^$" | head -${BENCH_TOP:-45}
                    continue
                fi
                echo "== callers of $sym ($t $f $n)"
                /afc/bin/perf report -i /tmp/perf.data --stdio --no-children -G --symbols "$sym" \
                    --percent-limit 0 2>/dev/null | grep -v '^#' | grep -v "^$" | head -60
            done
            [ "$f" = custom ] && wait_idle
        fi
        [ "$f" = custom ] && wait_idle
        fam_end "$asked"
    done
    echo "AFC-BENCH-PROFILE-END"
fi

echo "== AF_CUSTOM counters at the end (afc-srv, afc-cli, init namespace)"
for ns in afc-srv afc-cli; do ip netns exec $ns cat /proc/net/af_custom_stat | grep -v ': 0$' | sed "s/^/$ns /"; done
grep -v ': 0$' /proc/net/af_custom_stat | sed 's/^/init /'

echo "AFC-BENCH-RESULTS-BEGIN"
cat $RES
[ -f /tmp/failures ] && cat /tmp/failures
echo "AFC-BENCH-RESULTS-END"
ip netns del afc-cli
ip netns del afc-srv
wait_idle
rmmod af_custom || true
exit 0

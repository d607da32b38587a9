#!/bin/sh
# Guest side of `make bench-hosts` (scripts/bench-hosts.sh, two guests of
# qemu/run-hosts.sh, one vCPU each): numbers the NICs as
# selftests/vm/hosts.sh does (virtio-net 10.99.0.N/24, e1000 10.98.0.N/24).
# Host 1 runs one afc_bench server daemon per family (-m server, bound to
# 0.0.0.0, so both NICs reach it) until host 2 tells them to quit; host 2
# runs stream, rr and crr against it, AF_CUSTOM and TCP, over virtio-net
# and over e1000, repetitions interleaved, and prints the RESULT lines
# (with both hosts' counters) between AFC-BENCH-RESULTS-BEGIN/END.
#
# Environment: BENCH_REPS (default 5), BENCH_SECS (seconds per run,
# default 2), BENCH_ONLY (a subset of: stream rr crr), BENCH_NETS (a subset
# of: virtio e1000), BENCH_FAMS (a subset of: custom inet), BENCH_PROFILE=1
# (with /afc/bin/perf: each host samples its whole CPU, cpu-clock, from
# before the first run to after the last, and prints a flat profile
# between AFC-BENCH-PROFILE-BEGIN/END: run one test, one NIC and one
# family at a time for a profile that means something), BENCH_PCT,
# BENCH_TOP (the profile's cut-offs).
B=/afc/afc_bench
REPS=${BENCH_REPS:-5}
SECS=${BENCH_SECS:-2}
ONLY=${BENCH_ONLY:-stream rr crr}
NETS=${BENCH_NETS:-virtio e1000}
FAMS=${BENCH_FAMS:-custom inet}
PCUSTOM=9100
PINET=9101

host=$(sed -n 's/.*afc\.host=\([0-9]*\).*/\1/p' /proc/cmdline)
for d in /sys/class/net/*; do
    n=${d##*/}
    [ -e "$d/device/driver" ] || continue
    case "$(basename "$(readlink "$d/device/driver")")" in
    virtio_net) VIRTIO_DEV=$n; ip addr add "10.99.0.$host/24" dev "$n" ;;
    e1000) E1000_DEV=$n; ip addr add "10.98.0.$host/24" dev "$n" ;;
    esac
    ip link set "$n" up
done
for i in $(seq 50); do
    [ "$(cat /sys/class/net/$VIRTIO_DEV/carrier 2>/dev/null)" = 1 ] &&
        [ "$(cat /sys/class/net/$E1000_DEV/carrier 2>/dev/null)" = 1 ] && break
    sleep 0.2
done
CS=/sys/devices/system/clocksource/clocksource0/current_clocksource
i=0
while [ "$(cat $CS)" != tsc ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "AFC-BENCH-INFO host=$host vcpus=$(grep -c ^processor /proc/cpuinfo) clocksource=$(cat $CS) kernel=$(uname -r) reps=$REPS secs=$SECS virtio=$VIRTIO_DEV e1000=$E1000_DEV mtu=$(cat /sys/class/net/$VIRTIO_DEV/mtu)/$(cat /sys/class/net/$E1000_DEV/mtu)"
[ "$(cat $CS)" = tsc ] || echo "AFC-BENCH-WARNING host $host: clocksource is $(cat $CS), not tsc: latencies are unreliable"
insmod /afc/af_custom.ko || exit 1
# crr leaves thousands of TCP connections in TIME_WAIT on the client.
echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse

counters() {
    echo "== AF_CUSTOM counters at the end (host $host)"
    grep -v ': 0$' /proc/net/af_custom_stat
}

# BENCH_PROFILE=1: this host's whole CPU, sampled while the runs go.
profiling=0
[ "${BENCH_PROFILE:-0}" = 1 ] && [ -x /afc/bin/perf ] && profiling=1
profile_start() {
    [ $profiling = 1 ] || return 0
    /afc/bin/perf record -q -e cpu-clock -F 2000 -a -o /tmp/perf.data > /tmp/perf.out 2>&1 & perf_pid=$!
    sleep 1
}
profile_end() {
    [ $profiling = 1 ] || return 0
    kill -INT $perf_pid; wait $perf_pid
    echo "AFC-BENCH-PROFILE-BEGIN host $host ($FAMS; $ONLY; $NETS)"
    /afc/bin/perf report -i /tmp/perf.data --stdio --sort sym --percent-limit ${BENCH_PCT:-0.5} 2>/dev/null |
        grep -v '^#' | grep -v "^$" | head -${BENCH_TOP:-60}
    echo "AFC-BENCH-PROFILE-END"
}

if [ "$host" = 1 ]; then
    profile_start
    $B -m server -f custom -a 0.0.0.0 -p $PCUSTOM & s1=$!
    $B -m server -f inet -a 0.0.0.0 -p $PINET & s2=$!
    rc=0
    wait $s1 || rc=1
    wait $s2 || rc=1
    profile_end
    counters
    i=0
    while [ "$(cat /sys/module/af_custom/refcnt)" != 0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    rmmod af_custom || rc=1
    exit $rc
fi

has() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
: > /tmp/results
run() { # test family net
    t=$1; f=$2; net=$3
    p=$PCUSTOM; [ $f = inet ] && p=$PINET
    a=10.99.0.1; [ $net = e1000 ] && a=10.98.0.1
    start=$(cut -d' ' -f1 /proc/uptime)
    if timeout 180 $B -m client -t $t -f $f -a $a -p $p -N $net -l $SECS > /tmp/one 2>/tmp/err; then
        cat /tmp/one >> /tmp/results
        echo "  $(cut -c1-150 /tmp/one)"
    else
        echo "AFC-BENCH-FAIL test=$t fam=$f net=$net rc=$? $(cat /tmp/err)"
        echo "FAILED test=$t fam=$f net=$net: $(cat /tmp/err)" >> /tmp/failures
    fi
    echo "  ($t $f $net: $(echo "$start $(cut -d' ' -f1 /proc/uptime)" | awk '{ printf "%.1f", $2 - $1 }') s)"
}
T0=$(cut -d' ' -f1 /proc/uptime)
profile_start
r=0; while [ $r -lt $REPS ]; do r=$((r + 1))
    for t in stream rr crr; do
        has $t || continue
        echo "== $t, repetition $r of $REPS"
        for net in $NETS; do
            for f in $FAMS; do run $t $f $net; done
        done
    done
done
profile_end
echo "AFC-BENCH-INFO elapsed_s=$(echo "$T0 $(cut -d' ' -f1 /proc/uptime)" | awk '{ printf "%.0f", $2 - $1 }')"
rc=0
$B -m client -t quit -f custom -a 10.99.0.1 -p $PCUSTOM || rc=1
$B -m client -t quit -f inet -a 10.99.0.1 -p $PINET || rc=1
counters
echo "AFC-BENCH-RESULTS-BEGIN"
cat /tmp/results
[ -f /tmp/failures ] && cat /tmp/failures
echo "AFC-BENCH-RESULTS-END"
i=0
while [ "$(cat /sys/module/af_custom/refcnt)" != 0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
rmmod af_custom || rc=1
exit $rc

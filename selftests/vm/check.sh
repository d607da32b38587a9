#!/bin/sh
# Guest side of `make check`: loads the module, runs every test program
# in /afc/tests (TAP), checks that the module unloads once every socket is
# closed, and prints one AFC-SUMMARY line for the host to add up.
# The host scans the whole console for kernel problems afterwards.

pass=0; fail=0; skip=0
export AFC_MODULE=/afc/af_custom.ko AFC_KERN_SOCK_MODULE=/afc/afc_kern_sock.ko

result() { # name status
    if [ "$2" = ok ]; then pass=$((pass + 1)); echo "ok - vm.$1"; else fail=$((fail + 1)); echo "not ok - vm.$1"; fi
}

# Debug kernel: forget what kmemleak saw during boot, so that only what
# the module and the tests leak is reported.
KMEMLEAK=/sys/kernel/debug/kmemleak
mount -t debugfs none /sys/kernel/debug 2>/dev/null
[ -e $KMEMLEAK ] && echo clear > $KMEMLEAK
# The debug kernel (KASAN, lockdep, kmemleak under TCG) is about ten
# times slower: the stress tests move less data there (the normal kernel
# runs the full sizes), and the syscall fuzzer allows each call longer
# before it counts as stuck.
# The programs also run in their TCP mode (see below) on the normal kernel;
# stream_stress@inet is left to hand runs (335 s in the VM: TCP's 200 ms
# minimum RTO under the loss tests), as is sysfuzz@inet.
AFC_TCP_TESTS="${AFC_TCP_TESTS-bind@inet stream@inet listen_scale@inet memory@inet lifetime@inet devbind@inet sockopts@inet cmsg@inet uring@inet socat@inet python_afc@inet urgent@inet rust_tokio@inet}"
# The ecosystem's tools (socat, Python, the capture for the dissector)
# drive kernel paths the C tests already cover: normal kernel only.
AFC_TOOL_TESTS="${AFC_TOOL_TESTS-socat python_afc capture}"
if [ -e $KMEMLEAK ]; then
    AFC_TCP_TESTS="${AFC_TCP_TESTS_DEBUG:-}"
    AFC_TOOL_TESTS="${AFC_TOOL_TESTS_DEBUG:-}"
    export AFC_STRESS_MB="${AFC_STRESS_MB:-2}" AFC_REUSEPORT_CONNS="${AFC_REUSEPORT_CONNS:-1000}"
    export AFC_NETNS_COUNT="${AFC_NETNS_COUNT:-100}"
    export AFC_SYNFLOOD_SECONDS="${AFC_SYNFLOOD_SECONDS:-8}" AFC_SYNFLOOD_CONNECTS="${AFC_SYNFLOOD_CONNECTS:-60}"
    export AFC_SYSFUZZ_SECONDS="${AFC_SYSFUZZ_SECONDS:-10}" AFC_SYSFUZZ_STUCK_S="${AFC_SYSFUZZ_STUCK_S:-60}"
    export AFC_FUZZ_FRAMES="${AFC_FUZZ_FRAMES:-100000}"
    export AFC_TOKIO_CLIENTS="${AFC_TOKIO_CLIENTS:-100}" AFC_TOKIO_CONNECTS="${AFC_TOKIO_CONNECTS:-500}"
    export AFC_DIAG_CONNS="${AFC_DIAG_CONNS:-300}" AFC_ACCEPT_ROUNDS="${AFC_ACCEPT_ROUNDS:-50}"
    # stream's 56 socket-API tests run over lo only (the harness's "-V
    # veth"): over veth they cost 167 s of the 20-minute budget, and the
    # device paths they would add (checksums, GSO, martians, neighbours)
    # are the debug kernel's in bind, frame_rx, devbind, offload,
    # stream_stress, sockopts and framefuzz, which run over veth.
    AFC_ARGS_stream="${AFC_ARGS_stream--V veth}"
    AFC_TEST_TIMEOUT="${AFC_TEST_TIMEOUT:-1200}"
fi

if insmod /afc/af_custom.ko; then result module_loads ok; else result module_loads fail; echo "AFC-SUMMARY passed=$pass failed=$fail skipped=$skip"; exit 1; fi

# Closed connections linger (TIME_WAIT, 2 s; FIN_WAIT_2 orphans up to
# 60 s) and each pins the module; wait until the last one is gone.
wait_module_idle() {
    i=0
    while [ -e /sys/module/af_custom/refcnt ] && [ "$(cat /sys/module/af_custom/refcnt)" != 0 ] && [ $i -lt 700 ]; do
        sleep 0.1; i=$((i + 1))
    done
}

# Runs the test programs named in "$@" one after another, printing their
# output, and adds their counts to pass/fail/skip of the calling shell.
# NAME@inet runs program NAME in its TCP mode (AFC_TEST_FAMILY=inet): the
# same test bodies against AF_INET/TCP, which is how their expectations
# stay TCP's.  $out is this list's scratch file.
run_list() {
    out=$1; shift
    for t in "$@"; do
        echo "# ---- $t"
        prog=${t%@inet}
        fam=; [ "$prog" != "$t" ] && fam=inet
        [ "$t" = module_pin ] && wait_module_idle
        t0=$(cut -d' ' -f1 /proc/uptime)
        # Each TAP result line is followed by the guest's uptime ("# at
        # S s"), so that a slow test can be told from a slow program.
        # AFC_ARGS_<program>: harness arguments (e.g. "-V veth": not that variant).
        eval "args=\${AFC_ARGS_$prog:-}"
        [ -n "$args" ] && echo "# $t runs with: $args"
        # shellcheck disable=SC2086 # args are words
        { AFC_TEST_FAMILY=$fam timeout "${AFC_TEST_TIMEOUT:-600}" "/afc/tests/$prog" $args 2>&1; echo $? > "$out.rc"; } |
            while IFS= read -r line || [ -n "$line" ]; do
                echo "$line"
                case "$line" in "ok "* | "not ok "*) read -r up _ < /proc/uptime; echo "# at $up s" ;; esac
            done > "$out"
        rc=$(cat "$out.rc")
        cat "$out"
        echo "# $t took $(echo "$t0 $(cut -d' ' -f1 /proc/uptime)" | awk '{ printf "%.0f", $2 - $1 }') s"
        totals="$(grep '^# Totals:' "$out" | tail -1)"
        if [ -z "$totals" ]; then
            echo "# $t exited $rc without a Totals line"
            fail=$((fail + 1))
            continue
        fi
        p=$(echo "$totals" | sed -n 's/.* pass:\([0-9]*\).*/\1/p')
        f=$(echo "$totals" | sed -n 's/.* fail:\([0-9]*\).*/\1/p')
        s=$(echo "$totals" | sed -n 's/.*skip:\([0-9]*\).*/\1/p')
        e=$(echo "$totals" | sed -n 's/.*error:\([0-9]*\).*/\1/p')
        pass=$((pass + p)); fail=$((fail + f + e)); skip=$((skip + s))
        if [ "$rc" != 0 ] && [ "$f" = 0 ] && [ "$e" = 0 ]; then
            echo "# $t exited $rc"; fail=$((fail + 1))
        fi
    done
}

AFC_LIST="socket_basic bind frame_rx rust_socket rust_stream rust_tokio stream stream_stress listen_scale memory orphans lifetime netns sysfuzz synflood devbind offload sockopts framefuzz cmsg uring urgent diag $AFC_TOOL_TESTS"
if [ -n "${AFC_TESTS:-}" ]; then
    run_list /tmp/out $AFC_TESTS
elif [ -n "$AFC_TCP_TESTS" ] && [ "${AFC_TCP_PARALLEL:-1}" = 1 ]; then
    # The TCP-mode programs run beside the AF_CUSTOM ones (they share
    # nothing: each test makes its own namespaces, TCP's sysctls are not
    # ours, and no AF_CUSTOM socket of theirs moves the module's count),
    # their output kept and printed after; AFC_TCP_PARALLEL=0 runs them
    # after the others instead.
    ( pass=0; fail=0; skip=0
      run_list /tmp/out.tcp $AFC_TCP_TESTS > /tmp/tcp.log 2>&1
      echo "$pass $fail $skip" > /tmp/tcp.counts ) &
    tcp_pid=$!
    run_list /tmp/out $AFC_LIST
    wait $tcp_pid
    echo "# ---- the TCP-mode programs, run beside the above"
    cat /tmp/tcp.log
    read -r p f s < /tmp/tcp.counts || { p=0; f=1; s=0; }
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
else
    run_list /tmp/out $AFC_LIST $AFC_TCP_TESTS
fi
# module_pin unloads and reloads the module: it runs last.
[ -z "${AFC_TESTS:-}" ] && run_list /tmp/out module_pin

wait_module_idle
if rmmod af_custom; then result module_unloads_after_tests ok; else result module_unloads_after_tests fail; fi
[ -d /sys/module/af_custom ] && result module_gone fail || result module_gone ok
if [ -e $KMEMLEAK ]; then
    # Objects must be older than kmemleak's minimum age (5 s) to count;
    # two scans make the report stable.
    sleep 6; echo scan > $KMEMLEAK; sleep 1; echo scan > $KMEMLEAK
    if [ -s $KMEMLEAK ]; then
        echo "# kmemleak reports:"; cat $KMEMLEAK
        result kmemleak_clean fail
    else
        result kmemleak_clean ok
    fi
fi
echo "AFC-SUMMARY passed=$pass failed=$fail skipped=$skip"
[ "$fail" = 0 ]

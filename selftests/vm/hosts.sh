#!/bin/sh
# Guest side of the multi-host tests (qemu/run-hosts.sh, scripts/hosts-tests.sh):
# numbers this guest's NICs by driver (virtio-net 10.99.0.N/24, e1000
# 10.98.0.N/24), runs selftests/af_custom/hosts.c over TCP and then over
# AF_CUSTOM, and on the surviving hosts checks that the module unloads.
# Host 1 reboots itself in the AF_CUSTOM pass (peer_rebooted); on its
# second boot (afc.boot=2) it runs the rest of that pass, whose last test
# pulls its plug.  Each boot prints one AFC-SUMMARY line.

host=$(sed -n 's/.*afc\.host=\([0-9]*\).*/\1/p' /proc/cmdline)
hosts=$(sed -n 's/.*afc\.hosts=\([0-9]*\).*/\1/p' /proc/cmdline)
boot=$(sed -n 's/.*afc\.boot=\([0-9]*\).*/\1/p' /proc/cmdline)
export AFC_HOST="$host" AFC_HOSTS="${hosts:-2}" AFC_HOSTS_BOOT="${boot:-1}" AFC_MODULE="/afc/af_custom.ko${AFC_MODULE_PARAMS:+ $AFC_MODULE_PARAMS}"
for d in /sys/class/net/*; do
    n=${d##*/}
    [ -e "$d/device/driver" ] || continue
    case "$(basename "$(readlink "$d/device/driver")")" in
    virtio_net) export AFC_VIRTIO_DEV=$n; ip addr add "10.99.0.$host/24" dev "$n" ;;
    e1000) export AFC_E1000_DEV=$n; ip addr add "10.98.0.$host/24" dev "$n" ;;
    esac
    ip link set "$n" up
done
echo "# host $host: virtio-net $AFC_VIRTIO_DEV, e1000 $AFC_E1000_DEV"
# Both links must have carrier before the first frame.
for i in $(seq 50); do
    [ "$(cat /sys/class/net/$AFC_VIRTIO_DEV/carrier 2>/dev/null)" = 1 ] &&
        [ "$(cat /sys/class/net/$AFC_E1000_DEV/carrier 2>/dev/null)" = 1 ] && break
    sleep 0.2
done

pass=0; fail=0; skip=0
add() { # totals line
    p=$(echo "$1" | sed -n 's/.* pass:\([0-9]*\).*/\1/p'); f=$(echo "$1" | sed -n 's/.* fail:\([0-9]*\).*/\1/p')
    s=$(echo "$1" | sed -n 's/.*skip:\([0-9]*\).*/\1/p')
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1})); skip=$((skip + ${s:-0}))
}
families="inet afc"
[ "$AFC_HOSTS_BOOT" = 2 ] && families=afc
for fam in $families; do
    echo "# ---- hosts ($fam)"
    t0=$(cut -d' ' -f1 /proc/uptime)
    if [ $fam = inet ]; then
        AFC_TEST_FAMILY=inet timeout 600 /afc/tests/hosts 2>&1 | tee /tmp/out
    else
        # Host 1 ends here (a reboot, then a power-off), printing its own
        # summary with these prior counts.
        AFC_HOSTS_PRIOR="$pass $fail $skip" AFC_HOSTS_POWEROFF=1 timeout 900 /afc/tests/hosts 2>&1 | tee /tmp/out
    fi
    echo "# hosts ($fam) took $(echo "$t0 $(cut -d' ' -f1 /proc/uptime)" | awk '{ printf "%.0f", $2 - $1 }') s"
    totals="$(grep '^# Totals:' /tmp/out | tail -1)"
    [ -n "$totals" ] || totals="# Totals: pass:0 fail:1 skip:0"
    add "$totals"
done
# Host 1 is gone by now (peer_powered_off); the others closed everything.
# The namespace's counters, for the log (those that moved).
grep -v ': 0$' /proc/net/af_custom_stat 2>/dev/null | sed 's/^/# af_custom_stat /'
i=0
while [ "$(cat /sys/module/af_custom/refcnt 2>/dev/null)" != 0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if rmmod af_custom; then pass=$((pass + 1)); echo "ok - hosts.module_unloads"; else fail=$((fail + 1)); echo "not ok - hosts.module_unloads"; fi
echo "AFC-SUMMARY passed=$pass failed=$fail skipped=$skip"
[ "$fail" = 0 ]

#!/bin/sh
# Guest side of `make run`: load the module and show it working: the
# family and a raw frame, then a real echo exchange over lo and between
# two network namespaces joined by a veth pair.  The Makefile prints
# everything from "== insmod" to the end, without the kernel's log lines.
set -e
BYTES=1048576
echo "== insmod af_custom.ko"
insmod /afc/af_custom.ko
grep -i "af_custom\|PF_IRDA" /proc/net/protocols /proc/modules 2>/dev/null || true

echo
echo "== a socket, and one raw 0x88B5 frame on lo"
/afc/tests/afc_demo

echo
echo "== echo over lo: server and client in one process, 127.0.0.1"
/afc/tests/afc_echo lo $BYTES

echo
echo "== echo between network namespaces: server in afc-srv (10.77.0.1), client in afc-cli (10.77.0.2)"
ip netns add afc-srv
ip netns add afc-cli
ip link add veth-srv netns afc-srv type veth peer name veth-cli netns afc-cli
ip -n afc-srv addr add 10.77.0.1/24 dev veth-srv
ip -n afc-cli addr add 10.77.0.2/24 dev veth-cli
for ns in afc-srv afc-cli; do ip -n $ns link set lo up; done
ip -n afc-srv link set veth-srv up
ip -n afc-cli link set veth-cli up
echo "veth pair: afc-srv/veth-srv 10.77.0.1/24 <-> afc-cli/veth-cli 10.77.0.2/24"
# The server's lines are shown after the client's, so they do not mix.
ip netns exec afc-srv /afc/tests/afc_echo server 10.77.0.1:7000 >/tmp/server.out 2>&1 &
srv=$!
if ! ip netns exec afc-cli /afc/tests/afc_echo client 10.77.0.1:7000 "hello from the client's namespace" $BYTES; then
    kill $srv 2>/dev/null || true
    cat /tmp/server.out
    exit 1
fi
wait $srv || { cat /tmp/server.out; exit 1; }
echo "-- meanwhile, in afc-srv:"
cat /tmp/server.out
echo "-- the counters of afc-srv that moved (/proc/net/af_custom_stat is per namespace):"
ip netns exec afc-srv cat /proc/net/af_custom_stat | grep -v ': 0$' || echo "(none)"
ip netns del afc-cli
ip netns del afc-srv

echo
echo "== /proc/net/af_custom_stat (first namespace: lo and the raw frame)"
cat /proc/net/af_custom_stat
echo "== rmmod (after the closed connections leave TIME_WAIT, 2 s)"
i=0
while [ "$(cat /sys/module/af_custom/refcnt)" != 0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
rmmod af_custom
echo "module unloaded cleanly"

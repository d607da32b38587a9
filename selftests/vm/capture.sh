#!/bin/sh
# Guest program "capture": a small AF_CUSTOM exchange between two
# namespaces over veth (10.78.0.1 listens on 7000, 10.78.0.2 connects,
# sends "hello", gets "world" back, both close), captured by tcpdump on the
# listener's side ('ether proto 0x88b5'), printed base64 between
# AFC-PCAP-BEGIN and AFC-PCAP-END for the host's dissector test
# (scripts/check-dissector.sh).  TAP: the capture holds frames.
set -u
ip netns add capa && ip netns add capb || exit 1
cleanup() { ip netns del capa 2>/dev/null; ip netns del capb 2>/dev/null; }
ip link add cva netns capa type veth peer name cvb netns capb
ip -n capa addr add 10.78.0.1/24 dev cva; ip -n capa link set cva up; ip -n capa link set lo up
ip -n capb addr add 10.78.0.2/24 dev cvb; ip -n capb link set cvb up; ip -n capb link set lo up
ip netns exec capa tcpdump -U -q -i cva -w /tmp/capture.pcap 'ether proto 0x88b5' 2>/tmp/tcpdump.err &
tp=$!
sleep 1
ip netns exec capa python3 -c '
import sys; sys.path.insert(0, "/afc/tests"); import afc
srv = afc.create_server(("10.78.0.1", 7000)); srv.settimeout(20)
s, _ = afc.accept(srv); s.settimeout(20)
assert s.recv(5) == b"hello"; s.sendall(b"world"); s.close()
' &
sp=$!
sleep 1
ip netns exec capb python3 -c '
import sys, time; sys.path.insert(0, "/afc/tests"); import afc
for i in range(100):   # the server may still be starting
    try:
        c = afc.create_connection(("10.78.0.1", 7000), timeout=20)
        break
    except ConnectionRefusedError:
        time.sleep(0.2)
c.sendall(b"hello"); assert c.recv(5) == b"world"; c.recv(1); c.close()
'
rc=$?
wait $sp; rc2=$?
sleep 3   # the last ACKs
kill -INT $tp; wait $tp
frames=$(ip netns exec capa tcpdump -r /tmp/capture.pcap 2>/dev/null | wc -l)
cleanup
echo "TAP version 13"
echo "1..1"
if [ "$rc" = 0 ] && [ "$rc2" = 0 ] && [ "$frames" -ge 6 ]; then
    echo "ok 1 capture.exchange_captured # $frames frames"
    echo "AFC-PCAP-BEGIN"; base64 /tmp/capture.pcap; echo "AFC-PCAP-END"
    echo "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0"
else
    cat /tmp/tcpdump.err
    echo "# client $rc, server $rc2, $frames frames"
    echo "not ok 1 capture.exchange_captured"
    echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
    exit 1
fi

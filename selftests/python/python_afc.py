#!/usr/bin/python3
"""Tests of afc.py (rust/userspace/python): the sync helpers and the
asyncio streams, over AF_CUSTOM in the VM (as program python_afc, afc.py
beside it) and over TCP with AFC_FAMILY=inet or AFC_TEST_FAMILY=inet (the
same code; also how make check runs it on the host). Prints TAP and a
"# Totals:" line as the C tests do. Each test runs in a network
namespace of its own when it can make one (root), else in the caller's.
"""

import asyncio
import errno
import os
import resource
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "rust", "userspace", "python"))
if os.environ.get("AFC_TEST_FAMILY") == "inet":
    os.environ["AFC_FAMILY"] = "inet"
import afc  # noqa: E402

LEN = 1 << 20


def pattern(n, seed=0):
    return bytes((i * 7 + seed) % 251 for i in range(n))


def recv_all(s):
    out = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(out)
        out += b


def test_sync_echo_and_names():
    srv = afc.create_server(("127.0.0.1", 0))
    port = afc.getsockname(srv)[1]
    assert port != 0, "the kernel picked port 0"
    data = pattern(LEN)

    def serve():
        s, _ = afc.accept(srv)
        with s:
            got = recv_all(s)
            s.sendall(got)

    t = threading.Thread(target=serve)
    t.start()
    c = afc.create_connection(("127.0.0.1", port), timeout=10)
    with c:
        assert afc.getpeername(c) == ("127.0.0.1", port)
        assert afc.getsockname(c)[0] == "127.0.0.1"
        c.settimeout(30)
        w = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
        w.start()
        back = recv_all(c)
        w.join()
    t.join()
    srv.close()
    assert back == data, f"echo of {len(back)} bytes differs"


def test_refused():
    srv = afc.create_server(("127.0.0.1", 0))
    port = afc.getsockname(srv)[1]
    srv.close()
    try:
        afc.create_connection(("127.0.0.1", port), timeout=10).close()
    except ConnectionRefusedError:
        return
    raise AssertionError("connect to a closed port succeeded")


def test_accept_timeout():
    srv = afc.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    try:
        afc.accept(srv)
    except TimeoutError:
        return
    finally:
        srv.close()
    raise AssertionError("accept with nothing queued returned")


def test_asyncio_many_clients_and_no_busy_loop():
    n_clients = 50

    async def handle(reader, writer):
        data = await reader.read()
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def client(port, i):
        reader, writer = await afc.open_connection(("127.0.0.1", port))
        payload = pattern(4096 + i, i)
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        back = await reader.read()
        writer.close()
        await writer.wait_closed()
        assert back == payload, f"client {i}: echo differs"

    async def main():
        server = await afc.start_server(handle, ("127.0.0.1", 0))
        port = afc.getsockname(server.sockets[0])[1]
        # An idle server must not spin (asyncio's own accept loop would).
        t0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(1.0)
        t1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime)
        assert cpu < 0.3, f"the idle server used {cpu:.2f} s of CPU in 1 s"
        await asyncio.wait_for(asyncio.gather(*(client(port, i) for i in range(n_clients))), 60)
        async with server:
            pass

    asyncio.run(main())


def test_asyncio_refused():
    async def main():
        srv = afc.create_server(("127.0.0.1", 0))
        port = afc.getsockname(srv)[1]
        srv.close()
        try:
            await asyncio.wait_for(afc.open_connection(("127.0.0.1", port)), 10)
        except ConnectionRefusedError:
            return
        raise AssertionError("open_connection to a closed port succeeded")

    asyncio.run(main())


def in_fresh_netns(fn):
    """Runs fn in a child in a network namespace of its own (lo up), as
    the C tests do; the child's exception is the result."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if hasattr(os, "unshare") and os.geteuid() == 0:
                os.unshare(os.CLONE_NEWNET)
                os.system("ip link set lo up")
            fn()
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, st = os.waitpid(pid, 0)
    return os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_")]
    print("TAP version 13")
    print(f"1..{len(tests)}")
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        sys.stdout.flush()
        t0 = time.monotonic()
        ok = in_fresh_netns(fn)
        print(f"# {name}: {time.monotonic() - t0:.1f} s")
        print(f"{'ok' if ok else 'not ok'} {i} python_afc.{name[5:]}")
        failed += not ok
    print(f"# Totals: pass:{len(tests) - failed} fail:{failed} xfail:0 xpass:0 skip:0 error:0")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

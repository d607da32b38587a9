"""AF_CUSTOM from Python: sockets, a server and a client, and asyncio streams.

CPython opens, reads, writes, polls and sets options on a socket of any
family, but its bind, connect, accept, getsockname and getpeername refuse
a family it does not know ("bad family"). This module does those through
libc (ctypes) with a ``struct sockaddr_custom``, which is laid out like
``struct sockaddr_in``, and hands back ordinary ``socket.socket`` objects.

    import afc
    srv = afc.create_server(("0.0.0.0", 7000))
    c = afc.create_connection(("127.0.0.1", 7000))
    s, peer = afc.accept(srv)

    reader, writer = await afc.open_connection(("127.0.0.1", 7000))
    server = await afc.start_server(handle, ("0.0.0.0", 7000))

The family number is read from sysfs at run time (the module parameter
``family``). With ``AFC_FAMILY=inet`` in the environment every call uses
AF_INET/TCP through the same code (how the module is tested on a host
without AF_CUSTOM). asyncio's ``start_server(sock=...)`` must not be
used on an AF_CUSTOM listener: its accept loop calls ``socket.accept``,
which fails for the unknown family and is retried at once (a busy loop);
``start_server`` here accepts from a reader callback instead.
"""

import asyncio
import ctypes
import errno
import os
import socket
import struct

__all__ = [
    "FAMILY_PATH", "SOL_AF_CUSTOM", "family", "socket_", "bind", "connect",
    "connect_ex", "accept", "getsockname", "getpeername", "create_server",
    "create_connection", "open_connection", "start_server", "Server",
]

FAMILY_PATH = "/sys/module/af_custom/parameters/family"
SOL_AF_CUSTOM = 283
_SOCKADDR_LEN = 16

_libc = ctypes.CDLL(None, use_errno=True)
_libc.getsockname.argtypes = _libc.getpeername.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_libc.bind.argtypes = _libc.connect.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.accept4.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]


def family():
    """The address family in use: the module's number, or AF_INET under
    ``AFC_FAMILY=inet``. OSError(ENOENT) if the module is not loaded."""
    if os.environ.get("AFC_FAMILY") == "inet":
        return socket.AF_INET
    with open(FAMILY_PATH) as f:
        return int(f.read())


def _check(rc):
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


def _encode(addr, fam):
    ip, port = addr
    return struct.pack("=HH4s8x", fam, socket.htons(port), socket.inet_aton(ip or "0.0.0.0"))


def _decode(raw):
    _fam, port, ip = struct.unpack("=HH4s8x", raw[:_SOCKADDR_LEN])
    return socket.inet_ntoa(ip), socket.ntohs(port)


def socket_(nonblocking=False):
    """A new stream socket of the family (``socket.socket``)."""
    return socket.socket(family(), socket.SOCK_STREAM | (socket.SOCK_NONBLOCK if nonblocking else 0))


def bind(sock, addr):
    """``bind(2)`` to ``(ip, port)``."""
    a = _encode(addr, sock.family)
    _check(_libc.bind(sock.fileno(), a, len(a)))


def connect_ex(sock, addr):
    """``connect(2)``: 0, or the errno (EINPROGRESS on a nonblocking
    socket), as ``socket.connect_ex``."""
    a = _encode(addr, sock.family)
    return 0 if _libc.connect(sock.fileno(), a, len(a)) == 0 else ctypes.get_errno()


def connect(sock, addr):
    """``connect(2)``, blocking as the socket is (its timeout included)."""
    e = connect_ex(sock, addr)
    if e == 0:
        return
    if e in (errno.EINPROGRESS, errno.EAGAIN) and sock.gettimeout() is not None:
        # A socket with a timeout is nonblocking underneath, as CPython's.
        import select
        _, w, _ = select.select([], [sock], [], sock.gettimeout())
        if not w:
            raise TimeoutError(errno.ETIMEDOUT, "connect timed out")
        e = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if e == 0:
            return
    raise OSError(e, os.strerror(e))


def _name(fn, sock):
    buf = ctypes.create_string_buffer(_SOCKADDR_LEN)
    n = ctypes.c_uint32(_SOCKADDR_LEN)
    _check(fn(sock.fileno(), buf, ctypes.byref(n)))
    return _decode(buf.raw)


def getsockname(sock):
    """The local ``(ip, port)``."""
    return _name(_libc.getsockname, sock)


def getpeername(sock):
    """The peer's ``(ip, port)``."""
    return _name(_libc.getpeername, sock)


def accept(sock, nonblocking=False):
    """``accept4(2)``: ``(socket, (ip, port))``; the new socket is
    close-on-exec, and nonblocking if asked."""
    if sock.gettimeout() is not None:
        # A socket with a timeout is nonblocking underneath: wait here.
        import select
        r, _, _ = select.select([sock], [], [], sock.gettimeout())
        if not r:
            raise TimeoutError(errno.ETIMEDOUT, "accept timed out")
    buf = ctypes.create_string_buffer(_SOCKADDR_LEN)
    n = ctypes.c_uint32(_SOCKADDR_LEN)
    flags = socket.SOCK_CLOEXEC | (socket.SOCK_NONBLOCK if nonblocking else 0)
    fd = _check(_libc.accept4(sock.fileno(), buf, ctypes.byref(n), flags))
    return socket.socket(sock.family, socket.SOCK_STREAM, 0, fileno=fd), _decode(buf.raw)


def create_server(addr, backlog=128, reuse_port=False):
    """A listening socket on ``(ip, port)`` (port 0: the kernel picks)."""
    s = socket_()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        bind(s, addr)
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return s


def create_connection(addr, timeout=None):
    """A socket connected to ``(ip, port)``, within ``timeout`` seconds."""
    s = socket_()
    try:
        s.settimeout(timeout)
        connect(s, addr)
    except BaseException:
        s.close()
        raise
    return s


async def _connect_async(sock, addr):
    loop = asyncio.get_running_loop()
    e = connect_ex(sock, addr)
    if e == 0:
        return
    if e not in (errno.EINPROGRESS, errno.EAGAIN):
        raise OSError(e, os.strerror(e))
    done = loop.create_future()
    loop.add_writer(sock.fileno(), lambda: done.done() or done.set_result(None))
    try:
        await done
    finally:
        loop.remove_writer(sock.fileno())
    e = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if e:
        raise OSError(e, os.strerror(e))


async def open_connection(addr, **kwds):
    """``asyncio.open_connection`` for the family: ``(reader, writer)``."""
    s = socket_(nonblocking=True)
    try:
        await _connect_async(s, addr)
    except BaseException:
        s.close()
        raise
    return await asyncio.open_connection(sock=s, **kwds)


class Server:
    """What ``start_server`` returns: ``close()``, ``wait_closed()``,
    ``sockets``, and ``async with``."""

    def __init__(self, sock, callback, loop):
        self.sockets = [sock]
        self._cb = callback
        self._loop = loop
        self._tasks = set()
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self):
        # Take every queued connection (the listener stays readable only
        # while its accept queue holds one).
        while self.sockets:
            try:
                conn, _ = accept(self.sockets[0], nonblocking=True)
            except BlockingIOError:
                return
            except OSError:
                return
            t = self._loop.create_task(self._serve(conn))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _serve(self, conn):
        reader, writer = await asyncio.open_connection(sock=conn)
        await self._cb(reader, writer)

    def close(self):
        for s in self.sockets:
            self._loop.remove_reader(s.fileno())
            s.close()
        self.sockets = []

    async def wait_closed(self):
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
        await self.wait_closed()


async def start_server(client_connected_cb, addr, backlog=128, reuse_port=False):
    """``asyncio.start_server`` for the family: calls
    ``client_connected_cb(reader, writer)`` for each connection, accepting
    from a reader callback (never asyncio's accept loop)."""
    s = create_server(addr, backlog, reuse_port)
    s.setblocking(False)
    return Server(s, client_connected_cb, asyncio.get_running_loop())

//! AF_CUSTOM streams over lo through the `afc-socket` crate: echo with
//! `Read`/`Write` on `&Stream` from two threads, nonblocking accept and
//! read, refused connects, shutdown, peer close, `SO_ERROR`, `AFC_NODELAY`
//! and the socket timeouts, each checked against what std gives for TCP.
//!
//! With `AFC_FAMILY=inet` the same program runs over TCP (host check of
//! the tests themselves).

use afc_selftests::{ensure, family, run, Ctx};
use afc_socket::{Listener, SockAddr, Stream};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown};
use std::os::fd::{AsRawFd, FromRawFd};
use std::thread;
use std::time::{Duration, Instant};

/// Bounds every blocking read of a test, so that a lost wake-up fails the
/// test instead of hanging it.
const GUARD: Duration = Duration::from_secs(10);

/// A listener on 127.0.0.1 at a port the kernel picks.
fn listener() -> Result<(Listener, SockAddr), String> {
    let l = Listener::bind(SockAddr::localhost(0))
        .ctx("Listener::bind 127.0.0.1:0 (socket, bind, listen)")?;
    let a = l.local_addr().ctx("listener local_addr")?;
    Ok((l, a))
}

/// A connected (client, server) pair over lo, both with [`GUARD`] as read timeout.
fn pair() -> Result<(Stream, Stream), String> {
    let (l, a) = listener()?;
    let c = Stream::connect(a).ctx("connect")?;
    let (s, _) = l.accept().ctx("accept")?;
    for x in [&c, &s] {
        x.set_read_timeout(Some(GUARD)).ctx("set_read_timeout")?;
    }
    Ok((c, s))
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn echo_two_threads() -> Result<(), String> {
    const LEN: usize = 1 << 20;
    let (l, addr) = listener()?;
    let server = thread::spawn(move || -> Result<u64, String> {
        let (conn, _) = l.accept().ctx("accept")?;
        conn.set_read_timeout(Some(GUARD)).ctx("set_read_timeout")?;
        io::copy(&mut &conn, &mut &conn).ctx("server echo")
    });
    let c = Stream::connect(addr).ctx("connect")?;
    c.set_read_timeout(Some(GUARD)).ctx("set_read_timeout")?;
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let mut back = Vec::with_capacity(LEN);
    // One thread writes through &Stream while this one reads through &Stream.
    let wrote = thread::scope(|s| {
        let w = s.spawn(|| -> Result<(), String> {
            let mut c = &c;
            c.write_all(&data).ctx("client write_all")?;
            c.shutdown(Shutdown::Write).ctx("shutdown(Write)")
        });
        let r = (&c).read_to_end(&mut back).ctx("client read_to_end");
        w.join().map_err(|_| "writer panicked".to_string())?.and(r)
    })?;
    let echoed = server.join().map_err(|_| "server panicked".to_string())??;
    ensure(echoed == LEN as u64, || {
        format!("server echoed {echoed} bytes, want {LEN}")
    })?;
    ensure(wrote == LEN, || {
        format!("read back {wrote} bytes, want {LEN}")
    })?;
    match back.iter().enumerate().find(|&(i, &b)| b != pattern(i)) {
        Some((i, b)) => Err(format!("byte {i} is {b}, want {}", pattern(i))),
        None => Ok(()),
    }
}

fn addresses() -> Result<(), String> {
    let l =
        Listener::bind(SockAddr::any(0)).ctx("Listener::bind 0.0.0.0:0 (socket, bind, listen)")?;
    let port = l.local_addr().ctx("local_addr")?.port();
    ensure(port != 0, || "the kernel picked port 0".into())?;
    ensure(
        l.local_addr().ctx("local_addr")? == SockAddr::any(port),
        || "listener not on 0.0.0.0".into(),
    )?;
    let c = Stream::connect(SockAddr::localhost(port)).ctx("connect 127.0.0.1")?;
    let (s, peer) = l.accept().ctx("accept")?;
    let cl = c.local_addr().ctx("client local_addr")?;
    ensure(cl.ip() == Ipv4Addr::LOCALHOST && cl.port() != 0, || {
        format!("client local {cl}")
    })?;
    ensure(peer == cl, || format!("accept says {peer}, client is {cl}"))?;
    ensure(s.peer_addr().ctx("server peer_addr")? == cl, || {
        "server peer_addr".into()
    })?;
    let sl = s.local_addr().ctx("server local_addr")?;
    ensure(sl == SockAddr::localhost(port), || {
        format!("accepted socket local {sl}")
    })?;
    let cp = c.peer_addr().ctx("client peer_addr")?;
    ensure(cp == sl, || format!("client peer {cp}, server local {sl}"))
}

fn incoming_sequential_clients() -> Result<(), String> {
    let (l, addr) = listener()?;
    let server = thread::spawn(move || -> Result<(), String> {
        for conn in l.incoming().take(5) {
            let mut conn = conn.ctx("incoming")?;
            conn.set_read_timeout(Some(GUARD)).ctx("set_read_timeout")?;
            let mut b = [0u8; 1];
            conn.read_exact(&mut b).ctx("server read")?;
            conn.write_all(&[b[0].wrapping_add(1)])
                .ctx("server write")?;
        }
        Ok(())
    });
    for i in 0..5u8 {
        let mut c = Stream::connect_timeout(addr, GUARD).ctx("connect_timeout")?;
        c.set_read_timeout(Some(GUARD)).ctx("set_read_timeout")?;
        c.write_all(&[i]).ctx("client write")?;
        let mut b = [0u8; 1];
        c.read_exact(&mut b).ctx("client read")?;
        ensure(b[0] == i + 1, || format!("client {i} got {}", b[0]))?;
    }
    server.join().map_err(|_| "server panicked".to_string())?
}

fn nonblocking_accept_would_block() -> Result<(), String> {
    let (l, addr) = listener()?;
    l.set_nonblocking(true).ctx("set_nonblocking")?;
    match l.accept() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(format!("accept with nothing queued: {e}, want WouldBlock")),
        Ok(_) => return Err("accept with nothing queued returned a connection".into()),
    }
    let c = Stream::connect(addr).ctx("connect")?;
    let deadline = Instant::now() + GUARD;
    let (s, _) = loop {
        match l.accept() {
            Ok(x) => break x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(format!("accept after connect: {e}")),
        }
    };
    // The accepted socket is blocking even though the listener is not.
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .ctx("set_read_timeout")?;
    (&c).write_all(b"ok").ctx("write")?;
    let mut b = [0u8; 2];
    (&s).read_exact(&mut b).ctx("read on the accepted socket")?;
    ensure(&b == b"ok", || format!("read {b:?}"))
}

fn nonblocking_read_would_block() -> Result<(), String> {
    let (c, s) = pair()?;
    s.set_nonblocking(true).ctx("set_nonblocking")?;
    match (&s).read(&mut [0u8; 16]) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => {
            return Err(format!(
                "nonblocking read with nothing sent: {other:?}, want WouldBlock"
            ))
        }
    }
    (&c).write_all(b"abc").ctx("write")?;
    let deadline = Instant::now() + GUARD;
    let mut buf = [0u8; 16];
    loop {
        match (&s).read(&mut buf) {
            Ok(n) => return ensure(&buf[..n] == b"abc", || format!("read {:?}", &buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(format!("nonblocking read after write: {e}")),
        }
    }
}

/// An address where nothing listens: a port the kernel gave a listener
/// that is closed again.
fn closed_port() -> Result<SockAddr, String> {
    let (_l, a) = listener()?;
    Ok(a)
}

fn connect_refused() -> Result<(), String> {
    let a = closed_port()?;
    match Stream::connect(a) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
        other => {
            return Err(format!(
                "connect to closed {a}: {other:?}, want ConnectionRefused"
            ))
        }
    }
    match Stream::connect_timeout(a, GUARD) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        other => Err(format!(
            "connect_timeout to closed {a}: {other:?}, want ConnectionRefused"
        )),
    }
}

fn take_error() -> Result<(), String> {
    // No error pending on healthy sockets.
    let (c, s) = pair()?;
    ensure(c.take_error().ctx("take_error")?.is_none(), || {
        "error pending on a client".into()
    })?;
    ensure(s.take_error().ctx("take_error")?.is_none(), || {
        "error pending on a server".into()
    })?;
    let (l, _) = listener()?;
    ensure(l.take_error().ctx("take_error")?.is_none(), || {
        "error pending on a listener".into()
    })?;

    // A nonblocking connect to a closed port leaves ECONNREFUSED in SO_ERROR.
    let a = closed_port()?;
    let fam = family().ctx("family")?;
    // SAFETY: plain syscall; the fd goes to Stream at once.
    let fd = unsafe {
        libc::socket(
            fam,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(format!("socket: {}", io::Error::last_os_error()));
    }
    // SAFETY: fd is fresh and owned by nobody else.
    let st = unsafe { Stream::from_raw_fd(fd) };
    let sin = libc::sockaddr_in {
        sin_family: fam as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sin is a valid 16-byte sockaddr.
    let r = unsafe { libc::connect(fd, (&sin as *const libc::sockaddr_in).cast(), 16) };
    let e = io::Error::last_os_error();
    if r == 0 {
        return Err("nonblocking connect to a closed port succeeded".into());
    }
    match e.raw_os_error() {
        Some(libc::EINPROGRESS) => {
            let mut pfd = libc::pollfd {
                fd: st.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, GUARD.as_millis() as i32) };
            ensure(n == 1, || {
                format!("poll after nonblocking connect returned {n}")
            })?;
            match st.take_error().ctx("take_error")? {
                Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                other => {
                    return Err(format!(
                        "SO_ERROR after refused connect: {other:?}, want ECONNREFUSED"
                    ))
                }
            }
        }
        // The refusal came back within connect(2) itself: nothing stays pending.
        Some(libc::ECONNREFUSED) => {}
        _ => return Err(format!("nonblocking connect to a closed port: {e}")),
    }
    ensure(st.take_error().ctx("take_error")?.is_none(), || {
        "SO_ERROR not cleared by reading it".into()
    })
}

fn shutdown_write_gives_eof() -> Result<(), String> {
    let (c, s) = pair()?;
    (&c).write_all(b"last words").ctx("write")?;
    c.shutdown(Shutdown::Write).ctx("shutdown(Write)")?;
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).ctx("read to EOF")?;
    ensure(got == b"last words", || format!("peer read {got:?}"))?;
    ensure((&s).read(&mut [0u8; 4]).ctx("read after EOF")? == 0, || {
        "EOF not sticky".into()
    })?;
    // Half-closed: the other direction still carries data.
    (&s).write_all(b"reply").ctx("write back")?;
    s.shutdown(Shutdown::Write).ctx("server shutdown(Write)")?;
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).ctx("client read to EOF")?;
    ensure(got == b"reply", || format!("client read {got:?}"))?;
    // Writing after our own shutdown(Write) is EPIPE (no SIGPIPE).
    match (&c).write(b"x") {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Err(format!(
            "write after shutdown(Write): {other:?}, want BrokenPipe"
        )),
    }
}

fn peer_close_eof_then_broken_pipe() -> Result<(), String> {
    let (c, s) = pair()?;
    drop(s);
    ensure(
        (&c).read(&mut [0u8; 8]).ctx("read after peer close")? == 0,
        || "no EOF after peer close".into(),
    )?;
    // The first write draws the peer's reset, a later one fails; MSG_NOSIGNAL
    // keeps SIGPIPE from killing this program.
    let deadline = Instant::now() + GUARD;
    loop {
        match (&c).write(&[0u8; 512]) {
            Ok(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(_) => return Err("writes to a closed peer kept succeeding".into()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(())
            }
            Err(e) => {
                return Err(format!(
                    "write to a closed peer: {e}, want BrokenPipe or ConnectionReset"
                ))
            }
        }
    }
}

fn nodelay_round_trip() -> Result<(), String> {
    let (c, s) = pair()?;
    ensure(!c.nodelay().ctx("nodelay")?, || {
        "AFC_NODELAY set by default".into()
    })?;
    c.set_nodelay(true).ctx("set_nodelay(true)")?;
    ensure(c.nodelay().ctx("nodelay")?, || {
        "AFC_NODELAY did not stick".into()
    })?;
    ensure(!s.nodelay().ctx("nodelay")?, || {
        "AFC_NODELAY leaked to the peer".into()
    })?;
    // Small ping-pongs with Nagle off.
    for i in 0..50u8 {
        (&c).write_all(&[i]).ctx("ping")?;
        let mut b = [0u8; 1];
        (&s).read_exact(&mut b).ctx("read ping")?;
        (&s).write_all(&b).ctx("pong")?;
        (&c).read_exact(&mut b).ctx("read pong")?;
        ensure(b[0] == i, || format!("pong {} for ping {i}", b[0]))?;
    }
    c.set_nodelay(false).ctx("set_nodelay(false)")?;
    ensure(!c.nodelay().ctx("nodelay")?, || {
        "AFC_NODELAY did not clear".into()
    })
}

fn read_timeout() -> Result<(), String> {
    let (c, _s) = pair()?;
    let t = Duration::from_millis(200);
    c.set_read_timeout(Some(t)).ctx("set_read_timeout")?;
    let got = c.read_timeout().ctx("read_timeout")?;
    // Kept in jiffies: read back possibly rounded up.
    ensure(
        matches!(got, Some(d) if d >= t && d <= t + Duration::from_millis(20)),
        || format!("read_timeout() = {got:?}"),
    )?;
    let start = Instant::now();
    let r = (&c).read(&mut [0u8; 8]);
    let took = start.elapsed();
    match r {
        // std on Linux: EAGAIN, kind WouldBlock (TimedOut elsewhere).
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => {
            return Err(format!(
                "read with nothing sent: {other:?}, want WouldBlock/TimedOut"
            ))
        }
    }
    ensure(
        took >= Duration::from_millis(180) && took < Duration::from_secs(5),
        || format!("timed out after {took:?}, want about {t:?}"),
    )?;
    match c.set_read_timeout(Some(Duration::ZERO)) {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
        other => return Err(format!("set_read_timeout(0): {other:?}, want InvalidInput")),
    }
    c.set_read_timeout(None).ctx("set_read_timeout(None)")?;
    ensure(c.read_timeout().ctx("read_timeout")?.is_none(), || {
        "read timeout not cleared".into()
    })
}

fn write_timeout_when_peer_does_not_read() -> Result<(), String> {
    let (c, _s) = pair()?;
    let t = Duration::from_millis(300);
    c.set_write_timeout(Some(t)).ctx("set_write_timeout")?;
    let got = c.write_timeout().ctx("write_timeout")?;
    ensure(
        matches!(got, Some(d) if d >= t && d <= t + Duration::from_millis(20)),
        || format!("write_timeout() = {got:?}"),
    )?;
    // The peer never reads: the windows and buffers fill, then a write
    // waits for the timeout and fails.
    let chunk = vec![7u8; 64 << 10];
    let mut total = 0usize;
    let start = Instant::now();
    loop {
        let before = Instant::now();
        match (&c).write(&chunk) {
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let waited = before.elapsed();
                return ensure(waited >= Duration::from_millis(250), || {
                    format!("write timed out after {waited:?}, want about {t:?}")
                });
            }
            Err(e) => return Err(format!("write after {total} bytes: {e}")),
        }
        if total > 256 << 20 || start.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "{total} bytes written to a peer that never reads without blocking"
            ));
        }
    }
}

fn try_clone_shares_connection() -> Result<(), String> {
    let (c, s) = pair()?;
    let c2 = c.try_clone().ctx("try_clone")?;
    ensure(c2.as_raw_fd() != c.as_raw_fd(), || "same descriptor".into())?;
    // SAFETY: plain fcntl.
    let fl = unsafe { libc::fcntl(c2.as_raw_fd(), libc::F_GETFD) };
    ensure(fl >= 0 && fl & libc::FD_CLOEXEC != 0, || {
        "clone not close-on-exec".into()
    })?;
    (&c2).write_all(b"via clone").ctx("write via clone")?;
    let mut b = [0u8; 9];
    (&s).read_exact(&mut b).ctx("read")?;
    ensure(&b == b"via clone", || format!("read {b:?}"))?;
    // Dropping one handle keeps the connection open.
    drop(c2);
    (&c).write_all(b"!").ctx("write after dropping the clone")?;
    let mut b = [0u8; 1];
    (&s).read_exact(&mut b).ctx("read")?;
    ensure(&b == b"!", || format!("read {b:?}"))
}

fn main() {
    run(
        "rust_stream",
        &[
            ("echo_two_threads", echo_two_threads),
            ("addresses", addresses),
            ("incoming_sequential_clients", incoming_sequential_clients),
            (
                "nonblocking_accept_would_block",
                nonblocking_accept_would_block,
            ),
            ("nonblocking_read_would_block", nonblocking_read_would_block),
            ("connect_refused", connect_refused),
            ("take_error", take_error),
            ("shutdown_write_gives_eof", shutdown_write_gives_eof),
            (
                "peer_close_eof_then_broken_pipe",
                peer_close_eof_then_broken_pipe,
            ),
            ("nodelay_round_trip", nodelay_round_trip),
            ("read_timeout", read_timeout),
            (
                "write_timeout_when_peer_does_not_read",
                write_timeout_when_peer_does_not_read,
            ),
            ("try_clone_shares_connection", try_clone_shares_connection),
        ],
    )
}

//! Host integration tests of the crate through the `AFC_FAMILY=inet` test
//! hook: the same code paths as on AF_CUSTOM, over TCP on 127.0.0.1, so
//! they run on any Linux host (the VM tests in `selftests/rust` run the
//! same kind of checks on AF_CUSTOM itself).

use afc_socket::{family, is_inet_test_mode, Listener, SockAddr, Stream};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// Switches the crate to AF_INET before anything reads the family (each
/// test calls it first; `Once` makes the other threads wait for it).
fn inet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::env::set_var("AFC_FAMILY", "inet"));
    assert!(is_inet_test_mode().unwrap());
}

fn pair() -> (Stream, Stream) {
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let c = Stream::connect(l.local_addr().unwrap()).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    (c, s)
}

#[test]
fn family_is_inet() {
    inet();
    assert_eq!(family().unwrap(), libc::AF_INET);
}

#[test]
fn echo() {
    inet();
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(addr.port(), 0);
    let server = thread::spawn(move || {
        let (conn, peer) = l.accept().unwrap();
        assert_eq!(conn.peer_addr().unwrap(), peer);
        assert_eq!(conn.local_addr().unwrap(), addr);
        io::copy(&mut &conn, &mut &conn).unwrap()
    });
    let mut c = Stream::connect(addr).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    // Write from one thread and read from another through &Stream.
    let mut back = Vec::new();
    thread::scope(|s| {
        let w = &c;
        s.spawn(move || {
            let mut w = w;
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        (&c).read_to_end(&mut back).unwrap();
    });
    assert_eq!(server.join().unwrap(), 200_000);
    assert_eq!(back.len(), 200_000);
    assert!(back.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    // Owned Read/Write too.
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn incoming_and_connect_timeout() {
    inet();
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        for conn in l.incoming().take(3) {
            let mut conn = conn.unwrap();
            let mut b = [0u8; 1];
            conn.read_exact(&mut b).unwrap();
            conn.write_all(&[b[0] + 1]).unwrap();
        }
    });
    for i in 0..3u8 {
        let mut c = Stream::connect_timeout(addr, Duration::from_secs(5)).unwrap();
        c.write_all(&[i]).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b[0], i + 1);
    }
    server.join().unwrap();
    let e = Stream::connect_timeout(addr, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn nonblocking_accept_would_block() {
    inet();
    let l = Listener::bind_with_backlog(SockAddr::localhost(0), 4).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let _c = Stream::connect(l.local_addr().unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (s, _) = loop {
        match l.accept() {
            Ok(x) => break x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    // The accepted socket is blocking: set it nonblocking and read nothing.
    s.set_nonblocking(true).unwrap();
    assert_eq!(
        (&s).read(&mut [0u8; 4]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn shutdown_write_gives_eof() {
    inet();
    let (c, s) = pair();
    (&c).write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
    // The other direction still works.
    (&s).write_all(b"reply").unwrap();
    drop(s);
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"reply");
}

#[test]
fn connect_refused() {
    inet();
    let addr = Listener::bind(SockAddr::localhost(0))
        .unwrap()
        .local_addr()
        .unwrap();
    // The listener is gone: nothing listens there.
    let e = Stream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    let e = Stream::connect_timeout(addr, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
}

#[test]
fn options() {
    inet();
    let (c, s) = pair();
    assert!(!c.nodelay().unwrap());
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_nodelay(false).unwrap();
    assert!(!c.nodelay().unwrap());
    assert!(c.take_error().unwrap().is_none());

    // The protocol options of issue 16, at IPPROTO_TCP under the hook.
    assert!(!c.cork().unwrap());
    c.set_cork(true).unwrap();
    assert!(c.cork().unwrap());
    c.set_cork(false).unwrap();
    assert_eq!(c.user_timeout().unwrap(), None);
    c.set_user_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert_eq!(c.user_timeout().unwrap(), Some(Duration::from_millis(1500)));
    c.set_notsent_lowat(4096).unwrap();
    assert_eq!(c.notsent_lowat().unwrap(), 4096);
    c.set_quickack(true).unwrap();
    assert!(c.maxseg().unwrap() > 0);
    assert!(!c.congestion().unwrap().is_empty());
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    l.set_defer_accept(5).unwrap();
    assert_eq!(l.defer_accept().unwrap(), 7, "rounded up as TCP's");

    assert_eq!(c.read_timeout().unwrap(), None);
    let t = Duration::from_millis(50);
    c.set_read_timeout(Some(t)).unwrap();
    // The kernel keeps timeouts in jiffies: read back rounded up to one.
    let got = c.read_timeout().unwrap().unwrap();
    assert!(got >= t && got <= t + Duration::from_millis(20), "{got:?}");
    c.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(c.write_timeout().unwrap(), Some(Duration::from_secs(3)));
    let start = Instant::now();
    let e = (&c).read(&mut [0u8; 4]).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert_eq!(
        c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);

    // A pending error: the peer resets (linger 0) and a read reports it.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: plain setsockopt with a valid linger.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    drop(s);
    thread::sleep(Duration::from_millis(50));
    let e = c.take_error().unwrap().expect("ECONNRESET pending");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert!(c.take_error().unwrap().is_none(), "SO_ERROR clears on read");
}

#[test]
fn write_after_peer_close_is_broken_pipe_not_sigpipe() {
    inet();
    let (c, s) = pair();
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    // The first write draws the peer's reset; a later one fails with EPIPE
    // (no SIGPIPE: the test process would die).
    loop {
        match (&c).write(&[0u8; 1024]) {
            Ok(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(_) => panic!("writes kept succeeding"),
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ),
                    "{e}"
                );
                break;
            }
        }
    }
}

#[test]
fn fds_clone_and_interop_with_std() {
    inet();
    let (c, s) = pair();
    // CLOEXEC on both ends.
    for fd in [c.as_raw_fd(), s.as_raw_fd()] {
        // SAFETY: plain fcntl.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
    let c2 = c.try_clone().unwrap();
    assert_ne!(c2.as_raw_fd(), c.as_raw_fd());
    (&c2).write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    (&s).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
    // In inet mode the descriptors are TCP sockets std can adopt, and back.
    // SAFETY: into_raw_fd gives up ownership.
    let std_stream = unsafe { TcpStream::from_raw_fd(s.into_raw_fd()) };
    (&std_stream).write_all(b"y").unwrap();
    (&c).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"y");
    // SAFETY: as above.
    let back = unsafe { Stream::from_raw_fd(std_stream.into_raw_fd()) };
    assert_eq!(back.peer_addr().unwrap(), c.local_addr().unwrap());

    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let l2 = l.try_clone().unwrap();
    // SAFETY: as above.
    let std_l = unsafe { TcpListener::from_raw_fd(l.into_raw_fd()) };
    let _c = Stream::connect(SockAddr::from(match std_l.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    }))
    .unwrap();
    let (_s, _) = l2.accept().unwrap();
    assert!(l2.take_error().unwrap().is_none());
}

#[test]
fn bind_conflict_and_any() {
    inet();
    let l = Listener::bind(SockAddr::any(0)).unwrap();
    let port = l.local_addr().unwrap().port();
    assert_eq!(l.local_addr().unwrap(), SockAddr::any(port));
    let e = Listener::bind(SockAddr::localhost(port)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    // A wildcard listener takes connections to 127.0.0.1.
    let _c = Stream::connect(SockAddr::localhost(port)).unwrap();
    let (_s, peer) = l.accept().unwrap();
    assert_eq!(peer.ip(), std::net::Ipv4Addr::LOCALHOST);
}

/// Urgent data (`send_urgent`, `recv_urgent`, `at_mark`, `SO_OOBINLINE`),
/// with TCP's answers.
#[test]
fn urgent_data() {
    inet();
    let (c, s) = pair();
    c.set_nodelay(true).unwrap();
    assert_eq!(
        s.recv_urgent().unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(!s.at_mark().unwrap());
    (&c).write_all(b"hello").unwrap();
    assert_eq!(c.send_urgent(b"!").unwrap(), 1);
    // Wait for the urgent byte (recv_urgent never blocks).
    let end = Instant::now() + Duration::from_secs(10);
    let b = loop {
        match s.recv_urgent() {
            Ok(b) => break b,
            Err(e) if Instant::now() < end => {
                assert!(matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::WouldBlock
                ));
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(b, b'!');
    let mut buf = [0u8; 16];
    assert_eq!(
        (&s).read(&mut buf).unwrap(),
        5,
        "the read stops at the mark"
    );
    assert_eq!(&buf[..5], b"hello");
    assert!(s.at_mark().unwrap());
    assert!(!s.oob_inline().unwrap());
    s.set_oob_inline(true).unwrap();
    assert!(s.oob_inline().unwrap());
}

/// Polls `s` for `events` for up to 10 s: the revents.
fn poll_for(s: &Stream, events: libc::c_short) -> libc::c_short {
    let mut pfd = libc::pollfd {
        fd: s.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "poll timed out or failed");
    pfd.revents
}

#[test]
fn connect_nonblocking_then_so_error() {
    inet();
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    let c = Stream::connect_nonblocking(addr).unwrap();
    assert!(poll_for(&c, libc::POLLOUT) & libc::POLLOUT != 0);
    assert!(c.take_error().unwrap().is_none());
    assert_eq!(c.peer_addr().unwrap(), addr);
    // The socket stays nonblocking: nothing to read is WouldBlock.
    let e = (&c).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    let (_s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());

    // Toward a closed port: writable (with an error), SO_ERROR refused.
    drop(l);
    let c = Stream::connect_nonblocking(addr).unwrap();
    poll_for(&c, libc::POLLOUT);
    let e = c
        .take_error()
        .unwrap()
        .expect("an error for a refused connect");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn accept_with_flags_nonblocking() {
    inet();
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let e = l.accept_with_flags(libc::O_APPEND).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let c = Stream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept_with_flags(libc::SOCK_NONBLOCK).unwrap();
    let e = (&s).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    (&c).write_all(b"x").unwrap();
    poll_for(&s, libc::POLLIN);
    let mut b = [0u8; 4];
    assert_eq!((&s).read(&mut b).unwrap(), 1);
    // Plain accept still gives a blocking socket (SOCK_CLOEXEC only).
    let _c2 = Stream::connect(l.local_addr().unwrap()).unwrap();
    let (s2, _) = l.accept().unwrap();
    // SAFETY: plain fcntl on a valid descriptor.
    let fl = unsafe { libc::fcntl(s2.as_raw_fd(), libc::F_GETFL) };
    assert_eq!(fl & libc::O_NONBLOCK, 0);
    // SAFETY: as above.
    let fd = unsafe { libc::fcntl(s2.as_raw_fd(), libc::F_GETFD) };
    assert_ne!(fd & libc::FD_CLOEXEC, 0);
}

/// `info()` (`AFC_INFO`, TCP_INFO over TCP): an established connection
/// with a measured RTT and a sane MSS.
#[test]
fn info_of_an_established_connection() {
    inet();
    let (c, s) = pair();
    (&c).write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    (&s).read_exact(&mut b).unwrap();
    let i = c.info().unwrap();
    assert_eq!(i.tcpi_state, 1, "ESTABLISHED");
    assert!(i.tcpi_snd_mss >= 64, "snd_mss {}", i.tcpi_snd_mss);
    assert!(i.tcpi_rto > 0, "rto {}", i.tcpi_rto);
}

//! AF_CUSTOM under tokio through the `afc-tokio` crate, on a multi-thread
//! runtime: many concurrent echoes, 1,000 parallel connects, half-close,
//! a refused connect, a connect to a silent address given up by
//! `tokio::time::timeout` and dropped (the kernel must forget it), and
//! the wake-ups an edge-triggered reactor depends on (a parked read woken
//! by data and by end of file, a parked write woken by free space, a
//! parked accept woken by a connection).
//!
//! Every wait is bounded (a lost wake-up fails the test instead of
//! hanging it). With `AFC_TEST_FAMILY=inet` (check.sh's `@inet`) or
//! `AFC_FAMILY=inet` the same program runs over TCP.
//!
//! The whole program runs in its own network namespace (unshared in
//! `main` before any thread starts, so the runtime's threads share it):
//! `lo`, and a veth pair with a permanent neighbour `10.77.0.3` at a MAC
//! no interface has, so that a SYN toward it is never answered.
//!
//! Sizes: `AFC_TOKIO_CLIENTS` (default 200) clients echo
//! `AFC_TOKIO_KIB` KiB each (default 64); `AFC_TOKIO_CONNECTS` (default
//! 1000) parallel connects.

use afc_selftests::{ensure, run, Ctx};
use afc_tokio::{Listener, SockAddr, Stream};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Shutdown};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Bounds every wait of a test.
const GUARD: Duration = Duration::from_secs(40);

/// The silent neighbour (see the module comment) and a port there.
const SILENT: SockAddr = SockAddr::new(Ipv4Addr::new(10, 77, 0, 3), 9);
/// `SILENT` as `/proc/net/tcp` prints a remote address.
const SILENT_PROC: &str = "03004D0A:0009";

/// Why the namespace setup failed (checked by the tests that need it).
static NETNS: OnceLock<Result<(), String>> = OnceLock::new();

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A multi-thread runtime with 4 workers (more than the VM's 2 CPUs, so
/// that tasks really move between threads).
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .ctx("tokio runtime")
}

/// Runs `f` on a fresh runtime, bounded by [`GUARD`].
fn block_on<F: Future<Output = Result<(), String>>>(what: &str, f: F) -> Result<(), String> {
    let rt = runtime()?;
    let t0 = Instant::now();
    rt.block_on(async {
        match timeout(GUARD, f).await {
            Ok(r) => {
                println!("# {what}: {} ms", t0.elapsed().as_millis());
                r
            }
            Err(_) => Err(format!(
                "{what}: not done within {} s (a lost wake-up?)",
                GUARD.as_secs()
            )),
        }
    })
}

fn pattern(seed: usize, i: usize) -> u8 {
    ((seed * 7 + i) % 251) as u8
}

fn listener(backlog: i32) -> Result<(Listener, SockAddr), String> {
    let l = Listener::bind_with_backlog(SockAddr::localhost(0), backlog)
        .ctx("Listener::bind 127.0.0.1:0")?;
    let a = l.local_addr().ctx("local_addr")?;
    Ok((l, a))
}

fn join_err(e: tokio::task::JoinError) -> String {
    format!("task failed: {e}")
}

fn echo_many_clients() -> Result<(), String> {
    let clients = env_usize("AFC_TOKIO_CLIENTS", 200);
    let len = env_usize("AFC_TOKIO_KIB", 64) << 10;
    block_on("echo", async move {
        let (l, addr) = listener(1024)?;
        let server = tokio::spawn(async move {
            let mut echoers = Vec::new();
            for _ in 0..clients {
                let (s, _) = l.accept().await.ctx("accept")?;
                echoers.push(tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    tokio::io::copy(&mut r, &mut w).await.ctx("server echo")
                }));
            }
            let mut total = 0;
            for e in echoers {
                total += e.await.map_err(join_err)??;
            }
            Ok::<u64, String>(total)
        });
        let mut tasks = Vec::new();
        for i in 0..clients {
            tasks.push(tokio::spawn(async move {
                let c = Stream::connect(addr).await.ctx("connect")?;
                let data: Vec<u8> = (0..len).map(|j| pattern(i, j)).collect();
                let (mut r, mut w) = c.into_split();
                // The writer in its own task: reading and writing go on
                // at once on different worker threads.
                let writer = tokio::spawn(async move {
                    w.write_all(&data).await.ctx("client write_all")?;
                    w.shutdown().await.ctx("client shutdown(Write)")
                });
                let mut back = Vec::with_capacity(len);
                r.read_to_end(&mut back).await.ctx("client read_to_end")?;
                writer.await.map_err(join_err)??;
                ensure(back.len() == len, || {
                    format!("client {i}: {} bytes back, want {len}", back.len())
                })?;
                match back.iter().enumerate().find(|&(j, &b)| b != pattern(i, j)) {
                    Some((j, b)) => Err(format!("client {i}: byte {j} is {b}")),
                    None => Ok(()),
                }
            }));
        }
        for t in tasks {
            t.await.map_err(join_err)??;
        }
        let total = server.await.map_err(join_err)??;
        ensure(total == (clients * len) as u64, || {
            format!("server echoed {total} bytes, want {}", clients * len)
        })
    })
}

fn parallel_connects() -> Result<(), String> {
    let n = env_usize("AFC_TOKIO_CONNECTS", 1000);
    block_on("parallel connects", async move {
        let (l, addr) = listener(n.min(4096) as i32)?;
        // The server accepts in one task, as fast as it can, and keeps
        // the streams until every client is done.
        let server = tokio::spawn(async move {
            let mut kept = Vec::with_capacity(n);
            for _ in 0..n {
                let (s, peer) = l.accept().await.ctx("accept")?;
                kept.push((s, peer));
            }
            Ok::<_, String>(kept)
        });
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            tasks.push(tokio::spawn(async move {
                let c = Stream::connect(addr).await.ctx("connect")?;
                c.local_addr().ctx("local_addr")
            }));
        }
        let mut locals = Vec::with_capacity(n);
        for t in tasks {
            locals.push(t.await.map_err(join_err)??);
        }
        let kept = server.await.map_err(join_err)??;
        let mut peers: Vec<SockAddr> = kept.iter().map(|(_, p)| *p).collect();
        locals.sort();
        peers.sort();
        locals.dedup();
        ensure(locals.len() == n, || {
            format!("{} distinct client addresses, want {n}", locals.len())
        })?;
        ensure(locals == peers, || {
            "the accepted peers are not the connected clients".to_string()
        })
    })
}

fn half_close() -> Result<(), String> {
    block_on("half-close", async {
        let (l, addr) = listener(8)?;
        let (c, s) = tokio::join!(Stream::connect(addr), l.accept());
        let mut c = c.ctx("connect")?;
        let (mut s, _) = s.ctx("accept")?;
        // The server parks in read before anything is sent: the data and
        // then the FIN must each wake it.
        let server = tokio::spawn(async move {
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.ctx("server read_to_end")?;
            ensure(got == b"request", || format!("server read {got:?}"))?;
            // Our direction is still open after the peer's shutdown.
            s.write_all(b"reply").await.ctx("server write after EOF")?;
            s.shutdown(Shutdown::Write).ctx("server shutdown(Write)")
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.write_all(b"request").await.ctx("client write")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.shutdown(Shutdown::Write).ctx("client shutdown(Write)")?;
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.ctx("client read_to_end")?;
        server.await.map_err(join_err)??;
        ensure(back == b"reply", || format!("client read {back:?}"))?;
        // Writing after our own shutdown(Write) fails (EPIPE).
        let e = c.write_all(b"x").await;
        ensure(e.is_err(), || {
            "write after shutdown(Write) succeeded".into()
        })
    })
}

fn refused() -> Result<(), String> {
    block_on("refused", async {
        let (l, addr) = listener(8)?;
        drop(l);
        match Stream::connect(addr).await {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => Err(format!("connect to a closed port: {e} ({:?})", e.kind())),
            Ok(_) => Err("connect to a closed port succeeded".into()),
        }
    })
}

/// The rows of this namespace's `/proc/net/af_custom` (`/proc/net/tcp`
/// in the TCP mode) whose remote address is `rem`.
fn proc_rows(rem: &str) -> Result<Vec<String>, String> {
    let inet = afc_socket::is_inet_test_mode().ctx("family")?;
    let path = if inet {
        "/proc/thread-self/net/tcp"
    } else {
        "/proc/thread-self/net/af_custom"
    };
    let text = std::fs::read_to_string(path).ctx(path)?;
    Ok(text
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(2) == Some(rem))
        .map(str::to_string)
        .collect())
}

fn connect_timeout_dropped() -> Result<(), String> {
    NETNS
        .get()
        .cloned()
        .unwrap_or_else(|| Err("no namespace".into()))?;
    block_on("connect timeout", async {
        // Boxed, so that drop() below really drops the future (and with
        // it the socket), not a pinned reference to it.
        let mut connect = Box::pin(Stream::connect(SILENT));
        // Give up after 500 ms, but keep the future to look at the socket.
        match timeout(Duration::from_millis(500), &mut connect).await {
            Err(_elapsed) => {}
            Ok(Ok(_)) => return Err("connect to the silent address succeeded".into()),
            Ok(Err(e)) => return Err(format!("connect to the silent address: {e}")),
        }
        let rows = proc_rows(SILENT_PROC)?;
        // State 02: SYN_SENT, as /proc/net/tcp prints it.
        ensure(
            rows.len() == 1 && rows[0].split_whitespace().nth(3) == Some("02"),
            || format!("while connecting, want one SYN_SENT row, have {rows:?}"),
        )?;
        drop(connect);
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = proc_rows(SILENT_PROC)?;
            if rows.is_empty() {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(format!("10 s after the drop still {rows:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

fn parked_write_woken_by_space() -> Result<(), String> {
    const LEN: usize = 16 << 20;
    block_on("parked write", async {
        let (l, addr) = listener(8)?;
        let (c, s) = tokio::join!(Stream::connect(addr), l.accept());
        let mut c = c.ctx("connect")?;
        let (mut s, _) = s.ctx("accept")?;
        // 16 MiB cannot fit in the buffers: the writer parks until the
        // reader, started later, frees space.
        let writer = tokio::spawn(async move {
            let data: Vec<u8> = (0..LEN).map(|i| pattern(3, i)).collect();
            c.write_all(&data).await.ctx("write_all 16 MiB")?;
            c.shutdown(Shutdown::Write).ctx("shutdown")
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        ensure(!writer.is_finished(), || {
            "16 MiB were written with nobody reading".into()
        })?;
        let mut back = Vec::with_capacity(LEN);
        s.read_to_end(&mut back).await.ctx("read_to_end")?;
        writer.await.map_err(join_err)??;
        ensure(back.len() == LEN, || format!("read {} bytes", back.len()))?;
        match back.iter().enumerate().find(|&(i, &b)| b != pattern(3, i)) {
            Some((i, b)) => Err(format!("byte {i} is {b}")),
            None => Ok(()),
        }
    })
}

/// With `AFC_NOTSENT_LOWAT` the socket is writable only while little
/// waits unsent: each time the peer's reading lets it fall below the mark
/// the parked writer must be woken.
fn parked_write_with_notsent_lowat() -> Result<(), String> {
    const LEN: usize = 4 << 20;
    block_on("notsent_lowat", async {
        let (l, addr) = listener(8)?;
        let (c, s) = tokio::join!(Stream::connect(addr), l.accept());
        let c = c.ctx("connect")?;
        let (mut s, _) = s.ctx("accept")?;
        c.get_ref()
            .set_notsent_lowat(16 << 10)
            .ctx("set_notsent_lowat")?;
        // The reader starts late, so that the writer gets ahead of it
        // and parks on the mark (on loopback a reader that keeps up
        // leaves nothing unsent); then each read must wake the writer.
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut n = 0usize;
            let mut b = vec![0u8; 64 << 10];
            loop {
                match s.read(&mut b).await.ctx("read")? {
                    0 => return Ok::<usize, String>(n),
                    k => n += k,
                }
            }
        });
        let data = vec![5u8; LEN];
        let (mut off, mut parks) = (0, 0u32);
        while off < LEN {
            match c.try_write(&data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    parks += 1;
                    c.writable().await.ctx("writable")?;
                }
                Err(e) => return Err(format!("try_write: {e}")),
            }
        }
        c.shutdown(Shutdown::Write).ctx("shutdown")?;
        let n = reader.await.map_err(join_err)??;
        ensure(n == LEN, || format!("read {n} bytes, want {LEN}"))?;
        println!("# notsent_lowat: the writer parked {parks} times");
        ensure(parks > 0, || "the writer never parked".into())
    })
}

/// `AFC_DEFER_ACCEPT`: the connection is offered only once data came;
/// the data's arrival must wake an accept parked in the reactor.
fn deferred_accept_woken_by_data() -> Result<(), String> {
    block_on("defer accept", async {
        let (l, addr) = listener(8)?;
        l.get_ref().set_defer_accept(30).ctx("set_defer_accept")?;
        let l = std::sync::Arc::new(l);
        let l2 = l.clone();
        let acc = tokio::spawn(async move { l2.accept().await.ctx("accept") });
        let mut c = Stream::connect(addr).await.ctx("connect")?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        ensure(!acc.is_finished(), || {
            "accepted before any data came (defer accept off?)".into()
        })?;
        c.write_all(b"x").await.ctx("write")?;
        let t0 = Instant::now();
        let (mut a, _) = match timeout(Duration::from_secs(15), acc).await {
            Ok(r) => r.map_err(join_err)??,
            Err(_) => return Err("accept not woken 15 s after the data came".into()),
        };
        let mut b = [0u8; 1];
        a.read_exact(&mut b).await.ctx("read")?;
        ensure(&b == b"x", || {
            format!("read {b:?} after {:?}", t0.elapsed())
        })
    })
}

fn parked_write_woken_by_reset() -> Result<(), String> {
    block_on("parked write, reset", async {
        let (l, addr) = listener(8)?;
        let (c, s) = tokio::join!(Stream::connect(addr), l.accept());
        let mut c = c.ctx("connect")?;
        let (s, _) = s.ctx("accept")?;
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 64 << 10];
            loop {
                if let Err(e) = c.write_all(&chunk).await {
                    return Ok::<io::Error, String>(e);
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        ensure(!writer.is_finished(), || "the writer did not park".into())?;
        // Closing with unread data resets the connection: the parked
        // writer must be woken and fail.
        drop(s);
        let e = writer.await.map_err(join_err)??;
        ensure(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            || format!("parked write after a reset: {e} ({:?})", e.kind()),
        )
    })
}

/// A connect the kernel gives up (one SYN retransmission, about 3 s):
/// the socket parked in the reactor for writability must be woken, with
/// `SO_ERROR` `ETIMEDOUT`.
fn connect_timed_out_by_kernel_wakes() -> Result<(), String> {
    NETNS
        .get()
        .cloned()
        .unwrap_or_else(|| Err("no namespace".into()))?;
    let inet = afc_socket::is_inet_test_mode().ctx("family")?;
    let family = afc_socket::family().ctx("family")?;
    // AFC_SYNCNT is 7 at SOL_AF_CUSTOM, as TCP_SYNCNT at IPPROTO_TCP.
    let level = if inet {
        libc::IPPROTO_TCP
    } else {
        afc_socket::SOL_AF_CUSTOM
    };
    // SAFETY: plain syscall.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    ensure(fd >= 0, || {
        format!("socket: {}", io::Error::last_os_error())
    })?;
    // SAFETY: fd is ours alone.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    let raw = libc::sockaddr_in {
        sin_family: family as libc::sa_family_t,
        sin_port: SILENT.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(SILENT.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let rfd = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: valid pointers and lengths.
    let r = unsafe {
        libc::setsockopt(
            rfd,
            level,
            7,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    ensure(r == 0, || {
        format!("setsockopt SYNCNT: {}", io::Error::last_os_error())
    })?;
    // SAFETY: as above.
    let r = unsafe {
        libc::connect(
            rfd,
            (&raw as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let err = io::Error::last_os_error();
    ensure(
        r == -1 && err.raw_os_error() == Some(libc::EINPROGRESS),
        || format!("nonblocking connect: {r}, {err}"),
    )?;
    block_on("kernel connect timeout", async move {
        let s = Stream::try_from(fd).ctx("register")?;
        let t0 = Instant::now();
        match timeout(Duration::from_secs(30), s.writable()).await {
            Err(_) => {
                return Err("not woken 30 s after connect (SYNCNT 1 gives up after ~3 s)".into())
            }
            Ok(r) => r.ctx("writable")?,
        }
        let e = s.take_error().ctx("SO_ERROR")?;
        ensure(
            e.as_ref().map(io::Error::kind) == Some(io::ErrorKind::TimedOut),
            || {
                format!(
                    "woken after {:?} with SO_ERROR {e:?}, want TimedOut",
                    t0.elapsed()
                )
            },
        )
    })
}

fn parked_read_and_accept_woken() -> Result<(), String> {
    block_on("parked read/accept", async {
        let (l, addr) = listener(8)?;
        let l = std::sync::Arc::new(l);
        // An accept parked before anyone connects.
        let l2 = l.clone();
        let acc = tokio::spawn(async move { l2.accept().await.ctx("parked accept") });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let c = Stream::connect(addr).await.ctx("connect")?;
        let (mut s, _) = acc.await.map_err(join_err)??;
        // A read parked before the peer closes: end of file must wake it.
        let reader = tokio::spawn(async move {
            let mut b = [0u8; 16];
            s.read(&mut b).await.ctx("parked read")
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(c);
        let n = reader.await.map_err(join_err)??;
        ensure(n == 0, || format!("read {n} bytes, want end of file"))?;
        // incoming(): the next connection.
        let c2 = tokio::spawn(Stream::connect(addr));
        let s2 = l
            .incoming()
            .next()
            .await
            .ok_or("incoming ended")?
            .ctx("incoming")?;
        let c2 = c2.await.map_err(join_err)?.ctx("connect 2")?;
        ensure(
            s2.peer_addr().ctx("peer_addr")? == c2.local_addr().ctx("local_addr")?,
            || "incoming gave another connection".into(),
        )
    })
}

fn conversions() -> Result<(), String> {
    block_on("conversions", async {
        let sl = afc_socket::Listener::bind(SockAddr::localhost(0)).ctx("sync bind")?;
        let addr = sl.local_addr().ctx("local_addr")?;
        let l = Listener::from_std(sl).ctx("Listener::from_std")?;
        let sc = afc_socket::Stream::connect(addr).ctx("sync connect")?;
        let (s, _) = l.accept().await.ctx("accept")?;
        let mut c = Stream::from_std(sc).ctx("Stream::from_std")?;
        c.write_all(b"a").await.ctx("write")?;
        let fd: std::os::fd::OwnedFd = s.into();
        let back = afc_socket::Stream::from(fd);
        back.set_nonblocking(false).ctx("set_nonblocking")?;
        back.set_read_timeout(Some(Duration::from_secs(10)))
            .ctx("set_read_timeout")?;
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut &back, &mut b).ctx("sync read")?;
        ensure(&b == b"a", || format!("read {b:?}"))?;
        let mut s = Stream::try_from(std::os::fd::OwnedFd::from(back)).ctx("from OwnedFd")?;
        s.write_all(b"b").await.ctx("write back")?;
        c.read_exact(&mut b).await.ctx("read back")?;
        ensure(&b == b"b", || format!("read {b:?}"))
    })
}

/// The private namespace: lo up, and the veth pair with the silent
/// neighbour. Runs before any thread exists.
fn setup_netns() -> Result<(), String> {
    // SAFETY: plain syscall; the process has one thread yet.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET): {}",
            io::Error::last_os_error()
        ));
    }
    let script = "ip link set lo up && \
        ip link add va address 02:77:00:00:00:01 type veth peer name vb address 02:77:00:00:00:02 && \
        ip addr add 10.77.0.1/24 dev va && ip link set va up && ip link set vb up && \
        ip neigh replace 10.77.0.3 lladdr 02:77:00:00:00:99 dev va nud permanent";
    let st = std::process::Command::new("sh")
        .args(["-c", script])
        .status()
        .ctx("sh")?;
    ensure(st.success(), || format!("namespace setup `{script}`: {st}"))
}

/// Room for the descriptors of 1,000 connections (two ends each).
fn raise_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_max = r.rlim_max.max(16384);
        r.rlim_cur = r.rlim_max;
        // SAFETY: as above; a failure (not root) leaves the limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            // SAFETY: as above.
            let _ = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
            r.rlim_cur = r.rlim_max;
            // SAFETY: as above.
            let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
        }
    }
}

fn main() {
    // check.sh's TCP mode names the family AFC_TEST_FAMILY (the C tests'
    // switch); afc-socket's hook is AFC_FAMILY.
    if std::env::var_os("AFC_FAMILY").is_none()
        && std::env::var("AFC_TEST_FAMILY").as_deref() == Ok("inet")
    {
        std::env::set_var("AFC_FAMILY", "inet");
    }
    raise_nofile();
    let _ = NETNS.set(setup_netns());
    if let Some(Err(e)) = NETNS.get() {
        println!("# namespace setup failed: {e}");
    }
    run(
        "rust_tokio",
        &[
            ("echo_many_clients", echo_many_clients),
            ("parallel_connects", parallel_connects),
            ("half_close", half_close),
            ("refused", refused),
            ("connect_timeout_dropped", connect_timeout_dropped),
            ("parked_write_woken_by_space", parked_write_woken_by_space),
            ("parked_write_woken_by_reset", parked_write_woken_by_reset),
            (
                "parked_write_with_notsent_lowat",
                parked_write_with_notsent_lowat,
            ),
            (
                "deferred_accept_woken_by_data",
                deferred_accept_woken_by_data,
            ),
            (
                "connect_timed_out_by_kernel_wakes",
                connect_timed_out_by_kernel_wakes,
            ),
            ("parked_read_and_accept_woken", parked_read_and_accept_woken),
            ("conversions", conversions),
        ],
    )
}

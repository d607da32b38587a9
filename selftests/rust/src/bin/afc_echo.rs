//! `make run`'s echo demonstration (not a test): a client sends a greeting
//! and a block of data over AF_CUSTOM, a server echoes them back, and both
//! say what they sent, received and how long it took.
//!
//! ```text
//! afc_echo server ADDR:PORT              serve one connection, echoing
//! afc_echo client ADDR:PORT MESSAGE [BYTES]
//! afc_echo lo [BYTES]                    both, over 127.0.0.1, in one process
//! ```
//!
//! BYTES (default 1 MiB) is the size of the block sent after the greeting.
//! With `AFC_FAMILY=inet` it runs over TCP instead (to compare, or to try
//! it on a machine without the module).

use afc_socket::{family, is_inet_test_mode, Listener, SockAddr, Stream};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// No step of the demo should wait longer than this.
const PATIENCE: Duration = Duration::from_secs(30);
const DEFAULT_BYTES: usize = 1 << 20;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn rate(bytes: usize, d: Duration) -> String {
    format!("{:.1} MB/s", bytes as f64 / d.as_secs_f64().max(1e-9) / 1e6)
}

fn family_name() -> String {
    match (is_inet_test_mode(), family()) {
        (Ok(true), _) => "AF_INET, because AFC_FAMILY=inet".to_string(),
        (_, Ok(f)) => format!("AF_CUSTOM = address family {f}"),
        (_, Err(e)) => format!("unknown family: {e}"),
    }
}

fn with_ctx<T>(r: io::Result<T>, what: &str) -> io::Result<T> {
    r.map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// Accepts one connection on `l` and echoes it until the client closes.
/// Returns the summary line.
fn serve_one(l: &Listener) -> io::Result<String> {
    let (conn, peer) = with_ctx(l.accept(), "accept")?;
    with_ctx(conn.set_read_timeout(Some(PATIENCE)), "set_read_timeout")?;
    let start = Instant::now();
    let n = with_ctx(io::copy(&mut &conn, &mut &conn), "echo")?;
    Ok(format!(
        "server: connection from {peer}: echoed {n} bytes back in {}, until the client's end of file; closed it",
        ms(start.elapsed())
    ))
}

fn server(addr: SockAddr) -> io::Result<()> {
    let l = with_ctx(Listener::bind(addr), &format!("bind {addr}"))?;
    println!(
        "server: listening on {} ({})",
        with_ctx(l.local_addr(), "local_addr")?,
        family_name()
    );
    println!("{}", serve_one(&l)?);
    Ok(())
}

/// Connects, retrying for a while if the server is not listening yet.
fn connect_patiently(addr: SockAddr) -> io::Result<(Stream, Duration)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let start = Instant::now();
        match Stream::connect_timeout(addr, PATIENCE) {
            Ok(s) => return Ok((s, start.elapsed())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return with_ctx(Err(e), &format!("connect to {addr}")),
        }
    }
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn client(addr: SockAddr, message: &str, bytes: usize) -> io::Result<()> {
    let (s, took) = connect_patiently(addr)?;
    with_ctx(s.set_read_timeout(Some(PATIENCE)), "set_read_timeout")?;
    println!(
        "client: connected from {} to {} in {}",
        with_ctx(s.local_addr(), "local_addr")?,
        with_ctx(s.peer_addr(), "peer_addr")?,
        ms(took)
    );

    // The greeting, and its echo.
    let start = Instant::now();
    with_ctx((&s).write_all(message.as_bytes()), "send")?;
    println!("client: sent     {:?} ({} bytes)", message, message.len());
    let mut back = vec![0u8; message.len()];
    with_ctx((&s).read_exact(&mut back), "receive the echo")?;
    let rtt = start.elapsed();
    println!(
        "client: received {:?} ({} bytes), round trip {}",
        String::from_utf8_lossy(&back),
        back.len(),
        ms(rtt)
    );
    if back != message.as_bytes() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echo differs from the message",
        ));
    }

    // A block of data: one thread sends it, this one reads the echo.
    let data: Vec<u8> = (0..bytes).map(pattern).collect();
    let start = Instant::now();
    let mut echoed = Vec::with_capacity(bytes);
    thread::scope(|sc| -> io::Result<()> {
        let writer = sc.spawn(|| -> io::Result<()> {
            with_ctx((&s).write_all(&data), "send the block")?;
            // Nothing more to send: the server sees end of file and closes.
            with_ctx(s.shutdown(Shutdown::Write), "shutdown(Write)")
        });
        let read = with_ctx((&s).read_to_end(&mut echoed), "receive the block");
        writer
            .join()
            .map_err(|_| io::Error::other("the sending thread panicked"))??;
        read.map(drop)
    })?;
    let took = start.elapsed();
    let intact = echoed.len() == bytes && echoed.iter().enumerate().all(|(i, &b)| b == pattern(i));
    println!(
        "client: sent {bytes} bytes and received {} back in {} ({} each way): {}",
        echoed.len(),
        ms(took),
        rate(bytes, took),
        if intact { "identical" } else { "DIFFERENT" }
    );
    if !intact {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the echoed block differs",
        ));
    }
    println!("client: the server closed the connection (end of file); done");
    Ok(())
}

/// Server thread and client in one process over 127.0.0.1.
fn lo(bytes: usize) -> io::Result<()> {
    let l = with_ctx(Listener::bind(SockAddr::localhost(0)), "bind 127.0.0.1:0")?;
    let addr = with_ctx(l.local_addr(), "local_addr")?;
    println!("server: listening on {addr} ({})", family_name());
    let server = thread::spawn(move || serve_one(&l));
    client(addr, "hello over lo", bytes)?;
    let line = server
        .join()
        .map_err(|_| io::Error::other("the server thread panicked"))??;
    println!("{line}");
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!("usage: afc_echo server ADDR:PORT | client ADDR:PORT MESSAGE [BYTES] | lo [BYTES]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = |i: usize| args.get(i).and_then(|s| s.parse::<SockAddr>().ok());
    let bytes = |i: usize| match args.get(i) {
        None => Some(DEFAULT_BYTES),
        Some(s) => s.parse().ok(),
    };
    let r = match args.first().map(String::as_str) {
        Some("server") => match addr(1) {
            Some(a) => server(a),
            None => return usage(),
        },
        Some("client") => match (addr(1), args.get(2), bytes(3)) {
            (Some(a), Some(m), Some(n)) => client(a, m, n),
            _ => return usage(),
        },
        Some("lo") => match bytes(1) {
            Some(n) => lo(n),
            None => return usage(),
        },
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("afc_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

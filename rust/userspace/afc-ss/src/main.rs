// SPDX-License-Identifier: GPL-2.0

//! `afc-ss`: lists the AF_CUSTOM sockets of the current network namespace
//! through the family's `sock_diag` handler, in the manner of `ss(8)`.
//!
//! ```text
//! afc-ss [-l | -t | -a] [-s STATE]... [--sport PORT] [--dport PORT] [-i] [-H]
//! ```
//!
//! Default: every socket but listeners (as `ss`); `-a` all, `-l` listeners
//! only, `-t` established only, `-s STATE` (repeatable) the states named
//! as `ss`'s `state` filter spells them. `--sport`/`--dport` keep sockets
//! with that local/peer port; the kernel applies all these filters. `-i`
//! adds the connection's `AFC_INFO` numbers under each socket; `-H`
//! drops the header line.

use afc_ss::{state_bit, Request, Row, HEADER, REQ_LEN, SOCK_DIAG_BY_FAMILY};
use std::io::{self, Write};
use std::process::ExitCode;

const NETLINK_SOCK_DIAG: i32 = 4;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

fn usage() -> ExitCode {
    eprintln!("usage: afc-ss [-l | -t | -a] [-s STATE]... [--sport PORT] [--dport PORT] [-i] [-H]");
    ExitCode::from(2)
}

fn parse_port(v: Option<String>) -> Option<u16> {
    v?.trim_start_matches(':').parse().ok()
}

/// The socket's rows, in the order the kernel dumps them.
fn dump(req: &Request) -> io::Result<Vec<Row>> {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let r = dump_on(fd, req);
    // SAFETY: closes the descriptor we opened.
    unsafe { libc::close(fd) };
    r
}

fn dump_on(fd: i32, req: &Request) -> io::Result<Vec<Row>> {
    let len = NLMSG_HDRLEN + REQ_LEN;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&req.to_bytes());
    // SAFETY: `msg` is valid for its length; the kernel is the default
    // destination of a netlink socket.
    if unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut rows = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is valid and writable for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let b = &buf[..n as usize];
        let mut off = 0;
        while off + NLMSG_HDRLEN <= b.len() {
            let mlen = u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]) as usize;
            let ty = u16::from_ne_bytes([b[off + 4], b[off + 5]]);
            if mlen < NLMSG_HDRLEN || off + mlen > b.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated netlink message",
                ));
            }
            let payload = &b[off + NLMSG_HDRLEN..off + mlen];
            match ty {
                NLMSG_DONE => return Ok(rows),
                NLMSG_ERROR => {
                    let err = payload
                        .get(..4)
                        .map_or(0, |e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                    return Err(io::Error::from_raw_os_error(-err));
                }
                SOCK_DIAG_BY_FAMILY => rows.push(Row::parse(payload).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "short afc_diag_msg")
                })?),
                _ => {}
            }
            off += (mlen + 3) & !3;
        }
    }
}

fn main() -> ExitCode {
    let family = match afc_socket::family() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("afc-ss: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut states: u32 = 0;
    let mut default_states: u32 = !(1 << 10);
    let (mut sport, mut dport, mut info, mut header) = (0u16, 0u16, false, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-a" | "--all" => default_states = u32::MAX,
            "-l" | "--listening" => states |= 1 << 10,
            "-t" | "--established" => states |= 1 << 1,
            "-i" | "--info" => info = true,
            "-H" | "--no-header" => header = false,
            "-n" | "--numeric" => {}
            "-s" | "--state" => match args.next().as_deref().and_then(state_bit) {
                Some(b) => states |= b,
                None => return usage(),
            },
            "--sport" => match parse_port(args.next()) {
                Some(p) => sport = p,
                None => return usage(),
            },
            "--dport" => match parse_port(args.next()) {
                Some(p) => dport = p,
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    if states == 0 {
        states = default_states;
    }
    let Ok(family) = u8::try_from(family) else {
        eprintln!("afc-ss: family {family} out of range");
        return ExitCode::FAILURE;
    };
    let req = Request {
        family,
        states,
        sport,
        dport,
        info,
    };
    let rows = match dump(&req) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("afc-ss: sock_diag dump: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = io::stdout().lock();
    if header {
        let _ = writeln!(out, "{HEADER}");
    }
    for r in &rows {
        let _ = writeln!(out, "{}", r.line());
        if let Some(i) = &r.info {
            let _ = writeln!(out, "{}", i.line());
        }
    }
    ExitCode::SUCCESS
}

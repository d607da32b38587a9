//! Fuzzes a host with a reuseport group of listeners: arbitrary and crafted
//! frames, accepts, listener closes, application calls and time.
//!
//! After every step the listener counters must match the connections the
//! host actually holds in each SYN queue and accept queue, and every frame
//! the host sends must be valid.

#![no_main]

mod input;
#[path = "../../tests/support/mod.rs"]
mod support;

use afc_proto::conn::Config;
use afc_proto::seq::Seq;
use afc_proto::time::{Instant, MS, SEC};
use afc_proto::tuple::{Endpoint as Addr, FourTuple};
use afc_proto::wire::{fill_checksum, ChecksumPolicy, Flags, Header, HEADER_LEN};
use input::Input;
use libfuzzer_sys::fuzz_target;
use support::net::{Host, Role};

const SERVER: u32 = 0x0a00_0002;
const PORT: u16 = 7000;

fn check(host: &Host) {
    for (i, l) in host.listeners.iter().enumerate() {
        let half = host
            .conns
            .values()
            .filter(|s| s.role == Role::HalfOpen(i))
            .count();
        let queued = host
            .conns
            .values()
            .filter(|s| s.role == Role::Queued(i))
            .count();
        assert_eq!(l.queues.syn_len() as usize, half, "SYN queue count");
        assert_eq!(l.queues.accept_len() as usize, queued, "accept queue count");
        assert_eq!(l.accept_q.len(), queued);
        assert!(l.queues.accept_len() <= l.queues.backlog());
        assert!(l.queues.syn_len() <= l.queues.syn_backlog() + l.queues.stats().migrated_in as u32);
    }
    for f in &host.outbox {
        Header::parse(f, ChecksumPolicy::Verify).expect("the host sends valid frames");
    }
}

fn frame(h: &Header) -> Option<Vec<u8>> {
    let mut f = vec![0u8; HEADER_LEN + usize::from(h.payload_len)];
    h.emit(&mut f).ok()?;
    fill_checksum(&mut f).ok()?;
    Some(f)
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mut cfg = Config::new(512);
    cfg.ack_delay_us = 0;
    let mut host = Host::new(SERVER, cfg, 5, false);
    let backlog = u32::from(inp.u8().unwrap_or(2) % 8);
    let syn_backlog = u32::from(inp.u8().unwrap_or(2) % 8);
    host.listen(SERVER, PORT, backlog, syn_backlog, 1000);
    let mut now = Instant(SEC);
    let mut steps = 0;
    while let Some(op) = inp.u8() {
        steps += 1;
        if steps > 1000 {
            break;
        }
        match op % 8 {
            0 => {
                let n = usize::from(inp.u8().unwrap_or(0));
                let raw = inp.bytes(n).to_vec();
                host.receive(&raw, now);
            }
            1 | 2 => {
                // A segment from one of 8 clients, with numbers near the connection's if any.
                let client = Addr::new(
                    0x0a00_0010 + u32::from(inp.u8().unwrap_or(0) % 4),
                    1000 + u16::from(inp.u8().unwrap_or(0) % 2),
                );
                let t = FourTuple::new(Addr::new(SERVER, PORT), client);
                let (rcv, una) = host
                    .ep(&t)
                    .map(|e| (e.conn.rcv_nxt(), e.conn.snd_una()))
                    .unwrap_or((Seq(0), Seq(0)));
                let flags = if op % 8 == 1 {
                    Flags::SYN
                } else {
                    Flags(inp.u8().unwrap_or(2) & 0x0f)
                };
                let mut h = Header {
                    flags,
                    src: client,
                    dst: t.local,
                    seq: rcv
                        .wrapping_add(u32::from(inp.u8().unwrap_or(0) % 4))
                        .wrapping_sub(1),
                    ack: una.wrapping_add(u32::from(inp.u8().unwrap_or(0) % 4)),
                    window: inp.u16().unwrap_or(1000),
                    ..Header::default()
                };
                if flags.syn() {
                    h.mss = 512;
                    h.seq = Seq(inp.u32().unwrap_or(0));
                }
                if !flags.ack() {
                    h.ack = Seq(0);
                }
                if !flags.syn() && !flags.rst() {
                    h.payload_len = u16::from(inp.u8().unwrap_or(0));
                }
                if let Some(f) = frame(&h) {
                    host.receive(&f, now);
                }
            }
            3 => {
                let i = usize::from(inp.u8().unwrap_or(0)) % host.listeners.len();
                if let Some(t) = host.accept(i) {
                    let how = inp.u8().unwrap_or(0);
                    host.with(t, now, |ep| match how % 3 {
                        0 => ep.conn.close(now),
                        1 => {
                            let _ = ep.write(b"data");
                        }
                        _ => ep.conn.abort(),
                    });
                }
            }
            4 => {
                let i = usize::from(inp.u8().unwrap_or(0)) % host.listeners.len();
                host.close_listener(i, now);
            }
            5 => {
                if host.listeners.len() < 4 {
                    let b = u32::from(inp.u8().unwrap_or(1) % 8);
                    host.listen(SERVER, PORT, b, b, 1000);
                }
            }
            6 => {
                now = now.after(u64::from(inp.u16().unwrap_or(0)) * MS);
                host.run_timers(now);
            }
            _ => {
                if let Some(d) = host.next_deadline() {
                    now = now.max(d);
                    host.run_timers(now);
                }
            }
        }
        check(&host);
        host.outbox.clear();
    }
});

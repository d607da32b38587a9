//! Fuzzes the connection state machine: two endpoints whose every frame the
//! fuzzer may deliver, drop, duplicate, reorder or corrupt, plus injected
//! arbitrary and crafted segments, application calls and time.
//!
//! The reference endpoint asserts the core's invariants after every step
//! (send buffer and receive queue agree with the core, receive memory within
//! the buffer, valid headers, `poll_transmit` terminates). Unless a crafted
//! segment was accepted, each side must also receive a prefix of what the
//! other wrote, less at most one byte per urgent write (an out-of-band
//! urgent byte that reads step over).

#![no_main]

mod input;
#[path = "../../tests/support/mod.rs"]
mod support;

use afc_proto::conn::{Config, Connection, Keepalive};
use afc_proto::seq::Seq;
use afc_proto::time::{Instant, MS, SEC};
use afc_proto::tuple::{Endpoint as Addr, FourTuple};
use afc_proto::wire::{fill_checksum, ChecksumPolicy, Flags, Header, HEADER_LEN};
use input::Input;
use libfuzzer_sys::fuzz_target;
use support::endpoint::Endpoint;

const A: Addr = Addr::new(0x0a00_0001, 40000);
const B: Addr = Addr::new(0x0a00_0002, 7000);
const MAX_QUEUE: usize = 64;

fn config(inp: &mut Input) -> Config {
    let b = inp.u8().unwrap_or(0);
    let mut c = Config::new(64 + u16::from(inp.u8().unwrap_or(0)) * 8);
    c.recv_buf = [300, 1000, 4000, 20_000, 70_000, 1 << 20][usize::from(b % 6)];
    c.nodelay = b & 0x08 != 0;
    c.ack_delay_us = if b & 0x10 != 0 { 0 } else { 40 * MS };
    c.rto_max_us = 5 * SEC;
    if b & 0x20 != 0 {
        c.keepalive = Some(Keepalive {
            idle_us: SEC,
            interval_us: SEC,
            probes: 3,
        });
    }
    c
}

struct Side {
    ep: Option<Endpoint>,
    written: Vec<u8>,
    read: Vec<u8>,
    /// Writes whose last byte was marked urgent (`send(MSG_OOB)`).
    urgent_writes: usize,
}

impl Side {
    fn write(&mut self, n: usize, urgent: bool) {
        let Some(ep) = self.ep.as_mut() else { return };
        let start = self.written.len();
        let data: Vec<u8> = (start..start + n).map(|i| (i % 251) as u8).collect();
        let r = if urgent {
            ep.write_urgent(&data)
        } else {
            ep.write(&data)
        };
        if let Ok(k) = r {
            self.written.extend_from_slice(&data[..k]);
            if urgent && k > 0 {
                self.urgent_writes += 1;
            }
        }
    }
}

/// Returns whether `got` is `sent` in order with at most `skips` bytes left out.
fn prefix_but_skips(got: &[u8], sent: &[u8], skips: usize) -> bool {
    let mut left = skips;
    let mut s = sent.iter();
    for b in got {
        loop {
            match s.next() {
                Some(x) if x == b => break,
                Some(_) if left > 0 => left -= 1,
                _ => return false,
            }
        }
    }
    true
}

fn crafted(inp: &mut Input, to: &Endpoint) -> (Header, Vec<u8>) {
    let c = &to.conn;
    let t = c.tuple();
    let flags = Flags(inp.u8().unwrap_or(2) & 0x1f);
    let seq_off = i32::from(inp.u16().unwrap_or(0) as i16);
    let ack_off = i32::from(inp.u16().unwrap_or(0) as i16);
    let mut h = Header {
        flags,
        src: t.remote,
        dst: t.local,
        seq: Seq(c.rcv_nxt().0.wrapping_add(seq_off as u32)),
        ack: Seq(c.snd_una().0.wrapping_add(ack_off as u32)),
        window: inp.u16().unwrap_or(1000),
        ..Header::default()
    };
    if flags.syn() {
        h.mss = 64 + inp.u16().unwrap_or(0) % 2000;
        h.wscale = inp.u8().unwrap_or(0) % 15;
    } else if !flags.rst() {
        h.payload_len = inp.u16().unwrap_or(0) % 3000;
    }
    if !flags.ack() {
        h.ack = Seq(0);
    }
    if flags.urg() {
        h.urg = h.seq.wrapping_add(u32::from(inp.u16().unwrap_or(0))).wrapping_add(1);
    }
    let payload = vec![0x5a; usize::from(h.payload_len)];
    (h, payload)
}

fn collect(side: &mut Side, queue: &mut Vec<Vec<u8>>, now: Instant) {
    if let Some(ep) = side.ep.as_mut() {
        while let Some(f) = ep.transmit(now) {
            queue.push(f);
        }
    }
    if queue.len() > MAX_QUEUE {
        queue.drain(..queue.len() - MAX_QUEUE);
    }
}

fn deliver(side: &mut Side, frame: &[u8], now: Instant, cfg_b: Config) -> bool {
    match side.ep.as_mut() {
        Some(ep) => ep.receive_frame(frame, ChecksumPolicy::Verify, now).is_ok(),
        None => {
            // The server side appears with the first SYN, as a listener would make it.
            if let Ok((h, _)) = Header::parse(frame, ChecksumPolicy::Verify) {
                let t = FourTuple::new(B, A);
                if let Some(c) = Connection::accept(cfg_b, t, Seq(0x8000_0000), &h, now) {
                    side.ep = Some(Endpoint::new(c, 1 << 20, false));
                }
            }
            false
        }
    }
}

fn run_timers(side: &mut Side, now: Instant) {
    if let Some(ep) = side.ep.as_mut() {
        if ep.conn.poll_timeout().is_some_and(|d| d <= now) {
            ep.on_timeout(now);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let cfg_a = config(&mut inp);
    let cfg_b = config(&mut inp);
    let mut now = Instant(SEC);
    let iss = Seq(inp.u32().unwrap_or(0));
    let conn = Connection::connect(cfg_a, FourTuple::new(A, B), iss, now);
    let mut sides = [
        Side {
            ep: Some(Endpoint::new(conn, 1 << 20, false)),
            written: vec![],
            read: vec![],
            urgent_writes: 0,
        },
        Side {
            ep: None,
            written: vec![],
            read: vec![],
            urgent_writes: 0,
        },
    ];
    // queues[i] holds frames in flight toward side i.
    let mut queues: [Vec<Vec<u8>>; 2] = [vec![], vec![]];
    let mut tainted = false;
    let mut steps = 0;
    collect(&mut sides[0], &mut queues[1], now);

    while let Some(op) = inp.u8() {
        steps += 1;
        if steps > 2000 {
            break;
        }
        let who = usize::from(op >> 7);
        let q = &mut queues[who];
        match op & 0x0f {
            0 | 1 => {
                if !q.is_empty() {
                    let i = usize::from(inp.u8().unwrap_or(0)) % q.len();
                    let f = q.remove(i);
                    deliver(&mut sides[who], &f, now, cfg_b);
                }
            }
            2 => {
                if !q.is_empty() {
                    let i = usize::from(inp.u8().unwrap_or(0)) % q.len();
                    q.remove(i);
                }
            }
            3 => {
                if !q.is_empty() {
                    let i = usize::from(inp.u8().unwrap_or(0)) % q.len();
                    let f = q[i].clone();
                    q.push(f);
                }
            }
            4 => {
                // Corrupt a frame in flight; re-sealing the checksum makes it look genuine.
                if !q.is_empty() {
                    let i = usize::from(inp.u8().unwrap_or(0)) % q.len();
                    let at = usize::from(inp.u16().unwrap_or(0)) % q[i].len();
                    q[i][at] ^= inp.u8().unwrap_or(1) | 1;
                    if inp.u8().unwrap_or(0) & 1 == 1 && q[i].len() >= HEADER_LEN {
                        q[i][10] = 0;
                        q[i][11] = 0;
                        if fill_checksum(&mut q[i]).is_ok() {
                            tainted = true;
                        }
                    }
                }
            }
            5 => {
                let n = usize::from(inp.u8().unwrap_or(0));
                let raw = inp.bytes(n).to_vec();
                tainted |= deliver(&mut sides[who], &raw, now, cfg_b);
            }
            6 => {
                if let Some(ep) = sides[who].ep.as_mut() {
                    let (h, p) = crafted(&mut inp, ep);
                    if h.validate().is_ok() {
                        ep.deliver(&h, &p, now);
                        tainted = true;
                    }
                }
            }
            7 => {
                let n = inp.u16().unwrap_or(0);
                // One write in eight is urgent (`send(MSG_OOB)`).
                sides[who].write(usize::from(n % 5000), n & 0xe000 == 0xe000);
            }
            8 => {
                let n = usize::from(inp.u16().unwrap_or(0));
                if let Some(ep) = sides[who].ep.as_mut() {
                    let got = ep.read(n);
                    sides[who].read.extend(got);
                }
            }
            9 => {
                if let Some(ep) = sides[who].ep.as_mut() {
                    ep.conn.shutdown_write();
                }
            }
            10 => {
                if let Some(ep) = sides[who].ep.as_mut() {
                    let got = ep.read(usize::MAX);
                    sides[who].read.extend(got);
                    ep.conn.close(now);
                }
            }
            11 => {
                if inp.u8().unwrap_or(0) == 0xa5 {
                    if let Some(ep) = sides[who].ep.as_mut() {
                        ep.conn.abort();
                    }
                }
            }
            12 => {
                now = now.after(u64::from(inp.u16().unwrap_or(0)) * MS);
                run_timers(&mut sides[0], now);
                run_timers(&mut sides[1], now);
            }
            13 => {
                let next = sides
                    .iter()
                    .filter_map(|s| s.ep.as_ref().and_then(|e| e.conn.poll_timeout()))
                    .min();
                if let Some(d) = next {
                    now = now.max(d);
                    run_timers(&mut sides[0], now);
                    run_timers(&mut sides[1], now);
                }
            }
            14 => {
                let b = inp.u8().unwrap_or(0);
                if let Some(ep) = sides[who].ep.as_mut() {
                    match b % 5 {
                        0 => ep.conn.set_nodelay(b & 0x80 != 0),
                        1 => ep.conn.set_keepalive(None),
                        2 => ep.conn.set_recv_buf(u32::from(b) * 256),
                        3 => ep.conn.set_urgent_inline(b & 0x80 != 0),
                        _ => {
                            let _ = ep.conn.recv_urgent(b & 0x80 != 0);
                        }
                    }
                }
            }
            _ => {
                // Deliver everything in flight, in order, both ways.
                for _ in 0..4 {
                    for side in 0..2 {
                        let fs = std::mem::take(&mut queues[side]);
                        for f in fs {
                            deliver(&mut sides[side], &f, now, cfg_b);
                        }
                    }
                    let (s0, s1) = sides.split_at_mut(1);
                    collect(&mut s0[0], &mut queues[1], now);
                    collect(&mut s1[0], &mut queues[0], now);
                }
            }
        }
        let (s0, s1) = sides.split_at_mut(1);
        collect(&mut s0[0], &mut queues[1], now);
        collect(&mut s1[0], &mut queues[0], now);
    }

    if !tainted {
        for (r, w) in [(0, 1), (1, 0)] {
            let got = &sides[r].read;
            let sent = &sides[w].written;
            assert!(
                prefix_but_skips(got, sent, sides[w].urgent_writes),
                "stream corrupted"
            );
        }
    }
});

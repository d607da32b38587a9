//! Segments cut on their way (GSO frames out of a NIC, `Config::wire_mss`):
//! the congestion window counts wire frames, as TCP counts a GSO segment
//! as the segments it becomes.

mod support;

use afc_proto::conn::Config;
use afc_proto::seq::Seq;
use afc_proto::time::SEC;
use support::pair::*;

const MSS: u16 = 64_480;
const WIRE: u32 = 1_468;

fn gso_cfg(wire: u32) -> Config {
    let mut c = cfg();
    c.mss = MSS;
    c.wire_mss = wire;
    c.recv_buf = 4 << 20;
    c.recv_buf_max = 4 << 20;
    c
}

/// The first flight is ten wire frames, not ten 63 KiB segments; without
/// `wire_mss` it is ten whole segments (a veth's peer takes them whole).
#[test]
fn initial_window_counts_wire_frames() {
    let (mut a, _b) = established_with(gso_cfg(WIRE), gso_cfg(WIRE), Seq(1));
    assert_eq!(a.conn.cwnd(), 10 * WIRE);
    a.write(&vec![7u8; 1 << 20]).unwrap();
    let sent: u32 = out(&mut a, t0())
        .iter()
        .map(|(h, _)| u32::from(h.payload_len))
        .sum();
    assert_eq!(sent, 10 * WIRE, "the first flight is the initial window");

    let (a, _b) = established_with(gso_cfg(0), gso_cfg(0), Seq(1));
    assert_eq!(a.conn.cwnd(), 10 * u32::from(MSS));
}

/// A send the window limits goes in whole wire frames (no runt frame at
/// the cut); the tail of the queue still goes whole when Nagle lets it.
#[test]
fn window_limited_sends_cut_at_wire_frames() {
    let (mut a, mut b) = established_with(gso_cfg(WIRE), gso_cfg(WIRE), Seq(1));
    a.write(&vec![7u8; 1 << 20]).unwrap();
    let first = out(&mut a, t0());
    assert!(first
        .iter()
        .all(|(h, _)| u32::from(h.payload_len) % WIRE == 0));
    // Acknowledge everything, a few times over: every send stays whole
    // wire frames while the queue is longer than the window.
    let mut now = t0();
    for _ in 0..6 {
        let segs = out(&mut a, now);
        feed(&mut b, &segs, now);
        b.read(usize::MAX);
        let acks = out(&mut b, now);
        feed(&mut a, &acks, now);
        for (h, _) in &out(&mut a, now) {
            assert_eq!(
                u32::from(h.payload_len) % WIRE,
                0,
                "a runt of {} bytes",
                h.payload_len
            );
        }
        now = now.after(1000);
    }
}

/// After a timeout the window is one wire frame and the retransmission
/// resends one wire frame, not a whole 63 KiB segment.
#[test]
fn timeout_resends_one_wire_frame() {
    let (mut a, _b) = established_with(gso_cfg(WIRE), gso_cfg(WIRE), Seq(1));
    a.write(&vec![7u8; 1 << 20]).unwrap();
    let _lost = out(&mut a, t0());
    let later = t0().after(2 * SEC);
    a.on_timeout(later);
    assert_eq!(a.conn.cwnd(), WIRE);
    let again = out(&mut a, later);
    assert_eq!(again.len(), 1);
    assert_eq!(u32::from(again[0].0.payload_len), WIRE);
}

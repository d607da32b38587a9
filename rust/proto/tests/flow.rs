//! Data transfer: acknowledgements, reassembly, windows, Nagle, retransmission, keepalive.

mod support;

use afc_proto::buffers::pressure_budget;
use afc_proto::conn::{wscale_for, Config, Keepalive};
use afc_proto::seq::Seq;
use afc_proto::state::State;
use afc_proto::time::{Instant, MS, SEC};
use afc_proto::wire::{Flags, Header};
use support::endpoint::Endpoint;
use support::pair::*;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn read_all(ep: &mut Endpoint) -> Vec<u8> {
    ep.read(usize::MAX)
}

fn data_segs(frames: &[(Header, Vec<u8>)]) -> Vec<(Header, Vec<u8>)> {
    frames
        .iter()
        .filter(|(h, _)| h.payload_len > 0)
        .cloned()
        .collect()
}

#[test]
fn data_round_trip_with_cumulative_acks() {
    let (mut a, mut b) = established();
    let data = pattern(5000);
    assert_eq!(a.write(&data).unwrap(), 5000);
    let segs = out(&mut a, t0());
    assert_eq!(segs.len(), 5, "five full segments of 1000");
    assert!(segs.iter().all(|(h, _)| h.payload_len == 1000));
    feed(&mut b, &segs, t0());
    let acks = out(&mut b, t0());
    // Every second segment is acknowledged at once, the rest by the last ACK.
    let last = acks.last().unwrap().0;
    assert_eq!(last.ack, segs[4].0.seq.wrapping_add(1000));
    feed(&mut a, &acks, t0());
    assert!(a.send_buf.is_empty());
    assert!(a.conn.all_acked());
    assert_eq!(read_all(&mut b), data);
}

#[test]
fn sequence_numbers_wrap_around() {
    for iss in [u32::MAX - 2500, u32::MAX, u32::MAX - 999, 0x7fff_ff00] {
        let (mut a, mut b) = established_with(cfg(), cfg(), Seq(iss));
        let up = pattern(20_000);
        let down = pattern(15_000);
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        let (mut wa, mut wb) = (0, 0);
        for _ in 0..200 {
            wa += a.write(&up[wa..]).unwrap();
            wb += b.write(&down[wb..]).unwrap();
            pump(&mut a, &mut b, t0());
            got_b.extend(read_all(&mut b));
            got_a.extend(read_all(&mut a));
            pump(&mut a, &mut b, t0());
        }
        assert_eq!(got_b, up, "iss {iss:#x}");
        assert_eq!(got_a, down, "iss {iss:#x}");
        assert!(a.conn.snd_una().lt(Seq(iss).wrapping_add(20_002)));
    }
}

#[test]
fn out_of_order_segments_are_reassembled() {
    let (mut a, mut b) = established();
    let data = pattern(5000);
    a.write(&data).unwrap();
    let segs = out(&mut a, t0());
    for &i in &[4usize, 2, 0, 3, 1] {
        feed(&mut b, &segs[i..=i], t0());
        if i == 4 || i == 2 {
            assert!(!b.ofo.is_empty());
        }
    }
    assert!(b.ofo.is_empty());
    assert!(b.conn.ooo_ranges().is_empty());
    assert_eq!(read_all(&mut b), data);
    assert_eq!(b.conn.stats().ofo_queued, 3);
}

#[test]
fn duplicates_are_suppressed() {
    let (mut a, mut b) = established();
    let data = pattern(3000);
    a.write(&data).unwrap();
    let segs = out(&mut a, t0());
    feed(&mut b, &segs, t0());
    feed(&mut b, &segs, t0());
    // Overlapping out-of-order copies too.
    feed(&mut b, &segs[2..], t0());
    assert_eq!(read_all(&mut b), data);
    assert!(b.conn.stats().dup_data >= 3);
    let acks = out(&mut b, t0());
    assert!(acks
        .iter()
        .all(|(h, _)| h.ack == segs[2].0.seq.wrapping_add(1000)));
}

#[test]
fn assembler_bounds_out_of_order_state() {
    let mut big = cfg();
    big.recv_buf = 100_000;
    let (_a, mut b) = established_with(cfg(), big, Seq(5));
    let base = b.conn.rcv_nxt();
    let ack = b.conn.snd_nxt();
    let ofo = |off: u32, len: u16| {
        let mut h = seg(A, B, Flags::ACK, base.wrapping_add(off), ack);
        h.payload_len = len;
        h
    };
    // Twenty disjoint segments ahead of a gap: only eight ranges are kept.
    for k in 0..20u32 {
        b.deliver(&ofo(2000 + k * 200, 50), &[0xaa; 50], t0());
    }
    let ranges = afc_proto::assembler::ASSEMBLER_RANGES;
    assert_eq!(b.conn.ooo_ranges().len(), ranges);
    assert_eq!(b.conn.stats().ofo_dropped, 20 - ranges as u64);
    assert_eq!(b.ofo_bytes(), 50 * ranges);
    // Bridging two stored ranges needs no new range: accepted, stored without overlap.
    b.deliver(&ofo(2000, 250), &[0xbb; 250], t0());
    assert_eq!(b.conn.ooo_ranges().len(), ranges - 1);
    assert_eq!(b.ofo_bytes(), 50 * ranges + 150);
    // Filling the gap in front delivers what is now contiguous, and no more.
    b.deliver(&ofo(0, 2000), &[0xcc; 2000], t0());
    assert_eq!(b.recv_q.len(), 2250);
    assert_eq!(b.conn.ooo_ranges().len(), ranges - 2);
    assert_eq!(b.ofo_bytes(), 50 * (ranges - 2));
}

/// A receiver out of memory with out-of-order data held gives that data
/// up for the segment that fills the gap in front of it (never for
/// another out-of-order one), and takes the given-up bytes again when the
/// sender repeats them: nothing is lost, and the gap cannot stay open for
/// want of the memory its own later bytes hold.
#[test]
fn out_of_order_data_is_given_up_for_the_segment_in_front_of_it() {
    let (mut a, mut b) = established();
    let data = pattern(4000);
    a.write(&data).unwrap();
    let segs = out(&mut a, t0());
    assert_eq!(segs.len(), 4);
    feed(&mut b, &segs[2..], t0());
    assert_eq!(b.ofo.len(), 2);
    // Another out-of-order segment, or a duplicate of a held one: no.
    assert!(!b.prune_for(&segs[3].0));
    assert!(!b.prune_for(&segs[1].0));
    // At the next expected byte but not believable: no ACK, an RST, an
    // ACK of data never sent.
    for bad in [Flags(0), Flags(Flags::ACK.0 | Flags::RST.0)] {
        let mut h = segs[0].0;
        h.flags = bad;
        assert!(!b.prune_for(&h));
    }
    let mut h = segs[0].0;
    h.ack = h.ack.wrapping_add(100_000);
    assert!(!b.prune_for(&h));
    assert_eq!(b.ofo.len(), 2);
    // Data refused for memory pulls the window back to a zero one.
    let _ = b.conn.on_segment_without_room(&segs[1].0, t0());
    let acks = out(&mut b, t0());
    assert_eq!(acks.last().unwrap().0.window, 0);
    // The one at the next expected byte: yes, the core forgets the ranges,
    // and takes the segment over the zero window it advertised.
    assert!(b.prune_for(&segs[0].0));
    assert!(b.conn.ooo_ranges().is_empty());
    assert_eq!(b.conn.stats().ofo_pruned, 1);
    feed(&mut b, &segs[..1], t0());
    assert_eq!(read_all(&mut b), data[..1000].to_vec());
    // Its acknowledgement opens the window again for the rest.
    let acks = out(&mut b, t0());
    assert!(acks.last().unwrap().0.window > 0);
    feed(&mut b, &segs[1..2], t0());
    assert_eq!(read_all(&mut b), data[1000..2000].to_vec());
    // Nothing held any more: nothing to give up.
    assert!(!b.prune_for(&segs[2].0));
    // The sender repeats what was given up (unacknowledged), and it is taken.
    feed(&mut b, &segs[2..], t0());
    assert_eq!(read_all(&mut b), data[2000..].to_vec());
}

#[test]
fn sender_stays_within_peer_window() {
    let mut b_cfg = cfg();
    b_cfg.recv_buf = 2500;
    let (mut a, mut b) = established_with(cfg(), b_cfg, Seq(77));
    a.write(&pattern(10_000)).unwrap();
    let burst = out(&mut a, t0());
    let sent: u32 = burst.iter().map(|(h, _)| u32::from(h.payload_len)).sum();
    assert!(sent <= 2500, "sent {sent} into a 2500-byte window");
    feed(&mut b, &burst, t0());
    assert_eq!(b.recv_q.len(), sent as usize);
}

#[test]
fn window_closes_as_reader_lags_and_reopens_with_update() {
    let mut b_cfg = cfg();
    b_cfg.recv_buf = 3000;
    let (mut a, mut b) = established_with(cfg(), b_cfg, Seq(9));
    let data = pattern(10_000);
    a.write(&data).unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(b.recv_q.len(), 3000);
    assert_eq!(b.conn.recv_window(), 0);
    assert_eq!(a.conn.send_window(), 0);
    assert!(a.conn.unsent() > 0);
    assert!(a.conn.poll_timeout().is_some(), "persist timer armed");
    // Reading a little does not reopen (silly window avoidance)...
    b.read(100);
    assert!(out(&mut b, t0()).is_empty());
    // ...reading enough sends a window update at once.
    b.read(2000);
    let upd = out(&mut b, t0());
    assert_eq!(upd.len(), 1);
    assert!(upd[0].0.window > 0);
    feed(&mut a, &upd, t0());
    let more = out(&mut a, t0());
    assert!(!data_segs(&more).is_empty());
    // Finish the transfer.
    let mut got = read_all(&mut b);
    feed(&mut b, &more, t0());
    for _ in 0..50 {
        pump(&mut a, &mut b, t0());
        got.extend(read_all(&mut b));
    }
    assert_eq!(got.len() + 100 + 2000, data.len());
}

#[test]
fn zero_window_probe_recovers_a_lost_update() {
    let mut b_cfg = cfg();
    b_cfg.recv_buf = 2000;
    let (mut a, mut b) = established_with(cfg(), b_cfg, Seq(11));
    a.write(&pattern(6000)).unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(a.conn.send_window(), 0);
    b.read(2000);
    let lost = out(&mut b, t0());
    assert_eq!(lost.len(), 1, "the window update, which the network loses");
    let deadline = a.conn.poll_timeout().expect("persist timer");
    a.on_timeout(deadline);
    let probe = out(&mut a, deadline);
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].0.payload_len, 0);
    assert_eq!(
        probe[0].0.seq,
        a.conn.snd_una().wrapping_sub(1),
        "probe uses an old sequence number"
    );
    feed(&mut b, &probe, deadline);
    let answer = out(&mut b, deadline);
    assert_eq!(answer.len(), 1);
    assert!(answer[0].0.window > 0);
    feed(&mut a, &answer, deadline);
    assert!(!data_segs(&out(&mut a, deadline)).is_empty());
    assert_eq!(a.conn.stats().window_probes, 1);
}

#[test]
fn persist_backs_off_while_window_stays_closed() {
    let mut b_cfg = cfg();
    b_cfg.recv_buf = 1000;
    let (mut a, mut b) = established_with(cfg(), b_cfg, Seq(12));
    a.write(&pattern(5000)).unwrap();
    pump(&mut a, &mut b, t0());
    let mut last = t0();
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let d = a.conn.poll_timeout().unwrap();
        gaps.push(d.since(last));
        last = d;
        a.on_timeout(d);
        let p = out(&mut a, d);
        feed(&mut b, &p, d);
        let r = out(&mut b, d);
        feed(&mut a, &r, d);
    }
    // Each wait doubles; the receiver answers every probe, so nothing fails.
    for w in gaps.windows(2).skip(1) {
        assert!(w[1] >= w[0], "{gaps:?}");
    }
    assert_eq!(a.state(), State::Established);
}

#[test]
fn nagle_coalesces_small_writes() {
    let (mut a, mut b) = established();
    a.write(b"first").unwrap();
    let f1 = out(&mut a, t0());
    assert_eq!(
        data_segs(&f1).len(),
        1,
        "nothing in flight: the first small write goes"
    );
    for _ in 0..5 {
        a.write(b"0123456789").unwrap();
        assert!(
            out(&mut a, t0()).is_empty(),
            "held while data is unacknowledged"
        );
    }
    feed(&mut b, &f1, t0());
    feed(&mut a, &out(&mut b, t0()), t0());
    let f2 = data_segs(&out(&mut a, t0()));
    assert_eq!(f2.len(), 1);
    assert_eq!(f2[0].0.payload_len, 50, "coalesced into one segment");
}

#[test]
fn nodelay_sends_every_write() {
    let (mut a, _b) = established();
    a.conn.set_nodelay(true);
    for _ in 0..5 {
        a.write(b"tiny").unwrap();
        assert_eq!(data_segs(&out(&mut a, t0())).len(), 1);
    }
    // And switching it on releases a held segment.
    let (mut a, _b) = established();
    a.write(b"one").unwrap();
    out(&mut a, t0());
    a.write(b"two").unwrap();
    assert!(out(&mut a, t0()).is_empty());
    a.conn.set_nodelay(true);
    assert_eq!(data_segs(&out(&mut a, t0())).len(), 1);
}

#[test]
fn half_close_in_each_direction() {
    let (mut a, mut b) = established();
    a.write(b"request").unwrap();
    a.conn.shutdown_write();
    assert!(a.write(b"more").is_err(), "no writes after SHUT_WR");
    pump(&mut a, &mut b, t0());
    assert_eq!(read_all(&mut b), b"request");
    assert!(b.at_eof());
    assert_eq!(a.state(), State::FinWait2);
    // The other direction still works.
    b.conn.set_nodelay(true);
    let reply = pattern(4000);
    b.write(&reply).unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(read_all(&mut a), reply);
    assert!(!a.at_eof());
    b.conn.close(t0());
    pump(&mut a, &mut b, t0());
    assert!(a.at_eof());
    assert_eq!(a.state(), State::TimeWait);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn retransmission_timeout_backs_off_to_the_cap() {
    let mut c = cfg();
    c.rto_max_us = 5 * SEC;
    c.data_retries = 8;
    let (mut a, _b) = established_with(c, cfg(), Seq(1));
    a.write(b"lost").unwrap();
    out(&mut a, t0());
    let mut last = t0();
    let mut waits = Vec::new();
    while a.state() != State::Closed {
        let d = a.conn.poll_timeout().unwrap();
        waits.push(d.since(last) / MS);
        last = d;
        a.on_timeout(d);
        out(&mut a, d);
    }
    // The handshake sampled an RTT of ~0, so the base RTO is rto_min (200 ms).
    assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
}

#[test]
fn rtt_is_measured() {
    let (mut a, mut b) = established();
    a.conn.set_nodelay(true);
    let mut now = t0();
    for _ in 0..20 {
        a.write(b"ping").unwrap();
        let f = out(&mut a, now);
        now = now.after(150 * MS);
        feed(&mut b, &f, now);
        let r = out(&mut b, now);
        now = now.after(150 * MS);
        feed(&mut a, &r, now);
        b.read(100);
    }
    let srtt = a.conn.rtt().srtt().unwrap();
    assert!((250 * MS..=300 * MS).contains(&srtt), "srtt {srtt}");
    assert!(a.conn.rtt().rto() >= srtt);
}

#[test]
fn fast_retransmit_on_three_duplicate_acks() {
    let (mut a, mut b) = established();
    a.write(&pattern(6000)).unwrap();
    let segs = out(&mut a, t0());
    assert_eq!(segs.len(), 6);
    // The first segment is lost; each later one draws a duplicate ACK
    // (the caller drains `poll_transmit` after every segment).
    let mut dups = Vec::new();
    for s in &segs[1..] {
        feed(&mut b, std::slice::from_ref(s), t0());
        dups.extend(out(&mut b, t0()));
    }
    assert_eq!(dups.len(), 5);
    assert!(dups.iter().all(|(h, _)| h.ack == segs[0].0.seq));
    feed(&mut a, &dups, t0());
    let re = out(&mut a, t0());
    assert_eq!(re[0].0.seq, segs[0].0.seq, "the lost segment, at once");
    assert_eq!(a.conn.stats().fast_retrans, 1);
    feed(&mut b, &re, t0());
    assert_eq!(read_all(&mut b), pattern(6000));
}

#[test]
fn mss_follows_the_mtu_and_the_peer() {
    assert_eq!(Config::mss_for_mtu(1500), 1468);
    assert_eq!(Config::mss_for_mtu(65536), 65503);
    assert_eq!(Config::mss_for_mtu(9000), 8968);
    assert_eq!(Config::mss_for_mtu(40), 64);
    let mut big = cfg();
    big.mss = 1468;
    let mut small = cfg();
    small.mss = 500;
    let (mut a, _b) = established_with(big, small, Seq(3));
    assert_eq!(a.conn.send_mss(), 500);
    a.write(&pattern(3000)).unwrap();
    assert!(out(&mut a, t0()).iter().all(|(h, _)| h.payload_len <= 500));
}

#[test]
fn window_scale_covers_large_buffers() {
    assert_eq!(wscale_for(65535), 0);
    assert_eq!(wscale_for(65536), 1);
    assert_eq!(wscale_for(1 << 20), 5);
    assert_eq!(wscale_for(u32::MAX), 14);
    let mut c = cfg();
    c.recv_buf = 1 << 20;
    c.mss = 8000;
    let (mut a, mut b) = established_with(c, c, Seq(3));
    // A SYN's window is never scaled.
    assert_eq!(b.conn.recv_window(), 65535);
    a.write(&pattern(200_000)).unwrap();
    let segs = out(&mut a, t0());
    feed(&mut b, &segs, t0());
    b.read(usize::MAX);
    let acks = out(&mut b, t0());
    let h = acks.last().unwrap().0;
    assert_eq!(u32::from(h.window) << 5, b.conn.recv_window());
    assert_eq!(b.conn.recv_window(), 1 << 20);
    feed(&mut a, &acks, t0());
    assert_eq!(a.conn.send_window(), 1 << 20);
}

#[test]
fn delayed_ack_waits_then_fires() {
    let mut c = cfg();
    c.ack_delay_us = 40 * MS;
    let (mut a, mut b) = established_with(cfg(), c, Seq(3));
    a.conn.set_nodelay(true);
    a.write(b"one").unwrap();
    feed(&mut b, &out(&mut a, t0()), t0());
    assert!(out(&mut b, t0()).is_empty(), "ACK delayed");
    assert_eq!(b.conn.poll_timeout(), Some(t0().after(40 * MS)));
    b.on_timeout(t0().after(40 * MS));
    assert_eq!(out(&mut b, t0().after(40 * MS)).len(), 1);
    // A small buffer's unread bytes shrink its window, which holds the
    // acknowledgement (see the lagging-reader test); this one has room to
    // spare at its window scale, and still the second of two segments
    // that arrive while the first is unread is not acknowledged on
    // arrival (where TCP would): the reader, woken for the first,
    // acknowledges both with its read.
    let mut c = cfg();
    c.ack_delay_us = 40 * MS;
    c.recv_buf = 1 << 20;
    let (mut a, mut b) = established_with(cfg(), c, Seq(3));
    a.conn.set_nodelay(true);
    let seg = |a: &mut Endpoint, d: &[u8]| {
        a.write(d).unwrap();
        out(a, t0())
    };
    let f = seg(&mut a, b"four");
    let g = seg(&mut a, b"five");
    feed(&mut b, &f, t0());
    feed(&mut b, &g, t0());
    assert!(out(&mut b, t0()).is_empty(), "held for the read");
    assert_eq!(b.conn.poll_timeout(), Some(t0().after(40 * MS)));
    assert_eq!(b.read(100), b"fourfive");
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0.ack, g[0].0.seq.wrapping_add(4));
    assert_eq!(b.conn.stats().read_acks, 1);
    // A reader that does not come: the delayed-ACK timer sends it.
    let f = seg(&mut a, b"six");
    let g = seg(&mut a, b"seven");
    feed(&mut b, &f, t0());
    feed(&mut b, &g, t0());
    assert!(out(&mut b, t0()).is_empty());
    let t = t0().after(40 * MS);
    b.on_timeout(t);
    let acks = out(&mut b, t);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0.ack, g[0].0.seq.wrapping_add(5));
}

/// A burst that arrives while its reader sleeps is acknowledged by the
/// reads that drain it, never on arrival (where TCP would acknowledge
/// every second segment): on one host the acknowledgement, and the
/// sender's work of freeing what it acknowledges, then run in the reading
/// task instead of in the softirq of the sending one.
#[test]
fn a_burst_is_acknowledged_by_the_reads_that_drain_it() {
    let mut c = cfg();
    c.ack_delay_us = 40 * MS;
    c.recv_buf = 1 << 20;
    let (mut a, mut b) = established_with(cfg(), c, Seq(3));
    a.conn.set_nodelay(true);
    // Five full segments and a short tail, the reader asleep.
    a.write(&pattern(5500)).unwrap();
    let burst = out(&mut a, t0());
    assert_eq!(burst.len(), 6);
    feed(&mut b, &burst, t0());
    assert!(out(&mut b, t0()).is_empty(), "none on arrival");
    // The reader's first read acknowledges the whole burst.
    assert_eq!(b.read(1000).len(), 1000);
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0.ack, burst[5].0.seq.wrapping_add(500));
    // A segment that comes while it reads is left to it as well, and the
    // read that empties the queue acknowledges it, alone as it is.
    a.write(&pattern(700)).unwrap();
    let more = out(&mut a, t0());
    feed(&mut b, &more, t0());
    assert!(out(&mut b, t0()).is_empty(), "left to the reader");
    assert_eq!(b.read(10_000).len(), 4500 + 700);
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1, "the read that emptied the queue");
    assert_eq!(acks[0].0.ack, more[0].0.seq.wrapping_add(700));
    // So the next burst starts owing nothing: its first segment waits
    // alone, its second is left to the reader, woken by the first.
    a.write(&pattern(2000)).unwrap();
    let next = out(&mut a, t0());
    assert_eq!(next.len(), 2);
    feed(&mut b, &next, t0());
    assert!(out(&mut b, t0()).is_empty(), "none on arrival");
    let s = b.conn.stats();
    assert_eq!((s.read_acks, s.delayed_acks), (2, 0));
    // Nothing is held past the delayed-ACK time (at most a quarter of
    // the minimum RTO), reader or not.
    assert_eq!(b.conn.poll_timeout(), Some(t0().after(40 * MS)));
}

#[test]
fn lagging_reader_acks_with_its_reads_not_on_arrival() {
    // 8,000 bytes of window in 1,000-byte segments. Unread data shrinks
    // the window the receiver would offer, and an acknowledgement then
    // tells the sender nothing it can use (Linux's `__tcp_ack_snd_check`
    // sends it only if `__tcp_select_window` is at least `rcv_wnd`).
    let mut c = cfg();
    c.ack_delay_us = 40 * MS;
    c.rto_min_us = 20 * MS;
    let (mut a, mut b) = established_with(cfg(), c, Seq(3));
    a.write(&pattern(8000)).unwrap();
    let segs = out(&mut a, t0());
    assert_eq!(segs.len(), 8);
    // Two segments arrive and stay unread: no acknowledgement on arrival...
    feed(&mut b, &segs[..2], t0());
    assert!(
        out(&mut b, t0()).is_empty(),
        "ACK held while the window shrinks"
    );
    // ...nor held past a quarter of the minimum RTO.
    assert_eq!(b.conn.poll_timeout(), Some(t0().after(5 * MS)));
    // A read sends it at once, with the window it reopened
    // (`__tcp_cleanup_rbuf`).
    b.read(1000);
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0.ack, segs[1].0.seq.wrapping_add(1000));
    assert_eq!(b.conn.stats().read_acks, 1, "counted as the read's");
    // A reader that keeps up: the read that empties the queue
    // acknowledges the full segment it took, so the next arrival waits
    // alone for the next read.
    feed(&mut b, &segs[2..3], t0());
    b.read(2000);
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1, "the read that emptied the queue");
    assert_eq!(acks[0].0.ack, segs[2].0.seq.wrapping_add(1000));
    feed(&mut b, &segs[3..4], t0());
    assert!(out(&mut b, t0()).is_empty(), "one segment waits");
    // Without a read, the timer sends it.
    feed(&mut b, &segs[4..8], t0());
    assert!(out(&mut b, t0()).is_empty());
    let t = t0().after(5 * MS);
    b.on_timeout(t);
    let acks = out(&mut b, t);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0.ack, segs[7].0.seq.wrapping_add(1000));
    // Two ACKs of reads and one of the timer; none on arrival.
    let s = b.conn.stats();
    assert_eq!((s.read_acks, s.delayed_acks, s.window_updates), (2, 1, 0));
    // Nothing was retransmitted meanwhile.
    assert_eq!(a.conn.stats().retrans_segs, 0);
}

#[test]
fn a_read_reopens_a_window_held_to_a_few_segments() {
    // Memory pressure holds the budget at what is unread plus four
    // segments (`buffers::pressure_budget`): a read must reopen the window
    // at once, whatever share of the budget the reopened part is.
    let (mut a, mut b) = established();
    b.conn.set_recv_buf(24_000);
    a.write(&pattern(30_000)).unwrap();
    for _ in 0..50 {
        pump(&mut a, &mut b, t0());
    }
    assert_eq!(b.conn.unread(), 24_000);
    assert_eq!(b.conn.recv_window(), 0);
    // The reader takes 4,000: under pressure the budget is what is left
    // unread plus four segments, 20,000 + 4 x 1,000.
    b.read(4000);
    b.conn.set_memory_pressure(true);
    b.conn.set_recv_buf(24_000);
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1, "the read sends a window update");
    assert!(acks[0].0.window > 0);
}

/// A large window that filled reopens in steps of an eighth of the budget
/// (`__tcp_select_window` offers no window under a sixteenth of its space;
/// the budget is half the buffer), not of two segments: each update wakes
/// the sender for what it lets through. Under memory pressure two
/// segments still reopen it.
#[test]
fn a_large_window_that_filled_reopens_in_eighths() {
    for pressure in [false, true] {
        let mut c = cfg();
        c.recv_buf = 64_000;
        let (mut a, mut b) = established_with(cfg(), c, Seq(3));
        b.conn.set_memory_pressure(pressure);
        a.write(&pattern(100_000)).unwrap();
        for _ in 0..100 {
            pump(&mut a, &mut b, t0());
        }
        assert_eq!(b.conn.unread(), 64_000);
        assert_eq!(b.conn.recv_window(), 0);
        b.read(2000);
        let acks = out(&mut b, t0());
        if pressure {
            assert_eq!(acks.len(), 1, "under pressure two segments reopen it");
            continue;
        }
        assert!(
            acks.is_empty(),
            "two segments of 64 are too few to reopen it"
        );
        b.read(6000);
        let acks = out(&mut b, t0());
        assert_eq!(acks.len(), 1, "an eighth of the budget reopens it");
        assert_eq!(u32::from(acks[0].0.window), 8000);
        assert_eq!(b.conn.stats().window_updates, 1);
    }
}

#[test]
fn a_large_window_scale_keeps_a_pressure_window_open() {
    // A buffer that may grow to 300 MiB scales the window by 2^13; under
    // memory pressure the budget is four segments beyond what is unread
    // (`buffers::pressure_budget`), 4,000 bytes: less than one unit of
    // the scale. Rounded down it would be a zero window for ever (the
    // reader has read everything); `__tcp_select_window` rounds it up.
    let mut c = cfg();
    c.recv_buf_max = 300 << 20;
    let budget = pressure_budget(1 << 20, 0, 1000);
    c.recv_buf = budget;
    let (mut a, mut b) = established_with(cfg(), c, Seq(3));
    assert_eq!(wscale_for(c.recv_buf_max), 13);
    a.write(&pattern(20_000)).unwrap();
    for _ in 0..20 {
        pump(&mut a, &mut b, t0());
        b.read(usize::MAX);
        b.conn
            .set_recv_buf(pressure_budget(1 << 20, b.conn.unread(), 1000));
    }
    assert_eq!(b.conn.unread(), 0);
    assert!(b.conn.recv_window() > 0, "the window stayed shut");
    assert!(
        a.send_buf.is_empty(),
        "{} bytes never sent",
        a.send_buf.len()
    );
}

#[test]
fn keepalive_probe_answered_keeps_the_connection() {
    let ka = Keepalive {
        idle_us: 5 * SEC,
        interval_us: SEC,
        probes: 2,
    };
    let (mut a, mut b) = established();
    a.conn.set_keepalive(Some(ka));
    out(&mut a, t0());
    let mut now = t0();
    for _ in 0..10 {
        now = a.conn.poll_timeout().unwrap();
        a.on_timeout(now);
        let p = out(&mut a, now);
        assert_eq!(p.len(), 1, "a keepalive probe");
        feed(&mut b, &p, now);
        let r = out(&mut b, now);
        assert_eq!(r.len(), 1, "the peer answers");
        feed(&mut a, &r, now);
    }
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.conn.stats().keepalive_probes, 10);
    assert!(now.since(t0()) >= 50 * SEC);
}

#[test]
fn close_sends_queued_data_before_fin() {
    let (mut a, mut b) = established();
    let data = pattern(4500);
    a.write(&data).unwrap();
    a.conn.close(t0());
    let f = out(&mut a, t0());
    let last = f.last().unwrap().0;
    assert!(last.flags.contains(Flags::FIN));
    feed(&mut b, &f, t0());
    assert_eq!(read_all(&mut b), data);
    assert!(b.at_eof());
}

#[test]
fn ooo_fin_waits_for_the_gap() {
    let (mut a, mut b) = established();
    a.write(&pattern(2500)).unwrap();
    a.conn.close(t0());
    let f = out(&mut a, t0());
    assert_eq!(f.len(), 3);
    feed(&mut b, &f[1..], t0());
    assert!(!b.conn.peer_closed(), "FIN ahead of a gap is held");
    feed(&mut b, &f[..1], t0());
    assert!(b.conn.peer_closed());
    assert_eq!(read_all(&mut b), pattern(2500));
    let _ = Instant(0);
}

/// The kernel's loopback case: a 64480-byte MSS, a receiver that shrinks its
/// buffer from 512 KiB to 16 KiB after the handshake, a sender that queues
/// 1 MiB while the reader sleeps, and the segment after the first lost (the
/// receiver's memory check dropped it). Once the lost segment is recovered,
/// every read that opens the window must draw data at once, never on a timer:
/// the retransmission must not overshoot the (now small) window and leave
/// the sender counting bytes the receiver dropped as in flight.
#[test]
fn shrunk_receive_buffer_drains_on_window_updates_not_timeouts() {
    const MSS: u16 = 64480;
    const TOTAL: usize = 1 << 20;
    let mut ca = Config::new(MSS);
    ca.recv_buf = 512 * 1024;
    let cb = ca;
    let (mut a, mut b) = established_with(ca, cb, Seq(0x4000));
    a.send_cap = TOTAL;
    b.conn.set_recv_buf(16384);

    /// Moves frames both ways until quiet, dropping `a`'s second data segment.
    fn exchange(a: &mut Endpoint, b: &mut Endpoint, now: Instant, data_seen: &mut u32) {
        for _ in 0..1000 {
            let fa = out(a, now);
            let fb = out(b, now);
            if fa.is_empty() && fb.is_empty() {
                return;
            }
            for f in fa {
                if f.0.payload_len > 0 {
                    *data_seen += 1;
                    if *data_seen == 2 {
                        continue;
                    }
                }
                feed(b, &[f], now);
            }
            feed(a, &fb, now);
        }
        panic!("endpoints never went quiet");
    }
    fn next_timer(a: &Endpoint, b: &Endpoint) -> Instant {
        match (a.conn.poll_timeout(), b.conn.poll_timeout()) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => x.or(y).expect("a timer is armed"),
        }
    }
    fn run_timers(a: &mut Endpoint, b: &mut Endpoint, now: Instant) {
        if a.conn.poll_timeout().is_some_and(|d| d <= now) {
            a.on_timeout(now);
        }
        if b.conn.poll_timeout().is_some_and(|d| d <= now) {
            b.on_timeout(now);
        }
    }

    let data = pattern(TOTAL);
    assert_eq!(a.write(&data).unwrap(), TOTAL);
    let mut seen = 0u32;
    let mut now = t0();
    exchange(&mut a, &mut b, now, &mut seen);
    // The reader sleeps for 50 ms: the delayed ACK fires meanwhile.
    while next_timer(&a, &b) < t0().after(50 * MS) {
        now = next_timer(&a, &b);
        run_timers(&mut a, &mut b, now);
        exchange(&mut a, &mut b, now, &mut seen);
    }
    assert!(seen >= 2, "the second data segment was sent (and lost)");
    now = t0().after(50 * MS);

    let mut got = Vec::new();
    let mut reads = Vec::new();
    let mut timer_waits = 0u32;
    while got.len() < TOTAL {
        let r = b.read(64 * 1024);
        if r.is_empty() {
            // Nothing readable: only a timer can move things now.
            timer_waits += 1;
            assert!(timer_waits < 200, "stalled; reads so far {reads:?}");
            now = next_timer(&a, &b);
            run_timers(&mut a, &mut b, now);
        } else {
            reads.push(r.len());
            got.extend(r);
        }
        exchange(&mut a, &mut b, now, &mut seen);
    }
    assert_eq!(got, data);
    assert_eq!(reads[0], usize::from(MSS));
    // One timeout recovers the lost segment; after that every window update
    // draws data at once.
    assert!(
        timer_waits <= 1,
        "{timer_waits} timer waits, {} retransmissions, {} ms; reads {reads:?}",
        a.conn.stats().retrans_segs,
        now.since(t0()) / MS
    );
    assert!(a.conn.stats().retrans_segs <= 2, "{:?}", a.conn.stats());
    assert!(now.since(t0()) < SEC, "took {} ms", now.since(t0()) / MS);
    // The reads reopened the small window: counted as window updates.
    assert!(b.conn.stats().window_updates > 0, "{:?}", b.conn.stats());
}

/// A head retransmitted into a zero window is a probe: its bytes lie past the
/// window, the peer drops them, so they must not count as in flight. A window
/// update smaller than a segment then draws data at once, not on the next timeout.
#[test]
fn zero_window_retransmission_probe_does_not_hold_back_the_update() {
    let (mut a, _b) = established();
    a.write(&pattern(3000)).unwrap();
    let burst = out(&mut a, t0());
    assert_eq!(data_segs(&burst).len(), 3);
    let una = a.conn.snd_una();
    // The peer shrank its window to zero and took only the first segment.
    let mut ack = seg(B, A, Flags::ACK, a.conn.rcv_nxt(), una.wrapping_add(1000));
    ack.window = 0;
    a.deliver(&ack, &[], t0());
    assert_eq!(a.conn.send_window(), 0);
    let rto = a.conn.poll_timeout().expect("retransmission timer");
    a.on_timeout(rto);
    let probe = out(&mut a, rto);
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].0.seq, una.wrapping_add(1000));
    assert_eq!(
        probe[0].0.payload_len, 1000,
        "the whole head goes as the probe"
    );
    // The peer answers with a small window.
    let mut upd = seg(B, A, Flags::ACK, a.conn.rcv_nxt(), una.wrapping_add(1000));
    upd.window = 500;
    a.deliver(&upd, &[], rto);
    let sent = out(&mut a, rto);
    assert_eq!(sent.len(), 1, "the window update draws data at once");
    assert_eq!(sent[0].0.seq, una.wrapping_add(1000));
    assert_eq!(sent[0].0.payload_len, 500);
}

/// A receiver out of memory drops the data but takes the ACK and the
/// window, and answers at once, so the sender keeps what is acknowledged
/// flowing and learns a closed window (issue 11, defect 4: segments were
/// dropped whole before the core saw them, and the sender retransmitted
/// into a full buffer until it timed out).
#[test]
fn data_without_room_is_dropped_but_its_ack_is_taken() {
    let (mut a, mut b) = established();
    // b sends 500 bytes that a has not acknowledged yet.
    b.write(&pattern(500)).unwrap();
    let from_b = out(&mut b, t0());
    assert_eq!(data_segs(&from_b).len(), 1);
    feed(&mut a, &from_b, t0());
    // a's data segment carries the ACK of b's bytes; b has no room for it.
    a.write(&pattern(1000)).unwrap();
    let segs = data_segs(&out(&mut a, t0()));
    assert_eq!(segs.len(), 1);
    let (h, _) = &segs[0];
    assert!(h.flags.ack());
    let before = b.conn.stats().rcv_pruned;
    let o = b.conn.on_segment_without_room(h, t0());
    assert!(
        matches!(o.data, afc_proto::conn::DataAction::None),
        "no data placed"
    );
    assert_eq!(b.conn.stats().rcv_pruned, before + 1);
    // b's bytes are acknowledged: its send buffer is empty.
    assert!(b.conn.all_acked());
    // b answers at once, acknowledging nothing new (the data was dropped),
    // with a zero window.
    let ack = out(&mut b, t0());
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].0.ack, h.seq);
    assert_eq!(ack[0].0.payload_len, 0);
    assert_eq!(ack[0].0.window, 0);
    assert_eq!(b.conn.recv_window(), 0);
    feed(&mut a, &ack, t0());
    assert_eq!(a.conn.send_window(), 0);
    // Once b's memory frees, the update reopens the window at once.
    b.conn.set_recv_buf(cfg().recv_buf - 1);
    b.conn.set_recv_buf(cfg().recv_buf);
    let upd = out(&mut b, t0());
    assert_eq!(upd.len(), 1, "window update");
    assert!(upd[0].0.window > 0);
    feed(&mut a, &upd, t0());
    assert!(a.conn.send_window() > 0);
    // A FIN riding on dropped data is dropped with it.
    let mut fin = *h;
    fin.flags = Flags(h.flags.0 | Flags::FIN.0);
    b.conn.on_segment_without_room(&fin, t0());
    assert_eq!(b.state(), State::Established);
    // With room again the retransmission is taken as usual.
    let o = b.conn.on_segment(h, t0());
    assert!(matches!(o.data, afc_proto::conn::DataAction::Append { .. }));
}

/// The settings the Linux module gives every connection (peers on the
/// link): Linux's defaults but for TIME_WAIT (2 s) and the RTO floor
/// (20 ms), in one place (`Config::on_link`).
#[test]
fn on_link_config_differs_from_linux_only_in_time_wait_and_rto_floor() {
    use afc_proto::time::{MS, SEC};
    let linux = afc_proto::conn::Config::new(1468);
    let mut ours = afc_proto::conn::Config::on_link(1468);
    assert_eq!(ours.time_wait_us, 2 * SEC);
    assert_eq!(ours.rto_min_us, 20 * MS);
    assert_eq!(linux.time_wait_us, 60 * SEC);
    assert_eq!(linux.rto_min_us, 200 * MS);
    ours.time_wait_us = linux.time_wait_us;
    ours.rto_min_us = linux.rto_min_us;
    assert_eq!(format!("{ours:?}"), format!("{linux:?}"));
}

/// What `enqueue_room` promises is what `enqueue` takes: the module
/// appends a write's bytes to its last send buffer only after asking, so
/// that the core never takes fewer than were appended.
#[test]
fn enqueue_takes_what_enqueue_room_promised() {
    let (mut a, b) = established();
    let room = a.conn.enqueue_room();
    assert_eq!(room, afc_proto::conn::MAX_SEND_QUEUE);
    assert_eq!(a.conn.enqueue(1000), Ok(1000));
    assert_eq!(a.conn.enqueue_room(), room - 1000);
    // At the limit: the room is what is left, and enqueue takes no more.
    let left = a.conn.enqueue_room();
    assert_eq!(a.conn.enqueue(left + 5), Ok(left));
    assert_eq!(a.conn.enqueue_room(), 0);
    assert_eq!(a.conn.enqueue(1), Ok(0));
    // After a shutdown of the sending side: no room, and enqueue refuses.
    let (mut c, _d) = established();
    c.conn.close(t0());
    assert_eq!(c.conn.enqueue_room(), 0);
    assert!(c.conn.enqueue(1).is_err());
    drop((a, b));
}

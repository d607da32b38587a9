//! Listeners end to end: queues, overflow and drop counters, expiry, reuseport, ports, binding.

mod support;

use afc_proto::bind::{any_conflict, bind_conflict, Binding};
use afc_proto::conn::{Config, ConnError};
use afc_proto::conn_send::reset_reply;
use afc_proto::ports::PortRange;
use afc_proto::seq::Seq;
use afc_proto::state::State;
use afc_proto::time::{Instant, SEC};
use afc_proto::tuple::{Endpoint as Addr, FourTuple, ADDR_ANY};
use afc_proto::wire::{ChecksumPolicy, Flags, Header};
use support::net::{Host, LinkParams, Sim};

const CLIENT: u32 = 0x0a00_0001;
const SERVER: u32 = 0x0a00_0002;
const PORT: u16 = 7000;

fn cfg() -> Config {
    let mut c = Config::new(1400);
    c.ack_delay_us = 0;
    c
}

fn sim() -> Sim {
    Sim::new(
        9,
        LinkParams::perfect(),
        vec![
            Host::new(CLIENT, cfg(), 1, false),
            Host::new(SERVER, cfg(), 2, false),
        ],
    )
}

fn connect_n(sim: &mut Sim, n: usize) -> Vec<FourTuple> {
    let now = sim.now;
    (0..n)
        .map(|_| {
            sim.hosts[0]
                .connect(Addr::new(SERVER, PORT), now)
                .expect("port")
        })
        .collect()
}

fn settle(sim: &mut Sim, secs: u64) {
    let t = sim.now.after(secs * SEC);
    sim.run_until(t);
}

fn state_of(sim: &mut Sim, host: usize, t: &FourTuple) -> Option<State> {
    sim.hosts[host].ep(t).map(|e| e.state())
}

#[test]
fn accept_queue_overflow_is_counted_and_recovers() {
    let mut sim = sim();
    let li = sim.hosts[1].listen(SERVER, PORT, 2, 8, 1000);
    let clients = connect_n(&mut sim, 5);
    settle(&mut sim, 0);
    settle(&mut sim, 1);
    let q = sim.hosts[1].listeners[li].queues;
    assert_eq!(
        q.accept_len(),
        2,
        "the accept queue holds exactly the backlog"
    );
    assert_eq!(q.syn_len(), 3, "the rest wait half-open");
    assert_eq!(
        q.stats().listen_overflows,
        3,
        "their final ACKs were dropped"
    );
    assert_eq!(q.stats().listen_drops, 3);
    // The clients think they are connected.
    for t in &clients {
        assert_eq!(state_of(&mut sim, 0, t), Some(State::Established));
    }
    // Make room: the half-open ones complete on their SYN-ACK retransmission.
    let mut accepted = Vec::new();
    for _ in 0..40 {
        while let Some(t) = sim.hosts[1].accept(li) {
            accepted.push(t);
        }
        settle(&mut sim, 1);
    }
    assert_eq!(accepted.len(), 5);
    let q = sim.hosts[1].listeners[li].queues;
    assert_eq!((q.syn_len(), q.accept_len()), (0, 0));
    assert_eq!(q.stats().accepted, 5);
    assert_eq!(q.stats().half_open_expired, 0);
}

#[test]
fn syn_queue_full_drops_syns() {
    let mut sim = sim();
    let li = sim.hosts[1].listen(SERVER, PORT, 16, 2, 1000);
    // The server's SYN-ACKs never arrive: entries stay half-open.
    sim.link.loss_ppm = 0;
    let now = sim.now;
    for p in 0..4u16 {
        let t = FourTuple::new(Addr::new(CLIENT, 50_000 + p), Addr::new(SERVER, PORT));
        sim.hosts[0].connect_from(t, now);
    }
    let syns = std::mem::take(&mut sim.hosts[0].outbox);
    for f in &syns {
        sim.hosts[1].receive(f, now);
    }
    let q = sim.hosts[1].listeners[li].queues;
    assert_eq!(q.syn_len(), 2);
    assert_eq!(q.stats().syn_queue_drops, 2);
    assert_eq!(q.stats().listen_drops, 2);
    assert_eq!(q.stats().listen_overflows, 0);
}

#[test]
fn half_open_entry_expires() {
    let mut host = Host::new(SERVER, cfg(), 2, false);
    let li = host.listen(SERVER, PORT, 8, 8, 1000);
    let mut syn = Header {
        flags: Flags::SYN,
        src: Addr::new(CLIENT, 4444),
        dst: Addr::new(SERVER, PORT),
        seq: Seq(1234),
        window: 1000,
        mss: 1400,
        ..Header::default()
    };
    syn.wscale = 0;
    let mut f = vec![0u8; 32];
    syn.emit(&mut f).unwrap();
    afc_proto::wire::fill_checksum(&mut f).unwrap();
    let mut now = Instant(SEC);
    host.receive(&f, now);
    assert_eq!(host.listeners[li].queues.syn_len(), 1);
    let mut synacks = 0;
    while let Some(d) = host.next_deadline() {
        synacks += host.outbox.drain(..).count();
        now = d;
        host.run_timers(now);
    }
    synacks += host.outbox.drain(..).count();
    assert_eq!(synacks, 1 + usize::from(cfg().synack_retries));
    let q = host.listeners[li].queues;
    assert_eq!(q.syn_len(), 0);
    assert_eq!(q.stats().half_open_expired, 1);
    assert!(host.conns.is_empty());
}

#[test]
fn reuseport_spreads_by_shortest_accept_queue() {
    let mut sim = sim();
    let shards: Vec<usize> = (0..3)
        .map(|_| sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000))
        .collect();
    // Connections arriving one after another, nobody accepting.
    for _ in 0..30 {
        connect_n(&mut sim, 1);
        settle(&mut sim, 1);
    }
    let lens: Vec<u32> = shards
        .iter()
        .map(|&i| sim.hosts[1].listeners[i].queues.accept_len())
        .collect();
    assert_eq!(lens.iter().sum::<u32>(), 30);
    let (lo, hi) = (*lens.iter().min().unwrap(), *lens.iter().max().unwrap());
    assert!(hi - lo <= 1, "balanced: {lens:?}");
    // A shard that keeps accepting gets the new connections.
    while sim.hosts[1].accept(shards[1]).is_some() {}
    connect_n(&mut sim, 5);
    settle(&mut sim, 2);
    assert_eq!(sim.hosts[1].listeners[shards[1]].queues.accept_len(), 5);
}

#[test]
fn reuseport_group_requires_same_owner() {
    let owner = Binding {
        addr: ADDR_ANY,
        port: PORT,
        dev_if: 0,
        reuseaddr: false,
        reuseport: true,
        uid: 1000,
        state: State::Listen,
        by_connect: false,
    };
    let same = Binding {
        state: State::Closed,
        ..owner
    };
    let other = Binding { uid: 1001, ..same };
    assert!(!bind_conflict(&owner, &same));
    assert!(bind_conflict(&owner, &other));
    let m = afc_proto::reuseport::Member {
        uid: 1000,
        dev: 0,
        reuseport: true,
    };
    assert!(afc_proto::reuseport::may_join(m, m));
    assert!(!afc_proto::reuseport::may_join(
        m,
        afc_proto::reuseport::Member { uid: 1001, ..m }
    ));
}

#[test]
fn closing_shard_migrates_its_queue() {
    let mut sim = sim();
    let s0 = sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000);
    let clients = connect_n(&mut sim, 4);
    settle(&mut sim, 1);
    assert_eq!(sim.hosts[1].listeners[s0].queues.accept_len(), 4);
    // A second shard joins, and the first closes: its queue moves over.
    let s1 = sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000);
    let now = sim.now;
    sim.hosts[1].close_listener(s0, now);
    let q0 = sim.hosts[1].listeners[s0].queues;
    let q1 = sim.hosts[1].listeners[s1].queues;
    assert_eq!(q0.state(), State::Closed);
    assert_eq!(q0.stats().migrated_out, 4);
    assert_eq!(q0.stats().reset_on_close, 0);
    assert_eq!(q1.accept_len(), 4);
    assert_eq!(q1.stats().migrated_in, 4);
    // The migrated connections work.
    let t = sim.hosts[1].accept(s1).unwrap();
    sim.hosts[1].with(t, now, |ep| ep.write(b"hello").unwrap());
    settle(&mut sim, 1);
    let c = clients.iter().find(|c| c.reversed() == t).unwrap();
    assert_eq!(sim.hosts[0].ep(c).unwrap().read(100), b"hello");
}

#[test]
fn reuseport_full_group_sends_syns_to_the_first_shard() {
    let mut sim = sim();
    let shards: Vec<usize> = (0..3)
        .map(|_| sim.hosts[1].listen(SERVER, PORT, 2, 8, 1000))
        .collect();
    for _ in 0..6 {
        connect_n(&mut sim, 1);
        settle(&mut sim, 1);
    }
    let stats = |sim: &Sim, i: usize| *sim.hosts[1].listeners[i].queues.stats();
    for &i in &shards {
        assert_eq!(sim.hosts[1].listeners[i].queues.accept_len(), 2);
        assert_eq!(stats(&sim, i).listen_overflows, 0);
    }
    // Every shard full: the first takes (and refuses) every SYN, as the kernel's lookup.
    connect_n(&mut sim, 4);
    settle(&mut sim, 1);
    assert!(stats(&sim, shards[0]).listen_overflows >= 4);
    assert_eq!(stats(&sim, shards[1]).listen_overflows, 0);
    assert_eq!(stats(&sim, shards[2]).listen_overflows, 0);
}

#[test]
fn reuseport_groups_split_by_owner() {
    let mut sim = sim();
    let mine = sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000);
    let theirs = sim.hosts[1].listen(SERVER, PORT, 64, 64, 1001);
    let again = sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000);
    let group = |i: usize| sim.hosts[1].listeners[i].group;
    assert_ne!(group(mine), group(theirs));
    assert_eq!(group(mine), group(again));
    // Equal scores: the first group met takes every SYN, however short the other's queue.
    for _ in 0..6 {
        connect_n(&mut sim, 1);
        settle(&mut sim, 1);
    }
    let len = |sim: &Sim, i: usize| sim.hosts[1].listeners[i].queues.accept_len();
    assert_eq!((len(&sim, mine), len(&sim, again)), (3, 3));
    assert_eq!(len(&sim, theirs), 0);
    // A closing shard's connections stay in its group, and never cross owners.
    let now = sim.now;
    sim.hosts[1].close_listener(again, now);
    assert_eq!(len(&sim, mine), 6);
    sim.hosts[1].close_listener(mine, now);
    let q = sim.hosts[1].listeners[mine].queues;
    assert_eq!(q.stats().reset_on_close, 6);
    assert_eq!(len(&sim, theirs), 0);
}

#[test]
fn closing_last_listener_resets_its_queue() {
    let mut sim = sim();
    let li = sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000);
    let clients = connect_n(&mut sim, 3);
    settle(&mut sim, 1);
    let now = sim.now;
    sim.hosts[1].close_listener(li, now);
    assert_eq!(sim.hosts[1].listeners[li].queues.stats().reset_on_close, 3);
    settle(&mut sim, 1);
    for t in &clients {
        let ep = sim.hosts[0].ep(t).expect("still held by the application");
        assert_eq!(ep.state(), State::Closed);
        assert_eq!(ep.conn.error(), Some(ConnError::Reset));
    }
}

#[test]
fn ephemeral_ports_are_unique_and_in_range() {
    let mut sim = sim();
    sim.hosts[1].listen(SERVER, PORT, 64, 64, 1000);
    sim.hosts[0].ports = PortRange::new(40_000, 40_009).unwrap();
    let ts = connect_n(&mut sim, 10);
    let mut ports: Vec<u16> = ts.iter().map(|t| t.local.port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 10);
    assert!(ports.iter().all(|p| (40_000..=40_009).contains(p)));
    let now = sim.now;
    assert!(
        sim.hosts[0].connect(Addr::new(SERVER, PORT), now).is_none(),
        "range exhausted"
    );
    // Another destination may reuse the same ports.
    assert!(sim.hosts[0]
        .connect(Addr::new(SERVER, PORT + 1), now)
        .is_some());
}

#[test]
fn bind_rules_like_linux() {
    let b = |addr, reuseaddr, reuseport, uid, state| Binding {
        addr,
        port: PORT,
        dev_if: 0,
        reuseaddr,
        reuseport,
        uid,
        state,
        by_connect: false,
    };
    // A server restarting with SO_REUSEADDR binds over its old TIME_WAIT connections...
    let old = [
        b(SERVER, true, false, 1000, State::TimeWait),
        b(SERVER, true, false, 1000, State::TimeWait),
    ];
    assert!(!any_conflict(
        old.iter(),
        &b(ADDR_ANY, true, false, 1000, State::Closed)
    ));
    // ...but not over a listener, and not without SO_REUSEADDR.
    assert!(bind_conflict(
        &b(ADDR_ANY, true, false, 1000, State::Listen),
        &b(SERVER, true, false, 1000, State::Closed)
    ));
    assert!(any_conflict(
        old.iter(),
        &b(ADDR_ANY, false, false, 1000, State::Closed)
    ));
    // Two SO_REUSEADDR sockets bind; the second cannot listen once the first does.
    let first = b(ADDR_ANY, true, false, 1000, State::Closed);
    let second = b(ADDR_ANY, true, false, 1000, State::Closed);
    assert!(!bind_conflict(&first, &second));
    assert!(bind_conflict(
        &Binding {
            state: State::Listen,
            ..first
        },
        &second
    ));
    // Different specific addresses never conflict; wildcard overlaps everything.
    assert!(!bind_conflict(
        &b(SERVER, false, false, 1, State::Listen),
        &b(CLIENT, false, false, 2, State::Closed)
    ));
    assert!(bind_conflict(
        &b(SERVER, false, false, 1, State::Listen),
        &b(ADDR_ANY, false, false, 1, State::Closed)
    ));
}

#[test]
fn segments_for_nothing_are_reset() {
    let data = Header {
        flags: Flags::ACK,
        src: Addr::new(CLIENT, 5555),
        dst: Addr::new(SERVER, 9),
        seq: Seq(100),
        ack: Seq(777),
        payload_len: 10,
        ..Header::default()
    };
    let r = reset_reply(&data).unwrap();
    assert_eq!(r.flags, Flags::RST);
    assert_eq!(r.seq, Seq(777));
    assert_eq!((r.src, r.dst), (data.dst, data.src));
    let syn = Header {
        flags: Flags::SYN,
        ack: Seq(0),
        payload_len: 0,
        mss: 1000,
        ..data
    };
    let r = reset_reply(&syn).unwrap();
    assert_eq!(r.flags, Flags::RST.with(Flags::ACK));
    assert_eq!((r.seq, r.ack), (Seq(0), Seq(101)));
    assert!(reset_reply(&r).is_none(), "never answer an RST");
    // End to end: a SYN to a closed port is refused.
    let mut sim = sim();
    let now = sim.now;
    let t = sim.hosts[0].connect(Addr::new(SERVER, PORT), now).unwrap();
    settle(&mut sim, 1);
    let ep = sim.hosts[0].ep(&t).unwrap();
    assert_eq!(ep.conn.error(), Some(ConnError::Refused));
    assert_eq!(sim.hosts[1].unmatched_rsts, 1);
}

#[test]
fn time_wait_yields_to_a_new_incarnation() {
    let mut sim = sim();
    let li = sim.hosts[1].listen(SERVER, PORT, 8, 8, 1000);
    let t = connect_n(&mut sim, 1)[0];
    settle(&mut sim, 1);
    let st = sim.hosts[1].accept(li).unwrap();
    // The server closes first, so it holds TIME_WAIT.
    let now = sim.now;
    sim.hosts[1].with(st, now, |ep| ep.conn.close(now));
    settle(&mut sim, 1);
    let now = sim.now;
    sim.hosts[0].with(t, now, |ep| ep.conn.close(now));
    settle(&mut sim, 1);
    assert_eq!(
        sim.hosts[1].conns.get(&st).map(|s| s.ep.state()),
        Some(State::TimeWait)
    );
    // The client reconnects from the same port 10 s later (its ISN has moved on).
    settle(&mut sim, 10);
    sim.hosts[0].closed.clear();
    let now = sim.now;
    sim.hosts[0].zombies.clear();
    sim.hosts[0].conns.clear();
    sim.hosts[0].connect_from(t, now);
    settle(&mut sim, 1);
    assert_eq!(state_of(&mut sim, 0, &t), Some(State::Established));
    assert!(sim.hosts[1].accept(li).is_some());
    let _ = ChecksumPolicy::Verify;
}

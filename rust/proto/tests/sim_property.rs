//! Property tests: two endpoints talk through a simulated hostile link.
//!
//! For each seed the client connects to a listener, both sides send a random
//! amount of data in random chunks, read at random paces (small receive
//! buffers force zero windows), shut down their send side when done, read to
//! end-of-file, and close. Whatever the link does (loss, reordering,
//! duplication, corruption), every byte must arrive exactly once and in
//! order, both connections must reach CLOSED without error, and no state may
//! remain: tables empty, queues empty, counters balanced.
//!
//! `AFC_SIM_SEEDS=N` changes the number of seeds (default 2000 at the
//! hostile rates); `AFC_SIM_SEED=S` runs one seed, for debugging.

mod support;

use afc_proto::conn::{Config, Keepalive};
use afc_proto::state::State;
use afc_proto::time::{Instant, MS, SEC};
use afc_proto::tuple::{Endpoint as Addr, FourTuple};
use support::net::{Host, LinkParams, Sim};
use support::rng::Rng;

const CLIENT: u32 = 0x0a00_0001;
const SERVER: u32 = 0x0a00_0002;
const PORT: u16 = 7000;

/// One side's application script.
struct App {
    data: Vec<u8>,
    written: usize,
    shut: bool,
    got: Vec<u8>,
    closed: bool,
    tuple: Option<FourTuple>,
    write_chunk: usize,
    read_chunk: usize,
    read_ppm: u32,
}

impl App {
    fn new(rng: &mut Rng, max_len: u64) -> App {
        let len = if rng.chance_ppm(100_000) {
            0
        } else {
            rng.below(max_len + 1) as usize
        };
        App {
            data: rng.bytes(len),
            written: 0,
            shut: false,
            got: Vec::new(),
            closed: false,
            tuple: None,
            write_chunk: rng.range(1, 6000) as usize,
            // Slow readers, but not so slow that a closed (orphaned) peer
            // gives up on its zero window, which Linux does as well.
            read_chunk: rng.range(64, 6000) as usize,
            read_ppm: [1_000_000, 500_000, 200_000][rng.below(3) as usize],
        }
    }

    fn with_data(rng: &mut Rng, data: Vec<u8>) -> App {
        let mut app = App::new(rng, 0);
        app.data = data;
        app
    }

    /// Runs one step of the script on `host`; returns an error on a protocol failure.
    fn step(&mut self, host: &mut Host, now: Instant, rng: &mut Rng) -> Result<(), String> {
        let Some(t) = self.tuple else { return Ok(()) };
        if self.closed {
            return Ok(());
        }
        let Some(ep) = host.ep(&t) else {
            return Err("connection vanished before close".into());
        };
        if let Some(e) = ep.conn.error() {
            if std::env::var_os("AFC_SIM_TRACE").is_some() {
                eprintln!(
                    "{:#?}\nrecv_q {} ofo {}",
                    ep.conn,
                    ep.recv_q.len(),
                    ep.ofo_bytes()
                );
            }
            return Err(format!("connection failed: {e:?} in {:?}", ep.history));
        }
        if ep.state() == State::SynSent {
            return Ok(());
        }
        let (write_chunk, read_chunk) = (self.write_chunk, self.read_chunk);
        let read_now = rng.chance_ppm(self.read_ppm);
        let data = &self.data;
        let mut written = self.written;
        let mut shut = self.shut;
        let mut got = Vec::new();
        let mut eof = false;
        host.with(t, now, |ep| {
            if written < data.len() {
                let end = (written + write_chunk).min(data.len());
                written += ep.write(&data[written..end]).expect("write");
            }
            if written == data.len() && !shut {
                ep.conn.shutdown_write();
                shut = true;
            }
        });
        // The read in an event of its own, after the write's segments went
        // out: the module skips the transmit poll after a read that owes
        // nothing (`read_owes_transmit`), so such a poll must find nothing
        // to send and leave the timers as they were.
        host.with(t, now, |ep| {
            if read_now {
                got = ep.read(read_chunk);
                if !ep.conn.read_owes_transmit() {
                    let timeout = ep.conn.poll_timeout();
                    let sent = ep.conn.poll_transmit(now);
                    assert!(sent.is_none(), "a read that owes nothing sent {sent:?}");
                    assert_eq!(ep.conn.poll_timeout(), timeout, "a read moved a timer");
                }
            }
            eof = ep.at_eof();
        });
        self.written = written;
        self.shut = shut;
        self.got.extend(got);
        if eof && shut {
            host.with(t, now, |ep| ep.conn.close(now));
            self.closed = true;
        }
        Ok(())
    }
}

fn config(rng: &mut Rng) -> Config {
    let mut cfg = Config::new(rng.range(64, 1460) as u16);
    cfg.recv_buf = [300, 1000, 4096, 16384, 65536, 300_000][rng.below(6) as usize];
    cfg.nodelay = rng.chance_ppm(500_000);
    cfg.ack_delay_us = if rng.chance_ppm(500_000) {
        0
    } else {
        rng.range(1, 20) * MS
    };
    cfg.rto_initial_us = 100 * MS;
    cfg.rto_min_us = 30 * MS;
    cfg.rto_max_us = 2 * SEC;
    cfg.syn_retries = 12;
    cfg.synack_retries = 12;
    cfg.data_retries = 20;
    // Closed (orphaned) ends retry as long on this lossy link: what is
    // checked here is the data, not the orphan limit (tests/orphan.rs).
    cfg.orphan_retries = 20;
    if rng.chance_ppm(300_000) {
        cfg.keepalive = Some(Keepalive {
            // Probes further apart than the peer's out-of-window ACK rate limit.
            idle_us: 200 * MS,
            interval_us: 600 * MS,
            probes: 20,
        });
    }
    cfg
}

/// Runs one seed; returns the link and connection counters on success.
fn run_seed(seed: u64, mut link: LinkParams) -> Result<(u64, u64), String> {
    let mut rng = Rng::new(seed);
    if rng.chance_ppm(150_000) {
        // A loopback-like run: no checksums, and no corruption.
        link.trusted = true;
    }
    let ccfg = config(&mut rng);
    let scfg = config(&mut rng);
    let max_len = if rng.chance_ppm(100_000) {
        60_000
    } else {
        6_000
    };
    let mut client = App::new(&mut rng, max_len);
    let mut server = App::new(&mut rng, max_len);
    let mut hosts = vec![
        Host::new(CLIENT, ccfg, seed, link.trusted),
        Host::new(SERVER, scfg, seed ^ 0xffff, link.trusted),
    ];
    let li = hosts[1].listen(SERVER, PORT, 4, 4, 1000);
    let mut sim = Sim::new(seed, link, hosts);
    let now = sim.now;
    client.tuple = sim.hosts[0].connect(Addr::new(SERVER, PORT), now);
    let deadline = sim.now.after(600 * SEC);
    while !(client.closed && server.closed) {
        if sim.now > deadline {
            return Err(format!(
                "not done by the deadline: client {:?} server {:?}",
                client
                    .tuple
                    .and_then(|t| sim.hosts[0].ep(&t).map(|e| e.history.clone())),
                server
                    .tuple
                    .and_then(|t| sim.hosts[1].ep(&t).map(|e| e.history.clone())),
            ));
        }
        if server.tuple.is_none() {
            server.tuple = sim.hosts[1].accept(li);
        }
        let now = sim.now;
        let (h0, rest) = sim.hosts.split_at_mut(1);
        client.step(&mut h0[0], now, &mut rng)?;
        server.step(&mut rest[0], now, &mut rng)?;
        let tick = rng.range(1, 10) * MS;
        sim.run_until(now.after(tick));
    }
    // Let the closing handshakes, retransmissions and TIME_WAIT run out.
    let later = sim.now.after(400 * SEC);
    sim.run_until(later);

    if client.got != server.data {
        return Err(format!(
            "client received {} bytes, server sent {}",
            client.got.len(),
            server.data.len()
        ));
    }
    if server.got != client.data {
        return Err(format!(
            "server received {} bytes, client sent {}",
            server.got.len(),
            client.data.len()
        ));
    }
    for (i, h) in sim.hosts.iter().enumerate() {
        if !h.conns.is_empty() || !h.zombies.is_empty() {
            let states: Vec<_> = h.conns.values().map(|s| s.ep.history.clone()).collect();
            return Err(format!("host {i} leaked connections: {states:?}"));
        }
        for l in &h.listeners {
            if l.queues.syn_len() != 0 || l.queues.accept_len() != 0 || !l.accept_q.is_empty() {
                return Err(format!(
                    "host {i} listener queues not empty: {:?}",
                    l.queues
                ));
            }
        }
        for (t, ep) in &h.closed {
            if ep.conn.error().is_some() {
                return Err(format!(
                    "host {i} {t:?} ended with {:?} via {:?}",
                    ep.conn.error(),
                    ep.history
                ));
            }
            if !ep.ofo.is_empty() || !ep.conn.ooo_ranges().is_empty() {
                return Err(format!("host {i} out-of-order state left"));
            }
        }
    }
    // The application's connections, plus any half-open duplicates that expired.
    let c_done = sim.hosts[0]
        .closed
        .iter()
        .filter(|(t, _)| Some(*t) == client.tuple)
        .count();
    let s_done = sim.hosts[1]
        .closed
        .iter()
        .filter(|(t, _)| Some(*t) == server.tuple)
        .count();
    if c_done != 1 || s_done != 1 {
        return Err("a connection did not reach CLOSED".into());
    }
    let retrans: u64 = sim
        .hosts
        .iter()
        .flat_map(|h| h.closed.iter())
        .map(|(_, e)| e.conn.stats().retrans_segs)
        .sum();
    Ok((sim.stats.sent, retrans))
}

fn seeds(default: u64) -> std::ops::Range<u64> {
    if let Ok(s) = std::env::var("AFC_SIM_SEED") {
        let s: u64 = s.parse().expect("AFC_SIM_SEED");
        return s..s + 1;
    }
    let n = std::env::var("AFC_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    0..n
}

fn run_many(name: &str, link: LinkParams, default_seeds: u64) {
    let mut failures = Vec::new();
    let (mut frames, mut retrans) = (0, 0);
    let range = seeds(default_seeds);
    let count = range.end - range.start;
    for seed in range {
        match run_seed(seed, link) {
            Ok((f, r)) => {
                frames += f;
                retrans += r;
            }
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    eprintln!("{name}: {count} seeds, {frames} frames, {retrans} retransmissions");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn perfect_link_delivers_everything() {
    run_many("perfect", LinkParams::perfect(), 200);
}

#[test]
fn hostile_link_delivers_exactly_once_in_order() {
    // 10% loss, 25% reordering, 5% duplication, 1% corruption.
    run_many("hostile", LinkParams::hostile(), 2000);
}

/// Returns the data the server sends on the connection from client port `port`.
fn reply_for(seed: u64, port: u16) -> Vec<u8> {
    let mut r = Rng::new(seed ^ u64::from(port) << 20);
    let n = r.below(8000) as usize;
    r.bytes(n)
}

/// Several clients at once through a reuseport group of three listeners.
fn run_group_seed(seed: u64, link: LinkParams) -> Result<(), String> {
    let mut rng = Rng::new(seed ^ 0x5eed);
    let ccfg = config(&mut rng);
    let scfg = config(&mut rng);
    let hosts = vec![
        Host::new(CLIENT, ccfg, seed, false),
        Host::new(SERVER, scfg, !seed, false),
    ];
    let mut sim = Sim::new(seed, link, hosts);
    let shards: Vec<usize> = (0..3)
        .map(|_| sim.hosts[1].listen(SERVER, PORT, 4, 4, 1000))
        .collect();
    let n = rng.range(2, 6) as usize;
    let mut clients: Vec<App> = (0..n).map(|_| App::new(&mut rng, 6000)).collect();
    let now = sim.now;
    for c in &mut clients {
        c.tuple = sim.hosts[0].connect(Addr::new(SERVER, PORT), now);
    }
    let mut servers: Vec<App> = Vec::new();
    let deadline = sim.now.after(600 * SEC);
    while !(clients.iter().all(|c| c.closed)
        && servers.len() == n
        && servers.iter().all(|s| s.closed))
    {
        if sim.now > deadline {
            return Err(format!(
                "not done by the deadline ({} accepted of {n})",
                servers.len()
            ));
        }
        for &li in &shards {
            while let Some(t) = sim.hosts[1].accept(li) {
                let mut app = App::with_data(&mut rng, reply_for(seed, t.remote.port));
                app.tuple = Some(t);
                servers.push(app);
            }
        }
        let now = sim.now;
        let (h0, rest) = sim.hosts.split_at_mut(1);
        for c in &mut clients {
            c.step(&mut h0[0], now, &mut rng)?;
        }
        for s in &mut servers {
            s.step(&mut rest[0], now, &mut rng)?;
        }
        let tick = rng.range(1, 10) * MS;
        sim.run_until(now.after(tick));
    }
    let later = sim.now.after(400 * SEC);
    sim.run_until(later);
    for c in &clients {
        let t = c.tuple.expect("connected");
        if c.got != reply_for(seed, t.local.port) {
            return Err(format!("client {} got the wrong reply", t.local.port));
        }
        let s = servers
            .iter()
            .find(|s| s.tuple == Some(t.reversed()))
            .ok_or("client never accepted")?;
        if s.got != c.data {
            return Err(format!("server got the wrong data from {}", t.local.port));
        }
    }
    for (i, h) in sim.hosts.iter().enumerate() {
        if !h.conns.is_empty() || !h.zombies.is_empty() {
            return Err(format!("host {i} leaked connections"));
        }
        for (t, ep) in &h.closed {
            if ep.conn.error().is_some() {
                return Err(format!(
                    "host {i} {t:?} ended with {:?} via {:?}",
                    ep.conn.error(),
                    ep.history
                ));
            }
        }
    }
    let accepted: u64 = shards
        .iter()
        .map(|&li| sim.hosts[1].listeners[li].queues.stats().accepted)
        .sum();
    if accepted != n as u64 {
        return Err(format!("{accepted} accepted, {n} connected"));
    }
    for &li in &shards {
        let q = sim.hosts[1].listeners[li].queues;
        if q.syn_len() != 0 || q.accept_len() != 0 {
            return Err(format!("listener {li} queues not empty: {q:?}"));
        }
    }
    Ok(())
}

#[test]
fn hostile_link_many_clients_reuseport_group() {
    let range = seeds(300);
    let mut failures = Vec::new();
    for seed in range {
        if let Err(e) = run_group_seed(seed, LinkParams::hostile()) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

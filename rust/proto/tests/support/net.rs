//! A simulated network: hosts with connection and listener tables, joined by a lossy link.
//!
//! A [`Host`] is what the kernel module is per network namespace: an
//! established table keyed by 4-tuple, listeners keyed by address and port
//! (reuseport groups included), the SYN and accept queues, ephemeral ports,
//! and RSTs for frames that match nothing. A [`Sim`] moves frames between
//! hosts with seeded loss, reordering, duplication and corruption, and runs
//! timers in virtual time.

use super::endpoint::Endpoint;
use super::rng::Rng;
use afc_proto::bind::listener_score;
use afc_proto::conn::{Config, ConnError, Connection, Events};
use afc_proto::isn::initial_seq;
use afc_proto::listener::{AckVerdict, HalfOpenEnd, ListenQueues, SynVerdict};
use afc_proto::ports::{ephemeral_offset, pick_ephemeral_port, PortRange};
use afc_proto::reuseport::{
    may_join, migration_target, select_shard, winning_group, Candidate, Member, ShardInfo,
};
use afc_proto::siphash::SipKey;
use afc_proto::state::State;
use afc_proto::time::Instant;
use afc_proto::tuple::{Endpoint as Addr, FourTuple, HashPurpose};
use afc_proto::wire::{fill_checksum, ChecksumPolicy, Header, HEADER_LEN};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// How the link treats frames; rates in parts per million.
#[derive(Clone, Copy, Debug)]
pub struct LinkParams {
    pub loss_ppm: u32,
    pub reorder_ppm: u32,
    pub dup_ppm: u32,
    pub corrupt_ppm: u32,
    /// One-way delay, microseconds.
    pub delay_us: u64,
    /// Random extra delay for every frame, microseconds.
    pub jitter_us: u64,
    /// Extra delay of a reordered frame, microseconds (up to).
    pub reorder_us: u64,
    /// Loopback-like: no checksums, no corruption.
    pub trusted: bool,
}

impl LinkParams {
    /// A link that delivers everything in order after 1 ms.
    pub fn perfect() -> LinkParams {
        LinkParams {
            loss_ppm: 0,
            reorder_ppm: 0,
            dup_ppm: 0,
            corrupt_ppm: 0,
            delay_us: 1000,
            jitter_us: 0,
            reorder_us: 0,
            trusted: false,
        }
    }

    /// 10% loss, 25% reordering, 5% duplication, 1% corruption.
    pub fn hostile() -> LinkParams {
        LinkParams {
            loss_ppm: 100_000,
            reorder_ppm: 250_000,
            dup_ppm: 50_000,
            corrupt_ppm: 10_000,
            delay_us: 1000,
            jitter_us: 500,
            reorder_us: 8000,
            trusted: false,
        }
    }
}

/// Where a connection sits relative to a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Half-open, in listener `i`'s SYN queue.
    HalfOpen(usize),
    /// Established, in listener `i`'s accept queue.
    Queued(usize),
    /// Owned by the application (connected or accepted).
    App,
}

/// A table entry: the endpoint and its role.
#[derive(Debug)]
pub struct Slot {
    pub ep: Endpoint,
    pub role: Role,
}

/// A listening socket: its queues and the connections waiting for `accept()`.
#[derive(Debug)]
pub struct Listener {
    pub addr: u32,
    pub port: u16,
    pub uid: u32,
    /// Its reuseport group (numbered as the kernel's `Tables::insert_listener` does).
    pub group: u64,
    pub queues: ListenQueues,
    pub accept_q: VecDeque<FourTuple>,
}

impl Listener {
    /// Who it is to `may_join`: every simulated listener has `SO_REUSEPORT`
    /// and no bound device.
    fn member(&self) -> Member {
        Member {
            uid: self.uid,
            dev: 0,
            reuseport: true,
        }
    }
}

/// One host (one network namespace's worth of tables).
#[derive(Debug)]
pub struct Host {
    pub addr: u32,
    pub cfg: Config,
    pub secret: SipKey,
    pub trusted: bool,
    pub ports: PortRange,
    pub port_counter: u32,
    pub conns: BTreeMap<FourTuple, Slot>,
    pub listeners: Vec<Listener>,
    /// The number of the next reuseport group.
    pub next_group: u64,
    pub outbox: Vec<Vec<u8>>,
    pub bad_frames: u64,
    pub unmatched_rsts: u64,
    /// Connections that reached CLOSED while the application still holds them
    /// (unhashed: frames no longer reach them; reads still drain the queue).
    pub zombies: BTreeMap<FourTuple, Endpoint>,
    /// Connections that reached CLOSED and were released.
    pub closed: Vec<(FourTuple, Endpoint)>,
}

impl Host {
    /// Returns a host with address `addr` whose connections use `cfg`.
    pub fn new(addr: u32, cfg: Config, seed: u64, trusted: bool) -> Host {
        Host {
            addr,
            cfg,
            secret: SipKey::from_u64(seed, seed.rotate_left(17) ^ 0xabcd),
            trusted,
            ports: PortRange::LINUX_DEFAULT,
            port_counter: 0,
            conns: BTreeMap::new(),
            listeners: Vec::new(),
            next_group: 1,
            outbox: Vec::new(),
            bad_frames: 0,
            unmatched_rsts: 0,
            zombies: BTreeMap::new(),
            closed: Vec::new(),
        }
    }

    fn policy(&self) -> ChecksumPolicy {
        if self.trusted {
            ChecksumPolicy::Trust
        } else {
            ChecksumPolicy::Verify
        }
    }

    /// Opens a listener; returns its index.
    ///
    /// It joins the reuseport group of the first listening socket on `addr`
    /// and `port` that `may_join` lets it join, or starts a group of its own.
    pub fn listen(
        &mut self,
        addr: u32,
        port: u16,
        backlog: u32,
        syn_backlog: u32,
        uid: u32,
    ) -> usize {
        let mut l = Listener {
            addr,
            port,
            uid,
            group: self.next_group,
            queues: ListenQueues::new(backlog, syn_backlog),
            accept_q: VecDeque::new(),
        };
        let joined = self.listeners.iter().find(|e| {
            e.addr == addr
                && e.port == port
                && e.queues.state() == State::Listen
                && may_join(e.member(), l.member())
        });
        match joined {
            Some(e) => l.group = e.group,
            None => self.next_group += 1,
        }
        self.listeners.push(l);
        self.listeners.len() - 1
    }

    /// Starts a connection to `remote` from an ephemeral port; returns its tuple.
    pub fn connect(&mut self, remote: Addr, now: Instant) -> Option<FourTuple> {
        self.port_counter = self.port_counter.wrapping_add(1);
        let off = ephemeral_offset(&self.secret, self.addr, remote, self.port_counter);
        let addr = self.addr;
        let conns = &self.conns;
        let listeners = &self.listeners;
        let port = pick_ephemeral_port(self.ports, off, |p| {
            !conns.contains_key(&FourTuple::new(Addr::new(addr, p), remote))
                && !listeners.iter().any(|l| l.port == p)
        })?;
        let t = FourTuple::new(Addr::new(addr, port), remote);
        Some(self.connect_from(t, now))
    }

    /// Starts a connection on exactly tuple `t`.
    pub fn connect_from(&mut self, t: FourTuple, now: Instant) -> FourTuple {
        let iss = initial_seq(&self.secret, &t, now);
        let ep = Endpoint::new(
            Connection::connect(self.cfg, t, iss, now),
            1 << 20,
            self.trusted,
        );
        self.conns.insert(
            t,
            Slot {
                ep,
                role: Role::App,
            },
        );
        self.flush(t, now);
        t
    }

    /// Returns the endpoint for `t`, if the application may still use it.
    pub fn ep(&mut self, t: &FourTuple) -> Option<&mut Endpoint> {
        match self.conns.get_mut(t) {
            Some(s) => Some(&mut s.ep),
            None => self.zombies.get_mut(t),
        }
    }

    /// Takes the next connection from listener `li`'s accept queue (`accept()`).
    pub fn accept(&mut self, li: usize) -> Option<FourTuple> {
        let l = &mut self.listeners[li];
        let t = l.accept_q.pop_front()?;
        l.queues.on_accept();
        if let Some(s) = self.conns.get_mut(&t) {
            s.role = Role::App;
        }
        Some(t)
    }

    /// Runs `f` on connection `t` (an application call), then sends what it produced.
    pub fn with<R>(
        &mut self,
        t: FourTuple,
        now: Instant,
        f: impl FnOnce(&mut Endpoint) -> R,
    ) -> Option<R> {
        if let Some(s) = self.conns.get_mut(&t) {
            let r = f(&mut s.ep);
            self.flush(t, now);
            return Some(r);
        }
        let ep = self.zombies.get_mut(&t)?;
        let r = f(ep);
        if ep.conn.is_orphaned() {
            let ep = self.zombies.remove(&t).expect("zombie");
            self.closed.push((t, ep));
        }
        Some(r)
    }

    /// Sends everything connection `t` wants to send; removes it if CLOSED.
    pub fn flush(&mut self, t: FourTuple, now: Instant) {
        let Some(slot) = self.conns.get_mut(&t) else {
            return;
        };
        let mut n = 0;
        while let Some(f) = slot.ep.transmit(now) {
            self.outbox.push(f);
            n += 1;
            assert!(n < 100_000, "poll_transmit does not terminate");
        }
        if slot.ep.state() != State::Closed {
            return;
        }
        let slot = self.conns.remove(&t).expect("slot");
        if std::env::var_os("AFC_SIM_TRACE").is_some() {
            eprintln!(
                "{:>10}us host {:x}: {:?} closed, error {:?}, via {:?}",
                now.micros(),
                self.addr,
                t.remote,
                slot.ep.conn.error(),
                slot.ep.history
            );
        }
        match slot.role {
            Role::HalfOpen(i) => {
                let why = match slot.ep.conn.error() {
                    Some(ConnError::TimedOut) => HalfOpenEnd::Expired,
                    Some(_) => HalfOpenEnd::Reset,
                    None => HalfOpenEnd::Aborted,
                };
                self.listeners[i].queues.on_half_open_gone(why);
            }
            Role::Queued(i) => {
                self.listeners[i].accept_q.retain(|x| *x != t);
                self.listeners[i].queues.on_accept_queue_died();
            }
            Role::App => {
                if !slot.ep.conn.is_orphaned() {
                    self.zombies.insert(t, slot.ep);
                    return;
                }
            }
        }
        self.closed.push((t, slot.ep));
    }

    fn send_header(&mut self, h: &Header) {
        let mut f = vec![0u8; HEADER_LEN];
        h.emit(&mut f).expect("valid reply");
        if !self.trusted {
            fill_checksum(&mut f).expect("checksum");
        }
        self.outbox.push(f);
    }

    /// Receives one frame from the link (the `packet_type` handler's job).
    pub fn receive(&mut self, frame: &[u8], now: Instant) {
        let Ok((h, payload)) = Header::parse(frame, self.policy()) else {
            self.bad_frames += 1;
            return;
        };
        if h.dst.addr != self.addr {
            self.bad_frames += 1;
            return;
        }
        let t = FourTuple::new(h.dst, h.src);
        if let Some(slot) = self.conns.get_mut(&t) {
            if let Role::HalfOpen(i) = slot.role {
                let f = h.flags;
                if f.ack()
                    && !f.rst()
                    && !f.syn()
                    && self.listeners[i].queues.on_handshake_ack()
                        == AckVerdict::DropAcceptQueueFull
                {
                    return;
                }
            }
            let ev = slot.ep.deliver(&h, payload, now);
            if ev.contains(Events::CONNECTED) {
                if let Role::HalfOpen(i) = slot.role {
                    slot.role = Role::Queued(i);
                    self.listeners[i].queues.on_established();
                    self.listeners[i].accept_q.push_back(t);
                }
            }
            self.flush(t, now);
            if !ev.contains(Events::TIME_WAIT_REUSE) {
                return;
            }
        }
        self.offer_to_listener(&h, t, now);
    }

    /// Returns the shards that a SYN to `dst` would reach: the listening
    /// ones that score best, of the first such group (`winning_group`, as
    /// the kernel's `Tables::lookup_listener`).
    pub fn listener_group(&self, dst: Addr) -> Vec<usize> {
        let candidate = |l: &Listener| {
            if l.queues.state() != State::Listen {
                return None;
            }
            listener_score(l.addr, l.port, 0, dst.addr, dst.port, 0).map(|score| Candidate {
                score,
                group: l.group,
            })
        };
        let Some(winner) = winning_group(self.listeners.iter().filter_map(candidate)) else {
            return Vec::new();
        };
        (0..self.listeners.len())
            .filter(|&i| candidate(&self.listeners[i]) == Some(winner))
            .collect()
    }

    fn offer_to_listener(&mut self, h: &Header, t: FourTuple, now: Instant) {
        let group = self.listener_group(h.dst);
        let f = h.flags;
        if group.is_empty() || !f.syn() || f.ack() {
            if group.is_empty() || !f.rst() {
                if let Some(r) = afc_proto::conn_send::reset_reply(h) {
                    self.unmatched_rsts += 1;
                    self.send_header(&r);
                }
            }
            return;
        }
        let shards: Vec<ShardInfo> = group
            .iter()
            .map(|&i| self.listeners[i].queues.shard_info())
            .collect();
        let hash = t.hash(&self.secret, HashPurpose::Reuseport);
        let li = group[select_shard(&shards, hash).expect("a group has a shard")];
        if self.listeners[li].queues.on_syn(
            afc_proto::syncookie::SyncookieMode::Never,
            afc_proto::time::Instant(0),
        ) != SynVerdict::Admit
        {
            return;
        }
        let iss = initial_seq(&self.secret, &t, now);
        let conn = Connection::accept(self.cfg, t, iss, h, now).expect("bare SYN");
        let ep = Endpoint::new(conn, 1 << 20, self.trusted);
        self.conns.insert(
            t,
            Slot {
                ep,
                role: Role::HalfOpen(li),
            },
        );
        self.flush(t, now);
    }

    /// Closes listener `li`: its queued connections move to siblings
    /// (`migration_target` among the other listening shards of its group,
    /// then that sibling's `adopt_*`), or are reset.
    pub fn close_listener(&mut self, li: usize, now: Instant) {
        let group = self.listeners[li].group;
        self.listeners[li].queues.close();
        let siblings: Vec<usize> = (0..self.listeners.len())
            .filter(|&i| {
                let l = &self.listeners[i];
                i != li && l.group == group && l.queues.state() == State::Listen
            })
            .collect();
        let mine: Vec<(FourTuple, bool)> = self
            .conns
            .iter()
            .filter_map(|(t, s)| match s.role {
                Role::HalfOpen(i) if i == li => Some((*t, false)),
                Role::Queued(i) if i == li => Some((*t, true)),
                _ => None,
            })
            .collect();
        for (t, established) in mine {
            let shards: Vec<ShardInfo> = siblings
                .iter()
                .map(|&i| self.listeners[i].queues.shard_info())
                .collect();
            let hash = t.hash(&self.secret, HashPurpose::Reuseport);
            let target = migration_target(&shards, hash).map(|k| siblings[k]);
            let moved = match target {
                Some(ti) if established => {
                    self.listeners[ti].queues.adopt_established().then_some(ti)
                }
                Some(ti) => self.listeners[ti].queues.adopt_half_open().then_some(ti),
                None => None,
            };
            match moved {
                Some(ti) => {
                    self.listeners[li].queues.on_migrated_out(established);
                    let slot = self.conns.get_mut(&t).expect("slot");
                    if established {
                        self.listeners[li].accept_q.retain(|x| *x != t);
                        self.listeners[ti].accept_q.push_back(t);
                        slot.role = Role::Queued(ti);
                    } else {
                        slot.role = Role::HalfOpen(ti);
                    }
                }
                None => {
                    self.listeners[li].queues.on_reset_on_close(established);
                    self.listeners[li].accept_q.retain(|x| *x != t);
                    let slot = self.conns.get_mut(&t).expect("slot");
                    slot.role = Role::App;
                    slot.ep.conn.abort();
                    self.flush(t, now);
                }
            }
        }
    }

    /// Returns the earliest timer of any connection.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter_map(|s| s.ep.conn.poll_timeout())
            .min()
    }

    /// Runs every connection timer due at `now`.
    pub fn run_timers(&mut self, now: Instant) {
        let due: Vec<FourTuple> = self
            .conns
            .iter()
            .filter(|(_, s)| s.ep.conn.poll_timeout().is_some_and(|d| d <= now))
            .map(|(t, _)| *t)
            .collect();
        for t in due {
            if let Some(s) = self.conns.get_mut(&t) {
                s.ep.on_timeout(now);
            }
            self.flush(t, now);
        }
    }
}

/// Counters of what the link did.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkStats {
    pub sent: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub delivered: u64,
}

/// A frame on the link: delivery time, tie-break order, destination host, bytes.
type InFlight = (u64, u64, usize, Vec<u8>);

/// Hosts joined by one link, in virtual time.
pub struct Sim {
    pub now: Instant,
    pub hosts: Vec<Host>,
    pub link: LinkParams,
    pub rng: Rng,
    pub stats: LinkStats,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
}

impl Sim {
    /// Returns a simulation of `hosts` on `link`, seeded with `seed`.
    pub fn new(seed: u64, link: LinkParams, hosts: Vec<Host>) -> Sim {
        Sim {
            now: Instant(1_000_000),
            hosts,
            link,
            rng: Rng::new(seed),
            stats: LinkStats::default(),
            queue: BinaryHeap::new(),
            order: 0,
        }
    }

    fn enqueue(&mut self, to: usize, frame: Vec<u8>, extra: u64) {
        let jitter = self.rng.below(self.link.jitter_us + 1);
        let at = self.now.micros() + self.link.delay_us + jitter + extra;
        self.order += 1;
        self.queue.push(Reverse((at, self.order, to, frame)));
    }

    /// Puts every host's outgoing frames on the link.
    pub fn route(&mut self) {
        for hi in 0..self.hosts.len() {
            let out = std::mem::take(&mut self.hosts[hi].outbox);
            for mut f in out {
                self.stats.sent += 1;
                let daddr = u32::from_be_bytes([f[16], f[17], f[18], f[19]]);
                let Some(to) = self.hosts.iter().position(|h| h.addr == daddr) else {
                    continue;
                };
                if self.rng.chance_ppm(self.link.loss_ppm) {
                    self.stats.lost += 1;
                    continue;
                }
                if !self.link.trusted && self.rng.chance_ppm(self.link.corrupt_ppm) {
                    // One byte changed: the 16-bit ones' complement sum always notices.
                    let i = self.rng.below(f.len() as u64) as usize;
                    f[i] ^= 1 + self.rng.below(255) as u8;
                    self.stats.corrupted += 1;
                }
                if self.rng.chance_ppm(self.link.dup_ppm) {
                    self.stats.duplicated += 1;
                    let extra = self.rng.below(self.link.reorder_us + 1);
                    self.enqueue(to, f.clone(), extra);
                }
                let extra = if self.rng.chance_ppm(self.link.reorder_ppm) {
                    self.stats.reordered += 1;
                    self.rng.below(self.link.reorder_us + 1)
                } else {
                    0
                };
                self.enqueue(to, f, extra);
            }
        }
    }

    /// Returns the time of the next frame delivery or timer, if any.
    pub fn next_event(&self) -> Option<Instant> {
        let frame = self.queue.peek().map(|Reverse((t, ..))| Instant(*t));
        let timer = self.hosts.iter().filter_map(Host::next_deadline).min();
        match (frame, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs frames and timers up to `limit`, then sets the clock to `limit`.
    pub fn run_until(&mut self, limit: Instant) {
        let mut steps = 0u64;
        loop {
            self.route();
            let Some(t) = self.next_event() else { break };
            if t > limit {
                break;
            }
            steps += 1;
            assert!(steps < 10_000_000, "simulation does not settle");
            self.now = self.now.max(t);
            let due_frame =
                matches!(self.queue.peek(), Some(Reverse((ft, ..))) if Instant(*ft) <= self.now);
            if due_frame {
                let Reverse((_, _, to, frame)) = self.queue.pop().expect("peeked");
                self.stats.delivered += 1;
                let now = self.now;
                if std::env::var_os("AFC_SIM_TRACE").is_some() {
                    trace(now, to, &frame);
                }
                self.hosts[to].receive(&frame, now);
            } else {
                let now = self.now;
                for h in &mut self.hosts {
                    h.run_timers(now);
                }
            }
        }
        self.now = self.now.max(limit);
    }

    /// Returns whether no frame is in flight.
    pub fn link_idle(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Prints one delivered frame (set `AFC_SIM_TRACE=1`).
pub fn trace(now: Instant, to: usize, frame: &[u8]) {
    match Header::parse(frame, ChecksumPolicy::Verify) {
        Ok((h, _)) => {
            let f = h.flags;
            let flags: String = [
                (f.syn(), 'S'),
                (f.ack(), 'A'),
                (f.fin(), 'F'),
                (f.rst(), 'R'),
            ]
            .iter()
            .map(|&(on, c)| if on { c } else { '.' })
            .collect();
            eprintln!(
                "{:>10}us -> host {to}: {flags} seq {} ack {} win {} len {}",
                now.micros(),
                h.seq.0,
                h.ack.0,
                h.window,
                h.payload_len
            );
        }
        Err(e) => eprintln!("{:>10}us -> host {to}: bad frame {e:?}", now.micros()),
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Listening sockets: `listen(2)`, the SYN and accept queues, `accept(2)`,
//! and children made from SYNs in softirq.
//!
//! A SYN that finds a listener (`tables::lookup_listener`) is admitted or
//! dropped by the listener's `ListenQueues` (the protocol core's
//! bookkeeping) under the accept-queue lock, without the listener's
//! socket lock.  An admitted SYN makes a child socket in SYN_RECV, hashed
//! in the established table, holding a reference to its listener
//! ([`Parent`]).  When the handshake completes the child queues itself on
//! the accept queue and wakes the listener; `accept()` takes it, grafts it
//! onto the new `struct socket`, and cuts the link to the listener.
//!
//! SYN cookies (`proto::syncookie`): a SYN that finds the SYN queue full
//! (or any SYN, with `net.af_custom.syncookies` = 2) is answered with a
//! SYN-ACK whose ISN is the cookie, and nothing is kept.  An ACK that
//! matches no connection comes to [`listener_ack`]; with a valid cookie it
//! makes the child as a SYN did (SYN_RECV, hashed, on the half-open list)
//! and the ACK, handed to it at once, completes the handshake.

use super::conn::{self, ConnState};
use super::{bind, AfcSock, AfcSockLocked, Role};
use crate::abstractions::bhlock::{BhLockArray, LockClass};
use crate::abstractions::skb::SkBuff;
use crate::abstractions::sock::{NewChild, Sock, SockFlag, SockRef, SockSetting};
use crate::abstractions::socket::{intr_errno, signal_pending, Socket, SocketState};
use crate::abstractions::uapi::O_NONBLOCK;
use crate::abstractions::vec;
use crate::netns;
use crate::proto::conn::{rcv_wscale_for, Config, Connection};
use crate::proto::isn::initial_seq;
use crate::proto::listener::{AckVerdict, CookieVerdict, HalfOpenEnd, ListenQueues, SynVerdict};
use crate::proto::state::State;
use crate::proto::syncookie::{check_cookie, make_cookie, syn_of, SyncookieMode};
use crate::proto::time::Instant;
use crate::proto::tuple::{Endpoint, FourTuple};
use crate::proto::wire::Header;
use crate::stats::Stat;
use crate::tables::FoundListener;
use crate::tx;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// What the accept-queue lock guards.
pub(crate) struct AcceptState {
    queues: ListenQueues,
    /// The backlog as `listen()` gave it (shown in `/proc`; the queue
    /// itself holds at least one connection, as Linux).
    backlog: u32,
    /// The options children inherit (`AFC_NODELAY`, keepalive settings).
    pub(crate) opts: super::opts::Opts,
    /// Established children waiting for `accept()`, oldest first.
    ready: vec::Fifo<SockRef<AfcSock>>,
    /// Half-open children (SYN_RECV), oldest first: when the SYN queue is
    /// full a new SYN gets a SYN cookie (`net.af_custom.syncookies` 1 or
    /// 2), or with cookies off the oldest child gives way to it.
    half_open: KVec<SockRef<AfcSock>>,
}

impl AcceptState {
    /// Takes child `id` off the half-open list.  Searched from the newest:
    /// under a SYN flood the list is full of children that never complete
    /// (up to the backlog), and a genuine client's completes within a
    /// round trip of its SYN, so it is among the last few; and removing
    /// near the back moves little.
    fn forget_half_open(&mut self, id: usize) -> Option<SockRef<AfcSock>> {
        let i = self.half_open.iter().rposition(|c| c.sock().id() == id)?;
        vec::remove(&mut self.half_open, i)
    }
}

/// A listener's SYN and accept queues, shared with its children.
pub(crate) struct AcceptQueue {
    state: BhLockArray<AcceptState>,
    listener: SockRef<AfcSock>,
    /// The listener's reuseport group (`Tables::insert_listener` sets it
    /// before any child exists; a listener alone is a group of one).
    group: AtomicU64,
}

impl AcceptQueue {
    /// The number of the listener's reuseport group.
    pub(crate) fn group(&self) -> u64 {
        self.group.load(Ordering::Relaxed)
    }

    /// Sets the reuseport group (`Tables::insert_listener`, once).
    pub(crate) fn set_group(&self, group: u64) {
        self.group.store(group, Ordering::Relaxed);
    }

    fn with<R>(&self, f: impl FnOnce(&mut AcceptState) -> R) -> R {
        self.state.with(0, f)
    }

    /// Publishes the accept queue length for `poll` and `/proc`.
    fn publish(&self, s: &AcceptState) {
        self.listener
            .sock()
            .set_ack_backlog(s.ready.len() as u32, s.backlog);
    }
}

/// The listener-side state of a listening socket.
pub(crate) struct Listener {
    pub(crate) queue: Arc<AcceptQueue>,
}

impl Listener {
    /// Changes the options children inherit.
    pub(crate) fn set_opts(&self, opts: super::opts::Opts) {
        self.queue.with(|s| s.opts = opts);
    }
}

/// A child's link to its listener until `accept()` takes it.
pub(crate) struct Parent {
    queue: Arc<AcceptQueue>,
}

impl Parent {
    /// Whether the final ACK of the handshake may complete it now.
    pub(crate) fn handshake_ack_allowed(&self) -> bool {
        self.queue
            .with(|s| s.queues.on_handshake_ack() == AckVerdict::Proceed)
    }

    /// Queues the established child `sk` for `accept()`.  If its listener
    /// closed meanwhile, a sibling of its reuseport group takes it (no
    /// other listener, whoever owns it);
    /// `false` if nobody does (the child must be reset).  A queued child
    /// keeps no link to the listener (the queue holds the child), so that
    /// nothing but half-open children keeps a listener's sock alive.
    pub(crate) fn queue_established(self, sk: &Sock<'_, AfcSock>) -> bool {
        let (queued, unused) = self.queue.with(|s| {
            let half_open = s.forget_half_open(sk.id());
            let pushed = if s.queues.state() == State::Listen {
                s.ready.try_push(sk.to_ref(), GFP_ATOMIC)
            } else {
                Ok(())
            };
            if s.queues.state() != State::Listen || pushed.is_err() {
                s.queues.on_half_open_gone(HalfOpenEnd::Aborted);
                return (false, (half_open, pushed.err()));
            }
            s.queues.on_established();
            self.queue.publish(s);
            (true, (half_open, None))
        });
        // References are put outside the queue lock (see "References").
        drop(unused);
        if queued {
            self.queue.listener.sock().data_ready();
            return true;
        }
        let Some(found) = sibling_for(sk, self.queue.group()) else {
            return false;
        };
        let moved = adopt(&found.queue, &sk.to_ref());
        if moved {
            netns::of_sock(sk).stats.inc(Stat::AcceptQueueMigrations);
        }
        moved
    }

    /// Whether this is a child of `queue`.
    fn of(&self, queue: &Arc<AcceptQueue>) -> bool {
        Arc::ptr_eq(&self.queue, queue)
    }

    /// A half-open child died (reset by the peer, or its SYN-ACKs ran out).
    pub(crate) fn half_open_gone(&self, sk: &Sock<'_, AfcSock>, reset: bool) {
        let why = if reset {
            HalfOpenEnd::Reset
        } else {
            HalfOpenEnd::Expired
        };
        let gone = self.queue.with(|s| {
            let c = s.forget_half_open(sk.id());
            if c.is_some() {
                s.queues.on_half_open_gone(why);
            }
            c
        });
        drop(gone);
    }
}

/// The listener of reuseport group `group` that a connection on `sk`'s
/// 4-tuple goes to (`proto::reuseport::migration_target`, through
/// `Tables::lookup_group`): where a child goes when its own listener closed.
/// Only a sibling in the group, as Linux's `reuseport_migrate_sock`:
/// never another listener that merely matches the 4-tuple now (another
/// address's group, or whoever listens on the port once the group is
/// gone), so that no child crosses to another owner.
fn sibling_for(sk: &Sock<'_, AfcSock>, group: u64) -> Option<FoundListener> {
    let ((la, lp), (ra, rp)) = sk.addrs();
    netns::of_sock(sk)
        .tables
        .lookup_group(group, Endpoint::new(la, lp), Endpoint::new(ra, rp))
}

/// Puts an established child on `queue` (a sibling of its listener);
/// `false` if that queue is closed or full.
fn adopt(queue: &AcceptQueue, child: &SockRef<AfcSock>) -> bool {
    let (ok, unused) = queue.with(|s| {
        if !s.queues.adopt_established() {
            return (false, None);
        }
        if let Err(c) = s.ready.try_push(child.clone(), GFP_ATOMIC) {
            s.queues.on_accept_queue_died();
            return (false, Some(c));
        }
        queue.publish(s);
        (true, None)
    });
    drop(unused);
    if ok {
        queue.listener.sock().data_ready();
    }
    ok
}

/// Puts a half-open child on `queue` (a sibling of its closing
/// listener); `false` if that queue is closed or its SYN queue full.
fn adopt_half_open(queue: &AcceptQueue, child: &SockRef<AfcSock>) -> bool {
    let (ok, unused) = queue.with(|s| {
        if !s.queues.adopt_half_open() {
            return (false, None);
        }
        if let Err(c) = vec::try_push(&mut s.half_open, child.clone(), GFP_ATOMIC) {
            s.queues.on_half_open_gone(HalfOpenEnd::Aborted);
            return (false, Some(c));
        }
        (true, None)
    });
    drop(unused);
    ok
}

/// Half-open connections a listener holds: the backlog, but at least 256
/// (as Linux's `tcp_max_syn_backlog` floor), so that a burst of clients
/// does not wait for SYN retransmissions.
fn syn_backlog(backlog: u32) -> u32 {
    backlog.max(256)
}

/// `listen(2)`: `backlog` is already capped at `net.core.somaxconn`.
pub(crate) fn listen(sk: &Sock<'_, AfcSock>, sock: &Socket, backlog: i32) -> Result {
    if sock.state() != SocketState::Unconnected {
        return Err(EINVAL);
    }
    let backlog = backlog.max(0) as u32;
    let mut g = sk.lock();
    let st = g.locked();
    match &st.role {
        Role::Listener(l) => {
            // A second listen() changes the backlog.
            l.queue.with(|s| {
                s.queues.set_backlog(backlog, syn_backlog(backlog));
                s.backlog = backlog;
                l.queue.publish(s);
            });
            return Ok(());
        }
        Role::Conn(_) => return Err(EINVAL),
        Role::Idle => {}
    }
    if st.local.is_none() {
        bind::autobind(sk, st, 0)?;
    }
    let local = st.local.ok_or(EINVAL)?;
    let queue = Arc::new(
        AcceptQueue {
            state: BhLockArray::new(1, LockClass::AcceptQueue, || AcceptState {
                queues: ListenQueues::new(backlog, syn_backlog(backlog)),
                backlog,
                opts: st.opts,
                ready: vec::Fifo::new(),
                half_open: KVec::new(),
            })?,
            listener: sk.to_ref(),
            group: AtomicU64::new(0),
        },
        GFP_KERNEL,
    )?;
    bind::set_listening(sk, st, true)?;
    if let Err(e) = netns::of_sock(sk)
        .tables
        .insert_listener(local, sk.to_ref(), queue.clone())
    {
        let _ = bind::set_listening(sk, st, false);
        return Err(e);
    }
    sk.set_ack_backlog(0, backlog);
    sk.set_state(State::Listen.as_u8());
    drop(st.set_role(Role::Listener(Listener { queue })));
    Ok(())
}

/// `accept(2)`.
pub(crate) fn accept(sk: &Sock<'_, AfcSock>, newsock: &Socket, flags: u32) -> Result {
    let mut g = sk.lock();
    let timeo = sk.rcvtimeo(flags & O_NONBLOCK != 0);
    // Children join the queue from softirq without this socket's lock:
    // on the wait queue before looking (`wait_for`), or a child that
    // comes in between is slept through.
    let child = g.wait_for(timeo, |g, timeo| {
        let Role::Listener(l) = &g.locked().role else {
            return Some(Err(EINVAL));
        };
        let q = l.queue.clone();
        let got = q.with(|s| {
            let c = s.ready.pop_front()?;
            s.queues.on_accept();
            q.publish(s);
            Some(c)
        });
        if let Some(c) = got {
            return Some(Ok(c));
        }
        if timeo == 0 {
            return Some(Err(EAGAIN));
        }
        if signal_pending() {
            return Some(Err(intr_errno(timeo)));
        }
        None
    })?;
    drop(g);
    {
        let csk = child.sock();
        let mut cg = csk.lock();
        let st = cg.locked();
        if let Role::Conn(c) = &mut st.role {
            c.parent = None;
        }
        // Out of memory here only loses the port's protection.
        let _ = bind::claim_child(&csk, st);
    }
    newsock.set_state(SocketState::Connected);
    child.graft(newsock);
    Ok(())
}

/// What closing a listener leaves to do once its socket lock is
/// released: each child needs its own socket lock, and no code holds two.
#[derive(Default)]
#[must_use = "call finish() after releasing the listener's lock"]
pub(crate) struct ClosedListener {
    /// The closed accept queue (`None`: the socket was not listening).
    queue: Option<Arc<AcceptQueue>>,
    /// Established children nobody took: to be reset.
    reset: KVec<SockRef<AfcSock>>,
    /// Half-open children: to a sibling of the reuseport group, or reset.
    half_open: KVec<SockRef<AfcSock>>,
}

/// Stops listening (close, or shutdown with `SHUT_RD`): unhashes the
/// listener, moves its queued connections to a sibling of its reuseport
/// group or takes them out to be reset, and takes its half-open children
/// out for [`ClosedListener::finish`].
pub(crate) fn close_listener(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) -> ClosedListener {
    if !matches!(st.role, Role::Listener(_)) {
        return ClosedListener::default();
    }
    let Role::Listener(l) = st.set_role(Role::Idle) else {
        return ClosedListener::default();
    };
    if let Some(local) = st.local {
        drop(netns::of_sock(sk).tables.remove_listener(local, sk.id()));
    }
    let _ = bind::set_listening(sk, st, false);
    // Closed under the queue lock: from here no SYN adds a child to this
    // queue (`listener_syn` checks), so the lists taken are complete.
    let (mut taken, half_open) = l.queue.with(|s| {
        s.queues.close();
        let mut taken = vec::Fifo::new();
        let mut half_open = KVec::new();
        core::mem::swap(&mut taken, &mut s.ready);
        core::mem::swap(&mut half_open, &mut s.half_open);
        l.queue.publish(s);
        (taken, half_open)
    });
    // Established ones move to a sibling of the reuseport group if there
    // is one with room; the rest are reset.
    let ns = netns::of_sock(sk);
    let mut reset = KVec::new();
    while let Some(c) = taken.pop_front() {
        let moved = match sibling_for(&c.sock(), l.queue.group()) {
            Some(found) => adopt(&found.queue, &c),
            None => false,
        };
        l.queue.with(|s| {
            if moved {
                s.queues.on_migrated_out(true)
            } else {
                s.queues.on_reset_on_close(true)
            }
        });
        if moved {
            ns.stats.inc(Stat::AcceptQueueMigrations);
        } else {
            // Out of memory here leaves the child queued nowhere, to be
            // reset by the peer or its own timers; nothing leaks.
            let _ = reset.push(c, GFP_KERNEL);
        }
    }
    sk.set_state(State::Closed.as_u8());
    sk.state_change();
    ClosedListener {
        queue: Some(l.queue),
        reset,
        half_open,
    }
}

impl ClosedListener {
    /// Resets the established children taken from the closed queue, and
    /// hands each half-open one to a sibling of the reuseport group (it
    /// completes there) or resets it, as TCP drops its request socks with
    /// their listener: none keeps the closed listener's sock, nor the
    /// module, alive through its SYN-ACK schedule.  Called without the
    /// listener's socket lock.
    pub(crate) fn finish(self) {
        let Some(queue) = self.queue else { return };
        for c in self.reset.iter() {
            let csk = c.sock();
            let mut cg = csk.lock();
            let st = cg.locked();
            if let Role::Conn(cs) = &mut st.role {
                cs.parent = None;
            }
            conn::abort(&csk, st);
        }
        let stats = &netns::of_sock(&queue.listener.sock()).stats;
        for c in self.half_open.iter() {
            let csk = c.sock();
            let mut cg = csk.lock();
            let st = cg.locked();
            let Role::Conn(cs) = &mut st.role else {
                continue;
            };
            // Still half-open on this queue?  It may have completed (then
            // it looked for a sibling itself), died, or been evicted since.
            if !cs.parent.as_ref().is_some_and(|p| p.of(&queue)) {
                continue;
            }
            let sibling = sibling_for(&csk, queue.group()).filter(|f| adopt_half_open(&f.queue, c));
            let moved = sibling.is_some();
            queue.with(|s| {
                if moved {
                    s.queues.on_migrated_out(false)
                } else {
                    s.queues.on_reset_on_close(false)
                }
            });
            cs.parent = sibling.map(|f| Parent { queue: f.queue });
            if moved {
                stats.inc(Stat::AcceptQueueMigrations);
            } else {
                conn::abort(&csk, st);
            }
        }
    }
}

/// A SYN for listener `l` (softirq): admit it as a SYN_RECV child, answer
/// it with a SYN cookie and keep nothing, or drop it.
pub(crate) fn listener_syn(l: FoundListener, h: &Header, loopback: bool) {
    let lsk = l.sk.sock();
    let net = lsk.net();
    let ns = netns::of(net);
    let mode = SyncookieMode::from_sysctl(net.syncookies());
    let t = conn::now();
    // Without SYN cookies, a full SYN queue: the oldest half-open entry
    // gives way (counted as SynQueueDrops), unless the accept queue
    // refuses the SYN anyway.  With cookies the SYN gets one instead.
    let evicted = l.queue.with(|s| {
        if mode == SyncookieMode::Never
            && s.queues.state() == State::Listen
            && s.queues.syn_queue_full()
            && !s.queues.accept_queue_full()
        {
            let old = vec::remove(&mut s.half_open, 0)?;
            s.queues.on_half_open_gone(HalfOpenEnd::Aborted);
            Some(old)
        } else {
            None
        }
    });
    if let Some(old) = evicted {
        ns.stats.inc(Stat::SynQueueDrops);
        let osk = old.sock();
        let mut og = osk.bh_lock();
        if let Some(st) = og.locked() {
            if let Role::Conn(c) = &mut st.role {
                c.parent = None;
            }
            conn::abort(&osk, st);
        }
    }
    match l.queue.with(|s| s.queues.on_syn(mode, t)) {
        SynVerdict::Admit => {}
        SynVerdict::SendCookie => {
            ns.stats.inc(Stat::SyncookiesSent);
            ns.cookie_times.sent(l.queue.group(), t);
            send_cookie(&l, h, loopback, t);
            return;
        }
        SynVerdict::DropAcceptQueueFull => {
            ns.stats.inc(Stat::ListenOverflows);
            ns.stats.inc(Stat::ListenDrops);
            return;
        }
        SynVerdict::DropSynQueueFull => {
            ns.stats.inc(Stat::SynQueueDrops);
            ns.stats.inc(Stat::ListenDrops);
            return;
        }
        SynVerdict::DropClosed => return,
    }
    let tuple = FourTuple::new(h.dst, h.src);
    let iss = initial_seq(&ns.secret, &tuple, t);
    new_child(
        &l,
        tuple,
        loopback,
        |cfg| Connection::accept(cfg, tuple, iss, h, t),
        conn::drive,
    );
}

/// Answers the SYN `h` with a SYN-ACK whose ISN is a SYN cookie, keeping nothing.
fn send_cookie(l: &FoundListener, h: &Header, loopback: bool, t: Instant) {
    let lsk = l.sk.sock();
    let net = lsk.net();
    let ns = netns::of(net);
    let tuple = FourTuple::new(h.dst, h.src);
    let Ok(route) = net.route(tuple.remote.addr, tuple.local.addr, lsk.bound_dev_if()) else {
        ns.stats.inc(Stat::ListenDrops);
        return;
    };
    // The child built from the cookie takes its configuration from a
    // socket that inherits the listener's buffers (`inherit_from_listener`) when
    // the ACK comes, and its window scale from the cookie.
    let opts = l.queue.with(|s| s.opts);
    let cfg = super::opts::config(&lsk, &opts, &route);
    // The cookie carries the window scale this SYN-ACK announces, so the
    // child uses it whatever its buffers are when the ACK comes.
    let ws = rcv_wscale_for(&cfg);
    let cookie = make_cookie(&ns.secret, &tuple, h, ws, t);
    if let Some(synack) = Connection::cookie_syn_ack(cfg, tuple, cookie, h, ws, t) {
        let _ = tx::send(
            tx::Via::Route(net),
            &synack,
            loopback || route.loopback,
            |_| Ok(()),
        );
    }
}

/// An ACK that matched no connection, for listener `l` (softirq): if it
/// carries a valid SYN cookie, builds the connection the cookie stands
/// for and gives it the ACK (which completes the handshake).  The ACK
/// back if it is not the listener's to take (cookies not in use, or not
/// valid): the caller answers it as one for no socket.
pub(crate) fn listener_ack(
    l: FoundListener,
    h: &Header,
    skb: SkBuff,
    loopback: bool,
) -> Option<SkBuff> {
    let lsk = l.sk.sock();
    let net = lsk.net();
    let ns = netns::of(net);
    let mode = SyncookieMode::from_sysctl(net.syncookies());
    let t = conn::now();
    // The ACK may reach another shard of a reuseport group than its SYN
    // did: any shard checks cookies while one of its group may be valid.
    let group_last = ns.cookie_times.last(l.queue.group());
    if !l
        .queue
        .with(|s| s.queues.cookie_check_wanted_in_group(mode, t, group_last))
    {
        return Some(skb);
    }
    let tuple = FourTuple::new(h.dst, h.src);
    let data = check_cookie(&ns.secret, &tuple, h, t).ok();
    match l.queue.with(|s| s.queues.on_cookie(data.is_some())) {
        CookieVerdict::Admit => {}
        CookieVerdict::DropAcceptQueueFull => {
            ns.stats.inc(Stat::SyncookiesRecv);
            ns.stats.inc(Stat::ListenOverflows);
            ns.stats.inc(Stat::ListenDrops);
            return None;
        }
        CookieVerdict::Invalid => {
            ns.stats.inc(Stat::SyncookiesFailed);
            return Some(skb);
        }
    }
    ns.stats.inc(Stat::SyncookiesRecv);
    // `Admit` comes only with a valid cookie (else the ACK is dropped).
    let data = data?;
    let syn = syn_of(h, data);
    let cookie = h.ack.wrapping_sub(1);
    new_child(
        &l,
        tuple,
        loopback,
        |cfg| Connection::from_cookie(cfg, tuple, cookie, &syn, data.our_wscale, t),
        |csk, st| {
            let _ = conn::segment_arrived(csk, st, h, skb);
        },
    );
    None
}

/// The `SOL_SOCKET` settings a child takes from its listener.
///
/// The model is `sk_clone_lock` (net/core/sock.c), with which TCP makes
/// its children: it copies the listener's whole `struct sock` and then
/// resets what belongs to one connection.  A child here starts from
/// `sock_init_data`'s defaults instead (`Sock::alloc_child`), so what it
/// keeps of its listener is this list: the owner, `SO_REUSEADDR`,
/// `SO_REUSEPORT`, the buffer sizes and whether the user set them,
/// `SO_RCVLOWAT`, the timeouts, `SO_LINGER`, `SO_MARK`, `SO_KEEPALIVE`,
/// `SO_OOBINLINE` and the bound device; then, in
/// [`inherit_from_listener`], the socket filter.  Anything else a TCP
/// child would keep (`SO_PRIORITY`, the timestamp options, ...) starts at
/// its default.  A setting added here wants its case in the selftest
/// `sockopts.accepted_socket_inherits`, which checks the list against TCP.
const INHERITED: [SockSetting; 15] = [
    SockSetting::Uid,
    SockSetting::Reuse,
    SockSetting::ReusePort,
    SockSetting::RcvBuf,
    SockSetting::SndBuf,
    SockSetting::UserLocks,
    SockSetting::RcvLowat,
    SockSetting::RcvTimeo,
    SockSetting::SndTimeo,
    SockSetting::LingerTime,
    SockSetting::Mark,
    SockSetting::Flag(SockFlag::KeepOpen),
    SockSetting::Flag(SockFlag::Linger),
    SockSetting::Flag(SockFlag::UrgInline),
    SockSetting::BoundDevIf,
];

/// Gives a new child of listener `lsk` what it takes from it (softirq,
/// before anyone else sees the child): the settings of [`INHERITED`],
/// then a share of the listener's socket filter.  An error if the child
/// cannot take the filter (it is being replaced, or no longer fits the
/// child's option memory): the child is freed and the SYN dropped, as
/// `sk_clone_lock` does, rather than a child living without the filter
/// its listener had.
fn inherit_from_listener(child: &mut NewChild<'_>, lsk: &Sock<'_, AfcSock>) -> Result {
    for &setting in INHERITED.iter() {
        child.copy_from(lsk, setting);
    }
    child.share_filter(lsk)
}

/// Makes a SYN_RECV child of `l` on `tuple` (softirq), counted in its SYN
/// queue already: the core's connection from `make`, hashed in the
/// established table and on the half-open list; then `then` runs under
/// the child's lock.  On any failure the SYN queue count is undone.
fn new_child(
    l: &FoundListener,
    tuple: FourTuple,
    loopback: bool,
    make: impl FnOnce(Config) -> Option<Connection>,
    then: impl FnOnce(&Sock<'_, AfcSock>, &mut AfcSockLocked),
) {
    let lsk = l.sk.sock();
    let net = lsk.net();
    let ns = netns::of(net);
    let undo = || {
        l.queue
            .with(|s| s.queues.on_half_open_gone(HalfOpenEnd::Aborted))
    };
    // The child replies out of its listener's device, if bound to one.
    let Ok((route, kept)) = net.route_kept(tuple.remote.addr, tuple.local.addr, lsk.bound_dev_if())
    else {
        ns.stats.inc(Stat::ListenDrops);
        undo();
        return;
    };
    let Some(child) = lsk.alloc_child(inherit_from_listener) else {
        ns.stats.inc(Stat::ListenDrops);
        undo();
        return;
    };
    let csk = child.sock();
    // Its SYN-ACK goes the way just looked up (`inet_csk_route_child_sock`).
    csk.set_route(kept);
    let opts = l.queue.with(|s| s.opts);
    let cfg = super::opts::config(&csk, &opts, &route);
    let Some(connection) = make(cfg) else {
        undo();
        return;
    };
    let mut cg = csk.bh_lock();
    let Some(st) = cg.locked() else {
        // A new socket nobody else knows cannot be owned.
        undo();
        return;
    };
    st.local = Some(tuple.local);
    st.peer = Some(tuple.remote);
    super::publish_addrs(&csk, st);
    st.opts = opts;
    let mut cs = ConnState::new(
        connection,
        loopback || route.loopback,
        route.gso,
        Some(Parent {
            queue: l.queue.clone(),
        }),
    );
    match ns.tables.insert_established(tuple, child.clone()) {
        Ok(true) => cs.hashed = true,
        _ => {
            undo();
            return;
        }
    }
    drop(st.set_role(Role::Conn(cs)));
    ns.stats.inc(Stat::PassiveOpens);
    // On the half-open list only while the listener listens, under the
    // queue lock `close_listener` closes it with: a child its close did
    // not see would outlive it, holding its sock.  A closed listener (or
    // no memory for the entry) resets the child at once.
    let (queued, unused) = l.queue.with(|s| {
        let pushed = if s.queues.state() == State::Listen {
            vec::try_push(&mut s.half_open, child.clone(), GFP_ATOMIC)
        } else {
            Ok(())
        };
        let ok = s.queues.state() == State::Listen && pushed.is_ok();
        if !ok {
            s.queues.on_half_open_gone(HalfOpenEnd::Aborted);
        }
        (ok, pushed.err())
    });
    drop(unused);
    if !queued {
        if let Role::Conn(c) = &mut st.role {
            c.parent = None;
        }
        conn::abort(&csk, st);
        return;
    }
    then(&csk, st);
}

// SPDX-License-Identifier: GPL-2.0

//! The socket layer: `proto_ops` and `struct proto` callbacks of AF_CUSTOM.
//!
//! # Implementation notes
//!
//! A socket is a `struct sock` (allocated by `sk_alloc` from our `struct
//! proto`'s slab, initialised by `sock_init_data`) followed by its Rust
//! state: [`AfcSock`] (shared, atomics and locks of its own) and
//! [`AfcSockLocked`] (touched only by the socket's owner, see `abstractions::sock`).
//! A connection's protocol state is a `proto::conn::Connection`; its bytes
//! live in `sk_write_queue` (sent, unacknowledged, charged to
//! `sk_wmem_queued`, as TCP's), `sk_receive_queue` (in order, unread, charged to
//! `sk_rmem_alloc`) and an out-of-order list (`conn.rs`).
//!
//! # Locking (the one statement of it: other files point here)
//!
//! The locks, outermost first:
//!
//! 1. **The socket lock.** Process context owns a socket with `lock_sock`
//!    ([`Sock::lock`], a `SockGuard`); softirq code (the frame handler
//!    `rx`, the socket timer) takes `bh_lock_sock` and, when a process
//!    owns the socket, leaves the frame on the backlog (run by
//!    `release_sock` through `backlog_rcv`, still owned) or sets a
//!    deferred bit (done in `release_cb`).  A bulk frame for a reader
//!    asleep in `recvmsg` ([`AfcSock::reader_asleep`], counted by readers
//!    that own the lock, read by `rx` under the spinlock) goes on the
//!    backlog too, though nobody owns the socket, and so does every frame
//!    behind it: the reader runs them when it owns the socket again
//!    (`SockGuard::flush_backlog`, once per sleep), and the frame handler
//!    runs them itself, under the spinlock, when the backlog is full
//!    (`BhSockGuard::run_backlog`), as does the socket timer, armed for
//!    the delayed-ACK time by the first frame left (`conn::arm_for_reader`),
//!    should the woken reader not have come by then.  It guards [`AfcSockLocked`]:
//!    role, addresses, options, the `Connection`, and the socket's skb
//!    queues, which are reachable only through its `queues` field
//!    (`abstractions::sock::SockQueues`), so only by the owner: the compiler, not
//!    this comment, keeps a queue from being touched unlocked, and so the
//!    queues' own spinlocks are not taken (`__skb_queue_tail`,
//!    `__skb_dequeue`, as TCP uses its queues).  No code
//!    holds two socket locks: a listener's children are taken out of its
//!    queue under its lock and locked one by one after it is released.
//! 2. **The bind-table mutex** (`bind_table`, one per namespace): process
//!    context only (`bind`, `listen`, `connect`, `accept`, `close`),
//!    under the socket lock; never from softirq.
//! 3. **Leaves, never nested in each other:** a lookup table's bucket lock
//!    (`tables`: a bottom-half spinlock per bucket; the bind-table mutex
//!    may be held, to ask whether an orphan's connection still lives) and
//!    a listener's accept-queue lock ([`AcceptQueue`], a bottom-half
//!    spinlock, taken with the listener's or a child's socket lock held or
//!    with none, so that a child completing its handshake in softirq
//!    queues itself without its listener's socket lock, as TCP's
//!    `rskq_lock`).  Nothing is taken while a leaf is held, and no socket
//!    or accept-queue reference is put under one (a last put frees a sock
//!    or a queue of children): entries removed or refused come out of the
//!    closure and are dropped after unlocking (`vec::try_push` gives a
//!    value back when there is no memory for it).
//!
//! Everything else is atomic: the orphan count, the RST limiter's slots,
//! the published `sk_ack_backlog`, `AfcSock`'s fields; the counters
//! (`stats`) are per CPU, each CPU adding to its own copy in one
//! instruction (`this_cpu_add`), safe in any context.
//!
//! Contexts: `proto_ops` calls run in process context and may sleep
//! (see "Sleeping"); the frame handler (`rx`), the socket timer and
//! `release_cb` run with bottom halves off, never sleep, and allocate
//! with `GFP_ATOMIC`; the `/proc` readers walk the namespace's socket
//! list under its spinlock (`socks_lock` in the C helpers, a leaf as
//! well: `sk_alloc`'s link and `sk_destruct`'s unlink take it alone) and
//! read sockets' atomics only.  The offload callbacks (GSO segmenter,
//! GRO in a NIC's NAPI poll: `rust/helpers/gso.c`, `gro.c`) run in the
//! device layer's context with no socket, take no lock and touch only
//! the frames handed to them and the per-CPU counters.
//!
//! # References (who keeps a socket alive)
//!
//! A socket is freed (`sk_destruct`, which drops the Rust state) when its
//! last reference is put.  Holders:
//!
//! - the `struct socket` (the user's file) from `socket()`/`accept()` to
//!   `close()`;
//! - the established table, from the connection's insert until it reaches
//!   CLOSED (`conn::finish`): this is what keeps an orphan (closed by its
//!   user, still finishing) and a TIME_WAIT connection alive;
//! - the listener table, a listener's entry (with its accept queue) from
//!   `listen()` until its role ends;
//! - an accept queue's `ready` list (established children, until
//!   `accept()` or the listener's close) and `half_open` list (SYN_RECV
//!   children, and established ones `AFC_DEFER_ACCEPT` holds back until
//!   data comes: `conn::hand_to_listener` moves them on);
//! - an [`AcceptQueue`] holds its listener's sock, and is held by the
//!   listener's role, the listener-table entry and each half-open child's
//!   `listen::Parent`: the listener <-> queue cycle ends when the role does
//!   (close or shutdown resets or hands on every child, so nothing keeps a
//!   closed listener, and the module, alive);
//! - a pending timer (`sk_reset_timer` holds one while armed);
//! - a lookup's result (`SockRef`, `FoundListener`), for as long as the
//!   frame handler works on it.
//!
//! Each socket holds its network namespace and the module.  A kernel
//! socket (`sock_create_kern`) too: `create` takes a namespace reference
//! of its own for it (`afc_sk_kern_hold_net`, put by `sk_destruct`),
//! because our state in the namespace is freed at its exit and an
//! orphan's timer would read it.  Accepted children always hold one
//! (`afc_sk_alloc_child`, kern 0).

//! # Sleeping
//!
//! A call that sleeps (`connect`, `accept`, `sendmsg`, `recvmsg`, the
//! `SO_LINGER` wait of `close`) releases the socket lock, so another
//! thread may change the socket meanwhile: `shutdown` ends a connect
//! attempt (the socket becomes idle) or a listener, and the socket may
//! then be made a listener or a new connection.  After every sleep a
//! caller reads the role again, and before it changes the role it checks
//! that the socket is still the incarnation it started from
//! ([`AfcSockLocked::incarnation`]); a role it did not make is not its to
//! end.  `close` cannot race with a caller of the same socket (the VFS
//! releases a socket after its last call returns), only with softirq.
//!
//! What a sleeper waits for changes either under its socket lock (softirq
//! defers to the backlog while a process owns the socket, and the backlog
//! runs in `release_sock`, after the sleeper is on the wait queue: the
//! plain `SockGuard::wait`) or without it: the accept queue, which
//! children fill from their own softirq under the queue's lock.  `accept`
//! therefore goes on the wait queue before it looks (`SockGuard::wait_for`,
//! as `inet_csk_wait_for_connect`); looking first lost a wake-up.
//!
//! # Lifetimes
//!
//! What a socket owns is tied to its role: a listener owns its
//! listener-table entry and its accept queue (whose children hold the
//! queue, and so the listener's sock, only while half-open); a connection
//! owns its established-table entry until CLOSED.  Ending a role ends
//! what it owns ([`AfcSockLocked::set_role`] is the only way to change
//! it): closing a listener resets its children or hands them to a
//! sibling of its reuseport group, half-open ones included, so nothing
//! keeps a closed listener's sock (and the module) alive.

mod addr;
mod bind;
mod conn;
mod connect;
mod control;
mod diag;
mod io;
mod listen;
mod opts;
mod proc;

pub(crate) use conn::{arm_for_reader, orphan_count, segment_arrived};
pub(crate) use diag::{diag_fill, diag_match};
pub(crate) use listen::{listener_ack, listener_syn, AcceptQueue};
pub(crate) use proc::proc_line;

use crate::abstractions::errno::{EPROTONOSUPPORT, ESOCKTNOSUPPORT};
use crate::abstractions::family::{OptGet, OptVal, SocketFamily};
use crate::abstractions::msg::MsgHdr;
use crate::abstractions::skb::SkBuff;
use crate::abstractions::sock::{Sock, SockData, SockQueues};
use crate::abstractions::socket::Socket;
use crate::abstractions::uapi::{AFCPROTO_STREAM, SOCK_STREAM};
use crate::bind_table::Claim;
use crate::proto::tuple::Endpoint;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use kernel::prelude::*;

/// Deferred work bits in [`AfcSock::deferred`].
const DEFER_TIMER: u32 = 1;

/// The Rust state of one AF_CUSTOM socket that any context may read.
pub(crate) struct AfcSock {
    /// Work the timer found the socket owned for, done in `release_cb`.
    deferred: AtomicU32,
    /// In-order bytes not yet read (for `poll` and `/proc` without the lock).
    unread: AtomicU32,
    /// The receive window offered is closed (for `poll`: what is unread is
    /// all that can come until the reader reads, as `tcp_epollin_ready`).
    window_low: AtomicBool,
    /// A non-blocking send was refused for want of socket memory (the
    /// family's or the cgroup's): `poll` shows no `POLLOUT` until the
    /// connection's memory retry wakes writers (`conn::wait_for_memory`).
    mem_wait: AtomicBool,
    /// Bytes sent and not yet acknowledged, or not yet sent (for `/proc`).
    queued: AtomicU32,
    /// Bytes queued and not yet sent (for `poll` and `AFC_NOTSENT_LOWAT`).
    notsent: AtomicU32,
    /// `AFC_NOTSENT_LOWAT` (0: none), read without the lock as TCP's.
    notsent_lowat: AtomicU32,
    /// The timer, RTO, window... of the `/proc` line (`proc::proc_line`).
    proc: proc::ProcAtomics,
    /// The urgent mark, for `poll` ([`URG_VALID`], [`URG_AT_MARK_OOB`]).
    urgent: AtomicU8,
    /// The routing generation (high half) and the peer address (low half,
    /// never 0; 0: none) at which the frame handler last found that peer
    /// address no martian source (`rx::is_martian`), as early demux keeps
    /// TCP's input route: its frames skip that FIB lookup until routes or
    /// addresses change, or the socket connects elsewhere.
    rx_src_checked: AtomicU64,
    /// Readers asleep in `recvmsg` for want of data, changed only by
    /// their owner of the socket lock: while there is one, the frame
    /// handler leaves a data frame on the backlog for the reader to run
    /// when it wakes (`rx`), instead of running it in the sender's
    /// softirq.
    readers_asleep: AtomicU32,
}

/// [`AfcSock::urgent`]: an urgent byte waits to be read out of band (`POLLPRI`).
pub(crate) const URG_VALID: u8 = 1;
/// [`AfcSock::urgent`]: the read position is at an out-of-band urgent
/// byte, which is no readable data (`tcp_poll`'s `target++`).
pub(crate) const URG_AT_MARK_OOB: u8 = 2;

impl AfcSock {
    /// Whether a reader sleeps in `recvmsg` for want of data (the field's
    /// doc says what it holds); asked under the socket's spinlock by the
    /// frame handler, when no process owns the socket.
    pub(crate) fn reader_asleep(&self) -> bool {
        self.readers_asleep.load(Ordering::Relaxed) != 0
    }

    /// A reader that owns the socket lock is about to sleep for data
    /// (`true`), or is back and owns it again (`false`).  The socket lock's
    /// release and acquisition order this against the frame handler.
    pub(crate) fn reader_sleeps(&self, asleep: bool) {
        // Only owners of the socket lock write it, one at a time: a load
        // and a store, no read-modify-write.
        let n = self.readers_asleep.load(Ordering::Relaxed);
        let n = if asleep {
            n.wrapping_add(1)
        } else {
            n.wrapping_sub(1)
        };
        self.readers_asleep.store(n, Ordering::Relaxed);
    }

    /// The frame handler's cache of its martian-source check (the field's
    /// doc says what it holds).
    pub(crate) fn rx_src_checked(&self) -> &AtomicU64 {
        &self.rx_src_checked
    }

    /// Whether a non-blocking send waits for socket memory (the field's
    /// doc says what it holds).
    pub(crate) fn mem_wait(&self) -> bool {
        self.mem_wait.load(Ordering::Relaxed)
    }

    /// A non-blocking send was refused memory: no `POLLOUT` until it may
    /// try again.
    pub(crate) fn set_mem_wait(&self) {
        self.mem_wait.store(true, Ordering::Relaxed);
    }

    /// A send may try again (memory was found for one, acknowledged data
    /// freed some, the retry came, or the connection ended): `poll` may
    /// show `POLLOUT` again.
    pub(crate) fn clear_mem_wait(&self) {
        if self.mem_wait.load(Ordering::Relaxed) {
            self.mem_wait.store(false, Ordering::Relaxed);
        }
    }

    /// The urgent mark as published ([`URG_VALID`], [`URG_AT_MARK_OOB`]).
    pub(crate) fn urgent_bits(&self) -> u8 {
        self.urgent.load(Ordering::Relaxed)
    }

    /// Publishes the connection's urgent mark for `poll`.
    pub(crate) fn publish_urgent(&self, conn: &crate::proto::conn::Connection) {
        let valid = matches!(conn.urgent(), crate::proto::urgent::Urgent::Valid(_));
        let bits = if valid { URG_VALID } else { 0 }
            | if conn.at_mark_out_of_band() {
                URG_AT_MARK_OOB
            } else {
                0
            };
        self.urgent.store(bits, Ordering::Relaxed);
    }

    /// Whether the unsent bytes are at `AFC_NOTSENT_LOWAT` or over it, as
    /// `tcp_stream_memory_free` (`wake`: the doubled test that `poll` and
    /// wake-ups use, so a woken writer finds room for a while).
    pub(crate) fn notsent_full(&self, wake: bool) -> bool {
        let lowat = self.notsent_lowat.load(Ordering::Relaxed);
        let n = u64::from(self.notsent.load(Ordering::Relaxed)) << u32::from(wake);
        lowat != 0 && n >= u64::from(lowat)
    }
}

/// Publishes the socket's addresses for lockless readers.
pub(crate) fn publish_addrs(sk: &Sock<'_, AfcSock>, st: &AfcSockLocked) {
    let l = st.local.unwrap_or_default();
    let r = st.peer.unwrap_or_default();
    sk.set_addrs((l.addr, l.port), (r.addr, r.port));
}

/// What a socket is.
// The connection lives in the socket's object on purpose (the `Conn`
// variant's comment): an idle or listening socket carries its unused room,
// as TCP's `tcp_sock` is one size for every state.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Role {
    /// Not listening or connected (new, or after a failed connect).
    Idle,
    /// Listening; children queue on the accept queue.
    Listener(listen::Listener),
    /// A connection (connecting, established, closing, or closed), held
    /// in the socket's own object: a frame's work reads the socket and
    /// its connection from one allocation (docs/PERFORMANCE.md, session
    /// 23), and a connection costs no separate 2 KiB allocation.
    Conn(conn::ConnState),
}

/// The state of a socket that only the socket's owner touches.
pub(crate) struct AfcSockLocked {
    /// The bound local address, once `bind` (or `connect`/`listen`) gave one.
    pub(crate) local: Option<Endpoint>,
    /// Where `local` is claimed in the bind table, if it is (an accepted
    /// child holds a claim of its own on its listener's port).
    pub(crate) bound: Option<Claim>,
    /// The user bound a port (not 0): it stays through a disconnect
    /// (TCP's `SOCK_BINDPORT_LOCK`).
    pub(crate) port_locked: bool,
    /// The peer, once connected.
    pub(crate) peer: Option<Endpoint>,
    /// What the socket is.  Replaced only through
    /// [`AfcSockLocked::set_role`] (a new incarnation); changed in place
    /// (the connection's state) by its owner.
    pub(crate) role: Role,
    /// Counts role changes (as TCP's `sk_disconnects`): a caller that
    /// slept compares it with the value it started from, because another
    /// thread may have ended what it was waiting for and made the socket
    /// something else meanwhile (see "Sleeping" above).
    incarnation: u32,
    pub(crate) opts: opts::Opts,
    /// The socket's skb queues: reachable only here, so only by the
    /// socket's owner.
    pub(crate) queues: SockQueues,
}

impl AfcSockLocked {
    /// The current incarnation (see the field).
    pub(crate) fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Makes `role` the socket's role, a new incarnation, and returns the
    /// old one.  The caller has ended the old role: a connection CLOSED
    /// (unhashed, timer stopped), a listener closed (`close_listener`).
    pub(crate) fn set_role(&mut self, role: Role) -> Role {
        self.incarnation = self.incarnation.wrapping_add(1);
        core::mem::replace(&mut self.role, role)
    }
}

impl SockData for AfcSock {
    type Locked = AfcSockLocked;
    type Pernet = crate::netns::NetState;

    fn new() -> Self {
        Self {
            deferred: AtomicU32::new(0),
            unread: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            notsent: AtomicU32::new(0),
            notsent_lowat: AtomicU32::new(0),
            urgent: AtomicU8::new(0),
            rx_src_checked: AtomicU64::new(0),
            readers_asleep: AtomicU32::new(0),
            window_low: AtomicBool::new(false),
            mem_wait: AtomicBool::new(false),
            proc: proc::ProcAtomics::new(),
        }
    }

    fn new_locked(queues: SockQueues) -> AfcSockLocked {
        AfcSockLocked {
            queues,
            local: None,
            bound: None,
            port_locked: false,
            peer: None,
            role: Role::Idle,
            incarnation: 0,
            opts: opts::Opts::default(),
        }
    }

    fn backlog_rcv(sk: &Sock<'_, Self>, st: &mut AfcSockLocked, mut skb: SkBuff) {
        // Checked by the frame handler before it was queued.
        let Some((h, _)) = crate::rx::read_header(&mut skb) else {
            return;
        };
        // A SYN that reuses a TIME_WAIT tuple is dropped here; the client
        // retransmits and finds the listener.
        let _ = conn::segment_arrived(sk, st, &h, skb);
    }

    fn release_cb(sk: &Sock<'_, Self>, st: &mut AfcSockLocked) {
        if sk.data().deferred.swap(0, Ordering::AcqRel) & DEFER_TIMER != 0 {
            conn::run_timers(sk, st);
        }
    }

    fn timer(sk: &Sock<'_, Self>) {
        let mut g = sk.bh_lock();
        // Frames a reader asleep left waiting too long (`conn::arm_for_reader`)
        // run first, so that the timers see what they brought.
        g.run_backlog();
        match g.locked() {
            Some(st) => conn::run_timers(sk, st),
            None => {
                sk.data().deferred.fetch_or(DEFER_TIMER, Ordering::AcqRel);
            }
        }
    }

    fn keepalive(sk: &Sock<'_, Self>, st: &mut AfcSockLocked, on: bool) {
        opts::keepalive_changed(sk, st, on);
    }

    fn set_rcvlowat(sk: &Sock<'_, Self>, st: &mut AfcSockLocked, val: i32) -> Result {
        opts::set_rcvlowat(sk, st, val)
    }

    fn ioctl(sk: &Sock<'_, Self>, cmd: u32) -> Result<i32> {
        control::ioctl(sk, cmd)
    }
}

/// The AF_CUSTOM family.
pub(crate) struct AfCustomFamily;

impl SocketFamily for AfCustomFamily {
    type Data = AfcSock;

    fn check_create(sock_type: u32, protocol: i32) -> Result {
        if sock_type != SOCK_STREAM {
            return Err(ESOCKTNOSUPPORT());
        }
        if protocol != 0 && protocol != AFCPROTO_STREAM as i32 {
            return Err(EPROTONOSUPPORT());
        }
        Ok(())
    }

    fn init(sk: &Sock<'_, AfcSock>) {
        sk.init_wakeups();
        opts::init_buffers(sk);
    }

    fn release(sk: &Sock<'_, AfcSock>) {
        control::release(sk);
    }

    fn bind(sk: &Sock<'_, AfcSock>, addr: &[u8]) -> Result {
        bind::bind(sk, addr)
    }

    fn connect(sk: &Sock<'_, AfcSock>, sock: &Socket, addr: &[u8], flags: u32) -> Result {
        connect::connect(sk, sock, addr, flags)
    }

    fn listen(sk: &Sock<'_, AfcSock>, sock: &Socket, backlog: i32) -> Result {
        listen::listen(sk, sock, backlog)
    }

    fn accept(sk: &Sock<'_, AfcSock>, newsock: &Socket, flags: u32) -> Result {
        listen::accept(sk, newsock, flags)
    }

    fn getname(sk: &Sock<'_, AfcSock>, out: &mut [u8; 16], peer: bool) -> Result<usize> {
        bind::getname(sk, out, peer)
    }

    fn poll(sk: &Sock<'_, AfcSock>) -> u32 {
        control::poll(sk)
    }

    fn ioctl(sk: &Sock<'_, AfcSock>, cmd: u32) -> Result<i32> {
        control::ioctl(sk, cmd)
    }

    fn shutdown(sk: &Sock<'_, AfcSock>, sock: &Socket, how: i32) -> Result {
        control::shutdown(sk, sock, how)
    }

    fn setsockopt(sk: &Sock<'_, AfcSock>, level: i32, name: i32, val: &OptVal) -> Result {
        opts::setsockopt(sk, level, name, val)
    }

    fn getsockopt(sk: &Sock<'_, AfcSock>, level: i32, name: i32) -> Result<OptGet> {
        opts::getsockopt(sk, level, name)
    }

    fn sendmsg(sk: &Sock<'_, AfcSock>, msg: &mut MsgHdr, len: usize, flags: u32) -> Result<usize> {
        io::sendmsg(sk, msg, len, flags)
    }

    fn recvmsg(sk: &Sock<'_, AfcSock>, msg: &mut MsgHdr, len: usize, flags: u32) -> Result<usize> {
        io::recvmsg(sk, msg, len, flags)
    }
}

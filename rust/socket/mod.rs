// SPDX-License-Identifier: GPL-2.0

//! The socket layer: `proto_ops` and `struct proto` callbacks of AF_CUSTOM.
//!
//! # Implementation notes
//!
//! A socket is a `struct sock` (allocated by `sk_alloc` from our `struct
//! proto`'s slab, initialised by `sock_init_data`) followed by its Rust
//! state: [`AfcSock`] (shared, atomics and locks of its own) and
//! [`AfcSockLocked`] (touched only by the socket's owner, see `abi::sock`).
//! A connection's protocol state is a `proto::conn::Connection`; its bytes
//! live in `sk_write_queue` (sent, unacknowledged, charged to
//! `sk_wmem_alloc`), `sk_receive_queue` (in order, unread, charged to
//! `sk_rmem_alloc`) and an out-of-order list (`conn.rs`).
//!
//! # Locking
//!
//! - The socket lock (`lock_sock`, or `bh_lock_sock` in softirq when no
//!   process owns the socket) guards `AfcSockLocked`: the role (idle,
//!   listener, connection), addresses, options, the `Connection`.
//! - A listener's accept queue ([`AcceptQueue`]) has its own bottom-half
//!   spinlock, so that a child connection completing its handshake in
//!   softirq queues itself without the listener's socket lock (as TCP's
//!   `rskq_lock`).  The listener table holds the queue beside the socket.
//! - The lookup tables' bucket locks (`tables`) and the bind table mutex
//!   (`bind_table`, process context only).
//!
//! Order: socket lock, then accept-queue lock, then a bucket lock.  No
//! code holds two socket locks at once: closing a listener takes its
//! queued children out under its lock and resets them after releasing it.
//!
//! Softirq: the frame handler (`rx`), the socket timer and `release_cb`
//! run with bottom halves off; they never sleep and allocate with
//! `GFP_ATOMIC`.  Work that finds the socket owned by a process goes to
//! the backlog (frames) or a deferred bit (timer), done at `release_sock`.
//!
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
mod io;
mod listen;
mod opts;

pub(crate) use conn::{orphan_count, segment_arrived};
pub(crate) use listen::{listener_ack, listener_syn, AcceptQueue};

use crate::abi::errno::{EPROTONOSUPPORT, ESOCKTNOSUPPORT};
use crate::abi::family::{OptVal, SocketFamily};
use crate::abi::msg::MsgHdr;
use crate::abi::skb::SkBuff;
use crate::abi::sock::{Sock, SockData, Socket};
use crate::abi::uapi::{AFCPROTO_STREAM, SOCK_STREAM};
use crate::proto::tuple::Endpoint;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    /// Bytes sent and not yet acknowledged, or not yet sent (for `/proc`).
    queued: AtomicU32,
}

/// One line of `/proc/net/af_custom`, in the format of `/proc/net/tcp`:
/// addresses as `%08X:%04X` of the network-order address and host-order
/// port, the state as its TCP number, then send and receive queue bytes
/// (for a listener: its backlog and accept queue length, as `ss -lt`
/// shows them), uid, inode, and the reuseport group (0: none).
pub(crate) fn proc_line(w: &mut impl core::fmt::Write, sk: &Sock<'_, AfcSock>, sl: i32) -> core::fmt::Result {
    let ((la, lp), (ra, rp)) = sk.addrs();
    let state = sk.state();
    let (tx, rx) = if state == crate::proto::state::State::Listen.as_u8() {
        let max = sk.ack_backlog_max();
        (max, sk.ack_backlog())
    } else {
        (sk.data().queued.load(Ordering::Relaxed), sk.data().unread.load(Ordering::Relaxed))
    };
    let state = if state == 0 { crate::proto::state::State::Closed.as_u8() } else { state };
    writeln!(
        w,
        "{:4}: {:08X}:{:04X} {:08X}:{:04X} {:02X} {:08X}:{:08X} {:5} {:8} {}",
        sl, la.to_be(), lp, ra.to_be(), rp, state, tx, rx, sk.uid(), sk.inode(), 0
    )
}

/// Publishes the socket's addresses for lockless readers.
pub(crate) fn publish_addrs(sk: &Sock<'_, AfcSock>, st: &AfcSockLocked) {
    let l = st.local.unwrap_or_default();
    let r = st.peer.unwrap_or_default();
    sk.set_addrs((l.addr, l.port), (r.addr, r.port));
}

/// What a socket is.
pub(crate) enum Role {
    /// Not listening or connected (new, or after a failed connect).
    Idle,
    /// Listening; children queue on the accept queue.
    Listener(listen::Listener),
    /// A connection (connecting, established, closing, or closed).
    Conn(KBox<conn::ConnState>),
}

/// The state of a socket that only the socket's owner touches.
pub(crate) struct AfcSockLocked {
    /// The bound local address, once `bind` (or `connect`/`listen`) gave one.
    pub(crate) local: Option<Endpoint>,
    /// Whether `local` is a claim in the bind table (children share their
    /// listener's claim and hold none).
    pub(crate) bound: bool,
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

    fn new() -> Self {
        Self {
            deferred: AtomicU32::new(0),
            unread: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            window_low: AtomicBool::new(false),
        }
    }

    fn new_locked() -> AfcSockLocked {
        AfcSockLocked {
            local: None,
            bound: false,
            peer: None,
            role: Role::Idle,
            incarnation: 0,
            opts: opts::Opts::default(),
        }
    }

    fn backlog_rcv(sk: &Sock<'_, Self>, st: &mut AfcSockLocked, mut skb: SkBuff) {
        // Checked by the frame handler before it was queued.
        let Some((h, _)) = crate::rx::read_header(&mut skb) else { return };
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

    fn getsockopt(sk: &Sock<'_, AfcSock>, level: i32, name: i32) -> Result<i32> {
        opts::getsockopt(sk, level, name)
    }

    fn sendmsg(sk: &Sock<'_, AfcSock>, msg: &mut MsgHdr, len: usize, flags: u32) -> Result<usize> {
        io::sendmsg(sk, msg, len, flags)
    }

    fn recvmsg(sk: &Sock<'_, AfcSock>, msg: &mut MsgHdr, len: usize, flags: u32) -> Result<usize> {
        io::recvmsg(sk, msg, len, flags)
    }
}

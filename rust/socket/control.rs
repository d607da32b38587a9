// SPDX-License-Identifier: GPL-2.0

//! `close(2)`, `shutdown(2)`, `poll(2)` and `ioctl(2)`.

use super::conn::{self, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK};
use super::{bind, listen, AfcSock, Role, URG_AT_MARK_OOB, URG_VALID};
use crate::abstractions::errno::{ECONNRESET, ENOTCONN};
use crate::abstractions::family::no_ioctl;
use crate::abstractions::sock::Sock;
use crate::abstractions::socket::{signal_pending, Socket, SocketState};
use crate::abstractions::uapi::{
    POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDHUP, POLLRDNORM, POLLWRNORM,
};
use crate::abstractions::uapi::{SIOCATMARK, SIOCINQ, SIOCOUTQ, SIOCOUTQNSD};
use crate::proto::state::State;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// `close(2)`: a listener resets its queue; a connection sends FIN after
/// its data (or RST with unread data, or `SO_LINGER` 0) and finishes on
/// its own as an orphan.
pub(crate) fn release(sk: &Sock<'_, AfcSock>) {
    let mut g = sk.lock();
    let children = listen::close_listener(sk, g.locked());
    let linger = sk.linger();
    if let Role::Conn(c) = &mut g.locked().role {
        if linger == Some(0) {
            c.conn.abort();
        } else {
            c.conn.set_orphan_retries(sk.net().orphan_retries());
            c.conn.set_fin_timeout(sk.net().fin_timeout_us());
            c.conn.close(conn::now());
        }
        sk.add_shutdown(SHUTDOWN_MASK);
        conn::drive(sk, g.locked());
        // SO_LINGER with a time: wait until everything is acknowledged.
        if let Some(mut timeo) = linger.filter(|t| *t > 0) {
            loop {
                let done = match &g.locked().role {
                    Role::Conn(c) => c.conn.state() == State::Closed || c.conn.all_acked(),
                    _ => true,
                };
                if done || timeo == 0 || signal_pending() {
                    break;
                }
                // Woken by the acknowledgements that free the queue.
                sk.set_nospace();
                timeo = g.wait(timeo);
            }
        }
    }
    let st = g.locked();
    if let Role::Conn(c) = &mut st.role {
        conn::orphaned(sk, c);
    }
    conn::drive(sk, st);
    // Whatever its role says, a closed socket keeps no listener-table
    // entry (a listener's went with its role above): an entry left
    // behind would hold the sock, its namespace and the module for ever.
    if let Some(local) = st.local {
        let tables = &crate::netns::of_sock(sk).tables;
        while let Some(stale) = tables.remove_listener(local, sk.id()) {
            drop(stale);
        }
    }
    bind::unbind_on_close(sk, st);
    drop(g);
    children.finish();
}

/// `shutdown(2)`, as `inet_shutdown`.
pub(crate) fn shutdown(sk: &Sock<'_, AfcSock>, sock: &Socket, how: i32) -> Result {
    // SHUT_RD, SHUT_WR, SHUT_RDWR are 0, 1, 2; the bits are one more.
    if !(0..=2).contains(&how) {
        return Err(EINVAL);
    }
    let bits = (how + 1) as u8;
    let mut g = sk.lock();
    let state = sk.state();
    if sock.state() == SocketState::Connecting {
        let half = matches!(
            State::from_u8(state),
            Some(State::SynSent | State::SynRecv | State::Closed)
        );
        sock.set_state(if half {
            SocketState::Disconnecting
        } else {
            SocketState::Connected
        });
    }
    let mut children = listen::ClosedListener::default();
    let result = match State::from_u8(state) {
        Some(State::Listen) => {
            if bits & RCV_SHUTDOWN != 0 {
                children = listen::close_listener(sk, g.locked());
                sock.set_state(SocketState::Unconnected);
            }
            Ok(())
        }
        Some(State::SynSent) => {
            // As `tcp_disconnect` from SYN_SENT: the attempt is reset, and
            // whoever waits for it (connect, send, recv) learns so.
            conn::abort(sk, g.locked());
            sk.set_err(ECONNRESET().to_errno().abs());
            let st = g.locked();
            drop(st.set_role(Role::Idle));
            st.peer = None;
            super::publish_addrs(sk, st);
            sk.set_state(State::Closed.as_u8());
            sk.clear_shutdown();
            sock.set_state(SocketState::Unconnected);
            Ok(())
        }
        s => {
            sk.add_shutdown(bits);
            if bits & SEND_SHUTDOWN != 0 {
                if let Role::Conn(c) = &mut g.locked().role {
                    c.conn.shutdown_write();
                }
                conn::drive(sk, g.locked());
            }
            if s == Some(State::Closed) || s.is_none() {
                Err(ENOTCONN())
            } else {
                Ok(())
            }
        }
    };
    sk.state_change();
    drop(g);
    children.finish();
    result
}

/// `poll(2)`, without the socket lock, as `tcp_poll`: every state it reads
/// is published before the wake-up that makes a poller look again.
pub(crate) fn poll(sk: &Sock<'_, AfcSock>) -> u32 {
    let state = State::from_u8(sk.state());
    if state == Some(State::Listen) {
        return if sk.ack_backlog() > 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        };
    }
    let mut mask = 0;
    let shut = sk.shutdown_bits();
    if shut == SHUTDOWN_MASK || matches!(state, Some(State::Closed) | None) {
        mask |= POLLHUP;
    }
    if shut & RCV_SHUTDOWN != 0 {
        mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    }
    if !matches!(state, Some(State::SynSent | State::SynRecv)) {
        let unread = sk.data().unread.load(Ordering::Relaxed);
        let urg = sk.data().urgent_bits();
        // At an out-of-band urgent byte one byte more is wanted: the
        // urgent byte is no data (`tcp_poll`).
        if readable(sk, unread, u32::from(urg & URG_AT_MARK_OOB != 0)) {
            mask |= POLLIN | POLLRDNORM;
        }
        if urg & URG_VALID != 0 {
            mask |= POLLPRI;
        }
        if shut & SEND_SHUTDOWN == 0 {
            // Writable while at most half the send buffer is in use, the
            // threshold at which `sock_def_write_space` wakes writers.
            // And, with `AFC_NOTSENT_LOWAT`, while fewer than half of it
            // are unsent (`__sk_stream_is_writeable(sk, 1)`).
            // Not while a send waits for socket memory: the retry
            // timer wakes it (`conn::wait_for_memory`).
            let room = |sk: &Sock<'_, AfcSock>| {
                (sk.wmem_queued() as u64) * 2 < sk.sndbuf() as u64
                    && !sk.data().notsent_full(true)
                    && !sk.data().mem_wait()
            };
            if room(sk) {
                mask |= POLLOUT | POLLWRNORM;
            } else {
                // The acknowledgement that frees room wakes pollers
                // (`tcp_poll`); look again in case it came first.
                sk.set_nospace();
                if room(sk) {
                    mask |= POLLOUT | POLLWRNORM;
                }
            }
        } else {
            mask |= POLLOUT | POLLWRNORM;
        }
    }
    if sk.err() != 0 {
        mask |= POLLERR;
    }
    mask
}

/// Whether `unread` bytes make the socket readable, as
/// `tcp_stream_is_readable`: at least `SO_RCVLOWAT` of them, or fewer
/// when no more can come, so that a reader waiting for the mark is not
/// left hanging: receive memory is nearly used up (`tcp_rmem_pressure`,
/// above 7/8 of the buffer) or the window offered is closed
/// (`tcp_epollin_ready`: the window's rounding to its scale and silly
/// window avoidance may leave the last bytes below a mark unsendable).
fn readable(sk: &Sock<'_, AfcSock>, unread: u32, extra: u32) -> bool {
    if unread == 0 {
        return false;
    }
    let rcvbuf = sk.rcvbuf();
    unread as usize >= sk.rcvlowat_setting().saturating_add(extra as usize)
        || sk.rmem_alloc() > rcvbuf - rcvbuf / 8
        || sk.data().window_low.load(Ordering::Relaxed)
}

/// `ioctl(2)`: `SIOCINQ` (unread bytes), `SIOCOUTQ` (unacknowledged bytes),
/// `SIOCOUTQNSD` (bytes not yet sent), `SIOCATMARK` (whether the read
/// position is at the urgent mark; 0 on any socket without one, a
/// listener's included, as `tcp_ioctl`).
pub(crate) fn ioctl(sk: &Sock<'_, AfcSock>, cmd: u32) -> Result<i32> {
    if !matches!(cmd, SIOCINQ | SIOCOUTQ | SIOCOUTQNSD | SIOCATMARK) {
        return Err(no_ioctl());
    }
    let mut g = sk.lock();
    // Frames left for a reader asleep count, as the softirq had run them
    // (`rx`).
    g.flush_backlog();
    if cmd == SIOCATMARK {
        return Ok(match &g.locked().role {
            Role::Conn(c) => i32::from(c.conn.at_mark()),
            _ => 0,
        });
    }
    match &mut g.locked().role {
        Role::Listener(_) => Err(EINVAL),
        Role::Idle => Ok(0),
        Role::Conn(c) => Ok(match cmd {
            SIOCINQ => {
                // Up to an out-of-band urgent byte (`tcp_inq`).
                c.conn.set_urgent_inline(sk.urg_inline());
                c.conn.inq()
            }
            SIOCOUTQ => c.conn.send_queued(),
            _ => c.conn.unsent(),
        } as i32),
    }
}

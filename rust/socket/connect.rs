// SPDX-License-Identifier: GPL-2.0

//! `connect(2)`, with the states and errnos of `__inet_stream_connect`.

use super::conn::{self, ConnState};
use super::{addr, bind, listen, AfcSock, AfcSockLocked, Role};
use crate::abstractions::errno::{
    EADDRNOTAVAIL, EALREADY, ECONNABORTED, ECONNREFUSED, ECONNRESET, EINPROGRESS, EISCONN,
    ENETUNREACH,
};
use crate::abstractions::sock::{Sock, SockGuard};
use crate::abstractions::socket::{intr_errno, signal_pending, Socket, SocketState};
use crate::abstractions::uapi::{AF_UNSPEC, O_NONBLOCK};
use crate::netns;
use crate::proto::conn::Connection;
use crate::proto::isn::initial_seq;
use crate::proto::state::State;
use crate::proto::tuple::{Endpoint, FourTuple, ADDR_ANY};
use crate::proto::wire::is_unicast;
use crate::stats::Stat;
use kernel::prelude::*;

/// How many times to pick an ephemeral port when racing connects keep
/// taking the 4-tuple first.
const PORT_TRIES: usize = 32;

pub(crate) fn connect(sk: &Sock<'_, AfcSock>, sock: &Socket, bytes: &[u8], flags: u32) -> Result {
    // As `inet_stream_connect`: the family is read first, and AF_UNSPEC
    // disconnects.
    let Some(&[f0, f1]) = bytes.get(..2) else {
        return Err(EINVAL);
    };
    if u16::from_ne_bytes([f0, f1]) == AF_UNSPEC as u16 {
        return disconnect(sk, sock);
    }
    let remote = addr::decode(bytes, sk.family())?;
    let mut g = sk.lock();
    let err = match sock.state() {
        SocketState::Connected => return Err(EISCONN()),
        SocketState::Connecting => EALREADY(),
        SocketState::Disconnecting => return Err(EINVAL),
        SocketState::Unconnected => {
            if sk.state() != State::Closed.as_u8() && sk.state() != 0 {
                return Err(EISCONN());
            }
            start(sk, g.locked(), remote)?;
            sock.set_state(SocketState::Connecting);
            EINPROGRESS()
        }
    };
    // The attempt this call waits for: started above, or by an earlier
    // nonblocking call (EALREADY).
    let incarnation = g.locked().incarnation();
    let mut timeo = sk.sndtimeo(flags & O_NONBLOCK != 0);
    while connecting(&mut g, incarnation) {
        if timeo == 0 {
            return Err(err);
        }
        if signal_pending() {
            return Err(intr_errno(timeo));
        }
        timeo = g.wait(timeo);
    }
    let st = g.locked();
    if st.incarnation() != incarnation {
        // While this call slept another thread ended the attempt
        // (`shutdown`) and may have made the socket something else since
        // (a listener, a new connection): that is not this call's to
        // undo.  Report why the attempt ended, unless a new connection
        // now owns the pending error.
        let e = if matches!(st.role, Role::Conn(_)) {
            None
        } else {
            sk.take_err()
        };
        return Err(e.unwrap_or(ECONNABORTED()));
    }
    match &st.role {
        Role::Conn(c) if c.conn.state() != State::Closed => {
            sock.set_state(SocketState::Connected);
            Ok(())
        }
        _ => {
            // Failed: report why (once), and make the socket reusable
            // (`tcp_disconnect`).  The connection is CLOSED (unhashed):
            // still this call's own attempt, checked above.
            let e = sk.take_err().unwrap_or(ECONNABORTED());
            conn::abort(sk, st);
            drop(st.set_role(Role::Idle));
            st.peer = None;
            super::publish_addrs(sk, st);
            sk.set_state(State::Closed.as_u8());
            sk.clear_shutdown();
            sock.set_state(SocketState::Unconnected);
            Err(e)
        }
    }
}

/// Whether the attempt of incarnation `incarnation` is still under way.
fn connecting(g: &mut SockGuard<'_, AfcSock>, incarnation: u32) -> bool {
    let st = g.locked();
    st.incarnation() == incarnation
        && matches!(&st.role, Role::Conn(c) if matches!(c.conn.state(), State::SynSent | State::SynRecv))
}

/// Starts an active open toward `remote`: picks the route, the local
/// address and port, hashes the connection and sends the SYN.
fn start(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, remote: Endpoint) -> Result {
    if !matches!(st.role, Role::Idle) {
        return Err(EISCONN());
    }
    if remote.port == 0 || !is_unicast(remote.addr) {
        // TCP answers a connect to port 0 or a broadcast address like this.
        return Err(if remote.port == 0 {
            ECONNREFUSED()
        } else {
            ENETUNREACH()
        });
    }
    let net = sk.net();
    let ns = netns::of(net);
    let bound_addr = st.local.map_or(ADDR_ANY, |l| l.addr);
    // A device-bound socket routes out of its device (`ip_route_connect`).
    let (route, kept) = net
        .route_kept(remote.addr, bound_addr, sk.bound_dev_if())
        .map_err(|_| ENETUNREACH())?;
    let local_addr = if bound_addr == ADDR_ANY {
        route.src
    } else {
        bound_addr
    };
    // The local port: the bound one, or an ephemeral one that makes the
    // 4-tuple unique (shared with connections elsewhere).  Choosing the
    // port only reads the established table; a racing connect() may take
    // the same 4-tuple first, and then the insert fails and we try again.
    let t = conn::now();
    let cfg = super::opts::config(sk, &st.opts, &route);
    let mut tries = 0;
    let (tuple, mut cs) = loop {
        let autobound = st.bound.is_none();
        if autobound {
            bind::autobind_connect(sk, st, local_addr, remote)?;
        }
        let tuple = FourTuple::new(
            Endpoint::new(local_addr, st.local.map_or(0, |l| l.port)),
            remote,
        );
        let connection = Connection::connect(cfg, tuple, initial_seq(&ns.secret, &tuple, t), t);
        let cs = ConnState::new(connection, route.loopback, route.gso, None);
        if ns.tables.insert_established(tuple, sk.to_ref())? {
            break (tuple, cs);
        }
        if !autobound {
            return Err(EADDRNOTAVAIL());
        }
        bind::unbind_locked(sk, st);
        st.local = None;
        super::publish_addrs(sk, st);
        tries += 1;
        if tries >= PORT_TRIES {
            return Err(EADDRNOTAVAIL());
        }
    };
    cs.hashed = true;
    st.local = Some(Endpoint::new(local_addr, tuple.local.port));
    st.peer = Some(remote);
    super::publish_addrs(sk, st);
    drop(st.set_role(Role::Conn(cs)));
    // The SYN goes the way just looked up (`sk_setup_caps`).
    sk.set_route(kept);
    // A new attempt: the error of an earlier one is forgotten (as
    // `tcp_connect_init` clears `sk_err`).
    let _ = sk.take_err();
    ns.stats.inc(Stat::ActiveOpens);
    conn::drive(sk, st);
    Ok(())
}

/// `connect(2)` with an AF_UNSPEC address, as `tcp_disconnect`: a
/// listener stops listening (its queue is reset), a connection is reset
/// (RST to the peer where TCP sends one, `ECONNRESET` left in `SO_ERROR`)
/// and forgotten with its queues; the socket may then connect or listen
/// again.  The local address and port stay only if the user bound a
/// port explicitly (TCP's `SOCK_BINDPORT_LOCK`; TCP would also keep an
/// address bound with port 0, which this does not).
fn disconnect(sk: &Sock<'_, AfcSock>, sock: &Socket) -> Result {
    let mut g = sk.lock();
    let children = listen::close_listener(sk, g.locked());
    let st = g.locked();
    if let Role::Conn(c) = &st.role {
        let reset = matches!(
            c.conn.state(),
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::FinWait2
                | State::SynRecv
                | State::SynSent
        );
        conn::abort(sk, st);
        if reset {
            sk.set_err(ECONNRESET().to_errno().abs());
        }
        drop(st.set_role(Role::Idle));
        st.queues.receive().purge();
        sk.data()
            .unread
            .store(0, core::sync::atomic::Ordering::Relaxed);
    }
    st.peer = None;
    if !st.port_locked {
        bind::unbind_locked(sk, st);
        st.local = None;
    }
    super::publish_addrs(sk, st);
    sk.set_state(State::Closed.as_u8());
    sk.clear_shutdown();
    sock.set_state(SocketState::Unconnected);
    sk.state_change();
    drop(g);
    children.finish();
    Ok(())
}

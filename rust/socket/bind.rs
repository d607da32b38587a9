// SPDX-License-Identifier: GPL-2.0

//! `bind(2)`, `getsockname(2)` and `getpeername(2)`, and the implicit
//! binds of `connect` and `listen`.

use super::{addr, AfcSock, AfcSockLocked, Role};
use crate::abstractions::errno::{EADDRINUSE, EADDRNOTAVAIL, ENOTCONN};
use crate::abstractions::{random::random_u64, sock::Sock};
use crate::bind_table::Claim;
use crate::netns;
use crate::proto::bind::Binding;
use crate::proto::ports::PortRange;
use crate::proto::state::State;
use crate::proto::tuple::{Endpoint, FourTuple, ADDR_ANY};
use kernel::prelude::*;

/// Ports below this need `CAP_NET_BIND_SERVICE`.
const PROT_SOCK: u16 = 1024;

/// Binds `sk` to the local address in `bytes`, as `inet_bind` does for TCP.
pub(crate) fn bind(sk: &Sock<'_, AfcSock>, bytes: &[u8]) -> Result {
    let want = addr::decode(bytes, sk.family())?;
    let net = sk.net();
    if want.addr != ADDR_ANY && !net.addr_is_local(want.addr) {
        return Err(EADDRNOTAVAIL());
    }
    if want.port != 0 && want.port < PROT_SOCK && !net.may_bind_privileged() {
        return Err(EACCES);
    }
    let mut guard = sk.lock();
    let st = guard.locked();
    if st.local.is_some() || !matches!(st.role, super::Role::Idle) {
        return Err(EINVAL);
    }
    claim(sk, st, want).and_then(|ok| if ok { Ok(()) } else { Err(EADDRINUSE()) })?;
    st.port_locked = want.port != 0;
    Ok(())
}

/// Claims `want` (port 0: an ephemeral port) in the bind table; `false`
/// if it is taken.  The socket lock is held.
fn claim(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, want: Endpoint) -> Result<bool> {
    let binding = binding_for(sk, want);
    let ns = netns::of_sock(sk);
    let mut binds = ns.binds.lock();
    // The namespace's first bound socket makes its lookup tables.
    ns.tables.ensure()?;
    let claimed = binds.claim(sk.id(), binding, port_range(sk), random_u64(), &live(ns))?;
    drop(binds);
    Ok(match claimed {
        Some((port, claim)) => {
            set_bound(sk, st, Endpoint::new(want.addr, port), claim);
            true
        }
        None => false,
    })
}

/// A new claim of `sk` on `at`.
fn binding_for(sk: &Sock<'_, AfcSock>, at: Endpoint) -> Binding {
    Binding {
        addr: at.addr,
        port: at.port,
        dev_if: dev_if(sk),
        reuseaddr: sk.reuseaddr(),
        reuseport: sk.reuseport(),
        uid: sk.kuid(),
        state: State::Closed,
        by_connect: false,
    }
}

/// The device `sk` is bound to (`SO_BINDTODEVICE`), 0 for none.
fn dev_if(sk: &Sock<'_, AfcSock>) -> u32 {
    u32::try_from(sk.bound_dev_if()).unwrap_or(0)
}

/// `SO_BINDTODEVICE` or `SO_BINDTOIFINDEX` changed the socket's device
/// (`sock_setsockopt` did): a bound socket's claim follows, so that later
/// binds see it as TCP's conflict check sees `sk_bound_dev_if`, live.
pub(crate) fn device_changed(sk: &Sock<'_, AfcSock>) {
    let mut g = sk.lock();
    let st = g.locked();
    if let Some(claim) = st.bound {
        let port = st.local.map_or(0, |l| l.port);
        netns::of_sock(sk)
            .binds
            .lock()
            .set_dev(sk.id(), port, claim, dev_if(sk));
    }
}

/// The namespace's ephemeral port range (the default if set inverted).
fn port_range(sk: &Sock<'_, AfcSock>) -> PortRange {
    let (lo, hi) = sk.net().port_range();
    u16::try_from(lo)
        .ok()
        .zip(u16::try_from(hi).ok())
        .and_then(|(lo, hi)| PortRange::new(lo, hi))
        .unwrap_or(PortRange::LINUX_DEFAULT)
}

fn set_bound(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, local: Endpoint, claim: Claim) {
    st.local = Some(local);
    st.bound = Some(claim);
    super::publish_addrs(sk, st);
}

/// Binds an unbound socket for `connect()` from `addr` to `remote`: an
/// ephemeral port whose 4-tuple no connection holds, shared with other
/// connecting sockets (RFC 6056 algorithm 3, as TCP's
/// `__inet_hash_connect`); `EADDRNOTAVAIL` when none is left.  The
/// established table is only read here: the caller's insert may still
/// find the 4-tuple taken by a racing `connect()`, and then retries.
pub(crate) fn autobind_connect(
    sk: &Sock<'_, AfcSock>,
    st: &mut AfcSockLocked,
    addr: u32,
    remote: Endpoint,
) -> Result {
    let ns = netns::of_sock(sk);
    let offset = ns.ephemeral_offset(addr, remote);
    let binding = binding_for(sk, Endpoint::new(addr, 0));
    let mut binds = ns.binds.lock();
    ns.tables.ensure()?;
    let claimed = binds.claim_connect(
        sk.id(),
        binding,
        port_range(sk),
        offset,
        |port| {
            !ns.tables.established_taken(
                &FourTuple::new(Endpoint::new(addr, port), remote),
                sk.bound_dev_if(),
            )
        },
        &live(ns),
    )?;
    drop(binds);
    let (port, claim) = claimed.ok_or_else(EADDRNOTAVAIL)?;
    set_bound(sk, st, Endpoint::new(addr, port), claim);
    Ok(())
}

/// Binds an unbound socket to an ephemeral port on `addr` (`connect`,
/// `listen`); `EADDRNOTAVAIL` when none is free, as `inet_autobind`.
pub(crate) fn autobind(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, addr: u32) -> Result {
    if claim(sk, st, Endpoint::new(addr, 0))? {
        Ok(())
    } else {
        Err(EADDRNOTAVAIL())
    }
}

/// An accepted child takes a share of its listener's port, so that the
/// port stays in use while the connection lives (the lock is held).
pub(crate) fn claim_child(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) -> Result {
    let Some(local) = st.local else { return Ok(()) };
    let binding = Binding {
        addr: local.addr,
        port: local.port,
        dev_if: dev_if(sk),
        reuseaddr: sk.reuseaddr(),
        reuseport: false,
        uid: sk.kuid(),
        state: State::Established,
        by_connect: false,
    };
    let ns = netns::of_sock(sk);
    st.bound = Some(ns.binds.lock().add(sk.id(), binding, &live(ns))?);
    Ok(())
}

/// Whether a closed socket's claim still holds: the state of its
/// connection while that is in the established table (`bind_table`).
fn live(ns: &netns::NetState) -> impl Fn(usize, &FourTuple) -> Option<State> + '_ {
    move |owner, tuple| ns.tables.established_state(tuple, owner)
}

/// Gives up the bind-table claim (if any); the socket lock is held.
pub(crate) fn unbind_locked(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) {
    if let Some(claim) = st.bound.take() {
        let port = st.local.map_or(0, |l| l.port);
        netns::of_sock(sk)
            .binds
            .lock()
            .release(sk.id(), port, claim);
    }
}

/// `close()`: a connection that lives on (an orphan finishing, or in
/// TIME_WAIT) keeps the port until it is gone, as TCP's; anything else
/// gives up its claim now.  The socket lock is held.
pub(crate) fn unbind_on_close(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) {
    let tuple = match &st.role {
        Role::Conn(c) if c.hashed && c.conn.state() != State::Closed => Some(c.conn.tuple()),
        _ => None,
    };
    match (tuple, st.bound) {
        (Some(t), Some(claim)) => {
            st.bound = None;
            let port = st.local.map_or(0, |l| l.port);
            netns::of_sock(sk)
                .binds
                .lock()
                .orphan(sk.id(), port, claim, t);
        }
        _ => unbind_locked(sk, st),
    }
}

/// Marks the socket's claim as listening (`EADDRINUSE` if, listening, it
/// conflicts: two `SO_REUSEADDR` sockets may bind one port but not both
/// listen on it) or not.
pub(crate) fn set_listening(sk: &Sock<'_, AfcSock>, st: &AfcSockLocked, listening: bool) -> Result {
    let state = if listening {
        State::Listen
    } else {
        State::Closed
    };
    let reuseport = sk.reuseport();
    let port = st.local.map_or(0, |l| l.port);
    let Some(claim) = st.bound else { return Ok(()) };
    let ns = netns::of_sock(sk);
    if ns
        .binds
        .lock()
        .set_state(sk.id(), port, claim, state, reuseport, &live(ns))
    {
        Ok(())
    } else {
        Err(EADDRINUSE())
    }
}

/// The local (`peer` false) or remote address, as a `sockaddr_custom`.
pub(crate) fn getname(sk: &Sock<'_, AfcSock>, out: &mut [u8; 16], peer: bool) -> Result<usize> {
    let mut guard = sk.lock();
    let st = guard.locked();
    let ep = if peer {
        st.peer.ok_or_else(ENOTCONN)?
    } else {
        st.local.unwrap_or(Endpoint::new(ADDR_ANY, 0))
    };
    Ok(addr::encode(ep, sk.family(), out))
}

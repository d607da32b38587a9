// SPDX-License-Identifier: GPL-2.0

//! `bind(2)`, `getsockname(2)` and `getpeername(2)`.

use super::{addr, AfcSock};
use crate::abi::errno::{EADDRINUSE, EADDRNOTAVAIL, ENOTCONN};
use crate::abi::{netns::random_u64, sock::Sock};
use crate::netns;
use crate::proto::bind::Binding;
use crate::proto::ports::PortRange;
use crate::proto::state::State;
use crate::proto::tuple::{Endpoint, ADDR_ANY};
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
    if st.local.is_some() {
        return Err(EINVAL);
    }
    let binding = Binding {
        addr: want.addr,
        port: want.port,
        dev_if: 0,
        reuseaddr: sk.reuseaddr(),
        reuseport: false,
        uid: sk.uid(),
        state: State::Closed,
    };
    let port = netns::of(net)
        .binds
        .lock()
        .claim(sk.id(), binding, PortRange::LINUX_DEFAULT, random_u64())?
        .ok_or_else(EADDRINUSE)?;
    st.local = Some(Endpoint::new(want.addr, port));
    Ok(())
}

/// Gives up the local address of a closing socket.
pub(crate) fn unbind(sk: &Sock<'_, AfcSock>) {
    let mut guard = sk.lock();
    if guard.locked().local.take().is_some() {
        netns::of(sk.net()).binds.lock().release(sk.id());
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

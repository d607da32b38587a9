// SPDX-License-Identifier: GPL-2.0

//! The socket layer: `proto_ops` of AF_CUSTOM.
//!
//! # Implementation notes
//!
//! A socket is a `struct sock` (allocated by `sk_alloc` from our `struct
//! proto`'s slab, initialised by `sock_init_data`) followed by its Rust
//! state: `AfcSock` (shared) and `AfcSockLocked` (only under the socket
//! lock, `lock_sock`, reached through `Sock::lock`).  The socket holds one
//! reference on the sock, dropped in `release`; the sock pins the module
//! through `proto.owner` and `proto_ops.owner`.
//!
//! So far: `bind`, `getsockname`, `getpeername` (`bind.rs`) work; every
//! other operation but `release` answers `EOPNOTSUPP` through the kernel's
//! `sock_no_*` helpers.
//!
//! Lock order: the socket lock, then the namespace's bind-table mutex.

use crate::abi::errno::{EPROTONOSUPPORT, ESOCKTNOSUPPORT};
use crate::abi::family::SocketFamily;
use crate::abi::sock::{Sock, SockData};
use crate::proto::tuple::Endpoint;

mod addr;
mod bind;
use crate::abi::uapi::{AFCPROTO_STREAM, SOCK_STREAM};
use kernel::prelude::*;

/// The Rust state of one AF_CUSTOM socket.
pub(crate) struct AfcSock {}

/// The state of a socket that only the socket lock's owner touches.
pub(crate) struct AfcSockLocked {
    /// The bound local address, once `bind` (or later `connect`) gave one.
    pub(crate) local: Option<Endpoint>,
    /// The peer, once connected.
    pub(crate) peer: Option<Endpoint>,
}

impl SockData for AfcSock {
    type Locked = AfcSockLocked;

    fn new() -> Self {
        Self {}
    }

    fn new_locked() -> AfcSockLocked {
        AfcSockLocked { local: None, peer: None }
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

    fn release(sk: &Sock<'_, AfcSock>) {
        bind::unbind(sk);
    }

    fn bind(sk: &Sock<'_, AfcSock>, addr: &[u8]) -> Result {
        bind::bind(sk, addr)
    }

    fn getname(sk: &Sock<'_, AfcSock>, out: &mut [u8; 16], peer: bool) -> Result<usize> {
        bind::getname(sk, out, peer)
    }
}

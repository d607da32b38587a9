// SPDX-License-Identifier: GPL-2.0

//! The socket layer: `proto_ops` of AF_CUSTOM.
//!
//! # Implementation notes
//!
//! So far a socket is a bare `struct sock` (allocated by `sk_alloc` from
//! our `struct proto`'s slab, initialised by `sock_init_data`) with an
//! empty Rust state after it; every operation but `release` answers
//! `EOPNOTSUPP` through the kernel's `sock_no_*` helpers.  The socket
//! holds one reference on the sock, dropped in `release`; the sock pins
//! the module through `proto.owner` and `proto_ops.owner`.

use crate::abi::errno::{EPROTONOSUPPORT, ESOCKTNOSUPPORT};
use crate::abi::family::SocketFamily;
use crate::abi::sock::{Sock, SockData};
use crate::abi::uapi::{AFCPROTO_STREAM, SOCK_STREAM};
use kernel::prelude::*;

/// The Rust state of one AF_CUSTOM socket.
pub(crate) struct AfcSock {}

impl SockData for AfcSock {
    fn new() -> Self {
        Self {}
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

    fn release(_sk: &Sock<'_, AfcSock>) {}
}

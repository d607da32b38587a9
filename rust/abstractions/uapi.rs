// SPDX-License-Identifier: GPL-2.0

//! Constants of the uapi header and the socket API, re-exported from the
//! bindings for the layers above.

pub(crate) use crate::abstractions::bindings::{AFCPROTO_STREAM, AF_MAX, ETH_P_AF_CUSTOM};
pub(crate) use crate::abstractions::bindings::{
    AFC_CONGESTION, AFC_CORK, AFC_DEFER_ACCEPT, AFC_INFO, AFC_MAXSEG, AFC_NOTSENT_LOWAT,
    AFC_PKTINFO, AFC_QUICKACK, AFC_USER_TIMEOUT,
};
pub(crate) use crate::abstractions::bindings::{
    AFC_KEEPCNT, AFC_KEEPIDLE, AFC_KEEPINTVL, AFC_NODELAY, AFC_SYNCNT, SOL_AF_CUSTOM,
};
pub(crate) use crate::abstractions::bindings::{AF_UNSPEC, MSG_MORE};
pub(crate) use crate::abstractions::bindings::{
    FIONREAD as SIOCINQ, SIOCATMARK, SIOCOUTQNSD, TIOCOUTQ as SIOCOUTQ,
};
pub(crate) use crate::abstractions::bindings::{
    MSG_DONTWAIT, MSG_ERRQUEUE, MSG_NOSIGNAL, MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, O_NONBLOCK,
};
pub(crate) use crate::abstractions::bindings::{
    POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDHUP, POLLRDNORM, POLLWRNORM,
};
pub(crate) use crate::abstractions::bindings::{
    RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK, SOL_SOCKET, SO_REUSEPORT,
};

/// `SOCK_STREAM` of `enum sock_type`.
pub(crate) const SOCK_STREAM: u32 = crate::abstractions::bindings::sock_type_SOCK_STREAM;

/// The `family=` module parameter (declared by the C helper).
pub(crate) fn family_param() -> i32 {
    // SAFETY: reads an int module parameter; no preconditions.
    unsafe { crate::abstractions::bindings::afc_family_param() }
}

/// The `est_buckets=` and `listen_buckets=` module parameters (declared by
/// the C helper, clamped to sane ranges).
pub(crate) fn table_buckets() -> (usize, usize) {
    // SAFETY: reads int module parameters; no preconditions.
    unsafe {
        (
            crate::abstractions::bindings::afc_est_buckets_param() as usize,
            crate::abstractions::bindings::afc_listen_buckets_param() as usize,
        )
    }
}

/// Whether `SOL_SOCKET` option `name` binds the socket to a device
/// (`SO_BINDTODEVICE`, `SO_BINDTOIFINDEX`).
pub(crate) fn binds_device(name: i32) -> bool {
    // SAFETY: compares constants; no preconditions.
    unsafe { crate::abstractions::bindings::afc_sockopt_binds_device(name) }
}

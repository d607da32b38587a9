// SPDX-License-Identifier: GPL-2.0

//! The errno values the socket family returns, as `kernel::error::Error`s.
//!
//! `kernel::error::code` of 6.12 lacks the networking errnos; they come
//! from the module's own bindings. The others (`EINVAL`, `ENOMEM`,
//! `EACCES`, ...) are the kernel crate's, through its prelude.

use crate::abstractions::bindings;
use kernel::error::Error;

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` error.")]
            #[allow(dead_code)]
            pub(crate) fn $name() -> Error {
                Error::from_errno(-(bindings::$name as i32))
            }
        )*
    };
}

#[allow(non_snake_case)]
mod defs {
    use super::*;
    errnos!(
        EOPNOTSUPP,
        ESOCKTNOSUPPORT,
        EPROTONOSUPPORT,
        EAFNOSUPPORT,
        EADDRINUSE,
        EADDRNOTAVAIL,
        ENOTCONN,
        EISCONN,
        ECONNREFUSED,
        ECONNRESET,
        ETIMEDOUT,
        EINPROGRESS,
        EALREADY,
        ENOBUFS,
        ECONNABORTED,
        ENETUNREACH,
        EHOSTUNREACH,
        ENOPROTOOPT,
        ENETDOWN,
    );
}
pub(crate) use defs::*;

/// `kernel::error::to_result`, inlined: 6.12's is an out-of-line call for
/// a sign test, on the paths every frame and every `sendmsg`/`recvmsg`
/// take (a call and a return of their own under TCG, as `IndexRange::len`
/// was in `drive_at`).
#[inline(always)]
pub(crate) fn check(ret: kernel::ffi::c_int) -> kernel::error::Result {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

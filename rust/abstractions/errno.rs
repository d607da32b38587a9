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
    );
}
pub(crate) use defs::*;

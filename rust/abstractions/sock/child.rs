// SPDX-License-Identifier: GPL-2.0

//! A listener's child socket between its allocation and its first use
//! ([`NewChild`]), and the `SOL_SOCKET` settings it may take from its
//! listener ([`SockSetting`]).  Which settings it takes is the socket
//! layer's decision (`socket::listen`); how each is read and written is
//! here.

use super::{Sock, SockData};
use crate::abstractions::bindings;
use core::marker::PhantomData;
use core::ptr::{addr_of, read_volatile, NonNull};
use kernel::prelude::*;

/// A flag of `sk_flags` (`enum sock_flags`) that the module reads.
#[derive(Clone, Copy)]
pub(crate) enum SockFlag {
    /// `SO_KEEPALIVE` (`SOCK_KEEPOPEN`).
    KeepOpen,
    /// `SO_LINGER` is on (`SOCK_LINGER`).
    Linger,
    /// `SO_OOBINLINE` (`SOCK_URGINLINE`).
    UrgInline,
    /// `close()` ran: the socket is orphaned (`SOCK_DEAD`).
    Dead,
    /// `SO_TIMESTAMP`/`SO_TIMESTAMPNS` (`SOCK_RCVTSTAMP`).
    RcvTstamp,
    /// `SO_TIMESTAMPING`'s software receive stamps
    /// (`SOCK_TIMESTAMPING_RX_SOFTWARE`).
    RxSoftwareStamps,
}

impl SockFlag {
    fn bit(self) -> bindings::sock_flags {
        match self {
            Self::KeepOpen => bindings::sock_flags_SOCK_KEEPOPEN,
            Self::Linger => bindings::sock_flags_SOCK_LINGER,
            Self::UrgInline => bindings::sock_flags_SOCK_URGINLINE,
            Self::Dead => bindings::sock_flags_SOCK_DEAD,
            Self::RcvTstamp => bindings::sock_flags_SOCK_RCVTSTAMP,
            Self::RxSoftwareStamps => bindings::sock_flags_SOCK_TIMESTAMPING_RX_SOFTWARE,
        }
    }
}

impl<T: SockData> Sock<'_, T> {
    /// Whether `flag` is set (`sock_flag`; any context, no lock).
    pub(crate) fn flag(&self, flag: SockFlag) -> bool {
        self.any_flag(flag, flag)
    }

    /// Whether `a` or `b` is set, from one read of the flags.
    pub(crate) fn any_flag(&self, a: SockFlag, b: SockFlag) -> bool {
        // `sock_flag` is a `test_bit`: one volatile read of the word
        // holding the bit, which `set_bit`/`clear_bit` change atomically
        // (read here without a C call: every frame asks).
        let mask =
            1usize.checked_shl(a.bit()).unwrap_or(0) | 1usize.checked_shl(b.bit()).unwrap_or(0);
        // SAFETY: the sock is valid (type invariant); `sk_flags` is an
        // aligned `unsigned long`, and a volatile read of it is
        // `test_bit`'s.
        let word = unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!(
                (*self.as_ptr()).__sk_common.__bindgen_anon_5.skc_flags
            ))
        };
        word & mask != 0
    }

    /// `SO_LINGER`'s time in jiffies (`sk_lingertime`), whether or not
    /// `SO_LINGER` is on; read once, as `sock_setsockopt` writes it
    /// (`WRITE_ONCE`) under a lock we may not hold.
    pub(crate) fn lingertime(&self) -> u64 {
        // SAFETY: the sock is valid (type invariant); a volatile read of
        // an aligned `unsigned long` is `READ_ONCE`.
        unsafe { read_volatile(addr_of!((*self.as_ptr()).sk_lingertime)) as u64 }
    }
}

/// A `SOL_SOCKET` setting of a `struct sock` that a new child socket may
/// copy from its listener ([`NewChild::copy_from`]).
#[derive(Clone, Copy)]
pub(crate) enum SockSetting {
    /// The owner (`sk_uid`, the `kuid_t` of whoever opened the socket).
    Uid,
    /// `SO_REUSEADDR` (`sk_reuse`).
    Reuse,
    /// `SO_REUSEPORT` (`sk_reuseport`).
    ReusePort,
    /// `SO_RCVBUF` (`sk_rcvbuf`).
    RcvBuf,
    /// `SO_SNDBUF` (`sk_sndbuf`).
    SndBuf,
    /// Which buffer sizes the user set (`sk_userlocks`: `SO_RCVBUF` and
    /// `SO_SNDBUF` lock theirs against the kernel's tuning).
    UserLocks,
    /// `SO_RCVLOWAT` (`sk_rcvlowat`).
    RcvLowat,
    /// `SO_RCVTIMEO` (`sk_rcvtimeo`, jiffies).
    RcvTimeo,
    /// `SO_SNDTIMEO` (`sk_sndtimeo`, jiffies).
    SndTimeo,
    /// `SO_LINGER`'s time (`sk_lingertime`, jiffies).
    LingerTime,
    /// `SO_MARK` (`sk_mark`).
    Mark,
    /// The bound device (`SO_BINDTODEVICE`, `SO_BINDTOIFINDEX`:
    /// `sk_bound_dev_if`).
    BoundDevIf,
    /// A flag of `sk_flags`: set on the child if set on the listener.
    Flag(SockFlag),
}

/// A child socket that [`Sock::alloc_child`] has just allocated for a
/// listener (`sk_alloc`, `sock_init_data`), before the module's state of
/// it exists.  Nobody else can see it yet, so its fields are written
/// plainly, as `sk_clone_lock` writes its clone's.
///
/// # Invariants
///
/// `self.0` is a sock of the module's `struct proto` after
/// `sock_init_data`, visible to no one else, whose only reference the
/// `alloc_child` that made it holds for `'a`.
pub(crate) struct NewChild<'a>(
    pub(super) NonNull<bindings::sock>,
    pub(super) PhantomData<&'a mut bindings::sock>,
);

impl NewChild<'_> {
    /// Copies `setting` from `parent`, the listener, to this child.  The
    /// listener's settings are read as the kernel's lockless readers read
    /// them (`READ_ONCE`): the listener's owner may be changing them
    /// (`sock_setsockopt`, under the listener's lock, which is not held
    /// here); each is read once, whole.
    pub(crate) fn copy_from<T: SockData>(&mut self, parent: &Sock<'_, T>, setting: SockSetting) {
        let (c, p) = (self.0.as_ptr(), parent.as_ptr());
        // SAFETY: `p` is a live sock (`Sock`'s invariant), `c` a sock only
        // we see (type invariant), both of the module's `struct proto`.
        // Each listener field is read once: volatile (`READ_ONCE`) for the
        // aligned scalars, the C helpers for the bitfields and flags; the
        // child's fields are written plainly, nobody else seeing them.
        unsafe {
            match setting {
                SockSetting::Uid => (*c).sk_uid = read_volatile(addr_of!((*p).sk_uid)),
                SockSetting::Reuse => bindings::afc_sk_set_reuse(c, bindings::afc_sk_reuse(p)),
                SockSetting::ReusePort => {
                    bindings::afc_sk_set_reuseport(c, bindings::afc_sk_reuseport(p))
                }
                SockSetting::RcvBuf => (*c).sk_rcvbuf = read_volatile(addr_of!((*p).sk_rcvbuf)),
                SockSetting::SndBuf => (*c).sk_sndbuf = read_volatile(addr_of!((*p).sk_sndbuf)),
                SockSetting::UserLocks => {
                    (*c).sk_userlocks = read_volatile(addr_of!((*p).sk_userlocks))
                }
                SockSetting::RcvLowat => {
                    (*c).sk_rcvlowat = read_volatile(addr_of!((*p).sk_rcvlowat))
                }
                SockSetting::RcvTimeo => {
                    (*c).sk_rcvtimeo = read_volatile(addr_of!((*p).sk_rcvtimeo))
                }
                SockSetting::SndTimeo => {
                    (*c).sk_sndtimeo = read_volatile(addr_of!((*p).sk_sndtimeo))
                }
                SockSetting::LingerTime => {
                    (*c).sk_lingertime = read_volatile(addr_of!((*p).sk_lingertime))
                }
                SockSetting::Mark => (*c).sk_mark = read_volatile(addr_of!((*p).sk_mark)),
                SockSetting::BoundDevIf => {
                    (*c).__sk_common.skc_bound_dev_if =
                        read_volatile(addr_of!((*p).__sk_common.skc_bound_dev_if))
                }
                SockSetting::Flag(flag) => {
                    if bindings::afc_sock_flag(p, flag.bit()) {
                        bindings::afc_sock_set_flag(c, flag.bit());
                    }
                }
            }
        }
    }

    /// Gives this child its listener's socket filter (`SO_ATTACH_FILTER`,
    /// `SO_ATTACH_BPF`), if it has one, as `sk_clone_lock` does: a shared
    /// reference charged to the child.  `ENOMEM` if the filter is being
    /// replaced or no longer fits the child's option memory: the child
    /// must then not be used ([`Sock::alloc_child`] frees it).
    pub(crate) fn share_filter<T: SockData>(&mut self, parent: &Sock<'_, T>) -> Result {
        // SAFETY: `self.0` is ours alone (type invariant), `parent` live;
        // the helper takes the filter's reference under RCU.
        if unsafe { bindings::afc_sk_inherit_filter(self.0.as_ptr(), parent.as_ptr()) } {
            Ok(())
        } else {
            Err(ENOMEM)
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The `struct socket` the VFS hands to `proto_ops`, and the calling
//! task's signals.

use crate::abstractions::bindings;
use kernel::types::Opaque;
use kernel::{ffi, prelude::*};

/// `struct socket` states (`socket_state`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum SocketState {
    Unconnected = 1,
    Connecting = 2,
    Connected = 3,
    Disconnecting = 4,
}

/// A `struct socket`, borrowed for the duration of a `proto_ops` call.
///
/// # Invariants
///
/// Wraps a valid `struct socket` that outlives the borrow.
#[repr(transparent)]
pub(crate) struct Socket(Opaque<bindings::socket>);

impl Socket {
    /// Borrows a socket from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::socket) -> &'a Self {
        // SAFETY: transparent wrapper; validity guaranteed by the caller.
        unsafe { &*ptr.cast() }
    }

    pub(in crate::abstractions) fn as_ptr(&self) -> *mut bindings::socket {
        self.0.get()
    }

    /// The socket type (`SOCK_STREAM`, ...).
    pub(crate) fn type_(&self) -> u32 {
        // SAFETY: the socket is valid (type invariant).
        unsafe { (*self.0.get()).type_ as u32 }
    }

    /// `socket->state`.
    pub(crate) fn state(&self) -> SocketState {
        // SAFETY: the socket is valid (type invariant).
        match unsafe { bindings::afc_socket_state(self.0.get()) } {
            2 => SocketState::Connecting,
            3 => SocketState::Connected,
            4 => SocketState::Disconnecting,
            _ => SocketState::Unconnected,
        }
    }

    /// Sets `socket->state` (callers hold the socket lock).
    pub(crate) fn set_state(&self, state: SocketState) {
        // SAFETY: the socket is valid (type invariant).
        unsafe { bindings::afc_sk_set_socket_state(self.0.get(), state as i32) }
    }
}

/// A signal is pending for the current task.
pub(crate) fn signal_pending() -> bool {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_signal_pending() }
}

/// The errno for a wait cut short by a signal (`sock_intr_errno`).
pub(crate) fn intr_errno(timeo: i64) -> Error {
    let t = ffi::c_long::try_from(timeo).unwrap_or(ffi::c_long::MAX);
    // SAFETY: no preconditions.
    Error::from_errno(unsafe { bindings::afc_sock_intr_errno(t) })
}

/// Sends `SIGPIPE` to the current task (a write on a closed stream).
pub(crate) fn send_sigpipe() {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_send_sigpipe() }
}

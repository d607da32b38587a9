// SPDX-License-Identifier: GPL-2.0

//! Sockets: the `struct sock` with the module's state behind it, and the
//! `struct socket` the VFS hands to `proto_ops`.

use super::netns::Net;
use crate::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::types::Opaque;

/// The Rust state of a socket, kept in the same allocation as its
/// `struct sock`.
pub(crate) trait SockData: Sized + Send + Sync {
    /// Makes the state of a new socket.
    fn new() -> Self;
}

/// The object `sk_alloc` allocates for our `struct proto` (`obj_size`).
#[repr(C)]
pub(crate) struct SockObj<T> {
    sk: bindings::sock,
    data: T,
}

impl<T> SockObj<T> {
    /// Returns where the Rust state of `sk` lives.
    ///
    /// # Safety
    ///
    /// `sk` must be an object of our `struct proto` for `T`.
    pub(crate) unsafe fn data_ptr(sk: *mut bindings::sock) -> *mut T {
        // SAFETY: the object is a `SockObj<T>` (caller's guarantee).
        unsafe { core::ptr::addr_of_mut!((*sk.cast::<SockObj<T>>()).data) }
    }
}

/// A `struct sock` of ours, borrowed (the caller holds a reference).
///
/// # Invariants
///
/// `self.0` points to a live `SockObj<T>` whose `data` is initialised.
pub(crate) struct Sock<'a, T: SockData>(NonNull<SockObj<T>>, PhantomData<&'a T>);

// Accessors the stream socket layer builds on.
#[allow(dead_code)]
impl<'a, T: SockData> Sock<'a, T> {
    /// Borrows the socket behind a raw `struct sock` pointer.
    ///
    /// # Safety
    ///
    /// `sk` must be a socket of our `struct proto` for `T`, with its state
    /// initialised, kept alive for `'a`.
    pub(crate) unsafe fn from_raw(sk: *mut bindings::sock) -> Option<Self> {
        NonNull::new(sk.cast::<SockObj<T>>()).map(|p| Self(p, PhantomData))
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.as_ptr().cast()
    }

    /// The module's state of this socket.
    pub(crate) fn data(&self) -> &'a T {
        // SAFETY: `data` is initialised and lives as long as the socket
        // (type invariant); shared access only, `T` does its own locking.
        unsafe { &(*self.0.as_ptr()).data }
    }

    /// The network namespace of the socket.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: a socket holds a reference on its namespace.
        unsafe { Net::from_raw(bindings::afc_sock_net(self.as_ptr())) }
    }
}

/// Drops the Rust state of a socket when its last reference goes.
pub(crate) unsafe extern "C" fn sk_destruct<T: SockData>(sk: *mut bindings::sock) {
    // SAFETY: installed as `sk_destruct` only after `data` was written
    // (see `Socket::attach_new_sock`); called once, when the last
    // reference is gone, so nothing else can see `data`.
    unsafe { core::ptr::drop_in_place(&mut (*sk.cast::<SockObj<T>>()).data) };
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

    #[allow(dead_code)]
    pub(crate) fn as_ptr(&self) -> *mut bindings::socket {
        self.0.get()
    }

    /// The socket type (`SOCK_STREAM`, ...).
    pub(crate) fn type_(&self) -> u32 {
        // SAFETY: the socket is valid (type invariant).
        unsafe { (*self.0.get()).type_ as u32 }
    }
}

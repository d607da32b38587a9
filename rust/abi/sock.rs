// SPDX-License-Identifier: GPL-2.0

//! Sockets: the `struct sock` with the module's state behind it, and the
//! `struct socket` the VFS hands to `proto_ops`.

use super::netns::Net;
use crate::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::types::Opaque;

/// The Rust state of a socket, kept in the same allocation as its
/// `struct sock`.
pub(crate) trait SockData: Sized + Send + Sync {
    /// The part of the state that only the socket lock's owner may touch.
    type Locked: Send;
    /// Makes the state of a new socket.
    fn new() -> Self;
    /// Makes the locked part of the state of a new socket.
    fn new_locked() -> Self::Locked;
}

/// The object `sk_alloc` allocates for our `struct proto` (`obj_size`).
#[repr(C)]
pub(crate) struct SockObj<T: SockData> {
    sk: bindings::sock,
    data: T,
    locked: UnsafeCell<T::Locked>,
}

impl<T: SockData> SockObj<T> {
    /// Initialises the Rust state of a fresh `sk`.
    ///
    /// # Safety
    ///
    /// `sk` must be a fresh object of our `struct proto` for `T` whose state
    /// was never initialised, and not yet visible to anyone else.
    pub(crate) unsafe fn init(sk: *mut bindings::sock) {
        let obj = sk.cast::<SockObj<T>>();
        // SAFETY: `obj` is a valid allocation of `SockObj<T>` (caller).
        unsafe {
            core::ptr::addr_of_mut!((*obj).data).write(T::new());
            core::ptr::addr_of_mut!((*obj).locked).write(UnsafeCell::new(T::new_locked()));
        }
    }
}

/// A `struct sock` of ours, borrowed (the caller holds a reference).
///
/// # Invariants
///
/// `self.0` points to a live `SockObj<T>` whose state is initialised.
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

    /// An identity for tables: the address of the sock, stable for its life.
    pub(crate) fn id(&self) -> usize {
        self.0.as_ptr() as usize
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

    /// The owner's uid as the socket's namespace sees it.
    pub(crate) fn uid(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_uid(self.as_ptr()) }
    }

    /// The address family the socket was created with (`sk_family`).
    pub(crate) fn family(&self) -> u16 {
        // SAFETY: the sock is valid (type invariant); `skc_family` is set
        // by `sk_alloc` and never changes.
        unsafe { (*self.as_ptr()).__sk_common.skc_family }
    }

    /// Whether `SO_REUSEADDR` is set.
    pub(crate) fn reuseaddr(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_reuseaddr(self.as_ptr()) }
    }

    /// Takes the socket lock (`lock_sock`, may sleep): process context only.
    pub(crate) fn lock(&self) -> SockGuard<'_, T> {
        // SAFETY: the sock is valid; process context is the caller's duty
        // (every `proto_ops` callback runs there).
        unsafe { bindings::afc_lock_sock(self.as_ptr()) };
        // INVARIANT: the lock is held until the guard drops.
        SockGuard(self.0, PhantomData)
    }
}

/// The socket lock held (`lock_sock`); released on drop.
///
/// # Invariants
///
/// The current task owns the socket lock of the live `SockObj` `self.0`.
pub(crate) struct SockGuard<'a, T: SockData>(NonNull<SockObj<T>>, PhantomData<&'a T>);

impl<T: SockData> SockGuard<'_, T> {
    /// The state only the lock owner may touch.
    pub(crate) fn locked(&mut self) -> &mut T::Locked {
        // SAFETY: the lock is ours (type invariant), so nobody else touches
        // `locked`; `&mut self` makes the borrow unique among our own.
        unsafe { &mut *(*self.0.as_ptr()).locked.get() }
    }
}

impl<T: SockData> Drop for SockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we own the lock (type invariant).
        unsafe { bindings::afc_release_sock(self.0.as_ptr().cast()) };
    }
}

/// Drops the Rust state of a socket when its last reference goes.
pub(crate) unsafe extern "C" fn sk_destruct<T: SockData>(sk: *mut bindings::sock) {
    let obj = sk.cast::<SockObj<T>>();
    // SAFETY: installed as `sk_destruct` only after `SockObj::init`; called
    // once, when the last reference is gone, so nothing else sees the state.
    unsafe {
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*obj).data));
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*obj).locked));
    }
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

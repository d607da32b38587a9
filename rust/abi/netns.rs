// SPDX-License-Identifier: GPL-2.0

//! Network namespaces and the module's per-namespace state.

use crate::abi::bindings;
use crate::proto::ingress::AddrType;
use core::marker::PhantomData;
use kernel::{error::from_result, ffi, prelude::*, types::Opaque};

/// A network namespace, borrowed.
///
/// # Invariants
///
/// Wraps a valid `struct net` that outlives the borrow.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// Borrows a namespace from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Self {
        // SAFETY: transparent wrapper; validity guaranteed by the caller.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// Whether IPv4 address `addr` (host order) is assigned in this namespace.
    pub(crate) fn addr_is_local(&self, addr: u32) -> bool {
        // SAFETY: the namespace is valid (type invariant).
        unsafe { bindings::afc_addr_is_local(self.0.get(), addr.to_be()) }
    }

    /// What the routing tables make of IPv4 address `addr` (host order):
    /// `inet_addr_type`, one FIB lookup in the local table (RCU).
    pub(crate) fn addr_type(&self, addr: u32) -> AddrType {
        // SAFETY: the namespace is valid (type invariant).
        match unsafe { bindings::afc_addr_type(self.0.get(), addr.to_be()) } {
            0 => AddrType::Unicast,
            1 => AddrType::Local,
            2 => AddrType::Broadcast,
            3 => AddrType::Multicast,
            _ => AddrType::Other,
        }
    }

    /// The ephemeral port range (`net.af_custom.ip_local_port_range`).
    pub(crate) fn port_range(&self) -> (i32, i32) {
        let (mut lo, mut hi) = (0, 0);
        // SAFETY: the namespace is valid and registered with our pernet
        // operations (type invariant; callers reach it through a socket).
        unsafe { bindings::afc_net_port_range(self.0.get(), &mut lo, &mut hi) };
        (lo, hi)
    }

    /// Default buffer sizes of new sockets (`net.af_custom.rmem_default`,
    /// `wmem_default`).
    pub(crate) fn buf_defaults(&self) -> (u32, u32) {
        let (mut r, mut w) = (0, 0);
        // SAFETY: as in `port_range`.
        unsafe { bindings::afc_net_buf_defaults(self.0.get(), &mut r, &mut w) };
        (r.max(0) as u32, w.max(0) as u32)
    }

    /// Window probes or retransmissions an orphan may send
    /// (`net.af_custom.orphan_retries`; 0 means 8, as TCP's).
    pub(crate) fn orphan_retries(&self) -> u8 {
        // SAFETY: as in `port_range`.
        let r = unsafe { bindings::afc_net_orphan_retries(self.0.get()) };
        u8::try_from(r).unwrap_or(u8::MAX)
    }

    /// When listeners answer with SYN cookies (`net.af_custom.syncookies`:
    /// 0 never, 1 when the SYN queue overflows, 2 always).
    pub(crate) fn syncookies(&self) -> i32 {
        // SAFETY: as in `port_range`.
        unsafe { bindings::afc_net_syncookies(self.0.get()) }
    }

    /// RSTs per second to one address answering frames for nobody
    /// (`net.af_custom.rst_ratelimit`, 0 to 16383; 0: no limit).
    pub(crate) fn rst_ratelimit(&self) -> u32 {
        // SAFETY: as in `port_range`.
        let r = unsafe { bindings::afc_net_rst_ratelimit(self.0.get()) };
        u32::try_from(r).unwrap_or(0)
    }

    /// Whether the current task may bind ports below 1024 here
    /// (`CAP_NET_BIND_SERVICE` in the namespace's user namespace).
    pub(crate) fn may_bind_privileged(&self) -> bool {
        // SAFETY: the namespace is valid (type invariant).
        unsafe { bindings::afc_may_bind_privileged(self.0.get()) }
    }
}

/// A random 64-bit number from the kernel's CRNG.
pub(crate) fn random_u64() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_random_u64() }
}

/// A `seq_file` being filled by a `/proc` show callback.
pub(crate) struct SeqFile(*mut bindings::seq_file);

impl core::fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: `self.0` is the seq_file of the running show() callback
        // (only `Adapter::stat_show` makes a `SeqFile`), and `s` is valid
        // for `s.len()` bytes.
        unsafe { bindings::afc_seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// The per-namespace state of the module.
pub(crate) trait PernetState: Sized + Send + Sync {
    /// The sockets listed in `/proc/net/af_custom`.
    type Sock: super::sock::SockData;
    /// Writes the `/proc/net/af_custom` line of `sk` (slot `sl`); called
    /// with the namespace's sock list locked, bottom halves off: lockless
    /// reads only.
    fn show_sock(seq: &mut SeqFile, sk: &super::sock::Sock<'_, Self::Sock>, sl: i32) -> core::fmt::Result;
    /// Makes the state of a new namespace, in place.
    fn new() -> impl PinInit<Self, Error>;
    /// Writes the contents of `/proc/net/af_custom_stat`.
    fn show_stat(&self, seq: &mut SeqFile) -> core::fmt::Result;
}

/// Looks up the module's state of a namespace.
///
/// Only valid while a `PernetRegistration<T>` is alive, which holds for all
/// callers because they are reached through registrations dropped before
/// it (see `crate::AfCustom`'s field order).
pub(crate) fn state<T: PernetState>(net: &Net) -> &T {
    // SAFETY: while the pernet registration of `T` is alive every live
    // namespace has a `T` made by `Adapter::init` (init ran before the
    // namespace became visible, exit runs after it is gone).
    unsafe { &*bindings::afc_net_data(net.as_ptr()).cast::<T>() }
}

struct Adapter<T>(PhantomData<T>);

impl<T: PernetState> Adapter<T> {
    /// # Safety
    ///
    /// Called by the pernet registration (`ops.init` through the C helper) for
    /// a namespace being created, before anything else can see its state.
    unsafe extern "C" fn init(_net: *mut bindings::net) -> *mut ffi::c_void {
        match KBox::try_pin_init(T::new(), GFP_KERNEL) {
            // SAFETY: the state is never moved out of its allocation: the
            // raw pointer is only dereferenced in place and finally handed
            // back to `KBox::from_raw` in `exit`.
            Ok(b) => KBox::into_raw(unsafe { core::pin::Pin::into_inner_unchecked(b) }).cast(),
            Err(_) => core::ptr::null_mut(),
        }
    }

    /// # Safety
    ///
    /// Called once per namespace being dismantled, with the pointer `init`
    /// returned for it (or null), after nothing uses it any more.
    unsafe extern "C" fn exit(_net: *mut bindings::net, state: *mut ffi::c_void) {
        if !state.is_null() {
            // SAFETY: `init` made `state` with `KBox::into_raw`; the
            // namespace is being dismantled, so nothing uses it any more.
            drop(unsafe { KBox::from_raw(state.cast::<T>()) });
        }
    }

    /// # Safety
    ///
    /// Called by the seq-file code of `/proc/net/af_custom_stat` with a valid
    /// `seq_file` and the state `init` made for a live namespace.
    unsafe extern "C" fn stat_show(seq: *mut bindings::seq_file, state: *mut ffi::c_void) -> ffi::c_int {
        from_result(|| {
            // SAFETY: `state` is the `T` that `init` made; the namespace
            // is alive while its /proc file is read.
            let state = unsafe { &*state.cast::<T>() };
            state.show_stat(&mut SeqFile(seq)).map_err(|_| ENOMEM)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the `/proc/net/af_custom` seq-file walk with a valid
    /// `seq_file` and a sock of ours from the namespace's list, under the
    /// list lock (so alive for the call).
    unsafe extern "C" fn sock_show(seq: *mut bindings::seq_file, sk: *mut bindings::sock, sl: ffi::c_int) {
        // SAFETY: the C side passes a sock of ours from the namespace's list,
        // under the list lock: `sk_destruct` unlinks it under the same lock
        // before its memory goes, so it is alive for the call.
        if let Some(s) = unsafe { super::sock::Sock::<T::Sock>::from_raw(sk) } {
            let _ = T::show_sock(&mut SeqFile(seq), &s, sl);
        }
    }

    const CALLBACKS: bindings::afc_pernet_callbacks = bindings::afc_pernet_callbacks {
        init: Some(Self::init),
        exit: Some(Self::exit),
        stat_show: Some(Self::stat_show),
        sock_show: Some(Self::sock_show),
    };
}

/// Registration of the per-namespace state; unregisters on drop.
pub(crate) struct PernetRegistration<T: PernetState>(PhantomData<T>);

impl<T: PernetState> PernetRegistration<T> {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `CALLBACKS` is a promoted constant with static lifetime;
        // the callbacks match the C prototypes.
        kernel::error::to_result(unsafe { bindings::afc_pernet_register(&Adapter::<T>::CALLBACKS) })?;
        Ok(Self(PhantomData))
    }
}

impl<T: PernetState> Drop for PernetRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; runs exit() for every namespace.
        unsafe { bindings::afc_pernet_unregister() };
    }
}

/// The most orphaned sockets the family keeps (`net.af_custom.max_orphans`,
/// writable in the initial namespace only, as `tcp_max_orphans`).
pub(crate) fn max_orphans() -> u32 {
    // SAFETY: reads an int sysctl; no preconditions.
    let m = unsafe { bindings::afc_max_orphans_sysctl() };
    u32::try_from(m).unwrap_or(0)
}

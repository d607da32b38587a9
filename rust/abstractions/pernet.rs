// SPDX-License-Identifier: GPL-2.0

//! The module's per-namespace state (`register_pernet_subsys` through the
//! C helper), its `/proc/net` files, and the family-wide sysctls.

use crate::abstractions::bindings;
use crate::abstractions::family::TcpInfo;
use crate::abstractions::netns::Net;
use crate::abstractions::seq_file::SeqFile;
use crate::proto::opts::DiagFilter;
use core::marker::PhantomData;
use kernel::{error::from_result, ffi, prelude::*};

/// The initial values of a new namespace's `net.af_custom` sysctls.
pub(crate) struct NetDefaults {
    pub(crate) port_range: (u16, u16),
    pub(crate) rmem_default: u32,
    pub(crate) wmem_default: u32,
    pub(crate) orphan_retries: u8,
    pub(crate) fin_timeout_s: u32,
    pub(crate) syncookies: i32,
    pub(crate) rst_ratelimit: u32,
}

/// A socket's row of a `sock_diag` dump: the fields of `struct
/// afc_diag_msg` that the C side (family, uid, inode, cookie) does not fill.
pub(crate) struct DiagRow {
    /// TCP's state number.
    pub(crate) state: u8,
    /// `RCV_SHUTDOWN | SEND_SHUTDOWN` bits.
    pub(crate) shutdown: u8,
    /// Local and peer address and port, host order.
    pub(crate) local: (u32, u16),
    pub(crate) remote: (u32, u16),
    pub(crate) rqueue: u32,
    pub(crate) wqueue: u32,
}

/// The per-namespace state of the module.
pub(crate) trait PernetState: Sized + Send + Sync {
    /// The initial values of a new namespace's sysctls.
    const DEFAULTS: NetDefaults;
    /// The sockets listed in `/proc/net/af_custom`, whose
    /// [`SockData::Pernet`](super::sock::SockData::Pernet) is this type.
    type Sock: super::sock::SockData<Pernet = Self>;
    /// Writes the `/proc/net/af_custom` line of `sk` (slot `sl`); called
    /// with the namespace's sock list locked, bottom halves off: lockless
    /// reads only.
    fn show_sock(
        seq: &mut SeqFile,
        sk: &super::sock::Sock<'_, Self::Sock>,
        sl: i32,
    ) -> core::fmt::Result;
    /// Whether `sk` passes a `sock_diag` request's filters; called with the
    /// namespace's sock list locked, bottom halves off: lockless reads
    /// only, nothing that sleeps.
    fn diag_match(sk: &super::sock::Sock<'_, Self::Sock>, f: &DiagFilter) -> bool;
    /// The `sock_diag` row of `sk`, and its `struct tcp_info` into `info`
    /// (zeroed) when asked; called in process context with a reference on
    /// `sk` and no lock held (it may take the socket lock).
    fn diag_fill(sk: &super::sock::Sock<'_, Self::Sock>, info: Option<&mut TcpInfo>) -> DiagRow;
    /// Makes the state of a new namespace, in place.
    fn new() -> impl PinInit<Self, Error>;
    /// Writes the contents of `/proc/net/af_custom_stat`.
    fn show_stat(&self, seq: &mut SeqFile) -> core::fmt::Result;
}

/// Looks up the module's state of a namespace: that of the sockets `S`.
///
/// Only valid while the `PernetRegistration` is alive, which holds for all
/// callers because they are reached through registrations dropped before
/// it (see `crate::AfCustom`'s field order).  The state type is the
/// socket type's ([`SockData::Pernet`](super::sock::SockData::Pernet)),
/// the only one a registration can have; the module has one socket type,
/// so it is the registered one (a second socket type with a state of its
/// own would need the lookup to carry which).
pub(crate) fn state<S: super::sock::SockData>(net: &Net) -> &S::Pernet {
    // SAFETY: while the pernet registration is alive every live namespace
    // has its state, made by `Adapter::init` (init ran before the
    // namespace became visible, exit runs after it is gone), of the one
    // registered type, `S::Pernet` (above).
    unsafe { &*bindings::afc_net_data(net.as_ptr()).cast::<S::Pernet>() }
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
    unsafe extern "C" fn stat_show(
        seq: *mut bindings::seq_file,
        state: *mut ffi::c_void,
    ) -> ffi::c_int {
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
    unsafe extern "C" fn sock_show(
        seq: *mut bindings::seq_file,
        sk: *mut bindings::sock,
        sl: ffi::c_int,
    ) {
        // SAFETY: the C side passes a sock of ours from the namespace's list,
        // under the list lock: `sk_destruct` unlinks it under the same lock
        // before its memory goes, so it is alive for the call.
        if let Some(s) = unsafe { super::sock::Sock::<T::Sock>::from_raw(sk) } {
            let _ = T::show_sock(&mut SeqFile(seq), &s, sl);
        }
    }

    /// # Safety
    ///
    /// Called by the sock_diag walk (`afc_net_diag_batch`) with a sock of
    /// ours from the namespace's list, under the list lock (so alive for
    /// the call), and the request, which the C side checked is whole.
    unsafe extern "C" fn diag_match(
        sk: *const bindings::sock,
        req: *const bindings::afc_diag_req,
    ) -> bool {
        // SAFETY: as `sock_show`: the sock is on the list, under its lock.
        let Some(s) = (unsafe { super::sock::Sock::<T::Sock>::from_raw(sk.cast_mut()) }) else {
            return false;
        };
        // SAFETY: `req` points to the request in the netlink message, at
        // least `sizeof(struct afc_diag_req)` long (afc_diag_handler_dump).
        let req = unsafe { &*req };
        let f = DiagFilter {
            states: req.adiag_states,
            sport: u16::from_be(req.adiag_sport),
            dport: u16::from_be(req.adiag_dport),
        };
        T::diag_match(&s, &f)
    }

    /// # Safety
    ///
    /// Called by the sock_diag dump (`afc_diag_fill`) in process context with
    /// a sock of ours on which it holds a reference, a valid message to fill
    /// and `info` either null or a valid, zeroed `struct tcp_info`.
    unsafe extern "C" fn diag_fill(
        sk: *mut bindings::sock,
        r: *mut bindings::afc_diag_msg,
        info: *mut TcpInfo,
    ) {
        // SAFETY: the caller holds a reference on `sk`, a sock of ours
        // whose state was initialised before it was put on the list.
        let Some(s) = (unsafe { super::sock::Sock::<T::Sock>::from_raw(sk) }) else {
            return;
        };
        // SAFETY: `info` is null or valid and not aliased for the call.
        let info = unsafe { info.as_mut() };
        let row = T::diag_fill(&s, info);
        // SAFETY: `r` is the message being built, valid for the call.
        let r = unsafe { &mut *r };
        r.adiag_state = row.state;
        r.adiag_shutdown = row.shutdown;
        r.adiag_src = row.local.0.to_be();
        r.adiag_sport = row.local.1.to_be();
        r.adiag_dst = row.remote.0.to_be();
        r.adiag_dport = row.remote.1.to_be();
        r.adiag_rqueue = row.rqueue;
        r.adiag_wqueue = row.wqueue;
    }

    const CALLBACKS: bindings::afc_pernet_callbacks = bindings::afc_pernet_callbacks {
        defaults: bindings::afc_net_defaults {
            port_lo: T::DEFAULTS.port_range.0 as ffi::c_int,
            port_hi: T::DEFAULTS.port_range.1 as ffi::c_int,
            rmem_default: clamp_int(T::DEFAULTS.rmem_default),
            wmem_default: clamp_int(T::DEFAULTS.wmem_default),
            orphan_retries: T::DEFAULTS.orphan_retries as ffi::c_int,
            fin_timeout: clamp_int(T::DEFAULTS.fin_timeout_s),
            syncookies: T::DEFAULTS.syncookies,
            rst_ratelimit: clamp_int(T::DEFAULTS.rst_ratelimit),
        },
        init: Some(Self::init),
        exit: Some(Self::exit),
        stat_show: Some(Self::stat_show),
        sock_show: Some(Self::sock_show),
        diag_match: Some(Self::diag_match),
        diag_fill: Some(Self::diag_fill),
    };
}

/// `v` as a C int, at most `INT_MAX`.
const fn clamp_int(v: u32) -> ffi::c_int {
    if v > ffi::c_int::MAX as u32 {
        ffi::c_int::MAX
    } else {
        v as ffi::c_int
    }
}

/// Registration of the per-namespace state; unregisters on drop.
///
/// The Rust callbacks are a constant table (`Adapter::CALLBACKS`); the
/// `struct pernet_operations` that carries them is a static of the C
/// helpers (pernet.c): the kernel writes into it while registered (its
/// list links) and assigns the id (`afc_net_id`) through which the C
/// side's `/proc`, sysctl and `sock_diag` code finds a namespace's data.
pub(crate) struct PernetRegistration<T: PernetState>(PhantomData<T>);

impl<T: PernetState> PernetRegistration<T> {
    /// Registers `T`; `EBUSY` while another registration is alive (the C
    /// side has one slot), so the state every namespace has is of one
    /// type, the one its sockets name.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `CALLBACKS` is a promoted constant with static lifetime;
        // the callbacks match the C prototypes.
        kernel::error::to_result(unsafe {
            bindings::afc_pernet_register(&Adapter::<T>::CALLBACKS)
        })?;
        Ok(Self(PhantomData))
    }
}

impl<T: PernetState> Drop for PernetRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; runs exit() for every namespace.
        unsafe { bindings::afc_pernet_unregister() };
    }
}

/// The `sock_diag` handler of the family (`afc_diag_register`); unregisters
/// on drop.  Its dumps reach the pernet callbacks, so it must be dropped
/// before the [`PernetRegistration`].
pub(crate) struct DiagRegistration;

impl DiagRegistration {
    /// Registers the handler for `family`, the number the family was
    /// registered with.
    pub(crate) fn register(family: i32) -> Result<Self> {
        // SAFETY: registers a static handler; `family` was checked against
        // AF_MAX and registered by `sock_register`.
        kernel::error::to_result(unsafe { bindings::afc_diag_register(family) })?;
        Ok(Self)
    }
}

impl Drop for DiagRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; `sock_diag_unregister` waits for
        // no dump, but a running dump holds a module reference
        // (`.owner`, `netlink_dump_start`), so none runs at module exit.
        unsafe { bindings::afc_diag_unregister() };
    }
}

/// The most orphaned sockets the family keeps (`net.af_custom.max_orphans`,
/// writable in the initial namespace only, as `tcp_max_orphans`).
pub(crate) fn max_orphans() -> u32 {
    // SAFETY: reads an int sysctl; no preconditions.
    let m = unsafe { bindings::afc_max_orphans_sysctl() };
    u32::try_from(m).unwrap_or(0)
}

// SPDX-License-Identifier: GPL-2.0

//! A network namespace (`struct net`), borrowed.

use crate::abstractions::bindings;
use crate::proto::ingress::AddrType;
use kernel::types::Opaque;

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

    pub(in crate::abstractions) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// Whether IPv4 address `addr` (host order) is assigned in this namespace.
    pub(crate) fn addr_is_local(&self, addr: u32) -> bool {
        // SAFETY: the namespace is valid (type invariant).
        unsafe { bindings::afc_addr_is_local(self.0.get(), addr.to_be()) }
    }

    /// The IPv4 routing generation (`rt_genid_ipv4`): it changes whenever
    /// a route or a local address does, so what `addr_type` said of an
    /// address stays true while it does not.
    pub(crate) fn rt_genid(&self) -> u32 {
        // SAFETY: the namespace is valid (type invariant); an atomic read.
        unsafe { bindings::afc_rt_genid(self.0.get()) as u32 }
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

    /// How long an orphan in FIN_WAIT_2 waits for the peer's FIN, in
    /// microseconds (`net.af_custom.fin_timeout`, in seconds).
    pub(crate) fn fin_timeout_us(&self) -> u64 {
        // SAFETY: as in `port_range`.
        let s = unsafe { bindings::afc_net_fin_timeout(self.0.get()) };
        u64::try_from(s).unwrap_or(1).saturating_mul(1_000_000)
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

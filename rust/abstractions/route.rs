// SPDX-License-Identifier: GPL-2.0

//! IPv4 routing for our frames: where a peer is, and sending to it.

use super::netns::Net;
use super::skb::SkBuff;
use super::sock::{Sock, SockData};
use crate::abstractions::bindings;
use crate::proto::wire::HEADER_LEN;
use core::ptr::NonNull;
use kernel::prelude::*;

/// What the route toward a peer says.
#[derive(Clone, Copy)]
pub(crate) struct Route {
    /// The source address to use (host order).
    pub(crate) src: u32,
    /// The device MTU.
    pub(crate) mtu: u32,
    /// Whether the device is a loopback (frames cannot be corrupted).
    pub(crate) loopback: bool,
    /// Payload bytes per wire frame of the GSO frames sent over the
    /// device (veth or NIC, `gso=1`), else 0.
    pub(crate) gso: u32,
    /// Whether those GSO frames are cut into wire frames on their way
    /// (a NIC), rather than taken whole by the peer (a veth).
    pub(crate) cut: bool,
}

/// A route looked up for a connection, held until its socket's cache
/// takes it ([`Sock::set_route`]); released if dropped before.
///
/// # Invariants
///
/// Holds one reference on a live `dst_entry`.
pub(crate) struct KeptRoute(NonNull<bindings::dst_entry>);

impl Drop for KeptRoute {
    fn drop(&mut self) {
        // SAFETY: our reference (type invariant), given back once.
        unsafe { bindings::afc_dst_release(self.0.as_ptr()) }
    }
}

impl<T: SockData> Sock<'_, T> {
    /// Puts `route` in the socket's route cache (`sk_dst_set`), which
    /// takes its reference: the connection's frames go that way until the
    /// routing tables change (`afc_xmit_sk` checks) or the cache is reset
    /// (the connection ends, the bound device changes).
    pub(crate) fn set_route(&self, route: KeptRoute) {
        let dst = route.0.as_ptr();
        core::mem::forget(route);
        // SAFETY: the sock is valid; the reference passes to its cache
        // (`sk_dst_set` swaps the pointer atomically and puts the old one).
        unsafe { bindings::afc_sk_dst_set(self.as_ptr(), dst) }
    }
}

/// The kind of device a route leaves by, as far as GSO cares.
#[derive(Clone, Copy, Default)]
struct DevKind {
    loopback: bool,
    veth: bool,
    /// A device of a bus (PCI, virtio): a NIC's driver.
    nic: bool,
    /// Takes frames in pieces of the borrowed GSO type (`SG` and
    /// `GSO_SCTP`; software devices only, and `ethtool -K` may turn it off).
    takes_gso: bool,
}

/// The payload per wire frame of the GSO frames a connection sends over a
/// device, or 0 for none (`rust/helpers/gso.c`): never over loopback (one
/// frame is already up to 64 KiB there) and only with `gso=1`; over a veth
/// that takes them (its peer takes them whole, and hands them on only to
/// devices that cut them in software); over a NIC that does not take them
/// (none does: the device layer cuts them in software before the driver,
/// as it cuts TCP's for a NIC without TSO). Other software devices
/// (bridge, bond, tunnels) get MTU-sized frames.
fn gso_size(enabled: bool, dev: DevKind, mtu: u32) -> u32 {
    let gso =
        enabled && !dev.loopback && ((dev.veth && dev.takes_gso) || (dev.nic && !dev.takes_gso));
    if gso {
        mtu.saturating_sub(HEADER_LEN as u32)
    } else {
        0
    }
}

impl Net {
    /// Looks up the route to `dst` from `src` (0: let the route choose),
    /// out of device `oif` (0: any; a device-bound socket's
    /// `sk_bound_dev_if`, as `ip_route_connect`).
    pub(crate) fn route(&self, dst: u32, src: u32, oif: i32) -> Result<Route> {
        self.route_with(dst, src, oif, None)
    }

    /// [`Self::route`], and the route itself for a connection's cache
    /// ([`Sock::set_route`]): a connection sends its first frame without
    /// looking the route up a second time.
    pub(crate) fn route_kept(&self, dst: u32, src: u32, oif: i32) -> Result<(Route, KeptRoute)> {
        let mut kept: *mut bindings::dst_entry = core::ptr::null_mut();
        let r = self.route_with(dst, src, oif, Some(&mut kept))?;
        let kept = NonNull::new(kept).ok_or_else(crate::abstractions::errno::ENETUNREACH)?;
        // INVARIANT: `afc_route` handed us its reference on success.
        Ok((r, KeptRoute(kept)))
    }

    fn route_with(
        &self,
        dst: u32,
        src: u32,
        oif: i32,
        kept: Option<&mut *mut bindings::dst_entry>,
    ) -> Result<Route> {
        let mut out_src = 0u32;
        let mut mtu = 0u32;
        let mut dev = DevKind::default();
        // SAFETY: valid namespace (type invariant); out-pointers writable.
        crate::abstractions::errno::check(unsafe {
            bindings::afc_route(
                self.as_ptr(),
                oif,
                dst.to_be(),
                src.to_be(),
                &mut out_src,
                &mut mtu,
                &mut dev.loopback,
                &mut dev.veth,
                &mut dev.nic,
                &mut dev.takes_gso,
                kept.map_or(core::ptr::null_mut(), |k| k as *mut _),
            )
        })?;
        // SAFETY: reads a module parameter.
        let enabled = unsafe { bindings::afc_gso_param() };
        let gso = gso_size(enabled, dev, mtu);
        Ok(Route {
            src: u32::from_be(out_src),
            mtu,
            loopback: dev.loopback,
            gso,
            cut: gso > 0 && dev.nic,
        })
    }

    /// Sends `frame` (our header first) from `src` to `dst`.
    pub(crate) fn xmit(&self, frame: SkBuff, src: u32, dst: u32) -> Result {
        // SAFETY: valid namespace; the skb's ownership passes to afc_xmit,
        // which sends or frees it.
        crate::abstractions::errno::check(unsafe {
            bindings::afc_xmit(self.as_ptr(), frame.into_raw(), src.to_be(), dst.to_be())
        })
    }
}

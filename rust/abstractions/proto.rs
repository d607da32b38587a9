// SPDX-License-Identifier: GPL-2.0

//! The `struct proto` of the family: slab cache and accounting of socks.

use super::{sock, sock::SockData, sock::SockObj, static_cell::StaticCell};
use crate::abstractions::bindings;
use core::marker::PhantomData;
use kernel::{prelude::*, ThisModule};

static PROTO: StaticCell<bindings::proto> = StaticCell::zeroed();

/// The registered `struct proto`, for `sk_alloc`.
pub(in crate::abstractions) fn raw() -> *mut bindings::proto {
    PROTO.get()
}

/// Registration with `proto_register`; unregistered on drop.
///
/// The `struct proto` is the module static `PROTO`, not owned by the
/// registration: `socket(2)`'s `create` must find it without a pointer
/// from the kernel (`sk_alloc` takes it), and it cannot be a `const`,
/// because the kernel writes into it (`proto_register` links it into the
/// protocol list and sets its slab cache) and its memory accounting is
/// set up at load (`afc_proto_mem_setup`).
pub(crate) struct ProtoRegistration<T: SockData>(PhantomData<T>);

impl<T: SockData> ProtoRegistration<T> {
    /// Registers the protocol with a slab cache of `SockObj<T>` objects.
    pub(crate) fn register(name: &CStr, module: &'static ThisModule) -> Result<Self> {
        let p = PROTO.get();
        let bytes = name.as_bytes_with_nul();
        // SAFETY: module init is serialised and `PROTO` is not registered
        // yet, so nobody reads it while it is filled.
        unsafe {
            let dst = &mut (*p).name;
            if bytes.len() > dst.len() {
                return Err(EINVAL);
            }
            for (d, s) in dst.iter_mut().zip(bytes) {
                *d = *s as _;
            }
            (*p).owner = module.as_ptr().cast();
            (*p).obj_size = core::mem::size_of::<SockObj<T>>() as u32;
            (*p).backlog_rcv = Some(sock::backlog_rcv::<T>);
            (*p).release_cb = Some(sock::release_cb::<T>);
            (*p).keepalive = Some(sock::keepalive::<T>);
            (*p).ioctl = Some(sock::ioctl::<T>);
            // Memory accounting (mem.c): limits, counters, sysctls.
            kernel::error::to_result(bindings::afc_proto_mem_setup(p))?;
        }
        // SAFETY: `PROTO` is static and filled; 1 asks for a slab cache.
        if let Err(e) = kernel::error::to_result(unsafe { bindings::proto_register(p, 1) }) {
            // SAFETY: set up above and not registered, so unused.
            unsafe { bindings::afc_proto_mem_teardown() };
            return Err(e);
        }
        Ok(Self(PhantomData))
    }
}

impl<T: SockData> Drop for ProtoRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; no socket of ours is left,
        // since each pins the module through `owner`.
        unsafe {
            bindings::proto_unregister(PROTO.get());
            bindings::afc_proto_mem_teardown();
        }
    }
}

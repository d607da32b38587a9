// SPDX-License-Identifier: GPL-2.0

//! The address family: `net_proto_family.create` and the `proto_ops`
//! vtable, adapted to a safe trait in the style of `kernel::net::phy`.

use super::sock::{sk_destruct, Sock, SockData, SockObj, Socket};
use super::{proto, static_cell::StaticCell};
use crate::bindings;
use core::marker::PhantomData;
use kernel::{error::code::ENOIOCTLCMD, error::from_result, ffi, prelude::*, ThisModule};

/// What a socket family implements; called from the `proto_ops` adapter.
pub(crate) trait SocketFamily {
    /// The per-socket state behind each `struct sock`.
    type Data: SockData;

    /// Checks the arguments of `socket(2)` before anything is allocated.
    fn check_create(sock_type: u32, protocol: i32) -> Result;

    /// Called from `close(2)` before the socket is orphaned and released.
    fn release(sk: &Sock<'_, Self::Data>);

    /// `bind(2)`: `addr` is the address as the user passed it.
    fn bind(sk: &Sock<'_, Self::Data>, addr: &[u8]) -> Result;

    /// `getsockname(2)` (`peer` false) or `getpeername(2)`: writes the
    /// address into `out` and returns its length.
    fn getname(sk: &Sock<'_, Self::Data>, out: &mut [u8; 16], peer: bool) -> Result<usize>;
}


static FAMILY: StaticCell<bindings::net_proto_family> = StaticCell::zeroed();
static OPS: StaticCell<bindings::proto_ops> = StaticCell::zeroed();

struct Adapter<F>(PhantomData<F>);

impl<F: SocketFamily> Adapter<F> {
    unsafe extern "C" fn create(
        net: *mut bindings::net,
        sock: *mut bindings::socket,
        protocol: ffi::c_int,
        kern: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: the VFS hands us a valid, new `struct socket`.
            let socket = unsafe { Socket::from_raw(sock) };
            F::check_create(socket.type_(), protocol)?;
            // SAFETY: `OPS` was filled before the family was registered and
            // is only read from now on.
            let family = unsafe { (*OPS.get()).family };
            // SAFETY: `net` is valid for the call; `proto::raw()` is our
            // registered proto (registered before the family).
            let sk = unsafe { bindings::sk_alloc(net, family, kernel::bindings::GFP_KERNEL, proto::raw(), kern) };
            if sk.is_null() {
                return Err(ENOMEM);
            }
            // SAFETY: `sk` is a fresh, zeroed object of `obj_size` =
            // `size_of::<SockObj<F::Data>>()`; we own its only reference.
            unsafe {
                bindings::sock_init_data(sock, sk);
                SockObj::<F::Data>::init(sk);
                // INVARIANT: data is initialised before the destructor that
                // drops it is installed.
                (*sk).sk_destruct = Some(sk_destruct::<F::Data>);
                (*sk).sk_protocol = protocol as u16;
                (*sock).ops = OPS.get();
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn release(sock: *mut bindings::socket) -> ffi::c_int {
        // SAFETY: the VFS passes the valid socket being closed.
        let sk = unsafe { (*sock).sk };
        // SAFETY: `sk` (if any) is ours, initialised in `create`, and the
        // socket's reference keeps it alive for the call.
        if let Some(s) = unsafe { Sock::<F::Data>::from_raw(sk) } {
            F::release(&s);
            // SAFETY: `sk` is valid; orphaning under the socket lock and
            // dropping the socket's reference is the kernel's discipline.
            unsafe {
                bindings::afc_lock_sock(sk);
                bindings::afc_sock_orphan(sk);
                bindings::afc_release_sock(sk);
                (*sock).sk = core::ptr::null_mut();
                bindings::afc_sock_put(sk);
            }
        }
        0
    }

    unsafe extern "C" fn bind(
        sock: *mut bindings::socket,
        addr: *mut bindings::sockaddr,
        len: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            let len = usize::try_from(len).map_err(|_| EINVAL)?;
            // SAFETY: `move_addr_to_kernel` copied `len` bytes (it refuses
            // more than `sizeof(sockaddr_storage)`) of the user's address.
            let bytes = unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len) };
            // SAFETY: a `socket` in our `proto_ops` call holds its `sk`,
            // which `create` initialised.
            let sk = unsafe { Sock::<F::Data>::from_raw((*sock).sk) }.ok_or(EINVAL)?;
            F::bind(&sk, bytes)?;
            Ok(0)
        })
    }

    unsafe extern "C" fn getname(
        sock: *mut bindings::socket,
        addr: *mut bindings::sockaddr,
        peer: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: as in `bind`.
            let sk = unsafe { Sock::<F::Data>::from_raw((*sock).sk) }.ok_or(EINVAL)?;
            let mut out = [0u8; 16];
            let n = F::getname(&sk, &mut out, peer != 0)?;
            let n = n.min(out.len());
            // SAFETY: the socket layer passes a `sockaddr_storage` (128
            // bytes) to fill; we write at most 16.
            unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), addr.cast::<u8>(), n) };
            Ok(n as i32)
        })
    }

    unsafe extern "C" fn ioctl(_sock: *mut bindings::socket, _cmd: ffi::c_uint, _arg: ffi::c_ulong) -> ffi::c_int {
        ENOIOCTLCMD.to_errno()
    }
}

/// Registration of the family with `sock_register`; unregistered on drop.
pub(crate) struct FamilyRegistration<F: SocketFamily>(PhantomData<F>);

impl<F: SocketFamily> FamilyRegistration<F> {
    /// Registers family number `family`; fails with `EEXIST` if taken.
    pub(crate) fn register(family: i32, module: &'static ThisModule) -> Result<Self> {
        let ops = OPS.get();
        let fam = FAMILY.get();
        // SAFETY: module init is serialised and neither table is registered
        // yet; unset entries stay NULL or the kernel's `sock_no_*`.
        unsafe {
            (*ops).family = family;
            (*ops).owner = module.as_ptr().cast();
            (*ops).release = Some(Adapter::<F>::release);
            (*ops).bind = Some(Adapter::<F>::bind);
            (*ops).connect = Some(bindings::sock_no_connect);
            (*ops).socketpair = Some(bindings::sock_no_socketpair);
            (*ops).accept = Some(bindings::sock_no_accept);
            (*ops).getname = Some(Adapter::<F>::getname);
            (*ops).ioctl = Some(Adapter::<F>::ioctl);
            (*ops).listen = Some(bindings::sock_no_listen);
            (*ops).shutdown = Some(bindings::sock_no_shutdown);
            (*ops).sendmsg = Some(bindings::sock_no_sendmsg);
            (*ops).recvmsg = Some(bindings::sock_no_recvmsg);
            (*ops).mmap = Some(bindings::sock_no_mmap);
            (*fam).family = family;
            (*fam).create = Some(Adapter::<F>::create);
            (*fam).owner = module.as_ptr().cast();
        }
        // SAFETY: `FAMILY` is static and filled.
        kernel::error::to_result(unsafe { bindings::sock_register(fam) })?;
        Ok(Self(PhantomData))
    }
}

impl<F: SocketFamily> Drop for FamilyRegistration<F> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; sock_unregister waits for
        // running create() calls (synchronize_rcu).
        unsafe { bindings::sock_unregister((*OPS.get()).family) };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The callbacks the kernel calls on our socks (`struct proto`'s and the
//! socket timer's), each handing the owned state to [`SockData`].

use super::{Sock, SockData, SockObj, SockQueues};
use crate::abstractions::bindings;
use crate::abstractions::skb::SkBuff;
use core::ptr::NonNull;
use kernel::{ffi, prelude::*};

/// Drops the Rust state of a socket when its last reference goes.
///
/// # Safety
///
/// Installed as `sk_destruct` by `SockObj::init`; the kernel calls it once,
/// when the last reference to the sock is put.
pub(crate) unsafe extern "C" fn sk_destruct<T: SockData>(sk: *mut bindings::sock) {
    let obj = sk.cast::<SockObj<T>>();
    // SAFETY: installed as `sk_destruct` only after `SockObj::init`; called
    // once, when the last reference is gone, so nothing else sees the state.
    unsafe {
        bindings::afc_sock_unlink(sk);
        bindings::afc_sk_dst_reset(sk);
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*obj).data));
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*obj).locked));
        // The state (and its `SockQueues`) is gone: this is the queues'
        // last user.
        let mut queues = SockQueues(NonNull::new_unchecked(sk));
        queues.receive().purge();
        queues.write().purge();
        // Every buffer is freed: the charges must all be back.
        bindings::afc_sk_mem_destruct(sk);
        // Last: a kernel socket's hold on its namespace (and our state
        // in it), taken by `create`.
        bindings::afc_sk_kern_put_net(sk);
    }
}

/// `backlog_rcv` of `struct proto`.
///
/// # Safety
///
/// Called by `release_sock` (`sk_backlog_rcv`) for one of our socks, still
/// owned by the caller, with a frame it queued on the backlog (ours now).
pub(crate) unsafe extern "C" fn backlog_rcv<T: SockData>(
    sk: *mut bindings::sock,
    skb: *mut bindings::sk_buff,
) -> ffi::c_int {
    // SAFETY: `release_sock` calls it for one of our socks, owned by the
    // caller, with a frame it put on the backlog (ownership passes to us).
    unsafe {
        let obj = sk.cast::<SockObj<T>>();
        if let (Some(s), Some(skb)) = (Sock::<T>::from_raw(sk), SkBuff::from_raw_owned(skb)) {
            T::backlog_rcv(&s, &mut *(*obj).locked.get(), skb);
        }
    }
    0
}

/// `release_cb` of `struct proto`.
///
/// # Safety
///
/// Called by `release_sock` for one of our socks, still owned by the
/// caller, bottom halves off.
pub(crate) unsafe extern "C" fn release_cb<T: SockData>(sk: *mut bindings::sock) {
    // SAFETY: `release_sock` calls it for one of our socks, still owned.
    unsafe {
        let obj = sk.cast::<SockObj<T>>();
        if let Some(s) = Sock::<T>::from_raw(sk) {
            T::release_cb(&s, &mut *(*obj).locked.get());
        }
    }
}

/// `keepalive` of `struct proto` (from `sock_setsockopt`, socket owned).
///
/// # Safety
///
/// Called by `sk_setsockopt` (`SO_KEEPALIVE`) for one of our socks with
/// the socket lock owned.
pub(crate) unsafe extern "C" fn keepalive<T: SockData>(sk: *mut bindings::sock, on: ffi::c_int) {
    // SAFETY: `sk_setsockopt` calls it for one of our socks with the lock owned.
    unsafe {
        let obj = sk.cast::<SockObj<T>>();
        if let Some(s) = Sock::<T>::from_raw(sk) {
            T::keepalive(&s, &mut *(*obj).locked.get(), on != 0);
        }
    }
}

/// `ioctl` of `struct proto`: io_uring's socket commands
/// (`io_uring_cmd_sock`: `SIOCINQ`, `SIOCOUTQ`) reach it, not
/// `proto_ops.ioctl`.
///
/// # Safety
///
/// Called in process context for one of our socks (held by the file the
/// command came through) with `karg` pointing to a kernel int.
pub(crate) unsafe extern "C" fn ioctl<T: SockData>(
    sk: *mut bindings::sock,
    cmd: ffi::c_int,
    karg: *mut ffi::c_int,
) -> ffi::c_int {
    // SAFETY: one of our socks, alive for the call (see above).
    let Some(s) = (unsafe { Sock::<T>::from_raw(sk) }) else {
        return EINVAL.to_errno();
    };
    kernel::error::from_result(|| {
        let v = T::ioctl(&s, cmd as u32)?;
        // SAFETY: `karg` is the caller's kernel int (see above).
        unsafe { *karg = v };
        Ok(0)
    })
}

/// `set_rcvlowat` of `proto_ops` (from `sk_setsockopt`, socket owned).
///
/// # Safety
///
/// Called by `sk_setsockopt` (`SO_RCVLOWAT`) for one of our socks with the
/// socket lock owned and `val` not negative.
pub(crate) unsafe extern "C" fn set_rcvlowat<T: SockData>(
    sk: *mut bindings::sock,
    val: ffi::c_int,
) -> ffi::c_int {
    // SAFETY: `sk_setsockopt` calls it for one of our socks (the
    // `proto_ops` are ours) with the socket lock owned (`sockopt_lock_sock`:
    // SO_RCVLOWAT is not among the options set without the lock), and
    // `val >= 0` (negative values are turned into `INT_MAX` before).
    unsafe {
        let obj = sk.cast::<SockObj<T>>();
        match Sock::<T>::from_raw(sk) {
            Some(s) => kernel::error::from_result(|| {
                T::set_rcvlowat(&s, &mut *(*obj).locked.get(), val.max(0)).map(|()| 0)
            }),
            None => EINVAL.to_errno(),
        }
    }
}

/// The socket timer's callback: runs `T::timer`, then drops the reference
/// the pending timer held.
///
/// # Safety
///
/// The `sk_timer` callback of our socks: called in softirq with the timer
/// of a sock of ours, armed by `sk_reset_timer`, which took a reference
/// for it.
pub(super) unsafe extern "C" fn timer_fn<T: SockData>(t: *mut bindings::timer_list) {
    // SAFETY: `t` is the `sk_timer` of one of our socks, armed by
    // `sk_reset_timer`, which took a reference for it.
    unsafe {
        let sk = bindings::afc_sk_from_timer(t);
        if let Some(s) = Sock::<T>::from_raw(sk) {
            T::timer(&s);
        }
        bindings::afc_sock_put(sk);
    }
}

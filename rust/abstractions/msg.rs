// SPDX-License-Identifier: GPL-2.0

//! `struct msghdr`: the user's buffers of `sendmsg`/`recvmsg`.

use crate::abstractions::bindings;
use kernel::prelude::*;

/// A message header, borrowed for a `sendmsg`/`recvmsg` call.
///
/// # Invariants
///
/// `self.0` is the valid `msghdr` of the running call.
pub(crate) struct MsgHdr(*mut bindings::msghdr);

impl MsgHdr {
    /// # Safety
    ///
    /// `m` must be the valid `msghdr` of the running `proto_ops` call.
    pub(crate) unsafe fn from_raw(m: *mut bindings::msghdr) -> Self {
        Self(m)
    }

    /// Bytes left in the user's buffers.
    pub(crate) fn data_left(&self) -> usize {
        // SAFETY: valid (type invariant).
        unsafe { bindings::afc_msg_data_left(self.0) }
    }

    /// Moves the user's buffers back by `n` bytes that were copied but
    /// not taken (`iov_iter_revert`): what the call reports and where
    /// its buffers stand then agree.
    pub(crate) fn revert(&mut self, n: usize) {
        if n > 0 {
            // SAFETY: valid (type invariant); `n` bytes were copied from
            // these buffers by this call, so they can be stepped back over.
            unsafe { bindings::afc_msg_revert(self.0, n) }
        }
    }

    /// Fills `len` bytes at `offset` of `skb` (linear or paged) from the
    /// user's buffers; returns how many it copied, fewer than `len` when
    /// the user's buffer faults part-way (0: nothing).
    ///
    /// # Safety
    ///
    /// `skb` must be valid and unshared, owned by the caller.
    pub(super) unsafe fn copy_to_skb(
        &mut self,
        skb: *mut bindings::sk_buff,
        offset: usize,
        len: usize,
    ) -> Result<usize> {
        let off = i32::try_from(offset).map_err(|_| EINVAL)?;
        let len = i32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: valid msghdr; `skb` is valid and unshared (the caller
        // owns it); the helper checks the range against the skb.
        let n = unsafe { bindings::afc_skb_copy_from_msg(skb, off, self.0, len) };
        usize::try_from(n).map_err(|_| Error::from_errno(n))
    }

    /// Appends up to `n` bytes from the user's buffers to the paged send
    /// buffer `skb` of `sk` (`afc_skb_append_paged`); returns how many.
    ///
    /// # Safety
    ///
    /// `sk` must be a valid sock owned by the caller (`lock_sock`), and
    /// `skb` the last buffer of its write queue.
    pub(super) unsafe fn append_to_skb(
        &mut self,
        sk: *mut bindings::sock,
        skb: *mut bindings::sk_buff,
        n: usize,
    ) -> usize {
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        // SAFETY: valid msghdr; `sk` owned by the caller, `skb` its
        // queued buffer; the helper checks that `skb` is paged and not
        // cloned, and copies at most `n` bytes.
        let r = unsafe { bindings::afc_skb_append_paged(sk, skb, self.0, n) };
        usize::try_from(r).unwrap_or(0)
    }

    /// Copies `len` bytes at `offset` of `skb` to the user's buffers.
    ///
    /// # Safety
    ///
    /// `skb` must be valid for the call (held queued, or owned, by the
    /// caller).
    pub(super) unsafe fn copy_from_skb(
        &mut self,
        skb: *const bindings::sk_buff,
        offset: usize,
        len: usize,
    ) -> Result {
        let off = i32::try_from(offset).map_err(|_| EINVAL)?;
        let len = i32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: valid msghdr; `skb` is valid (callers hold it queued).
        crate::abstractions::errno::check(unsafe {
            bindings::afc_skb_copy_datagram_msg(skb, off, self.0, len)
        })
    }

    /// Copies `data` to the user's buffers (`memcpy_to_msg`).
    pub(crate) fn copy_bytes(&mut self, data: &[u8]) -> Result {
        let len = i32::try_from(data.len()).map_err(|_| EINVAL)?;
        // SAFETY: valid msghdr (type invariant); `data` is `len` readable
        // bytes, copied before the call returns.
        let r = unsafe { bindings::afc_memcpy_to_msg(self.0, data.as_ptr().cast(), len) };
        crate::abstractions::errno::check(r)
    }

    /// Adds `flags` to the flags `recvmsg` returns (`msg_flags`).
    pub(crate) fn add_flags(&mut self, flags: u32) {
        // SAFETY: valid msghdr (type invariant) of the running call, whose
        // flags only that call writes.
        unsafe { (*self.0).msg_flags |= flags }
    }

    /// Appends a control message (`put_cmsg`): `MSG_CTRUNC` is set in the
    /// user's flags when the control buffer is too short for it (what
    /// fits is copied, as for any socket); nothing is written past `data`.
    pub(crate) fn put_cmsg(&mut self, level: i32, ty: i32, data: &[u8]) {
        let Ok(len) = i32::try_from(data.len()) else {
            return;
        };
        // SAFETY: valid msghdr (type invariant); `data` is `len` readable
        // bytes, copied before the call returns.  An error (a fault on the
        // user's buffer) leaves the message out, as `put_cmsg`'s callers
        // in the kernel do.
        let _ = unsafe { bindings::afc_put_cmsg(self.0, level, ty, len, data.as_ptr().cast()) };
    }

    /// Appends the receive timestamps the socket asked for
    /// (`tcp_recv_timestamp`), for a buffer stamped `ns` (nothing for 0).
    ///
    /// # Safety
    ///
    /// `sk` must be a valid sock.
    pub(super) unsafe fn recv_timestamp(&mut self, sk: *const bindings::sock, ns: i64) {
        // SAFETY: valid msghdr (type invariant) and sock (the caller's).
        unsafe { bindings::afc_recv_timestamp(self.0, sk, ns) }
    }
}

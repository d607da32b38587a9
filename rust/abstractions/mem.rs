// SPDX-License-Identifier: GPL-2.0

//! Socket memory accounting (`rust/helpers/mem.c`): what a socket queues
//! is charged to the family's `memory_allocated` (limited by
//! `net.af_custom.mem`) and to the owner's memory cgroup, as TCP's is.
//!
//! The receive side is charged by [`Sock::rmem_schedule`] then
//! [`Sock::charge_rmem`] (uncharged when the buffer is freed); the write
//! queue only through [`super::sock::WriteQueue`], which keeps
//! `sk_wmem_queued` and the forward allocation in step.  All of them need
//! the socket owned (the forward allocation is the owner's).

use super::skb::SkBuff;
use super::sock::{Sock, SockData};
use crate::abstractions::bindings;

/// `SOCK_SNDBUF_LOCK` of `sk_userlocks`: the user set the size,
/// autotuning leaves it alone.
const SNDBUF_LOCK: i32 = 1;

/// `sk_mem_reclaim`: whole pages of the reservation go back to the
/// family (`__sk_mem_reclaim`, called directly: the usual case makes no
/// call at all); where a reserve (`SO_RESERVE_MEM`) keeps part of it, the
/// kernel's own rule decides.
///
/// # Safety
///
/// `sk` is a valid sock of this family, owned by the caller (the forward
/// allocation is the owner's).
pub(crate) unsafe fn reclaim(sk: *mut bindings::sock) {
    // SAFETY: valid and owned (the caller's promise).
    let (fwd, reserved) = unsafe { ((*sk).sk_forward_alloc, (*sk).sk_reserved_mem) };
    if reserved != 0 {
        // SAFETY: as above.
        unsafe { bindings::afc_sk_mem_reclaim(sk) };
    } else if fwd >= kernel::page::PAGE_SIZE as i32 {
        // Without a reserve all of the reservation is reclaimable.
        // SAFETY: as above.
        unsafe { bindings::__sk_mem_reclaim(sk, fwd) };
    }
}

impl SkBuff {
    /// The memory the buffer takes (`truesize`), as charged to a socket.
    pub(crate) fn truesize(&self) -> usize {
        // SAFETY: the skb is valid (type invariant of `SkBuff`).
        unsafe { (*self.as_ptr()).truesize as usize }
    }
}

impl<T: SockData> Sock<'_, T> {
    /// Reserves room for `skb` on the receive side (`sk_rmem_schedule`);
    /// `false` when the family or the cgroup is over its limit.
    pub(crate) fn rmem_schedule(&self, skb: &SkBuff) -> bool {
        if self.reserved_covers(skb.truesize()) {
            return true;
        }
        // SAFETY: valid sock and skb; the caller owns the socket.
        unsafe { bindings::afc_sk_rmem_schedule(self.as_ptr(), skb.as_ptr()) }
    }

    /// Whether the reservation covers `skb` already: then
    /// [`Sock::rmem_schedule`] returns `true` without a call into C.  For
    /// callers that fold this test into one with others.
    pub(crate) fn rmem_covered(&self, skb: &SkBuff) -> bool {
        self.reserved_covers(skb.truesize())
    }

    /// Reserves `size` bytes for the write queue (`sk_wmem_schedule`).
    pub(crate) fn wmem_schedule(&self, size: usize) -> bool {
        if self.reserved_covers(size) {
            return true;
        }
        let size = i32::try_from(size).unwrap_or(i32::MAX);
        // SAFETY: valid sock; the caller owns the socket.
        unsafe { bindings::afc_sk_wmem_schedule(self.as_ptr(), size) }
    }

    /// Whether the socket's reservation (`sk_forward_alloc`) already
    /// covers `size` bytes: then `sk_rmem_schedule` and `sk_wmem_schedule`
    /// return true at once (their `delta <= 0`), and so does the cgroup
    /// check before them (`afc_memcg_full` of a non-positive count), so
    /// the usual segment makes no C call.
    fn reserved_covers(&self, size: usize) -> bool {
        // SAFETY: the sock is valid (type invariant) and the caller owns
        // it: the forward allocation is written only by its owner.
        let fwd = unsafe { (*self.as_ptr()).sk_forward_alloc };
        // A negative reservation covers nothing (`max(0)`: a compare and
        // a move, no branch).
        size <= fwd.max(0) as usize
    }

    /// Whether buffers may grow: the family is not under memory pressure
    /// and below `net.af_custom.mem[0]` (`tcp_should_expand_sndbuf`).
    pub(crate) fn may_grow_bufs(&self) -> bool {
        // SAFETY: valid sock.
        unsafe { bindings::afc_sk_may_grow_bufs(self.as_ptr()) }
    }

    /// Whether the family is under memory pressure (`net.af_custom.mem[1]`
    /// passed and not yet back under `mem[0]`), or the socket's memory
    /// cgroup is (`sk_under_memory_pressure`).
    ///
    /// A socket outside any memory cgroup (`sk_memcg` null, as in the
    /// root cgroup) reads the family's flag here, without a call into C:
    /// every segment and every read looks (docs/PERFORMANCE.md, session
    /// 26).
    pub(crate) fn under_memory_pressure(&self) -> bool {
        let sk = self.as_ptr();
        // SAFETY: the sock is valid (type invariant); `sk_memcg` is set
        // when the socket is made and stays for its life.
        let memcg = unsafe { (*sk).sk_memcg };
        if !memcg.is_null() {
            // SAFETY: valid sock.
            return unsafe { bindings::afc_sk_under_memory_pressure(sk) };
        }
        // SAFETY: the sock is valid; its `sk_prot` is the family's
        // `struct proto`, whose `memory_pressure` points to the family's
        // flag (`afc_proto_mem_setup`) for the module's life, or is null.
        // The flag is written by other CPUs: read once (`READ_ONCE`).
        unsafe {
            let flag = (*(*sk).__sk_common.skc_prot).memory_pressure;
            !flag.is_null() && core::ptr::read_volatile(flag) != 0
        }
    }

    /// Whether the socket holds queued data while the family is past its
    /// hard limit (`tcp_out_of_memory`): an orphan in that state is reset.
    pub(crate) fn out_of_memory(&self) -> bool {
        // SAFETY: valid sock.
        unsafe { bindings::afc_sk_out_of_memory(self.as_ptr()) }
    }

    /// Returns unused whole pages of the socket's reservation to the family.
    pub(crate) fn mem_reclaim(&self) {
        // SAFETY: valid sock; the caller owns the socket.
        unsafe { reclaim(self.as_ptr()) }
    }

    /// Whether the user fixed `SO_SNDBUF` (no autotuning); the receive
    /// side's twin is [`Sock::rcvbuf_locked`].
    pub(crate) fn sndbuf_locked(&self) -> bool {
        // SAFETY: valid sock.
        unsafe { bindings::afc_sk_userlocks(self.as_ptr()) & SNDBUF_LOCK != 0 }
    }

    /// Sets the send buffer (autotuning).
    pub(crate) fn set_sndbuf(&self, bytes: u32) {
        self.set_bufs(self.rcvbuf(), bytes);
    }
}

/// The most autotuning grows a receive and a send buffer to
/// (`net.af_custom.rmem[2]`, `wmem[2]`).
pub(crate) fn buf_max() -> (u32, u32) {
    let (mut r, mut w) = (0, 0);
    // SAFETY: out-pointers are valid.
    unsafe { bindings::afc_buf_max(&mut r, &mut w) };
    (r.max(0) as u32, w.max(0) as u32)
}

/// Family-wide memory: pages charged, sockets allocated, under pressure.
pub(crate) fn stats() -> (i64, i64, bool) {
    let (mut p, mut s, mut press) = (0, 0, 0);
    // SAFETY: out-pointers are valid.
    unsafe { bindings::afc_mem_stats(&mut p, &mut s, &mut press) };
    (p as i64, s as i64, press != 0)
}

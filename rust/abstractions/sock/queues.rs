// SPDX-License-Identifier: GPL-2.0

//! A socket's skb queues, reachable only by its owner.

use crate::abstractions::bindings;
use crate::abstractions::msg::MsgHdr;
use crate::abstractions::skb::{QueuedSkb, SkBuff, SkbQueue};
use core::ptr::{addr_of_mut, write_volatile, NonNull};
use kernel::prelude::*;

/// The way to a socket's skb queues, made once per socket by
/// [`SockObj::init`] and kept in its locked state ([`SockData::new_locked`]):
/// only who holds that state mutably -- the socket's owner, through
/// [`SockGuard`], [`BhSockGuard::locked`] or a callback that runs owned --
/// reaches a queue, one user at a time (`&mut self`).  Not `Clone`.
///
/// # Invariants
///
/// `self.0` is a live sock of ours, and this is its only `SockQueues`
/// (bar the destructor's, made after this one is dropped).
pub(crate) struct SockQueues(pub(super) NonNull<bindings::sock>);

// SAFETY: a `SockQueues` only names the queues of a sock; the kernel's
// socket discipline lets whichever CPU owns the socket use them, and the
// locked state that holds it moves between owners as a whole.
unsafe impl Send for SockQueues {}

impl SockQueues {
    /// `sk_receive_queue`: in-order received data, charged to the socket.
    pub(crate) fn receive(&mut self) -> SkbQueue<'_> {
        // SAFETY: the queue lives as long as the sock (type invariant),
        // and `&mut self` makes this the only handle to it meanwhile.
        unsafe { SkbQueue::from_raw(core::ptr::addr_of_mut!((*self.0.as_ptr()).sk_receive_queue)) }
    }

    /// `sk_write_queue`: data sent and not yet acknowledged, kept in step
    /// with `sk_wmem_queued` ([`WriteQueue`]).
    pub(crate) fn write(&mut self) -> WriteQueue<'_> {
        // SAFETY: as for `receive`.
        let q = unsafe {
            SkbQueue::from_raw(core::ptr::addr_of_mut!((*self.0.as_ptr()).sk_write_queue))
        };
        WriteQueue { q, sk: self.0 }
    }
}

/// The write queue: buffers go in charged and come out uncharged, so
/// `sk_wmem_queued` and the forward allocation always match the queue.
pub(crate) struct WriteQueue<'a> {
    q: SkbQueue<'a>,
    sk: NonNull<bindings::sock>,
}

impl WriteQueue<'_> {
    /// Appends `skb`, charged (after [`Sock::wmem_schedule`] reserved its
    /// truesize).
    pub(crate) fn push(&mut self, skb: SkBuff) {
        self.charge(skb.truesize());
        self.q.push(skb);
    }

    /// Charges `size` bytes to the queue: `sk_wmem_queued_add` and
    /// `sk_mem_charge` (the family accounts its memory, so
    /// `sk_has_account` holds), without a C call: both `WRITE_ONCE`s, as
    /// lockless readers (`poll`, `sock_diag`) read them with `READ_ONCE`.
    fn charge(&mut self, size: usize) {
        let size = i32::try_from(size).unwrap_or(i32::MAX);
        let sk = self.sk.as_ptr();
        // SAFETY: valid sock (the `SockQueues` invariant); the holder of
        // the queues owns the socket, the only writer of both fields.
        unsafe {
            let queued = addr_of_mut!((*sk).sk_wmem_queued);
            write_volatile(queued, (*queued).wrapping_add(size));
            let fwd = addr_of_mut!((*sk).sk_forward_alloc);
            write_volatile(fwd, (*fwd).wrapping_sub(size));
        }
    }

    /// The length of the last buffer if bytes may be appended to it
    /// ([`QueuedSkb::appendable`]).
    pub(crate) fn appendable_tail(&mut self) -> Option<usize> {
        self.q.last().filter(|t| t.appendable()).map(|t| t.len())
    }

    /// Appends up to `n` bytes from `msg` to the last buffer (which
    /// [`Self::appendable_tail`] found), charged as [`Self::push`]
    /// charges (after [`Sock::wmem_schedule`] reserved `n`); returns how
    /// many (fewer when the user's buffer faults or memory is short).
    ///
    /// [`Sock::wmem_schedule`]: super::Sock::wmem_schedule
    pub(crate) fn append(&mut self, msg: &mut MsgHdr, n: usize) -> usize {
        let sk = self.sk.as_ptr();
        let Some(mut tail) = self.q.last() else {
            return 0;
        };
        // SAFETY: `sk` is this queue's sock, owned by the holder of the
        // queues (the `SockQueues` invariant), and `tail` its last buffer.
        let copied = unsafe { tail.append_from_msg(sk, msg, n) };
        self.charge(copied);
        copied
    }

    /// Removes the first buffer, uncharged.
    pub(crate) fn pop(&mut self) -> Option<SkBuff> {
        let skb = self.q.pop()?;
        // `skb` was charged its truesize when it was pushed.
        self.uncharge(skb.truesize());
        Some(skb)
    }

    /// Uncharges `size` bytes: [`Self::charge`] undone, then
    /// `sk_mem_reclaim` ([`crate::abstractions::mem::reclaim`]), as
    /// `sk_mem_uncharge` does.
    fn uncharge(&mut self, size: usize) {
        let size = i32::try_from(size).unwrap_or(i32::MAX);
        let sk = self.sk.as_ptr();
        // SAFETY: valid sock (the `SockQueues` invariant); the holder of
        // the queues owns the socket, the only writer of both fields.
        unsafe {
            let queued = addr_of_mut!((*sk).sk_wmem_queued);
            write_volatile(queued, (*queued).wrapping_sub(size));
            let fwd = addr_of_mut!((*sk).sk_forward_alloc);
            write_volatile(fwd, (*fwd).wrapping_add(size));
            crate::abstractions::mem::reclaim(sk);
        }
    }

    /// Frees every buffer, uncharged.
    pub(crate) fn purge(&mut self) {
        while self.pop().is_some() {}
    }

    /// The first buffer, borrowed (to drop acknowledged bytes from it).
    pub(crate) fn front(&mut self) -> Option<QueuedSkb<'_>> {
        self.q.walk().next()
    }

    /// See [`SkbQueue::whole_at`].
    pub(crate) fn whole_at(&mut self, offset: usize, len: usize) -> Option<QueuedSkb<'_>> {
        self.q.whole_at(offset, len)
    }

    /// See [`SkbQueue::for_range`].
    pub(crate) fn for_range(
        &mut self,
        offset: usize,
        len: usize,
        f: impl FnMut(&QueuedSkb<'_>, usize, usize) -> Result,
    ) -> Result<usize> {
        self.q.for_range(offset, len, f)
    }
}

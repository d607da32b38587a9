// SPDX-License-Identifier: GPL-2.0

//! The socket lock: owned by a process (`lock_sock`, [`SockGuard`]) or by
//! softirq code (`bh_lock_sock`, [`BhSockGuard`]).

use super::{Sock, SockData, SockObj};
use crate::abstractions::bindings;
use crate::abstractions::skb::SkBuff;
use core::marker::PhantomData;
use core::pin::pin;
use core::ptr::NonNull;
use kernel::ffi;
use kernel::types::Opaque;

impl<'a, T: SockData> Sock<'a, T> {
    /// Takes the socket lock (`lock_sock`, may sleep): process context only.
    pub(crate) fn lock(&self) -> SockGuard<'_, T> {
        // SAFETY: the sock is valid; process context is the caller's duty
        // (every `proto_ops` callback runs there).
        // `lock_sock` is this call, inline in C.
        unsafe { bindings::lock_sock_nested(self.as_ptr(), 0) };
        // INVARIANT: the lock is held until the guard drops.
        SockGuard(self.0, PhantomData)
    }

    /// Takes the socket's spinlock (`bh_lock_sock`): softirq context only.
    pub(crate) fn bh_lock(&self) -> BhSockGuard<'_, T> {
        // SAFETY: the sock is valid; bottom halves are off in softirq.
        unsafe { bindings::afc_bh_lock_sock(self.as_ptr()) };
        // INVARIANT: the spinlock is held until the guard drops.
        BhSockGuard(self.0, PhantomData)
    }
}

/// The socket lock held (`lock_sock`); released on drop.
///
/// # Invariants
///
/// The current task owns the socket lock of the live `SockObj` `self.0`.
pub(crate) struct SockGuard<'a, T: SockData>(NonNull<SockObj<T>>, PhantomData<&'a T>);

impl<'a, T: SockData> SockGuard<'a, T> {
    /// The socket.
    pub(crate) fn sock(&self) -> Sock<'a, T> {
        Sock(self.0, PhantomData)
    }

    /// The state only the lock owner may touch.
    pub(crate) fn locked(&mut self) -> &mut T::Locked {
        // SAFETY: the lock is ours (type invariant), so nobody else touches
        // `locked`; `&mut self` makes the borrow unique among our own.
        unsafe { &mut *(*self.0.as_ptr()).locked.get() }
    }

    /// Runs `step` (given the time left) until it returns `Some`, sleeping
    /// between runs as [`Self::wait`] does; returns what `step` returned.
    ///
    /// The caller goes on the socket's wait queue before the first `step`
    /// and stays there until this returns (`inet_csk_wait_for_connect`),
    /// so a wake-up that comes after a `step` found nothing and before the
    /// sleep ends that sleep at once.  Use it where what is waited for
    /// changes without the socket lock (the accept queue, filled by the
    /// children's softirq): [`Self::wait`] looks first and goes on the
    /// queue after, and would sleep through such a wake-up.
    pub(crate) fn wait_for<R>(
        &mut self,
        mut timeo: i64,
        mut step: impl FnMut(&mut Self, i64) -> Option<R>,
    ) -> R {
        let entry = pin!(Opaque::<bindings::wait_queue_entry>::uninit());
        let sk = self.0.as_ptr().cast();
        // SAFETY: we own the lock (type invariant); the entry is pinned on
        // this stack frame and leaves the queue below, before the frame ends.
        unsafe { bindings::afc_sk_wait_add(sk, entry.get()) };
        let r = loop {
            if let Some(r) = step(self, timeo) {
                break r;
            }
            let t = ffi::c_long::try_from(timeo).unwrap_or(ffi::c_long::MAX);
            // SAFETY: we own the lock; the entry is on the queue (added above).
            timeo = unsafe { bindings::afc_sk_wait_sleep(sk, entry.get(), t) } as i64;
        };
        // SAFETY: the entry was added above and is still on the queue.
        unsafe { bindings::afc_sk_wait_remove(sk, entry.get()) };
        r
    }

    /// Sleeps until woken, a signal, or `timeo` jiffies pass; the lock is
    /// released meanwhile (the backlog is processed) and held again on
    /// return.  Returns the time left.  The caller looked at what it waits
    /// for before it goes on the wait queue: only for what changes under
    /// the socket lock (or through the backlog); else [`Self::wait_for`].
    pub(crate) fn wait(&mut self, timeo: i64) -> i64 {
        let t = ffi::c_long::try_from(timeo).unwrap_or(ffi::c_long::MAX);
        // SAFETY: we own the lock (type invariant); no borrow of `locked`
        // survives (`&mut self`).
        unsafe { bindings::afc_sk_wait(self.0.as_ptr().cast(), t) as i64 }
    }
}

impl<T: SockData> SockGuard<'_, T> {
    /// Whether frames wait on the backlog, read without the spinlock as
    /// `sk_flush_backlog` reads it (a frame added meanwhile is run by our
    /// release, or by [`Self::flush_backlog`]).
    pub(crate) fn backlog_pending(&self) -> bool {
        backlog_pending(self.0)
    }

    /// Runs the frames waiting on the backlog (through
    /// [`SockData::backlog_rcv`]) without giving up the lock, as
    /// `tcp_recvmsg_locked` does; `false` when there were none.
    pub(crate) fn flush_backlog(&mut self) -> bool {
        // Read without the spinlock, as `sk_flush_backlog` reads it: a
        // frame added meanwhile is run by our release.
        if !backlog_pending(self.0) {
            return false;
        }
        // SAFETY: we own the lock (type invariant); no borrow of `locked`
        // survives (`&mut self`), and `backlog_rcv` borrows it anew.
        unsafe { bindings::afc_sk_flush_backlog(self.0.as_ptr().cast()) };
        true
    }
}

impl<T: SockData> Drop for SockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we own the lock (type invariant).
        unsafe { bindings::release_sock(self.0.as_ptr().cast()) };
    }
}

/// The socket spinlock held (`bh_lock_sock`) in softirq; released on drop.
///
/// # Invariants
///
/// The current CPU holds the spinlock of the live `SockObj` `self.0`.
pub(crate) struct BhSockGuard<'a, T: SockData>(NonNull<SockObj<T>>, PhantomData<&'a T>);

impl<'a, T: SockData> BhSockGuard<'a, T> {
    /// Whether a process owns the socket now.
    pub(crate) fn is_owned(&self) -> bool {
        // SAFETY: the sock is valid (type invariant); `owned` is an
        // aligned int that `lock_sock`/`release_sock` write under the
        // spinlock we hold (`sock_owned_by_user_nocheck`, read without a C
        // call: every frame asks).
        let owned = unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!(
                (*self.0.as_ptr().cast::<bindings::sock>()).sk_lock.owned
            ))
        };
        owned != 0
    }

    /// The owner's state, unless a process owns the socket now.
    pub(crate) fn locked(&mut self) -> Option<&mut T::Locked> {
        if self.is_owned() {
            return None;
        }
        // SAFETY: we hold the spinlock and no process owns the socket, so
        // we are its owner until the guard drops; `&mut self` keeps the
        // borrow unique.
        Some(unsafe { &mut *(*self.0.as_ptr()).locked.get() })
    }

    /// Whether frames wait on the backlog.  With nobody owning the socket
    /// only frames left for a reader that sleeps can (`rx`): later frames
    /// must queue behind them, to keep their order.
    pub(crate) fn backlog_pending(&self) -> bool {
        // Written under the spinlock we hold (`__sk_add_backlog`, and
        // `__release_sock`, which takes it to empty the backlog).
        backlog_pending(self.0)
    }

    /// Runs the frames on the backlog here, through
    /// [`SockData::backlog_rcv`], when no process owns the socket (frames
    /// left for a reader asleep, `rx`, that must not wait longer); else
    /// leaves them to the owner.
    pub(crate) fn run_backlog(&mut self) {
        if self.is_owned() {
            return;
        }
        let sk = self.0.as_ptr();
        let s = Sock(self.0, PhantomData);
        // SAFETY: we hold the spinlock and nobody owns the socket; the
        // frames taken are ours now, and nobody else can reach them.
        let mut skb = unsafe { bindings::afc_sk_backlog_take(sk.cast()) };
        while !skb.is_null() {
            // SAFETY: `skb` heads the list taken above; it leaves it.
            let next = unsafe { bindings::afc_skb_list_next(skb) };
            // SAFETY: `skb` is ours (taken above, off the list now); with
            // the spinlock held and no owner we are the socket's owner (as
            // in `locked`) until the guard drops; the `locked` borrow ends
            // with the call.
            unsafe {
                if let Some(b) = SkBuff::from_raw_owned(skb) {
                    T::backlog_rcv(&s, &mut *(*sk).locked.get(), b);
                }
            }
            skb = next;
        }
    }

    /// Queues `skb` on the backlog for the owner (or for a reader that
    /// sleeps, `rx`); gives it back when the backlog is over its limit.
    pub(crate) fn add_backlog(&mut self, skb: SkBuff) -> core::result::Result<(), SkBuff> {
        let raw = skb.as_ptr();
        // SAFETY: we hold the spinlock; on success the backlog owns the skb
        // (freed by `release_sock` through `backlog_rcv`).
        if unsafe { bindings::afc_sk_add_backlog(self.0.as_ptr().cast(), raw) } == 0 {
            core::mem::forget(skb);
            Ok(())
        } else {
            Err(skb)
        }
    }
}

impl<T: SockData> Drop for BhSockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we hold the spinlock (type invariant).
        unsafe { bindings::afc_bh_unlock_sock(self.0.as_ptr().cast()) };
    }
}

/// Whether frames wait on `sk`'s backlog (`sk_backlog.tail` set), read
/// once as C's `READ_ONCE`: exact under the spinlock, a hint without it.
fn backlog_pending<T: SockData>(sk: NonNull<SockObj<T>>) -> bool {
    // SAFETY: the sock is valid (the guards' invariants); an aligned
    // pointer read once.
    let tail = unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!(
            (*sk.as_ptr().cast::<bindings::sock>()).sk_backlog.tail
        ))
    };
    !tail.is_null()
}

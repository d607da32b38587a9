// SPDX-License-Identifier: GPL-2.0

//! Sockets: the `struct sock` with the module's state behind it, and the
//! `struct socket` the VFS hands to `proto_ops`.
//!
//! # Locking (the kernel's socket lock discipline, `include/net/sock.h`)
//!
//! The part of a socket's state that changes with its protocol
//! (`SockData::Locked`) is touched by whoever *owns* the socket:
//!
//! - process context after `lock_sock` ([`Sock::lock`], a [`SockGuard`]);
//!   while it is owned, softirq code puts frames on the backlog, which
//!   `release_sock` hands to [`SockData::backlog_rcv`] still owned, and
//!   then calls [`SockData::release_cb`] (bottom halves off, spinlock held);
//! - softirq context holding `bh_lock_sock` while nobody owns the socket
//!   ([`Sock::bh_lock`], a [`BhSockGuard`] whose `locked()` is `None` when a
//!   process owns it).
//!
//! The skb queues are reached only through [`SockQueues`], which lives in
//! that locked state, so only the owner reaches them.  Everything else of
//! the `struct sock` (counters, flags, wait queue) is the kernel's and
//! safe to use from any context.  The module's whole lock order and who
//! holds socket references: `socket` ("Locking", "References").


use super::netns::Net;
use super::skb::{SkBuff, SkbQueue};
use crate::abi::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::types::Opaque;
use kernel::{ffi, prelude::*};

/// The Rust state of a socket, kept in the same allocation as its
/// `struct sock`, and the protocol callbacks of `struct proto`.
pub(crate) trait SockData: Sized + Send + Sync {
    /// The part of the state that only the socket's owner may touch.
    type Locked: Send;
    /// Makes the state of a new socket.
    fn new() -> Self;
    /// Makes the locked part of the state of a new socket, which keeps
    /// `queues`, the only way to its skb queues.
    fn new_locked(queues: SockQueues) -> Self::Locked;
    /// A frame put on the backlog while a process owned the socket; called
    /// from `release_sock`, socket owned.
    fn backlog_rcv(sk: &Sock<'_, Self>, locked: &mut Self::Locked, skb: SkBuff);
    /// Called by `release_sock` after the backlog, socket owned, bottom
    /// halves off: work deferred while a process owned the socket.
    fn release_cb(sk: &Sock<'_, Self>, locked: &mut Self::Locked);
    /// The socket's timer fired (softirq, no lock held).
    fn timer(sk: &Sock<'_, Self>);
    /// `SO_KEEPALIVE` was set or cleared (socket owned).
    fn keepalive(sk: &Sock<'_, Self>, locked: &mut Self::Locked, on: bool);
    /// `SO_RCVLOWAT` is set to `val` (never negative; socket owned): store
    /// it with [`Sock::set_rcvlowat`], and whatever follows from it.
    fn set_rcvlowat(sk: &Sock<'_, Self>, locked: &mut Self::Locked, val: i32) -> Result;
}

/// The object `sk_alloc` allocates for our `struct proto` (`obj_size`).
#[repr(C)]
pub(crate) struct SockObj<T: SockData> {
    sk: bindings::sock,
    data: T,
    locked: UnsafeCell<T::Locked>,
}

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
pub(crate) struct SockQueues(NonNull<bindings::sock>);

// SAFETY: a `SockQueues` only names the queues of a sock; the kernel's
// socket discipline lets whichever CPU owns the socket use them, and the
// locked state that holds it moves between owners as a whole.
unsafe impl Send for SockQueues {}

impl SockQueues {
    /// `sk_receive_queue`: in-order received data, charged to the socket.
    pub(crate) fn receive(&mut self) -> SkbQueue<'_> {
        // SAFETY: the queue lives as long as the sock (type invariant),
        // and `&mut self` makes this the only handle to it meanwhile.
        unsafe { SkbQueue::from_raw(bindings::afc_sk_receive_queue(self.0.as_ptr())) }
    }

    /// `sk_write_queue`: data sent and not yet acknowledged, kept in step
    /// with `sk_wmem_queued` ([`WriteQueue`]).
    pub(crate) fn write(&mut self) -> WriteQueue<'_> {
        // SAFETY: as for `receive`.
        let q = unsafe { SkbQueue::from_raw(bindings::afc_sk_write_queue(self.0.as_ptr())) };
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
        // SAFETY: valid sock (the `SockQueues` invariant) and skb; the
        // holder of the queues owns the socket.
        unsafe { bindings::afc_sk_wq_charge(self.sk.as_ptr(), skb.as_ptr()) };
        self.q.push(skb);
    }

    /// Removes the first buffer, uncharged.
    pub(crate) fn pop(&mut self) -> Option<SkBuff> {
        let skb = self.q.pop()?;
        // SAFETY: valid sock; `skb` was charged when it was pushed.
        unsafe { bindings::afc_sk_wq_uncharge(self.sk.as_ptr(), skb.as_ptr()) };
        Some(skb)
    }

    /// Frees every buffer, uncharged.
    pub(crate) fn purge(&mut self) {
        while self.pop().is_some() {}
    }

    /// The first buffer, borrowed (to drop acknowledged bytes from it).
    pub(crate) fn front(&mut self) -> Option<super::skb::QueuedSkb<'_>> {
        self.q.walk().next()
    }

    /// See [`SkbQueue::for_range`].
    pub(crate) fn for_range(
        &mut self,
        offset: usize,
        len: usize,
        f: impl FnMut(&super::skb::QueuedSkb<'_>, usize, usize) -> Result,
    ) -> Result<usize> {
        self.q.for_range(offset, len, f)
    }
}

impl<T: SockData> SockObj<T> {
    /// Initialises the Rust state of a fresh `sk`, its destructor and timer.
    ///
    /// # Safety
    ///
    /// `sk` must be a fresh object of our `struct proto` for `T` whose state
    /// was never initialised, not yet visible to anyone else, after
    /// `sock_init_data`.
    pub(crate) unsafe fn init(sk: *mut bindings::sock) {
        let obj = sk.cast::<SockObj<T>>();
        // SAFETY: `obj` is a valid allocation of `SockObj<T>` (caller).
        unsafe {
            core::ptr::addr_of_mut!((*obj).data).write(T::new());
            // INVARIANT: the one `SockQueues` of this sock.
            let queues = SockQueues(NonNull::new_unchecked(sk));
            core::ptr::addr_of_mut!((*obj).locked).write(UnsafeCell::new(T::new_locked(queues)));
            // INVARIANT: data is initialised before the destructor that
            // drops it is installed.
            (*sk).sk_destruct = Some(sk_destruct::<T>);
            // `sock_init_data` leaves it to the protocol (as `inet_create`).
            (*sk).sk_backlog_rcv = Some(backlog_rcv::<T>);
            bindings::afc_sk_timer_setup(sk, Some(timer_fn::<T>));
            // Listed in /proc/net/af_custom until `sk_destruct`.
            bindings::afc_sock_link(sk);
            // Counted in the family's sockets until `sk_destruct`.
            bindings::afc_sk_mem_init(sk);
        }
    }
}

/// A `struct sock` of ours, borrowed (the caller holds a reference).
///
/// # Invariants
///
/// `self.0` points to a live `SockObj<T>` whose state is initialised.
pub(crate) struct Sock<'a, T: SockData>(NonNull<SockObj<T>>, PhantomData<&'a T>);

impl<T: SockData> Clone for Sock<'_, T> {
    fn clone(&self) -> Self {
        Self(self.0, PhantomData)
    }
}

impl<'a, T: SockData> Sock<'a, T> {
    /// Borrows the socket behind a raw `struct sock` pointer.
    ///
    /// # Safety
    ///
    /// `sk` must be a socket of our `struct proto` for `T`, with its state
    /// initialised, kept alive for `'a`.
    pub(crate) unsafe fn from_raw(sk: *mut bindings::sock) -> Option<Self> {
        NonNull::new(sk.cast::<SockObj<T>>()).map(|p| Self(p, PhantomData))
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.as_ptr().cast()
    }

    /// An identity for tables: the address of the sock, stable for its life.
    pub(crate) fn id(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Takes a new reference (`sock_hold`).
    pub(crate) fn to_ref(&self) -> SockRef<T> {
        // SAFETY: the sock is alive (type invariant).
        unsafe { bindings::afc_sock_hold(self.as_ptr()) };
        // INVARIANT: the reference just taken is the `SockRef`'s.
        SockRef(self.0)
    }

    /// The module's state of this socket.
    pub(crate) fn data(&self) -> &'a T {
        // SAFETY: `data` is initialised and lives as long as the socket
        // (type invariant); shared access only, `T` does its own locking.
        unsafe { &(*self.0.as_ptr()).data }
    }

    /// The network namespace of the socket.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: a socket holds a reference on its namespace.
        unsafe { Net::from_raw(bindings::afc_sock_net(self.as_ptr())) }
    }

    /// The owner's uid as the socket's namespace sees it.
    pub(crate) fn uid(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_uid(self.as_ptr()) }
    }

    /// The owner's kernel uid (`kuid_t`), for comparing owners: uids a
    /// namespace does not map all look alike through [`Sock::uid`].
    pub(crate) fn kuid(&self) -> u32 {
        // SAFETY: `sk` is valid (type invariant); `sk_uid` is set at creation.
        unsafe { bindings::afc_sock_kuid(self.as_ptr()) }
    }

    /// The address family the socket was created with (`sk_family`).
    pub(crate) fn family(&self) -> u16 {
        // SAFETY: the sock is valid (type invariant); `skc_family` is set
        // by `sk_alloc` and never changes.
        unsafe { (*self.as_ptr()).__sk_common.skc_family }
    }

    /// Whether `SO_REUSEADDR` is set.
    pub(crate) fn reuseaddr(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_reuseaddr(self.as_ptr()) }
    }

    /// Whether `SO_REUSEPORT` is set.
    pub(crate) fn reuseport(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_reuseport(self.as_ptr()) }
    }

    /// Sets `SO_REUSEPORT` (the socket lock is held).
    pub(crate) fn set_reuseport(&self, on: bool) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_reuseport(self.as_ptr(), on) }
    }

    /// Takes the socket lock (`lock_sock`, may sleep): process context only.
    pub(crate) fn lock(&self) -> SockGuard<'_, T> {
        // SAFETY: the sock is valid; process context is the caller's duty
        // (every `proto_ops` callback runs there).
        unsafe { bindings::afc_lock_sock(self.as_ptr()) };
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

    // ---- state the kernel's common code reads (poll, /proc, sockopts) ----

    /// `sk_state` (TCP state numbers).
    pub(crate) fn state(&self) -> u8 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_state(self.as_ptr()) as u8 }
    }

    pub(crate) fn set_state(&self, state: u8) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_state(self.as_ptr(), state.into()) }
    }

    /// `sk_shutdown`: `RCV_SHUTDOWN` and `SEND_SHUTDOWN` bits.
    pub(crate) fn shutdown_bits(&self) -> u8 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_shutdown(self.as_ptr()) as u8 }
    }

    pub(crate) fn add_shutdown(&self, bits: u8) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_add_shutdown(self.as_ptr(), bits.into()) }
    }

    /// Publishes the local and remote address (host order) in the
    /// `struct sock` for lockless readers (`/proc/net/af_custom`).
    pub(crate) fn set_addrs(&self, local: (u32, u16), remote: (u32, u16)) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_addrs(self.as_ptr(), local.0.to_be(), local.1, remote.0.to_be(), remote.1.to_be()) }
    }

    /// The published local and remote address (host order).
    pub(crate) fn addrs(&self) -> ((u32, u16), (u32, u16)) {
        let (mut sa, mut sp, mut da, mut dp) = (0u32, 0u16, 0u32, 0u16);
        // SAFETY: the sock is valid (type invariant); out-pointers writable.
        unsafe { bindings::afc_sk_addrs(self.as_ptr(), &mut sa, &mut sp, &mut da, &mut dp) };
        ((u32::from_be(sa), sp), (u32::from_be(da), u16::from_be(dp)))
    }

    /// The inode number of the socket's file (0 once orphaned).
    pub(crate) fn inode(&self) -> u64 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_i_ino(self.as_ptr()) as u64 }
    }

    /// Clears `sk_shutdown` (a socket made reusable after a failed connect).
    pub(crate) fn clear_shutdown(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_clear_shutdown(self.as_ptr()) }
    }

    /// The pending error (`sk_err`, positive errno), not consumed.
    pub(crate) fn err(&self) -> i32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_err(self.as_ptr()) }
    }

    /// Records `errno` as the pending error and reports it to waiters.
    pub(crate) fn set_err(&self, errno: i32) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_err(self.as_ptr(), errno) }
    }

    /// Takes the pending error (`sock_error`), if any.
    pub(crate) fn take_err(&self) -> Option<Error> {
        // SAFETY: the sock is valid (type invariant).
        let e = unsafe { bindings::afc_sock_error(self.as_ptr()) };
        (e != 0).then(|| Error::from_errno(e))
    }

    pub(crate) fn rcvbuf(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_rcvbuf(self.as_ptr()).max(0) as u32 }
    }

    pub(crate) fn sndbuf(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_sndbuf(self.as_ptr()).max(0) as u32 }
    }

    pub(crate) fn set_bufs(&self, rcvbuf: u32, sndbuf: u32) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_bufs(self.as_ptr(), rcvbuf as i32, sndbuf as i32) }
    }

    /// Bytes (truesize) charged to the receive side.
    pub(crate) fn rmem_alloc(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_rmem_alloc(self.as_ptr()).max(0) as u32 }
    }

    /// Bytes (truesize) charged to the send side.
    pub(crate) fn wmem_alloc(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_wmem_alloc(self.as_ptr()).max(0) as u32 }
    }

    /// How many bytes a read must gather before returning (`SO_RCVLOWAT`,
    /// or all with `MSG_WAITALL`).
    pub(crate) fn rcvlowat(&self, waitall: bool, len: usize) -> usize {
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_rcvlowat(self.as_ptr(), waitall, len).max(1) as usize }
    }

    /// Sets `SO_RCVLOWAT` (0 means 1, as `sock_setsockopt`).
    pub(crate) fn set_rcvlowat(&self, val: u32) {
        let v = i32::try_from(val.max(1)).unwrap_or(i32::MAX);
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_rcvlowat(self.as_ptr(), v) }
    }

    /// Sets the receive buffer (`sk_rcvbuf`), as the kernel itself grows
    /// it (not a user's `SO_RCVBUF`, so the buffer stays unlocked).
    pub(crate) fn set_rcvbuf(&self, bytes: u32) {
        let v = i32::try_from(bytes).unwrap_or(i32::MAX);
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_rcvbuf(self.as_ptr(), v) }
    }

    /// Whether the user set `SO_RCVBUF` (`SOCK_RCVBUF_LOCK`): the kernel
    /// then leaves the buffer as set.
    pub(crate) fn rcvbuf_locked(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_rcvbuf_locked(self.as_ptr()) }
    }

    /// `SO_RCVLOWAT` as set.
    pub(crate) fn rcvlowat_setting(&self) -> usize {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_rcvlowat(self.as_ptr()).max(1) as usize }
    }

    /// The receive timeout in jiffies (0 if `nonblock`).
    pub(crate) fn rcvtimeo(&self, nonblock: bool) -> i64 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_rcvtimeo(self.as_ptr(), nonblock) as i64 }
    }

    /// The send timeout in jiffies (0 if `nonblock`).
    pub(crate) fn sndtimeo(&self, nonblock: bool) -> i64 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_sndtimeo(self.as_ptr(), nonblock) as i64 }
    }

    /// `SO_LINGER`: `Some(jiffies)` when set.
    pub(crate) fn linger(&self) -> Option<i64> {
        let mut t: ffi::c_long = 0;
        // SAFETY: the sock is valid (type invariant); `t` is writable.
        let on = unsafe { bindings::afc_sock_linger(self.as_ptr(), &mut t) };
        on.then_some(t as i64)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub(crate) fn keepopen(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_keepopen(self.as_ptr()) }
    }

    /// Whether the socket was orphaned (`close()` ran; `SOCK_DEAD`).
    pub(crate) fn dead(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sock_dead(self.as_ptr()) }
    }

    /// The accept queue length `poll` and `/proc` read (`sk_ack_backlog`).
    pub(crate) fn set_ack_backlog(&self, len: u32, max: u32) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_ack_backlog(self.as_ptr(), len, max) }
    }

    pub(crate) fn ack_backlog_max(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_max_ack_backlog(self.as_ptr()) }
    }

    pub(crate) fn ack_backlog(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_ack_backlog(self.as_ptr()) }
    }

    // ---- wake-ups ----

    /// Data (or a connection, or end of file) is readable: `sk_data_ready`.
    pub(crate) fn data_ready(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_data_ready(self.as_ptr()) }
    }

    /// The state changed: `sk_state_change` (wakes every waiter).
    pub(crate) fn state_change(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_state_change(self.as_ptr()) }
    }

    /// Send space opened: `sk_write_space`.
    pub(crate) fn write_space(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_write_space(self.as_ptr()) }
    }

    /// Charges `skb` to the receive side (`skb_set_owner_r`).
    pub(crate) fn charge_rmem(&self, skb: &mut SkBuff) {
        // SAFETY: both are valid; the skb is ours and not owned by a sock.
        unsafe { bindings::afc_skb_set_owner_r(skb.as_ptr(), self.as_ptr()) }
    }

    /// Allocates `len` bytes of send buffer charged to the socket
    /// (`sock_wmalloc`); freeing it wakes writers.
    pub(crate) fn alloc_send_skb(&self, len: usize) -> Option<SkBuff> {
        let len = u32::try_from(len).ok()?;
        // SAFETY: the sock is valid (type invariant).
        let skb = unsafe { bindings::afc_sock_wmalloc(self.as_ptr(), len) };
        // SAFETY: a fresh skb whose only reference is ours.
        unsafe { SkBuff::from_raw_owned(skb) }
    }

    /// Sends `frame` (our header first) from `src` to `dst` over the
    /// route cached in the socket (looked up on first use and after the
    /// routing tables change).  The caller owns the socket.
    pub(crate) fn xmit(&self, frame: SkBuff, src: u32, dst: u32) -> Result {
        // SAFETY: valid sock, owned by the caller (which keeps the cached
        // route alive); the skb's ownership passes to afc_xmit_sk, which
        // sends or frees it.
        kernel::error::to_result(unsafe { bindings::afc_xmit_sk(self.as_ptr(), frame.into_raw(), src.to_be(), dst.to_be()) })
    }

    /// The device the socket is bound to (`SO_BINDTODEVICE`,
    /// `SO_BINDTOIFINDEX`), 0 for none.  Read without the socket lock, as
    /// the IPv4 lookups read `sk_bound_dev_if`.
    pub(crate) fn bound_dev_if(&self) -> i32 {
        // SAFETY: the sock is valid (type invariant); a `READ_ONCE`.
        unsafe { bindings::afc_sk_bound_dev_if(self.as_ptr()) }
    }

    /// Whether the socket takes `skb` (our header at its data): runs the
    /// socket filter (`SO_ATTACH_FILTER`, `SO_ATTACH_BPF`) and the LSM
    /// per-packet hook, as `tcp_filter`.  The frame is never cut short.
    pub(crate) fn filter_accepts(&self, skb: &mut SkBuff) -> bool {
        // SAFETY: valid sock and owned skb; `sk_filter_trim_cap` with the
        // frame's own length as the cap only reads the frame.
        unsafe { bindings::afc_sk_filter(self.as_ptr(), skb.as_ptr()) == 0 }
    }

    /// Forgets the cached route (the connection is over).
    pub(crate) fn dst_reset(&self) {
        // SAFETY: valid sock; sk_dst_reset swaps the pointer atomically.
        unsafe { bindings::afc_sk_dst_reset(self.as_ptr()) }
    }

    /// A send buffer of `len` bytes in page fragments, charged like
    /// [`Self::alloc_send_skb`]; frames reference its pages.
    pub(crate) fn alloc_send_paged(&self, len: usize) -> Option<SkBuff> {
        let len = u32::try_from(len).ok()?;
        // SAFETY: the sock is valid (type invariant).
        let skb = unsafe { bindings::afc_sock_alloc_paged(self.as_ptr(), len) };
        // SAFETY: a fresh skb whose only reference is ours.
        unsafe { SkBuff::from_raw_owned(skb) }
    }

    // ---- the one timer ----

    /// Arms the socket timer for `deadline_us` (on the `now_us` clock);
    /// the pending timer holds a reference on the socket.
    pub(crate) fn reset_timer(&self, deadline_us: u64) {
        let delta = deadline_us.saturating_sub(super::time::now_us());
        // SAFETY: no preconditions.
        let expires = unsafe { bindings::afc_jiffies().wrapping_add(bindings::afc_usecs_to_jiffies(delta)) };
        // SAFETY: the sock is valid and its timer set up in `SockObj::init`.
        unsafe { bindings::afc_sk_reset_timer(self.as_ptr(), expires) }
    }

    /// Stops the socket timer (dropping its reference if it was pending).
    pub(crate) fn stop_timer(&self) {
        // SAFETY: the sock is valid and its timer set up.
        unsafe { bindings::afc_sk_stop_timer(self.as_ptr()) }
    }

    /// Makes a child socket of this listener for a connection request
    /// (softirq; inherits owner, buffers and options).  The returned
    /// reference is the child's only one.
    pub(crate) fn alloc_child(&self) -> Option<SockRef<T>> {
        // SAFETY: the sock is valid; `afc_sk_alloc_child` allocates from
        // our `struct proto` (the parent's `sk_prot`).
        let sk = NonNull::new(unsafe { bindings::afc_sk_alloc_child(self.as_ptr()) })?;
        // SAFETY: a fresh sock of our proto after `sock_init_data`.
        unsafe { SockObj::<T>::init(sk.as_ptr()) };
        // INVARIANT: `sk_alloc`'s reference becomes the `SockRef`'s.
        Some(SockRef(sk.cast()))
    }
}

/// A counted reference to a socket (`sock_hold`/`sock_put`).
///
/// # Invariants
///
/// Owns one reference on the live `SockObj<T>` `self.0`.
pub(crate) struct SockRef<T: SockData>(NonNull<SockObj<T>>);

// SAFETY: socket references may be taken and dropped on any CPU; the
// state behind them does its own locking (`SockData: Send + Sync`).
unsafe impl<T: SockData> Send for SockRef<T> {}
// SAFETY: as above.
unsafe impl<T: SockData> Sync for SockRef<T> {}

impl<T: SockData> SockRef<T> {
    /// Borrows the socket for as long as this reference lives.
    pub(crate) fn sock(&self) -> Sock<'_, T> {
        // INVARIANT: our reference keeps it alive for the borrow.
        Sock(self.0, PhantomData)
    }

    /// Gives this reference to a new `struct socket` (from `accept`): the
    /// socket's `release` drops it.
    pub(crate) fn graft(self, socket: &Socket) {
        // SAFETY: both valid; `sock_graft` links them under the socket's
        // callback lock.
        unsafe { bindings::afc_sock_graft(self.0.as_ptr().cast(), socket.as_ptr()) };
        core::mem::forget(self);
    }
}

impl<T: SockData> Clone for SockRef<T> {
    fn clone(&self) -> Self {
        self.sock().to_ref()
    }
}

impl<T: SockData> Drop for SockRef<T> {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { bindings::afc_sock_put(self.0.as_ptr().cast()) };
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

    /// Sleeps until woken, a signal, or `timeo` jiffies pass; the lock is
    /// released meanwhile (the backlog is processed) and held again on
    /// return.  Returns the time left.
    pub(crate) fn wait(&mut self, timeo: i64) -> i64 {
        let t = ffi::c_long::try_from(timeo).unwrap_or(ffi::c_long::MAX);
        // SAFETY: we own the lock (type invariant); no borrow of `locked`
        // survives (`&mut self`).
        unsafe { bindings::afc_sk_wait(self.0.as_ptr().cast(), t) as i64 }
    }
}

impl<T: SockData> Drop for SockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we own the lock (type invariant).
        unsafe { bindings::afc_release_sock(self.0.as_ptr().cast()) };
    }
}

/// The socket spinlock held (`bh_lock_sock`) in softirq; released on drop.
///
/// # Invariants
///
/// The current CPU holds the spinlock of the live `SockObj` `self.0`.
pub(crate) struct BhSockGuard<'a, T: SockData>(NonNull<SockObj<T>>, PhantomData<&'a T>);

impl<'a, T: SockData> BhSockGuard<'a, T> {
    /// The owner's state, unless a process owns the socket now.
    pub(crate) fn locked(&mut self) -> Option<&mut T::Locked> {
        // SAFETY: the sock is valid (type invariant).
        if unsafe { bindings::afc_sock_owned_by_user(self.0.as_ptr().cast()) } {
            return None;
        }
        // SAFETY: we hold the spinlock and no process owns the socket, so
        // we are its owner until the guard drops; `&mut self` keeps the
        // borrow unique.
        Some(unsafe { &mut *(*self.0.as_ptr()).locked.get() })
    }


    /// Queues `skb` on the backlog for the owner; gives it back when the
    /// backlog is over its limit.
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
    }
}

/// `backlog_rcv` of `struct proto`.
///
/// # Safety
///
/// Called by `release_sock` (`sk_backlog_rcv`) for one of our socks, still
/// owned by the caller, with a frame it queued on the backlog (ours now).
pub(crate) unsafe extern "C" fn backlog_rcv<T: SockData>(sk: *mut bindings::sock, skb: *mut bindings::sk_buff) -> ffi::c_int {
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

/// `set_rcvlowat` of `proto_ops` (from `sk_setsockopt`, socket owned).
///
/// # Safety
///
/// Called by `sk_setsockopt` (`SO_RCVLOWAT`) for one of our socks with the
/// socket lock owned and `val` not negative.
pub(crate) unsafe extern "C" fn set_rcvlowat<T: SockData>(sk: *mut bindings::sock, val: ffi::c_int) -> ffi::c_int {
    // SAFETY: `sk_setsockopt` calls it for one of our socks (the
    // `proto_ops` are ours) with the socket lock owned (`sockopt_lock_sock`:
    // SO_RCVLOWAT is not among the options set without the lock), and
    // `val >= 0` (negative values are turned into `INT_MAX` before).
    unsafe {
        let obj = sk.cast::<SockObj<T>>();
        match Sock::<T>::from_raw(sk) {
            Some(s) => kernel::error::from_result(|| T::set_rcvlowat(&s, &mut *(*obj).locked.get(), val.max(0)).map(|()| 0)),
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
unsafe extern "C" fn timer_fn<T: SockData>(t: *mut bindings::timer_list) {
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

/// `struct socket` states (`socket_state`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum SocketState {
    Unconnected = 1,
    Connecting = 2,
    Connected = 3,
    Disconnecting = 4,
}

/// A `struct socket`, borrowed for the duration of a `proto_ops` call.
///
/// # Invariants
///
/// Wraps a valid `struct socket` that outlives the borrow.
#[repr(transparent)]
pub(crate) struct Socket(Opaque<bindings::socket>);

impl Socket {
    /// Borrows a socket from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::socket) -> &'a Self {
        // SAFETY: transparent wrapper; validity guaranteed by the caller.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::socket {
        self.0.get()
    }

    /// The socket type (`SOCK_STREAM`, ...).
    pub(crate) fn type_(&self) -> u32 {
        // SAFETY: the socket is valid (type invariant).
        unsafe { (*self.0.get()).type_ as u32 }
    }

    /// `socket->state`.
    pub(crate) fn state(&self) -> SocketState {
        // SAFETY: the socket is valid (type invariant).
        match unsafe { bindings::afc_socket_state(self.0.get()) } {
            2 => SocketState::Connecting,
            3 => SocketState::Connected,
            4 => SocketState::Disconnecting,
            _ => SocketState::Unconnected,
        }
    }

    /// Sets `socket->state` (callers hold the socket lock).
    pub(crate) fn set_state(&self, state: SocketState) {
        // SAFETY: the socket is valid (type invariant).
        unsafe { bindings::afc_sk_set_socket_state(self.0.get(), state as i32) }
    }

}

/// A signal is pending for the current task.
pub(crate) fn signal_pending() -> bool {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_signal_pending() }
}

/// The errno for a wait cut short by a signal (`sock_intr_errno`).
pub(crate) fn intr_errno(timeo: i64) -> Error {
    let t = ffi::c_long::try_from(timeo).unwrap_or(ffi::c_long::MAX);
    // SAFETY: no preconditions.
    Error::from_errno(unsafe { bindings::afc_sock_intr_errno(t) })
}

/// Sends `SIGPIPE` to the current task (a write on a closed stream).
pub(crate) fn send_sigpipe() {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_send_sigpipe() }
}


// SPDX-License-Identifier: GPL-2.0

//! Sockets: the `struct sock` with the module's state behind it (`SockObj`,
//! borrowed as [`Sock`], counted as [`SockRef`]).  Its locks are in
//! `lock`, its skb queues in `queues`, the callbacks the kernel calls on it
//! in `callbacks`; the `struct socket` of `proto_ops` is `abstractions::socket`.
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

use crate::abstractions::bindings;
use crate::abstractions::netns::Net;
use crate::abstractions::pernet::PernetState;
use crate::abstractions::skb::SkBuff;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;

/// The Rust state of a socket, kept in the same allocation as its
/// `struct sock`, and the protocol callbacks of `struct proto`.
pub(crate) trait SockData: Sized + Send + Sync {
    /// The part of the state that only the socket's owner may touch.
    type Locked: Send;
    /// The module's per-namespace state these sockets live in: one type
    /// per socket type, and it names this one back
    /// ([`PernetState::Sock`]), so [`Sock::net_state`] needs no type
    /// argument to get wrong.
    type Pernet: PernetState<Sock = Self>;
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
    /// `struct proto`'s `ioctl` (io_uring's `SIOCINQ`/`SIOCOUTQ` socket
    /// commands; process context, no lock held): the int `cmd` answers,
    /// or `ENOIOCTLCMD`.
    fn ioctl(sk: &Sock<'_, Self>, cmd: u32) -> Result<i32>;
}

/// The object `sk_alloc` allocates for our `struct proto` (`obj_size`).
#[repr(C)]
pub(crate) struct SockObj<T: SockData> {
    sk: bindings::sock,
    data: T,
    locked: UnsafeCell<T::Locked>,
    /// The module's state of the socket's namespace (`afc_net_data` of
    /// `sock_net`, read once here instead of through `net_generic` on
    /// every frame); see [`Sock::net_state`].
    net_state: *const core::ffi::c_void,
}

mod callbacks;
mod child;
mod lock;
mod queues;

use crate::abstractions::socket::Socket;
use callbacks::timer_fn;
pub(crate) use callbacks::{backlog_rcv, ioctl, keepalive, release_cb, set_rcvlowat, sk_destruct};
pub(crate) use child::{NewChild, SockFlag, SockSetting};
pub(crate) use lock::SockGuard;
pub(crate) use queues::SockQueues;

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
            // `sk_net` is set by `sk_alloc` and never changes.
            let net = (*sk).__sk_common.skc_net.net;
            core::ptr::addr_of_mut!((*obj).net_state).write(bindings::afc_net_data(net));
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

    pub(in crate::abstractions) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.as_ptr().cast()
    }

    /// An identity for tables: the address of the sock, stable for its life.
    pub(crate) fn id(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The module's state of the socket's namespace, as
    /// [`pernet::state`](crate::abstractions::pernet::state) of
    /// [`Sock::net`] answers, without its `net_generic` call.
    pub(crate) fn net_state(&self) -> &'a T::Pernet {
        // SAFETY: `net_state` was set by `SockObj::init` to the namespace's
        // state, made by the one registered `PernetRegistration`, which
        // only `T::Pernet` can be (its bound; `afc_pernet_register`
        // refuses a second).  A user socket (and
        // every child: `afc_sk_alloc_child` allocates with kern=0) holds a
        // reference on its namespace, whose state is freed only when the
        // namespace is dismantled (after its last socket) or when the
        // pernet registration is dropped (after every socket of the
        // module: `crate::AfCustom`'s field order), so it outlives `'a`.
        // A kernel socket (`sock_create_kern`, kern=1) holds one too:
        // `create` takes it (`afc_sk_kern_hold_net`), `sk_destruct` puts it.
        unsafe { &*(*self.0.as_ptr()).net_state.cast::<T::Pernet>() }
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
        // SAFETY: the sock is valid (type invariant); `sk_net` is set at
        // allocation and never changes; a socket holds a reference on its
        // namespace (`sock_net`, read here without a C call: every frame
        // and every `drive` asks).
        unsafe { Net::from_raw((*self.as_ptr()).__sk_common.skc_net.net) }
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

    /// Whether `SO_REUSEADDR` is set (`sk_reuse` is not `SK_NO_REUSE`, 0).
    pub(crate) fn reuseaddr(&self) -> bool {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_reuse(self.as_ptr()) != 0 }
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

    // ---- state the kernel's common code reads (poll, /proc, sockopts) ----

    /// `sk_state` (TCP state numbers).
    ///
    /// Read and written here rather than through C helpers: every frame
    /// and every `drive` touch it.
    pub(crate) fn state(&self) -> u8 {
        // SAFETY: the sock is valid (type invariant); the field is a byte,
        // and a volatile read of it is `READ_ONCE`.
        unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).__sk_common.skc_state))
        }
    }

    pub(crate) fn set_state(&self, state: u8) {
        // SAFETY: the sock is valid (type invariant); the field is a byte,
        // and a volatile write of it is `WRITE_ONCE`.
        unsafe {
            core::ptr::write_volatile(
                core::ptr::addr_of_mut!((*self.as_ptr()).__sk_common.skc_state),
                state,
            )
        }
    }

    /// `sk_shutdown`: `RCV_SHUTDOWN` and `SEND_SHUTDOWN` bits.
    pub(crate) fn shutdown_bits(&self) -> u8 {
        // SAFETY: the sock is valid (type invariant); a volatile read of
        // the byte is `READ_ONCE`.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_shutdown)) }
    }

    pub(crate) fn add_shutdown(&self, bits: u8) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_add_shutdown(self.as_ptr(), bits.into()) }
    }

    /// Publishes the local and remote address (host order) in the
    /// `struct sock` for lockless readers (`/proc/net/af_custom`).
    pub(crate) fn set_addrs(&self, local: (u32, u16), remote: (u32, u16)) {
        // SAFETY: the sock is valid (type invariant).
        unsafe {
            bindings::afc_sk_set_addrs(
                self.as_ptr(),
                local.0.to_be(),
                local.1,
                remote.0.to_be(),
                remote.1.to_be(),
            )
        }
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
        unsafe { bindings::sock_i_ino(self.as_ptr()) as u64 }
    }

    /// Clears `sk_shutdown` (a socket made reusable after a failed connect).
    pub(crate) fn clear_shutdown(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_clear_shutdown(self.as_ptr()) }
    }

    /// The pending error (`sk_err`, positive errno), not consumed.
    pub(crate) fn err(&self) -> i32 {
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_err)) }
    }

    /// Records `errno` as the pending error and reports it to waiters.
    pub(crate) fn set_err(&self, errno: i32) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_err(self.as_ptr(), errno) }
    }

    /// Takes the pending error (`sock_error`), if any.
    pub(crate) fn take_err(&self) -> Option<Error> {
        // `sock_error`'s own first test, without a C call (every read
        // that waits asks).
        if self.err() == 0 {
            return None;
        }
        // SAFETY: the sock is valid (type invariant).
        let e = unsafe { bindings::afc_sock_error(self.as_ptr()) };
        (e != 0).then(|| Error::from_errno(e))
    }

    pub(crate) fn rcvbuf(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_rcvbuf)).max(0) as u32 }
    }

    pub(crate) fn sndbuf(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_sndbuf)).max(0) as u32 }
    }

    pub(crate) fn set_bufs(&self, rcvbuf: u32, sndbuf: u32) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_bufs(self.as_ptr(), rcvbuf as i32, sndbuf as i32) }
    }

    /// Bytes (truesize) charged to the receive side.
    pub(crate) fn rmem_alloc(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant); `atomic_read` of
        // `sk_rmem_alloc` is a volatile read of its counter.
        unsafe {
            read_once(core::ptr::addr_of!(
                (*self.as_ptr()).sk_backlog.rmem_alloc.counter
            ))
            .max(0) as u32
        }
    }

    /// Bytes (truesize) the write queue holds (`sk_wmem_queued`): the
    /// send buffer's use, as `sk_stream_memory_free` counts TCP's.  The
    /// queue's buffers are not owned by the socket (`sk_wmem_alloc` does
    /// not count them): the queue charges them itself (`WriteQueue`).
    pub(crate) fn wmem_queued(&self) -> u32 {
        // SAFETY: the sock is valid (type invariant); the owner writes the
        // field with `WRITE_ONCE` (`WriteQueue`), lockless readers such as
        // `poll` read it once.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_wmem_queued)).max(0) as u32 }
    }

    /// How many bytes a read must gather before returning (`SO_RCVLOWAT`,
    /// or all with `MSG_WAITALL`).
    pub(crate) fn rcvlowat(&self, waitall: bool, len: usize) -> usize {
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        // `sock_rcvlowat`, without a C call (every read asks).
        let v = if waitall {
            len
        } else {
            // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
            unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_rcvlowat)) }.min(len)
        };
        v.max(1) as usize
    }

    /// Where a `MSG_PEEK` read starts (`SO_PEEK_OFF`, 0 when unset or
    /// without `MSG_PEEK`), as `sk_peek_offset`.
    pub(crate) fn peek_offset(&self, flags: u32) -> usize {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_peek_offset(self.as_ptr(), flags as i32).max(0) as usize }
    }

    /// Moves `SO_PEEK_OFF` (if set) forward past `n` bytes peeked
    /// (`sk_peek_offset_fwd`) or, `forward` false, back by `n` bytes read
    /// (`sk_peek_offset_bwd`).
    pub(crate) fn move_peek_offset(&self, n: usize, forward: bool) {
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`, as the
        // C functions test it first: unset (negative) on almost every
        // socket, so every read need not call them.
        if unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_peek_off)) } < 0 {
            return;
        }
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        // SAFETY: the sock is valid (type invariant); the caller owns it.
        unsafe {
            if forward {
                bindings::afc_sk_peek_offset_fwd(self.as_ptr(), n)
            } else {
                bindings::afc_sk_peek_offset_bwd(self.as_ptr(), n)
            }
        }
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
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
        let locks = unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_userlocks)) };
        u32::from(locks) & bindings::SOCK_RCVBUF_LOCK != 0
    }

    /// `SO_RCVLOWAT` as set.
    pub(crate) fn rcvlowat_setting(&self) -> usize {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_rcvlowat(self.as_ptr()).max(1) as usize }
    }

    /// The receive timeout in jiffies (0 if `nonblock`).
    pub(crate) fn rcvtimeo(&self, nonblock: bool) -> i64 {
        if nonblock {
            return 0;
        }
        // `sock_rcvtimeo`, without a C call.
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_rcvtimeo)) as i64 }
    }

    /// The send timeout in jiffies (0 if `nonblock`).
    pub(crate) fn sndtimeo(&self, nonblock: bool) -> i64 {
        if nonblock {
            return 0;
        }
        // `sock_sndtimeo`, without a C call.
        // SAFETY: the sock is valid (type invariant); `READ_ONCE`.
        unsafe { read_once(core::ptr::addr_of!((*self.as_ptr()).sk_sndtimeo)) as i64 }
    }

    /// `SO_LINGER`: `Some(jiffies)` when set.
    pub(crate) fn linger(&self) -> Option<i64> {
        let t = self.lingertime();
        self.flag(SockFlag::Linger).then_some(t as i64)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub(crate) fn keepopen(&self) -> bool {
        self.flag(SockFlag::KeepOpen)
    }

    /// Whether the socket was orphaned (`close()` ran; `SOCK_DEAD`).
    pub(crate) fn dead(&self) -> bool {
        self.flag(SockFlag::Dead)
    }

    /// Whether urgent data is read inline (`SO_OOBINLINE`, `SOCK_URGINLINE`).
    pub(crate) fn urg_inline(&self) -> bool {
        self.flag(SockFlag::UrgInline)
    }

    /// Announces urgent data: `SIGURG` to the socket's owner (`F_SETOWN`)
    /// and `POLL_PRI` to `O_ASYNC` users (`sk_send_sigurg`).
    pub(crate) fn send_sigurg(&self) {
        // SAFETY: the sock is valid (type invariant); `sk_send_sigurg`
        // checks for a socket and a file itself and may run in softirq.
        unsafe { bindings::sk_send_sigurg(self.as_ptr()) }
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
        let sk = self.as_ptr();
        // SAFETY: the sock is valid (type invariant); `sk_data_ready` is
        // set at `sock_init_data` and only replaced by its users (e.g. a
        // kernel user of the socket) with another valid callback, read once
        // (`READ_ONCE` in C callers that race with such a change).
        unsafe {
            if let Some(f) = read_once(core::ptr::addr_of!((*sk).sk_data_ready)) {
                f(sk)
            }
        }
    }

    /// The state changed: `sk_state_change` (wakes every waiter).
    pub(crate) fn state_change(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_state_change(self.as_ptr()) }
    }

    /// Wakes writers and `POLLOUT` pollers whatever the send buffer's
    /// use (`AFC_NOTSENT_LOWAT` opened), as `sk_stream_write_space`.
    pub(crate) fn wake_writers(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_wake_writers(self.as_ptr()) }
    }

    /// Send space opened: wakes writers and `POLLOUT` pollers if one
    /// found no room ([`Sock::set_nospace`]) and at most half the send
    /// buffer is now in use (`tcp_check_space`).  Called under the
    /// socket lock.
    pub(crate) fn write_space(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_write_space(self.as_ptr()) }
    }

    /// A writer found no room, or a poller found the socket not
    /// writable: the next [`Sock::write_space`] that finds room wakes
    /// them (`SOCK_NOSPACE`).  The caller looks at the room again after
    /// this, before it sleeps or reports no room.
    pub(crate) fn set_nospace(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_set_nospace(self.as_ptr()) }
    }

    /// Makes freed send buffers wake nobody by themselves
    /// (`SOCK_USE_WRITE_QUEUE`): [`Sock::write_space`] does, when a
    /// writer waits.  Called once, on a new socket.
    pub(crate) fn init_wakeups(&self) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { bindings::afc_sk_init_wakeups(self.as_ptr()) }
    }

    /// Stamps a received data buffer as IPv4's input does (a delivery
    /// time becomes a receive stamp) and, if this socket asks for receive
    /// timestamps and the stack has not stamped it, with the time now.
    pub(crate) fn rx_stamp(&self, skb: &mut SkBuff) {
        // Nothing to do (the usual case, decided without a C call and
        // with one test): no delivery time to clear, and a stamp already
        // or none asked for.
        let asks = self.any_flag(SockFlag::RcvTstamp, SockFlag::RxSoftwareStamps);
        let work =
            u8::from(skb.has_delivery_time()) | (u8::from(skb.tstamp() == 0) & u8::from(asks));
        // Kept from being split back into a branch per term.
        if core::hint::black_box(work) == 0 {
            return;
        }
        // SAFETY: both are valid; the skb is ours.
        unsafe { bindings::afc_skb_rx_stamp(skb.as_ptr(), self.as_ptr()) }
    }

    /// Appends to `msg` the receive timestamps this socket asked for
    /// (`SO_TIMESTAMP`, `SO_TIMESTAMPNS`, `SO_TIMESTAMPING`), as
    /// `tcp_recv_timestamp` does for the last buffer read, stamped `ns`.
    pub(crate) fn put_recv_timestamp(&self, msg: &mut crate::abstractions::msg::MsgHdr, ns: i64) {
        // SAFETY: the sock is valid (type invariant).
        unsafe { msg.recv_timestamp(self.as_ptr(), ns) }
    }

    /// Charges `skb` to the receive side (`skb_set_owner_r`).
    pub(crate) fn charge_rmem(&self, skb: &mut SkBuff) {
        // SAFETY: both are valid; the skb is ours and not owned by a sock.
        unsafe { bindings::afc_skb_set_owner_r(skb.as_ptr(), self.as_ptr()) }
    }

    /// Allocates `len` bytes of linear send buffer charged to the socket
    /// (as `sock_wmalloc`), with headroom for a frame header of `hdr_len`
    /// bytes: a segment that is exactly this buffer leaves as its clone
    /// ([`QueuedSkb::clone_for_send`]).
    pub(crate) fn alloc_send_skb(&self, len: usize, hdr_len: usize) -> Option<SkBuff> {
        let len = u32::try_from(len).ok()?;
        let hdr_len = u32::try_from(hdr_len).ok()?;
        // SAFETY: the sock is valid (type invariant).
        let skb = unsafe { bindings::afc_sock_alloc_linear(self.as_ptr(), len, hdr_len) };
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
        crate::abstractions::errno::check(unsafe {
            bindings::afc_xmit_sk(self.as_ptr(), frame.into_raw(), src.to_be(), dst.to_be())
        })
    }

    /// The device the socket is bound to (`SO_BINDTODEVICE`,
    /// `SO_BINDTOIFINDEX`), 0 for none.  Read without the socket lock, as
    /// the IPv4 lookups read `sk_bound_dev_if`.
    ///
    /// Read here rather than through a C helper: the lookups of every
    /// frame and every ephemeral port candidate read it (a call per read
    /// showed in the crr profile on veth).
    pub(crate) fn bound_dev_if(&self) -> i32 {
        // SAFETY: the sock is valid (type invariant); the field is an
        // aligned `int` that `sock_bindtoindex_locked` writes with
        // `WRITE_ONCE`, and a volatile read of it is `READ_ONCE`, as the
        // IPv4 lookups read it.
        unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!(
                (*self.as_ptr()).__sk_common.skc_bound_dev_if
            ))
        }
    }

    /// Whether the socket takes `skb` (our header at its data): runs the
    /// socket filter (`SO_ATTACH_FILTER`, `SO_ATTACH_BPF`) and the LSM
    /// per-packet hook, as `tcp_filter`.  The frame is never cut short.
    pub(crate) fn filter_accepts(&self, skb: &mut SkBuff) -> bool {
        let p = skb.as_ptr();
        // SAFETY: valid sock and owned skb; `sk_filter_trim_cap` with the
        // frame's own length as the cap only reads the frame (a filter may
        // drop a segment but not cut it short: the header's length and
        // checksum cover the whole payload).  Called directly, as
        // `tcp_filter` does, rather than through a C wrapper: every frame
        // for a connection asks.
        unsafe { bindings::sk_filter_trim_cap(self.as_ptr(), p, (*p).len) == 0 }
    }

    /// Forgets the cached route (the connection is over).
    pub(crate) fn dst_reset(&self) {
        // SAFETY: valid sock; sk_dst_reset swaps the pointer atomically.
        unsafe { bindings::afc_sk_dst_reset(self.as_ptr()) }
    }

    /// A send buffer of `len` bytes in page fragments, charged like
    /// [`Self::alloc_send_skb`], with room in front for a frame header
    /// of `hdr_len` bytes: a segment that is all of it leaves as its clone
    /// ([`QueuedSkb::clone_for_send`]), others reference its pages.
    ///
    /// [`QueuedSkb::clone_for_send`]: crate::abstractions::skb::QueuedSkb::clone_for_send
    pub(crate) fn alloc_send_paged(&self, len: usize, hdr_len: usize) -> Option<SkBuff> {
        let len = u32::try_from(len).ok()?;
        let hdr_len = u32::try_from(hdr_len).ok()?;
        // SAFETY: the sock is valid (type invariant).
        let skb = unsafe { bindings::afc_sock_alloc_paged(self.as_ptr(), len, hdr_len) };
        // SAFETY: a fresh skb whose only reference is ours.
        unsafe { SkBuff::from_raw_owned(skb) }
    }

    // ---- the one timer ----

    /// Arms the socket timer for `deadline_us` (on the `now_us` clock,
    /// which read `now_us` a moment ago); the pending timer holds a
    /// reference on the socket.  Inlined: it is called in every `drive`
    /// that moves the timer, and a call pages away costs more under TCG
    /// than its body.
    #[inline]
    pub(crate) fn reset_timer(&self, deadline_us: u64, now_us: u64) {
        let delta = deadline_us.saturating_sub(now_us);
        // SAFETY: `jiffies` is the kernel's tick counter, an aligned word
        // read once (it is `volatile` in C); the conversion has no
        // preconditions.
        let expires = unsafe {
            read_once(core::ptr::addr_of!(bindings::jiffies))
                .wrapping_add(bindings::afc_usecs_to_jiffies(delta))
        };
        // SAFETY: the sock is valid and its timer set up in `SockObj::init`.
        unsafe {
            bindings::sk_reset_timer(
                self.as_ptr(),
                bindings::afc_sk_timer(self.as_ptr()),
                expires,
            )
        }
    }

    /// Stops the socket timer (dropping its reference if it was pending).
    pub(crate) fn stop_timer(&self) {
        // SAFETY: the sock is valid and its timer set up.
        unsafe { bindings::sk_stop_timer(self.as_ptr(), bindings::afc_sk_timer(self.as_ptr())) }
    }

    /// Makes a child socket of this listener for a connection request
    /// (softirq): allocated under the listener's memory cgroup, of its
    /// type and protocol; then `inherit` gives it what else it takes from
    /// the listener, before anyone else can see it.  `None` if the
    /// allocation or `inherit` fails (the child is freed).  The returned
    /// reference is the child's only one.
    pub(crate) fn alloc_child(
        &self,
        inherit: impl FnOnce(&mut NewChild<'_>, &Self) -> Result,
    ) -> Option<SockRef<T>> {
        // SAFETY: the sock is valid; `afc_sk_alloc_child` allocates from
        // our `struct proto` (the parent's `sk_prot`).
        let sk = NonNull::new(unsafe { bindings::afc_sk_alloc_child(self.as_ptr()) })?;
        // INVARIANT: a fresh sock of our proto after `sock_init_data`,
        // which only this function knows; the `NewChild` is only lent.
        let mut child = NewChild(sk, PhantomData);
        if inherit(&mut child, self).is_err() {
            // SAFETY: `sk_alloc`'s reference, ours; nothing else knows the
            // sock, and its destructor is still `sock_init_data`'s (the
            // module's state was never made), so `sk_free` only releases
            // what the allocation and `inherit` took.
            unsafe { bindings::sk_free(sk.as_ptr()) };
            return None;
        }
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

/// `READ_ONCE` of a field of a live kernel object.
///
/// # Safety
///
/// `p` must point to a valid, aligned `T` for the duration of the read.
unsafe fn read_once<T: Copy>(p: *const T) -> T {
    // SAFETY: valid and aligned per the caller; a volatile read is what
    // `READ_ONCE` does for a scalar.
    unsafe { core::ptr::read_volatile(p) }
}

// SPDX-License-Identifier: GPL-2.0

//! `sendmsg(2)` and `recvmsg(2)`, with `tcp_sendmsg`/`tcp_recvmsg`'s
//! waits and errnos.

use super::conn::{self, RCV_SHUTDOWN, SEND_SHUTDOWN};
use super::{addr, opts, AfcSock, AfcSockLocked, Role};
use crate::abstractions::errno::ENOTCONN;
use crate::abstractions::msg::MsgHdr;
use crate::abstractions::skb::QueuedSkb;
use crate::abstractions::sock::{Sock, SockGuard};
use crate::abstractions::socket::{intr_errno, send_sigpipe, signal_pending};
use crate::abstractions::uapi::{
    MSG_DONTWAIT, MSG_ERRQUEUE, MSG_MORE, MSG_NOSIGNAL, MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_WAITALL,
};
use crate::proto::conn::SendError;
use crate::proto::state::State;
use crate::proto::tuple::Endpoint;
use crate::proto::urgent::{ReadLimit, UrgentRecvError};
use crate::proto::wire::HEADER_LEN;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// How long a writer waits for socket memory before looking again, in
/// jiffies (`sk_stream_wait_memory` waits a random 2 to 200 ms).
const MEM_WAIT: i64 = 50;

/// Sleeps for at most `slice` jiffies of the `timeo` left (woken early by
/// the socket's wait queue); returns what is left of `timeo`.
fn wait_slice(g: &mut SockGuard<'_, AfcSock>, timeo: i64, slice: i64) -> i64 {
    let s = timeo.min(slice);
    let left = g.wait(s);
    if timeo == i64::MAX {
        timeo
    } else {
        timeo - (s - left)
    }
}

/// The largest send buffer chunk: one frame's payload on loopback, so a
/// chunk fits one page-allocator block with its `skb_shared_info`.
const CHUNK: usize = 63 * 1024;

/// `EPIPE`, with `SIGPIPE` unless `MSG_NOSIGNAL`, or the pending error
/// (`sk_stream_error`).
fn stream_error(sk: &Sock<'_, AfcSock>, flags: u32) -> Error {
    let e = sk.take_err().unwrap_or(EPIPE);
    if e == EPIPE && flags & MSG_NOSIGNAL == 0 {
        send_sigpipe();
    }
    e
}

/// Waits while the connection is being set up; `Err` when it is not (and
/// will not be) able to send.
fn wait_connected(g: &mut SockGuard<'_, AfcSock>, timeo: &mut i64, flags: u32) -> Result {
    let sk = g.sock();
    loop {
        if sk.err() != 0 {
            return Err(stream_error(&sk, flags));
        }
        let state = match &g.locked().role {
            Role::Conn(c) => c.conn.state(),
            _ => State::Closed,
        };
        match state {
            State::Established | State::CloseWait => return Ok(()),
            State::SynSent | State::SynRecv => {}
            _ => return Err(stream_error(&sk, flags)),
        }
        if *timeo == 0 {
            return Err(EAGAIN);
        }
        if signal_pending() {
            return Err(intr_errno(*timeo));
        }
        *timeo = g.wait(*timeo);
    }
}

pub(crate) fn sendmsg(
    sk: &Sock<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
    flags: u32,
) -> Result<usize> {
    let mut g = sk.lock();
    let r = if flags & !(MSG_DONTWAIT | MSG_NOSIGNAL) == 0 {
        match send_plain(sk, &mut g, msg, len) {
            Some(r) => r,
            None => sendmsg_locked(sk, &mut g, msg, len, flags),
        }
    } else {
        sendmsg_locked(sk, &mut g, msg, len, flags)
    };
    // `MSG_OOB`: the last byte written is urgent (`tcp_push` →
    // `tcp_mark_urg`, also after a partial write); the last chunk was
    // marked before it was pushed, this covers a write cut short.
    if flags & MSG_OOB != 0 && matches!(r, Ok(n) if n > 0) {
        if let Role::Conn(c) = &mut g.locked().role {
            c.conn.mark_urgent();
        }
        conn::drive(sk, g.locked());
    }
    r
}

/// The plain write: a short write (below [`conn::PAGED_MIN`]) without
/// flags (but `MSG_DONTWAIT`, `MSG_NOSIGNAL`) on an established
/// connection with room for all of it in the send buffer and the core's
/// queue, no error and no shutdown: one linear buffer, queued and pushed,
/// the write of every exchange.  Anything else, it leaves to
/// [`sendmsg_locked`] before it changed anything (`None`; the user's
/// buffers as they were): a fault part-way, no memory now, any other
/// state.  One test where the general loop has a branch per rare case:
/// under QEMU's TCG a write's time follows the blocks it runs
/// (docs/PERFORMANCE.md, session 26).
fn send_plain(
    sk: &Sock<'_, AfcSock>,
    g: &mut SockGuard<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
) -> Option<Result<usize>> {
    let len = len.min(msg.data_left());
    let room = (sk.sndbuf() as usize).saturating_sub(sk.wmem_queued() as usize);
    let st = g.locked();
    let Role::Conn(c) = &mut st.role else {
        return None;
    };
    let not_plain = u8::from(len == 0)
        | u8::from(len >= conn::PAGED_MIN)
        | u8::from(len > room)
        | u8::from(len > c.conn.enqueue_room() as usize)
        | u8::from(c.conn.state() != State::Established)
        | u8::from(sk.err() != 0)
        | (sk.shutdown_bits() & SEND_SHUTDOWN)
        | u8::from(sk.data().notsent_full(false));
    // One test: kept from being split back into a branch per term.
    if core::hint::black_box(not_plain) != 0 {
        return None;
    }
    let mut skb = sk.alloc_send_skb(len, HEADER_LEN)?;
    if !sk.wmem_schedule(skb.truesize()) {
        return None;
    }
    match skb.copy_from_msg(0, msg, len) {
        Ok(n) if n >= len => {}
        Ok(n) => {
            // A fault part-way: the general loop sends and reports what
            // it copies, from the user's buffers as they were.
            msg.revert(n);
            return None;
        }
        Err(_) => return None,
    }
    // `enqueue_room` promised them, as `append_to_tail` relies on.
    if !matches!(c.conn.enqueue(len as u32), Ok(n) if n as usize == len) {
        c.conn.abort();
        conn::drive(sk, st);
        return Some(Err(EPIPE));
    }
    sk.data().clear_mem_wait();
    // Not `MSG_MORE`: this write's partial segment goes (`tcp_push`).
    c.conn.set_more(false);
    st.queues.write().push(skb);
    conn::drive(sk, st);
    Some(Ok(len))
}

fn sendmsg_locked(
    sk: &Sock<'_, AfcSock>,
    g: &mut SockGuard<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
    flags: u32,
) -> Result<usize> {
    let mut timeo = sk.sndtimeo(flags & MSG_DONTWAIT != 0);
    let mut sent = 0usize;
    let len = len.min(msg.data_left());
    // A large write goes in pages, all of it (its small tail too: a
    // segment straddling a linear buffer would have to be copied).
    let paged = len >= conn::PAGED_MIN;
    // `MSG_MORE` holds this call's partial segment as the cork does,
    // until a send without it (`tcp_push` with `TCP_NAGLE_CORK`).
    if let Role::Conn(c) = &mut g.locked().role {
        c.conn.set_more(flags & MSG_MORE != 0);
    }
    loop {
        if let Err(e) = wait_connected(g, &mut timeo, flags) {
            return if sent > 0 { Ok(sent) } else { Err(e) };
        }
        if sk.shutdown_bits() & SEND_SHUTDOWN != 0 {
            return if sent > 0 {
                Ok(sent)
            } else {
                Err(stream_error(sk, flags))
            };
        }
        if sent == len {
            return Ok(sent);
        }
        // No room: the send buffer is full, or `AFC_NOTSENT_LOWAT` bytes
        // wait to be sent (`sk_stream_memory_free`).
        let space = if sk.data().notsent_full(false) {
            0
        } else {
            (sk.sndbuf() as usize).saturating_sub(sk.wmem_queued() as usize)
        };
        if space == 0 {
            // Full: push what is queued, then wait for acknowledgements;
            // the one that frees room wakes us, or the `POLLOUT` an
            // `EAGAIN` promises (`sk_stream_wait_memory`).
            sk.set_nospace();
            conn::drive(sk, g.locked());
            if timeo == 0 {
                return if sent > 0 { Ok(sent) } else { Err(EAGAIN) };
            }
            if signal_pending() {
                return if sent > 0 {
                    Ok(sent)
                } else {
                    Err(intr_errno(timeo))
                };
            }
            timeo = g.wait(timeo);
            continue;
        }
        // A large write first fills the paged buffer at the tail of the
        // write queue (`tcp_sendmsg_locked` fills its tail skb up to
        // `size_goal`), so that a full segment is one whole buffer,
        // which leaves as its clone (`conn::transmit`).  What the user's
        // buffer or memory cut short, the next round (a new buffer)
        // answers for.
        if paged {
            if let Some(n) = append_to_tail(sk, g, msg, (len - sent).min(space)) {
                sent += n;
                if flags & MSG_OOB != 0 && sent == len {
                    if let Role::Conn(c) = &mut g.locked().role {
                        c.conn.mark_urgent();
                    }
                }
                conn::drive(sk, g.locked());
                continue;
            }
        }
        let chunk = (len - sent).min(space).min(CHUNK);
        // Large writes go in pages, which frames then reference instead
        // of copying (`conn::transmit`); small ones stay linear.
        let skb = if paged {
            sk.alloc_send_paged(chunk, HEADER_LEN)
        } else {
            sk.alloc_send_skb(chunk, HEADER_LEN)
        };
        let Some(mut skb) = skb else {
            return if sent > 0 { Ok(sent) } else { Err(ENOMEM) };
        };
        if !sk.wmem_schedule(skb.truesize()) {
            // The family or the owner's cgroup is out of socket memory:
            // push what is queued and wait a little for memory
            // (`sk_stream_wait_memory`).  A non-blocking writer is
            // woken to try again (`conn::wait_for_memory`).
            drop(skb);
            sk.set_nospace();
            if timeo == 0 {
                if let Role::Conn(c) = &mut g.locked().role {
                    conn::wait_for_memory(sk, c);
                }
            }
            conn::drive(sk, g.locked());
            if timeo == 0 {
                return if sent > 0 { Ok(sent) } else { Err(EAGAIN) };
            }
            if signal_pending() {
                return if sent > 0 {
                    Ok(sent)
                } else {
                    Err(intr_errno(timeo))
                };
            }
            timeo = wait_slice(g, timeo, MEM_WAIT);
            continue;
        }
        sk.data().clear_mem_wait();
        // A buffer that faults part-way: what was copied before the
        // fault is sent and counted, the rest of the write is not
        // (`tcp_sendmsg_locked`'s `do_error` with `copied`); nothing
        // copied is `EFAULT` unless an earlier chunk went.
        let copied = match skb.copy_from_msg(0, msg, chunk) {
            Ok(n) => n.min(chunk),
            Err(e) => return if sent > 0 { Ok(sent) } else { Err(e) },
        };
        if copied == 0 {
            return if sent > 0 { Ok(sent) } else { Err(EFAULT) };
        }
        let faulted = copied < chunk;
        let st = g.locked();
        let Role::Conn(c) = &mut st.role else {
            msg.revert(copied);
            return Err(stream_error(sk, flags));
        };
        let enqueued = c.conn.enqueue(copied as u32);
        let taken = enqueued.as_ref().map_or(0, |&n| (n as usize).min(copied));
        // Bytes copied but not taken (refused, or past the core's send
        // queue limit) are the user's again: the next round copies them
        // anew, and what the call reports matches its buffers.
        msg.revert(copied - taken);
        match enqueued {
            Ok(_) => {}
            Err(SendError::Failed(e)) => {
                let _ = sk.take_err();
                return if sent > 0 {
                    Ok(sent)
                } else {
                    Err(conn::conn_error(e))
                };
            }
            Err(_) => {
                return if sent > 0 {
                    Ok(sent)
                } else {
                    Err(stream_error(sk, flags))
                };
            }
        }
        if taken == 0 {
            // The core's send queue is at its limit: wait for ACKs.
            sk.set_nospace();
            if timeo == 0 {
                return if sent > 0 { Ok(sent) } else { Err(EAGAIN) };
            }
            timeo = g.wait(timeo);
            continue;
        }
        skb.trim(taken);
        st.queues.write().push(skb);
        sent += taken;
        // The write's last byte is urgent, also when a fault ends it
        // here: marked before it is pushed (`tcp_push`).
        if flags & MSG_OOB != 0 && (sent == len || faulted) {
            c.conn.mark_urgent();
        }
        conn::drive(sk, g.locked());
        if faulted {
            return Ok(sent);
        }
    }
}

/// Appends up to `want` bytes of `msg` to the write queue's last buffer
/// when it is a paged one none of which is sent, shorter than a segment
/// (the core's `send_mss`); returns how many, `None` when it is not such
/// a buffer or nothing could be appended (the caller starts a new one).
fn append_to_tail(
    sk: &Sock<'_, AfcSock>,
    g: &mut SockGuard<'_, AfcSock>,
    msg: &mut MsgHdr,
    want: usize,
) -> Option<usize> {
    let AfcSockLocked { role, queues, .. } = g.locked();
    let Role::Conn(c) = role else { return None };
    let goal = c.conn.send_mss() as usize;
    let mut wq = queues.write();
    let tail = wq.appendable_tail()?;
    // The last `tail` bytes of the queue: none sent yet, and room left.
    if tail > c.conn.unsent() as usize || tail >= goal {
        return None;
    }
    let n = want.min(goal - tail).min(c.conn.enqueue_room() as usize);
    if n == 0 || !sk.wmem_schedule(n) {
        return None;
    }
    let copied = wq.append(msg, n);
    if copied == 0 {
        return None;
    }
    // `enqueue_room` promised them; anything else (none can happen while
    // we own the socket) leaves bytes the core does not know of.
    match c.conn.enqueue(copied as u32) {
        Ok(t) if t as usize == copied => {}
        _ => c.conn.abort(),
    }
    Some(copied)
}

/// What a read learnt for its control messages: of the last buffer it
/// read from, the receive timestamp (the last nonzero one, as
/// `tcp_recvmsg` keeps `tss` for buffers that have one) and the ingress
/// device; and, with `AFC_PKTINFO`, the connection's addresses.
#[derive(Default)]
struct Ancillary {
    tstamp: i64,
    iif: Option<i32>,
    addrs: Option<(Endpoint, Endpoint)>,
}

impl Ancillary {
    fn saw(&mut self, skb: &QueuedSkb<'_>) {
        let t = skb.tstamp();
        if t != 0 {
            self.tstamp = t;
        }
        self.iif = Some(skb.iif());
    }

    /// Appends the control messages, after the socket lock is released
    /// as `tcp_recvmsg` does: the timestamps the socket asked for, then
    /// `struct afc_pktinfo` (ifindex, local, peer; no padding, every byte
    /// written).  A short control buffer gets `MSG_CTRUNC` (`put_cmsg`).
    fn put(&self, sk: &Sock<'_, AfcSock>, msg: &mut MsgHdr) {
        let Some(iif) = self.iif else { return };
        sk.put_recv_timestamp(msg, self.tstamp);
        if let Some((local, peer)) = self.addrs {
            let mut info = [0u8; 4 + 2 * addr::LEN];
            let mut a = [0u8; addr::LEN];
            info[..4].copy_from_slice(&iif.to_ne_bytes());
            addr::encode(local, sk.family(), &mut a);
            info[4..4 + addr::LEN].copy_from_slice(&a);
            addr::encode(peer, sk.family(), &mut a);
            info[4 + addr::LEN..].copy_from_slice(&a);
            msg.put_cmsg(opts::SOL, opts::AFC_PKTINFO, &info);
        }
    }
}

pub(crate) fn recvmsg(
    sk: &Sock<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
    flags: u32,
) -> Result<usize> {
    let mut anc = Ancillary::default();
    let n = if flags & !MSG_DONTWAIT == 0 && len > 0 {
        let mut g = sk.lock();
        let mut timeo = sk.rcvtimeo(flags & MSG_DONTWAIT != 0);
        match recv_plain(sk, &mut g, msg, len, &mut timeo, &mut anc) {
            Some(r) => r?,
            None => recvmsg_locked(sk, &mut g, msg, len, flags, timeo, &mut anc)?,
        }
    } else {
        recvmsg_general(sk, msg, len, flags, &mut anc)?
    };
    anc.put(sk, msg);
    Ok(n)
}

/// The plain read: a read or a wait for one, without flags (but
/// `MSG_DONTWAIT`), of a connection whose reads no urgent mark limits,
/// without `AFC_PKTINFO`, at the default `SO_RCVLOWAT` (one byte): the
/// read of every exchange.  It copies what is queued, in order, or sleeps
/// until something is; everything else (an error, end of file, frames
/// left on the backlog, a signal, a timeout, any other state) it leaves
/// to [`recvmsg_locked`], which answers it as if it had been asked first:
/// `None` means nothing was read or changed here, and `timeo` holds what
/// is left of the timeout.  One test where the general loop has a branch
/// per rare case: under QEMU's TCG a read's time follows the blocks it
/// runs (docs/PERFORMANCE.md, sessions 25 and 26).
fn recv_plain(
    sk: &Sock<'_, AfcSock>,
    g: &mut SockGuard<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
    timeo: &mut i64,
    anc: &mut Ancillary,
) -> Option<Result<usize>> {
    let mut slept = false;
    loop {
        let st = g.locked();
        let pktinfo = st.opts.pktinfo;
        let AfcSockLocked { role, queues, .. } = &mut *st;
        let Role::Conn(c) = role else {
            // No longer a connection after a sleep (another thread's
            // shutdown ended a connect attempt): as `recvmsg_locked`
            // answers then, its error, else end of file.
            return slept.then(|| sk.take_err().map_or(Ok(0), Err));
        };
        let not_plain = u8::from(pktinfo)
            | u8::from(sk.rcvlowat(false, len) != 1)
            | u8::from(!c.conn.reads_unbounded());
        // One test: kept from being split back into a branch per term.
        if core::hint::black_box(not_plain) != 0 {
            return None;
        }
        let mut q = queues.receive();
        let mut copied = 0usize;
        while copied < len {
            let Some(mut head) = q.walk().next() else {
                break;
            };
            let l = head.len();
            let n = l.min(len - copied);
            if let Err(e) = head.copy_to_msg(0, msg, n) {
                if copied == 0 {
                    return Some(Err(e));
                }
                break;
            }
            anc.saw(&head);
            if n == l {
                drop(q.pop());
            } else {
                head.pull(n);
            }
            copied += n;
        }
        if copied > 0 {
            read_taken(sk, st, copied);
            return Some(Ok(copied));
        }
        // Nothing queued: sleep only where the general loop would,
        // with nothing else to report (its tests, in one).
        let not_now = u8::from(sk.err() != 0)
            | (sk.shutdown_bits() & RCV_SHUTDOWN)
            | u8::from(c.conn.state() == State::Closed)
            | u8::from(g.backlog_pending())
            | u8::from(*timeo == 0);
        if core::hint::black_box(not_now) != 0 || signal_pending() {
            return None;
        }
        sk.data().reader_sleeps(true);
        *timeo = g.wait(*timeo);
        sk.data().reader_sleeps(false);
        slept = true;
    }
}

/// A read took `taken` bytes off the receive queue: the peek offset
/// moves back, the receive buffer follows the reader's pace, the core
/// hears of it, and an ACK or window update it owes goes out.  Shared by
/// the plain and the general read (one copy of its code on the hot path).
#[inline(never)]
fn read_taken(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, taken: usize) {
    let Role::Conn(c) = &mut st.role else { return };
    sk.move_peek_offset(taken, false);
    // One clock reading for the read's pace and its `drive`.
    let t = conn::now();
    conn::reader_took(sk, c, taken as u32, t);
    c.conn.consume(taken as u32);
    conn::sync_recv_buf(sk, c);
    sk.data().unread.store(c.conn.unread(), Ordering::Relaxed);
    sk.data().publish_urgent(&c.conn);
    // What `drive` publishes besides is the sender's and the
    // timers', which a read leaves as they were.
    if c.conn.read_owes_transmit() {
        conn::drive_at(sk, st, t);
    }
}

/// `recvmsg` with any flags: takes the socket lock for
/// [`recvmsg_locked`].
fn recvmsg_general(
    sk: &Sock<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
    flags: u32,
    anc: &mut Ancillary,
) -> Result<usize> {
    if flags & MSG_OOB != 0 {
        return recv_urgent(sk, msg, len, flags);
    }
    // Nothing ever goes on the error queue (no transmit timestamps, no
    // zero-copy completions): empty, as `inet_recv_error` finds it.
    if flags & MSG_ERRQUEUE != 0 {
        return Err(EAGAIN);
    }
    let mut g = sk.lock();
    let timeo = sk.rcvtimeo(flags & MSG_DONTWAIT != 0);
    recvmsg_locked(sk, &mut g, msg, len, flags, timeo, anc)
}

/// `recvmsg` under the socket lock (`tcp_recvmsg_locked`), with `timeo`
/// jiffies to wait; `anc` collects what the control messages report.
/// Neither `MSG_OOB` nor `MSG_ERRQUEUE` ([`recvmsg_general`] answers them).
fn recvmsg_locked(
    sk: &Sock<'_, AfcSock>,
    g: &mut SockGuard<'_, AfcSock>,
    msg: &mut MsgHdr,
    len: usize,
    flags: u32,
    mut timeo: i64,
    anc: &mut Ancillary,
) -> Result<usize> {
    let peek = flags & MSG_PEEK != 0;
    // `MSG_TRUNC`: the bytes are consumed (or, with `MSG_PEEK`, looked
    // at) and counted without being copied, as `tcp_recvmsg` does.
    let discard = flags & MSG_TRUNC != 0;
    match &g.locked().role {
        Role::Conn(_) => {}
        _ => return Err(ENOTCONN()),
    }
    if g.locked().opts.pktinfo {
        let st = g.locked();
        if let (Some(l), Some(p)) = (st.local, st.peer) {
            anc.addrs = Some((l, p));
        }
    }
    let target = sk.rcvlowat(flags & MSG_WAITALL != 0, len);
    let mut copied = 0usize;
    // Where a peek starts (`SO_PEEK_OFF`), read once as `tcp_recvmsg` does.
    let peek_start = if peek { sk.peek_offset(flags) } else { 0 };
    // Out-of-band urgent bytes a peek stepped over (`urg_hole`).
    let mut hole = 0usize;
    let inline = sk.urg_inline();
    // Whether this pass (since the last sleep) ran the backlog already.
    let mut flushed = false;
    loop {
        // Copy what is queued, in order, up to the urgent mark.
        let st = g.locked();
        let AfcSockLocked { role, queues, .. } = &mut *st;
        let Role::Conn(c) = role else {
            // No longer a connection after a sleep (another thread's
            // shutdown ended a connect attempt): its error first
            // (ECONNRESET, as `tcp_disconnect` sets), else what was read,
            // else end of file.
            if copied == 0 {
                if let Some(e) = sk.take_err() {
                    return Err(e);
                }
            }
            break;
        };
        c.conn.set_urgent_inline(inline);
        let mut q = queues.receive();
        let base = c.conn.read_offset();
        let unread = c.conn.unread() as usize;
        let mut at_mark = false;
        if peek {
            // Each pass copies the queue again from the start, after the
            // peek offset (`SO_PEEK_OFF`, moved on by what was peeked, as
            // `tcp_recvmsg`), what earlier passes copied and the urgent
            // bytes they stepped over.
            while copied < len {
                let from = peek_start.saturating_add(copied).saturating_add(hole);
                if from >= unread {
                    break;
                }
                let want = match c.conn.read_limit(base + from as u64, copied > 0) {
                    ReadLimit::Stop => {
                        at_mark = true;
                        break;
                    }
                    ReadLimit::Skip => {
                        hole += 1;
                        continue;
                    }
                    ReadLimit::Bytes(m) => {
                        (len - copied).min(usize::try_from(m).unwrap_or(usize::MAX))
                    }
                };
                let n = q.for_range(from, want, |skb, off, n| {
                    anc.saw(skb);
                    if discard {
                        Ok(())
                    } else {
                        skb.copy_to_msg(off, msg, n)
                    }
                })?;
                sk.move_peek_offset(n, true);
                copied += n;
                if n < want {
                    break;
                }
            }
        } else {
            let mut taken = 0usize;
            while copied < len {
                let Some(mut head) = q.walk().next() else {
                    break;
                };
                let l = head.len();
                let n = match c.conn.read_limit(base + taken as u64, copied > 0) {
                    ReadLimit::Stop => {
                        at_mark = true;
                        break;
                    }
                    ReadLimit::Skip => {
                        // The out-of-band urgent byte is no data: step over it.
                        if l == 1 {
                            drop(q.pop());
                        } else {
                            head.pull(1);
                        }
                        taken += 1;
                        continue;
                    }
                    ReadLimit::Bytes(m) => l
                        .min(len - copied)
                        .min(usize::try_from(m).unwrap_or(usize::MAX)),
                };
                if let Err(e) = if discard {
                    Ok(())
                } else {
                    head.copy_to_msg(0, msg, n)
                } {
                    if copied == 0 {
                        return Err(e);
                    }
                    break;
                }
                anc.saw(&head);
                if n == l {
                    drop(q.pop());
                } else {
                    head.pull(n);
                }
                copied += n;
                taken += n;
            }
            if taken > 0 {
                read_taken(sk, st, taken);
            }
        }
        // A read stops at the urgent mark once it has read something.
        if at_mark {
            break;
        }
        // A peek waits for its target as a read does (`MSG_WAITALL`:
        // the whole count), as `tcp_recvmsg`.
        if copied >= target {
            break;
        }
        // A zero-length read with data queued returns 0 at once (TCP's
        // loop runs while `len > 0`); an empty queue waits as for any read.
        if len == 0 && g.locked().queues.receive().walk().next().is_some() {
            break;
        }
        if copied > 0
            && (sk.err() != 0 || sk.shutdown_bits() & RCV_SHUTDOWN != 0 || signal_pending())
        {
            break;
        }
        if copied == 0 {
            if let Some(e) = sk.take_err() {
                return Err(e);
            }
        }
        if sk.shutdown_bits() & RCV_SHUTDOWN != 0 {
            break;
        }
        let closed = match &g.locked().role {
            Role::Conn(c) => c.conn.state() == State::Closed,
            _ => true,
        };
        if closed {
            break;
        }
        // Frames left on the backlog for a reader asleep (this one, back
        // from its sleep, or another thread's) are run here, before
        // reporting that nothing came (`rx`): once per sleep, so that
        // frames that bring nothing to read (a flood of ACKs, which reach
        // the backlog while we own the socket) cannot keep us here.
        if !flushed && g.flush_backlog() {
            flushed = true;
            continue;
        }
        if timeo == 0 {
            return if copied > 0 { Ok(copied) } else { Err(EAGAIN) };
        }
        if signal_pending() {
            return if copied > 0 {
                Ok(copied)
            } else {
                Err(intr_errno(timeo))
            };
        }
        // Asleep, this reader has the frame handler leave data frames on
        // the backlog for it (`rx`); it runs them above once it owns the
        // socket again.
        sk.data().reader_sleeps(true);
        timeo = g.wait(timeo);
        sk.data().reader_sleeps(false);
        flushed = false;
    }
    Ok(copied)
}

/// `recv(MSG_OOB)`, as `tcp_recv_urg`: the urgent byte once, never
/// blocking.  `EINVAL` without one (none, already read, or inline with
/// `SO_OOBINLINE`), `EAGAIN` while its pointer came without it (0 once
/// no more can come); a listener is `ENOTCONN`.  A zero-length buffer
/// gets `MSG_TRUNC` and 0.
fn recv_urgent(sk: &Sock<'_, AfcSock>, msg: &mut MsgHdr, len: usize, flags: u32) -> Result<usize> {
    let mut g = sk.lock();
    // An urgent byte in a frame left for a reader asleep counts (`rx`).
    g.flush_backlog();
    let st = g.locked();
    let c = match &mut st.role {
        Role::Conn(c) => c,
        Role::Listener(_) => return Err(ENOTCONN()),
        Role::Idle => return Err(EINVAL),
    };
    c.conn.set_urgent_inline(sk.urg_inline());
    let r = c.conn.recv_urgent(flags & MSG_PEEK != 0);
    sk.data().publish_urgent(&c.conn);
    match r {
        Ok(b) => {
            msg.add_flags(MSG_OOB);
            if len == 0 {
                msg.add_flags(MSG_TRUNC);
                return Ok(0);
            }
            if flags & MSG_TRUNC == 0 {
                msg.copy_bytes(&[b])?;
            }
            Ok(1)
        }
        Err(UrgentRecvError::Invalid) => Err(EINVAL),
        Err(UrgentRecvError::NotYet) => {
            if c.conn.state() == State::Closed || sk.shutdown_bits() & RCV_SHUTDOWN != 0 {
                Ok(0)
            } else {
                Err(EAGAIN)
            }
        }
    }
}

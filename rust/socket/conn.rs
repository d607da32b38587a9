// SPDX-License-Identifier: GPL-2.0

//! A connection driven by the protocol core: segments in, segments out,
//! the timer, and the bytes the core leaves to its caller (the model is
//! `rust/proto/tests/support/endpoint.rs`).
//!
//! Every function here runs with the socket owned (process context after
//! `lock_sock`, the backlog, `release_cb`, or softirq under
//! `bh_lock_sock`): never sleeps, allocates atomically.

use super::listen::Parent;
use super::{AfcSock, AfcSockLocked, Role};
use crate::abstractions::errno::{ECONNREFUSED, ECONNRESET, ETIMEDOUT};
use crate::abstractions::mem;
use crate::abstractions::skb::{DropReason, SkBuff, SkbQueue};
use crate::abstractions::sock::{Sock, SockQueues};
use crate::abstractions::time::now_us;
use crate::abstractions::uapi;
use crate::abstractions::vec;
use crate::netns;
use crate::proto::buffers::{self, RcvSpace};
use crate::proto::conn::{ConnError, ConnStats, Connection, DataAction, Events, Transmit};
use crate::proto::state::State;
use crate::proto::time::{earliest, timer_keeps, Instant, MS, SEC};
use crate::proto::wire::{Header, HEADER_LEN};
use crate::stats::Stat;
use crate::tx::{self, Sent, Via};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

/// `sk_shutdown` bits, as the `u8`s `Sock` reads and writes.
pub(crate) const RCV_SHUTDOWN: u8 = uapi::RCV_SHUTDOWN as u8;
pub(crate) const SEND_SHUTDOWN: u8 = uapi::SEND_SHUTDOWN as u8;
pub(crate) const SHUTDOWN_MASK: u8 = uapi::SHUTDOWN_MASK as u8;

/// A connection and what the socket layer keeps beside it.
pub(crate) struct ConnState {
    pub(crate) conn: Connection,
    /// Out-of-order payloads by stream offset, sorted, never overlapping.
    ofo: KVec<(u64, SkBuff)>,
    /// Stream offset just past the last byte on the receive queue.
    recv_end: u64,
    /// The peer is reached over loopback: no checksums.
    pub(crate) loopback: bool,
    /// Payload bytes per wire frame when the device takes GSO frames
    /// (larger segments go out as one GSO frame), else 0.
    pub(crate) gso: u32,
    /// The listener of a child not yet accepted.
    pub(crate) parent: Option<Parent>,
    /// Whether the connection is in the established table.
    pub(crate) hashed: bool,
    /// Whether the handshake completed at some point (for error reports).
    pub(crate) was_established: bool,
    /// An established child held back from `accept()` until data comes
    /// (`AFC_DEFER_ACCEPT`) or this time passes; it stays on its
    /// listener's half-open list meanwhile, as TCP's request sock does.
    defer_until: Option<Instant>,
    /// When writers refused socket memory are woken to try again
    /// ([`wait_for_memory`]).
    mem_retry: Option<Instant>,
    /// The core's counts of [`SUMMED`] already added to the namespace's.
    counted: [u64; SUMMED.len()],
    /// Their sum: the counts only grow, so the sum moves exactly when one
    /// of them did (one comparison per `drive` in the common case).
    counted_total: u64,
    /// The deadline the socket timer is armed for (re-armed only when the
    /// core's changes: `mod_timer` on every segment showed in profiles).
    armed: Option<u64>,
    /// The reader's pace, for receive buffer autotuning.
    rcv_space: RcvSpace,
    /// The payload share of receive memory the last full-sized segment
    /// measured, in 256ths (`proto::buffers::measured_ratio`, TCP's
    /// `scaling_ratio`): the window offers that share of the buffer.
    scaling_ratio: u8,
    /// The congestion window the send buffer was last sized for.
    sndbuf_cwnd: u32,
    /// Whether the connection counts in [`ORPHANS`] (closed by its owner,
    /// not yet in TIME_WAIT or CLOSED).
    orphan: bool,
}

/// Orphaned connections of the whole family (every namespace), as TCP's
/// `tcp_orphan_count`: counted when `close()` leaves a connection to
/// finish on its own, uncounted when it reaches TIME_WAIT or CLOSED (or,
/// failing that, when it is freed).
static ORPHANS: AtomicU32 = AtomicU32::new(0);

impl Drop for ConnState {
    fn drop(&mut self) {
        uncount_orphan(self);
    }
}

/// Orphaned connections of the whole family now (`orphan` of
/// `/proc/net/sockstat` for TCP).
pub(crate) fn orphan_count() -> u32 {
    ORPHANS.load(Ordering::Relaxed)
}

fn uncount_orphan(c: &mut ConnState) {
    if core::mem::replace(&mut c.orphan, false) {
        ORPHANS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket was closed and its connection lives on as an orphan: count
/// it, and reset it if that makes more than `net.af_custom.max_orphans`
/// (`tcp_close` → `tcp_check_oom`: "too many orphaned sockets", RST,
/// `TCPAbortOnMemory`).  The socket lock is held; drive afterwards.
pub(crate) fn orphaned(sk: &Sock<'_, AfcSock>, c: &mut ConnState) {
    if c.orphan || matches!(c.conn.state(), State::Closed | State::TimeWait) {
        return;
    }
    // Counted only within the limit, so that a close never takes the
    // count past it, even for a moment: an orphan whose timer saw the
    // count over the limit would reset itself too (`run_timers`), for a
    // close that resets its own connection anyway.
    let max = netns::max_orphans();
    if ORPHANS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            if n < max {
                n.checked_add(1)
            } else {
                None
            }
        })
        .is_ok()
    {
        c.orphan = true;
    } else {
        netns::of_sock(sk).stats.inc(Stat::OrphanOverflows);
        c.conn.abort();
    }
}

impl ConnState {
    /// The payload share of receive memory full-sized segments measured.
    pub(crate) fn scaling_ratio(&self) -> u8 {
        self.scaling_ratio
    }

    pub(crate) fn new(conn: Connection, loopback: bool, gso: u32, parent: Option<Parent>) -> Self {
        let rcv_space = RcvSpace::new(now_us(), conn.config().recv_buf);
        Self {
            conn,
            ofo: KVec::new(),
            recv_end: 0,
            loopback,
            gso,
            parent,
            hashed: false,
            was_established: false,
            defer_until: None,
            mem_retry: None,
            counted: [0; SUMMED.len()],
            counted_total: 0,
            armed: None,
            rcv_space,
            scaling_ratio: buffers::DEFAULT_SCALING_RATIO,
            sndbuf_cwnd: 0,
            orphan: false,
        }
    }
}

pub(crate) fn now() -> Instant {
    Instant(now_us())
}

/// A segment for this socket (from the frame handler or the backlog).
/// Returns `true` when the segment is a SYN for a new incarnation of a
/// TIME_WAIT tuple, which the caller should give to the listener.
pub(crate) fn segment_arrived(
    sk: &Sock<'_, AfcSock>,
    st: &mut AfcSockLocked,
    h: &Header,
    mut skb: SkBuff,
) -> bool {
    let AfcSockLocked { role, queues, .. } = st;
    let Role::Conn(c) = role else {
        // A listener or idle socket in the established table cannot be;
        // the frame is dropped.
        return false;
    };
    let stats = || &netns::of_sock(sk).stats;
    // A handshake ACK for a child whose listener's accept queue is full
    // is dropped; the SYN-ACK timer brings it back (`ListenQueues`).
    if c.conn.state() == State::SynRecv && h.flags.ack() && !h.flags.rst() && !h.flags.syn() {
        if let Some(p) = &c.parent {
            if !p.handshake_ack_allowed() {
                stats().inc(Stat::ListenOverflows);
                stats().inc(Stat::ListenDrops);
                return false;
            }
        }
    }
    // Receive memory: a reader that does not read pins at most its buffer
    // (and one segment), and the family and the owner's memory cgroup
    // must have room, as `tcp_try_rmem_schedule` (without collapsing).
    // Without room the data is dropped but the acknowledgement and the
    // window are taken, and the peer hears our window at once.
    sync_recv_buf(sk, c);
    let t = now();
    // A closed socket's connection is reset by data (the core's
    // abort-on-data, TCP's `TCPAbortOnData`), whatever memory is left:
    // holding its ACK back from the core would keep the orphan alive.
    // The usual answers with one test: no payload, a closed socket, or
    // the reservation at hand below the buffer (the terms kept from being
    // split back into a branch each); else the same rule with its call.
    let usual = u8::from(h.payload_len == 0)
        | u8::from(sk.dead())
        | (u8::from(sk.rmem_alloc() <= sk.rcvbuf()) & u8::from(sk.rmem_covered(&skb)));
    let mut room = core::hint::black_box(usual) != 0
        || (sk.rmem_alloc() <= sk.rcvbuf() && sk.rmem_schedule(&skb));
    if !room {
        // Tiny segments cost far more memory than their bytes: copy them
        // into page-sized buffers and look again (`tcp_collapse`).
        collapse_receive_queue(sk, queues);
        room = sk.rmem_alloc() <= sk.rcvbuf() && sk.rmem_schedule(&skb);
    }
    if !room && c.conn.prune_out_of_order_for(h) {
        // The out-of-order data held is given up for the segment that
        // fills the gap in front of it (the core's rule); the peer sends
        // it again.  The budget the next window is offered from counts
        // the freed memory.
        c.ofo = KVec::new();
        sync_recv_buf(sk, c);
        room = sk.rmem_alloc() <= sk.rcvbuf() && sk.rmem_schedule(&skb);
    }
    c.conn.set_urgent_inline(sk.urg_inline());
    let out = if room {
        c.conn.on_segment_frames(h, skb.gro_frames(), t)
    } else {
        stats().inc(Stat::RcvMemDrops);
        c.conn.on_segment_without_room(h, t)
    };
    // An urgent byte, bytes to discard, room reserved for data the core
    // refused: none of them in the usual segment, which passes all three
    // with one test.
    let rare = u8::from(out.urgent_byte.is_some())
        | u8::from(out.discard_front > 0)
        | (u8::from(room)
            & u8::from(h.payload_len > 0)
            & u8::from(matches!(out.data, DataAction::None)));
    let mut urgent_arrived = false;
    if core::hint::black_box(rare) != 0 {
        // The urgent byte, read before the payload is trimmed (`tcp_urg`);
        // an out-of-band byte a newer mark superseded leaves the stream.
        if let Some(i) = out.urgent_byte {
            let mut b = [0u8; 1];
            if skb.copy_out(HEADER_LEN + i as usize, &mut b).is_ok() {
                c.conn.set_urgent_byte(b[0]);
                urgent_arrived = true;
            }
        }
        if out.discard_front > 0 {
            discard_front(queues, out.discard_front as usize);
        }
        if room && h.payload_len > 0 && matches!(out.data, DataAction::None) {
            // The room reserved for data the core refused goes back.
            sk.mem_reclaim();
        }
    }
    drop_acked(queues, out.acked);
    match out.data {
        // Data refused for want of memory is a drop (`RcvMemDrops`).
        DataAction::None if !room && h.payload_len > 0 => {
            skb.drop_because(DropReason::ReceiveBuffer);
        }
        DataAction::None => {}
        DataAction::Append {
            offset: _,
            skip,
            len,
        } => {
            skb.pull(HEADER_LEN + skip as usize);
            skb.trim(len as usize);
            // Receive timestamp, for `recvmsg`'s control messages.
            sk.rx_stamp(&mut skb);
            sk.charge_rmem(&mut skb);
            // What a full window of such segments costs in memory
            // (`tcp_measure_rcv_mss`): the next window offers that share.
            let mss = u32::from(c.conn.config().mss);
            let truesize = u32::try_from(skb.truesize()).unwrap_or(u32::MAX);
            if let Some(r) = buffers::measured_ratio(len, truesize, mss) {
                c.scaling_ratio = r;
            }
            queues.receive().push(skb);
            c.recv_end += u64::from(len);
        }
        DataAction::Store { offset, skip, len } => {
            skb.pull(HEADER_LEN + skip as usize);
            skb.trim(len as usize);
            // Receive timestamp, for `recvmsg`'s control messages.
            sk.rx_stamp(&mut skb);
            sk.charge_rmem(&mut skb);
            let at = c
                .ofo
                .iter()
                .position(|(o, _)| *o > offset)
                .unwrap_or(c.ofo.len());
            // Out of memory: the core counts the bytes stored; dropping
            // them would desynchronise it, so abort the connection.
            if vec::insert(&mut c.ofo, at, (offset, skb), GFP_ATOMIC).is_err() {
                c.conn.abort();
            }
        }
    }
    // Stored segments that are now in order move to the receive queue.
    while c.ofo.first().is_some_and(|(o, _)| *o <= c.recv_end) {
        let Some((o, mut seg)) = vec::remove(&mut c.ofo, 0) else {
            break;
        };
        let end = o + seg.len() as u64;
        if end > c.recv_end {
            seg.pull((c.recv_end - o) as usize);
            queues.receive().push(seg);
            c.recv_end = end;
        }
    }
    let reuse = out.events.contains(Events::TIME_WAIT_REUSE);
    sk.data().publish_urgent(&c.conn);
    if urgent_arrived && !sk.dead() {
        // `POLLPRI` now (`tcp_urg` wakes readers).
        sk.data_ready();
    }
    handle_events(sk, st, out.events);
    drive_at(sk, st, t);
    reuse
}

/// Drops `n` bytes from the front of the receive queue unread.
fn discard_front(queues: &mut SockQueues, mut n: usize) {
    let mut q = queues.receive();
    while n > 0 {
        let Some(mut head) = q.walk().next() else {
            break;
        };
        let l = head.len();
        if l > n {
            head.pull(n);
            break;
        }
        drop(q.pop());
        n -= l;
    }
}

/// Follows the receive buffer (`SO_RCVBUF`, autotuning) and the memory
/// its queue takes: the window offers what the free memory can hold at
/// the measured payload share (`proto::buffers::recv_budget`,
/// `ConnState::scaling_ratio`), and a few segments at most while the
/// family is under memory pressure (`proto::buffers::pressure_budget`).
pub(crate) fn sync_recv_buf(sk: &Sock<'_, AfcSock>, c: &mut ConnState) {
    let unread = c.conn.unread();
    let mut want = buffers::recv_budget(sk.rcvbuf(), sk.rmem_alloc(), unread, c.scaling_ratio);
    let pressure = sk.under_memory_pressure();
    if pressure {
        want = buffers::pressure_budget(want, unread, u32::from(c.conn.config().mss));
    }
    c.conn.set_memory_pressure(pressure);
    if c.conn.config().recv_buf != want {
        c.conn.set_recv_buf(want);
    }
}

/// The reader took `n` bytes at `t`: grows the receive buffer with the
/// reader's pace (dynamic right-sizing, `proto::buffers::RcvSpace`),
/// unless the user fixed it or the family is under memory pressure.
pub(crate) fn reader_took(sk: &Sock<'_, AfcSock>, c: &mut ConnState, n: u32, t: Instant) {
    let srtt = c.conn.rtt().srtt();
    let mss = u32::from(c.conn.config().mss);
    let Some(want) = c
        .rcv_space
        .on_read(n, t.micros(), srtt, mss, c.scaling_ratio)
    else {
        return;
    };
    if sk.rcvbuf_locked() || !sk.may_grow_bufs() {
        return;
    }
    let want = want.min(mem::buf_max().0);
    if want > sk.rcvbuf() {
        sk.set_rcvbuf(want);
    }
}

/// Grows the send buffer with the congestion window (two windows' worth,
/// `tcp_sndbuf_expand`), unless the user fixed it or the family is under
/// memory pressure; looked at when the window grew by an eighth since the
/// last look (it grows a little with every ACK, and each look is several
/// calls into C).
fn grow_sndbuf(sk: &Sock<'_, AfcSock>, c: &mut ConnState) {
    let cwnd = c.conn.cwnd();
    if cwnd <= c.sndbuf_cwnd.saturating_add(c.sndbuf_cwnd / 8) {
        return;
    }
    c.sndbuf_cwnd = cwnd;
    if sk.sndbuf_locked() || !sk.may_grow_bufs() {
        return;
    }
    let want = buffers::sndbuf_for(cwnd, c.conn.send_mss()).min(mem::buf_max().1);
    if want > sk.sndbuf() {
        sk.set_sndbuf(want);
        sk.write_space();
    }
}

/// Payload bytes per buffer the receive queue is collapsed into: with
/// the frame headroom and `skb_shared_info`, one page.
const COLLAPSE_CHUNK: usize = 3584;

/// Copies runs of small receive-queue buffers (whose memory is more than
/// one and a half times their payload) into buffers of up to [`COLLAPSE_CHUNK`] bytes, in
/// order (`tcp_collapse`): each new buffer is charged before the old
/// ones it replaces are freed, and a buffer that cannot be copied stays.
fn collapse_receive_queue(sk: &Sock<'_, AfcSock>, queues: &mut SockQueues) {
    let mut q = queues.receive();
    let count = q.walk().count();
    let mut acc: Option<(SkBuff, usize)> = None;
    for _ in 0..count {
        let Some(skb) = q.pop() else { break };
        let len = skb.len();
        // Worth copying: shorter than a chunk, and over a third of its
        // memory is overhead (a partly filled chunk included).
        let small = len < COLLAPSE_CHUNK && skb.truesize() > len.saturating_mul(3) / 2;
        if !small {
            flush_collapsed(&mut q, &mut acc);
            q.push(skb);
            continue;
        }
        if acc
            .as_ref()
            .is_some_and(|(_, used)| used + len > COLLAPSE_CHUNK)
        {
            flush_collapsed(&mut q, &mut acc);
        }
        if acc.is_none() {
            match SkBuff::alloc_frame(COLLAPSE_CHUNK) {
                Some(mut b) => {
                    // Charged before the buffers it replaces are freed.
                    sk.charge_rmem(&mut b);
                    acc = Some((b, 0));
                }
                None => {
                    // No memory to collapse into: keep the buffer as it is.
                    q.push(skb);
                    continue;
                }
            }
        }
        let Some((b, used)) = acc.as_mut() else { break };
        let copied = b
            .linear_mut()
            .get_mut(*used..*used + len)
            .map(|dst| skb.copy_out(0, dst));
        if matches!(copied, Some(Ok(()))) {
            *used += len;
            // The copy keeps the latest receive timestamp of what it
            // holds: a read reports the stamp of the last buffer read.
            b.set_tstamp(skb.tstamp());
            drop(skb);
        } else {
            flush_collapsed(&mut q, &mut acc);
            q.push(skb);
        }
    }
    flush_collapsed(&mut q, &mut acc);
}

/// Queues the buffer being collapsed into, cut to what it holds.
fn flush_collapsed(q: &mut SkbQueue<'_>, acc: &mut Option<(SkBuff, usize)>) {
    if let Some((mut b, used)) = acc.take() {
        if used > 0 {
            b.trim(used);
            q.push(b);
        }
    }
}

/// How long a writer refused socket memory waits before it is woken to
/// try again.
const MEM_RETRY: u64 = 200 * MS;

/// A non-blocking send found no socket memory (the family past
/// `net.af_custom.mem[2]`, or the cgroup at `memory.max`) and returns
/// `EAGAIN`.  TCP forces the first buffer of an empty write queue past
/// the limits, so its writer always has an acknowledgement coming that
/// wakes it; ours holds the limits, and with nothing in flight nothing
/// would wake it (an edge-triggered `EPOLLOUT` would never come).  So
/// `poll` shows no `POLLOUT` and the socket timer wakes writers after
/// [`MEM_RETRY`] to try again.  The socket lock is held; drive afterwards.
pub(crate) fn wait_for_memory(sk: &Sock<'_, AfcSock>, c: &mut ConnState) {
    sk.data().set_mem_wait();
    if c.mem_retry.is_none() {
        c.mem_retry = Some(now().after(MEM_RETRY));
    }
}

/// Frames were just left on the backlog for a reader asleep (`rx`):
/// should that reader not run them soon (not scheduled), the socket timer
/// does (`timer` runs the backlog first) once an acknowledgement could
/// have waited no longer, as TCP's prequeue armed its delayed-ACK timer.
/// The socket spinlock is held and nobody owns the socket.
pub(crate) fn arm_for_reader(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) {
    let Role::Conn(c) = &mut st.role else { return };
    let t = now();
    let d = t.after(c.conn.ack_delay()).micros();
    if c.armed.map_or(true, |a| a > d) {
        sk.reset_timer(d, t.micros());
        c.armed = Some(d);
    }
}

/// Runs expired timers (the socket timer fired).
pub(crate) fn run_timers(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) {
    let Role::Conn(c) = &mut st.role else { return };
    // The timer fired (or was deferred): it is no longer armed.
    c.armed = None;
    netns::of_sock(sk).stats.inc(Stat::TimerRuns);
    // An orphan's timer resets it when there are too many orphans or the
    // family is out of memory (`tcp_out_of_resources`).
    if c.orphan && (ORPHANS.load(Ordering::Relaxed) > netns::max_orphans() || sk.out_of_memory()) {
        netns::of_sock(sk).stats.inc(Stat::OrphanOverflows);
        c.conn.abort();
        drive(sk, st);
        return;
    }
    let t = now();
    let deadline = next_deadline(c);
    if deadline.map_or(true, |d| d > t.micros()) {
        // Fired early, or for a deadline that went (the retransmission
        // timeout of data since acknowledged, a delayed ACK an answer
        // carried): nothing is due, nothing has changed since the last
        // `drive`, so the timer is only armed again for what remains, as
        // TCP's handlers return when no event is pending
        // (`tcp_write_timer_handler`).  A server of many idle
        // connections meets this once per data segment it sent.
        arm_timer(sk, c, deadline, t);
        return;
    }
    if c.mem_retry.is_some_and(|d| d <= t) {
        // Writers refused memory try again (`wait_for_memory`).
        c.mem_retry = None;
        sk.data().clear_mem_wait();
        sk.wake_writers();
    }
    if c.defer_until.is_some_and(|d| d <= t) {
        // `AFC_DEFER_ACCEPT`'s time is up: accept() gets it without data.
        hand_to_listener(sk, c);
    }
    let ev = c.conn.on_timeout(t);
    handle_events(sk, st, ev);
    drive_at(sk, st, t);
}

/// Frees acknowledged bytes from the front of the write queue (freeing a
/// buffer uncharges it; the writers are woken by the event it makes).
#[inline(always)]
fn drop_acked(queues: &mut SockQueues, mut acked: u32) {
    let mut q = queues.write();
    while acked > 0 {
        let Some(mut head) = q.front() else { break };
        let len = head.len() as u32;
        if len > acked {
            head.pull(acked as usize);
            break;
        }
        drop(q.pop());
        acked -= len;
    }
}

/// The errno a failed connection reports (`SO_ERROR`, and the call that
/// finds it), as TCP's.
pub(crate) fn conn_error(e: ConnError) -> Error {
    match e {
        ConnError::Refused => ECONNREFUSED(),
        ConnError::Reset => ECONNRESET(),
        ConnError::TimedOut => ETIMEDOUT(),
    }
}

/// Queues an established child for `accept()` (its listener's queue or
/// a sibling's), or resets it if nobody takes it.
fn hand_to_listener(sk: &Sock<'_, AfcSock>, c: &mut ConnState) {
    c.defer_until = None;
    match c.parent.take() {
        Some(p) => {
            if !p.queue_established(sk) {
                c.conn.abort();
            }
        }
        None => sk.state_change(),
    }
}

/// Acts on what the core reported.  A segment of an established
/// exchange reports data, acknowledged data or nothing, and is handled
/// here with one test for all the rest ([`handle_all_events`]): under
/// QEMU's TCG each branch ends a translation block, and a transaction's
/// time follows the blocks it runs (docs/PERFORMANCE.md, session 25).
pub(crate) fn handle_events(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, ev: Events) {
    const COMMON: u16 = Events::READABLE.0 | Events::WRITABLE.0;
    let Role::Conn(c) = &mut st.role else { return };
    if ev.0 & !COMMON != 0 || c.defer_until.is_some() {
        handle_all_events(sk, st, ev);
        return;
    }
    if ev.contains(Events::READABLE) {
        wake_readers(sk, c);
    }
    if ev.contains(Events::WRITABLE) {
        wake_writers(sk);
    }
}

/// Readers: what `poll` looks at, published before the wake-up that
/// makes it look.
#[inline(always)]
fn wake_readers(sk: &Sock<'_, AfcSock>, c: &ConnState) {
    sk.data().unread.store(c.conn.unread(), Ordering::Relaxed);
    sk.data()
        .window_low
        .store(c.conn.recv_window_shut(), Ordering::Relaxed);
    sk.data_ready();
}

/// Writers: acknowledged data freed memory, so a writer refused memory
/// may try again now rather than at its retry (`wait_for_memory`).
#[inline(always)]
fn wake_writers(sk: &Sock<'_, AfcSock>) {
    sk.data().clear_mem_wait();
    sk.write_space();
}

/// [`handle_events`] for any events.
fn handle_all_events(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, ev: Events) {
    let Role::Conn(c) = &mut st.role else { return };
    // The namespace's counters, looked up only when one is counted (this
    // runs for every segment).
    let stats = || &netns::of_sock(sk).stats;
    if ev.contains(Events::CONNECTED) {
        c.was_established = true;
        sk.set_state(c.conn.state().as_u8());
        let defer = st.opts.defer_accept;
        if c.parent.is_some() && defer > 0 && c.conn.unread() == 0 && !c.conn.peer_closed() {
            // `AFC_DEFER_ACCEPT`: a bare ACK does not make the child
            // acceptable; data, a FIN or the deadline will.
            let secs = u64::try_from(crate::proto::opts::defer_retrans_to_secs(defer)).unwrap_or(0);
            c.defer_until = Some(now().after(secs.saturating_mul(SEC)));
        } else {
            hand_to_listener(sk, c);
        }
    } else if c.defer_until.is_some()
        && (ev.contains(Events::READABLE) || ev.contains(Events::PEER_CLOSED))
    {
        hand_to_listener(sk, c);
    }
    if ev.contains(Events::PEER_CLOSED) {
        sk.add_shutdown(RCV_SHUTDOWN);
        sk.state_change();
    }
    if ev.contains(Events::URGENT) {
        // A new urgent pointer: `SIGURG` to the owner (`tcp_check_urg`).
        sk.send_sigurg();
    }
    if ev.contains(Events::READABLE) || ev.contains(Events::PEER_CLOSED) {
        wake_readers(sk, c);
    }
    if ev.contains(Events::WRITABLE) {
        wake_writers(sk);
    }
    if ev.contains(Events::RESET) || ev.contains(Events::TIMED_OUT) {
        if let Some(e) = c.conn.error() {
            if c.was_established {
                stats().inc(Stat::EstabResets);
            } else if c.parent.is_none() {
                stats().inc(Stat::AttemptFails);
            }
            if !sk.dead() {
                // A reset after the peer's FIN (CLOSE_WAIT) is a broken
                // pipe to the writer, as `tcp_reset` reports it.
                let reset_after_fin = e == ConnError::Reset && c.conn.peer_closed();
                let err = if reset_after_fin {
                    EPIPE
                } else {
                    conn_error(e)
                };
                sk.set_err(err.to_errno().abs());
            }
        }
    }
}

/// The namespace's counters that sum the core's per-connection counts
/// ([`summed_counts`], in this order), added after each [`drive`] (which
/// follows every segment and timer).
const SUMMED: [Stat; 8] = [
    Stat::RetransSegs,
    Stat::ChallengeAcks,
    Stat::SeqRejected,
    Stat::AckRejected,
    Stat::DelayedAcks,
    Stat::ReadAcks,
    Stat::WindowUpdates,
    Stat::OfoPruned,
];

/// The core's counts that [`SUMMED`] sums, read directly (a table of
/// accessor functions cost an indirect call each, on every `drive`).
fn summed_counts(s: &ConnStats) -> [u64; SUMMED.len()] {
    [
        s.retrans_segs,
        s.challenge_acks,
        s.seq_rejected,
        s.ack_rejected,
        s.delayed_acks,
        s.read_acks,
        s.window_updates,
        s.ofo_pruned,
    ]
}

/// Sends what the core has to send, re-arms the timer, and tidies up a
/// connection that reached CLOSED.
pub(crate) fn drive(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) {
    drive_at(sk, st, now());
}

/// [`drive`] at `t`, a time the caller read for the same event (each
/// read of the clock is a `ktime_get`).
pub(crate) fn drive_at(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, t: Instant) {
    let AfcSockLocked { role, queues, .. } = st;
    let Role::Conn(c) = role else { return };
    while let Some(tx) = c.conn.poll_transmit(t) {
        transmit(sk, queues, c, &tx);
    }
    let ConnState {
        conn,
        counted,
        counted_total,
        ..
    } = c;
    let counts = summed_counts(conn.stats());
    let total = counts.iter().fold(0u64, |a, &n| a.wrapping_add(n));
    if total != *counted_total {
        *counted_total = total;
        // Slice iterators, not the array's `into_iter`: that one's `len`
        // is core's `IndexRange::len`, an out-of-line call every time round.
        for ((&n, stat), counted) in counts.iter().zip(SUMMED.iter()).zip(counted.iter_mut()) {
            if n != *counted {
                netns::of_sock(sk)
                    .stats
                    .add(*stat, n.wrapping_sub(*counted));
                *counted = n;
            }
        }
    }
    // Every event of an exchange passes the two rare states (CLOSED,
    // TIME_WAIT) with one test (kept from being split into two).
    let state = c.conn.state();
    let rare = u8::from(state == State::Closed) | u8::from(state == State::TimeWait);
    if core::hint::black_box(rare) != 0 {
        if state == State::Closed {
            finish(sk, queues, c);
            return;
        }
        if state == State::TimeWait {
            // TIME_WAIT is no orphan (TCP's moves to a timewait sock).
            uncount_orphan(c);
        }
    }
    if state.receives_data() {
        grow_sndbuf(sk, c);
    }
    arm_timer(sk, c, next_deadline(c), t);
    sk.set_state(c.conn.state().as_u8());
    sk.data().unread.store(c.conn.unread(), Ordering::Relaxed);
    sk.data()
        .window_low
        .store(c.conn.recv_window_shut(), Ordering::Relaxed);
    sk.data().publish_urgent(&c.conn);
    sk.data()
        .queued
        .store(c.conn.send_queued(), Ordering::Relaxed);
    sk.data().proc.publish(&c.conn.proc_row());
    // Writers held by `AFC_NOTSENT_LOWAT` wake once the unsent bytes
    // fall below it (`sk_stream_write_space`'s doubled test).
    let was_full = sk.data().notsent_full(true);
    sk.data().notsent.store(c.conn.unsent(), Ordering::Relaxed);
    if was_full && !sk.data().notsent_full(true) {
        sk.wake_writers();
    }
}

/// The earliest time the socket timer has something to do (microseconds):
/// the core's timers, `AFC_DEFER_ACCEPT`'s end, a refused writer's retry.
/// Inlined, as [`arm_timer`]: both run in every [`drive`] and every
/// timer run, and out of line the layout put them pages away from both.
#[inline(always)]
fn next_deadline(c: &ConnState) -> Option<u64> {
    earliest(earliest(c.conn.poll_timeout(), c.defer_until), c.mem_retry).map(|d| d.micros())
}

/// Arms the socket timer for `deadline` at `t`, unless the timer armed
/// already is left as it is (`proto::time::timer_keeps`: the policy and
/// its reasons); stops it when nothing is left and it may not stay.
#[inline(always)]
fn arm_timer(sk: &Sock<'_, AfcSock>, c: &mut ConnState, deadline: Option<u64>, t: Instant) {
    if !timer_keeps(c.armed, deadline, t.micros()) {
        match deadline {
            Some(d) => sk.reset_timer(d, t.micros()),
            None => sk.stop_timer(),
        }
        c.armed = deadline;
    }
}

/// Payloads at least this long are sent as references to the write
/// queue's pages when the write queue holds them in pages; shorter ones
/// (and any the references cannot describe) are copied.  `sendmsg`
/// holds chunks this long in pages.
pub(crate) const PAGED_MIN: usize = 2048;

/// Sends one segment: the header, then bytes of the write queue, as a
/// clone of the send buffer it is all of (no allocation, no copy: TCP's
/// transmit of its buffer's clone; over loopback the receiver queues the
/// very buffer, sharing its pages), else by page reference where it can
/// (no copy), else by copy.
fn transmit(sk: &Sock<'_, AfcSock>, queues: &mut SockQueues, c: &mut ConnState, tx: &Transmit) {
    let offset = tx.offset as usize;
    let len = usize::from(tx.header.payload_len);
    let to = Via::Sock(sk, c.gso);
    // A segment that is all of one send buffer leaves as its clone (GSO
    // marks, if any, go into the buffer's shinfo, which the clone shares
    // and nobody else holds until it leaves: `afc_skb_clone_send`).
    let cloned = if len > 0 {
        clone_from_write_queue(queues, offset, len, &tx.header)
            .map(|frame| tx::send_frame(to, &tx.header, c.loopback, frame))
    } else {
        None
    };
    let sent = match cloned {
        Some(sent) => Some(sent),
        None if len >= PAGED_MIN => tx::send_paged(to, &tx.header, c.loopback, |frame| {
            attach_from_write_queue(queues, offset, len, frame)
        }),
        None => None,
    };
    let sent = match sent {
        Some(sent) => sent,
        None => tx::send(to, &tx.header, c.loopback, |out| {
            copy_from_write_queue(queues, offset, out)
        }),
    };
    if matches!(sent, Sent::NoRoute) && sk.dead() {
        // No route any more (the device went, e.g. with its namespace):
        // an orphan has nobody to tell and nothing to wait for.
        c.conn.abort();
    }
}

/// Adds references to `len` bytes at `offset` of the write queue to
/// `frame`; `Err` if some of them are not in pages.
fn attach_from_write_queue(
    queues: &mut SockQueues,
    offset: usize,
    len: usize,
    frame: &mut SkBuff,
) -> Result {
    let done = queues.write().for_range(offset, len, |skb, off, n| {
        if !skb.is_paged() {
            return Err(EINVAL);
        }
        frame.attach_pages(skb, off, n)
    })?;
    if done == len {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// The frame for `len` bytes at `offset` of the write queue with header
/// `h`, if they are exactly one linear buffer of it: that buffer's clone
/// (`None` otherwise, or if it cannot be cloned now).
fn clone_from_write_queue(
    queues: &mut SockQueues,
    offset: usize,
    len: usize,
    h: &Header,
) -> Option<SkBuff> {
    queues
        .write()
        .whole_at(offset, len)?
        .clone_for_send(|buf| h.emit(buf).map_err(|_| EINVAL))
}

/// Copies `out.len()` bytes at `offset` of the write queue into `out`.
fn copy_from_write_queue(queues: &mut SockQueues, offset: usize, out: &mut [u8]) -> Result {
    let mut at = 0;
    let done = queues.write().for_range(offset, out.len(), |skb, off, n| {
        let r = out
            .get_mut(at..at + n)
            .ok_or(EINVAL)
            .and_then(|dst| skb.copy_out(off, dst));
        at += n;
        r
    })?;
    if done == out.len() {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// The connection reached CLOSED: unhash it, free its buffers, tell the
/// listener of a child that never completed, and wake everyone.
///
/// The established table's reference is dropped here; every caller holds
/// another one (the socket's, the timer's, or a lookup's), so the sock
/// outlives the lock its caller holds.
fn finish(sk: &Sock<'_, AfcSock>, queues: &mut SockQueues, c: &mut ConnState) {
    sk.stop_timer();
    sk.dst_reset();
    c.armed = None;
    if c.hashed {
        c.hashed = false;
        drop(
            netns::of_sock(sk)
                .tables
                .remove_established(&c.conn.tuple(), sk.id()),
        );
    }
    queues.write().purge();
    sk.data().queued.store(0, Ordering::Relaxed);
    sk.data().notsent.store(0, Ordering::Relaxed);
    // A wait for memory ends with the connection (the socket may connect
    // again after `connect(AF_UNSPEC)`).
    c.mem_retry = None;
    sk.data().clear_mem_wait();
    c.ofo = KVec::new();
    uncount_orphan(c);
    if let Some(p) = c.parent.take() {
        // Never queued for accept() (half-open, or held by `AFC_DEFER_ACCEPT`).
        if !c.was_established || c.defer_until.take().is_some() {
            p.half_open_gone(sk, c.conn.error().is_some());
        }
    }
    sk.set_state(State::Closed.as_u8());
    sk.add_shutdown(SHUTDOWN_MASK);
    sk.state_change();
}

/// Aborts a connection (RST if the peer knows it) and drives it to CLOSED.
pub(crate) fn abort(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked) {
    if let Role::Conn(c) = &mut st.role {
        c.conn.abort();
    }
    drive(sk, st);
}

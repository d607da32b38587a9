// SPDX-License-Identifier: GPL-2.0

//! The socket's line of `/proc/net/af_custom` (read under the namespace's
//! socket-list lock: atomics only, no socket lock).

use super::AfcSock;
use crate::abstractions::seq_file::SeqFile;
use crate::abstractions::sock::Sock;
use crate::proto::conn::Config;
use crate::proto::opts::ProcRow;
use crate::proto::state::State;
use crate::proto::time::Instant;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// A connection's [`ProcRow`], published by its owner (`conn::drive`) for
/// the lockless reader; fields may come from two publications, as TCP's
/// reader sees them.
pub(crate) struct ProcAtomics {
    timer: AtomicU8,
    /// The deadline in microseconds (`conn::now`'s clock), 0: none.
    timer_at: AtomicU64,
    retransmits: AtomicU8,
    probes: AtomicU8,
    rto_us: AtomicU64,
    ato_us: AtomicU64,
    cwnd_bytes: AtomicU32,
    ssthresh_bytes: AtomicU32,
    mss: AtomicU32,
}

impl ProcAtomics {
    /// A socket without a connection, as TCP shows a fresh one.
    pub(crate) fn new() -> Self {
        let c = Config::on_link(0);
        let r = ProcRow::idle(c.rto_initial_us, c.initial_cwnd);
        Self {
            timer: AtomicU8::new(r.timer),
            timer_at: AtomicU64::new(0),
            retransmits: AtomicU8::new(0),
            probes: AtomicU8::new(0),
            rto_us: AtomicU64::new(r.rto_us),
            ato_us: AtomicU64::new(r.ato_us),
            cwnd_bytes: AtomicU32::new(r.cwnd_bytes),
            ssthresh_bytes: AtomicU32::new(r.ssthresh_bytes),
            mss: AtomicU32::new(r.mss),
        }
    }

    /// Publishes `r` (the socket's owner, after each change).
    pub(crate) fn publish(&self, r: &ProcRow) {
        self.timer.store(r.timer, Ordering::Relaxed);
        self.timer_at
            .store(r.timer_at.map_or(0, Instant::micros), Ordering::Relaxed);
        self.retransmits.store(r.retransmits, Ordering::Relaxed);
        self.probes.store(r.probes, Ordering::Relaxed);
        self.rto_us.store(r.rto_us, Ordering::Relaxed);
        self.ato_us.store(r.ato_us, Ordering::Relaxed);
        self.cwnd_bytes.store(r.cwnd_bytes, Ordering::Relaxed);
        self.ssthresh_bytes
            .store(r.ssthresh_bytes, Ordering::Relaxed);
        self.mss.store(r.mss, Ordering::Relaxed);
    }
}

/// Microseconds as `clock_t` (`USER_HZ`, 100 a second), as `/proc/net/tcp`
/// prints times.
fn clock_t(us: u64) -> u64 {
    us / 10_000
}

/// One line of `/proc/net/af_custom`, with exactly the columns of
/// `/proc/net/tcp` (`get_tcp4_sock`), so that `ss` reads it
/// (`PROC_NET_TCP=/proc/net/af_custom ss -tanpe`): addresses as
/// `%08X:%04X` of the network-order address and host-order port, the
/// state as its TCP number, send and receive queue bytes (for a
/// listener: its backlog and accept queue length, as `ss -lt` shows
/// them), the timer and its time left, retransmissions, uid, probes,
/// inode, reference count, the sock's address (`%pK`), RTO and ATO in
/// `clock_t`, quick-ACK mode (0: none kept), congestion window and
/// slow-start threshold (-1 in the initial slow start; a listener shows
/// its fast-open queue length, 0, as TCP's).
pub(crate) fn proc_line(w: &mut SeqFile, sk: &Sock<'_, AfcSock>, sl: i32) -> core::fmt::Result {
    use core::fmt::Write;
    let ((la, lp), (ra, rp)) = sk.addrs();
    let state = sk.state();
    let listening = state == State::Listen.as_u8();
    let p = &sk.data().proc;
    let (tx, rx) = if listening {
        let max = sk.ack_backlog_max();
        (max, sk.ack_backlog())
    } else {
        (
            sk.data().queued.load(Ordering::Relaxed),
            sk.data().unread.load(Ordering::Relaxed),
        )
    };
    let state = if state == 0 {
        State::Closed.as_u8()
    } else {
        state
    };
    let at = p.timer_at.load(Ordering::Relaxed);
    let timer = if at == 0 {
        0
    } else {
        p.timer.load(Ordering::Relaxed)
    };
    let when = clock_t(at.saturating_sub(super::conn::now().micros()));
    let (cwnd, ssthresh) = ProcRow::in_segments(
        p.cwnd_bytes.load(Ordering::Relaxed),
        p.ssthresh_bytes.load(Ordering::Relaxed),
        p.mss.load(Ordering::Relaxed),
    );
    let ssthresh = if listening { 0 } else { ssthresh };
    write!(
        w,
        "{:4}: {:08X}:{:04X} {:08X}:{:04X} {:02X} {:08X}:{:08X} {:02X}:{:08X} {:08X} {:5} {:8} {}",
        sl,
        la.to_be(),
        lp,
        ra.to_be(),
        rp,
        state,
        tx,
        rx,
        timer,
        when,
        p.retransmits.load(Ordering::Relaxed),
        sk.uid(),
        p.probes.load(Ordering::Relaxed),
        sk.inode()
    )?;
    w.sock_ref(sk);
    writeln!(
        w,
        " {} {} {} {} {}",
        clock_t(p.rto_us.load(Ordering::Relaxed)),
        clock_t(p.ato_us.load(Ordering::Relaxed)),
        0,
        cwnd,
        ssthresh
    )
}

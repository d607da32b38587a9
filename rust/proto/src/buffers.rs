//! Socket buffer policy: how much of a receive buffer the window may offer
//! for the memory its queue really takes (the payload share of memory a
//! full-sized segment measured, TCP's `scaling_ratio`), how a receive buffer grows with
//! what the reader consumes (dynamic right-sizing, Linux's
//! `tcp_rcv_space_adjust`), and how a send buffer follows the congestion
//! window (`tcp_sndbuf_expand`).
//!
//! Buffers are in bytes of memory (an skb's truesize), windows in payload
//! bytes. The caller (the socket layer) owns the buffers; these functions
//! only say what sizes to use.

/// Memory a queued segment costs beyond its payload (skb, shared info,
/// allocation rounding), used to size a send buffer for a window.
pub const SEGMENT_OVERHEAD: u32 = 1024;

/// Shortest interval over which the reader's pace is measured, in
/// microseconds, when the connection has no round-trip sample (a pure
/// receiver) or a shorter one (loopback).
pub const MIN_MEASURE_US: u64 = 1000;

/// The share of a receive buffer's memory that is payload, in 256ths
/// (TCP's `scaling_ratio`, `TCP_RMEM_TO_WIN_SCALE`): a connection
/// assumes half ([`DEFAULT_SCALING_RATIO`], `tcp_adv_win_scale = 1`)
/// until a full-sized segment measures it ([`measured_ratio`]).
pub const SCALING_SHIFT: u32 = 8;

/// The payload share assumed before any segment measured it: half.
pub const DEFAULT_SCALING_RATIO: u8 = 1 << (SCALING_SHIFT - 1);

/// `1 << SCALING_SHIFT`: a share of one.
const SCALE: u64 = 1 << SCALING_SHIFT;

/// Returns the payload share (in 256ths, never 0) that a segment of `len`
/// payload bytes queued in `truesize` bytes of memory measures, if it is
/// full-sized (at least `mss` bytes): what `tcp_measure_rcv_mss` sets
/// `scaling_ratio` to. Shorter segments (a write's tail, a request) say
/// nothing of what a full window costs, and are not counted.
pub fn measured_ratio(len: u32, truesize: u32, mss: u32) -> Option<u8> {
    if len < mss.max(1) || truesize == 0 {
        return None;
    }
    let r = (u64::from(len).saturating_mul(SCALE)).checked_div(u64::from(truesize))?;
    Some(u8::try_from(r.clamp(1, 255)).unwrap_or(u8::MAX))
}

/// Returns the payload bytes `space` bytes of memory hold at payload
/// share `ratio` (`__tcp_win_from_space`).
pub fn win_from_space(space: u32, ratio: u8) -> u32 {
    let w = u64::from(space).saturating_mul(u64::from(ratio)) / SCALE;
    u32::try_from(w).unwrap_or(u32::MAX)
}

/// Returns the memory that holds a window of `win` payload bytes at
/// payload share `ratio` (`tcp_space_from_win`).
pub fn space_from_win(win: u32, ratio: u8) -> u32 {
    let r = u64::from(win)
        .saturating_mul(SCALE)
        .checked_div(u64::from(ratio.max(1)))
        .unwrap_or(u64::MAX);
    u32::try_from(r).unwrap_or(u32::MAX)
}

/// Returns the window a receive buffer of `rcvbuf` bytes of memory offers
/// when empty, at payload share `ratio`, and never less than 4 KiB.
pub fn window_for(rcvbuf: u32, ratio: u8) -> u32 {
    win_from_space(rcvbuf, ratio).max(4096)
}

/// Returns the receive budget for the connection's window (the core's
/// `recv_buf`: the window offered is this minus the unread bytes) for a
/// receive buffer of `rcvbuf` bytes of memory that holds `rmem` bytes
/// (truesize) for `unread` payload bytes, at the payload share `ratio`
/// that full-sized segments measured (`tcp_space`).
///
/// When what is queued costs more memory per byte than that (small
/// segments), the free memory is counted at the queue's own share, so
/// the window closes before the memory runs out instead of leaving the
/// sender a window the buffer cannot hold.
pub fn recv_budget(rcvbuf: u32, rmem: u32, unread: u32, ratio: u8) -> u32 {
    let full = window_for(rcvbuf, ratio);
    if rmem == 0 {
        return full;
    }
    let free = rcvbuf.saturating_sub(rmem);
    // The queue's own share is at least `ratio` (compared without a
    // division: this runs for every segment and read).
    let efficient =
        u64::from(unread).saturating_mul(SCALE) >= u64::from(rmem).saturating_mul(u64::from(ratio));
    let room = if efficient {
        win_from_space(free, ratio)
    } else {
        let r = u64::from(free)
            .saturating_mul(u64::from(unread))
            .checked_div(u64::from(rmem))
            .unwrap_or(0);
        u32::try_from(r).unwrap_or(u32::MAX)
    };
    full.min(unread.saturating_add(room))
}

/// Segments of window a connection offers beyond what it holds while the
/// family is under memory pressure (`__tcp_select_window` clamps
/// `rcv_ssthresh` to `4 * advmss`, though only once half the buffer is
/// used: ours applies at once).
pub const PRESSURE_WINDOW_SEGS: u32 = 4;

/// Returns the receive budget while the family is under memory pressure
/// (`net.af_custom.mem[1]` passed, or the owner's memory cgroup under
/// socket pressure): no more than [`PRESSURE_WINDOW_SEGS`] segments of
/// `mss` bytes of window beyond the `unread` bytes, and never more than
/// the `budget` without pressure. The window already offered is not
/// taken back (the core never retracts its right edge); what is offered
/// next shrinks to this.
pub fn pressure_budget(budget: u32, unread: u32, mss: u32) -> u32 {
    budget.min(unread.saturating_add(mss.max(1).saturating_mul(PRESSURE_WINDOW_SEGS)))
}

/// Returns the send buffer (bytes of memory) that keeps a congestion
/// window of `cwnd` bytes in segments of `mss` bytes queued twice over, as
/// `tcp_sndbuf_expand` sizes it: one window in flight, one being filled.
pub fn sndbuf_for(cwnd: u32, mss: u32) -> u32 {
    let segs = cwnd.checked_div(mss.max(1)).unwrap_or(0).saturating_add(1);
    cwnd.saturating_add(segs.saturating_mul(SEGMENT_OVERHEAD))
        .saturating_mul(2)
}

/// Dynamic right-sizing of a receive buffer: measures how many bytes the
/// reader takes per round trip and asks for a buffer that lets the sender
/// keep twice that in flight (`tcp_rcv_space_adjust`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RcvSpace {
    /// Start of the current measurement, in microseconds.
    start_us: u64,
    /// Bytes read since `start_us`.
    copied: u64,
    /// Bytes read in the best measured interval so far.
    space: u64,
}

impl RcvSpace {
    /// Starts measuring at `now_us` for a connection whose window starts
    /// at `window` bytes. The pace to beat is half of it (Linux starts
    /// below the window too, at `rcv_ssthresh`): a reader that takes a
    /// whole window per round trip is held back by the window, and must
    /// grow the buffer, not wait for a measurement that happens to span
    /// two windows.
    pub fn new(now_us: u64, window: u32) -> RcvSpace {
        RcvSpace {
            start_us: now_us,
            copied: 0,
            space: u64::from(window / 2),
        }
    }

    /// The reader took `n` bytes at `now_us`; `rtt_us` is the connection's
    /// smoothed round-trip time, if it has one, and `mss` its segment size.
    ///
    /// Returns the receive buffer (bytes of memory, before any cap) the
    /// reader's pace asks for, once per measured interval, when the pace
    /// grew: twice the bytes read per round trip plus sixteen segments, as
    /// window, in the memory that window takes at payload share `ratio`
    /// (`tcp_space_from_win`).
    pub fn on_read(
        &mut self,
        n: u32,
        now_us: u64,
        rtt_us: Option<u64>,
        mss: u32,
        ratio: u8,
    ) -> Option<u32> {
        self.copied = self.copied.saturating_add(u64::from(n));
        let interval = rtt_us.unwrap_or(0).max(MIN_MEASURE_US);
        if now_us.saturating_sub(self.start_us) < interval {
            return None;
        }
        let copied = self.copied;
        self.start_us = now_us;
        self.copied = 0;
        if copied <= self.space {
            return None;
        }
        // As Linux: rcvwin = 2 * copied + 16 * mss, plus twice the growth
        // ratio on top when the pace rose.
        let mut win = copied
            .saturating_mul(2)
            .saturating_add(u64::from(mss).saturating_mul(16));
        let grow = win
            .saturating_mul(copied.saturating_sub(self.space))
            .checked_div(self.space.max(1))
            .unwrap_or(0);
        win = win.saturating_add(grow.saturating_mul(2));
        self.space = copied;
        Some(space_from_win(
            u32::try_from(win).unwrap_or(u32::MAX),
            ratio,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: u8 = DEFAULT_SCALING_RATIO;

    #[test]
    fn budget_is_half_the_buffer_for_large_segments() {
        assert_eq!(recv_budget(131_072, 0, 0, D), 65_536);
        // 60 KiB unread in 64 KiB of memory: the window is what is left of the half.
        assert_eq!(recv_budget(131_072, 65_536, 61_440, D), 65_536);
    }

    #[test]
    fn budget_closes_when_small_segments_fill_memory() {
        // 100 one-byte segments at 768 bytes each: 76,800 of 131,072 used,
        // 54,272 free, at 1/768 payload per byte: 70 more bytes of room.
        assert_eq!(recv_budget(131_072, 76_800, 100, D), 170);
        // Memory full: nothing beyond what is unread (window zero).
        assert_eq!(recv_budget(131_072, 140_000, 150, D), 150);
        assert_eq!(recv_budget(131_072, 140_000, 0, D), 0);
    }

    #[test]
    fn pressure_caps_the_window_at_four_segments() {
        // 1 MiB of budget, nothing unread: four 1460-byte segments.
        assert_eq!(pressure_budget(1 << 20, 0, 1460), 5840);
        // What is unread stays counted; the window beyond it is capped.
        assert_eq!(pressure_budget(1 << 20, 100_000, 1460), 105_840);
        // A budget already smaller than the cap is kept.
        assert_eq!(pressure_budget(4096, 0, 1460), 4096);
        assert_eq!(pressure_budget(u32::MAX, u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(pressure_budget(8192, 0, 0), 4);
    }

    #[test]
    fn sndbuf_holds_two_windows() {
        // Ten 63 KiB segments (loopback) ask for about 1.3 MB, as TCP's.
        assert_eq!(sndbuf_for(10 * 64_512, 64_512), 2 * (645_120 + 11 * 1024));
        assert_eq!(sndbuf_for(0, 0), 2 * SEGMENT_OVERHEAD);
    }

    #[test]
    fn a_reader_held_to_its_window_grows_the_buffer() {
        // The round trip is longer than the minimum interval (a slow
        // host) and every round trip delivers exactly the 64 KiB window.
        let mut r = RcvSpace::new(0, 65_536);
        assert_eq!(
            r.on_read(65_536, 1_500, Some(1_500), 1460, D),
            Some(2 * (2 * 65_536 + 16 * 1460 + 2 * (2 * 65_536 + 16 * 1460)))
        );
    }

    #[test]
    fn right_sizing_grows_with_the_readers_pace_only() {
        let mut r = RcvSpace::new(0, 65_536);
        // Within one interval: no decision.
        assert_eq!(r.on_read(65_536, 500, None, 1460, D), None);
        // One interval with 128 KiB read beats 64 KiB: grow.
        let b = r.on_read(65_536, 1_000, None, 1460, D).unwrap();
        assert!(b >= 4 * 131_072, "{b}");
        // The same pace again: no growth.
        assert_eq!(r.on_read(131_072, 2_000, None, 1460, D), None);
        // A slower reader never shrinks it either.
        assert_eq!(r.on_read(1, 3_000, None, 1460, D), None);
        // A long round trip stretches the interval.
        assert_eq!(r.on_read(1_000_000, 8_000, Some(10_000), 1460, D), None);
        assert!(r.on_read(0, 13_001, Some(10_000), 1460, D).is_some());
    }

    #[test]
    fn full_sized_segments_measure_the_payload_share() {
        // A 63 KiB loopback segment in 64 KiB and a bit of memory: 98 %.
        assert_eq!(measured_ratio(64_480, 66_304, 64_480), Some(248));
        // A write's tail, or a request, says nothing.
        assert_eq!(measured_ratio(1_056, 2_304, 64_480), None);
        // A 1448-byte segment in a 4 KiB page fragment (a NIC's).
        assert_eq!(measured_ratio(1_448, 4_864, 1_448), Some(76));
        // Never 0, never past 255, nothing from an empty buffer.
        assert_eq!(measured_ratio(1, 1 << 20, 1), Some(1));
        assert_eq!(measured_ratio(5_000, 4_000, 1), Some(255));
        assert_eq!(measured_ratio(100, 0, 1), None);
    }

    #[test]
    fn the_window_follows_the_measured_share() {
        // TCP's: 6 MiB at 248/256 offers 5.8 MiB, not half of it.
        assert_eq!(window_for(6 << 20, 248), 6_094_848);
        assert_eq!(window_for(6 << 20, D), 3 << 20);
        assert_eq!(recv_budget(6 << 20, 0, 0, 248), 6_094_848);
        // 2 MiB unread in large segments (their share as measured):
        // the free 4 MiB offers 248/256 of itself.
        let rmem = space_from_win(2 << 20, 248);
        assert_eq!(
            recv_budget(6 << 20, rmem, 2 << 20, 248),
            (2 << 20) + win_from_space((6 << 20) - rmem, 248)
        );
        // The memory a window takes, and back.
        assert_eq!(space_from_win(3 << 20, D), 6 << 20);
        assert_eq!(
            win_from_space(space_from_win(1 << 20, 248), 248),
            (1 << 20) - 1
        );
        assert_eq!(space_from_win(1, 0), 256);
    }

    #[test]
    fn small_segments_still_close_the_window_at_a_high_share() {
        // A measured 248/256, then 100 one-byte segments at 768 bytes
        // each: the queue's own share counts, as at the default.
        assert_eq!(recv_budget(131_072, 76_800, 100, 248), 170);
        assert_eq!(recv_budget(131_072, 140_000, 150, 248), 150);
    }

    #[test]
    fn right_sizing_asks_for_the_memory_of_its_window() {
        let mut a = RcvSpace::new(0, 65_536);
        let mut b = a;
        let at_half = a.on_read(1 << 20, 1_000, None, 1460, D).unwrap();
        let at_share = b.on_read(1 << 20, 1_000, None, 1460, 248).unwrap();
        assert_eq!(at_half, 2 * win_from_space(at_half, D));
        assert_eq!(at_share, space_from_win(at_half / 2, 248));
        assert!(at_share < at_half);
    }
}

//! The protocol options' rules that are not a connection's state:
//! `TCP_MAXSEG`'s bounds, `TCP_DEFER_ACCEPT`'s rounding, the congestion
//! control's name, `TCP_INFO`'s numbers and the trailing columns of a
//! `/proc/net/tcp` line.

use super::conn::{Connection, Timers, MAX_SEND_QUEUE};
use super::state::State;
use super::time::{earliest, Instant};
use super::wire::{MAX_PAYLOAD, MIN_MSS};

/// What `TCP_MAXSEG` reports before a connection has an MSS (`TCP_MSS_DEFAULT`).
pub const MSS_DEFAULT: u32 = 536;
/// The smallest MSS `TCP_MAXSEG` accepts (`TCP_MIN_MSS`).
pub const USER_MSS_MIN: i32 = 88;
/// The largest MSS `TCP_MAXSEG` accepts (`MAX_TCP_WINDOW`).
pub const USER_MSS_MAX: i32 = 32767;

/// Checks a `TCP_MAXSEG` value as `do_tcp_setsockopt`: 0 (no clamp) or
/// 88..=32767; `None` means `EINVAL`.
pub fn user_mss(val: i32) -> Option<u16> {
    if val == 0 || (USER_MSS_MIN..=USER_MSS_MAX).contains(&val) {
        u16::try_from(val).ok()
    } else {
        None
    }
}

/// The MSS a connection announces: the device's, clamped by a user MSS
/// (not below the protocol's least, [`MIN_MSS`]).
pub fn clamp_mss(device: u16, user: u16) -> u16 {
    let m = if user == 0 { device } else { device.min(user) };
    m.clamp(MIN_MSS, MAX_PAYLOAD as u16)
}

/// The name of the one congestion control (NewReno, RFC 6582), as
/// `TCP_CONGESTION` reports it.
pub const CONGESTION_NAME: &[u8] = b"reno";
/// The size of `TCP_CONGESTION`'s name buffer (`TCP_CA_NAME_MAX`).
pub const CA_NAME_MAX: usize = 16;

/// Whether `name` (as given to `TCP_CONGESTION`, possibly NUL-terminated)
/// names the one algorithm; any other is `ENOENT`, as TCP answers for an
/// algorithm it does not know.
pub fn congestion_known(name: &[u8]) -> bool {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    name.get(..end) == Some(CONGESTION_NAME)
}

/// The SYN-ACK timeout that `TCP_DEFER_ACCEPT` counts in, in seconds
/// (`TCP_TIMEOUT_INIT`).
const DEFER_TIMEOUT_S: i32 = 1;
/// The most a retransmission timeout backs off to, in seconds (`TCP_RTO_MAX`).
const DEFER_RTO_MAX_S: i32 = 120;

/// `TCP_DEFER_ACCEPT`'s seconds as the number of SYN-ACK timeouts that
/// cover them (`secs_to_retrans`): 0 for none, 1 for up to 1 s, 2 up to
/// 3 s, 3 up to 7 s...
pub fn defer_secs_to_retrans(seconds: i32) -> u8 {
    if seconds <= 0 {
        return 0;
    }
    let mut res = 1u8;
    let mut timeout = DEFER_TIMEOUT_S;
    let mut period = timeout;
    while seconds > period && res < u8::MAX {
        res = res.saturating_add(1);
        timeout = timeout.saturating_mul(2).min(DEFER_RTO_MAX_S);
        period = period.saturating_add(timeout);
    }
    res
}

/// The seconds that `retrans` SYN-ACK timeouts last (`retrans_to_secs`):
/// what `TCP_DEFER_ACCEPT` reads back.
pub fn defer_retrans_to_secs(retrans: u8) -> i32 {
    if retrans == 0 {
        return 0;
    }
    let mut timeout = DEFER_TIMEOUT_S;
    let mut period = timeout;
    for _ in 1..retrans {
        timeout = timeout.saturating_mul(2).min(DEFER_RTO_MAX_S);
        period = period.saturating_add(timeout);
    }
    period
}

/// The numbers of `TCP_INFO` that mean something here (the rest are 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The state, numbered as TCP's (`tcpi_state`).
    pub state: u8,
    /// Consecutive timeouts (`tcpi_retransmits`, `tcpi_backoff`).
    pub retransmits: u8,
    /// Unanswered window or keepalive probes (`tcpi_probes`).
    pub probes: u8,
    /// Window scales: ours and the peer's (`tcpi_rcv_wscale`, `tcpi_snd_wscale`).
    pub rcv_wscale: u8,
    pub snd_wscale: u8,
    /// Retransmission timeout, microseconds (`tcpi_rto`).
    pub rto_us: u32,
    /// Delayed-ACK timeout, microseconds (`tcpi_ato`).
    pub ato_us: u32,
    /// MSS we send and that we announced (`tcpi_snd_mss`, `tcpi_rcv_mss`, `tcpi_advmss`).
    pub snd_mss: u32,
    pub rcv_mss: u32,
    /// Segments in flight (`tcpi_unacked`).
    pub unacked: u32,
    /// Smoothed RTT and its variance, microseconds (`tcpi_rtt`, `tcpi_rttvar`).
    pub rtt_us: u32,
    pub rttvar_us: u32,
    /// Slow-start threshold and congestion window, in segments.
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    /// Milliseconds since the last segment from the peer (`tcpi_last_ack_recv`).
    pub last_recv_ms: u32,
    /// Retransmitted segments, in total (`tcpi_total_retrans`).
    pub total_retrans: u32,
    /// Segments sent and received (`tcpi_segs_out`, `tcpi_segs_in`).
    pub segs_out: u32,
    pub segs_in: u32,
    /// Bytes queued and not yet sent (`tcpi_notsent_bytes`).
    pub notsent_bytes: u32,
    /// The peer's window and ours (`tcpi_snd_wnd`, `tcpi_rcv_wnd`).
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    /// Timeouts in total (`tcpi_total_rto`).
    pub total_rto: u16,
}

impl Info {
    /// The numbers of a socket with no connection in `state` (TCP's number).
    pub fn idle(state: State) -> Info {
        Info {
            state: state.as_u8(),
            snd_mss: MSS_DEFAULT,
            ..Info::default()
        }
    }
}

impl Connection {
    /// Returns `TCP_INFO`'s numbers for this connection at `now`.
    pub fn info(&self, now: Instant) -> Info {
        let mss = self.snd.mss.max(1);
        let in_flight = self.snd.max.since(self.snd.una);
        Info {
            state: self.state.as_u8(),
            retransmits: self.snd.retries,
            probes: self.snd.probes_out,
            rcv_wscale: self.rcv.wscale,
            snd_wscale: self.snd.wscale,
            rto_us: u32::try_from(self.snd.rtt.backed_off(u32::from(self.snd.retries)))
                .unwrap_or(u32::MAX),
            ato_us: u32::try_from(self.cfg.ack_delay_us).unwrap_or(u32::MAX),
            snd_mss: self.snd.mss,
            rcv_mss: u32::from(self.cfg.mss),
            unacked: in_flight
                .saturating_add(mss.saturating_sub(1))
                .checked_div(mss)
                .unwrap_or(0),
            rtt_us: u32::try_from(self.snd.rtt.srtt().unwrap_or(0)).unwrap_or(u32::MAX),
            rttvar_us: u32::try_from(self.snd.rtt.rttvar()).unwrap_or(u32::MAX),
            snd_ssthresh: self.snd.ssthresh.checked_div(mss).unwrap_or(0),
            snd_cwnd: self.snd.cwnd.checked_div(mss).unwrap_or(0),
            last_recv_ms: u32::try_from(now.since(self.timers.last_recv) / 1000)
                .unwrap_or(u32::MAX),
            total_retrans: u32::try_from(self.stats.retrans_segs).unwrap_or(u32::MAX),
            segs_out: self.stats.out_segs as u32,
            segs_in: self.stats.in_segs as u32,
            notsent_bytes: self.unsent(),
            snd_wnd: self.snd.wnd,
            rcv_wnd: self.recv_window(),
            total_rto: u16::try_from(self.stats.timeouts).unwrap_or(u16::MAX),
        }
    }
}

/// The numbers of a socket's `/proc/net/tcp` line past the addresses and
/// queues (`get_tcp4_sock`): which timer runs and when it fires, the
/// retransmission and probe counts, RTO, ATO, congestion window and
/// slow-start threshold. The module publishes them for its lockless
/// `/proc/net/af_custom` reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcRow {
    /// The `tr` column: [`ProcRow::TIMER_NONE`] and the others, TCP's numbers.
    pub timer: u8,
    /// When that timer fires (`tm->when` is the time left), if one runs.
    pub timer_at: Option<Instant>,
    /// Consecutive timeouts (`retrnsmt`, `icsk_retransmits`).
    pub retransmits: u8,
    /// Unanswered window or keepalive probes (the `timeout` column, `icsk_probes_out`).
    pub probes: u8,
    /// Retransmission timeout, backed off, and delayed-ACK timeout, microseconds.
    pub rto_us: u64,
    pub ato_us: u64,
    /// Congestion window and slow-start threshold in bytes, and the
    /// segment size they are counted in ([`ProcRow::cwnd`] and
    /// [`ProcRow::ssthresh`] divide when the line is read: the row is
    /// published after every event, and a division is dear under TCG).
    pub cwnd_bytes: u32,
    pub ssthresh_bytes: u32,
    pub mss: u32,
}

impl ProcRow {
    /// `tr` 0: no timer TCP shows (a delayed ACK alone shows none, as TCP's).
    pub const TIMER_NONE: u8 = 0;
    /// `tr` 1: retransmission.
    pub const TIMER_RETRANS: u8 = 1;
    /// `tr` 2: keepalive (TCP's orphaned FIN_WAIT_2 runs on it too).
    pub const TIMER_KEEPALIVE: u8 = 2;
    /// `tr` 3: TIME_WAIT.
    pub const TIMER_TIME_WAIT: u8 = 3;
    /// `tr` 4: zero-window probe.
    pub const TIMER_PROBE0: u8 = 4;

    /// A socket without a connection (new, bound, listening), as TCP
    /// shows one: no timer, the initial RTO and congestion window, and
    /// the initial slow start.
    pub fn idle(rto_initial_us: u64, initial_cwnd: u32) -> ProcRow {
        ProcRow {
            timer: Self::TIMER_NONE,
            timer_at: None,
            retransmits: 0,
            probes: 0,
            rto_us: rto_initial_us,
            ato_us: 0,
            cwnd_bytes: initial_cwnd,
            ssthresh_bytes: MAX_SEND_QUEUE,
            mss: 1,
        }
    }

    /// Congestion window in segments.
    pub fn cwnd(&self) -> u32 {
        Self::in_segments(self.cwnd_bytes, self.ssthresh_bytes, self.mss).0
    }

    /// Slow-start threshold in segments, -1 while in the initial slow
    /// start (as `tcp_in_initial_slowstart`).
    pub fn ssthresh(&self) -> i32 {
        Self::in_segments(self.cwnd_bytes, self.ssthresh_bytes, self.mss).1
    }

    /// The congestion window and slow-start threshold in segments of
    /// `mss` bytes (zero taken as one), from their bytes.
    pub fn in_segments(cwnd_bytes: u32, ssthresh_bytes: u32, mss: u32) -> (u32, i32) {
        let mss = mss.max(1);
        let ssthresh = if ssthresh_bytes >= MAX_SEND_QUEUE {
            -1
        } else {
            i32::try_from(ssthresh_bytes.checked_div(mss).unwrap_or(0)).unwrap_or(i32::MAX)
        };
        (cwnd_bytes.checked_div(mss).unwrap_or(0), ssthresh)
    }
}

impl Connection {
    /// Returns the numbers of this connection's `/proc/net/tcp` line.
    pub fn proc_row(&self) -> ProcRow {
        let (timer, timer_at) = proc_timer(&self.timers);
        ProcRow {
            timer,
            timer_at,
            retransmits: self.snd.retries,
            probes: self.snd.probes_out,
            rto_us: self.snd.rtt.backed_off(u32::from(self.snd.retries)),
            ato_us: self.cfg.ack_delay_us,
            cwnd_bytes: self.snd.cwnd,
            ssthresh_bytes: self.snd.ssthresh,
            mss: self.snd.mss,
        }
    }
}

/// The timer `/proc/net/af_custom` shows, and when it fires, as
/// `get_tcp4_sock` chooses: a pending retransmission or window probe
/// first, then the keepalive timer; TIME_WAIT as `get_timewait4_sock`.
///
/// Each later choice overrides an earlier one, on plain integers: selects
/// rather than a branch per timer (this runs in every `drive`).
fn proc_timer(t: &Timers) -> (u8, Option<Instant>) {
    let mut timer = ProcRow::TIMER_NONE;
    let mut at = 0u64;
    for (kind, deadline) in [
        (
            ProcRow::TIMER_KEEPALIVE,
            earliest(t.ka_deadline, t.fw2_deadline),
        ),
        (ProcRow::TIMER_PROBE0, t.persist_deadline),
        (ProcRow::TIMER_RETRANS, t.rto_deadline),
        (ProcRow::TIMER_TIME_WAIT, t.tw_deadline),
    ] {
        timer = if deadline.is_some() { kind } else { timer };
        at = deadline.map_or(at, Instant::micros);
    }
    let chosen = timer != ProcRow::TIMER_NONE;
    (timer, chosen.then_some(Instant::from_micros(at)))
}

/// The filters of a `sock_diag` request (`struct afc_diag_req`): a
/// bitmap of states (bit `1 << state`, TCP's numbers) and, where nonzero,
/// the local and peer port (host order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiagFilter {
    pub states: u32,
    pub sport: u16,
    pub dport: u16,
}

impl DiagFilter {
    /// Whether a socket in `state` (TCP's number) with local port `sport`
    /// and peer port `dport` is listed, as inet_diag filters TCP's: its
    /// state's bit is set and each nonzero port filter equals its port.
    pub fn matches(&self, state: u8, sport: u16, dport: u16) -> bool {
        let bit = 1u32.checked_shl(state.into()).unwrap_or(0);
        self.states & bit != 0
            && (self.sport == 0 || self.sport == sport)
            && (self.dport == 0 || self.dport == dport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `proc_timer` against the cascade of tests it replaced, over every
    /// combination of the five deadlines set or not (distinct times, so
    /// the chosen one is seen).
    #[test]
    fn proc_timer_chooses_as_get_tcp4_sock() {
        for bits in 0u32..32 {
            let at = |i: u32, t: u64| (bits & (1 << i) != 0).then(|| Instant::from_micros(t));
            let t = Timers {
                tw_deadline: at(0, 10),
                rto_deadline: at(1, 20),
                persist_deadline: at(2, 30),
                ka_deadline: at(3, 50),
                fw2_deadline: at(4, 40),
                persist_backoff: 0,
                delack_deadline: None,
                last_recv: Instant::from_micros(0),
                last_probe: Instant::from_micros(0),
                retrans_stamp: None,
            };
            let want = if t.tw_deadline.is_some() {
                (ProcRow::TIMER_TIME_WAIT, t.tw_deadline)
            } else if t.rto_deadline.is_some() {
                (ProcRow::TIMER_RETRANS, t.rto_deadline)
            } else if t.persist_deadline.is_some() {
                (ProcRow::TIMER_PROBE0, t.persist_deadline)
            } else if t.ka_deadline.is_some() || t.fw2_deadline.is_some() {
                (
                    ProcRow::TIMER_KEEPALIVE,
                    earliest(t.ka_deadline, t.fw2_deadline),
                )
            } else {
                (ProcRow::TIMER_NONE, None)
            };
            assert_eq!(proc_timer(&t), want, "deadlines {bits:05b}");
        }
    }

    fn filter(states: u32, sport: u16, dport: u16) -> DiagFilter {
        DiagFilter {
            states,
            sport,
            dport,
        }
    }

    #[test]
    fn diag_filter_matches_state_and_ports() {
        let all = filter(u32::MAX, 0, 0);
        assert!(all.matches(State::Listen.as_u8(), 7000, 0));
        assert!(all.matches(State::Established.as_u8(), 7000, 40000));
        // A state number past the bitmap is never listed.
        assert!(!all.matches(32, 1, 1));
        assert!(!all.matches(255, 1, 1));
        let listen = filter(1 << State::Listen.as_u8(), 0, 0);
        assert!(listen.matches(State::Listen.as_u8(), 7000, 0));
        assert!(!listen.matches(State::Established.as_u8(), 7000, 1));
        let none = filter(0, 0, 0);
        assert!(!none.matches(State::Listen.as_u8(), 7000, 0));
        let sport = filter(u32::MAX, 7000, 0);
        assert!(sport.matches(State::Established.as_u8(), 7000, 5));
        assert!(!sport.matches(State::Established.as_u8(), 7001, 7000));
        let both = filter(u32::MAX, 7000, 9);
        assert!(both.matches(State::Established.as_u8(), 7000, 9));
        assert!(!both.matches(State::Established.as_u8(), 7000, 10));
        assert!(!both.matches(State::Established.as_u8(), 9, 7000));
    }

    #[test]
    fn maxseg_bounds_are_tcps() {
        assert_eq!(user_mss(0), Some(0));
        assert_eq!(user_mss(88), Some(88));
        assert_eq!(user_mss(32767), Some(32767));
        assert_eq!(user_mss(87), None);
        assert_eq!(user_mss(-1), None);
        assert_eq!(user_mss(32768), None);
        assert_eq!(clamp_mss(1468, 0), 1468);
        assert_eq!(clamp_mss(1468, 1000), 1000);
        assert_eq!(clamp_mss(1468, 88), 88);
        assert_eq!(clamp_mss(1468, 9000), 1468);
    }

    #[test]
    fn defer_accept_rounds_as_tcp() {
        // secs_to_retrans / retrans_to_secs with a 1 s first timeout.
        for (set, back) in [
            (0, 0),
            (-5, 0),
            (1, 1),
            (2, 3),
            (3, 3),
            (5, 7),
            (7, 7),
            (8, 15),
            (30, 31),
        ] {
            assert_eq!(
                defer_retrans_to_secs(defer_secs_to_retrans(set)),
                back,
                "{set}"
            );
        }
        // Backoff stops at 120 s per timeout.
        assert_eq!(defer_retrans_to_secs(8), 1 + 2 + 4 + 8 + 16 + 32 + 64 + 120);
        assert_eq!(defer_secs_to_retrans(i32::MAX), u8::MAX);
    }

    #[test]
    fn congestion_names() {
        assert!(congestion_known(b"reno"));
        assert!(congestion_known(b"reno\0junk"));
        assert!(!congestion_known(b"cubic"));
        assert!(!congestion_known(b"ren"));
        assert!(!congestion_known(b""));
        assert!(CONGESTION_NAME.len() < CA_NAME_MAX);
    }
}

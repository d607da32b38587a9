//! The connection: its configuration, state, and the calls the application makes.
//!
//! A [`Connection`] is one end of one connection, from `connect()` or from a
//! SYN admitted by a listener until CLOSED. It owns no payload bytes: the
//! caller keeps a send buffer (bytes queued by the application and not yet
//! acknowledged, front = oldest) and a receive queue (in-order bytes not yet
//! read) plus an out-of-order store, and the connection tells it what to do
//! with them. The receive path is in `conn_recv`, the transmit path in
//! `conn_send`, timers in `conn_timer`.
//!
//! The driving loop, after every event (a frame for this connection, an
//! application call, a timer), is: call [`Connection::poll_transmit`] until
//! it returns `None`, sending each segment; then arm one timer for
//! [`Connection::poll_timeout`]. When [`Connection::state`] is
//! [`State::Closed`] (and `poll_transmit` is drained, as it may hold a final
//! RST) the caller unhashes and frees the connection.

use super::assembler::Assembler;
use super::rtt::RttEstimator;
use super::seq::Seq;
use super::state::State;
use super::time::{Instant, MS, SEC};
use super::tuple::FourTuple;
use super::wire::{Header, HEADER_LEN, MAX_PAYLOAD, MAX_WSCALE, MIN_MSS};

/// The most bytes the send buffer may hold, so sequence comparisons stay valid.
pub const MAX_SEND_QUEUE: u32 = 1 << 30;
/// The largest receive buffer, and so the largest receive window.
pub const MAX_RECV_BUF: u32 = 1 << 30;

/// Keepalive settings (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe, in microseconds.
    pub idle_us: u64,
    /// Time between unanswered probes, in microseconds.
    pub interval_us: u64,
    /// Unanswered probes after which the connection is dropped.
    pub probes: u8,
}

impl Keepalive {
    /// Returns Linux's defaults: 2 hours idle, 75 s interval, 9 probes.
    pub const fn linux_default() -> Keepalive {
        Keepalive {
            idle_us: 7200 * SEC,
            interval_us: 75 * SEC,
            probes: 9,
        }
    }
}

/// Per-connection settings, fixed at creation except where a setter exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest payload this end can receive in one frame: device MTU minus [`HEADER_LEN`].
    ///
    /// Announced on SYN; what we send is limited to the smaller of this and the peer's.
    pub mss: u16,
    /// Receive buffer in bytes (`SO_RCVBUF`): the most the receive window offers.
    pub recv_buf: u32,
    /// The largest `recv_buf` may become later ([`Connection::set_recv_buf`]):
    /// the window scale is chosen so that the window can reach it (Linux
    /// picks it for `tcp_rmem[2]`). Zero: `recv_buf`.
    pub recv_buf_max: u32,
    /// Disable Nagle coalescing (`TCP_NODELAY`).
    pub nodelay: bool,
    /// How long an acknowledgement may be delayed, in microseconds; zero acknowledges at once.
    pub ack_delay_us: u64,
    /// Retransmission timeout before any RTT sample (RFC 6298: 1 s).
    pub rto_initial_us: u64,
    /// Smallest retransmission timeout (Linux `TCP_RTO_MIN`: 200 ms).
    pub rto_min_us: u64,
    /// Largest retransmission timeout after backoff (Linux `TCP_RTO_MAX`: 120 s).
    pub rto_max_us: u64,
    /// SYN retransmissions before `connect()` fails (`tcp_syn_retries`: 6).
    pub syn_retries: u8,
    /// SYN-ACK retransmissions before a half-open entry expires (`tcp_synack_retries`: 5).
    pub synack_retries: u8,
    /// Consecutive timeouts before an established connection fails (`tcp_retries2`: 15).
    pub data_retries: u8,
    /// Window probes, or retransmissions, after which an orphan gives up
    /// whatever the peer answers (`tcp_orphan_retries`; 0 means 8, as
    /// Linux takes 0 for a peer that answered recently).
    pub orphan_retries: u8,
    /// How long TIME_WAIT lasts, in microseconds (Linux `TCP_TIMEWAIT_LEN`: 60 s = 2 MSL).
    pub time_wait_us: u64,
    /// How long an orphaned FIN_WAIT_2 waits for the peer's FIN (`tcp_fin_timeout`: 60 s).
    pub fin_wait2_us: u64,
    /// Keepalive, if enabled.
    pub keepalive: Option<Keepalive>,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_cwnd: u32,
    /// Payload per frame on the wire when segments are cut on their way
    /// (GSO frames out of a NIC); zero: segments travel whole. The
    /// congestion window counts in these units (initial window,
    /// growth, the one segment after a timeout), a retransmission
    /// resends one, and a window-limited send cuts at a multiple of it,
    /// as TCP counts a GSO segment as the wire segments it becomes.
    pub wire_mss: u32,
    /// Most challenge ACKs sent per second (RFC 5961 section 7).
    pub challenge_ack_limit: u32,
    /// Least time between ACKs answering out-of-window pure ACKs (Linux
    /// `tcp_invalid_ratelimit`: 500 ms), which breaks ACK loops.
    pub oow_ack_interval_us: u64,
    /// How long sent data (or a SYN) may stay unacknowledged before the
    /// connection fails with a timeout, in microseconds (`TCP_USER_TIMEOUT`);
    /// zero: the retry counts decide.
    pub user_timeout_us: u64,
    /// Hold partial segments until a full one can go or the cork comes
    /// off (`TCP_CORK`).
    pub cork: bool,
    /// Start in the interactive mode (`TCP_QUICKACK` set to 0 before the
    /// connection): acknowledgements wait for an answer to carry them.
    pub interactive: bool,
}

/// The congestion window's unit: the payload per wire frame when
/// segments of `mss` are cut on their way (`wire_mss`), else `mss`.
const fn cwnd_unit(mss: u32, wire_mss: u32) -> u32 {
    if wire_mss > 0 && wire_mss < mss {
        wire_mss
    } else {
        mss
    }
}

impl Config {
    /// Returns Linux-like defaults for a device whose largest payload is `mss`.
    pub const fn new(mss: u16) -> Config {
        Config {
            mss,
            recv_buf: 128 * 1024,
            recv_buf_max: 0,
            nodelay: false,
            ack_delay_us: 40 * MS,
            rto_initial_us: SEC,
            rto_min_us: 200 * MS,
            rto_max_us: 120 * SEC,
            syn_retries: 6,
            synack_retries: 5,
            data_retries: 15,
            orphan_retries: 0,
            time_wait_us: 60 * SEC,
            fin_wait2_us: (super::defaults::FIN_TIMEOUT_S as u64).saturating_mul(SEC),
            keepalive: None,
            initial_cwnd: 10,
            wire_mss: 0,
            challenge_ack_limit: 100,
            oow_ack_interval_us: 500 * MS,
            user_timeout_us: 0,
            cork: false,
            interactive: false,
        }
    }

    /// Returns what AF_CUSTOM uses for a device whose largest payload is
    /// `mss`: [`Config::new`]'s Linux defaults, but for peers on the link
    /// (frames never cross a router).  A segment's lifetime is bounded by
    /// the link's queues, far below TCP's 60 s, so TIME_WAIT lasts 2 s
    /// (docs/DESIGN.md explains the choice); round trips are microseconds,
    /// so the 200 ms floor of TCP's RTO (made for the Internet) only
    /// stalls loss recovery: 20 ms.
    pub const fn on_link(mss: u16) -> Config {
        let mut c = Config::new(mss);
        c.time_wait_us = 2 * SEC;
        c.rto_min_us = 20 * MS;
        c
    }

    /// Returns the MSS for a device MTU: the MTU minus the header, at most [`MAX_PAYLOAD`].
    pub const fn mss_for_mtu(mtu: u32) -> u16 {
        let room = mtu.saturating_sub(HEADER_LEN as u32);
        let mss = if room > MAX_PAYLOAD as u32 {
            MAX_PAYLOAD as u32
        } else {
            room
        };
        if mss < MIN_MSS as u32 {
            MIN_MSS
        } else {
            mss as u16
        }
    }
}

/// Why a connection failed; the socket layer reports it (`SO_ERROR`) as
/// the errno named on each variant (the mapping is the socket layer's:
/// `socket::conn::conn_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnError {
    /// The peer refused the connection (RST in answer to our SYN): `ECONNREFUSED`.
    Refused,
    /// The peer reset an established connection: `ECONNRESET`.
    Reset,
    /// Retransmissions, probes or keepalives went unanswered: `ETIMEDOUT`.
    TimedOut,
}

/// Why [`Connection::enqueue`] refused data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closed and never failed: `ENOTCONN`.
    NotConnected,
    /// This end already shut down its send side: `EPIPE`.
    Shutdown,
    /// The connection failed: the error's errno.
    Failed(ConnError),
}

/// Things that happened during one call, for the socket layer to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events(pub u16);

impl Events {
    /// Nothing happened.
    pub const NONE: Events = Events(0);
    /// Our SYN was acknowledged: wake `connect()`, or move to the accept queue.
    pub const CONNECTED: Events = Events(1 << 0);
    /// New in-order data is readable.
    pub const READABLE: Events = Events(1 << 1);
    /// Bytes left the send buffer: writers may proceed.
    pub const WRITABLE: Events = Events(1 << 2);
    /// The peer's FIN arrived in order: reads return end-of-file after the queued data.
    pub const PEER_CLOSED: Events = Events(1 << 3);
    /// An RST from the peer was accepted; see [`Connection::error`].
    pub const RESET: Events = Events(1 << 4);
    /// The connection gave up on an unresponsive peer.
    pub const TIMED_OUT: Events = Events(1 << 5);
    /// The connection reached CLOSED: drain `poll_transmit`, unhash and free it.
    pub const CLOSED: Events = Events(1 << 6);
    /// A SYN for a new incarnation hit this TIME_WAIT connection, now CLOSED: give the SYN to the listener.
    pub const TIME_WAIT_REUSE: Events = Events(1 << 7);
    /// A new urgent pointer arrived: announce urgent data (`SIGURG`).
    pub const URGENT: Events = Events(1 << 8);

    /// Returns whether every event in `other` is present.
    #[inline]
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns whether no event is present.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Adds the events of `other`.
    #[inline]
    pub fn insert(&mut self, other: Events) {
        self.0 |= other.0;
    }
}

/// What to do with the payload of a received segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataAction {
    /// Nothing: no payload, or a duplicate, or outside the window; drop it.
    #[default]
    None,
    /// Append `payload[skip..skip + len]` to the receive queue; it starts at stream offset `offset`.
    Append {
        /// Stream offset of the first appended byte (the previous in-order end).
        offset: u64,
        /// Bytes to skip at the start of the payload (already received).
        skip: u32,
        /// Bytes to append.
        len: u32,
    },
    /// Keep `payload[skip..skip + len]` in the out-of-order store at stream offset `offset`.
    ///
    /// The range overlaps nothing stored before, so the store holds at most a
    /// receive window of bytes.
    Store {
        /// Stream offset of the first stored byte.
        offset: u64,
        /// Bytes to skip at the start of the payload.
        skip: u32,
        /// Bytes to store.
        len: u32,
    },
}

/// The decisions produced by [`Connection::on_segment`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentOutcome {
    /// What to do with the payload.
    pub data: DataAction,
    /// In-order data now extends to this stream offset.
    ///
    /// After applying `data`, move stored out-of-order segments onto the
    /// receive queue (trimming what overlaps) until it reaches this offset,
    /// and free stored segments that end at or before it.
    pub readable_end: u64,
    /// Bytes now acknowledged: drop them from the front of the send buffer.
    pub acked: u32,
    /// What happened.
    pub events: Events,
    /// The urgent byte is this byte of the segment's payload: read it
    /// and give it to [`Connection::set_urgent_byte`] (before applying
    /// `data`, which may trim it away).
    pub urgent_byte: Option<u32>,
    /// Bytes to drop from the front of the receive queue unread (an
    /// out-of-band urgent byte a newer mark superseded); `unread` already
    /// counts them gone.
    pub discard_front: u32,
}

/// One segment to send: a header, and which bytes of the send buffer follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The header; its `payload_len` is the number of payload bytes.
    pub header: Header,
    /// Offset into the send buffer (0 = oldest unacknowledged byte) of the first payload byte.
    pub offset: u32,
}

/// Per-connection counters, named after the Linux MIB counters they feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments handed to `on_segment` (`InSegs`).
    pub in_segs: u64,
    /// Segments returned by `poll_transmit` (`OutSegs`).
    pub out_segs: u64,
    /// Segments sent again (`RetransSegs`).
    pub retrans_segs: u64,
    /// RSTs sent (`OutRsts`).
    pub out_rsts: u64,
    /// RSTs accepted from the peer.
    pub in_rsts: u64,
    /// Retransmission timer expiries (`TCPTimeouts`).
    pub timeouts: u64,
    /// Retransmissions on three duplicate ACKs (`TCPFastRetrans`).
    pub fast_retrans: u64,
    /// Zero-window probes and persist-timer sends (`TCPWinProbe`).
    pub window_probes: u64,
    /// Keepalive probes (`TCPKeepAlive`).
    pub keepalive_probes: u64,
    /// Challenge ACKs sent (`TCPChallengeACK`).
    pub challenge_acks: u64,
    /// Segments queued out of order (`TCPOFOQueue`).
    pub ofo_queued: u64,
    /// Out-of-order segments dropped because the assembler was full (`TCPOFODrop`).
    pub ofo_dropped: u64,
    /// Times the out-of-order data held was given up for memory, to take
    /// the segment that fills the gap in front of it (`OfoPruned`).
    pub ofo_pruned: u64,
    /// Segments carrying only data already received (`TCPDSACK`-like duplicates).
    pub dup_data: u64,
    /// Segments outside the receive window (`TCPWinDrop`-like).
    pub out_of_window: u64,
    /// Segments a synchronised connection refused by the sequence test
    /// (before `rcv_nxt` or past the window: RFC 793, RFC 5961 section 3),
    /// whatever they carried; answered by a (rate-limited) ACK.
    pub seq_rejected: u64,
    /// Acceptable segments whose acknowledgement was refused: of data
    /// never sent, or older than the largest window (RFC 5961 section
    /// 5.2), or not the SYN-ACK's in SYN_RECV.
    pub ack_rejected: u64,
    /// Segments whose data was dropped for want of receive memory, their
    /// acknowledgement taken (`RcvPruned`).
    pub rcv_pruned: u64,
    /// ACKs not sent for out-of-window pure ACKs, by rate limit (`TCPACKSkippedSeq`).
    pub oow_acks_skipped: u64,
    /// Aborted because data arrived after `close()` (`TCPAbortOnData`).
    pub abort_on_data: u64,
    /// Aborted because `close()` found unread data (`TCPAbortOnClose`).
    pub abort_on_close: u64,
    /// Aborted after too many timeouts (`TCPAbortOnTimeout`).
    pub abort_on_timeout: u64,
    /// Acknowledgements the delayed-ACK timer asked for (`DelayedACKs`;
    /// counted when due: the ACK may ride on data).
    pub delayed_acks: u64,
    /// Acknowledgements a read asked for because two or more segments were
    /// unacknowledged (`__tcp_cleanup_rbuf`'s first rule).
    pub read_acks: u64,
    /// Window updates: acknowledgements asked for because reading or a larger
    /// buffer opened the window enough (`__tcp_cleanup_rbuf`'s second rule).
    pub window_updates: u64,
}

/// One end of a connection: the complete protocol state, in fixed-size fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub(super) state: State,
    pub(super) tuple: FourTuple,
    pub(super) cfg: Config,
    /// Opened by a listener (passive) rather than by `connect()`.
    pub(super) passive: bool,
    pub(super) error: Option<ConnError>,
    /// The application closed the socket; nobody reads any more.
    pub(super) orphaned: bool,

    /// The send side: sequence space (RFC 793 names), window, congestion
    /// control, retransmission.
    pub(super) snd: SendState,
    /// The receive side: sequence space, window, reassembly, ACK policy.
    pub(super) rcv: RecvState,
    /// The timers' deadlines and the times they count from.
    pub(super) timers: Timers,

    pub(super) stats: ConnStats,
}

/// The send side of a [`Connection`].
#[derive(Clone, Debug, PartialEq)]
pub struct SendState {
    pub(super) iss: Seq,
    pub(super) una: Seq,
    pub(super) nxt: Seq,
    /// Highest sequence number sent plus one; `snd_nxt` falls back below it after a timeout.
    pub(super) max: Seq,
    pub(super) syn_acked: bool,
    pub(super) syn_pending: bool,
    /// Bytes in the caller's send buffer (queued, not yet acknowledged).
    pub(super) queued: u32,
    pub(super) fin_queued: bool,
    pub(super) fin_acked: bool,
    /// Peer's receive window in bytes (scaled).
    pub(super) wnd: u32,
    pub(super) max_wnd: u32,
    pub(super) wl1: Seq,
    pub(super) wl2: Seq,
    pub(super) wscale: u8,
    pub(super) mss: u32,
    pub(super) cwnd: u32,
    pub(super) ssthresh: u32,
    pub(super) dup_acks: u8,
    pub(super) recover: Option<Seq>,
    /// Resend the segment at `snd_una` next, even beyond the peer's window
    /// (fast retransmit, partial ACK, or a timeout).
    pub(super) rexmit_head: bool,
    pub(super) rtt: RttEstimator,
    /// The end sequence number of the segment being timed, and when it was sent.
    pub(super) rtt_timing: Option<(Seq, Instant)>,
    /// Consecutive retransmission timeouts.
    pub(super) retries: u8,
    /// Unanswered window or keepalive probes.
    pub(super) probes_out: u8,
    pub(super) force_send: bool,
    pub(super) probe_pending: bool,
    pub(super) rst_pending: Option<Header>,
    /// The data queued last came with `MSG_MORE`: hold a partial segment
    /// as under the cork, until a write without it.
    pub(super) more: bool,
    /// In urgent mode: the sequence number just past the urgent byte
    /// (Linux's `snd_up`), until the peer acknowledges it.
    pub(super) up: Option<Seq>,
    /// The window probe at `snd_una` that carries the urgent pointer went
    /// out; the usual one at `snd_una - 1` follows (`tcp_write_wakeup`).
    pub(super) urg_probe_sent: bool,
}

/// The receive side of a [`Connection`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecvState {
    pub(super) irs: Seq,
    pub(super) nxt: Seq,
    /// Stream offset of `rcv_nxt` (bytes received in order so far).
    pub(super) offset: u64,
    /// Right edge of the largest window advertised.
    pub(super) adv: Seq,
    /// `rcv_nxt` when we last sent an acknowledgement (TCP's `rcv_wup`):
    /// the window last advertised is `rcv_adv - rcv_wup`.
    pub(super) wup: Seq,
    pub(super) wscale: u8,
    /// In-order bytes handed to the caller and not yet read by the application.
    pub(super) unread: u32,
    pub(super) assembler: Assembler,
    /// Stream offset of a FIN received ahead of missing data.
    pub(super) fin_offset: Option<u64>,
    pub(super) fin_received: bool,
    pub(super) ack_now: bool,
    /// Data was dropped for want of receive memory: the next segment
    /// advertises a zero window, shrinking the one offered (Linux's
    /// `ICSK_ACK_NOMEM`), so the peer stops and waits for our update.
    pub(super) nomem: bool,
    /// The family is under memory pressure: the receive budget is a few
    /// segments beyond what is unread (`buffers::pressure_budget`), and
    /// every read must be able to reopen the window.
    pub(super) pressure: bool,
    pub(super) unacked_segs: u8,
    /// Frames on the wire the segment being processed stood for (more
    /// than one when receive offload merged them): the ACK rule counts
    /// them ([`Connection::on_segment_frames`]).
    pub(super) arriving_frames: u8,
    /// An in-order segment's acknowledgement was left to the reader,
    /// who was behind when it came (`schedule_ack`): a read that empties
    /// the queue sends it.
    pub(super) left_to_reader: bool,
    /// When in-order data last arrived (TCP's `lrcvtime`): data after a
    /// longer silence than the RTO is acknowledged at once, and data sent
    /// within the delayed-ACK time of it makes the connection interactive.
    pub(super) last_data: Instant,
    /// Acknowledgements still to send at once after such a silence (TCP's
    /// `icsk_ack.quick`), unless the connection is interactive.
    pub(super) quick: u8,
    /// The connection is interactive (TCP's ping-pong mode): answers
    /// follow what arrives within the delayed-ACK time and carry its
    /// acknowledgement, so none goes out at once for a silence.
    pub(super) pingpong: bool,
    pub(super) challenge_start: Instant,
    pub(super) challenge_count: u32,
    pub(super) last_oow_ack: Option<Instant>,
    /// The urgent mark: what is known of it, and the urgent byte's
    /// stream offset (`super::urgent`).
    pub(super) urg: super::urgent::Urgent,
    pub(super) urg_offset: u64,
    /// Urgent data is read inline (`SO_OOBINLINE`).
    pub(super) urg_inline: bool,
}

/// The timers of a [`Connection`]: each deadline is `None` when the timer is off.
#[derive(Clone, Debug, PartialEq)]
pub struct Timers {
    pub(super) rto_deadline: Option<Instant>,
    pub(super) persist_deadline: Option<Instant>,
    pub(super) persist_backoff: u8,
    pub(super) delack_deadline: Option<Instant>,
    pub(super) tw_deadline: Option<Instant>,
    pub(super) fw2_deadline: Option<Instant>,
    pub(super) ka_deadline: Option<Instant>,
    pub(super) last_recv: Instant,
    pub(super) last_probe: Instant,
    /// When the oldest unacknowledged segment was first sent, once it
    /// has timed out (TCP's `retrans_stamp`): the user timeout counts
    /// from here.
    pub(super) retrans_stamp: Option<Instant>,
}

/// Returns the smallest window scale that lets a 16-bit window cover `buf` bytes.
pub fn wscale_for(buf: u32) -> u8 {
    let mut s = 0u8;
    while s < MAX_WSCALE && (buf >> s) > u32::from(u16::MAX) {
        s = s.saturating_add(1);
    }
    s
}

/// Returns the window scale a connection with configuration `cfg`
/// announces in its SYN or SYN-ACK: the smallest that covers the largest
/// receive buffer it may grow to.
pub fn rcv_wscale_for(cfg: &Config) -> u8 {
    wscale_for(cfg.recv_buf.clamp(1, MAX_RECV_BUF).max(cfg.recv_buf_max))
}

impl Connection {
    fn blank(cfg: Config, tuple: FourTuple, iss: Seq, now: Instant) -> Connection {
        let mut cfg = cfg;
        cfg.mss = cfg.mss.clamp(MIN_MSS, MAX_PAYLOAD as u16);
        cfg.recv_buf = cfg.recv_buf.clamp(1, MAX_RECV_BUF);
        let send_mss = u32::from(cfg.mss);
        Connection {
            state: State::Closed,
            tuple,
            cfg,
            passive: false,
            error: None,
            orphaned: false,
            snd: SendState {
                iss,
                una: iss,
                nxt: iss,
                max: iss,
                syn_acked: false,
                syn_pending: false,
                queued: 0,
                fin_queued: false,
                fin_acked: false,
                wnd: 0,
                max_wnd: 0,
                wl1: Seq(0),
                wl2: Seq(0),
                wscale: 0,
                mss: send_mss,
                cwnd: cfg
                    .initial_cwnd
                    .max(1)
                    .saturating_mul(cwnd_unit(send_mss, cfg.wire_mss)),
                ssthresh: MAX_SEND_QUEUE,
                dup_acks: 0,
                recover: None,
                rexmit_head: false,
                rtt: RttEstimator::new(cfg.rto_initial_us, cfg.rto_min_us, cfg.rto_max_us),
                rtt_timing: None,
                retries: 0,
                probes_out: 0,
                force_send: false,
                probe_pending: false,
                rst_pending: None,
                more: false,
                up: None,
                urg_probe_sent: false,
            },
            rcv: RecvState {
                irs: Seq(0),
                nxt: Seq(0),
                offset: 0,
                adv: Seq(0),
                wup: Seq(0),
                wscale: rcv_wscale_for(&cfg),
                unread: 0,
                assembler: Assembler::new(),
                fin_offset: None,
                fin_received: false,
                ack_now: false,
                nomem: false,
                pressure: false,
                unacked_segs: 0,
                arriving_frames: 1,
                left_to_reader: false,
                last_data: now,
                quick: 0,
                pingpong: cfg.interactive,
                challenge_start: now,
                challenge_count: 0,
                last_oow_ack: None,
                urg: super::urgent::Urgent::None,
                urg_offset: 0,
                urg_inline: false,
            },
            timers: Timers {
                rto_deadline: None,
                persist_deadline: None,
                persist_backoff: 0,
                delack_deadline: None,
                tw_deadline: None,
                fw2_deadline: None,
                ka_deadline: None,
                last_recv: now,
                last_probe: now,
                retrans_stamp: None,
            },
            stats: ConnStats::default(),
        }
    }

    /// Starts an active open (`connect()`): the connection is SYN_SENT with a SYN to send.
    ///
    /// `iss` comes from [`super::isn::initial_seq`] for this tuple.
    pub fn connect(cfg: Config, tuple: FourTuple, iss: Seq, now: Instant) -> Connection {
        let mut c = Connection::blank(cfg, tuple, iss, now);
        c.state = State::SynSent;
        c.snd.syn_pending = true;
        c
    }

    /// Starts a passive open from a SYN a listener admitted: SYN_RECV with a SYN-ACK to send.
    ///
    /// `tuple.local` must be the SYN's destination and `tuple.remote` its
    /// source; returns `None` if not, or if `syn` is not a bare SYN.
    pub fn accept(
        cfg: Config,
        tuple: FourTuple,
        iss: Seq,
        syn: &Header,
        now: Instant,
    ) -> Option<Connection> {
        let f = syn.flags;
        if !f.syn() || f.ack() || f.rst() || f.fin() {
            return None;
        }
        if syn.dst != tuple.local || syn.src != tuple.remote {
            return None;
        }
        let mut c = Connection::blank(cfg, tuple, iss, now);
        c.state = State::SynRecv;
        c.passive = true;
        c.take_peer_syn(syn);
        c.snd.syn_pending = true;
        Some(c)
    }

    /// Returns the SYN-ACK a listener sends statelessly for `syn`, with the SYN cookie `cookie` as ISN.
    ///
    /// It is the SYN-ACK [`Connection::accept`] would send first, but
    /// announcing window scale `rcv_wscale`, the one the cookie carries
    /// (normally [`rcv_wscale_for`] `cfg`); the connection is not kept
    /// ([`super::syncookie`]).
    pub fn cookie_syn_ack(
        cfg: Config,
        tuple: FourTuple,
        cookie: Seq,
        syn: &Header,
        rcv_wscale: u8,
        now: Instant,
    ) -> Option<Header> {
        let mut c = Connection::accept(cfg, tuple, cookie, syn, now)?;
        c.rcv.wscale = rcv_wscale.min(MAX_WSCALE);
        c.poll_transmit(now).map(|t| t.header)
    }

    /// Rebuilds the half-open connection a valid SYN cookie stands for.
    ///
    /// `syn` is [`super::syncookie::syn_of`] the completing ACK, `cookie`
    /// our ISN. The result is in SYN_RECV as if its SYN-ACK had just been
    /// sent (its retransmission timer runs, no RTT sample is taken from
    /// it); the caller then gives it the ACK through
    /// [`Connection::on_segment`], which completes the handshake. Its
    /// window scale is `rcv_wscale`, the one the cookie carries and the
    /// SYN-ACK announced, whatever `cfg`'s buffers say now (they may have
    /// changed since the SYN-ACK).
    pub fn from_cookie(
        cfg: Config,
        tuple: FourTuple,
        cookie: Seq,
        syn: &Header,
        rcv_wscale: u8,
        now: Instant,
    ) -> Option<Connection> {
        let mut c = Connection::accept(cfg, tuple, cookie, syn, now)?;
        c.rcv.wscale = rcv_wscale.min(MAX_WSCALE);
        c.syn_segment(now)?;
        c.snd.rtt_timing = None;
        Some(c)
    }

    /// Records what the peer's SYN tells us: its ISN, window, scale and MSS.
    pub(super) fn take_peer_syn(&mut self, syn: &Header) {
        self.rcv.irs = syn.seq;
        self.rcv.nxt = syn.seq.wrapping_add(1);
        self.rcv.offset = 0;
        // The window our own SYN offers (unscaled) counts from the peer's ISN + 1.
        self.rcv.adv = self.rcv.nxt.wrapping_add(self.syn_window());
        self.rcv.wup = self.rcv.nxt;
        self.snd.wscale = syn.wscale.min(MAX_WSCALE);
        let peer_mss = u32::from(syn.mss.clamp(MIN_MSS, MAX_PAYLOAD as u16));
        self.snd.mss = peer_mss.min(u32::from(self.cfg.mss));
        self.snd.cwnd = self
            .cfg
            .initial_cwnd
            .max(1)
            .saturating_mul(self.cwnd_unit());
        self.snd.wnd = u32::from(syn.window);
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = syn.seq;
        self.snd.wl2 = syn.ack;
    }

    /// Returns the window a SYN or SYN-ACK offers: unscaled, so at most 65535.
    pub(super) fn syn_window(&self) -> u32 {
        self.cfg
            .recv_buf
            .saturating_sub(self.rcv.unread)
            .min(u32::from(u16::MAX))
    }

    /// Tells the connection the application appended `n` bytes to the send buffer.
    ///
    /// Returns how many it accepted (fewer than `n` only at [`MAX_SEND_QUEUE`]);
    /// the caller keeps exactly that many. Data queued before the handshake
    /// completes is sent once it does.
    pub fn enqueue(&mut self, n: u32) -> Result<u32, SendError> {
        if let Some(e) = self.error {
            return Err(SendError::Failed(e));
        }
        if self.state == State::Closed {
            return Err(SendError::NotConnected);
        }
        if self.snd.fin_queued || !self.state.sends_data() {
            return Err(SendError::Shutdown);
        }
        let accepted = n.min(MAX_SEND_QUEUE.saturating_sub(self.snd.queued));
        self.snd.queued = self.snd.queued.saturating_add(accepted);
        Ok(accepted)
    }

    /// Returns how many bytes [`Self::enqueue`] would accept now: 0 when
    /// it would refuse them.
    pub fn enqueue_room(&self) -> u32 {
        if self.error.is_some()
            || self.state == State::Closed
            || self.snd.fin_queued
            || !self.state.sends_data()
        {
            0
        } else {
            MAX_SEND_QUEUE.saturating_sub(self.snd.queued)
        }
    }

    /// Tells the connection the application read `n` bytes from the front of the receive queue.
    ///
    /// The window reopens; if it grew enough a window update is queued.
    pub fn consume(&mut self, n: u32) {
        self.rcv.unread = self.rcv.unread.saturating_sub(n);
        self.urgent_read_moved();
        // An acknowledgement of two or more segments held back while the
        // window shrank or the reader was behind goes out with the read
        // (`__tcp_cleanup_rbuf`); so does one of a single segment left to
        // the reader when the read empties the queue, so that the next
        // burst's first arrival does not find it owed and send it from
        // the sender's softirq (a lone request's acknowledgement, not
        // left to the reader, still waits for the answer).
        if self.state.receives_data() && !self.rcv.ack_now {
            let emptied = self.rcv.unread == 0 && self.rcv.left_to_reader;
            if self.rcv.unacked_segs >= 2 || emptied {
                self.rcv.ack_now = true;
                self.stats.read_acks = self.stats.read_acks.wrapping_add(1);
            } else if self.window_update_due() {
                self.rcv.ack_now = true;
                self.stats.window_updates = self.stats.window_updates.wrapping_add(1);
            }
        }
    }

    /// Whether the connection needs a [`Self::poll_transmit`] after the
    /// reader took bytes ([`Self::consume`], then [`Self::set_recv_buf`]
    /// with the buffer the read left): only when those queued an
    /// acknowledgement or window update. A read changes nothing else that
    /// sending looks at, and no timer, so otherwise the poll would find
    /// nothing to send (as `tcp_cleanup_rbuf` sends nothing unless an ACK
    /// is due). Checked in the caller after every read of an exchange:
    /// skipping the poll spares a request-response its transmit path twice
    /// per transaction.
    pub fn read_owes_transmit(&self) -> bool {
        self.rcv.ack_now
    }

    /// Shuts down the send side (`shutdown(SHUT_WR)`): a FIN follows the queued data.
    ///
    /// In SYN_SENT the FIN waits for the handshake to finish.
    pub fn shutdown_write(&mut self) {
        match self.state {
            State::SynSent => self.snd.fin_queued = true,
            State::SynRecv | State::Established => {
                self.snd.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.snd.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Closes the socket (`close()`): shuts down both directions and orphans the connection.
    ///
    /// Unread received data makes this an abort with RST (as Linux and
    /// RFC 2525 do); otherwise a FIN follows the queued data and the
    /// connection finishes on its own, reporting [`Events::CLOSED`].
    pub fn close(&mut self, now: Instant) {
        self.orphaned = true;
        let synced_or_half = !matches!(
            self.state,
            State::Closed | State::Listen | State::SynSent | State::TimeWait
        );
        if self.rcv.unread > 0 && synced_or_half {
            self.stats.abort_on_close = self.stats.abort_on_close.wrapping_add(1);
            self.abort();
            return;
        }
        match self.state {
            State::SynSent => self.enter_closed(),
            State::SynRecv | State::Established | State::CloseWait => self.shutdown_write(),
            State::FinWait2 => self.timers.fw2_deadline = Some(now.after(self.fin_wait2_time())),
            _ => {}
        }
    }

    /// How long an orphan in FIN_WAIT_2 waits for the peer's FIN
    /// (`tcp_fin_time`): the setting, but never under 3.5 RTOs, so that
    /// a FIN the peer retransmits still finds the socket.
    pub(super) fn fin_wait2_time(&self) -> u64 {
        let rto = self.snd.rtt.rto();
        self.cfg
            .fin_wait2_us
            .max(rto.saturating_mul(4).saturating_sub(rto / 2))
    }

    /// Aborts the connection: sends RST if the peer knows of it, and goes to CLOSED.
    pub fn abort(&mut self) {
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent | State::TimeWait => self.enter_closed(),
            _ => {
                self.snd.rst_pending = Some(self.reset_header());
                self.enter_closed();
            }
        }
    }

    /// Sets how many probes or retransmissions an orphan may send (`tcp_orphan_retries`).
    pub fn set_orphan_retries(&mut self, retries: u8) {
        self.cfg.orphan_retries = retries;
    }

    /// Sets how long an orphan in FIN_WAIT_2 waits for the peer's FIN
    /// (`tcp_fin_timeout`), in microseconds; an orphan already waiting
    /// keeps its deadline.
    pub fn set_fin_timeout(&mut self, us: u64) {
        self.cfg.fin_wait2_us = us;
    }

    /// Turns Nagle coalescing off (`true`) or on; turning it off lets a held segment go.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.cfg.nodelay = nodelay;
    }

    /// Turns the cork (`TCP_CORK`) on or off; taking it off lets a held
    /// partial segment go (`tcp_push_pending_frames`).
    pub fn set_cork(&mut self, cork: bool) {
        self.cfg.cork = cork;
    }

    /// Says whether the data queued last came with `MSG_MORE` (held like
    /// corked data until a write without it).
    pub fn set_more(&mut self, more: bool) {
        self.snd.more = more;
    }

    /// Sets the user timeout (`TCP_USER_TIMEOUT`) in microseconds; zero: none.
    pub fn set_user_timeout(&mut self, us: u64) {
        self.cfg.user_timeout_us = us;
    }

    /// Sets `TCP_QUICKACK` as `__tcp_sock_set_quickack` does: zero makes
    /// the connection interactive (acknowledgements wait for an answer
    /// to carry them); nonzero leaves that mode and acknowledges at once
    /// whatever is owed, and an even value goes back to it if something
    /// was. True when an ACK is now due.
    pub fn set_quickack(&mut self, v: i32) -> bool {
        if v == 0 {
            self.rcv.pingpong = true;
            return self.rcv.ack_now;
        }
        self.rcv.pingpong = false;
        let owed = self.quickack();
        if owed && v & 1 == 0 {
            self.rcv.pingpong = true;
        }
        owed
    }

    /// `TCP_QUICKACK` as read back: not in the interactive mode.
    pub fn quickack_mode(&self) -> bool {
        !self.rcv.pingpong
    }

    /// Acknowledges at once whatever received data is owed an ACK
    /// (`TCP_QUICKACK`); true when an ACK is now due.
    pub fn quickack(&mut self) -> bool {
        // CLOSE_WAIT too: a FIN's acknowledgement waits there.
        if (self.state.receives_data() || self.state == State::CloseWait)
            && (self.rcv.unacked_segs > 0 || self.timers.delack_deadline.is_some())
        {
            self.rcv.ack_now = true;
        }
        self.rcv.ack_now
    }

    /// Enables keepalive with the given settings, or disables it.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.cfg.keepalive = keepalive;
    }

    /// Tells the connection whether its receive budget is held by memory
    /// pressure ([`crate::buffers::pressure_budget`]); call before
    /// [`Self::set_recv_buf`] with that budget.
    pub fn set_memory_pressure(&mut self, on: bool) {
        self.rcv.pressure = on;
    }

    /// Changes the receive buffer size; the window scale chosen at SYN time still caps the window.
    pub fn set_recv_buf(&mut self, bytes: u32) {
        self.cfg.recv_buf = bytes.clamp(1, MAX_RECV_BUF);
        if self.state.receives_data() && !self.rcv.ack_now && self.window_update_due() {
            self.rcv.ack_now = true;
            self.stats.window_updates = self.stats.window_updates.wrapping_add(1);
        }
    }

    /// Moves to CLOSED and forgets everything but a pending RST, the error and the counters.
    pub(super) fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.snd.syn_pending = false;
        self.rcv.ack_now = false;
        self.snd.rexmit_head = false;
        self.snd.force_send = false;
        self.snd.probe_pending = false;
        self.snd.up = None;
        self.timers.rto_deadline = None;
        self.timers.persist_deadline = None;
        self.timers.delack_deadline = None;
        self.timers.tw_deadline = None;
        self.timers.fw2_deadline = None;
        self.timers.ka_deadline = None;
        self.rcv.assembler.clear();
        self.rcv.fin_offset = None;
    }

    /// Moves to TIME_WAIT and starts its timer.
    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.rto_deadline = None;
        self.timers.persist_deadline = None;
        self.timers.ka_deadline = None;
        self.timers.fw2_deadline = None;
        self.snd.rexmit_head = false;
        self.snd.force_send = false;
        self.snd.probe_pending = false;
        self.timers.tw_deadline = Some(now.after(self.cfg.time_wait_us));
    }

    /// Returns the current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Returns the error that failed the connection, if any (`SO_ERROR`).
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// Returns the connection's 4-tuple.
    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Returns the settings in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Returns whether this connection came from a listener.
    pub fn is_passive(&self) -> bool {
        self.passive
    }

    /// Returns whether `close()` was called.
    pub fn is_orphaned(&self) -> bool {
        self.orphaned
    }

    /// Returns the number of bytes in the caller's send buffer (queued and unacknowledged).
    pub fn send_queued(&self) -> u32 {
        self.snd.queued
    }

    /// Returns the number of queued bytes never sent yet.
    pub fn unsent(&self) -> u32 {
        self.snd
            .queued
            .saturating_sub(self.data_offset(self.snd.max))
    }

    /// Returns the number of received in-order bytes the application has not read.
    pub fn unread(&self) -> u32 {
        self.rcv.unread
    }

    /// Returns the stream offset up to which data has arrived in order.
    pub fn readable_end(&self) -> u64 {
        self.rcv.offset
    }

    /// Returns whether the peer's FIN has arrived (reads hit end-of-file after the queued data).
    pub fn peer_closed(&self) -> bool {
        self.rcv.fin_received
    }

    /// Returns whether all queued data and our FIN (if any) are acknowledged.
    pub fn all_acked(&self) -> bool {
        self.snd.una == self.snd.max && self.snd.queued == 0
    }

    /// Returns the segment payload size in use toward the peer.
    pub fn send_mss(&self) -> u32 {
        self.snd.mss
    }

    /// Returns the peer's advertised window in bytes.
    pub fn send_window(&self) -> u32 {
        self.snd.wnd
    }

    /// The congestion window's unit for this connection ([`Config::wire_mss`]).
    pub(super) fn cwnd_unit(&self) -> u32 {
        cwnd_unit(self.snd.mss, self.cfg.wire_mss)
    }

    /// Returns the congestion window in bytes.
    pub fn cwnd(&self) -> u32 {
        self.snd.cwnd
    }

    /// Returns whether the window we advertise is zero once scaled: the
    /// peer can send nothing more until the reader reads (what is unread
    /// is all that will come; `poll` counts it readable below
    /// `SO_RCVLOWAT`, as Linux's `tcp_epollin_ready`).
    pub fn recv_window_shut(&self) -> bool {
        self.recv_window()
            .checked_shr(u32::from(self.rcv.wscale))
            .unwrap_or(0)
            == 0
    }

    /// Returns the window scale applied to the windows we advertise.
    pub fn recv_wscale(&self) -> u8 {
        self.rcv.wscale
    }

    /// Returns the receive window currently offered to the peer, in bytes.
    pub fn recv_window(&self) -> u32 {
        if self.rcv.adv.gt(self.rcv.nxt) {
            self.rcv.adv.since(self.rcv.nxt)
        } else {
            0
        }
    }

    /// Returns the out-of-order ranges held, as stream offsets.
    pub fn ooo_ranges(&self) -> &[(u64, u64)] {
        self.rcv.assembler.ranges()
    }

    /// Returns the RTT estimator (smoothed RTT, variation, RTO).
    pub fn rtt(&self) -> &RttEstimator {
        &self.snd.rtt
    }

    /// Returns the next sequence number expected from the peer (RCV.NXT).
    pub fn rcv_nxt(&self) -> Seq {
        self.rcv.nxt
    }

    /// Returns the oldest unacknowledged sequence number (SND.UNA).
    pub fn snd_una(&self) -> Seq {
        self.snd.una
    }

    /// Returns the next sequence number to send (SND.NXT).
    pub fn snd_nxt(&self) -> Seq {
        self.snd.nxt
    }

    /// Returns the initial send sequence number.
    pub fn iss(&self) -> Seq {
        self.snd.iss
    }

    /// Returns the counters.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// Returns the sequence number of the first byte in the send buffer.
    pub(super) fn data_front(&self) -> Seq {
        if self.snd.syn_acked {
            self.snd.una
        } else {
            self.snd.iss.wrapping_add(1)
        }
    }

    /// Returns the send-buffer offset of sequence number `seq` (0 before the data).
    pub(super) fn data_offset(&self, seq: Seq) -> u32 {
        let front = self.data_front();
        if seq.gt(front) {
            seq.since(front)
        } else {
            0
        }
    }

    /// Returns the sequence number our FIN occupies (meaningful once `fin_queued`).
    pub(super) fn fin_seq(&self) -> Seq {
        self.data_front().wrapping_add(self.snd.queued)
    }

    /// Returns whether our FIN has been sent at least once.
    pub(super) fn fin_sent(&self) -> bool {
        self.snd.fin_queued && (self.snd.fin_acked || self.snd.max.gt(self.fin_seq()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_is_smaller_than_a_tcp_sock() {
        // Linux's `struct tcp_sock` is over 2 KiB; ours must stay well below.
        assert!(core::mem::size_of::<Connection>() <= 1024);
    }

    #[test]
    fn window_scale_choice() {
        assert_eq!(wscale_for(0), 0);
        assert_eq!(wscale_for(65535), 0);
        assert_eq!(wscale_for(65536), 1);
        assert_eq!(wscale_for(MAX_RECV_BUF), 14);
    }

    #[test]
    fn window_scale_fits_the_largest_buffer() {
        use crate::tuple::Endpoint;
        let t = FourTuple::new(Endpoint::new(1, 2), Endpoint::new(3, 4));
        let mut cfg = Config::new(1460);
        cfg.recv_buf = 60_000;
        let c = Connection::connect(cfg, t, Seq(0), Instant(0));
        assert_eq!(c.rcv.wscale, 0);
        // A buffer that may grow to 3 MiB (SO_RCVLOWAT) needs scale 6 from the start.
        cfg.recv_buf_max = 3 << 20;
        let c = Connection::connect(cfg, t, Seq(0), Instant(0));
        assert_eq!(c.rcv.wscale, 6);
        assert!(u32::from(u16::MAX) << c.rcv.wscale >= 3 << 20);
    }
}

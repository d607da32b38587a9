// SPDX-License-Identifier: GPL-2.0

//! Per-namespace protocol counters, shown in `/proc/net/af_custom_stat`.

use crate::abstractions::percpu::PerCpuCounters;
use kernel::prelude::*;

macro_rules! stats {
    ($($name:ident: $doc:literal,)*) => {
        /// One counter of `/proc/net/af_custom_stat`.
        #[derive(Clone, Copy)]
        #[allow(dead_code)]
        pub(crate) enum Stat { $(#[doc = $doc] $name,)* }
        const NAMES: &[&str] = &[$(stringify!($name),)*];
    };
}

stats! {
    InSegs: "Frames received that passed validation.",
    InErrs: "Frames received that failed validation (any rule of docs/PROTOCOL.md 1.2 but the checksum: runt, version, flags, fields, length).",
    InCsumErrors: "Frames received with a bad checksum.",
    InNoSocket: "Valid frames that matched no socket.",
    InOtherHost: "Frames addressed to another host's hardware address, dropped unread (not in InSegs).",
    InMartians: "Frames from a device other than loopback with a martian source or destination, dropped (docs/PROTOCOL.md, ingress rules; not in InSegs).",
    InGroMerged: "Frames a NIC received that receive offload (GRO) merged into an earlier frame of the same segment: frames off the wire are InSegs + InGroMerged.",
    OutSegs: "Frames sent.",
    OutRsts: "RST frames sent.",
    OutPureAcks: "Frames sent that carry only an acknowledgement or a window update (no data, SYN, FIN or RST).",
    RetransSegs: "Frames retransmitted.",
    DelayedAcks: "Acknowledgements the delayed-ACK timer asked for (DelayedACKs); each leaves at once, alone or with data.",
    ReadAcks: "Acknowledgements a read asked for because two or more segments were unacknowledged (tcp_cleanup_rbuf's first rule).",
    WindowUpdates: "Acknowledgements asked for because reading (or a larger receive buffer) opened the window by at least twice what was left (tcp_cleanup_rbuf's second rule).",
    SeqRejected: "Segments a synchronised connection refused by the sequence test (before its next expected byte or past its window: RFC 793, RFC 5961 section 3), whatever they carried; answered by a rate-limited ACK (TCP counts these only per reason: TCPACKSkippedSeq, PAWSEstabRejected).",
    AckRejected: "Segments in a connection's window whose acknowledgement it refused: of data never sent or older than the largest window (RFC 5961 section 5.2), or not the one that completes the handshake in SYN_RECV.",
    ChallengeAcks: "Challenge ACKs sent (RFC 5961: an in-window RST or any SYN on a synchronised connection), within their per-second limit (TCPChallengeACK).",
    ActiveOpens: "Connections opened by connect().",
    PassiveOpens: "Connections opened by a listener.",
    AttemptFails: "connect() attempts that failed.",
    EstabResets: "Established connections reset.",
    ListenOverflows: "SYNs dropped because the accept queue was full.",
    ListenDrops: "SYNs dropped by a listener for any reason.",
    SynQueueDrops: "Half-open entries evicted because the SYN queue was full (net.af_custom.syncookies=0).",
    SyncookiesSent: "SYN cookies sent (the SYN queue was full, or net.af_custom.syncookies=2).",
    SyncookiesRecv: "Valid SYN cookies received: connections built from a final ACK alone.",
    SyncookiesFailed: "ACKs for no connection whose SYN cookie was not valid.",
    AcceptQueueMigrations: "Queued connections moved to a sibling reuseport shard.",
    RcvMemDrops: "Segments dropped because the receive buffer was full.",
    OfoPruned: "Times a connection out of receive memory gave up the out-of-order data it held, to take the segment that fills the gap in front of it (TCP's OfoPruned).",
    BacklogDrops: "Segments dropped because the socket backlog was full.",
    InBacklog: "Frames queued on a socket's backlog, for the process that owned the socket when they arrived (run when it releases the socket) or for a reader asleep in recvmsg (run when it wakes); not in TCP's MIBs.",
    RstsLimited: "RSTs not sent because of the per-destination rate limit.",
    OrphanOverflows: "Orphans reset because there were more than net.af_custom.max_orphans (at close() or their timer) or the family was past net.af_custom.mem[2] (their timer) (TCPAbortOnMemory).",
    FilterDrops: "Segments dropped by a socket filter (SO_ATTACH_FILTER, SO_ATTACH_BPF) or the LSM per-packet hook.",
    TimerRuns: "Times a connection's socket timer fired and ran its timers (at once, or when the socket's owner released it); not in TCP's MIBs.",
}

const COUNT: usize = NAMES.len();

/// The counters of one namespace, a copy per CPU as TCP's MIBs
/// (`SNMP_INC_STATS`): the frame handler and every sender add to their
/// CPU's copy, so parallel connections share no counter's cache line;
/// `/proc` sums the copies.
pub(crate) struct Stats(PerCpuCounters<COUNT>);

impl Stats {
    /// Zeroed counters; `ENOMEM` without per-CPU memory.
    pub(crate) fn new() -> Result<Self> {
        PerCpuCounters::new().map(Self)
    }

    pub(crate) fn inc(&self, stat: Stat) {
        self.0.add(stat as usize, 1);
    }

    pub(crate) fn add(&self, stat: Stat, n: u64) {
        self.0.add(stat as usize, n);
    }

    pub(crate) fn show(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        for (i, name) in NAMES.iter().enumerate() {
            writeln!(w, "{}: {}", name, self.0.sum(i))?;
        }
        Ok(())
    }
}

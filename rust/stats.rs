// SPDX-License-Identifier: GPL-2.0

//! Per-namespace protocol counters, shown in `/proc/net/af_custom_stat`.

use core::sync::atomic::{AtomicU64, Ordering};

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
    BacklogDrops: "Segments dropped because the socket backlog was full.",
    RstsLimited: "RSTs not sent because of the per-destination rate limit.",
    OrphanOverflows: "Orphans reset because there were more than net.af_custom.max_orphans (at close() or their timer) or the family was past net.af_custom.mem[2] (their timer) (TCPAbortOnMemory).",
    FilterDrops: "Segments dropped by a socket filter (SO_ATTACH_FILTER, SO_ATTACH_BPF) or the LSM per-packet hook.",
}

const COUNT: usize = NAMES.len();

/// The counters of one network namespace.
pub(crate) struct Stats([AtomicU64; COUNT]);

impl Stats {
    pub(crate) const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; COUNT])
    }

    /// Adds one to `stat`; callable from any context.
    pub(crate) fn inc(&self, stat: Stat) {
        if let Some(c) = self.0.get(stat as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds `n` to `stat`; callable from any context.
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        if let Some(c) = self.0.get(stat as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Writes every counter as a `Name: value` line.
    pub(crate) fn show(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        for (name, c) in NAMES.iter().zip(self.0.iter()) {
            writeln!(w, "{}: {}", name, c.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}

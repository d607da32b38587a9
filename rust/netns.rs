// SPDX-License-Identifier: GPL-2.0

//! The module's state of one network namespace.

use crate::abstractions::netns::Net;
pub(crate) use crate::abstractions::pernet::max_orphans;
use crate::abstractions::pernet::{self, NetDefaults, PernetState};
use crate::abstractions::random::random_u64;
use crate::abstractions::seq_file::SeqFile;
use crate::abstractions::sock::Sock;
use crate::bind_table::BindTable;
use crate::proto::defaults;
use crate::proto::ingress::RstLimiter;
use crate::proto::listener::GroupCookieTimes;
use crate::proto::ports::ephemeral_offset;
use crate::proto::siphash::SipKey;
use crate::proto::tuple::Endpoint;
use crate::socket::AfcSock;
use crate::stats::Stats;
use crate::tables::Tables;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{new_mutex, prelude::*, sync::Mutex};

/// Everything the module keeps per network namespace.
#[pin_data]
pub(crate) struct NetState {
    /// The protocol counters of the namespace.
    pub(crate) stats: Stats,
    /// Who holds which local address and port (see `bind_table` for the
    /// locking rules).
    #[pin]
    pub(crate) binds: Mutex<BindTable>,
    /// Established connections and listeners (see `tables`); the buckets
    /// are made by the namespace's first socket that binds.
    pub(crate) tables: Tables,
    /// The secret of initial sequence numbers.
    pub(crate) secret: SipKey,
    /// The per-destination limit of RSTs answering frames for nobody
    /// (bounded: a fixed table of slots, see `proto::ingress`).
    rst_limit: RstLimiter,
    /// When each reuseport group last sent a SYN cookie: any shard of
    /// the group checks cookies while one may be valid (`socket::listen`).
    pub(crate) cookie_times: GroupCookieTimes,
    /// The counter added to each ephemeral port search's start (RFC 6056
    /// algorithm 3's `next_ephemeral`).
    port_perturb: AtomicU32,
}

impl NetState {
    /// Where `connect()`'s search for an ephemeral port from `local_addr`
    /// to `remote` starts: a keyed hash of the destination plus a counter
    /// that moves on at every search (docs/PROTOCOL.md section 11).
    pub(crate) fn ephemeral_offset(&self, local_addr: u32, remote: Endpoint) -> u64 {
        let perturb = self.port_perturb.fetch_add(1, Ordering::Relaxed);
        ephemeral_offset(&self.secret, local_addr, remote, perturb)
    }

    /// Whether one more RST may go to `dst` now, at most `per_sec` to
    /// each destination in each second (`net.af_custom.rst_ratelimit`;
    /// 0: no limit); counts it if so.
    pub(crate) fn rst_allowed(&self, dst: u32, per_sec: u32) -> bool {
        if per_sec == 0 {
            return true;
        }
        let sec = crate::abstractions::time::now_us() / 1_000_000;
        self.rst_limit.allow(dst, sec, per_sec)
    }
}

impl PernetState for NetState {
    type Sock = AfcSock;

    const DEFAULTS: NetDefaults = NetDefaults {
        port_range: (defaults::PORT_RANGE.lo(), defaults::PORT_RANGE.hi()),
        rmem_default: defaults::RMEM_DEFAULT,
        wmem_default: defaults::WMEM_DEFAULT,
        orphan_retries: defaults::ORPHAN_RETRIES,
        fin_timeout_s: defaults::FIN_TIMEOUT_S,
        syncookies: defaults::SYNCOOKIES.as_sysctl(),
        rst_ratelimit: defaults::RST_RATELIMIT,
    };

    fn show_sock(
        seq: &mut SeqFile,
        sk: &crate::abstractions::sock::Sock<'_, Self::Sock>,
        sl: i32,
    ) -> core::fmt::Result {
        crate::socket::proc_line(seq, sk, sl)
    }

    fn diag_match(
        sk: &crate::abstractions::sock::Sock<'_, Self::Sock>,
        f: &crate::proto::opts::DiagFilter,
    ) -> bool {
        crate::socket::diag_match(sk, f)
    }

    fn diag_fill(
        sk: &crate::abstractions::sock::Sock<'_, Self::Sock>,
        info: Option<&mut crate::abstractions::family::TcpInfo>,
    ) -> crate::abstractions::pernet::DiagRow {
        crate::socket::diag_fill(sk, info)
    }

    fn new() -> impl PinInit<Self, Error> {
        let key = SipKey::from_u64(random_u64(), random_u64());
        let secret = SipKey::from_u64(random_u64(), random_u64());
        try_pin_init!(Self {
            stats: Stats::new()?,
            binds <- new_mutex!(BindTable::new(), "af_custom_binds"),
            tables: Tables::new(key),
            secret,
            rst_limit: RstLimiter::new(SipKey::from_u64(random_u64(), random_u64())),
            cookie_times: GroupCookieTimes::new(),
            port_perturb: AtomicU32::new(0),
        }? Error)
    }

    fn show_stat(&self, seq: &mut SeqFile) -> core::fmt::Result {
        use core::fmt::Write;
        self.stats.show(seq)?;
        // Family-wide memory, as /proc/net/protocols and sockstat show
        // TCP's: sockets allocated, pages charged, under pressure.
        let (pages, socks, pressure) = crate::abstractions::mem::stats();
        writeln!(seq, "Sockets: {}", socks)?;
        writeln!(seq, "MemoryPages: {}", pages)?;
        writeln!(seq, "MemoryPressure: {}", pressure as u8)?;
        // Orphaned connections, family-wide (sockstat's `orphan`).
        writeln!(seq, "Orphans: {}", crate::socket::orphan_count())?;
        // Not counters: whether this namespace's lookup tables are made
        // (by its first socket that binds), and in how many namespaces
        // they are, module-wide (as `sockets: used` in `sockstat`).
        writeln!(
            seq,
            "TablesAllocated: {}",
            u8::from(self.tables.allocated())
        )?;
        writeln!(seq, "TableSetsAllocated: {}", Tables::sets_allocated())
    }
}

/// The state of namespace `net`.
pub(crate) fn of(net: &Net) -> &NetState {
    pernet::state::<AfcSock>(net)
}

/// The state of the namespace of `sk` (cached in the socket: no
/// `net_generic` call).
pub(crate) fn of_sock<'a>(sk: &Sock<'a, AfcSock>) -> &'a NetState {
    sk.net_state()
}

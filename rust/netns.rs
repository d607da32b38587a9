// SPDX-License-Identifier: GPL-2.0

//! The module's state of one network namespace.

use crate::abi::netns::{self, random_u64, Net, PernetState, SeqFile};
pub(crate) use crate::abi::netns::max_orphans;
use crate::bind_table::BindTable;
use crate::proto::siphash::SipKey;
use crate::stats::Stats;
use crate::tables::Tables;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{new_mutex, prelude::*, sync::Mutex};

/// Most RSTs answering frames for nobody, per second and namespace.
const RST_PER_SEC: u64 = 10_000;

/// Everything the module keeps per network namespace.
#[pin_data]
pub(crate) struct NetState {
    /// The protocol counters of the namespace.
    pub(crate) stats: Stats,
    /// Who holds which local address and port (see `bind_table` for the
    /// locking rules).
    #[pin]
    pub(crate) binds: Mutex<BindTable>,
    /// Established connections and listeners (see `tables`).
    pub(crate) tables: Tables,
    /// The secret of initial sequence numbers.
    pub(crate) secret: SipKey,
    /// RST rate limit: the current second and RSTs sent in it, packed.
    rst_window: AtomicU64,
}

impl NetState {
    /// Whether one more RST may go now (a fixed window per second).
    pub(crate) fn rst_allowed(&self) -> bool {
        let sec = crate::abi::time::now_us() / 1_000_000;
        let cur = self.rst_window.load(Ordering::Relaxed);
        let (csec, count) = (cur >> 20, cur & 0xfffff);
        let next = if csec == sec { (sec << 20) | (count + 1) } else { (sec << 20) | 1 };
        if csec == sec && count >= RST_PER_SEC {
            return false;
        }
        // A lost race only miscounts one RST.
        self.rst_window.store(next, Ordering::Relaxed);
        true
    }
}

impl PernetState for NetState {
    type Sock = crate::socket::AfcSock;

    fn show_sock(seq: &mut SeqFile, sk: &crate::abi::sock::Sock<'_, Self::Sock>, sl: i32) -> core::fmt::Result {
        crate::socket::proc_line(seq, sk, sl)
    }

    fn new() -> impl PinInit<Self, Error> {
        let key = SipKey::from_u64(random_u64(), random_u64());
        let secret = SipKey::from_u64(random_u64(), random_u64());
        try_pin_init!(Self {
            stats: Stats::new(),
            binds <- new_mutex!(BindTable::new()?, "af_custom_binds"),
            tables: Tables::new(key)?,
            secret,
            rst_window: AtomicU64::new(0),
        }? Error)
    }

    fn show_stat(&self, seq: &mut SeqFile) -> core::fmt::Result {
        use core::fmt::Write;
        self.stats.show(seq)?;
        // Family-wide memory, as /proc/net/protocols and sockstat show
        // TCP's: sockets allocated, pages charged, under pressure.
        let (pages, socks, pressure) = crate::abi::mem::stats();
        writeln!(seq, "Sockets: {}", socks)?;
        writeln!(seq, "MemoryPages: {}", pages)?;
        writeln!(seq, "MemoryPressure: {}", pressure as u8)
    }
}

/// The state of namespace `net`.
pub(crate) fn of(net: &Net) -> &NetState {
    netns::state::<NetState>(net)
}

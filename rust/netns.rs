// SPDX-License-Identifier: GPL-2.0

//! The module's state of one network namespace.

use crate::abi::netns::{self, Net, PernetState, SeqFile};
use crate::stats::Stats;

/// Everything the module keeps per network namespace.
pub(crate) struct NetState {
    /// The protocol counters of the namespace.
    pub(crate) stats: Stats,
}

impl PernetState for NetState {
    fn new() -> Self {
        Self { stats: Stats::new() }
    }

    fn show_stat(&self, seq: &mut SeqFile) -> core::fmt::Result {
        self.stats.show(seq)
    }
}

/// The state of namespace `net`.
pub(crate) fn of(net: &Net) -> &NetState {
    netns::state::<NetState>(net)
}

// SPDX-License-Identifier: GPL-2.0

//! The module's state of one network namespace.

use crate::abi::netns::{self, Net, PernetState, SeqFile};
use crate::bind_table::BindTable;
use crate::stats::Stats;
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
}

impl PernetState for NetState {
    fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            stats: Stats::new(),
            binds <- new_mutex!(BindTable::new(), "af_custom_binds"),
        }? Error)
    }

    fn show_stat(&self, seq: &mut SeqFile) -> core::fmt::Result {
        self.stats.show(seq)
    }
}

/// The state of namespace `net`.
pub(crate) fn of(net: &Net) -> &NetState {
    netns::state::<NetState>(net)
}

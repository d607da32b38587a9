// SPDX-License-Identifier: GPL-2.0

//! The bind table of one network namespace: which sockets hold which
//! local (address, port), checked with Linux TCP's conflict rules
//! (`proto::bind`).
//!
//! # Locking
//!
//! The table is a `Mutex` in `NetState`, taken only in process context
//! (`bind`, `listen`, `close`), never from the softirq receive path, which
//! will look sockets up in separate listener and established tables. Lock
//! order: the socket lock (`lock_sock`) first, then this mutex.
//!
//! It is a flat vector for now: `bind()` is O(number of bound sockets in
//! the namespace). The listener-scale issue replaces it with a table
//! hashed by port.

use crate::proto::bind::{any_conflict, Binding};
use crate::proto::ports::{pick_ephemeral_port, PortRange};
use crate::abi::vec::retain_copy;
use kernel::prelude::*;

/// One socket's claim.
#[derive(Clone, Copy)]
struct Entry {
    owner: usize,
    binding: Binding,
}

/// The claims of one namespace.
pub(crate) struct BindTable {
    entries: KVec<Entry>,
}

impl BindTable {
    pub(crate) fn new() -> Self {
        Self { entries: KVec::new() }
    }

    fn conflicts(&self, owner: usize, b: &Binding) -> bool {
        any_conflict(self.entries.iter().filter(|e| e.owner != owner).map(|e| &e.binding), b)
    }

    /// Claims `b` for `owner`; port 0 picks a free port in `range` starting
    /// at `offset` (random per call, so searches do not pile up). Returns the port claimed; `None` if it is in use (or no
    /// ephemeral port is free).
    pub(crate) fn claim(&mut self, owner: usize, mut b: Binding, range: PortRange, offset: u64) -> Result<Option<u16>> {
        if b.port == 0 {
            let found = pick_ephemeral_port(range, offset, |port| {
                let mut t = b;
                t.port = port;
                !self.conflicts(owner, &t)
            });
            match found {
                Some(port) => b.port = port,
                None => return Ok(None),
            }
        } else if self.conflicts(owner, &b) {
            return Ok(None);
        }
        self.entries.push(Entry { owner, binding: b }, GFP_KERNEL)?;
        Ok(Some(b.port))
    }

    /// Adds a claim without checking conflicts: an accepted connection
    /// shares its listener's port, as TCP children share the bind bucket.
    pub(crate) fn add(&mut self, owner: usize, b: Binding) -> Result {
        self.entries.push(Entry { owner, binding: b }, GFP_KERNEL)?;
        Ok(())
    }

    /// Records the state of `owner`'s claims (listening or not).
    pub(crate) fn set_state(&mut self, owner: usize, state: crate::proto::state::State) {
        for e in self.entries.as_mut_slice().iter_mut().filter(|e| e.owner == owner) {
            e.binding.state = state;
        }
    }

    /// Drops every claim of `owner`.
    pub(crate) fn release(&mut self, owner: usize) {
        retain_copy(&mut self.entries, |e| e.owner != owner);
    }
}

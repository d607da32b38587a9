// SPDX-License-Identifier: GPL-2.0

//! The bind table of one network namespace: which sockets hold which
//! local (address, port), checked with Linux TCP's conflict rules
//! (`proto::bind`).
//!
//! # Locking
//!
//! The table is a `Mutex` in `NetState`, taken only in process context
//! (`bind`, `listen`, `connect`, `accept`, `close`), never from the softirq
//! receive path, which looks sockets up in the listener and established
//! tables (`tables`). Lock order: the socket lock (`lock_sock`) first,
//! then this mutex.
//!
//! Claims are kept in buckets by port, so a `bind()` looks at the claims
//! on its own port only, however many ports are bound.  The buckets are
//! made by the namespace's first claim (charged to that task's memory
//! cgroup, as the claims themselves are), not with the namespace.

use crate::abi::vec::retain_copy;
use crate::proto::bind::{any_conflict, connect_may_share, Binding};
use crate::proto::ports::{pick_ephemeral_port, PortRange};
use crate::proto::state::State;
use kernel::alloc::KVVec;
use kernel::prelude::*;

/// Buckets, by port.
const BUCKETS: usize = 4096;

/// One socket's claim.
#[derive(Clone, Copy)]
struct Entry {
    owner: usize,
    binding: Binding,
}

/// The claims of one namespace.
pub(crate) struct BindTable {
    buckets: KVVec<KVec<Entry>>,
}

impl BindTable {
    /// An empty table, without buckets yet.
    pub(crate) const fn new() -> Self {
        Self { buckets: KVVec::new() }
    }

    /// Makes the buckets unless made.
    fn ensure(&mut self) -> Result {
        if self.buckets.is_empty() {
            let mut buckets = KVVec::with_capacity(BUCKETS, GFP_KERNEL_ACCOUNT)?;
            for _ in 0..BUCKETS {
                buckets.push(KVec::new(), GFP_KERNEL_ACCOUNT)?;
            }
            self.buckets = buckets;
        }
        Ok(())
    }

    /// The bucket of `port`; `None` before the first claim.
    fn bucket(&self, port: u16) -> Option<&KVec<Entry>> {
        self.buckets.get(usize::from(port) % BUCKETS)
    }

    fn bucket_mut(&mut self, port: u16) -> Option<&mut KVec<Entry>> {
        self.buckets.get_mut(usize::from(port) % BUCKETS)
    }

    fn conflicts(&self, owner: usize, b: &Binding) -> bool {
        self.bucket(b.port)
            .is_some_and(|bucket| any_conflict(bucket.iter().filter(|e| e.owner != owner).map(|e| &e.binding), b))
    }

    /// Claims `b` for `owner`; port 0 picks a free port in `range` starting
    /// at `offset` (random per call, so searches do not pile up). Returns
    /// the port claimed; `None` if it is in use (or no ephemeral port is
    /// free).
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
        self.add(owner, b)?;
        Ok(Some(b.port))
    }

    /// Claims an ephemeral port in `range` for `connect()` (`b.port` is
    /// ignored), searching from `offset`, as TCP's `__inet_hash_connect`:
    /// a port may be shared with other sockets that `connect()` bound
    /// there, as long as `tuple_free(port)` says the connection's 4-tuple
    /// is unused; a port claimed by `bind()` or `listen()` is skipped.
    /// The claim is marked [`Binding::by_connect`], so a later `bind()` of
    /// the port still conflicts with it.  `None`: no port is free.
    pub(crate) fn claim_connect(
        &mut self,
        owner: usize,
        mut b: Binding,
        range: PortRange,
        offset: u64,
        mut tuple_free: impl FnMut(u16) -> bool,
    ) -> Result<Option<u16>> {
        let found = pick_ephemeral_port(range, offset, |port| {
            let shared = self
                .bucket(port)
                .is_none_or(|bucket| connect_may_share(bucket.iter().filter(|e| e.owner != owner).map(|e| &e.binding), port));
            shared && tuple_free(port)
        });
        let Some(port) = found else { return Ok(None) };
        b.port = port;
        b.by_connect = true;
        self.add(owner, b)?;
        Ok(Some(port))
    }

    /// Adds a claim without checking conflicts: an accepted connection
    /// shares its listener's port, as TCP children share the bind bucket.
    pub(crate) fn add(&mut self, owner: usize, b: Binding) -> Result {
        self.ensure()?;
        let bucket = self.bucket_mut(b.port).ok_or(EINVAL)?;
        bucket.push(Entry { owner, binding: b }, GFP_KERNEL_ACCOUNT)?;
        Ok(())
    }

    /// Moves `owner`'s claim on `port` to `state` (and its `SO_REUSEPORT`
    /// setting now); entering LISTEN re-checks the conflict rules and
    /// leaves the claim as it was when they refuse (`false`).
    pub(crate) fn set_state(&mut self, owner: usize, port: u16, state: State, reuseport: bool) -> bool {
        let mine = self.bucket(port).and_then(|b| b.iter().find(|e| e.owner == owner)).map(|e| e.binding);
        if let (Some(b), State::Listen) = (mine, state) {
            let mut t = b;
            t.state = state;
            t.reuseport = reuseport;
            if self.conflicts(owner, &t) {
                return false;
            }
        }
        if let Some(bucket) = self.bucket_mut(port) {
            for e in bucket.as_mut_slice().iter_mut().filter(|e| e.owner == owner) {
                e.binding.state = state;
                e.binding.reuseport = reuseport;
                // A listener's port is no longer one connect() may share.
                e.binding.by_connect &= state != State::Listen;
            }
        }
        true
    }

    /// Drops every claim of `owner` on `port`.
    pub(crate) fn release(&mut self, owner: usize, port: u16) {
        if let Some(bucket) = self.bucket_mut(port) {
            retain_copy(bucket, |e| e.owner != owner);
        }
    }
}

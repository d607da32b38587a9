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
//! tables (`tables`). Its place in the lock order is written once, in
//! `socket` ("Locking").
//!
//! Claims are kept in buckets by port, so a `bind()` looks at the claims
//! on its own port only, however many ports are bound.  The buckets are
//! made by the namespace's first claim (charged to that task's memory
//! cgroup, as the claims themselves are), not with the namespace.
//!
//! A connection closed by its owner keeps its claim while it finishes on
//! its own (FIN_WAIT, TIME_WAIT...), as TCP's orphans and TIME_WAIT socks
//! keep their bind bucket: `close()` marks the claim with the connection's
//! 4-tuple ([`BindTable::orphan`]).  The connection reaches CLOSED later,
//! in softirq, where this mutex cannot be taken; so the claim is not
//! dropped then but found dead by the next look at it: every check asks
//! the caller's `live(owner, tuple)` (the established table, which a
//! connection leaves on reaching CLOSED) for the connection's state, and
//! a claim whose connection is gone conflicts with nothing and is swept
//! from its bucket at the next change there.

use crate::abstractions::vec::retain_copy;
use crate::proto::bind::{bind_conflict, connect_may_share, Binding};
use crate::proto::ports::{pick_ephemeral_port, PortRange};
use crate::proto::state::State;
use crate::proto::tuple::FourTuple;
use kernel::alloc::KVVec;
use kernel::prelude::*;

/// Buckets, by port.
const BUCKETS: usize = 4096;

/// One socket's claim.
#[derive(Clone, Copy)]
struct Entry {
    owner: usize,
    binding: Binding,
    /// The connection of a closed socket, which holds the claim while it lives.
    orphan: Option<FourTuple>,
}

/// The state of connection `owner` on a 4-tuple, `None` once it is gone.
pub(crate) type Live<'a> = &'a dyn Fn(usize, &FourTuple) -> Option<State>;

impl Entry {
    /// The claim as it stands now; `None` if its orphan is gone.
    fn current(&self, live: Live<'_>) -> Option<Binding> {
        match &self.orphan {
            None => Some(self.binding),
            Some(t) => live(self.owner, t).map(|state| Binding { state, ..self.binding }),
        }
    }
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

    fn conflicts(&self, owner: usize, b: &Binding, live: Live<'_>) -> bool {
        self.bucket(b.port).is_some_and(|bucket| {
            let mut others = bucket.iter().filter(|e| e.owner != owner).filter_map(|e| e.current(live));
            others.any(|e| bind_conflict(&e, b))
        })
    }

    /// Drops the claims of gone orphans from `port`'s bucket.
    fn sweep(&mut self, port: u16, live: Live<'_>) {
        if let Some(bucket) = self.bucket_mut(port) {
            retain_copy(bucket, |e| e.orphan.is_none() || e.current(live).is_some());
        }
    }

    /// Claims `b` for `owner`; port 0 picks a free port in `range` starting
    /// at `offset` (random per call, so searches do not pile up). Returns
    /// the port claimed; `None` if it is in use (or no ephemeral port is
    /// free).
    pub(crate) fn claim(&mut self, owner: usize, mut b: Binding, range: PortRange, offset: u64, live: Live<'_>) -> Result<Option<u16>> {
        if b.port == 0 {
            let found = pick_ephemeral_port(range, offset, |port| {
                let mut t = b;
                t.port = port;
                !self.conflicts(owner, &t, live)
            });
            match found {
                Some(port) => b.port = port,
                None => return Ok(None),
            }
        } else if self.conflicts(owner, &b, live) {
            return Ok(None);
        }
        self.add(owner, b, live)?;
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
        live: Live<'_>,
    ) -> Result<Option<u16>> {
        let found = pick_ephemeral_port(range, offset, |port| {
            // Claims of gone orphans do not count (see the notes above).
            let shared = self.bucket(port).map_or(true, |bucket| {
                let mut others = bucket.iter().filter(|e| e.owner != owner).filter_map(|e| e.current(live));
                others.all(|e| connect_may_share([&e], port))
            });
            shared && tuple_free(port)
        });
        let Some(port) = found else { return Ok(None) };
        b.port = port;
        b.by_connect = true;
        self.add(owner, b, live)?;
        Ok(Some(port))
    }

    /// Adds a claim without checking conflicts: an accepted connection
    /// shares its listener's port, as TCP children share the bind bucket.
    pub(crate) fn add(&mut self, owner: usize, b: Binding, live: Live<'_>) -> Result {
        self.ensure()?;
        self.sweep(b.port, live);
        let bucket = self.bucket_mut(b.port).ok_or(EINVAL)?;
        bucket.push(Entry { owner, binding: b, orphan: None }, GFP_KERNEL_ACCOUNT)?;
        Ok(())
    }

    /// `owner` was closed and its connection on `tuple` lives on: its claim
    /// on `port` stays while the connection does (see the notes above).
    pub(crate) fn orphan(&mut self, owner: usize, port: u16, tuple: FourTuple, live: Live<'_>) {
        self.sweep(port, live);
        if let Some(bucket) = self.bucket_mut(port) {
            for e in bucket.as_mut_slice().iter_mut().filter(|e| e.owner == owner) {
                e.orphan = Some(tuple);
            }
        }
    }

    /// Moves `owner`'s claim on `port` to `state` (and its `SO_REUSEPORT`
    /// setting now); entering LISTEN re-checks the conflict rules and
    /// leaves the claim as it was when they refuse (`false`).
    pub(crate) fn set_state(&mut self, owner: usize, port: u16, state: State, reuseport: bool, live: Live<'_>) -> bool {
        let mine = self.bucket(port).and_then(|b| b.iter().find(|e| e.owner == owner)).map(|e| e.binding);
        if let (Some(b), State::Listen) = (mine, state) {
            let mut t = b;
            t.state = state;
            t.reuseport = reuseport;
            if self.conflicts(owner, &t, live) {
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

    /// Moves `owner`'s claim on `port` to device `dev_if` (0: none).
    pub(crate) fn set_dev(&mut self, owner: usize, port: u16, dev_if: u32) {
        if let Some(bucket) = self.bucket_mut(port) {
            for e in bucket.as_mut_slice().iter_mut().filter(|e| e.owner == owner) {
                e.binding.dev_if = dev_if;
            }
        }
    }

    /// Drops every claim of `owner` on `port`.
    pub(crate) fn release(&mut self, owner: usize, port: u16) {
        if let Some(bucket) = self.bucket_mut(port) {
            retain_copy(bucket, |e| e.owner != owner);
        }
    }
}

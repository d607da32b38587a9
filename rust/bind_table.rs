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
//! A claim keeps its slot in its bucket while it lives, and its socket
//! keeps the slot ([`Claim`]): releasing or changing a claim goes straight
//! to it, as TCP's `sk_bind_node` does, not through every claim on the
//! port.  Every accepted connection shares its listener's port, so one
//! bucket may hold tens of thousands of claims; each `accept()` and
//! `close()` scanning it made a busy server's accepts and closes
//! quadratic (the epoll benchmark's 10,000 connections spent more time
//! here than anywhere else).  Freed slots are reused; gone orphans are
//! swept when a bucket has doubled since its last sweep.
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
//! from its bucket once the bucket has doubled (see above).

use crate::abstractions::vec;
use crate::proto::bind::{bind_conflict, connect_may_share, Binding};
use crate::proto::ports::{pick_ephemeral_port, PortRange};
use crate::proto::state::State;
use crate::proto::tuple::FourTuple;
use kernel::alloc::KVVec;
use kernel::prelude::*;

/// Buckets, by port.
const BUCKETS: usize = 4096;

/// A bucket is not swept for gone orphans below this many claims.
const SWEEP_MIN: usize = 16;

/// One socket's claim.
#[derive(Clone, Copy)]
struct Entry {
    owner: usize,
    binding: Binding,
    /// The connection of a closed socket, which holds the claim while it lives.
    orphan: Option<FourTuple>,
}

/// Where a socket's claim is in its port's bucket (the socket keeps it
/// and gives it back to release or change the claim).
#[derive(Clone, Copy)]
pub(crate) struct Claim(u32);

/// The state of connection `owner` on a 4-tuple, `None` once it is gone.
pub(crate) type Live<'a> = &'a dyn Fn(usize, &FourTuple) -> Option<State>;

impl Entry {
    /// The claim as it stands now; `None` if its orphan is gone.
    fn current(&self, live: Live<'_>) -> Option<Binding> {
        match &self.orphan {
            None => Some(self.binding),
            Some(t) => live(self.owner, t).map(|state| Binding {
                state,
                ..self.binding
            }),
        }
    }
}

/// The claims on the ports of one bucket.
struct Bucket {
    /// Claims by slot; a slot keeps its place while its claim lives.
    slots: KVec<Option<Entry>>,
    /// The empty slots, reused first.  Its capacity covers every slot, so
    /// that releasing a claim never allocates.
    free: KVec<u32>,
    /// Claims left by the last sweep: the next waits for twice as many.
    swept: usize,
}

impl Bucket {
    const fn new() -> Self {
        Self {
            slots: KVec::new(),
            free: KVec::new(),
            swept: 0,
        }
    }

    fn claims(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }

    fn used(&self) -> usize {
        self.slots.len().saturating_sub(self.free.len())
    }

    /// Empties slot `i` (which must hold a claim).
    fn vacate(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.take().is_some() {
                // Within the capacity reserved in `insert`: cannot fail.
                let _ = self.free.push(i as u32, GFP_KERNEL_ACCOUNT);
            }
        }
        if self.used() == 0 {
            // The last claim left: give the memory back.
            *self = Self::new();
        }
    }

    /// Drops the claims of gone orphans.
    fn sweep(&mut self, live: Live<'_>) {
        for i in 0..self.slots.len() {
            let gone = self
                .slots
                .get(i)
                .and_then(|s| s.as_ref())
                .is_some_and(|e| e.orphan.is_some() && e.current(live).is_none());
            if gone {
                self.vacate(i);
            }
        }
        self.swept = self.used();
    }

    fn insert(&mut self, e: Entry, live: Live<'_>) -> Result<Claim> {
        let used = self.used();
        if used >= SWEEP_MIN && used >= self.swept.saturating_mul(2) {
            self.sweep(live);
        }
        if let Some(i) = vec::pop(&mut self.free) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                *slot = Some(e);
                return Ok(Claim(i));
            }
        }
        let i = u32::try_from(self.slots.len()).map_err(|_| ENOMEM)?;
        let want = self
            .slots
            .len()
            .saturating_add(1)
            .saturating_sub(self.free.len());
        self.free.reserve(want, GFP_KERNEL_ACCOUNT)?;
        self.slots.push(Some(e), GFP_KERNEL_ACCOUNT)?;
        Ok(Claim(i))
    }

    /// The slot of `owner`'s claim (one per socket and port): the one
    /// `claim` names if it is `owner`'s (always, unless the table and the
    /// socket disagree), else the first `owner` holds.
    fn find(&self, owner: usize, claim: Claim) -> Option<usize> {
        let owns = |i: usize| {
            self.slots
                .get(i)
                .and_then(|s| s.as_ref())
                .is_some_and(|e| e.owner == owner)
        };
        usize::try_from(claim.0)
            .ok()
            .filter(|&i| owns(i))
            .or_else(|| (0..self.slots.len()).find(|&i| owns(i)))
    }

    /// Changes `owner`'s claim (one per socket and port).
    fn update(&mut self, owner: usize, claim: Claim, f: impl FnOnce(&mut Entry)) {
        let Some(i) = self.find(owner, claim) else {
            return;
        };
        if let Some(Some(e)) = self.slots.get_mut(i) {
            f(e);
        }
    }
}

/// The claims of one namespace.
pub(crate) struct BindTable {
    buckets: KVVec<Bucket>,
}

impl BindTable {
    /// An empty table, without buckets yet.
    pub(crate) const fn new() -> Self {
        Self {
            buckets: KVVec::new(),
        }
    }

    /// Makes the buckets unless made.
    fn ensure(&mut self) -> Result {
        if self.buckets.is_empty() {
            let mut buckets = KVVec::with_capacity(BUCKETS, GFP_KERNEL_ACCOUNT)?;
            for _ in 0..BUCKETS {
                buckets.push(Bucket::new(), GFP_KERNEL_ACCOUNT)?;
            }
            self.buckets = buckets;
        }
        Ok(())
    }

    /// The bucket of `port`; `None` before the first claim.
    fn bucket(&self, port: u16) -> Option<&Bucket> {
        self.buckets.get(usize::from(port) % BUCKETS)
    }

    fn bucket_mut(&mut self, port: u16) -> Option<&mut Bucket> {
        self.buckets.get_mut(usize::from(port) % BUCKETS)
    }

    fn conflicts(&self, owner: usize, b: &Binding, live: Live<'_>) -> bool {
        self.bucket(b.port).is_some_and(|bucket| {
            let mut others = bucket
                .claims()
                .filter(|e| e.owner != owner)
                .filter_map(|e| e.current(live));
            others.any(|e| bind_conflict(&e, b))
        })
    }

    /// Claims `b` for `owner`; port 0 picks a free port in `range` starting
    /// at `offset` (random per call, so searches do not pile up). Returns
    /// the port claimed and where; `None` if it is in use (or no ephemeral
    /// port is free).
    pub(crate) fn claim(
        &mut self,
        owner: usize,
        mut b: Binding,
        range: PortRange,
        offset: u64,
        live: Live<'_>,
    ) -> Result<Option<(u16, Claim)>> {
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
        let claim = self.add(owner, b, live)?;
        Ok(Some((b.port, claim)))
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
    ) -> Result<Option<(u16, Claim)>> {
        let found = pick_ephemeral_port(range, offset, |port| {
            // Claims of gone orphans do not count (see the notes above).
            let shared = self.bucket(port).map_or(true, |bucket| {
                let mut others = bucket
                    .claims()
                    .filter(|e| e.owner != owner)
                    .filter_map(|e| e.current(live));
                others.all(|e| connect_may_share([&e], port))
            });
            shared && tuple_free(port)
        });
        let Some(port) = found else { return Ok(None) };
        b.port = port;
        b.by_connect = true;
        let claim = self.add(owner, b, live)?;
        Ok(Some((port, claim)))
    }

    /// Adds a claim without checking conflicts: an accepted connection
    /// shares its listener's port, as TCP children share the bind bucket.
    pub(crate) fn add(&mut self, owner: usize, b: Binding, live: Live<'_>) -> Result<Claim> {
        self.ensure()?;
        let bucket = self.bucket_mut(b.port).ok_or(EINVAL)?;
        bucket.insert(
            Entry {
                owner,
                binding: b,
                orphan: None,
            },
            live,
        )
    }

    /// `owner` was closed and its connection on `tuple` lives on: its claim
    /// on `port` stays while the connection does (see the notes above).
    pub(crate) fn orphan(&mut self, owner: usize, port: u16, claim: Claim, tuple: FourTuple) {
        if let Some(bucket) = self.bucket_mut(port) {
            bucket.update(owner, claim, |e| e.orphan = Some(tuple));
        }
    }

    /// Moves `owner`'s claim on `port` to `state` (and its `SO_REUSEPORT`
    /// setting now); entering LISTEN re-checks the conflict rules and
    /// leaves the claim as it was when they refuse (`false`).
    pub(crate) fn set_state(
        &mut self,
        owner: usize,
        port: u16,
        claim: Claim,
        state: State,
        reuseport: bool,
        live: Live<'_>,
    ) -> bool {
        let mine = self.bucket(port).and_then(|b| {
            let i = b.find(owner, claim)?;
            b.slots.get(i).and_then(|s| s.as_ref()).map(|e| e.binding)
        });
        if let (Some(b), State::Listen) = (mine, state) {
            let mut t = b;
            t.state = state;
            t.reuseport = reuseport;
            if self.conflicts(owner, &t, live) {
                return false;
            }
        }
        if let Some(bucket) = self.bucket_mut(port) {
            bucket.update(owner, claim, |e| {
                e.binding.state = state;
                e.binding.reuseport = reuseport;
                // A listener's port is no longer one connect() may share.
                e.binding.by_connect &= state != State::Listen;
            });
        }
        true
    }

    /// Moves `owner`'s claim on `port` to device `dev_if` (0: none).
    pub(crate) fn set_dev(&mut self, owner: usize, port: u16, claim: Claim, dev_if: u32) {
        if let Some(bucket) = self.bucket_mut(port) {
            bucket.update(owner, claim, |e| e.binding.dev_if = dev_if);
        }
    }

    /// Drops `owner`'s claim on `port`.
    pub(crate) fn release(&mut self, owner: usize, port: u16, claim: Claim) {
        if let Some(bucket) = self.bucket_mut(port) {
            if let Some(i) = bucket.find(owner, claim) {
                bucket.vacate(i);
            }
        }
    }
}

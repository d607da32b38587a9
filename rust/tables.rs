// SPDX-License-Identifier: GPL-2.0

//! The lookup tables of one network namespace: established connections
//! by 4-tuple and listeners by (address, port).
//!
//! # Locking
//!
//! Each table is an array of buckets, each behind its own bottom-half
//! spinlock (`abstractions::bhlock`): a lookup takes one bucket lock, never a
//! table-wide one, and returns a counted reference to the socket, taken
//! under the bucket lock, so the socket outlives the lookup whatever
//! happens to the table afterwards.  A bucket lock is a leaf; where it
//! sits in the order, and why no reference is put under it, is written
//! once in `socket` ("Locking").
//!
//! Bucket counts are set at load time (`est_buckets=`, default 16384;
//! `listen_buckets=`, default 4096): 100,000 connections are ~6 per bucket.
//! Each bucket holds its lock beside its entries, and an established
//! bucket its first connection inline ([`EstBucket`]), so that a lookup
//! reads one place in the table and then the socket.
//! The buckets (~0.75 MiB) are made when the namespace's first socket binds
//! (`bind`, `connect`, `listen`: [`Tables::ensure`], under the bind-table
//! mutex, charged to that task's memory cgroup), not with the namespace: a
//! namespace that never binds one has no tables, and a lookup there finds
//! nothing, as there is nothing to find.  Once made, the tables stay until
//! the namespace goes, and are read without locks (`abstractions::once`).
//! Buckets are chosen by a keyed hash (SipHash, secret per namespace) of
//! the 4-tuple, or of the port for listeners, so that a specific-address
//! listener and the wildcard one on the same port share a bucket and the
//! lookup (specific first, then wildcard) is one bucket walk.
//!
//! # Bound devices
//!
//! A socket bound to a device (`SO_BINDTODEVICE`, `SO_BINDTOIFINDEX`:
//! `sk_bound_dev_if`, read live as the IPv4 lookups read it) matches only
//! frames that arrived on that device; an unbound one matches frames from
//! any device (`proto::bind::bound_dev_eq`, `inet_bound_dev_eq` without
//! VRFs).  Among listeners, as `compute_score` in `inet_hashtables.c`: a
//! specific address beats the wildcard, and on the same address a
//! listener bound to the arrival device beats an unbound one.  Two
//! connections may hold one 4-tuple when the later one is bound to a
//! device the earlier one is not bound to (`__inet_check_established`).

use crate::abstractions::bhlock::{BhLockArray, LockClass};
use crate::abstractions::once::OnceBox;
use crate::abstractions::sock::SockRef;
use crate::abstractions::vec::{pop, swap_remove, try_push};
use crate::proto::bind::{bound_dev_eq, listener_score};
use crate::proto::reuseport::{
    may_join, migration_target, select_shard, winning_group, Candidate, Member, ShardInfo,
    MAX_SHARDS,
};
use crate::proto::siphash::SipKey;
use crate::proto::state::State;
use crate::proto::tuple::{Endpoint, FourTuple, HashPurpose};
use crate::socket::{AcceptQueue, AfcSock};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

struct Established {
    tuple: FourTuple,
    sk: SockRef<AfcSock>,
}

/// A bucket of the established table: its first connection inline (a
/// bucket holds about one), so that a lookup reads the bucket's lock and
/// entry from one place and then the socket, as TCP's reads its chain's
/// head and the socket; the rest, rarely any, in a vector made when
/// needed (40 bytes a bucket with the lock, where an inline vector would
/// take 56).
#[derive(Default)]
struct EstBucket {
    first: Option<Established>,
    rest: Option<KBox<KVec<Established>>>,
}

// The size the comment above gives (8 more with the lock, on the
// normal kernel).
const _: () = assert!(core::mem::size_of::<EstBucket>() == 32);

impl EstBucket {
    fn iter(&self) -> impl Iterator<Item = &Established> {
        let rest = self.rest.as_deref().map_or(&[][..], |v| v.as_slice());
        Iterator::chain(self.first.iter(), rest.iter())
    }

    /// Adds `e`; gives it back if there is no memory for it.
    fn push(&mut self, e: Established) -> core::result::Result<(), Established> {
        if self.first.is_none() {
            self.first = Some(e);
            return Ok(());
        }
        let rest = match &mut self.rest {
            Some(v) => v,
            None => match KBox::new(KVec::new(), GFP_ATOMIC) {
                Ok(v) => self.rest.insert(v),
                Err(_) => return Err(e),
            },
        };
        try_push(rest, e, GFP_ATOMIC)
    }

    /// Removes and returns the first entry `matches` accepts.
    fn remove(&mut self, matches: impl Fn(&Established) -> bool) -> Option<Established> {
        let found = if self.first.as_ref().is_some_and(&matches) {
            let e = self.first.take();
            self.first = self.rest.as_deref_mut().and_then(pop);
            e
        } else {
            let v = self.rest.as_deref_mut()?;
            let i = v.iter().position(matches)?;
            swap_remove(v, i)
        };
        if self.rest.as_deref().is_some_and(|v| v.is_empty()) {
            // A small `kfree`, fine under the bucket lock.
            self.rest = None;
        }
        found
    }
}

struct Listening {
    local: Endpoint,
    sk: SockRef<AfcSock>,
    queue: Arc<AcceptQueue>,
}

/// A listener found by a lookup.
pub(crate) struct FoundListener {
    pub(crate) sk: SockRef<AfcSock>,
    pub(crate) queue: Arc<AcceptQueue>,
}

/// The tables of one namespace.
pub(crate) struct Tables {
    key: SipKey,
    set: OnceBox<TableSet>,
}

/// The buckets, once made.
struct TableSet {
    established: BhLockArray<EstBucket>,
    listeners: BhLockArray<KVec<Listening>>,
}

/// Namespaces whose tables are made, module-wide.
static TABLE_SETS: AtomicUsize = AtomicUsize::new(0);

impl TableSet {
    /// Makes the buckets with the counts of the module parameters.
    fn new() -> Result<KBox<Self>> {
        let (est, lst) = crate::abstractions::uapi::table_buckets();
        let set = Self {
            established: BhLockArray::new(est, LockClass::Established, EstBucket::default)?,
            listeners: BhLockArray::new(lst, LockClass::Listeners, KVec::new)?,
        };
        TABLE_SETS.fetch_add(1, Ordering::Relaxed);
        Ok(KBox::new(set, GFP_KERNEL_ACCOUNT)?)
    }
}

impl Drop for TableSet {
    fn drop(&mut self) {
        TABLE_SETS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Tables {
    /// Makes the tables of a namespace, empty and without buckets yet.
    pub(crate) const fn new(key: SipKey) -> Self {
        Self {
            key,
            set: OnceBox::new(),
        }
    }

    /// Makes the buckets unless made (process context; the caller holds
    /// the bind-table mutex, so two first sockets do not both make them).
    pub(crate) fn ensure(&self) -> Result {
        self.set.get_or_try_init(TableSet::new).map(|_| ())
    }

    /// Whether the buckets are made.
    pub(crate) fn allocated(&self) -> bool {
        self.set.get().is_some()
    }

    /// In how many namespaces the buckets are made.
    pub(crate) fn sets_allocated() -> usize {
        TABLE_SETS.load(Ordering::Relaxed)
    }

    /// The buckets, for an insert: a socket that inserts has bound, so
    /// they are made (`ENOMEM` if not, which cannot be).
    fn set(&self) -> Result<&TableSet> {
        self.set.get().ok_or(ENOMEM)
    }

    /// A connection's bucket hash (`BhLockArray::with_hashed`).
    fn est_bucket(&self, t: &FourTuple) -> u64 {
        t.hash(&self.key, HashPurpose::Table)
    }

    /// A listening port's bucket hash (`BhLockArray::with_hashed`).
    fn lst_bucket(&self, port: u16) -> u64 {
        FourTuple::new(Endpoint::new(0, port), Endpoint::new(0, 0))
            .hash(&self.key, HashPurpose::Table)
    }

    /// Adds a connection; `false` (and nothing added) if the 4-tuple is
    /// taken (by a connection that frames arriving on `sk`'s bound device
    /// would reach).
    pub(crate) fn insert_established(
        &self,
        tuple: FourTuple,
        sk: SockRef<AfcSock>,
    ) -> Result<bool> {
        let dev = sk.sock().bound_dev_if();
        let (r, unused) = self
            .set()?
            .established
            .with_hashed(self.est_bucket(&tuple), |b| {
                if b.iter()
                    .any(|e| e.tuple == tuple && dev_matches(&e.sk, dev))
                {
                    return (Ok(false), Some(sk));
                }
                match b.push(Established { tuple, sk }) {
                    Ok(()) => (Ok(true), None),
                    Err(e) => (Err(ENOMEM), Some(e.sk)),
                }
            });
        // A reference not kept is put outside the bucket lock.
        drop(unused);
        r
    }

    /// Whether a connection holds `tuple` for a socket bound to `dev` (0: none).
    pub(crate) fn established_taken(&self, tuple: &FourTuple, dev: i32) -> bool {
        let Some(set) = self.set.get() else {
            return false;
        };
        set.established.with_hashed(self.est_bucket(tuple), |b| {
            b.iter()
                .any(|e| e.tuple == *tuple && dev_matches(&e.sk, dev))
        })
    }

    /// Removes socket `id`'s entry for `tuple`; returns the table's reference.
    pub(crate) fn remove_established(
        &self,
        tuple: &FourTuple,
        id: usize,
    ) -> Option<SockRef<AfcSock>> {
        self.set
            .get()?
            .established
            .with_hashed(self.est_bucket(tuple), |b| {
                b.remove(|e| e.tuple == *tuple && e.sk.sock().id() == id)
                    .map(|e| e.sk)
            })
    }

    /// The state of socket `id`'s connection on `tuple`, if it is in the table.
    pub(crate) fn established_state(&self, tuple: &FourTuple, id: usize) -> Option<State> {
        self.set
            .get()?
            .established
            .with_hashed(self.est_bucket(tuple), |b| {
                let e = b
                    .iter()
                    .find(|e| e.tuple == *tuple && e.sk.sock().id() == id)?;
                State::from_u8(e.sk.sock().state())
            })
    }

    /// The connection on `tuple` (local = our end) for a frame that
    /// arrived on device `dif`, if any.
    pub(crate) fn lookup_established(
        &self,
        tuple: &FourTuple,
        dif: i32,
    ) -> Option<SockRef<AfcSock>> {
        self.set
            .get()?
            .established
            .with_hashed(self.est_bucket(tuple), |b| {
                b.iter()
                    .find(|e| {
                        let miss = e.tuple.difference(tuple) | u64::from(!dev_matches(&e.sk, dif));
                        // One test per entry, every frame: kept from being
                        // split back into a branch per field.
                        core::hint::black_box(miss) == 0
                    })
                    .map(|e| e.sk.clone())
            })
    }

    /// Adds a listener on `local` (its address may be the wildcard);
    /// `EINVAL` if the socket has an entry there already (one per socket).
    ///
    /// Its queue joins the reuseport group of a listener already on
    /// `local` if both have `SO_REUSEPORT`, one owner (bind let them
    /// share the port) and one bound device (none, or the same), as
    /// `inet_reuseport_add_sock` requires; otherwise it starts
    /// a group of its own, with a number never used before.  The group
    /// outlives no member: once its last listener closed, a new listener
    /// on the address (whoever owns it) starts a new group, so a closed
    /// listener's children never reach it ([`Tables::lookup_group`]).
    pub(crate) fn insert_listener(
        &self,
        local: Endpoint,
        sk: SockRef<AfcSock>,
        queue: Arc<AcceptQueue>,
    ) -> Result {
        let (id, me) = {
            let s = sk.sock();
            (s.id(), member(&sk))
        };
        let (r, unused) = self
            .set()?
            .listeners
            .with_hashed(self.lst_bucket(local.port), |b| {
                if b.iter().any(|e| e.local == local && e.sk.sock().id() == id) {
                    return (Err(EINVAL), Some(Listening { local, sk, queue }));
                }
                let joined = b
                    .iter()
                    .find(|e| e.local == local && may_join(member(&e.sk), me));
                let group = match joined {
                    Some(e) => e.queue.group(),
                    None => NEXT_GROUP.fetch_add(1, Ordering::Relaxed),
                };
                queue.set_group(group);
                match try_push(b, Listening { local, sk, queue }, GFP_ATOMIC) {
                    Ok(()) => (Ok(()), None),
                    Err(e) => (Err(ENOMEM), Some(e)),
                }
            });
        // References not kept are put outside the bucket lock.
        drop(unused);
        r
    }

    /// Removes socket `id`'s listener entry on `local`, returning the
    /// table's references (the socket and its accept queue) for the caller
    /// to put outside the bucket lock.
    pub(crate) fn remove_listener(
        &self,
        local: Endpoint,
        id: usize,
    ) -> Option<(SockRef<AfcSock>, Arc<AcceptQueue>)> {
        self.set
            .get()?
            .listeners
            .with_hashed(self.lst_bucket(local.port), |b| {
                let i = b
                    .iter()
                    .position(|e| e.local == local && e.sk.sock().id() == id)?;
                swap_remove(b, i).map(|e| (e.sk, e.queue))
            })
    }

    /// The listener for a SYN from `src` to `dst` that arrived on device
    /// `dif`: of the listeners on `dst`'s port that match (address `dst`'s
    /// or the wildcard, device `dif` or none), the group that scores best
    /// (`proto::bind::listener_score`; of groups that score alike, the
    /// first in the bucket: `proto::reuseport::winning_group`).  In a
    /// reuseport group the shard with the shortest accept queue that has
    /// room wins, ties broken by a hash of the 4-tuple; a full group still
    /// yields a shard, whose queue then refuses the SYN and counts it
    /// (`proto::reuseport::select_shard`).
    pub(crate) fn lookup_listener(
        &self,
        dst: Endpoint,
        src: Endpoint,
        dif: i32,
    ) -> Option<FoundListener> {
        let hash = FourTuple::new(dst, src).hash(&self.key, HashPurpose::Reuseport);
        self.set
            .get()?
            .listeners
            .with_hashed(self.lst_bucket(dst.port), |b| {
                let candidate = |e: &Listening| {
                    listener_score(
                        e.local.addr,
                        e.local.port,
                        e.sk.sock().bound_dev_if(),
                        dst.addr,
                        dst.port,
                        dif,
                    )
                    .map(|score| Candidate {
                        score,
                        group: e.queue.group(),
                    })
                };
                // Listeners of one score may be several groups (a device
                // changed after listen()), even of different owners: one
                // group takes the SYN.
                let winner = winning_group(b.iter().filter_map(candidate))?;
                pick_shard(
                    b.iter().filter(|e| candidate(e) == Some(winner)),
                    hash,
                    select_shard,
                )
            })
    }

    /// The listener of reuseport group `group` that a connection from
    /// `src` to `dst` goes to (`proto::reuseport::migration_target` among
    /// the group's shards, the closed listener already unhashed), or `None`
    /// if the group has no listener left: where a closed listener's
    /// children may move, as `reuseport_migrate_sock` moves them, and
    /// nowhere else.
    pub(crate) fn lookup_group(
        &self,
        group: u64,
        dst: Endpoint,
        src: Endpoint,
    ) -> Option<FoundListener> {
        let hash = FourTuple::new(dst, src).hash(&self.key, HashPurpose::Reuseport);
        self.set
            .get()?
            .listeners
            .with_hashed(self.lst_bucket(dst.port), |b| {
                pick_shard(
                    b.iter()
                        .filter(|e| e.local.port == dst.port && e.queue.group() == group),
                    hash,
                    migration_target,
                )
            })
    }
}

/// What decides whether `sk` may join a reuseport group (`proto::reuseport::may_join`).
fn member(sk: &SockRef<AfcSock>) -> Member {
    let s = sk.sock();
    Member {
        uid: s.kuid(),
        dev: s.bound_dev_if(),
        reuseport: s.reuseport(),
    }
}

fn dev_matches(sk: &SockRef<AfcSock>, dif: i32) -> bool {
    bound_dev_eq(sk.sock().bound_dev_if(), dif)
}

/// The number of the next reuseport group (module-wide; 0 is none).
static NEXT_GROUP: AtomicU64 = AtomicU64::new(1);

/// The shard of `group` that `choose` (a `proto::reuseport` policy) picks
/// by the shards' published accept queues; the snapshot is on the stack,
/// so only the first `MAX_SHARDS` are seen (the core considers no more).
fn pick_shard<'a>(
    group: impl Iterator<Item = &'a Listening>,
    hash: u64,
    choose: fn(&[ShardInfo], u64) -> Option<usize>,
) -> Option<FoundListener> {
    let mut members: [Option<&Listening>; MAX_SHARDS] = [None; MAX_SHARDS];
    let mut info = [ShardInfo::default(); MAX_SHARDS];
    let mut n = 0;
    for (slot, e) in members.iter_mut().zip(group) {
        let sk = e.sk.sock();
        *slot = Some(e);
        if let Some(i) = info.get_mut(n) {
            *i = ShardInfo {
                accept_len: sk.ack_backlog(),
                backlog: sk.ack_backlog_max().max(1),
                listening: sk.state() == State::Listen.as_u8(),
            };
        }
        n += 1;
    }
    let chosen = choose(info.get(..n)?, hash)?;
    let e = members.get(chosen).copied().flatten()?;
    Some(FoundListener {
        sk: e.sk.clone(),
        queue: e.queue.clone(),
    })
}

//! SO_REUSEPORT groups: who may join, which shard takes a new connection, where orphans go.
//!
//! Listeners bound to the same address and port with `SO_REUSEPORT` form a
//! group. Each new connection goes to the shard with the shortest accept
//! queue, so a slow acceptor does not collect more work; among equally short
//! queues the keyed hash of the 4-tuple decides, so the choice is spread but
//! not predictable from outside. Shards at their backlog are skipped. Only
//! sockets of the same owner (uid) and bound device may join, which stops
//! another user from stealing a service's connections and connections from
//! moving across devices (Linux's rules). When a shard closes, its
//! queued connections move to a sibling instead of being reset (as Linux's
//! `net.ipv4.tcp_migrate_req = 1`).

/// What shard selection needs to know about one listener in a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardInfo {
    /// Connections waiting in its accept queue.
    pub accept_len: u32,
    /// Its accept queue bound.
    pub backlog: u32,
    /// Whether it is still in LISTEN.
    pub listening: bool,
}

impl ShardInfo {
    fn has_room(&self) -> bool {
        self.listening && self.accept_len < self.backlog
    }
}

/// Returns the index of the shard that takes a new connection, or `None` if all are full.
///
/// `hash` is the 4-tuple's keyed hash
/// ([`super::tuple::FourTuple::hash`] with `HashPurpose::Reuseport`).
pub fn select_shard(shards: &[ShardInfo], hash: u64) -> Option<usize> {
    select_shard_excluding(shards, hash, None)
}

/// Returns the shard that takes a new connection, never `exclude`.
pub fn select_shard_excluding(
    shards: &[ShardInfo],
    hash: u64,
    exclude: Option<usize>,
) -> Option<usize> {
    let eligible = |i: usize, s: &ShardInfo| s.has_room() && Some(i) != exclude;
    let mut shortest = u32::MAX;
    let mut ties = 0u64;
    for (i, s) in shards.iter().enumerate() {
        if !eligible(i, s) {
            continue;
        }
        if s.accept_len < shortest {
            shortest = s.accept_len;
            ties = 1;
        } else if s.accept_len == shortest {
            ties = ties.saturating_add(1);
        }
    }
    if ties == 0 {
        return None;
    }
    let mut pick = hash.checked_rem(ties).unwrap_or(0);
    for (i, s) in shards.iter().enumerate() {
        if eligible(i, s) && s.accept_len == shortest {
            if pick == 0 {
                return Some(i);
            }
            pick = pick.saturating_sub(1);
        }
    }
    None
}

/// What decides whether a listener may join another's reuseport group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its owner (`sk_uid`).
    pub uid: u32,
    /// The device it is bound to (`sk_bound_dev_if`, 0: none).
    pub dev: i32,
    /// Whether it has `SO_REUSEPORT` set.
    pub reuseport: bool,
}

/// Returns whether listener `new` may join the group of listener
/// `member` on the same address and port: both with `SO_REUSEPORT`, of
/// one owner (which stops another user from stealing a service's
/// connections) and bound to the same device or both to none (so that
/// connections never move across devices within a group), as
/// `inet_reuseport_add_sock` requires.
pub fn may_join(member: Member, new: Member) -> bool {
    member.reuseport && new.reuseport && member.uid == new.uid && member.dev == new.dev
}

/// Returns the sibling that takes a connection queued on closing shard `closing`, if any has room.
pub fn migration_target(shards: &[ShardInfo], closing: usize, hash: u64) -> Option<usize> {
    select_shard_excluding(shards, hash, Some(closing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(accept_len: u32, backlog: u32) -> ShardInfo {
        ShardInfo {
            accept_len,
            backlog,
            listening: true,
        }
    }

    #[test]
    fn shortest_queue_wins() {
        let shards = [s(3, 8), s(1, 8), s(2, 8)];
        for h in 0..10 {
            assert_eq!(select_shard(&shards, h), Some(1));
        }
    }

    #[test]
    fn ties_broken_by_hash() {
        let shards = [s(1, 8), s(0, 8), s(0, 8), s(0, 8)];
        assert_eq!(select_shard(&shards, 0), Some(1));
        assert_eq!(select_shard(&shards, 1), Some(2));
        assert_eq!(select_shard(&shards, 2), Some(3));
        assert_eq!(select_shard(&shards, 3), Some(1));
    }

    #[test]
    fn full_and_closed_shards_skipped() {
        let mut shards = [s(8, 8), s(5, 8), s(0, 8)];
        shards[2].listening = false;
        assert_eq!(select_shard(&shards, 7), Some(1));
        shards[1].accept_len = 8;
        assert_eq!(select_shard(&shards, 7), None);
        assert_eq!(select_shard(&[], 7), None);
    }

    #[test]
    fn migration_never_picks_the_closing_shard() {
        let shards = [s(0, 8), s(4, 8)];
        assert_eq!(migration_target(&shards, 0, 0), Some(1));
        assert_eq!(migration_target(&shards[..1], 0, 0), None);
    }

    #[test]
    fn same_owner_only() {
        let m = Member {
            uid: 1000,
            dev: 0,
            reuseport: true,
        };
        assert!(may_join(m, m));
        assert!(!may_join(m, Member { uid: 1001, ..m }));
        assert!(!may_join(
            m,
            Member {
                reuseport: false,
                ..m
            }
        ));
        assert!(!may_join(
            Member {
                reuseport: false,
                ..m
            },
            m
        ));
    }

    #[test]
    fn same_device_only() {
        let lo = Member {
            uid: 1000,
            dev: 1,
            reuseport: true,
        };
        let va = Member { dev: 2, ..lo };
        let none = Member { dev: 0, ..lo };
        assert!(may_join(lo, lo));
        assert!(!may_join(lo, va), "bound to another device");
        assert!(!may_join(none, lo), "bound where the group is not");
        assert!(!may_join(lo, none), "unbound beside a bound group");
    }
}

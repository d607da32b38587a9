//! SO_REUSEPORT groups: who may join, which group and shard take a new connection, where orphans go.
//!
//! Listeners bound to the same address and port with `SO_REUSEPORT` form a
//! group. Each new connection goes to the shard with the shortest accept
//! queue, so a slow acceptor does not collect more work; among equally short
//! queues the keyed hash of the 4-tuple decides, so the choice is spread but
//! not predictable from outside. Shards at their backlog are skipped; if
//! every shard is full, the first takes the connection (its queue then
//! refuses it and counts the overflow). At most [`MAX_SHARDS`] shards of a
//! group are considered. Only sockets of the same owner (uid) and bound
//! device may join, which stops another user from stealing a service's
//! connections and connections from moving across devices (Linux's
//! rules). When several groups match a SYN equally well, the first one
//! met wins ([`winning_group`]). When a shard closes, its queued
//! connections move to a sibling instead of being reset (as Linux's
//! `net.ipv4.tcp_migrate_req = 1`), chosen by the same rule
//! ([`migration_target`]).
//!
//! The kernel (`tables.rs`) and the host simulator (`tests/support/net.rs`)
//! both make these decisions by calling the functions here.

/// Most shards of one group considered for a connection: the kernel's
/// snapshot of a group is an array of this many on the stack (softirq);
/// members past it bind and listen but are never chosen.
pub const MAX_SHARDS: usize = 64;

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

/// Returns the index of the shard that takes a new connection, `None` only if `shards` is empty.
///
/// Of the first [`MAX_SHARDS`] shards, the one with the shortest accept
/// queue that has room (listening, below its backlog); among equally short
/// queues, `hash` picks. If none has room, shard 0: its queue refuses the
/// connection and counts it, so a full group still yields a listener.
///
/// `hash` is the 4-tuple's keyed hash
/// ([`super::tuple::FourTuple::hash`] with `HashPurpose::Reuseport`).
pub fn select_shard(shards: &[ShardInfo], hash: u64) -> Option<usize> {
    let shards = shards.get(..MAX_SHARDS).unwrap_or(shards);
    if shards.is_empty() {
        return None;
    }
    let mut shortest = u32::MAX;
    let mut ties = 0u64;
    for s in shards.iter().filter(|s| s.has_room()) {
        if s.accept_len < shortest {
            shortest = s.accept_len;
            ties = 1;
        } else if s.accept_len == shortest {
            ties = ties.saturating_add(1);
        }
    }
    let mut pick = hash.checked_rem(ties).unwrap_or(0);
    for (i, s) in shards.iter().enumerate() {
        if s.has_room() && s.accept_len == shortest {
            if pick == 0 {
                return Some(i);
            }
            pick = pick.saturating_sub(1);
        }
    }
    Some(0)
}

/// Returns which of `siblings` takes a connection queued on a closing shard, `None` if there is none.
///
/// `siblings` are the other shards of the closing one's group (it has
/// left the group already); the choice is [`select_shard`]'s, all-full
/// fallback included: the chosen sibling's `adopt_established` or
/// `adopt_half_open` ([`super::listener::ListenQueues`]) then takes the
/// connection or refuses it, and a refused one is reset.
pub fn migration_target(siblings: &[ShardInfo], hash: u64) -> Option<usize> {
    select_shard(siblings, hash)
}

/// A listener that matches a SYN, as the choice between groups sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// How well it matches ([`super::bind::listener_score`]; higher wins).
    pub score: u8,
    /// Its reuseport group.
    pub group: u64,
}

/// Returns the group that takes a SYN, given the listeners that match it in lookup order.
///
/// The best score wins; of groups that score alike (a device changed after
/// `listen()`, or owners differ), the first one met, as TCP's lookup
/// returns the first group it meets. The SYN's shards are the candidates
/// equal to the result (that group's listeners of that score), in the same
/// order, for [`select_shard`].
pub fn winning_group(candidates: impl IntoIterator<Item = Candidate>) -> Option<Candidate> {
    candidates.into_iter().fold(None, |best, c| match best {
        Some(b) if b.score >= c.score => Some(b),
        _ => Some(c),
    })
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

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

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
        assert_eq!(select_shard(&[], 7), None);
    }

    #[test]
    fn all_full_falls_back_to_the_first_shard() {
        let mut shards = [s(8, 8), s(8, 8), s(0, 8)];
        shards[2].listening = false;
        for h in 0..10 {
            assert_eq!(select_shard(&shards, h), Some(0));
        }
        assert_eq!(select_shard(&shards[..1], 3), Some(0));
    }

    #[test]
    fn shards_past_the_cap_are_never_chosen() {
        let mut shards = [s(8, 8); MAX_SHARDS + 2];
        shards[MAX_SHARDS].accept_len = 0;
        shards[MAX_SHARDS + 1].accept_len = 0;
        for h in 0..10 {
            assert_eq!(select_shard(&shards, h), Some(0), "all considered are full");
        }
        shards[MAX_SHARDS - 1].accept_len = 7;
        assert_eq!(select_shard(&shards, 5), Some(MAX_SHARDS - 1));
    }

    /// A reference model of [`select_shard`] against random groups.
    #[test]
    fn select_shard_matches_its_model() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut shards = [ShardInfo::default(); MAX_SHARDS + 6];
        for _ in 0..20_000 {
            let n = (next() % (shards.len() as u64 + 1)) as usize;
            for sh in shards.iter_mut().take(n) {
                let backlog = (next() % 4) as u32;
                *sh = ShardInfo {
                    accept_len: (next() % 5) as u32,
                    backlog,
                    listening: next() % 8 != 0,
                };
            }
            let group = &shards[..n];
            let hash = next();
            let got = select_shard(group, hash);
            let considered = &group[..n.min(MAX_SHARDS)];
            let room: Vec<usize> = (0..considered.len())
                .filter(|&i| considered[i].has_room())
                .collect();
            let want = if n == 0 {
                None
            } else if let Some(min) = room.iter().map(|&i| considered[i].accept_len).min() {
                let ties: Vec<usize> = room
                    .into_iter()
                    .filter(|&i| considered[i].accept_len == min)
                    .collect();
                Some(ties[(hash % ties.len() as u64) as usize])
            } else {
                Some(0)
            };
            assert_eq!(got, want, "{group:?} hash {hash}");
            assert_eq!(migration_target(group, hash), want);
        }
    }

    #[test]
    fn migration_goes_where_a_syn_would() {
        // The closing shard has left the group: only siblings are offered.
        let siblings = [s(4, 8), s(1, 8)];
        assert_eq!(migration_target(&siblings, 0), Some(1));
        // All full: the first sibling, whose adopt_* then decides.
        assert_eq!(migration_target(&[s(8, 8), s(8, 8)], 1), Some(0));
        assert_eq!(migration_target(&[], 0), None);
    }

    #[test]
    fn best_score_then_first_group_wins() {
        let c = |score, group| Candidate { score, group };
        assert_eq!(winning_group([]), None);
        assert_eq!(winning_group([c(1, 7), c(5, 3), c(1, 9)]), Some(c(5, 3)));
        // Equal scores: the first group met, not a mix of both.
        assert_eq!(
            winning_group([c(1, 7), c(5, 3), c(5, 4), c(5, 3)]),
            Some(c(5, 3))
        );
        assert_eq!(winning_group([c(2, 4), c(2, 3)]), Some(c(2, 4)));
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

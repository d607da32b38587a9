//! Bind conflict rules, as Linux applies them to TCP.
//!
//! Two sockets conflict when they use the same port, their addresses
//! overlap (equal, or either is the wildcard `0.0.0.0`) and their bound
//! devices overlap (equal, or either is unbound), unless one of the
//! exceptions holds:
//!
//! - **`SO_REUSEADDR`**: both sockets set it and the existing one is not
//!   listening. So a server restarts onto a port its old connections still
//!   hold in TIME_WAIT, but two listeners never share a port this way (the
//!   check runs again at `listen()`, when the other may be listening).
//! - **`SO_REUSEPORT`**: both sockets set it and they have the same owner
//!   (uid), or the existing one is in TIME_WAIT.
//!
//! This is `inet_bind_conflict()` of `net/ipv4/inet_connection_sock.c` with
//! `relax = true, reuseport_ok = true`, as `bind()` and `listen()` use it.
//!
//! `connect()` on an unbound socket shares ports instead (see
//! [`connect_may_share`]): its claims are marked [`Binding::by_connect`],
//! like the bind buckets TCP's `__inet_hash_connect` makes
//! (`fastreuse = -1`), and still conflict with a later `bind()`.

use super::state::State;
use super::tuple::ADDR_ANY;

/// A socket's claim on a local address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Local address; [`ADDR_ANY`] is the wildcard.
    pub addr: u32,
    /// Local port.
    pub port: u16,
    /// Bound device index (`SO_BINDTODEVICE`); zero for none.
    pub dev_if: u32,
    /// `SO_REUSEADDR`.
    pub reuseaddr: bool,
    /// `SO_REUSEPORT`.
    pub reuseport: bool,
    /// Owner's kernel uid (`kuid_t`), never a namespace's view of it: uids
    /// a user namespace does not map all show as its overflow uid.
    pub uid: u32,
    /// The socket's state (LISTEN and TIME_WAIT matter).
    pub state: State,
    /// Made by `connect()` picking an ephemeral port: other connecting
    /// sockets may share the port (toward other destinations).
    pub by_connect: bool,
}

/// Returns whether two local addresses overlap: equal, or either is the wildcard.
pub const fn addrs_overlap(a: u32, b: u32) -> bool {
    a == ADDR_ANY || b == ADDR_ANY || a == b
}

/// Returns whether binding `new` (or making it listen) conflicts with `existing`.
pub fn bind_conflict(existing: &Binding, new: &Binding) -> bool {
    if existing.port != new.port || !addrs_overlap(existing.addr, new.addr) {
        return false;
    }
    if existing.dev_if != 0 && new.dev_if != 0 && existing.dev_if != new.dev_if {
        return false;
    }
    if new.reuseaddr && existing.reuseaddr && existing.state != State::Listen {
        return false;
    }
    if new.reuseport
        && existing.reuseport
        && (existing.state == State::TimeWait || existing.uid == new.uid)
    {
        return false;
    }
    true
}

/// Returns whether a socket bound to device `bound` (0: none) takes a
/// frame that arrived on device `dif`: an unbound socket takes any
/// (`inet_bound_dev_eq` of `net/ipv4`, without VRFs).  The same test
/// decides whether a new connection bound to `dif` may share a 4-tuple
/// with an existing one bound to `bound` (`__inet_check_established`).
pub const fn bound_dev_eq(bound: i32, dif: i32) -> bool {
    bound == 0 || bound == dif
}

/// How well a listener on `addr:port` bound to device `bound` matches a
/// SYN to `dst_addr:dst_port` that arrived on device `dif`, as
/// `compute_score` of `inet_hashtables.c`: `None` for no match, else
/// higher is better.  A specific address (4) outweighs a bound device
/// (2 against 1 for none), so the listeners that share the best score
/// share address and device: one reuseport group.
pub fn listener_score(
    addr: u32,
    port: u16,
    bound: i32,
    dst_addr: u32,
    dst_port: u16,
    dif: i32,
) -> Option<u8> {
    if port != dst_port || !bound_dev_eq(bound, dif) {
        return None;
    }
    let dev: u8 = if bound != 0 { 2 } else { 1 };
    if addr == dst_addr {
        Some(dev.saturating_add(4))
    } else if addr == ADDR_ANY {
        Some(dev)
    } else {
        None
    }
}

/// Returns whether `connect()` may take `port` for a new connection, given
/// the claims in `existing`: only if every claim on the port was made by
/// `connect()` (TCP skips a bind bucket whose `fastreuse` or
/// `fastreuseport` is not -1).  The caller still checks that the 4-tuple
/// is unused.
pub fn connect_may_share<'a>(existing: impl IntoIterator<Item = &'a Binding>, port: u16) -> bool {
    existing
        .into_iter()
        .filter(|e| e.port == port)
        .all(|e| e.by_connect)
}

/// Returns whether `new` conflicts with any of `existing`.
pub fn any_conflict<'a>(existing: impl IntoIterator<Item = &'a Binding>, new: &Binding) -> bool {
    existing.into_iter().any(|e| bind_conflict(e, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(addr: u32, state: State) -> Binding {
        Binding {
            addr,
            port: 7000,
            dev_if: 0,
            reuseaddr: false,
            reuseport: false,
            uid: 1000,
            state,
            by_connect: false,
        }
    }

    const A: u32 = 0x0a00_0001;
    const B: u32 = 0x0a00_0002;

    #[test]
    fn plain_binds() {
        assert!(bind_conflict(&b(A, State::Closed), &b(A, State::Closed)));
        assert!(bind_conflict(
            &b(ADDR_ANY, State::Listen),
            &b(A, State::Closed)
        ));
        assert!(bind_conflict(
            &b(A, State::Listen),
            &b(ADDR_ANY, State::Closed)
        ));
        assert!(!bind_conflict(&b(A, State::Listen), &b(B, State::Closed)));
        let mut other_port = b(A, State::Closed);
        other_port.port = 7001;
        assert!(!bind_conflict(&b(A, State::Listen), &other_port));
    }

    #[test]
    fn reuseaddr_needs_both_and_no_listener() {
        let mut e = b(A, State::TimeWait);
        let mut n = b(A, State::Closed);
        n.reuseaddr = true;
        assert!(bind_conflict(&e, &n));
        e.reuseaddr = true;
        assert!(!bind_conflict(&e, &n));
        e.state = State::Established;
        assert!(!bind_conflict(&e, &n));
        e.state = State::Listen;
        assert!(bind_conflict(&e, &n));
    }

    #[test]
    fn reuseport_needs_both_and_same_owner() {
        let mut e = b(ADDR_ANY, State::Listen);
        let mut n = b(ADDR_ANY, State::Closed);
        e.reuseport = true;
        n.reuseport = true;
        assert!(!bind_conflict(&e, &n));
        n.uid = 0;
        assert!(bind_conflict(&e, &n), "another user may not join");
        e.state = State::TimeWait;
        assert!(!bind_conflict(&e, &n));
        e.state = State::Listen;
        n.uid = 1000;
        e.reuseport = false;
        assert!(bind_conflict(&e, &n));
    }

    #[test]
    fn connect_shares_only_ports_held_by_connect() {
        let mut c1 = b(A, State::Established);
        c1.by_connect = true;
        let mut c2 = c1;
        c2.state = State::SynSent;
        assert!(connect_may_share([], 7000));
        assert!(connect_may_share([c1, c2].iter(), 7000));
        // A bind() or a listener on the port (any address) keeps connect off it.
        let mut other_addr = b(B, State::Closed);
        assert!(!connect_may_share([c1, other_addr].iter(), 7000));
        other_addr.port = 7001;
        assert!(connect_may_share([c1, other_addr].iter(), 7000));
        // A bind() to the port still conflicts with the connected sockets.
        assert!(bind_conflict(&c1, &b(A, State::Closed)));
        assert!(bind_conflict(&c1, &b(ADDR_ANY, State::Closed)));
        assert!(!bind_conflict(&c1, &b(B, State::Closed)));
    }

    #[test]
    fn device_match() {
        assert!(bound_dev_eq(0, 0));
        assert!(bound_dev_eq(0, 3));
        assert!(bound_dev_eq(3, 3));
        assert!(!bound_dev_eq(3, 1));
        assert!(
            !bound_dev_eq(3, 0),
            "a bound socket is no match without a device"
        );
    }

    #[test]
    fn listener_scores() {
        const LO: i32 = 1;
        const VA: i32 = 4;
        let s = |addr, bound, dif| listener_score(addr, 7000, bound, A, 7000, dif);
        // Other port, other address, other device: no match.
        assert_eq!(None, listener_score(A, 7001, 0, A, 7000, LO));
        assert_eq!(None, s(B, 0, LO));
        assert_eq!(None, s(A, VA, LO));
        assert_eq!(None, s(ADDR_ANY, VA, LO));
        // Specific address over wildcard; on one address, bound over unbound.
        let order = [
            s(A, LO, LO),
            s(A, 0, LO),
            s(ADDR_ANY, LO, LO),
            s(ADDR_ANY, 0, LO),
        ];
        assert!(order.iter().all(Option::is_some));
        assert!(order.windows(2).all(|w| w[0] > w[1]), "{order:?}");
    }

    #[test]
    fn devices() {
        let mut e = b(A, State::Listen);
        let mut n = b(A, State::Closed);
        e.dev_if = 2;
        n.dev_if = 3;
        assert!(!bind_conflict(&e, &n));
        n.dev_if = 0;
        assert!(bind_conflict(&e, &n));
        assert!(any_conflict([e, b(B, State::Closed)].iter(), &n));
    }
}

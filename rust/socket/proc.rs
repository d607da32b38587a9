// SPDX-License-Identifier: GPL-2.0

//! The socket's line of `/proc/net/af_custom` (read under the namespace's
//! socket-list lock: atomics only, no socket lock).

use super::AfcSock;
use crate::abstractions::sock::Sock;
use crate::proto::state::State;
use core::sync::atomic::Ordering;

/// One line of `/proc/net/af_custom`, in the format of `/proc/net/tcp`:
/// addresses as `%08X:%04X` of the network-order address and host-order
/// port, the state as its TCP number, then send and receive queue bytes
/// (for a listener: its backlog and accept queue length, as `ss -lt`
/// shows them), uid, inode, and the reuseport group (0: none).
pub(crate) fn proc_line(w: &mut impl core::fmt::Write, sk: &Sock<'_, AfcSock>, sl: i32) -> core::fmt::Result {
    let ((la, lp), (ra, rp)) = sk.addrs();
    let state = sk.state();
    let (tx, rx) = if state == State::Listen.as_u8() {
        let max = sk.ack_backlog_max();
        (max, sk.ack_backlog())
    } else {
        (sk.data().queued.load(Ordering::Relaxed), sk.data().unread.load(Ordering::Relaxed))
    };
    let state = if state == 0 { State::Closed.as_u8() } else { state };
    writeln!(
        w,
        "{:4}: {:08X}:{:04X} {:08X}:{:04X} {:02X} {:08X}:{:08X} {:5} {:8} {}",
        sl, la.to_be(), lp, ra.to_be(), rp, state, tx, rx, sk.uid(), sk.inode(), 0
    )
}

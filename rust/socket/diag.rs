// SPDX-License-Identifier: GPL-2.0

//! A socket's row of a `sock_diag` dump (`struct afc_diag_msg`, the C side
//! in `rust/helpers/diag.c`): which sockets a request lists, and what their
//! row and `AFC_DIAG_INFO` say.

use super::{opts, AfcSock};
use crate::abstractions::family::TcpInfo;
use crate::abstractions::pernet::DiagRow;
use crate::abstractions::sock::Sock;
use crate::proto::opts::DiagFilter;
use crate::proto::state::State;
use core::sync::atomic::Ordering;

/// The state as listed: TCP's number, a fresh socket (0) as `CLOSE`, as in
/// `/proc/net/af_custom`.
fn listed_state(sk: &Sock<'_, AfcSock>) -> u8 {
    match sk.state() {
        0 => State::Closed.as_u8(),
        s => s,
    }
}

/// Whether `sk` passes the filters of a request; runs under the
/// namespace's sock-list lock (bottom halves off), so it reads only what
/// is published for lockless readers (state and addresses, as
/// `/proc/net/af_custom`) and never sleeps.
pub(crate) fn diag_match(sk: &Sock<'_, AfcSock>, f: &DiagFilter) -> bool {
    let ((_, lp), (_, rp)) = sk.addrs();
    f.matches(listed_state(sk), lp, rp)
}

/// The row of `sk`, with queues as `/proc/net/af_custom` (and inet_diag)
/// show them: for a listener its accept queue length and backlog, else
/// the unread and the unacknowledged-or-unsent bytes.  With `info`, takes
/// the socket lock (process context, no other lock held: the caller's
/// reference keeps `sk` alive) and fills it as `AFC_INFO` does.
pub(crate) fn diag_fill(sk: &Sock<'_, AfcSock>, info: Option<&mut TcpInfo>) -> DiagRow {
    if let Some(t) = info {
        let mut g = sk.lock();
        let i = opts::info_locked(sk, g.locked());
        drop(g);
        opts::fill_tcp_info(&i, t);
    }
    let (local, remote) = sk.addrs();
    let state = listed_state(sk);
    let (rqueue, wqueue) = if state == State::Listen.as_u8() {
        (sk.ack_backlog(), sk.ack_backlog_max())
    } else {
        (
            sk.data().unread.load(Ordering::Relaxed),
            sk.data().queued.load(Ordering::Relaxed),
        )
    };
    DiagRow {
        state,
        shutdown: sk.shutdown_bits(),
        local,
        remote,
        rqueue,
        wqueue,
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Socket options: the protocol level (`SOL_AF_CUSTOM`, numbered as
//! TCP's), `SO_KEEPALIVE`'s hook, and the connection settings they feed.
//! `SOL_SOCKET` options are the kernel's common code (`sock_setsockopt`);
//! the socket layer reads their results from the `struct sock`.

use super::{conn, AfcSock, AfcSockLocked, Role};
use crate::abi::errno::ENOPROTOOPT;
use crate::abi::family::OptVal;
use crate::abi::route::Route;
use crate::abi::uapi;
use crate::abi::sock::Sock;
use crate::proto::buffers;
use crate::proto::conn::{Config, Keepalive};
use crate::proto::time::SEC;
use kernel::prelude::*;

/// `SOL_AF_CUSTOM` and its options (`uapi/linux/af_custom.h`), as `int`s.
const SOL_AF_CUSTOM: i32 = uapi::SOL_AF_CUSTOM as i32;
const AFC_NODELAY: i32 = uapi::AFC_NODELAY as i32;
const AFC_KEEPIDLE: i32 = uapi::AFC_KEEPIDLE as i32;
const AFC_KEEPINTVL: i32 = uapi::AFC_KEEPINTVL as i32;
const AFC_KEEPCNT: i32 = uapi::AFC_KEEPCNT as i32;
const AFC_SYNCNT: i32 = uapi::AFC_SYNCNT as i32;

/// The protocol-level options of a socket (children inherit a listener's).
#[derive(Clone, Copy)]
pub(crate) struct Opts {
    pub(crate) nodelay: bool,
    pub(crate) keepidle_s: u32,
    pub(crate) keepintvl_s: u32,
    pub(crate) keepcnt: u8,
    pub(crate) syncnt: u8,
}

impl Default for Opts {
    fn default() -> Self {
        Self { nodelay: false, keepidle_s: 7200, keepintvl_s: 75, keepcnt: 9, syncnt: 6 }
    }
}

impl Opts {
    fn keepalive(&self) -> Keepalive {
        Keepalive {
            idle_us: u64::from(self.keepidle_s) * SEC,
            interval_us: u64::from(self.keepintvl_s) * SEC,
            probes: self.keepcnt,
        }
    }
}

/// Buffer sizes of a new socket: `net.af_custom.rmem_default` and
/// `wmem_default` (128 KiB and 16 KiB unless set, as `tcp_rmem[1]` and
/// `tcp_wmem[1]`; clamped to `net.af_custom.rmem[2]`/`wmem[2]`). They grow
/// with the connection (`conn::reader_took`, `conn::grow_sndbuf`).
pub(crate) fn init_buffers(sk: &Sock<'_, AfcSock>) {
    let (r, w) = sk.net().buf_defaults();
    sk.set_bufs(r, w);
}

/// The settings of a new connection over `route`.
pub(crate) fn config(sk: &Sock<'_, AfcSock>, o: &Opts, route: &Route) -> Config {
    // Segments of up to 63 KiB on loopback and on devices that take GSO
    // frames (veth: the device segments, or rather its peer takes them
    // whole), else the device's MTU.
    // On loopback a frame is one allocation: keep header, payload and
    // skb_shared_info within 64 KiB so that truesize stays near the payload.
    let mtu = if route.gso > 0 {
        63 * 1024
    } else if route.loopback {
        route.mtu.min(63 * 1024)
    } else {
        route.mtu
    };
    // The timers' settings for on-link peers are the core's (`Config::on_link`).
    let mut c = Config::on_link(Config::mss_for_mtu(mtu));
    c.recv_buf = buffers::window_for(sk.rcvbuf());
    // The window scale is chosen for the largest buffer the connection
    // may grow to, as `tcp_select_initial_window` (SO_RCVLOWAT grows it).
    c.recv_buf_max = buffers::window_for(rcvbuf_max(sk));
    c.nodelay = o.nodelay;
    c.syn_retries = o.syncnt;
    c.synack_retries = 5;
    c.keepalive = sk.keepopen().then(|| o.keepalive());
    c
}

/// The largest receive buffer `sk` may get without the user: the one set
/// with `SO_RCVBUF`, else `net.af_custom.rmem[2]` (6 MiB, as TCP's
/// `tcp_rmem[2]`; or more if set so).
fn rcvbuf_max(sk: &Sock<'_, AfcSock>) -> u32 {
    if sk.rcvbuf_locked() { sk.rcvbuf() } else { sk.rcvbuf().max(crate::abi::mem::buf_max().0) }
}

/// `SO_RCVLOWAT` (lock owned), as `tcp_set_rcvlowat`: the mark is capped
/// at half the largest buffer (`SO_RCVBUF` if the user set it), and an
/// unlocked buffer grows to hold it (the window, half the buffer, then
/// holds the mark), so that a reader waiting for the mark gets it.
pub(crate) fn set_rcvlowat(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, val: i32) -> Result {
    let val = (val.max(0) as u32).min(rcvbuf_max(sk) / 2);
    sk.set_rcvlowat(val);
    if !sk.rcvbuf_locked() {
        let space = val.saturating_mul(2);
        if space > sk.rcvbuf() {
            sk.set_rcvbuf(space);
        }
    }
    // Offer the larger window now: a sender stopped at the old one would
    // otherwise wait for its persist timer.
    if let Role::Conn(c) = &mut st.role {
        conn::sync_recv_buf(sk, c);
    }
    conn::drive(sk, st);
    // Readers and pollers look again (the mark may be reached already).
    sk.data_ready();
    Ok(())
}

/// `SO_KEEPALIVE` changed (`sock_setsockopt`, lock owned).
pub(crate) fn keepalive_changed(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, on: bool) {
    let ka = on.then(|| st.opts.keepalive());
    if let Role::Conn(c) = &mut st.role {
        c.conn.set_keepalive(ka);
        conn::drive(sk, st);
    }
}

pub(crate) fn setsockopt(sk: &Sock<'_, AfcSock>, level: i32, name: i32, val: &OptVal) -> Result {
    if level == uapi::SOL_SOCKET as i32 && uapi::binds_device(name) {
        // The common code has set the device; the bind table follows.
        super::bind::device_changed(sk);
        return Ok(());
    }
    if level == uapi::SOL_SOCKET as i32 && name == uapi::SO_REUSEPORT as i32 {
        let v = val.int()?;
        let _g = sk.lock();
        sk.set_reuseport(v != 0);
        return Ok(());
    }
    if level != SOL_AF_CUSTOM {
        return Err(ENOPROTOOPT());
    }
    let v = val.int()?;
    let mut g = sk.lock();
    let st = g.locked();
    match name {
        AFC_NODELAY => st.opts.nodelay = v != 0,
        AFC_KEEPIDLE if (1..=32767).contains(&v) => st.opts.keepidle_s = v as u32,
        AFC_KEEPINTVL if (1..=32767).contains(&v) => st.opts.keepintvl_s = v as u32,
        AFC_KEEPCNT if (1..=127).contains(&v) => st.opts.keepcnt = v as u8,
        AFC_SYNCNT if (1..=127).contains(&v) => st.opts.syncnt = v as u8,
        AFC_KEEPIDLE | AFC_KEEPINTVL | AFC_KEEPCNT | AFC_SYNCNT => return Err(EINVAL),
        _ => return Err(ENOPROTOOPT()),
    }
    let opts = st.opts;
    match &mut st.role {
        Role::Listener(l) => l.set_opts(opts),
        Role::Conn(c) => {
            c.conn.set_nodelay(opts.nodelay);
            if sk.keepopen() {
                c.conn.set_keepalive(Some(opts.keepalive()));
            }
            conn::drive(sk, st);
        }
        Role::Idle => {}
    }
    Ok(())
}

pub(crate) fn getsockopt(sk: &Sock<'_, AfcSock>, level: i32, name: i32) -> Result<i32> {
    if level != SOL_AF_CUSTOM {
        return Err(ENOPROTOOPT());
    }
    let mut g = sk.lock();
    let o = g.locked().opts;
    Ok(match name {
        AFC_NODELAY => o.nodelay as i32,
        AFC_KEEPIDLE => o.keepidle_s as i32,
        AFC_KEEPINTVL => o.keepintvl_s as i32,
        AFC_KEEPCNT => o.keepcnt.into(),
        AFC_SYNCNT => o.syncnt.into(),
        _ => return Err(ENOPROTOOPT()),
    })
}

// SPDX-License-Identifier: GPL-2.0

//! Socket options: the protocol level (`SOL_AF_CUSTOM`, numbered as
//! TCP's), `SO_KEEPALIVE`'s hook, and the connection settings they feed.
//! `SOL_SOCKET` options are the kernel's common code (`sock_setsockopt`);
//! the socket layer reads their results from the `struct sock`.

use super::{conn, AfcSock, AfcSockLocked, Role};
use crate::abstractions::errno::ENOPROTOOPT;
use crate::abstractions::family::{OptGet, OptVal, TcpInfo};
use crate::abstractions::route::Route;
use crate::abstractions::sock::Sock;
use crate::abstractions::uapi;
use crate::proto::buffers;
use crate::proto::conn::{Config, Keepalive};
use crate::proto::opts::{self as popts, Info};
use crate::proto::state::State;
use crate::proto::time::{MS, SEC};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// `SOL_AF_CUSTOM` and its options (`uapi/linux/af_custom.h`), as `int`s.
const SOL_AF_CUSTOM: i32 = uapi::SOL_AF_CUSTOM as i32;
const AFC_NODELAY: i32 = uapi::AFC_NODELAY as i32;
const AFC_KEEPIDLE: i32 = uapi::AFC_KEEPIDLE as i32;
const AFC_KEEPINTVL: i32 = uapi::AFC_KEEPINTVL as i32;
const AFC_KEEPCNT: i32 = uapi::AFC_KEEPCNT as i32;
const AFC_SYNCNT: i32 = uapi::AFC_SYNCNT as i32;
const AFC_MAXSEG: i32 = uapi::AFC_MAXSEG as i32;
const AFC_CORK: i32 = uapi::AFC_CORK as i32;
const AFC_DEFER_ACCEPT: i32 = uapi::AFC_DEFER_ACCEPT as i32;
const AFC_INFO: i32 = uapi::AFC_INFO as i32;
const AFC_QUICKACK: i32 = uapi::AFC_QUICKACK as i32;
const AFC_CONGESTION: i32 = uapi::AFC_CONGESTION as i32;
const AFC_USER_TIMEOUT: i32 = uapi::AFC_USER_TIMEOUT as i32;
const AFC_NOTSENT_LOWAT: i32 = uapi::AFC_NOTSENT_LOWAT as i32;
pub(crate) const AFC_PKTINFO: i32 = uapi::AFC_PKTINFO as i32;
pub(crate) const SOL: i32 = SOL_AF_CUSTOM;

/// The protocol-level options of a socket (children inherit a listener's).
#[derive(Clone, Copy)]
pub(crate) struct Opts {
    pub(crate) nodelay: bool,
    pub(crate) keepidle_s: u32,
    pub(crate) keepintvl_s: u32,
    pub(crate) keepcnt: u8,
    pub(crate) syncnt: u8,
    /// `AFC_MAXSEG`: the MSS clamp (0: none).
    pub(crate) user_mss: u16,
    /// `AFC_CORK`.
    pub(crate) cork: bool,
    /// `AFC_QUICKACK`'s mode as read back (TCP's "not in pingpong mode").
    pub(crate) quickack: bool,
    /// `AFC_DEFER_ACCEPT`, as a count of SYN-ACK timeouts (TCP's `rskq_defer_accept`).
    pub(crate) defer_accept: u8,
    /// `AFC_USER_TIMEOUT`, milliseconds (0: none).
    pub(crate) user_timeout_ms: u32,
    /// `AFC_PKTINFO`: `recvmsg` returns a `struct afc_pktinfo`.
    pub(crate) pktinfo: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            nodelay: false,
            keepidle_s: 7200,
            keepintvl_s: 75,
            keepcnt: 9,
            syncnt: 6,
            user_mss: 0,
            cork: false,
            quickack: true,
            defer_accept: 0,
            user_timeout_ms: 0,
            pktinfo: false,
        }
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
    // Segments of up to 63 KiB on loopback and on devices we send GSO
    // frames over (a veth, whose peer takes them whole; a NIC, before
    // which the device layer cuts them), else the device's MTU. A sender
    // sends no more than its own route allows, whatever we advertise.
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
    let mut c = Config::on_link(popts::clamp_mss(Config::mss_for_mtu(mtu), o.user_mss));
    if route.cut {
        // The congestion window counts the NIC's frames, not our segments.
        c.wire_mss = route.gso;
    }
    // Half the buffer until a full-sized segment measures what its
    // payload share really is (`ConnState::scaling_ratio`).
    c.recv_buf = buffers::window_for(sk.rcvbuf(), buffers::DEFAULT_SCALING_RATIO);
    // The window scale is chosen for the largest buffer the connection
    // may grow to (SO_RCVLOWAT grows it), all of which a measured share
    // near one may offer, as `tcp_select_initial_window` sizes it for
    // the whole of `tcp_rmem[2]`.
    c.recv_buf_max = rcvbuf_max(sk);
    c.nodelay = o.nodelay;
    c.syn_retries = o.syncnt;
    c.synack_retries = 5;
    c.keepalive = sk.keepopen().then(|| o.keepalive());
    c.cork = o.cork;
    c.interactive = !o.quickack;
    c.user_timeout_us = u64::from(o.user_timeout_ms) * MS;
    c
}

/// The largest receive buffer `sk` may get without the user: the one set
/// with `SO_RCVBUF`, else `net.af_custom.rmem[2]` (6 MiB, as TCP's
/// `tcp_rmem[2]`; or more if set so).
fn rcvbuf_max(sk: &Sock<'_, AfcSock>) -> u32 {
    if sk.rcvbuf_locked() {
        sk.rcvbuf()
    } else {
        sk.rcvbuf().max(crate::abstractions::mem::buf_max().0)
    }
}

/// `SO_RCVLOWAT` (lock owned), as `tcp_set_rcvlowat`: the mark is capped
/// at half the largest buffer (`SO_RCVBUF` if the user set it), and an
/// unlocked buffer grows to hold it (to the memory the mark takes at the
/// measured payload share, `tcp_space_from_win`), so that a reader
/// waiting for the mark gets it.
pub(crate) fn set_rcvlowat(sk: &Sock<'_, AfcSock>, st: &mut AfcSockLocked, val: i32) -> Result {
    let val = (val.max(0) as u32).min(rcvbuf_max(sk) / 2);
    sk.set_rcvlowat(val);
    if !sk.rcvbuf_locked() {
        // The memory that window takes (`tcp_space_from_win`).
        let ratio = match &st.role {
            Role::Conn(c) => c.scaling_ratio(),
            _ => buffers::DEFAULT_SCALING_RATIO,
        };
        let space = buffers::space_from_win(val, ratio);
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
    if name == AFC_CONGESTION {
        // A string, as `do_tcp_setsockopt` reads it before any `int`.
        if val.len() < 1 {
            return Err(EINVAL);
        }
        let mut buf = [0u8; popts::CA_NAME_MAX - 1];
        let n = val.bytes(&mut buf)?;
        return if popts::congestion_known(buf.get(..n).unwrap_or(&[])) {
            Ok(())
        } else {
            Err(ENOENT)
        };
    }
    let v = val.int()?;
    if name == AFC_NOTSENT_LOWAT {
        // As TCP's (`tp->notsent_lowat`, a u32): writers look again.
        sk.data().notsent_lowat.store(v as u32, Ordering::Relaxed);
        sk.wake_writers();
        return Ok(());
    }
    let mut g = sk.lock();
    let st = g.locked();
    let mut quickack_set = false;
    match name {
        AFC_NODELAY => st.opts.nodelay = v != 0,
        AFC_MAXSEG => st.opts.user_mss = popts::user_mss(v).ok_or(EINVAL)?,
        AFC_CORK => st.opts.cork = v != 0,
        AFC_QUICKACK => {
            st.opts.quickack = v != 0;
            quickack_set = true;
        }
        AFC_DEFER_ACCEPT => st.opts.defer_accept = popts::defer_secs_to_retrans(v),
        AFC_USER_TIMEOUT if v >= 0 => st.opts.user_timeout_ms = v as u32,
        AFC_USER_TIMEOUT => return Err(EINVAL),
        AFC_PKTINFO => st.opts.pktinfo = v != 0,
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
            c.conn.set_cork(opts.cork);
            c.conn
                .set_user_timeout(u64::from(opts.user_timeout_ms) * MS);
            // As `__tcp_sock_set_quickack`: the connection's mode (an
            // even nonzero value sends the ACK owed, then goes back to
            // delayed ACKs).
            if quickack_set {
                c.conn.set_quickack(v);
                st.opts.quickack = c.conn.quickack_mode();
            }
            if sk.keepopen() {
                c.conn.set_keepalive(Some(opts.keepalive()));
            }
            // Clearing the cork (or no-delay) sends what was held.
            conn::drive(sk, st);
        }
        Role::Idle => {}
    }
    Ok(())
}

pub(crate) fn getsockopt(sk: &Sock<'_, AfcSock>, level: i32, name: i32) -> Result<OptGet> {
    if level != SOL_AF_CUSTOM {
        return Err(ENOPROTOOPT());
    }
    if name == AFC_CONGESTION {
        let mut n = [0u8; popts::CA_NAME_MAX];
        for (d, s) in n.iter_mut().zip(popts::CONGESTION_NAME) {
            *d = *s;
        }
        return Ok(OptGet::Name(n));
    }
    if name == AFC_NOTSENT_LOWAT {
        return Ok(OptGet::Int(
            sk.data().notsent_lowat.load(Ordering::Relaxed) as i32
        ));
    }
    let mut g = sk.lock();
    let st = g.locked();
    let o = st.opts;
    let live = match &st.role {
        Role::Conn(c) if c.conn.state() != State::Closed => Some(&c.conn),
        _ => None,
    };
    Ok(OptGet::Int(match name {
        AFC_NODELAY => o.nodelay as i32,
        AFC_KEEPIDLE => o.keepidle_s as i32,
        AFC_KEEPINTVL => o.keepintvl_s as i32,
        AFC_KEEPCNT => o.keepcnt.into(),
        AFC_SYNCNT => o.syncnt.into(),
        // As TCP's: the MSS in use, or the clamp (else 536) before.
        AFC_MAXSEG => match live {
            Some(c) => c.send_mss() as i32,
            None if o.user_mss != 0 => o.user_mss.into(),
            None => popts::MSS_DEFAULT as i32,
        },
        AFC_CORK => o.cork as i32,
        // The connection's mode, which its traffic moves (TCP's ping-pong mode).
        AFC_QUICKACK => live.map_or(o.quickack, |c| c.quickack_mode()) as i32,
        AFC_DEFER_ACCEPT => popts::defer_retrans_to_secs(o.defer_accept),
        AFC_USER_TIMEOUT => o.user_timeout_ms as i32,
        AFC_PKTINFO => o.pktinfo as i32,
        AFC_INFO => return Ok(OptGet::TcpInfo(tcp_info(&info_locked(sk, st))?)),
        _ => return Err(ENOPROTOOPT()),
    }))
}

/// The core's `AFC_INFO` numbers of `sk` (socket lock held: `st`).
pub(super) fn info_locked(sk: &Sock<'_, AfcSock>, st: &AfcSockLocked) -> Info {
    let state = State::from_u8(sk.state()).unwrap_or(State::Closed);
    match &st.role {
        Role::Conn(c) => c.conn.info(conn::now()),
        _ => Info::idle(state),
    }
}

/// `TCP_INFO`'s structure from the core's numbers.
fn tcp_info(i: &Info) -> Result<KBox<TcpInfo>> {
    let mut t = KBox::new(TcpInfo::default(), GFP_KERNEL)?;
    fill_tcp_info(i, &mut t);
    Ok(t)
}

/// Fills `t` from the core's numbers (the rest of `t` left as it is).
pub(super) fn fill_tcp_info(i: &Info, t: &mut TcpInfo) {
    *t = TcpInfo {
        tcpi_state: i.state,
        tcpi_retransmits: i.retransmits,
        tcpi_probes: i.probes,
        tcpi_backoff: i.retransmits,
        tcpi_rto: i.rto_us,
        tcpi_ato: i.ato_us,
        tcpi_snd_mss: i.snd_mss,
        tcpi_rcv_mss: i.rcv_mss,
        tcpi_advmss: i.rcv_mss,
        tcpi_unacked: i.unacked,
        tcpi_last_ack_recv: i.last_recv_ms,
        tcpi_rtt: i.rtt_us,
        tcpi_rttvar: i.rttvar_us,
        tcpi_snd_ssthresh: i.snd_ssthresh,
        tcpi_snd_cwnd: i.snd_cwnd,
        tcpi_total_retrans: i.total_retrans,
        tcpi_segs_out: i.segs_out,
        tcpi_segs_in: i.segs_in,
        tcpi_notsent_bytes: i.notsent_bytes,
        tcpi_snd_wnd: i.snd_wnd,
        tcpi_rcv_wnd: i.rcv_wnd,
        tcpi_total_rto: i.total_rto,
        ..TcpInfo::default()
    };
    t.set_tcpi_snd_wscale(i.snd_wscale);
    t.set_tcpi_rcv_wscale(i.rcv_wscale);
}

// SPDX-License-Identifier: GPL-2.0

//! The pieces of `afc-ss` that do not touch the kernel: the request
//! (`struct afc_diag_req` of `rust/uapi/linux/af_custom.h`), the parsing of
//! the dump's messages (`struct afc_diag_msg` and the `AFC_DIAG_INFO`
//! attribute, a `struct tcp_info`), state names as `ss` spells them, and
//! the output lines.

use std::net::Ipv4Addr;

/// `SOCK_DIAG_BY_FAMILY` (`linux/sock_diag.h`).
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `AFC_DIAG_INFO`: the attribute carrying a `struct tcp_info`.
pub const AFC_DIAG_INFO: u16 = 1;
/// Size of `struct afc_diag_req` and `struct afc_diag_msg`.
pub const REQ_LEN: usize = 16;
pub const MSG_LEN: usize = 40;

/// TCP's state numbers and the names `ss` gives them.
pub const STATES: [(u8, &str); 11] = [
    (1, "ESTAB"),
    (2, "SYN-SENT"),
    (3, "SYN-RECV"),
    (4, "FIN-WAIT-1"),
    (5, "FIN-WAIT-2"),
    (6, "TIME-WAIT"),
    (7, "UNCONN"),
    (8, "CLOSE-WAIT"),
    (9, "LAST-ACK"),
    (10, "LISTEN"),
    (11, "CLOSING"),
];

/// The name of state `s` as `ss` prints it.
pub fn state_name(s: u8) -> &'static str {
    STATES
        .iter()
        .find(|(n, _)| *n == s)
        .map_or("UNKNOWN", |(_, name)| name)
}

/// The state bit of a name as `ss`'s `state` filter takes it
/// (`established`, `syn-sent`, ..., `listening`/`listen`, `close`).
pub fn state_bit(name: &str) -> Option<u32> {
    let n = match name.to_ascii_lowercase().as_str() {
        "established" | "estab" => 1,
        "syn-sent" => 2,
        "syn-recv" => 3,
        "fin-wait-1" => 4,
        "fin-wait-2" => 5,
        "time-wait" => 6,
        "close" | "closed" | "unconn" => 7,
        "close-wait" => 8,
        "last-ack" => 9,
        "listen" | "listening" => 10,
        "closing" => 11,
        "all" => return Some(u32::MAX),
        _ => return None,
    };
    Some(1 << n)
}

/// A request (`struct afc_diag_req`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub family: u8,
    pub states: u32,
    /// Host order; 0: any.
    pub sport: u16,
    pub dport: u16,
    pub info: bool,
}

impl Request {
    /// The request's bytes, as the kernel reads them.
    pub fn to_bytes(&self) -> [u8; REQ_LEN] {
        let mut b = [0u8; REQ_LEN];
        b[0] = self.family;
        b[4..8].copy_from_slice(&self.states.to_ne_bytes());
        b[8..10].copy_from_slice(&self.sport.to_be_bytes());
        b[10..12].copy_from_slice(&self.dport.to_be_bytes());
        let ext: u32 = if self.info {
            1 << (AFC_DIAG_INFO - 1)
        } else {
            0
        };
        b[12..16].copy_from_slice(&ext.to_ne_bytes());
        b
    }
}

/// The numbers of `AFC_DIAG_INFO` that `afc-ss -i` shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub state: u8,
    pub retransmits: u8,
    pub rto: u32,
    pub ato: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub unacked: u32,
    pub last_ack_recv: u32,
    pub rtt: u32,
    pub rttvar: u32,
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    pub total_retrans: u32,
    pub segs_out: u32,
    pub segs_in: u32,
    pub notsent_bytes: u32,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

impl Info {
    /// Parses a `struct tcp_info` (a shorter one leaves the missing fields 0).
    pub fn parse(b: &[u8]) -> Self {
        Self {
            state: b.first().copied().unwrap_or(0),
            retransmits: b.get(2).copied().unwrap_or(0),
            rto: u32_at(b, 8),
            ato: u32_at(b, 12),
            snd_mss: u32_at(b, 16),
            rcv_mss: u32_at(b, 20),
            unacked: u32_at(b, 24),
            last_ack_recv: u32_at(b, 56),
            rtt: u32_at(b, 68),
            rttvar: u32_at(b, 72),
            snd_ssthresh: u32_at(b, 76),
            snd_cwnd: u32_at(b, 80),
            total_retrans: u32_at(b, 100),
            segs_out: u32_at(b, 136),
            segs_in: u32_at(b, 140),
            notsent_bytes: u32_at(b, 144),
            snd_wnd: u32_at(b, 228),
            rcv_wnd: u32_at(b, 232),
        }
    }

    /// The line `afc-ss -i` prints under a socket, in `ss -i`'s words
    /// (times in milliseconds, as `ss` shows them).
    pub fn line(&self) -> String {
        let ms = |us: u32| us as f64 / 1000.0;
        format!(
            "\t rto:{} rtt:{}/{} ato:{} mss:{} rcvmss:{} cwnd:{} ssthresh:{} segs_out:{} segs_in:{} unacked:{} retrans:{}/{} notsent:{} snd_wnd:{} rcv_wnd:{} lastackrecv:{}",
            ms(self.rto),
            ms(self.rtt),
            ms(self.rttvar),
            ms(self.ato),
            self.snd_mss,
            self.rcv_mss,
            self.snd_cwnd,
            self.snd_ssthresh,
            self.segs_out,
            self.segs_in,
            self.unacked,
            self.retransmits,
            self.total_retrans,
            self.notsent_bytes,
            self.snd_wnd,
            self.rcv_wnd,
            self.last_ack_recv
        )
    }
}

/// One socket of the dump (`struct afc_diag_msg` and its attributes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub family: u8,
    pub state: u8,
    pub shutdown: u8,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub rqueue: u32,
    pub wqueue: u32,
    pub uid: u32,
    pub inode: u32,
    pub cookie: u64,
    pub info: Option<Info>,
}

impl Row {
    /// Parses the payload of one `SOCK_DIAG_BY_FAMILY` message.
    pub fn parse(p: &[u8]) -> Option<Self> {
        if p.len() < MSG_LEN {
            return None;
        }
        let ip = |o: usize| Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3]);
        let mut row = Row {
            family: p[0],
            state: p[1],
            shutdown: p[2],
            sport: u16::from_be_bytes([p[4], p[5]]),
            dport: u16::from_be_bytes([p[6], p[7]]),
            src: ip(8),
            dst: ip(12),
            rqueue: u32_at(p, 16),
            wqueue: u32_at(p, 20),
            uid: u32_at(p, 24),
            inode: u32_at(p, 28),
            cookie: u64::from(u32_at(p, 32)) | (u64::from(u32_at(p, 36)) << 32),
            info: None,
        };
        // Attributes (struct nlattr: u16 len, u16 type), 4-byte aligned.
        let mut a = align4(MSG_LEN);
        while a + 4 <= p.len() {
            let len = usize::from(u16::from_ne_bytes([p[a], p[a + 1]]));
            let ty = u16::from_ne_bytes([p[a + 2], p[a + 3]]) & 0x3fff;
            if len < 4 || a + len > p.len() {
                break;
            }
            if ty == AFC_DIAG_INFO {
                row.info = Some(Info::parse(&p[a + 4..a + len]));
            }
            a += align4(len);
        }
        Some(row)
    }

    /// The socket's line, with `ss`'s columns: state, Recv-Q, Send-Q,
    /// local and peer address:port, then uid, inode and cookie.
    pub fn line(&self) -> String {
        let peer = if self.dport == 0 && self.dst.is_unspecified() {
            "*:*".to_string()
        } else {
            format!("{}:{}", self.dst, self.dport)
        };
        format!(
            "{:<10} {:>6} {:>6} {:>21} {:>21} uid:{} ino:{} sk:{:x}",
            state_name(self.state),
            self.rqueue,
            self.wqueue,
            format!("{}:{}", self.src, self.sport),
            peer,
            self.uid,
            self.inode,
            self.cookie
        )
    }
}

/// The header line over [`Row::line`]s.
pub const HEADER: &str =
    "State      Recv-Q Send-Q    Local Address:Port     Peer Address:Port Details";

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = Request {
            family: 23,
            states: 1 << 10,
            sport: 7000,
            dport: 0,
            info: true,
        };
        let b = r.to_bytes();
        assert_eq!(b[0], 23);
        assert_eq!(&b[4..8], &(1u32 << 10).to_ne_bytes());
        assert_eq!(&b[8..10], &[0x1b, 0x58]);
        assert_eq!(&b[12..16], &1u32.to_ne_bytes());
    }

    #[test]
    fn state_names_round_trip() {
        for (n, name) in STATES {
            assert_eq!(state_name(n), name);
        }
        assert_eq!(state_bit("listening"), Some(1 << 10));
        assert_eq!(state_bit("ESTABLISHED"), Some(1 << 1));
        assert_eq!(state_bit("bogus"), None);
    }

    #[test]
    fn row_and_info_parse() {
        let mut p = vec![0u8; MSG_LEN];
        p[0] = 23;
        p[1] = 1;
        p[4..6].copy_from_slice(&7000u16.to_be_bytes());
        p[6..8].copy_from_slice(&40000u16.to_be_bytes());
        p[8..12].copy_from_slice(&[127, 0, 0, 1]);
        p[12..16].copy_from_slice(&[127, 0, 0, 1]);
        p[16..20].copy_from_slice(&5u32.to_ne_bytes());
        p[28..32].copy_from_slice(&1234u32.to_ne_bytes());
        let mut ti = vec![0u8; 248];
        ti[0] = 1;
        ti[80..84].copy_from_slice(&10u32.to_ne_bytes());
        ti[68..72].copy_from_slice(&1500u32.to_ne_bytes());
        let mut a = Vec::new();
        a.extend_from_slice(&(4u16 + 248).to_ne_bytes());
        a.extend_from_slice(&AFC_DIAG_INFO.to_ne_bytes());
        a.extend_from_slice(&ti);
        p.extend_from_slice(&a);
        let r = Row::parse(&p).expect("row");
        assert_eq!(
            (r.state, r.sport, r.dport, r.rqueue, r.inode),
            (1, 7000, 40000, 5, 1234)
        );
        let i = r.info.expect("info");
        assert_eq!((i.state, i.snd_cwnd, i.rtt), (1, 10, 1500));
        assert!(r.line().starts_with("ESTAB"));
        assert!(r.line().contains("127.0.0.1:7000"));
        assert!(i.line().contains("cwnd:10"));
    }
}

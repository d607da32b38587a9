//! Urgent data, as TCP has it (`tcp(7)`, RFC 6093's reading, Linux's rules).
//!
//! A sender marks the last byte of a write urgent (`send(MSG_OOB)`,
//! [`Connection::mark_urgent`]): until the peer acknowledges that byte
//! every segment that starts before it carries URG and the urgent
//! pointer, the sequence number just past the urgent byte
//! (docs/PROTOCOL.md 1.1, 5.4), and Nagle and the cork do not hold data
//! back (`tcp_nagle_test`). A later mark supersedes an earlier one.
//!
//! A receiver keeps one mark (Linux's `urg_data`/`urg_seq`): the stream
//! offset of the urgent byte and what it knows of it ([`Urgent`]). A new
//! pointer (past anything received, past the mark it has) announces
//! urgent data ([`Events::URGENT`]: `SIGURG`); the segment that holds the
//! byte lets the caller read it ([`SegmentOutcome::urgent_byte`],
//! [`Connection::set_urgent_byte`]: `POLLPRI`). Out of band (the default)
//! the byte stays in the stream but reads skip it and `recv(MSG_OOB)`
//! returns it once ([`Connection::recv_urgent`]); inline
//! (`SO_OOBINLINE`) it is read as data. Either way a read stops at the
//! mark ([`Connection::read_limit`]) and `SIOCATMARK` says whether the
//! read position is there ([`Connection::at_mark`]); the mark goes once
//! a read passes it ([`Connection::consume`]).

use super::conn::{Connection, Events, SegmentOutcome, MAX_RECV_BUF};
use super::wire::Header;

/// What a receiver knows of its urgent mark (Linux's `urg_data`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Urgent {
    /// No mark (`urg_data` 0).
    #[default]
    None,
    /// A pointer arrived, the urgent byte not yet (`TCP_URG_NOTYET`).
    NotYet,
    /// The urgent byte arrived and was not read out of band (`TCP_URG_VALID`).
    Valid(u8),
    /// The urgent byte was read with `recv(MSG_OOB)` (`TCP_URG_READ`).
    Read,
}

/// How much a read at some stream offset may take before the urgent mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadLimit {
    /// At the mark after bytes were read: the read ends here.
    Stop,
    /// At the mark, out of band, nothing read yet: skip the urgent byte
    /// (if it is there) and look again one byte further.
    Skip,
    /// Take at most this many bytes (`u64::MAX`: no mark ahead).
    Bytes(u64),
}

/// Why [`Connection::recv_urgent`] has no byte to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrgentRecvError {
    /// No urgent data, already read, or inline (`SO_OOBINLINE`): `EINVAL`.
    Invalid,
    /// The pointer arrived but the byte not yet: `EAGAIN`, or 0 once no
    /// more data can come (`tcp_recv_urg`); it never blocks.
    NotYet,
}

impl Connection {
    /// Marks the last byte queued so far urgent (`send(MSG_OOB)`, as
    /// `tcp_mark_urg`: `snd_up = write_seq`); call it after
    /// [`Connection::enqueue`] took the write. Nothing queued: no mark.
    pub fn mark_urgent(&mut self) {
        if self.snd.queued > 0 && self.state.sends_data() && !self.snd.fin_queued {
            self.snd.up = Some(self.data_front().wrapping_add(self.snd.queued));
        }
    }

    /// Returns whether the send side is in urgent mode: an urgent byte
    /// the peer has not acknowledged (`tcp_urg_mode`).
    pub fn urgent_mode(&self) -> bool {
        self.snd.up.is_some()
    }

    /// Reads urgent data inline (`SO_OOBINLINE`) or out of band; the
    /// caller sets it before it hands the connection a segment or reads.
    pub fn set_urgent_inline(&mut self, inline: bool) {
        self.rcv.urg_inline = inline;
    }

    /// Returns what the receiver knows of its urgent mark.
    pub fn urgent(&self) -> Urgent {
        self.rcv.urg
    }

    /// Returns the stream offset of the urgent byte (meaningful unless
    /// [`Connection::urgent`] is [`Urgent::None`]).
    pub fn urgent_offset(&self) -> u64 {
        self.rcv.urg_offset
    }

    /// Returns the stream offset of the next byte a read returns.
    pub fn read_offset(&self) -> u64 {
        self.rcv.offset.saturating_sub(u64::from(self.rcv.unread))
    }

    /// Returns the bytes a read may return now (`SIOCINQ`, `tcp_inq`):
    /// those before an out-of-band urgent byte that has arrived, else
    /// everything unread.
    pub fn inq(&self) -> u32 {
        let pos = self.read_offset();
        if !self.rcv.urg_inline
            && self.rcv.urg != Urgent::None
            && self.rcv.urg_offset >= pos
            && self.rcv.urg_offset < self.rcv.offset
        {
            u32::try_from(self.rcv.urg_offset.saturating_sub(pos)).unwrap_or(u32::MAX)
        } else {
            self.rcv.unread
        }
    }

    /// Returns whether the read position is at the urgent mark (`SIOCATMARK`).
    pub fn at_mark(&self) -> bool {
        self.rcv.urg != Urgent::None && self.rcv.urg_offset == self.read_offset()
    }

    /// Returns whether the read position is at an out-of-band urgent
    /// byte, which does not count as readable data (`tcp_poll` asks one
    /// byte more of `SO_RCVLOWAT` there).
    pub fn at_mark_out_of_band(&self) -> bool {
        self.at_mark() && !self.rcv.urg_inline
    }

    /// Returns whether no urgent mark lies at or after the read position:
    /// then [`Connection::read_limit`] is `Bytes(u64::MAX)` for every
    /// position a read reaches, and a read may copy the queue in order
    /// without asking it (the receive path's plain read).
    pub fn reads_unbounded(&self) -> bool {
        self.rcv.urg == Urgent::None || self.rcv.urg_offset < self.read_offset()
    }

    /// Returns how much a read at stream offset `pos` may take, having
    /// already returned `copied` bytes (`tcp_recvmsg_locked`): a read
    /// stops at the mark, and out of band the urgent byte is skipped by
    /// a read that starts at it.
    pub fn read_limit(&self, pos: u64, copied: bool) -> ReadLimit {
        if self.rcv.urg == Urgent::None || self.rcv.urg_offset < pos {
            return ReadLimit::Bytes(u64::MAX);
        }
        if self.rcv.urg_offset > pos {
            return ReadLimit::Bytes(self.rcv.urg_offset.saturating_sub(pos));
        }
        if copied {
            ReadLimit::Stop
        } else if self.rcv.urg_inline {
            ReadLimit::Bytes(u64::MAX)
        } else {
            ReadLimit::Skip
        }
    }

    /// `recv(MSG_OOB)` (`tcp_recv_urg`): the urgent byte, once (`peek`
    /// leaves it to be read again).
    pub fn recv_urgent(&mut self, peek: bool) -> Result<u8, UrgentRecvError> {
        if self.rcv.urg_inline {
            return Err(UrgentRecvError::Invalid);
        }
        match self.rcv.urg {
            Urgent::None | Urgent::Read => Err(UrgentRecvError::Invalid),
            Urgent::NotYet => Err(UrgentRecvError::NotYet),
            Urgent::Valid(b) => {
                if !peek {
                    self.rcv.urg = Urgent::Read;
                }
                Ok(b)
            }
        }
    }

    /// Gives the connection the urgent byte the last segment held
    /// ([`SegmentOutcome::urgent_byte`]); it becomes readable out of
    /// band (`POLLPRI`).
    pub fn set_urgent_byte(&mut self, byte: u8) {
        if self.rcv.urg == Urgent::NotYet {
            self.rcv.urg = Urgent::Valid(byte);
        }
    }

    /// The read position moved on: a mark it passed is gone
    /// (`tcp_recvmsg_locked`: `urg_data` = 0 once `copied_seq` is after
    /// `urg_seq`).
    pub(super) fn urgent_read_moved(&mut self) {
        if self.rcv.urg != Urgent::None && self.read_offset() > self.rcv.urg_offset {
            self.rcv.urg = Urgent::None;
        }
    }

    /// The urgent pointer and byte of an acceptable segment, before its
    /// data is placed (`tcp_urg`, `tcp_check_urg`).
    pub(super) fn rx_urgent(&mut self, h: &Header, out: &mut SegmentOutcome) {
        if h.flags.urg() {
            self.rx_urgent_pointer(h, out);
        }
        if self.rcv.urg != Urgent::NotYet || self.rcv.urg_offset < self.rcv.offset {
            return;
        }
        // Is the urgent byte in this segment, and inside the window?
        let ahead = self.rcv.urg_offset.saturating_sub(self.rcv.offset);
        let Ok(ahead) = u32::try_from(ahead) else {
            return;
        };
        if ahead >= self.recv_window() {
            return;
        }
        let at = self.rcv.nxt.wrapping_add(ahead).since(h.seq);
        if at < u32::from(h.payload_len) && self.rcv.nxt.wrapping_add(ahead).ge(h.seq) {
            out.urgent_byte = Some(at);
        }
    }

    fn rx_urgent_pointer(&mut self, h: &Header, out: &mut SegmentOutcome) {
        // The urgent byte's sequence number: one before the pointer.
        let byte = h.urg.wrapping_sub(1);
        // Already received (read or not): never replayed. Beyond what a
        // sender can have queued: nonsense.
        if byte.lt(self.rcv.nxt) || byte.since(self.rcv.nxt) > MAX_RECV_BUF {
            return;
        }
        let offset = self
            .rcv
            .offset
            .saturating_add(u64::from(byte.since(self.rcv.nxt)));
        // A newer (or the same) mark is already known.
        if self.rcv.urg != Urgent::None && offset <= self.rcv.urg_offset {
            return;
        }
        out.events.insert(Events::URGENT);
        // The mark moves on while the read position is at the old
        // urgent byte, out of band and unread: it leaves the stream now,
        // or it would be read as data once the mark has gone (Linux
        // `tcp_check_urg`'s `copied_seq++`).
        if self.rcv.urg != Urgent::None
            && !self.rcv.urg_inline
            && self.rcv.urg_offset == self.read_offset()
            && self.rcv.unread > 0
        {
            self.rcv.unread = self.rcv.unread.saturating_sub(1);
            out.discard_front = 1;
        }
        self.rcv.urg = Urgent::NotYet;
        self.rcv.urg_offset = offset;
    }

    /// Sets URG and the pointer on a segment that starts before the
    /// urgent byte's end while in urgent mode (`tcp_transmit_skb`).
    pub(super) fn tx_urgent(&self, h: &mut Header) {
        if let Some(up) = self.snd.up {
            if h.seq.lt(up) {
                h.flags = h.flags.with(super::wire::Flags::URG);
                h.urg = up;
            }
        }
    }

    /// Urgent mode ends once the urgent byte is acknowledged.
    pub(super) fn urgent_acked(&mut self) {
        if self.snd.up.is_some_and(|up| self.snd.una.ge(up)) {
            self.snd.up = None;
        }
    }
}

//! The reference endpoint: one connection plus the byte storage the core leaves to its caller.
//!
//! This is the model for the kernel socket layer. The connection decides; the
//! endpoint keeps the bytes:
//!
//! - **Send buffer** (`sk_write_queue`): bytes the application wrote and the
//!   peer has not acknowledged. `write` appends and calls
//!   [`Connection::enqueue`]; each [`Transmit`] names a range of it to copy
//!   into a frame; `acked` in a [`SegmentOutcome`] drops bytes from its front.
//! - **Receive queue** (`sk_receive_queue`): in-order bytes not yet read.
//!   `read` takes from it and calls [`Connection::consume`], which may open
//!   the window.
//! - **Out-of-order store** (the ofo queue): segments received ahead of a
//!   gap, keyed by stream offset. [`DataAction::Store`] adds one (never
//!   overlapping another); after every segment the in-order part is moved to
//!   the receive queue up to [`SegmentOutcome::readable_end`].

use afc_proto::conn::{
    wscale_for, Config, Connection, DataAction, Events, SegmentOutcome, SendError, Transmit,
};
use afc_proto::state::State;
use afc_proto::time::Instant;
use afc_proto::urgent::ReadLimit;
use afc_proto::wire::{fill_checksum, ChecksumPolicy, Header, WireError, HEADER_LEN};
use std::collections::{BTreeMap, VecDeque};

/// A connection with its send buffer, receive queue and out-of-order store.
#[derive(Debug)]
pub struct Endpoint {
    pub conn: Connection,
    /// Send buffer: front is the oldest unacknowledged byte.
    pub send_buf: VecDeque<u8>,
    /// Send buffer capacity (`SO_SNDBUF`).
    pub send_cap: usize,
    /// Receive queue: in-order bytes not yet read.
    pub recv_q: VecDeque<u8>,
    /// Stream offset just past the last byte appended to `recv_q`.
    pub recv_end: u64,
    /// Out-of-order segments by stream offset.
    pub ofo: BTreeMap<u64, Vec<u8>>,
    /// Whether frames from this endpoint skip the checksum (loopback).
    pub trusted_link: bool,
    /// Events seen so far (union).
    pub events: Events,
    /// The states the connection went through, in order (no repeats).
    pub history: Vec<State>,
    /// The largest receive buffer the connection has had (it may shrink).
    pub peak_recv_buf: u32,
}

impl Endpoint {
    /// Wraps a fresh connection.
    pub fn new(conn: Connection, send_cap: usize, trusted_link: bool) -> Endpoint {
        let s = conn.state();
        let peak_recv_buf = conn.config().recv_buf;
        Endpoint {
            conn,
            send_buf: VecDeque::new(),
            send_cap,
            recv_q: VecDeque::new(),
            recv_end: 0,
            ofo: BTreeMap::new(),
            trusted_link,
            events: Events::NONE,
            history: vec![s],
            peak_recv_buf,
        }
    }

    /// Starts an active open.
    pub fn connect(
        cfg: Config,
        tuple: afc_proto::tuple::FourTuple,
        iss: afc_proto::seq::Seq,
        now: Instant,
    ) -> Endpoint {
        Endpoint::new(Connection::connect(cfg, tuple, iss, now), 1 << 20, false)
    }

    fn note_state(&mut self) {
        let s = self.conn.state();
        if self.history.last() != Some(&s) {
            self.history.push(s);
        }
    }

    /// The application writes: returns how many bytes were taken (`send()`).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, SendError> {
        let room = self.send_cap.saturating_sub(self.send_buf.len());
        let n = data.len().min(room) as u32;
        let taken = self.conn.enqueue(n)? as usize;
        self.send_buf.extend(&data[..taken]);
        Ok(taken)
    }

    /// The application writes and marks the last byte urgent (`send(MSG_OOB)`).
    pub fn write_urgent(&mut self, data: &[u8]) -> Result<usize, SendError> {
        let n = self.write(data)?;
        if n > 0 {
            self.conn.mark_urgent();
        }
        Ok(n)
    }

    /// The application reads up to `max` bytes (`recv()`); empty means
    /// nothing yet, or EOF. A read stops at the urgent mark, and skips an
    /// out-of-band urgent byte it starts at (`read_limit`).
    pub fn read(&mut self, max: usize) -> Vec<u8> {
        let start = self.conn.read_offset();
        let mut out = Vec::new();
        let mut taken = 0usize;
        while out.len() < max && taken < self.recv_q.len() {
            match self.conn.read_limit(start + taken as u64, !out.is_empty()) {
                ReadLimit::Stop => break,
                ReadLimit::Skip => taken += 1,
                ReadLimit::Bytes(n) => {
                    let k = (max - out.len())
                        .min(self.recv_q.len() - taken)
                        .min(usize::try_from(n).unwrap_or(usize::MAX));
                    out.extend(self.recv_q.range(taken..taken + k));
                    taken += k;
                }
            }
        }
        self.recv_q.drain(..taken);
        self.conn.consume(taken as u32);
        out
    }

    /// Returns whether a read would report end-of-file.
    pub fn at_eof(&self) -> bool {
        self.conn.peer_closed() && self.recv_q.is_empty()
    }

    /// Returns the bytes held in the out-of-order store.
    pub fn ofo_bytes(&self) -> usize {
        self.ofo.values().map(Vec::len).sum()
    }

    /// Processes a received frame; a malformed one is dropped and its error returned.
    pub fn receive_frame(
        &mut self,
        frame: &[u8],
        policy: ChecksumPolicy,
        now: Instant,
    ) -> Result<Events, WireError> {
        let (h, payload) = Header::parse(frame, policy)?;
        Ok(self.deliver(&h, payload, now))
    }

    /// Feeds a decoded segment to the connection and applies the outcome to the buffers.
    pub fn deliver(&mut self, h: &Header, payload: &[u8], now: Instant) -> Events {
        let out = self.conn.on_segment(h, now);
        self.apply(&out, payload);
        self.events.insert(out.events);
        self.note_state();
        out.events
    }

    /// What the module does for a segment it has no memory for: give up
    /// the out-of-order data held when the core says so.
    pub fn prune_for(&mut self, h: &Header) -> bool {
        let pruned = self.conn.prune_out_of_order_for(h);
        if pruned {
            self.ofo.clear();
        }
        pruned
    }

    fn apply(&mut self, out: &SegmentOutcome, payload: &[u8]) {
        if let Some(i) = out.urgent_byte {
            self.conn.set_urgent_byte(payload[i as usize]);
        }
        let gone = (out.discard_front as usize).min(self.recv_q.len());
        assert_eq!(
            gone, out.discard_front as usize,
            "discarding unqueued bytes"
        );
        self.recv_q.drain(..gone);
        let acked = (out.acked as usize).min(self.send_buf.len());
        assert_eq!(
            acked, out.acked as usize,
            "acked more than the send buffer holds"
        );
        self.send_buf.drain(..acked);
        match out.data {
            DataAction::None => {}
            DataAction::Append { offset, skip, len } => {
                assert_eq!(offset, self.recv_end, "append not at the in-order end");
                let bytes = &payload[skip as usize..(skip + len) as usize];
                self.recv_q.extend(bytes);
                self.recv_end += u64::from(len);
            }
            DataAction::Store { offset, skip, len } => {
                assert!(offset > self.recv_end, "stored data is not out of order");
                let bytes = payload[skip as usize..(skip + len) as usize].to_vec();
                let end = offset + u64::from(len);
                for (&o, v) in &self.ofo {
                    let e = o + v.len() as u64;
                    assert!(e <= offset || o >= end, "stored ranges overlap");
                }
                self.ofo.insert(offset, bytes);
            }
        }
        // Move out-of-order segments that are now in order.
        while let Some((&o, _)) = self.ofo.first_key_value() {
            if o > self.recv_end {
                break;
            }
            let seg = self.ofo.remove(&o).unwrap_or_default();
            let end = o + seg.len() as u64;
            if end > self.recv_end {
                let skip = (self.recv_end - o) as usize;
                self.recv_q.extend(&seg[skip..]);
                self.recv_end = end;
            }
        }
        assert_eq!(
            self.recv_end, out.readable_end,
            "in-order end disagrees with the core"
        );
        assert_eq!(
            self.recv_q.len(),
            self.conn.unread() as usize,
            "unread count disagrees"
        );
        assert_eq!(
            self.send_buf.len(),
            self.conn.send_queued() as usize,
            "send buffer disagrees"
        );
        // The window's right edge never moves left, so after the buffer
        // shrinks, what was offered before may still arrive; and a scaled
        // window is rounded up to its unit, so up to one unit less a byte
        // beyond the buffer may arrive too (as TCP's).
        self.peak_recv_buf = self.peak_recv_buf.max(self.conn.config().recv_buf);
        let c = self.conn.config();
        let unit = 1usize << wscale_for(c.recv_buf.max(c.recv_buf_max));
        let held = self.recv_q.len() + self.ofo_bytes();
        assert!(
            held < self.peak_recv_buf as usize + unit,
            "receive memory {held} above the buffer {}: {:?}",
            self.peak_recv_buf,
            self.conn
        );
    }

    /// Returns the next frame to send, fully built (header, payload, checksum).
    pub fn transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        // Any segment may advertise a window sized by the current buffer.
        self.peak_recv_buf = self.peak_recv_buf.max(self.conn.config().recv_buf);
        let t = self.conn.poll_transmit(now)?;
        self.note_state();
        Some(self.build_frame(&t))
    }

    /// Builds the frame for `t` from the send buffer.
    pub fn build_frame(&self, t: &Transmit) -> Vec<u8> {
        let len = usize::from(t.header.payload_len);
        let mut frame = vec![0u8; HEADER_LEN + len];
        t.header
            .emit(&mut frame)
            .expect("core produced an invalid header");
        let off = t.offset as usize;
        assert!(
            off + len <= self.send_buf.len(),
            "transmit beyond the send buffer"
        );
        for (i, b) in self.send_buf.range(off..off + len).enumerate() {
            frame[HEADER_LEN + i] = *b;
        }
        if !self.trusted_link {
            fill_checksum(&mut frame).expect("checksum");
        }
        frame
    }

    /// Runs expired timers; returns the events.
    pub fn on_timeout(&mut self, now: Instant) -> Events {
        let ev = self.conn.on_timeout(now);
        self.events.insert(ev);
        self.note_state();
        ev
    }

    /// Returns the connection state.
    pub fn state(&self) -> State {
        self.conn.state()
    }
}

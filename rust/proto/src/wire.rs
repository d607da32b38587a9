//! The frame header: layout, encoding and validating decoding.
//!
//! Every frame is one Ethernet payload (EtherType [`ETHERTYPE`]) made of a
//! [`HEADER_LEN`]-byte header followed by `payload_len` bytes of stream data.
//! All multi-byte fields are big-endian. The addresses sit at byte offsets 12
//! and 16, the offsets of `saddr` and `daddr` in `struct iphdr`, because the
//! kernel's ARP code reads `ip_hdr(skb)->saddr` of frames queued while a
//! neighbour resolves.
//!
//! ```text
//!  0      version (1)        1      flags
//!  2..4   window             4..6   source port      6..8   destination port
//!  8..10  payload length     10..12 checksum
//!  12..16 source IPv4        16..20 destination IPv4
//!  20..24 sequence number    24..28 acknowledgement number
//!  28     window scale (SYN) 29     reserved (0)     30..32 MSS (SYN)
//!  28..32 urgent pointer (non-SYN with URG, in place of the three above)
//! ```
//!
//! Decoding checks every field and returns a [`WireError`] for anything
//! malformed; it never panics and never reads outside the given slice.

use super::checksum::Checksum;
use super::seq::Seq;
use super::tuple::Endpoint;

/// The EtherType that carries AF_CUSTOM frames (IEEE 802 local experimental 1).
pub const ETHERTYPE: u16 = 0x88B5;
/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 32;
/// Largest payload of one frame: what fits in a 16-bit frame length.
pub const MAX_PAYLOAD: usize = 65535 - HEADER_LEN;
/// Largest window scale shift (as TCP, RFC 7323).
pub const MAX_WSCALE: u8 = 14;
/// Smallest MSS a SYN may announce; larger than any header-only frame.
pub const MIN_MSS: u16 = 64;

/// Byte offset of the flags.
pub const FLAGS_OFFSET: usize = 1;
/// Byte offset of the payload length (big-endian u16).
pub const PAYLOAD_LEN_OFFSET: usize = 8;
/// Byte offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = 10;
/// Byte offset of the sequence number (big-endian u32).
pub const SEQ_OFFSET: usize = 20;
/// Byte offset of the source IPv4 address (same as `iphdr.saddr`).
pub const SADDR_OFFSET: usize = 12;
/// Byte offset of the destination IPv4 address (same as `iphdr.daddr`).
pub const DADDR_OFFSET: usize = 16;
/// Byte offset of the urgent pointer (big-endian u32; non-SYN with URG).
pub const URG_OFFSET: usize = 28;

/// The control flags of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// Synchronize sequence numbers: opens a connection; carries MSS and window scale.
    pub const SYN: Flags = Flags(0x01);
    /// The acknowledgement field is valid.
    pub const ACK: Flags = Flags(0x02);
    /// No more data from the sender; consumes one sequence number.
    pub const FIN: Flags = Flags(0x04);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x08);
    /// Urgent data: [`Header::urg`] is the urgent pointer (never on SYN or RST).
    pub const URG: Flags = Flags(0x10);
    /// All defined flags; the other bits must be zero.
    pub const ALL: Flags = Flags(0x1f);

    /// Returns the flag bits as sent.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns whether every flag in `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns the union of `self` and `other`.
    #[inline]
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Returns whether SYN is set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }

    /// Returns whether ACK is set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }

    /// Returns whether FIN is set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }

    /// Returns whether RST is set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Flags::RST)
    }

    /// Returns whether URG is set.
    #[inline]
    pub const fn urg(self) -> bool {
        self.contains(Flags::URG)
    }
}

/// Why a frame was rejected or could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the header, or than the header plus `payload_len`.
    Truncated,
    /// The version byte is not [`VERSION`].
    BadVersion,
    /// Undefined flag bits, or a combination that is never valid.
    BadFlags,
    /// A zero port.
    BadPort,
    /// A source or destination address that can never be a peer.
    BadAddress,
    /// `payload_len` above [`MAX_PAYLOAD`], or payload on SYN or RST.
    BadLength,
    /// A reserved or SYN-only field is set where it must be zero, or out of range.
    BadField,
    /// The checksum does not match.
    BadChecksum,
    /// The checksum was not computed (zero) on a link that needs it.
    ChecksumMissing,
    /// The output buffer is too small.
    BufferTooSmall,
}

/// Whether the receiving link guarantees integrity, which decides checksum checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumPolicy {
    /// Verify the checksum; a zero checksum field is [`WireError::ChecksumMissing`].
    Verify,
    /// Skip verification: the frame came over loopback, which cannot corrupt it.
    Trust,
}

/// What the receiving kernel says of a frame's checksum (`skb->ip_summed`),
/// reduced to what [`receive_checksum_policy`] needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumState {
    /// Nothing is pending: the field holds whatever the sender put there
    /// (`CHECKSUM_NONE`, `CHECKSUM_COMPLETE`, or a device's claim to have
    /// checked it, `CHECKSUM_UNNECESSARY`).
    Filled,
    /// A checksum is still to be computed (`CHECKSUM_PARTIAL`): summing
    /// would start `start` bytes from the frame's first header byte and
    /// store the result `field` bytes further.
    Pending {
        /// Offset of `csum_start` from the frame's header.
        start: i64,
        /// `csum_offset`: where the sum goes, from `start`.
        field: u64,
    },
}

/// How a received frame's checksum is judged (docs/PROTOCOL.md, 1.3).
///
/// Loopback frames never leave memory.  A frame whose checksum of this
/// protocol is still pending -- at exactly this header's checksum field --
/// was built by this host's AF_CUSTOM stack and handed on through memory
/// (a veth peer, perhaps bridged): nothing can have altered it, and its
/// field holds no sum yet.  No user injector can make that state: tun and
/// `PACKET_VNET_HDR` refuse a pending checksum that starts within the
/// first 20 bytes after the Ethernet header.  Every other frame is
/// verified: a checksum pending elsewhere in the frame is someone else's,
/// and no device has checked a checksum of a protocol it does not know,
/// whatever `CHECKSUM_UNNECESSARY` claims.
pub fn receive_checksum_policy(loopback: bool, state: ChecksumState) -> ChecksumPolicy {
    let ours = ChecksumState::Pending {
        start: 0,
        field: CHECKSUM_OFFSET as u64,
    };
    if loopback || state == ours {
        ChecksumPolicy::Trust
    } else {
        ChecksumPolicy::Verify
    }
}

/// A decoded segment header.
///
/// The checksum is not a field: [`Header::parse`] verifies it and
/// [`fill_checksum`] or [`store_checksum`] write it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Control flags.
    pub flags: Flags,
    /// Sender's address and port.
    pub src: Endpoint,
    /// Receiver's address and port.
    pub dst: Endpoint,
    /// Sequence number of the first payload byte (or of the SYN/FIN).
    pub seq: Seq,
    /// Next sequence number the sender expects; zero unless ACK is set.
    pub ack: Seq,
    /// Receive window, shifted right by the sender's window scale (unscaled on SYN).
    pub window: u16,
    /// On SYN: the shift the sender applies to `window` from now on; else zero.
    pub wscale: u8,
    /// On SYN: the largest payload the sender can receive; else zero.
    pub mss: u16,
    /// With URG: the urgent pointer, the sequence number just past the
    /// urgent byte (RFC 6093's reading), always after `seq`; else zero.
    pub urg: Seq,
    /// Number of payload bytes that follow the header.
    pub payload_len: u16,
}

#[inline]
fn be16(b: &[u8; HEADER_LEN], at: usize) -> u16 {
    match b.get(at..at.wrapping_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

#[inline]
fn be32(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    match b.get(at..at.wrapping_add(4)) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

#[inline]
fn put16(b: &mut [u8; HEADER_LEN], at: usize, v: u16) {
    // Byte by byte, as `be16` reads: `copy_from_slice` stayed an
    // out-of-line call per field in the kernel build (every frame sent).
    if let Some([x, y]) = b.get_mut(at..at.wrapping_add(2)) {
        [*x, *y] = v.to_be_bytes();
    }
}

#[inline]
fn put32(b: &mut [u8; HEADER_LEN], at: usize, v: u32) {
    if let Some([w, x, y, z]) = b.get_mut(at..at.wrapping_add(4)) {
        [*w, *x, *y, *z] = v.to_be_bytes();
    }
}

/// Returns whether `addr` can be the source of a frame (not 0/8, multicast or broadcast).
pub const fn is_unicast(addr: u32) -> bool {
    let top = addr >> 24;
    top != 0 && !(top >= 224 && top <= 239) && addr != u32::MAX
}

/// 1 if `x` is nonzero, else 0, with no comparison.
#[inline(always)]
fn nonzero(x: u32) -> u32 {
    (x | x.wrapping_neg()) >> 31
}

/// 1 if `x` is zero, else 0, with no comparison.
#[inline(always)]
fn is_zero(x: u32) -> u32 {
    nonzero(x) ^ 1
}

/// 1 if [`is_unicast`] is false for `addr`, else 0, with no comparison:
/// a zero first byte, 224-239 (multicast), or all ones.
#[inline(always)]
fn not_unicast(addr: u32) -> u32 {
    let top = addr >> 24;
    is_zero(top) | is_zero((top >> 4) ^ 0xe) | is_zero(!addr)
}

impl Header {
    /// Returns the number of sequence numbers the segment occupies (payload, SYN and FIN).
    #[inline]
    pub const fn seq_len(&self) -> u32 {
        let mut n = self.payload_len as u32;
        if self.flags.syn() {
            n = n.wrapping_add(1);
        }
        if self.flags.fin() {
            n = n.wrapping_add(1);
        }
        n
    }

    /// Returns the total frame length: header plus payload.
    #[inline]
    pub const fn frame_len(&self) -> usize {
        HEADER_LEN.wrapping_add(self.payload_len as usize)
    }

    /// Checks the field rules that do not depend on the frame bytes.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.plainly_valid() {
            return Ok(());
        }
        self.validate_rules()
    }

    /// The common case of [`Self::validate`]: a synchronized segment (ACK,
    /// perhaps FIN; no SYN, RST or urgent pointer) whose fields all pass,
    /// worked out as one word of failure bits and a single test. Under
    /// QEMU's TCG every branch ends a translation block and a
    /// transaction's time follows the blocks it runs; every frame of an
    /// exchange is such a segment, sent and received. (`&&`, or `&` of
    /// comparisons, is compiled to a branch per rule.)
    #[inline(always)]
    fn plainly_valid(&self) -> bool {
        const SYNCHRONIZED: u8 = Flags::ACK.0 | Flags::FIN.0;
        // Fields that must be zero, and the flags' difference from ACK(+FIN).
        let zero = u32::from((self.flags.0 | Flags::FIN.0) ^ SYNCHRONIZED)
            | u32::from(self.wscale)
            | u32::from(self.mss)
            | self.urg.0;
        let bad = nonzero(zero)
            | is_zero(u32::from(self.src.port))
            | is_zero(u32::from(self.dst.port))
            | not_unicast(self.src.addr)
            | not_unicast(self.dst.addr)
            | (MAX_PAYLOAD as u32).wrapping_sub(u32::from(self.payload_len)) >> 31;
        // Kept from being folded back into one comparison per rule.
        core::hint::black_box(bad) == 0
    }

    /// Every rule of [`Self::validate`], one at a time, naming the first
    /// that fails.
    fn validate_rules(&self) -> Result<(), WireError> {
        let f = self.flags;
        if f.0 & !Flags::ALL.0 != 0 {
            return Err(WireError::BadFlags);
        }
        if f.syn() && (f.rst() || f.fin()) {
            return Err(WireError::BadFlags);
        }
        // Urgent data rides on synchronized segments only.
        if f.urg() && (f.syn() || f.rst()) {
            return Err(WireError::BadFlags);
        }
        // Every segment but an opening SYN and some RSTs acknowledges something.
        if !f.ack() && !f.syn() && !f.rst() {
            return Err(WireError::BadFlags);
        }
        if !f.ack() && self.ack.0 != 0 {
            return Err(WireError::BadField);
        }
        if self.src.port == 0 || self.dst.port == 0 {
            return Err(WireError::BadPort);
        }
        if !is_unicast(self.src.addr) || !is_unicast(self.dst.addr) {
            return Err(WireError::BadAddress);
        }
        if usize::from(self.payload_len) > MAX_PAYLOAD {
            return Err(WireError::BadLength);
        }
        if (f.syn() || f.rst()) && self.payload_len != 0 {
            return Err(WireError::BadLength);
        }
        if f.syn() {
            if self.wscale > MAX_WSCALE || self.mss < MIN_MSS {
                return Err(WireError::BadField);
            }
        } else if self.wscale != 0 || self.mss != 0 {
            return Err(WireError::BadField);
        }
        // The pointer shares bytes 28-31 with the SYN-only fields: zero
        // without URG, and with URG past the segment's first byte (one
        // past the urgent byte, which the segment precedes).
        if f.urg() {
            if !self.urg.gt(self.seq) {
                return Err(WireError::BadField);
            }
        } else if self.urg.0 != 0 {
            return Err(WireError::BadField);
        }
        Ok(())
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf` with a zero checksum.
    ///
    /// The header is validated first, so only well-formed headers are sent.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        self.validate()?;
        let out: &mut [u8; HEADER_LEN] = buf
            .get_mut(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::BufferTooSmall)?;
        *out = self.to_bytes();
        Ok(())
    }

    /// Returns the header's bytes with a zero checksum, without validation.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = VERSION;
        b[FLAGS_OFFSET] = self.flags.0;
        put16(&mut b, 2, self.window);
        put16(&mut b, 4, self.src.port);
        put16(&mut b, 6, self.dst.port);
        put16(&mut b, PAYLOAD_LEN_OFFSET, self.payload_len);
        put32(&mut b, SADDR_OFFSET, self.src.addr);
        put32(&mut b, DADDR_OFFSET, self.dst.addr);
        put32(&mut b, SEQ_OFFSET, self.seq.0);
        put32(&mut b, 24, self.ack.0);
        if self.flags.urg() && !self.flags.syn() {
            put32(&mut b, URG_OFFSET, self.urg.0);
        } else {
            b[28] = self.wscale;
            put16(&mut b, 30, self.mss);
        }
        b
    }

    /// Decodes and validates the header at the start of `frame`, without the checksum.
    ///
    /// Returns the header; `frame` must hold at least header plus payload bytes,
    /// and may hold more (Ethernet padding), which are ignored.
    pub fn parse_header(frame: &[u8]) -> Result<Header, WireError> {
        Header::parse_prefix(frame, frame.len())
    }

    /// Decodes and validates the header at the start of `header`, the
    /// first bytes of a frame `frame_len` bytes long whose payload need
    /// not be at hand (it may sit in page fragments), without the checksum.
    pub fn parse_prefix(header: &[u8], frame_len: usize) -> Result<Header, WireError> {
        let b: &[u8; HEADER_LEN] = header
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::Truncated)?;
        if b[0] != VERSION {
            return Err(WireError::BadVersion);
        }
        let flags = Flags(b[FLAGS_OFFSET]);
        // Bytes 28-31: the urgent pointer on a non-SYN with URG, else
        // window scale, a reserved zero byte and MSS.
        let pointer = flags.urg() && !flags.syn();
        if !pointer && b[29] != 0 {
            return Err(WireError::BadField);
        }
        let (wscale, mss, urg) = if pointer {
            (0, 0, Seq(be32(b, URG_OFFSET)))
        } else {
            (b[28], be16(b, 30), Seq(0))
        };
        let h = Header {
            flags,
            window: be16(b, 2),
            src: Endpoint::new(be32(b, SADDR_OFFSET), be16(b, 4)),
            dst: Endpoint::new(be32(b, DADDR_OFFSET), be16(b, 6)),
            payload_len: be16(b, PAYLOAD_LEN_OFFSET),
            seq: Seq(be32(b, SEQ_OFFSET)),
            ack: Seq(be32(b, 24)),
            wscale,
            mss,
            urg,
        };
        h.validate()?;
        if frame_len < h.frame_len() {
            return Err(WireError::Truncated);
        }
        Ok(h)
    }

    /// Decodes a whole frame: validates the header, checks the checksum per `policy`.
    ///
    /// Returns the header and the payload (exactly `payload_len` bytes).
    pub fn parse(frame: &[u8], policy: ChecksumPolicy) -> Result<(Header, &[u8]), WireError> {
        let h = Header::parse_header(frame)?;
        let whole = frame.get(..h.frame_len()).ok_or(WireError::Truncated)?;
        if policy == ChecksumPolicy::Verify {
            if frame_checksum_field(whole) == 0 {
                return Err(WireError::ChecksumMissing);
            }
            if !super::checksum::verify(whole) {
                return Err(WireError::BadChecksum);
            }
        }
        let payload = whole.get(HEADER_LEN..).ok_or(WireError::Truncated)?;
        Ok((h, payload))
    }
}

/// The header of one piece of a segment cut to the device's frame size
/// (GSO): `whole` is the segment's header as sent (the segmenter copies it
/// into every piece), and the piece carries `len` payload bytes from
/// `offset` bytes into the segment's payload.  Payload length and sequence
/// number follow the piece and a FIN stays only on the last piece; the
/// urgent pointer stays on the pieces that start before it (as TCP puts
/// it only on segments before the mark); the checksum is computed over
/// the piece afterwards.
pub fn gso_piece(whole: &Header, offset: u32, len: u16, last: bool) -> Header {
    let mut h = *whole;
    h.payload_len = len;
    h.seq = whole.seq.wrapping_add(offset);
    if !last {
        h.flags = Flags(h.flags.0 & !Flags::FIN.0);
    }
    if h.flags.urg() && !h.urg.gt(h.seq) {
        h.flags = Flags(h.flags.0 & !Flags::URG.0);
        h.urg = Seq(0);
    }
    h
}

/// Returns the checksum field of a frame, or zero if the frame is too short.
pub fn frame_checksum_field(frame: &[u8]) -> u16 {
    match frame.get(CHECKSUM_OFFSET..CHECKSUM_OFFSET.wrapping_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// Returns the value to store for a computed checksum: never zero, which means "not computed".
///
/// A computed sum of zero is sent as `0xffff`, its ones' complement twin, as UDP does.
#[inline]
pub const fn nonzero_checksum(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Stores `csum` (made non-zero) into the checksum field of `header`.
pub fn store_checksum(header: &mut [u8], csum: u16) -> Result<(), WireError> {
    let field = header
        .get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET.wrapping_add(2))
        .ok_or(WireError::BufferTooSmall)?;
    field.copy_from_slice(&nonzero_checksum(csum).to_be_bytes());
    Ok(())
}

/// Computes the checksum over a contiguous frame (header then payload) and stores it.
///
/// The frame's checksum field must be zero when this is called (as
/// [`Header::emit`] leaves it). For a payload in several pieces, feed the
/// header and each piece to a [`Checksum`] and call [`store_checksum`].
pub fn fill_checksum(frame: &mut [u8]) -> Result<(), WireError> {
    let h = Header::parse_header(frame)?;
    let whole = frame.get(..h.frame_len()).ok_or(WireError::Truncated)?;
    let mut c = Checksum::new();
    c.add(whole);
    store_checksum(frame, c.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast check passes only headers the rules pass, and the two
    /// unicast tests agree, over headers built to sit near every rule's
    /// edge.
    #[test]
    fn plainly_valid_implies_every_rule() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let addrs = [
            0,
            1,
            0x0100_0000,
            0x0a00_0001,
            0xdf00_0000,
            0xe000_0001,
            0xef00_0000,
            0xf000_0000,
            u32::MAX,
        ];
        let mut fast = 0;
        for _ in 0..1_000_000 {
            let r = next();
            let pick = |v: u64, n: usize| (v as usize) % n;
            let h = Header {
                flags: Flags((r & 0x3f) as u8),
                window: r as u16,
                src: Endpoint::new(
                    addrs[pick(r >> 8, addrs.len())],
                    [0, 1, 9000][pick(r >> 12, 3)] as u16,
                ),
                dst: Endpoint::new(
                    addrs[pick(r >> 16, addrs.len())],
                    [0, 1, 9000][pick(r >> 20, 3)] as u16,
                ),
                payload_len: [0, 1, MAX_PAYLOAD as u16, MAX_PAYLOAD as u16 + 1, u16::MAX]
                    [pick(r >> 24, 5)],
                seq: Seq((r >> 28) as u32),
                ack: Seq([0, 5][pick(r >> 32, 2)]),
                wscale: [0, 1, 15][pick(r >> 36, 3)],
                mss: [0, 63, 64][pick(r >> 40, 3)],
                urg: Seq([0, 7][pick(r >> 44, 2)]),
            };
            for a in addrs.into_iter().chain([r as u32, (r >> 32) as u32]) {
                assert_eq!(not_unicast(a) == 0, is_unicast(a), "{a:#x}");
            }
            if h.plainly_valid() {
                fast += 1;
                assert_eq!(h.validate_rules(), Ok(()), "{h:?}");
            }
        }
        assert!(fast > 50, "the fast check passed only {fast} headers");
    }
}

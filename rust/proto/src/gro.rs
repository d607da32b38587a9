//! Receive offload (GRO): which frames arriving from a NIC may be merged
//! into one segment before the frame handler sees them.
//!
//! A NIC's NAPI poll hands the device layer frames of at most one MTU;
//! consecutive in-order data frames of one connection are merged (the
//! Linux module's `packet_offload`, `rust/helpers/gro.c`), so a bulk flow
//! costs one handler call, one lookup and one acknowledgement decision per
//! merged segment instead of per frame, as TCP's GRO does. A merged
//! segment must be one the sender could have sent: the first frame's
//! header with the payload of all of them, so only frames that differ in
//! nothing but sequence number, payload and checksum are merged, and its
//! payload must fit the header's 16-bit length.

use super::wire::{Flags, Header, MAX_PAYLOAD};

/// What to do with a frame against one held (merged so far) segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroVerdict {
    /// Another connection (or direction): leave the held segment alone.
    OtherFlow,
    /// Same connection, and the frame continues the held segment: merge it.
    Merge,
    /// Same connection, merge it, and the held segment is complete (the
    /// frame is shorter than the first: the sender's segment ended).
    MergeLast,
    /// Same connection but not mergeable (out of order, a control flag,
    /// another acknowledgement or window, too long): hand the held
    /// segment up now, and this frame after it, unmerged.
    Flush,
}

/// Whether a frame may start or join a merged segment: data with a
/// plain acknowledgement, nothing else (SYN, FIN, RST and urgent data
/// are handled frame by frame).
pub fn eligible(h: &Header) -> bool {
    h.payload_len > 0 && h.flags == Flags::ACK
}

/// The verdict for frame `next` against a held segment whose first
/// frame's header is `held` and which holds `held_payload` bytes so far.
pub fn verdict(held: &Header, held_payload: u32, next: &Header) -> GroVerdict {
    if held.src != next.src || held.dst != next.dst {
        return GroVerdict::OtherFlow;
    }
    let first = u32::from(held.payload_len);
    let len = u32::from(next.payload_len);
    let total = held_payload.saturating_add(len);
    let mergeable = eligible(held)
        && eligible(next)
        && next.seq == held.seq.wrapping_add(held_payload)
        && next.ack == held.ack
        && next.window == held.window
        && len <= first
        && total <= MAX_PAYLOAD as u32;
    if !mergeable {
        GroVerdict::Flush
    } else if len < first {
        GroVerdict::MergeLast
    } else {
        GroVerdict::Merge
    }
}

/// The header of a merged segment: the first frame's, with the payload
/// of all its frames (`total` bytes, which [`verdict`] kept within
/// [`MAX_PAYLOAD`]).
pub fn merged(first: &Header, total: u32) -> Header {
    let mut h = *first;
    h.payload_len = u16::try_from(total).unwrap_or(u16::MAX);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::Seq;
    use crate::tuple::Endpoint;

    fn data(seq: u32, len: u16) -> Header {
        Header {
            flags: Flags::ACK,
            src: Endpoint::new(0x0a63_0001, 5000),
            dst: Endpoint::new(0x0a63_0002, 40000),
            seq: Seq(seq),
            ack: Seq(77),
            window: 1000,
            payload_len: len,
            ..Header::default()
        }
    }

    #[test]
    fn in_order_frames_of_one_connection_merge() {
        let first = data(100, 1468);
        assert_eq!(verdict(&first, 1468, &data(1568, 1468)), GroVerdict::Merge);
        assert_eq!(verdict(&first, 2936, &data(3036, 1468)), GroVerdict::Merge);
        // A shorter frame ends the sender's segment.
        assert_eq!(
            verdict(&first, 2936, &data(3036, 100)),
            GroVerdict::MergeLast
        );
        assert_eq!(merged(&first, 3036).payload_len, 3036);
        assert_eq!(merged(&first, 3036).seq, Seq(100));
    }

    #[test]
    fn anything_else_flushes_or_is_another_flow() {
        let first = data(100, 1468);
        // A gap, a duplicate, a longer frame.
        assert_eq!(verdict(&first, 1468, &data(3036, 1468)), GroVerdict::Flush);
        assert_eq!(verdict(&first, 1468, &data(100, 1468)), GroVerdict::Flush);
        assert_eq!(verdict(&first, 1468, &data(1568, 1469)), GroVerdict::Flush);
        // Another acknowledgement or window.
        let mut n = data(1568, 1468);
        n.ack = Seq(78);
        assert_eq!(verdict(&first, 1468, &n), GroVerdict::Flush);
        let mut n = data(1568, 1468);
        n.window = 999;
        assert_eq!(verdict(&first, 1468, &n), GroVerdict::Flush);
        // Control flags, a pure ACK.
        for f in [Flags::FIN, Flags::RST, Flags::URG, Flags::SYN] {
            let mut n = data(1568, 1468);
            n.flags = Flags::ACK.with(f);
            assert!(!eligible(&n));
            assert_eq!(verdict(&first, 1468, &n), GroVerdict::Flush);
        }
        assert!(!eligible(&data(1568, 0)));
        // Past the 16-bit payload length.
        assert_eq!(
            verdict(&first, 64 * 1468, &data(100 + 64 * 1468, 1468)),
            GroVerdict::Flush
        );
        // Another port or address, or the other direction.
        let mut n = data(1568, 1468);
        n.src = Endpoint::new(0x0a63_0001, 5001);
        assert_eq!(verdict(&first, 1468, &n), GroVerdict::OtherFlow);
        let mut n = data(1568, 1468);
        core::mem::swap(&mut n.src, &mut n.dst);
        assert_eq!(verdict(&first, 1468, &n), GroVerdict::OtherFlow);
    }
}

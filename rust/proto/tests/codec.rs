//! Frame codec: round trips, and every way a frame can be malformed.

mod support;

use afc_proto::checksum::{checksum, Checksum};
use afc_proto::seq::Seq;
use afc_proto::tuple::Endpoint;
use afc_proto::wire::{
    fill_checksum, frame_checksum_field, gso_piece, receive_checksum_policy, store_checksum,
    ChecksumPolicy, ChecksumState, Flags, Header, WireError, CHECKSUM_OFFSET, DADDR_OFFSET,
    HEADER_LEN, MAX_PAYLOAD, SADDR_OFFSET, URG_OFFSET,
};
use support::rng::Rng;

fn data_header(len: u16) -> Header {
    Header {
        flags: Flags::ACK,
        src: Endpoint::new(0x0a00_0001, 40000),
        dst: Endpoint::new(0xc0a8_0102, 7000),
        seq: Seq(0xdead_beef),
        ack: Seq(0x0102_0304),
        window: 0x1234,
        payload_len: len,
        ..Header::default()
    }
}

fn frame(h: &Header, payload: &[u8], csum: bool) -> Vec<u8> {
    let mut f = vec![0u8; HEADER_LEN + payload.len()];
    h.emit(&mut f).unwrap();
    f[HEADER_LEN..].copy_from_slice(payload);
    if csum {
        fill_checksum(&mut f).unwrap();
    }
    f
}

#[test]
fn layout_is_as_documented() {
    let h = data_header(3);
    let f = frame(&h, b"abc", false);
    assert_eq!(f.len(), 35);
    assert_eq!(f[0], 1, "version");
    assert_eq!(f[1], 0x02, "flags: ACK");
    assert_eq!(&f[2..4], &[0x12, 0x34], "window");
    assert_eq!(&f[4..6], &40000u16.to_be_bytes(), "source port");
    assert_eq!(&f[6..8], &7000u16.to_be_bytes(), "destination port");
    assert_eq!(&f[8..10], &[0, 3], "payload length");
    assert_eq!(&f[10..12], &[0, 0], "checksum not filled");
    assert_eq!(
        &f[SADDR_OFFSET..SADDR_OFFSET + 4],
        &[10, 0, 0, 1],
        "saddr at iphdr's offset"
    );
    assert_eq!(
        &f[DADDR_OFFSET..DADDR_OFFSET + 4],
        &[192, 168, 1, 2],
        "daddr at iphdr's offset"
    );
    assert_eq!(&f[20..24], &[0xde, 0xad, 0xbe, 0xef], "sequence");
    assert_eq!(&f[24..28], &[1, 2, 3, 4], "acknowledgement");
    assert_eq!(&f[28..32], &[0, 0, 0, 0], "SYN-only fields");
    assert_eq!(SADDR_OFFSET, 12);
    assert_eq!(DADDR_OFFSET, 16);
    assert_eq!(HEADER_LEN % 4, 0);

    let mut syn = Header {
        flags: Flags::SYN,
        wscale: 7,
        mss: 1468,
        window: 65535,
        payload_len: 0,
        ack: Seq(0),
        ..h
    };
    syn.payload_len = 0;
    let f = frame(&syn, &[], false);
    assert_eq!(f[1], 0x01);
    assert_eq!(f[28], 7);
    assert_eq!(&f[30..32], &1468u16.to_be_bytes());

    // URG (bit 4): the urgent pointer, one past the urgent byte, as a
    // whole sequence number in bytes 28-31.
    let urg = Header {
        flags: Flags::ACK.with(Flags::URG),
        urg: Seq(0xdead_beef_u32.wrapping_add(3)),
        ..h
    };
    let f = frame(&urg, b"abc", false);
    assert_eq!(f[1], 0x12, "flags: ACK|URG");
    assert_eq!(URG_OFFSET, 28);
    assert_eq!(&f[28..32], &[0xde, 0xad, 0xbe, 0xf2], "urgent pointer");
    assert_eq!(Header::parse(&f, ChecksumPolicy::Trust).unwrap().0, urg);
}

#[test]
fn round_trip_random_headers() {
    let mut rng = Rng::new(42);
    for _ in 0..20_000 {
        let flags = match rng.below(8) {
            0 => Flags::SYN,
            1 => Flags::SYN.with(Flags::ACK),
            2 => Flags::ACK,
            3 => Flags::ACK.with(Flags::FIN),
            4 => Flags::RST,
            5 => Flags::ACK.with(Flags::URG),
            6 => Flags::ACK.with(Flags::URG).with(Flags::FIN),
            _ => Flags::RST.with(Flags::ACK),
        };
        let syn = flags.syn();
        let len = if syn || flags.rst() {
            0
        } else {
            rng.below(300) as u16
        };
        let seq = Seq(rng.next_u64() as u32);
        let h = Header {
            flags,
            src: Endpoint::new(
                0x0100_0000 + rng.below(0xdf00_0000) as u32,
                1 + rng.below(65535) as u16,
            ),
            dst: Endpoint::new(
                0x0100_0000 + rng.below(0xdf00_0000) as u32,
                1 + rng.below(65535) as u16,
            ),
            seq,
            ack: if flags.ack() {
                Seq(rng.next_u64() as u32)
            } else {
                Seq(0)
            },
            window: rng.next_u64() as u16,
            wscale: if syn { rng.below(15) as u8 } else { 0 },
            mss: if syn { 64 + rng.below(65000) as u16 } else { 0 },
            urg: if flags.urg() {
                seq.wrapping_add(1 + rng.below(0x7fff_ffff) as u32)
            } else {
                Seq(0)
            },
            payload_len: len,
        };
        let payload = rng.bytes(usize::from(len));
        let trusted = rng.below(2) == 0;
        let f = frame(&h, &payload, !trusted);
        let policy = if trusted {
            ChecksumPolicy::Trust
        } else {
            ChecksumPolicy::Verify
        };
        let (back, p) = Header::parse(&f, policy).unwrap();
        assert_eq!(back, h);
        assert_eq!(p, &payload[..]);
        if !trusted {
            assert_ne!(
                frame_checksum_field(&f),
                0,
                "a computed checksum is never zero"
            );
        }
    }
}

#[test]
fn largest_payload_fits_loopback_mtu() {
    let h = data_header(MAX_PAYLOAD as u16);
    let payload = vec![0x5a; MAX_PAYLOAD];
    let f = frame(&h, &payload, true);
    assert_eq!(f.len(), 65535);
    let (back, p) = Header::parse(&f, ChecksumPolicy::Verify).unwrap();
    assert_eq!(back.payload_len as usize, MAX_PAYLOAD);
    assert_eq!(p.len(), MAX_PAYLOAD);
    let mut too_big = h;
    too_big.payload_len = MAX_PAYLOAD as u16 + 1;
    assert_eq!(too_big.emit(&mut [0u8; 64]), Err(WireError::BadLength));
}

#[test]
fn padding_is_ignored() {
    let h = data_header(2);
    let mut f = frame(&h, b"hi", true);
    // Ethernet pads short payloads to 46 bytes.
    f.resize(46, 0);
    let (back, p) = Header::parse(&f, ChecksumPolicy::Verify).unwrap();
    assert_eq!(back, h);
    assert_eq!(p, b"hi");
}

#[test]
fn every_truncation_is_an_error() {
    let h = data_header(10);
    let f = frame(&h, b"0123456789", true);
    for n in 0..f.len() {
        assert_eq!(
            Header::parse(&f[..n], ChecksumPolicy::Verify),
            Err(WireError::Truncated),
            "length {n}"
        );
        assert_eq!(
            Header::parse(&f[..n], ChecksumPolicy::Trust),
            Err(WireError::Truncated),
            "length {n}"
        );
    }
}

#[test]
fn wrong_version() {
    let mut f = frame(&data_header(0), &[], true);
    for v in [0u8, 2, 4, 0x45, 0xff] {
        f[0] = v;
        assert_eq!(
            Header::parse(&f, ChecksumPolicy::Trust),
            Err(WireError::BadVersion)
        );
    }
}

#[test]
fn bad_flags() {
    let base = frame(&data_header(0), &[], false);
    for (flags, want) in [
        (0x10u8, WireError::BadFlags),
        (0x20 | 0x02, WireError::BadFlags),
        (0x80 | 0x02, WireError::BadFlags),
        (0x10 | 0x01, WireError::BadFlags),
        (0x10 | 0x01 | 0x02, WireError::BadFlags),
        (0x10 | 0x08 | 0x02, WireError::BadFlags),
        (0x01 | 0x08, WireError::BadFlags),
        (0x01 | 0x04, WireError::BadFlags),
        (0x04, WireError::BadFlags),
        (0x00, WireError::BadFlags),
    ] {
        let mut f = base.clone();
        f[1] = flags;
        assert_eq!(
            Header::parse(&f, ChecksumPolicy::Trust),
            Err(want),
            "flags {flags:#x}"
        );
    }
    // An acknowledgement number without ACK.
    let mut f = base.clone();
    f[1] = 0x08;
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
}

#[test]
fn bad_ports_and_addresses() {
    let base = frame(&data_header(0), &[], false);
    for at in [4usize, 6] {
        let mut f = base.clone();
        f[at] = 0;
        f[at + 1] = 0;
        assert_eq!(
            Header::parse(&f, ChecksumPolicy::Trust),
            Err(WireError::BadPort)
        );
    }
    for at in [SADDR_OFFSET, DADDR_OFFSET] {
        for addr in [0u32, 0x00ff_0001, 0xe000_0001, 0xefff_ffff, 0xffff_ffff] {
            let mut f = base.clone();
            f[at..at + 4].copy_from_slice(&addr.to_be_bytes());
            assert_eq!(
                Header::parse(&f, ChecksumPolicy::Trust),
                Err(WireError::BadAddress),
                "{addr:#x}"
            );
        }
    }
}

#[test]
fn bad_lengths_and_fields() {
    let base = frame(&data_header(0), &[], false);
    // Payload length beyond the maximum.
    let mut f = base.clone();
    f[8..10].copy_from_slice(&(MAX_PAYLOAD as u16 + 1).to_be_bytes());
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::BadLength)
    );
    // Longer than the frame.
    let mut f = base.clone();
    f[8..10].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::Truncated)
    );
    // Payload on SYN or RST.
    for flags in [0x01u8, 0x08] {
        let mut f = base.clone();
        f.push(0);
        f[1] = flags;
        f[24..28].fill(0);
        f[28] = 1;
        f[30..32].copy_from_slice(&1000u16.to_be_bytes());
        if flags == 0x08 {
            f[28] = 0;
            f[30..32].fill(0);
        }
        f[8..10].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(
            Header::parse(&f, ChecksumPolicy::Trust),
            Err(WireError::BadLength),
            "{flags:#x}"
        );
    }
    // Reserved byte, SYN-only fields on a non-SYN, SYN fields out of range.
    let mut f = base.clone();
    f[29] = 1;
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
    let mut f = base.clone();
    f[28] = 3;
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
    let mut f = base.clone();
    f[31] = 1;
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
    let mut syn = base.clone();
    syn[1] = 0x01;
    syn[24..28].fill(0);
    syn[30..32].copy_from_slice(&1000u16.to_be_bytes());
    assert!(Header::parse(&syn, ChecksumPolicy::Trust).is_ok());
    syn[28] = 15;
    assert_eq!(
        Header::parse(&syn, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
    syn[28] = 14;
    syn[30..32].copy_from_slice(&63u16.to_be_bytes());
    assert_eq!(
        Header::parse(&syn, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
}

/// The urgent pointer: only with URG, only past the segment's sequence
/// number (it points one past the urgent byte, which the segment
/// precedes), never on SYN or RST; with URG byte 29 is part of it.
#[test]
fn urgent_pointer_rules() {
    let base = frame(&data_header(0), &[], false);
    let seq = 0xdead_beef_u32;
    let with = |ptr: u32| {
        let mut f = base.clone();
        f[1] = 0x12;
        f[28..32].copy_from_slice(&ptr.to_be_bytes());
        Header::parse(&f, ChecksumPolicy::Trust).map(|(h, _)| h)
    };
    // One past the segment's first byte up to 2^31 - 1 ahead: valid; byte
    // 29 may then be anything.
    for d in [1u32, 2, 0x100, 0x0001_0000, 0x7fff_ffff] {
        let h = with(seq.wrapping_add(d)).unwrap_or_else(|e| panic!("+{d}: {e:?}"));
        assert!(h.flags.urg());
        assert_eq!(h.urg, Seq(seq.wrapping_add(d)));
        assert_eq!((h.wscale, h.mss), (0, 0));
    }
    // At or before the sequence number: it would point at a byte the
    // segment follows.
    for d in [0u32, 0x8000_0000, 0xffff_ffff] {
        assert_eq!(
            with(seq.wrapping_add(d)),
            Err(WireError::BadField),
            "+{d:#x}"
        );
    }
    // Without URG the four bytes must be zero (a pointer alone is no URG).
    let mut f = base.clone();
    f[28..32].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
    assert_eq!(
        Header::parse(&f, ChecksumPolicy::Trust),
        Err(WireError::BadField)
    );
    // A header with URG and a pointer at its own start, or a pointer
    // without URG, is never emitted.
    let mut h = data_header(0);
    h.flags = Flags::ACK.with(Flags::URG);
    h.urg = h.seq;
    assert_eq!(h.emit(&mut [0u8; HEADER_LEN]), Err(WireError::BadField));
    h.flags = Flags::ACK;
    h.urg = Seq(seq.wrapping_add(5));
    assert_eq!(h.emit(&mut [0u8; HEADER_LEN]), Err(WireError::BadField));
    // SYN with URG is invalid, whatever bytes 28-31 hold.
    let mut syn = data_header(0);
    syn.flags = Flags::SYN.with(Flags::URG);
    syn.ack = Seq(0);
    syn.mss = 1000;
    assert_eq!(syn.emit(&mut [0u8; HEADER_LEN]), Err(WireError::BadFlags));
}

/// GSO pieces keep the urgent pointer while they start before it, and
/// drop URG from the pieces at or after it (every piece parses).
#[test]
fn gso_pieces_keep_urg_only_before_the_pointer() {
    let payload = vec![7u8; 5000];
    let mut whole = data_header(payload.len() as u16);
    whole.flags = Flags::ACK.with(Flags::URG);
    whole.seq = Seq(0xffff_fc00);
    // The urgent byte is byte 2999 of the payload: the pointer is one past it.
    whole.urg = whole.seq.wrapping_add(3000);
    let mut urgs = Vec::new();
    for at in (0..5000u32).step_by(1000) {
        let h = gso_piece(&whole, at, 1000, at == 4000);
        let f = frame(&h, &payload[..1000], true);
        let (back, _) = Header::parse(&f, ChecksumPolicy::Verify).unwrap();
        urgs.push(back.flags.urg().then_some(back.urg));
    }
    let u = Some(whole.urg);
    assert_eq!(urgs, vec![u, u, u, None, None]);
}

#[test]
fn checksum_rules() {
    let h = data_header(5);
    let good = frame(&h, b"hello", true);
    assert!(Header::parse(&good, ChecksumPolicy::Verify).is_ok());
    // Not computed: accepted only from a trusted (loopback) link.
    let plain = frame(&h, b"hello", false);
    assert_eq!(
        Header::parse(&plain, ChecksumPolicy::Verify),
        Err(WireError::ChecksumMissing)
    );
    assert!(Header::parse(&plain, ChecksumPolicy::Trust).is_ok());
    // Wrong.
    let mut bad = good.clone();
    bad[CHECKSUM_OFFSET] ^= 0x40;
    assert_eq!(
        Header::parse(&bad, ChecksumPolicy::Verify),
        Err(WireError::BadChecksum)
    );
    // Padding is outside the checksum.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xff; 20]);
    assert!(Header::parse(&padded, ChecksumPolicy::Verify).is_ok());
}

#[test]
fn every_single_byte_corruption_is_detected() {
    let h = data_header(21);
    let good = frame(&h, b"the quick brown fox j", true);
    for i in 0..good.len() {
        for x in 1..=255u8 {
            let mut f = good.clone();
            f[i] ^= x;
            assert!(
                Header::parse(&f, ChecksumPolicy::Verify).is_err(),
                "byte {i} xor {x:#x} went unnoticed"
            );
        }
    }
}

#[test]
fn checksum_over_fragments_matches() {
    let h = data_header(7);
    let mut f = frame(&h, b"payload", false);
    let mut c = Checksum::new();
    c.add(&f[..HEADER_LEN]);
    c.add(b"pay");
    c.add(b"load");
    store_checksum(&mut f, c.finish()).unwrap();
    assert!(Header::parse(&f, ChecksumPolicy::Verify).is_ok());
    assert_eq!(
        c.finish(),
        checksum(&{
            let mut z = f.clone();
            z[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].fill(0);
            z
        })
    );
}

#[test]
fn emit_rejects_small_buffers_and_invalid_headers() {
    let h = data_header(0);
    assert_eq!(
        h.emit(&mut [0u8; HEADER_LEN - 1]),
        Err(WireError::BufferTooSmall)
    );
    let mut bad = h;
    bad.src.port = 0;
    assert_eq!(bad.emit(&mut [0u8; HEADER_LEN]), Err(WireError::BadPort));
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(7);
    let valid = frame(&data_header(9), b"123456789", true);
    for i in 0..200_000u32 {
        let mut f = if i % 2 == 0 {
            let n = rng.below(80) as usize;
            rng.bytes(n)
        } else {
            let mut f = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(f.len() as u64) as usize;
                f[at] = rng.next_u64() as u8;
            }
            f
        };
        if i % 7 == 0 {
            f.truncate(rng.below(f.len() as u64 + 1) as usize);
        }
        let _ = Header::parse(&f, ChecksumPolicy::Verify);
        let _ = Header::parse(&f, ChecksumPolicy::Trust);
    }
}

/// Section 1.3: a frame is trusted unchecked only over loopback or when
/// its own checksum, at this header's field, is still pending (this
/// host's stack sent it through memory); a checksum pending anywhere else
/// or a device's claim to have checked it is no reason to skip ours.
#[test]
fn receive_checksum_policy_trusts_only_loopback_and_our_own_pending_sum() {
    use ChecksumPolicy::{Trust, Verify};
    let ours = ChecksumState::Pending {
        start: 0,
        field: CHECKSUM_OFFSET as u64,
    };
    assert_eq!(receive_checksum_policy(true, ChecksumState::Filled), Trust);
    assert_eq!(receive_checksum_policy(true, ours), Trust);
    assert_eq!(receive_checksum_policy(false, ours), Trust);
    assert_eq!(
        receive_checksum_policy(false, ChecksumState::Filled),
        Verify
    );
    for (start, field) in [
        (32, 0),
        (6, 4),
        (-14, 24),
        (0, 0),
        (0, 12),
        (2, 8),
        (i64::MIN, 10),
    ] {
        let foreign = ChecksumState::Pending { start, field };
        assert_eq!(
            receive_checksum_policy(false, foreign),
            Verify,
            "pending at {start}+{field}"
        );
        assert_eq!(receive_checksum_policy(true, foreign), Trust);
    }
}

/// A segment cut into device-sized pieces (GSO, docs/DESIGN.md): the
/// pieces cover the payload in order, each parses with its own length and
/// checksum, and only the last keeps the FIN.
#[test]
fn gso_pieces_cover_the_segment_and_keep_fin_last() {
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut whole = data_header(payload.len() as u16);
    whole.flags = Flags::ACK.with(Flags::FIN);
    whole.seq = Seq(0xffff_f000); // wraps within the segment
    let piece_len = 1468usize;
    let mut at = 0usize;
    let mut pieces = 0;
    while at < payload.len() {
        let n = piece_len.min(payload.len() - at);
        let last = at + n == payload.len();
        let h = gso_piece(&whole, at as u32, n as u16, last);
        let f = frame(&h, &payload[at..at + n], true);
        let (back, p) = Header::parse(&f, ChecksumPolicy::Verify).unwrap();
        assert_eq!(back.seq, whole.seq.wrapping_add(at as u32));
        assert_eq!(p, &payload[at..at + n]);
        assert_eq!(back.flags.fin(), last, "FIN on piece at {at}");
        assert!(back.flags.ack());
        assert_eq!(back.ack, whole.ack);
        at += n;
        pieces += 1;
    }
    assert_eq!(pieces, payload.len().div_ceil(piece_len));
}

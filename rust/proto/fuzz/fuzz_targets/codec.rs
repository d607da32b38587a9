//! Fuzzes frame decoding: arbitrary bytes must decode to an error or to a
//! header that encodes back to the same bytes.

#![no_main]

use afc_proto::checksum::{checksum, Checksum};
use afc_proto::wire::{fill_checksum, ChecksumPolicy, Header, CHECKSUM_OFFSET, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for policy in [ChecksumPolicy::Verify, ChecksumPolicy::Trust] {
        let Ok((h, payload)) = Header::parse(data, policy) else {
            continue;
        };
        assert_eq!(payload.len(), usize::from(h.payload_len));
        assert!(data.len() >= h.frame_len());
        // Re-encoding gives back the same header bytes (checksum aside).
        let mut frame = vec![0u8; h.frame_len()];
        h.emit(&mut frame).expect("a decoded header encodes");
        frame[HEADER_LEN..].copy_from_slice(payload);
        let mut orig = data[..h.frame_len()].to_vec();
        orig[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].fill(0);
        assert_eq!(frame, orig);
        fill_checksum(&mut frame).expect("checksum");
        let (h2, p2) = Header::parse(&frame, ChecksumPolicy::Verify).expect("re-parse");
        assert_eq!(h2, h);
        assert_eq!(p2, payload);
    }
    // The running checksum agrees with the one-shot one however it is split.
    if let Some((&cut, rest)) = data.split_first() {
        let cut = usize::from(cut).min(rest.len());
        let mut c = Checksum::new();
        c.add(&rest[..cut]);
        c.add(&rest[cut..]);
        assert_eq!(c.finish(), checksum(rest));
    }
});

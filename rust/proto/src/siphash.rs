//! SipHash-2-4, the keyed hash behind initial sequence numbers and load spreading.
//!
//! This is the reference algorithm of Aumasson and Bernstein (2012) with a
//! 128-bit key and a 64-bit output, the same function the kernel offers as
//! `siphash()` and uses for TCP's initial sequence numbers.

/// A 128-bit SipHash key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    /// Returns the key whose 16 bytes are `bytes` (little-endian halves, as in the paper).
    pub const fn from_bytes(bytes: [u8; 16]) -> SipKey {
        let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = bytes;
        SipKey {
            k0: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            k1: u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
        }
    }

    /// Returns the key made of two 64-bit halves.
    pub const fn from_u64(k0: u64, k1: u64) -> SipKey {
        SipKey { k0, k1 }
    }
}

struct State {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl State {
    #[inline]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17) ^ self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    /// The state keyed with `key`, before any block.
    #[inline]
    fn new(key: &SipKey) -> Self {
        State {
            v0: key.k0 ^ 0x736f_6d65_7073_6575,
            v1: key.k1 ^ 0x646f_7261_6e64_6f6d,
            v2: key.k0 ^ 0x6c79_6765_6e65_7261,
            v3: key.k1 ^ 0x7465_6462_7974_6573,
        }
    }

    /// The `D` finalisation rounds, after the last block; the hash.
    #[inline]
    fn finish<const D: usize>(mut self) -> u64 {
        self.v2 ^= 0xff;
        for _ in 0..D {
            self.round();
        }
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }

    /// One block, with `C` rounds.
    #[inline]
    fn compress<const C: usize>(&mut self, m: u64) {
        self.v3 ^= m;
        for _ in 0..C {
            self.round();
        }
        self.v0 ^= m;
    }
}

/// Returns SipHash-2-4 of a message already cut into its little-endian
/// 64-bit blocks, the last one carrying the message length in its top
/// byte as the algorithm pads it: the same value as [`siphash24`] of the
/// bytes, without moving them one by one (the table lookups of every
/// frame hash a tuple).
pub fn siphash24_blocks<const N: usize>(key: &SipKey, blocks: [u64; N]) -> u64 {
    sip_blocks::<2, 4, N>(key, blocks)
}

/// Returns SipHash-1-3 of a message cut into blocks as for
/// [`siphash24_blocks`]: the kernel's `hsiphash` on 64-bit machines, the
/// cheaper variant it keeps for hash tables (a table's hash needs to be
/// unpredictable, not a secure PRF; ISNs and cookies keep SipHash-2-4).
pub fn siphash13_blocks<const N: usize>(key: &SipKey, blocks: [u64; N]) -> u64 {
    sip_blocks::<1, 3, N>(key, blocks)
}

#[inline]
fn sip_blocks<const C: usize, const D: usize, const N: usize>(
    key: &SipKey,
    blocks: [u64; N],
) -> u64 {
    let mut s = State::new(key);
    // A slice iterator: the array's by-value iterator stayed an
    // out-of-line call in the kernel build.
    for m in blocks.iter() {
        s.compress::<C>(*m);
    }
    s.finish::<D>()
}

/// Returns SipHash-2-4 of `data` under `key`.
pub fn siphash24(key: &SipKey, data: &[u8]) -> u64 {
    sip::<2, 4>(key, data)
}

/// Returns SipHash-1-3 of `data` under `key`.
pub fn siphash13(key: &SipKey, data: &[u8]) -> u64 {
    sip::<1, 3>(key, data)
}

fn sip<const C: usize, const D: usize>(key: &SipKey, data: &[u8]) -> u64 {
    let mut s = State::new(key);
    let mut blocks = data.chunks_exact(8);
    for b in &mut blocks {
        if let [a0, a1, a2, a3, a4, a5, a6, a7] = *b {
            s.compress::<C>(u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]));
        }
    }
    let mut last = [0u8; 8];
    for (dst, src) in last.iter_mut().zip(blocks.remainder()) {
        *dst = *src;
    }
    last[7] = data.len() as u8;
    s.compress::<C>(u64::from_le_bytes(last));
    s.finish::<D>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_key() -> SipKey {
        SipKey::from_bytes(core::array::from_fn(|i| i as u8))
    }

    #[test]
    fn paper_test_vector() {
        // Appendix A of the SipHash paper: message 00..0e under key 00..0f.
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&reference_key(), &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn reference_vectors() {
        // First entries of `vectors.h` from the reference implementation
        // (message 00..n-1, key 00..0f), as little-endian 64-bit values.
        let expected: [u64; 9] = [
            0x726f_db47_dd0e_0e31,
            0x74f8_39c5_93dc_67fd,
            0x0d6c_8009_d9a9_4f5a,
            0x8567_6696_d7fb_7e2d,
            0xcf27_94e0_2771_87b7,
            0x1876_5564_cd99_a68d,
            0xcbc9_466e_58fe_e3ce,
            0xab02_00f5_8b01_d137,
            0x93f5_f579_9a93_2462,
        ];
        let msg: [u8; 9] = core::array::from_fn(|i| i as u8);
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(siphash24(&reference_key(), &msg[..n]), *want, "length {n}");
        }
    }

    #[test]
    fn siphash13_is_the_kernels_hsiphash() {
        // The first entries of `test_vectors_hsiphash` for 64-bit machines
        // (lib/siphash_kunit.c, 6.12: message 00..n-1, key 00..0f), where
        // `hsiphash` is SipHash-1-3 returned as its low 32 bits.
        let expected: [u32; 9] = [
            0x050f_c4dc,
            0x7d57_ca93,
            0x4dc7_d44d,
            0xe7dd_f7fb,
            0x88d3_8328,
            0x4953_3b67,
            0xc59f_22a7,
            0x9bb1_1140,
            0x8d29_9a8e,
        ];
        let msg: [u8; 9] = core::array::from_fn(|i| i as u8);
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(
                siphash13(&reference_key(), &msg[..n]) as u32,
                *want,
                "length {n}"
            );
        }
    }

    #[test]
    fn blocks_are_the_bytes_hashed() {
        // 13 bytes: one whole block, then five bytes and the length.
        let msg: [u8; 13] = core::array::from_fn(|i| (i as u8).wrapping_mul(29));
        let mut b0 = [0u8; 8];
        b0.copy_from_slice(&msg[..8]);
        let mut b1 = [0u8; 8];
        b1[..5].copy_from_slice(&msg[8..]);
        b1[7] = 13;
        let blocks = [u64::from_le_bytes(b0), u64::from_le_bytes(b1)];
        let key = reference_key();
        assert_eq!(siphash24_blocks(&key, blocks), siphash24(&key, &msg));
        assert_eq!(siphash13_blocks(&key, blocks), siphash13(&key, &msg));
    }
}

//! The 16-bit ones' complement Internet checksum (RFC 1071).
//!
//! The sum can be fed in pieces of any length (for example a header and then
//! the payload fragments of a socket buffer); an odd-length piece leaves a
//! byte pending that pairs with the first byte of the next piece.

/// A running Internet checksum.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checksum {
    /// Unfolded sum of big-endian 16-bit words (added as 32-bit pairs).
    sum: u64,
    /// Whether an odd number of bytes has been added so far.
    odd: bool,
}

impl Checksum {
    /// Returns an empty checksum.
    #[inline]
    pub const fn new() -> Checksum {
        Checksum { sum: 0, odd: false }
    }

    /// Adds `data` to the sum, continuing after the bytes added before.
    pub fn add(&mut self, data: &[u8]) {
        let mut data = data;
        if self.odd {
            match data.split_first() {
                Some((&low, rest)) => {
                    self.sum = self.sum.wrapping_add(u64::from(low));
                    self.odd = false;
                    data = rest;
                }
                None => return,
            }
        }
        let mut words = data.chunks_exact(4);
        for w in &mut words {
            if let [a, b, c, d] = *w {
                self.sum = self
                    .sum
                    .wrapping_add(u64::from(u32::from_be_bytes([a, b, c, d])));
            }
        }
        let mut pairs = words.remainder().chunks_exact(2);
        for p in &mut pairs {
            if let [a, b] = *p {
                self.sum = self.sum.wrapping_add(u64::from(u16::from_be_bytes([a, b])));
            }
        }
        if let [high] = *pairs.remainder() {
            self.sum = self.sum.wrapping_add(u64::from(high) << 8);
            self.odd = true;
        }
    }

    /// Returns the folded 16-bit ones' complement sum (not yet complemented).
    pub fn folded(&self) -> u16 {
        let mut s = self.sum;
        while s > 0xffff {
            s = (s & 0xffff).wrapping_add(s >> 16);
        }
        s as u16
    }

    /// Returns the checksum to store in a header: the complement of the sum.
    #[inline]
    pub fn finish(&self) -> u16 {
        !self.folded()
    }
}

/// Returns the Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut c = Checksum::new();
    c.add(data);
    c.finish()
}

/// Returns whether `data`, which contains its own checksum field, sums to zero.
pub fn verify(data: &[u8]) -> bool {
    let mut c = Checksum::new();
    c.add(data);
    c.folded() == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut c = Checksum::new();
        c.add(&data);
        assert_eq!(c.folded(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn split_feeding_matches_whole() {
        let data: [u8; 23] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let whole = checksum(&data);
        for a in 0..data.len() {
            for b in a..data.len() {
                let mut c = Checksum::new();
                c.add(&data[..a]);
                c.add(&data[a..b]);
                c.add(&data[b..]);
                assert_eq!(c.finish(), whole, "split at {a}, {b}");
            }
        }
    }

    #[test]
    fn verify_accepts_stored_checksum() {
        let mut data = [0x45, 0x00, 0x00, 0x1c, 0, 0, 0x12, 0x34, 0xab];
        let mut padded = [0u8; 10];
        padded[..9].copy_from_slice(&data);
        let sum = checksum(&padded);
        data[4..6].copy_from_slice(&sum.to_be_bytes());
        assert!(verify(&data));
        data[8] ^= 1;
        assert!(!verify(&data));
    }
}

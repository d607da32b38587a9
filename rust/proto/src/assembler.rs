//! A fixed-capacity set of received byte ranges beyond the in-order point.
//!
//! The receive side keeps out-of-order data in the caller's store; this type
//! remembers which stream offsets that store holds, as at most
//! [`ASSEMBLER_RANGES`] disjoint, non-adjacent ranges (like smoltcp's
//! `Assembler`). A segment that would need one range more is dropped, which
//! bounds the bookkeeping however the peer fragments its data; the receive
//! window bounds the bytes.

/// How many disjoint out-of-order ranges a connection remembers.
pub const ASSEMBLER_RANGES: usize = 8;

/// The assembler has no room for another disjoint range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssemblerFull;

/// A sorted set of disjoint half-open ranges `[start, end)` of stream offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assembler {
    ranges: [(u64, u64); ASSEMBLER_RANGES],
    len: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new()
    }
}

impl Assembler {
    /// Returns an empty assembler.
    pub const fn new() -> Assembler {
        Assembler {
            ranges: [(0, 0); ASSEMBLER_RANGES],
            len: 0,
        }
    }

    /// Returns the stored ranges in increasing order.
    pub fn ranges(&self) -> &[(u64, u64)] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    /// Returns whether no range is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the number of bytes the stored ranges cover.
    pub fn stored_bytes(&self) -> u64 {
        self.ranges()
            .iter()
            .fold(0u64, |n, &(s, e)| n.saturating_add(e.saturating_sub(s)))
    }

    /// Forgets every range.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Returns the first part of `[start, end)` that no stored range covers.
    pub fn first_gap(&self, start: u64, end: u64) -> Option<(u64, u64)> {
        let mut cur = start;
        for &(s, e) in self.ranges() {
            if cur >= end {
                return None;
            }
            if e <= cur {
                continue;
            }
            if s > cur {
                return Some((cur, if s < end { s } else { end }));
            }
            cur = e;
        }
        if cur < end {
            Some((cur, end))
        } else {
            None
        }
    }

    /// Adds `[start, end)`, merging it with the ranges it overlaps or touches.
    ///
    /// Leaves the set unchanged and returns [`AssemblerFull`] if the result
    /// would need more than [`ASSEMBLER_RANGES`] ranges.
    pub fn insert(&mut self, start: u64, end: u64) -> Result<(), AssemblerFull> {
        if start >= end {
            return Ok(());
        }
        let mut out = [(0u64, 0u64); ASSEMBLER_RANGES];
        let mut n = 0usize;
        let mut new = (start, end);
        let mut placed = false;
        for &(s, e) in self.ranges() {
            if e < new.0 {
                push(&mut out, &mut n, (s, e))?;
            } else if s > new.1 {
                if !placed {
                    push(&mut out, &mut n, new)?;
                    placed = true;
                }
                push(&mut out, &mut n, (s, e))?;
            } else {
                new = (new.0.min(s), new.1.max(e));
            }
        }
        if !placed {
            push(&mut out, &mut n, new)?;
        }
        self.ranges = out;
        self.len = n;
        Ok(())
    }

    /// Removes the ranges that start at or before `pos` and returns the new in-order end.
    ///
    /// `pos` is the end of in-order data; the result is at least `pos` and
    /// extends over every stored range that now touches it.
    pub fn advance(&mut self, pos: u64) -> u64 {
        let mut end = pos;
        let mut consumed = 0usize;
        for &(s, e) in self.ranges() {
            if s > end {
                break;
            }
            end = end.max(e);
            consumed = consumed.saturating_add(1);
        }
        if consumed > 0 {
            let mut out = [(0u64, 0u64); ASSEMBLER_RANGES];
            let mut n = 0usize;
            for &r in self.ranges().iter().skip(consumed) {
                // Cannot fail: fewer ranges than before.
                let _ = push(&mut out, &mut n, r);
            }
            self.ranges = out;
            self.len = n;
        }
        end
    }
}

fn push(
    out: &mut [(u64, u64); ASSEMBLER_RANGES],
    n: &mut usize,
    r: (u64, u64),
) -> Result<(), AssemblerFull> {
    let slot = out.get_mut(*n).ok_or(AssemblerFull)?;
    *slot = r;
    *n = n.saturating_add(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_and_orders() {
        let mut a = Assembler::new();
        a.insert(10, 20).unwrap();
        a.insert(30, 40).unwrap();
        a.insert(0, 5).unwrap();
        assert_eq!(a.ranges(), &[(0, 5), (10, 20), (30, 40)]);
        a.insert(20, 30).unwrap();
        assert_eq!(a.ranges(), &[(0, 5), (10, 40)]);
        a.insert(3, 12).unwrap();
        assert_eq!(a.ranges(), &[(0, 40)]);
        assert_eq!(a.stored_bytes(), 40);
    }

    #[test]
    fn gaps() {
        let mut a = Assembler::new();
        a.insert(10, 20).unwrap();
        a.insert(30, 40).unwrap();
        assert_eq!(a.first_gap(0, 50), Some((0, 10)));
        assert_eq!(a.first_gap(10, 50), Some((20, 30)));
        assert_eq!(a.first_gap(12, 18), None);
        assert_eq!(a.first_gap(15, 35), Some((20, 30)));
        assert_eq!(a.first_gap(35, 45), Some((40, 45)));
        assert_eq!(a.first_gap(5, 5), None);
    }

    #[test]
    fn full_leaves_state_unchanged() {
        let mut a = Assembler::new();
        for i in 0..ASSEMBLER_RANGES as u64 {
            a.insert(i * 10, i * 10 + 5).unwrap();
        }
        let before = a;
        assert_eq!(a.insert(1000, 1001), Err(AssemblerFull));
        assert_eq!(a, before);
        // Filling a hole needs no new range.
        a.insert(5, 10).unwrap();
        assert_eq!(a.ranges().len(), ASSEMBLER_RANGES - 1);
    }

    #[test]
    fn advance_pops_touching_ranges() {
        let mut a = Assembler::new();
        a.insert(10, 20).unwrap();
        a.insert(25, 30).unwrap();
        assert_eq!(a.advance(5), 5);
        assert_eq!(a.advance(10), 20);
        assert_eq!(a.ranges(), &[(25, 30)]);
        assert_eq!(a.advance(27), 30);
        assert!(a.is_empty());
    }
}

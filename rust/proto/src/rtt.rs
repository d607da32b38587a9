//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Integer arithmetic only, in microseconds, with Linux's scaling: the
//! smoothed RTT is kept times 8 and the variation times 4, so the gains of
//! 1/8 and 1/4 are shifts. `RTO = SRTT + max(G, 4 * RTTVAR)`, clamped to
//! `[min, max]`; each consecutive timeout doubles it up to `max`.

use super::time::MS;

/// Clock granularity `G` of RFC 6298, in microseconds.
pub const CLOCK_GRANULARITY_US: u64 = MS;
/// Largest RTT sample considered, in microseconds; longer samples are clamped.
pub const MAX_RTT_SAMPLE_US: u64 = 600 * super::time::SEC;

/// The RTT estimator and current base RTO of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    /// Smoothed RTT times 8, in microseconds; zero before the first sample.
    srtt8: u64,
    /// RTT variation times 4, in microseconds.
    rttvar4: u64,
    /// The timeout before backoff, in microseconds.
    rto: u64,
    min_rto: u64,
    max_rto: u64,
}

impl RttEstimator {
    /// Returns an estimator with no samples, whose RTO is `initial` (clamped to `[min, max]`).
    pub fn new(initial: u64, min: u64, max: u64) -> RttEstimator {
        let max = max.max(1);
        let min = min.min(max);
        RttEstimator {
            srtt8: 0,
            rttvar4: 0,
            rto: initial.clamp(min, max),
            min_rto: min,
            max_rto: max,
        }
    }

    /// Folds in one RTT measurement of `rtt_us` microseconds.
    pub fn sample(&mut self, rtt_us: u64) {
        let r = rtt_us.clamp(1, MAX_RTT_SAMPLE_US);
        if self.srtt8 == 0 {
            // First measurement: SRTT = R, RTTVAR = R / 2.
            self.srtt8 = r << 3;
            self.rttvar4 = r << 1;
        } else {
            let srtt = self.srtt8 >> 3;
            let delta = srtt.abs_diff(r);
            // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, in units of RTTVAR * 4.
            self.rttvar4 = self
                .rttvar4
                .saturating_sub(self.rttvar4 >> 2)
                .saturating_add(delta);
            // SRTT = 7/8 SRTT + 1/8 R, in units of SRTT * 8.
            self.srtt8 = self
                .srtt8
                .saturating_sub(self.srtt8 >> 3)
                .saturating_add(r)
                .max(1);
        }
        let var = self.rttvar4.max(CLOCK_GRANULARITY_US);
        self.rto = (self.srtt8 >> 3)
            .saturating_add(var)
            .clamp(self.min_rto, self.max_rto);
    }

    /// Returns the smoothed RTT in microseconds, if any sample was taken.
    pub fn srtt(&self) -> Option<u64> {
        if self.srtt8 == 0 {
            None
        } else {
            Some(self.srtt8 >> 3)
        }
    }

    /// Returns the RTT variation in microseconds.
    pub fn rttvar(&self) -> u64 {
        self.rttvar4 >> 2
    }

    /// Returns the RTO before backoff, in microseconds.
    pub fn rto(&self) -> u64 {
        self.rto
    }

    /// Returns the RTO after `backoff` consecutive timeouts: doubled each time, capped at max.
    pub fn backed_off(&self, backoff: u32) -> u64 {
        let shift = backoff.min(32);
        match self.rto.checked_shl(shift) {
            Some(v) if v >> shift == self.rto => v.min(self.max_rto),
            _ => self.max_rto,
        }
    }

    /// Returns the largest RTO this estimator will use.
    pub fn max_rto(&self) -> u64 {
        self.max_rto
    }
}

#[cfg(test)]
mod tests {
    use super::super::time::SEC;
    use super::*;

    #[test]
    fn first_sample_and_smoothing() {
        let mut r = RttEstimator::new(SEC, 200 * MS, 120 * SEC);
        assert_eq!(r.rto(), SEC);
        r.sample(100 * MS);
        assert_eq!(r.srtt(), Some(100 * MS));
        assert_eq!(r.rttvar(), 50 * MS);
        // 100 ms + 4 * 50 ms = 300 ms.
        assert_eq!(r.rto(), 300 * MS);
        r.sample(100 * MS);
        assert_eq!(r.srtt(), Some(100 * MS));
        // RTTVAR = 3/4 * 50 ms.
        assert_eq!(r.rttvar(), 37_500);
        assert_eq!(r.rto(), 250 * MS);
    }

    #[test]
    fn clamped_to_minimum() {
        let mut r = RttEstimator::new(SEC, 200 * MS, 120 * SEC);
        for _ in 0..50 {
            r.sample(10);
        }
        assert_eq!(r.rto(), 200 * MS);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let r = RttEstimator::new(SEC, 200 * MS, 120 * SEC);
        assert_eq!(r.backed_off(0), SEC);
        assert_eq!(r.backed_off(1), 2 * SEC);
        assert_eq!(r.backed_off(6), 64 * SEC);
        assert_eq!(r.backed_off(7), 120 * SEC);
        assert_eq!(r.backed_off(63), 120 * SEC);
        assert_eq!(r.backed_off(u32::MAX), 120 * SEC);
    }
}

//! A corridor's post-FEC error count: the bits it carried while lit, times
//! the post-FEC BER of each sampled interval.
//!
//! The count is integrated between consecutive read-backs (the reconciler's
//! passes and telemetry reads), each interval charged at the mean post-FEC
//! BER of its two end samples. An interval with a dark end — the lanes not
//! lit, a restart in between — is not charged: a dark lane carries no bits
//! and its errors are not invented. The whole errors are kept in the store
//! under the corridor's lease ([`key`]), so a restart continues the count
//! instead of starting it again; the fraction of an error not yet whole is
//! lost on a restart (less than one error).
//!
//! Time is the plant's: on a twin run faster than real time, a simulated
//! hour of traffic carries an hour of bits.

use chrono::{DateTime, Utc};

/// Store key of a corridor's persisted error count.
pub fn key(id: &str) -> String {
    format!("/counters/corridor-errors/{id}")
}

/// One read-back of a lit corridor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LitSample {
    /// Plant time of the read-back.
    pub at: DateTime<Utc>,
    /// Post-FEC bit error ratio of the worst lane.
    pub post_fec_ber: f64,
    /// Line rate of all the corridor's lanes, bit/s.
    pub bits_per_s: f64,
}

/// The running count of one corridor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorCount {
    errors: f64,
    last: Option<LitSample>,
}

impl ErrorCount {
    /// Continues from `whole` errors counted before (read from the store);
    /// the first interval starts at the next sample.
    pub fn resume(whole: u64) -> Self {
        Self {
            errors: whole as f64,
            last: None,
        }
    }

    /// Takes one read-back: `Some` when every lane was lit, `None` when the
    /// corridor was dark (which ends the interval uncharged).
    pub fn record(&mut self, sample: Option<LitSample>) {
        if let (Some(prev), Some(now)) = (self.last, sample) {
            let seconds = (now.at - prev.at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            let ber = 0.5 * (prev.post_fec_ber + now.post_fec_ber);
            let bits = 0.5 * (prev.bits_per_s + now.bits_per_s) * seconds;
            self.errors += ber.clamp(0.0, 0.5) * bits;
        }
        self.last = sample;
    }

    /// Whole errors counted so far.
    pub fn whole(&self) -> u64 {
        self.errors.floor().min(u64::MAX as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(s)
    }

    fn lit(s: i64, ber: f64) -> Option<LitSample> {
        Some(LitSample {
            at: at(s),
            post_fec_ber: ber,
            bits_per_s: 1e9,
        })
    }

    #[test]
    fn each_interval_is_charged_at_its_own_ber() {
        let mut c = ErrorCount::default();
        c.record(lit(0, 1e-6));
        c.record(lit(10, 1e-6)); // 10 s × 1e9 b/s × 1e-6 = 10 000
        c.record(lit(20, 3e-6)); // mean 2e-6 over 10 s = 20 000
        assert_eq!(c.whole(), 30_000);
    }

    #[test]
    fn dark_time_is_not_charged() {
        let mut c = ErrorCount::default();
        c.record(lit(0, 1e-6));
        c.record(None); // dark from here
        c.record(lit(1_000, 1e-6)); // lit again: a new interval starts
        assert_eq!(c.whole(), 0);
        c.record(lit(1_001, 1e-6));
        assert_eq!(c.whole(), 1_000);
    }

    #[test]
    fn a_resumed_count_continues_without_charging_the_gap() {
        let mut c = ErrorCount::resume(42);
        c.record(lit(0, 1e-3));
        assert_eq!(c.whole(), 42);
        c.record(lit(1, 1e-9));
        assert_eq!(c.whole(), 42 + 500_000);
    }

    #[test]
    fn time_running_backwards_charges_nothing() {
        let mut c = ErrorCount::default();
        c.record(lit(10, 1e-3));
        c.record(lit(5, 1e-3));
        assert_eq!(c.whole(), 0);
    }
}

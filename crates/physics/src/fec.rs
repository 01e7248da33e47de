//! Forward error correction: post-FEC BER of Reed–Solomon codes from the pre-FEC BER.
//!
//! Model (the usual hard-decision bound): bit errors are independent, so a 10-bit symbol is
//! wrong with probability p_s = 1 − (1 − p_b)^m. A codeword of n symbols decodes correctly if at
//! most t symbols are wrong; otherwise its i wrong symbols pass through uncorrected. Hence
//!
//! ```text
//! SER_out = Σ_{i=t+1..n} (i/n)·C(n,i)·p_s^i·(1 − p_s)^(n−i)
//! BER_out = SER_out · p_b / p_s        (a wrong symbol keeps its share of wrong bits)
//! ```
//!
//! Real links have burst errors (DFE error propagation), which this model ignores: an
//! assumption that makes it optimistic for equalised electrical links and fair for the
//! thermal-noise-limited optical receivers modelled here.

use serde::{Deserialize, Serialize};

use crate::ber::bisect;
use crate::error::{Result, check_range};
use crate::units::{Gbps, Nanoseconds};

/// A Reed–Solomon code RS(n, k) over m-bit symbols, correcting t = (n − k)/2 symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReedSolomon {
    /// Codeword length, symbols.
    pub n: u32,
    /// Message length, symbols.
    pub k: u32,
    /// Bits per symbol.
    pub m: u32,
}

impl ReedSolomon {
    /// KP4 RS(544, 514), 10-bit symbols, t = 15 (IEEE 802.3 clause 91/119; reference/photonics.md §2 BER).
    pub const KP4: Self = Self {
        n: 544,
        k: 514,
        m: 10,
    };
    /// KR4 RS(528, 514), 10-bit symbols, t = 7 (IEEE 802.3 clause 91).
    pub const KR4: Self = Self {
        n: 528,
        k: 514,
        m: 10,
    };

    /// Correctable symbols per codeword, t = (n − k)/2.
    #[must_use]
    pub const fn t(self) -> u32 {
        (self.n - self.k) / 2
    }

    /// Code rate k/n.
    #[must_use]
    pub fn rate(self) -> f64 {
        f64::from(self.k) / f64::from(self.n)
    }

    /// Codeword length in bits.
    #[must_use]
    pub const fn codeword_bits(self) -> u32 {
        self.n * self.m
    }

    /// Post-FEC BER for independent bit errors at `pre_fec_ber` (see the module docs).
    /// Always ≤ `pre_fec_ber`; 0 for 0.
    #[must_use]
    pub fn post_fec_ber(self, pre_fec_ber: f64) -> f64 {
        let pb = pre_fec_ber.clamp(0.0, 1.0);
        if pb == 0.0 || pre_fec_ber.is_nan() {
            return if pre_fec_ber.is_nan() { f64::NAN } else { 0.0 };
        }
        let n = self.n;
        let t = self.t();
        // p_s = 1 − (1 − p_b)^m without cancellation for tiny p_b.
        let ps = -(f64::from(self.m) * (-pb).ln_1p()).exp_m1();
        if ps >= 1.0 {
            // Every symbol wrong: nothing is corrected.
            return pb;
        }
        let nf = f64::from(n);
        let ln_ps = ps.ln();
        let ln_qs = (-ps).ln_1p();
        let ratio = ps / (1.0 - ps);
        // Sum around the largest term so that nothing under- or overflows: start at the mode
        // of the binomial (or at t+1 if the mode is below it), then walk both ways.
        let mode = ((nf + 1.0) * ps).floor().clamp(0.0, nf) as u32;
        let i0 = mode.max(t + 1).min(n);
        let ln_term0 = ln_binomial(n, i0) + f64::from(i0) * ln_ps + f64::from(n - i0) * ln_qs;
        let mut scaled = f64::from(i0) / nf; // Σ (i/n)·T_i / T_{i0}
        let mut w = 1.0;
        for i in i0..n {
            w *= f64::from(n - i) / f64::from(i + 1) * ratio;
            let contrib = w * f64::from(i + 1) / nf;
            scaled += contrib;
            if contrib < scaled * 1e-18 {
                break;
            }
        }
        let mut w = 1.0;
        for i in (t + 1..i0).rev() {
            // T_i = T_{i+1} · (i+1) / (n−i) / ratio
            w *= f64::from(i + 1) / f64::from(n - i) / ratio;
            let contrib = w * f64::from(i) / nf;
            scaled += contrib;
            if contrib < scaled * 1e-18 {
                break;
            }
        }
        let ser_out = (ln_term0.exp() * scaled).min(ps);
        (ser_out * pb / ps).min(pb)
    }
}

/// ln C(n, k), by a product of ratios renormalised before it can overflow.
fn ln_binomial(n: u32, k: u32) -> f64 {
    let k = k.min(n - k);
    let mut acc = 0.0;
    let mut prod = 1.0;
    for j in 0..k {
        prod *= f64::from(n - j) / f64::from(j + 1);
        if prod > 1e250 {
            acc += prod.ln();
            prod = 1.0;
        }
    }
    acc + prod.ln()
}

/// Forward error correction applied to a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fec {
    /// No FEC: post-FEC BER = pre-FEC BER.
    None,
    /// KP4 RS(544, 514), t = 15: the FEC of 50/100/200/400G Ethernet PAM4 lanes.
    #[default]
    Kp4,
    /// KR4 RS(528, 514), t = 7.
    Kr4,
}

/// The pre-FEC BER threshold commonly quoted for KP4 (IEEE 802.3bs/cd PAM4 PMDs; reference/photonics.md §2 BER).
pub const KP4_PRE_FEC_BER_THRESHOLD: f64 = 2.4e-4;

/// Decoder pipeline latency of an RS decoder after the last bit of a codeword has arrived, ns.
/// Assumption: tens of clock cycles of a ~1 GHz syndrome/Berlekamp–Massey/Chien pipeline.
pub const RS_DECODER_PIPELINE_NS: f64 = 20.0;

impl Fec {
    /// The Reed–Solomon code, if any.
    #[must_use]
    pub const fn code(self) -> Option<ReedSolomon> {
        match self {
            Self::None => None,
            Self::Kp4 => Some(ReedSolomon::KP4),
            Self::Kr4 => Some(ReedSolomon::KR4),
        }
    }

    /// Code rate (1 without FEC).
    #[must_use]
    pub fn rate(self) -> f64 {
        self.code().map_or(1.0, ReedSolomon::rate)
    }

    /// Post-FEC BER for a pre-FEC BER.
    #[must_use]
    pub fn post_fec_ber(self, pre_fec_ber: f64) -> f64 {
        self.code()
            .map_or(pre_fec_ber, |c| c.post_fec_ber(pre_fec_ber))
    }

    /// The largest pre-FEC BER whose post-FEC BER is ≤ `target_post_fec_ber`, by bisection on
    /// log10(pre-FEC BER). For KP4 and 1e-12 this is ≈ 3.64e-4 under the independent-error
    /// model (the 2.4e-4 of the standards keeps margin for burst errors).
    ///
    /// # Errors
    /// `InvalidParameter` unless 0 < target < 0.5; `TargetOutOfRange` if unreachable.
    pub fn max_pre_fec_ber(self, target_post_fec_ber: f64) -> Result<f64> {
        check_range(
            "target post-FEC BER",
            target_post_fec_ber,
            f64::MIN_POSITIVE,
            0.499,
            "0 < BER < 0.5",
        )?;
        if self == Self::None {
            return Ok(target_post_fec_ber);
        }
        // log10(pre-FEC BER) to 1e-10, i.e. the threshold to 2.3e-10 relative.
        let log_pre = bisect(
            "post-FEC BER over pre-FEC BER",
            |lg| self.post_fec_ber(10f64.powf(lg)),
            (-30.0, 0.5f64.log10()),
            target_post_fec_ber,
            false,
            1e-10,
        )?;
        Ok(10f64.powf(log_pre))
    }

    /// Latency the FEC adds: waiting for a whole codeword at `rate` (the rate the codeword is
    /// striped over: one lane, or the whole corridor) plus [`RS_DECODER_PIPELINE_NS`].
    #[must_use]
    pub fn latency(self, rate: Gbps) -> Nanoseconds {
        match self.code() {
            None => Nanoseconds(0.0),
            // bits / (Gb/s) = ns.
            Some(c) => Nanoseconds(f64::from(c.codeword_bits()) / rate.0 + RS_DECODER_PIPELINE_NS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn kp4_parameters() {
        assert_eq!(ReedSolomon::KP4.t(), 15);
        assert_eq!(ReedSolomon::KR4.t(), 7);
        assert_eq!(ReedSolomon::KP4.codeword_bits(), 5440);
    }

    /// Golden (reference/photonics.md §2): pre-FEC 2.4e-4 gives post-FEC < 1e-12 with KP4.
    #[test]
    fn kp4_threshold_golden() {
        let post = Fec::Kp4.post_fec_ber(KP4_PRE_FEC_BER_THRESHOLD);
        assert!(post < 1e-12, "{post}");
        // Against the same binomial sum in mpmath (40 digits).
        assert!(rel(post, 2.412_093_89e-15) < 1e-6, "{post}");
    }

    #[test]
    fn kp4_matches_mpmath() {
        for (pre, post) in [
            (1e-4, 4.009_234_9e-21),
            (1e-3, 4.641_191_6e-7),
            (2e-3, 2.541_103_375e-4),
            (5e-3, 4.975_366_317e-3),
        ] {
            let got = Fec::Kp4.post_fec_ber(pre);
            assert!(rel(got, post) < 1e-6, "pre {pre}: {got} vs {post}");
        }
    }

    #[test]
    fn fec_edge_cases() {
        assert_eq!(Fec::Kp4.post_fec_ber(0.0), 0.0);
        assert_eq!(Fec::None.post_fec_ber(1e-5), 1e-5);
        assert!(Fec::Kp4.post_fec_ber(0.5) <= 0.5);
        assert!(Fec::Kp4.post_fec_ber(1.0) <= 1.0);
        assert!(Fec::Kp4.post_fec_ber(1e-300) < 1e-300);
    }

    #[test]
    fn threshold_inverse() {
        let th = Fec::Kp4.max_pre_fec_ber(1e-12).unwrap();
        assert!(th > KP4_PRE_FEC_BER_THRESHOLD, "{th}");
        assert!(rel(Fec::Kp4.post_fec_ber(th), 1e-12) < 1e-6);
        assert_eq!(Fec::None.max_pre_fec_ber(1e-12).unwrap(), 1e-12);
        assert!(Fec::Kp4.max_pre_fec_ber(0.0).is_err());
    }

    #[test]
    fn fec_latency() {
        // 5440 bits at 53.125 Gb/s = 102.4 ns, plus the decoder pipeline.
        let l = Fec::Kp4.latency(Gbps(53.125));
        assert!((l.0 - (102.4 + RS_DECODER_PIPELINE_NS)).abs() < 1e-9);
        assert_eq!(Fec::None.latency(Gbps(25.0)), Nanoseconds(0.0));
    }
}

//! Bit error rate: `erfc` / `erfcx`, the Gaussian tail Q-function, NRZ and PAM4 BER, and their
//! inverses.
//!
//! Deep-tail accuracy matters (corridors are judged at BER 1e-12 and below), so `erfc` is
//! computed without cancellation: a Maclaurin series for `erf` for |x| < 2 and a Lentz-evaluated
//! continued fraction for the scaled `erfcx(x) = exp(x²)·erfc(x)` beyond. Relative error is
//! below 1e-13 everywhere it is representable (tested against mpmath values).

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use serde::{Deserialize, Serialize};

use crate::error::{PhysicsError, Result};

/// Below this |x|, `erf` comes from its Maclaurin series; above, `erfcx` from a continued
/// fraction. At x = 2 the series needs ~30 terms and loses < 1e-13 relative in `erfc`; the
/// continued fraction needs < 100 iterations (numerically checked in tests).
const SERIES_LIMIT: f64 = 2.0;

/// 2/√π.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// erf(x) by its Maclaurin series, for |x| < `SERIES_LIMIT`.
fn erf_series(x: f64) -> f64 {
    // erf(x) = 2/√π · Σ (−1)ⁿ x^(2n+1) / (n!·(2n+1))
    let x2 = x * x;
    let mut power = x; // (−1)ⁿ x^(2n+1) / n!
    let mut sum = x;
    let mut n = 0.0;
    loop {
        n += 1.0;
        power *= -x2 / n;
        let term = power / (2.0 * n + 1.0);
        sum += term;
        if term.abs() <= sum.abs() * 1e-17 {
            break;
        }
    }
    TWO_OVER_SQRT_PI * sum
}

/// erfcx(x) = exp(x²)·erfc(x) for x ≥ `SERIES_LIMIT`, by the continued fraction
/// erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))),
/// evaluated with the modified Lentz algorithm (Numerical Recipes §5.2).
fn erfcx_cf(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = f;
    let mut d = 0.0;
    for j in 1..500 {
        let a = f64::from(j) * 0.5;
        d = x + a * d;
        if d == 0.0 {
            d = TINY;
        }
        c = x + a / c;
        if c == 0.0 {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    1.0 / (PI.sqrt() * f)
}

/// The error function.
#[must_use]
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.abs() < SERIES_LIMIT {
        erf_series(x)
    } else {
        x.signum() * (1.0 - erfc(x.abs()))
    }
}

/// The complementary error function, with good *relative* accuracy deep into the tail
/// (erfc(26) ≈ 5.7e-296 is still accurate; it underflows to 0 beyond x ≈ 27.2).
#[must_use]
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < SERIES_LIMIT {
        1.0 - erf_series(x)
    } else {
        (-x * x).exp() * erfcx_cf(x)
    }
}

/// The scaled complementary error function erfcx(x) = exp(x²)·erfc(x), which does not underflow
/// for large x (erfcx(x) ≈ 1/(x√π)).
#[must_use]
pub fn erfcx(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x >= SERIES_LIMIT {
        erfcx_cf(x)
    } else if x >= 0.0 {
        (x * x).exp() * (1.0 - erf_series(x))
    } else {
        // erfc(−x) = 2 − erfc(x)  ⇒  erfcx(−x) = 2·exp(x²) − erfcx(x). Overflows for x < −26.6.
        2.0 * (x * x).exp() - erfcx(-x)
    }
}

/// The Gaussian tail probability Q(x) = P(N(0,1) > x) = ½·erfc(x/√2).
#[must_use]
pub fn q_function(x: f64) -> f64 {
    0.5 * erfc(x * FRAC_1_SQRT_2)
}

/// NRZ (OOK) bit error rate for a decision Q factor: BER = ½·erfc(Q/√2)
/// (reference/photonics.md §2 BER). Q = 7.03 → 1.03e-12, Q = 6 → 9.87e-10, Q = 3.49 → 2.42e-4.
#[must_use]
pub fn ber_nrz(q: f64) -> f64 {
    q_function(q)
}

/// NRZ BER from electrical SNR (linear), with Q = √SNR.
#[must_use]
pub fn ber_nrz_from_snr(snr: f64) -> f64 {
    q_function(snr.max(0.0).sqrt())
}

/// Gray-coded PAM4 bit error rate for the Q of each of its three eyes (eye half-opening over
/// noise σ): BER = ¾·Q(q). Symbol error rate 2·(1 − 1/4)·Q(q), divided by 2 bits per symbol.
#[must_use]
pub fn ber_pam4(q_eye: f64) -> f64 {
    0.75 * q_function(q_eye)
}

/// Gray-coded PAM4 BER from electrical SNR (average signal power over noise, linear):
/// BER ≈ ¾·Q(√(SNR/5)) (reference/photonics.md §2 BER; levels ±1, ±3 have mean power 5).
#[must_use]
pub fn ber_pam4_from_snr(snr: f64) -> f64 {
    ber_pam4((snr.max(0.0) / 5.0).sqrt())
}

/// Finds x in `[lo, hi]` with `f(x) = target` for a monotone `f` by bisection. `decreasing` says
/// which way `f` goes. Returns an error if `target` is outside `[f(lo), f(hi)]`.
pub(crate) fn bisect(
    what: &'static str,
    f: impl Fn(f64) -> f64,
    mut lo: f64,
    mut hi: f64,
    target: f64,
    decreasing: bool,
) -> Result<f64> {
    let (f_lo, f_hi) = (f(lo), f(hi));
    let (min, max) = if decreasing {
        (f_hi, f_lo)
    } else {
        (f_lo, f_hi)
    };
    if !(target >= min && target <= max) {
        return Err(PhysicsError::TargetOutOfRange {
            what,
            target,
            lo: min,
            hi: max,
        });
    }
    // 200 halvings is far more than the 52 mantissa bits need; the loop stops once the
    // interval cannot shrink any further.
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let above = f(mid) > target;
        if above == decreasing {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// Largest Q the inverse functions search (Q(40) ≈ 3.7e-350 underflows, far below any target).
const Q_SEARCH_MAX: f64 = 38.0;

/// Line modulation of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Modulation {
    /// Two-level on-off keying (non-return-to-zero).
    Nrz,
    /// Four-level pulse-amplitude modulation, Gray coded.
    Pam4,
}

impl Modulation {
    /// Bits carried per symbol.
    #[must_use]
    pub const fn bits_per_symbol(self) -> u32 {
        match self {
            Self::Nrz => 1,
            Self::Pam4 => 2,
        }
    }

    /// Number of eyes stacked in the optical modulation amplitude (levels − 1). At equal
    /// optical modulation amplitude and noise, each PAM4 eye has a third of the NRZ opening,
    /// so its Q is a third of the NRZ Q (a 4.8 dB optical penalty).
    #[must_use]
    pub const fn eyes(self) -> u32 {
        match self {
            Self::Nrz => 1,
            Self::Pam4 => 3,
        }
    }

    /// BER for the Q of one eye.
    #[must_use]
    pub fn ber_from_q(self, q_eye: f64) -> f64 {
        match self {
            Self::Nrz => ber_nrz(q_eye),
            Self::Pam4 => ber_pam4(q_eye),
        }
    }

    /// BER from electrical SNR (linear).
    #[must_use]
    pub fn ber_from_snr(self, snr: f64) -> f64 {
        match self {
            Self::Nrz => ber_nrz_from_snr(snr),
            Self::Pam4 => ber_pam4_from_snr(snr),
        }
    }

    /// The per-eye Q needed for `target` BER, by bisection.
    ///
    /// # Errors
    /// `TargetOutOfRange` unless `0 < target ≤ BER(Q = 0)` (0.5 for NRZ, 0.375 for PAM4).
    pub fn q_for_ber(self, target: f64) -> Result<f64> {
        if !(target > 0.0) {
            return Err(PhysicsError::TargetOutOfRange {
                what: "BER (must be > 0)",
                target,
                lo: f64::MIN_POSITIVE,
                hi: self.ber_from_q(0.0),
            });
        }
        bisect(
            "BER over Q",
            |q| self.ber_from_q(q),
            0.0,
            Q_SEARCH_MAX,
            target,
            true,
        )
    }

    /// The electrical SNR (linear) needed for `target` BER.
    ///
    /// # Errors
    /// As [`Modulation::q_for_ber`].
    pub fn snr_for_ber(self, target: f64) -> Result<f64> {
        let q = self.q_for_ber(target)?;
        Ok(match self {
            Self::Nrz => q * q,
            Self::Pam4 => 5.0 * q * q,
        })
    }
}

impl std::fmt::Display for Modulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nrz => "NRZ",
            Self::Pam4 => "PAM4",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    /// erfc and erfcx against mpmath (40 digits).
    #[test]
    fn erfc_matches_mpmath() {
        let golden = [
            (0.1, 0.887_537_083_981_715_1, 0.896_456_979_969_126_6),
            (0.5, 0.479_500_122_186_953_46, 0.615_690_344_192_925_9),
            (1.0, 0.157_299_207_050_285_13, 0.427_583_576_155_807),
            (1.5, 0.033_894_853_524_689_273, 0.321_585_416_454_317_5),
            (2.0, 0.004_677_734_981_047_265_8, 0.255_395_676_310_505_74),
            (2.5, 0.000_406_952_017_444_958_94, 0.210_806_364_061_143_58),
            (3.0, 2.209_049_699_858_544_1e-5, 0.179_001_151_181_389_95),
            (4.0, 1.541_725_790_028_002e-8, 0.136_999_457_625_061_39),
            (5.0, 1.537_459_794_428_034_9e-12, 0.110_704_637_733_068_63),
            (6.0, 2.151_973_671_249_891_3e-17, 0.092_776_567_800_538_354),
            (8.0, 1.122_429_717_298_292_7e-29, 0.069_985_166_200_880_928),
            (10.0, 2.088_487_583_762_544_8e-45, 0.056_140_992_743_822_586),
            (
                15.0,
                7.212_994_172_451_206_7e-100,
                0.037_529_606_388_505_766,
            ),
            (
                20.0,
                5.395_865_611_607_900_9e-176,
                0.028_174_348_741_051_319,
            ),
            (
                26.0,
                5.663_192_408_856_142_8e-296,
                0.021_683_584_850_562_907,
            ),
        ];
        for (x, e, ex) in golden {
            assert!(rel(erfc(x), e) < 2e-13, "erfc({x}) = {} vs {e}", erfc(x));
            assert!(
                rel(erfcx(x), ex) < 1e-13,
                "erfcx({x}) = {} vs {ex}",
                erfcx(x)
            );
            assert!(rel(erfc(-x), 2.0 - e) < 1e-15);
            assert!(rel(erf(x), 1.0 - e) < 1e-13);
        }
        assert_eq!(erfc(0.0), 1.0);
        assert_eq!(erfc(40.0), 0.0);
        assert!(erfc(f64::NAN).is_nan());
    }

    #[test]
    fn erfc_is_continuous_at_the_switch() {
        let below = erfc(SERIES_LIMIT - 1e-12);
        let above = erfc(SERIES_LIMIT);
        assert!(rel(below, above) < 1e-11);
    }

    /// reference/photonics.md §2 BER: Q = 7.03 → 1e-12, Q = 6 → 1e-9, Q = 3.49 → 2.4e-4.
    #[test]
    fn nrz_ber_goldens() {
        // Exact values (mpmath): Q(7.03) = 1.0327e-12, so "1e-12" is a rounded figure; the Q
        // for exactly 1e-12 is 7.0345.
        assert!(rel(ber_nrz(7.03), 1.032_667_691_294_268e-12) < 1e-10);
        assert!(rel(ber_nrz(7.034_483), 1e-12) < 0.02);
        assert!(rel(ber_nrz(6.0), 9.87e-10) < 0.02);
        assert!(rel(ber_nrz(6.0), 9.865_876_450_376_981e-10) < 1e-11);
        assert!(rel(ber_nrz(3.49), 2.4e-4) < 0.02);
        assert!(rel(ber_nrz(3.49), 2.415_102_735_678_36e-4) < 1e-12);
    }

    /// reference/photonics.md §2 BER: PAM4 needs 17.7 dB SNR for 2.4e-4 and 23.9 dB for 1e-12;
    /// NRZ needs 10.9 dB and 16.9 dB. Values from mpmath at those (rounded) SNRs.
    #[test]
    fn snr_goldens() {
        let snr = |db: f64| 10f64.powf(db / 10.0);
        assert!(rel(ber_pam4_from_snr(snr(17.7)), 2.248_917_631_814_152e-4) < 1e-10);
        assert!(rel(ber_pam4_from_snr(snr(23.9)), 9.148_620_154_448_124e-13) < 1e-10);
        assert!(rel(ber_nrz_from_snr(snr(10.9)), 2.261_532_479_408_58e-4) < 1e-10);
        assert!(rel(ber_nrz_from_snr(snr(16.9)), 1.294_325_874_086_07e-12) < 1e-10);
        // And the inverses land within 0.1 dB of the quoted SNRs.
        let db = |x: f64| 10.0 * x.log10();
        assert!((db(Modulation::Pam4.snr_for_ber(2.4e-4).unwrap()) - 17.7).abs() < 0.1);
        assert!((db(Modulation::Pam4.snr_for_ber(1e-12).unwrap()) - 23.9).abs() < 0.1);
        assert!((db(Modulation::Nrz.snr_for_ber(2.4e-4).unwrap()) - 10.9).abs() < 0.1);
        assert!((db(Modulation::Nrz.snr_for_ber(1e-12).unwrap()) - 16.9).abs() < 0.1);
    }

    #[test]
    fn inverse_q() {
        let q = Modulation::Nrz.q_for_ber(1e-12).unwrap();
        assert!((q - 7.034_483).abs() < 1e-5, "{q}");
        let q = Modulation::Nrz.q_for_ber(2.4e-4).unwrap();
        assert!((q - 3.49).abs() < 0.01, "{q}");
        assert!(Modulation::Nrz.q_for_ber(0.6).is_err());
        assert!(Modulation::Pam4.q_for_ber(0.4).is_err());
        assert!(Modulation::Nrz.q_for_ber(0.0).is_err());
        assert!(Modulation::Nrz.q_for_ber(f64::NAN).is_err());
    }
}

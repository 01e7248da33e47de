//! The CMIS VDM "F16" number format: `m·10^(e−24)` with `e` = bits 15–11 (0–31) and
//! `m` = bits 10–0 (0–2047); unsigned. Source: `reference/photonics.md` §1 "VDM" (SONiC
//! `api/public/cmisVDM.py`), OIF CMIS 5.x §8.20 (VDM observable encodings).
//!
//! Range: 0, then 1·10⁻²⁴ … 2047·10⁷. [`encode`] picks the smallest exponent whose rounded
//! mantissa still fits in 11 bits, which keeps the most significant digits; any value encoded
//! with `e > 0` then has `m ≥ 205`, so the relative rounding error is below 0.25 %.

use super::error::{CmisError, Result};

/// Largest mantissa (11 bits).
pub const MAX_MANTISSA: u16 = 0x07FF;
/// Largest exponent field (5 bits).
pub const MAX_EXPONENT: u8 = 31;
/// Exponent bias: value = m·10^(e − BIAS).
pub const EXPONENT_BIAS: i32 = 24;
/// Largest representable value, 2047·10⁷.
pub const MAX_VALUE: f64 = 2047.0e7;
/// Smallest non-zero value, 1·10⁻²⁴ (m = 1, e = 0): the floor of any BER a module reports in
/// F16. A smaller rate cannot be told from it, so it reads as "at most this".
pub const MIN_STEP: f64 = 1e-24;

/// 10^k for k = 0..=24 (exact in f64 up to 10^22).
fn pow10(k: i32) -> f64 {
    10f64.powi(k)
}

/// `x.round()` (half away from zero), bit for bit, without the libm call: on x86-64 without
/// SSE4.1 `f64::round` is a software routine, and the encoders round on every monitor write.
#[inline]
pub(crate) fn round(x: f64) -> f64 {
    let a = x.abs();
    // NaN, infinities and |x| ≥ 2^52 are already integral (or not numbers): as `round`.
    if a.is_nan() || a >= 4_503_599_627_370_496.0 {
        return x;
    }
    // Truncation is exact here (hardware cvttsd2si), and so is the fraction a − t.
    let t = a as i64 as f64;
    let r = if a - t >= 0.5 { t + 1.0 } else { t };
    r.copysign(x)
}

/// Splits a raw F16 word into (exponent, mantissa).
pub const fn split(raw: u16) -> (u8, u16) {
    ((raw >> 11) as u8, raw & MAX_MANTISSA)
}

/// Builds a raw F16 word from (exponent ≤ 31, mantissa ≤ 2047); extra bits are masked.
pub const fn join(exponent: u8, mantissa: u16) -> u16 {
    (((exponent & 0x1F) as u16) << 11) | (mantissa & MAX_MANTISSA)
}

/// Decodes a raw F16 word. Total: every 16-bit pattern is a value.
pub fn decode(raw: u16) -> f64 {
    let (e, m) = split(raw);
    let k = i32::from(e) - EXPONENT_BIAS;
    if k >= 0 {
        f64::from(m) * pow10(k)
    } else {
        f64::from(m) / pow10(-k)
    }
}

/// Encodes `value` with the exponent that keeps the most precision. Values below half the
/// smallest step (0.5·10⁻²⁴) encode as 0.
pub fn encode(value: f64) -> Result<u16> {
    if !value.is_finite() || value < 0.0 {
        return Err(CmisError::F16Unrepresentable { value });
    }
    for e in first_exponent(value)..=MAX_EXPONENT {
        let k = i32::from(e) - EXPONENT_BIAS;
        let scaled = if k >= 0 {
            value / pow10(k)
        } else {
            value * pow10(-k)
        };
        let m = round(scaled);
        if m <= f64::from(MAX_MANTISSA) {
            return Ok(join(e, m as u16));
        }
    }
    Err(CmisError::F16Unrepresentable { value })
}

/// The first exponent [`encode`] needs to try for `value` (finite, ≥ 0): every smaller one
/// gives `value·10^(24−e) ≥ 2048·(1 + 2·10⁻⁶)`, whose rounded mantissa cannot fit (the margin
/// dwarfs the error of `log10` and of the scaling), so starting here returns what trying
/// from 0 returns, without a dozen `powi` calls and roundings.
fn first_exponent(value: f64) -> u8 {
    // e is skippable when log10(value) + 24 − e ≥ log10(2048) + margin.
    let last_skippable = value.log10() + f64::from(EXPONENT_BIAS) - 2048f64.log10() - 1e-6;
    if last_skippable.is_nan() || last_skippable < 0.0 {
        return 0;
    }
    (last_skippable.floor() + 1.0).min(f64::from(MAX_EXPONENT)) as u8
}

/// Like [`encode`] but clamps: negatives and NaN give 0, too large gives the maximum.
pub fn encode_saturating(value: f64) -> u16 {
    if value.is_nan() || value <= 0.0 {
        return 0;
    }
    encode(value).unwrap_or(join(MAX_EXPONENT, MAX_MANTISSA))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`encode`] as it was: every exponent from 0.
    fn encode_from_zero(value: f64) -> Result<u16> {
        if !value.is_finite() || value < 0.0 {
            return Err(CmisError::F16Unrepresentable { value });
        }
        for e in 0..=MAX_EXPONENT {
            let k = i32::from(e) - EXPONENT_BIAS;
            let scaled = if k >= 0 {
                value / pow10(k)
            } else {
                value * pow10(-k)
            };
            let m = scaled.round();
            if m <= f64::from(MAX_MANTISSA) {
                return Ok(join(e, m as u16));
            }
        }
        Err(CmisError::F16Unrepresentable { value })
    }

    #[test]
    fn min_step_is_the_smallest_nonzero_code() {
        // 1/10^24 in f64 is one ulp above the literal 1e-24.
        assert!((decode(join(0, 1)) - MIN_STEP).abs() <= MIN_STEP * 1e-15);
        assert_eq!(encode(MIN_STEP).unwrap(), join(0, 1));
    }

    #[test]
    fn encode_starts_where_trying_from_zero_would_succeed() {
        let mut cases = vec![
            0.0, 5e-25, 1e-24, 2047.0, 2047.5, 2048.0, MAX_VALUE, 2.1e10, 1e300,
        ];
        for e in 0..=MAX_EXPONENT {
            for m in [0u16, 1, 204, 205, 2046, 2047] {
                let v = decode(join(e, m));
                cases.extend([
                    v,
                    v * (1.0 + 1e-12),
                    v * (1.0 - 1e-12),
                    v + 0.5 * decode(join(e, 1)),
                ]);
            }
        }
        let mut z = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..200_000 {
            z = z
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1442695040888963407);
            // log-uniform over 1e-26 … 1e12
            let u = (z >> 11) as f64 / (1u64 << 53) as f64;
            cases.push(10f64.powf(-26.0 + 38.0 * u));
        }
        for v in cases {
            assert_eq!(encode(v).ok(), encode_from_zero(v).ok(), "{v}");
        }
    }

    #[test]
    fn round_is_f64_round() {
        let mut cases = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.499_999_999_999_999_94,
            -0.499_999_999_999_999_94,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9.007_199_254_740_993e15,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut z = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            z = z.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            cases.push(f64::from_bits(z));
            cases.push((z >> 11) as f64 / 1024.0 - 4e12);
        }
        for x in cases {
            let (a, b) = (round(x), x.round());
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{x}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn golden() {
        assert_eq!(decode(0x0000), 0.0);
        assert_eq!(encode(0.0).unwrap(), 0x0000);
        // e = 24, m = 1 → 1.0
        assert_eq!(decode(join(24, 1)), 1.0);
        assert_eq!(decode(0xFFFF), MAX_VALUE);
        // 2.4e-4 = 240·10^-6 → e = 18 (smallest exponent with m ≤ 2047 is 2400·10^-7? no:
        // 2400 > 2047, so m = 240, e = 24−6 = 18).
        let raw = encode(2.4e-4).unwrap();
        assert_eq!(raw, join(18, 240));
        assert_eq!(raw, 0x90F0);
        assert!((decode(raw) - 2.4e-4).abs() < 1e-18);
    }

    #[test]
    fn rejects() {
        assert!(encode(-1.0).is_err());
        assert!(encode(f64::NAN).is_err());
        assert!(encode(f64::INFINITY).is_err());
        assert!(encode(2048.0e7).is_err());
        assert_eq!(encode_saturating(1e30), 0xFFFF);
        assert_eq!(encode_saturating(-3.0), 0);
    }
}

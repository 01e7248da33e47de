//! Modulator bias: sweep for the bias of least pre-FEC BER (the eye's best operating point on
//! the ring's Lorentzian slope), then the tracker perturbs and observes
//! ([`crate::track::TrackerSettings::bias_every`]).

use corridor_hal::optical::RingBank;

use crate::error::Result;

/// Coarse-then-fine sweep of lane `ring`'s bias over `[−max_reverse_mv, 0]` mV (coarse
/// `coarse_mv` steps, then ±`coarse_mv` around the best in `fine_mv` steps), leaving the
/// bias at the best point; returns it, mV. BER is compared in log10 (it spans decades).
///
/// # Errors
/// The bank's.
pub fn sweep_bias(
    bank: &mut dyn RingBank,
    ring: usize,
    max_reverse_mv: i16,
    coarse_mv: i16,
    fine_mv: i16,
    settle_us: f64,
) -> Result<i16> {
    let probe = |bank: &mut dyn RingBank, mv: i16| -> Result<f64> {
        bank.set_bias_mv(ring, mv)?;
        bank.wait_us(settle_us);
        Ok(bank.read(ring)?.pre_fec_ber().max(1e-30).log10())
    };
    let mut best = (f64::INFINITY, 0i16);
    let mut mv = 0i16;
    while mv >= -max_reverse_mv {
        let b = probe(bank, mv)?;
        if b < best.0 {
            best = (b, mv);
        }
        mv = mv.saturating_sub(coarse_mv);
    }
    let centre = best.1;
    let mut mv = centre.saturating_add(coarse_mv).min(0);
    let lo = centre.saturating_sub(coarse_mv).max(-max_reverse_mv);
    while mv >= lo {
        let b = probe(bank, mv)?;
        if b < best.0 {
            best = (b, mv);
        }
        mv = mv.saturating_sub(fine_mv);
    }
    bank.set_bias_mv(ring, best.1)?;
    Ok(best.1)
}

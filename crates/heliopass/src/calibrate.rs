//! Initial calibration (US20260177846A1, photonics.md §3): sweep each ring's heater from high
//! to low with the other rings parked, record the drop-port peaks on the monitor photodiode,
//! tell the lanes apart, measure the thermal crosstalk matrix K (ΔT = K·P; thermal eigenmode
//! decomposition, Milanizadeh et al., JLT 2019), assign rings to lanes without collisions at
//! the least total heater power, and solve for the heater powers.

use corridor_hal::optical::RingBank;
use corridor_protocols::cmis::LockState;

use crate::assign::{Plan, assign};
use crate::design::Design;
use crate::error::{HelioError, Result};
use crate::linalg::{Matrix, invert};

/// Knobs of the calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSettings {
    /// Coarse sweep step, in linewidths (0.2: five samples per FWHM).
    pub sweep_step_linewidths: f64,
    /// Dwell per coarse sample, µs (5 heater time constants of ~5 µs: the lag bias is small).
    pub sweep_dwell_us: f64,
    /// Heater power on the heated ring while measuring K, mW.
    pub crosstalk_test_mw: f64,
    /// Fine sweep step while measuring K, mW.
    pub fine_step_mw: f64,
    /// Dwell per fine sample, µs (the lag bias is the same with and without the test heat and
    /// cancels in the difference).
    pub fine_dwell_us: f64,
    /// Largest crosstalk coefficient the fine window covers.
    pub max_crosstalk: f64,
    /// Warming every heater must be able to follow by lowering its power, K (MIT/Watts
    /// re-lock over ±10 °C, photonics.md §3): headroom η·dλ/dT·ΔT ≈ 0.44 mW at 10 K.
    pub headroom_k: f64,
}

impl Default for CalibrationSettings {
    fn default() -> Self {
        Self {
            sweep_step_linewidths: 0.2,
            sweep_dwell_us: 25.0,
            crosstalk_test_mw: 2.0,
            fine_step_mw: 0.002,
            fine_dwell_us: 10.0,
            max_crosstalk: 0.3,
            headroom_k: 10.0,
        }
    }
}

/// A drop-port peak found in a sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Own-heater power at the peak (parabolic refinement), mW.
    pub heater_mw: f64,
    /// Monitor current at the peak, µA.
    pub pd_ua: f64,
    /// Full width at half maximum, mW of heater.
    pub fwhm_mw: f64,
}

/// What the sweep of one ring found.
#[derive(Debug, Clone, PartialEq)]
pub struct RingSurvey {
    /// Ring index.
    pub ring: usize,
    /// Own-heater power (others parked) putting the ring on each lane, lowest FSR order, mW.
    pub lane_mw: Vec<f64>,
    /// Measured heater efficiency (peak spacing over grid spacing), mW/nm.
    pub heater_mw_per_nm: f64,
    /// Own-heater power that moves the ring by one free spectral range, mW: what taking the
    /// next resonance order costs. Measured from the sweep (see [`survey_ring`]); the design
    /// FSR × the measured efficiency only when the sweep met no wrap.
    pub fsr_mw: f64,
    /// Mean peak monitor current, µA.
    pub peak_ua: f64,
    /// Measured linewidth, nm.
    pub linewidth_nm: f64,
}

/// The result of an initial calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Per ring survey.
    pub surveys: Vec<RingSurvey>,
    /// Measured crosstalk K (row: ring shifted, column: heater), heater-equivalent fraction.
    pub crosstalk: Matrix,
    /// K⁻¹.
    pub crosstalk_inv: Matrix,
    /// The assignment and heater powers.
    pub plan: Plan,
    /// Bank temperature during the calibration, °C.
    pub temperature_c: f64,
    /// Control time the calibration took, µs.
    pub elapsed_us: f64,
}

/// Sets ring `ring`'s heater to `mw` (DAC-quantised).
///
/// # Errors
/// The bank's.
pub fn set_heater(bank: &mut dyn RingBank, ring: usize, mw: f64) -> Result<()> {
    let code = bank.header().heater_code(mw);
    bank.set_heater_code(ring, code)?;
    Ok(())
}

/// Sweeps ring `ring` from `from_mw` to `to_mw` (either direction) in `step_mw`, dwelling
/// `dwell_us` per sample (after ten dwells at the start); returns (setpoint mW, monitor µA)
/// sorted by setpoint.
///
/// # Errors
/// The bank's.
pub fn sweep(
    bank: &mut dyn RingBank,
    ring: usize,
    from_mw: f64,
    to_mw: f64,
    step_mw: f64,
    dwell_us: f64,
) -> Result<Vec<(f64, f64)>> {
    let h = bank.header();
    let n = ((to_mw - from_mw).abs() / step_mw).ceil() as usize + 1;
    let dir = (to_mw - from_mw).signum();
    let mut out = Vec::with_capacity(n);
    // Let the heater reach the start before the first sample (it may come from far away).
    bank.set_heater_code(ring, h.heater_code(from_mw.max(0.0)))?;
    bank.wait_us(10.0 * dwell_us);
    for k in 0..n {
        let mw = (from_mw + dir * step_mw * k as f64).max(0.0);
        let code = h.heater_code(mw);
        bank.set_heater_code(ring, code)?;
        bank.wait_us(dwell_us);
        let r = bank.read(ring)?;
        out.push((h.heater_mw(code), h.pd_ua(r.pd_code)));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

/// Local maxima above `threshold_frac` of the largest sample, at least `min_sep_mw` apart,
/// refined by a parabola through the three samples around each.
#[must_use]
pub fn find_peaks(samples: &[(f64, f64)], threshold_frac: f64, min_sep_mw: f64) -> Vec<Peak> {
    let max = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let thr = max * threshold_frac;
    let mut peaks: Vec<Peak> = Vec::new();
    for k in 1..samples.len().saturating_sub(1) {
        let (x, y) = samples[k];
        if y < thr || y < samples[k - 1].1 || y < samples[k + 1].1 {
            continue;
        }
        // Strict maximum within ±min_sep/2 (plateaus of equal codes keep the first).
        let window = samples
            .iter()
            .filter(|s| (s.0 - x).abs() <= min_sep_mw / 2.0)
            .map(|s| s.1)
            .fold(0.0, f64::max);
        if y < window {
            continue;
        }
        if peaks.last().is_some_and(|p| x - p.heater_mw < min_sep_mw) {
            continue;
        }
        let (x0, y0) = samples[k - 1];
        let (x2, y2) = samples[k + 1];
        let denom = y0 - 2.0 * y + y2;
        let h = (x2 - x0) / 2.0;
        let refined = if denom.abs() > 1e-12 {
            x + h * (y0 - y2) / (2.0 * denom)
        } else {
            x
        };
        // FWHM: walk out to half the peak on both sides, interpolating the crossings.
        let half = y / 2.0;
        let cross = |a: (f64, f64), b: (f64, f64)| a.0 + (half - a.1) * (b.0 - a.0) / (b.1 - a.1);
        let left = (1..=k)
            .rev()
            .find(|&m| samples[m - 1].1 < half)
            .map(|m| cross(samples[m - 1], samples[m]));
        let right = (k..samples.len() - 1)
            .find(|&m| samples[m + 1].1 < half)
            .map(|m| cross(samples[m], samples[m + 1]));
        let fwhm = match (left, right) {
            (Some(l), Some(r)) => r - l,
            _ => f64::NAN,
        };
        peaks.push(Peak {
            heater_mw: refined,
            pd_ua: y,
            fwhm_mw: fwhm,
        });
    }
    peaks
}

/// Sweeps ring `ring` (others parked at 0) over one FSR and a lane and a half, high to low,
/// and identifies which peak is which lane.
///
/// Identification: a red-shifting ring meets the lanes blue to red, then wraps by an FSR. The
/// largest gap between consecutive peaks (> 3 lane spacings) is that wrap; walking away from
/// it names every peak. Without a wrap in the sweep there must be exactly one peak per lane.
///
/// The ring's FSR in heater power: a lane met twice (once per resonance order) is one FSR
/// apart exactly; otherwise the wrap gap spans one FSR less the grid's width from the bluest
/// to the reddest lane, which the measured efficiency converts (the grid is exact, and the
/// efficiency's error then acts on a few nm, not on the whole FSR). The design FSR differs
/// from a unit's by its group index and its lane's wavelength (λ²/n_g·L).
///
/// # Errors
/// [`HelioError::TooFewPeaks`] if some lane is missing, or the bank's errors.
pub fn survey_ring(
    bank: &mut dyn RingBank,
    design: &Design,
    s: &CalibrationSettings,
    ring: usize,
) -> Result<RingSurvey> {
    let n = design.lanes();
    let order = design.lanes_blue_to_red();
    let spacing_nm = if n > 1 {
        (design.lane_nm[order[n - 1]] - design.lane_nm[order[0]]) / (n - 1) as f64
    } else {
        design.fsr_nm
    };
    let eff = design.heater_mw_per_nm;
    let span_mw = (design.fsr_nm + 1.5 * spacing_nm) * eff * 1.1;
    let step_mw = s.sweep_step_linewidths * design.linewidth_nm * eff;
    bank.set_lock_state(ring, LockState::Acquiring)?;
    let samples = sweep(bank, ring, span_mw, 0.0, step_mw, s.sweep_dwell_us)?;
    set_heater(bank, ring, 0.0)?;
    bank.set_lock_state(ring, LockState::Parked)?;
    let peaks = find_peaks(&samples, 0.3, spacing_nm * eff * 0.5);
    if peaks.len() < n {
        return Err(HelioError::TooFewPeaks {
            ring,
            found: peaks.len(),
            needed: n,
        });
    }
    // Name every peak by its lane.
    let gaps: Vec<f64> = peaks
        .windows(2)
        .map(|w| w[1].heater_mw - w[0].heater_mw)
        .collect();
    let wrap = gaps
        .iter()
        .enumerate()
        .filter(|(_, g)| **g > 3.0 * spacing_nm * eff)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k);
    let mut lane_of_peak = vec![0usize; peaks.len()];
    match wrap {
        Some(k) => {
            // Peak k is the reddest lane, k+1 the bluest.
            for (p, lane) in lane_of_peak.iter_mut().enumerate() {
                let pos = if p > k {
                    (p - k - 1) as isize
                } else {
                    n as isize - 1 - (k - p) as isize
                };
                *lane = order[pos.rem_euclid(n as isize) as usize];
            }
        }
        None if peaks.len() == n => {
            for (p, lane) in lane_of_peak.iter_mut().enumerate() {
                *lane = order[p];
            }
        }
        None => {
            return Err(HelioError::TooFewPeaks {
                ring,
                found: peaks.len(),
                needed: n,
            });
        }
    }
    let mut lane_mw = vec![f64::INFINITY; n];
    for (p, &lane) in peaks.iter().zip(&lane_of_peak) {
        lane_mw[lane] = lane_mw[lane].min(p.heater_mw);
    }
    if lane_mw.iter().any(|v| !v.is_finite()) {
        return Err(HelioError::TooFewPeaks {
            ring,
            found: peaks.len(),
            needed: n,
        });
    }
    // Efficiency from neighbouring lanes met in a row (their grid spacing is exact).
    let mut ratios = Vec::new();
    for (w, l) in peaks.windows(2).zip(lane_of_peak.windows(2)) {
        let dl = design.lane_nm[l[1]] - design.lane_nm[l[0]];
        if dl > 0.0 && dl < 1.5 * spacing_nm {
            ratios.push((w[1].heater_mw - w[0].heater_mw) / dl);
        }
    }
    let heater_mw_per_nm = if ratios.is_empty() {
        eff
    } else {
        ratios.iter().sum::<f64>() / ratios.len() as f64
    };
    let widths: Vec<f64> = peaks
        .iter()
        .filter(|p| p.fwhm_mw.is_finite())
        .map(|p| p.fwhm_mw)
        .collect();
    let linewidth_nm = if widths.is_empty() {
        design.linewidth_nm
    } else {
        widths.iter().sum::<f64>() / widths.len() as f64 / heater_mw_per_nm
    };
    let peak_ua = peaks.iter().map(|p| p.pd_ua).sum::<f64>() / peaks.len() as f64;
    let fsr_mw = measured_fsr_mw(&peaks, &lane_of_peak, wrap, design, heater_mw_per_nm);
    Ok(RingSurvey {
        ring,
        lane_mw,
        heater_mw_per_nm,
        fsr_mw,
        peak_ua,
        linewidth_nm,
    })
}

/// One FSR of ring heater power, mW, from a survey's named peaks (see [`survey_ring`]).
fn measured_fsr_mw(
    peaks: &[Peak],
    lane_of_peak: &[usize],
    wrap: Option<usize>,
    design: &Design,
    heater_mw_per_nm: f64,
) -> f64 {
    // The same lane in two orders.
    let twice: Vec<f64> = lane_of_peak
        .iter()
        .enumerate()
        .filter_map(|(a, lane)| {
            lane_of_peak[a + 1..]
                .iter()
                .position(|l| l == lane)
                .map(|b| peaks[a + 1 + b].heater_mw - peaks[a].heater_mw)
        })
        .collect();
    if !twice.is_empty() {
        return twice.iter().sum::<f64>() / twice.len() as f64;
    }
    match wrap {
        Some(k) if k + 1 < peaks.len() => {
            let order = design.lanes_blue_to_red();
            let width_nm = design.lane_nm[order[order.len() - 1]] - design.lane_nm[order[0]];
            peaks[k + 1].heater_mw - peaks[k].heater_mw + width_nm * heater_mw_per_nm
        }
        _ => design.fsr_nm * heater_mw_per_nm,
    }
}

/// Fine sweep of ring `ring` from `hi` down to `lo` mW; the refined peak, mW.
fn fine_peak(
    bank: &mut dyn RingBank,
    ring: usize,
    hi: f64,
    lo: f64,
    s: &CalibrationSettings,
) -> Result<f64> {
    let samples = sweep(bank, ring, hi, lo, s.fine_step_mw, s.fine_dwell_us)?;
    set_heater(bank, ring, 0.0)?;
    let best = samples
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
        .map(|(k, _)| k)
        .unwrap_or(0);
    if best == 0 || best + 1 >= samples.len() {
        return Err(HelioError::PeakLost {
            ring,
            around_mw: (hi + lo) / 2.0,
            window_mw: (hi - lo) / 2.0,
        });
    }
    // Centroid of the top of the peak (above 80 %): robust to code plateaus and noise.
    let top = samples[best].1 * 0.8;
    let lo = samples[..best]
        .iter()
        .rposition(|v| v.1 < top)
        .map_or(0, |k| k + 1);
    let hi = samples[best..]
        .iter()
        .position(|v| v.1 < top)
        .map_or(samples.len(), |k| best + k);
    let (num, den) = samples[lo..hi].iter().fold((0.0, 0.0), |(n, d), v| {
        (n + v.0 * (v.1 - top), d + (v.1 - top))
    });
    Ok(if den > 0.0 {
        num / den
    } else {
        samples[best].0
    })
}

/// Measures K: heat ring j alone up to [`CalibrationSettings::crosstalk_test_mw`] in
/// [`CROSSTALK_INCREMENTS`] increments, following every other ring's peak with a narrow fine
/// sweep after each (narrow, so it can never jump to the next lane's peak one lane spacing
/// away); `K_ij = (p0_i − p_i)/P_test` in own-heater power.
///
/// # Errors
/// [`HelioError::PeakLost`] or the bank's.
pub fn measure_crosstalk(
    bank: &mut dyn RingBank,
    surveys: &[RingSurvey],
    s: &CalibrationSettings,
) -> Result<Matrix> {
    let n = surveys.len();
    let inc = s.crosstalk_test_mw / f64::from(CROSSTALK_INCREMENTS);
    let reach = s.max_crosstalk * inc;
    let margin = 0.03;
    // A reference peak per ring with room below it for the whole shift.
    let refs: Vec<f64> = surveys
        .iter()
        .map(|sv| {
            sv.lane_mw
                .iter()
                .copied()
                .filter(|&p| p > s.max_crosstalk * s.crosstalk_test_mw + 0.1)
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let base = refs
        .iter()
        .enumerate()
        .map(|(i, &r)| fine_peak(bank, i, r + margin, r - margin, s))
        .collect::<Result<Vec<f64>>>()?;
    let mut k = crate::linalg::identity(n);
    for j in 0..n {
        let mut at = base.clone();
        for step in 1..=CROSSTALK_INCREMENTS {
            set_heater(bank, j, inc * f64::from(step))?;
            bank.wait_us(10.0 * s.fine_dwell_us);
            for i in (0..n).filter(|&i| i != j) {
                at[i] = fine_peak(bank, i, at[i] + margin, at[i] - reach - margin, s)?;
            }
        }
        for (i, row) in k.iter_mut().enumerate().filter(|(i, _)| *i != j) {
            row[j] = (base[i] - at[i]) / s.crosstalk_test_mw;
        }
        set_heater(bank, j, 0.0)?;
        bank.wait_us(10.0 * s.fine_dwell_us);
    }
    Ok(k)
}

/// Increments in which [`measure_crosstalk`] raises the test heater.
pub const CROSSTALK_INCREMENTS: u32 = 4;

/// The full initial calibration: survey every ring, measure K, assign, solve, apply.
///
/// The heaters end at the plan's powers with every ring marked [`LockState::Acquiring`]; the
/// tracker ([`crate::track::Tracker::from_calibration`]) takes it from there.
///
/// # Errors
/// Any step's.
pub fn calibrate(
    bank: &mut dyn RingBank,
    design: &Design,
    s: &CalibrationSettings,
) -> Result<Calibration> {
    let start = bank.elapsed_us();
    let n = bank.rings().min(design.lanes());
    for i in 0..n {
        set_heater(bank, i, 0.0)?;
    }
    bank.wait_us(100.0);
    let temperature_c = bank.read(0)?.temperature_c();
    let surveys = (0..n)
        .map(|i| survey_ring(bank, design, s, i))
        .collect::<Result<Vec<_>>>()?;
    let crosstalk = measure_crosstalk(bank, &surveys, s)?;
    let crosstalk_inv = invert(&crosstalk)?;
    let costs: Vec<Vec<f64>> = surveys.iter().map(|sv| sv.lane_mw.clone()).collect();
    let fsr_mw: Vec<f64> = surveys.iter().map(|sv| sv.fsr_mw).collect();
    let plan = assign(
        &costs,
        &crosstalk_inv,
        &fsr_mw,
        s.headroom_k * design.drift_nm_per_k * design.heater_mw_per_nm,
        bank.header().heater_full_scale_mw(),
    )?;
    for (i, &p) in plan.heater_mw.iter().enumerate() {
        set_heater(bank, i, p)?;
        bank.set_lock_state(i, LockState::Acquiring)?;
    }
    bank.wait_us(50.0);
    Ok(Calibration {
        surveys,
        crosstalk,
        crosstalk_inv,
        plan,
        temperature_c,
        elapsed_us: bank.elapsed_us() - start,
    })
}

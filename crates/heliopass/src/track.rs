//! Tracking: dither / lock-in error signal and a PI loop per ring (Padmaraju et al., Optics
//! Express 21:14342, 2013; photonics.md §3), thermal feed-forward from the bank's temperature
//! sensor (0.08 nm/K, MIT), crosstalk decoupling through the measured K⁻¹, anti-windup, and a
//! power-monitor search when lock is lost (MIT/Watts: lock back in ~200 µs for ±10 °C).
//!
//! # The error signal
//!
//! Each control period the heaters step up by one DAC code for half a period and down by one
//! for the other half (a square-wave dither); the monitor current is sampled at the end of
//! each half. Near the drop peak the Lorentzian `L = 1/(1 + (2δ/w)²)` gives
//! `(I₊ − I₋)/(I₊ + I₋) ≈ −8·s·δ/w²` for a dither of ±s nm, so the detuning estimate is
//! `δ̂ = −e·w²/(8s)` with `w` the measured linewidth and `s` the dither the ring sees (its own
//! code step plus its neighbours', through the measured K). This is the lock-in product with
//! a square-wave reference over one period.
//!
//! # The loop
//!
//! The controller works on own-heater-equivalent powers `u` (what each ring would need with
//! no crosstalk): `u_i = I_i + Kp·c_i`, `I_i += Ki·c_i`, `c_i = −η_i·δ̂_i`; the heaters get
//! `P = K⁻¹·u`. Anti-windup: a heater clamped at 0 or full scale stops its integrator moving
//! further that way (conditional integration), so `I` stays within the reachable range.
//!
//! # Resonance orders
//!
//! A ring resonates every FSR (≈ 18 nm here, ≈ 10 mW of heater). The tracker predicts the
//! power each ring's own lane needs (the calibration's plan moved by every feed-forward). When
//! that prediction leaves the heater's range — a warming of tens of kelvin red-shifts the ring
//! past its lane and a heater can only heat — the ring takes its neighbouring order, one
//! measured FSR of heater away ([`crate::calibrate::RingSurvey::fsr_mw`]), and acquires there.
//! Only a ring whose lane is out of reach in every order (a dead heater, a range smaller than
//! an FSR) stays acquiring until the service hands the lane over.

use corridor_hal::optical::RingBank;
use corridor_protocols::cmis::LockState;

use crate::calibrate::{Calibration, set_heater};
use crate::design::Design;
use crate::error::Result;
use crate::linalg::{Matrix, mul_vec};

/// Knobs of the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerSettings {
    /// Control period while locked, µs (100 = 10 kHz).
    pub period_us: f64,
    /// Control period while any ring is acquiring, µs.
    pub acquire_period_us: f64,
    /// Dither amplitude, DAC codes.
    pub dither_codes: u16,
    /// Proportional gain (fraction of the estimated correction applied at once). With the
    /// integral gain, chosen on the twin: higher gains overshoot (kp 0.3/ki 0.5 relocked in
    /// 190 µs mean, 220 µs max after +10 K; 0.1/0.3 in 145/180 µs), as the small-signal
    /// estimate over-reads while the heater still settles. (Measured before a step's
    /// feed-forward moved to the half period with a settle; see
    /// [`TrackerSettings::acquire_ki`].)
    pub kp: f64,
    /// Integral gain per period.
    pub ki: f64,
    /// Integral gain per period while a ring is acquiring. After a step's feed-forward the
    /// residual is a near-constant offset (the ring's dλ/dT is the design's ± 3 %: up to
    /// ~24 pm for 10 K), which the integrator removes; with the heaters settled first
    /// ([`TrackerSettings::jump_settle_us`]) the estimate is sound and kp + this < 1 does not
    /// overshoot. Worst relock after −10 K (BENCHMARKS.md, 2026-12-04): 0.3 (= `ki`) 230 µs
    /// on the benchmark's seeds; 0.6 190 µs there but 230 µs on seed 11; 0.8 150 µs there and
    /// 190 µs over 12 other seeds — the 200 µs with little to spare.
    pub acquire_ki: f64,
    /// Monitor level (fraction of the calibrated peak) below which a ring counts as unlocked.
    pub lost_level: f64,
    /// Consecutive periods below [`TrackerSettings::lost_level`] before declaring loss.
    pub lost_periods: u32,
    /// Temperature low-pass weight per period.
    pub temperature_alpha: f64,
    /// A reading this far (K) from the filtered temperature is a step: the filter jumps.
    pub temperature_jump_k: f64,
    /// After a step's feed-forward, control time to let the heaters settle before the next
    /// dither samples, µs (the twin's heater lag is 5 µs: 4 time constants leave 1.8 % of the
    /// move, whose change between the two samples is then under the dither's effect).
    pub jump_settle_us: f64,
    /// |δ̂| below this many linewidths for [`TrackerSettings::lost_periods`] periods → locked.
    pub locked_linewidths: f64,
    /// Power-monitor search half-window, nm (under half a 100 GHz lane spacing, so the
    /// search cannot land on the neighbouring lane).
    pub search_half_nm: f64,
    /// Search step, linewidths.
    pub search_step_linewidths: f64,
    /// Dwell per search sample, µs.
    pub search_dwell_us: f64,
    /// Laser loop integral gain (fraction of the measured frequency error per period).
    pub laser_gain: f64,
    /// Run the modulator-bias perturb-and-observe every this many periods (0: never).
    pub bias_every: u32,
    /// Bias perturbation, mV.
    pub bias_step_mv: i16,
    /// Move a ring to its neighbouring resonance order when its own lane's predicted power
    /// leaves the heater's range (see [`Tracker`]). Off only to exercise the wrong-lane check.
    pub change_orders: bool,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self {
            period_us: 100.0,
            acquire_period_us: 40.0,
            dither_codes: 1,
            kp: 0.1,
            ki: 0.3,
            acquire_ki: 0.8,
            lost_level: 0.5,
            lost_periods: 3,
            temperature_alpha: 0.02,
            temperature_jump_k: 0.5,
            jump_settle_us: 20.0,
            locked_linewidths: 0.1,
            search_half_nm: 0.3,
            search_step_linewidths: 0.25,
            search_dwell_us: 5.0,
            laser_gain: 0.3,
            bias_every: 100,
            bias_step_mv: 20,
            change_orders: true,
        }
    }
}

/// One ring's loop state (the pure core: no I/O).
#[derive(Debug, Clone, PartialEq)]
pub struct RingLoop {
    /// Integrator: own-heater-equivalent power, mW.
    pub integ_mw: f64,
    /// Own-heater-equivalent power applied this period, mW.
    pub u_mw: f64,
    /// Measured heater efficiency, mW/nm.
    pub heater_mw_per_nm: f64,
    /// Measured linewidth, nm.
    pub linewidth_nm: f64,
    /// Calibrated peak monitor current, µA.
    pub peak_ua: f64,
    /// Lock state.
    pub state: LockState,
    /// Consecutive periods below the loss level (or within the lock band while acquiring).
    pub count: u32,
    /// Last detuning estimate, nm.
    pub error_nm: f64,
}

/// What one [`RingLoop::update`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopEvent {
    /// Nothing changed state.
    None,
    /// The ring just locked.
    Locked,
    /// The ring just lost lock: search.
    Lost,
}

impl RingLoop {
    /// Dither-demodulated detuning estimate from the two half-period samples, nm.
    #[must_use]
    pub fn detuning_estimate(&self, i_plus: f64, i_minus: f64, dither_nm: f64) -> f64 {
        let sum = i_plus + i_minus;
        if sum <= 0.0 || dither_nm <= 0.0 {
            return 0.0;
        }
        let e = (i_plus - i_minus) / sum;
        // Beyond ±w/2 the linearisation over-reaches; clamp to half a linewidth per period.
        (-e * self.linewidth_nm * self.linewidth_nm / (8.0 * dither_nm))
            .clamp(-self.linewidth_nm / 2.0, self.linewidth_nm / 2.0)
    }

    /// One PI period: updates `u_mw` from the two samples. `lo`/`hi` are the integrator
    /// limits (the own-equivalent power the heater range allows).
    pub fn update(
        &mut self,
        i_plus: f64,
        i_minus: f64,
        dither_nm: f64,
        s: &TrackerSettings,
        lo: f64,
        hi: f64,
    ) -> LoopEvent {
        let level = (i_plus + i_minus) / (2.0 * self.peak_ua);
        if matches!(self.state, LockState::Locked | LockState::Acquiring) && level < s.lost_level {
            self.count = if self.state == LockState::Locked {
                self.count + 1
            } else {
                self.count
            };
            if self.state == LockState::Locked && self.count >= s.lost_periods {
                self.state = LockState::Lost;
                self.count = 0;
                return LoopEvent::Lost;
            }
        } else if self.state == LockState::Locked {
            self.count = 0;
        }
        let d = self.detuning_estimate(i_plus, i_minus, dither_nm);
        self.error_nm = d;
        let c = -self.heater_mw_per_nm * d;
        // Conditional integration: never wind further past a limit.
        let ki = if self.state == LockState::Acquiring {
            s.acquire_ki
        } else {
            s.ki
        };
        let next = self.integ_mw + ki * c;
        self.integ_mw = next.clamp(lo, hi);
        self.u_mw = (self.integ_mw + s.kp * c).clamp(lo, hi);
        if self.state == LockState::Acquiring {
            if d.abs() < s.locked_linewidths * self.linewidth_nm && level >= s.lost_level {
                self.count += 1;
                if self.count >= s.lost_periods {
                    self.state = LockState::Locked;
                    self.count = 0;
                    return LoopEvent::Locked;
                }
            } else {
                self.count = 0;
            }
        }
        LoopEvent::None
    }
}

/// One tracker period's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Rings that locked this period.
    pub locked: Vec<usize>,
    /// Rings that lost lock (and were searched) this period.
    pub lost: Vec<usize>,
    /// Rings whose loop locked on another lane's laser line this period (sent back to
    /// acquiring, steered to their own lane's predicted power).
    pub wrong_lane: Vec<usize>,
    /// Rings moved to another resonance order this period (their lane's predicted power left
    /// the heater's range; acquiring again one FSR of heater away).
    pub order_changed: Vec<usize>,
    /// Largest |detuning estimate|, nm.
    pub max_error_nm: f64,
    /// Control time this period took, µs.
    pub elapsed_us: f64,
    /// The bank's temperature this period: the mean of every ring's sensor reading, °C (the
    /// sensor noise divided by √rings).
    pub sensor_c: f64,
}

/// The bank-level tracker: dither, feed-forward, decoupling, search, laser and bias loops.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// Per ring loops.
    pub loops: Vec<RingLoop>,
    kinv: Matrix,
    k_row_sum: Vec<f64>,
    settings: TrackerSettings,
    drift_nm_per_k: f64,
    temperature_c: f64,
    laser_offset_mhz: Vec<f64>,
    laser_dev_nm: Vec<Option<f64>>,
    lane_of_ring: Vec<usize>,
    lane_nm: Vec<f64>,
    /// Own-equivalent power that puts each ring on its own lane as the model predicts it:
    /// the calibration's plan moved by every feed-forward (temperature, laser) but by no PI
    /// correction. A ring locked far from it is locked on another lane's laser line.
    expected_mw: Vec<f64>,
    /// The narrowest spacing between two lanes, nm: half of it is how far a lock may sit
    /// from its prediction and still be on its own lane.
    lane_spacing_nm: f64,
    /// Own-equivalent power of one FSR per ring (measured in calibration), mW.
    fsr_mw: Vec<f64>,
    bias_mv: Vec<i16>,
    bias_dir: Vec<i16>,
    bias_last_ber: Vec<f64>,
    periods: u64,
}

impl Tracker {
    /// A tracker starting from a calibration (heaters at the plan, rings acquiring).
    #[must_use]
    pub fn from_calibration(cal: &Calibration, design: &Design, s: TrackerSettings) -> Self {
        let loops = cal
            .surveys
            .iter()
            .zip(&cal.plan.own_mw)
            .map(|(sv, &u)| RingLoop {
                integ_mw: u,
                u_mw: u,
                heater_mw_per_nm: sv.heater_mw_per_nm,
                linewidth_nm: sv.linewidth_nm,
                peak_ua: sv.peak_ua,
                state: LockState::Acquiring,
                count: 0,
                error_nm: 0.0,
            })
            .collect::<Vec<_>>();
        let n = loops.len();
        Self {
            k_row_sum: cal.crosstalk.iter().map(|r| r.iter().sum()).collect(),
            kinv: cal.crosstalk_inv.clone(),
            settings: s,
            drift_nm_per_k: design.drift_nm_per_k,
            temperature_c: cal.temperature_c,
            laser_offset_mhz: vec![0.0; n],
            laser_dev_nm: vec![None; n],
            lane_of_ring: cal.plan.lane_of_ring.clone(),
            lane_nm: design.lane_nm.clone(),
            expected_mw: cal.plan.own_mw.clone(),
            lane_spacing_nm: narrowest_spacing(&design.lane_nm),
            fsr_mw: cal.surveys.iter().map(|sv| sv.fsr_mw).collect(),
            bias_mv: vec![0; n],
            bias_dir: vec![-1; n],
            bias_last_ber: vec![f64::NAN; n],
            periods: 0,
            loops,
        }
    }

    /// Settings.
    #[must_use]
    pub fn settings(&self) -> &TrackerSettings {
        &self.settings
    }

    /// Starts the modulator-bias tracker of each lane at `mv` (e.g. from
    /// [`crate::bias::sweep_bias`]).
    pub fn set_bias_mv(&mut self, mv: &[i16]) {
        for (b, &v) in self.bias_mv.iter_mut().zip(mv) {
            *b = v;
        }
    }

    /// Heater powers P = K⁻¹·u, mW.
    #[must_use]
    pub fn heater_mw(&self) -> Vec<f64> {
        let u: Vec<f64> = self.loops.iter().map(|l| l.u_mw).collect();
        mul_vec(&self.kinv, &u)
    }

    /// Own-equivalent limits of ring `i` that keep its heater within [0, full scale] with the
    /// other rings where they are (P_i = Σ_j K⁻¹_ij u_j).
    fn limits(&self, i: usize, full: f64) -> (f64, f64) {
        let d = self.kinv[i][i];
        let rest = self.others_mw(i);
        ((0.0 - rest) / d, (full - rest) / d)
    }

    /// What the other rings' own-equivalent powers add to ring `i`'s heater
    /// (Σ_{j≠i} K⁻¹_ij u_j).
    fn others_mw(&self, i: usize) -> f64 {
        self.loops
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, l)| self.kinv[i][j] * l.u_mw)
            .sum()
    }

    fn write_heaters(&self, bank: &mut dyn RingBank, dither: i32) -> Result<()> {
        let h = bank.header();
        for (i, p) in self.heater_mw().into_iter().enumerate() {
            let code = i32::from(h.heater_code(p)) + dither;
            let code = code.clamp(0, i32::from(h.heater_max_code())) as u16;
            bank.set_heater_code(i, code)?;
        }
        Ok(())
    }

    /// Power-monitor search for ring `i` around its predicted own-equivalent power.
    fn search(&mut self, bank: &mut dyn RingBank, i: usize) -> Result<()> {
        let s = &self.settings;
        let l = &self.loops[i];
        let half = s.search_half_nm * l.heater_mw_per_nm;
        let step = s.search_step_linewidths * l.linewidth_nm * l.heater_mw_per_nm;
        let centre = l.u_mw;
        let n = (2.0 * half / step).ceil() as usize + 1;
        let others = self.others_mw(i);
        let h = bank.header();
        let mut best = (f64::MIN, centre);
        for k in 0..n {
            let u = (centre + half - step * k as f64).max(0.0);
            bank.set_heater_code(i, h.heater_code(self.kinv[i][i] * u + others))?;
            bank.wait_us(s.search_dwell_us);
            let r = bank.read(i)?;
            let ua = h.pd_ua(r.pd_code);
            if ua > best.0 {
                best = (ua, u);
            }
        }
        let l = &mut self.loops[i];
        l.integ_mw = best.1;
        l.u_mw = best.1;
        l.state = LockState::Acquiring;
        l.count = 0;
        bank.set_lock_state(i, LockState::Acquiring)?;
        Ok(())
    }

    /// One control period on `bank`.
    ///
    /// # Errors
    /// The bank's.
    pub fn step(&mut self, bank: &mut dyn RingBank) -> Result<StepReport> {
        let start = bank.elapsed_us();
        let n = self.loops.len();
        let acquiring = self.loops.iter().any(|l| l.state != LockState::Locked);
        let period = if acquiring {
            self.settings.acquire_period_us
        } else {
            self.settings.period_us
        };
        let h = bank.header();
        let d = i32::from(self.settings.dither_codes);
        let mut plus = vec![0.0; n];
        let mut minus = vec![0.0; n];
        let mut temps = 0.0;
        let mut laser_err = vec![0.0; n];
        let mut ber = vec![0.0; n];
        self.write_heaters(bank, d)?;
        bank.wait_us(period / 2.0);
        for i in 0..n {
            let r = bank.read(i)?;
            plus[i] = h.pd_ua(r.pd_code);
            temps += r.temperature_c();
            laser_err[i] = f64::from(r.laser_error_mhz);
            ber[i] = r.pre_fec_ber();
        }
        // A step in the bank's temperature: the rings sit far off their lasers, so the second
        // half's samples would tell nothing. Feed the step forward now, not a half period
        // later, and let the heaters settle before the next period samples.
        let t = temps / n.max(1) as f64;
        if (t - self.temperature_c).abs() > self.settings.temperature_jump_k {
            return self.jump(bank, t, &laser_err, start);
        }
        self.write_heaters(bank, -d)?;
        bank.wait_us(period / 2.0);
        for (i, m) in minus.iter_mut().enumerate() {
            *m = h.pd_ua(bank.read(i)?.pd_code);
        }

        // Thermal feed-forward from the bank sensor (low-passed: steps took the branch above).
        let s = self.settings.clone();
        let new_t = self.temperature_c + s.temperature_alpha * (t - self.temperature_c);
        let dt = new_t - self.temperature_c;
        self.temperature_c = new_t;
        for (l, expected) in self.loops.iter_mut().zip(&mut self.expected_mw) {
            let ff = -l.heater_mw_per_nm * self.drift_nm_per_k * dt;
            l.integ_mw += ff;
            l.u_mw += ff;
            *expected += ff;
        }

        let full = h.heater_full_scale_mw();
        let order_changed = self.change_orders(bank, full)?;
        let mut report = StepReport {
            locked: Vec::new(),
            lost: Vec::new(),
            wrong_lane: Vec::new(),
            order_changed,
            max_error_nm: 0.0,
            elapsed_us: 0.0,
            sensor_c: t,
        };
        for i in 0..n {
            if report.order_changed.contains(&i) {
                // This period's samples were taken one FSR of heater away.
                continue;
            }
            let dither_nm =
                f64::from(self.settings.dither_codes) * h.heater_lsb_mw() * self.k_row_sum[i]
                    / self.loops[i].heater_mw_per_nm;
            let (lo, hi) = self.limits(i, full);
            match self.loops[i].update(plus[i], minus[i], dither_nm, &s, lo, hi) {
                LoopEvent::Locked if !self.on_own_lane(i) => {
                    // Locked on another lane's laser (a step past the heater's range, or a
                    // search that found the nearest line): not locked. Steer back to the
                    // prediction; a prediction out of range keeps the ring acquiring until
                    // the handover to corrd.
                    let expected = self.expected_mw[i].clamp(lo, hi);
                    let l = &mut self.loops[i];
                    l.state = LockState::Acquiring;
                    l.count = 0;
                    l.integ_mw = expected;
                    l.u_mw = expected;
                    bank.set_lock_state(i, LockState::Acquiring)?;
                    report.wrong_lane.push(i);
                }
                LoopEvent::Locked => {
                    bank.set_lock_state(i, LockState::Locked)?;
                    report.locked.push(i);
                }
                LoopEvent::Lost => {
                    bank.set_lock_state(i, LockState::Lost)?;
                    report.lost.push(i);
                }
                LoopEvent::None => {}
            }
            report.max_error_nm = report.max_error_nm.max(self.loops[i].error_nm.abs());
        }
        for &i in &report.lost.clone() {
            self.search(bank, i)?;
        }

        self.laser_loop(bank, &laser_err)?;

        // Modulator bias: perturb and observe on the pre-FEC BER.
        self.periods += 1;
        if s.bias_every > 0 && self.periods.is_multiple_of(u64::from(s.bias_every)) {
            for (i, &b) in ber.iter().enumerate() {
                let last = self.bias_last_ber[i];
                if last.is_finite() && b > last {
                    self.bias_dir[i] = -self.bias_dir[i];
                }
                self.bias_last_ber[i] = b;
                self.bias_mv[i] = self.bias_mv[i]
                    .saturating_add(self.bias_dir[i] * s.bias_step_mv)
                    .min(0);
                bank.set_bias_mv(i, self.bias_mv[i])?;
            }
        }
        self.write_heaters(bank, 0)?;
        report.elapsed_us = bank.elapsed_us() - start;
        Ok(report)
    }

    /// Laser: keep each lane on its grid line (integral on the locker's error `laser_err`,
    /// MHz). The ring on a lane follows that lane's laser: feed the predicted change of the
    /// laser's deviation from the grid (measured error, plus the offset just applied) forward
    /// to the ring.
    fn laser_loop(&mut self, bank: &mut dyn RingBank, laser_err: &[f64]) -> Result<()> {
        let gain = self.settings.laser_gain;
        let mut moved_nm = vec![0.0; self.loops.len()];
        for (c, e) in laser_err.iter().enumerate() {
            let before = self.laser_offset_mhz[c].round();
            self.laser_offset_mhz[c] =
                (self.laser_offset_mhz[c] - gain * e).clamp(-32768.0, 32767.0);
            let after = self.laser_offset_mhz[c].round();
            bank.set_laser_offset_mhz(c, after as i16)?;
            // Δλ = −λ²·Δf/c (c in nm/s, Δf in Hz).
            let l = self.lane_nm[c];
            let dev = -l * l * (e + after - before) * 1e6 / 2.997_924_58e17;
            if let Some(prev) = self.laser_dev_nm[c] {
                moved_nm[c] = dev - prev;
            }
            self.laser_dev_nm[c] = Some(dev);
        }
        for (i, lp) in self.loops.iter_mut().enumerate() {
            let ff = lp.heater_mw_per_nm * moved_nm[self.lane_of_ring[i]];
            lp.integ_mw += ff;
            lp.u_mw += ff;
            self.expected_mw[i] += ff;
        }
        Ok(())
    }

    /// The rest of a period in which the bank's sensor stepped by more than
    /// [`TrackerSettings::temperature_jump_k`] from the filtered temperature (read at `t`):
    /// the filter jumps to it, the whole change is fed forward to every ring, locked rings go
    /// back to acquiring, the laser loop runs on the half period's locker readings (the
    /// lasers moved with the step too, and the rings follow them), the heaters are written and
    /// given
    /// [`TrackerSettings::jump_settle_us`] to settle. No PI update: this period's samples
    /// predate the feed-forward.
    fn jump(
        &mut self,
        bank: &mut dyn RingBank,
        t: f64,
        laser_err: &[f64],
        start: f64,
    ) -> Result<StepReport> {
        let dt = t - self.temperature_c;
        self.temperature_c = t;
        for (i, (l, expected)) in self.loops.iter_mut().zip(&mut self.expected_mw).enumerate() {
            let ff = -l.heater_mw_per_nm * self.drift_nm_per_k * dt;
            l.integ_mw += ff;
            l.u_mw += ff;
            *expected += ff;
            if l.state == LockState::Locked {
                l.state = LockState::Acquiring;
                l.count = 0;
                bank.set_lock_state(i, LockState::Acquiring)?;
            }
        }
        let full = bank.header().heater_full_scale_mw();
        let order_changed = self.change_orders(bank, full)?;
        self.laser_loop(bank, laser_err)?;
        self.write_heaters(bank, 0)?;
        bank.wait_us(self.settings.jump_settle_us);
        Ok(StepReport {
            locked: Vec::new(),
            lost: Vec::new(),
            wrong_lane: Vec::new(),
            order_changed,
            max_error_nm: 0.0,
            elapsed_us: bank.elapsed_us() - start,
            sensor_c: t,
        })
    }

    /// Moves every ring whose own lane's predicted power has left its heater's range to the
    /// neighbouring resonance order: a warming past the range (a heater cannot cool) takes the
    /// bluer order, one FSR more heat; a cooling past full scale the redder one, one FSR less.
    /// The ring acquires again around the new prediction. A move changes the other heaters'
    /// ranges through K⁻¹, so the check repeats until nothing moves (each ring at most once
    /// per call). Returns the rings moved.
    ///
    /// # Errors
    /// The bank's.
    fn change_orders(&mut self, bank: &mut dyn RingBank, full: f64) -> Result<Vec<usize>> {
        let mut moved: Vec<usize> = Vec::new();
        if !self.settings.change_orders {
            return Ok(moved);
        }
        loop {
            let mut any = false;
            for i in 0..self.loops.len() {
                if moved.contains(&i) {
                    continue;
                }
                let (lo, hi) = self.limits(i, full);
                let (e, f) = (self.expected_mw[i], self.fsr_mw[i]);
                let shift = if e < lo && e + f <= hi {
                    f
                } else if e > hi && e - f >= lo {
                    -f
                } else {
                    continue;
                };
                self.expected_mw[i] += shift;
                let l = &mut self.loops[i];
                l.integ_mw = self.expected_mw[i];
                l.u_mw = self.expected_mw[i];
                l.count = 0;
                if l.state != LockState::Acquiring {
                    l.state = LockState::Acquiring;
                    bank.set_lock_state(i, LockState::Acquiring)?;
                }
                moved.push(i);
                any = true;
            }
            if !any {
                return Ok(moved);
            }
        }
    }

    /// Whether ring `i`'s loop sits within half a lane spacing of the power its own lane
    /// is predicted to need.
    fn on_own_lane(&self, i: usize) -> bool {
        let l = &self.loops[i];
        (l.u_mw - self.expected_mw[i]).abs() < 0.5 * self.lane_spacing_nm * l.heater_mw_per_nm
    }

    /// Parks every ring (heaters off, state Parked).
    ///
    /// # Errors
    /// The bank's.
    pub fn park(&mut self, bank: &mut dyn RingBank) -> Result<()> {
        for i in 0..self.loops.len() {
            set_heater(bank, i, 0.0)?;
            bank.set_lock_state(i, LockState::Parked)?;
            self.loops[i].state = LockState::Parked;
        }
        Ok(())
    }
}

/// The narrowest gap between two lanes' wavelengths, nm (infinite with fewer than two).
fn narrowest_spacing(lane_nm: &[f64]) -> f64 {
    let mut sorted = lane_nm.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ring() -> RingLoop {
        RingLoop {
            integ_mw: 5.0,
            u_mw: 5.0,
            heater_mw_per_nm: 0.55,
            linewidth_nm: 0.155,
            peak_ua: 100.0,
            state: LockState::Locked,
            count: 0,
            error_nm: 0.0,
        }
    }

    proptest! {
        /// Anti-windup: whatever the error sequence, the integrator and the output stay inside
        /// the heater's reachable range, and once the error reverses the output leaves the
        /// rail on the very next period.
        #[test]
        fn anti_windup_bounds_the_integrator(
            errors in proptest::collection::vec(-1.0f64..1.0, 1..400),
        ) {
            let s = TrackerSettings::default();
            let mut l = ring();
            for e in &errors {
                // i₊/i₋ imbalance e: high level so the ring never counts as lost.
                // Rails 4.9…5.1 mW around the start: a few same-sign errors reach them.
                l.update(100.0 * (1.0 + e * 0.01), 100.0 * (1.0 - e * 0.01), 1e-3, &s, 4.9, 5.1);
                prop_assert!((4.9..=5.1).contains(&l.integ_mw));
                prop_assert!((4.9..=5.1).contains(&l.u_mw));
            }
        }
    }

    #[test]
    fn saturated_integrator_recovers_at_once() {
        let s = TrackerSettings::default();
        let mut l = ring();
        // Ring far blue for 10 000 periods: wants ever more heat; the rail is 6 mW.
        // (i₊ > i₋: heating raises the current, so the ring is blue of the laser.)
        for _ in 0..10_000 {
            l.update(101.0, 99.0, 1e-3, &s, 0.0, 6.0);
        }
        assert_eq!(l.integ_mw, 6.0);
        // The error reverses: the output comes off the rail in one period.
        l.update(99.0, 101.0, 1e-3, &s, 0.0, 6.0);
        assert!(l.u_mw < 6.0, "{}", l.u_mw);
    }

    #[test]
    fn estimate_has_the_sign_of_the_detuning() {
        let l = ring();
        // Ring red of the laser (δ > 0): heating more (i₊) moves it further, i₊ < i₋.
        assert!(l.detuning_estimate(90.0, 91.0, 1e-3) > 0.0);
        assert!(l.detuning_estimate(91.0, 90.0, 1e-3) < 0.0);
        assert_eq!(l.detuning_estimate(0.0, 0.0, 1e-3), 0.0);
    }

    #[test]
    fn loss_is_declared_after_the_configured_periods() {
        let s = TrackerSettings::default();
        let mut l = ring();
        assert_eq!(l.update(10.0, 10.0, 1e-3, &s, 0.0, 30.0), LoopEvent::None);
        assert_eq!(l.update(10.0, 10.0, 1e-3, &s, 0.0, 30.0), LoopEvent::None);
        assert_eq!(l.update(10.0, 10.0, 1e-3, &s, 0.0, 30.0), LoopEvent::Lost);
    }
}

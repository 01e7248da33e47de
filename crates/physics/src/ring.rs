//! Microring resonators and the DFB laser: resonance, thermal drift, heater tuning, Lorentzian
//! line shape, FSR; laser wavelength drift.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_range};
use crate::units::{Dbm, Decibels, Gigahertz, Kelvin, Micrometers, Milliwatts, Nanometers};

/// Silicon microring thermal drift, nm/K: MIT measured ~10 GHz/°C = 0.080 nm/K
/// (reference/photonics.md §2 Microring; λ·Γ·(dn/dT)/n_g with dn/dT = 1.86e-4 /K gives 0.07–0.08).
pub const SI_RING_DRIFT_NM_PER_K: f64 = 0.08;
/// Silicon microring heater efficiency, mW/nm: 4.4 µW/GHz ≈ 0.55 mW/nm (MIT; reference/photonics.md §2).
pub const SI_HEATER_MW_PER_NM: f64 = 0.55;
/// DFB laser wavelength drift without a TEC, nm/K (reference/photonics.md §2 Microring).
pub const DFB_DRIFT_NM_PER_K: f64 = 0.1;

/// A microring resonator (modulator or add/drop filter) with an integrated heater.
///
/// The heater can only heat, i.e. only red-shift the resonance. A ring is locked at a *lock
/// point* with its heater at a bias power; ambient warming is compensated by lowering the heater,
/// cooling by raising it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Microring {
    /// Ring radius.
    pub radius: Micrometers,
    /// Group index of the ring waveguide.
    pub group_index: f64,
    /// Loaded quality factor.
    pub loaded_q: f64,
    /// Resonance drift with temperature, nm/K.
    pub thermal_drift_nm_per_k: f64,
    /// Heater power per nm of red shift, mW/nm.
    pub heater_mw_per_nm: f64,
    /// Maximum heater power.
    pub heater_max: Milliwatts,
    /// Heater power at the lock point (headroom to follow warming), used as the default bias.
    pub default_bias: Milliwatts,
}

/// Outcome of holding a ring on its laser line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LockState {
    /// Heater power applied.
    pub heater: Milliwatts,
    /// Remaining resonance − laser offset (positive: ring red of the laser).
    pub residual: Nanometers,
    /// Whether the heater could cancel the drift (false: it hit 0 or its maximum).
    pub held: bool,
}

impl Microring {
    /// Checks that every parameter is finite and physical.
    ///
    /// # Errors
    /// `InvalidParameter` naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        check_range(
            "ring radius (µm)",
            self.radius.0,
            0.5,
            1e4,
            "0.5..=10000 µm",
        )?;
        check_range("ring group index", self.group_index, 1.0, 10.0, "1..=10")?;
        check_range("ring loaded Q", self.loaded_q, 10.0, 1e9, "10..=1e9")?;
        check_range(
            "ring thermal drift (nm/K)",
            self.thermal_drift_nm_per_k,
            0.0,
            1.0,
            "0..=1 nm/K",
        )?;
        check_range(
            "heater efficiency (mW/nm)",
            self.heater_mw_per_nm,
            1e-6,
            1e3,
            "> 0 mW/nm",
        )?;
        check_range(
            "heater max (mW)",
            self.heater_max.0,
            0.0,
            1e4,
            "0..=10000 mW",
        )?;
        check_range(
            "heater bias (mW)",
            self.default_bias.0,
            0.0,
            self.heater_max.0,
            "0..=heater max",
        )?;
        Ok(())
    }

    /// Free spectral range FSR = λ²/(n_g·2πR)
    /// (reference/photonics.md §2: R = 5 µm → 18.2 nm, R = 10 µm → 9.1 nm at n_g 4.2).
    #[must_use]
    pub fn fsr(&self, at: Nanometers) -> Nanometers {
        // λ[nm]² / (n_g · 2π · R[nm]).
        Nanometers(at.0 * at.0 / (self.group_index * 2.0 * PI * self.radius.0 * 1e3))
    }

    /// Full width at half maximum, λ/Q (Q = 10k at 1550 nm → 0.155 nm, 19 GHz).
    #[must_use]
    pub fn linewidth(&self, at: Nanometers) -> Nanometers {
        at / self.loaded_q
    }

    /// Resonance shift from a heater power (red shift).
    #[must_use]
    pub fn heater_shift(&self, heater: Milliwatts) -> Nanometers {
        Nanometers(heater.0 / self.heater_mw_per_nm)
    }

    /// Heater power for a red shift.
    #[must_use]
    pub fn heater_power_for(&self, shift: Nanometers) -> Milliwatts {
        Milliwatts(shift.0 * self.heater_mw_per_nm)
    }

    /// Resonance drift for a temperature change.
    #[must_use]
    pub fn thermal_shift(&self, delta_t: Kelvin) -> Nanometers {
        Nanometers(self.thermal_drift_nm_per_k * delta_t.0)
    }

    /// Resonance λ_res = λ0 + dλ/dT·ΔT + heater shift, where λ0 is the resonance at the
    /// reference temperature with the heater off.
    #[must_use]
    pub fn resonance(
        &self,
        lambda0: Nanometers,
        delta_t: Kelvin,
        heater: Milliwatts,
    ) -> Nanometers {
        lambda0 + self.thermal_shift(delta_t) + self.heater_shift(heater)
    }

    /// Lorentzian drop-port transmission relative to its peak, 1/(1 + (2δ/FWHM)²).
    #[must_use]
    pub fn drop_transmission(&self, detuning: Nanometers, at: Nanometers) -> f64 {
        let x = 2.0 * detuning.0 / self.linewidth(at).0;
        1.0 / (1.0 + x * x)
    }

    /// Through-port transmission with on-resonance extinction `extinction` (a positive dB
    /// figure): 1 − (1 − T_min)·L(δ), L the normalised Lorentzian.
    #[must_use]
    pub fn through_transmission(
        &self,
        detuning: Nanometers,
        at: Nanometers,
        extinction: Decibels,
    ) -> f64 {
        let t_min = (-extinction).to_ratio();
        1.0 - (1.0 - t_min) * self.drop_transmission(detuning, at)
    }

    /// Power penalty of a drop-port filter detuned by `detuning`: 10·log10(1 + (2δ/FWHM)²).
    #[must_use]
    pub fn detuning_penalty(&self, detuning: Nanometers, at: Nanometers) -> Decibels {
        let x = 2.0 * detuning.0 / self.linewidth(at).0;
        Decibels(10.0 * x.mul_add(x, 1.0).log10())
    }

    /// Holds the ring on the laser line after the ring warmed by `ring_delta_t` and the laser
    /// line moved by `laser_shift`, starting from heater `bias` at the lock point: lowers the
    /// heater for a red drift, raises it for a blue one, clamped to `[0, heater_max]`.
    #[must_use]
    pub fn hold_lock(
        &self,
        ring_delta_t: Kelvin,
        laser_shift: Nanometers,
        bias: Milliwatts,
    ) -> LockState {
        // Ring minus laser offset if the heater stayed at its bias.
        let drift = self.thermal_shift(ring_delta_t) - laser_shift;
        let wanted = bias - self.heater_power_for(drift);
        let applied = Milliwatts(wanted.0.clamp(0.0, self.heater_max.0));
        let residual = drift + self.heater_shift(applied - bias);
        LockState {
            heater: applied,
            residual,
            held: (applied.0 - wanted.0).abs() <= 1e-12 * (1.0 + wanted.0.abs()),
        }
    }

    /// Open loop: the heater stays at `bias`, the drift is not corrected.
    #[must_use]
    pub fn open_loop(
        &self,
        ring_delta_t: Kelvin,
        laser_shift: Nanometers,
        bias: Milliwatts,
    ) -> LockState {
        LockState {
            heater: bias,
            residual: self.thermal_shift(ring_delta_t) - laser_shift,
            held: false,
        }
    }

    /// How many channels of `spacing` fit in one FSR at `at` (a ring bus can only carry that
    /// many distinct lanes without aliasing).
    #[must_use]
    pub fn channels_per_fsr(&self, spacing: Gigahertz, at: Nanometers) -> u32 {
        let fsr = self.fsr(at).to_frequency_width(at);
        (fsr / spacing).floor().max(0.0) as u32
    }
}

/// How a DFB laser diode turns electrical power into light: threshold current and its
/// temperature dependence, slope efficiency above threshold, forward voltage.
///
/// Model: the light–current curve of a laser diode above threshold,
/// `P = η_s·(I − I_th(T))` with `I_th(T) = I_th(25 °C)·exp((T − 25 °C)/T0)` (the
/// characteristic-temperature model; Coldren, Corzine & Mašanović, *Diode Lasers and Photonic
/// Integrated Circuits*, 2nd ed., Wiley 2012, ch. 2), and electrical power `I·V_f`. The
/// parameter values are assumptions for a 1550 nm InGaAsP DFB (reference/ holds no laser
/// power figures): see [`DFB_DIODE`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DfbDiode {
    /// Threshold current at 25 °C, mA.
    pub threshold_ma_25c: f64,
    /// Characteristic temperature T0 of the threshold, K.
    pub t0_k: f64,
    /// Slope efficiency above threshold into the lane, mW/mA.
    pub slope_mw_per_ma: f64,
    /// Forward voltage at operating current, V.
    pub forward_v: f64,
    /// Chip temperature its TEC holds, °C.
    pub tec_setpoint_c: f64,
}

/// The DFB every lane uses. Assumptions (typical 1550 nm InGaAsP DFB datasheet class; none of
/// these figures is in reference/): threshold 10 mA at 25 °C, T0 = 50 K, 0.1 mW/mA slope into
/// the lane after coupling, 1.5 V forward voltage (InP DFBs run at 1.2–1.8 V), TEC setpoint
/// 45 °C. At 0 dBm launched this draws ≈ 24.9 mA · 1.5 V ≈ 37 mW: a wall-plug efficiency of
/// ≈ 2.7 %, TEC power not included.
pub const DFB_DIODE: DfbDiode = DfbDiode {
    threshold_ma_25c: 10.0,
    t0_k: 50.0,
    slope_mw_per_ma: 0.1,
    forward_v: 1.5,
    tec_setpoint_c: 45.0,
};

impl DfbDiode {
    /// Threshold current at chip temperature `chip_c`, mA.
    #[must_use]
    pub fn threshold_ma(&self, chip_c: f64) -> f64 {
        self.threshold_ma_25c * ((chip_c - 25.0) / self.t0_k).exp()
    }

    /// Drive current that launches `launch` at chip temperature `chip_c`, mA.
    #[must_use]
    pub fn bias_ma(&self, launch: Milliwatts, chip_c: f64) -> f64 {
        self.threshold_ma(chip_c) + launch.0 / self.slope_mw_per_ma
    }

    /// Electrical power drawn at drive current `bias_ma`: `I·V_f`. The one laser-power function
    /// of the workspace: the planner's prediction (from [`Self::bias_ma`]) and the telemetry
    /// (from the bias current a module reports) both go through it.
    #[must_use]
    pub fn electrical_power(&self, bias_ma: f64) -> Milliwatts {
        Milliwatts(bias_ma.max(0.0) * self.forward_v)
    }

    fn validate(&self) -> Result<()> {
        check_range(
            "DFB threshold (mA)",
            self.threshold_ma_25c,
            0.0,
            1e3,
            "0..=1000 mA",
        )?;
        check_range("DFB T0 (K)", self.t0_k, 1.0, 1e4, "1..=1e4 K")?;
        check_range(
            "DFB slope efficiency (mW/mA)",
            self.slope_mw_per_ma,
            1e-6,
            10.0,
            "0 < slope <= 10 mW/mA",
        )?;
        check_range(
            "DFB forward voltage (V)",
            self.forward_v,
            0.1,
            10.0,
            "0.1..=10 V",
        )?;
        check_range(
            "DFB TEC setpoint (°C)",
            self.tec_setpoint_c,
            -50.0,
            150.0,
            "-50..=150 °C",
        )?;
        Ok(())
    }
}

/// A laser source feeding one lane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LaserModel {
    /// Optical power launched into the lane (after any comb/splitter).
    pub launch_power: Dbm,
    /// The diode and how it is driven.
    pub diode: DfbDiode,
    /// Wavelength drift with laser temperature when not held by a TEC, nm/K.
    pub drift_nm_per_k: f64,
}

impl LaserModel {
    /// Wavelength shift for a laser temperature change (0.1 nm/K for a DFB: 8 K moves it one
    /// 100 GHz channel).
    #[must_use]
    pub fn drift(&self, delta_t: Kelvin) -> Nanometers {
        Nanometers(self.drift_nm_per_k * delta_t.0)
    }

    /// Drive current at the TEC setpoint for `launch_power`, mA.
    #[must_use]
    pub fn bias_ma(&self) -> f64 {
        self.diode
            .bias_ma(self.launch_power.to_milliwatts(), self.diode.tec_setpoint_c)
    }

    /// Electrical power drawn to launch `launch_power` at the TEC setpoint
    /// ([`DfbDiode::electrical_power`] at [`Self::bias_ma`]).
    #[must_use]
    pub fn electrical_power(&self) -> Milliwatts {
        self.diode.electrical_power(self.bias_ma())
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// `InvalidParameter` naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        check_range(
            "launch power (dBm)",
            self.launch_power.0,
            -40.0,
            30.0,
            "-40..=30 dBm",
        )?;
        self.diode.validate()?;
        check_range(
            "laser drift (nm/K)",
            self.drift_nm_per_k,
            0.0,
            1.0,
            "0..=1 nm/K",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn si_ring(radius_um: f64) -> Microring {
        Microring {
            radius: Micrometers(radius_um),
            group_index: 4.2,
            loaded_q: 10_000.0,
            thermal_drift_nm_per_k: SI_RING_DRIFT_NM_PER_K,
            heater_mw_per_nm: SI_HEATER_MW_PER_NM,
            heater_max: Milliwatts(10.0),
            default_bias: Milliwatts(1.0),
        }
    }

    const L: Nanometers = Nanometers(1550.0);

    #[test]
    fn fsr_goldens() {
        assert!(
            (si_ring(5.0).fsr(L).0 - 18.2).abs() < 0.05,
            "{}",
            si_ring(5.0).fsr(L)
        );
        assert!(
            (si_ring(10.0).fsr(L).0 - 9.1).abs() < 0.05,
            "{}",
            si_ring(10.0).fsr(L)
        );
        // An 18.2 nm FSR holds 22 channels of 100 GHz.
        assert_eq!(si_ring(5.0).channels_per_fsr(Gigahertz(100.0), L), 22);
    }

    #[test]
    fn linewidth_golden() {
        let r = si_ring(5.0);
        assert!((r.linewidth(L).0 - 0.155).abs() < 1e-3);
        let ghz = r.linewidth(L).to_frequency_width(L).0;
        assert!((ghz - 19.3).abs() < 0.2, "{ghz}");
    }

    #[test]
    fn heater_efficiency_units() {
        // 0.55 mW/nm ÷ (~125 GHz/nm at 1550 nm) ≈ 4.4 µW/GHz.
        let ghz_per_nm = Nanometers(1.0).to_frequency_width(L).0;
        let uw_per_ghz = SI_HEATER_MW_PER_NM * 1e3 / ghz_per_nm;
        assert!((uw_per_ghz - 4.4).abs() < 0.05, "{uw_per_ghz}");
    }

    /// reference/photonics.md §2: a 1 K drift is about half a linewidth.
    #[test]
    fn one_kelvin_is_half_a_linewidth() {
        let r = si_ring(5.0);
        let ratio = r.thermal_shift(Kelvin(1.0)) / r.linewidth(L);
        assert!((ratio - 0.5).abs() < 0.05, "{ratio}");
        // Penalty at half a linewidth = 10·log10(2) ≈ 3 dB.
        let p = r.detuning_penalty(r.thermal_shift(Kelvin(1.0)), L).0;
        assert!((p - 3.1).abs() < 0.1, "{p}");
        assert_eq!(r.detuning_penalty(Nanometers(0.0), L), Decibels(0.0));
        assert!((r.detuning_penalty(r.linewidth(L) / 2.0, L).0 - 3.0103).abs() < 1e-3);
    }

    #[test]
    fn lorentzian_shapes() {
        let r = si_ring(5.0);
        let fwhm = r.linewidth(L);
        assert_eq!(r.drop_transmission(Nanometers(0.0), L), 1.0);
        assert!((r.drop_transmission(fwhm / 2.0, L) - 0.5).abs() < 1e-12);
        let t0 = r.through_transmission(Nanometers(0.0), L, Decibels(20.0));
        assert!((t0 - 0.01).abs() < 1e-12);
        assert!(r.through_transmission(fwhm * 10.0, L, Decibels(20.0)) > 0.99);
    }

    #[test]
    fn resonance_and_lock() {
        let r = si_ring(5.0);
        let res = r.resonance(L, Kelvin(2.0), Milliwatts(0.55));
        assert!((res.0 - (1550.0 + 0.16 + 1.0)).abs() < 1e-9);
        // 2 K warmer: heater drops by 0.16 nm · 0.55 mW/nm = 0.088 mW.
        let s = r.hold_lock(Kelvin(2.0), Nanometers(0.0), Milliwatts(1.0));
        assert!(s.held && s.residual.0.abs() < 1e-12);
        assert!((s.heater.0 - (1.0 - 0.088)).abs() < 1e-12);
        // 30 K warmer needs 1.32 mW of *cooling* from a 1 mW bias: lock lost, 0 mW applied.
        let s = r.hold_lock(Kelvin(30.0), Nanometers(0.0), Milliwatts(1.0));
        assert!(!s.held);
        assert_eq!(s.heater, Milliwatts(0.0));
        assert!((s.residual.0 - (2.4 - 1.0 / 0.55)).abs() < 1e-9);
        // Cooling is followed by heating, up to the maximum.
        let s = r.hold_lock(Kelvin(-10.0), Nanometers(0.0), Milliwatts(1.0));
        assert!(s.held && (s.heater.0 - 1.44).abs() < 1e-12);
        let s = r.hold_lock(Kelvin(-300.0), Nanometers(0.0), Milliwatts(1.0));
        assert!(!s.held && s.heater == r.heater_max);
        // A laser that drifts with the ring (0.1 vs 0.08 nm/K) leaves 0.02 nm/K to track.
        let laser = LaserModel {
            launch_power: Dbm(0.0),
            diode: DFB_DIODE,
            drift_nm_per_k: DFB_DRIFT_NM_PER_K,
        };
        let open = r.open_loop(Kelvin(5.0), laser.drift(Kelvin(5.0)), Milliwatts(1.0));
        assert!((open.residual.0 + 0.1).abs() < 1e-12);
    }

    #[test]
    fn laser() {
        let laser = LaserModel {
            launch_power: Dbm(0.0),
            diode: DFB_DIODE,
            drift_nm_per_k: DFB_DRIFT_NM_PER_K,
        };
        // 8 K moves a DFB by one 100 GHz channel (0.8 nm).
        assert!((laser.drift(Kelvin(8.0)).0 - 0.8).abs() < 1e-12);
        // 10 mA · e^(20/50) + 1 mW / 0.1 mW/mA ≈ 24.92 mA, times 1.5 V.
        let bias = 10.0 * 0.4f64.exp() + 10.0;
        assert!((laser.bias_ma() - bias).abs() < 1e-12);
        assert!((laser.electrical_power().0 - 1.5 * bias).abs() < 1e-12);
        assert_eq!(laser.diode.electrical_power(-1.0), Milliwatts(0.0));
        assert!(laser.validate().is_ok());
        assert!(si_ring(5.0).validate().is_ok());
    }
}

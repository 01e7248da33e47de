//! The twin's microring bank: the physics behind the HELIOPASS vendor page.
//!
//! # What is modelled (sources in `reference/photonics.md` §2–3 unless stated)
//!
//! * **Resonance** of ring *i*: `λ_i = λ0_i + dλ/dT_i·(T − T_ref) + (Σ_j K_ij·P_j)/η_i`, where
//!   `dλ/dT` ≈ 0.08 nm/K ([`corridor_physics::ring::SI_RING_DRIFT_NM_PER_K`], MIT) with a seeded
//!   ±[`RingBankConfig::drift_spread`] unit spread, `η` ≈ 0.55 mW/nm heater efficiency (MIT,
//!   same spread), `P_j` the heaters' powers and `K` the thermal crosstalk matrix (`K_ii = 1`).
//!   `λ0_i` = the channel's laser line − [`RingBankConfig::design_offset_nm`] + a seeded
//!   fabrication error within ±[`RingBankConfig::fabrication_spread_nm`] (MIT: ~100 GHz per nm
//!   of geometry error, so nm-scale spreads are usual). Resonances repeat every FSR
//!   (λ²/(n_g·2πR), 18.2 nm at R = 5 µm).
//! * **Thermal crosstalk** `K_{i,i±1}` = [`RingBankConfig::crosstalk`]`[0]`, `K_{i,i±2}` =
//!   `[1]`, zero beyond. Defaults 0.10 and 0.02 are an assumption of this twin (heaters on a
//!   ~30 µm pitch; Milanizadeh et al., JLT 2019 — thermal eigenmode decomposition — show
//!   neighbour crosstalk of this order and why it must be measured and solved, photonics.md §3).
//!   The controllers measure K; they never read these values.
//! * **Heater dynamics**: first-order lag with time constant [`RingBankConfig::heater_tau_us`]
//!   (default 5 µs, an assumption of the order of silicon micro-heater responses; the MIT
//!   power-monitor search recovers lock in ~200 µs, so the heater cannot be much slower).
//!   Heater setpoints are DAC codes: the DAC quantisation of the page header applies.
//! * **Monitor photodiode** on ring *i*'s drop port: `I = R·tap·Σ_c P_c·L(λ_c − λ_i)` with `L`
//!   the Lorentzian drop response of [`corridor_physics::Microring::drop_transmission`]
//!   (linewidth λ/Q), summed over every lane's laser on the bus (no depletion of the bus by
//!   upstream rings: a stated simplification), plus dark current, plus Gaussian noise of
//!   variance `2q(I + I_d)B + 4k_BTB/R_f` — shot and thermal (Johnson) noise of a PIN receiver,
//!   G. P. Agrawal, *Fiber-Optic Communication Systems*, 4th ed., §4.4.1 — then the ADC
//!   quantisation and clamp of the page header.
//! * **Laser** of lane *c*: its grid line, moved by the DFB drift 0.1 nm/K
//!   ([`corridor_physics::ring::DFB_DRIFT_NM_PER_K`]) times the TEC residual
//!   ([`super::twin::LASER_TEC_RESIDUAL`], the same as the port twin), and by the host's
//!   fine-tune offset. The page reports its frequency error against the grid with the etalon
//!   locker's noise [`RingBankConfig::etalon_noise_mhz`] (assumption, 2 MHz).
//! * **Modulator** of lane *c*: a ring modulator whose detuning from its laser is
//!   `δ = δ0_c + c_m·(T − T_ref) + k_V·|V|` (reverse bias `V ≤ 0`); the eye is the difference of
//!   the through-port transmissions at `δ ± swing/2`; the signal Q scales with the eye, and the
//!   pre-FEC BER is [`corridor_physics::Modulation::ber_from_q`] (NRZ). `Q` at the best bias
//!   is [`ModulatorModel::q_at_best`]. Values are assumptions stated in [`ModulatorModel`].
//!   The BER is exact, not counted: no counting noise (a simplification).
//! * **Bank temperature sensor**: the ambient plus Gaussian noise
//!   [`RingBankConfig::sensor_noise_k`], quantised to 1/256 °C.
//!
//! # Determinism
//!
//! Every unit spread and every noise sample comes from one seeded stream (SplitMix64), so a
//! run is a pure function of the configuration, the seed and the sequence of calls.
//!
//! # The page is the wire format
//!
//! The twin keeps its registers as the encoded bytes of pages B0h–B3h: writes decode the lane
//! block, change it and encode it back; reads write the fresh samples into the block and
//! decode it. So the controllers see exactly what a module speaking the page would send.

use std::f64::consts::PI;

use corridor_physics::ring::{DFB_DRIFT_NM_PER_K, SI_HEATER_MW_PER_NM, SI_RING_DRIFT_NM_PER_K};
use corridor_physics::{Decibels, Micrometers, Microring, Milliwatts, Modulation, Nanometers};
use corridor_protocols::cmis::LockState;
use corridor_protocols::cmis::f16;
use corridor_protocols::cmis::ring_page::{
    LANE_BLOCK_LEN, LANES_PER_RING_PAGE, RingLaneRegs, RingPage, RingPageHeader, lane_block,
};

use super::rings::{RingBank, check_ring, page_of, ring_lane};
use super::twin::LASER_TEC_RESIDUAL;
use super::{OpticalError, Result};

/// Speed of light, nm/s.
const C_NM_PER_S: f64 = 2.997_924_58e17;
/// Elementary charge, C.
const Q_E: f64 = 1.602_176_634e-19;
/// Boltzmann constant, J/K.
const K_B: f64 = 1.380_649e-23;

/// The drop-port monitor photodiode and its transimpedance front end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhotodiodeModel {
    /// Responsivity, A/W (Ge-on-Si PIN at 1550 nm: ~0.8–1 A/W).
    pub responsivity_a_per_w: f64,
    /// Fraction of the dropped power tapped to the monitor.
    pub tap: f64,
    /// Dark current, nA.
    pub dark_na: f64,
    /// Noise bandwidth of the monitor front end, Hz.
    pub bandwidth_hz: f64,
    /// Transimpedance feedback resistor (its Johnson noise), Ω.
    pub feedback_ohm: f64,
    /// Front-end temperature, K.
    pub temperature_k: f64,
}

impl PhotodiodeModel {
    /// 1 A/W, 10 % tap, 10 nA dark, 1 MHz, 10 kΩ, 300 K (assumptions; a 1 mW line on
    /// resonance gives 100 µA).
    pub const DEFAULT: Self = Self {
        responsivity_a_per_w: 1.0,
        tap: 0.1,
        dark_na: 10.0,
        bandwidth_hz: 1e6,
        feedback_ohm: 1e4,
        temperature_k: 300.0,
    };

    /// RMS noise current at mean photocurrent `i_ua`, µA: shot `2q(I+I_d)B` plus thermal
    /// `4k_BTB/R_f` (Agrawal §4.4.1).
    #[must_use]
    pub fn noise_rms_ua(&self, i_ua: f64) -> f64 {
        let i = (i_ua.max(0.0) + self.dark_na * 1e-3) * 1e-6;
        let shot = 2.0 * Q_E * i * self.bandwidth_hz;
        let thermal = 4.0 * K_B * self.temperature_k * self.bandwidth_hz / self.feedback_ohm;
        (shot + thermal).sqrt() * 1e6
    }
}

/// The lane's ring modulator (assumed values, typical of depletion-mode silicon rings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModulatorModel {
    /// Loaded linewidth, nm (Q ≈ 5 000 at 1550 nm).
    pub linewidth_nm: f64,
    /// On-resonance extinction, dB.
    pub extinction_db: f64,
    /// Resonance shift per volt of reverse bias, nm/V (~25 pm/V).
    pub tuning_nm_per_v: f64,
    /// Resonance swing of the RF drive, nm peak to peak.
    pub swing_nm: f64,
    /// Signal Q at the best bias (8 → NRZ BER 6e-16).
    pub q_at_best: f64,
    /// Residual detuning drift with temperature left by the modulator's own coarse lock, nm/K.
    pub residual_drift_nm_per_k: f64,
    /// Largest reverse bias, V (the bias register range used: −max…0).
    pub max_reverse_v: f64,
}

impl ModulatorModel {
    /// Defaults (assumptions).
    pub const DEFAULT: Self = Self {
        linewidth_nm: 0.31,
        extinction_db: 10.0,
        tuning_nm_per_v: 0.025,
        swing_nm: 0.05,
        q_at_best: 8.0,
        residual_drift_nm_per_k: 0.002,
        max_reverse_v: 4.0,
    };

    fn through(&self, d: f64) -> f64 {
        let x = 2.0 * d / self.linewidth_nm;
        let t_min = (-Decibels(self.extinction_db)).to_ratio();
        1.0 - (1.0 - t_min) / (1.0 + x * x)
    }

    /// Eye opening (normalised transmission difference) at detuning `d`, nm.
    #[must_use]
    pub fn eye(&self, d: f64) -> f64 {
        (self.through(d + self.swing_nm / 2.0) - self.through(d - self.swing_nm / 2.0)).abs()
    }

    /// Largest eye over detuning (numeric, 0…2 linewidths in 0.1 pm steps).
    #[must_use]
    pub fn best_eye(&self) -> f64 {
        (0..=(20_000.0 * self.linewidth_nm) as usize)
            .map(|k| self.eye(k as f64 * 1e-4))
            .fold(0.0, f64::max)
    }
}

/// Configuration of a twin ring bank.
#[derive(Debug, Clone, PartialEq)]
pub struct RingBankConfig {
    /// Nominal laser wavelength of each lane (= one ring per lane), nm.
    pub laser_nm: Vec<f64>,
    /// Laser power on the bus per lane, mW.
    pub laser_power_mw: f64,
    /// The rings' design (radius, n_g, Q, drift, heater efficiency, heater max).
    pub ring: Microring,
    /// Rings are designed this far blue of their lane (heaters only red-shift), nm.
    pub design_offset_nm: f64,
    /// Fabrication error of λ0, uniform ±, nm.
    pub fabrication_spread_nm: f64,
    /// Relative unit spread of drift and heater efficiency, uniform ±.
    pub drift_spread: f64,
    /// Heater crosstalk to the nearest and next-nearest ring (fraction of the heater's power).
    pub crosstalk: [f64; 2],
    /// Heater thermal time constant, µs.
    pub heater_tau_us: f64,
    /// Monitor photodiode.
    pub pd: PhotodiodeModel,
    /// Modulators.
    pub modulator: ModulatorModel,
    /// Laser frequency-locker noise, MHz RMS.
    pub etalon_noise_mhz: f64,
    /// Bank temperature sensor noise, K RMS.
    pub sensor_noise_k: f64,
    /// Temperature at which λ0 holds, °C.
    pub reference_c: f64,
    /// Page header (scales and resolutions).
    pub header: RingPageHeader,
    /// Seed of every spread and noise sample.
    pub seed: u64,
}

/// Lane wavelengths of `n` channels on a grid of `spacing_ghz` starting at `first_thz`, nm.
#[must_use]
pub fn grid_wavelengths_nm(n: usize, first_thz: f64, spacing_ghz: f64) -> Vec<f64> {
    (0..n)
        .map(|k| C_NM_PER_S / ((first_thz + k as f64 * spacing_ghz * 1e-3) * 1e12))
        .collect()
}

impl RingBankConfig {
    /// `n` rings (≤ 32) on the 100 GHz grid from 193.1 THz, R = 5 µm, Q = 10 000 (photonics.md
    /// §2), 1 mW per lane, rings 2 nm blue of their lane ± 1.5 nm fabrication, ±3 % unit
    /// spread, the crosstalk and noise defaults above.
    #[must_use]
    pub fn new(n: usize, seed: u64) -> Self {
        Self {
            laser_nm: grid_wavelengths_nm(n, 193.1, 100.0),
            laser_power_mw: 1.0,
            ring: Microring {
                radius: Micrometers(5.0),
                group_index: 4.2,
                loaded_q: 10_000.0,
                thermal_drift_nm_per_k: SI_RING_DRIFT_NM_PER_K,
                heater_mw_per_nm: SI_HEATER_MW_PER_NM,
                heater_max: Milliwatts(30.0),
                default_bias: Milliwatts(0.0),
            },
            design_offset_nm: 2.0,
            fabrication_spread_nm: 1.5,
            drift_spread: 0.03,
            crosstalk: [0.10, 0.02],
            heater_tau_us: 5.0,
            pd: PhotodiodeModel::DEFAULT,
            modulator: ModulatorModel::DEFAULT,
            etalon_noise_mhz: 2.0,
            sensor_noise_k: 0.01,
            reference_c: 25.0,
            header: RingPageHeader::DEFAULT,
            seed,
        }
    }
}

/// SplitMix64 stream with Box–Muller normals.
#[derive(Debug, Clone)]
struct Noise {
    state: u64,
    spare: Option<f64>,
}

impl Noise {
    fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [−a, a].
    fn spread(&mut self, a: f64) -> f64 {
        (2.0 * self.uniform() - 1.0) * a
    }

    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        self.spare = Some(r * (2.0 * PI * u2).sin());
        r * (2.0 * PI * u2).cos()
    }
}

/// A simulated ring bank behind the HELIOPASS vendor page.
#[derive(Debug, Clone)]
pub struct RingBankTwin {
    cfg: RingBankConfig,
    pages: Vec<[u8; 128]>,
    /// Each ring's registers as `pages` encodes them (kept by `store`).
    lanes: Vec<RingLaneRegs>,
    lambda0: Vec<f64>,
    drift: Vec<f64>,
    efficiency: Vec<f64>,
    fsr: Vec<f64>,
    crosstalk: Vec<Vec<f64>>,
    heater_mw: Vec<f64>,
    /// Heaters failed open: they dissipate nothing whatever their drive code.
    heater_failed: Vec<bool>,
    mod_offset: Vec<f64>,
    best_eye: f64,
    ambient_c: f64,
    elapsed_us: f64,
    noise: Noise,
}

impl RingBankTwin {
    /// Builds the bank at the reference temperature, heaters off, biases 0 V.
    ///
    /// # Errors
    /// [`OpticalError::InvalidFault`] for 0 or more than 32 rings or an invalid ring design.
    pub fn new(cfg: RingBankConfig) -> Result<Self> {
        let n = cfg.laser_nm.len();
        if n == 0 || n > 32 {
            return Err(OpticalError::InvalidFault(format!(
                "ring bank of {n} rings: 1..=32 fit pages B0h-B3h"
            )));
        }
        cfg.ring
            .validate()
            .map_err(|source| OpticalError::Physics {
                port: "ring-bank".into(),
                source,
            })?;
        let mut noise = Noise::new(cfg.seed);
        let mut lambda0 = Vec::with_capacity(n);
        let mut drift = Vec::with_capacity(n);
        let mut efficiency = Vec::with_capacity(n);
        let mut fsr = Vec::with_capacity(n);
        let mut mod_offset = Vec::with_capacity(n);
        for &l in &cfg.laser_nm {
            lambda0.push(l - cfg.design_offset_nm + noise.spread(cfg.fabrication_spread_nm));
            drift.push(cfg.ring.thermal_drift_nm_per_k * (1.0 + noise.spread(cfg.drift_spread)));
            efficiency.push(cfg.ring.heater_mw_per_nm * (1.0 + noise.spread(cfg.drift_spread)));
            fsr.push(cfg.ring.fsr(Nanometers(l)).0);
            // The modulator sits somewhere in its first half linewidth before any bias.
            mod_offset.push(noise.uniform() * cfg.modulator.linewidth_nm * 0.25);
        }
        let crosstalk = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| match i.abs_diff(j) {
                        0 => 1.0,
                        1 => cfg.crosstalk[0],
                        2 => cfg.crosstalk[1],
                        _ => 0.0,
                    })
                    .collect()
            })
            .collect();
        let pages: Vec<[u8; 128]> = (0..n.div_ceil(LANES_PER_RING_PAGE))
            .map(|_| RingPage::new(cfg.header).encode())
            .collect();
        let lanes = (0..n).map(|ring| Self::decode_lane(&pages, ring)).collect();
        let best_eye = cfg.modulator.best_eye();
        Ok(Self {
            ambient_c: cfg.reference_c,
            pages,
            lanes,
            lambda0,
            drift,
            efficiency,
            fsr,
            crosstalk,
            heater_mw: vec![0.0; n],
            heater_failed: vec![false; n],
            mod_offset,
            best_eye,
            elapsed_us: 0.0,
            noise,
            cfg,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RingBankConfig {
        &self.cfg
    }

    /// Sets the ambient (bank) temperature, °C; takes effect at once (the bank's own thermal
    /// mass is not modelled: profiles move in seconds, the loop in µs).
    pub fn set_ambient_c(&mut self, c: f64) {
        self.ambient_c = c;
    }

    /// Ambient temperature, °C.
    #[must_use]
    pub fn ambient_c(&self) -> f64 {
        self.ambient_c
    }

    /// Ring `ring`'s registers: the decoded copy `store` keeps beside the
    /// page bytes (the block codes round-trip exactly, so it is what decoding
    /// the bytes would give; the physics reads a lane's registers n times per
    /// ring read, and decoding them each time was most of a tracking poll).
    fn regs(&self, ring: usize) -> RingLaneRegs {
        self.lanes[ring]
    }

    fn store(&mut self, ring: usize, regs: &RingLaneRegs) {
        let (page, k) = page_of(ring);
        let at = 8 + k * LANE_BLOCK_LEN;
        self.pages[page][at..at + LANE_BLOCK_LEN].copy_from_slice(&regs.to_block());
        self.lanes[ring] = *regs;
    }

    /// Decodes ring `ring`'s registers from the page bytes.
    fn decode_lane(pages: &[[u8; 128]], ring: usize) -> RingLaneRegs {
        let (page, k) = page_of(ring);
        let at = 8 + k * LANE_BLOCK_LEN;
        let mut block = [0u8; LANE_BLOCK_LEN];
        block.copy_from_slice(&pages[page][at..at + LANE_BLOCK_LEN]);
        let (p, offset) = lane_block(ring_lane(ring)).expect("ring index checked");
        // Only this twin writes the bytes, through `store`; they always decode.
        RingLaneRegs::from_block(&block, p, offset).expect("the twin encodes valid blocks")
    }

    /// The encoded page `index` (B0h + index), as the host would read it.
    #[must_use]
    pub fn page_bytes(&self, index: usize) -> Option<&[u8; 128]> {
        self.pages.get(index)
    }

    fn heater_setpoint_mw(&self, ring: usize) -> f64 {
        self.cfg.header.heater_mw(self.regs(ring).heater_code)
    }

    /// Truth: laser line of lane `c`, nm (grid + TEC residual drift − fine-tune offset).
    #[must_use]
    pub fn laser_nm(&self, c: usize) -> f64 {
        let nominal = self.cfg.laser_nm[c];
        let dt = self.ambient_c - self.cfg.reference_c;
        let offset_mhz = f64::from(self.regs(c).laser_offset_mhz);
        nominal + DFB_DRIFT_NM_PER_K * LASER_TEC_RESIDUAL * dt
            - nominal * nominal * offset_mhz * 1e6 / C_NM_PER_S
    }

    /// Truth: laser frequency error against its grid line, MHz.
    #[must_use]
    pub fn laser_error_mhz(&self, c: usize) -> f64 {
        let nominal = self.cfg.laser_nm[c];
        -(self.laser_nm(c) - nominal) * C_NM_PER_S / (nominal * nominal) / 1e6
    }

    /// Truth: resonance of ring `i` (the order nearest λ0), nm.
    #[must_use]
    pub fn resonance_nm(&self, i: usize) -> f64 {
        let heat: f64 = self.crosstalk[i]
            .iter()
            .zip(&self.heater_mw)
            .map(|(k, p)| k * p)
            .sum();
        self.lambda0[i]
            + self.drift[i] * (self.ambient_c - self.cfg.reference_c)
            + heat / self.efficiency[i]
    }

    /// Truth: resonance − laser line of lane `c`, folded into (−FSR/2, FSR/2], nm.
    #[must_use]
    pub fn detuning_nm(&self, i: usize, c: usize) -> f64 {
        self.detuning_at(i, self.resonance_nm(i), c)
    }

    /// [`Self::detuning_nm`] of ring `i` at its resonance `resonance_nm`, computed once by a
    /// caller that folds over every lane.
    fn detuning_at(&self, i: usize, resonance_nm: f64, c: usize) -> f64 {
        let f = self.fsr[i];
        let d = resonance_nm - self.laser_nm(c);
        d - f * (d / f).round()
    }

    /// Truth: per lane `c`, |detuning| of the ring nearest its laser line, nm — the same
    /// numbers as the fold of [`Self::detuning_nm`] over the rings, with each resonance and
    /// each laser line computed once (n + n instead of n² decodes; the twin port publishes
    /// this at every plant time set).
    #[must_use]
    pub fn nearest_detunings_nm(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.rings());
        self.nearest_detunings_into(&mut out);
        out
    }

    /// [`Self::nearest_detunings_nm`] into `out` (replacing what it held), so a
    /// caller publishing them at every plant time reuses one buffer.
    pub fn nearest_detunings_into(&self, out: &mut Vec<f64>) {
        let n = self.rings();
        // At most 32 rings (checked in `new`): no allocation per instant.
        let mut res = [0.0_f64; 32];
        for (i, r) in res.iter_mut().enumerate().take(n) {
            *r = self.resonance_nm(i);
        }
        out.clear();
        out.extend((0..n).map(|c| {
            let l = self.laser_nm(c);
            res[..n]
                .iter()
                .zip(&self.fsr)
                .map(|(&r, &f)| {
                    let d = r - l;
                    (d - f * (d / f).round()).abs()
                })
                .fold(f64::INFINITY, f64::min)
        }));
    }

    /// Truth: the unit's parameters, for tests and benchmarks (never for controllers).
    #[must_use]
    pub fn truth(&self) -> BankTruth {
        BankTruth {
            lambda0_nm: self.lambda0.clone(),
            fsr_nm: self.fsr.clone(),
            heater_mw_per_nm: self.efficiency.clone(),
            crosstalk: self.crosstalk.clone(),
        }
    }

    /// Fails ring `ring`'s heater open (`true`: from now on it cools to ambient whatever
    /// its drive code, which the registers still show) or repairs it (`false`). Out of range
    /// rings are ignored.
    pub fn set_heater_failed(&mut self, ring: usize, failed: bool) {
        if let Some(f) = self.heater_failed.get_mut(ring) {
            *f = failed;
        }
    }

    /// Whether ring `ring`'s heater has failed open.
    #[must_use]
    pub fn heater_failed(&self, ring: usize) -> bool {
        self.heater_failed.get(ring).copied().unwrap_or(false)
    }

    /// Truth: the heaters' actual (lagged) powers, mW.
    #[must_use]
    pub fn heater_powers_mw(&self) -> &[f64] {
        &self.heater_mw
    }

    fn modulator_detuning(&self, c: usize, bias_v: f64) -> f64 {
        let m = &self.cfg.modulator;
        self.mod_offset[c]
            + m.residual_drift_nm_per_k * (self.ambient_c - self.cfg.reference_c)
            + m.tuning_nm_per_v * (-bias_v).clamp(0.0, m.max_reverse_v)
    }

    /// Truth: pre-FEC BER of lane `c` at bias `bias_v`.
    #[must_use]
    pub fn ber_at(&self, c: usize, bias_v: f64) -> f64 {
        let m = &self.cfg.modulator;
        let q = m.q_at_best * m.eye(self.modulator_detuning(c, bias_v)) / self.best_eye;
        Modulation::Nrz.ber_from_q(q)
    }

    /// Truth: the bias (V, on a 1 mV grid) of least BER for lane `c` now.
    #[must_use]
    pub fn best_bias_v(&self, c: usize) -> f64 {
        let max_mv = (self.cfg.modulator.max_reverse_v * 1e3) as i32;
        let best = (0..=max_mv)
            .map(|mv| -f64::from(mv) * 1e-3)
            .map(|v| (self.cfg.modulator.eye(self.modulator_detuning(c, v)), v))
            .fold((f64::MIN, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        best.1
    }

    fn pd_mean_ua(&self, i: usize) -> f64 {
        let at = Nanometers(self.cfg.laser_nm[i]);
        let resonance = self.resonance_nm(i);
        let light_mw: f64 = (0..self.cfg.laser_nm.len())
            .map(|c| {
                self.cfg.laser_power_mw
                    * self
                        .cfg
                        .ring
                        .drop_transmission(Nanometers(self.detuning_at(i, resonance, c)), at)
            })
            .sum();
        let pd = &self.cfg.pd;
        pd.responsivity_a_per_w * pd.tap * light_mw * 1e3 + pd.dark_na * 1e-3
    }

    fn sample(&mut self, ring: usize) -> RingLaneRegs {
        let mut regs = self.regs(ring);
        let h = self.cfg.header;
        let mean = self.pd_mean_ua(ring);
        let i_ua = mean + self.cfg.pd.noise_rms_ua(mean) * self.noise.normal();
        regs.pd_code = h.pd_code(i_ua);
        regs.lock.pd_saturated = regs.pd_code == h.pd_max_code();
        regs.lock.heater_at_rail = regs.heater_code == 0 || regs.heater_code == h.heater_max_code();
        let err = self.laser_error_mhz(ring) + self.cfg.etalon_noise_mhz * self.noise.normal();
        regs.laser_error_mhz = corridor_protocols::cmis::ring_page::saturate_i16(err);
        regs.pre_fec_ber_f16 = f16::encode_saturating(self.ber_at(ring, regs.bias_v()));
        let t = self.ambient_c + self.cfg.sensor_noise_k * self.noise.normal();
        regs.temperature_256 = RingLaneRegs::temperature_256_for(t);
        regs
    }
}

/// The unit's hidden parameters (tests and benchmarks compare controllers against them).
#[derive(Debug, Clone, PartialEq)]
pub struct BankTruth {
    /// λ0 per ring (reference temperature, heaters off), nm.
    pub lambda0_nm: Vec<f64>,
    /// FSR per ring, nm.
    pub fsr_nm: Vec<f64>,
    /// Heater efficiency per ring, mW/nm.
    pub heater_mw_per_nm: Vec<f64>,
    /// Crosstalk K (row: ring heated, column: heater), `K_ii = 1`.
    pub crosstalk: Vec<Vec<f64>>,
}

impl RingBank for RingBankTwin {
    fn rings(&self) -> usize {
        self.cfg.laser_nm.len()
    }

    fn header(&self) -> RingPageHeader {
        self.cfg.header
    }

    fn read(&mut self, ring: usize) -> Result<RingLaneRegs> {
        check_ring("ring-bank twin", ring, self.rings())?;
        let regs = self.sample(ring);
        self.store(ring, &regs);
        Ok(self.regs(ring))
    }

    fn read_temperature_c(&mut self, ring: usize) -> Result<f64> {
        check_ring("ring-bank twin", ring, self.rings())?;
        // The sensor's sample without the photodiode, etalon and BER physics a full read
        // computes. The noise source still makes a full read's draws, in a full read's
        // order, so the noise every later reading gets does not depend on how often a
        // controller polled the temperature.
        let _photodiode = self.noise.normal();
        let _etalon = self.noise.normal();
        let t = self.ambient_c + self.cfg.sensor_noise_k * self.noise.normal();
        let mut regs = self.regs(ring);
        regs.temperature_256 = RingLaneRegs::temperature_256_for(t);
        self.store(ring, &regs);
        Ok(regs.temperature_c())
    }

    fn set_heater_code(&mut self, ring: usize, code: u16) -> Result<()> {
        check_ring("ring-bank twin", ring, self.rings())?;
        let mut regs = self.regs(ring);
        regs.heater_code = code.min(self.cfg.header.heater_max_code());
        self.store(ring, &regs);
        Ok(())
    }

    fn set_bias_mv(&mut self, ring: usize, mv: i16) -> Result<()> {
        check_ring("ring-bank twin", ring, self.rings())?;
        let mut regs = self.regs(ring);
        regs.bias_mv = mv;
        self.store(ring, &regs);
        Ok(())
    }

    fn set_laser_offset_mhz(&mut self, ring: usize, mhz: i16) -> Result<()> {
        check_ring("ring-bank twin", ring, self.rings())?;
        let mut regs = self.regs(ring);
        regs.laser_offset_mhz = mhz;
        self.store(ring, &regs);
        Ok(())
    }

    fn set_lock_state(&mut self, ring: usize, state: LockState) -> Result<()> {
        check_ring("ring-bank twin", ring, self.rings())?;
        let mut regs = self.regs(ring);
        regs.lock.state = state;
        self.store(ring, &regs);
        Ok(())
    }

    fn wait_us(&mut self, us: f64) {
        if us <= 0.0 {
            return;
        }
        let a = 1.0 - (-us / self.cfg.heater_tau_us).exp();
        for i in 0..self.heater_mw.len() {
            let target = if self.heater_failed[i] {
                0.0
            } else {
                self.heater_setpoint_mw(i)
            };
            self.heater_mw[i] += (target - self.heater_mw[i]) * a;
        }
        self.elapsed_us += us;
    }

    fn elapsed_us(&self) -> f64 {
        self.elapsed_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank(seed: u64) -> RingBankTwin {
        RingBankTwin::new(RingBankConfig::new(8, seed)).unwrap()
    }

    /// Polling the temperature alone reads what a full read would, and leaves the noise of
    /// every later reading as a full read would: how often a controller polls changes no
    /// other figure.
    #[test]
    fn a_temperature_poll_reads_and_draws_as_a_full_read() {
        let (mut polled, mut full) = (bank(7), bank(7));
        for ambient in [25.0, 25.4, 31.0] {
            polled.set_ambient_c(ambient);
            full.set_ambient_c(ambient);
            let t = polled.read_temperature_c(0).unwrap();
            assert_eq!(t, full.read(0).unwrap().temperature_c());
            assert_eq!(polled.read(3).unwrap(), full.read(3).unwrap());
        }
    }

    /// The decoded registers the twin keeps are exactly what its page bytes decode to,
    /// after every kind of write: the physics reads them, a host reads the bytes.
    #[test]
    fn the_kept_registers_are_what_the_pages_decode_to() {
        let mut b = bank(11);
        let agree = |b: &RingBankTwin| {
            for ring in 0..b.rings() {
                assert_eq!(
                    b.regs(ring),
                    RingBankTwin::decode_lane(&b.pages, ring),
                    "ring {ring}"
                );
            }
        };
        agree(&b);
        b.set_heater_code(2, 1234).unwrap();
        b.set_bias_mv(5, -300).unwrap();
        b.set_laser_offset_mhz(7, 40).unwrap();
        b.set_lock_state(1, LockState::Locked).unwrap();
        b.set_ambient_c(31.5);
        for ring in 0..b.rings() {
            b.read(ring).unwrap();
        }
        b.read_temperature_c(4).unwrap();
        agree(&b);
    }

    #[test]
    fn a_failed_heater_cools_whatever_its_drive() {
        let mut b = bank(2);
        let cold = b.resonance_nm(4);
        b.set_heater_code(4, b.header().heater_code(5.5)).unwrap();
        b.wait_us(1_000.0);
        assert!(b.resonance_nm(4) - cold > 9.0);
        b.set_heater_failed(4, true);
        b.wait_us(1_000.0);
        assert!((b.resonance_nm(4) - cold).abs() < 1e-6);
        // The register still shows the drive; a repair heats again.
        assert_eq!(b.read(4).unwrap().heater_code, b.header().heater_code(5.5));
        b.set_heater_failed(4, false);
        b.wait_us(1_000.0);
        assert!(b.resonance_nm(4) - cold > 9.0);
    }

    #[test]
    fn resonance_follows_temperature_and_heater() {
        let mut b = bank(1);
        let r0 = b.resonance_nm(3);
        b.set_ambient_c(35.0);
        let dr = b.resonance_nm(3) - r0;
        // 10 K × 0.08 nm/K ± 3 % unit spread.
        assert!((dr - 0.8).abs() <= 0.8 * 0.031, "{dr}");
        let code = b.header().heater_code(5.5);
        b.set_heater_code(3, code).unwrap();
        b.wait_us(1_000.0); // 200 τ: settled
        let heat = b.resonance_nm(3) - r0 - dr;
        // 5.5 mW / 0.55 mW/nm = 10 nm ± 3 %.
        assert!((heat - 10.0).abs() <= 0.31, "{heat}");
        // The neighbour moved by K = 0.10 of that, the next by 0.02.
        let t = b.truth();
        assert_eq!(t.crosstalk[2][3], 0.10);
        assert_eq!(t.crosstalk[1][3], 0.02);
        assert_eq!(t.crosstalk[0][3], 0.0);
    }

    #[test]
    fn heater_lags_with_its_time_constant() {
        let mut b = bank(2);
        b.set_heater_code(0, b.header().heater_code(10.0)).unwrap();
        b.wait_us(5.0);
        let p = b.heater_powers_mw()[0];
        // One τ: 1 − 1/e of the step.
        assert!((p / 10.0 - (1.0 - (-1.0f64).exp())).abs() < 1e-3, "{p}");
    }

    #[test]
    fn monitor_pd_peaks_on_resonance_with_cited_noise() {
        let mut b = bank(3);
        // Put ring 0 on its own laser: heater power for the needed red shift.
        let need = b.laser_nm(0) - b.resonance_nm(0);
        let need = need - b.truth().fsr_nm[0] * (need / b.truth().fsr_nm[0]).floor();
        let mw = need * b.truth().heater_mw_per_nm[0];
        b.set_heater_code(0, b.header().heater_code(mw)).unwrap();
        b.wait_us(1_000.0);
        let h = b.header();
        let samples: Vec<f64> = (0..2000)
            .map(|_| h.pd_ua(b.read(0).unwrap().pd_code))
            .collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let sd =
            (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
        // ~100 µA on resonance (1 mW, 1 A/W, 10 % tap), plus ~1 % from each neighbour lane's
        // Lorentzian tail 0.8 nm away (1/(1 + (1.6/0.155)²)).
        assert!(mean > 95.0 && mean <= 103.0, "{mean}");
        // Shot + thermal at 100 µA, 1 MHz: √(2q·1e-4·1e6 + 4kT·1e6/1e4) ≈ 5.8 nA, plus ADC
        // quantisation 3.05 nA/√12 ≈ 0.9 nA.
        let expect = PhotodiodeModel::DEFAULT.noise_rms_ua(mean);
        assert!((expect - 0.0058).abs() < 0.0003, "{expect}");
        assert!((sd - expect).abs() < 0.15 * expect, "{sd} vs {expect}");
        // Half-way between two lanes' lines (0.4 nm off each) the current collapses.
        b.set_heater_code(0, h.heater_code(mw + 0.4 * b.truth().heater_mw_per_nm[0]))
            .unwrap();
        b.wait_us(1_000.0);
        assert!(h.pd_ua(b.read(0).unwrap().pd_code) < mean / 4.0);
    }

    #[test]
    fn runs_are_deterministic_per_seed() {
        let run = |seed| {
            let mut b = bank(seed);
            (0..100).map(|i| b.read(i % 8).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn laser_offset_and_error_are_consistent() {
        let mut b = bank(4);
        b.set_ambient_c(35.0);
        // TEC residual: 10 K × 0.1 nm/K × 0.1 = 0.1 nm red ≈ −12.5 GHz.
        let e = b.laser_error_mhz(2);
        assert!((e + 12_480.0).abs() < 100.0, "{e}");
        b.set_laser_offset_mhz(2, (-e).round() as i16).unwrap();
        let left = b.laser_error_mhz(2);
        assert!(left.abs() < 1.0, "{left}");
    }

    #[test]
    fn ber_is_least_at_the_best_bias() {
        let b = bank(5);
        let v = b.best_bias_v(1);
        assert!((-4.0..=0.0).contains(&v));
        assert!(b.ber_at(1, v) < 1e-12, "{}", b.ber_at(1, v));
        assert!(b.ber_at(1, v) <= b.ber_at(1, v + 0.5).min(b.ber_at(1, (v - 0.5).max(-4.0))));
    }

    #[test]
    fn nearest_detunings_are_the_fold_of_every_detuning() {
        let mut b = bank(7);
        for (i, code) in [(0, 9000u16), (3, 30_000), (5, 65_000)] {
            b.set_heater_code(i, code).unwrap();
        }
        b.wait_us(50.0);
        b.set_ambient_c(31.7);
        let naive: Vec<f64> = (0..b.rings())
            .map(|c| {
                (0..b.rings())
                    .map(|i| b.detuning_nm(i, c).abs())
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        assert_eq!(b.nearest_detunings_nm(), naive);
    }

    #[test]
    fn page_bytes_carry_the_registers() {
        let mut b = bank(6);
        b.set_heater_code(7, 0xBEEF).unwrap();
        b.set_lock_state(7, LockState::Locked).unwrap();
        let page = RingPage::decode(b.page_bytes(0).unwrap(), 0xB0).unwrap();
        assert_eq!(page.lanes[7].heater_code, 0xBEEF);
        assert_eq!(page.lanes[7].lock.state, LockState::Locked);
        assert!(b.read(8).is_err());
    }
}

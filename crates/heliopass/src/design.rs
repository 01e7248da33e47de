//! What the controllers know before measuring: the design of the ring bank and the grid.

use corridor_hal::optical::RingBankConfig;
use corridor_physics::Nanometers;

/// Design values of a ring bank (nominal; the unit's true values differ and are measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Grid wavelength of each lane's laser, nm (lane = index; one ring per lane).
    pub lane_nm: Vec<f64>,
    /// Nominal free spectral range, nm.
    pub fsr_nm: f64,
    /// Nominal heater efficiency, mW/nm (0.55, MIT; photonics.md §2).
    pub heater_mw_per_nm: f64,
    /// Nominal ring drift, nm/K (0.08, MIT; photonics.md §2).
    pub drift_nm_per_k: f64,
    /// Nominal linewidth λ/Q, nm.
    pub linewidth_nm: f64,
}

impl Design {
    /// The design a twin bank was built from (its nominal values, not its unit spreads).
    #[must_use]
    pub fn of_twin(cfg: &RingBankConfig) -> Self {
        let at = corridor_hal::optical::ring_twin::grid_wavelengths_nm(1, 193.1, 100.0)[0];
        Self {
            lane_nm: cfg.laser_nm.clone(),
            fsr_nm: cfg.ring.fsr(Nanometers(at)).0,
            heater_mw_per_nm: cfg.ring.heater_mw_per_nm,
            drift_nm_per_k: cfg.ring.thermal_drift_nm_per_k,
            linewidth_nm: at / cfg.ring.loaded_q,
        }
    }

    /// Number of lanes.
    #[must_use]
    pub fn lanes(&self) -> usize {
        self.lane_nm.len()
    }

    /// Lane indices sorted by wavelength, bluest first (the order a red-shifting ring meets
    /// them within one FSR).
    #[must_use]
    pub fn lanes_blue_to_red(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.lanes()).collect();
        order.sort_by(|&a, &b| self.lane_nm[a].total_cmp(&self.lane_nm[b]));
        order
    }
}

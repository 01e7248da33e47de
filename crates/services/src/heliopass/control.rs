//! One port's controllers: the calibration, the modulator-bias sweep and
//! the tracker on the port's ring bank, stepped on the plant's simulated
//! time.

use chrono::{DateTime, Utc};
use corridor_hal::optical::{RingBank, SharedRingBank};
use corridor_hal::topology;
use corridor_heliopass::{
    Calibration, CalibrationSettings, Design, HelioError, Tracker, TrackerSettings, calibrate,
};
use corridor_model::calibration::{LaneCalibration, LaneLockState};
use corridor_model::units::Nanometers;
use corridor_protocols::cmis::LockState;

use super::HelioSettings;
use crate::corridors::tuning::TuningState;

/// Speed of light, nm/s.
const C_NM_PER_S: f64 = 2.997_924_58e17;
/// Bias sweep: full reverse range, coarse and fine steps (mV), settle (µs).
const BIAS_SWEEP: (i16, i16, i16, f64) = (4000, 250, 25, 10.0);
/// Tracker periods a full calibration runs after the heater solve, to lock.
const LOCK_PERIODS: u32 = 200;

/// The design a port's topology entry gives: its lane lines (lane *k* on
/// the grid channel `first_channel + k`) and its ring.
pub fn design_of(port: &topology::OpticalPort) -> Design {
    let spacing = port.grid.spacing_ghz.0;
    let first_thz = 193.1 + f64::from(port.grid.first_channel) * spacing * 1e-3;
    let lane_nm: Vec<f64> = (0..usize::from(port.lanes.min(32)))
        .map(|k| C_NM_PER_S / ((first_thz + k as f64 * spacing * 1e-3) * 1e12))
        .collect();
    let at = lane_nm.first().copied().unwrap_or(1550.0);
    let r = &port.ring;
    Design {
        fsr_nm: at * at / (r.group_index * 2.0 * std::f64::consts::PI * r.radius_um.0 * 1e3),
        heater_mw_per_nm: r.heater_efficiency_mw_per_nm.0,
        drift_nm_per_k: r.thermal_drift_nm_per_k.0,
        linewidth_nm: at / r.loaded_q,
        lane_nm,
    }
}

/// Counters of one port's tracking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortStats {
    /// Control periods run.
    pub periods_run: u64,
    /// Control periods due but skipped (quiet, or over the per-pass budget).
    pub periods_skipped: u64,
    /// Rings that lost lock.
    pub lock_losses: u64,
    /// Losses not re-acquired within the budget (handed to corrd).
    pub handed_over: u64,
    /// Rings that left `Locked` (losses and re-acquisitions after a
    /// temperature jump).
    pub left_locked: u64,
}

/// One port's controller state.
#[derive(Debug)]
pub struct PortControl {
    bank: SharedRingBank,
    design: Design,
    calibration: Option<Calibration>,
    tracker: Option<Tracker>,
    /// Simulated time the tracker has reached.
    pub(crate) sim_time: Option<DateTime<Utc>>,
    /// Simulated time and bank temperature (the mean of every ring's sensor
    /// reading) of the latest period run.
    pub(crate) last_run: Option<(DateTime<Utc>, f64)>,
    /// Per ring, periods since it lost lock (while not locked again).
    pub(crate) unlocked_for: Vec<Option<u32>>,
    pub stats: PortStats,
}

impl PortControl {
    pub fn new(_port: &str, bank: SharedRingBank, design: Design, _s: &HelioSettings) -> Self {
        let n = design.lanes();
        Self {
            bank,
            design,
            calibration: None,
            tracker: None,
            sim_time: None,
            last_run: None,
            unlocked_for: vec![None; n],
            stats: PortStats::default(),
        }
    }

    pub fn is_calibrated(&self) -> bool {
        self.tracker.is_some()
    }

    pub(crate) fn bank(&self) -> SharedRingBank {
        std::sync::Arc::clone(&self.bank)
    }

    pub(crate) fn tracker_mut(&mut self) -> Option<&mut Tracker> {
        self.tracker.as_mut()
    }

    /// Tracker settings at the configured control rate.
    pub fn tracker_settings(s: &HelioSettings) -> TrackerSettings {
        TrackerSettings {
            period_us: 1e6 / s.control_hz.max(1.0),
            ..TrackerSettings::default()
        }
    }

    /// `full`: heater sweep, crosstalk K, least-power assignment, bias
    /// sweep, then the tracker locks; `track`: the tracker re-acquires from
    /// the stored calibration. Holds the bank for the whole run.
    pub fn calibrate(
        &mut self,
        mode: corridor_model::calibration::CalibrationMode,
        now: DateTime<Utc>,
        s: &HelioSettings,
    ) -> Result<(), HelioError> {
        let bank_arc = self.bank();
        let mut bank = super::lock(&bank_arc);
        let bank: &mut dyn RingBank = bank.as_mut();
        bank.set_plant_time(now);
        if mode == corridor_model::calibration::CalibrationMode::Full || self.tracker.is_none() {
            let cal = calibrate(bank, &self.design, &CalibrationSettings::default())?;
            let mut tracker =
                Tracker::from_calibration(&cal, &self.design, Self::tracker_settings(s));
            let (max, coarse, fine, settle) = BIAS_SWEEP;
            let mut bias = Vec::with_capacity(bank.rings());
            for ring in 0..bank.rings() {
                bias.push(corridor_heliopass::bias::sweep_bias(
                    bank, ring, max, coarse, fine, settle,
                )?);
            }
            tracker.set_bias_mv(&bias);
            self.calibration = Some(cal);
            self.tracker = Some(tracker);
        }
        let tracker = self.tracker.as_mut().expect("set above");
        for l in &mut tracker.loops {
            if l.state != LockState::Locked {
                l.state = LockState::Acquiring;
            }
        }
        for _ in 0..LOCK_PERIODS {
            tracker.step(bank)?;
            if tracker.loops.iter().all(|l| l.state == LockState::Locked) {
                break;
            }
        }
        // Publishes the locked state for the port's receivers.
        bank.set_plant_time(now);
        self.sim_time = Some(now);
        // The reference the tracking loop's quiet test compares with: the
        // mean of every ring's sensor reading, as a period's report gives.
        let rings = bank.rings().max(1);
        let mut sum = 0.0;
        for ring in 0..rings {
            sum += bank.read(ring)?.temperature_c();
        }
        self.last_run = Some((now, sum / rings as f64));
        self.unlocked_for.iter_mut().for_each(|u| *u = None);
        Ok(())
    }

    /// The ring serving module lane `lane` (1-based): the calibration's
    /// assignment.
    fn ring_of(&self, lane: u8) -> Option<usize> {
        let cal = self.calibration.as_ref()?;
        cal.plan
            .lane_of_ring
            .iter()
            .position(|&l| l + 1 == usize::from(lane))
    }

    /// Per lane: its state as the ring page and the tracker report it.
    pub fn lane_reports(&self, port: &str, lanes: &[u8]) -> Vec<LaneCalibration> {
        let bank_arc = self.bank();
        let mut bank = super::lock(&bank_arc);
        let heaters = self.tracker.as_ref().map(Tracker::heater_mw);
        lanes
            .iter()
            .filter_map(|&lane| {
                let target = *self.design.lane_nm.get(usize::from(lane) - 1)?;
                let ring = self.ring_of(lane).unwrap_or(usize::from(lane) - 1);
                let regs = bank.read(ring).ok()?;
                let loop_ = self.tracker.as_ref().and_then(|t| t.loops.get(ring));
                let error_nm = loop_.map_or(0.0, |l| l.error_nm);
                Some(LaneCalibration {
                    lane: u32::from(lane),
                    port: Some(port.to_owned()),
                    target_lambda_nm: Nanometers::new(target),
                    achieved_lambda_nm: Nanometers::new(target + error_nm),
                    state: Some(lock_state(regs.lock.state)),
                    bias_v: regs.bias_v(),
                    heater_mw: heaters
                        .as_ref()
                        .and_then(|h| h.get(ring).copied())
                        .unwrap_or_else(|| bank.header().heater_mw(regs.heater_code)),
                    lock_error_pm: loop_.map(|l| l.error_nm * 1e3),
                    ber_before: None,
                    ber: regs.pre_fec_ber(),
                })
            })
            .collect()
    }

    /// The corridor-facing summary of `lanes`; `None` before a calibration.
    /// A ring unlocked for more than `budget` periods is handed over.
    pub fn tuning(&self, port: &str, lanes: &[u8], budget: u32) -> Option<TuningState> {
        let tracker = self.tracker.as_ref()?;
        let heaters = tracker.heater_mw();
        let mut state = TuningState::default();
        for &lane in lanes {
            let Some(ring) = self.ring_of(lane) else {
                continue;
            };
            let l = &tracker.loops[ring];
            state.heater_mw += heaters[ring].max(0.0);
            state.worst_error_share = state
                .worst_error_share
                .max(l.error_nm.abs() / l.linewidth_nm.max(1e-9));
            if l.state != LockState::Locked {
                let name = format!("{port} lane {lane}");
                if self.unlocked_for[ring].is_some_and(|n| n > budget) {
                    state.handed_over.push(name);
                } else {
                    state.reacquiring.push(name);
                }
            }
        }
        Some(state)
    }

    /// The module lanes whose rings are not locked.
    pub fn unlocked_lanes(&self) -> Vec<u8> {
        let (Some(t), Some(cal)) = (&self.tracker, &self.calibration) else {
            return Vec::new();
        };
        t.loops
            .iter()
            .enumerate()
            .filter(|(_, l)| l.state != LockState::Locked)
            .filter_map(|(ring, _)| u8::try_from(cal.plan.lane_of_ring[ring] + 1).ok())
            .collect()
    }

    /// The module lane of ring `ring`.
    pub fn lane_of_ring(&self, ring: usize) -> Option<u8> {
        let cal = self.calibration.as_ref()?;
        u8::try_from(*cal.plan.lane_of_ring.get(ring)? + 1).ok()
    }
}

fn lock_state(s: LockState) -> LaneLockState {
    match s {
        LockState::Parked => LaneLockState::Parked,
        LockState::Acquiring => LaneLockState::Acquiring,
        LockState::Locked => LaneLockState::Locked,
        LockState::Lost => LaneLockState::Lost,
    }
}

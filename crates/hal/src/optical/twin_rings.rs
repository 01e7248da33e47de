//! The ring bank each twin port carries, and the case temperature it follows.
//!
//! A [`TwinOpticalPort`](super::TwinOpticalPort) owns one [`RingBankTwin`] (one ring per
//! module lane, on the port's lane lines) wrapped in [`PortRings`]. The wrapper does two
//! things the bare bank does not:
//!
//! * **Temperature on the plant's clock.** [`RingBank::set_plant_time`] sets the bank to the
//!   port's case temperature at that simulated instant: the ambient profile the port follows
//!   ([`CaseTemperature`], set per rack, host or port through
//!   [`super::plant::TwinAmbient`]) + the module's self-heating + an injected temperature step.
//!   The same [`CaseTemperature`] gives the port's CMIS case temperature, so the module's
//!   monitors and its rings never disagree. Injected heater failures take effect at the same
//!   moment.
//! * **What the port's receivers see.** Whenever the plant's time is set it publishes, per
//!   lane, the detuning of the ring nearest that lane's line ([`RingOptics`]) — never from
//!   inside a calibration sweep, whose µs of control time no plant-time reading falls into. Once HELIOPASS has
//!   taken the bank over (any ring's lock state written other than `Parked`), the port computes
//!   its lanes' BER at that detuning instead of its built-in ideal heater lock: a bank nobody
//!   tracks drifts off its lanes with the ambient, and the BER shows it.
//!
//! Simplification (stated): the rings are measured against the bank's own lane lines (this
//! module's lasers on the bus); the far end's laser drift stays in the port's link model.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use corridor_protocols::cmis::LockState;
use corridor_protocols::cmis::ring_page::{RingLaneRegs, RingPageHeader};

use super::Result;
use super::ring_twin::RingBankTwin;
use super::rings::RingBank;
use crate::topology::AmbientProfile;

/// The temperature a port's case follows.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTemperature {
    /// The ambient profile.
    pub profile: AmbientProfile,
    /// The profile's time origin (twin start for the topology's active profile, the moment of
    /// application for one applied later).
    pub origin: DateTime<Utc>,
    /// Case above inlet, K (self-heating with its unit spread).
    pub self_heating_k: f64,
    /// Injected case temperature step, K.
    pub step_c: f64,
}

impl CaseTemperature {
    /// Case temperature at `now`, °C.
    #[must_use]
    pub fn at(&self, now: DateTime<Utc>) -> f64 {
        let elapsed = (now - self.origin).as_seconds_f64().max(0.0);
        self.profile.temperature_at(elapsed).0 + self.self_heating_k + self.step_c
    }
}

/// What the port's receivers read from the bank.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RingOptics {
    /// Per lane, |detuning| of the nearest ring from the lane's line, nm; `None` while
    /// HELIOPASS has not taken the bank over (the port keeps its ideal lock model).
    pub detune_nm: Option<Vec<f64>>,
}

/// A twin port's ring bank (see the module documentation).
#[derive(Debug)]
pub struct PortRings {
    bank: RingBankTwin,
    case: Arc<Mutex<CaseTemperature>>,
    optics: Arc<Mutex<RingOptics>>,
    failed_heaters: Arc<Mutex<Vec<bool>>>,
    engaged: Vec<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PortRings {
    /// Wraps `bank`, following `case`, publishing into `optics`, and failing the heaters
    /// `failed_heaters` marks (per ring; an injected fault, applied from the next plant time).
    #[must_use]
    pub fn new(
        bank: RingBankTwin,
        case: Arc<Mutex<CaseTemperature>>,
        optics: Arc<Mutex<RingOptics>>,
        failed_heaters: Arc<Mutex<Vec<bool>>>,
    ) -> Self {
        let n = bank.rings();
        Self {
            bank,
            case,
            optics,
            failed_heaters,
            engaged: vec![false; n],
        }
    }

    /// The simulated bank (truth, for tests).
    #[must_use]
    pub fn twin(&self) -> &RingBankTwin {
        &self.bank
    }

    fn publish(&self) {
        let mut optics = lock(&self.optics);
        if !self.engaged.iter().any(|&e| e) {
            optics.detune_nm = None;
            return;
        }
        // Refilled in place: this runs at every plant instant of every port.
        let detune = optics.detune_nm.get_or_insert_with(Vec::new);
        self.bank.nearest_detunings_into(detune);
    }
}

impl RingBank for PortRings {
    fn rings(&self) -> usize {
        self.bank.rings()
    }

    fn header(&self) -> RingPageHeader {
        self.bank.header()
    }

    fn read(&mut self, ring: usize) -> Result<RingLaneRegs> {
        self.bank.read(ring)
    }

    fn read_temperature_c(&mut self, ring: usize) -> Result<f64> {
        self.bank.read_temperature_c(ring)
    }

    fn set_heater_code(&mut self, ring: usize, code: u16) -> Result<()> {
        self.bank.set_heater_code(ring, code)
    }

    fn set_bias_mv(&mut self, ring: usize, mv: i16) -> Result<()> {
        self.bank.set_bias_mv(ring, mv)
    }

    fn set_laser_offset_mhz(&mut self, ring: usize, mhz: i16) -> Result<()> {
        self.bank.set_laser_offset_mhz(ring, mhz)
    }

    fn set_lock_state(&mut self, ring: usize, state: LockState) -> Result<()> {
        self.bank.set_lock_state(ring, state)?;
        // Published with the next plant time: a calibration's sweep marks
        // rings acquiring and parks them again within µs of control time.
        self.engaged[ring] = state != LockState::Parked;
        Ok(())
    }

    fn wait_us(&mut self, us: f64) {
        // Not published here: mid-sweep states of a calibration are µs of
        // control time the port's plant-time readings never fall into.
        self.bank.wait_us(us);
    }

    fn elapsed_us(&self) -> f64 {
        self.bank.elapsed_us()
    }

    fn set_plant_time(&mut self, now: DateTime<Utc>) {
        let t = lock(&self.case).at(now);
        self.bank.set_ambient_c(t);
        for (ring, &failed) in lock(&self.failed_heaters).iter().enumerate() {
            self.bank.set_heater_failed(ring, failed);
        }
        self.publish();
    }
}

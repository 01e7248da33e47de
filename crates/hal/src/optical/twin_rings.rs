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
//!   lane, the detuning of the ring nearest that lane's line ([`RingOptics`]; a time merely
//!   *passed* publishes before the bank's state next changes, so a tracking loop stepping
//!   through quiet instants computes none of it) — never from
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
    /// A plant time was passed ([`RingBank::pass_plant_time`]) and what it shows is not
    /// published yet: it is, before the bank's state next changes.
    unpublished: bool,
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
            unpublished: false,
        }
    }

    /// The simulated bank (truth, for tests).
    #[must_use]
    pub fn twin(&self) -> &RingBankTwin {
        &self.bank
    }

    /// Publishes what a passed plant time shows, before a change of state would alter it.
    fn publish_passed(&mut self) {
        if std::mem::take(&mut self.unpublished) {
            self.publish();
        }
    }

    fn publish(&self) {
        let mut optics = lock(&self.optics);
        if !self.engaged.iter().any(|&e| e) {
            optics.detune_nm = None;
            return;
        }
        // Refilled in place: this runs at every plant time set on every port.
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
        self.publish_passed();
        self.bank.set_heater_code(ring, code)
    }

    fn set_bias_mv(&mut self, ring: usize, mv: i16) -> Result<()> {
        self.publish_passed();
        self.bank.set_bias_mv(ring, mv)
    }

    fn set_laser_offset_mhz(&mut self, ring: usize, mhz: i16) -> Result<()> {
        self.publish_passed();
        self.bank.set_laser_offset_mhz(ring, mhz)
    }

    fn set_lock_state(&mut self, ring: usize, state: LockState) -> Result<()> {
        self.publish_passed();
        self.bank.set_lock_state(ring, state)?;
        // Published with the next plant time: a calibration's sweep marks
        // rings acquiring and parks them again within µs of control time.
        self.engaged[ring] = state != LockState::Parked;
        Ok(())
    }

    fn wait_us(&mut self, us: f64) {
        self.publish_passed();
        // Not published here: mid-sweep states of a calibration are µs of
        // control time the port's plant-time readings never fall into.
        self.bank.wait_us(us);
    }

    fn elapsed_us(&self) -> f64 {
        self.bank.elapsed_us()
    }

    fn set_plant_time(&mut self, now: DateTime<Utc>) {
        self.pass_plant_time(now);
        self.publish_passed();
    }

    fn pass_plant_time(&mut self, now: DateTime<Utc>) {
        let t = lock(&self.case).at(now);
        self.bank.set_ambient_c(t);
        for (ring, &failed) in lock(&self.failed_heaters).iter().enumerate() {
            self.bank.set_heater_failed(ring, failed);
        }
        self.unpublished = true;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::super::ring_twin::RingBankConfig;
    use super::*;
    use crate::topology::Topology;

    /// A bank following the default twin's `hvac-cycling` profile, and what it publishes.
    fn port_rings() -> (PortRings, Arc<Mutex<RingOptics>>, DateTime<Utc>) {
        let topology = Topology::default_twin();
        let profile = topology
            .ambient_profiles()
            .iter()
            .find(|p| p.name.as_str() == "hvac-cycling")
            .expect("the default twin has hvac-cycling")
            .clone();
        let origin = topology.twin().start_time;
        let case = Arc::new(Mutex::new(CaseTemperature {
            profile,
            origin,
            self_heating_k: 3.0,
            step_c: 0.0,
        }));
        let optics = Arc::new(Mutex::new(RingOptics::default()));
        let bank = RingBankTwin::new(RingBankConfig::new(8, 5)).expect("8 rings");
        let failed = Arc::new(Mutex::new(vec![false; 8]));
        let mut rings = PortRings::new(bank, case, Arc::clone(&optics), failed);
        for ring in 0..8 {
            rings.set_lock_state(ring, LockState::Locked).unwrap();
        }
        rings.set_plant_time(origin);
        (rings, optics, origin)
    }

    /// Times passed rather than set publish nothing until the bank's state changes, and then
    /// exactly what setting the last of them would have published.
    #[test]
    fn a_passed_plant_time_is_published_before_the_state_changes() {
        let (mut set, set_optics, start) = port_rings();
        let (mut passed, passed_optics, _) = port_rings();
        let published = |optics: &Arc<Mutex<RingOptics>>| lock(optics).clone();
        for minute in 1..=5 {
            let t = start + TimeDelta::minutes(minute);
            set.set_plant_time(t);
            passed.pass_plant_time(t);
        }
        assert_ne!(
            published(&passed_optics),
            published(&set_optics),
            "the passed times were published (or the ambient did not move)"
        );
        set.set_heater_code(0, 1000).unwrap();
        passed.set_heater_code(0, 1000).unwrap();
        assert_eq!(published(&passed_optics), published(&set_optics));
        // The heater write itself shows from the next plant time, in both.
        let t = start + TimeDelta::minutes(6);
        set.set_plant_time(t);
        passed.set_plant_time(t);
        assert_eq!(published(&passed_optics), published(&set_optics));
    }
}

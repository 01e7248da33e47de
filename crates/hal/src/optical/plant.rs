//! The optical plant: every optical port a control plane drives, behind one trait, so corrd
//! runs the same code on the digital twin and on real modules.
//!
//! [`OpticalPlant`] is to the ports what [`crate::MemoryProvider`] is to memory: the service
//! holds an `Arc<dyn OpticalPlant>` chosen in configuration (`--optics twin|linux`) and never
//! names a backend. What only the twin can do — inject faults — is not part of the plant but a
//! separate handle, [`OpticalPlant::twin_faults`], which real hardware does not offer.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::rings::RingBank;
use super::{OpticalPort, Result, TwinFault};
use crate::topology::AmbientProfile;

/// A module's ring bank as the plant hands it out. The mutex is the bank's ownership: a
/// calibration or a tracking pass holds it for its whole run, so two controllers on the same
/// rings never interleave ([`RingBank`] methods take `&mut self` for the same reason).
pub type SharedRingBank = Arc<Mutex<Box<dyn RingBank + Send>>>;

/// One port of the plant, as listed by [`OpticalPlant::inventory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantPort {
    /// The topology's port id.
    pub id: String,
    /// Module lanes (1–32).
    pub lanes: u8,
    /// The device file the module's memory map is reached through (`None` on the twin).
    pub device: Option<PathBuf>,
}

/// Every optical port of one control plane.
pub trait OpticalPlant: Send + Sync + Debug {
    /// Which backend this is (`"twin"`, `"linux"`), for logs and problems.
    fn backend(&self) -> &'static str;

    /// Whether what the ports report comes from a model (the twin's
    /// simulated modules, whose registers the physics fills) rather than
    /// from modules measuring real light. Telemetry says which.
    fn readings_are_modelled(&self) -> bool;

    /// The port with this topology id.
    fn port(&self, id: &str) -> Option<&dyn OpticalPort>;

    /// Every port, in topology order.
    fn inventory(&self) -> Vec<PlantPort>;

    /// Brings every port's model up to `now`. The twin steps its modules and recomputes the
    /// physics; real modules move on their own time, so the Linux backend does nothing.
    ///
    /// # Errors
    /// Physics or codec errors on the twin.
    fn advance(&self, now: DateTime<Utc>) -> Result<()>;

    /// Brings only the given ports up to `now` and computes the receivers of their module
    /// `lanes` (1-based) again: after the far end of a link has just lit its lasers, the near
    /// end's lanes see them, without stepping the whole plant or recomputing lanes nobody
    /// touched (their inputs are unchanged until the next advance). Unknown ids are skipped.
    ///
    /// # Errors
    /// As [`OpticalPlant::advance`]; [`OpticalError::InvalidLane`] for a lane outside a port.
    fn settle(&self, ports: &[String], lanes: &[u8], now: DateTime<Utc>) -> Result<()>;

    /// Whether port operations may block the calling thread on device I/O (status polls that
    /// sleep between reads). Async callers run such a plant's operations on
    /// `tokio::task::spawn_blocking`; the twin's operations are in-memory and never sleep.
    fn blocks(&self) -> bool;

    /// The fault-injection handle, on the twin only.
    fn twin_faults(&self) -> Option<&dyn TwinFaults> {
        None
    }

    /// The microring bank of port `id` (HELIOPASS vendor pages B0h–B3h), where the module has
    /// one: every twin port does; a real module only if its pages answer.
    ///
    /// # Errors
    /// I/O or codec errors opening a real module's pages.
    fn ring_bank(&self, id: &str) -> Result<Option<SharedRingBank>> {
        let _ = id;
        Ok(None)
    }

    /// What the model computed for the receiver of module lane `lane` (1-based) of port `id`
    /// at the latest advance, term by term: on the twin only (a real module measures its
    /// light, there is no model to show), and `None` for a dark lane.
    ///
    /// # Errors
    /// Unknown ports or lanes.
    fn lane_model(&self, id: &str, lane: u8) -> Result<Option<super::twin::LaneChain>> {
        let _ = (id, lane);
        Ok(None)
    }

    /// The handle that sets the twin's ambient temperature, on the twin only.
    fn twin_ambient(&self) -> Option<&dyn TwinAmbient> {
        None
    }
}

/// Where an ambient profile applies in the twin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmbientScope {
    /// Every port of the rack.
    Rack,
    /// The ports of one host (topology host id).
    Host(String),
    /// One port.
    Port(String),
}

/// The twin's ambient temperature: which profile each port's case follows. Real hardware has
/// none ([`OpticalPlant::twin_ambient`] is `None`): its temperature is the room's.
pub trait TwinAmbient: Send + Sync + Debug {
    /// Makes the ports in `scope` follow `profile` from `now` on (the profile's time origin is
    /// `now`: a step at `at_s` happens `at_s` seconds after it is applied). Returns the ports.
    ///
    /// # Errors
    /// [`super::OpticalError::UnknownPort`] (also for a host with no optical port).
    fn apply_ambient(
        &self,
        scope: &AmbientScope,
        profile: &AmbientProfile,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>>;

    /// The profile port `id` follows and its time origin.
    fn ambient_of(&self, id: &str) -> Option<(AmbientProfile, DateTime<Utc>)>;
}

/// Faults injected into a simulated plant, for exercising reconcilers and alarms. Real
/// hardware has no such handle: [`OpticalPlant::twin_faults`] returns `None` there.
pub trait TwinFaults: Send + Sync + Debug {
    /// Injects `fault` into port `port`; it takes effect on that port at once and on the far end
    /// of its link at the next advance.
    ///
    /// # Errors
    /// [`super::OpticalError::UnknownPort`], [`super::OpticalError::InvalidLane`] for a lane
    /// outside the port, [`super::OpticalError::InvalidFault`] for a value out of range.
    fn inject(&self, port: &str, fault: TwinFault) -> Result<()>;

    /// Removes every fault of port `port` (and repairs its link).
    ///
    /// # Errors
    /// [`super::OpticalError::UnknownPort`], or physics errors recomputing the port.
    fn clear(&self, port: &str) -> Result<()>;

    /// Cuts (or repairs) link `link`; takes effect at the next advance.
    ///
    /// # Errors
    /// [`super::OpticalError::UnknownLink`].
    fn cut_link(&self, link: &str, cut: bool) -> Result<()>;
}

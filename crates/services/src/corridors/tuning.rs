//! What corrd asks heliopassd about a corridor's rings: the tuning state the
//! telemetry reports (heater power, lock error) and whether the rings hold
//! lock. corrd does not depend on heliopassd; heliopassd attaches itself
//! ([`super::CorridorService::attach_tuning`]), as attestd does for trust.

use std::fmt;

/// The rings of some lanes of one corridor, both ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuningState {
    /// Heater power of the corridor's rings (both ends), mW.
    pub heater_mw: f64,
    /// Largest |lock error| as a share of the ring linewidth.
    pub worst_error_share: f64,
    /// Ring lanes whose lock is lost and which heliopassd is re-acquiring
    /// ("op-h0-0 lane 3"): the lanes are its to recover.
    pub reacquiring: Vec<String>,
    /// Ring lanes heliopassd could not lock again within its budget: handed
    /// over to corrd's reconciler.
    pub handed_over: Vec<String>,
}

/// heliopassd, as corrd sees it.
pub trait LaneTuning: Send + Sync + fmt::Debug {
    /// The tracked state of `lanes` on `ports`; `None` when HELIOPASS does
    /// not drive these rings (never calibrated, or no ring pages).
    fn tuning(&self, ports: &[String], lanes: &[u8]) -> Option<TuningState>;

    /// Brings the ring trackers to the plant's time `now`, before corrd
    /// advances the plant: no reading sees rings the loop has not followed.
    fn catch_up(&self, now: chrono::DateTime<chrono::Utc>);

    /// Whether HELIOPASS is calibrating any of `ports` now: a calibration sweeps the
    /// rings' heaters across the lane on purpose, so what a reading shows meanwhile is
    /// not a fault for corrd to repair.
    fn calibrating(&self, ports: &[String]) -> bool;

    /// Whether the rings of `lanes` on `ports` hold lock, as far as can be read without
    /// waiting: [`RingLockView::Unknown`] while the tracking loop or a calibration holds
    /// one of the ports (its state is changing under them).
    fn ring_lock(&self, ports: &[String], lanes: &[u8]) -> RingLockView;
}

/// The lock state of a corridor's rings, as corrd's reconciler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingLockView {
    /// HELIOPASS drives none of these rings.
    NotTracked,
    /// Every ring is locked on its lane.
    Locked,
    /// Some ring lost lock (re-acquiring, or handed over).
    Unlocked,
    /// A port is held by the tracking loop or a calibration right now.
    Unknown,
}

/// Condition type of a corridor whose rings HELIOPASS tracks.
pub const RING_LOCK: &str = "RingLock";
/// `RingLock` reason: every ring is held on its lane.
pub const LOCKED: &str = "Locked";
/// `RingLock` reason: lock lost, heliopassd searching (corrd waits).
pub const REACQUIRING: &str = "Reacquiring";
/// `RingLock` reason: heliopassd gave up; corrd's reconciler repairs the
/// lanes. The hand-over travels through the store: corrd acts on this
/// recorded condition, so the watch always shows it before the repair.
pub const REACQUIRE_FAILED: &str = "ReacquireFailed";

/// Longest corrd waits for heliopassd on an unhealthy corridor whose rings
/// are unlocked before it repairs the lanes anyway (heliopassd hands over
/// within its budget of control periods, well under a second; this bounds
/// the wait if it stopped).
pub const HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

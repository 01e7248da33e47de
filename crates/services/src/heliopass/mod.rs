//! heliopassd: keeps the corridors' microrings on their lanes
//! (`reference/photonics.md` §2–3).
//!
//! | module | one job |
//! |---|---|
//! | [`control`] | one port's controllers: calibration, bias sweep, tracker, lane report |
//! | [`tracking`] | the loop stepping every lit port's tracker on the plant's simulated time |
//!
//! The controllers are `corridor-heliopass`'s, run against the ring bank the
//! plant hands out ([`corridor_hal::OpticalPlant::ring_bank`]): the twin's
//! simulated bank or a real module's HELIOPASS pages, the same code.
//! A calibration (`POST /v1/heliopass/calibrate`, and a corridor's
//! `recalibrate`) is a long operation whose progress carries every lane's
//! state; its stored result is the [`Calibration`] document. A port under
//! calibration is busy: a second calibration touching it is refused
//! (`409 CalibrationInProgress`) and the tracking loop leaves it alone, so two
//! controllers never interleave on one bank (its mutex guards the rest).

pub mod control;
pub mod tracking;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corridor_hal::Clocks;
use corridor_hal::optical::{AmbientScope, OpticalPlant};
use corridor_hal::topology::{self, Topology};
use corridor_model::calibration::{
    AmbientProfile, AmbientStep, Calibration, CalibrationMode, CalibrationRequest,
    TwinAmbientRequest, TwinAmbientStatus,
};
use corridor_model::corridor::CorridorStatus;
use corridor_model::meta::{Operation, OperationKind, ResourceKind, ResourceRef};
use corridor_model::problem::Problem;
use corridor_model::units::{Celsius, Seconds};
use thiserror::Error;

use crate::Caller;
use crate::corridors::tuning::{LaneTuning, RingLockView, TuningState};
use crate::corridors::{CorridorError, CorridorService};
use crate::error::error_chain;
use crate::ids::new_id;
use crate::operations::Operations;
use control::PortControl;

/// Knobs of heliopassd.
#[derive(Debug, Clone, PartialEq)]
pub struct HelioSettings {
    /// Tracker control rate in simulated time, Hz (1 kHz by default).
    pub control_hz: f64,
    /// Real time between two passes of the tracking loop.
    pub tick: Duration,
    /// Most control periods one port runs per pass (the rest are skipped and
    /// counted): bounds the CPU a slow pass can take.
    pub max_periods_per_tick: u32,
    /// While every ring is locked, a period runs only when the case
    /// temperature moved this much since the last one ran, K, or
    /// [`HelioSettings::keepalive_s`] passed: the twin's only disturbance is
    /// the ambient, so a period with none changes nothing but noise.
    pub quiet_k: f64,
    /// Longest simulated time between two periods that run, s.
    pub keepalive_s: f64,
    /// Periods a lost ring may take to lock again before the corridor is
    /// handed to corrd's reconciler.
    pub reacquire_periods: u32,
    /// Whether the tracking loop runs at all (`false` only to show what
    /// happens without it).
    pub tracking: bool,
}

impl Default for HelioSettings {
    fn default() -> Self {
        Self {
            control_hz: 1000.0,
            tick: Duration::from_millis(200),
            max_periods_per_tick: 200,
            // 3× the twin's bank sensor noise (0.01 K RMS): noise alone
            // rarely triggers a period; 0.03 K moves a ring 2.4 pm (1.5 %
            // of its linewidth) before one runs. At 0.01 K the noise ran
            // ~40 % of the instants (the tracking bench: 20 % of a core).
            quiet_k: 0.03,
            keepalive_s: 1.0,
            reacquire_periods: 50,
            tracking: true,
        }
    }
}

/// Why heliopassd refused.
#[derive(Debug, Error)]
pub enum HelioError {
    #[error(transparent)]
    Corridor(#[from] CorridorError),
    /// No optical port (or host) with this id; `pointer` is the request
    /// field that named it.
    #[error("no optical port {port:?} in the topology")]
    UnknownPort { pointer: &'static str, port: String },
    /// The port's module has no HELIOPASS ring pages.
    #[error("optical port {port} has no HELIOPASS ring pages (a standard CMIS module)")]
    NoRingBank { port: String },
    /// The corridor's lanes are dark, so there is no light to lock on.
    #[error("corridor {id} cannot be calibrated: {why}")]
    Dark { id: String, why: String },
    /// A port is being calibrated already (`by`: the operation, or the
    /// tracking loop's first calibration of a lit port).
    #[error("optical port {port} is being calibrated by {by}")]
    Busy { port: String, by: String },
    /// `track` needs a calibration to track from.
    #[error("optical port {port} has never been calibrated: run mode full first")]
    NotCalibrated { port: String },
    /// No profile with this name; `pointer` is the request field.
    #[error("no ambient profile {name:?} (GET /v1/heliopass/profiles lists them)")]
    UnknownProfile { pointer: &'static str, name: String },
    /// Ambient profiles apply to the twin only.
    #[error(
        "the optical plant is {backend}: ambient profiles apply to the digital twin only (real modules feel the room)"
    )]
    NotATwin { backend: &'static str },
    /// The plant refused (I/O, codec).
    #[error("optical port {port}")]
    Optical {
        port: String,
        #[source]
        source: corridor_hal::OpticalError,
    },
}

impl crate::error::ToProblem for HelioError {
    fn to_problem(&self) -> Problem {
        match self {
            HelioError::Corridor(e) => e.to_problem(),
            HelioError::UnknownPort { pointer, .. }
            | HelioError::UnknownProfile { pointer, .. } => {
                Problem::validation(vec![corridor_model::problem::FieldViolation {
                    pointer: (*pointer).into(),
                    rule: "exists".into(),
                    message: self.to_string(),
                }])
            }
            HelioError::NoRingBank { .. } | HelioError::NotCalibrated { .. } => {
                Problem::conflict("NotCalibratable", self.to_string())
            }
            HelioError::Dark { .. } => Problem::conflict("NotLit", self.to_string()),
            HelioError::Busy { .. } => Problem::conflict("CalibrationInProgress", self.to_string()),
            HelioError::NotATwin { .. } => Problem::conflict("NotATwin", self.to_string()),
            HelioError::Optical { .. } => Problem::internal(error_chain(self)),
        }
    }
}

/// The heliopassd service.
#[derive(Debug)]
pub struct HelioService {
    optics: Arc<dyn OpticalPlant>,
    topology: Arc<Topology>,
    clocks: Clocks,
    operations: Operations,
    corridors: Arc<CorridorService>,
    settings: std::sync::RwLock<HelioSettings>,
    /// Controller state per port, created at its first calibration.
    ports: Mutex<HashMap<String, Arc<Mutex<PortControl>>>>,
    /// Ports under calibration → the operation calibrating them.
    busy: Mutex<HashMap<String, String>>,
    /// Lit corridor → the `RingLock` (status, reason) this leadership term
    /// last recorded on it, so a pass reads and rewrites only the corridors
    /// whose condition changed (see [`tracking`]).
    ring_lock_recorded: Mutex<HashMap<String, RecordedRingLock>>,
}

/// A `RingLock` condition as far as a pass compares it: status and reason.
pub(crate) type RecordedRingLock = (corridor_model::meta::ConditionStatus, String);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The API view of a topology profile.
pub fn api_profile(p: &topology::AmbientProfile) -> AmbientProfile {
    AmbientProfile {
        name: p.name.as_str().to_string(),
        description: p.description.clone(),
        source: p.source.clone(),
        base_temp_c: Celsius::new(p.base_temp_c.0),
        swing_c: Celsius::new(p.swing_c.0),
        period_s: Seconds::new(p.period_s.0.round() as u64),
        steps: p
            .steps
            .iter()
            .map(|s| AmbientStep {
                at_s: Seconds::new(s.at_s.0.round() as u64),
                temp_c: Celsius::new(s.temp_c.0),
            })
            .collect(),
    }
}

/// The twin's view of an API profile (validated by the caller).
fn twin_profile(p: &AmbientProfile) -> Result<topology::AmbientProfile, HelioError> {
    let name =
        topology::ProfileName::new(p.name.as_str()).map_err(|_| HelioError::UnknownProfile {
            pointer: "/custom/name",
            name: p.name.clone(),
        })?;
    Ok(topology::AmbientProfile {
        name,
        description: p.description.clone(),
        source: p.source.clone(),
        base_temp_c: topology::Celsius(p.base_temp_c.get()),
        swing_c: topology::Celsius(p.swing_c.get()),
        period_s: topology::Seconds(p.period_s.get() as f64),
        steps: p
            .steps
            .iter()
            .map(|s| topology::AmbientStep {
                at_s: topology::Seconds(s.at_s.get() as f64),
                temp_c: topology::Celsius(s.temp_c.get()),
            })
            .collect(),
    })
}

impl HelioService {
    pub fn new(
        optics: Arc<dyn OpticalPlant>,
        topology: Arc<Topology>,
        clocks: Clocks,
        operations: Operations,
        corridors: Arc<CorridorService>,
        settings: HelioSettings,
    ) -> Self {
        Self {
            optics,
            topology,
            clocks,
            operations,
            corridors,
            settings: std::sync::RwLock::new(settings),
            ports: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashMap::new()),
            ring_lock_recorded: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> HelioSettings {
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the settings (corridord's configuration, before serving).
    pub fn configure(&self, settings: HelioSettings) {
        *self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
    }

    /// Every ambient profile the twin knows.
    pub fn profiles(&self) -> Vec<AmbientProfile> {
        self.topology
            .ambient_profiles()
            .iter()
            .map(api_profile)
            .collect()
    }

    fn profile(&self, pointer: &'static str, name: &str) -> Result<AmbientProfile, HelioError> {
        self.profiles()
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| HelioError::UnknownProfile {
                pointer,
                name: name.to_owned(),
            })
    }

    /// Applies an ambient profile to the twin's rack, a host or a port
    /// (admin). Real optics: [`HelioError::NotATwin`], before anything else.
    pub async fn apply_ambient(
        &self,
        request: &TwinAmbientRequest,
    ) -> Result<TwinAmbientStatus, HelioError> {
        // The ambient is the leader's twin's (in cluster mode).
        self.corridors.plant_here().await?;
        let Some(ambient) = self.optics.twin_ambient() else {
            return Err(HelioError::NotATwin {
                backend: self.optics.backend(),
            });
        };
        let profile = match (&request.profile, &request.custom) {
            (Some(name), _) => self.profile("/profile", name)?,
            (None, Some(custom)) => custom.clone(),
            (None, None) => {
                return Err(HelioError::UnknownProfile {
                    pointer: "/profile",
                    name: String::new(),
                });
            }
        };
        let scope = match (&request.host, &request.port) {
            (Some(h), _) => AmbientScope::Host(h.clone()),
            (None, Some(p)) => AmbientScope::Port(p.clone()),
            (None, None) => AmbientScope::Rack,
        };
        let now = self.clocks.plant.now();
        let ports = ambient
            .apply_ambient(&scope, &twin_profile(&profile)?, now)
            .map_err(|e| match (e, &scope) {
                (corridor_hal::OpticalError::UnknownPort { .. }, AmbientScope::Host(h)) => {
                    HelioError::UnknownPort {
                        pointer: "/host",
                        port: format!("(host {h} has no optical port)"),
                    }
                }
                (corridor_hal::OpticalError::UnknownPort { port }, _) => HelioError::UnknownPort {
                    pointer: "/port",
                    port,
                },
                (source, _) => HelioError::Optical {
                    port: format!("{scope:?}"),
                    source,
                },
            })?;
        Ok(TwinAmbientStatus {
            profile,
            applied_at: now,
            ports,
        })
    }

    /// The controller state of `port`, created (with its ring bank) on
    /// first use.
    fn control(&self, port: &str) -> Result<Arc<Mutex<PortControl>>, HelioError> {
        if let Some(c) = lock(&self.ports).get(port) {
            return Ok(Arc::clone(c));
        }
        let Some(topo_port) = self
            .topology
            .optical_ports()
            .iter()
            .find(|p| p.id.as_str() == port)
        else {
            return Err(HelioError::UnknownPort {
                pointer: "/port",
                port: port.to_owned(),
            });
        };
        let bank = self
            .optics
            .ring_bank(port)
            .map_err(|source| HelioError::Optical {
                port: port.to_owned(),
                source,
            })?
            .ok_or_else(|| HelioError::NoRingBank {
                port: port.to_owned(),
            })?;
        let control = Arc::new(Mutex::new(PortControl::new(
            port,
            bank,
            control::design_of(topo_port),
            &self.settings(),
        )));
        Ok(Arc::clone(
            lock(&self.ports).entry(port.to_owned()).or_insert(control),
        ))
    }

    /// Ports with a controller (calibrated at least once), and their state.
    pub(crate) fn controls(&self) -> Vec<(String, Arc<Mutex<PortControl>>)> {
        lock(&self.ports)
            .iter()
            .map(|(p, c)| (p.clone(), Arc::clone(c)))
            .collect()
    }

    pub(crate) fn is_busy(&self, port: &str) -> bool {
        lock(&self.busy).contains_key(port)
    }

    /// Starts a calibration of a corridor's lanes (both ends) or of one
    /// port's ring bank, as a long operation.
    pub async fn calibrate(
        self: &Arc<Self>,
        caller: &Caller,
        request: CalibrationRequest,
    ) -> Result<Operation, HelioError> {
        // The rings are the leader's plant's (in cluster mode).
        self.corridors.plant_here().await?;
        let mode = request.mode.unwrap_or_default();
        let (target, ports, lanes) = match (&request.corridor_id, &request.port) {
            (Some(id), _) => {
                let corridor = self.corridors.get(caller, id).await?;
                let why = match corridor.status {
                    CorridorStatus::Active | CorridorStatus::Degraded => None,
                    other => Some(format!(
                        "its lanes are dark (the corridor is {})",
                        format!("{other:?}").to_lowercase()
                    )),
                };
                let a = match (why, corridor.assignment) {
                    (None, Some(a)) => a,
                    (why, _) => {
                        return Err(HelioError::Dark {
                            id: id.clone(),
                            why: why.unwrap_or_else(|| "no lanes are assigned".into()),
                        });
                    }
                };
                (
                    ResourceRef::new(ResourceKind::Corridor, id.clone()),
                    a.ports.to_vec(),
                    a.module_lanes.clone(),
                )
            }
            (None, Some(port)) => {
                let Some(p) = self.optics.port(port) else {
                    return Err(HelioError::UnknownPort {
                        pointer: "/port",
                        port: port.clone(),
                    });
                };
                (
                    ResourceRef::new(ResourceKind::Calibration, port.clone()),
                    vec![port.clone()],
                    (1..=p.lanes()).collect(),
                )
            }
            (None, None) => {
                return Err(HelioError::UnknownPort {
                    pointer: "/corridor_id",
                    port: String::new(),
                });
            }
        };
        if let Some(name) = &request.ambient_profile {
            self.profile("/ambient_profile", name)?;
        }
        let controls = ports
            .iter()
            .map(|p| self.control(p))
            .collect::<Result<Vec<_>, _>>()?;
        if mode == CalibrationMode::Track {
            for (p, c) in ports.iter().zip(&controls) {
                if !lock(c).is_calibrated() {
                    return Err(HelioError::NotCalibrated { port: p.clone() });
                }
            }
        }
        let calibration_id = new_id(self.clocks.wall.as_ref(), "cal");
        // The tracking loop's own first calibration of a newly lit port is
        // short and not the caller's doing: wait for it (bounded) rather
        // than refuse a recalibration asked right after the corridor lit.
        let waited_until = std::time::Instant::now() + tracking::FIRST_CALIBRATION_WAIT;
        while std::time::Instant::now() < waited_until
            && ports.iter().any(|p| {
                lock(&self.busy)
                    .get(p)
                    .is_some_and(|by| by == tracking::FIRST_CALIBRATION)
            })
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Claim every port before the operation starts: the claim is the
        // refusal of a second calibration, never a queue.
        {
            let mut busy = lock(&self.busy);
            if let Some((port, op)) = ports
                .iter()
                .find_map(|p| busy.get(p).map(|op| (p.clone(), op.clone())))
            {
                return Err(HelioError::Busy { port, by: op });
            }
            for p in &ports {
                busy.insert(p.clone(), calibration_id.clone());
            }
        }
        let release = {
            let service = Arc::clone(self);
            let ports = ports.clone();
            move || {
                let mut busy = lock(&service.busy);
                for p in &ports {
                    busy.remove(p);
                }
            }
        };
        let pending = Calibration::pending(calibration_id.clone(), request, self.clocks.wall.now());
        let service = Arc::clone(self);
        let started = self
            .operations
            .start(
                OperationKind::Calibration,
                target,
                move |progress| async move {
                    let outcome = service
                        .run_calibration(pending, ports, controls, lanes, mode, &progress)
                        .await;
                    release();
                    outcome
                },
            )
            .await;
        match started {
            Ok(op) => {
                // The operation's id is what a refused second caller is told.
                let mut busy = lock(&self.busy);
                for v in busy.values_mut() {
                    if *v == calibration_id {
                        *v = format!("operation {}", op.id);
                    }
                }
                Ok(op)
            }
            Err(e) => {
                let mut busy = lock(&self.busy);
                busy.retain(|_, v| *v != calibration_id);
                Err(HelioError::Corridor(CorridorError::from(e)))
            }
        }
    }

    async fn run_calibration(
        self: &Arc<Self>,
        mut result: Calibration,
        ports: Vec<String>,
        controls: Vec<Arc<Mutex<PortControl>>>,
        lanes: Vec<u8>,
        mode: CalibrationMode,
        progress: &crate::operations::Progress,
    ) -> Result<Option<serde_json::Value>, Problem> {
        result.operation_id = Some(progress.operation_id().to_owned());
        result.state = corridor_model::meta::OperationState::Running;
        let n = ports.len();
        for (k, (port, control)) in ports.iter().zip(&controls).enumerate() {
            let base = (100 * k / n) as u8;
            let before = {
                let control = Arc::clone(control);
                let lanes = lanes.clone();
                let port = port.clone();
                tokio::task::spawn_blocking(move || lock(&control).lane_reports(&port, &lanes))
                    .await
                    .map_err(|e| Problem::internal(e.to_string()))?
            };
            let mut lanes_now = before.clone();
            let _ = progress
                .report_detail(
                    base + 5,
                    format!("{port}: {} lanes, {}", lanes.len(), match mode {
                        CalibrationMode::Full => "heater sweep per ring with the others parked, crosstalk K, least-power assignment",
                        CalibrationMode::Track => "tracking from the stored calibration",
                    }),
                    partial(&result, &lanes_now),
                )
                .await;
            let now = self.clocks.plant.now();
            let ran = {
                let control = Arc::clone(control);
                let settings = self.settings();
                tokio::task::spawn_blocking(move || {
                    let mut c = lock(&control);
                    c.calibrate(mode, now, &settings)
                })
                .await
                .map_err(|e| Problem::internal(e.to_string()))?
            };
            ran.map_err(|e| {
                Problem::conflict("CalibrationFailed", format!("{port}: {}", error_chain(&e)))
            })?;
            let after = {
                let control = Arc::clone(control);
                let lanes = lanes.clone();
                let port = port.clone();
                tokio::task::spawn_blocking(move || lock(&control).lane_reports(&port, &lanes))
                    .await
                    .map_err(|e| Problem::internal(e.to_string()))?
            };
            lanes_now = after
                .into_iter()
                .zip(&before)
                .map(|(mut a, b)| {
                    a.ber_before = Some(b.ber);
                    a
                })
                .collect();
            result.lanes.retain(|l| l.port.as_deref() != Some(port));
            result.lanes.extend(lanes_now.iter().cloned());
            let _ = progress
                .report_detail(
                    (100 * (k + 1) / n).min(99) as u8,
                    format!("{port}: rings locked, bias set"),
                    partial(&result, &[]),
                )
                .await;
        }
        // The corridor's own figures at the new operating point.
        if let Some(id) = result.corridor_id.clone() {
            let corridor = self
                .corridors
                .record_readback(&id)
                .await
                .map_err(|e| crate::error::ToProblem::to_problem(&e))?;
            result.achieved_ber = Some(corridor.ber);
        } else {
            result.achieved_ber = result.lanes.iter().map(|l| l.ber).reduce(f64::max);
        }
        // Tuning power of every ring calibrated (both ends) over the bits
        // the lanes carry: mW over Gb/s is pJ/bit.
        let heater: f64 = result.lanes.iter().map(|l| l.heater_mw).sum();
        let gbps = self.lane_rate(&ports[0]) * lanes.len() as f64;
        if gbps > 0.0 {
            result.power_pj_per_bit =
                Some(corridor_model::units::PicojoulesPerBit::new(heater / gbps));
        }
        result.state = corridor_model::meta::OperationState::Succeeded;
        result.progress_percent = 100;
        result.completed_at = Some(self.clocks.wall.now());
        serde_json::to_value(&result)
            .map(Some)
            .map_err(|e| Problem::internal(e.to_string()))
    }

    fn lane_rate(&self, port: &str) -> f64 {
        self.topology
            .optical_ports()
            .iter()
            .find(|p| p.id.as_str() == port)
            .map_or(0.0, |p| p.lane_rate_gbps.0)
    }

    /// Starts the tracking loop (if enabled).
    pub fn spawn_tracking(self: &Arc<Self>) -> Option<tracking::TrackingHandle> {
        self.settings()
            .tracking
            .then(|| tracking::spawn(Arc::clone(self)))
    }

    pub(crate) fn plant_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clocks.plant.now()
    }

    pub(crate) fn wall_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clocks.wall.now()
    }
}

/// The calibration document so far, with `lanes` of the port in progress.
fn partial(
    result: &Calibration,
    lanes: &[corridor_model::calibration::LaneCalibration],
) -> serde_json::Value {
    let mut doc = result.clone();
    doc.lanes.extend(lanes.iter().cloned());
    serde_json::to_value(&doc).unwrap_or(serde_json::Value::Null)
}

impl LaneTuning for HelioService {
    fn catch_up(&self, now: chrono::DateTime<chrono::Utc>) {
        HelioService::catch_up(self, now);
    }

    fn calibrating(&self, ports: &[String]) -> bool {
        ports.iter().any(|p| self.is_busy(p))
    }

    fn ring_lock(&self, ports: &[String], lanes: &[u8]) -> RingLockView {
        let budget = self.settings().reacquire_periods;
        let mut view = RingLockView::NotTracked;
        for port in ports {
            let Some(control) = lock(&self.ports).get(port).cloned() else {
                continue;
            };
            let Ok(c) = control.try_lock() else {
                return RingLockView::Unknown;
            };
            match c.tuning(port, lanes, budget) {
                Some(t) if !t.reacquiring.is_empty() || !t.handed_over.is_empty() => {
                    view = RingLockView::Unlocked;
                }
                Some(_) if view == RingLockView::NotTracked => view = RingLockView::Locked,
                _ => {}
            }
        }
        view
    }

    fn tuning(&self, ports: &[String], lanes: &[u8]) -> Option<TuningState> {
        let mut state = TuningState::default();
        let mut any = false;
        for port in ports {
            let Some(control) = lock(&self.ports).get(port).cloned() else {
                continue;
            };
            // A port under calibration is skipped rather than waited for.
            let Ok(c) = control.try_lock() else {
                continue;
            };
            if let Some(t) = c.tuning(port, lanes, self.settings().reacquire_periods) {
                any = true;
                state.heater_mw += t.heater_mw;
                state.worst_error_share = state.worst_error_share.max(t.worst_error_share);
                state.reacquiring.extend(t.reacquiring);
                state.handed_over.extend(t.handed_over);
            }
        }
        any.then_some(state)
    }
}

//! corrd: photonic corridors.
//!
//! | module | one job |
//! |---|---|
//! | [`fabric`] | the twin topology's ports and links as the planner's graph; λ snapping |
//! | [`ledger`] | the store keys that hold capacity, and the planning cache rebuilt from them |
//! | [`admission`] | path, channels and module lanes for a request (planner + physics), gold pre-emption |
//! | [`grant`] | the store transactions: grant, release, pre-empt, move |
//! | [`optics`] | CMIS provisioning, re-lock and telemetry read-back on the optical ports |
//! | [`reconcile`] | the loop that watches telemetry and repairs corridors |
//!
//! The store is the only truth about who holds what: every change of
//! capacity is one transaction over the corridor object and its ledger keys.

pub mod admission;
pub mod error;
pub mod fabric;
pub mod grant;
pub mod ledger;
pub mod optics;
pub mod reconcile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_hal::optical::{OpticalPlant, TwinFault};
use corridor_hal::{Clock, Topology};
use corridor_model::corridor::{
    Corridor, CorridorRequest, CorridorStatus, CorridorTelemetry, TwinFaultKind, TwinFaultRequest,
};
use corridor_model::meta::{
    Condition, ConditionStatus, Operation, OperationKind, ResourceKind, ResourceRef,
};
use corridor_model::problem::Problem;
use corridor_model::units::{Celsius, PicojoulesPerBit};
use corridor_physics::Fec;
use corridor_store::StateStore;

pub use error::CorridorError;

use crate::error::ToProblem;
use crate::operations::Operations;
use crate::{ListOptions, Page, Registry};
use ledger::Cache;

crate::meta_resource!(Corridor, "corridors", leased);

/// Condition types a corridor carries.
pub mod conditions {
    /// Capacity granted in the ledger.
    pub const ADMITTED: &str = "Admitted";
    /// Lanes provisioned through CMIS and lit.
    pub const PROVISIONED: &str = "Provisioned";
    /// Attestation of the devices on the path.
    pub const ATTESTED: &str = "Attested";
    /// BER and eye margin within thresholds.
    pub const HEALTHY: &str = "Healthy";
    /// Outcome of the reconciler's latest repair.
    pub const REPAIRED: &str = "Repaired";
    /// Released by a gold corridor.
    pub const PREEMPTED: &str = "Preempted";
}

/// Error counts integrate the modelled post-FEC BER over time; kept in
/// memory (a restart starts counting again, as a module's counters do).
#[derive(Debug, Clone, Copy)]
struct ErrorCounter {
    at: DateTime<Utc>,
    errors: f64,
}

/// The photonic corridor service.
#[derive(Debug)]
pub struct CorridorService {
    registry: Registry<Corridor>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    fabric: Arc<fabric::Fabric>,
    cache: Mutex<Cache>,
    /// The optical ports: the twin or real modules, chosen in configuration.
    optics: Arc<dyn OpticalPlant>,
    operations: Operations,
    counters: Mutex<HashMap<String, ErrorCounter>>,
    /// Lanes this process has lit, by corridor: the reconciler takes down
    /// those whose corridor is gone (lease expiry, pre-emption elsewhere).
    lit: Mutex<HashMap<String, corridor_model::corridor::CorridorAssignment>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many times admission replans after losing a race on the ledger.
const ADMISSION_ATTEMPTS: usize = 32;

impl CorridorService {
    /// Maps the topology, takes the optical plant (whose ports are the
    /// topology's) and rebuilds the planning cache from the ledger in the
    /// store.
    pub async fn start(
        store: Arc<dyn StateStore>,
        topology: &Topology,
        optics: Arc<dyn OpticalPlant>,
        clock: Arc<dyn Clock>,
        operations: Operations,
    ) -> Result<Self, CorridorError> {
        let fabric = fabric::Fabric::from_topology(topology)?;
        let cache = Cache::load(&fabric, store.as_ref()).await?;
        let service = Self {
            registry: Registry::new(Arc::clone(&store)),
            store,
            clock,
            fabric: Arc::new(fabric),
            cache: Mutex::new(cache),
            optics,
            operations,
            counters: Mutex::new(HashMap::new()),
            lit: Mutex::new(HashMap::new()),
        };
        // Corridors that were lit before a restart are lit again: the twin's
        // modules start dark, as real modules after a power cycle.
        service.relight_after_restart().await;
        Ok(service)
    }

    /// Provisions the corridor's lanes and remembers them as lit.
    pub(crate) async fn light(
        &self,
        id: &str,
        a: &corridor_model::corridor::CorridorAssignment,
    ) -> Result<(), CorridorError> {
        lock(&self.lit).insert(id.to_owned(), a.clone());
        optics::provision(&self.optics, a).await
    }

    /// Takes the corridor's lanes down.
    pub(crate) async fn darken(
        &self,
        id: &str,
        a: &corridor_model::corridor::CorridorAssignment,
    ) -> Result<(), CorridorError> {
        lock(&self.lit).remove(id);
        optics::release(&self.optics, a).await
    }

    /// Corridors whose lanes this process has lit.
    pub fn lit(&self) -> Vec<String> {
        lock(&self.lit).keys().cloned().collect()
    }

    pub fn registry(&self) -> &Registry<Corridor> {
        &self.registry
    }

    pub fn optics(&self) -> &dyn OpticalPlant {
        self.optics.as_ref()
    }

    pub fn fabric(&self) -> &fabric::Fabric {
        &self.fabric
    }

    /// A copy of the planning cache (for tests and diagnostics).
    pub fn cache_snapshot(&self) -> Cache {
        lock(&self.cache).clone()
    }

    /// Re-reads the ledger from the store into the cache.
    pub async fn refresh(&self) -> Result<(), CorridorError> {
        let mut fresh = Cache::load(&self.fabric, self.store.as_ref()).await?;
        let mut cache = lock(&self.cache);
        fresh.adopt_tentative(&cache);
        *cache = fresh;
        Ok(())
    }

    /// Admits, grants and provisions a corridor owned by `owner`.
    pub async fn create(
        &self,
        mut request: CorridorRequest,
        owner: Option<String>,
    ) -> Result<Corridor, CorridorError> {
        request.security_domain = owner;
        let (granted, lease) = grant::admit(self, &request).await?;
        Ok(self.bring_up(granted, lease).await)
    }

    /// Writes `mutate(corridor)` back if the object is still at the
    /// revision `corridor` was read at (one compare-and-swap, no re-read:
    /// the common case right after the grant); else mutates the fresh
    /// object through the registry.
    async fn write_back(
        &self,
        corridor: Corridor,
        lease: Option<corridor_store::LeaseId>,
        mut mutate: impl FnMut(&mut Corridor) + Send,
    ) -> Corridor {
        let key = Registry::<Corridor>::key(&corridor.id);
        if let Ok(revision) = corridor
            .meta
            .resource_version
            .parse::<corridor_store::Revision>()
        {
            let mut next = corridor.clone();
            mutate(&mut next);
            let value = serde_json::to_vec(&next).expect("API types always serialise to JSON");
            let txn = corridor_store::Txn {
                compares: vec![corridor_store::Compare::mod_revision(
                    key,
                    corridor_store::CompareOp::Equal,
                    revision,
                )],
                success: vec![corridor_store::Op::Put {
                    key: Registry::<Corridor>::key(&corridor.id),
                    value,
                    lease,
                }],
                failure: Vec::new(),
            };
            if let Ok(response) = self.store.txn(txn).await
                && response.succeeded
            {
                next.meta.resource_version = response.revision.to_string();
                return next;
            }
        }
        self.registry
            .update(&corridor.id, None, |c| {
                mutate(c);
                Ok(())
            })
            .await
            .unwrap_or(corridor)
    }

    /// Provisions a freshly granted corridor and records the outcome.
    async fn bring_up(
        &self,
        corridor: Corridor,
        lease: Option<corridor_store::LeaseId>,
    ) -> Corridor {
        let now = self.clock.now();
        if corridor.attestation_required {
            // No attestation service exists yet: the capacity is held, the
            // lanes stay dark, and the corridor says why.
            return self
                .write_back(corridor, lease, |c| {
                    c.meta.set_condition(Condition::new(
                        conditions::ATTESTED,
                        ConditionStatus::False,
                        "AttestationUnavailable",
                        "attestation_required is set and no attestation service (attestd) runs in this control plane yet; activation is held until one attests the path",
                        now,
                    ));
                    c.meta.updated_at = now;
                })
                .await;
        }
        let Some(assignment) = corridor.assignment.clone() else {
            return corridor;
        };
        let outcome = async {
            self.light(&corridor.id, &assignment).await?;
            optics::settle(&self.optics, &assignment, now).await?;
            optics::read(&self.optics, &corridor, &assignment).await
        }
        .await;
        self.write_back(corridor, lease, |c| {
            match &outcome {
                Ok(readback) => {
                    c.meta.set_condition(Condition::new(
                        conditions::PROVISIONED,
                        ConditionStatus::True,
                        "DataPathActivated",
                        format!(
                            "CMIS data path activated on module lanes {:?} of {} and {}",
                            assignment.module_lanes, assignment.ports[0], assignment.ports[1]
                        ),
                        now,
                    ));
                    reconcile::apply_readback(c, readback, now);
                }
                Err(e) => {
                    c.status = CorridorStatus::Failed;
                    c.meta.set_condition(Condition::new(
                        conditions::PROVISIONED,
                        ConditionStatus::False,
                        "ProvisioningFailed",
                        crate::error::error_chain(e),
                        now,
                    ));
                }
            }
            c.meta.updated_at = now;
        })
        .await
    }

    async fn relight_after_restart(&self) {
        let Ok(all) = self.list_all().await else {
            return;
        };
        for c in all {
            if matches!(c.status, CorridorStatus::Active | CorridorStatus::Degraded)
                && let Some(a) = &c.assignment
            {
                let _ = self.light(&c.id, a).await;
            }
        }
        let _ = self.advance(self.clock.now()).await;
    }

    pub async fn get(&self, id: &str) -> Result<Corridor, CorridorError> {
        Ok(self.registry.get(id).await?)
    }

    /// The corridor and its store record (revision, lease).
    pub async fn get_kv(
        &self,
        id: &str,
    ) -> Result<(Corridor, corridor_store::KeyValue), CorridorError> {
        Ok(self.registry.get_kv(id).await?)
    }

    pub async fn list(&self, options: &ListOptions) -> Result<Page<Corridor>, CorridorError> {
        Ok(self.registry.list(options).await?)
    }

    /// Every corridor, across pages.
    pub async fn list_all(&self) -> Result<Vec<Corridor>, CorridorError> {
        let mut out = Vec::new();
        let mut options = ListOptions::default();
        loop {
            let page = self.registry.list(&options).await?;
            out.extend(page.items);
            match page.continue_token {
                Some(token) => options.continue_token = Some(token),
                None => return Ok(out),
            }
        }
    }

    /// Releases the corridor: object and ledger keys go in one transaction,
    /// then the lanes are taken down. Returns the object as released.
    pub async fn release(
        &self,
        id: &str,
        precondition: Option<corridor_store::Revision>,
    ) -> Result<Corridor, CorridorError> {
        self.release_read(id, precondition, None).await
    }

    /// [`Self::release`] starting from the object and store record the
    /// caller has just read with [`Self::get_kv`] (saves reading it again).
    pub async fn release_read(
        &self,
        id: &str,
        precondition: Option<corridor_store::Revision>,
        read: Option<(Corridor, corridor_store::KeyValue)>,
    ) -> Result<Corridor, CorridorError> {
        let mut released = grant::release(self, id, precondition, read).await?;
        if let Some(a) = &released.assignment
            && released.status != CorridorStatus::Released
        {
            // The capacity is already free in the store; a hardware error
            // here leaves dark lanes the next grant re-provisions anyway.
            if let Err(e) = self.darken(id, a).await {
                tracing::warn!(corridor = %id, error = %crate::error::error_chain(&e), "cannot take the lanes down");
            }
        }
        lock(&self.counters).remove(id);
        let now = self.clock.now();
        released.status = CorridorStatus::Released;
        released.meta.updated_at = now;
        Ok(released)
    }

    /// Renews the corridor's lease (its ledger keys share it).
    pub async fn renew_lease(&self, id: &str) -> Result<Corridor, CorridorError> {
        Ok(self.registry.renew_lease(id, self.clock.now()).await?)
    }

    /// Live telemetry, read back from both ends' CMIS memory maps at the
    /// clock's current time.
    pub async fn telemetry(&self, corridor: &Corridor) -> Result<CorridorTelemetry, CorridorError> {
        let now = self.clock.now();
        self.advance(now).await?;
        let Some(a) = &corridor.assignment else {
            return Err(CorridorError::InsufficientCapacity(format!(
                "corridor {} holds no lanes (status {:?})",
                corridor.id, corridor.status
            )));
        };
        let readback = optics::read(&self.optics, corridor, a).await?;
        let tech = admission::technology(corridor.corridor_type).technology();
        let energy = tech.energy();
        let lanes = a.module_lanes.len() as f64;
        let rate_gbps = a.lane_rate_gbps * lanes;
        // Laser wall-plug power of both ends over the corridor's line rate,
        // plus the technology's modulator-driver and receiver energy.
        let power = readback.laser_mw / rate_gbps + energy.tx.0 + energy.rx.0;
        let errors = self.count_errors(corridor, &readback, now);
        Ok(CorridorTelemetry {
            ber: readback.worst_ber,
            temp_c: Celsius(readback.temp_c),
            power_pj_per_bit: PicojoulesPerBit(power),
            drift: optics::drift_level(readback.worst_drift_share),
            // The reserved share of what the lane plan can carry: the twin
            // has no traffic generator, so this is the committed load.
            utilization_percent: if corridor.achievable_gbps.get() > 0.0 {
                100.0 * corridor.min_gbps.get() / corridor.achievable_gbps.get()
            } else {
                0.0
            },
            error_count: errors,
            lanes: readback.lanes,
            observed_at: Some(now),
        })
    }

    /// Post-FEC errors since the first reading: the KP4 model's post-FEC
    /// BER at the read-back pre-FEC BER, times the bits carried.
    fn count_errors(
        &self,
        corridor: &Corridor,
        readback: &optics::Readback,
        now: DateTime<Utc>,
    ) -> u64 {
        let Some(a) = &corridor.assignment else {
            return 0;
        };
        let mut counters = lock(&self.counters);
        let entry = counters.entry(corridor.id.clone()).or_insert(ErrorCounter {
            at: now,
            errors: 0.0,
        });
        let dt = (now - entry.at).num_milliseconds().max(0) as f64 / 1000.0;
        let bits = a.lane_rate_gbps * 1e9 * a.module_lanes.len() as f64 * dt;
        entry.errors += Fec::Kp4.post_fec_ber(readback.worst_ber.min(0.5)) * bits;
        entry.at = now;
        entry.errors.floor().min(u64::MAX as f64) as u64
    }

    async fn advance(&self, now: DateTime<Utc>) -> Result<(), CorridorError> {
        optics::advance(&self.optics, now).await
    }

    /// Starts a recalibration (a CMIS re-lock of every lane) as a
    /// long-running operation.
    pub async fn recalibrate(
        self: &Arc<Self>,
        corridor: &Corridor,
    ) -> Result<Operation, CorridorError> {
        let Some(assignment) = corridor.assignment.clone() else {
            return Err(CorridorError::InsufficientCapacity(format!(
                "corridor {} holds no lanes to recalibrate",
                corridor.id
            )));
        };
        if corridor.attestation_required || corridor.status == CorridorStatus::Released {
            // Re-locking would light lanes that are dark on purpose.
            return Err(CorridorError::NotLit {
                id: corridor.id.clone(),
                why: if corridor.attestation_required {
                    "its activation is held for attestation".into()
                } else {
                    "it is released".into()
                },
            });
        }
        let service = Arc::clone(self);
        let id = corridor.id.clone();
        let op = self
            .operations
            .start(
                OperationKind::Calibration,
                ResourceRef::new(ResourceKind::Corridor, id.clone()),
                move |progress| async move {
                    let _ = progress
                        .report(10, "cycling the CMIS data path (DPDeinit, ApplyDPInit)")
                        .await;
                    optics::relock(&service.optics, &assignment)
                        .await
                        .map_err(|e| Problem::internal(crate::error::error_chain(&e)))?;
                    let _ = progress
                        .report(70, "lasers re-tuned; reading telemetry back")
                        .await;
                    let now = service.clock.now();
                    service
                        .advance(now)
                        .await
                        .map_err(|e| Problem::internal(crate::error::error_chain(&e)))?;
                    let corridor = service
                        .registry
                        .get(&id)
                        .await
                        .map_err(|e| e.to_problem())?;
                    let readback = optics::read(&service.optics, &corridor, &assignment)
                        .await
                        .map_err(|e| Problem::internal(crate::error::error_chain(&e)))?;
                    let updated = service
                        .registry
                        .update(&id, None, |c| {
                            reconcile::apply_readback(c, &readback, now);
                            c.meta.updated_at = now;
                            Ok(())
                        })
                        .await
                        .map_err(|e| e.to_problem())?;
                    Ok(Some(serde_json::json!({
                        "status": updated.status,
                        "ber": updated.ber,
                        "eye_margin": updated.eye_margin,
                    })))
                },
            )
            .await?;
        Ok(op)
    }

    /// Injects a fault into the twin (admin only); the reconciler reacts to
    /// what the ports then report. A plant of real modules has no fault
    /// handle: that is [`CorridorError::NotATwin`], before anything else.
    pub async fn inject_fault(&self, request: &TwinFaultRequest) -> Result<(), CorridorError> {
        let Some(faults) = self.optics.twin_faults() else {
            return Err(CorridorError::NotATwin {
                backend: self.optics.backend(),
            });
        };
        let now = self.clock.now();
        self.advance(now).await?;
        let field = |pointer: &str, rule: &'static str, message: String| CorridorError::Field {
            pointer: pointer.into(),
            rule,
            message,
        };
        // Every refusal names the request field at fault; only a failure of
        // the twin itself is an internal error.
        let refused = |target: &str, source: corridor_hal::OpticalError| match source {
            corridor_hal::OpticalError::UnknownPort { port } => field(
                "/port",
                "exists",
                format!("no optical port {port:?} in the topology"),
            ),
            corridor_hal::OpticalError::UnknownLink { link } => field(
                "/link",
                "exists",
                format!("no link {link:?} in the topology"),
            ),
            e @ corridor_hal::OpticalError::InvalidLane { .. } => {
                // The lane is in the schema's range but not on this port.
                field("/fault/lane", "exists", e.to_string())
            }
            corridor_hal::OpticalError::InvalidFault(message)
            | corridor_hal::OpticalError::Unsupported {
                reason: message, ..
            } => field("/fault", "range", message),
            source => CorridorError::Optical {
                port: target.to_owned(),
                source,
            },
        };
        match &request.fault {
            TwinFaultKind::LinkCut { cut } => {
                let Some(link) = &request.link else {
                    return Err(field(
                        "/link",
                        "compatible",
                        "link_cut needs the link id".into(),
                    ));
                };
                faults.cut_link(link, *cut).map_err(|e| refused(link, e))?;
            }
            other => {
                let Some(port) = &request.port else {
                    return Err(field(
                        "/port",
                        "compatible",
                        "this fault needs the optical port id".into(),
                    ));
                };
                let fault = match *other {
                    TwinFaultKind::LaserAgeing { lane, db } => TwinFault::LaserAgeing { lane, db },
                    TwinFaultKind::RingDetuning { lane, nm } => {
                        TwinFault::RingDetuning { lane, nm }
                    }
                    TwinFaultKind::TemperatureStep { celsius } => {
                        TwinFault::TemperatureStep { celsius }
                    }
                    TwinFaultKind::Clear => {
                        return faults.clear(port).map_err(|e| refused(port, e));
                    }
                    TwinFaultKind::LinkCut { .. } => unreachable!("handled above"),
                };
                faults.inject(port, fault).map_err(|e| refused(port, e))?;
            }
        }
        self.advance(now).await
    }

    /// Starts the reconciler: every `interval` of real time it advances the
    /// twin to the clock and repairs what it reads. Stop it with the handle.
    pub fn spawn_reconciler(self: &Arc<Self>, interval: Duration) -> reconcile::ReconcilerHandle {
        reconcile::spawn(Arc::clone(self), interval)
    }
}

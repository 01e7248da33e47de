//! corrd: photonic corridors.
//!
//! | module | one job |
//! |---|---|
//! | [`fabric`] | the twin topology's ports and links as the planner's graph; λ snapping |
//! | [`ledger`] | the store keys that hold capacity, and the planning cache rebuilt from them |
//! | [`admission`] | one planner decision per request: path, channels, module lanes, gold pre-emption |
//! | [`grant`] | the corridor objects and store transactions: grant (with pre-emption), release, move |
//! | [`optics`] | CMIS provisioning, re-lock and telemetry read-back on the optical ports |
//! | [`reconcile`] | the loop that watches telemetry and repairs corridors, and lights the grants other replicas made |
//!
//! Which replica drives the optical plant: the one that leads
//! ([`crate::leadership`]), told to the service once at start through
//! [`CorridorService::attach_leadership`] (no leadership attached: this
//! process is the only one and drives it, as on the embedded store). Any
//! replica grants; one that does not lead writes the grant with its lanes
//! dark (`provisioning`, `Provisioned=False/AwaitingPlantOwner`) and
//! touches no optics, also not on release. The leader's reconciler,
//! woken by a watch on the corridor objects as well as by its period,
//! lights such grants through the same bring-up a leader's own grant
//! uses and takes down the lanes of corridors that left the store.
//! The twin is per process: each pass of the leader's reconciler first
//! lights what the store holds as lit and its plant does not (after a
//! failover, what the previous leader lit), as a physical plant stays lit
//! across a change of controller (`CorridorService::adopt_lit`).
//!
//! The store is the only truth about who holds what: every change of
//! capacity is one transaction over the corridor object and its ledger keys.
//!
//! A grant, followed from [`CorridorService::create`]: the planner decides
//! once on the cache ([`admission::plan`], held there tentatively so that
//! concurrent requests plan around it); the lanes are lit and read back
//! when nothing has to go dark first; one transaction
//! ([`grant::grant_txn`]) writes the object with that outcome, the
//! pre-empted corridors and every ledger key; its revision is the
//! object's `resource_version`. A lost compare refreshes the cache and
//! plans again. Every call takes the [`Caller`]: another domain's corridor
//! is reported exactly like a missing one.

pub mod admission;
pub mod error;
mod error_count;
pub mod fabric;
pub mod grant;
pub mod ledger;
pub mod optics;
pub mod physics;
pub mod reconcile;
pub mod trust;
pub mod tuning;
mod written;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_hal::optical::{OpticalPlant, TwinFault};
use corridor_hal::{Clocks, Topology};
use corridor_model::corridor::{
    Corridor, CorridorRequest, CorridorStatus, CorridorTelemetry, CorridorTelemetrySource,
    TwinFaultKind, TwinFaultRequest,
};
use corridor_model::meta::{
    Condition, ConditionStatus, Operation, OperationKind, ResourceKind, ResourceRef,
};
use corridor_model::problem::Problem;
use corridor_model::units::{Celsius, PicojoulesPerBit};
use corridor_store::{LeasedTxn, StateStore};

pub use error::CorridorError;

use crate::error::ToProblem;
use crate::ids::new_id;
use crate::labels::LabelSelector;
use crate::operations::Operations;
use crate::registry::ResourceEvents;
use crate::registry::check_precondition;
use crate::{Caller, ListOptions, Page, Registry, ServiceError};
use admission::Plan;
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

    /// `Provisioned=False` reason of a grant made through a replica that
    /// does not drive the optical plant: the leader lights it.
    pub const AWAITING_PLANT_OWNER: &str = "AwaitingPlantOwner";
}

/// The photonic corridor service.
#[derive(Debug)]
pub struct CorridorService {
    registry: Registry<Corridor>,
    store: Arc<dyn StateStore>,
    /// Wall time for metadata and leases; plant time for the physics.
    clocks: Clocks,
    fabric: Arc<fabric::Fabric>,
    cache: Mutex<Cache>,
    /// The optical ports: the twin or real modules, chosen in configuration.
    optics: Arc<dyn OpticalPlant>,
    operations: Operations,
    /// Post-FEC error counts of the corridors read back since start.
    counters: Mutex<HashMap<String, error_count::ErrorCount>>,
    /// The latest read-back of each corridor whose lanes are all lit, for
    /// [`Self::latest_telemetry`].
    readings: Mutex<HashMap<String, Reading>>,
    /// The corridors granted here, as written, for their release.
    written: Mutex<written::Written>,
    /// Since when the reconciler has left each unhealthy corridor with
    /// unlocked rings to heliopassd (see [`reconcile`]).
    handover_waits: Mutex<HashMap<String, std::time::Instant>>,
    /// Lanes this process has lit, by corridor: the reconciler takes down
    /// those whose corridor is gone (lease expiry, pre-emption elsewhere).
    lit: Mutex<HashMap<String, corridor_model::corridor::CorridorAssignment>>,
    /// Orders lighting and darkening (held across the plant's calls): a
    /// released corridor's darken and a new grant's light of the same
    /// lanes never interleave.
    lighting: tokio::sync::Mutex<()>,
    /// Who vouches for the devices at corridors' ends (attestd); without
    /// it `attestation_required` corridors stay held.
    trust: std::sync::OnceLock<Arc<dyn trust::DeviceTrust>>,
    /// heliopassd's ring state for the telemetry (absent: no tuning
    /// figures). Weak: heliopassd holds corrd, so a strong reference back
    /// would keep both (and the store) alive after the plane is dropped.
    tuning: std::sync::OnceLock<std::sync::Weak<dyn tuning::LaneTuning>>,
    /// Whether this replica leads and so drives the optical plant (see the
    /// module notes); unset: it always does.
    leadership:
        std::sync::OnceLock<tokio::sync::watch::Receiver<Option<crate::leadership::Leader>>>,
}

/// A lit corridor's read-back, for [`CorridorService::latest_telemetry`].
#[derive(Debug, Clone)]
struct Reading {
    /// The lanes it read: a corridor moved since has no reading yet.
    assignment: corridor_model::corridor::CorridorAssignment,
    readback: optics::Readback,
    /// Wall time of the read-back.
    at: DateTime<Utc>,
}

/// `corridor` if `caller` may see it; else `NotFound`, as a missing one.
fn visible_to(caller: &Caller, corridor: Corridor) -> Result<Corridor, CorridorError> {
    if caller.may_see(corridor.security_domain.as_deref()) {
        Ok(corridor)
    } else {
        Err(ServiceError::NotFound {
            kind: "corridors",
            id: corridor.id,
        }
        .into())
    }
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
        clocks: impl Into<Clocks>,
        operations: Operations,
    ) -> Result<Self, CorridorError> {
        let service = Self::load(store, topology, optics, clocks, operations).await?;
        // Corridors that were lit before a restart are lit again: the twin's
        // modules start dark, as real modules after a power cycle.
        service.relight_after_restart().await;
        Ok(service)
    }

    /// The service in a process that does not run corrd (`corridord
    /// memqosd`): it plans over `optics`' capabilities for the code that
    /// reads corridors, but never drives the plant — it follows forever
    /// (as a replica that never wins the lead), lights nothing at start,
    /// and nothing starts its reconciler.
    pub async fn start_without_plant(
        store: Arc<dyn StateStore>,
        topology: &Topology,
        optics: Arc<dyn OpticalPlant>,
        clocks: impl Into<Clocks>,
        operations: Operations,
    ) -> Result<Self, CorridorError> {
        let service = Self::load(store, topology, optics, clocks, operations).await?;
        let (never_leads, following) = tokio::sync::watch::channel(None);
        // The receiver alone keeps reading `None` once the sender is gone.
        drop(never_leads);
        service.attach_leadership(following);
        Ok(service)
    }

    async fn load(
        store: Arc<dyn StateStore>,
        topology: &Topology,
        optics: Arc<dyn OpticalPlant>,
        clocks: impl Into<Clocks>,
        operations: Operations,
    ) -> Result<Self, CorridorError> {
        let clocks = clocks.into();
        let applications = optics::read_capabilities(&optics).await?;
        let fabric = fabric::Fabric::from_topology(topology, &applications)?;
        let cache = Cache::load(&fabric, store.as_ref()).await?;
        let service = Self {
            registry: Registry::new(Arc::clone(&store)),
            store,
            clocks,
            fabric: Arc::new(fabric),
            cache: Mutex::new(cache),
            optics,
            operations,
            counters: Mutex::new(HashMap::new()),
            readings: Mutex::new(HashMap::new()),
            written: Mutex::default(),
            handover_waits: Mutex::new(HashMap::new()),
            lit: Mutex::new(HashMap::new()),
            lighting: tokio::sync::Mutex::new(()),
            trust: std::sync::OnceLock::new(),
            tuning: std::sync::OnceLock::new(),
            leadership: std::sync::OnceLock::new(),
        };
        Ok(service)
    }

    /// Lets `attestation_required` corridors activate once `trust` vouches
    /// for the devices at both their ends. Set once, at start.
    pub fn attach_trust(&self, trust: Arc<dyn trust::DeviceTrust>) {
        let _ = self.trust.set(trust);
    }

    /// Lets the telemetry report heliopassd's ring state (heater power in
    /// `power_pj_per_bit`, lock error in `drift`). Set once, at start.
    pub fn attach_tuning(&self, tuning: &Arc<dyn tuning::LaneTuning>) {
        let _ = self.tuning.set(Arc::downgrade(tuning));
    }

    /// Tells the service which replica drives the optical plant: this one
    /// while `leadership` reads `Some` ([`crate::leadership::Leadership::subscribe`]).
    /// Set once, at start, by the server; without it the service drives
    /// the plant (the only process on the store).
    pub fn attach_leadership(
        &self,
        leadership: tokio::sync::watch::Receiver<Option<crate::leadership::Leader>>,
    ) {
        let _ = self.leadership.set(leadership);
    }

    /// Whether this replica drives the optical plant now: grants it makes
    /// are lit here, or else by the leader's reconciler.
    pub fn drives_plant(&self) -> bool {
        self.leadership
            .get()
            .is_none_or(|leadership| leadership.borrow().is_some())
    }

    /// Whether other replicas may grant on this store (leadership attached):
    /// then the reconciler follows their grants and releases on a watch.
    pub(crate) fn shares_store(&self) -> bool {
        self.leadership.get().is_some()
    }

    /// Refuses a plant read or action on a replica that does not drive the
    /// plant, naming the leader as its key says (`NotPlantOwner`).
    pub async fn plant_here(&self) -> Result<(), CorridorError> {
        if self.drives_plant() {
            return Ok(());
        }
        let leader = match self.store.get(crate::leadership::LEADER_KEY).await {
            Ok(Some(kv)) => String::from_utf8_lossy(&kv.value).into_owned(),
            Ok(None) => "none elected right now".to_owned(),
            Err(e) => format!("unknown: {e}"),
        };
        Err(CorridorError::NotPlantOwner { leader })
    }

    fn tuning(&self) -> Option<Arc<dyn tuning::LaneTuning>> {
        self.tuning.get().and_then(std::sync::Weak::upgrade)
    }

    /// The assignments of the corridors this process has lit.
    pub fn lit_assignments(&self) -> Vec<(String, corridor_model::corridor::CorridorAssignment)> {
        lock(&self.lit)
            .iter()
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect()
    }

    /// Sets `condition` on corridor `id` (no-op when it is unchanged or the
    /// corridor is gone): heliopassd's ring-lock condition.
    pub async fn record_condition(
        &self,
        id: &str,
        condition: Condition,
    ) -> Result<(), CorridorError> {
        let Ok(current) = self.registry.get(id).await else {
            return Ok(());
        };
        if current.meta.conditions.iter().any(|c| {
            c.condition_type == condition.condition_type
                && c.status == condition.status
                && c.reason == condition.reason
        }) {
            return Ok(());
        }
        match self
            .registry
            .update(id, None, |c| {
                c.meta.set_condition(condition.clone());
                Ok(())
            })
            .await
        {
            Ok(_) | Err(ServiceError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads corridor `id`'s lanes back at the plant's time and records the
    /// outcome (status, BER, eye margin), as a recalibration ends.
    pub async fn record_readback(&self, id: &str) -> Result<Corridor, CorridorError> {
        let corridor = self.registry.get(id).await?;
        let Some(assignment) = corridor.assignment.clone() else {
            return Err(no_lanes(&corridor));
        };
        self.advance().await?;
        let readback = optics::read(&self.optics, &corridor, &assignment).await?;
        let now = self.clocks.wall.now();
        Ok(self
            .registry
            .update(id, None, |c| {
                reconcile::apply_readback(c, &readback, now);
                c.meta.updated_at = now;
                Ok(())
            })
            .await?)
    }

    /// The attestations vouching for both ends of `a`, or why not.
    pub(crate) async fn vouched(
        &self,
        a: &corridor_model::corridor::CorridorAssignment,
    ) -> Result<Vec<String>, String> {
        trust::vouched(self.trust.get().map(|t| t.as_ref()), a).await
    }

    /// Provisions the corridor's lanes and remembers them as lit.
    ///
    /// Under the `lit` lock, like [`Self::darken`]: a corridor's capacity
    /// is freed in the store (and the cache) before its lanes go dark, so
    /// a new grant may light the same lanes first; the lock orders the two.
    pub(crate) async fn light(
        &self,
        id: &str,
        a: &corridor_model::corridor::CorridorAssignment,
    ) -> Result<(), CorridorError> {
        let _order = self.lighting.lock().await;
        lock(&self.lit).insert(id.to_owned(), a.clone());
        optics::provision(&self.optics, a).await
    }

    /// Whether another corridor has any of `a`'s module lanes lit on its
    /// ports.
    fn lit_elsewhere(&self, id: &str, a: &corridor_model::corridor::CorridorAssignment) -> bool {
        lock(&self.lit).iter().any(|(other_id, other)| {
            other_id != id
                && other.ports.iter().any(|p| a.ports.contains(p))
                && other
                    .module_lanes
                    .iter()
                    .any(|l| a.module_lanes.contains(l))
        })
    }

    /// Takes the corridor's lanes down, except those another corridor has
    /// lit since this one's capacity was freed.
    pub(crate) async fn darken(
        &self,
        id: &str,
        a: &corridor_model::corridor::CorridorAssignment,
    ) -> Result<(), CorridorError> {
        let _order = self.lighting.lock().await;
        lock(&self.readings).remove(id);
        let down = {
            let mut lit = lock(&self.lit);
            lit.remove(id);
            let mut down = a.clone();
            down.module_lanes.retain(|lane| {
                !lit.values().any(|other| {
                    other.module_lanes.contains(lane)
                        && other.ports.iter().any(|p| a.ports.contains(p))
                })
            });
            down
        };
        if down.module_lanes.is_empty() {
            return Ok(());
        }
        optics::release(&self.optics, &down).await
    }

    /// Whether this process has lit corridor `id`'s lanes.
    pub(crate) fn lit_here(&self, id: &str) -> bool {
        lock(&self.lit).contains_key(id)
    }

    /// Corridors whose lanes this process has lit.
    pub fn lit(&self) -> Vec<String> {
        lock(&self.lit).keys().cloned().collect()
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
        let mark = lock(&self.cache).begin_reload();
        match Cache::load(&self.fabric, self.store.as_ref()).await {
            Ok(fresh) => {
                lock(&self.cache).finish_reload(fresh, mark);
                Ok(())
            }
            Err(e) => {
                lock(&self.cache).abandon_reload();
                Err(e.into())
            }
        }
    }

    /// Admits, grants and provisions a corridor for `caller`, owned by the
    /// caller's domain (or, for the cluster's principals, the domain the
    /// request names).
    pub async fn create(
        &self,
        caller: &Caller,
        mut request: CorridorRequest,
    ) -> Result<Corridor, CorridorError> {
        request.security_domain = caller.owner_for(request.security_domain.as_deref());
        // Every corridor holds its capacity under a lease: the server
        // default when the request names none, shown on the object.
        let ttl_s = *request
            .policy_lease_ttl_s
            .get_or_insert(corridor_model::units::Seconds(
                corridor_model::corridor::DEFAULT_LEASE_TTL_S,
            ));
        let ttl = Duration::from_secs(ttl_s.get());
        let (corridor, lease) = self
            .admit(&new_id(self.clocks.wall.as_ref(), "cor"), &request, ttl)
            .await?;
        lock(&self.written).keep(&corridor, Some(lease));
        Ok(corridor)
    }

    /// The plan a grant of `request` would make now (`?dry_run=true`): the
    /// same ownership, defaults and planner as [`Self::create`], looking at
    /// the store once more before a refusal for capacity as admission does,
    /// and nothing held, lit or written.
    pub async fn dry_run(
        &self,
        caller: &Caller,
        mut request: CorridorRequest,
    ) -> Result<corridor_model::corridor::CorridorPlan, CorridorError> {
        request.security_domain = caller.owner_for(request.security_domain.as_deref());
        let planned = {
            let cache = lock(&self.cache);
            admission::plan(&self.fabric, &cache, &request, &[])
        };
        let plan = match planned {
            Err(CorridorError::InsufficientCapacity(_)) => {
                self.refresh().await?;
                let cache = lock(&self.cache);
                admission::plan(&self.fabric, &cache, &request, &[])?
            }
            other => other?,
        };
        let mut corridor = Corridor::pending(String::new(), request, self.clocks.wall.now());
        grant::apply_plan(&self.fabric, &mut corridor, &plan);
        let binding_constraint = physics::limiting_factor_name(plan.lane.limiting_factor);
        Ok(corridor_model::corridor::CorridorPlan {
            path: corridor.path,
            hops: corridor.hops,
            assigned_lambda_nm: corridor.assigned_lambda_nm,
            achievable_gbps: corridor.achievable_gbps,
            ber: corridor.ber,
            ber_is_upper_bound: corridor.ber_is_upper_bound,
            eye_margin: corridor.eye_margin,
            required_margin_db: plan.lane.required_margin_db,
            binding_constraint,
            preempts: plan.preempt.clone(),
            assignment: corridor
                .assignment
                .expect("apply_plan always writes the assignment"),
        })
    }

    /// Plans `request` on the cache and holds the plan there, under one
    /// lock, so concurrent requests in this process plan around each other
    /// instead of racing for the same first fit; the store still decides.
    fn plan_and_hold(&self, id: &str, request: &CorridorRequest) -> Result<Plan, CorridorError> {
        let mut cache = lock(&self.cache);
        let plan = admission::plan(&self.fabric, &cache, request, &[])?;
        for victim in &plan.preempt {
            cache.release(victim);
        }
        cache.hold_tentative(id, plan.holding(request.qos.priority));
        Ok(plan)
    }

    /// The admission loop: plan, bring up, grant in one transaction; replan
    /// on a lost race. Answers the corridor as stored, and its lease.
    async fn admit(
        &self,
        id: &str,
        request: &CorridorRequest,
        ttl: Duration,
    ) -> Result<(Corridor, corridor_store::LeaseId), CorridorError> {
        let mut refreshed_after_block = false;
        for _ in 0..ADMISSION_ATTEMPTS {
            let plan = match self.plan_and_hold(id, request) {
                Ok(plan) => plan,
                Err(CorridorError::InsufficientCapacity(_)) if !refreshed_after_block => {
                    // The cache may miss releases by lease expiry or by
                    // another replica: look at the store once before
                    // saying no.
                    refreshed_after_block = true;
                    self.refresh().await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match self.try_grant(id, request, &plan, ttl).await {
                Ok(granted) => return Ok(granted),
                Err(CorridorError::Service(
                    ServiceError::ConditionFailed { .. } | ServiceError::NotFound { .. },
                )) => {
                    lock(&self.cache).release(id);
                    self.refresh().await?;
                }
                Err(e) => {
                    lock(&self.cache).release(id);
                    return Err(e);
                }
            }
        }
        Err(CorridorError::Contention {
            attempts: ADMISSION_ATTEMPTS,
        })
    }

    /// One attempt at granting `plan`. The lanes are lit before the
    /// transaction when nothing lit has to go dark first (no pre-emption),
    /// so the object is written once, with its outcome; they go dark again
    /// if the transaction loses its compares. The transaction grants the
    /// corridor's lease itself, so a grant waits for one durable write and
    /// a lost attempt leaves no lease behind. Answers the corridor as
    /// stored, and its lease.
    async fn try_grant(
        &self,
        id: &str,
        request: &CorridorRequest,
        plan: &Plan,
        ttl: Duration,
    ) -> Result<(Corridor, corridor_store::LeaseId), CorridorError> {
        let now = self.clocks.wall.now();
        let mut corridor = grant::granted(&self.fabric, id, request, plan, ttl, now);
        let mut victims = Vec::with_capacity(plan.preempt.len());
        for victim in &plan.preempt {
            victims.push(self.registry.get_kv(victim).await?);
        }
        // An attested corridor is lit only while both end modules are
        // vouched for; otherwise its capacity is held with the lanes dark.
        let held = if corridor.attestation_required
            && let Some(a) = corridor.assignment.clone()
        {
            match self.vouched(&a).await {
                Ok(ids) => {
                    trust::record_attested(&mut corridor, ids, now);
                    false
                }
                Err(why) => {
                    trust::record_held(&mut corridor, &why, now);
                    true
                }
            }
        } else {
            false
        };
        // A replica that does not drive the plant grants with the lanes
        // dark; the leader lights them (and darkens the pre-empted ones).
        let drives = self.drives_plant();
        if !drives && !held {
            record_awaiting_plant_owner(&mut corridor, now);
        }
        // Early only when no lane of the plan is lit for another corridor
        // in this process: a cache that missed a grant (a refresh racing a
        // commit) must cost a lost compare, never a live corridor's light.
        let early = drives
            && victims.is_empty()
            && !held
            && corridor
                .assignment
                .as_ref()
                .is_none_or(|a| !self.lit_elsewhere(id, a));
        if early && let Some(a) = corridor.assignment.clone() {
            let outcome = self.bring_up(&corridor, &a).await;
            record_bring_up(&mut corridor, &a, &outcome, now);
        }
        let txn = grant::grant_txn(
            &self.fabric,
            &corridor,
            plan,
            &victims,
            corridor_store::NEW_LEASE,
            now,
        );
        let response = self.store.txn_with_new_lease(ttl, txn).await;
        let (lease, response) = match response {
            Ok(LeasedTxn {
                lease: Some(lease),
                response,
            }) if response.succeeded => (lease, response),
            failed => {
                if early && let Some(a) = &corridor.assignment {
                    let _ = self.darken(id, a).await;
                }
                return Err(match failed.map(|leased| leased.response) {
                    Ok(_) => ServiceError::ConditionFailed {
                        kind: "corridors",
                        id: id.to_owned(),
                    },
                    Err(source) => ServiceError::Store {
                        context: "grant a corridor",
                        source,
                    },
                }
                .into());
            }
        };
        corridor.meta.resource_version = response.revision.to_string();
        {
            let mut cache = lock(&self.cache);
            let mut written = lock(&self.written);
            for (victim, _) in &victims {
                cache.release(&victim.id);
                written.forget(&victim.id);
            }
            cache.confirm(id);
        }
        for (victim, kv) in &victims {
            if let Some(a) = &victim.assignment
                && (drives || self.lit_here(&victim.id))
            {
                let _ = self.darken(&victim.id, a).await;
            }
            if let Some(lease) = kv.lease {
                let _ = self.store.lease_revoke(lease).await;
            }
        }
        if early || held || !drives {
            return Ok((corridor, lease));
        }
        if !self.drives_plant() {
            // The lead moved since the plan: the new leader lights it (a
            // bring-up here would light this replica's plant, and the new
            // leader's would read the lanes dark and repair them).
            let now = self.clocks.wall.now();
            let corridor = self
                .write_back(corridor, Some(lease), |c| {
                    record_awaiting_plant_owner(c, now);
                })
                .await;
            return Ok((corridor, lease));
        }
        // The pre-empted lanes are dark now: light the new ones and record
        // the outcome (a second write, only after a pre-emption).
        let Some(a) = corridor.assignment.clone() else {
            return Ok((corridor, lease));
        };
        let now = self.clocks.wall.now();
        let outcome = self.bring_up(&corridor, &a).await;
        let corridor = self
            .write_back(corridor, Some(lease), |c| {
                record_bring_up(c, &a, &outcome, now);
            })
            .await;
        Ok((corridor, lease))
    }

    /// Lights the lanes, settles both ends and reads them back.
    pub(crate) async fn bring_up(
        &self,
        corridor: &Corridor,
        a: &corridor_model::corridor::CorridorAssignment,
    ) -> Result<optics::Readback, CorridorError> {
        self.light(&corridor.id, a).await?;
        optics::settle(&self.optics, a, self.clocks.plant.now()).await?;
        let readback = optics::read(&self.optics, corridor, a).await?;
        self.remember(&corridor.id, a, &readback);
        Ok(readback)
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

    async fn relight_after_restart(&self) {
        let Ok(all) = self.list_all().await else {
            return;
        };
        self.adopt_lit(&all).await;
        let _ = self.advance().await;
    }

    /// Makes this process's plant hold lit what the store records as lit
    /// among `corridors` (`active` or `degraded`, with their assignment):
    /// at start, and on every reconcile pass of the replica that drives
    /// the plant, so a new leader takes over the corridors another leader
    /// lit. Corridors lit here with the same lanes are left alone; lit
    /// here on other lanes (moved meanwhile), taken down there first.
    ///
    /// On the twin, whose modules live in this process and start dark, the
    /// lanes are provisioned again (a physical plant stays lit across a
    /// controller's restart or failover; the twin is made to). Real modules
    /// kept their state: they are only taken as lit here, untouched, and
    /// the reconciler's read-back of them says whether they are (a module
    /// that lost power reads dark and is re-locked like any dark lane).
    /// Returns the corridors taken over; the caller advances the plant so
    /// that the far ends' receivers see the light.
    pub(crate) async fn adopt_lit(&self, corridors: &[Corridor]) -> Vec<String> {
        let mut adopted = Vec::new();
        for c in corridors {
            if !matches!(c.status, CorridorStatus::Active | CorridorStatus::Degraded) {
                continue;
            }
            let Some(a) = &c.assignment else { continue };
            let before = lock(&self.lit).get(&c.id).cloned();
            if before.as_ref() == Some(a) {
                continue;
            }
            // Lanes another corridor has lit here: `c` is an older view
            // than that grant (the store never gives two live corridors
            // one lane); the next pass's fresh list decides.
            if self.lit_elsewhere(&c.id, a) {
                continue;
            }
            if let Some(old) = before {
                let _ = self.darken(&c.id, &old).await;
            }
            if self.optics.readings_are_modelled() {
                let _ = self.light(&c.id, a).await;
            } else {
                let _order = self.lighting.lock().await;
                lock(&self.lit).insert(c.id.clone(), a.clone());
            }
            adopted.push(c.id.clone());
        }
        adopted
    }

    /// The corridor, if `caller` may see it; another domain's is the same
    /// `NotFound` as a missing one.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Corridor, CorridorError> {
        Ok(self.get_kv(caller, id).await?.0)
    }

    /// [`Self::get`] with the store record (revision, lease).
    async fn get_kv(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Corridor, corridor_store::KeyValue), CorridorError> {
        let (corridor, kv) = self.registry.get_kv(id).await?;
        Ok((visible_to(caller, corridor)?, kv))
    }

    /// One page of the corridors `caller` may see, filtered before paging
    /// so a page is never short.
    pub async fn list(
        &self,
        caller: &Caller,
        options: &ListOptions,
    ) -> Result<Page<Corridor>, CorridorError> {
        Ok(self
            .registry
            .list_visible(options, |c| caller.may_see(c.security_domain.as_deref()))
            .await?)
    }

    /// Changes to the corridors `caller` may see, from `from_revision` on.
    pub async fn watch(
        &self,
        caller: &Caller,
        from_revision: corridor_store::Revision,
        selector: LabelSelector,
    ) -> Result<ResourceEvents<Corridor>, CorridorError> {
        use futures::StreamExt;
        let caller = caller.clone();
        let events = self.registry.watch(from_revision, selector).await?;
        Ok(Box::pin(events.filter(move |event| {
            std::future::ready(match event {
                Ok(event) => caller.may_see(event.object.security_domain.as_deref()),
                Err(_) => true,
            })
        })))
    }

    /// Every change to every corridor object from `from_revision` on, as
    /// the store holds it (not decoded, not filtered by caller): for the
    /// control plane's own followers, such as the history.
    pub async fn watch_stored(
        &self,
        from_revision: corridor_store::Revision,
    ) -> Result<crate::registry::StoredEvents, CorridorError> {
        Ok(self.registry.watch_stored(from_revision).await?)
    }

    /// A row `derive` makes of each corridor `caller` may see, in id
    /// order. Rows of corridors unchanged since the last call with the same
    /// `projection` are kept, not derived again: for a reader that reads
    /// every corridor often, such as the metrics exporter.
    pub async fn project<R>(
        &self,
        caller: &Caller,
        projection: &mut crate::projection::Projection<R>,
        derive: impl Fn(&Corridor) -> R,
    ) -> Result<Vec<std::sync::Arc<R>>, CorridorError> {
        Ok(self
            .registry
            .project(projection, |c| {
                caller
                    .may_see(c.security_domain.as_deref())
                    .then(|| derive(c))
            })
            .await?)
    }

    /// Every corridor, across pages.
    pub async fn list_all(&self) -> Result<Vec<Corridor>, CorridorError> {
        Ok(self.registry.list_all().await?.0)
    }

    /// Releases the corridor: object and ledger keys go in one transaction
    /// (if still at `precondition`, the client's `If-Match`), then the lanes
    /// are taken down. Returns the object as released.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        precondition: Option<corridor_store::Revision>,
    ) -> Result<Corridor, CorridorError> {
        if let Some(released) = self.delete_as_written(caller, id, precondition).await? {
            return Ok(released);
        }
        // The read that checks visibility serves the first attempt too
        // (the transaction compares the record's revision).
        let mut read = Some(self.get_kv(caller, id).await?);
        for _ in 0..ADMISSION_ATTEMPTS {
            let (object, kv) = match read.take() {
                Some(read) => read,
                None => self.registry.get_kv(id).await?,
            };
            check_precondition::<Corridor>(id, precondition, &kv)?;
            if let Some(released) = self.release_at(object, kv.mod_revision, kv.lease).await? {
                return Ok(released);
            }
        }
        Err(CorridorError::Contention {
            attempts: ADMISSION_ATTEMPTS,
        })
    }

    /// DELETE without reading the corridor: when this process granted it,
    /// the release compares on the revision of that grant's write, and if
    /// that holds, the object kept is the object stored. `None` sends the
    /// request down the reading path: nothing kept (restarted, another
    /// replica's grant, already released), a caller who may not see it, an
    /// `If-Match` of another version, or a newer version found by the
    /// compare; each of those gets there the answer it always got.
    async fn delete_as_written(
        &self,
        caller: &Caller,
        id: &str,
        precondition: Option<corridor_store::Revision>,
    ) -> Result<Option<Corridor>, CorridorError> {
        let Some(kept) = lock(&self.written).take(id) else {
            return Ok(None);
        };
        if !caller.may_see(kept.corridor.security_domain.as_deref())
            || precondition.is_some_and(|wanted| wanted != kept.revision)
        {
            lock(&self.written).put_back(kept);
            return Ok(None);
        }
        self.release_at(kept.corridor, kept.revision, kept.lease)
            .await
    }

    /// Releases `object` if its record is still at `revision`, its lease
    /// (if any) ending in the same durable write, then takes its lanes
    /// down; `None` when the record is at another revision or gone.
    async fn release_at(
        &self,
        object: Corridor,
        revision: corridor_store::Revision,
        lease: Option<corridor_store::LeaseId>,
    ) -> Result<Option<Corridor>, CorridorError> {
        let id = object.id.clone();
        let release = grant::release_txn(&self.fabric, &object, revision);
        let response = match lease {
            Some(lease) => self.store.txn_then_revoke(release, lease).await,
            None => self.store.txn(release).await,
        }
        .map_err(|source| ServiceError::Store {
            context: "release a corridor",
            source,
        })?;
        if !response.succeeded {
            return Ok(None);
        }
        let mut released = object;
        // On a replica that does not drive the plant the leader's
        // reconciler takes the lanes down (the watch wakes it), unless
        // this process lit them while it led.
        if let Some(a) = &released.assignment
            && released.status != CorridorStatus::Released
            && (self.drives_plant() || self.lit_here(&id))
        {
            // Dark before the cache lets this process plan onto the
            // lanes again (a grant lights early only lanes no one has
            // lit). The capacity is already free in the store; a
            // hardware error here leaves dark lanes the next grant
            // re-provisions anyway.
            if let Err(e) = self.darken(&id, a).await {
                tracing::warn!(corridor = %id, error = %crate::error::error_chain(&e), "cannot take the lanes down");
            }
        }
        lock(&self.cache).release(&id);
        lock(&self.counters).remove(&id);
        released.meta.resource_version = response.revision.to_string();
        released.status = CorridorStatus::Released;
        released.meta.updated_at = self.clocks.wall.now();
        Ok(Some(released))
    }

    /// Renews the corridor's lease (its ledger keys share it).
    pub async fn renew_lease(&self, caller: &Caller, id: &str) -> Result<Corridor, CorridorError> {
        self.get_kv(caller, id).await?;
        Ok(self
            .registry
            .renew_lease(id, self.clocks.wall.now())
            .await?)
    }

    /// Live telemetry, read back from both ends' CMIS memory maps at the
    /// plant clock's current time. A corridor whose lanes are not all lit
    /// (held, provisioning, released, pre-empted, a data path down or no
    /// light) has no telemetry: [`CorridorError::NotLit`] names the lane
    /// states instead of numbers no lane produced.
    pub async fn telemetry(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<CorridorTelemetry, CorridorError> {
        let corridor = &self.get(caller, id).await?;
        self.plant_here().await?;
        let a = lit_assignment(corridor)?;
        self.advance().await?;
        let readback = optics::read(&self.optics, corridor, a).await?;
        self.remember(&corridor.id, a, &readback);
        if !readback.dark.is_empty() {
            return Err(CorridorError::NotLit {
                id: corridor.id.clone(),
                why: readback.dark.join("; "),
            });
        }
        let now = self.clocks.wall.now();
        self.assemble(corridor, a, readback, now).await
    }

    /// Telemetry of `corridor` (listed by a caller who may see it) from its
    /// latest read-back, if one was taken within `max_age`: by the
    /// reconciler's pass (every lit corridor, every pass), at bring-up or
    /// by [`Self::telemetry`]. The plant is not touched, which makes this
    /// what `/metrics` reads: advancing the plant steps every port of the
    /// rack and every ring heliopassd tracks, and reading 1,000 corridors
    /// live made a scrape take seconds. The interval since the corridor's
    /// last error sample is charged at that read-back's post-FEC BER, as
    /// [`Self::telemetry`] charges it at a fresh one; `observed_at` is when
    /// the read-back was taken.
    ///
    /// `Ok(None)` when there is no read-back that recent of the corridor's
    /// current lanes (the reconciler has fallen behind); `NotLit` as
    /// [`Self::telemetry`] when the corridor's lanes are not all lit.
    pub async fn latest_telemetry(
        &self,
        corridor: &Corridor,
        max_age: std::time::Duration,
    ) -> Result<Option<CorridorTelemetry>, CorridorError> {
        let a = lit_assignment(corridor)?;
        let oldest = self.clocks.wall.now()
            - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        let reading = lock(&self.readings)
            .get(&corridor.id)
            .filter(|r| r.assignment == *a && r.at >= oldest)
            .cloned();
        let Some(reading) = reading else {
            return Ok(None);
        };
        Ok(Some(
            self.assemble(corridor, a, reading.readback, reading.at)
                .await?,
        ))
    }

    /// Keeps `readback` as the corridor's latest reading while every lane
    /// is lit; forgets it otherwise (a dark lane has no figures to show).
    pub(crate) fn remember(
        &self,
        id: &str,
        a: &corridor_model::corridor::CorridorAssignment,
        readback: &optics::Readback,
    ) {
        let mut readings = lock(&self.readings);
        if readback.dark.is_empty() {
            readings.insert(
                id.to_owned(),
                Reading {
                    assignment: a.clone(),
                    readback: readback.clone(),
                    at: self.clocks.wall.now(),
                },
            );
        } else {
            readings.remove(id);
        }
    }

    /// The telemetry a lit read-back taken at `observed_at` shows, and the
    /// interval since the last error sample charged at its BER.
    async fn assemble(
        &self,
        corridor: &Corridor,
        a: &corridor_model::corridor::CorridorAssignment,
        readback: optics::Readback,
        observed_at: DateTime<Utc>,
    ) -> Result<CorridorTelemetry, CorridorError> {
        let tech = admission::technology(corridor.corridor_type).technology();
        let energy = tech.energy();
        // The energy model the planner predicts with: every lit laser's
        // electrical power (from its reported bias) over the bits it
        // carries, plus the technology's modulator-driver and receiver
        // energy. Heater power is not read back, so tuning is left out.
        let laser = corridor_physics::energy::laser_energy_per_bit(
            &tech.laser().diode,
            readback.laser_bias_ma.iter().copied(),
            corridor_physics::Gbps(a.lane_rate_gbps),
        );
        // Ring heaters as heliopassd drives them: mW over Gb/s is pJ/bit.
        let tuning = self
            .tuning()
            .and_then(|t| t.tuning(&a.ports, &a.module_lanes));
        let bits_gbps = a.lane_rate_gbps * a.module_lanes.len() as f64;
        let heater = match &tuning {
            Some(t) if bits_gbps > 0.0 => t.heater_mw / bits_gbps,
            _ => 0.0,
        };
        let power = laser.0 + energy.tx.0 + energy.rx.0 + heater;
        let errors = self.count_errors(corridor, Some(&readback)).await?;
        Ok(CorridorTelemetry {
            ber: readback.worst_post_fec_ber,
            pre_fec_ber: Some(optics::reported_ber(readback.worst_ber).0),
            ber_is_upper_bound: Some(readback.post_fec_is_upper_bound),
            temp_c: Celsius(readback.temp_c),
            power_pj_per_bit: PicojoulesPerBit(power),
            // The worse of the laser's offset from its grid line and the
            // rings' lock error (a share of the linewidth: under 10 % is
            // the loop's noise floor, above 25 % the drop response falls).
            drift: optics::drift_level(
                readback
                    .worst_drift_share
                    .max(tuning.as_ref().map_or(0.0, |t| t.worst_error_share)),
            ),
            // The reserved share of what the lane plan can carry: the twin
            // has no traffic generator, so this is the committed load.
            utilization_percent: if corridor.achievable_gbps.get() > 0.0 {
                100.0 * corridor.min_gbps.get() / corridor.achievable_gbps.get()
            } else {
                0.0
            },
            error_count: errors,
            lanes: readback.lanes,
            observed_at: Some(observed_at),
            source: Some(if self.optics.readings_are_modelled() {
                CorridorTelemetrySource::Model
            } else {
                CorridorTelemetrySource::Counter
            }),
        })
    }

    /// Charges the interval since the corridor's last read-back to its
    /// error count ([`error_count`]) and stores the whole count when it
    /// grew. `None` (or a read-back with a dark lane) ends the interval
    /// uncharged.
    pub(crate) async fn count_errors(
        &self,
        corridor: &Corridor,
        readback: Option<&optics::Readback>,
    ) -> Result<u64, CorridorError> {
        let sample = match (&corridor.assignment, readback) {
            (Some(a), Some(r)) if r.dark.is_empty() => Some(error_count::LitSample {
                at: self.clocks.plant.now(),
                // The read-back's own post-FEC figure (the assignment's FEC).
                post_fec_ber: r.worst_post_fec_ber,
                bits_per_s: a.lane_rate_gbps * 1e9 * a.module_lanes.len() as f64,
            }),
            _ => None,
        };
        let known = lock(&self.counters).get(&corridor.id).map(|c| c.whole());
        let before = match known {
            Some(whole) => whole,
            None => {
                let stored = self.store.get(&error_count::key(&corridor.id)).await;
                let whole = stored
                    .map_err(ServiceError::store("read a corridor's error count"))?
                    .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
                    .unwrap_or(0);
                lock(&self.counters)
                    .entry(corridor.id.clone())
                    .or_insert_with(|| error_count::ErrorCount::resume(whole));
                whole
            }
        };
        let after = {
            let mut counters = lock(&self.counters);
            let count = counters.entry(corridor.id.clone()).or_default();
            count.record(sample);
            count.whole()
        };
        if after > before {
            self.store_error_count(&corridor.id, after).await?;
        }
        Ok(after)
    }

    /// Writes the whole error count under the corridor's lease, only while
    /// the corridor exists (a release deletes the key in its transaction).
    async fn store_error_count(&self, id: &str, whole: u64) -> Result<(), CorridorError> {
        let Ok((_, kv)) = self.registry.get_kv(id).await else {
            return Ok(());
        };
        let txn = corridor_store::Txn {
            compares: vec![corridor_store::Compare::mod_revision(
                kv.key.clone(),
                corridor_store::CompareOp::Equal,
                kv.mod_revision,
            )],
            success: vec![corridor_store::Op::Put {
                key: error_count::key(id),
                value: whole.to_string().into_bytes(),
                lease: kv.lease,
            }],
            failure: Vec::new(),
        };
        // Lost to a concurrent write of the object: the next sample stores it.
        self.store
            .txn(txn)
            .await
            .map_err(ServiceError::store("store a corridor's error count"))?;
        Ok(())
    }

    /// Advances the plant's physics to the plant clock's current time.
    async fn advance(&self) -> Result<(), CorridorError> {
        let now = self.clocks.plant.now();
        if let Some(tuning) = self.tuning() {
            tuning.catch_up(now);
        }
        optics::advance(&self.optics, now).await
    }

    /// Starts a recalibration (a CMIS re-lock of every lane) as a
    /// long-running operation.
    pub async fn recalibrate(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
    ) -> Result<Operation, CorridorError> {
        let corridor = &self.get(caller, id).await?;
        let Some(assignment) = corridor.assignment.clone() else {
            return Err(no_lanes(corridor));
        };
        if trust::is_held(corridor) || corridor.status == CorridorStatus::Released {
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
                    let now = service.clocks.wall.now();
                    service
                        .advance()
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
        self.plant_here().await?;
        let Some(faults) = self.optics.twin_faults() else {
            return Err(CorridorError::NotATwin {
                backend: self.optics.backend(),
                what: "it takes no injected faults",
            });
        };
        self.advance().await?;
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
                    TwinFaultKind::HeaterFailure { lane } => TwinFault::HeaterFailure { lane },
                    TwinFaultKind::Clear => {
                        return faults.clear(port).map_err(|e| refused(port, e));
                    }
                    TwinFaultKind::LinkCut { .. } => unreachable!("handled above"),
                };
                faults.inject(port, fault).map_err(|e| refused(port, e))?;
            }
        }
        self.advance().await
    }

    /// Starts the reconciler: every `interval` of real time it advances the
    /// twin to the clock and repairs what it reads. Stop it with the handle.
    pub fn spawn_reconciler(self: &Arc<Self>, interval: Duration) -> reconcile::ReconcilerHandle {
        reconcile::spawn(Arc::clone(self), interval)
    }
}

/// The corridor's lanes, if its status says they should be lit; else why
/// they are dark.
fn lit_assignment(
    corridor: &Corridor,
) -> Result<&corridor_model::corridor::CorridorAssignment, CorridorError> {
    let why = match corridor.status {
        CorridorStatus::Active | CorridorStatus::Degraded => None,
        CorridorStatus::Provisioning if corridor.attestation_required => {
            Some("every lane dark: activation is held for attestation".to_owned())
        }
        CorridorStatus::Released => {
            Some("every lane dark: the corridor is released and its lanes returned".to_owned())
        }
        other => Some(format!(
            "every lane dark: the corridor is {}",
            format!("{other:?}").to_lowercase()
        )),
    };
    match (why, corridor.assignment.as_ref()) {
        (None, Some(a)) => Ok(a),
        (None, None) => Err(CorridorError::NotLit {
            id: corridor.id.clone(),
            why: "no lanes are assigned".to_owned(),
        }),
        (Some(why), _) => Err(CorridorError::NotLit {
            id: corridor.id.clone(),
            why,
        }),
    }
}

fn no_lanes(corridor: &Corridor) -> CorridorError {
    CorridorError::NoLanes {
        id: corridor.id.clone(),
        status: format!("{:?}", corridor.status).to_lowercase(),
    }
}

/// Records that the grant waits for the replica that drives the optical
/// plant (the leader) to light its lanes.
fn record_awaiting_plant_owner(c: &mut Corridor, now: DateTime<Utc>) {
    c.meta.set_condition(Condition::new(
        conditions::PROVISIONED,
        ConditionStatus::False,
        conditions::AWAITING_PLANT_OWNER,
        "granted through a replica that does not drive the optical plant; the leading replica lights the lanes",
        now,
    ));
}

/// Whether the corridor's grant waits for the plant's owner to light it.
pub(crate) fn awaits_plant_owner(c: &Corridor) -> bool {
    c.status == CorridorStatus::Provisioning
        && !c.attestation_required
        && c.meta
            .condition(conditions::PROVISIONED)
            .is_some_and(|k| k.reason == conditions::AWAITING_PLANT_OWNER)
}

/// Records how bringing the lanes up went: provisioned and read back
/// (`active` or `degraded`), or `failed` with the error chain.
pub(crate) fn record_bring_up(
    c: &mut Corridor,
    a: &corridor_model::corridor::CorridorAssignment,
    outcome: &Result<optics::Readback, CorridorError>,
    now: DateTime<Utc>,
) {
    match outcome {
        Ok(readback) => {
            c.meta.set_condition(Condition::new(
                conditions::PROVISIONED,
                ConditionStatus::True,
                "DataPathActivated",
                format!(
                    "CMIS data path activated on module lanes {:?} of {} and {}",
                    a.module_lanes, a.ports[0], a.ports[1]
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
}

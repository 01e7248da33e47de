//! [`FfmService`]: the memqosd service.
//!
//! **Admission is one store transaction.** A grant writes, in one `txn`, the
//! bundle object (`/registry/ffm/{id}`), its ledger entry
//! (`/ffm/grants/{id}`: the planner's request and placement) and its hand-off
//! token (`/ffm/tokens/{id}`), all three on the bundle's store lease, so a
//! lease expiry or a DELETE frees object and capacity in the same revision.
//! The transaction also compares `/ffm/epoch` with the revision this process
//! wrote at start: a second memqosd opening the same store fences the first,
//! whose grants then fail instead of admitting against a stale ledger.
//! Within the process the decision itself is taken under the in-memory
//! ledger's lock (claimed before the write, released if the write fails), so
//! concurrent clients are serialised on admission but still share the
//! store's group commit. The in-memory ledger is a cache: at start it is
//! rebuilt from the grant keys and the policies.
//!
//! **Leases.** A bundle lives on a store lease of `policy_lease_ttl_s`;
//! `renew` keeps it alive. When the store expires it the keys vanish and the
//! reconciler (a watch on the bundle prefix) frees the memory and the ledger
//! entry. The ledger counts a bundle in every time segment until it is freed
//! (request `end_s = None`), which is conservative: renewals cannot fail for
//! capacity.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_hal::memory::{MemoryProvider, TwinMemory};
use corridor_hal::{Clock, Topology};
use corridor_model::ffm::{
    BandwidthPatch, FfmAllocRequest, FfmBundle, FfmTelemetry, LatencyClassPatch, Persistence,
    TierBytes, TierPlacement,
};
use corridor_model::meta::{
    Condition, ConditionStatus, Operation, OperationKind, ResourceKind, ResourceRef,
};
use corridor_model::policy::{Policy, PolicyRequest, Weekday, parse_hhmm};
use corridor_model::problem::{FieldViolation, Problem};
use corridor_model::units::{Bytes, GigabytesPerSecond, Seconds};
use corridor_model::validate::Validate;
use corridor_planner::memory::{
    self as planner, DailyWindow, Ledger, LedgerConfig, MBps, Placement, Rejection, Request,
};
use corridor_store::{Compare, CompareOp, EventKind, KeyValue, Op, RangeRequest, StateStore, Txn};
use futures::StreamExt;
use rand::Rng;

use super::admission::{self, DeviceInfo};
use super::memory::{BundleMemory, MemoryError, PolicyOutcome};
use super::model::{self, Outcome, Part};
use crate::ids::new_id;
use crate::operations::Operations;
use crate::{ListOptions, Page, Registry, ServiceError};

const GRANT_PREFIX: &str = "/ffm/grants/";
const TOKEN_PREFIX: &str = "/ffm/tokens/";
const EPOCH_KEY: &str = "/ffm/epoch";

/// memqosd's admission share: the top of memory-cxl.md §5's band ("Σfloors
/// ≤ ~65–75 % of peak, where latency turns exponential"). The planner's own
/// default is the middle (0.7); at 0.7 the default twin's four T2 devices
/// (200 GB/s peak) admit 140 GB/s and the RFC's 150 GB/s T2 example would
/// be refused, at 0.75 they admit exactly 150.
pub const DEFAULT_ADMISSION_SHARE: f64 = 0.75;

/// Default lease when the request names none: the RFC example's 3600 s.
pub const DEFAULT_LEASE_TTL_S: u64 = 3600;

crate::meta_resource!(FfmBundle, "ffm", leased);

crate::meta_resource!(Policy, "policies");

/// Where memqosd keeps things and how it finds memory.
#[derive(Debug, Clone)]
pub struct FfmConfig {
    /// Share of each device's peak that floors may take.
    pub admission_share: f64,
    /// Directory of persistent bundles' files (survives restarts).
    pub memory_dir: PathBuf,
    /// The fd hand-off socket.
    pub socket_path: PathBuf,
    pub default_ttl: Seconds,
    /// `None`: the twin's memory from the topology.
    pub provider: Option<Arc<dyn MemoryProvider>>,
}

impl FfmConfig {
    /// Everything inside `state_dir`: `ffm-memory/` and `ffm.sock`.
    pub fn in_dir(state_dir: &std::path::Path) -> Self {
        Self {
            admission_share: DEFAULT_ADMISSION_SHARE,
            memory_dir: state_dir.join("ffm-memory"),
            socket_path: state_dir.join("ffm.sock"),
            default_ttl: Seconds(DEFAULT_LEASE_TTL_S),
            provider: None,
        }
    }

    /// A fresh private directory under the system temp dir, for control
    /// planes started without a state directory (tests).
    pub fn ephemeral() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "corridor-ffm-{}-{:08x}",
            std::process::id(),
            rand::rng().random::<u32>()
        ));
        Self::in_dir(&dir)
    }
}

/// What the memory service can answer besides the registry's errors.
#[derive(Debug, thiserror::Error)]
pub enum FfmError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error("another memqosd opened this store and now owns the capacity ledger")]
    Fenced,
    #[error("bundle {0:?} is migrating; try again when its operation ends")]
    Migrating(String),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("memory provider: {0}")]
    Provider(String),
}

impl FfmError {
    pub fn to_problem(&self) -> Problem {
        match self {
            FfmError::Invalid(errors) => Problem::validation(errors.clone()),
            FfmError::Rejected(
                r @ (Rejection::UnknownBundle(id) | Rejection::UnknownPolicy(id)),
            ) => {
                let _ = r;
                Problem::not_found("ffm", id)
            }
            FfmError::Rejected(r) => Problem::insufficient_capacity(r.to_string()),
            FfmError::Fenced => Problem::conflict("LedgerFenced", self.to_string()),
            FfmError::Migrating(_) => Problem::conflict("Migrating", self.to_string()),
            FfmError::Service(e) => e.to_problem(),
            FfmError::Memory(e) => Problem::internal(crate::error::error_chain(e)),
            FfmError::Provider(_) => Problem::internal(self.to_string()),
        }
    }

    fn field(pointer: &str, rule: &str, message: impl Into<String>) -> Self {
        FfmError::Invalid(vec![FieldViolation {
            pointer: pointer.to_owned(),
            rule: rule.to_owned(),
            message: message.into(),
        }])
    }
}

/// A live bundle's memory and hand-off state.
#[derive(Debug)]
struct Live {
    memory: Arc<BundleMemory>,
    token: String,
    domain: String,
    shareable: bool,
    /// Open hand-offs of a non-shareable bundle (0 or 1).
    holders: usize,
    migrating: bool,
}

/// Telemetry of every bundle at one ledger revision.
#[derive(Debug, Clone)]
struct Snapshot {
    revision: u64,
    minute: i64,
    outcomes: Arc<BTreeMap<String, Outcome>>,
    computed_at: std::time::Instant,
    cost: Duration,
}

/// The model is recomputed at most once per this many times its own cost,
/// so with many live bundles it takes at most 1/50 of a core however fast
/// bundles come and go; bundles newer than the last run say so.
const MODEL_DUTY: u32 = 50;

#[derive(Debug)]
pub struct FfmService {
    bundles: Registry<FfmBundle>,
    policies: Registry<Policy>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    operations: Operations,
    config: FfmConfig,
    devices: Vec<DeviceInfo>,
    device_notes: Vec<String>,
    ledger: Mutex<Ledger>,
    live: Mutex<HashMap<String, Live>>,
    epoch: i64,
    snapshot: Mutex<Option<Snapshot>>,
    /// Set while one caller recomputes the model.
    model_running: AtomicBool,
}

/// A hand-off in progress: keeps a non-shareable bundle's single slot until
/// dropped (when the client's connection closes).
#[derive(Debug)]
pub struct Hold {
    service: Weak<FfmService>,
    id: String,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(service) = self.service.upgrade()
            && let Ok(mut live) = service.live.lock()
            && let Some(l) = live.get_mut(&self.id)
        {
            l.holders = l.holders.saturating_sub(1);
        }
    }
}

/// Why a hand-off was refused (the socket answers with this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandoffError {
    /// Unknown bundle, other domain or wrong token: one answer, so the
    /// socket does not reveal which bundles exist.
    #[error("no such bundle for this domain and token")]
    Denied,
    #[error("bundle is not shareable and is already held by another client")]
    Busy,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison for tokens.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (every mutation
    // is a single ledger call); keep serving rather than poison everything.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn grant_key(id: &str) -> String {
    format!("{GRANT_PREFIX}{id}")
}
fn token_key(id: &str) -> String {
    format!("{TOKEN_PREFIX}{id}")
}

fn store_err(context: &'static str) -> impl FnOnce(corridor_store::StoreError) -> FfmError {
    move |source| FfmError::Service(ServiceError::Store { context, source })
}

impl FfmService {
    /// Discovers the devices, fences the ledger, restores every live bundle
    /// and starts the expiry reconciler.
    pub async fn start(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        operations: Operations,
        topology: &Topology,
        config: FfmConfig,
    ) -> Result<Arc<Self>, FfmError> {
        raise_fd_limit();
        let provider: Arc<dyn MemoryProvider> = match &config.provider {
            Some(p) => Arc::clone(p),
            None => Arc::new(TwinMemory::new(topology)),
        };
        let inventory = provider
            .discover()
            .map_err(|e| FfmError::Provider(e.to_string()))?;
        let (devices, device_notes) = admission::devices(inventory);
        let mut ledger = Ledger::new(
            LedgerConfig {
                admission_share: config.admission_share,
            },
            devices.iter().map(|d| d.device.clone()).collect(),
        )?;
        for note in &device_notes {
            tracing::warn!("{note}");
        }
        let epoch = store
            .put(
                EPOCH_KEY,
                format!("pid {} at {}", std::process::id(), clock.now()).into_bytes(),
                None,
            )
            .await
            .map_err(store_err("fence the capacity ledger"))?;
        let policies = Registry::<Policy>::new(Arc::clone(&store));
        let mut options = ListOptions::default();
        loop {
            let page = policies.list(&options).await?;
            for p in &page.items {
                if let Ok(p) = ledger_policy(p)
                    && let Err(e) = ledger.set_policy(p)
                {
                    tracing::error!(error = %e, "stored policy does not fit the ledger; left out");
                }
            }
            match page.continue_token {
                Some(t) => options.continue_token = Some(t),
                None => break,
            }
        }
        let service = Arc::new(Self {
            bundles: Registry::new(Arc::clone(&store)),
            policies,
            store: Arc::clone(&store),
            clock,
            operations,
            config,
            devices,
            device_notes,
            ledger: Mutex::new(ledger),
            live: Mutex::new(HashMap::new()),
            epoch,
            snapshot: Mutex::new(None),
            model_running: AtomicBool::new(false),
        });
        let revision = service.restore().await?;
        let weak = Arc::downgrade(&service);
        tokio::spawn(reconcile(weak, revision + 1));
        Ok(service)
    }

    pub fn config(&self) -> &FfmConfig {
        &self.config
    }

    pub fn registry(&self) -> &Registry<FfmBundle> {
        &self.bundles
    }

    pub fn policy_registry(&self) -> &Registry<Policy> {
        &self.policies
    }

    fn numa_nodes(&self, placement: &Placement) -> Vec<u32> {
        placement
            .shares
            .iter()
            .filter_map(|s| self.devices.get(s.index as usize).and_then(|d| d.numa_node))
            .collect()
    }

    fn placement_view(&self, placement: &Placement) -> Vec<TierPlacement> {
        placement
            .shares
            .iter()
            .map(|s| TierPlacement {
                latency_class: admission::class(placement.latency_class),
                node: s.device.clone(),
                bytes: Bytes(s.bytes),
            })
            .collect()
    }

    fn placed_condition(&self, outcome: &PolicyOutcome, now: DateTime<Utc>) -> Condition {
        let mut message = format!("{} on host NUMA nodes {:?}", outcome.mode, outcome.nodes);
        for note in outcome.notes.iter().chain(&self.device_notes) {
            message.push_str("; ");
            message.push_str(note);
        }
        Condition::new(
            "Placed",
            ConditionStatus::True,
            match outcome.mode {
                "MPOL_WEIGHTED_INTERLEAVE" => "MpolWeightedInterleave",
                "MPOL_INTERLEAVE" => "MpolInterleave",
                _ => "MpolBind",
            },
            message,
            now,
        )
    }

    /// Creates the memory of a bundle and applies its placement.
    fn materialise(
        &self,
        id: &str,
        bytes: u64,
        persistence: Persistence,
        placement: &Placement,
    ) -> Result<(BundleMemory, PolicyOutcome), FfmError> {
        let memory = match persistence {
            Persistence::None => BundleMemory::memfd(id, bytes)?,
            Persistence::File | Persistence::Dax => {
                BundleMemory::persistent(id, bytes, &self.config.memory_dir)?
            }
        };
        let (outcome, _) = memory.apply_policy(&self.numa_nodes(placement), false)?;
        Ok((memory, outcome))
    }

    // ----- alloc -----

    /// `POST /v1/ffm/alloc`. Returns the bundle and its hand-off token.
    pub async fn alloc(
        self: &Arc<Self>,
        request: FfmAllocRequest,
    ) -> Result<(FfmBundle, String), FfmError> {
        request.validate().map_err(FfmError::Invalid)?;
        let id = new_id("ffm");
        let now = self.clock.now();
        let mut bundle = FfmBundle::pending(&id, request, self.config.default_ttl, now);
        let planner_request = Request {
            bytes: bundle.bytes.get(),
            latency_class: admission::tier(bundle.latency_class),
            floor: MBps::from_gbps(bundle.bandwidth_floor_gbs.get()),
            security_domain: Some(bundle.security_domain.clone()),
            start_s: now.timestamp(),
            end_s: None,
        };
        let placement = lock(&self.ledger).allocate(&id, planner_request.clone())?;
        let result = self
            .commit_alloc(&mut bundle, &planner_request, &placement, now)
            .await;
        match result {
            Ok(token) => Ok((self.with_telemetry(bundle), token)),
            Err(e) => {
                let _ = lock(&self.ledger).free(&id);
                if bundle.persistence != Persistence::None {
                    let _ = BundleMemory::remove_file(&id, &self.config.memory_dir);
                }
                Err(e)
            }
        }
    }

    async fn commit_alloc(
        &self,
        bundle: &mut FfmBundle,
        request: &Request,
        placement: &Placement,
        now: DateTime<Utc>,
    ) -> Result<String, FfmError> {
        let (memory, outcome) = self.materialise(
            &bundle.id,
            bundle.bytes.get(),
            bundle.persistence,
            placement,
        )?;
        bundle.fds = vec![memory.proc_path()];
        bundle.placement = self.placement_view(placement);
        bundle
            .meta
            .set_condition(self.placed_condition(&outcome, now));
        let token = random_token();
        let ttl = Duration::from_secs(bundle.policy_lease_ttl_s.get());
        let lease = self
            .store
            .lease_grant(ttl)
            .await
            .map_err(store_err("grant a bundle lease"))?;
        bundle.meta.lease_expires_at =
            Some(now + chrono::Duration::seconds(bundle.policy_lease_ttl_s.get() as i64));
        let grant = planner::Bundle {
            id: bundle.id.clone(),
            request: request.clone(),
            placement: placement.clone(),
            migrating_to: None,
        };
        let created = self
            .bundles
            .create_with(
                bundle,
                Some(lease),
                vec![Compare::mod_revision(
                    EPOCH_KEY,
                    CompareOp::Equal,
                    self.epoch,
                )],
                vec![
                    Op::put_with_lease(grant_key(&bundle.id), json(&grant), lease),
                    Op::put_with_lease(token_key(&bundle.id), token.clone().into_bytes(), lease),
                ],
            )
            .await;
        let created = match created {
            Ok(c) => c,
            Err(e) => {
                let _ = self.store.lease_revoke(lease).await;
                return Err(match e {
                    ServiceError::ConditionFailed { .. } => FfmError::Fenced,
                    other => FfmError::Service(other),
                });
            }
        };
        *bundle = created;
        lock(&self.live).insert(
            bundle.id.clone(),
            Live {
                memory: Arc::new(memory),
                token: token.clone(),
                domain: bundle.security_domain.clone(),
                shareable: bundle.shareable,
                holders: 0,
                migrating: false,
            },
        );
        Ok(token)
    }

    // ----- reads -----

    /// The bundle with live telemetry.
    pub async fn get(&self, id: &str) -> Result<FfmBundle, FfmError> {
        let bundle = self.bundles.get(id).await?;
        Ok(self.with_telemetry(bundle))
    }

    /// The hand-off token of a live bundle.
    pub fn token(&self, id: &str) -> Option<String> {
        lock(&self.live).get(id).map(|l| l.token.clone())
    }

    pub async fn list(&self, options: &ListOptions) -> Result<Page<FfmBundle>, FfmError> {
        let mut page = self.bundles.list(options).await?;
        let snapshot = self.snapshot();
        page.items = page
            .items
            .into_iter()
            .map(|b| self.overlay(b, &snapshot))
            .collect();
        Ok(page)
    }

    fn with_telemetry(&self, bundle: FfmBundle) -> FfmBundle {
        let snapshot = self.snapshot();
        self.overlay(bundle, &snapshot)
    }

    fn overlay(&self, mut bundle: FfmBundle, snapshot: &BTreeMap<String, Outcome>) -> FfmBundle {
        let Some(o) = snapshot.get(&bundle.id) else {
            bundle.meta.set_condition(Condition::new(
                "FloorMet",
                ConditionStatus::Unknown,
                "TelemetryPending",
                "allocated after the last run of the bandwidth model (it runs at most once per 50 times its own cost); achieved_GBs and tail_p99_ms are 0 until the next",
                self.clock.now(),
            ));
            return bundle;
        };
        {
            bundle.achieved_gbs = GigabytesPerSecond(round3(o.achieved_gbs));
            bundle.tail_p99_ms = round3(o.tail_p99_ms);
            let now = self.clock.now();
            bundle.meta.set_condition(if o.floor_violated {
                Condition::new(
                    "FloorMet",
                    ConditionStatus::False,
                    "FloorViolated",
                    format!(
                        "modelled {:.3} GB/s is below the {:.3} GB/s floor in force (max-min fair sharing with floors)",
                        o.achieved_gbs, o.floor_gbs
                    ),
                    now,
                )
            } else {
                Condition::new(
                    "FloorMet",
                    ConditionStatus::True,
                    "FloorMet",
                    format!(
                        "modelled {:.3} GB/s for a {:.3} GB/s floor in force (max-min fair sharing with floors)",
                        o.achieved_gbs, o.floor_gbs
                    ),
                    now,
                )
            });
        }
        bundle
    }

    /// The model's outcome for every bundle, recomputed when the ledger or
    /// the minute (policy windows) changed.
    ///
    /// Only the model's inputs are gathered under the ledger's lock; the
    /// model itself runs outside it, so allocs and DELETEs are not held up
    /// by it. While one caller recomputes, the others take the previous
    /// outcome (bundles newer than it say so).
    fn snapshot(&self) -> Arc<BTreeMap<String, Outcome>> {
        let now = self.clock.now();
        let minute = now.timestamp().div_euclid(60);
        // The cost that throttles recomputation counts gathering the inputs
        // as well as running the model.
        let started;
        let (revision, parts) = {
            let ledger = lock(&self.ledger);
            {
                let cached = lock(&self.snapshot);
                if let Some(s) = cached.as_ref()
                    && ((s.revision == ledger.revision() && s.minute == minute)
                        || s.computed_at.elapsed() < s.cost * MODEL_DUTY
                        || self.model_running.load(Ordering::Acquire))
                {
                    return Arc::clone(&s.outcomes);
                }
            }
            self.model_running.store(true, Ordering::Release);
            started = std::time::Instant::now();
            let segment = ledger.segments().at(planner::week_minute(minute));
            let mut parts = BTreeMap::new();
            for b in ledger.bundles() {
                let floor = ledger
                    .window_floors(&b.request)
                    .ok()
                    .and_then(|f| f.iter().find(|(s, _)| *s == segment).map(|(_, f)| *f))
                    .unwrap_or(b.request.floor.0);
                let shares = &b.placement.shares;
                let total_w: u64 = shares.iter().map(|s| s.weight).sum();
                let mut floor_parts = Vec::new();
                planner::apportion(
                    floor,
                    &shares.iter().map(|s| s.weight).collect::<Vec<_>>(),
                    &mut floor_parts,
                );
                let v = shares
                    .iter()
                    .zip(floor_parts)
                    .map(|(s, f)| Part {
                        device: s.index as usize,
                        fraction: if total_w == 0 {
                            1.0 / shares.len() as f64
                        } else {
                            s.weight as f64 / total_w as f64
                        },
                        floor_gbs: MBps(f).gbps(),
                    })
                    .collect();
                parts.insert(b.id.clone(), v);
            }
            (ledger.revision(), parts)
        };
        let peaks: Vec<f64> = self.devices.iter().map(|d| d.peak_gbs).collect();
        let outcomes = Arc::new(model::evaluate(&peaks, &parts));
        let cost = started.elapsed();
        // Dropped outside every lock: freeing 10,000 entries is not free.
        let stale = lock(&self.snapshot).replace(Snapshot {
            revision,
            minute,
            outcomes: Arc::clone(&outcomes),
            computed_at: std::time::Instant::now(),
            cost,
        });
        self.model_running.store(false, Ordering::Release);
        drop(stale);
        drop(parts);
        outcomes
    }

    /// `GET /v1/ffm/{id}/telemetry`.
    pub async fn telemetry(&self, id: &str) -> Result<FfmTelemetry, FfmError> {
        let bundle = self.get(id).await?;
        let (migrating, resident) = {
            let live = lock(&self.live);
            match live.get(id) {
                Some(l) => (l.migrating, Some(Arc::clone(&l.memory))),
                None => (false, None),
            }
        };
        let resident_bytes = match resident {
            Some(m) => {
                tokio::task::spawn_blocking(move || m.resident_pages())
                    .await
                    .map_err(|e| FfmError::Provider(format!("telemetry task: {e}")))??
                    * 4096
            }
            None => 0,
        };
        Ok(FfmTelemetry {
            achieved_gbs: bundle.achieved_gbs,
            bandwidth_floor_gbs: bundle.bandwidth_floor_gbs,
            tail_p99_ms: bundle.tail_p99_ms,
            moved_pages: bundle.moved_pages,
            latency_class: bundle.latency_class,
            migrating,
            resident: vec![TierBytes {
                latency_class: bundle.latency_class,
                bytes: Bytes(resident_bytes),
            }],
            observed_at: Some(self.clock.now()),
        })
    }

    // ----- delete, expiry -----

    /// `DELETE /v1/ffm/{id}`: removes object, grant and token in one
    /// transaction, then frees the memory.
    pub async fn delete(&self, id: &str, precondition: Option<i64>) -> Result<FfmBundle, FfmError> {
        self.delete_visible(id, precondition, |_| true)
            .await?
            .ok_or_else(|| {
                FfmError::Service(ServiceError::NotFound {
                    kind: "ffm",
                    id: id.to_owned(),
                })
            })
    }

    /// [`delete`](Self::delete) of a bundle `visible` accepts; `None` (and
    /// nothing changed) when it refuses. The bundle is read once, for the
    /// check and the transaction's precondition alike.
    pub async fn delete_visible(
        &self,
        id: &str,
        precondition: Option<i64>,
        visible: impl FnOnce(&FfmBundle) -> bool,
    ) -> Result<Option<FfmBundle>, FfmError> {
        let (bundle, kv) = self.bundles.get_kv(id).await?;
        if !visible(&bundle) {
            return Ok(None);
        }
        if let Some(expected) = precondition
            && expected != kv.mod_revision
        {
            return Err(FfmError::Service(ServiceError::StaleVersion {
                kind: "ffm",
                id: id.to_owned(),
                expected: expected.to_string(),
                actual: kv.mod_revision.to_string(),
            }));
        }
        let response = self
            .store
            .txn(Txn {
                compares: vec![Compare::mod_revision(
                    &kv.key,
                    CompareOp::Equal,
                    kv.mod_revision,
                )],
                success: vec![
                    Op::delete(&kv.key),
                    Op::delete(grant_key(id)),
                    Op::delete(token_key(id)),
                ],
                failure: Vec::new(),
            })
            .await
            .map_err(store_err("delete a bundle"))?;
        if !response.succeeded {
            return Err(FfmError::Service(ServiceError::StaleVersion {
                kind: "ffm",
                id: id.to_owned(),
                expected: kv.mod_revision.to_string(),
                actual: "a newer version".into(),
            }));
        }
        if let Some(lease) = kv.lease {
            // The keys are gone already; the lease only needs returning so
            // the lease table does not fill with orphans. Off the response
            // path: it is one more store write the client need not wait for.
            let store = Arc::clone(&self.store);
            tokio::spawn(async move {
                let _ = store.lease_revoke(lease).await;
            });
        }
        self.release(id, bundle.persistence);
        Ok(Some(bundle))
    }

    /// Frees a bundle's memory and ledger entry (idempotent: DELETE and the
    /// reconciler may both call it).
    fn release(&self, id: &str, persistence: Persistence) {
        // Memory first, capacity last: whoever sees the capacity back also
        // sees the old bundle's memory and token gone.
        let gone = lock(&self.live).remove(id);
        let _ = lock(&self.ledger).free(id);
        let persistent = persistence != Persistence::None
            || gone.as_ref().is_some_and(|l| l.memory.file().is_some());
        if persistent && let Err(e) = BundleMemory::remove_file(id, &self.config.memory_dir) {
            tracing::warn!(bundle = id, error = %e, "cannot remove a persistent bundle's file");
        }
    }

    // ----- lease -----

    /// `POST /v1/ffm/{id}/lease`: another full TTL for object, grant and token.
    pub async fn renew(&self, id: &str) -> Result<FfmBundle, FfmError> {
        let renewed = self.bundles.renew_lease(id, self.clock.now()).await?;
        Ok(self.with_telemetry(renewed))
    }

    // ----- bandwidth -----

    /// `PATCH /v1/ffm/{id}/bandwidth`: re-admitted on the bundle's devices;
    /// a floor that does not fit is a 409 naming the binding device and
    /// window, and nothing changes.
    pub async fn set_floor(
        &self,
        id: &str,
        patch: BandwidthPatch,
        precondition: Option<i64>,
    ) -> Result<FfmBundle, FfmError> {
        patch.validate().map_err(FfmError::Invalid)?;
        let (bundle, kv) = self.bundles.get_kv(id).await?;
        if precondition.is_some_and(|p| p != kv.mod_revision) {
            return Err(FfmError::Service(ServiceError::StaleVersion {
                kind: "ffm",
                id: id.to_owned(),
                expected: precondition.unwrap_or_default().to_string(),
                actual: kv.mod_revision.to_string(),
            }));
        }
        let old = bundle.bandwidth_floor_gbs;
        let (placement, grant) = {
            let mut ledger = lock(&self.ledger);
            if ledger.bundle(id).is_some_and(|b| b.migrating_to.is_some()) {
                return Err(FfmError::Migrating(id.to_owned()));
            }
            let placement = ledger.resize(id, MBps::from_gbps(patch.floor_gbs.get()))?;
            (placement, ledger.bundle(id).cloned())
        };
        let mut updated = bundle.clone();
        updated.bandwidth_floor_gbs = patch.floor_gbs;
        updated.meta.updated_at = self.clock.now();
        let result = self.write_with_grant(&kv, &updated, grant.as_ref()).await;
        match result {
            Ok(rev) => {
                updated.meta.resource_version = rev.to_string();
                let _ = placement;
                Ok(self.with_telemetry(updated))
            }
            Err(e) => {
                let _ = lock(&self.ledger).resize(id, MBps::from_gbps(old.get()));
                Err(e)
            }
        }
    }

    /// Writes the object (CAS on the revision read) and its grant in one txn.
    async fn write_with_grant(
        &self,
        kv: &KeyValue,
        object: &FfmBundle,
        grant: Option<&planner::Bundle>,
    ) -> Result<i64, FfmError> {
        let mut ops = vec![Op::Put {
            key: kv.key.clone(),
            value: json(object),
            lease: kv.lease,
        }];
        if let Some(g) = grant {
            ops.push(Op::Put {
                key: grant_key(&object.id),
                value: json(g),
                lease: kv.lease,
            });
        }
        let response = self
            .store
            .txn(Txn {
                compares: vec![
                    Compare::mod_revision(&kv.key, CompareOp::Equal, kv.mod_revision),
                    Compare::mod_revision(EPOCH_KEY, CompareOp::Equal, self.epoch),
                ],
                success: ops,
                failure: Vec::new(),
            })
            .await
            .map_err(store_err("update a bundle"))?;
        if !response.succeeded {
            return Err(FfmError::Service(ServiceError::StaleVersion {
                kind: "ffm",
                id: object.id.clone(),
                expected: kv.mod_revision.to_string(),
                actual: "a newer version (or the ledger was fenced)".into(),
            }));
        }
        Ok(response.revision)
    }

    // ----- migration -----

    /// `PATCH /v1/ffm/{id}/latency_class`: reserves the destination, then
    /// migrates as a long-running operation and commits.
    pub async fn migrate(
        self: &Arc<Self>,
        id: &str,
        patch: LatencyClassPatch,
    ) -> Result<Operation, FfmError> {
        let bundle = self.bundles.get(id).await?;
        if bundle.persistence != Persistence::None && !patch.latency_class.can_persist() {
            return Err(FfmError::field(
                "/latency_class",
                "compatible",
                format!(
                    "a {:?}-persistent bundle cannot move to volatile {:?}",
                    bundle.persistence, patch.latency_class
                ),
            ));
        }
        let dest = lock(&self.ledger).migrate_begin(id, admission::tier(patch.latency_class))?;
        if let Some(l) = lock(&self.live).get_mut(id) {
            l.migrating = true;
        }
        let service = Arc::clone(self);
        let bundle_id = id.to_owned();
        let target = ResourceRef::new(ResourceKind::FfmBundle, id);
        let started = self
            .operations
            .start(
                OperationKind::Migration,
                target,
                move |progress| async move {
                    let result = service.run_migration(&bundle_id, dest, &progress).await;
                    if let Some(l) = lock(&service.live).get_mut(&bundle_id) {
                        l.migrating = false;
                    }
                    match result {
                        Ok(v) => Ok(Some(v)),
                        Err(e) => {
                            let _ = lock(&service.ledger).migrate_abort(&bundle_id);
                            Err(e.to_problem())
                        }
                    }
                },
            )
            .await;
        match started {
            Ok(op) => Ok(op),
            Err(e) => {
                let _ = lock(&self.ledger).migrate_abort(id);
                if let Some(l) = lock(&self.live).get_mut(id) {
                    l.migrating = false;
                }
                Err(e.into())
            }
        }
    }

    async fn run_migration(
        &self,
        id: &str,
        dest: Placement,
        progress: &crate::operations::Progress,
    ) -> Result<serde_json::Value, FfmError> {
        let memory = lock(&self.live)
            .get(id)
            .map(|l| Arc::clone(&l.memory))
            .ok_or_else(|| FfmError::Rejected(Rejection::UnknownBundle(id.to_owned())))?;
        let _ = progress
            .report(
                10,
                format!(
                    "destination reserved on {:?}",
                    dest.shares.iter().map(|s| &s.device).collect::<Vec<_>>()
                ),
            )
            .await;
        let nodes = self.numa_nodes(&dest);
        let started = std::time::Instant::now();
        let (outcome, moved) =
            tokio::task::spawn_blocking(move || memory.apply_policy(&nodes, true))
                .await
                .map_err(|e| FfmError::Provider(format!("migration task: {e}")))??;
        let elapsed = started.elapsed().as_secs_f64();
        // The twin's duration: every byte crosses the slowest device link of
        // source and destination once (read there, write here).
        let (source_gbs, bytes) = {
            let ledger = lock(&self.ledger);
            let b = ledger.bundle(id).cloned();
            let src = b
                .as_ref()
                .map(|b| self.min_peak(&b.placement))
                .unwrap_or(f64::INFINITY);
            (src, b.map(|b| b.request.bytes).unwrap_or(0))
        };
        let link_gbs = source_gbs.min(self.min_peak(&dest));
        let modelled_s = bytes as f64 / (link_gbs * 1e9);
        let _ = progress
            .report(
                80,
                format!("{moved} resident pages moved by mbind(MPOL_MF_MOVE) in {elapsed:.3} s"),
            )
            .await;
        let placement = lock(&self.ledger).migrate_commit(id)?;
        let grant = lock(&self.ledger).bundle(id).cloned();
        let now = self.clock.now();
        let placed = self.placed_condition(&outcome, now);
        let view = self.placement_view(&placement);
        let class = admission::class(placement.latency_class);
        for _ in 0..8 {
            let (mut bundle, kv) = self.bundles.get_kv(id).await?;
            bundle.latency_class = class;
            bundle.placement = view.clone();
            bundle.moved_pages += moved;
            bundle.meta.updated_at = now;
            bundle.meta.set_condition(placed.clone());
            match self.write_with_grant(&kv, &bundle, grant.as_ref()).await {
                Ok(_) => {
                    return Ok(serde_json::json!({
                        "latency_class": class,
                        "moved_pages": moved,
                        "measured_seconds": elapsed,
                        "twin_link_GBs": link_gbs,
                        "twin_modelled_seconds": modelled_s,
                        "policy": outcome.mode,
                        "notes": outcome.notes,
                    }));
                }
                Err(FfmError::Service(ServiceError::StaleVersion { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(FfmError::Service(ServiceError::ConditionFailed {
            kind: "ffm",
            id: id.to_owned(),
        }))
    }

    fn min_peak(&self, placement: &Placement) -> f64 {
        placement
            .shares
            .iter()
            .filter_map(|s| self.devices.get(s.index as usize))
            .map(|d| d.peak_gbs)
            .fold(f64::INFINITY, f64::min)
    }

    // ----- hand-off -----

    /// Authorises a hand-off of bundle `id` to a client of `domain` holding
    /// `token`; returns a duplicate of the fd and the hold that ends with the
    /// client's connection.
    pub fn handoff(
        self: &Arc<Self>,
        id: &str,
        domain: &str,
        token: &str,
    ) -> Result<(std::os::fd::OwnedFd, Hold), HandoffError> {
        let mut live = lock(&self.live);
        let l = live.get_mut(id).ok_or(HandoffError::Denied)?;
        if l.domain != domain || !same_token(&l.token, token) {
            return Err(HandoffError::Denied);
        }
        if !l.shareable && l.holders > 0 {
            return Err(HandoffError::Busy);
        }
        let fd = l
            .memory
            .fd()
            .try_clone_to_owned()
            .map_err(|_| HandoffError::Denied)?;
        l.holders += 1;
        Ok((
            fd,
            Hold {
                service: Arc::downgrade(self),
                id: id.to_owned(),
            },
        ))
    }

    // ----- policies -----

    pub async fn create_policy(&self, request: PolicyRequest) -> Result<Policy, FfmError> {
        request.validate().map_err(FfmError::Invalid)?;
        let policy = Policy::new(new_id("pol"), request, self.clock.now());
        let planner_policy = ledger_policy(&policy)?;
        let before = lock(&self.ledger).clone();
        lock(&self.ledger).set_policy(planner_policy)?;
        match self
            .policies
            .create_with(
                &policy,
                None,
                vec![Compare::mod_revision(
                    EPOCH_KEY,
                    CompareOp::Equal,
                    self.epoch,
                )],
                Vec::new(),
            )
            .await
        {
            Ok(p) => Ok(p),
            Err(e) => {
                let _ = lock(&self.ledger).remove_policy(&policy.id);
                drop(before);
                Err(match e {
                    ServiceError::ConditionFailed { .. } => FfmError::Fenced,
                    other => other.into(),
                })
            }
        }
    }

    pub async fn delete_policy(&self, id: &str) -> Result<Policy, FfmError> {
        let policy = self.policies.get(id).await?;
        lock(&self.ledger).remove_policy(id)?;
        match self.policies.delete(id, None).await {
            Ok(p) => Ok(p),
            Err(e) => {
                if let Ok(p) = ledger_policy(&policy) {
                    let _ = lock(&self.ledger).set_policy(p);
                }
                Err(e.into())
            }
        }
    }

    // ----- restart -----

    /// Rebuilds the ledger and every live bundle's memory from the store.
    /// Returns the revision the state was read at.
    async fn restore(&self) -> Result<i64, FfmError> {
        let mut after: Option<String> = None;
        let mut grants = Vec::new();
        let mut revision = 0;
        loop {
            let mut request = RangeRequest::prefix(GRANT_PREFIX).limit(1000);
            if let Some(a) = &after {
                request = request.after(a.clone());
            }
            let response = self
                .store
                .range(request)
                .await
                .map_err(store_err("read the capacity ledger"))?;
            if revision == 0 {
                revision = response.revision;
            }
            for kv in &response.kvs {
                after = Some(kv.key.clone());
                match serde_json::from_slice::<planner::Bundle>(&kv.value) {
                    Ok(g) => grants.push(g),
                    Err(e) => tracing::error!(key = %kv.key, error = %e, "undecodable grant"),
                }
            }
            if !response.more || response.kvs.is_empty() {
                break;
            }
        }
        let now = self.clock.now();
        let restored: Vec<_> = futures::stream::iter(grants)
            .map(|grant| self.restore_one(grant, now))
            .buffer_unordered(32)
            .collect()
            .await;
        let n = restored.iter().filter(|r| r.is_ok()).count();
        for e in restored.into_iter().filter_map(Result::err) {
            tracing::error!(error = %crate::error::error_chain(&e), "bundle not restored");
        }
        if n > 0 {
            tracing::info!(bundles = n, "memqosd: live bundles restored");
        }
        Ok(revision)
    }

    async fn restore_one(
        &self,
        mut grant: planner::Bundle,
        now: DateTime<Utc>,
    ) -> Result<(), FfmError> {
        let id = grant.id.clone();
        let (mut bundle, kv) = match self.bundles.get_kv(&id).await {
            Ok(found) => found,
            Err(ServiceError::NotFound { .. }) => {
                // The object went with its lease; the grant is an orphan.
                let _ = self.store.delete(&grant_key(&id)).await;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // An interrupted migration is abandoned: the data never left the
        // source placement.
        grant.migrating_to = None;
        {
            let mut ledger = lock(&self.ledger);
            let mut placement = grant.placement.clone();
            placement.revision = ledger.revision();
            if let Err(e) = ledger.apply(&id, grant.request.clone(), placement) {
                tracing::error!(bundle = %id, error = %e, "restored grant does not fit the ledger");
            }
        }
        let token = match self.store.get(&token_key(&id)).await {
            Ok(Some(kv)) => String::from_utf8_lossy(&kv.value).into_owned(),
            _ => random_token(),
        };
        let (memory, outcome) = self.materialise(
            &id,
            bundle.bytes.get(),
            bundle.persistence,
            &grant.placement,
        )?;
        bundle.fds = vec![memory.proc_path()];
        bundle
            .meta
            .set_condition(self.placed_condition(&outcome, now));
        bundle.meta.set_condition(match bundle.persistence {
            Persistence::None => Condition::new(
                "DataRetained",
                ConditionStatus::False,
                "RecreatedAfterRestart",
                "persistence none: the memory was recreated empty when memqosd restarted; earlier contents are lost",
                now,
            ),
            _ => Condition::new(
                "DataRetained",
                ConditionStatus::True,
                "ReopenedAfterRestart",
                format!(
                    "contents reopened from {}",
                    memory.file().map(|p| p.display().to_string()).unwrap_or_default()
                ),
                now,
            ),
        });
        bundle.meta.updated_at = now;
        self.write_with_grant(&kv, &bundle, Some(&grant)).await?;
        lock(&self.live).insert(
            id,
            Live {
                memory: Arc::new(memory),
                token,
                domain: bundle.security_domain.clone(),
                shareable: bundle.shareable,
                holders: 0,
                migrating: false,
            },
        );
        Ok(())
    }
}

/// Frees what the store deleted behind our back (lease expiry) and what a
/// DELETE already removed (idempotent).
///
/// Holds the service (and so the store) only weakly between events, so
/// dropping the control plane closes the store.
async fn reconcile(service: Weak<FfmService>, from: i64) {
    let prefix = Registry::<FfmBundle>::prefix();
    let mut from = from;
    loop {
        let Some(store) = service.upgrade().map(|s| Arc::clone(&s.store)) else {
            return;
        };
        let watched = store.watch(&prefix, from).await;
        drop(store);
        let mut events = match watched {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "memqosd reconciler cannot watch; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                from = 0;
                continue;
            }
        };
        while let Some(event) = events.next().await {
            let Some(service) = service.upgrade() else {
                return;
            };
            match event {
                Ok(event) => {
                    from = event.revision() + 1;
                    if event.kind == EventKind::Delete {
                        let id = event.kv.key.trim_start_matches(&prefix).to_owned();
                        let persistence = event
                            .prev_kv
                            .as_ref()
                            .and_then(|kv| serde_json::from_slice::<FfmBundle>(&kv.value).ok())
                            .map_or(Persistence::None, |b| b.persistence);
                        service.release(&id, persistence);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "memqosd reconciler watch ended; resyncing");
                    service.resync().await;
                    from = 0;
                    break;
                }
            }
        }
        if service.upgrade().is_none() {
            return;
        }
    }
}

impl FfmService {
    /// After a lost watch: frees every live bundle whose object is gone.
    async fn resync(&self) {
        let ids: Vec<String> = lock(&self.live).keys().cloned().collect();
        for id in ids {
            if let Err(ServiceError::NotFound { .. }) = self.bundles.get(&id).await {
                self.release(&id, Persistence::File);
            }
        }
    }
}

/// The ledger's form of a policy: window in minutes at a fixed UTC offset.
fn ledger_policy(policy: &Policy) -> Result<planner::Policy, FfmError> {
    if !policy.target.is_empty() {
        return Err(FfmError::field(
            "/target",
            "supported",
            "this ledger admits whole-domain policies only; leave target empty",
        ));
    }
    let offset = utc_offset(&policy.window.time_zone).ok_or_else(|| {
        FfmError::field(
            "/window/time_zone",
            "supported",
            format!(
                "{:?} is not known here: without a tz database only UTC and Etc/GMT±N are accepted",
                policy.window.time_zone
            ),
        )
    })?;
    let start = parse_hhmm(&policy.window.start).unwrap_or(0);
    let end = parse_hhmm(&policy.window.end).unwrap_or(0);
    let days = if policy.window.days.is_empty() {
        planner::EVERY_DAY
    } else {
        policy.window.days.iter().fold(0u8, |acc, d| {
            acc | 1
                << match d {
                    Weekday::Mon => 0,
                    Weekday::Tue => 1,
                    Weekday::Wed => 2,
                    Weekday::Thu => 3,
                    Weekday::Fri => 4,
                    Weekday::Sat => 5,
                    Weekday::Sun => 6,
                }
        })
    };
    let window = DailyWindow::new(start, end)
        .map_err(|e| FfmError::field("/window", "format", e.to_string()))?
        .with_offset(offset)
        .on_days(days);
    Ok(planner::Policy {
        id: policy.id.clone(),
        floor: MBps::from_gbps(policy.min_gbs.get()),
        window,
        security_domain: Some(policy.security_domain.clone()),
    })
}

/// UTC offset in minutes of the zones known without a tz database.
fn utc_offset(zone: &str) -> Option<i16> {
    match zone {
        "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT" => Some(0),
        _ => {
            // POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC.
            let rest = zone.strip_prefix("Etc/GMT")?;
            let hours: i16 = rest.parse().ok()?;
            (-14..=12).contains(&hours).then_some(-hours * 60)
        }
    }
}

/// Every live bundle holds an fd: lift the soft `RLIMIT_NOFILE` to the hard
/// limit so the number of bundles is bounded by admission, not by a default
/// of 1024.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE; bundles are limited by it");
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("memqosd values serialise")
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

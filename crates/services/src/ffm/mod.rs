//! memqosd: free-form memory bundles and bandwidth policies.
//!
//! [`FfmService`] is the one entry point. Every call takes the
//! [`Caller`](crate::Caller) it is made for, and the service decides what
//! depends on the object: another domain's bundle or policy is the same
//! `NotFound` as a missing one, new objects belong to
//! [`Caller::owner_for`](crate::Caller::owner_for), and the hand-off token
//! goes only to callers that
//! [receive the owner's secrets](crate::Caller::receives_secrets_of).
//!
//! | module | one job |
//! |---|---|
//! | [`config`] | where memqosd keeps things; admission share and default lease |
//! | [`error`] | [`FfmError`] and its problem+json |
//! | `visibility` | the one path deciding which bundles and policies a caller sees (get, list, watch) |
//! | `alloc` | `create`: the request made ready and the admission decision (shared with `dry_run`) under the ledger's lock, then the one-transaction grant |
//! | `dry_run` | `POST /v1/ffm/alloc?dry_run=true`: the alloc's decision described as a plan (placement, windows, binding constraint, the model's prediction), nothing committed |
//! | `bundles` | get, list, watch, lease renewal, delete, and freeing a bundle |
//! | `bandwidth` | `PATCH …/bandwidth`: re-admission of the floor |
//! | `migration` | `PATCH …/latency_class`: the migration operation |
//! | `telemetry` | the bandwidth model's cached outcome, overlaid on bundles |
//! | `policies` | time-windowed floors, their names unique per domain |
//! | `tiers` | `GET /v1/ffm/tiers`: each device's tier and why, and the floors admitted on it per policy window, from one ledger snapshot |
//! | `timezone` | policy windows in IANA zones: the offsets admission counts, whether one is in force now |
//! | `grants` | the store keys beside a bundle (grant, host epoch compare) and the object + grant write |
//! | `cluster` | several memqosds on one store: each serves its hosts (per-host epochs), every ledger counts the others' grants and the policies, followed through a watch, with version keys that make those decisions safe |
//! | `tokens` | hand-off tokens: making, comparing, who receives them |
//! | `placement` | a ledger placement applied to memory (the one place it becomes an `mbind` mask), and described on the bundle |
//! | `hosts` | which hosts bundles are placed for, the default one, the ones this memqosd serves |
//! | [`liveness`] | a short-leased key per served host; a lapsed one marks that host's bundles `HostLost` |
//! | [`reach`] | pooled devices sliced per host, each slice's limits from fabmand's paths, the compares that keep a bundle from outliving its path |
//! | `restore` | the ledger and every bundle's memory rebuilt after a restart |
//! | `reconcile` | the watch that frees what lease expiry deleted |
//! | [`handoff`] | the Unix-socket fd hand-off (`SCM_RIGHTS`) and its authorisation |
//! | [`memory`] | the real memory (sealed memfd or persistent file, `mbind`) |
//! | [`protection`] | encryption at rest of persistent bundles: the operator's choice, what it resolves to, the `EncryptedAtRest` condition |
//! | [`vault`] | one fscrypt key per security domain, sealed by the TPM |
//! | [`admission`] | memory devices from a `MemoryProvider` as ledger devices |
//! | [`model`] | max-min fair bandwidth sharing and the M/M/1 tail model |
//!
//! **Admission is one store transaction.** A grant writes, in one `txn`, the
//! bundle object (`/registry/ffm/{id}`), its ledger entry
//! (`/ffm/grants/{id}`: the planner's request and placement) and its hand-off
//! token (`/ffm/tokens/{id}`), all three on the bundle's store lease, so a
//! lease expiry or a DELETE frees object and capacity in the same revision.
//! The transaction also compares the epoch of the bundle's host
//! (`/ffm/epoch/{host}`) with the revision this process wrote at start: a
//! second memqosd serving the same host fences the first, whose grants for it
//! then fail instead of admitting against a stale ledger; and it compares the
//! policies' version key, so a policy another replica wrote and this ledger has
//! not applied fails the grant (see `cluster`).
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

pub mod admission;
mod alloc;
mod bandwidth;
mod bundles;
mod cluster;
pub mod config;
mod dry_run;
pub mod error;
mod grants;
pub mod handoff;
mod hosts;
pub mod liveness;
pub mod memory;
mod migration;
pub mod model;
mod placement;
mod policies;
pub mod presence;
pub mod protection;
pub mod reach;
mod reconcile;
mod restore;
mod telemetry;
mod tiers;
mod timezone;
mod tokens;
pub mod vault;
mod visibility;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use corridor_hal::memory::{BandwidthCounters, MemoryProvider, ResctrlMbm, TwinMemory};
use corridor_hal::{Clock, Topology};
use corridor_model::ffm::FfmBundle;
use corridor_model::policy::Policy;
use corridor_planner::memory::{Ledger, LedgerConfig};
use corridor_store::StateStore;

pub use config::{DEFAULT_ADMISSION_SHARE, DEFAULT_LEASE_TTL_S, FfmConfig};
pub use error::FfmError;
pub use handoff::{HandoffError, Hold};
pub use protection::Protection;
pub use telemetry::{BundleReading, ModelledFigures};

use crate::Registry;
use crate::operations::Operations;
use admission::DeviceInfo;
use memory::BundleMemory;

crate::meta_resource!(FfmBundle, "ffm", leased);

crate::meta_resource!(Policy, "policies");

/// A bundle as one caller receives it: the hand-off token only when the
/// caller may receive the owner's secrets
/// (see [`Caller::receives_secrets_of`](crate::Caller::receives_secrets_of)).
#[derive(Debug, Clone)]
pub struct BundleAndToken {
    pub bundle: FfmBundle,
    pub token: Option<String>,
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
    /// The bundle as this process created it, while that may still be the
    /// stored version: a DELETE then needs no read of it (`bundles.rs`).
    written: Option<Written>,
}

/// A bundle object as this process wrote it, at the revision the write
/// got, with the lease it was written under.
#[derive(Debug, Clone)]
struct Written {
    bundle: Arc<FfmBundle>,
    revision: corridor_store::Revision,
    lease: corridor_store::LeaseId,
}

impl Live {
    /// A bundle's memory as it comes live (allocated or restored): nobody
    /// holds it yet and no migration runs.
    fn new(memory: BundleMemory, token: String, bundle: &FfmBundle) -> Self {
        Live {
            memory: Arc::new(memory),
            token,
            domain: bundle.security_domain.clone(),
            shareable: bundle.shareable,
            holders: 0,
            migrating: false,
            written: None,
        }
    }
}

/// The memqosd service.
#[derive(Debug)]
pub struct FfmService {
    bundles: Registry<FfmBundle>,
    policies: Registry<Policy>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    operations: Operations,
    config: FfmConfig,
    devices: Vec<DeviceInfo>,
    /// The pooled devices sliced per host (empty: reach does not follow fabric paths).
    pool: reach::PooledDevices,
    /// The paths that open each slice, as last seen in the store.
    reach: Mutex<reach::Reach>,
    /// The hosts bundles may be placed for, and the one a request naming
    /// none gets.
    hosts: hosts::Hosts,
    /// What discovery could not know (told on every `Placed` condition).
    device_notes: Vec<String>,
    ledger: Mutex<Ledger>,
    live: Mutex<HashMap<String, Live>>,
    /// The revision at which this process wrote every served host's epoch
    /// (`/ffm/epoch/{host}`, one transaction at start).
    epoch: i64,
    /// The version keys the ledger has applied (`cluster`). Locked after `ledger`,
    /// never before.
    seen: Mutex<cluster::Seen>,
    telemetry: telemetry::Cache,
    /// Measured memory traffic per bundle (resctrl MBM), where there is any.
    counters: Arc<dyn BandwidthCounters>,
    /// How persistent bundles are kept at rest, resolved at start.
    at_rest: protection::AtRest,
    /// attestd, asked which devices under a new bundle are vouched for.
    trust: std::sync::OnceLock<Arc<dyn crate::corridors::trust::DeviceTrust>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (every mutation
    // is a single ledger call); keep serving rather than poison everything.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FfmService {
    /// Discovers the devices, fences the ledger, loads the policies,
    /// restores every live bundle and starts the expiry reconciler.
    pub async fn start(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        operations: Operations,
        topology: &Topology,
        config: FfmConfig,
    ) -> Result<Arc<Self>, FfmError> {
        // Every live bundle holds an fd: admission, not a default of 1024
        // descriptors, must bound the number of bundles.
        if let Err(error) = corridor_hal::memory::fd_passing::raise_fd_limit() {
            tracing::warn!(%error, "cannot raise RLIMIT_NOFILE; bundles are limited by it");
        }
        let provider: Arc<dyn MemoryProvider> = match &config.provider {
            Some(p) => Arc::clone(p),
            None => Arc::new(TwinMemory::new(topology)),
        };
        let inventory = provider.discover().map_err(FfmError::Provider)?;
        let (devices, device_notes) = admission::devices(inventory);
        let pool = if config.follow_fabric_paths {
            reach::PooledDevices::of(topology)
        } else {
            reach::PooledDevices::default()
        };
        let devices = reach::split(devices, &pool);
        let hosts = hosts::Hosts::of(
            &devices,
            config.default_host.as_deref(),
            config.serve_hosts.as_deref(),
        )?;
        let shared = if config.runs_memqosd {
            cluster::shared_devices(devices.iter().map(|d| &d.device), hosts.served())
        } else {
            Vec::new()
        };
        if !shared.is_empty() {
            return Err(FfmError::SharedDevices { devices: shared });
        }
        let service_counters = config.counters.clone();
        for note in &device_notes {
            tracing::warn!("{note}");
        }
        let mut ledger = Ledger::new(
            LedgerConfig {
                admission_share: config.admission_share,
            },
            devices.iter().map(|d| d.device.clone()).collect(),
        )?;
        // A process that does not run memqosd fences no host: it must not
        // take a host away from the memqosd that serves it.
        let epoch = if config.runs_memqosd {
            FfmService::fence_hosts(
                store.as_ref(),
                hosts.served().iter().map(String::as_str),
                clock.now(),
            )
            .await?
        } else {
            0
        };
        let at_rest = protection::AtRest::resolve(&config);
        match &at_rest {
            protection::AtRest::Encrypted(_) => {}
            protection::AtRest::Plaintext => tracing::warn!(
                dir = %config.memory_dir.display(),
                "persistent bundles are kept in plaintext (the operator opted out of encryption at rest)"
            ),
            protection::AtRest::Refused(reason) => {
                tracing::warn!(%reason, "persistent bundles will be refused");
            }
        }
        let policies = Registry::<Policy>::new(Arc::clone(&store));
        // Before the policies and grants they cover (see `cluster::read_versions`).
        let (versions, versions_at) = cluster::read_versions(store.as_ref()).await?;
        policies::load(&policies, &mut ledger, clock.now()).await?;
        let service = Arc::new(Self {
            bundles: Registry::new(Arc::clone(&store)),
            policies,
            store,
            clock,
            operations,
            config,
            devices,
            pool,
            reach: Mutex::new(reach::Reach::default()),
            hosts,
            device_notes,
            ledger: Mutex::new(ledger),
            live: Mutex::new(HashMap::new()),
            epoch,
            seen: Mutex::new(cluster::Seen::default()),
            telemetry: telemetry::Cache::default(),
            counters: match &service_counters {
                Some(c) => Arc::clone(c),
                None => Arc::new(ResctrlMbm::system()),
            },
            at_rest,
            trust: std::sync::OnceLock::new(),
        });
        if !service.config.runs_memqosd {
            return Ok(service);
        }
        // Slices open before the grants on them are restored.
        let paths_listed = if service.follows_paths() {
            for slice in service.devices.iter().filter(|d| d.slice_host.is_some()) {
                let _ = lock(&service.ledger).set_reach(&slice.device.id, None);
            }
            Some(service.load_reach().await?)
        } else {
            None
        };
        let lease = service
            .announce()
            .await
            .map_err(error::store_err("announce the served hosts"))?;
        let revision = service.restore().await?;
        let others = service.mark_unannounced_hosts().await?;
        service.apply_versions(&versions);
        tokio::spawn(reconcile::run(Arc::downgrade(&service), revision + 1));
        tokio::spawn(cluster::follow(Arc::downgrade(&service), versions_at + 1));
        tokio::spawn(liveness::keep(Arc::downgrade(&service), lease, others));
        tokio::spawn(presence::follow(Arc::downgrade(&service)));
        if let Some(listed) = paths_listed {
            tokio::spawn(reach::follow(Arc::downgrade(&service), listed));
        }
        Ok(service)
    }

    /// Records, on each new bundle, the attestations vouching for the CXL
    /// devices that hold it.
    pub fn attach_trust(&self, trust: Arc<dyn crate::corridors::trust::DeviceTrust>) {
        let _ = self.trust.set(trust);
    }

    /// The attestations vouching for the devices of `placement` now (those
    /// without one are left out: the bundle does not require attestation).
    async fn attestations_of(
        &self,
        placement: &[corridor_model::ffm::TierPlacement],
    ) -> Vec<String> {
        use crate::corridors::trust::DeviceStanding;
        let Some(trust) = self.trust.get() else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        for part in placement {
            if let DeviceStanding::Trusted { attestation_id } = trust.standing(&part.node).await
                && !ids.contains(&attestation_id)
            {
                ids.push(attestation_id);
            }
        }
        ids
    }

    /// The host bundles go to when a request names none: the configured
    /// one, else the twin's first host or this machine.
    pub fn default_host(&self) -> &str {
        self.hosts.default_host()
    }

    pub fn config(&self) -> &FfmConfig {
        &self.config
    }

    /// The key vault when persistent bundles are encrypted (fscrypt), for diagnostics and
    /// tests that lock a domain again.
    pub fn key_vault(&self) -> Option<&vault::KeyVault> {
        match &self.at_rest {
            protection::AtRest::Encrypted(v) => Some(v.as_ref()),
            _ => None,
        }
    }

    /// Whether this process still holds the memory of bundle `id` (for
    /// tests and diagnostics: false once DELETE or lease expiry freed it).
    pub fn holds_memory(&self, id: &str) -> bool {
        lock(&self.live).contains_key(id)
    }
}

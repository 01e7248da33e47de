//! Several memqosds on one store (cluster mode): each serves the bundles of its own hosts,
//! and every one keeps the whole ledger.
//!
//! **Who writes what.** A bundle's memory (its memfd) lives in the memqosd of the host
//! that uses it, so a memqosd allocates, migrates and re-floors only bundles of the hosts it
//! serves (`[ffm] hosts`; all known hosts by default, which is the one-process story).
//! Each served host is fenced by its own epoch key (`/ffm/epoch/{host}`), written at start:
//! a second memqosd for the same host fences the first for that host only. A device shared
//! by hosts that different memqosds serve would need a fence of its own, so a memqosd
//! refuses to start unless each device's hosts are all served by it or none are (pooled
//! CXL devices behind fabmand's paths are sliced per host, so each slice has one host).
//!
//! **What every memqosd must see.** Policies are domain-wide and written by any replica,
//! and each raises the floors of bundles on every host; so each memqosd's ledger also
//! counts the other hosts' grants (recorded as committed, [`Ledger::record`]) and the
//! policies, followed through one watch of the `/ffm/` prefix. Two version keys make the
//! decisions taken on that copy safe:
//! - `/ffm/ledger/hosts/{host}`, written last in every transaction that grants on the
//!   host's devices: a policy is admitted with a compare of every host's key at the
//!   revision this memqosd has applied, so a grant it has not seen fails the policy's
//!   transaction (which is decided again, on the grants as they now are);
//! - `/ffm/ledger/policies`, written last in every policy create and delete: every grant
//!   compares it, so a policy the deciding memqosd has not applied fails the grant.
//!
//! Those compares are sound because a transaction's events arrive in the order of its
//! operations (etcd's and the embedded store's watches both), the version key last: when
//! this memqosd has applied a key at revision `r`, it has applied every grant at `r` and
//! before. What it has not applied yet can only be a free (lease expiry or DELETE do not
//! write a version key), which makes its copy conservative, never optimistic.
//!
//! [`Ledger::record`]: corridor_planner::memory::Ledger::record

use std::collections::{BTreeSet, HashMap};
use std::sync::Weak;
use std::time::{Duration, Instant};

use corridor_planner::memory as planner;
use corridor_store::{Compare, CompareOp, EventKind, KvEvent, Op, RangeRequest, Revision};
use futures::StreamExt;

use super::error::{FfmError, store_err};
use super::grants::GRANT_PREFIX;
use super::{FfmService, lock};

/// The version keys below.
const VERSION_PREFIX: &str = "/ffm/ledger/";
/// Written last by every transaction that grants on a host's devices.
pub(super) const HOST_VERSION_PREFIX: &str = "/ffm/ledger/hosts/";
/// Written last by every policy create and delete.
pub(super) const POLICIES_VERSION_KEY: &str = "/ffm/ledger/policies";
/// The fence of one served host.
const EPOCH_PREFIX: &str = "/ffm/epoch/";
/// Everything the watch follows: grants, version keys (and epochs and tokens, skipped).
const FOLLOWED_PREFIX: &str = "/ffm/";
/// How long a decision waits for this memqosd's copy to reach what a failed compare saw.
const CATCH_UP: Duration = Duration::from_secs(2);

pub(super) fn host_version_key(host: &str) -> String {
    format!("{HOST_VERSION_PREFIX}{host}")
}

pub(super) fn epoch_key(host: &str) -> String {
    format!("{EPOCH_PREFIX}{host}")
}

/// The revisions of the version keys this memqosd's ledger has applied (0: never written).
#[derive(Debug, Default)]
pub(super) struct Seen {
    hosts: HashMap<String, Revision>,
    policies: Revision,
}

impl Seen {
    /// The revision of version key `key` this ledger has applied (0: none).
    fn applied(&self, key: &str) -> Revision {
        if key == POLICIES_VERSION_KEY {
            self.policies
        } else {
            key.strip_prefix(HOST_VERSION_PREFIX)
                .and_then(|h| self.hosts.get(h).copied())
                .unwrap_or(0)
        }
    }

    fn observe(&mut self, key: &str, revision: Revision) {
        if key == POLICIES_VERSION_KEY {
            self.policies = self.policies.max(revision);
        } else if let Some(host) = key.strip_prefix(HOST_VERSION_PREFIX) {
            let seen = self.hosts.entry(host.to_owned()).or_default();
            *seen = (*seen).max(revision);
        }
    }
}

/// Reads the version keys. Read before the grants and policies they cover, and applied
/// ([`FfmService::apply_versions`]) only once those are in the ledger, so what [`Seen`]
/// says is never ahead of the ledger. Returns them and the revision to follow from.
pub(super) async fn read_versions(
    store: &dyn corridor_store::StateStore,
) -> Result<(Vec<(String, Revision)>, Revision), FfmError> {
    let response = store
        .range(RangeRequest::prefix(VERSION_PREFIX))
        .await
        .map_err(store_err("read the ledger's version keys"))?;
    let versions = response
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.mod_revision))
        .collect();
    Ok((versions, response.revision))
}

/// The hosts of `devices` that a memqosd serving `served` shares with another memqosd: a
/// device whose hosts are partly served. Empty when the split is clean.
pub(super) fn shared_devices<'a>(
    devices: impl IntoIterator<Item = &'a planner::Device>,
    served: &BTreeSet<String>,
) -> Vec<String> {
    devices
        .into_iter()
        .filter(|d| {
            let mine = d.hosts.iter().filter(|h| served.contains(*h)).count();
            mine > 0 && mine < d.hosts.len()
        })
        .map(|d| format!("{} (hosts {:?})", d.id, d.hosts))
        .collect()
}

impl FfmService {
    /// The compare every grant carries: the policies are the ones this ledger applied.
    /// Read under the ledger's lock, with the decision it guards.
    pub(super) fn policies_unchanged(&self) -> Compare {
        Compare::mod_revision(
            POLICIES_VERSION_KEY,
            CompareOp::Equal,
            lock(&self.seen).policies,
        )
    }

    /// The compares a policy change carries: every host's grants are the ones this ledger
    /// applied, and so are the policies. Read under the ledger's lock.
    pub(super) fn ledger_unchanged(&self) -> Vec<Compare> {
        let seen = lock(&self.seen);
        self.hosts
            .known()
            .map(host_version_key)
            .chain(std::iter::once(POLICIES_VERSION_KEY.to_owned()))
            .map(|key| {
                let applied = seen.applied(&key);
                Compare::mod_revision(key, CompareOp::Equal, applied)
            })
            .collect()
    }

    /// The write that tells the other memqosds a grant on `host` happened (last in its
    /// transaction).
    pub(super) fn host_written(host: &str, bundle: &str) -> Op {
        Op::put(host_version_key(host), bundle.as_bytes().to_vec())
    }

    /// The write that tells the other memqosds the policies changed (last in its
    /// transaction).
    pub(super) fn policies_written(policy: &str) -> Op {
        Op::put(POLICIES_VERSION_KEY, policy.as_bytes().to_vec())
    }

    /// After a compare failed for something other than the fence: waits (bounded) until
    /// this memqosd's copy has applied the version keys as the store has them now, so the
    /// next decision sees what the failed one missed.
    pub(super) async fn catch_up(&self) -> Result<(), FfmError> {
        let (current, _) = read_versions(self.store.as_ref()).await?;
        let deadline = Instant::now() + CATCH_UP;
        loop {
            let behind = {
                let seen = lock(&self.seen);
                current
                    .iter()
                    .any(|(key, revision)| seen.applied(key) < *revision)
            };
            if !behind || Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Writes the epoch of every served host, in one transaction: from now on, a memqosd
    /// that served one of them before fails its writes for it. Returns the epochs'
    /// revision (one for all).
    pub(super) async fn fence_hosts(
        store: &dyn corridor_store::StateStore,
        served: impl Iterator<Item = &str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Revision, FfmError> {
        let value = format!("memqosd pid {} since {now}", std::process::id());
        let fenced = store
            .txn(corridor_store::Txn {
                compares: Vec::new(),
                success: served
                    .map(|host| Op::put(epoch_key(host), value.clone().into_bytes()))
                    .collect(),
                failure: Vec::new(),
            })
            .await
            .map_err(store_err("fence the hosts' bundles"))?;
        Ok(fenced.revision)
    }

    /// Who serves `host` now, as its epoch key says (for the refusal of a request this
    /// memqosd does not serve).
    pub(super) async fn served_by(&self, host: &str) -> String {
        match self.store.get(&epoch_key(host)).await {
            Ok(Some(kv)) => String::from_utf8_lossy(&kv.value).into_owned(),
            Ok(None) => "no memqosd has started for it".to_owned(),
            Err(e) => format!("unknown ({e})"),
        }
    }

    /// Marks versions read by [`read_versions`] as applied.
    pub(super) fn apply_versions(&self, versions: &[(String, Revision)]) {
        let mut seen = lock(&self.seen);
        for (key, revision) in versions {
            seen.observe(key, *revision);
        }
    }

    /// Records another host's grant in this ledger (not this memqosd's own hosts: it is
    /// their writer, and its ledger has them already).
    pub(super) fn record_other(&self, grant: planner::Bundle) {
        if !self.hosts.records_others() {
            return;
        }
        let host = grant.request.host.clone();
        if host.as_deref().is_none_or(|h| self.hosts.serves(h)) {
            return;
        }
        let unknown = lock(&self.ledger).record(grant);
        if !unknown.is_empty() {
            tracing::debug!(?host, devices = ?unknown, "a grant of another host on devices this memqosd does not know");
        }
    }

    /// Forgets another host's freed grant (its own hosts' frees go through
    /// [`FfmService::release`], memory first).
    pub(super) fn forget_other(&self, id: &str) {
        let mut ledger = lock(&self.ledger);
        let others = ledger
            .bundle(id)
            .and_then(|b| b.request.host.as_deref())
            .is_some_and(|h| !self.hosts.serves(h));
        if others {
            ledger.forget(id);
        }
    }

    /// Re-reads the policies into the ledger as the store has them (another memqosd
    /// changed them; the store already admitted the change).
    async fn reload_policies(&self) -> Result<(), FfmError> {
        let policies = super::policies::read_all(&self.policies, self.clock.now()).await?;
        lock(&self.ledger)
            .record_policies(policies)
            .map_err(FfmError::from)
    }

    fn apply(&self, event: &KvEvent) -> ApplyOutcome {
        let key = event.kv.key.as_str();
        if let Some(id) = key.strip_prefix(GRANT_PREFIX) {
            if !self.hosts.records_others() {
                // Every grant is this memqosd's own: nothing to decode.
                return ApplyOutcome::Applied;
            }
            match event.kind {
                EventKind::Put => {
                    match serde_json::from_slice::<planner::Bundle>(&event.kv.value) {
                        Ok(grant) => self.record_other(grant),
                        Err(e) => tracing::error!(key, error = %e, "undecodable grant"),
                    }
                }
                EventKind::Delete => self.forget_other(id),
            }
            return ApplyOutcome::Applied;
        }
        if key == POLICIES_VERSION_KEY && event.kind == EventKind::Put {
            return ApplyOutcome::PoliciesChanged;
        }
        if key.starts_with(super::liveness::LIVENESS_PREFIX) && event.kind == EventKind::Delete {
            return ApplyOutcome::HostLapsed(key.to_owned());
        }
        if key.starts_with(HOST_VERSION_PREFIX) && event.kind == EventKind::Put {
            lock(&self.seen).observe(key, event.kv.mod_revision);
        }
        ApplyOutcome::Applied
    }

    /// After a lost watch: the other hosts' grants and the policies as the store has them
    /// now. Returns the revision the version keys were read at.
    async fn resync_shared_ledger(&self) -> Result<Revision, FfmError> {
        let (versions, from) = read_versions(self.store.as_ref()).await?;
        let (grants, _) = self.read_grants().await?;
        let present: BTreeSet<String> = grants.iter().map(|g| g.id.clone()).collect();
        let stale: Vec<String> = lock(&self.ledger)
            .bundles()
            .filter(|b| {
                !present.contains(&b.id)
                    && b.request
                        .host
                        .as_deref()
                        .is_some_and(|h| !self.hosts.serves(h))
            })
            .map(|b| b.id.clone())
            .collect();
        for id in stale {
            self.forget_other(&id);
        }
        for grant in grants {
            self.record_other(grant);
        }
        self.reload_policies().await?;
        self.apply_versions(&versions);
        Ok(from)
    }
}

enum ApplyOutcome {
    Applied,
    PoliciesChanged,
    /// A host's liveness key lapsed (`super::liveness`).
    HostLapsed(String),
}

/// Follows the other hosts' grants and the policies until the service is dropped.
pub(super) async fn follow(service: Weak<FfmService>, mut from: Revision) {
    // A watch that ends for any reason is followed by a resync: what it missed is read
    // back whole rather than resumed from a revision that may be compacted.
    loop {
        let Some(store) = service.upgrade().map(|s| std::sync::Arc::clone(&s.store)) else {
            return;
        };
        let watched = store.watch(FOLLOWED_PREFIX, from).await;
        drop(store);
        let mut events = match watched {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "memqosd cannot follow the shared ledger; resyncing");
                from = resync_until_done(&service).await;
                continue;
            }
        };
        while let Some(event) = events.next().await {
            let Some(s) = service.upgrade() else {
                return;
            };
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "memqosd's shared-ledger watch ended; resyncing");
                    break;
                }
            };
            match s.apply(&event) {
                ApplyOutcome::Applied => {}
                // The version is applied only once the policies it covers are.
                ApplyOutcome::PoliciesChanged => match s.reload_policies().await {
                    Ok(()) => lock(&s.seen).observe(POLICIES_VERSION_KEY, event.kv.mod_revision),
                    Err(e) => tracing::error!(
                        error = %crate::error::error_chain(&e),
                        "policies written by another memqosd not applied"
                    ),
                },
                // Marking bundles takes store round trips: not on the ledger's path.
                ApplyOutcome::HostLapsed(key) => {
                    tokio::spawn(async move { s.host_key_lapsed(&key).await });
                }
            }
        }
        if service.strong_count() == 0 {
            return;
        }
        from = resync_until_done(&service).await;
    }
}

async fn resync_until_done(service: &Weak<FfmService>) -> Revision {
    loop {
        let Some(s) = service.upgrade() else {
            return 0;
        };
        match s.resync_shared_ledger().await {
            Ok(from) => return from + 1,
            Err(e) => {
                tracing::warn!(error = %crate::error::error_chain(&e), "memqosd cannot resync the shared ledger; retrying");
            }
        }
        drop(s);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

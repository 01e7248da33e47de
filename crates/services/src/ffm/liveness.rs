//! Whether the memqosd serving a host is alive, and what its bundles say when it is not.
//!
//! A bundle's memory is a memfd in the memqosd serving its host; if that process dies, the
//! memory dies with it, while the bundle object, its grant and its capacity stay until
//! the bundle's lease lapses (or a DELETE through any replica frees them). So each
//! memqosd holds a key per served host (`/ffm/hosts/{host}`) on a short store lease it
//! keeps alive. When a key lapses, every other memqosd (they follow `/ffm/` anyway, see
//! `super::cluster`) marks each bundle of that host `HostLost=True/MemqosdGone`: a
//! client reading it learns that its memory and hand-off are gone and when the capacity
//! returns. A memqosd coming back (a restart that restores the bundles, or one whose
//! store connection returned after its key lapsed) marks its bundles
//! `HostLost=False/MemqosdBack`.

use std::collections::BTreeSet;
use std::sync::Weak;
use std::time::Duration;

use corridor_model::ffm::FfmBundle;
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_store::Op;

use super::{FfmService, lock};
use crate::ServiceError;

/// The condition type on a bundle whose host's memqosd is gone.
pub const HOST_LOST: &str = "HostLost";
/// `HostLost=True`: the memqosd serving the bundle's host stopped renewing its key.
pub const MEMQOSD_GONE: &str = "MemqosdGone";
/// `HostLost=False`: it is back (restarted and restored, or reconnected).
pub const MEMQOSD_BACK: &str = "MemqosdBack";

pub(super) const LIVENESS_PREFIX: &str = "/ffm/hosts/";
/// How long a host's key outlives its memqosd: long enough for a store's leader change,
/// short enough that a client learns of a dead host within seconds.
const LIVENESS_TTL: Duration = Duration::from_secs(5);
/// Renewals per TTL.
const RENEWALS: u32 = 3;

fn liveness_key(host: &str) -> String {
    format!("{LIVENESS_PREFIX}{host}")
}

/// Keeps this memqosd's host keys, announced on `lease` by [`FfmService::announce`]
/// before it served anything, alive until the service is dropped. A lapsed lease (the
/// store unreachable past the TTL) is replaced by a new one, and then this memqosd's
/// bundles are marked back.
pub(super) async fn keep(
    service: Weak<FfmService>,
    lease: corridor_store::LeaseId,
    mut announced: BTreeSet<String>,
) {
    if !renew(&service, lease, &mut announced).await {
        return;
    }
    loop {
        let Some(s) = service.upgrade() else {
            return;
        };
        let held = s.announce().await;
        drop(s);
        match held {
            Ok(lease) => {
                if let Some(s) = service.upgrade() {
                    s.mark_own_back().await;
                }
                if !renew(&service, lease, &mut announced).await {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "memqosd cannot announce its hosts; retrying");
                tokio::time::sleep(LIVENESS_TTL / RENEWALS).await;
            }
        }
    }
}

/// Renews `lease` until it fails (true: held again on a new lease) or the service is
/// dropped (false). Each renewal also looks for hosts announced before and gone now: the
/// watch reports a lapse as it happens, this catches one whose event was lost.
async fn renew(
    service: &Weak<FfmService>,
    lease: corridor_store::LeaseId,
    announced: &mut BTreeSet<String>,
) -> bool {
    loop {
        tokio::time::sleep(LIVENESS_TTL / RENEWALS).await;
        let Some(s) = service.upgrade() else {
            return false;
        };
        if let Err(e) = s.store.lease_keep_alive(lease).await {
            tracing::warn!(error = %e, "memqosd's host keys may lapse; announcing them again");
            return true;
        }
        *announced = s.mark_hosts_gone_since(std::mem::take(announced)).await;
    }
}

impl FfmService {
    /// Puts every served host's key on a fresh lease. Done before the memqosd serves (a
    /// memqosd that dies having made bundles has always announced their host, so its
    /// key's lapse tells the others) and again after a lapse.
    pub(super) async fn announce(
        &self,
    ) -> Result<corridor_store::LeaseId, corridor_store::StoreError> {
        let store = &self.store;
        let lease = store.lease_grant(LIVENESS_TTL).await?;
        let value = format!(
            "memqosd pid {} since {}",
            std::process::id(),
            self.clock.now()
        );
        let ops = self
            .hosts
            .served()
            .iter()
            .map(|h| Op::put_with_lease(liveness_key(h), value.clone().into_bytes(), lease))
            .collect();
        store
            .txn(corridor_store::Txn {
                compares: Vec::new(),
                success: ops,
                failure: Vec::new(),
            })
            .await?;
        Ok(lease)
    }

    /// A host key lapsed (seen on the shared-ledger watch): marks that host's bundles,
    /// unless this memqosd serves it (it is alive: it is the one marking).
    pub(super) async fn host_key_lapsed(&self, key: &str) {
        let Some(host) = key.strip_prefix(LIVENESS_PREFIX) else {
            return;
        };
        if self.hosts.serves(host) {
            return;
        }
        // A lapse replayed late (a watch resumed from an older revision): the host's
        // memqosd may be back already.
        if matches!(self.store.get(key).await, Ok(Some(_))) {
            return;
        }
        let bundles = match self.bundles.list_all().await {
            Ok((bundles, _)) => bundles,
            Err(e) => {
                tracing::warn!(host, error = %e, "cannot mark the bundles of a lost host");
                return;
            }
        };
        self.mark_lost(host, &bundles).await;
    }

    /// Marks the bundles of the hosts in `before` (announced at the last look) that no
    /// memqosd announces now; returns what is announced now, keeping a host whose bundles
    /// could not be marked so the next look tries again.
    async fn mark_hosts_gone_since(&self, before: BTreeSet<String>) -> BTreeSet<String> {
        let now = match self.announced_hosts().await {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %crate::error::error_chain(&e), "cannot read the memqosd host keys");
                return before;
            }
        };
        let gone: Vec<&String> = before
            .iter()
            .filter(|h| !now.contains(*h) && !self.hosts.serves(h))
            .collect();
        if gone.is_empty() {
            return now;
        }
        match self.bundles.list_all().await {
            Ok((bundles, _)) => {
                for host in gone {
                    self.mark_lost(host, &bundles).await;
                }
                now
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::error_chain(&e), "cannot mark the bundles of a lost host");
                now.union(&before).cloned().collect()
            }
        }
    }

    /// The hosts whose memqosd holds its key now.
    async fn announced_hosts(&self) -> Result<BTreeSet<String>, ServiceError> {
        Ok(self
            .store
            .range(corridor_store::RangeRequest::prefix(LIVENESS_PREFIX))
            .await
            .map_err(ServiceError::store("read the memqosd host keys"))?
            .kvs
            .into_iter()
            .filter_map(|kv| kv.key.strip_prefix(LIVENESS_PREFIX).map(str::to_owned))
            .collect())
    }

    /// At start: marks the bundles of every host no memqosd announces (one that died
    /// before this memqosd was watching), and returns the hosts announced, where the
    /// renewals start looking for lapses.
    pub(super) async fn mark_unannounced_hosts(&self) -> Result<BTreeSet<String>, ServiceError> {
        let announced = self.announced_hosts().await?;
        let (bundles, _) = self.bundles.list_all().await?;
        let lost: BTreeSet<&str> = bundles
            .iter()
            .map(|b| b.host.as_str())
            .filter(|h| !self.hosts.serves(h) && !announced.contains(*h))
            .collect();
        for host in lost {
            self.mark_lost(host, &bundles).await;
        }
        Ok(announced)
    }

    /// Marks `host`'s bundles among `bundles` `HostLost=True/MemqosdGone`.
    async fn mark_lost(&self, host: &str, bundles: &[FfmBundle]) {
        let now = self.clock.now();
        for bundle in bundles.iter().filter(|b| b.host == host) {
            let lost = bundle
                .meta
                .condition(HOST_LOST)
                .is_some_and(|c| c.status == ConditionStatus::True);
            if lost {
                continue;
            }
            let expires = bundle.meta.lease_expires_at.map_or_else(
                || "its lease lapses".to_owned(),
                |t| format!("its lease lapses at {t}"),
            );
            let condition = Condition::new(
                HOST_LOST,
                ConditionStatus::True,
                MEMQOSD_GONE,
                format!(
                    "the memqosd serving host {host} stopped renewing its presence: this bundle's memory and hand-off lived in that process and are gone if it died; its capacity stays held until a DELETE or until {expires}"
                ),
                now,
            );
            self.set_host_condition(&bundle.id, condition).await;
        }
    }

    /// This memqosd's bundles after its keys lapsed and were announced again: it never
    /// died, so their memory is here.
    async fn mark_own_back(&self) {
        let ids: Vec<String> = lock(&self.live).keys().cloned().collect();
        let now = self.clock.now();
        for id in ids {
            self.set_host_condition(&id, back(now)).await;
        }
    }

    /// Sets `condition` where it changes something: `True` unless already lost for the
    /// same reason, `False` only over a `True` (each memqosd that saw a key lapse tries;
    /// the first write wins and the rest find nothing to change).
    async fn set_host_condition(&self, id: &str, condition: Condition) {
        let needed = |bundle: &FfmBundle| match bundle.meta.condition(HOST_LOST) {
            None => condition.status == ConditionStatus::True,
            Some(c) => c.status != condition.status,
        };
        match self.bundles.get(id).await {
            Ok(bundle) if needed(&bundle) => {}
            _ => return,
        }
        let written = self
            .bundles
            .update(id, None, |bundle: &mut FfmBundle| {
                if needed(bundle) {
                    bundle.meta.set_condition(condition.clone());
                }
                Ok(())
            })
            .await;
        match written {
            Ok(_) | Err(ServiceError::NotFound { .. }) => {}
            Err(e) => tracing::warn!(bundle = id, error = %e, "cannot write HostLost"),
        }
    }
}

/// `HostLost=False/MemqosdBack`, for a bundle whose memqosd restored or kept it.
pub(super) fn back(now: chrono::DateTime<chrono::Utc>) -> Condition {
    Condition::new(
        HOST_LOST,
        ConditionStatus::False,
        MEMQOSD_BACK,
        "the memqosd serving this bundle's host is running and holds its memory",
        now,
    )
}

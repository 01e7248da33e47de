//! Several memqosds on one store, each serving its own host (cluster mode): each allocates
//! only its hosts' bundles, any of them frees any bundle, a second memqosd for a host fences
//! the first for that host alone, and a policy written through one memqosd never
//! over-commits a device another memqosd was granting on at the same moment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_hal::{ManualClock, Topology};
use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence};
use corridor_model::memory_tiers::MemoryTierDevice;
use corridor_model::policy::{PolicyRequest, PolicyWindow};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_pki::Principal;
use corridor_services::error::ToProblem;
use corridor_services::ffm::{FfmConfig, FfmError};
use corridor_services::{Caller, ControlPlane};
use corridor_store::{RedbOptions, RedbStore, StateStore, StoreError};

fn admin() -> Caller {
    Caller::new(Principal::Admin)
}

fn on_host(host: &str, domain: &str, class: LatencyClass, floor: f64) -> FfmAllocRequest {
    FfmAllocRequest {
        bytes: Bytes(1 << 20),
        latency_class: class,
        bandwidth_floor_gbs: GigabytesPerSecond(floor),
        persistence: Persistence::None,
        shareable: true,
        security_domain: domain.into(),
        host: Some(host.into()),
        policy_lease_ttl_s: None,
        labels: Default::default(),
    }
}

/// "min `gbs` GB/s 00:00–23:59 UTC" for `domain`: in force all day, so it raises every
/// bundle of the domain whatever the time.
fn all_day(domain: &str, gbs: f64) -> PolicyRequest {
    PolicyRequest {
        name: "all-day".into(),
        security_domain: domain.into(),
        target: Default::default(),
        min_gbs: GigabytesPerSecond(gbs),
        window: PolicyWindow {
            start: "00:00".into(),
            end: "23:59".into(),
            time_zone: "UTC".into(),
            days: vec![],
        },
        labels: Default::default(),
    }
}

/// A control plane on `store` whose memqosd serves `hosts`.
async fn replica(
    store: &Arc<dyn StateStore>,
    dir: &std::path::Path,
    hosts: &[&str],
) -> ControlPlane {
    let mut ffm = FfmConfig::in_dir(dir);
    ffm.serve_hosts = Some(hosts.iter().map(|h| (*h).to_owned()).collect());
    ControlPlane::start_with(
        Arc::clone(store),
        Arc::new(Topology::default_twin()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        ffm,
    )
    .await
    .unwrap()
}

fn store(dir: &std::path::Path) -> Arc<dyn StateStore> {
    Arc::new(RedbStore::open(dir.join("store.redb"), RedbOptions::default()).unwrap())
}

/// The one device of `class` only `host` reaches.
fn own_device(plane: &ControlPlane, host: &str, class: LatencyClass) -> MemoryTierDevice {
    let mut own: Vec<_> = plane
        .ffm
        .tiers()
        .devices
        .into_iter()
        .filter(|d| d.tier == class && d.reachable_from == [host.to_owned()])
        .collect();
    assert_eq!(own.len(), 1, "{host} has one {class:?} device of its own");
    own.remove(0)
}

/// Bytes allocated on the devices of `class` only `host` reaches.
fn allocated(plane: &ControlPlane, host: &str, class: LatencyClass) -> u64 {
    plane
        .ffm
        .tiers()
        .devices
        .into_iter()
        .filter(|d| d.tier == class && d.reachable_from == [host.to_owned()])
        .map(|d| d.allocated_bytes.get())
        .sum()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_memqosd_allocates_its_hosts_and_any_frees_any() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let a = replica(&store, &dir.path().join("a"), &["h0"]).await;
    let b = replica(&store, &dir.path().join("b"), &["h1"]).await;
    let tenant = Caller::new(Principal::Domain("tenantA".into()));

    let on_h0 = a
        .ffm
        .create(&tenant, on_host("h0", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap()
        .bundle;
    assert!(a.ffm.holds_memory(&on_h0.id));
    // h0's bundles are refused by h1's memqosd, naming who serves h0.
    let refused = b
        .ffm
        .create(&tenant, on_host("h0", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, FfmError::HostServedElsewhere { .. }),
        "{refused}"
    );
    let problem = refused.to_problem();
    assert_eq!(problem.status, 409);
    assert!(
        problem.detail.contains("h0") && problem.detail.contains("memqosd pid"),
        "{}",
        problem.detail
    );
    let on_h1 = b
        .ffm
        .create(&tenant, on_host("h1", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap()
        .bundle;
    // Each ledger counts the other's grant once its watch brings it.
    until("a counts h1's grant", || {
        allocated(&a, "h1", LatencyClass::T1) == 1 << 20
    })
    .await;
    until("b counts h0's grant", || {
        allocated(&b, "h0", LatencyClass::T1) == 1 << 20
    })
    .await;
    // Deleted through the other memqosd: the owner frees the memory, both ledgers the capacity.
    b.ffm.delete(&admin(), &on_h0.id, None).await.unwrap();
    until("a frees h0's memory", || !a.ffm.holds_memory(&on_h0.id)).await;
    until("b forgets h0's grant", || {
        allocated(&b, "h0", LatencyClass::T1) == 0
    })
    .await;
    assert!(b.ffm.holds_memory(&on_h1.id));

    // A second memqosd for h1 fences the first for h1 alone.
    let b2 = replica(&store, &dir.path().join("b2"), &["h1"]).await;
    let fenced = b
        .ffm
        .create(&tenant, on_host("h1", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap_err();
    assert!(matches!(fenced, FfmError::Fenced), "{fenced}");
    b2.ffm
        .create(&tenant, on_host("h1", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap();
    a.ffm
        .create(&tenant, on_host("h0", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap();
}

/// The race a shared ledger must win: a policy raising a domain's floors, written through
/// h0's memqosd, while h2's memqosd grants that domain's bundles on h2's one HBM device.
/// Each round the policy fits the two bundles there before the race and not a third; so
/// if the policy is admitted, none of the extra bundles granted around it may be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_policy_never_over_commits_with_grants_another_memqosd_made() {
    const ROUNDS: usize = 48;
    /// Extra bundles each round, staggered over 0–6 ms so some are decided inside the
    /// policy's window between its decision and its commit, and some just after its
    /// commit, before h2's memqosd has applied it.
    const EXTRAS: u64 = 16;
    const STAGGER: Duration = Duration::from_micros(400);
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let a = replica(&store, &dir.path().join("a"), &["h0"]).await;
    let b = replica(&store, &dir.path().join("b"), &["h2"]).await;
    let hbm = own_device(&b, "h2", LatencyClass::T0);
    let capacity = hbm.admission_gbs.get();
    for round in 0..ROUNDS {
        let domain = format!("race{round}");
        let tenant = Caller::new(Principal::Domain(domain.clone()));
        // Two bundles at a tiny floor; the policy would raise each to a third of the device
        // (and then some): two fit, three do not.
        let floor = capacity / 3.0 + 0.01;
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(
                b.ffm
                    .create(&tenant, on_host("h2", &domain, LatencyClass::T0, 0.01))
                    .await
                    .unwrap()
                    .bundle,
            );
        }
        until("a counts the two bundles", || {
            allocated(&a, "h2", LatencyClass::T0) == 2 << 20
        })
        .await;
        // Even rounds: the extra bundles start first and the policy 0–2 ms later (one
        // commits inside the policy's window between decision and commit). Odd rounds:
        // the policy starts first and the extra bundles 0–2 ms later (some are decided
        // after its commit, before h2's memqosd has applied it).
        let offset = STAGGER * (round / 2 % 6) as u32;
        let (extras_at, policy_at) = if round % 2 == 0 {
            (Duration::ZERO, offset)
        } else {
            (offset, Duration::ZERO)
        };
        let extras = futures::future::join_all((0..EXTRAS).map(|k| {
            let (b, tenant, domain) = (&b, &tenant, &domain);
            async move {
                spin(extras_at + STAGGER * k as u32).await;
                b.ffm
                    .create(tenant, on_host("h2", domain, LatencyClass::T0, 0.01))
                    .await
            }
        }));
        let policy = async {
            spin(policy_at).await;
            a.ffm.create_policy(&tenant, all_day(&domain, floor)).await
        };
        let (extras, policy) = tokio::join!(extras, policy);
        let admitted: Vec<_> = extras.into_iter().filter_map(Result::ok).collect();
        assert!(
            policy.is_err() || admitted.is_empty(),
            "round {round}: a policy and {} bundles it could not carry were both admitted on {}",
            admitted.len(),
            hbm.id
        );
        // Clean up, so every round starts from an empty device.
        if let Ok(p) = policy {
            a.ffm.delete_policy(&admin(), &p.id).await.unwrap();
        }
        held.extend(admitted.into_iter().map(|a| a.bundle));
        for bundle in held {
            b.ffm.delete(&admin(), &bundle.id, None).await.unwrap();
        }
        until("a forgets the round's bundles", || {
            allocated(&a, "h2", LatencyClass::T0) == 0
        })
        .await;
    }
}

/// Waits `d` to the microsecond (tokio's timer rounds up to whole milliseconds).
async fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        tokio::task::yield_now().await;
    }
}

/// A bundle allocated on host h1 by a memqosd (serving h1 alone, on `store`) that is then
/// gone: its service dropped, as its process would be.
async fn bundle_of_a_gone_h1_memqosd(
    store: &Arc<dyn StateStore>,
    dir: &std::path::Path,
) -> corridor_model::ffm::FfmBundle {
    let b = replica(store, &dir.join("b"), &["h1"]).await;
    let tenant = Caller::new(Principal::Domain("tenantA".into()));
    let bundle = b
        .ffm
        .create(&tenant, on_host("h1", "tenantA", LatencyClass::T1, 1.0))
        .await
        .unwrap()
        .bundle;
    drop(b);
    bundle
}

fn assert_memqosd_gone(lost: &corridor_model::meta::Condition) {
    use corridor_model::meta::ConditionStatus;
    use corridor_services::ffm::liveness::MEMQOSD_GONE;
    assert_eq!(
        (lost.status, lost.reason.as_str()),
        (ConditionStatus::True, MEMQOSD_GONE)
    );
}

/// A memqosd that stops (its process gone, here its service dropped) leaves its host's
/// bundles in the store with their capacity; the others mark them `HostLost=True` once its
/// host key lapses, and the memqosd that serves the host next restores them and marks them
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gone_memqosds_bundles_say_host_lost_until_one_serves_the_host_again() {
    use corridor_model::meta::ConditionStatus;
    use corridor_services::ffm::liveness::{HOST_LOST, MEMQOSD_BACK};
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let a = replica(&store, &dir.path().join("a"), &["h0"]).await;
    let on_h1 = bundle_of_a_gone_h1_memqosd(&store, dir.path()).await;
    let lost = host_lost_condition(&a, &store, &on_h1.id).await;
    assert_memqosd_gone(&lost);
    assert!(
        lost.message.contains("h1") && lost.message.contains("lease lapses at"),
        "{}",
        lost.message
    );
    // Its capacity is still held: the store still has the grant.
    assert_eq!(allocated(&a, "h1", LatencyClass::T1), 1 << 20);
    let b2 = replica(&store, &dir.path().join("b2"), &["h1"]).await;
    assert!(b2.ffm.holds_memory(&on_h1.id));
    let back = b2.ffm.get(&admin(), &on_h1.id).await.unwrap().bundle;
    let condition = back.meta.condition(HOST_LOST).unwrap();
    assert_eq!(
        (condition.status, condition.reason.as_str()),
        (ConditionStatus::False, MEMQOSD_BACK)
    );
}

/// A store whose watches drop every memqosd host-key event without a word, as a watch
/// that lost events would.
#[derive(Debug)]
struct LosesHostKeyEvents {
    inner: Arc<dyn StateStore>,
}

#[async_trait::async_trait]
impl StateStore for LosesHostKeyEvents {
    async fn range(
        &self,
        request: corridor_store::RangeRequest,
    ) -> Result<corridor_store::RangeResponse, StoreError> {
        self.inner.range(request).await
    }
    async fn txn(
        &self,
        txn: corridor_store::Txn,
    ) -> Result<corridor_store::TxnResponse, StoreError> {
        self.inner.txn(txn).await
    }
    async fn current_revision(&self) -> Result<corridor_store::Revision, StoreError> {
        self.inner.current_revision().await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<corridor_store::LeaseId, StoreError> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, id: corridor_store::LeaseId) -> Result<Duration, StoreError> {
        self.inner.lease_keep_alive(id).await
    }
    async fn lease_revoke(&self, id: corridor_store::LeaseId) -> Result<(), StoreError> {
        self.inner.lease_revoke(id).await
    }
    async fn lease_time_to_live(
        &self,
        id: corridor_store::LeaseId,
    ) -> Result<Option<corridor_store::LeaseInfo>, StoreError> {
        self.inner.lease_time_to_live(id).await
    }
    async fn watch(
        &self,
        prefix: &str,
        from_revision: corridor_store::Revision,
    ) -> Result<corridor_store::WatchStream, StoreError> {
        use futures::StreamExt;
        let events = self.inner.watch(prefix, from_revision).await?;
        Ok(Box::pin(events.filter(|event| {
            let lost = matches!(event, Ok(e) if e.kv.key.starts_with("/ffm/hosts/"));
            std::future::ready(!lost)
        })))
    }
    async fn compact(&self, revision: corridor_store::Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }
}

/// Waits up to 30 s (a 5 s host-key TTL, with room for a loaded machine) for `plane` to
/// read `HostLost` on bundle `id` of host h1.
async fn host_lost_condition(
    plane: &ControlPlane,
    store: &Arc<dyn StateStore>,
    id: &str,
) -> corridor_model::meta::Condition {
    use corridor_services::ffm::liveness::HOST_LOST;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bundle = plane.ffm.get(&admin(), id).await.unwrap().bundle;
        if let Some(c) = bundle.meta.condition(HOST_LOST) {
            return c.clone();
        }
        let key = store.get("/ffm/hosts/h1").await.unwrap();
        assert!(
            Instant::now() < deadline,
            "no HostLost within 30 s; h1's host key: {key:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A host lapse whose watch event is lost is still noticed: each memqosd's renewals look
/// for hosts announced before and gone now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_lapse_whose_event_is_lost_is_caught_by_the_renewals() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let lossy: Arc<dyn StateStore> = Arc::new(LosesHostKeyEvents {
        inner: Arc::clone(&store),
    });
    let a = replica(&lossy, &dir.path().join("a"), &["h0"]).await;
    let on_h1 = bundle_of_a_gone_h1_memqosd(&store, dir.path()).await;
    let lost = host_lost_condition(&a, &store, &on_h1.id).await;
    assert_memqosd_gone(&lost);
}

/// A memqosd that starts after a host's key lapsed (no one was watching then) marks that
/// host's bundles as it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_memqosd_started_after_a_host_lapsed_marks_its_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let on_h1 = bundle_of_a_gone_h1_memqosd(&store, dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.get("/ffm/hosts/h1").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "h1's key never lapsed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = replica(&store, &dir.path().join("a"), &["h0"]).await;
    let bundle = a.ffm.get(&admin(), &on_h1.id).await.unwrap().bundle;
    let lost = bundle
        .meta
        .condition(corridor_services::ffm::liveness::HOST_LOST)
        .expect("marked as the memqosd started");
    assert_memqosd_gone(lost);
}

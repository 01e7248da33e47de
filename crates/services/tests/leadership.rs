//! Leader election and fencing, on the embedded store (several campaigners
//! in one process) and on a real etcd.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_services::leadership::{LEADER_KEY, Leader, Leadership};
use corridor_store::etcd::testing::ThrowawayEtcd;
use corridor_store::fencing::FencingToken;
use corridor_store::{
    Compare, FencingStore, Op, RedbOptions, RedbStore, StateStore, StoreError, Txn, fenced,
};

const TTL: Duration = Duration::from_secs(2);

fn redb() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap();
    (dir, Arc::new(store))
}

async fn etcd() -> (ThrowawayEtcd, Arc<dyn StateStore>) {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    let store = etcd.store().await.unwrap();
    (etcd, Arc::new(store))
}

/// Waits until exactly one campaigner leads and returns its index and token.
async fn sole_leader(candidates: &[Option<Leadership>], within: Duration) -> (usize, FencingToken) {
    let deadline = Instant::now() + within;
    loop {
        let leading: Vec<(usize, Leader)> = candidates
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref()?.current().map(|l| (i, l)))
            .collect();
        assert!(
            leading.len() <= 1,
            "two campaigners lead at once: {leading:?}"
        );
        if let Some((i, leader)) = leading.into_iter().next() {
            return (
                i,
                leader.token.expect("a campaigner's leadership is fenced"),
            );
        }
        assert!(Instant::now() < deadline, "nobody leads after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn elect_and_fail_over(store: Arc<dyn StateStore>) {
    let mut candidates: Vec<Option<Leadership>> = (0..3)
        .map(|i| {
            Some(Leadership::campaign(
                Arc::clone(&store),
                format!("replica {i}"),
                TTL,
            ))
        })
        .collect();
    let (first, first_token) = sole_leader(&candidates, 3 * TTL).await;
    let holder = store.get(LEADER_KEY).await.unwrap().unwrap();
    assert_eq!(holder.value, format!("replica {first}").into_bytes());
    assert_eq!(holder.create_revision, first_token.create_revision);

    // A resignation hands over at once (well within one TTL).
    let resigned = Instant::now();
    candidates[first].take().unwrap().resign().await;
    let (second, second_token) = sole_leader(&candidates, TTL).await;
    assert_ne!(second, first);
    assert!(second_token.create_revision > first_token.create_revision);
    assert!(
        resigned.elapsed() < TTL,
        "resignation took {:?}",
        resigned.elapsed()
    );

    // A leader that dies without resigning (its keep-alives stop) is
    // replaced once its lease lapses.
    drop(candidates[second].take());
    let (third, third_token) = sole_leader(&candidates, 3 * TTL).await;
    assert_ne!(third, second);
    assert!(third_token.create_revision > second_token.create_revision);
}

#[tokio::test]
async fn one_of_three_campaigners_leads_and_another_takes_over_on_redb() {
    let (_dir, store) = redb();
    elect_and_fail_over(store).await;
}

#[tokio::test]
async fn one_of_three_campaigners_leads_and_another_takes_over_on_etcd() {
    let (_etcd, store) = etcd().await;
    elect_and_fail_over(store).await;
}

/// A deposed leader's writes are refused inside the transaction, whatever
/// it believes; the current leader's go through; writes outside the fence
/// are untouched.
async fn a_deposed_leader_cannot_write(store: Arc<dyn StateStore>) {
    let fencing: Arc<dyn StateStore> = Arc::new(FencingStore::new(Arc::clone(&store)));
    let old = [Some(Leadership::campaign(
        Arc::clone(&store),
        "old".into(),
        TTL,
    ))];
    let (_, old_token) = sole_leader(&old, 3 * TTL).await;
    // The old leader is paused past its lease (its campaign stops
    // answering) and its key lapses (here: is deleted, as the lease's
    // expiry would); a new leader takes over.
    drop(old);
    store.delete(LEADER_KEY).await.unwrap();
    let new = [Some(Leadership::campaign(
        Arc::clone(&store),
        "new".into(),
        TTL,
    ))];
    let (_, new_token) = sole_leader(&new, 3 * TTL).await;
    assert_ne!(old_token, new_token);

    let stale = fenced(
        old_token.clone(),
        fencing.put("/work/item", b"old".to_vec(), None),
    )
    .await;
    match stale {
        Err(StoreError::Fenced { key, held, now }) => {
            assert_eq!(key, LEADER_KEY);
            assert_eq!(held, old_token.create_revision);
            assert_eq!(now, new_token.create_revision);
        }
        other => panic!("the deposed leader's write was not fenced: {other:?}"),
    }
    assert!(
        store.get("/work/item").await.unwrap().is_none(),
        "nothing was written"
    );

    // The current leader writes; a compare of its own that fails is its
    // own failure, not a lost leadership.
    fenced(
        new_token.clone(),
        fencing.put("/work/item", b"new".to_vec(), None),
    )
    .await
    .unwrap();
    let own = fenced(
        new_token.clone(),
        fencing.txn(
            Txn::new()
                .when([Compare::absent("/work/item")])
                .and_then([Op::put("/work/item", "again")])
                .or_else([Op::get("/work/item")]),
        ),
    )
    .await
    .unwrap();
    assert!(!own.succeeded);
    assert_eq!(
        own.results.len(),
        1,
        "the fence's own read is not handed back"
    );

    // A failure branch that writes would run for a deposed leader: refused.
    let refused = fenced(
        new_token,
        fencing.txn(
            Txn::new()
                .when([Compare::absent("/work/item")])
                .or_else([Op::put("/work/other", "x")]),
        ),
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidRequest(_))),
        "{refused:?}"
    );

    // Outside a fence the store is the one it wraps.
    fencing
        .put("/work/free", b"x".to_vec(), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_deposed_leaders_fenced_writes_are_refused_on_redb() {
    let (_dir, store) = redb();
    a_deposed_leader_cannot_write(store).await;
}

#[tokio::test]
async fn a_deposed_leaders_fenced_writes_are_refused_on_etcd() {
    let (_etcd, store) = etcd().await;
    a_deposed_leader_cannot_write(store).await;
}

/// Work a fenced task spawns through `fencing::spawn` stays fenced.
#[tokio::test]
async fn spawned_singleton_work_keeps_the_fence() {
    let (_dir, store) = redb();
    let fencing: Arc<dyn StateStore> = Arc::new(FencingStore::new(Arc::clone(&store)));
    let gone = FencingToken {
        key: LEADER_KEY.to_owned(),
        create_revision: 42,
    };
    let spawn_inside = async {
        let fencing = Arc::clone(&fencing);
        let spawned = corridor_store::fencing::spawn(async move {
            fencing.put("/work/spawned", b"x".to_vec(), None).await
        });
        // The handle, not the write: the task runs on its own.
        Some(spawned)
    };
    let task = fenced(gone, spawn_inside).await.unwrap();
    let written = task.await.unwrap();
    assert!(
        matches!(written, Err(StoreError::Fenced { now: 0, .. })),
        "{written:?}"
    );
    assert!(store.get("/work/spawned").await.unwrap().is_none());
}

/// A store that stops answering (every call hangs) once `cut` is set, as
/// one behind a partition whose connections are blackholed does.
#[derive(Debug)]
struct Severable {
    inner: Arc<dyn StateStore>,
    cut: std::sync::atomic::AtomicBool,
}

impl Severable {
    async fn reachable(&self) {
        if self.cut.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait::async_trait]
impl StateStore for Severable {
    async fn range(
        &self,
        request: corridor_store::RangeRequest,
    ) -> Result<corridor_store::RangeResponse, StoreError> {
        self.reachable().await;
        self.inner.range(request).await
    }
    async fn txn(&self, txn: Txn) -> Result<corridor_store::TxnResponse, StoreError> {
        self.reachable().await;
        self.inner.txn(txn).await
    }
    async fn current_revision(&self) -> Result<corridor_store::Revision, StoreError> {
        self.reachable().await;
        self.inner.current_revision().await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<corridor_store::LeaseId, StoreError> {
        self.reachable().await;
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, id: corridor_store::LeaseId) -> Result<Duration, StoreError> {
        self.reachable().await;
        self.inner.lease_keep_alive(id).await
    }
    async fn lease_revoke(&self, id: corridor_store::LeaseId) -> Result<(), StoreError> {
        self.reachable().await;
        self.inner.lease_revoke(id).await
    }
    async fn lease_time_to_live(
        &self,
        id: corridor_store::LeaseId,
    ) -> Result<Option<corridor_store::LeaseInfo>, StoreError> {
        self.reachable().await;
        self.inner.lease_time_to_live(id).await
    }
    async fn watch(
        &self,
        prefix: &str,
        from_revision: corridor_store::Revision,
    ) -> Result<corridor_store::WatchStream, StoreError> {
        self.reachable().await;
        self.inner.watch(prefix, from_revision).await
    }
    async fn compact(&self, revision: corridor_store::Revision) -> Result<(), StoreError> {
        self.reachable().await;
        self.inner.compact(revision).await
    }
}

/// A leader whose store stops answering (its renewals hang rather than
/// fail) stops leading once its lease could have lapsed: one TTL after its
/// last renewal, not when the hung call gives up.
#[tokio::test]
async fn a_leader_cut_off_from_its_store_stops_leading_within_a_ttl() {
    let (_dir, inner) = redb();
    let store = Arc::new(Severable {
        inner,
        cut: std::sync::atomic::AtomicBool::new(false),
    });
    let leadership = Leadership::campaign(
        Arc::clone(&store) as Arc<dyn StateStore>,
        "cut-off".into(),
        TTL,
    );
    let candidates = [Some(leadership)];
    sole_leader(&candidates, 3 * TTL).await;
    let cut = Instant::now();
    store.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut state = candidates[0].as_ref().unwrap().subscribe();
    tokio::time::timeout(TTL + TTL / 4, state.wait_for(Option::is_none))
        .await
        .expect("still leading a TTL after the store stopped answering")
        .unwrap();
    assert!(cut.elapsed() <= TTL + TTL / 4, "{:?}", cut.elapsed());
}

//! The behaviour every [`StateStore`] must show, written against the trait only.
//!
//! Each check takes a *fresh* store that nothing else writes to while it runs
//! (several checks assert exact revision arithmetic) and panics on a violation.
//! Run them one by one (the redb tests give each its own `#[tokio::test]`) or all
//! in sequence with [`run_all`]:
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use corridor_store::{conformance, RedbOptions, RedbStore, StateStore};
//! let dir = tempfile::tempdir().unwrap();
//! let mut n = 0;
//! conformance::run_all(|| {
//!     n += 1;
//!     let store = RedbStore::open(dir.path().join(format!("{n}.redb")), RedbOptions::default());
//!     async move { Arc::new(store.unwrap()) as Arc<dyn StateStore> }
//! })
//! .await;
//! # }
//! ```
//!
//! The checks need a tokio runtime with timers (they bound every wait) and
//! allow for backends that round lease TTLs up, as etcd does.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;

use crate::{
    Compare, CompareOp, EventKind, KeyValue, KvEvent, LeaseId, NEW_LEASE, Op, OpResult,
    RangeRequest, Revision, StateStore, StoreError, Txn, WatchStream,
};

/// One conformance check.
pub type Check = fn(Arc<dyn StateStore>) -> BoxFuture<'static, ()>;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Every check, by name, in the order [`run_all`] runs them.
        pub fn all() -> Vec<(&'static str, Check)> {
            vec![$((stringify!($name), (|store| Box::pin($name(store))) as Check)),*]
        }
    };
}

checks!(
    put_get_range,
    put_overwrite_and_delete,
    txn_cas_on_mod_revision,
    create_if_absent,
    txn_compare_targets,
    txn_ops_share_one_revision,
    txn_refuses_conflicting_writes,
    revision_monotonic_no_gaps,
    range_prefix_pagination,
    range_keys_only,
    delete_prefix,
    put_with_unknown_lease_applies_nothing,
    lease_expiry_deletes_keys,
    lease_keepalive_extends,
    lease_revoke,
    txn_with_new_lease_grants_only_on_success,
    txn_then_revoke_ends_the_lease,
    watch_from_revision_replays_then_live,
    watch_from_zero_sees_only_future,
    watch_from_one_replays_everything,
    watch_compacted_errors,
    watch_during_concurrent_writes_is_gapless,
    concurrent_cas_increments_are_serialisable,
);

/// Runs every check, each on a store from `factory`, and names each on stderr.
pub async fn run_all<F, Fut>(mut factory: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn StateStore>>,
{
    for (name, check) in all() {
        eprintln!("conformance: {name}");
        check(factory().await).await;
    }
}

/// Longest wait for anything that should be immediate; generous for loaded CI.
const PATIENCE: Duration = Duration::from_secs(10);

async fn next_event(stream: &mut WatchStream) -> KvEvent {
    match tokio::time::timeout(PATIENCE, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(error))) => panic!("watch failed: {error}"),
        Ok(None) => panic!("watch ended early"),
        Err(_) => panic!("no watch event within {PATIENCE:?}"),
    }
}

async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("expected no further watch event, got {item:?}");
    }
}

fn text(kv: &KeyValue) -> &str {
    std::str::from_utf8(&kv.value).expect("test values are UTF-8")
}

async fn must_get(store: &dyn StateStore, key: &str) -> KeyValue {
    store
        .get(key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{key} should exist"))
}

async fn granted_ttl(store: &dyn StateStore, lease: LeaseId) -> Duration {
    store
        .lease_time_to_live(lease)
        .await
        .unwrap()
        .expect("a fresh lease exists")
        .granted_ttl
}

/// Polls until `key` is gone, panicking after `limit`.
async fn wait_until_deleted(store: &dyn StateStore, key: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while store.get(key).await.unwrap().is_some() {
        assert!(
            start.elapsed() < limit,
            "{key} still exists after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

pub async fn put_get_range(store: Arc<dyn StateStore>) {
    let before = store.current_revision().await.unwrap();
    let r1 = store.put("/a/1", b"one".to_vec(), None).await.unwrap();
    let r2 = store.put("/a/2", b"two".to_vec(), None).await.unwrap();
    store.put("/b/1", b"other".to_vec(), None).await.unwrap();
    assert_eq!(r1, before + 1);
    assert_eq!(r2, r1 + 1);

    let kv = must_get(&*store, "/a/1").await;
    assert_eq!(
        kv,
        KeyValue {
            key: "/a/1".into(),
            value: b"one".to_vec(),
            create_revision: r1,
            mod_revision: r1,
            version: 1,
            lease: None,
        }
    );
    assert_eq!(store.get("/a/3").await.unwrap(), None);
    assert_eq!(
        store.get("/a/").await.unwrap(),
        None,
        "get is exact, not a prefix read"
    );

    let range = store.range(RangeRequest::prefix("/a/")).await.unwrap();
    let keys: Vec<_> = range.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a/1", "/a/2"]);
    assert!(!range.more);
    assert_eq!(range.revision, store.current_revision().await.unwrap());

    let everything = store.range(RangeRequest::prefix("")).await.unwrap();
    assert_eq!(everything.kvs.len(), 3);
}

pub async fn put_overwrite_and_delete(store: Arc<dyn StateStore>) {
    let created = store.put("/k", b"v1".to_vec(), None).await.unwrap();
    let updated = store.put("/k", b"v2".to_vec(), None).await.unwrap();
    let kv = must_get(&*store, "/k").await;
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (created, updated, 2)
    );
    assert_eq!(text(&kv), "v2");

    let deleted = store
        .delete("/k")
        .await
        .unwrap()
        .expect("delete returns the old value");
    assert_eq!(deleted, kv);
    let after_delete = store.current_revision().await.unwrap();
    assert_eq!(after_delete, updated + 1);
    assert_eq!(store.get("/k").await.unwrap(), None);

    assert_eq!(store.delete("/k").await.unwrap(), None);
    assert_eq!(
        store.current_revision().await.unwrap(),
        after_delete,
        "deleting a missing key changes nothing, so takes no revision"
    );

    let recreated = store.put("/k", b"v3".to_vec(), None).await.unwrap();
    let kv = must_get(&*store, "/k").await;
    assert_eq!(
        (kv.create_revision, kv.version),
        (recreated, 1),
        "a key recreated after deletion starts a new life"
    );
}

pub async fn txn_cas_on_mod_revision(store: Arc<dyn StateStore>) {
    let rev = store.put("/cas", b"0".to_vec(), None).await.unwrap();

    let won = store
        .txn(
            Txn::new()
                .when([Compare::mod_revision("/cas", CompareOp::Equal, rev)])
                .and_then([Op::put("/cas", "1")])
                .or_else([Op::get("/cas")]),
        )
        .await
        .unwrap();
    assert!(won.succeeded);
    assert_eq!(won.revision, rev + 1);
    match &won.results[..] {
        [OpResult::Put { prev: Some(prev) }] => assert_eq!(text(prev), "0"),
        other => panic!("unexpected results {other:?}"),
    }

    let lost = store
        .txn(
            Txn::new()
                .when([Compare::mod_revision("/cas", CompareOp::Equal, rev)])
                .and_then([Op::put("/cas", "2")])
                .or_else([Op::get("/cas")]),
        )
        .await
        .unwrap();
    assert!(!lost.succeeded, "a stale mod_revision must not win");
    assert_eq!(
        lost.revision, won.revision,
        "a read-only outcome takes no revision"
    );
    match &lost.results[..] {
        [OpResult::Get { kv: Some(kv) }] => {
            assert_eq!(text(kv), "1");
            assert_eq!(kv.mod_revision, won.revision);
        }
        other => panic!("unexpected results {other:?}"),
    }
    assert_eq!(store.current_revision().await.unwrap(), won.revision);
}

pub async fn create_if_absent(store: Arc<dyn StateStore>) {
    let create = || {
        Txn::new()
            .when([Compare::absent("/once")])
            .and_then([Op::put("/once", "first")])
            .or_else([Op::get("/once")])
    };
    let first = store.txn(create()).await.unwrap();
    assert!(first.succeeded);
    let second = store.txn(create()).await.unwrap();
    assert!(!second.succeeded);
    match &second.results[..] {
        [OpResult::Get { kv: Some(kv) }] => {
            assert_eq!(text(kv), "first");
            assert_eq!(kv.create_revision, first.revision);
        }
        other => panic!("unexpected results {other:?}"),
    }
    let present = store
        .txn(Txn::new().when([Compare::present("/once")]))
        .await
        .unwrap();
    assert!(present.succeeded);
}

pub async fn txn_compare_targets(store: Arc<dyn StateStore>) {
    let created = store.put("/t", b"m".to_vec(), None).await.unwrap();
    store.put("/t", b"m".to_vec(), None).await.unwrap();

    let holds = |compare: Compare| {
        let store = Arc::clone(&store);
        async move {
            store
                .txn(Txn::new().when([compare]))
                .await
                .unwrap()
                .succeeded
        }
    };
    use CompareOp::*;
    assert!(holds(Compare::version("/t", Equal, 2)).await);
    assert!(holds(Compare::version("/t", Greater, 1)).await);
    assert!(!holds(Compare::version("/t", Less, 2)).await);
    assert!(holds(Compare::create_revision("/t", Equal, created)).await);
    assert!(holds(Compare::mod_revision("/t", Greater, created)).await);
    assert!(holds(Compare::mod_revision("/t", NotEqual, created)).await);
    assert!(holds(Compare::value("/t", Equal, "m")).await);
    assert!(holds(Compare::value("/t", Greater, "a")).await);
    assert!(holds(Compare::value("/t", Less, "z")).await);
    assert!(!holds(Compare::value("/t", NotEqual, "m")).await);

    // A missing key reads as revision/version 0 ...
    assert!(holds(Compare::version("/missing", Equal, 0)).await);
    assert!(holds(Compare::mod_revision("/missing", Less, 1)).await);
    // ... but any value comparison on it fails, as in etcd.
    assert!(!holds(Compare::value("/missing", Equal, "")).await);
    assert!(!holds(Compare::value("/missing", NotEqual, "x")).await);

    // All compares must hold.
    let mixed = store
        .txn(Txn::new().when([
            Compare::version("/t", Equal, 2),
            Compare::version("/t", Equal, 3),
        ]))
        .await
        .unwrap();
    assert!(!mixed.succeeded);
}

pub async fn txn_ops_share_one_revision(store: Arc<dyn StateStore>) {
    store.put("/m/old", b"x".to_vec(), None).await.unwrap();
    let before = store.current_revision().await.unwrap();
    let mut watch = store.watch("/m/", before + 1).await.unwrap();

    let response = store
        .txn(Txn::new().and_then([
            Op::put("/m/a", "1"),
            Op::put("/m/b", "2"),
            Op::delete("/m/old"),
            Op::get("/m/a"),
        ]))
        .await
        .unwrap();
    assert!(response.succeeded);
    assert_eq!(
        response.revision,
        before + 1,
        "one transaction, one revision"
    );
    match &response.results[..] {
        [
            OpResult::Put { prev: None },
            OpResult::Put { prev: None },
            OpResult::Delete { deleted },
            OpResult::Get { .. },
        ] => assert_eq!(deleted.len(), 1),
        other => panic!("unexpected results {other:?}"),
    }
    for key in ["/m/a", "/m/b"] {
        assert_eq!(must_get(&*store, key).await.mod_revision, before + 1);
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut watch).await;
        assert_eq!(event.revision(), before + 1);
        seen.push((event.kind, event.kv.key));
    }
    seen.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        seen,
        [
            (EventKind::Put, "/m/a".to_string()),
            (EventKind::Put, "/m/b".to_string()),
            (EventKind::Delete, "/m/old".to_string()),
        ]
    );
}

pub async fn txn_refuses_conflicting_writes(store: Arc<dyn StateStore>) {
    let before = store.current_revision().await.unwrap();
    for ops in [
        vec![Op::put("/dup", "1"), Op::put("/dup", "2")],
        vec![Op::put("/dup", "1"), Op::delete("/dup")],
    ] {
        let refused = store.txn(Txn::new().and_then(ops)).await;
        assert!(
            matches!(refused, Err(StoreError::InvalidRequest(_))),
            "expected InvalidRequest, got {refused:?}"
        );
    }
    assert_eq!(store.get("/dup").await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), before);
}

pub async fn revision_monotonic_no_gaps(store: Arc<dyn StateStore>) {
    let start = store.current_revision().await.unwrap();
    let mut expected = start;
    for i in 0..20 {
        let key = format!("/rev/{}", i % 5);
        let revision = if i % 3 == 0 {
            store
                .txn(Txn::new().and_then([Op::put(key, format!("{i}"))]))
                .await
                .unwrap()
                .revision
        } else {
            store
                .put(&key, format!("{i}").into_bytes(), None)
                .await
                .unwrap()
        };
        expected += 1;
        assert_eq!(revision, expected, "write {i}");

        // Reads, failed compares and no-op deletes must not advance the clock.
        let read_only = store
            .txn(
                Txn::new()
                    .when([Compare::version("/rev/0", CompareOp::Equal, -1)])
                    .and_then([Op::put("/never", "x")])
                    .or_else([Op::get("/rev/0")]),
            )
            .await
            .unwrap();
        assert!(!read_only.succeeded);
        assert_eq!(read_only.revision, expected);
        store.delete("/rev/none").await.unwrap();
        assert_eq!(store.current_revision().await.unwrap(), expected);
    }

    let mut watch = store.watch("", start + 1).await.unwrap();
    for revision in start + 1..=expected {
        assert_eq!(next_event(&mut watch).await.revision(), revision);
    }
    assert_quiet(&mut watch).await;
}

pub async fn range_prefix_pagination(store: Arc<dyn StateStore>) {
    let mut expected = Vec::new();
    for i in 0..25 {
        let key = format!("/p/{i:02}");
        store.put(&key, vec![i], None).await.unwrap();
        expected.push(key);
    }
    // Neighbours that share the prefix's characters but not the prefix.
    store.put("/p", b"x".to_vec(), None).await.unwrap();
    store.put("/p0", b"x".to_vec(), None).await.unwrap();
    store.put("/q/00", b"x".to_vec(), None).await.unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = RangeRequest::prefix("/p/").limit(10);
        if let Some(after) = &after {
            request = request.after(after.clone());
        }
        let page = store.range(request).await.unwrap();
        pages += 1;
        assert!(page.kvs.len() <= 10);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        after = page.kvs.last().map(|kv| kv.key.clone());
        if !page.more {
            break;
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let exact = store
        .range(RangeRequest::prefix("/p/").limit(25))
        .await
        .unwrap();
    assert_eq!(exact.kvs.len(), 25);
    assert!(!exact.more, "more is only set when keys were left out");

    // A cursor before the prefix starts at the prefix; one past it yields nothing.
    let early = store
        .range(RangeRequest::prefix("/p/").after("/a").limit(1))
        .await
        .unwrap();
    assert_eq!(early.kvs[0].key, "/p/00");
    let late = store
        .range(RangeRequest::prefix("/p/").after("/p/99"))
        .await
        .unwrap();
    assert!(late.kvs.is_empty() && !late.more);
}

/// A keys-only range answers the same keys, revisions, versions and leases
/// as a full one, pages the same way, and carries no value.
pub async fn range_keys_only(store: Arc<dyn StateStore>) {
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    for i in 0..5u8 {
        let key = format!("/k/{i}");
        store.put(&key, vec![i; 100], None).await.unwrap();
    }
    store
        .put("/k/1", b"again".to_vec(), Some(lease))
        .await
        .unwrap();
    store.put("/l/0", b"x".to_vec(), None).await.unwrap();

    let full = store.range(RangeRequest::prefix("/k/")).await.unwrap();
    let keys = store
        .range(RangeRequest::prefix("/k/").keys_only())
        .await
        .unwrap();
    let without_values: Vec<KeyValue> = full
        .kvs
        .iter()
        .map(|kv| KeyValue {
            value: Vec::new(),
            ..kv.clone()
        })
        .collect();
    assert_eq!(keys.kvs, without_values);
    assert_eq!(keys.kvs.len(), 5);
    assert_eq!(keys.kvs[1].lease, Some(lease));
    assert_eq!(keys.kvs[1].version, 2);
    assert_eq!(keys.revision, full.revision);

    let page = store
        .range(
            RangeRequest::prefix("/k/")
                .after("/k/1")
                .limit(2)
                .keys_only(),
        )
        .await
        .unwrap();
    let page_keys: Vec<&str> = page.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(page_keys, ["/k/2", "/k/3"]);
    assert!(page.more && page.kvs.iter().all(|kv| kv.value.is_empty()));
}

pub async fn delete_prefix(store: Arc<dyn StateStore>) {
    for key in ["/d/1", "/d/2", "/d/3/x", "/d", "/dd/1"] {
        store.put(key, b"v".to_vec(), None).await.unwrap();
    }
    let before = store.current_revision().await.unwrap();
    let response = store
        .txn(Txn::new().and_then([Op::delete_prefix("/d/")]))
        .await
        .unwrap();
    assert_eq!(response.revision, before + 1);
    match &response.results[..] {
        [OpResult::Delete { deleted }] => {
            let keys: Vec<_> = deleted.iter().map(|kv| kv.key.as_str()).collect();
            assert_eq!(keys, ["/d/1", "/d/2", "/d/3/x"]);
        }
        other => panic!("unexpected results {other:?}"),
    }
    let left: Vec<_> = store
        .range(RangeRequest::prefix(""))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(left, ["/d", "/dd/1"]);
}

pub async fn put_with_unknown_lease_applies_nothing(store: Arc<dyn StateStore>) {
    let before = store.current_revision().await.unwrap();
    let bogus: LeaseId = 0x0bad_1ea5e;
    let refused = store
        .txn(Txn::new().and_then([
            Op::put("/l/plain", "x"),
            Op::put_with_lease("/l/leased", "x", bogus),
        ]))
        .await;
    assert!(
        matches!(refused, Err(StoreError::LeaseNotFound(id)) if id == bogus),
        "expected LeaseNotFound({bogus}), got {refused:?}"
    );
    assert_eq!(
        store.get("/l/plain").await.unwrap(),
        None,
        "nothing applied"
    );
    assert_eq!(store.current_revision().await.unwrap(), before);

    let revoked = store.lease_grant(Duration::from_secs(30)).await.unwrap();
    store.lease_revoke(revoked).await.unwrap();
    let refused = store.put("/l/late", b"x".to_vec(), Some(revoked)).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseNotFound(_))),
        "got {refused:?}"
    );
    assert!(matches!(
        store.lease_keep_alive(bogus).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    assert!(matches!(
        store.lease_revoke(bogus).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    assert_eq!(store.lease_time_to_live(bogus).await.unwrap(), None);
}

pub async fn lease_expiry_deletes_keys(store: Arc<dyn StateStore>) {
    let lease = store.lease_grant(Duration::from_secs(1)).await.unwrap();
    let ttl = granted_ttl(&*store, lease).await;
    assert!(ttl >= Duration::from_secs(1));
    store.put("/e/1", b"a".to_vec(), Some(lease)).await.unwrap();
    let attached = store.put("/e/2", b"b".to_vec(), Some(lease)).await.unwrap();
    store.put("/e/keep", b"c".to_vec(), None).await.unwrap();
    assert_eq!(must_get(&*store, "/e/1").await.lease, Some(lease));
    let mut watch = store.watch("/e/", attached + 2).await.unwrap();

    let took = wait_until_deleted(&*store, "/e/1", ttl + PATIENCE).await;
    assert!(
        took + Duration::from_millis(200) >= ttl,
        "lease of {ttl:?} expired after only {took:?}"
    );
    assert_eq!(store.get("/e/2").await.unwrap(), None);
    assert!(store.get("/e/keep").await.unwrap().is_some());

    let first = next_event(&mut watch).await;
    let second = next_event(&mut watch).await;
    assert_eq!(
        (first.kind, second.kind),
        (EventKind::Delete, EventKind::Delete)
    );
    assert_eq!(
        first.revision(),
        second.revision(),
        "expiry deletes in one revision"
    );
    let mut keys = [first.kv.key, second.kv.key];
    keys.sort();
    assert_eq!(keys, ["/e/1", "/e/2"]);
    assert_eq!(first.prev_kv.map(|kv| kv.lease), Some(Some(lease)));

    assert_eq!(store.lease_time_to_live(lease).await.unwrap(), None);
    assert!(matches!(
        store.lease_keep_alive(lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
}

pub async fn lease_keepalive_extends(store: Arc<dyn StateStore>) {
    let lease = store.lease_grant(Duration::from_secs(1)).await.unwrap();
    let ttl = granted_ttl(&*store, lease).await;
    store
        .put("/ka", b"alive".to_vec(), Some(lease))
        .await
        .unwrap();

    // Outlive the TTL twice over, renewing at a quarter of it.
    let until = Instant::now() + ttl * 2;
    while Instant::now() < until {
        tokio::time::sleep(ttl / 4).await;
        let renewed = store.lease_keep_alive(lease).await.unwrap();
        assert_eq!(renewed, ttl);
        assert!(
            store.get("/ka").await.unwrap().is_some(),
            "key expired despite keep-alives"
        );
    }
    let info = store
        .lease_time_to_live(lease)
        .await
        .unwrap()
        .expect("lease alive");
    assert_eq!(info.id, lease);
    assert_eq!(info.keys, ["/ka"]);
    assert!(info.remaining <= ttl && info.remaining > Duration::ZERO);

    wait_until_deleted(&*store, "/ka", ttl + PATIENCE).await;
}

pub async fn lease_revoke(store: Arc<dyn StateStore>) {
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    for key in ["/r/1", "/r/2", "/r/3"] {
        store.put(key, b"v".to_vec(), Some(lease)).await.unwrap();
    }
    // Re-putting without the lease detaches the key from it.
    store.put("/r/3", b"mine".to_vec(), None).await.unwrap();
    let info = store.lease_time_to_live(lease).await.unwrap().unwrap();
    assert_eq!(info.keys, ["/r/1", "/r/2"]);
    assert!(info.granted_ttl >= Duration::from_secs(60));

    let before = store.current_revision().await.unwrap();
    let mut watch = store.watch("/r/", before + 1).await.unwrap();
    store.lease_revoke(lease).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), before + 1);
    for key in ["/r/1", "/r/2"] {
        let event = next_event(&mut watch).await;
        assert_eq!(
            (event.kind, event.kv.key.as_str()),
            (EventKind::Delete, key)
        );
        assert_eq!(event.revision(), before + 1);
    }
    assert_eq!(text(&must_get(&*store, "/r/3").await), "mine");
    assert_eq!(store.lease_time_to_live(lease).await.unwrap(), None);
    assert!(matches!(
        store.lease_revoke(lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));

    // Revoking a lease with no keys changes no key, so takes no revision.
    let empty = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    store.lease_revoke(empty).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), before + 1);
}

pub async fn txn_with_new_lease_grants_only_on_success(store: Arc<dyn StateStore>) {
    // Compares hold: the lease exists, holds exactly the keys that named
    // it, and takes them when it ends.
    let leased = store
        .txn_with_new_lease(
            Duration::from_secs(60),
            Txn::new()
                .when([Compare::version("/nl/a", CompareOp::Equal, 0)])
                .and_then([
                    Op::put_with_lease("/nl/a", "1", NEW_LEASE),
                    Op::put_with_lease("/nl/b", "2", NEW_LEASE),
                    Op::put("/nl/plain", "3"),
                ]),
        )
        .await
        .unwrap();
    assert!(leased.response.succeeded);
    let lease = leased
        .lease
        .expect("a successful transaction has its lease");
    assert!(lease > 0, "a real lease id, not the placeholder: {lease}");
    assert_eq!(must_get(&*store, "/nl/a").await.lease, Some(lease));
    assert_eq!(
        must_get(&*store, "/nl/a").await.mod_revision,
        leased.response.revision
    );
    let info = store.lease_time_to_live(lease).await.unwrap().unwrap();
    assert_eq!(info.keys, ["/nl/a", "/nl/b"]);
    assert!(info.granted_ttl >= Duration::from_secs(60));

    // Compares fail: the failure branch runs and no lease is granted.
    let before = store.current_revision().await.unwrap();
    let lost = store
        .txn_with_new_lease(
            Duration::from_secs(60),
            Txn::new()
                .when([Compare::version("/nl/a", CompareOp::Equal, 0)])
                .and_then([Op::put_with_lease("/nl/a", "again", NEW_LEASE)])
                .or_else([Op::get("/nl/a")]),
        )
        .await
        .unwrap();
    assert!(!lost.response.succeeded);
    assert_eq!(lost.lease, None);
    assert_eq!(store.current_revision().await.unwrap(), before);
    assert_eq!(text(&must_get(&*store, "/nl/a").await), "1");

    // The failure branch cannot name the lease; another lease that does
    // not exist refuses the whole transaction, and nothing is applied.
    let refused = store
        .txn_with_new_lease(
            Duration::from_secs(60),
            Txn::new().or_else([Op::put_with_lease("/nl/c", "x", NEW_LEASE)]),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidRequest(_))),
        "{refused:?}"
    );
    let bogus: LeaseId = 0x0bad_1ea5e;
    let refused = store
        .txn_with_new_lease(
            Duration::from_secs(60),
            Txn::new().and_then([
                Op::put_with_lease("/nl/d", "x", NEW_LEASE),
                Op::put_with_lease("/nl/e", "x", bogus),
            ]),
        )
        .await;
    // etcd's answer does not say which lease it missed.
    assert!(
        matches!(refused, Err(StoreError::LeaseNotFound(_))),
        "{refused:?}"
    );
    assert_eq!(store.get("/nl/d").await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), before);

    store.lease_revoke(lease).await.unwrap();
    assert_eq!(store.get("/nl/a").await.unwrap(), None);
    assert_eq!(store.get("/nl/b").await.unwrap(), None);
    assert!(store.get("/nl/plain").await.unwrap().is_some());
}

pub async fn txn_then_revoke_ends_the_lease(store: Arc<dyn StateStore>) {
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    let a = store
        .put("/tr/a", b"1".to_vec(), Some(lease))
        .await
        .unwrap();
    store
        .put("/tr/b", b"2".to_vec(), Some(lease))
        .await
        .unwrap();

    // A lost compare leaves the lease and its keys alone.
    let lost = store
        .txn_then_revoke(
            Txn::new()
                .when([Compare::mod_revision("/tr/a", CompareOp::Equal, a - 1)])
                .and_then([Op::delete("/tr/a")]),
            lease,
        )
        .await
        .unwrap();
    assert!(!lost.succeeded);
    assert!(store.lease_time_to_live(lease).await.unwrap().is_some());
    assert!(store.get("/tr/b").await.unwrap().is_some());

    // The release deletes one key itself; the lease's end takes the other.
    let released = store
        .txn_then_revoke(
            Txn::new()
                .when([Compare::mod_revision("/tr/a", CompareOp::Equal, a)])
                .and_then([Op::delete("/tr/a")]),
            lease,
        )
        .await
        .unwrap();
    assert!(released.succeeded);
    assert_eq!(store.get("/tr/a").await.unwrap(), None);
    assert_eq!(store.get("/tr/b").await.unwrap(), None);
    assert_eq!(store.lease_time_to_live(lease).await.unwrap(), None);

    // A lease already gone is not an error: the transaction still runs.
    let done = store
        .txn_then_revoke(Txn::new().and_then([Op::put("/tr/c", "3")]), lease)
        .await
        .unwrap();
    assert!(done.succeeded);
    assert!(store.get("/tr/c").await.unwrap().is_some());
}

pub async fn watch_from_revision_replays_then_live(store: Arc<dyn StateStore>) {
    let first = store.put("/w/a", b"1".to_vec(), None).await.unwrap();
    store.put("/x/ignored", b"1".to_vec(), None).await.unwrap();
    store.put("/w/a", b"2".to_vec(), None).await.unwrap();
    store.delete("/w/a").await.unwrap();

    let mut watch = store.watch("/w/", first).await.unwrap();
    let created = next_event(&mut watch).await;
    assert_eq!((created.kind, created.revision()), (EventKind::Put, first));
    assert_eq!(created.prev_kv, None);
    let updated = next_event(&mut watch).await;
    assert_eq!(updated.kind, EventKind::Put);
    assert_eq!(text(&updated.kv), "2");
    assert_eq!(updated.kv.version, 2);
    assert_eq!(updated.prev_kv.as_ref().map(text), Some("1"));
    let deleted = next_event(&mut watch).await;
    assert_eq!(deleted.kind, EventKind::Delete);
    assert_eq!(deleted.kv.key, "/w/a");
    assert!(deleted.kv.value.is_empty());
    assert_eq!(deleted.prev_kv.as_ref().map(text), Some("2"));

    // History is done; now it follows live writes.
    store.put("/x/ignored", b"2".to_vec(), None).await.unwrap();
    let live = store.put("/w/b", b"live".to_vec(), None).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!((event.kv.key.as_str(), event.revision()), ("/w/b", live));
    assert_quiet(&mut watch).await;
}

pub async fn watch_from_zero_sees_only_future(store: Arc<dyn StateStore>) {
    store.put("/z/old", b"x".to_vec(), None).await.unwrap();
    let mut watch = store.watch("/z/", 0).await.unwrap();
    assert_quiet(&mut watch).await;
    let revision = store.put("/z/new", b"y".to_vec(), None).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kv.key.as_str(), event.revision()),
        ("/z/new", revision)
    );

    // A future start revision waits for it.
    let current = store.current_revision().await.unwrap();
    let mut future = store.watch("/z/", current + 2).await.unwrap();
    store.put("/z/skipped", b"1".to_vec(), None).await.unwrap();
    let wanted = store.put("/z/wanted", b"2".to_vec(), None).await.unwrap();
    assert_eq!(wanted, current + 2);
    assert_eq!(next_event(&mut future).await.kv.key, "/z/wanted");
}

/// Revision 1 is the empty store's own revision, which no write made: a
/// watch from it replays every write, as etcd's does.
pub async fn watch_from_one_replays_everything(store: Arc<dyn StateStore>) {
    let first = store.put("/one/a", b"1".to_vec(), None).await.unwrap();
    store.put("/one/b", b"2".to_vec(), None).await.unwrap();
    let mut watch = store.watch("/one/", 1).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!((event.kv.key.as_str(), event.revision()), ("/one/a", first));
    assert_eq!(next_event(&mut watch).await.kv.key, "/one/b");
}

pub async fn watch_compacted_errors(store: Arc<dyn StateStore>) {
    let mut revisions = Vec::new();
    for i in 0..5 {
        revisions.push(store.put("/c/k", vec![i], None).await.unwrap());
    }
    let keep_from = revisions[3];
    store.compact(keep_from).await.unwrap();

    match store.watch("/c/", revisions[1]).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, revisions[1]);
            assert_eq!(compacted, keep_from);
        }
        Err(other) => panic!("expected Compacted, got {other:?}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    // The compaction revision itself is still watchable.
    let mut watch = store.watch("/c/", keep_from).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv.value, vec![3]);
    assert_eq!(next_event(&mut watch).await.kv.value, vec![4]);

    // Compaction touches history only.
    assert_eq!(must_get(&*store, "/c/k").await.value, vec![4]);
    store
        .compact(revisions[0])
        .await
        .expect("re-compacting older history is a no-op");
    let current = store.current_revision().await.unwrap();
    assert!(matches!(
        store.compact(current + 10).await,
        Err(StoreError::FutureRevision { .. })
    ));
}

pub async fn watch_during_concurrent_writes_is_gapless(store: Arc<dyn StateStore>) {
    const WRITES: usize = 150;
    let start = store.current_revision().await.unwrap();
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut last = 0;
            for i in 0..WRITES {
                last = store
                    .put(&format!("/g/{}", i % 7), vec![1], None)
                    .await
                    .unwrap();
            }
            last
        })
    };
    // Start watches while the writes are in flight, so replay and live overlap.
    let mut watches = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        watches.push(store.watch("/g/", start + 1).await.unwrap());
    }
    let last = writer.await.unwrap();
    assert_eq!(last, start + WRITES as Revision);
    for mut watch in watches {
        for revision in start + 1..=last {
            assert_eq!(next_event(&mut watch).await.revision(), revision);
        }
        assert_quiet(&mut watch).await;
    }
}

pub async fn concurrent_cas_increments_are_serialisable(store: Arc<dyn StateStore>) {
    const TASKS: usize = 64;
    const INCREMENTS_PER_TASK: usize = 3;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            while wins.len() < INCREMENTS_PER_TASK {
                let current = store.get("/counter").await.unwrap();
                let (guard, value) = match &current {
                    None => (Compare::absent("/counter"), 0),
                    Some(kv) => (
                        Compare::mod_revision("/counter", CompareOp::Equal, kv.mod_revision),
                        text(kv).parse::<u64>().unwrap(),
                    ),
                };
                let response = store
                    .txn(
                        Txn::new()
                            .when([guard])
                            .and_then([Op::put("/counter", (value + 1).to_string())]),
                    )
                    .await
                    .unwrap();
                if response.succeeded {
                    wins.push((value + 1, response.revision));
                }
            }
            wins
        }));
    }
    let mut values = BTreeSet::new();
    let mut revisions = BTreeSet::new();
    for task in tasks {
        for (value, revision) in task.await.unwrap() {
            assert!(values.insert(value), "two CAS wins produced value {value}");
            assert!(
                revisions.insert(revision),
                "two CAS wins at revision {revision}"
            );
        }
    }
    let total = (TASKS * INCREMENTS_PER_TASK) as u64;
    let final_value: u64 = text(&must_get(&*store, "/counter").await).parse().unwrap();
    assert_eq!(
        final_value, total,
        "final counter equals the number of successful CAS"
    );
    assert_eq!(values, (1..=total).collect::<BTreeSet<_>>());
}

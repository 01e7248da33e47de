//! A store on a 3-member etcd keeps serving while members die or stall:
//! the first-listed member dead from the start, the leader killed under
//! concurrent transactions, a member paused (SIGSTOP) with requests and a
//! watch on it. Each test starts its own cluster on free loopback ports
//! (`ThrowawayCluster`, killed on drop) and is bounded in time.
//!
//! Writes here are create-if-absent transactions: a write whose outcome the
//! store reports as unknown is repeated by the test, which is safe only
//! because a second run of such a transaction is a no-op. That is the
//! caller's half of the contract this file checks; the store's half is
//! that it never repeats a write on its own once it may have been sent.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corridor_store::etcd::outcome_unknown;
use corridor_store::etcd::testing::ThrowawayCluster;
use corridor_store::{
    Compare, CompareOp, EtcdOptions, EtcdStore, EventKind, KvEvent, Op, RangeRequest, StateStore,
    StoreError, Txn, WatchStream,
};
use futures::StreamExt;
use tokio::time::timeout;

/// Every step of a test ends within this, or the test fails.
const BOUND: Duration = Duration::from_secs(60);
/// The store's per-request timeout in these tests (short, so a paused
/// member costs little).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The cluster's endpoints with member `first` listed first.
fn options_with_first(cluster: &ThrowawayCluster, first: usize) -> EtcdOptions {
    let mut endpoints = cluster.endpoints();
    endpoints.rotate_left(first);
    let mut options = EtcdOptions::new(endpoints);
    options.timeout = REQUEST_TIMEOUT;
    options
}

/// Creates `key` = `value` unless it exists, repeating the transaction while
/// its outcome is unknown. Returns how many outcomes were unknown. Any
/// other error fails the test.
async fn create(store: &EtcdStore, key: &str, value: &str) -> usize {
    let txn = Txn::new()
        .when([Compare::absent(key)])
        .and_then([Op::put(key, value.as_bytes().to_vec())]);
    let mut unknown = 0;
    loop {
        match timeout(BOUND, store.txn(txn.clone())).await {
            Err(_) => panic!("creating {key} took over {BOUND:?}"),
            Ok(Ok(response)) => {
                if !response.succeeded {
                    // Only a repeat after an unknown outcome may find it.
                    assert!(unknown > 0, "{key} existed before it was created");
                    let kv = store.get(key).await.unwrap().expect("the key is there");
                    assert_eq!(kv.value, value.as_bytes(), "{key} holds another value");
                }
                return unknown;
            }
            Ok(Err(error)) if outcome_unknown(&error) => unknown += 1,
            Ok(Err(error)) => panic!("creating {key}: {error:?}"),
        }
    }
}

/// Reads, a compare-and-swap, a lease grant, a leased put and a keep-alive,
/// all under `prefix`; returns the keys it created and how many write
/// outcomes were unknown.
async fn exercise(store: &EtcdStore, prefix: &str) -> (Vec<String>, usize) {
    let key = format!("{prefix}k");
    let mut unknown = create(store, &key, "1").await;
    let kv = step("read", store.get(&key)).await.expect("created");
    assert_eq!(kv.value, b"1");
    // A compare-and-swap on the revision read: its own outcome may be
    // unknown too, and a repeat then fails its compare, which is how the
    // caller learns it had landed.
    let swap = Txn::new()
        .when([Compare::mod_revision(
            &key,
            CompareOp::Equal,
            kv.mod_revision,
        )])
        .and_then([Op::put(&key, b"2".to_vec())]);
    loop {
        match timeout(BOUND, store.txn(swap.clone()))
            .await
            .expect("bounded")
        {
            Ok(_) => break,
            Err(error) if outcome_unknown(&error) => unknown += 1,
            Err(error) => panic!("compare-and-swap: {error:?}"),
        }
    }
    assert_eq!(step("read", store.get(&key)).await.unwrap().value, b"2");
    let lease = step("grant", store.lease_grant(Duration::from_secs(30))).await;
    let leased = format!("{prefix}leased");
    let leased_txn = Txn::new()
        .when([Compare::absent(&leased)])
        .and_then([Op::put_with_lease(&leased, b"l".to_vec(), lease)]);
    loop {
        match timeout(BOUND, store.txn(leased_txn.clone()))
            .await
            .expect("bounded")
        {
            Ok(_) => break,
            Err(error) if outcome_unknown(&error) => unknown += 1,
            Err(error) => panic!("leased put: {error:?}"),
        }
    }
    let ttl = step("keep-alive", store.lease_keep_alive(lease)).await;
    assert!(ttl >= Duration::from_secs(29), "renewed for {ttl:?}");
    let info = step("lease TTL", store.lease_time_to_live(lease))
        .await
        .expect("the lease exists");
    assert_eq!(info.keys, vec![leased.clone()]);
    let listed = step("range", store.range(RangeRequest::prefix(prefix))).await;
    let keys: Vec<_> = listed.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![key.clone(), leased.clone()]);
    (vec![key, leased], unknown)
}

/// Awaits a store call that must succeed within [`BOUND`].
async fn step<T>(what: &str, call: impl Future<Output = Result<T, StoreError>>) -> T {
    match timeout(BOUND, call).await {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => panic!("{what} failed: {error:?}"),
        Err(_) => panic!("{what} took over {BOUND:?}"),
    }
}

/// Reads `count` events from a watch, checking they come in revision order
/// without duplicates.
async fn events(watch: &mut WatchStream, count: usize) -> Vec<KvEvent> {
    let mut seen: Vec<KvEvent> = Vec::new();
    while seen.len() < count {
        let event = match timeout(BOUND, watch.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(error))) => {
                panic!("the watch ended after {} events: {error:?}", seen.len())
            }
            Ok(None) => panic!("the watch ended after {} events", seen.len()),
            Err(_) => panic!(
                "the watch delivered {} of {count} events in {BOUND:?}",
                seen.len()
            ),
        };
        if let Some(last) = seen.last() {
            let order =
                (last.kv.mod_revision, &last.kv.key) < (event.kv.mod_revision, &event.kv.key);
            assert!(order, "{:?} after {:?}", event.kv, last.kv);
        }
        seen.push(event);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_skips_a_first_listed_member_that_is_dead() {
    let mut cluster = ThrowawayCluster::start().await.unwrap();
    cluster.kill(0);
    // Member 0 may have led: the survivors elect first (a store connecting
    // meanwhile is told "no leader", which is not what this test is about).
    cluster
        .leader()
        .await
        .expect("the survivors elect a leader");
    let store = step(
        "connect",
        EtcdStore::connect(options_with_first(&cluster, 0)),
    )
    .await;
    let mut watch = step("watch", store.watch("/dead/", 0)).await;
    let (keys, unknown) = exercise(&store, "/dead/").await;
    // A refused connection is known not to have carried anything.
    assert_eq!(unknown, 0, "a dead member made write outcomes unknown");
    // The watch saw the create, the swap and the leased put.
    let seen = events(&mut watch, 3).await;
    let written: BTreeSet<_> = seen.iter().map(|e| e.kv.key.clone()).collect();
    assert_eq!(written, keys.into_iter().collect());
    assert_ne!(store.current_endpoint(), cluster.endpoint(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_out_an_election_longer_than_its_timeout() {
    // A per-request timeout far below etcd's election timeout (1 s): the
    // survivors cannot elect within one request's time, so the grant has
    // to keep moving between members for the failover budget.
    const SHORT: Duration = Duration::from_millis(300);
    let mut cluster = ThrowawayCluster::start().await.unwrap();
    let leader = cluster.leader().await.unwrap();
    let mut options = options_with_first(&cluster, leader);
    options.timeout = SHORT;
    let store = step("connect", EtcdStore::connect(options)).await;
    cluster.kill(leader);
    let started = std::time::Instant::now();
    let lease = step("grant", store.lease_grant(Duration::from_secs(30))).await;
    let waited = started.elapsed();
    step("keep-alive", store.lease_keep_alive(lease)).await;
    // Had a member that still followed the dead leader granted it at once,
    // this test would not have exercised anything.
    assert!(
        waited > SHORT,
        "granted after {waited:?}, no election waited"
    );
    eprintln!("a lease granted {waited:?} after the leader was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_keeps_serving_when_the_leader_is_killed_under_load() {
    const TASKS: usize = 4;
    const WRITES: usize = 40;
    let mut cluster = ThrowawayCluster::start().await.unwrap();
    let leader = cluster.leader().await.unwrap();
    // The leader listed first: the store's requests and its watch are on
    // the member that dies.
    let store = step(
        "connect",
        EtcdStore::connect(options_with_first(&cluster, leader)),
    )
    .await;
    let mut watch = step("watch", store.watch("/load/", 0)).await;
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (store, done) = (store.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut unknown = 0;
            for i in 0..WRITES {
                let key = format!("/load/{task}/{i:03}");
                unknown += create(&store, &key, &format!("{task}.{i}")).await;
                // A read between writes: reads never fail.
                step("read", store.get(&key)).await.expect("just written");
                done.fetch_add(1, Ordering::Relaxed);
            }
            unknown
        }));
    }
    // Kill the leader once a quarter of the writes are in.
    timeout(BOUND, async {
        while done.load(Ordering::Relaxed) < TASKS * WRITES / 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a quarter of the writes within the bound");
    cluster.kill(leader);
    // Leases keep working while the others elect a new leader.
    let lease = step("grant", store.lease_grant(Duration::from_secs(30))).await;
    step("keep-alive", store.lease_keep_alive(lease)).await;
    let mut unknown = 0;
    for task in tasks {
        unknown += timeout(BOUND, task).await.expect("bounded").unwrap();
    }
    let new_leader = cluster.leader().await.unwrap();
    assert_ne!(new_leader, leader);
    let listed = step("range", store.range(RangeRequest::prefix("/load/"))).await;
    assert_eq!(listed.kvs.len(), TASKS * WRITES);
    // Every write exactly once, in the watch as in the store, although the
    // watch started on the member that died.
    let seen = events(&mut watch, TASKS * WRITES).await;
    assert!(seen.iter().all(|e| e.kind == EventKind::Put));
    let watched: BTreeSet<_> = seen.iter().map(|e| e.kv.key.clone()).collect();
    let stored: BTreeSet<_> = listed.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(watched, stored);
    // The killed member restarts on its data dir and catches up: a
    // (linearizable) read through it alone sees every write.
    cluster.restart(leader).await.unwrap();
    let mut only = EtcdOptions::new([cluster.endpoint(leader).to_string()]);
    only.timeout = REQUEST_TIMEOUT;
    let rejoined = step("connect", EtcdStore::connect(only)).await;
    let there = step("range", rejoined.range(RangeRequest::prefix("/load/"))).await;
    assert_eq!(there.kvs.len(), TASKS * WRITES);
    eprintln!(
        "{} writes, {unknown} with an unknown outcome repeated by the caller; leader {leader} killed, {new_leader} leads",
        TASKS * WRITES
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_keeps_serving_while_a_member_is_paused() {
    let cluster = ThrowawayCluster::start().await.unwrap();
    let paused = cluster.leader().await.unwrap();
    let store = step(
        "connect",
        EtcdStore::connect(options_with_first(&cluster, paused)),
    )
    .await;
    assert_eq!(store.current_endpoint(), cluster.endpoint(paused));
    let mut watch = step("watch", store.watch("/paused/", 0)).await;
    cluster.pause(paused).unwrap();
    // The first write goes to the paused member, which may process it when
    // it wakes up: the store must say so instead of repeating it elsewhere.
    let first = Txn::new().and_then([Op::put("/paused/first", b"1".to_vec())]);
    let outcome = timeout(BOUND, store.txn(first)).await.expect("bounded");
    match &outcome {
        Err(error) if outcome_unknown(error) => {}
        other => panic!("a write on a paused member: {other:?}"),
    }
    let (keys, _) = exercise(&store, "/paused/").await;
    assert_ne!(store.current_endpoint(), cluster.endpoint(paused));
    // The watch was on the paused member: it moves and misses nothing.
    let seen = events(&mut watch, 3).await;
    let watched: BTreeSet<_> = seen
        .iter()
        .map(|e| e.kv.key.clone())
        .filter(|k| k != "/paused/first")
        .collect();
    assert_eq!(watched, keys.into_iter().collect());
    cluster.resume(paused).unwrap();
    // Still one value per key once the member is back.
    step("read", store.get("/paused/k")).await.expect("written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_moved_off_a_failed_member_reports_compaction() {
    let cluster = ThrowawayCluster::start().await.unwrap();
    // The watch sits on a follower: pausing the raft leader would leave the
    // others electing (answering "no leader") while this test writes.
    let paused = (cluster.leader().await.unwrap() + 1) % 3;
    let store = step(
        "connect",
        EtcdStore::connect(options_with_first(&cluster, paused)),
    )
    .await;
    let mut watch = step("watch", store.watch("/w/", 0)).await;
    step("put", store.put("/w/1", b"1".to_vec(), None)).await;
    let first = events(&mut watch, 1).await;
    // Pause the watch's member, then write and compact through the others
    // before the watch notices (its HTTP/2 ping goes unanswered for
    // seconds), so the history it resumes from is gone.
    cluster.pause(paused).unwrap();
    let mut others = options_with_first(&cluster, (paused + 1) % 3);
    others.endpoints.retain(|e| e != cluster.endpoint(paused));
    let writer = step("connect", EtcdStore::connect(others)).await;
    step("put", writer.put("/w/2", b"2".to_vec(), None)).await;
    let last = step("put", writer.put("/w/3", b"3".to_vec(), None)).await;
    step("compact", writer.compact(last)).await;
    let ended = timeout(BOUND, watch.next()).await.expect("bounded");
    cluster.resume(paused).unwrap();
    match ended {
        Some(Err(StoreError::Compacted {
            requested,
            compacted,
        })) => {
            assert_eq!(requested, first[0].kv.mod_revision + 1);
            assert_eq!(compacted, last);
        }
        other => panic!("expected a compaction error, got {other:?}"),
    }
}

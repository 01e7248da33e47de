//! Behaviour specific to the redb backend: persistence, file locking,
//! retention, watch back-pressure and lifecycle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_store::{RedbOptions, RedbStore, StateStore, StoreError};
use futures::StreamExt;

fn options() -> RedbOptions {
    RedbOptions::default()
}

/// Waits until `key` is gone (a lease's expiry deleted it); fails with
/// `why` if it is still there after `bound`.
async fn until_gone(store: &RedbStore, key: &str, bound: Duration, why: &str) {
    let start = Instant::now();
    while store.get(key).await.unwrap().is_some() {
        assert!(start.elapsed() < bound, "{why}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a crash leaves of the store at `live` in `crashed`, whose redb file
/// was copied earlier: the write-ahead logs as they are now.
fn copy_logs(live: &std::path::Path, crashed: &std::path::Path) {
    for (log, copy) in corridor_store::wal_paths(live)
        .iter()
        .zip(corridor_store::wal_paths(crashed))
    {
        std::fs::copy(log, copy).unwrap();
    }
}

#[tokio::test]
async fn reopen_keeps_keys_revision_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (revision, lease) = {
        let store = RedbStore::open(&path, options()).unwrap();
        let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
        store.put("/a", b"1".to_vec(), None).await.unwrap();
        let revision = store.put("/b", b"2".to_vec(), Some(lease)).await.unwrap();
        (revision, lease)
    };

    let store = RedbStore::open(&path, options()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), revision);
    assert_eq!(store.get("/a").await.unwrap().unwrap().value, b"1");
    let info = store
        .lease_time_to_live(lease)
        .await
        .unwrap()
        .expect("lease survived");
    assert_eq!(info.keys, ["/b"]);
    assert!(info.remaining > Duration::from_secs(50));
    let another = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    assert_ne!(another, lease, "lease ids are not reused after a restart");
    // History survives too.
    let mut watch = store.watch("/", revision).await.unwrap();
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!((event.kv.key.as_str(), event.revision()), ("/b", revision));
}

#[tokio::test]
async fn a_lease_that_expired_while_closed_ends_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let store = RedbStore::open(&path, options()).unwrap();
        let lease = store.lease_grant(Duration::from_millis(300)).await.unwrap();
        store
            .put("/ephemeral", b"x".to_vec(), Some(lease))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;

    let store = RedbStore::open(&path, options()).unwrap();
    until_gone(
        &store,
        "/ephemeral",
        Duration::from_secs(2),
        "an overdue lease must be expired on open",
    )
    .await;
}

/// Which keys a lease holds is read back from the keys themselves after a
/// restart, whether redb kept the writes or the log replays them after a
/// crash: revoking the lease then deletes exactly the keys still on it (not
/// one moved to another lease, not one deleted meanwhile), and expiry does
/// the same.
#[tokio::test]
async fn a_lease_ends_with_exactly_its_keys_after_a_reopen_or_a_replay() {
    for replayed in [false, true] {
        let live = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let live_path = live.path().join("s.redb");
        let crashed_path = crashed.path().join("s.redb");
        let options = RedbOptions {
            checkpoint_interval: Duration::from_secs(3600),
            ..options()
        };
        let store = RedbStore::open(&live_path, options.clone()).unwrap();
        // The crash: redb's file as it was before the writes, the logs after.
        std::fs::copy(&live_path, &crashed_path).unwrap();
        let revoked = store.lease_grant(Duration::from_secs(60)).await.unwrap();
        let other = store.lease_grant(Duration::from_secs(60)).await.unwrap();
        let expiring = store.lease_grant(Duration::from_secs(3)).await.unwrap();
        for key in ["/l/a", "/l/b", "/l/moved", "/l/gone"] {
            store.put(key, b"x".to_vec(), Some(revoked)).await.unwrap();
        }
        store
            .put("/l/moved", b"y".to_vec(), Some(other))
            .await
            .unwrap();
        store.delete("/l/gone").await.unwrap();
        store.put("/l/unleased", b"z".to_vec(), None).await.unwrap();
        store
            .put("/l/short", b"s".to_vec(), Some(expiring))
            .await
            .unwrap();
        let path = if replayed {
            copy_logs(&live_path, &crashed_path);
            &crashed_path
        } else {
            &live_path
        };
        drop(store);

        let store = RedbStore::open(path, options).unwrap();
        let before = store.current_revision().await.unwrap();
        store.lease_revoke(revoked).await.unwrap();
        let mut watch = store.watch("/l/", before + 1).await.unwrap();
        let mut deleted = Vec::new();
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(200), watch.next()).await
        {
            let event = event.unwrap();
            assert_eq!(event.revision(), before + 1, "one revision for the revoke");
            deleted.push(event.kv.key);
        }
        assert_eq!(deleted, ["/l/a", "/l/b"], "replayed: {replayed}");
        for key in ["/l/moved", "/l/unleased", "/l/short"] {
            assert!(store.get(key).await.unwrap().is_some(), "{key} survives");
        }
        until_gone(
            &store,
            "/l/short",
            Duration::from_secs(8),
            &format!("lease {expiring} must expire with its key"),
        )
        .await;
        assert!(store.get("/l/moved").await.unwrap().is_some());
        assert_eq!(store.current_revision().await.unwrap(), before + 2);
    }
}

#[test]
fn a_second_open_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let first = RedbStore::open(&path, options()).unwrap();
    let clone = first.clone();
    match RedbStore::open(&path, options()) {
        Err(error @ StoreError::AlreadyOpen { .. }) => {
            assert!(error.to_string().contains("s.redb"), "{error}");
        }
        other => panic!("expected AlreadyOpen, got {other:?}"),
    }
    drop(first);
    assert!(
        matches!(
            RedbStore::open(&path, options()),
            Err(StoreError::AlreadyOpen { .. })
        ),
        "a live clone keeps the store open"
    );
    drop(clone);
    // Dropping the last handle joined the writer and released the file.
    RedbStore::open(&path, options()).unwrap();
}

/// A database file whose creation a crash interrupted (sized, its header
/// never given redb's magic number: zeros where it goes) held nothing
/// committed and is created again; a file of anything else is refused,
/// not overwritten.
#[tokio::test]
async fn a_database_file_whose_creation_was_interrupted_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    let store = RedbStore::open(&path, options()).unwrap();
    store.put("/k", b"v".to_vec(), None).await.unwrap();
    drop(store);
    let store = RedbStore::open(&path, options()).unwrap();
    assert!(
        store.get("/k").await.unwrap().is_some(),
        "kept once created"
    );
    drop(store);

    let foreign = dir.path().join("foreign.redb");
    let mut bytes = vec![0u8; 1 << 20];
    bytes[..5].copy_from_slice(b"hello");
    std::fs::write(&foreign, &bytes).unwrap();
    let refused = RedbStore::open(&foreign, options())
        .map(|_| ())
        .unwrap_err();
    assert!(
        refused.to_string().contains("open the database file"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), bytes, "left as it was");
}

#[test]
fn opens_and_closes_outside_any_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("s.redb"), options()).unwrap();
    let lease_ended = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let lease = store.lease_grant(Duration::from_millis(100)).await.unwrap();
            store.put("/k", b"v".to_vec(), Some(lease)).await.unwrap();
            store.get("/k").await.unwrap().is_some()
        })
    };
    assert!(lease_ended, "key written");
    // The writer expires leases on its own thread, with no runtime running.
    std::thread::sleep(Duration::from_millis(400));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(store.get("/k")).unwrap(), None);
    drop(store);
}

#[tokio::test]
async fn the_event_log_keeps_only_the_retained_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(
        dir.path().join("s.redb"),
        RedbOptions {
            retain_revisions: 10,
            ..options()
        },
    )
    .unwrap();
    let first = store.put("/k", vec![0], None).await.unwrap();
    let mut last = first;
    for i in 1..50u8 {
        last = store.put("/k", vec![i], None).await.unwrap();
    }
    let oldest = last - 9;
    match store.watch("", first).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (first, oldest)),
        Err(other) => panic!("expected Compacted, got {other}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    let mut watch = store.watch("", oldest).await.unwrap();
    for revision in oldest..=last {
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), revision);
    }
}

#[tokio::test]
async fn a_slow_watcher_is_cancelled_with_where_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(
        dir.path().join("s.redb"),
        RedbOptions {
            watch_buffer: 4,
            ..options()
        },
    )
    .unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("", 0).await.unwrap();
    for i in 0..20u8 {
        store.put("/k", vec![i], None).await.unwrap();
    }

    let mut delivered = Vec::new();
    let resume_from = loop {
        match watch.next().await {
            Some(Ok(event)) => delivered.push(event.revision()),
            Some(Err(StoreError::WatchLagged { resume_from })) => break resume_from,
            other => panic!("expected WatchLagged, got {other:?}"),
        }
    };
    assert!(
        watch.next().await.is_none(),
        "the stream ends after its error"
    );
    let expected: Vec<_> = (start + 1..resume_from).collect();
    assert_eq!(
        delivered, expected,
        "everything before resume_from was delivered"
    );
    assert!(resume_from <= start + 20 - 4, "it did lag");

    // Resuming where it says loses nothing.
    let mut resumed = store.watch("", resume_from).await.unwrap();
    for revision in resume_from..=start + 20 {
        assert_eq!(resumed.next().await.unwrap().unwrap().revision(), revision);
    }
}

#[tokio::test]
async fn watches_end_with_closed_when_the_store_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = RedbStore::open(&path, options()).unwrap();
    let mut watch = store.watch("", 0).await.unwrap();
    drop(store);
    assert!(matches!(watch.next().await, Some(Err(StoreError::Closed))));
    assert!(watch.next().await.is_none());
    // A leftover watch does not hold the file.
    RedbStore::open(&path, options()).unwrap();
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("s.redb"), options()).unwrap());
    assert!(matches!(
        store.put("", b"x".to_vec(), None).await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.watch("", -1).await,
        Err(StoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        store.lease_grant(Duration::ZERO).await,
        Err(StoreError::InvalidRequest(_))
    ));
    let wipe = corridor_store::Txn::new().and_then([corridor_store::Op::delete_prefix("")]);
    assert!(matches!(
        store.txn(wipe).await,
        Err(StoreError::InvalidRequest(_))
    ));
}

#[test]
fn errors_do_not_repeat_their_source() {
    let error = StoreError::backend(
        "commit a group of writes",
        std::io::Error::other("disk on fire"),
    );
    assert_eq!(
        error.to_string(),
        "storage backend failed to commit a group of writes"
    );
    let source = std::error::Error::source(&error).expect("source kept");
    assert_eq!(source.to_string(), "disk on fire");
}

/// What a crash can leave behind with the write-ahead log: the redb file as
/// of its last durable checkpoint and a log holding every batch since. The
/// store file is copied right after a checkpoint (open), the log after more
/// writes; opening the pair must replay the writes with the same revisions,
/// lease state and history, exactly once.
#[tokio::test]
async fn the_write_ahead_log_replays_what_redb_had_not_made_durable() {
    let live = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let live_path = live.path().join("s.redb");
    let crashed_path = crashed.path().join("s.redb");
    let options = RedbOptions {
        checkpoint_interval: Duration::from_secs(3600),
        ..RedbOptions::default()
    };
    let store = RedbStore::open(&live_path, options.clone()).unwrap();
    std::fs::copy(&live_path, &crashed_path).unwrap();

    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    store.put("/a", b"1".to_vec(), None).await.unwrap();
    store.put("/b", b"2".to_vec(), Some(lease)).await.unwrap();
    let lost = store
        .txn(
            corridor_store::Txn::new()
                .when([corridor_store::Compare::absent("/a")])
                .and_then([corridor_store::Op::put("/a", b"never".to_vec())]),
        )
        .await
        .unwrap();
    assert!(!lost.succeeded);
    store.delete("/a").await.unwrap();
    let last = store.put("/c", b"3".to_vec(), None).await.unwrap();
    let logs = corridor_store::wal_paths(&live_path);
    assert!(
        logs.iter()
            .map(|log| corridor_store::wal_pending_records(log).unwrap())
            .sum::<usize>()
            > 0,
        "the writes are in the logs, not yet checkpointed"
    );
    copy_logs(&live_path, &crashed_path);
    drop(store);

    let c_revision = last;
    let mut last = last;
    for reopen in 0..2 {
        let store = RedbStore::open(&crashed_path, options.clone()).unwrap();
        assert_eq!(
            store.current_revision().await.unwrap(),
            last,
            "reopen {reopen}"
        );
        assert!(store.get("/a").await.unwrap().is_none());
        assert_eq!(
            store.get("/c").await.unwrap().unwrap().mod_revision,
            c_revision
        );
        let info = store.lease_time_to_live(lease).await.unwrap().unwrap();
        assert_eq!(info.keys, ["/b"]);
        let mut watch = store.watch("/", 2).await.unwrap();
        let mut revisions = Vec::new();
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(100), watch.next()).await
        {
            revisions.push(event.unwrap().revision());
        }
        assert_eq!(revisions, (2..=last).collect::<Vec<_>>(), "reopen {reopen}");
        // Writing goes on from where the log ended.
        if reopen == 0 {
            drop(watch);
            let next = store.put("/d", b"4".to_vec(), None).await.unwrap();
            assert_eq!(next, last + 1);
            store.delete("/d").await.unwrap();
            last = next + 1;
        }
    }
}

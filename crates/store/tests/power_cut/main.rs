//! Power-cut test for the redb store.
//!
//! The store runs on a [`SimDisk`]: a disk in memory that forgets every
//! byte not fsync'd when its power is cut (or, torn, keeps a random subset
//! of the unsynced pages). Concurrent writers put keys, run three-key
//! transactions and compare-and-swap a counter; the power fails at a random
//! write or sync of the store's files (inside a log append, a commit, a
//! checkpoint or a recovery, or the checkpoint a recovery ends with,
//! written behind while the reopened store is being checked); the disk
//! "reboots" with what its platter holds; the store reopens on it and must
//! show
//! - every write it acknowledged, with the revision it acknowledged;
//! - no transaction half-applied, acknowledged or not (all three keys or
//!   none), and no value that nobody wrote;
//! - a revision that never goes back, and an event log without holes in
//!   which each revision is exactly one write, holding at least the
//!   retention window (some cases keep only 16 revisions, so the log's
//!   files are dropped and reused between cuts).
//!
//! Unlike `process_crash.rs` (SIGKILL keeps the page cache, so it cannot
//! see a missing fsync), this fails when an fsync the store relies on is
//! removed: without the log's `sync_data` in `Wal::append`, acknowledged
//! writes are lost at the first cut that lands before a checkpoint.

mod sim_disk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corridor_store::{
    Compare, CompareOp, KeyValue, NEW_LEASE, Op, RangeRequest, RedbOptions, RedbStore, Revision,
    StateStore, StoreError, Txn,
};
use futures::StreamExt;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use self::sim_disk::{Loss, Operation, PAGE, SimDisk};

const STORE: &str = "/power-cut/store.redb";
const WAL: &str = "/power-cut/store.redb.wal";
const WAL2: &str = "/power-cut/store.redb.wal2";
const COUNTER: &str = "/counter";
const PUT_TASKS: usize = 3;
const TXN_TASKS: usize = 2;
const INC_TASKS: usize = 2;
/// Power cuts per case, each followed by a reopen and a check.
const CUTS: usize = 4;
/// The cut comes at one of the first this-many mutating disk operations of a
/// boot (a batch costs a handful; a checkpoint or a recovery dozens).
const MAX_OPS_BEFORE_CUT: u64 = 1_500;

/// What the writers did, as far as the test knows.
#[derive(Debug, Default, Clone)]
struct Ledger {
    /// Acknowledged single-key puts: key → revision (the value is the key).
    puts: BTreeMap<String, Revision>,
    /// Every transaction sent: id → acknowledged revision, if it was.
    txns: BTreeMap<String, Option<Revision>>,
    /// Highest counter value acknowledged, and highest ever attempted.
    counter_acked: u64,
    counter_attempted: u64,
    highest_acked: Revision,
}

fn txn_keys(id: &str) -> [String; 3] {
    [0, 1, 2].map(|i| format!("/txn/{id}/{i}"))
}

/// One case: the store's options, how cuts lose data, and the random seed
/// for cut points and torn pages.
#[derive(Debug, Clone)]
struct Scenario {
    options: RedbOptions,
    loss: Loss,
    seed: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![Just(1u64), Just(20), Just(250)],
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop_oneof![Just(1usize), Just(512)],
        prop_oneof![Just(16u64), Just(100_000)],
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(checkpoint_ms, write_ahead_log, max_batch, retain_revisions, torn, seed)| Scenario {
                options: RedbOptions {
                    write_ahead_log,
                    checkpoint_interval: Duration::from_millis(checkpoint_ms),
                    max_batch,
                    retain_revisions,
                    cache_size_bytes: 4 << 20,
                    ..RedbOptions::default()
                },
                loss: if torn {
                    Loss::TornPages
                } else {
                    Loss::Unsynced
                },
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        // The writers race each other, so a failure does not replay exactly;
        // shrinking would mostly rerun noise.
        max_shrink_iters: 4,
        ..ProptestConfig::default()
    })]

    #[test]
    fn acknowledged_writes_survive_power_cuts(scenario in scenario()) {
        run(&scenario);
    }
}

fn run(scenario: &Scenario) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let retain = scenario.options.retain_revisions;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut disk = SimDisk::default();
    let mut checked_through: Revision = 1;
    let mut acknowledged = 0usize;
    let mut cuts_with_log_records = 0usize;
    let mut cuts_while_checking = 0usize;

    for boot in 0..CUTS {
        // Sometimes the cut lands while the store is still opening: during
        // the replay and the checkpoint that ends a recovery.
        disk.arm(rng.random_range(1..=MAX_OPS_BEFORE_CUT));
        match RedbStore::open_on(&disk, STORE, scenario.options.clone()) {
            // The recovery's checkpoint is written behind the open, so the
            // power may fail while the reopened store is checked; its reads
            // then fail, and the next boot checks again.
            Ok(store) => {
                match runtime.block_on(check(&store, &ledger, checked_through, retain, boot)) {
                    Ok(revision) => {
                        checked_through = revision;
                        acknowledged += runtime.block_on(write_until_the_power_fails(
                            store,
                            &disk,
                            &ledger,
                            boot,
                            checked_through,
                        ));
                    }
                    Err(error) => {
                        assert!(
                            !disk.powered(),
                            "boot {boot}: a read failed with the power on: {error}"
                        );
                        cuts_while_checking += 1;
                    }
                }
            }
            Err(error) => assert!(
                !disk.powered(),
                "boot {boot}: open failed with the power on: {error}: {:?}",
                std::error::Error::source(&error)
            ),
        }
        assert!(
            !disk.powered(),
            "boot {boot}: the writers stopped before the power did"
        );
        if wal_has_records(&disk) {
            cuts_with_log_records += 1;
        }
        disk = disk.reboot(scenario.loss, &mut rng);
    }
    let store = RedbStore::open_on(&disk, STORE, scenario.options.clone())
        .unwrap_or_else(|e| panic!("the store does not open after the last cut: {e}"));
    let final_revision = runtime
        .block_on(check(&store, &ledger, checked_through, retain, CUTS))
        .unwrap();
    runtime
        .block_on(check_event_log(&store, 2, final_revision, retain, CUTS))
        .unwrap();
    drop(store);

    let ledger = ledger.lock().unwrap();
    eprintln!(
        "{scenario:?}: {acknowledged} writes acknowledged over {CUTS} cuts \
         ({cuts_with_log_records} with log records to replay, {cuts_while_checking} while \
         the reopened store was checked), {} transactions sent; none lost",
        ledger.txns.len()
    );
}

/// Whether either log file holds at least one record (its 8-byte header is
/// followed by a non-zero frame length).
fn wal_has_records(disk: &SimDisk) -> bool {
    [WAL, WAL2].iter().any(|log| {
        disk.contents(Path::new(log))
            .and_then(|bytes| bytes.get(8..12).map(|len| len.iter().any(|b| *b != 0)))
            .unwrap_or(false)
    })
}

/// Runs the writers until a disk operation fails because the power is cut,
/// then closes the store. Returns how many writes were acknowledged.
async fn write_until_the_power_fails(
    store: RedbStore,
    disk: &SimDisk,
    ledger: &Arc<Mutex<Ledger>>,
    boot: usize,
    opened_at: Revision,
) -> usize {
    let store: Arc<dyn StateStore> = Arc::new(store);
    let mut tasks = Vec::new();
    // Each acknowledged revision is newer than anything before this boot.
    let fresh = move |revision: Revision, what: &str| {
        assert!(
            revision > opened_at,
            "boot {boot}: {what} acknowledged at revision {revision}, not after {opened_at}"
        );
    };
    for task in 0..PUT_TASKS {
        let (store, ledger, disk) = (Arc::clone(&store), Arc::clone(ledger), disk.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = 0;
            for seq in 0.. {
                let key = format!("/put/{boot}/{task}/{seq}");
                match store.put(&key, key.clone().into_bytes(), None).await {
                    Ok(revision) => {
                        fresh(revision, &key);
                        let mut ledger = ledger.lock().unwrap();
                        ledger.puts.insert(key, revision);
                        ledger.highest_acked = ledger.highest_acked.max(revision);
                        acked += 1;
                    }
                    Err(error) => {
                        assert!(!disk.powered(), "put failed with the power on: {error}");
                        break;
                    }
                }
            }
            acked
        }));
    }
    for task in 0..TXN_TASKS {
        let (store, ledger, disk) = (Arc::clone(&store), Arc::clone(ledger), disk.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = 0;
            for seq in 0.. {
                let id = format!("{boot}-{task}-{seq}");
                let keys = txn_keys(&id);
                // The odd task's transactions grant their own lease (one
                // logged write holding both), as a corridor grant does.
                let leased = task % 2 == 1;
                let lease = leased.then_some(NEW_LEASE);
                let txn = Txn::new()
                    .when([Compare::absent(&keys[0])])
                    .and_then(keys.iter().map(|k| Op::Put {
                        key: k.clone(),
                        value: id.clone().into_bytes(),
                        lease,
                    }));
                ledger.lock().unwrap().txns.insert(id.clone(), None);
                let sent = if leased {
                    store
                        .txn_with_new_lease(Duration::from_secs(3600), txn)
                        .await
                        .map(|leased| {
                            assert!(leased.lease.is_some() == leased.response.succeeded);
                            leased.response
                        })
                } else {
                    store.txn(txn).await
                };
                match sent {
                    Ok(response) => {
                        assert!(response.succeeded, "transaction {id}: its guard failed");
                        fresh(response.revision, &id);
                        let mut ledger = ledger.lock().unwrap();
                        ledger.txns.insert(id, Some(response.revision));
                        ledger.highest_acked = ledger.highest_acked.max(response.revision);
                        acked += 1;
                    }
                    Err(error) => {
                        assert!(!disk.powered(), "txn failed with the power on: {error}");
                        break;
                    }
                }
            }
            acked
        }));
    }
    for _ in 0..INC_TASKS {
        let (store, ledger, disk) = (Arc::clone(&store), Arc::clone(ledger), disk.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = 0;
            loop {
                let current = match store.get(COUNTER).await {
                    Ok(current) => current,
                    Err(error) => {
                        assert!(!disk.powered(), "read failed with the power on: {error}");
                        break;
                    }
                };
                let (guard, value) = match &current {
                    None => (Compare::absent(COUNTER), 0),
                    Some(kv) => (
                        Compare::mod_revision(COUNTER, CompareOp::Equal, kv.mod_revision),
                        parse_counter(kv),
                    ),
                };
                {
                    let mut ledger = ledger.lock().unwrap();
                    ledger.counter_attempted = ledger.counter_attempted.max(value + 1);
                }
                let txn = Txn::new()
                    .when([guard])
                    .and_then([Op::put(COUNTER, (value + 1).to_string())]);
                match store.txn(txn).await {
                    Ok(response) if response.succeeded => {
                        fresh(response.revision, "an increment");
                        let mut ledger = ledger.lock().unwrap();
                        ledger.counter_acked = ledger.counter_acked.max(value + 1);
                        ledger.highest_acked = ledger.highest_acked.max(response.revision);
                        acked += 1;
                    }
                    Ok(_) => {} // lost the race to the other incrementer
                    Err(error) => {
                        assert!(
                            !disk.powered(),
                            "increment failed with the power on: {error}"
                        );
                        break;
                    }
                }
            }
            acked
        }));
    }
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("the writers stop once the power is cut")
            .unwrap();
    }
    // Dropping the last handle stops the writer thread (its final checkpoint
    // fails: the power is off) and closes the database.
    drop(store);
    acknowledged
}

fn parse_counter(kv: &KeyValue) -> u64 {
    std::str::from_utf8(&kv.value).unwrap().parse().unwrap()
}

async fn all_under(store: &RedbStore, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
    Ok(store.range(RangeRequest::prefix(prefix)).await?.kvs)
}

/// Checks the reopened store against the ledger and returns its revision;
/// fails only when a read fails (the power may go while it checks).
async fn check(
    store: &RedbStore,
    ledger: &Mutex<Ledger>,
    checked_through: Revision,
    retain: u64,
    boot: usize,
) -> Result<Revision, StoreError> {
    // A copy: no writer runs while the store is checked.
    let ledger = ledger.lock().unwrap().clone();
    let revision = store.current_revision().await?;
    assert!(
        revision >= ledger.highest_acked && revision >= checked_through,
        "boot {boot}: the revision went back to {revision} (acknowledged up to {}, \
         seen {checked_through})",
        ledger.highest_acked
    );

    let puts = all_under(store, "/put/").await?;
    let present: BTreeMap<&str, &KeyValue> = puts.iter().map(|kv| (kv.key.as_str(), kv)).collect();
    for (key, acked) in &ledger.puts {
        let kv = present
            .get(key.as_str())
            .unwrap_or_else(|| panic!("boot {boot}: acknowledged put {key}@{acked} is lost"));
        assert_eq!(kv.mod_revision, *acked, "boot {boot}: {key}");
    }
    for kv in &puts {
        assert_eq!(
            kv.value,
            kv.key.as_bytes(),
            "boot {boot}: {} holds a value nobody wrote",
            kv.key
        );
    }

    let mut by_txn: BTreeMap<String, Vec<&KeyValue>> = BTreeMap::new();
    let txn_kvs = all_under(store, "/txn/").await?;
    for kv in &txn_kvs {
        let id = kv.key.split('/').nth(2).unwrap().to_owned();
        assert_eq!(
            kv.value,
            id.as_bytes(),
            "boot {boot}: {} holds a value nobody wrote",
            kv.key
        );
        by_txn.entry(id).or_default().push(kv);
    }
    for (id, kvs) in &by_txn {
        assert!(
            ledger.txns.contains_key(id),
            "boot {boot}: transaction {id} was never sent"
        );
        let revisions: BTreeSet<Revision> = kvs.iter().map(|kv| kv.mod_revision).collect();
        assert!(
            kvs.len() == 3 && revisions.len() == 1,
            "boot {boot}: transaction {id} is half-applied: {:?}",
            kvs.iter()
                .map(|kv| (&kv.key, kv.mod_revision))
                .collect::<Vec<_>>()
        );
    }
    for (id, acked) in &ledger.txns {
        if let Some(acked) = acked {
            let kvs = by_txn.get(id).unwrap_or_else(|| {
                panic!("boot {boot}: acknowledged transaction {id}@{acked} is lost")
            });
            assert_eq!(kvs[0].mod_revision, *acked, "boot {boot}: transaction {id}");
        }
    }
    // A transaction that granted its own lease came back with it: every
    // leased key names a lease that exists and lists exactly its keys.
    for (id, kvs) in &by_txn {
        if let Some(lease) = kvs[0].lease {
            let info = store
                .lease_time_to_live(lease)
                .await?
                .unwrap_or_else(|| panic!("boot {boot}: transaction {id}'s lease {lease} is gone"));
            let mut keys: Vec<String> = kvs.iter().map(|kv| kv.key.clone()).collect();
            keys.sort();
            assert_eq!(info.keys, keys, "boot {boot}: lease of transaction {id}");
        }
    }

    let counter = store.get(COUNTER).await?.map_or(0, |kv| parse_counter(&kv));
    assert!(
        counter >= ledger.counter_acked && counter <= ledger.counter_attempted,
        "boot {boot}: counter is {counter}, acknowledged up to {}, attempted up to {}",
        ledger.counter_acked,
        ledger.counter_attempted
    );
    check_event_log(store, checked_through + 1, revision, retain, boot).await?;
    Ok(revision)
}

/// Every revision in `from..=to` has events, in order, and they are one
/// write: a put, a whole three-key transaction, or one increment. Only the
/// last `retain` revisions are asked for: the older ones may be compacted.
async fn check_event_log(
    store: &RedbStore,
    from: Revision,
    to: Revision,
    retain: u64,
    boot: usize,
) -> Result<(), StoreError> {
    let from = from.max(to - i64::try_from(retain).unwrap() + 1);
    if from > to {
        return Ok(());
    }
    // Nothing is ever deleted or overwritten but the counter, so the keys
    // that last changed at `to` are all of its events: once they are in, the
    // log has been read to its end.
    let events_at_to = all_under(store, "/")
        .await?
        .iter()
        .filter(|kv| kv.mod_revision == to)
        .count();
    let mut watch = store.watch("", from).await?;
    let mut at: BTreeMap<Revision, Vec<String>> = BTreeMap::new();
    while at.get(&to).map_or(0, Vec::len) < events_at_to.max(1) {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap_or_else(|_| panic!("boot {boot}: the event log stops before revision {to}"))
            .unwrap_or_else(|| panic!("boot {boot}: the watch ended before revision {to}"))?;
        let revision = event.revision();
        assert!(
            revision >= from
                && revision <= to
                && at.keys().next_back().is_none_or(|r| *r <= revision),
            "boot {boot}: revision {revision} out of order in {from}..={to}"
        );
        at.entry(revision).or_default().push(event.kv.key);
    }
    assert_eq!(
        at.len() as i64,
        to - from + 1,
        "boot {boot}: the event log has holes in {from}..={to}"
    );
    for (revision, keys) in &at {
        let one_write = match keys.as_slice() {
            [key] => key == COUNTER || key.starts_with("/put/"),
            [first, ..] => {
                let id = first.split('/').nth(2).unwrap_or_default();
                let mut sorted = keys.clone();
                sorted.sort();
                sorted == txn_keys(id)
            }
            [] => false,
        };
        assert!(
            one_write,
            "boot {boot}: revision {revision} is not one write: {keys:?}"
        );
    }
    Ok(())
}

/// A checkpoint empties the log by writing zeros over its records, then
/// syncing. If the power fails between the two, write-back may have reached
/// some of those pages and not others, so the next boot finds zeros and old
/// records mixed — records redb already holds durably. The store must open
/// and have every write.
#[test]
fn a_log_torn_while_being_emptied_still_opens() {
    let options = RedbOptions {
        // Only the checkpoint on close empties the log.
        checkpoint_interval: Duration::from_secs(3600),
        ..RedbOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    const KEYS: usize = 200;
    let fill = |disk: &SimDisk| {
        let store = RedbStore::open_on(disk, STORE, options.clone()).unwrap();
        runtime.block_on(async {
            for i in 0..KEYS {
                store
                    .put(&format!("/k/{i}"), vec![7; 64], None)
                    .await
                    .unwrap();
            }
        });
        store
    };
    // Where the log's last sync falls in closing (the writes are sequential,
    // so every run does the same operations).
    let disk = SimDisk::default();
    let store = fill(&disk);
    let log = disk.contents(Path::new(WAL)).unwrap();
    assert!(
        log[PAGE..2 * PAGE].iter().any(|b| *b != 0),
        "the log's records should span several pages"
    );
    let opened = disk.history().len();
    drop(store);
    let closing = &disk.history()[opened..];
    let last_log_sync = closing
        .iter()
        .rposition(|(path, op)| path == Path::new(WAL) && *op == Operation::Sync)
        .expect("closing empties the log");
    assert_eq!(
        closing[last_log_sync - 1],
        (Path::new(WAL).to_path_buf(), Operation::Write),
        "the log is zeroed just before its last sync"
    );

    for seed in 0..16 {
        let disk = SimDisk::default();
        let store = fill(&disk);
        disk.arm(last_log_sync as u64 + 1);
        drop(store);
        let after = disk.reboot(Loss::TornPages, &mut StdRng::seed_from_u64(seed));
        let store = RedbStore::open_on(&after, STORE, options.clone())
            .unwrap_or_else(|e| panic!("seed {seed}: the store does not open: {e}"));
        let kept = runtime.block_on(all_under(&store, "/k/")).unwrap().len();
        assert_eq!(kept, KEYS, "seed {seed}");
    }
}

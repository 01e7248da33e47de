//! The whole conformance suite against the redb backend, one test per check so
//! failures name the behaviour and the checks run in parallel.

use std::sync::Arc;

use corridor_store::{RedbOptions, RedbStore, StateStore, conformance};
use tempfile::TempDir;

/// The directory must outlive the store; the check only sees the trait object.
fn fresh() -> (Arc<dyn StateStore>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap();
    (Arc::new(store), dir)
}

macro_rules! redb_checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _dir) = fresh();
                conformance::$name(store).await;
            }
        )*

        #[test]
        fn every_check_has_a_test() {
            let here = [$(stringify!($name)),*];
            let suite: Vec<_> = conformance::all().into_iter().map(|(name, _)| name).collect();
            assert_eq!(here.as_slice(), suite.as_slice());
        }
    };
}

redb_checks!(
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

/// `run_all` is what another backend calls; prove it drives every check.
#[tokio::test(flavor = "current_thread")]
async fn run_all_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    conformance::run_all(|| {
        opened += 1;
        let path = dir.path().join(format!("{opened}.redb"));
        async move {
            Arc::new(RedbStore::open(path, RedbOptions::default()).unwrap()) as Arc<dyn StateStore>
        }
    })
    .await;
    assert_eq!(opened, conformance::all().len());
}

/// The suite again with the write-ahead log off (a durable redb commit per
/// batch), so both commit paths keep etcd's semantics.
#[tokio::test(flavor = "current_thread")]
async fn run_all_without_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    conformance::run_all(|| {
        opened += 1;
        let path = dir.path().join(format!("{opened}.redb"));
        let options = RedbOptions {
            write_ahead_log: false,
            ..RedbOptions::default()
        };
        async move { Arc::new(RedbStore::open(path, options).unwrap()) as Arc<dyn StateStore> }
    })
    .await;
    assert_eq!(opened, conformance::all().len());
}

//! The conformance suite against a real etcd (started on free loopback
//! ports by `ThrowawayEtcd`, one fresh etcd per check because several checks
//! assert exact revision arithmetic), plus what only a networked store
//! shows: a store whose etcd goes away fails with errors instead of hanging.
//!
//! `make test` installs etcd first (scripts/install-etcd.sh). Without an
//! `etcd` on PATH these tests fail and say so.

use std::sync::Arc;
use std::time::Duration;

use corridor_store::etcd::testing::ThrowawayEtcd;
use corridor_store::{EtcdOptions, EtcdStore, StateStore, StoreError, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_etcd() {
    let mut version = String::new();
    for (name, check) in conformance::all() {
        let etcd = ThrowawayEtcd::start().await.unwrap();
        version = etcd.version().to_string();
        let store: Arc<dyn StateStore> = Arc::new(etcd.store().await.unwrap());
        let outcome = tokio::spawn(check(store)).await;
        if let Err(panic) = outcome {
            panic!("{name} failed on {version}: {panic}");
        }
    }
    eprintln!(
        "{} conformance checks passed on {version}",
        conformance::all().len()
    );
}

#[tokio::test]
async fn a_store_whose_etcd_is_gone_reports_errors() {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    // With nothing listening there is no election to wait for: the request
    // gives up after one timeout, not after the (here very long) failover.
    let mut options = etcd.options();
    options.timeout = Duration::from_secs(1);
    options.failover = Duration::from_secs(600);
    let store = EtcdStore::connect(options).await.unwrap();
    store.put("/k", b"v".to_vec(), None).await.unwrap();
    drop(etcd); // kills the process
    let failed = tokio::time::timeout(Duration::from_secs(30), store.get("/k"))
        .await
        .expect("a request to a dead etcd ends after the timeout");
    assert!(
        matches!(failed, Err(StoreError::Backend { .. })),
        "got {failed:?}"
    );
    let refused = EtcdStore::connect(EtcdOptions {
        endpoints: vec!["http://127.0.0.1:9".into()],
        timeout: Duration::from_millis(500),
        failover: Duration::from_millis(500),
        tls: None,
    })
    .await;
    assert!(refused.is_err(), "connected to nothing");
}

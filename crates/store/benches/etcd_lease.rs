//! What a lease costs on etcd: a transaction creating one key, next to the
//! same transaction with its key on a new lease (`txn_with_new_lease`), on
//! redb, a single-member etcd and a 3-member etcd, each on this machine.
//!
//! On redb the grant rides in the transaction's logged write; on etcd it
//! is a consensus write of its own before the transaction, so the pair
//! costs two round trips and two raft commits.
//!
//! Run: `cargo bench -p corridor-store --bench etcd_lease`
//! (`BENCH_SECS=<seconds per cell>`, default 3; `LEASE_BENCH_STORES=`
//! a comma-separated subset of `redb,etcd,etcd3`, the default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_store::etcd::testing::{ThrowawayCluster, ThrowawayEtcd};
use corridor_store::{Compare, NEW_LEASE, Op, RedbOptions, RedbStore, StateStore, Txn};

const WRITER_COUNTS: [usize; 2] = [1, 32];
const TTL: Duration = Duration::from_secs(60);

#[derive(Clone, Copy)]
enum Workload {
    /// Create one fresh key (what an alloc writes, without its lease).
    Txn,
    /// Grant a lease and create one fresh key on it.
    GrantAndTxn,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Txn => "txn",
            Workload::GrantAndTxn => "grant+txn",
        }
    }

    async fn step(self, store: &dyn StateStore, key: String) {
        match self {
            Workload::Txn => {
                let txn = Txn::new()
                    .when([Compare::absent(&key)])
                    .and_then([Op::put(&key, b"v".to_vec())]);
                assert!(store.txn(txn).await.expect("txn").succeeded);
            }
            Workload::GrantAndTxn => {
                let txn = Txn::new()
                    .when([Compare::absent(&key)])
                    .and_then([Op::put_with_lease(&key, b"v".to_vec(), NEW_LEASE)]);
                let leased = store.txn_with_new_lease(TTL, txn).await.expect("txn");
                assert!(leased.lease.is_some());
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `writers` tasks of `workload` for `duration`; prints a row.
async fn drive(
    label: &str,
    store: Arc<dyn StateStore>,
    workload: Workload,
    writers: usize,
    duration: Duration,
) {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    seq += 1;
                    let key = format!("/bench/{}/{writers}/{w}/{seq}", workload.name());
                    let began = Instant::now();
                    workload.step(store.as_ref(), key).await;
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer task panicked"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    println!(
        "{label:<14} {:<10} {writers:>7} {:>7} {:>9.0} {:>9.2} {:>9.2}",
        workload.name(),
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

async fn bench(label: &str, store: Arc<dyn StateStore>, duration: Duration) {
    for writers in WRITER_COUNTS {
        // Interleaved, so both workloads of a row pair share the moment's load.
        for workload in [Workload::Txn, Workload::GrantAndTxn] {
            drive(label, Arc::clone(&store), workload, writers, duration).await;
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let duration = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(3), Duration::from_secs_f64);
    let stores = std::env::var("LEASE_BENCH_STORES").unwrap_or_else(|_| "redb,etcd,etcd3".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{:<14} {:<10} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "store", "workload", "writers", "ops", "ops/s", "p50 ms", "p99 ms"
    );
    runtime.block_on(async {
        for store in stores.split(',') {
            match store.trim() {
                "redb" => {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let redb =
                        RedbStore::open(dir.path().join("bench.redb"), RedbOptions::default())
                            .expect("open redb");
                    bench("redb", Arc::new(redb), duration).await;
                }
                "etcd" => {
                    let etcd = ThrowawayEtcd::start().await.expect("etcd starts");
                    eprintln!("etcd: {}", etcd.version());
                    let store = etcd.store().await.expect("connect");
                    bench("etcd 1 member", Arc::new(store), duration).await;
                }
                "etcd3" => {
                    let cluster = ThrowawayCluster::start().await.expect("cluster starts");
                    let store = cluster.store().await.expect("connect");
                    bench("etcd 3 members", Arc::new(store), duration).await;
                }
                other => panic!("LEASE_BENCH_STORES: unknown store {other:?}"),
            }
        }
    });
}

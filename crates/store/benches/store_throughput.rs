//! Durable write throughput and latency: the redb store next to a single-node
//! etcd 3.4 on the same machine, with the same workloads.
//!
//! Run: `cargo bench -p corridor-store --bench store_throughput`
//! (`BENCH_SECS=<seconds per cell>` to change the default of 2 s; etcd comes
//! from `scripts/install-etcd.sh`; the benchmark fails, saying why, when it is missing).
//!
//! Workloads, each with 1 and 64 concurrent writers:
//! - `cas`: each writer compare-and-swaps its own key on its last mod_revision
//!   (the control plane's admission pattern, without contention);
//! - `put`: unconditional puts of 128-byte values.
//!
//! redb acknowledges only durable writes (its write-ahead log record, or
//! without the log its group commit, is fsync'd first). A single-node etcd
//! 3.4 applies and answers a write in parallel with its WAL fsync
//! (etcd-io/etcd#14370), so its single-writer latency is not a durable
//! acknowledgement; with 64 writers both are bound by fsyncs per batch.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_store::etcd::testing::ThrowawayEtcd;
use corridor_store::{Compare, CompareOp, Op, RedbOptions, RedbStore, Revision, StateStore, Txn};

const WRITER_COUNTS: [usize; 2] = [1, 64];
const VALUE: [u8; 128] = [0x5a; 128];

trait Workload: Send + 'static {
    fn step(&mut self) -> impl Future<Output = ()> + Send;
}

struct Row {
    backend: &'static str,
    workload: &'static str,
    writers: usize,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Row {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }

    fn print(&self) {
        println!(
            "{:<10} {:<5} {:>7} {:>9} {:>10.0} {:>9.2} {:>9.2}",
            self.backend,
            self.workload,
            self.writers,
            self.ops,
            self.ops as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Runs every writer until `duration` is up and collects each operation's latency.
async fn drive<W: Workload>(
    backend: &'static str,
    workload: &'static str,
    writers: Vec<W>,
    duration: Duration,
) -> Row {
    let count = writers.len();
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut writer| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let began = Instant::now();
                    writer.step().await;
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
    let row = Row {
        backend,
        workload,
        writers: count,
        ops: latencies.len(),
        elapsed,
        latencies,
    };
    row.print();
    row
}

struct StorePut {
    store: Arc<dyn StateStore>,
    prefix: String,
    seq: u64,
}

impl Workload for StorePut {
    async fn step(&mut self) {
        self.seq += 1;
        let key = format!("{}{}", self.prefix, self.seq % 64);
        self.store
            .put(&key, VALUE.to_vec(), None)
            .await
            .expect("put");
    }
}

struct StoreCas {
    store: Arc<dyn StateStore>,
    key: String,
    last: Revision,
}

impl Workload for StoreCas {
    async fn step(&mut self) {
        let txn = Txn::new()
            .when([Compare::mod_revision(
                &self.key,
                CompareOp::Equal,
                self.last,
            )])
            .and_then([Op::put(&self.key, VALUE)]);
        let response = self.store.txn(txn).await.expect("txn");
        assert!(response.succeeded, "an uncontended CAS lost");
        self.last = response.revision;
    }
}

/// Runs both workloads on one store; `label` names it in the table.
async fn bench_store(
    label: &'static str,
    store: Arc<dyn StateStore>,
    duration: Duration,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for writers in WRITER_COUNTS {
        let workload = (0..writers)
            .map(|w| StoreCas {
                store: Arc::clone(&store),
                key: format!("/bench/cas/{writers}/{w}"),
                last: 0,
            })
            .collect();
        rows.push(drive(label, "cas", workload, duration).await);
    }
    for writers in WRITER_COUNTS {
        let workload = (0..writers)
            .map(|w| StorePut {
                store: Arc::clone(&store),
                prefix: format!("/bench/put/{writers}/{w}/"),
                seq: 0,
            })
            .collect();
        rows.push(drive(label, "put", workload, duration).await);
    }
    rows
}

/// redb with the write-ahead log (the default) or a durable redb commit
/// per batch.
async fn bench_redb(label: &'static str, options: RedbOptions, duration: Duration) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("bench.redb"), options).expect("open redb");
    bench_store(label, Arc::new(store), duration).await
}

/// A throwaway single-node etcd through the same `StateStore` trait the
/// control plane uses (`EtcdStore`), so the comparison includes our mapping.
async fn bench_etcd(duration: Duration) -> Result<Vec<Row>, String> {
    let etcd = ThrowawayEtcd::start().await?;
    println!("etcd: {}", etcd.version());
    let store = etcd.store().await.map_err(|e| e.to_string())?;
    let rows = bench_store("etcd", Arc::new(store), duration).await;
    drop(etcd);
    Ok(rows)
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let duration = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(2), Duration::from_secs_f64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "store_throughput: {:?} per cell, {} CPUs, durable writes on both stores",
        duration,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:<5} {:>7} {:>9} {:>10} {:>9} {:>9}",
        "backend", "work", "writers", "ops", "ops/s", "p50 ms", "p99 ms"
    );
    runtime.block_on(async {
        bench_redb("redb", RedbOptions::default(), duration).await;
        let no_log = RedbOptions {
            write_ahead_log: false,
            ..RedbOptions::default()
        };
        bench_redb("redb-nowal", no_log, duration).await;
        // The comparison is the point of the benchmark: without etcd it
        // fails rather than print half a table that looks complete.
        if let Err(reason) = bench_etcd(duration).await {
            eprintln!(
                "FAILED: the etcd side of the comparison could not run: {reason} (scripts/install-etcd.sh installs etcd)"
            );
            std::process::exit(1);
        }
    });
}

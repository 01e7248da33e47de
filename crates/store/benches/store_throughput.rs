//! Durable write throughput and latency: the redb store next to a single-node
//! etcd 3.4 on the same machine, with the same workloads.
//!
//! Run: `cargo bench -p corridor-store --bench store_throughput`
//! (`BENCH_SECS=<seconds per cell>` to change the default of 2 s; etcd comes
//! from `scripts/install-etcd.sh`, and is skipped, saying why, when missing).
//!
//! Workloads, each with 1 and 64 concurrent writers:
//! - `cas`: each writer compare-and-swaps its own key on its last mod_revision
//!   (the control plane's admission pattern, without contention);
//! - `put`: unconditional puts of 128-byte values.
//!
//! Both stores acknowledge only durable writes: redb fsyncs each group commit,
//! etcd fsyncs its WAL before answering.

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

struct EtcdPut {
    kv: etcd_client::KvClient,
    prefix: String,
    seq: u64,
}

impl Workload for EtcdPut {
    async fn step(&mut self) {
        self.seq += 1;
        let key = format!("{}{}", self.prefix, self.seq % 64);
        self.kv.put(key, VALUE, None).await.expect("etcd put");
    }
}

struct EtcdCas {
    kv: etcd_client::KvClient,
    key: String,
    last: i64,
}

impl Workload for EtcdCas {
    async fn step(&mut self) {
        use etcd_client::{Compare, CompareOp, Txn, TxnOp};
        let txn = Txn::new()
            .when([Compare::mod_revision(
                self.key.clone(),
                CompareOp::Equal,
                self.last,
            )])
            .and_then([TxnOp::put(self.key.clone(), VALUE, None)]);
        let response = self.kv.txn(txn).await.expect("etcd txn");
        assert!(response.succeeded(), "an uncontended CAS lost");
        self.last = response.header().expect("etcd sends a header").revision();
    }
}

/// `label` names the configuration in the table: the default (write-ahead
/// log) or a durable redb commit per batch.
async fn bench_redb(label: &'static str, options: RedbOptions, duration: Duration) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("bench.redb"), options).expect("open redb"));
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

/// A throwaway single-node etcd on free loopback ports, killed (by pid) on drop.
struct Etcd {
    child: Child,
    endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn start_etcd() -> Result<Etcd, String> {
    let binary = find_on_path("etcd")
        .ok_or("no `etcd` on PATH (install it with scripts/install-etcd.sh)")?;
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let version = String::from_utf8_lossy(&version.stdout);
    println!(
        "etcd: {}",
        version.lines().next().unwrap_or("unknown version")
    );

    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let (client, peer) = (
        free_port().map_err(|e| e.to_string())?,
        free_port().map_err(|e| e.to_string())?,
    );
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = dir.path().join("etcd.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(&binary)
        .args(["--name", "bench", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("bench={peer_url}")])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start etcd: {e}"))?;
    Ok(Etcd {
        child,
        endpoint: client_url,
        log,
        _dir: dir,
    })
}

async fn connect_etcd(etcd: &mut Etcd) -> Result<etcd_client::Client, String> {
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut last_error = String::new();
    while Instant::now() < give_up {
        if let Ok(Some(status)) = etcd.child.try_wait() {
            let log = std::fs::read_to_string(&etcd.log).unwrap_or_default();
            let tail: Vec<_> = log.lines().rev().take(5).collect();
            return Err(format!("etcd exited with {status}: {}", tail.join(" | ")));
        }
        let options = etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(2));
        match etcd_client::Client::connect([&etcd.endpoint], Some(options)).await {
            Ok(mut client) => match client.put("/bench/ping", "", None).await {
                Ok(_) => return Ok(client),
                Err(e) => last_error = e.to_string(),
            },
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("etcd did not answer within 20 s: {last_error}"))
}

async fn bench_etcd(duration: Duration) -> Result<Vec<Row>, String> {
    let mut etcd = start_etcd()?;
    let client = connect_etcd(&mut etcd).await?;
    let mut rows = Vec::new();
    for writers in WRITER_COUNTS {
        let workload = (0..writers)
            .map(|w| EtcdCas {
                kv: client.kv_client(),
                key: format!("/bench/cas/{writers}/{w}"),
                last: 0,
            })
            .collect();
        rows.push(drive("etcd", "cas", workload, duration).await);
    }
    for writers in WRITER_COUNTS {
        let workload = (0..writers)
            .map(|w| EtcdPut {
                kv: client.kv_client(),
                prefix: format!("/bench/put/{writers}/{w}/"),
                seq: 0,
            })
            .collect();
        rows.push(drive("etcd", "put", workload, duration).await);
    }
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
        if let Err(reason) = bench_etcd(duration).await {
            println!("etcd     skipped: {reason}");
        }
    });
}

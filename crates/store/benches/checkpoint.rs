//! What a checkpoint costs the requests that arrive while it runs: the
//! embedded store under memqosd's alloc/free shape, with checkpoints written
//! behind the writer (the default) and, in the same run, with the writer
//! doing the checkpoint's I/O itself (`checkpoint_write_behind: false`, the
//! store before the write-behind), in alternating rounds.
//!
//! Run: `cargo bench -p corridor-store --bench checkpoint`
//! (`CHECKPOINT_BENCH_SECONDS`, default 8; `CHECKPOINT_BENCH_ROUNDS`, default 2).
//!
//! The shape: 10,000 live bundles, each an object of 1.5 kB, a grant, a
//! token (all three on a lease of their own) and a host version key, as
//! `FfmService::alloc` writes them; then 32 writers each allocate a bundle
//! the same way (`txn_with_new_lease`) and free it (`txn_then_revoke`), as
//! fast as the store answers. Every request's latency is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_store::{NEW_LEASE, Op, RedbOptions, RedbStore, StateStore, Txn};

const LIVE_BUNDLES: usize = 10_000;
const WRITERS: usize = 32;
const LEASE: Duration = Duration::from_secs(3600);

fn alloc(id: &str) -> Txn {
    Txn::new().and_then([
        Op::put_with_lease(format!("/ffm/bundles/{id}"), vec![b'o'; 1500], NEW_LEASE),
        Op::put_with_lease(format!("/ffm/grants/{id}"), vec![b'g'; 400], NEW_LEASE),
        Op::put_with_lease(format!("/ffm/tokens/{id}"), vec![b't'; 64], NEW_LEASE),
        Op::put("/ffm/ledger/hosts/h0", id.as_bytes().to_vec()),
    ])
}

fn free(id: &str) -> Txn {
    Txn::new().and_then([
        Op::delete(format!("/ffm/bundles/{id}")),
        Op::delete(format!("/ffm/grants/{id}")),
        Op::delete(format!("/ffm/tokens/{id}")),
        Op::put("/ffm/ledger/hosts/h0", id.as_bytes().to_vec()),
    ])
}

struct Round {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Round {
    fn quantile_ms(&self, q: f64) -> f64 {
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[index].as_secs_f64() * 1e3
    }
}

async fn run(write_behind: bool, duration: Duration) -> Round {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RedbOptions {
        checkpoint_write_behind: write_behind,
        ..RedbOptions::default()
    };
    let store = Arc::new(RedbStore::open(dir.path().join("store.redb"), options).expect("open"));
    for i in 0..LIVE_BUNDLES {
        store
            .txn_with_new_lease(LEASE, alloc(&format!("live-{i:05}")))
            .await
            .expect("fill");
    }
    let started = Instant::now();
    let deadline = started + duration;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let id = format!("w{writer}-{n}");
                    n += 1;
                    let began = Instant::now();
                    let leased = store
                        .txn_with_new_lease(LEASE, alloc(&id))
                        .await
                        .expect("alloc");
                    latencies.push(began.elapsed());
                    let lease = leased.lease.expect("granted");
                    let began = Instant::now();
                    store.txn_then_revoke(free(&id), lease).await.expect("free");
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for writer in writers {
        latencies.extend(writer.await.expect("writer"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Round {
        requests: latencies.len(),
        elapsed,
        latencies,
    }
}

fn main() {
    let seconds = std::env::var("CHECKPOINT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(8.0);
    let rounds = std::env::var("CHECKPOINT_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(2);
    let duration = Duration::from_secs_f64(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "checkpoint: {LIVE_BUNDLES} live bundles, {WRITERS} writers alloc+free, {seconds} s per round, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<6} {:<22} {:>9} {:>11} {:>8} {:>8} {:>8}",
        "round", "checkpoint I/O", "requests", "requests/s", "p50 ms", "p99 ms", "max ms"
    );
    for round in 1..=rounds {
        for (write_behind, label) in [(false, "on the writer (base)"), (true, "written behind")] {
            let result = runtime.block_on(run(write_behind, duration));
            println!(
                "{:<6} {:<22} {:>9} {:>11.0} {:>8.2} {:>8.2} {:>8.2}",
                round,
                label,
                result.requests,
                result.requests as f64 / result.elapsed.as_secs_f64(),
                result.quantile_ms(0.50),
                result.quantile_ms(0.99),
                result.quantile_ms(1.0),
            );
        }
    }
}

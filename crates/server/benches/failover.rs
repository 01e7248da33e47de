//! Leader failover: two corridord replicas (child processes, `--insecure-dev`)
//! on a throwaway etcd; each trial finds the leader (`corridor_leader 1` in
//! its `/metrics`), kills it with SIGKILL as a crash would, and times until
//! the other replica leads, i.e. has started the singleton work (corrd's
//! reconciler makes its first pass right then; its ticker fires at once).
//! The killed replica is replaced by a fresh follower before the next trial.
//!
//! `FAILOVER_BENCH_TRIALS` (default 20); `FAILOVER_BENCH_MEMBERS=3` runs on a
//! three-member etcd instead of one. A killed leader does not resign, so the
//! figure is bounded below by the leader lease's TTL (5 s): the follower
//! campaigns once the lease lapses.

mod support;

use std::time::{Duration, Instant};

use corridor_store::etcd::testing::{ThrowawayCluster, ThrowawayEtcd};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn replica(http: &reqwest::Client, etcd_args: &[String]) -> support::Server {
    let args: Vec<&str> = etcd_args.iter().map(String::as_str).collect();
    let server = support::Server::spawn_with(true, &args);
    support::wait_ready(
        http,
        &format!("http://{}", server.addr),
        Duration::from_secs(60),
    )
    .await;
    server
}

async fn run(endpoints: Vec<String>, label: &str) {
    let trials: usize = std::env::var("FAILOVER_BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let etcd_args: Vec<String> = endpoints
        .into_iter()
        .flat_map(|e| ["--etcd-endpoint".to_owned(), e])
        .collect();
    let http = reqwest::Client::new();
    let mut replicas = vec![
        replica(&http, &etcd_args).await,
        replica(&http, &etcd_args).await,
    ];
    let mut failovers = Vec::with_capacity(trials);
    for trial in 0..trials {
        let leader = support::leader_of(&http, &replicas, Duration::from_secs(30))
            .await
            .expect("a replica leads");
        let killed = Instant::now();
        replicas[leader].kill_now();
        let follower = 1 - leader;
        while !support::leads(&http, &replicas[follower]).await {
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "trial {trial}: the follower never took over"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        failovers.push(killed.elapsed());
        replicas[leader] = replica(&http, &etcd_args).await;
    }
    failovers.sort();
    println!(
        "failover [{label}]: leader killed -> other replica leads, {trials} trials: p50 {:.2} s, p99 {:.2} s, min {:.2} s, max {:.2} s",
        percentile(&failovers, 0.5).as_secs_f64(),
        percentile(&failovers, 0.99).as_secs_f64(),
        failovers[0].as_secs_f64(),
        failovers[failovers.len() - 1].as_secs_f64(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match std::env::var("FAILOVER_BENCH_MEMBERS").as_deref() {
            Ok("3") => {
                let cluster = ThrowawayCluster::start()
                    .await
                    .expect("etcd cluster starts");
                let label = format!("etcd 3 members ({})", cluster.version());
                run(cluster.endpoints(), &label).await;
            }
            _ => {
                let etcd = ThrowawayEtcd::start().await.expect("etcd starts");
                let label = format!("etcd 1 member ({})", etcd.version());
                run(vec![etcd.endpoint().to_owned()], &label).await;
            }
        }
    });
}

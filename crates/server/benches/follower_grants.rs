//! Time from a grant to lit lanes when the grant goes through a replica
//! that does not drive the optical plant: two corridord replicas (child
//! processes, `--insecure-dev`) on a throwaway one-member etcd. Each trial
//! posts a corridor to the follower (answered `provisioning`), then polls
//! `GET` on it every `POLL` until it reads `active` (lit by the leader's
//! reconciler, woken by its watch on the corridor objects), and releases
//! it through the follower; then the same request through the leader,
//! whose own grant answers `active` (its figure is the POST's latency).
//! The two alternate, so both see the same machine.
//!
//! `FOLLOWER_BENCH_TRIALS` (default 100). The follower's figure includes
//! up to one `POLL` of polling resolution.

mod support;

use std::time::{Duration, Instant};

use corridor_store::etcd::testing::ThrowawayEtcd;
use serde_json::{Value, json};

/// Between reads of a provisioning corridor.
const POLL: Duration = Duration::from_millis(2);
/// Longest a follower's grant may take to go active before the run fails.
const BOUND: Duration = Duration::from_secs(10);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn body() -> String {
    json!({
        "corridor_type": "SiCorridor",
        "lanes": 2,
        "lambda_nm": [1550, 1551],
        "min_gbps": 100,
        "latency_budget_ns": 250,
        "reach_mm": 75,
        "mode": "waveguide",
        "qos": {"pfc": false, "priority": "silver"},
        "attestation_required": false
    })
    .to_string()
}

/// Posts a corridor to `base`; its id and status.
async fn create(http: &reqwest::Client, base: &str) -> (String, String) {
    let response = http
        .post(format!("{base}/v1/corridors"))
        .header("content-type", "application/json")
        .body(body())
        .send()
        .await
        .expect("the POST is answered");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status.as_u16(), 201, "grant refused: {text}");
    let corridor: Value = serde_json::from_str(&text).expect("a corridor in JSON");
    (
        corridor["id"].as_str().expect("an id").to_owned(),
        corridor["status"].as_str().expect("a status").to_owned(),
    )
}

async fn status(http: &reqwest::Client, base: &str, id: &str) -> String {
    let corridor: Value = http
        .get(format!("{base}/v1/corridors/{id}"))
        .send()
        .await
        .expect("the GET is answered")
        .json()
        .await
        .expect("a corridor in JSON");
    corridor["status"].as_str().unwrap_or_default().to_owned()
}

async fn delete(http: &reqwest::Client, base: &str, id: &str) {
    let response = http
        .delete(format!("{base}/v1/corridors/{id}"))
        .send()
        .await
        .expect("the DELETE is answered");
    assert!(
        response.status().is_success(),
        "release refused: {}",
        response.status()
    );
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label}, {} corridors: p50 {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let trials: usize = std::env::var("FOLLOWER_BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let etcd = ThrowawayEtcd::start().await.expect("etcd starts");
        let args = ["--etcd-endpoint", etcd.endpoint()];
        let http = reqwest::Client::new();
        let replicas = vec![
            support::Server::spawn_with(true, &args),
            support::Server::spawn_with(true, &args),
        ];
        for r in &replicas {
            support::wait_ready(
                &http,
                &format!("http://{}", r.addr),
                Duration::from_secs(60),
            )
            .await;
        }
        let leader = support::leader_of(&http, &replicas, Duration::from_secs(30))
            .await
            .expect("a replica leads");
        let leader_base = format!("http://{}", replicas[leader].addr);
        let follower_base = format!("http://{}", replicas[1 - leader].addr);
        let mut through_follower = Vec::with_capacity(trials);
        let mut through_leader = Vec::with_capacity(trials);
        for trial in 0..trials {
            let posted = Instant::now();
            let (id, first) = create(&http, &follower_base).await;
            assert_eq!(
                first, "provisioning",
                "trial {trial}: the follower lit it itself"
            );
            loop {
                match status(&http, &follower_base, &id).await.as_str() {
                    "active" => break,
                    "provisioning" => {}
                    other => panic!("trial {trial}: {id} went {other}"),
                }
                assert!(
                    posted.elapsed() < BOUND,
                    "trial {trial}: {id} not active within {BOUND:?}"
                );
                tokio::time::sleep(POLL).await;
            }
            through_follower.push(posted.elapsed());
            delete(&http, &follower_base, &id).await;

            let posted = Instant::now();
            let (id, first) = create(&http, &leader_base).await;
            through_leader.push(posted.elapsed());
            assert_eq!(
                first, "active",
                "trial {trial}: the leader's own grant is not lit"
            );
            delete(&http, &leader_base, &id).await;
        }
        let label = format!("etcd 1 member ({})", etcd.version());
        summary(
            &format!("follower_grants [{label}]: POST via follower -> GET reads active"),
            through_follower,
        );
        summary(
            &format!("follower_grants [{label}]: POST via leader -> answered active"),
            through_leader,
        );
    });
}

//! Fabric paths end to end on the twin's FM API switches: 16 clients each creating and
//! deleting paths for a fixed time, on a redb store. Side by side in one run:
//!
//! - `host → MLD (FM API)`: host-to-device HBR paths, each create binding a vPPB and
//!   writing the device's QoS vectors over FM API (read back), each delete undoing it;
//! - `device → device (admission only)`: PBR paths whose routing is modelled, so the
//!   same admission and store transactions without FM API programming — the baseline.
//!
//! After each run the ledger's watch history is replayed from the run's first revision:
//! no port key ever held more than its admissible share. Target: ≥ 500 create+delete/s.
//!
//! Run: `nice -n 15 cargo bench -p corridor-services --bench fabric_paths`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_hal::{ManualClock, Topology};
use corridor_model::corridor::QosPriority;
use corridor_model::fabric::{FabricPathRequest, FabricQos, PathType};
use corridor_model::units::{Gbps, Nanoseconds};
use corridor_services::ControlPlane;
use corridor_services::fabman::ledger::{LEDGER_PREFIX, PortShares};
use corridor_store::{EventKind, RedbOptions, RedbStore, StateStore};
use futures::StreamExt;

const CLIENTS: usize = 16;
const RUN: Duration = Duration::from_secs(8);

fn request(source: &str, target: &str, path_type: PathType) -> FabricPathRequest {
    FabricPathRequest {
        source_device: source.into(),
        target_device: target.into(),
        path_type,
        bandwidth_gbps: Gbps(10.0),
        latency_ns: Nanoseconds(300),
        qos: FabricQos {
            priority: QosPriority::Silver,
            min_bandwidth_gbps: Gbps(5.0),
            max_latency_ns: Nanoseconds(400),
            pfc: true,
            ecn: false,
        },
    }
}

fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn run(label: &str, plane: &Arc<ControlPlane>, requests: Vec<FabricPathRequest>) {
    let from = plane
        .store
        .range(corridor_store::RangeRequest::prefix("/none"))
        .await
        .unwrap()
        .revision
        + 1;
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let plane = Arc::clone(plane);
        let asked = requests[i % requests.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut refused = std::collections::BTreeMap::<String, usize>::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                match plane.paths.create(asked.clone()).await {
                    Ok(path) => {
                        plane.paths.delete(&path.id, None).await.expect("deletes");
                        times.push(start.elapsed());
                    }
                    // A 503 (contention) or 409: counted by reason, and the client goes on.
                    Err(e) => {
                        let problem = corridor_services::error::ToProblem::to_problem(&e);
                        let reason = problem.reason.unwrap_or_else(|| problem.status.to_string());
                        *refused.entry(reason).or_default() += 1;
                    }
                }
            }
            (times, refused)
        }));
    }
    let mut times = Vec::new();
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for task in tasks {
        let (t, r) = task.await.unwrap();
        times.extend(t);
        for (reason, n) in r {
            *reasons.entry(reason).or_default() += n;
        }
    }
    let refused: usize = reasons.values().sum();
    times.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rate = times.len() as f64 / RUN.as_secs_f64();
    println!(
        "{label:<32} {CLIENTS} clients: {rate:>7.0} create+delete/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} pairs, {refused} refused{})",
        percentile_ms(&times, 0.5),
        percentile_ms(&times, 0.99),
        times.len(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(": {reasons:?}")
        }
    );
    // Replay the ledger's history: no port key ever above its admissible share.
    let to = plane
        .store
        .range(corridor_store::RangeRequest::prefix("/none"))
        .await
        .unwrap()
        .revision;
    let mut watch = plane.store.watch(LEDGER_PREFIX, from).await.unwrap();
    let mut peak: HashMap<String, f64> = HashMap::new();
    while let Some(event) = watch.next().await {
        let event = event.unwrap();
        if event.kind == EventKind::Put {
            let shares: PortShares = serde_json::from_slice(&event.kv.value).unwrap();
            let held = shares.held_gbps();
            let entry = peak.entry(event.kv.key.clone()).or_default();
            *entry = entry.max(held);
        }
        if event.revision() >= to {
            break;
        }
    }
    // The tightest port of these paths, cxl-dev-002's x8: 192 Gb/s admissible.
    for (key, held) in &peak {
        assert!(*held <= 192.0 + 1e-9, "{key} held {held} Gb/s");
    }
    println!(
        "{:<32} ledger replay: {} port keys, peak {:.0} Gb/s held, none over its share",
        "",
        peak.len(),
        peak.values().copied().fold(0.0, f64::max)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    // An empty fabric, as before the twin had standing paths: the ports' whole admissible
    // bandwidth is the benchmark's.
    let topology = Topology::default_twin().without_standing_paths();
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    let plane = Arc::new(
        ControlPlane::start(store, Arc::new(topology), clock)
            .await
            .unwrap(),
    );
    let hosts: Vec<FabricPathRequest> = ["h0", "h1", "h2", "h3"]
        .iter()
        .flat_map(|h| {
            [
                request(h, "cxl-dev-001", PathType::Hbr),
                request(h, "cxl-dev-003", PathType::Hbr),
            ]
        })
        .collect();
    run("host → MLD (FM API)", &plane, hosts).await;
    // cxl-dev-003 and cxl-dev-004 sit on different switches: 480 ns modelled, so the
    // bound is widened for both pairs alike.
    let peers: Vec<FabricPathRequest> = [
        ("cxl-dev-001", "cxl-dev-002"),
        ("cxl-dev-003", "cxl-dev-004"),
    ]
    .iter()
    .map(|(a, b)| {
        let mut r = request(a, b, PathType::Pbr);
        r.qos.max_latency_ns = Nanoseconds(600);
        r
    })
    .collect();
    run("device → device (admission only)", &plane, peers).await;
}

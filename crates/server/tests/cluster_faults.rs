//! Cluster mode under process and network faults, checked for
//! linearizability.
//!
//! Three real `corridord` processes share a three-member etcd; each reaches
//! the members through TCP proxies this test controls. Clients grant and
//! release corridors through the replicas while, in turn:
//!
//! 0. the etcd leader (a member process) is killed: corridor operations go
//!    on succeeding on the two members left;
//! 1. the corridord leader is stopped (SIGSTOP) past its lease: another
//!    replica leads within 10 s; resumed (SIGCONT), the old leader steps
//!    down and the leader key stays with the new one (its late writes carry
//!    a fencing token etcd no longer matches);
//! 2. the (new) leader is cut off from etcd at its proxies past its lease:
//!    another leads within 10 s, the cut-off one steps down; healed, it
//!    serves again as a follower;
//! 3. the leader is killed with SIGKILL: another leads within 10 s.
//!
//! Half the clients grant and release corridors, half allocate and free
//! memory bundles: each replica's memqosd serves its own host (`--ffm-host
//! h<i>`), and a client allocates for the host of the replica it talks to.
//!
//! Every corridor operation is recorded (invocation, completion, outcome) and
//! the history is checked for linearizability against the grant ledger
//! ([`linearizable`]); the store's revision history of corridor objects is
//! replayed (no port lane ever held twice), and every acknowledged grant not
//! released is still there at the end. The store's history of memory grants
//! is replayed too: at no revision may a device hold more bytes or floor
//! bandwidth than it has; every acknowledged bundle not freed is still there,
//! every acknowledged free is gone, and every replica allocated some.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{PortLane, leader_gauge_within, leads, port_lanes, replay_corridors};
use common::process::{Corridord, command};
use common::tcp_proxy::TcpProxy;
use corridor_client::ClientError;
use corridor_model::corridor::{Corridor, CorridorRequest};
use corridor_model::ffm::{FfmAllocRequest, FfmBundle, LatencyClass, Persistence};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_services::leadership::LEADER_KEY;
use corridor_store::StateStore;
use corridor_store::etcd::testing::ThrowawayCluster;
use linearizable::{Action, Operation, Outcome};
use tokio::sync::Mutex;

mod common;
// Not in `common`: its unit tests would run in every test binary.
#[path = "common/linearizable.rs"]
mod linearizable;

/// Concurrent clients. 32 keep both cores of a 2-core machine busy with
/// three debug-build daemons and three etcd members, and the run stays
/// well inside its time budget.
const CLIENTS: usize = 32;
/// A client gives up waiting for an answer after this (the outcome is then
/// unknown) and turns to another replica.
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a fault lasts: longer than the leader lease (5 s).
const FAULT: Duration = Duration::from_secs(8);
/// The longest the cluster may go without a leader after a fault.
const FAILOVER_BOUND: Duration = Duration::from_secs(10);
/// How long a replica healed from a partition may take to serve again as
/// a follower (its etcd client reconnects; its singleton work, stuck in
/// store calls while it was cut off, has stopped).
const REJOIN_BOUND: Duration = Duration::from_secs(15);
/// How long a resumed leader has to notice it no longer leads (its timers
/// have all expired: it notices on its first turn) and stop its work.
const RESUMED_STEP_DOWN: Duration = Duration::from_secs(3);
/// How long a leader cut off from etcd may go on leading: its lease's TTL
/// (5 s) from its last renewal, which came before the cut, plus time to
/// stop the singleton work.
const CUT_OFF_STEP_DOWN: Duration = Duration::from_millis(6_500);
/// How long the test lets the cluster run on after the etcd leader dies:
/// etcd elects another within its election timeout (1 s by default), and
/// the replicas' clients move to the members left. 4 s was once too short
/// in a clean-clone `make test` on the project's 2-vCPU VM (three etcd
/// members, three replicas and the load sharing two CPUs, no operation
/// acknowledged in time); a cluster that does not recover still fails.
const ETCD_RECOVERY: Duration = Duration::from_secs(8);
/// How long after a replica dies its bundles say `HostLost`: its host key's
/// lease (5 s), then a surviving memqosd's watch and writes.
const HOST_LOST_BOUND: Duration = Duration::from_secs(10);
/// How long a scrape announcing a 1 s timeout may take to answer: corridord
/// reads resources for 80 % of it, then encodes.
const SCRAPE_ANSWER: Duration = Duration::from_secs(2);

fn request(op: &str) -> CorridorRequest {
    let mut request: CorridorRequest = serde_json::from_str(
        r#"{"corridor_type": "SiCorridor", "lanes": 2, "lambda_nm": [1550, 1551],
            "min_gbps": 100, "latency_budget_ns": 250, "reach_mm": 75,
            "mode": "waveguide", "qos": {"pfc": true, "priority": "gold"},
            "attestation_required": false}"#,
    )
    .unwrap();
    // Names the operation, so a grant whose answer was lost can be found.
    request.labels.insert("op".into(), op.to_owned());
    request
}

/// A memory bundle for `host`: 1 MiB of DRAM (T1) at a 40 GB/s floor, so a
/// host's DRAM device (153.75 GB/s admissible) holds three at once and the
/// clients of one replica contend for it.
fn bundle_request(host: &str, op: &str) -> FfmAllocRequest {
    FfmAllocRequest {
        bytes: Bytes(1 << 20),
        latency_class: LatencyClass::T1,
        bandwidth_floor_gbs: GigabytesPerSecond(40.0),
        persistence: Persistence::None,
        shareable: true,
        security_domain: "tenantA".into(),
        host: Some(host.to_owned()),
        policy_lease_ttl_s: None,
        labels: [("op".to_owned(), op.to_owned())].into(),
    }
}

/// The host replica `index` serves.
fn host_of(index: usize) -> String {
    format!("h{index}")
}

/// One memory-bundle operation as a client saw it.
#[derive(Debug, Clone)]
struct BundleOp {
    /// The bundle's id, or `label:<op>` while an alloc's outcome is unknown.
    bundle: String,
    host: String,
    alloc: bool,
    outcome: Outcome,
}

type BundleHistory = Arc<Mutex<Vec<BundleOp>>>;

/// One corridord child and the proxies between it and each etcd member.
struct Replica {
    daemon: Corridord,
    proxies: Vec<TcpProxy>,
    log: PathBuf,
    _state: tempfile::TempDir,
}

impl Replica {
    /// Starts replica `index`, its log in `logs` (kept when the test fails).
    async fn start(etcd: &ThrowawayCluster, logs: &std::path::Path, index: usize) -> Replica {
        let state = tempfile::tempdir().unwrap();
        let mut proxies = Vec::new();
        for endpoint in etcd.endpoints() {
            proxies.push(TcpProxy::start(endpoint.trim_start_matches("http://")).await);
        }
        let log = logs.join(format!("replica-{index}.log"));
        let mut command = command();
        // Port 0: the kernel picks a free port as corridord binds, and the
        // log says which (a port found free beforehand can be taken by the
        // time corridord binds it: seen once, a proxy of this test got it and
        // answered /readyz for the dead replica with etcd's "ok").
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(state.path())
            .args(["--insecure-dev", "--log", "info", "--no-ring-tracking"])
            .arg("--ffm-host")
            .arg(host_of(index))
            // A file, not a pipe: nobody drains a pipe while the test runs.
            .stderr(std::fs::File::create(&log).unwrap());
        for proxy in &proxies {
            command
                .arg("--etcd-endpoint")
                .arg(format!("http://{}", proxy.addr()));
        }
        let mut daemon = Corridord::spawn(command, state.path(), 0, false);
        let port = listening_port(&mut daemon, &log).await;
        daemon.set_port(port);
        Replica {
            daemon,
            proxies,
            log,
            _state: state,
        }
    }

    /// Waits for /readyz; on failure the panic shows the daemon's log.
    async fn ready(&mut self) {
        use futures::FutureExt;
        let waited = std::panic::AssertUnwindSafe(self.daemon.ready())
            .catch_unwind()
            .await;
        if let Err(panic) = waited {
            eprintln!("corridord's log:\n{}", self.log_since(0));
            std::panic::resume_unwind(panic);
        }
    }

    fn base(&self) -> String {
        self.daemon.base()
    }

    fn partition(&self) {
        self.proxies.iter().for_each(TcpProxy::partition);
    }

    fn heal(&self) {
        self.proxies.iter().for_each(TcpProxy::heal);
    }

    /// The log from byte `from` on.
    fn log_since(&self, from: u64) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&text[(from as usize).min(text.len())..]).into_owned()
    }

    fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }
}

/// The port corridord logged it listens on ("corridord listening", its
/// `addr`), waiting for the line; panics with the log if it exits first.
async fn listening_port(daemon: &mut Corridord, log: &std::path::Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(record) = serde_json::from_str::<serde_json::Value>(line)
                && record["message"] == "corridord listening"
                && let Some(addr) = record["addr"].as_str()
            {
                return addr
                    .parse::<std::net::SocketAddr>()
                    .unwrap_or_else(|e| panic!("corridord logged {addr:?}: {e}"))
                    .port();
            }
        }
        if !daemon.running() {
            panic!("corridord exited before listening; its log:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "corridord never logged where it listens; its log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Which replicas are healthy (neither stopped, cut off nor killed).
struct Cluster {
    replicas: Vec<Replica>,
    healthy: Vec<bool>,
    http: reqwest::Client,
}

impl Cluster {
    /// The healthy replica that leads, waiting up to `bound` from `since`;
    /// panics if two healthy replicas lead at once, or none by then.
    async fn leader_within(&self, since: Instant, bound: Duration, what: &str) -> usize {
        loop {
            let mut leading = Vec::new();
            for (i, replica) in self.replicas.iter().enumerate() {
                if self.healthy[i] && leads(&self.http, &replica.base()).await {
                    leading.push(i);
                }
            }
            assert!(leading.len() <= 1, "{what}: replicas {leading:?} all lead");
            if let Some(&i) = leading.first() {
                return i;
            }
            assert!(
                since.elapsed() < bound,
                "{what}: no replica led within {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `bound` from `since` until replica `i` logs (after byte
    /// `log_from`) that it no longer leads; how long that took.
    async fn notices_within(
        &self,
        i: usize,
        log_from: u64,
        since: Instant,
        bound: Duration,
        what: &str,
    ) -> Duration {
        let replica = &self.replicas[i];
        while !replica.log_since(log_from).contains("no longer leading") {
            assert!(
                since.elapsed() < bound,
                "{what}: replica {i} still leads after {bound:?} (it logged no step-down)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        since.elapsed()
    }

    /// Waits up to `bound` from `since` until replica `i` answers that it
    /// does not lead (its singleton work has stopped).
    async fn follows_within(&self, i: usize, since: Instant, bound: Duration, what: &str) {
        loop {
            let gauge = leader_gauge_within(&self.http, &self.replicas[i].base(), bound).await;
            if gauge == Some(false) {
                return;
            }
            assert!(
                since.elapsed() < bound,
                "{what}: replica {i} reports {gauge:?} as corridor_leader after {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The leader key as etcd holds it: (create revision, value).
async fn leader_key(store: &dyn StateStore) -> (i64, String) {
    let kv = store
        .get(LEADER_KEY)
        .await
        .unwrap()
        .expect("someone holds the leader key");
    (
        kv.create_revision,
        String::from_utf8_lossy(&kv.value).into_owned(),
    )
}

type History = Arc<Mutex<Vec<Operation<PortLane>>>>;
/// How many refusals of each kind (the problem's reason, or "unreachable").
type Refusals = Arc<Mutex<BTreeMap<String, usize>>>;

/// What a client makes of an answer (or its absence).
enum Answer<T> {
    Ok(T),
    /// The server refused (4xx: the reason), or no server could be reached
    /// at all: no effect.
    Failed(String),
    /// A timeout, a broken connection, a 5xx: it may or may not have
    /// taken effect.
    Unknown,
}

fn classify<T>(answer: Result<Result<T, ClientError>, tokio::time::error::Elapsed>) -> Answer<T> {
    match answer {
        Ok(Ok(value)) => Answer::Ok(value),
        Ok(Err(ClientError::Api { problem })) if problem.status < 500 => Answer::Failed(format!(
            "{} {}",
            problem.status,
            problem.reason.unwrap_or_default()
        )),
        Ok(Err(ClientError::Transport { source, .. })) if source.is_connect() => {
            Answer::Failed("unreachable".into())
        }
        _ => Answer::Unknown,
    }
}

struct Worker {
    index: usize,
    /// One multi-address client per starting replica; a client moves to
    /// the next after an unknown outcome (a paused replica answers
    /// nothing, so the multi-address client's own failover, which moves
    /// on refused connections only, would wait on it).
    clients: Vec<corridor_client::Client>,
    current: usize,
    started: Instant,
    history: History,
    bundles: BundleHistory,
    refusals: Refusals,
}

impl Worker {
    fn now(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn client(&self) -> &corridor_client::Client {
        &self.clients[self.current % self.clients.len()]
    }

    fn turn(&mut self) {
        self.current += 1;
    }

    async fn record(&self, op: Operation<PortLane>) {
        self.history.lock().await.push(op);
    }

    /// The outcome of `answer`, counting a refusal by its reason.
    async fn outcome<T>(&self, answer: Answer<T>) -> (Outcome, Option<T>) {
        match answer {
            Answer::Ok(value) => (Outcome::Ok, Some(value)),
            Answer::Failed(reason) => {
                *self.refusals.lock().await.entry(reason).or_default() += 1;
                (Outcome::Failed, None)
            }
            Answer::Unknown => (Outcome::Unknown, None),
        }
    }

    async fn run(self, stop: Arc<AtomicBool>) {
        if self.index.is_multiple_of(2) {
            self.run_corridors(stop).await;
        } else {
            self.run_bundles(stop).await;
        }
    }

    /// Allocates bundles for the host of the replica it talks to, holds each
    /// 0–100 ms and frees it.
    async fn run_bundles(mut self, stop: Arc<AtomicBool>) {
        let mut n = 0;
        let mut seed = 0xD1B5_4A32_D192_ED03u64 ^ (self.index as u64 + 1);
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let label = format!("b{}-{n}", self.index);
            let host = host_of(self.current % self.clients.len());
            let answer = classify(
                tokio::time::timeout(
                    OP_TIMEOUT,
                    self.client().ffm_alloc(&bundle_request(&host, &label)),
                )
                .await,
            );
            let (outcome, handle) = self.outcome(answer).await;
            let bundle = handle.map(|h| h.bundle);
            self.bundles.lock().await.push(BundleOp {
                bundle: bundle
                    .as_ref()
                    .map_or_else(|| format!("label:{label}"), |b| b.id.clone()),
                host: host.clone(),
                alloc: true,
                outcome,
            });
            match (outcome, bundle) {
                (Outcome::Ok, Some(bundle)) => {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    tokio::time::sleep(Duration::from_millis(seed % 100)).await;
                    self.free_bundle(&bundle).await;
                }
                (Outcome::Unknown, _) => {
                    self.turn();
                    if let Some(bundle) = self.find_bundle(&label).await {
                        self.free_bundle(&bundle).await;
                    }
                }
                _ => {
                    // Refused (the host's memory is full, or the replica no
                    // longer serves it): try another replica's host next.
                    self.turn();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The bundle an unknown alloc made, if it made one and a replica answers.
    async fn find_bundle(&mut self, label: &str) -> Option<FfmBundle> {
        for _ in 0..3 {
            match tokio::time::timeout(OP_TIMEOUT, self.client().ffm_list()).await {
                Ok(Ok(found)) => {
                    return found
                        .into_iter()
                        .find(|b| b.meta.labels.get("op").map(String::as_str) == Some(label));
                }
                _ => self.turn(),
            }
        }
        None
    }

    /// Frees `bundle` through whichever replica answers, trying again while
    /// the outcome is unknown.
    async fn free_bundle(&mut self, bundle: &FfmBundle) {
        for _ in 0..5 {
            let answer = classify(
                tokio::time::timeout(OP_TIMEOUT, self.client().ffm_delete(&bundle.id)).await,
            );
            let (outcome, _) = self.outcome(answer).await;
            self.bundles.lock().await.push(BundleOp {
                bundle: bundle.id.clone(),
                host: bundle.host.clone(),
                alloc: false,
                outcome,
            });
            if outcome != Outcome::Unknown {
                return;
            }
            self.turn();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn run_corridors(mut self, stop: Arc<AtomicBool>) {
        let mut n = 0;
        // A cheap per-client jitter for how long a grant is held.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (self.index as u64 + 1);
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let label = format!("c{}-{n}", self.index);
            let invoke = self.now();
            let answer = classify(
                tokio::time::timeout(OP_TIMEOUT, self.client().create_corridor(&request(&label)))
                    .await,
            );
            let complete = self.now();
            let (outcome, corridor) = self.outcome(answer).await;
            self.record(Operation {
                client: self.index,
                invoke,
                complete: (outcome != Outcome::Unknown).then_some(complete),
                outcome,
                // An unknown grant is named by its label until the store's
                // history tells which corridor (if any) it made.
                corridor: corridor
                    .as_ref()
                    .map_or_else(|| format!("label:{label}"), |c| c.id.clone()),
                action: Action::Grant(corridor.as_ref().map(port_lanes).unwrap_or_default()),
            })
            .await;
            match (outcome, corridor) {
                (Outcome::Ok, Some(corridor)) => {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    tokio::time::sleep(Duration::from_millis(seed % 100)).await;
                    self.release(&corridor).await;
                }
                (Outcome::Unknown, _) => {
                    self.turn();
                    // Release what it made, if it made anything; otherwise
                    // the store's history settles it at the end.
                    if let Some(corridor) = self.find(&label).await {
                        self.release(&corridor).await;
                    }
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The corridor an unknown grant made, if it made one and a replica
    /// answers.
    async fn find(&mut self, label: &str) -> Option<Corridor> {
        for _ in 0..3 {
            let selector = format!("op={label}");
            match tokio::time::timeout(OP_TIMEOUT, self.client().corridors(Some(&selector))).await {
                Ok(Ok(mut found)) => return found.pop(),
                _ => self.turn(),
            }
        }
        None
    }

    /// Releases `corridor`, trying again (each try its own operation)
    /// while the outcome is unknown.
    async fn release(&mut self, corridor: &Corridor) {
        let lanes = port_lanes(corridor);
        for _ in 0..5 {
            let invoke = self.now();
            let answer = classify(
                tokio::time::timeout(OP_TIMEOUT, self.client().delete_corridor(&corridor.id)).await,
            );
            let complete = self.now();
            let (outcome, _) = self.outcome(answer).await;
            self.record(Operation {
                client: self.index,
                invoke,
                complete: (outcome != Outcome::Unknown).then_some(complete),
                outcome,
                corridor: corridor.id.clone(),
                action: Action::Release(lanes.clone()),
            })
            .await;
            if outcome != Outcome::Unknown {
                return;
            }
            self.turn();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_pause_partition_and_kill_keep_grants_linearizable() {
    let test_started = Instant::now();
    // The replicas' logs, removed when the test passes.
    let logs = std::env::temp_dir().join(format!(
        "cluster-faults-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    ));
    std::fs::create_dir_all(&logs).unwrap();
    eprintln!(
        "replica logs in {} (removed if the test passes)",
        logs.display()
    );
    let mut etcd = ThrowawayCluster::start().await.unwrap();
    let direct = etcd.store().await.unwrap();
    let mut replicas = Vec::new();
    // All at once, as a cluster's replicas come up: every fabmand creates
    // the topology's standing fabric paths on the empty store together, and
    // each must start (the first grant of each path commits, the others
    // adopt it).
    for index in 0..3 {
        replicas.push(Replica::start(&etcd, &logs, index).await);
    }
    for replica in &mut replicas {
        replica.ready().await;
    }
    let standing = direct
        .range(corridor_store::RangeRequest::prefix(
            corridor_services::Registry::<corridor_model::fabric::FabricPath>::prefix(),
        ))
        .await
        .unwrap()
        .kvs;
    assert_eq!(
        standing.len(),
        corridor_hal::Topology::default_twin()
            .standing_cxl_paths()
            .len(),
        "one of each standing fabric path"
    );
    let bases: Vec<String> = replicas.iter().map(Replica::base).collect();
    let mut cluster = Cluster {
        healthy: vec![true; replicas.len()],
        replicas,
        http: reqwest::Client::new(),
    };
    eprintln!("cluster up in {:.1?}", test_started.elapsed());

    let history: History = Arc::default();
    let bundles: BundleHistory = Arc::default();
    let refusals: Refusals = Arc::default();
    // What each memory device may hold, as memqosd admits it.
    let tiers = corridor_client::Client::new(&bases[0])
        .unwrap()
        .ffm_tiers()
        .await
        .unwrap();
    let limits: BTreeMap<String, (u64, f64)> = tiers
        .devices
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                (d.capacity_bytes.get(), d.admission_gbs.get() * 1000.0),
            )
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for index in 0..CLIENTS {
        let clients = (0..bases.len())
            .map(|first| {
                let order: Vec<&str> = (0..bases.len())
                    .map(|i| bases[(first + i) % bases.len()].as_str())
                    .collect();
                corridor_client::Client::new(&order.join(",")).unwrap()
            })
            .collect();
        let worker = Worker {
            index,
            clients,
            current: index,
            started,
            history: Arc::clone(&history),
            bundles: Arc::clone(&bundles),
            refusals: Arc::clone(&refusals),
        };
        workers.push(tokio::spawn(worker.run(Arc::clone(&stop))));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 0. The etcd leader (a member process) is killed: the two left keep a
    // quorum, and the replicas' etcd clients move to them.
    let etcd_leader = etcd.leader().await.unwrap();
    let etcd_killed_at = started.elapsed().as_micros() as u64;
    let member_killed = Instant::now();
    etcd.kill(etcd_leader);
    tokio::time::sleep(ETCD_RECOVERY).await;
    let served_since = history
        .lock()
        .await
        .iter()
        .filter(|op| op.outcome == Outcome::Ok && op.invoke > etcd_killed_at)
        .count();
    assert!(
        served_since > 0,
        "no corridor operation succeeded within {ETCD_RECOVERY:?} of the etcd leader's death"
    );
    eprintln!(
        "killed etcd member {etcd_leader} (the leader): {served_since} corridor operations acknowledged in the {:.1?} after",
        member_killed.elapsed()
    );

    // 1. The leader pauses past its lease.
    let paused = cluster
        .leader_within(Instant::now(), FAILOVER_BOUND, "before the pause")
        .await;
    let stopped_at = Instant::now();
    cluster.replicas[paused].daemon.signal(libc::SIGSTOP);
    cluster.healthy[paused] = false;
    let successor = cluster
        .leader_within(stopped_at, FAILOVER_BOUND, "leader paused")
        .await;
    eprintln!(
        "paused replica {paused}: replica {successor} leads after {:.1?}",
        stopped_at.elapsed()
    );
    let held = leader_key(&direct).await;
    assert!(held.1.contains(cluster.replicas[successor].daemon.addr()));
    tokio::time::sleep(FAULT.saturating_sub(stopped_at.elapsed())).await;
    let log_at_resume = cluster.replicas[paused].log_len();
    let resumed_at = Instant::now();
    cluster.replicas[paused].daemon.signal(libc::SIGCONT);
    // Resumed, it may still think it leads for a moment (it has not yet
    // noticed); whatever it writes then carries its old token, which etcd
    // refuses. It must notice and stop.
    let noticed = cluster
        .notices_within(
            paused,
            log_at_resume,
            resumed_at,
            RESUMED_STEP_DOWN,
            "resumed leader",
        )
        .await;
    cluster
        .follows_within(paused, resumed_at, RESUMED_STEP_DOWN, "resumed leader")
        .await;
    cluster.healthy[paused] = true;
    assert_eq!(
        leader_key(&direct).await,
        held,
        "the resumed leader took the key back"
    );
    assert_eq!(
        cluster
            .leader_within(resumed_at, FAILOVER_BOUND, "after the resume")
            .await,
        successor
    );
    let after_resume = cluster.replicas[paused].log_since(log_at_resume);
    // Writes it tried before noticing, refused by the fence (its leader
    // key's create revision is no longer the key's): how many depends on
    // which of its timers fired first.
    let refused = after_resume
        .matches("leadership lost: /leader/corridord was created")
        .count();
    eprintln!(
        "resumed replica {paused} noticed it no longer leads after {noticed:.1?}; the fence refused {refused} of its writes"
    );

    // 2. The leader is cut off from etcd past its lease.
    let cut = cluster
        .leader_within(Instant::now(), FAILOVER_BOUND, "before the partition")
        .await;
    let log_at_cut = cluster.replicas[cut].log_len();
    let cut_at = Instant::now();
    cluster.replicas[cut].partition();
    cluster.healthy[cut] = false;
    // Unable to renew, it stops leading once its lease could have lapsed,
    // which its log tells; watched beside the election, so each is timed
    // as it happens.
    let ((successor, elected), noticed) = tokio::join!(
        async {
            let successor = cluster
                .leader_within(cut_at, FAILOVER_BOUND, "leader cut off")
                .await;
            (successor, cut_at.elapsed())
        },
        cluster.notices_within(cut, log_at_cut, cut_at, CUT_OFF_STEP_DOWN, "cut-off leader"),
    );
    eprintln!(
        "cut off replica {cut}: it stopped leading after {noticed:.1?}, replica {successor} leads after {elected:.1?}"
    );
    // Cut off, it still answers a scrape within the scrape's timeout (the
    // store reads it cannot finish are left out) and says it does not lead.
    let scraped_at = Instant::now();
    let gauge =
        leader_gauge_within(&cluster.http, &cluster.replicas[cut].base(), SCRAPE_ANSWER).await;
    assert_eq!(
        gauge,
        Some(false),
        "the cut-off replica's /metrics after {:.1?}: None is no answer",
        scraped_at.elapsed()
    );
    tokio::time::sleep(FAULT.saturating_sub(cut_at.elapsed())).await;
    let healed_at = Instant::now();
    cluster.replicas[cut].heal();
    // Healed, it serves from etcd again, as a follower.
    let through_it = corridor_client::Client::new(&cluster.replicas[cut].base()).unwrap();
    loop {
        let listed = tokio::time::timeout(OP_TIMEOUT, through_it.corridors(None)).await;
        if matches!(listed, Ok(Ok(_))) {
            break;
        }
        assert!(
            healed_at.elapsed() < REJOIN_BOUND,
            "the healed replica does not serve: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster
        .follows_within(cut, healed_at, REJOIN_BOUND, "healed replica")
        .await;
    let work_stopped = cluster.replicas[cut]
        .log_since(log_at_cut)
        .contains("the singleton work stopped");
    cluster.healthy[cut] = true;
    assert_eq!(
        cluster
            .leader_within(healed_at, FAILOVER_BOUND, "after healing")
            .await,
        successor,
        "the healed replica took the leadership back"
    );
    eprintln!(
        "healed replica {cut} serves as a follower after {:.1?} (its singleton work stopped: {work_stopped})",
        healed_at.elapsed()
    );

    // 3. The leader is killed.
    let killed = cluster
        .leader_within(Instant::now(), FAILOVER_BOUND, "before the kill")
        .await;
    // A bundle whose memory dies with the replica: its host's memqosd.
    let through_killed = corridor_client::Client::new(&cluster.replicas[killed].base()).unwrap();
    let mut witness_request = bundle_request(&host_of(killed), "witness");
    witness_request.bandwidth_floor_gbs = GigabytesPerSecond(0.1);
    let witness = through_killed
        .ffm_alloc(&witness_request)
        .await
        .expect("the witness bundle fits beside three 40 GB/s floors")
        .bundle;
    let killed_at = Instant::now();
    cluster.replicas[killed].daemon.kill_dash_nine();
    cluster.healthy[killed] = false;
    let successor = cluster
        .leader_within(killed_at, FAILOVER_BOUND, "leader killed")
        .await;
    eprintln!(
        "killed replica {killed}: replica {successor} leads after {:.1?}",
        killed_at.elapsed()
    );

    // Its host key lapses (5 s) and a surviving memqosd marks its bundles.
    let through_successor =
        corridor_client::Client::new(&cluster.replicas[successor].base()).unwrap();
    let lost = loop {
        let bundle = through_successor.ffm_get(&witness.id).await.unwrap().bundle;
        if let Some(c) = bundle.meta.condition("HostLost") {
            break c.clone();
        }
        assert!(
            killed_at.elapsed() < HOST_LOST_BOUND,
            "the killed replica's bundle {} is not HostLost after {HOST_LOST_BOUND:?}",
            witness.id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(lost.reason, "MemqosdGone", "{lost:?}");
    eprintln!(
        "the killed replica's bundle says HostLost after {:.1?}",
        killed_at.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    // Let requests a replica still had in flight when their clients gave
    // up land before the store is read.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let replay = replay_corridors(&direct).await;
    let final_read = started.elapsed().as_micros() as u64;
    let mut history = std::mem::take(&mut *history.lock().await);
    let mut failures = Vec::new();
    let bundles = std::mem::take(&mut *bundles.lock().await);
    let memory = replay_memory(&direct, &limits).await;
    failures.extend(memory.over.iter().take(10).cloned());
    failures.extend(check_bundles(&bundles, &memory));

    // Grants whose answer was lost: the store tells which corridor each
    // made, if any (by its `op` label); one that made none touches no lane.
    let by_label: BTreeMap<&str, &Corridor> = replay
        .created
        .values()
        .filter_map(|c| c.meta.labels.get("op").map(|l| (l.as_str(), c)))
        .collect();
    let mut unknown_grants = 0;
    let mut resolved = 0;
    for op in &mut history {
        if op.outcome == Outcome::Unknown && matches!(op.action, Action::Grant(_)) {
            unknown_grants += 1;
        }
        if let Some(label) = op.corridor.strip_prefix("label:")
            && let Some(corridor) = by_label.get(label)
        {
            op.action = Action::Grant(port_lanes(corridor));
            op.corridor = corridor.id.clone();
            resolved += 1;
        }
    }

    // At no revision did two corridors hold one port lane.
    if let Some(first) = replay.double_holds.first() {
        failures.push(format!(
            "{} port lanes held twice in the store's history; the first: {first}",
            replay.double_holds.len()
        ));
    }

    // Nothing acknowledged is lost: an acknowledged grant that no release
    // touched is still there; an acknowledged release's corridor is gone.
    let ok = |op: &Operation<PortLane>| op.outcome == Outcome::Ok;
    let released_ok: BTreeSet<&str> = history
        .iter()
        .filter(|op| ok(op) && matches!(op.action, Action::Release(_)))
        .map(|op| op.corridor.as_str())
        .collect();
    let release_tried: BTreeSet<&str> = history
        .iter()
        .filter(|op| matches!(op.action, Action::Release(_)))
        .map(|op| op.corridor.as_str())
        .collect();
    let mut grants = 0;
    for op in history
        .iter()
        .filter(|op| matches!(op.action, Action::Grant(_)))
    {
        if !ok(op) {
            continue;
        }
        grants += 1;
        if !replay.seen.contains(&op.corridor) {
            failures.push(format!(
                "acknowledged grant {} never reached the store",
                op.corridor
            ));
        } else if !release_tried.contains(op.corridor.as_str())
            && !replay.live.contains_key(&op.corridor)
        {
            failures.push(format!("acknowledged grant {} is gone", op.corridor));
        }
    }
    for id in &released_ok {
        if replay.live.contains_key(*id) {
            failures.push(format!("released corridor {id} is still there"));
        }
    }
    assert!(grants > 0, "no grant succeeded");

    // The final state, as one read at the end, closes the history.
    let mut holders: BTreeMap<PortLane, Option<String>> = BTreeMap::new();
    for op in &history {
        if let Action::Grant(lanes) | Action::Release(lanes) = &op.action {
            for lane in lanes {
                holders.insert(lane.clone(), None);
            }
        }
    }
    for (id, lanes) in &replay.live {
        for lane in lanes {
            holders.insert(lane.clone(), Some(id.clone()));
        }
    }
    history.push(Operation {
        client: usize::MAX,
        invoke: final_read,
        complete: Some(final_read),
        outcome: Outcome::Ok,
        corridor: String::new(),
        action: Action::Read(holders.into_iter().collect()),
    });
    let checked = Instant::now();
    if let Err(violation) = linearizable::check(&history) {
        failures.insert(0, format!("the history is not linearizable: {violation}"));
    }
    let check_time = checked.elapsed();
    assert!(
        failures.is_empty(),
        "{} failures (the first 10):\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    let _ = std::fs::remove_dir_all(&logs);
    let count = |outcome| history.iter().filter(|op| op.outcome == outcome).count();
    let reasons = refusals.lock().await;
    let allocated: BTreeMap<&str, usize> = bundles
        .iter()
        .filter(|op| op.alloc && op.outcome == Outcome::Ok)
        .fold(BTreeMap::new(), |mut by_host, op| {
            *by_host.entry(op.host.as_str()).or_default() += 1;
            by_host
        });
    eprintln!(
        "{} bundle operations: allocations acknowledged per host {allocated:?}; {} memory grants replayed, {} bundles at the end",
        bundles.len(),
        memory.grants,
        memory.live.len(),
    );
    eprintln!(
        "{} operations by {CLIENTS} clients: {} ok, {} refused {:?}, {} unknown \
         ({unknown_grants} grants, {resolved} of which the store shows made a corridor); \
         {grants} acknowledged grants, {} corridors at the end; linearizable (checked in \
         {check_time:.1?}); whole test {:.1?}",
        history.len() - 1,
        count(Outcome::Ok) - 1,
        count(Outcome::Failed),
        *reasons,
        count(Outcome::Unknown),
        replay.live.len(),
        test_started.elapsed(),
    );
}

/// The store's history of memory grants, replayed.
#[derive(Debug, Default)]
struct MemoryReplay {
    /// Every moment a device held more than it has.
    over: Vec<String>,
    /// Grants ever written.
    grants: usize,
    /// Bundle objects at the end, by id.
    live: BTreeSet<String>,
    /// Every bundle object that ever existed, by its `op` label.
    by_label: BTreeMap<String, String>,
}

/// Replays every memory grant (`/ffm/grants/`) in revision order: at no
/// revision may the grants on a device hold more bytes than it has or more
/// floor bandwidth than it admits (`limits`: bytes, MB/s). Also lists the
/// bundle objects at the end and every one ever created, by label.
async fn replay_memory(
    store: &dyn StateStore,
    limits: &BTreeMap<String, (u64, f64)>,
) -> MemoryReplay {
    use corridor_planner::memory::Bundle;
    use corridor_store::EventKind;
    use futures::StreamExt;
    let mut replay = MemoryReplay::default();
    let end = store
        .range(corridor_store::RangeRequest::prefix("/ffm/grants/"))
        .await
        .unwrap()
        .revision;
    let mut events = store.watch("/ffm/grants/", 1).await.unwrap();
    let mut grants: BTreeMap<String, Bundle> = BTreeMap::new();
    let mut held: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(3), events.next()).await {
        let event = event.unwrap();
        let revision = event.kv.mod_revision;
        if revision > end {
            break;
        }
        if let Some(previous) = grants.remove(&event.kv.key) {
            for share in &previous.placement.shares {
                let h = held.entry(share.device.clone()).or_default();
                h.0 -= share.bytes;
                h.1 -= share.floor.0;
            }
        }
        if event.kind == EventKind::Put {
            replay.grants += 1;
            let grant: Bundle = serde_json::from_slice(&event.kv.value).unwrap();
            for share in &grant.placement.shares {
                let h = held.entry(share.device.clone()).or_default();
                h.0 += share.bytes;
                h.1 += share.floor.0;
                let (bytes, mbps) = limits[&share.device];
                if h.0 > bytes || h.1 as f64 > mbps + 0.5 {
                    replay.over.push(format!(
                        "at revision {revision} {} holds {} bytes and {} MB/s of floors (it has {bytes} bytes, admits {mbps} MB/s)",
                        share.device, h.0, h.1
                    ));
                }
            }
            grants.insert(event.kv.key.clone(), grant);
        }
        if revision >= end {
            break;
        }
    }
    let objects = store
        .range(corridor_store::RangeRequest::prefix("/registry/ffm/"))
        .await
        .unwrap();
    for kv in &objects.kvs {
        let bundle: FfmBundle = serde_json::from_slice(&kv.value).unwrap();
        replay.live.insert(bundle.id);
    }
    let mut created = store.watch("/registry/ffm/", 1).await.unwrap();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(3), created.next()).await {
        let event = event.unwrap();
        if event.kind == EventKind::Put
            && let Ok(bundle) = serde_json::from_slice::<FfmBundle>(&event.kv.value)
            && let Some(label) = bundle.meta.labels.get("op")
        {
            replay.by_label.insert(label.clone(), bundle.id.clone());
        }
        if event.kv.mod_revision >= objects.revision {
            break;
        }
    }
    replay
}

/// Nothing acknowledged is lost: an acknowledged alloc no free touched is
/// still there, an acknowledged free's bundle is gone; and every replica
/// allocated some bundles for its host.
fn check_bundles(ops: &[BundleOp], memory: &MemoryReplay) -> Vec<String> {
    let mut failures = Vec::new();
    let free_tried: BTreeSet<&str> = ops
        .iter()
        .filter(|op| !op.alloc)
        .map(|op| op.bundle.as_str())
        .collect();
    let ever: BTreeSet<&str> = memory.by_label.values().map(String::as_str).collect();
    for op in ops.iter().filter(|op| op.outcome == Outcome::Ok) {
        if op.alloc {
            if !ever.contains(op.bundle.as_str()) {
                failures.push(format!(
                    "acknowledged bundle {} never reached the store",
                    op.bundle
                ));
            } else if !free_tried.contains(op.bundle.as_str()) && !memory.live.contains(&op.bundle)
            {
                failures.push(format!("acknowledged bundle {} is gone", op.bundle));
            }
        } else if memory.live.contains(&op.bundle) {
            failures.push(format!("freed bundle {} is still there", op.bundle));
        }
    }
    for index in 0..3 {
        let host = host_of(index);
        if !ops
            .iter()
            .any(|op| op.alloc && op.outcome == Outcome::Ok && op.host == host)
        {
            failures.push(format!(
                "no bundle was allocated for {host} (through replica {index})"
            ));
        }
    }
    failures
}

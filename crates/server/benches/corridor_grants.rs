//! End-to-end corridor grant throughput of a real corridord process on
//! loopback: 32 clients each looping `POST /v1/corridors` (admission,
//! ledger transaction, CMIS provisioning on the twin) then
//! `DELETE /v1/corridors/{id}` (release transaction, lanes down).
//!
//! Every granted corridor must come back `active` (lanes lit and read back
//! healthy; with `CORRIDOR_BENCH_DARK=1`, `provisioning` held for
//! attestation): a failed provisioning is not a lit grant. Afterwards it
//! checks that no wavelength was ever granted twice: every grant's lifetime
//! in store revisions, [created, deleted), must not overlap another grant's
//! on the same (link, channel); then, with the server stopped, that the
//! store's capacity ledger is empty. Any of these failing exits non-zero.
//!
//! It reports corridord's own CPU time (user + system over the load
//! window, from `/proc`) per lit grant: the cost of a grant independent of
//! how many cores the machine and other work leave it.
//!
//! Run with `cargo bench -p corridor-server --bench corridor_grants`.
//! `CORRIDOR_BENCH_SECONDS` changes the load time (default 10; a run stops
//! sooner once it has begun [`MAX_CYCLES`] cycles).
//! `CORRIDOR_BENCH_BASELINE=<path of another corridord>` measures that
//! build too, alternating with this one for `CORRIDOR_BENCH_ROUNDS` rounds
//! (default 1), so both see the same machine in one run; the builds take
//! turns going first (a run after another may find the machine busy with
//! the first one's leftovers, such as its files being written back and
//! removed), and a summary gives each round's ratio of CPU per grant and
//! the ratio of the pooled means.
//! `CORRIDOR_BENCH_STORE` is a comma-separated list of `redb` (the
//! default), `etcd` (a throwaway one-member etcd) and `etcd3` (a throwaway
//! three-member cluster); on etcd the same run also measures raw etcd
//! transactions per second on the same cluster (32 writers, each a
//! compare-absent + put of a fresh key through `etcd-client`, the shape of
//! the store's grant transaction without its lease), as the baseline the
//! grant rate is read against.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use corridor_store::etcd::testing::{ThrowawayCluster, ThrowawayEtcd};
use support::Server;

const CLIENTS: usize = 32;
/// Cycles a run starts at most, whatever the time left. The check afterwards
/// replays every grant and release from revision 1, and the store keeps the
/// last 100,000 revisions (`RedbOptions::retain_revisions`); a cycle makes
/// about two, so a fast build running for long would have the start of its
/// history compacted away (seen: 52,664 cycles in 12 s, and the replay's
/// watch refused).
const MAX_CYCLES: usize = 30_000;

/// One grant as the client saw it.
#[derive(Debug, Clone)]
struct Lifetime {
    id: String,
    path: Vec<String>,
    channels: Vec<i64>,
    created: i64,
    deleted: i64,
}

/// `CORRIDOR_BENCH_DARK=1` sends `attestation_required: true` to a
/// corridord started with `--attest-on-request`: capacity is granted and
/// released exactly as usual, but nothing attests the modules, so the lanes
/// stay dark (no CMIS provisioning), which isolates the cost of the twin's
/// CMIS sequences.
fn body(client: usize, dark: bool) -> String {
    // Grid channel n = -8 + client % 16 of the twin's 100 GHz grid, as a
    // wavelength; no endpoints, so the planner spreads clients over links.
    // Half the clients ask for fibre, half for waveguide: the default rack
    // has four links of 8-lane ports of each medium, so the 32 clients fit
    // (all 32 on one medium's 32 lanes refused about 3 % of requests for
    // want of a free lane, which is admission working, not a grant's cost).
    let n = -8 + (client % 16) as i32;
    let lambda = 299_792_458.0 / ((193_100.0 + f64::from(n) * 100.0) * 1e9) * 1e9;
    let mode = if client.is_multiple_of(2) {
        "fiber"
    } else {
        "waveguide"
    };
    json!({
        "corridor_type": "SiCorridor",
        "lanes": 1,
        "lambda_nm": [lambda],
        "min_gbps": 20,
        "latency_budget_ns": 1000,
        "reach_mm": 5000,
        "mode": mode,
        "qos": {"pfc": false, "priority": "silver"},
        "attestation_required": dark
    })
    .to_string()
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("CORRIDOR_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dark = std::env::var("CORRIDOR_BENCH_DARK").is_ok_and(|v| v == "1");
    let this = env!("CARGO_BIN_EXE_corridord");
    let baseline = std::env::var("CORRIDOR_BENCH_BASELINE").ok();
    let rounds: usize = std::env::var("CORRIDOR_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let stores = std::env::var("CORRIDOR_BENCH_STORE").unwrap_or_else(|_| "redb".into());
    let mut failures = Vec::new();
    for store in stores.split(',') {
        let store = Store::start(store.trim()).await;
        println!("== store: {}", store.label);
        let run = Run {
            seconds,
            dark,
            store: &store,
        };
        match &baseline {
            Some(baseline) => {
                let mut paired = Vec::new();
                for round in 1..=rounds {
                    let mut order = [(baseline.as_str(), "baseline"), (this, "this build")];
                    if round.is_multiple_of(2) {
                        order.reverse();
                    }
                    let mut cpu = [None, None];
                    for (binary, label) in order {
                        println!("-- {label}, round {round}");
                        let measured = run.measure(binary).await;
                        cpu[usize::from(label == "this build")] = measured.cpu_per_grant_ms;
                        failures.extend(
                            measured
                                .failures
                                .into_iter()
                                .map(|failure| format!("{label}, round {round}: {failure}")),
                        );
                    }
                    if let [Some(base), Some(ours)] = cpu {
                        paired.push((base, ours));
                    }
                }
                summarise(&paired);
            }
            None => failures.extend(run.measure(this).await.failures),
        }
        if !store.endpoints.is_empty() {
            raw_etcd_txns(&store.endpoints, seconds).await;
        }
    }
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        std::process::exit(1);
    }
}

/// Where corridord keeps its state in a run: the embedded store, or a
/// throwaway etcd kept alive as long as this.
struct Store {
    label: String,
    /// Empty for redb.
    endpoints: Vec<String>,
    _etcd: Option<ThrowawayEtcd>,
    _cluster: Option<ThrowawayCluster>,
}

impl Store {
    async fn start(name: &str) -> Store {
        match name {
            "redb" => Store {
                label: "redb (embedded)".into(),
                endpoints: Vec::new(),
                _etcd: None,
                _cluster: None,
            },
            "etcd" => {
                let etcd = ThrowawayEtcd::start().await.expect("etcd starts");
                Store {
                    label: format!("etcd 1 member ({})", etcd.version()),
                    endpoints: vec![etcd.endpoint().to_string()],
                    _etcd: Some(etcd),
                    _cluster: None,
                }
            }
            "etcd3" => {
                let cluster = ThrowawayCluster::start()
                    .await
                    .expect("etcd cluster starts");
                Store {
                    label: format!("etcd 3 members ({})", cluster.version()),
                    endpoints: cluster.endpoints(),
                    _etcd: None,
                    _cluster: Some(cluster),
                }
            }
            other => panic!("CORRIDOR_BENCH_STORE: unknown store {other:?} (redb, etcd or etcd3)"),
        }
    }

    /// corridord's arguments for this store.
    fn args(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .flat_map(|e| ["--etcd-endpoint".to_string(), e.clone()])
            .collect()
    }

    /// The corridor ledger keys left in the store, read with the server
    /// stopped (its state directory for redb).
    async fn ledger_left(&self, state: &std::path::Path) -> Result<Vec<String>, String> {
        use corridor_store::StateStore;
        let prefix = corridor_store::RangeRequest::prefix("/ledger/corridors/");
        let left = if self.endpoints.is_empty() {
            let store = corridor_store::RedbStore::open(
                state.join(corridor_server::STORE_FILE),
                corridor_store::RedbOptions::default(),
            )
            .map_err(|e| e.to_string())?;
            store.range(prefix).await.map_err(|e| e.to_string())?
        } else {
            let store = corridor_store::EtcdStore::connect(corridor_store::EtcdOptions::new(
                self.endpoints.clone(),
            ))
            .await
            .map_err(|e| e.to_string())?;
            store.range(prefix).await.map_err(|e| e.to_string())?
        };
        Ok(left.kvs.into_iter().map(|kv| kv.key).collect())
    }
}

/// One load window's settings.
struct Run<'a> {
    seconds: u64,
    dark: bool,
    store: &'a Store,
}

impl Run<'_> {
    /// One load window against the corridord at `binary`; the checks that
    /// failed.
    async fn measure(&self, binary: &str) -> Measured {
        let (seconds, dark) = (self.seconds, self.dark);
        let mut args = self.store.args();
        // Dark: attestd attests only on request, so attestation_required
        // corridors stay held with their lanes dark for the whole run.
        if dark {
            args.push("--attest-on-request".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::spawn_binary(binary, true, &args);
        let base = format!("http://{}", server.addr);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .unwrap();
        support::wait_ready(&http, &base, Duration::from_secs(30)).await;
        // Only the leader lights its grants (on etcd it campaigns after it
        // is ready; until it wins, grants answer `provisioning`): the load
        // starts once it leads.
        if support::leader_of(
            &http,
            std::slice::from_ref(&server),
            Duration::from_secs(30),
        )
        .await
        .is_none()
        {
            eprintln!("{binary} never reported corridor_leader 1; its grants may stay dark");
        }

        let cpu_before = server.cpu_seconds();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // What a grant must report when the POST answers: lit and healthy, or
        // (dark) held for attestation with the lanes left dark.
        let expected = if dark { "provisioning" } else { "active" };
        let not_lit = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let begun = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        let started = Instant::now();
        for client in 0..CLIENTS {
            let http = http.clone();
            let base = base.clone();
            let refused = Arc::clone(&refused);
            let not_lit = Arc::clone(&not_lit);
            let begun = Arc::clone(&begun);
            tasks.push(tokio::spawn(async move {
                let body = body(client, dark);
                let mut lifetimes = Vec::new();
                while Instant::now() < deadline
                    && begun.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < MAX_CYCLES
                {
                    let response = http
                        .post(format!("{base}/v1/corridors"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("POST");
                    let status = response.status().as_u16();
                    let c: Value = response.json().await.expect("JSON");
                    if status != 201 {
                        // 409: no capacity; 503: admission lost its races.
                        assert!(status == 409 || status == 503, "{status}: {c}");
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    let id = c["id"].as_str().unwrap().to_owned();
                    let lit = c["status"] == expected;
                    if !lit {
                        // Granted but not brought up: released like any other
                        // grant, but not counted as one.
                        not_lit.lock().unwrap().push(format!(
                            "{id}: status {} ({})",
                            c["status"], c["conditions"]
                        ));
                    }
                    let response = http
                        .delete(format!("{base}/v1/corridors/{id}"))
                        .send()
                        .await
                        .expect("DELETE");
                    assert_eq!(response.status().as_u16(), 200);
                    let _: Value = response.json().await.expect("JSON");
                    lifetimes.push((id, lit));
                }
                lifetimes
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = match (cpu_before, server.cpu_seconds()) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        let grants = all.len();
        let lit = all.iter().filter(|(_, lit)| *lit).count();
        let mut failures: Vec<String> = Vec::new();
        println!(
            "corridor grants{}: {grants} POST+DELETE cycles by {CLIENTS} clients in {elapsed:.1} s, {lit} {expected} = {:.0} {} grants/s ({} refused with 409/503)",
            if dark { " (lanes dark)" } else { "" },
            lit as f64 / elapsed,
            if dark { "dark" } else { "lit" },
            refused.load(std::sync::atomic::Ordering::Relaxed)
        );
        let cpu_per_grant_ms = cpu.filter(|_| lit > 0).map(|cpu| 1000.0 * cpu / lit as f64);
        match (cpu, cpu_per_grant_ms) {
            (Some(cpu), Some(per_grant)) => println!(
                "corridord CPU: {cpu:.2} s over the load = {per_grant:.3} ms per {} grant",
                if dark { "dark" } else { "lit" }
            ),
            _ => println!("corridord CPU: not measured (no /proc, or no grant)"),
        }
        {
            let not_lit = not_lit.lock().unwrap();
            if !not_lit.is_empty() {
                failures.push(format!(
                    "{} grants did not reach {expected}, e.g. {}",
                    not_lit.len(),
                    not_lit[0]
                ));
            }
        }
        if lit == 0 {
            failures.push("no grant at all".into());
        }

        // Every change since the start, replayed from the store's event log as
        // server-sent events after the load (so the check costs the measured
        // window nothing): ADDED carries the grant transaction's revision,
        // DELETED the release's.
        let watch = http
            .get(format!("{base}/v1/corridors?watch=true&resource_version=1"))
            .send()
            .await
            .expect("watch");
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let watcher = tokio::spawn(async move {
            use futures::StreamExt;
            let mut stream = watch.bytes_stream();
            let mut pending = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    if let Some(data) = line.trim_end().strip_prefix("data:")
                        && let Ok(event) = serde_json::from_str::<Value>(data.trim())
                        && events_tx.send(event).is_err()
                    {
                        return;
                    }
                }
            }
        });

        // No (link, channel) held by two grants at once, in store revisions,
        // as the watch saw them.
        let mut events_rx = events_rx;
        let mut lives: HashMap<String, Lifetime> = HashMap::new();
        let mut deletes = 0;
        while deletes < grants {
            let event = tokio::time::timeout(Duration::from_secs(30), events_rx.recv())
                .await
                .expect("watch events keep coming")
                .expect("watch open");
            let rv: i64 = event["resource_version"].as_str().unwrap().parse().unwrap();
            let object = &event["object"];
            let id = object["id"].as_str().unwrap().to_owned();
            match event["type"].as_str().unwrap() {
                "ADDED" => {
                    lives.insert(
                        id.clone(),
                        Lifetime {
                            id,
                            path: serde_json::from_value(object["path"].clone()).unwrap(),
                            channels: serde_json::from_value(
                                object["assignment"]["grid_channels"].clone(),
                            )
                            .unwrap(),
                            created: rv,
                            deleted: i64::MAX,
                        },
                    );
                }
                "DELETED" => {
                    deletes += 1;
                    lives.get_mut(&id).expect("deleted after added").deleted = rv;
                }
                _ => {}
            }
        }
        watcher.abort();
        let mut by_slot: HashMap<(String, i64), Vec<&Lifetime>> = HashMap::new();
        for l in lives.values() {
            for link in &l.path {
                for &ch in &l.channels {
                    by_slot.entry((link.clone(), ch)).or_default().push(l);
                }
            }
        }
        let mut checked = 0;
        let mut doubles = Vec::new();
        for (slot, mut lives) in by_slot {
            lives.sort_by_key(|l| l.created);
            for pair in lives.windows(2) {
                checked += 1;
                if pair[0].deleted > pair[1].created {
                    doubles.push(format!(
                        "{slot:?} granted twice: {} [{}, {}) and {} [{}, {})",
                        pair[0].id,
                        pair[0].created,
                        pair[0].deleted,
                        pair[1].id,
                        pair[1].created,
                        pair[1].deleted
                    ));
                }
            }
        }
        if doubles.is_empty() {
            println!("no (link, channel) granted twice: {checked} consecutive grant pairs checked");
        } else {
            failures.push(format!(
                "{} double grants in {checked} consecutive grant pairs, e.g. {}",
                doubles.len(),
                doubles[0]
            ));
        }
        drop(http);
        // Stop the server (its Drop sends SIGTERM and waits), keeping its state
        // directory, then read the ledger straight from the store file.
        let mut server = server;
        let state = std::mem::replace(&mut server.state, tempfile::tempdir().unwrap());
        drop(server);
        match self.store.ledger_left(state.path()).await {
            Ok(left) if left.is_empty() => println!("store ledger empty after the run"),
            Ok(left) => failures.push(format!(
                "{} ledger keys left after every corridor was released, e.g. {}",
                left.len(),
                left[0]
            )),
            Err(e) => failures.push(format!("could not read the ledger after the run: {e}")),
        }
        drop(state);
        Measured {
            failures,
            cpu_per_grant_ms,
        }
    }
}

/// What one run of one build found.
struct Measured {
    /// The checks it failed.
    failures: Vec<String>,
    /// corridord's CPU per lit (or, dark, per held) grant, ms.
    cpu_per_grant_ms: Option<f64>,
}

/// The side-by-side figures: each round's ratio (this build's CPU per
/// grant over the baseline's, measured back to back), their median and
/// range, and the ratio of the two builds' means over every round.
fn summarise(paired: &[(f64, f64)]) {
    if paired.is_empty() {
        return;
    }
    let mut ratios: Vec<f64> = paired.iter().map(|(base, ours)| ours / base).collect();
    ratios.sort_by(f64::total_cmp);
    let n = paired.len() as f64;
    let base_mean = paired.iter().map(|(base, _)| base).sum::<f64>() / n;
    let our_mean = paired.iter().map(|(_, ours)| ours).sum::<f64>() / n;
    let median = if ratios.len() % 2 == 1 {
        ratios[ratios.len() / 2]
    } else {
        (ratios[ratios.len() / 2 - 1] + ratios[ratios.len() / 2]) / 2.0
    };
    println!(
        "== side by side, {} rounds: CPU per grant {our_mean:.3} ms (this build) against {base_mean:.3} ms (baseline), pooled ratio {:.3}; per round {:.3}..{:.3}, median {median:.3}",
        paired.len(),
        our_mean / base_mean,
        ratios[0],
        ratios[ratios.len() - 1],
    );
}

/// Raw etcd transactions per second on `endpoints` for `seconds`: 32
/// writers, each creating fresh keys with a compare-absent + put.
async fn raw_etcd_txns(endpoints: &[String], seconds: u64) {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let client = etcd_client::Client::connect(endpoints, None)
        .await
        .expect("etcd connects");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..CLIENTS {
        let mut client = client.clone();
        writers.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                let key = format!("/bench/raw/{writer}/{done}");
                let txn = Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key.as_str(), "v", None)]);
                let response = client.txn(txn).await.expect("raw etcd txn");
                assert!(response.succeeded());
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "raw etcd txns: {total} by {CLIENTS} writers in {elapsed:.1} s = {:.0} txn/s",
        total as f64 / elapsed
    );
}

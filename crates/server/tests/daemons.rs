//! One binary, several daemons: `corridord corrd` and `corridord memqosd`
//! as two processes on one etcd, each running its own daemon's work and
//! answering the other's routes with a 503 that names it.
//!
//! `make test` installs etcd first (scripts/install-etcd.sh); without an
//! `etcd` on PATH these tests fail and say so.

use std::path::Path;
use std::time::{Duration, Instant};

use common::problem::{Reply, assert_problem, send};
use common::process::{Corridord, command, free_port};
use common::requests::one_lane_corridor;
use corridor_store::etcd::testing::ThrowawayEtcd;
use corridor_store::{RangeRequest, StateStore};

mod common;

/// A small bundle of h0's own HBM: memqosd places it without fabmand's
/// paths (pooled CXL memory reaches a host only through them).
const SMALL_T0_ALLOC: &str = r#"{
  "bytes": 1048576,
  "latency_class": "T0",
  "bandwidth_floor_GBs": 1,
  "persistence": "none",
  "shareable": false,
  "security_domain": "tenantA"
}"#;

/// `corridord <daemon>` on etcd, plain HTTP, its state in `state_dir`.
fn spawn_daemon(daemon: &str, etcd: &ThrowawayEtcd, state_dir: &Path) -> Corridord {
    let port = free_port();
    let mut command = command();
    command
        .arg(daemon)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(state_dir)
        .args(["--insecure-dev", "--no-ring-tracking"])
        .arg("--etcd-endpoint")
        .arg(etcd.endpoint())
        .stderr(std::process::Stdio::piped());
    Corridord::spawn(command, state_dir, port, false)
}

/// Every key under `prefix`, with its value as text.
async fn keys(store: &dyn StateStore, prefix: &str) -> Vec<(String, String)> {
    store
        .range(RangeRequest::prefix(prefix))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| (kv.key, String::from_utf8_lossy(&kv.value).into_owned()))
        .collect()
}

/// `reply` is the 503 a process gives for a route of a daemon it does not
/// run, naming that daemon.
fn assert_served_elsewhere(reply: &Reply, daemon: &str) {
    assert_problem(reply, 503);
    assert_eq!(reply.body["reason"], "DaemonNotRunHere", "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("not {daemon}"))
            && detail.contains(&format!("corridord {daemon}")),
        "the detail names {daemon}: {detail}"
    );
}

#[tokio::test]
async fn corrd_and_memqosd_as_two_processes_share_one_etcd_and_run_only_their_own_work() {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    let corrd_dir = tempfile::tempdir().unwrap();
    let memqosd_dir = tempfile::tempdir().unwrap();
    let mut corrd = spawn_daemon("corrd", &etcd, corrd_dir.path());
    let mut memqosd = spawn_daemon("memqosd", &etcd, memqosd_dir.path());
    corrd.ready().await;
    memqosd.ready().await;
    let http = reqwest::Client::new();
    let at = |daemon: &Corridord, path: &str| format!("{}{path}", daemon.base());

    // A corridor through corrd, lit by corrd (it leads its own election).
    let body = one_lane_corridor(1550.12, "gold", "waveguide", None).to_string();
    let created = send(&http, "POST", at(&corrd, "/v1/corridors"), &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let corridor = created.body["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = send(
            &http,
            "GET",
            at(&corrd, &format!("/v1/corridors/{corridor}")),
            "",
        )
        .await;
        if read.body["status"] == "active" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "corrd never lit its corridor: {}",
            read.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A bundle through memqosd, whose memory and fd hand-off are its own.
    let allocated = send(&http, "POST", at(&memqosd, "/v1/ffm/alloc"), SMALL_T0_ALLOC).await;
    assert_eq!(allocated.status, 201, "{}", allocated.body);
    let bundle = allocated.body["id"].as_str().unwrap().to_owned();
    assert!(
        allocated.body["fds"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("/proc/{}/fd/", memqosd.pid())),
        "the bundle's memory lives in memqosd's process: {}",
        allocated.body
    );

    // Each refuses the other's routes, naming the daemon to ask; corrd's
    // refusal names the process that leads corrd's work.
    let refused = send(&http, "POST", at(&memqosd, "/v1/corridors"), &body).await;
    assert_served_elsewhere(&refused, "corrd");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("pid {}", corrd.pid())) && detail.contains(corrd.addr()),
        "the refusal names corrd's leader: {detail}"
    );
    let refused = send(
        &http,
        "GET",
        at(&memqosd, &format!("/v1/corridors/{corridor}")),
        "",
    )
    .await;
    assert_served_elsewhere(&refused, "corrd");
    let refused = send(&http, "POST", at(&corrd, "/v1/ffm/alloc"), SMALL_T0_ALLOC).await;
    assert_served_elsewhere(&refused, "memqosd");
    let refused = send(&http, "GET", at(&corrd, &format!("/v1/ffm/{bundle}")), "").await;
    assert_served_elsewhere(&refused, "memqosd");
    // Neither runs fabmand or attestd: their routes are refused by both.
    for daemon in [&corrd, &memqosd] {
        let refused = send(&http, "GET", at(daemon, "/v1/fabman/paths"), "").await;
        assert_served_elsewhere(&refused, "fabmand");
    }

    // One state: both objects are in etcd.
    let store = etcd.store().await.unwrap();
    let corridors = keys(&store, "/registry/corridors/").await;
    assert!(corridors.iter().any(|(key, _)| key.ends_with(&corridor)));
    let bundles = keys(&store, "/registry/ffm/").await;
    assert!(bundles.iter().any(|(key, _)| key.ends_with(&bundle)));

    // Each ran only its own work. corrd's election is held by corrd's
    // process; memqosd stood in none.
    let leaders = keys(&store, "/leader/").await;
    assert_eq!(
        leaders
            .iter()
            .map(|(key, _)| key.as_str())
            .collect::<Vec<_>>(),
        ["/leader/corridord"],
        "only corrd has an election here (fabmand and attestd run nowhere): {leaders:?}"
    );
    assert!(
        leaders[0].1.contains(&format!("pid {}", corrd.pid())),
        "{leaders:?}"
    );
    // memqosd alone announces the host it serves.
    let announced = keys(&store, "/ffm/hosts/").await;
    assert!(!announced.is_empty());
    for (host, holder) in &announced {
        assert!(
            holder.contains(&format!("memqosd pid {}", memqosd.pid())),
            "{host} is announced by {holder}, not memqosd's process"
        );
    }
    // fabmand's inventory runs nowhere: no device record was published;
    // nor did attestd publish its issuer keys, nor compatd seed its
    // catalogue.
    assert_eq!(keys(&store, "/registry/devices/").await, []);
    assert_eq!(keys(&store, "/attest/issuers/").await, []);
    assert_eq!(keys(&store, "/registry/compat-profiles/").await, []);
    // The fd hand-off socket is memqosd's alone.
    assert!(memqosd_dir.path().join("ffm.sock").exists());
    assert!(!corrd_dir.path().join("ffm.sock").exists());
    // /metrics: each process exports its own daemon's series.
    let corrd_metrics = http
        .get(at(&corrd, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let memqosd_metrics = http
        .get(at(&memqosd, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |text: &str, name: &str| {
        text.lines()
            .any(|line| line.starts_with(name) && !line.starts_with('#'))
    };
    assert!(sample(&corrd_metrics, "corridor_leader 1"));
    assert!(sample(&memqosd_metrics, "corridor_leader 0"));
    assert!(
        sample(&corrd_metrics, "corridor_corridor_info{"),
        "corrd exports corridors"
    );
    assert!(!sample(&memqosd_metrics, "corridor_corridor_info{"));
    assert!(
        sample(&memqosd_metrics, "corridor_ffm_bundle_info{"),
        "memqosd exports bundles"
    );
    assert!(!sample(&corrd_metrics, "corridor_ffm_bundle_info{"));

    // Both stop on SIGTERM, by pid.
    for daemon in [&mut corrd, &mut memqosd] {
        daemon.signal(libc::SIGTERM);
        assert!(
            daemon
                .wait_exit(Duration::from_secs(20), "SIGTERM")
                .success()
        );
    }
}

#[tokio::test]
async fn the_dependencies_between_daemon_processes_travel_through_the_store() {
    let etcd = ThrowawayEtcd::start().await.unwrap();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut daemons: Vec<Corridord> = ["corrd", "memqosd", "fabmand", "attestd"]
        .iter()
        .zip(&dirs)
        .map(|(daemon, dir)| spawn_daemon(daemon, &etcd, dir.path()))
        .collect();
    for daemon in &mut daemons {
        daemon.ready().await;
    }
    let [corrd, memqosd, fabmand, attestd] = &daemons[..] else {
        unreachable!("four daemons")
    };
    let http = reqwest::Client::new();
    let at = |daemon: &Corridord, path: &str| format!("{}{path}", daemon.base());

    // corrd ← attestd: a corridor that needs attestation activates once
    // attestd (its own process) has attested both end modules; corrd reads
    // the attestations and the issuer's keys from the store.
    let mut body = one_lane_corridor(1550.12, "gold", "waveguide", None);
    body["attestation_required"] = serde_json::Value::Bool(true);
    let created = send(&http, "POST", at(corrd, "/v1/corridors"), &body.to_string()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let active = loop {
        let read = send(&http, "GET", at(corrd, &format!("/v1/corridors/{id}")), "").await;
        if read.body["status"] == "active" {
            break read.body;
        }
        assert!(
            Instant::now() < deadline,
            "the corridor never activated on attestd's tickets: {}",
            read.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let attestations = active["attestations"].as_array().unwrap();
    assert_eq!(attestations.len(), 2, "{active}");
    for attestation in attestations {
        let path = format!("/v1/attest/{}", attestation.as_str().unwrap());
        let ticket = send(&http, "GET", at(attestd, &path), "").await;
        assert_eq!(
            ticket.status, 200,
            "attestd serves the ticket: {}",
            ticket.body
        );
    }

    // memqosd ← fabmand: the RFC's T2 bundle lands on pooled devices, which
    // h0 reaches through the standing paths fabmand wrote to the store.
    let deadline = Instant::now() + Duration::from_secs(30);
    let bundle = loop {
        // The RFC's "Allocate Memory": 150 GB/s of T2 is more than h0's
        // direct expander gives, so it fits only on pooled devices, which
        // reach h0 only through the fabric paths fabmand programs.
        let allocated = send(
            &http,
            "POST",
            at(memqosd, "/v1/ffm/alloc"),
            common::rfc::ALLOC,
        )
        .await;
        if allocated.status == 201 {
            break allocated.body;
        }
        assert!(
            Instant::now() < deadline,
            "memqosd never reached the pooled devices: {}",
            allocated.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let pooled: Vec<&str> = bundle["placement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["node"].as_str())
        .filter(|node| node.starts_with("cxl-dev-"))
        .collect();
    assert!(!pooled.is_empty(), "placed on pooled devices: {bundle}");
    let paths = send(&http, "GET", at(fabmand, "/v1/fabman/paths"), "").await;
    assert_eq!(paths.status, 200, "{}", paths.body);
    assert!(
        !paths.body.as_array().unwrap().is_empty(),
        "fabmand serves the paths: {}",
        paths.body
    );

    // Each of the cluster-wide works is led by the process that runs it.
    let store = etcd.store().await.unwrap();
    let leaders = keys(&store, "/leader/").await;
    for (key, daemon) in [
        ("/leader/corridord", corrd),
        ("/leader/fabmand", fabmand),
        ("/leader/attestd", attestd),
    ] {
        let holder = leaders
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} is held: {leaders:?}"));
        assert!(
            holder.1.contains(&format!("pid {}", daemon.pid())),
            "{holder:?}"
        );
    }
    for daemon in &mut daemons {
        daemon.signal(libc::SIGTERM);
        assert!(
            daemon
                .wait_exit(Duration::from_secs(20), "SIGTERM")
                .success()
        );
    }
}

#[test]
fn a_split_on_the_embedded_store_is_refused_naming_etcd() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = command();
    command
        .arg("corrd")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("--insecure-dev")
        .stderr(std::process::Stdio::piped());
    // Bounded: a corridord that accepted the split would serve until killed
    // (by pid, when `refused` drops).
    let mut refused = Corridord::spawn(command, state.path(), port, false);
    let status = refused.wait_exit(Duration::from_secs(20), "a split on the embedded store");
    assert!(!status.success());
    let stderr = refused.stderr();
    assert!(
        stderr.contains("running only corrd needs the etcd store"),
        "{stderr}"
    );
    assert!(
        !state.path().join(corridor_server::STORE_FILE).exists(),
        "no embedded store was opened"
    );
}

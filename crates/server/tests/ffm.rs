//! memqosd over HTTPS and the Unix socket: the RFC's JSON verbatim, domain
//! isolation, problems naming the field, the 64-client race, another process
//! mapping a bundle, and kill -9 of the real corridord.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::clients::typed_client;
use common::problem::Reply;
use common::process::{Corridord, free_port};
use common::server::{Options, Server};
use corridor_client::Client;
use corridor_client::ffm::{BundleHandle, MappedBundle};
use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_pki::Principal;
use serde_json::{Value, json};

mod common;

/// The RFC's "Adjust Bandwidth" request, byte for byte.
const RFC_BANDWIDTH: &str = r#"{
  "floor_GBs": 180
}"#;

/// Every field of the RFC's response example.
const RFC_RESPONSE_FIELDS: [&str; 13] = [
    "id",
    "bytes",
    "latency_class",
    "bandwidth_floor_GBs",
    "persistence",
    "shareable",
    "security_domain",
    "created_at",
    "policy_lease_ttl_s",
    "fds",
    "achieved_GBs",
    "moved_pages",
    "tail_p99_ms",
];

async fn start() -> Server {
    Options::default()
        .domains(&["tenantA", "tenantB"])
        .start()
        .await
}

/// Sends `body` and returns the status, headers and JSON body (`Null` when
/// there is none).
async fn send(
    client: &reqwest::Client,
    method: &str,
    url: String,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let Reply {
        status,
        headers,
        body,
    } = common::problem::send(client, method, url, body).await;
    (status, headers, body)
}

fn tenant(name: &str) -> Principal {
    Principal::Domain(name.into())
}

#[tokio::test]
async fn rfc_examples_verbatim() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    let (status, headers, body) =
        send(&a, "POST", server.url("/v1/ffm/alloc"), common::rfc::ALLOC).await;
    assert_eq!(status, 201, "{body}");
    for field in RFC_RESPONSE_FIELDS {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["bytes"], 274_877_906_944_u64);
    assert_eq!(body["latency_class"], "T2");
    assert_eq!(body["bandwidth_floor_GBs"], 150.0);
    assert_eq!(body["policy_lease_ttl_s"], 3600);
    assert_eq!(body["moved_pages"], 0);
    assert!(body["achieved_GBs"].as_f64().unwrap() > 0.0);
    assert!(body["tail_p99_ms"].as_f64().unwrap() > 0.0);
    let fd = body["fds"][0].as_str().unwrap();
    assert!(
        fd.starts_with(&format!("/proc/{}/fd/", std::process::id())),
        "{fd}"
    );
    assert_eq!(std::fs::metadata(fd).unwrap().len(), 274_877_906_944);
    assert_eq!(headers["x-ffm-token"].len(), 64);
    let id = body["id"].as_str().unwrap().to_owned();

    // The RFC's 150 GB/s takes the default twin's whole T2 admission
    // capacity (0.75 × 200 GB/s), so its 180 GB/s adjustment is refused,
    // naming the binding device and window, and nothing changes.
    let (status, _, problem) = send(
        &a,
        "PATCH",
        server.url(&format!("/v1/ffm/{id}/bandwidth")),
        RFC_BANDWIDTH,
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("cxl-dev") || detail.contains("cxl"),
        "{detail}"
    );
    assert!(detail.contains("week") || detail.contains(':'), "{detail}");
    let (_, _, again) = send(&a, "GET", server.url(&format!("/v1/ffm/{id}")), "").await;
    assert_eq!(again["bandwidth_floor_GBs"], 150.0);

    // On HBM (T0) there is room: the same PATCH body succeeds.
    let t0 = common::rfc::ALLOC
        .replace("\"T2\"", "\"T0\"")
        .replace("274877906944", "4294967296");
    let (status, _, hbm) = send(&a, "POST", server.url("/v1/ffm/alloc"), &t0).await;
    assert_eq!(status, 201, "{hbm}");
    let hbm_id = hbm["id"].as_str().unwrap();
    let (status, _, patched) = send(
        &a,
        "PATCH",
        server.url(&format!("/v1/ffm/{hbm_id}/bandwidth")),
        RFC_BANDWIDTH,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["bandwidth_floor_GBs"], 180.0);

    // Telemetry, lease, migration (an operation), list, delete.
    let (status, _, t) = send(
        &a,
        "GET",
        server.url(&format!("/v1/ffm/{hbm_id}/telemetry")),
        "",
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(t["achieved_GBs"].as_f64().unwrap() >= 180.0, "{t}");
    let (status, _, _) = send(
        &a,
        "POST",
        server.url(&format!("/v1/ffm/{hbm_id}/lease")),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, headers, op) = send(
        &a,
        "PATCH",
        server.url(&format!("/v1/ffm/{hbm_id}/latency_class")),
        r#"{"latency_class": "T1"}"#,
    )
    .await;
    assert_eq!(status, 202, "{op}");
    assert!(headers.contains_key("location"));
    let admin = server.client(&Principal::Admin);
    let op_id = op["id"].as_str().unwrap();
    let mut finished = None;
    for _ in 0..500 {
        let o = admin.operation(op_id).await.unwrap();
        if o.state.is_terminal() {
            finished = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let finished = finished.expect("migration ends");
    assert!(finished.error.is_none(), "{finished:?}");
    let moved = admin.ffm_get(hbm_id).await.unwrap().bundle;
    assert_eq!(moved.latency_class, LatencyClass::T1);
    let (status, _, list) = send(&a, "GET", server.url("/v1/ffm"), "").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, _, _) = send(&a, "DELETE", server.url(&format!("/v1/ffm/{id}")), "").await;
    assert_eq!(status, 200);
    let (status, _, _) = send(&a, "GET", server.url(&format!("/v1/ffm/{id}")), "").await;
    assert_eq!(status, 404);
    server.stop().await;
}

// Mapping is blocking socket I/O served by this same runtime: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_domains_bundle_is_a_404_like_a_missing_one() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    let b = server.http(&tenant("tenantB"));
    let small = common::rfc::ALLOC
        .replace("274877906944", "1048576")
        .replace("150", "1");
    let (_, _, bundle) = send(&a, "POST", server.url("/v1/ffm/alloc"), &small).await;
    let id = bundle["id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", format!("/v1/ffm/{id}"), ""),
        ("GET", format!("/v1/ffm/{id}/telemetry"), ""),
        ("DELETE", format!("/v1/ffm/{id}"), ""),
        ("POST", format!("/v1/ffm/{id}/lease"), ""),
        ("PATCH", format!("/v1/ffm/{id}/bandwidth"), RFC_BANDWIDTH),
    ] {
        let (status, headers, theirs) = send(&b, method, server.url(&path), body).await;
        let missing_path = path.replace(id, "ffm-000000000000");
        let (missing_status, _, missing) = send(&b, method, server.url(&missing_path), body).await;
        assert_eq!(status, 404, "{method} {path}: {theirs}");
        assert_eq!(missing_status, 404);
        assert_eq!(theirs["reason"], missing["reason"]);
        assert_eq!(theirs["title"], missing["title"]);
        assert!(!headers.contains_key("x-ffm-token"));
    }
    let (_, _, list) = send(&b, "GET", server.url("/v1/ffm"), "").await;
    assert_eq!(list, json!([]));
    // tenantB's watch carries only tenantB's events: A allocates first, B
    // second, and the first event B sees is its own.
    let mut events = server
        .client(&tenant("tenantB"))
        .watch::<Value>("/v1/ffm", None)
        .await
        .unwrap();
    send(&a, "POST", server.url("/v1/ffm/alloc"), &small).await;
    let own = small.replace("tenantA", "tenantB");
    let (_, _, mine) = send(&b, "POST", server.url("/v1/ffm/alloc"), &own).await;
    let first = futures::StreamExt::next(&mut events)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.object["id"], mine["id"]);
    assert_eq!(first.object["security_domain"], "tenantB");
    drop(events);
    // tenantB cannot map it either, even knowing the id.
    let stolen = BundleHandle {
        bundle: serde_json::from_value(bundle.clone()).unwrap(),
        token: Some("0".repeat(64)),
    };
    assert!(stolen.map(server.socket()).is_err());
    // Read-only sees it but gets no token.
    let (status, headers, _) = send(
        &server.http(&Principal::ReadOnly),
        "GET",
        server.url(&format!("/v1/ffm/{id}")),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("x-ffm-token"));
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_problem_naming_the_field() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    for (body, pointer) in [
        (common::rfc::ALLOC.replace("274877906944", "0"), "/bytes"),
        (
            common::rfc::ALLOC.replace("\"T2\"", "\"T9\""),
            "/latency_class",
        ),
        (common::rfc::ALLOC.replace("\"bytes\"", "\"byts\""), "/byts"),
        (
            common::rfc::ALLOC.replace("150", "-1"),
            "/bandwidth_floor_GBs",
        ),
        (
            common::rfc::ALLOC
                .replace("\"none\"", "\"file\"")
                .replace("\"T2\"", "\"T1\""),
            "/persistence",
        ),
    ] {
        let (status, headers, problem) = send(&a, "POST", server.url("/v1/ffm/alloc"), &body).await;
        assert!(status == 422 || status == 400, "{status} {problem}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(
            problem.to_string().contains(pointer),
            "{pointer}: {problem}"
        );
    }
    let (status, _, problem) = send(
        &a,
        "POST",
        server.url("/v1/policies"),
        r#"{"name":"night","security_domain":"tenantA","min_GBs":10,"window":{"start":"20:00","end":"08:00","time_zone":"Mars/Olympus"}}"#,
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem.to_string().contains("/window/time_zone"),
        "{problem}"
    );
    assert_eq!(problem["errors"][0]["rule"], "exists", "{problem}");
    // Any zone of the IANA tz database is accepted, daylight saving time
    // and all.
    let (status, _, created) = send(
        &a,
        "POST",
        server.url("/v1/policies"),
        r#"{"name":"berlin-night","security_domain":"tenantA","min_GBs":10,"window":{"start":"20:00","end":"08:00","time_zone":"Europe/Berlin"}}"#,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["window"]["time_zone"], "Europe/Berlin");
    server.stop().await;
}

/// The RFC's body names no host: the bundle is the default host's and says
/// so, with the source of its figures; a body naming a host that reaches too
/// little T2 is a 409 naming host and tier; the sequence form of the body is
/// refused.
#[tokio::test]
async fn hosts_sources_and_body_shape() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    let (status, _, body) = send(&a, "POST", server.url("/v1/ffm/alloc"), common::rfc::ALLOC).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["host"], "h0");
    assert_eq!(body["telemetry_source"], "model");
    let placed = body["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Placed")
        .unwrap_or_else(|| panic!("no Placed condition: {body}"));
    assert_eq!(placed["reason"], "Modelled", "{body}");
    let id = body["id"].as_str().unwrap();
    let (status, _, t) = send(
        &a,
        "GET",
        server.url(&format!("/v1/ffm/{id}/telemetry")),
        "",
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["source"], "model");
    let on_h2 = common::rfc::ALLOC.replace(
        "\"security_domain\": \"tenantA\"",
        "\"security_domain\": \"tenantA\",\n  \"host\": \"h2\"",
    );
    let (status, _, problem) = send(&a, "POST", server.url("/v1/ffm/alloc"), &on_h2).await;
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("host h2") && detail.contains("T2"),
        "{detail}"
    );
    let (status, _, problem) = send(
        &a,
        "POST",
        server.url("/v1/ffm/alloc"),
        r#"[4096,"T1",0,"none",false,"tenantA"]"#,
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    server.stop().await;
}

#[tokio::test]
async fn policy_names_are_unique_per_domain_and_policies_are_their_own_404() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    let b = server.http(&tenant("tenantB"));
    let night = r#"{"name":"night","security_domain":"tenantA","min_GBs":10,"window":{"start":"20:00","end":"08:00","time_zone":"UTC"}}"#;
    let (status, headers, created) = send(&a, "POST", server.url("/v1/policies"), night).await;
    assert_eq!(status, 201, "{created}");
    assert!(headers.contains_key("location"));
    let (status, headers, problem) = send(&a, "POST", server.url("/v1/policies"), night).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["reason"], "PolicyNameTaken");
    // tenantB may use the name; it cannot see tenantA's policy, which
    // answers exactly like a missing one, naming the policy kind.
    let theirs = night.replace("tenantA", "tenantB");
    let (status, _, own) = send(&b, "POST", server.url("/v1/policies"), &theirs).await;
    assert_eq!(status, 201, "{own}");
    let id = created["id"].as_str().unwrap();
    for method in ["GET", "DELETE"] {
        let (status, _, hidden) =
            send(&b, method, server.url(&format!("/v1/policies/{id}")), "").await;
        let (_, _, missing) =
            send(&b, method, server.url("/v1/policies/pol-000000000000"), "").await;
        assert_eq!(status, 404, "{method}: {hidden}");
        assert_eq!(hidden["reason"], missing["reason"]);
        assert_eq!(hidden["title"], missing["title"]);
        assert_eq!(
            hidden["detail"],
            format!("policies \"{id}\" not found"),
            "{hidden}"
        );
    }
    let (_, _, listed) = send(&b, "GET", server.url("/v1/policies"), "").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], own["id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_never_over_admit() {
    let server = start().await;
    let client = server.client(&tenant("tenantA"));
    let request = FfmAllocRequest {
        bytes: Bytes(1 << 20),
        latency_class: LatencyClass::T2,
        bandwidth_floor_gbs: GigabytesPerSecond(10.0),
        persistence: Persistence::None,
        shareable: true,
        security_domain: "tenantA".into(),
        host: None,
        policy_lease_ttl_s: None,
        labels: Default::default(),
    };
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let client = client.clone();
            let request = request.clone();
            tokio::spawn(async move { client.ffm_alloc(&request).await })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.problem().map(|p| p.status), Some(409), "{e}");
                refused += 1;
            }
        }
    }
    // 150 GB/s of T2 admission capacity reachable from the default host
    // (h0) of the default twin: 15 of 10 GB/s.
    assert_eq!(ok, 15, "{ok} granted, {refused} refused");
    assert_eq!(client.ffm_list().await.unwrap().len(), 15);
    // Per device, not only in total: the floors the store's grants put on
    // each device stay within its admission share of its bandwidth.
    let grants = server
        .plane()
        .store
        .range(corridor_store::RangeRequest::prefix("/ffm/grants/"))
        .await
        .unwrap();
    assert_eq!(grants.kvs.len(), 15);
    let mut floors: std::collections::BTreeMap<String, u64> = Default::default();
    for kv in &grants.kvs {
        let grant: Value = serde_json::from_slice(&kv.value).unwrap();
        for share in grant["placement"]["shares"].as_array().unwrap() {
            *floors
                .entry(share["device"].as_str().unwrap().to_owned())
                .or_default() += share["floor"].as_u64().unwrap();
        }
    }
    let topology = &server.plane().topology;
    let (paths, _) = server.plane().paths.registry().list_all().await.unwrap();
    for (device, floor_mbps) in &floors {
        let cap_mbps = match device.split_once('@') {
            // A host's slice of a pooled device: what the host's paths to it guarantee.
            Some((pooled, host)) => {
                paths
                    .iter()
                    .filter(|p| p.source_device == host && p.target_device == pooled)
                    .map(|p| p.qos.min_bandwidth_gbps.get())
                    .sum::<f64>()
                    / 8.0
                    * 1000.0
            }
            None => {
                let gbs = match topology.memory_device(device) {
                    Some((_, memory)) => memory.bandwidth_gbs.0,
                    None => topology.cxl_device(device).unwrap().bandwidth_gbs.0,
                };
                corridor_services::ffm::DEFAULT_ADMISSION_SHARE * gbs * 1000.0
            }
        };
        assert!(
            *floor_mbps as f64 <= cap_mbps + 1.0,
            "{device}: {floor_mbps} MB/s of floors granted, its share is {cap_mbps} MB/s"
        );
    }
    server.stop().await;
}

/// Runs only as the child of `another_process_maps_the_same_bytes`.
#[test]
fn child_maps_bundle() {
    let Ok(socket) = std::env::var("FFM_CHILD_SOCKET") else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let mut map = MappedBundle::open(
        Path::new(&socket),
        &var("FFM_CHILD_ID"),
        &var("FFM_CHILD_DOMAIN"),
        &var("FFM_CHILD_TOKEN"),
    )
    .unwrap();
    assert_eq!(&map.as_slice()[..12], b"parent wrote");
    map.as_mut_slice()[4096..4107].copy_from_slice(b"child wrote");
}

// Mapping is blocking socket I/O served by this same runtime: two workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_maps_the_same_bytes() {
    let server = start().await;
    let client = server.client(&tenant("tenantA"));
    let small: FfmAllocRequest = serde_json::from_str(
        &common::rfc::ALLOC
            .replace("274877906944", "1048576")
            .replace("150", "1"),
    )
    .unwrap();
    let handle = client.ffm_alloc(&small).await.unwrap();
    let mut map = handle.map(server.socket()).unwrap();
    map.as_mut_slice()[..12].copy_from_slice(b"parent wrote");
    let socket = server.socket();
    let id = handle.bundle.id.clone();
    let token = handle.token.clone().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_maps_bundle",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FFM_CHILD_SOCKET", socket)
            .env("FFM_CHILD_ID", id)
            .env("FFM_CHILD_DOMAIN", "tenantA")
            .env("FFM_CHILD_TOKEN", token)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "child {status}");
    assert_eq!(&map.as_slice()[4096..4107], b"child wrote");
    drop(map);
    server.stop().await;
}

fn spawn_corridord(state: &Path, port: u16) -> Corridord {
    let mut command = common::process::command();
    command.env("CORRIDOR_STATE_DIR", state).args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--security-domain",
        "tenantA",
        // Crash safety of persistent bundles is the subject here, on a
        // filesystem without encryption; encryption at rest has its own
        // tests (services: ffm_at_rest, ffm_fscrypt_loop).
        "--plaintext-persistence",
    ]);
    Corridord::spawn(command, state, port, true)
}

/// Waits for `corridord` and returns tenantA's client.
async fn ready(corridord: &mut Corridord, state: &Path) -> Client {
    corridord.ready().await;
    typed_client(&corridord.base(), state, &tenant("tenantA"))
}

#[tokio::test]
async fn kill_dash_nine_loses_no_acknowledged_bundle_and_restores_fds() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let socket = state.path().join("ffm.sock");
    let mut first = spawn_corridord(state.path(), port);
    let client = ready(&mut first, state.path()).await;
    let mut persistent: FfmAllocRequest = serde_json::from_str(
        &common::rfc::ALLOC
            .replace("274877906944", "1048576")
            .replace("150", "1"),
    )
    .unwrap();
    persistent.persistence = Persistence::File;
    persistent.latency_class = LatencyClass::T3;
    let kept = client.ffm_alloc(&persistent).await.unwrap();
    {
        let mut map = kept.map(&socket).unwrap();
        map.as_mut_slice()[..8].copy_from_slice(b"survives");
    }
    let mut acknowledged = vec![kept.bundle.id.clone()];
    let mut volatile = persistent.clone();
    volatile.persistence = Persistence::None;
    volatile.latency_class = LatencyClass::T1;
    for _ in 0..20 {
        acknowledged.push(client.ffm_alloc(&volatile).await.unwrap().bundle.id);
    }
    let old_pid = first.pid();
    first.kill_dash_nine();

    let mut second = spawn_corridord(state.path(), port);
    let client = ready(&mut second, state.path()).await;
    let listed: Vec<String> = client
        .ffm_list()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    for id in &acknowledged {
        assert!(listed.contains(id), "{id} lost");
    }
    let kept = client.ffm_get(&kept.bundle.id).await.unwrap();
    assert!(
        !kept.bundle.fds[0].contains(&format!("/proc/{old_pid}/")),
        "fd path restored with the new pid"
    );
    let map = kept.map(&socket).unwrap();
    assert_eq!(&map.as_slice()[..8], b"survives");
    // Every acknowledged alloc has its audit record (written as answered,
    // or restored from the store's log on the restart).
    let audit = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    let allocs = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["action"] == "POST /v1/ffm/alloc" && l["result"] == "allowed")
        .count();
    assert_eq!(allocs, acknowledged.len(), "{audit}");
    let restored = client.ffm_get(&acknowledged[1]).await.unwrap().bundle;
    let condition = restored.meta.condition("DataRetained").unwrap();
    assert!(!condition.is_true(), "{condition:?}");
    // The volatile bundle's memory is there again (empty) and mappable.
    let handle = client.ffm_get(&acknowledged[1]).await.unwrap();
    assert!(
        handle
            .map(&socket)
            .unwrap()
            .as_slice()
            .iter()
            .all(|&b| b == 0)
    );
}

/// Without a TPM and without the operator's opt-out, a persistent bundle is
/// refused (422 naming `/persistence`), never kept in plaintext silently;
/// volatile bundles are unaffected.
#[tokio::test]
async fn persistent_bundles_need_encryption_at_rest_or_the_operators_opt_out() {
    let server = Options::default()
        .domains(&["tenantA"])
        .encryption_at_rest_required()
        .start()
        .await;
    let client = server.client(&tenant("tenantA"));
    let mut request: FfmAllocRequest = serde_json::from_str(
        &common::rfc::ALLOC
            .replace("274877906944", "1048576")
            .replace("150", "1"),
    )
    .unwrap();
    request.persistence = Persistence::File;
    request.latency_class = LatencyClass::T3;
    let refused = client.ffm_alloc(&request).await.unwrap_err();
    let problem = refused.problem().expect("a problem").clone();
    assert_eq!(problem.status, 422, "{problem:?}");
    let violation = &problem.errors[0];
    assert_eq!(violation.pointer, "/persistence", "{problem:?}");
    assert!(violation.message.contains("--tpm"), "{problem:?}");
    assert!(
        client.ffm_list().await.unwrap().is_empty(),
        "nothing half-made"
    );
    request.persistence = Persistence::None;
    client.ffm_alloc(&request).await.unwrap();
    server.stop().await;
}

/// The floors admitted on the T2 devices in the window named `window`
/// (`None`: outside every policy window), summed over the devices, with
/// what is left there.
fn t2_floors(tiers: &Value, policy: Option<&str>) -> (f64, f64) {
    let mut admitted = 0.0;
    let mut left = 0.0;
    for d in tiers["devices"].as_array().unwrap() {
        if d["tier"] != "T2" {
            continue;
        }
        let w = d["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| {
                let ids = w["policies"].as_array().unwrap();
                match policy {
                    None => ids.is_empty(),
                    Some(p) => ids.iter().any(|i| i == p),
                }
            })
            .unwrap_or_else(|| panic!("no window {policy:?} on {d}"));
        admitted += w["admitted_GBs"].as_f64().unwrap();
        left += w["available_GBs"].as_f64().unwrap();
    }
    (admitted, left)
}

/// `GET /v1/ffm/tiers` shows what memqosd allocates on: each device's tier
/// and why, and per policy window the floors admitted and what is left,
/// which move when a bundle is allocated and when it is freed. Tenants may
/// not read it (it shows every domain's reservations).
#[tokio::test]
async fn tiers_show_admitted_floors_per_window_as_bundles_come_and_go() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    let admin = typed_client(server.base(), server.state_dir(), &Principal::Admin);
    let srv = &server;
    let tiers = move || async move {
        let (status, _, body) = send(srv.admin(), "GET", srv.url("/v1/ffm/tiers"), "").await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let (status, _, problem) = send(&a, "GET", server.url("/v1/ffm/tiers"), "").await;
    assert_eq!(status, 403, "{problem}");

    // The typed client reads the same document.
    let typed = admin.ffm_tiers().await.unwrap();
    assert!(!typed.devices.is_empty());
    let before = tiers().await;
    assert_eq!(before["admission_share"], 0.75);
    for d in before["devices"].as_array().unwrap() {
        // The default twin's devices are modelled, with the topology's figures.
        assert_eq!(d["source"], "model", "{d}");
        assert_eq!(d["bandwidth_GBs"]["origin"], "twin", "{d}");
        assert!(!d["basis"]["rule"].as_str().unwrap().is_empty(), "{d}");
        // A slice no path opens (another host's share of a pooled device) has nothing.
        let closed = d["fabric_slice"]["open"] == false;
        assert_eq!(d["capacity_bytes"].as_u64().unwrap() == 0, closed, "{d}");
        // No policy yet: one window, the whole week, nothing admitted.
        assert_eq!(d["windows"].as_array().unwrap().len(), 1, "{d}");
        assert_eq!(d["windows"][0]["admitted_GBs"], 0.0, "{d}");
        let admission = d["admission_GBs"].as_f64().unwrap();
        let peak = d["bandwidth_GBs"]["value"].as_f64().unwrap();
        // A host's slice of a pooled device admits all its paths guarantee; a device of its
        // own, the admission share of its peak.
        let share = if d["fabric_slice"].is_object() {
            1.0
        } else {
            0.75
        };
        assert!((admission - share * peak).abs() < 0.01, "{d}");
        assert_eq!(d["windows"][0]["available_GBs"], d["admission_GBs"], "{d}");
    }
    let t2 = before["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["tier"] == "T2")
        .unwrap();
    assert!(t2["basis"]["rule"].as_str().unwrap().contains("T2"), "{t2}");

    // A night policy of tenantA in Berlin time: a second window appears.
    let (status, _, policy) = send(
        &a,
        "POST",
        server.url("/v1/policies"),
        r#"{"name":"night","security_domain":"tenantA","min_GBs":12,"window":{"start":"20:00","end":"08:00","time_zone":"Europe/Berlin"}}"#,
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let pid = policy["id"].as_str().unwrap();
    let with_policy = tiers().await;
    let (day0, day_left0) = t2_floors(&with_policy, None);
    let (night0, _) = t2_floors(&with_policy, Some(pid));
    assert_eq!((day0, night0), (0.0, 0.0));
    let window = with_policy["devices"][0]["windows"][1]["window"]
        .as_str()
        .unwrap();
    assert!(
        window.contains("20:00–08:00 Europe/Berlin"),
        "{with_policy}"
    );

    // A 5 GB/s T2 bundle: 5 GB/s admitted by day, the policy's 12 at night.
    let (status, _, bundle) = send(
        &a,
        "POST",
        server.url("/v1/ffm/alloc"),
        r#"{"bytes":1048576,"latency_class":"T2","bandwidth_floor_GBs":5,"persistence":"none","shareable":true,"security_domain":"tenantA"}"#,
    )
    .await;
    assert_eq!(status, 201, "{bundle}");
    let allocated = tiers().await;
    assert!(
        allocated["ledger_revision"].as_u64() > with_policy["ledger_revision"].as_u64(),
        "{allocated}"
    );
    let (day, day_left) = t2_floors(&allocated, None);
    let (night, _) = t2_floors(&allocated, Some(pid));
    assert!((day - 5.0).abs() < 0.01, "{day}: {allocated}");
    assert!((night - 12.0).abs() < 0.01, "{night}: {allocated}");
    assert!((day_left0 - day_left - 5.0).abs() < 0.01, "{allocated}");
    let held: u64 = allocated["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["allocated_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(held, 1_048_576);

    // Freed: nothing admitted again.
    let id = bundle["id"].as_str().unwrap();
    let (status, _, _) = send(&a, "DELETE", server.url(&format!("/v1/ffm/{id}")), "").await;
    assert_eq!(status, 200);
    let freed = tiers().await;
    assert_eq!(t2_floors(&freed, None), (0.0, day_left0));
    assert_eq!(t2_floors(&freed, Some(pid)).0, 0.0);
    server.stop().await;
}

/// The store's head revision.
async fn store_revision(server: &Server) -> i64 {
    server
        .plane()
        .store
        .range(corridor_store::RangeRequest::prefix("/"))
        .await
        .unwrap()
        .revision
}

/// Allocated bytes per device, from `GET /v1/ffm/tiers`.
async fn allocated_bytes(server: &Server) -> Vec<(String, u64)> {
    let (status, _, tiers) = send(server.admin(), "GET", server.url("/v1/ffm/tiers"), "").await;
    assert_eq!(status, 200, "{tiers}");
    tiers["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_owned(),
                d["allocated_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `?dry_run=true` answers the plan a real alloc then grants (devices and
/// bytes, the fabric paths of pooled slices, the floor per window, the
/// modelled GB/s, the lease, the binding constraint) and commits nothing:
/// the store's revision, the tiers' allocated bytes, the bundle list and
/// the audit log are as before. A request that cannot be placed gets the
/// same problem from a dry run as from an alloc; bad flags name `?dry_run`.
#[tokio::test]
async fn a_dry_run_plans_what_an_alloc_grants_and_commits_nothing() {
    let server = start().await;
    let a = server.http(&tenant("tenantA"));
    let dry = server.url("/v1/ffm/alloc?dry_run=true");
    let allocated = allocated_bytes(&server).await;

    // Background passes may write meanwhile; a dry run that wrote would
    // move the revision on every try.
    let mut plan = Value::Null;
    let mut unchanged = false;
    for _ in 0..5 {
        let before = store_revision(&server).await;
        let (status, _, body) = send(&a, "POST", dry.clone(), common::rfc::ALLOC).await;
        assert_eq!(status, 200, "{body}");
        plan = body;
        if store_revision(&server).await == before {
            unchanged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(unchanged, "every dry run moved the store's revision");
    assert_eq!(allocated_bytes(&server).await, allocated);
    let (_, _, list) = send(&a, "GET", server.url("/v1/ffm"), "").await;
    assert_eq!(list, json!([]));

    assert_eq!(plan["host"], "h0", "{plan}");
    assert_eq!(plan["telemetry_source"], "model", "{plan}");
    assert_eq!(plan["floor_met"], true, "{plan}");
    assert_eq!(plan["lease"]["policy_lease_ttl_s"], 3600, "{plan}");
    let shares = plan["placement"].as_array().unwrap();
    assert!(!shares.is_empty(), "{plan}");
    let planned_bytes: u64 = shares.iter().map(|s| s["bytes"].as_u64().unwrap()).sum();
    assert_eq!(planned_bytes, 274_877_906_944);
    // A pooled device's slice names the paths that open it.
    for s in shares {
        let pooled = s["device"].as_str().unwrap().contains('@');
        assert_eq!(
            pooled,
            !s["fabric_paths"].as_array().unwrap().is_empty(),
            "{s}"
        );
    }
    assert_eq!(plan["windows"][0]["floor_GBs"], 150.0, "{plan}");
    // 150 GB/s takes the whole T2 admission bandwidth the host reaches:
    // the binding constraint is bandwidth with nothing left.
    let binding = &plan["binding_constraint"];
    assert_eq!(binding["kind"], "bandwidth", "{binding}");
    assert!(binding["left"].as_f64().unwrap() < 0.01, "{binding}");
    assert!(
        shares.iter().any(|s| s["device"] == binding["device"]),
        "{binding}"
    );

    // The alloc grants what was planned.
    let (status, _, bundle) =
        send(&a, "POST", server.url("/v1/ffm/alloc"), common::rfc::ALLOC).await;
    assert_eq!(status, 201, "{bundle}");
    let granted: Vec<(Value, Value)> = bundle["placement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["node"].clone(), p["bytes"].clone()))
        .collect();
    let planned: Vec<(Value, Value)> = shares
        .iter()
        .map(|p| (p["node"].clone(), p["bytes"].clone()))
        .collect();
    assert_eq!(granted, planned, "{bundle} / {plan}");
    let achieved = bundle["achieved_GBs"].as_f64().unwrap();
    let predicted = plan["achieved_GBs"].as_f64().unwrap();
    assert!((achieved - predicted).abs() < 0.002, "{bundle} / {plan}");
    assert_eq!(
        bundle["policy_lease_ttl_s"],
        plan["lease"]["policy_lease_ttl_s"]
    );

    // Nothing is left for a second one: the same problem either way.
    let (dry_status, _, dry_problem) = send(&a, "POST", dry.clone(), common::rfc::ALLOC).await;
    let (status, _, problem) =
        send(&a, "POST", server.url("/v1/ffm/alloc"), common::rfc::ALLOC).await;
    assert_eq!(
        (dry_status, status),
        (409, 409),
        "{dry_problem} / {problem}"
    );
    assert_eq!(dry_problem["reason"], problem["reason"]);
    assert_eq!(dry_problem["detail"], problem["detail"]);
    // A host the server does not know: the alloc's 422 on /host.
    let unknown_host = common::rfc::ALLOC.replace(
        "\"shareable\": true,",
        "\"shareable\": true, \"host\": \"nowhere\",",
    );
    let (status, _, problem) = send(&a, "POST", dry.clone(), &unknown_host).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/host", "{problem}");

    // Bad flags and unknown parameters name themselves.
    for (query, pointer) in [
        ("dry_run=yes", "?dry_run"),
        ("dry_run=1", "?dry_run"),
        ("dryrun=true", "?query"),
    ] {
        let (status, _, problem) = send(
            &a,
            "POST",
            server.url(&format!("/v1/ffm/alloc?{query}")),
            common::rfc::ALLOC,
        )
        .await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], pointer,
            "{query}: {problem}"
        );
    }

    // Only the real allocs were audited, once the last one's line is written.
    let audit_path = server.state_dir().join("audit.log");
    let mut allocs = Vec::new();
    for _ in 0..50 {
        let audit = std::fs::read_to_string(&audit_path).unwrap_or_default();
        allocs = audit
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["action"] == "POST /v1/ffm/alloc")
            .map(|l| (l["resource"].clone(), l["status"].clone()))
            .collect();
        if allocs.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The 201, the 409, and the three refused flags (not dry runs).
    let statuses: Vec<Value> = allocs.iter().map(|(_, s)| s.clone()).collect();
    assert_eq!(
        statuses,
        vec![json!(201), json!(409), json!(422), json!(422), json!(422)],
        "{allocs:?}"
    );
    server.stop().await;
}

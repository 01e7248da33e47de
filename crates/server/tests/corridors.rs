//! corrd over HTTP: the RFC's corridor examples verbatim, visibility across
//! security domains, racing grants, restarts, bad input and twin faults,
//! against an in-process corridord on a free loopback port (the shared
//! harness in `common/`).

use std::collections::{HashMap, HashSet};

mod common;

use common::clients::domain;
use common::requests::one_lane_corridor;
use common::server::{Options, Server};
use corridor_pki::Principal;
use corridor_services::ControlPlane;
use corridor_services::corridors::grant::keys_of;
use corridor_services::corridors::ledger::LEDGER_PREFIX;
use corridor_store::RangeRequest;
use serde_json::{Value, json};

/// The RFC's "Allocate Corridor" body; the RFC writes
/// `"SiCorridor" | "CarbonCorridor"`, so each alternative is sent as is.
fn rfc_request(corridor_type: &str) -> String {
    format!(
        r#"{{
  "corridor_type": "{corridor_type}",
  "lanes": 8,
  "lambda_nm": [1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557],
  "min_gbps": 400,
  "latency_budget_ns": 250,
  "reach_mm": 75,
  "mode": "waveguide",
  "qos": {{
    "pfc": true,
    "priority": "gold"
  }},
  "attestation_required": true
}}"#
    )
}

/// Every field of the RFC's "Allocate Corridor" response.
const RFC_RESPONSE_FIELDS: [&str; 15] = [
    "id",
    "corridor_type",
    "lanes",
    "lambda_nm",
    "min_gbps",
    "latency_budget_ns",
    "reach_mm",
    "mode",
    "qos",
    "attestation_required",
    "achievable_gbps",
    "ber",
    "eye_margin",
    "created_at",
    "status",
];

/// Every field of the RFC's "Get Telemetry" response.
const RFC_TELEMETRY_FIELDS: [&str; 6] = [
    "ber",
    "temp_c",
    "power_pj_per_bit",
    "drift",
    "utilization_percent",
    "error_count",
];

/// corridord with two tenant domains, on the shared harness.
async fn start_in(state: Option<tempfile::TempDir>) -> Server {
    let options = Options::default().domains(&["tenantA", "tenantB"]);
    match state {
        Some(state) => options.state(state).start().await,
        None => options.start().await,
    }
}

fn tenant(server: &Server, name: &str) -> reqwest::Client {
    server.http(&domain(name))
}

async fn post_raw(client: &reqwest::Client, url: &str, body: String) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// [`one_lane_corridor`] as a body.
fn small(lambda: f64, priority: &str, mode: &str, endpoints: Option<[&str; 2]>) -> String {
    one_lane_corridor(lambda, priority, mode, endpoints).to_string()
}

/// No (link, channel) or (port, lane) held twice, judged from the objects,
/// and the ledger holds exactly the keys the live objects name.
async fn assert_no_double_grant(plane: &ControlPlane) {
    let ledger: HashMap<String, String> = plane
        .store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap()
        .kvs
        .iter()
        .map(|kv| {
            let v: Value = serde_json::from_slice(&kv.value).unwrap();
            (kv.key.clone(), v["corridor"].as_str().unwrap().to_owned())
        })
        .collect();
    let mut seen: HashMap<String, String> = HashMap::new();
    for c in plane.corridors.list_all().await.unwrap() {
        for key in keys_of(plane.corridors.fabric(), &c) {
            if let Some(other) = seen.insert(key.clone(), c.id.clone()) {
                panic!("{key} granted to {other} and {}", c.id);
            }
            assert_eq!(ledger.get(&key), Some(&c.id), "ledger disagrees on {key}");
        }
    }
    assert_eq!(seen.len(), ledger.len(), "orphan ledger keys");
}

#[tokio::test]
async fn the_rfc_corridor_examples_work_verbatim() {
    let server = start_in(None).await;
    let tenant = tenant(&server, "tenantA");
    let (status, corridor) = post_raw(
        &tenant,
        &server.url("/v1/corridors"),
        rfc_request("SiCorridor"),
    )
    .await;
    assert_eq!(status, 201, "{corridor}");
    for field in RFC_RESPONSE_FIELDS {
        assert!(corridor.get(field).is_some(), "{field} missing: {corridor}");
    }
    for field in ["channels", "path", "hops", "conditions", "assignment"] {
        assert!(corridor.get(field).is_some(), "{field} missing: {corridor}");
    }
    assert_eq!(
        corridor["lambda_nm"],
        json!([1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557])
    );
    assert_eq!(corridor["qos"], json!({"pfc": true, "priority": "gold"}));
    assert_eq!(corridor["security_domain"], "tenantA");
    assert!(corridor["achievable_gbps"].as_f64().unwrap() >= 400.0);
    assert_eq!(corridor["channels"].as_array().unwrap().len(), 8);
    // attestd attests the twin's devices when corridord starts; the
    // corridor is held (lanes dark) until both end modules hold affirming
    // tickets, then goes active naming their attestations.
    assert!(
        corridor["status"] == "provisioning" || corridor["status"] == "active",
        "{corridor}"
    );
    let id = corridor["id"].as_str().unwrap().to_owned();
    let url = server.url(&format!("/v1/corridors/{id}"));
    let mut active = corridor.clone();
    for _ in 0..200 {
        if active["status"] == "active" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        active = get(&tenant, &url).await.1;
    }
    assert_eq!(active["status"], "active", "{active}");
    let conditions = active["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Attested" && c["status"] == "True"),
        "{active}"
    );
    let attestations = active["attestations"].as_array().unwrap();
    assert_eq!(attestations.len(), 2, "{active}");
    // The attestations and their tickets: the operator reads them, and
    // the tenant verifies nothing it has no binding to.
    let admin = server.admin();
    for (end, attestation) in active["assignment"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .zip(attestations)
    {
        let (status, a) = get(
            admin,
            &server.url(&format!("/v1/attest/{}", attestation.as_str().unwrap())),
        )
        .await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(&a["device_id"], end, "{a}");
        assert_eq!(a["verdict"], "affirming", "{a}");
        let ticket = a["ticket_id"].as_str().unwrap();
        let (status, v) = get(admin, &server.url(&format!("/v1/fabman/attest/{ticket}"))).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["valid"], true, "{v}");
        let (status, _) = get(&tenant, &server.url(&format!("/v1/fabman/attest/{ticket}"))).await;
        assert_eq!(status, 404, "a ticket bound to nothing of tenantA's");
    }
    let (status, telemetry) = get(
        &tenant,
        &server.url(&format!("/v1/corridors/{id}/telemetry")),
    )
    .await;
    assert_eq!(status, 200, "{telemetry}");
    assert_eq!(telemetry["source"], "model", "{telemetry}");

    // The other alternative: CarbonCorridor is planned with its own lane
    // rates and losses; it is granted or refused naming the constraint.
    let (status, carbon) = post_raw(
        &tenant,
        &server.url("/v1/corridors"),
        rfc_request("CarbonCorridor"),
    )
    .await;
    match status {
        201 => {
            for field in RFC_RESPONSE_FIELDS {
                assert!(carbon.get(field).is_some(), "{field} missing: {carbon}");
            }
            assert_eq!(carbon["corridor_type"], "CarbonCorridor");
        }
        // Refused either for held capacity or because no path meets its
        // physics; never a reason that hides which.
        409 => assert!(
            carbon["reason"] == "InsufficientCapacity" || carbon["reason"] == "NoFeasiblePath",
            "{carbon}"
        ),
        other => panic!("{other}: {carbon}"),
    }
    assert_no_double_grant(server.plane()).await;
    server.stop().await;
}

#[tokio::test]
async fn an_active_corridor_reports_cmis_telemetry_and_releases_its_capacity() {
    let server = start_in(None).await;
    let admin = server.admin();
    let (status, c) = post_raw(
        admin,
        &server.url("/v1/corridors"),
        small(1550.0, "silver", "waveguide", Some(["op-h0-0", "op-h1-0"])),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(c["eye_margin"], "ok");
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, t) = get(admin, &server.url(&format!("/v1/corridors/{id}/telemetry"))).await;
    assert_eq!(status, 200, "{t}");
    for field in RFC_TELEMETRY_FIELDS {
        assert!(t.get(field).is_some(), "{field} missing: {t}");
    }
    assert!(t["ber"].as_f64().unwrap() < 1e-5, "{t}");
    assert!(t["power_pj_per_bit"].as_f64().unwrap() > 0.0, "{t}");
    // The twin's modules are simulated: their figures say so.
    assert_eq!(t["source"], "model", "{t}");
    assert_eq!(t["drift"], "low");

    // Recalibration is an operation.
    let response = admin
        .post(server.url(&format!("/v1/corridors/{id}/recalibrate")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let op: Value = response.json().await.unwrap();
    assert_eq!(op["kind"], "calibration");

    // Same endpoints and wavelength again: the ledger refuses.
    let (status, problem) = post_raw(
        admin,
        &server.url("/v1/corridors"),
        small(1550.0, "silver", "waveguide", Some(["op-h0-0", "op-h1-0"])),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["reason"], "InsufficientCapacity");

    let response = admin
        .delete(server.url(&format!("/v1/corridors/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let released: Value = response.json().await.unwrap();
    assert_eq!(released["status"], "released");
    let (status, _) = get(admin, &server.url(&format!("/v1/corridors/{id}"))).await;
    assert_eq!(status, 404);
    let (status, again) = post_raw(
        admin,
        &server.url("/v1/corridors"),
        small(1550.0, "silver", "waveguide", Some(["op-h0-0", "op-h1-0"])),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    assert_no_double_grant(server.plane()).await;
    server.stop().await;
}

#[tokio::test]
async fn another_domains_corridor_is_a_404_like_a_missing_one() {
    let server = start_in(None).await;
    let a = tenant(&server, "tenantA");
    let b = tenant(&server, "tenantB");
    let (status, c) = post_raw(
        &a,
        &server.url("/v1/corridors"),
        small(1550.0, "silver", "fiber", None),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap();
    for path in [
        format!("/v1/corridors/{id}"),
        format!("/v1/corridors/{id}/telemetry"),
    ] {
        let (status, body) = get(&b, &server.url(&path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        let (_, missing) = get(&b, &server.url(&path.replace(id, "cor-000000000000"))).await;
        assert_eq!(body["title"], missing["title"]);
        assert_eq!(body["type"], missing["type"]);
    }
    for path in [
        format!("/v1/corridors/{id}/recalibrate"),
        format!("/v1/corridors/{id}/lease"),
    ] {
        let response = b.post(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
    let response = b
        .delete(server.url(&format!("/v1/corridors/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let (_, listed_b) = get(&b, &server.url("/v1/corridors")).await;
    assert_eq!(listed_b, json!([]));
    let (_, listed_a) = get(&a, &server.url("/v1/corridors")).await;
    assert_eq!(listed_a.as_array().unwrap().len(), 1);
    // Still there for its owner.
    let (status, _) = get(&a, &server.url(&format!("/v1/corridors/{id}"))).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_clients_never_get_the_same_wavelength() {
    let server = start_in(None).await;
    let url = server.url("/v1/corridors");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let client = server.admin().clone();
        let url = url.clone();
        // Four wavelengths shared by 16 clients each, half on fibre and
        // half on waveguides, no endpoints: the planner picks among the 4
        // links of each medium.
        let lambda = [1550.0, 1551.0, 1552.0, 1553.0][i % 4];
        let mode = ["fiber", "waveguide"][(i / 4) % 2];
        tasks.push(tokio::spawn(async move {
            post_raw(&client, &url, small(lambda, "silver", mode, None)).await
        }));
    }
    let mut granted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => granted += 1,
            409 => assert_eq!(body["reason"], "InsufficientCapacity", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    // 8 links x 4 wavelengths can each be held once.
    assert_eq!(granted, 32);
    let all = server.plane().corridors.list_all().await.unwrap();
    let mut held = HashSet::new();
    for c in &all {
        let a = c.assignment.as_ref().unwrap();
        assert!(held.insert((c.path.clone(), a.grid_channels.clone())));
    }
    assert_no_double_grant(server.plane()).await;
    server.stop().await;
}

#[tokio::test]
async fn a_restart_rebuilds_occupancy_and_grants_nothing_twice() {
    let server = start_in(None).await;
    let (status, first) = post_raw(
        server.admin(),
        &server.url("/v1/corridors"),
        small(1552.0, "silver", "fiber", Some(["op-h2-2", "op-h0-2"])),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let state = server.stop().await;

    let server = start_in(Some(state)).await;
    let (status, problem) = post_raw(
        server.admin(),
        &server.url("/v1/corridors"),
        small(1552.0, "silver", "fiber", Some(["op-h0-2", "op-h2-2"])),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    let (status, kept) = get(
        server.admin(),
        &server.url(&format!("/v1/corridors/{}", first["id"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(kept["path"], first["path"]);
    assert_no_double_grant(server.plane()).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_corridor_requests_name_the_field() {
    let server = start_in(None).await;
    let admin = server.admin();
    let url = server.url("/v1/corridors");
    let mut off_grid: Value = serde_json::from_str(&rfc_request("SiCorridor")).unwrap();
    off_grid["lambda_nm"][3] = json!(1530);
    let mut no_lanes: Value = serde_json::from_str(&rfc_request("SiCorridor")).unwrap();
    no_lanes["lanes"] = json!(0);
    let mut unknown: Value = serde_json::from_str(&rfc_request("SiCorridor")).unwrap();
    unknown["colour"] = json!("blue");
    let mut bad_port: Value = serde_json::from_str(&small(1550.0, "gold", "fiber", None)).unwrap();
    bad_port["endpoints"] = json!(["op-h0-0", "op-nowhere"]);
    for (body, pointer) in [
        (off_grid, "/lambda_nm/3"),
        (no_lanes, "/lanes"),
        (unknown, "/colour"),
        (bad_port, "/endpoints/1"),
    ] {
        let response = admin
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let problem: Value = response.json().await.unwrap();
        assert!(status == 422 || status == 400, "{status} {problem}");
        assert_eq!(content_type, "application/problem+json");
        let pointers: Vec<&str> = problem["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|v| v["pointer"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            pointers.contains(&pointer) || problem["detail"].as_str().unwrap().contains(pointer),
            "{pointer} not named: {problem}"
        );
    }
    // Sixteen lanes pass validation (up to 64) but no port's module has
    // them: a 409 that says so, not a 422 and not a partial grant.
    let mut sixteen: Value = serde_json::from_str(&rfc_request("SiCorridor")).unwrap();
    sixteen["lanes"] = json!(16);
    // Every channel of the twin's 100 GHz band, n = -8..=7.
    let band: Vec<f64> = (-8..8)
        .map(|n| 299_792_458.0 / ((193_100.0 + f64::from(n) * 100.0) * 1e9) * 1e9)
        .collect();
    sixteen["lambda_nm"] = json!(band);
    sixteen["attestation_required"] = json!(false);
    let (status, problem) = post_raw(admin, &url, sixteen.to_string()).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["reason"], "ExceedsPortLanes", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("16"),
        "{problem}"
    );
    assert!(
        server
            .plane()
            .corridors
            .list_all()
            .await
            .unwrap()
            .is_empty()
    );
    assert_no_double_grant(server.plane()).await;
    server.stop().await;
}

#[tokio::test]
async fn twin_faults_are_admin_only_and_show_in_telemetry() {
    let server = start_in(None).await;
    let admin = server.admin();
    let (status, c) = post_raw(
        admin,
        &server.url("/v1/corridors"),
        small(1550.0, "gold", "waveguide", Some(["op-h0-0", "op-h1-0"])),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let fault =
        json!({"port": "op-h1-0", "fault": {"kind": "ring_detuning", "nm": 0.2}}).to_string();
    let faults = server.url("/v1/admin/twin/faults");
    for principal in [Principal::Operator, Principal::domain("tenantA").unwrap()] {
        let (status, _) = post_raw(&server.http(&principal), &faults, fault.clone()).await;
        assert_eq!(status, 403);
    }
    let (status, body) = post_raw(
        admin,
        &faults,
        json!({"port": "op-nowhere", "fault": {"kind": "clear"}}).to_string(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = post_raw(admin, &faults, fault).await;
    assert_eq!(status, 204);
    let id = c["id"].as_str().unwrap();
    let (_, t) = get(admin, &server.url(&format!("/v1/corridors/{id}/telemetry"))).await;
    // The eye fails on the pre-FEC BER; `ber` is what FEC leaves of it.
    let pre = t["pre_fec_ber"].as_f64().unwrap();
    assert!(pre > 1e-5, "{t}");
    assert!(t["ber"].as_f64().unwrap() <= pre, "{t}");
    server.stop().await;
}

/// `?dry_run=true` answers the plan a grant would make (the same path,
/// wavelengths and assignment the grant then gets) and commits nothing:
/// no corridor, no ledger key. The refusal a grant would get is the dry
/// run's too, and a bad flag or another parameter is a 422 naming it.
#[tokio::test]
async fn a_dry_run_shows_the_plan_and_commits_nothing() {
    let server = start_in(None).await;
    let tenant = tenant(&server, "tenantA");
    let url = server.url("/v1/corridors?dry_run=true");
    let (status, plan) = post_raw(&tenant, &url, rfc_request("SiCorridor")).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["assigned_lambda_nm"].as_array().unwrap().len(), 8);
    assert!(plan["achievable_gbps"].as_f64().unwrap() >= 400.0, "{plan}");
    assert!(plan["ber"].as_f64().unwrap() < 1e-12, "{plan}");
    assert!(
        plan["binding_constraint"]
            .as_str()
            .is_some_and(|b| !b.is_empty()),
        "{plan}"
    );
    assert_eq!(plan["preempts"], json!([]));
    // Nothing committed.
    let (_, list) = get(&tenant, &server.url("/v1/corridors")).await;
    assert_eq!(list, json!([]));
    let held = server
        .plane()
        .store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap();
    assert!(held.kvs.is_empty(), "a dry run held ledger keys");
    // The grant plans the same way.
    let (status, corridor) = post_raw(
        &tenant,
        &server.url("/v1/corridors"),
        rfc_request("SiCorridor"),
    )
    .await;
    assert_eq!(status, 201, "{corridor}");
    for field in ["path", "hops", "assigned_lambda_nm", "assignment"] {
        assert_eq!(plan[field], corridor[field], "{field}");
    }
    // A request no path meets: the dry run gets the grant's refusal.
    let impossible =
        rfc_request("SiCorridor").replace("\"latency_budget_ns\": 250", "\"latency_budget_ns\": 1");
    let (dry_status, dry) = post_raw(&tenant, &url, impossible.clone()).await;
    let (status, refused) = post_raw(&tenant, &server.url("/v1/corridors"), impossible).await;
    assert_eq!((dry_status, status), (409, 409), "{dry} / {refused}");
    assert_eq!(dry["reason"], refused["reason"], "{dry} / {refused}");
    // Bad flags and unknown parameters name themselves.
    for (query, pointer) in [("dry_run=yes", "?dry_run"), ("dryrun=true", "?query")] {
        let (status, problem) = post_raw(
            &tenant,
            &server.url(&format!("/v1/corridors?{query}")),
            rfc_request("SiCorridor"),
        )
        .await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], pointer,
            "{query}: {problem}"
        );
    }
    server.stop().await;
}

/// The physics decoder explains each receiving lane term by term: the
/// budget adds up (launch minus every loss is the received power, minus the
/// required power the margin), every term names its source, and the
/// pre-FEC BER is the one the lane's telemetry reports. Another domain's
/// corridor is a 404, one whose link is cut a 409 naming the dark lanes.
#[tokio::test]
async fn the_physics_decoder_adds_up_and_matches_the_telemetry() {
    let server = start_in(None).await;
    let other = tenant(&server, "tenantB");
    let tenant = tenant(&server, "tenantA");
    let request = rfc_request("SiCorridor").replace(
        "\"attestation_required\": true",
        "\"attestation_required\": false",
    );
    let (status, corridor) = post_raw(&tenant, &server.url("/v1/corridors"), request).await;
    assert_eq!(status, 201, "{corridor}");
    let id = corridor["id"].as_str().unwrap().to_owned();
    let (status, physics) = get(&tenant, &server.url(&format!("/v1/corridors/{id}/physics"))).await;
    assert_eq!(status, 200, "{physics}");
    assert_eq!(physics["source"], "model");
    let lanes = physics["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 16, "8 lanes received at each end");
    for lane in lanes {
        let value = |name: &str| {
            lane["budget"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("no {name} in {lane}"))["value"]
                .as_f64()
                .unwrap()
        };
        let losses: f64 = [
            "propagation",
            "couplers",
            "modulator",
            "rings_through",
            "ring_drop",
            "detuning",
        ]
        .iter()
        .map(|n| value(n))
        .sum();
        assert!(
            (value("launch") + losses - value("received")).abs() < 1e-6,
            "{lane}"
        );
        assert!(
            (value("received") - value("required") - value("margin")).abs() < 1e-6,
            "{lane}"
        );
        for t in lane["budget"]
            .as_array()
            .unwrap()
            .iter()
            .chain(lane["energy"].as_array().unwrap())
        {
            assert!(!t["source"].as_str().unwrap().is_empty(), "{t}");
        }
        assert!(lane["post_fec_ber"].as_f64().unwrap() < 1e-12, "{lane}");
    }
    // The telemetry's worst pre-FEC BER is one of the decoded lanes' (the
    // module's registers round it: within 5 %).
    let (status, telemetry) = get(
        &tenant,
        &server.url(&format!("/v1/corridors/{id}/telemetry")),
    )
    .await;
    assert_eq!(status, 200, "{telemetry}");
    let reported = telemetry["pre_fec_ber"].as_f64().unwrap();
    let decoded = lanes
        .iter()
        .map(|l| l["pre_fec_ber"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(
        (reported / decoded - 1.0).abs() < 0.05,
        "telemetry {reported:e}, decoder {decoded:e}"
    );

    let (status, _) = get(&other, &server.url(&format!("/v1/corridors/{id}/physics"))).await;
    assert_eq!(status, 404);
    // Its link cut: no light reaches the receivers, so no BER to explain
    // (unless the reconciler moved the corridor to another link meanwhile).
    let link = corridor["path"][0].as_str().unwrap().to_owned();
    let response = server
        .admin()
        .post(server.url("/v1/admin/twin/faults"))
        .json(&json!({"link": link, "fault": {"kind": "link_cut", "cut": true}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let (status, problem) = get(&tenant, &server.url(&format!("/v1/corridors/{id}/physics"))).await;
    if status == 200 {
        let (_, moved) = get(&tenant, &server.url(&format!("/v1/corridors/{id}"))).await;
        assert_ne!(
            moved["path"][0],
            link.as_str(),
            "dark lanes decoded: {problem}"
        );
    } else {
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["reason"], "NotLit", "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("receives no light"),
            "{problem}"
        );
    }
    server.stop().await;
}

//! heliopassd over HTTP: the RFC's example corridor calibrated as a long
//! operation with per-lane progress and a stored result, riding through a
//! +10 K ambient step on the tracker (and, as the control, drifting off
//! without it), and bad input, against an in-process corridord.

use std::time::{Duration, Instant};

mod common;

use common::rfc;
use common::server::{Options, Server};
use corridor_services::heliopass::HelioSettings;
use serde_json::{Value, json};

/// ×600: the step profile's +10 K at 60 s comes 0.1 s after it applies.
async fn start(tracking: bool) -> Server {
    Options::default()
        .time_scale(600.0)
        .heliopass(HelioSettings {
            tracking,
            ..HelioSettings::default()
        })
        .start()
        .await
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Grants the RFC corridor and waits until attestd has let it light.
async fn rfc_corridor(server: &Server) -> Value {
    let response = server
        .admin()
        .post(server.url("/v1/corridors"))
        .header("content-type", "application/json")
        .body(rfc::CORRIDOR)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let corridor: Value = response.json().await.unwrap();
    let id = corridor["id"].as_str().unwrap().to_owned();
    wait_for(server, &id, "active", |c| c["status"] == "active").await
}

/// Polls corridor `id` (up to 60 s) until `done` holds of it; answers it.
async fn wait_for(server: &Server, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, c) = send(
            server.admin(),
            reqwest::Method::GET,
            &server.url(&format!("/v1/corridors/{id}")),
            None,
        )
        .await;
        if done(&c) {
            return c;
        }
        assert!(Instant::now() < deadline, "never {what}: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the operation to its end; returns it and every progress detail
/// seen on the way.
async fn finish(server: &Server, op: &Value) -> (Value, Vec<Value>) {
    let url = server.url(&format!("/v1/operations/{}", op["id"].as_str().unwrap()));
    let mut details = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, op) = send(server.admin(), reqwest::Method::GET, &url, None).await;
        assert_eq!(status, 200, "{op}");
        if let Some(d) = op.get("progress_detail") {
            details.push(d.clone());
        }
        if op["state"] == "succeeded" || op["state"] == "failed" {
            return (op, details);
        }
        assert!(Instant::now() < deadline, "calibration never ended: {op}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn calibrate(server: &Server, id: &str) -> Value {
    let (status, op) = send(
        server.admin(),
        reqwest::Method::POST,
        &server.url("/v1/heliopass/calibrate"),
        Some(json!({"corridor_id": id, "mode": "full", "ambient_profile": "step-up-10k"})),
    )
    .await;
    assert_eq!(status, 202, "{op}");
    let (op, details) = finish(server, &op).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(!details.is_empty(), "no progress seen");
    op
}

async fn telemetry(server: &Server, id: &str) -> (u16, Value) {
    send(
        server.admin(),
        reqwest::Method::GET,
        &server.url(&format!("/v1/corridors/{id}/telemetry")),
        None,
    )
    .await
}

/// How far the corridor's reported temperature moves under a ±10 K rack step
/// once it has arrived: 8 K exactly on the twin (a clean-clone run read
/// 37.640625 → 29.640625 °C). `> 8.0` failed on that exact value; the
/// tolerance is for float rounding only.
const STEP_ARRIVED_K: f64 = 8.0 - 1e-6;

/// Applies the ambient `profile` (a ±10 K step) to the whole rack and
/// checks the corridor rides it: BER under 1e-12 at every reading for 3 s
/// and after, drift not `high` (the lasers' own TEC residual is the port
/// model's, up to 12.5 % of the spacing after 10 K: `medium`), still active
/// on the same ports with its rings locked, never repaired by corrd.
/// Answers the telemetry after the step.
async fn rides_step(
    server: &Server,
    id: &str,
    ports: &Value,
    before: &Value,
    profile: &str,
) -> Value {
    apply_profile(server, profile).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, t) = telemetry(server, id).await;
        assert_eq!(status, 200, "{t}");
        assert!(t["ber"].as_f64().unwrap() < 1e-12, "{t}");
    }
    let (_, after) = telemetry(server, id).await;
    assert!(after["ber"].as_f64().unwrap() < 1e-12, "{before} → {after}");
    assert_ne!(after["drift"], "high", "{after}");
    let (_, c) = send(
        server.admin(),
        reqwest::Method::GET,
        &server.url(&format!("/v1/corridors/{id}")),
        None,
    )
    .await;
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(&c["assignment"]["ports"], ports, "{c}");
    let conditions = c["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|k| k["type"] == "RingLock" && k["status"] == "True"),
        "{c}"
    );
    assert!(
        !conditions.iter().any(|k| k["type"] == "Repaired"),
        "corrd had to repair: {c}"
    );
    after
}

async fn apply_step(server: &Server) {
    apply_profile(server, "step-up-10k").await;
}

async fn apply_profile(server: &Server, profile: &str) {
    let (status, body) = send(
        server.admin(),
        reqwest::Method::PUT,
        &server.url("/v1/admin/twin/ambient"),
        Some(json!({ "profile": profile })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["profile"]["name"], profile);
    assert_eq!(body["ports"].as_array().unwrap().len(), 16, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_corridor_calibrates_with_progress_and_rides_a_10k_step() {
    let server = start(true).await;
    let corridor = rfc_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap();
    let ports = corridor["assignment"]["ports"].clone();

    // The tracking loop calibrates a lit port it has never seen, and then
    // holds its rings: RingLock=True.
    wait_until_locked(&server, id).await;

    // Two calibrations of the same lanes: the second is refused while the
    // first runs, never interleaved.
    let body = json!({"corridor_id": id});
    let url = server.url("/v1/heliopass/calibrate");
    let (a, b) = tokio::join!(
        send(
            server.admin(),
            reqwest::Method::POST,
            &url,
            Some(body.clone())
        ),
        send(
            server.admin(),
            reqwest::Method::POST,
            &url,
            Some(body.clone())
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    let refused = if a.0 == 409 { &a.1 } else { &b.1 };
    assert_eq!(refused["reason"], "CalibrationInProgress", "{refused}");
    let started = if a.0 == 202 { &a.1 } else { &b.1 };
    let (op, details) = finish(&server, started).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(
        details
            .iter()
            .any(|d| d["lanes"].as_array().is_some_and(|l| !l.is_empty())),
        "progress never showed lanes: {details:?}"
    );

    // The stored result: every lane at both ends locked, with its heater,
    // bias, lock error and BER before and after.
    let result = &op["result"];
    let lanes = result["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 16, "{result}");
    for lane in lanes {
        assert_eq!(lane["state"], "locked", "{lane}");
        assert!(lane["heater_mw"].as_f64().unwrap() > 0.0, "{lane}");
        assert!(lane["bias_v"].as_f64().unwrap() <= 0.0, "{lane}");
        assert!(
            lane["lock_error_pm"].as_f64().unwrap().abs() < 20.0,
            "{lane}"
        );
        assert!(lane["ber_before"].is_number(), "{lane}");
        assert!(lane["ber"].as_f64().unwrap() < 1e-6, "{lane}");
    }
    assert!(result["achieved_ber"].as_f64().unwrap() < 1e-12, "{result}");
    assert!(
        result["power_pj_per_bit"].as_f64().unwrap() > 0.0,
        "{result}"
    );

    let (status, before) = telemetry(&server, id).await;
    assert_eq!(status, 200, "{before}");
    // Tuning power is in the energy per bit.
    assert!(before["power_pj_per_bit"].as_f64().unwrap() > 0.0);

    // +10 K on the whole rack; the trackers follow it.
    let after = rides_step(&server, id, &ports, &before, "step-up-10k").await;
    let warmed = after["temp_c"].as_f64().unwrap() - before["temp_c"].as_f64().unwrap();
    assert!(
        warmed >= STEP_ARRIVED_K,
        "the step did not arrive: {before} → {after}"
    );

    // The recalibration of the RFC goes through HELIOPASS too.
    let (status, op) = send(
        server.admin(),
        reqwest::Method::POST,
        &server.url(&format!("/v1/corridors/{id}/recalibrate")),
        None,
    )
    .await;
    assert_eq!(status, 202, "{op}");
    let (op, _) = finish(&server, &op).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["result"]["lanes"].as_array().unwrap().len(), 16);
    server.stop().await;
}

/// The issue's ±10 K: −10 K on the whole rack, the corridor stays active
/// with BER under target and its rings locked, without corrd's repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_corridor_rides_a_minus_10k_step() {
    let server = start(true).await;
    let corridor = rfc_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap();
    let ports = corridor["assignment"]["ports"].clone();
    // As in the +10 K test: the tracking loop's own first calibration of the lit ports
    // first, then the operator's. (An operator's calibration that wins the race to a
    // freshly lit port leaves lanes that corrd's next pass finds over threshold and
    // re-tunes: a known fault, not what this test is about.)
    wait_until_locked(&server, id).await;
    calibrate(&server, id).await;
    let (_, before) = telemetry(&server, id).await;
    let after = rides_step(&server, id, &ports, &before, "step-down-10k").await;
    let cooled = before["temp_c"].as_f64().unwrap() - after["temp_c"].as_f64().unwrap();
    assert!(
        cooled >= STEP_ARRIVED_K,
        "the step did not arrive: {before} → {after}"
    );
    server.stop().await;
}

/// The control for `rfc_corridor_calibrates_with_progress_and_rides_a_10k_step`:
/// the same calibration and step with the tracking loop off leaves the rings
/// where the step put them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_tracker_the_step_detunes_the_rings() {
    let server = start(false).await;
    let corridor = rfc_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap();
    let ports = corridor["assignment"]["ports"].clone();
    calibrate(&server, id).await;
    apply_step(&server).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, t) = telemetry(&server, id).await;
    let (_, c) = send(
        server.admin(),
        reqwest::Method::GET,
        &server.url(&format!("/v1/corridors/{id}")),
        None,
    )
    .await;
    let bad_ber = status == 200 && t["ber"].as_f64().unwrap() >= 1e-12;
    let moved = c["assignment"]["ports"] != ports || c["status"] != "active";
    assert!(
        status != 200 || bad_ber || moved,
        "the rings stayed on their lanes without a tracker: {t} {c}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field() {
    let server = start(true).await;
    let admin = server.admin();
    let ambient = server.url("/v1/admin/twin/ambient");
    let calibrate = server.url("/v1/heliopass/calibrate");
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    let cases: Vec<(reqwest::Method, &str, Value, u16, &str)> = vec![
        (
            put.clone(),
            &ambient,
            json!({"profile": "step-up-10k", "colour": 1}),
            422,
            "/colour",
        ),
        (put.clone(), &ambient, json!({}), 422, "/profile"),
        (
            put.clone(),
            &ambient,
            json!({"profile": "no-such"}),
            422,
            "/profile",
        ),
        (
            put.clone(),
            &ambient,
            json!({"profile": "step-up-10k", "port": "op-nowhere"}),
            422,
            "/port",
        ),
        (
            put.clone(),
            &ambient,
            json!({"profile": "step-up-10k", "host": "h-nowhere"}),
            422,
            "/host",
        ),
        (
            put.clone(),
            &ambient,
            json!({"custom": {"name": "hot", "base_temp_c": 200, "swing_c": 0, "period_s": 60}}),
            422,
            "/custom/base_temp_c",
        ),
        (
            put.clone(),
            &ambient,
            json!({"custom": {"name": "cold", "base_temp_c": 20, "swing_c": 0, "period_s": 60,
                   "steps": [{"at_s": 10, "temp_c": -41}]}}),
            422,
            "/custom/steps/0/temp_c",
        ),
        (
            put.clone(),
            &ambient,
            json!({"custom": {"name": "x", "base_temp_c": 20, "swing_c": 0, "period_s": 60, "extra": 1}}),
            422,
            "/custom/extra",
        ),
        (post.clone(), &calibrate, json!({}), 422, "/corridor_id"),
        (
            post.clone(),
            &calibrate,
            json!({"port": "op-nowhere"}),
            422,
            "/port",
        ),
        (
            post.clone(),
            &calibrate,
            json!({"corridor_id": "cor-nowhere"}),
            404,
            "",
        ),
        (
            post.clone(),
            &calibrate,
            json!({"port": "op-h0-0", "mode": "track"}),
            409,
            "",
        ),
        (
            post.clone(),
            &calibrate,
            json!({"port": "op-h0-0", "ambient_profile": "no-such"}),
            422,
            "/ambient_profile",
        ),
        (
            post.clone(),
            &calibrate,
            json!({"port": "op-h0-0", "mode": "sideways"}),
            422,
            "/mode",
        ),
    ];
    for (method, url, body, status, pointer) in cases {
        let (got, problem) = send(admin, method, url, Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {problem}");
        if !pointer.is_empty() {
            let pointers: Vec<&str> = problem["errors"]
                .as_array()
                .map(|e| e.iter().filter_map(|v| v["pointer"].as_str()).collect())
                .unwrap_or_default();
            assert!(pointers.contains(&pointer), "{body} → {problem}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_listed_with_their_sources() {
    let server = start(true).await;
    let (status, profiles) = send(
        server.admin(),
        reqwest::Method::GET,
        &server.url("/v1/heliopass/profiles"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = profiles
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "datacenter-steady",
        "datacenter-diurnal",
        "hvac-cycling",
        "step-up-10k",
        "step-down-10k",
        "steady-lab",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for p in profiles.as_array().unwrap() {
        assert!(!p["source"].as_str().unwrap_or("").is_empty(), "{p}");
    }
    server.stop().await;
}

/// Waits (up to 60 s) for the tracking loop to calibrate the corridor's
/// ports and record `RingLock=True/Locked`.
async fn wait_until_locked(server: &Server, id: &str) {
    wait_for(server, id, "locked by the tracking loop", |c| {
        ring_lock_reason(c) == "Locked"
    })
    .await;
}

/// The `RingLock` reason on a corridor object ("" without one).
fn ring_lock_reason(c: &Value) -> String {
    c["conditions"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["type"] == "RingLock"))
        .and_then(|k| k["reason"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// A heater fails open on one end of the RFC corridor: its rings cool off
/// their lanes and no resonance order is in reach. heliopassd searches,
/// gives up and records `RingLock=False/ReacquireFailed`; only then does
/// corrd repair (re-tune, re-lock, reroute). On the corridor watch the
/// hand-over always precedes the move, and the corridor ends active on
/// other ports with its new rings locked.
///
/// heliopassd's loop records conditions every 3 s here, corrd's reconciler
/// runs every second and steps the trackers itself: a corrd that acted on
/// the lanes' live state would move the corridor before the hand-over is
/// recorded (it did, with the wait removed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_heater_is_handed_over_to_corrd_before_it_reroutes() {
    use futures::StreamExt;

    let server = Options::default()
        .time_scale(600.0)
        .heliopass(HelioSettings {
            tick: Duration::from_secs(3),
            ..HelioSettings::default()
        })
        .start()
        .await;
    let corridor = rfc_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap().to_owned();
    let ports = corridor["assignment"]["ports"].clone();
    wait_until_locked(&server, &id).await;
    let client = server.client(&corridor_pki::Principal::Admin);
    let page = client
        .list_page::<Value>("/v1/corridors", None, None, None)
        .await
        .unwrap();
    let mut events = client
        .watch::<Value>("/v1/corridors", page.resource_version.as_deref())
        .await
        .unwrap();
    let (status, body) = send(
        server.admin(),
        reqwest::Method::POST,
        &server.url("/v1/admin/twin/faults"),
        Some(json!({"port": ports[0], "fault": {"kind": "heater_failure"}})),
    )
    .await;
    assert!(status < 300, "{status} {body}");

    let mut handed_over = false;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, events.next())
            .await
            .unwrap_or_else(|_| panic!("no repair within 60 s; seen {seen:?}"))
            .expect("watch open")
            .expect("valid event");
        let c = &event.object;
        if c["id"] != id.as_str() {
            continue;
        }
        let reason = ring_lock_reason(c);
        let moved = c["assignment"]["ports"] != ports;
        seen.push((reason.clone(), c["status"].clone(), moved));
        if !moved {
            handed_over |= reason == "ReacquireFailed";
            continue;
        }
        assert!(
            handed_over,
            "corrd moved the corridor before heliopassd handed it over: {seen:?}"
        );
        if c["status"] == "active" && reason == "Locked" {
            break;
        }
    }
    server.stop().await;
}

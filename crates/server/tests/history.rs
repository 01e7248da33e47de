//! Corridor history over HTTP, against an in-process corridord sampling
//! every 100 ms to 1 s: a temperature step injected into the twin shows in
//! the kept samples as it showed in the live telemetry, samples and object
//! changes come in time and revision order, a released corridor's history
//! stays readable, retention removes old records, and bad windows are 422
//! problems naming the parameter. Synchrony analytics over that history
//! group the corridors (and their lanes) a port's or the rack's
//! temperature step moves together, and the memory bundles a device's
//! newcomer slows together, and name what they share.

use std::time::{Duration, Instant};

mod common;

use chrono::{DateTime, Utc};
use common::requests::one_lane_corridor;
use common::server::{Options, Server};
use corridor_services::history::HistorySettings;
use serde_json::{Value, json};

async fn start(interval: Duration, retention: Duration) -> Server {
    Options::default()
        .history(HistorySettings {
            interval,
            retention,
        })
        .start()
        .await
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = server.admin().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Grants a one-lane waveguide corridor on `lambda` (between
/// `endpoints` if given) and waits until it is lit; answers its id.
async fn corridor(server: &Server, lambda: f64, endpoints: Option<[&str; 2]>) -> String {
    let request = one_lane_corridor(lambda, "silver", "waveguide", endpoints);
    let response = server
        .admin()
        .post(server.url("/v1/corridors"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, c) = get(server, &format!("/v1/corridors/{id}")).await;
        if c["status"] == "active" {
            return id;
        }
        assert!(Instant::now() < deadline, "never active: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Grants a one-lane corridor and waits until it is lit (`active`);
/// answers it.
async fn lit_corridor(server: &Server) -> Value {
    let id = corridor(server, 1550.0, None).await;
    get(server, &format!("/v1/corridors/{id}")).await.1
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

fn revision(value: &Value) -> u64 {
    value.as_str().unwrap().parse().unwrap()
}

/// Polls the corridor's history (the hour up to now) until `done` holds.
async fn history_until(
    server: &Server,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, h) = get(server, &format!("/v1/corridors/{id}/history")).await;
        assert_eq!(status, 200, "{h}");
        if done(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "history never {what}: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn samples(h: &Value) -> &Vec<Value> {
    h["samples"].as_array().unwrap()
}

fn temp(sample: &Value) -> f64 {
    sample["temp_c"].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_a_temperature_step_in_time_and_revision_order() {
    let server = start(Duration::from_millis(200), Duration::from_secs(3600)).await;
    let corridor = lit_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap();
    let port = corridor["assignment"]["ports"][0].as_str().unwrap();

    // Samples before the step.
    history_until(&server, id, "had 3 samples", |h| samples(h).len() >= 3).await;
    let (status, live_before) = get(&server, &format!("/v1/corridors/{id}/telemetry")).await;
    assert_eq!(status, 200, "{live_before}");
    let step_at = Utc::now();
    let response = server
        .admin()
        .post(server.url("/v1/admin/twin/faults"))
        .json(&json!({"port": port, "fault": {"kind": "temperature_step", "celsius": 8.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    // The live telemetry moves…
    let deadline = Instant::now() + Duration::from_secs(30);
    let live_after = loop {
        let (_, t) = get(&server, &format!("/v1/corridors/{id}/telemetry")).await;
        if temp(&t) > temp(&live_before) + 4.0 {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "telemetry never moved: {live_before} → {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let moved = temp(&live_after) - temp(&live_before);
    // …and three samples later, so does the history.
    let after_live = at(&live_after["observed_at"]);
    let h = history_until(&server, id, "had 3 samples after the step", |h| {
        samples(h)
            .iter()
            .filter(|s| at(&s["observed_at"]) > after_live)
            .count()
            >= 3
    })
    .await;
    let all = samples(&h);
    let before: Vec<f64> = all
        .iter()
        .filter(|s| at(&s["observed_at"]) < step_at)
        .map(temp)
        .collect();
    let after: Vec<f64> = all
        .iter()
        .filter(|s| at(&s["observed_at"]) > after_live)
        .map(temp)
        .collect();
    assert!(before.len() >= 3, "{h}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let kept_step = mean(&after) - mean(&before);
    assert!(
        (kept_step - moved).abs() < 1.0,
        "the history's step {kept_step} K is not the telemetry's {moved} K: {before:?} → {after:?}"
    );
    for s in all {
        assert_eq!(s["source"], "model", "{s}");
        assert_eq!(s["lanes"].as_array().unwrap().len(), 1, "{s}");
    }
    // Ordered by wall time and by revision alike, each read-back once.
    for pair in all.windows(2) {
        assert!(
            at(&pair[0]["observed_at"]) < at(&pair[1]["observed_at"]),
            "{pair:?}"
        );
        assert!(
            revision(&pair[0]["resource_version"]) <= revision(&pair[1]["resource_version"]),
            "{pair:?}"
        );
    }
    // The object's versions: the grant first, in revision order.
    let changes = h["changes"].as_array().unwrap();
    assert_eq!(changes[0]["type"], "ADDED", "{h}");
    assert!(
        changes
            .windows(2)
            .all(|p| revision(&p[0]["resource_version"]) < revision(&p[1]["resource_version"])),
        "{changes:?}"
    );
    assert_eq!(changes.last().unwrap()["status"], "active", "{changes:?}");
    // Each version is the object as it was at that revision.
    for change in changes {
        assert_eq!(
            change["object"]["resource_version"], change["resource_version"],
            "{change}"
        );
    }

    // "What did it look like at that moment": a window around one sample.
    let one = &all[all.len() / 2];
    let t = one["observed_at"].as_str().unwrap();
    let (status, w) = get(
        &server,
        &format!("/v1/corridors/{id}/history?from={t}&to={t}"),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(samples(&w), &vec![one.clone()]);

    // Released: the history stays, ending with the deletion.
    let response = server
        .admin()
        .delete(server.url(&format!("/v1/corridors/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, _) = get(&server, &format!("/v1/corridors/{id}")).await;
    assert_eq!(status, 404);
    let h = history_until(&server, id, "recorded the release", |h| {
        h["changes"]
            .as_array()
            .unwrap()
            .last()
            .is_some_and(|c| c["type"] == "DELETED")
    })
    .await;
    assert!(samples(&h).len() >= 6, "{h}");
    let (status, problem) = get(&server, "/v1/corridors/cor-none/history").await;
    assert_eq!(status, 404, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_history() {
    // 3 s kept: segments of 428 ms, pruned every segment span. The
    // reconciler reads the corridor back once a second, so about three
    // samples are kept at any time.
    let server = start(Duration::from_millis(100), Duration::from_secs(3)).await;
    let corridor = lit_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap();
    history_until(&server, id, "had a sample", |h| !samples(h).is_empty()).await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (status, h) = get(&server, &format!("/v1/corridors/{id}/history")).await;
    assert_eq!(status, 200, "{h}");
    let now = Utc::now();
    let all = samples(&h);
    assert!(all.len() >= 2, "the corridor is still sampled: {h}");
    // Retention, plus a segment's span (removed whole), plus a pruning
    // period and a sampling interval of lateness, plus slack for a slow
    // machine: well under the 9 s the corridor has been sampled.
    let bound = chrono::Duration::milliseconds(5_000);
    let oldest = at(&all[0]["observed_at"]);
    assert!(
        now - oldest < bound,
        "a sample from {oldest} is still kept at {now} with 3 s retention"
    );
    // The grant's change is older than retention too: gone.
    for change in h["changes"].as_array().unwrap() {
        assert_ne!(change["type"], "ADDED", "{change}");
        assert!(now - at(&change["observed_at"]) < bound, "{change}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_windows_are_problems_naming_the_parameter() {
    let server = start(Duration::from_secs(10), Duration::from_secs(3600)).await;
    let corridor = lit_corridor(&server).await;
    let id = corridor["id"].as_str().unwrap();
    let base = format!("/v1/corridors/{id}/history");
    for (query, pointer, rule) in [
        ("from=yesterday", "?from", "format"),
        ("to=2026-12-04%2003:12:00Z", "?to", "format"),
        (
            "from=2026-12-04T03:12:00Z&to=2026-12-04T03:11:59Z",
            "?to",
            "compatible",
        ),
        (
            "from=2026-12-04T03:12:00Z&to=2026-12-05T03:12:01Z",
            "?to",
            "compatible",
        ),
        ("from=2999-01-01T00:00:00Z", "?from", "compatible"),
        ("since=2026-12-04T03:12:00Z", "?query", "unknown_parameter"),
    ] {
        let (status, problem) = get(&server, &format!("{base}?{query}")).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], pointer,
            "{query}: {problem}"
        );
        assert_eq!(problem["errors"][0]["rule"], rule, "{query}: {problem}");
    }
    // An exactly one-day window with an offset is fine.
    let (status, h) = get(
        &server,
        &format!("{base}?from=2026-12-04T03:12:00%2B01:00&to=2026-12-05T03:12:00%2B01:00"),
    )
    .await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["from"], "2026-12-04T02:12:00Z", "{h}");
}

async fn put_ambient(server: &Server, profile: &str) {
    let response = server
        .admin()
        .put(server.url("/v1/admin/twin/ambient"))
        .json(&json!({ "profile": profile }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{profile}");
}

/// The synchrony analytics of the window from `from` to now.
async fn synchrony(server: &Server, from: DateTime<Utc>) -> Value {
    let from = from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, s) = get(server, &format!("/v1/analytics/synchrony?from={from}")).await;
    assert_eq!(status, 200, "{s}");
    s
}

fn group_of<'a>(s: &'a Value, id: &str) -> Option<&'a Value> {
    s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["corridors"].as_array().unwrap().iter().any(|c| c == id))
}

fn members(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["corridors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchrony_groups_what_steps_together_and_names_what_it_shares() {
    // Buckets of 1 s, the reconciler's read-back period.
    let server = start(Duration::from_secs(1), Duration::from_secs(3600)).await;
    // A steady rack, so nothing moves unless a step moves it.
    put_ambient(&server, "datacenter-steady").await;
    let a = corridor(&server, 1550.0, Some(["op-h0-0", "op-h1-0"])).await;
    let b = corridor(&server, 1551.0, Some(["op-h0-0", "op-h1-0"])).await;
    let c = corridor(&server, 1550.0, Some(["op-h2-0", "op-h3-0"])).await;

    // A module's case steps +8 K: the two corridors on its port move
    // together, the third stays flat and joins no group.
    let port_phase = Utc::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let response = server
        .admin()
        .post(server.url("/v1/admin/twin/faults"))
        .json(&json!({"port": "op-h0-0", "fault": {"kind": "temperature_step", "celsius": 8.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let s = synchrony(&server, port_phase).await;
    for id in [&a, &b, &c] {
        assert!(
            s["corridors"].as_array().unwrap().iter().any(|x| x == id),
            "{s}"
        );
    }
    let group = group_of(&s, &a).unwrap_or_else(|| panic!("{a} is in no group: {s}"));
    let mut ab = vec![a.clone(), b.clone()];
    ab.sort();
    assert_eq!(members(group), ab, "{s}");
    assert_eq!(group["shared_cause"]["kind"], "port", "{s}");
    assert!(
        group["shared_cause"]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "op-h0-0"),
        "{s}"
    );
    assert!(group_of(&s, &c).is_none(), "{c} was grouped: {s}");
    let pair = &s["pairs"][0];
    assert!(pair["correlation"].as_f64().unwrap() >= 0.8, "{s}");
    // Their lanes move together too, each a series of its own, and share
    // the port; the third corridor's lane joins no group.
    let lane = |id: &str| format!("{id}/lanes/0");
    for id in [&a, &b, &c] {
        assert!(
            s["lanes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| *x == lane(id)),
            "{s}"
        );
    }
    let lane_group = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["kind"] == "lane")
        .unwrap_or_else(|| panic!("no lane group: {s}"));
    let mut lanes_ab = vec![lane(&a), lane(&b)];
    lanes_ab.sort();
    let mut members_of: Vec<String> = lane_group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    members_of.sort();
    assert_eq!(members_of, lanes_ab, "{s}");
    assert_eq!(lane_group["shared_cause"]["kind"], "port", "{s}");
    let series_of = |id: &str| {
        s["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no series {id}: {s}"))
    };
    assert_eq!(series_of(&lane(&a))["source"], "model", "{s}");
    assert_eq!(series_of(&a)["kind"], "corridor", "{s}");

    // The rack's inlet steps +10 K: all three move together, and they share
    // no port, link or host — only the rack.
    let rack_phase = Utc::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    put_ambient(&server, "step-up-10k").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let s = synchrony(&server, rack_phase).await;
    let group = group_of(&s, &c).unwrap_or_else(|| panic!("{c} is in no group: {s}"));
    let mut abc = vec![a.clone(), b.clone(), c.clone()];
    abc.sort();
    assert_eq!(members(group), abc, "{s}");
    assert_eq!(group["shared_cause"]["kind"], "rack", "{s}");

    // Bad input names the parameter.
    for (query, pointer) in [
        ("metric=ber", "?metric"),
        ("bundle_metric=gbs", "?bundle_metric"),
        ("from=soon", "?from"),
        ("window=1h", "?query"),
    ] {
        let (status, problem) = get(&server, &format!("/v1/analytics/synchrony?{query}")).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], pointer,
            "{query}: {problem}"
        );
    }
}

/// Allocates a floorless 64 MiB T1 bundle for `host`; answers its id.
async fn bundle(server: &Server, host: &str) -> String {
    let response = server
        .admin()
        .post(server.url("/v1/ffm/alloc"))
        .json(&json!({
            "bytes": 67_108_864,
            "latency_class": "T1",
            "bandwidth_floor_GBs": 0,
            "persistence": "none",
            "shareable": true,
            "security_domain": "tenantA",
            "host": host,
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn placement_nodes(server_bundle: &Value) -> Vec<String> {
    server_bundle["placement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["node"].as_str().unwrap().to_owned())
        .collect()
}

/// Two bundles on one device lose bandwidth together when a third comes
/// to that device and regain it when it goes (memqosd's model: every
/// bundle backlogged, max-min fair): the analytics group those two and
/// point at the device. A bundle on another host's device, which loses
/// bandwidth at another time, joins no group; bundles that never moved are
/// flat, and one allocated just before the query has too few samples to be
/// correlated and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchrony_groups_bundles_that_share_a_device_and_names_it() {
    let server = start(Duration::from_millis(200), Duration::from_secs(3600)).await;
    let a = bundle(&server, "h0").await;
    let b = bundle(&server, "h0").await;
    let e = bundle(&server, "h1").await;
    let (_, bundle_a) = get(&server, &format!("/v1/ffm/{a}")).await;
    let (_, bundle_b) = get(&server, &format!("/v1/ffm/{b}")).await;
    let device = placement_nodes(&bundle_a);
    assert_eq!(
        device,
        placement_nodes(&bundle_b),
        "{bundle_a} / {bundle_b}"
    );
    let from = Utc::now();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // A third bundle on their device: both get less.
    let d = bundle(&server, "h0").await;
    let (_, bundle_d) = get(&server, &format!("/v1/ffm/{d}")).await;
    assert_eq!(placement_nodes(&bundle_d), device, "{bundle_d}");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let response = server
        .admin()
        .delete(server.url(&format!("/v1/ffm/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // Another host's bundle loses bandwidth later, on its own device.
    let f = bundle(&server, "h1").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let late = bundle(&server, "h2").await;
    tokio::time::sleep(Duration::from_millis(250)).await;

    let s = synchrony(&server, from).await;
    assert_eq!(s["bundle_metric"], "achieved_gbs", "{s}");
    for id in [&a, &b, &e, &f] {
        assert!(
            s["bundles"].as_array().unwrap().iter().any(|x| x == id),
            "{id}: {s}"
        );
    }
    let bundle_groups: Vec<&Value> = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == "bundle")
        .collect();
    assert_eq!(bundle_groups.len(), 1, "{s}");
    let group = bundle_groups[0];
    let mut ab = vec![a.clone(), b.clone()];
    ab.sort();
    let mut members: Vec<String> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    members.sort();
    assert_eq!(members, ab, "{s}");
    assert_eq!(group["corridors"], json!([]), "{s}");
    assert_eq!(group["shared_cause"]["kind"], "device", "{s}");
    assert_eq!(group["shared_cause"]["ids"], json!(device), "{s}");
    let series_of = |id: &str| {
        s["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no series {id}: {s}"))
    };
    for id in [&a, &b, &e] {
        let series = series_of(id);
        assert_eq!(series["kind"], "bundle", "{series}");
        assert_eq!(series["source"], "model", "{series}");
        assert_eq!(series["status"], "compared", "{series}");
    }
    assert_eq!(series_of(&f)["status"], "flat", "{s}");
    assert_eq!(series_of(&late)["status"], "too_few_samples", "{s}");
    assert!(
        s["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["a"] != *e && p["b"] != *e),
        "{e} was paired: {s}"
    );
}

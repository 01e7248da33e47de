//! End-to-end tests of the HTTP API against an in-process corridord on a
//! free loopback port, with its own state directory.

use std::collections::BTreeSet;
use std::time::Duration;

use common::problem::{Reply, assert_problem};
use common::rfc;
use common::server::{Options, Server};
use corridor_hal::Topology;
use corridor_pki::Principal;
use corridor_server::http::openapi;
use futures::StreamExt;
use serde_json::Value;

mod common;

/// The RFC's "List Devices" fields, every one of which each device carries.
const RFC_DEVICE_FIELDS: [&str; 12] = [
    "id",
    "type",
    "vendor_id",
    "device_id",
    "serial_number",
    "firmware_version",
    "capacity_bytes",
    "latency_ns",
    "bandwidth_gbps",
    "status",
    "last_seen",
    "attestation_ticket",
];

/// GETs `url` as the admin.
async fn get(server: &Server, url: &str) -> reqwest::Response {
    server.admin().get(url).send().await.unwrap()
}

/// GETs `path` as the admin and decodes the JSON body.
async fn json<T: serde::de::DeserializeOwned>(server: &Server, path: &str) -> T {
    get(server, &server.url(path)).await.json().await.unwrap()
}

/// GETs `path` as the admin, read whole.
async fn reply(server: &Server, path: &str) -> Reply {
    Reply::read(get(server, &server.url(path)).await).await
}

#[tokio::test]
async fn devices_have_every_rfc_field_and_match_the_twin() {
    // Nothing attested unasked: start-up attestation rewrites the records
    // (their ticket), so the list and the GET below could read two versions.
    let server = Options::default().attest_on_request().start().await;
    let devices: Vec<Value> = json(&server, "/v1/fabman/devices").await;
    let topology = Topology::default_twin();
    assert_eq!(devices.len(), topology.cxl_devices().len());
    for device in &devices {
        for field in RFC_DEVICE_FIELDS {
            assert!(device.get(field).is_some(), "{field} missing from {device}");
        }
        assert!(device["vendor_id"].as_str().unwrap().starts_with("0x"));
        assert!(device["capacity_bytes"].as_u64().unwrap() > 0);
        assert!(
            device["resource_version"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
    let first = devices[0]["id"].as_str().unwrap();
    let one: Value = json(&server, &format!("/v1/fabman/devices/{first}")).await;
    assert_eq!(&one, &devices[0]);

    let client = server.client(&Principal::Admin);
    let typed = client.devices().await.unwrap();
    assert_eq!(typed.len(), devices.len());
    server.stop().await;
}

#[tokio::test]
async fn unknown_device_route_and_method_are_problems() {
    let server = Server::start().await;
    assert_problem(&reply(&server, "/v1/fabman/devices/nope").await, 404);
    assert_problem(&reply(&server, "/v1/nowhere").await, 404);

    let response = server
        .admin()
        .put(server.url("/v1/fabman/devices"))
        .send()
        .await
        .unwrap();
    assert_problem(&Reply::read(response).await, 405);
    server.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_name_the_parameter() {
    let server = Server::start().await;
    for (query, pointer) in [
        ("limit=0", "?limit"),
        ("limit=abc", "?limit"),
        ("watch=maybe", "?watch"),
        ("resource_version=-3", "?resource_version"),
        ("label_selector=bad%20key", "?label_selector"),
        ("continue=garbage", "?continue"),
        ("colour=red", "?query"),
    ] {
        let reply = reply(&server, &format!("/v1/fabman/devices?{query}")).await;
        assert_problem(&reply, 422);
        assert_eq!(reply.pointer(), pointer, "{query}: {}", reply.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn paging_follows_continue_tokens_to_the_end() {
    let server = Server::start().await;
    let all: Vec<Value> = json(&server, "/v1/fabman/devices").await;
    let mut seen = Vec::new();
    let mut next = server.url("/v1/fabman/devices?limit=1");
    loop {
        let response = get(&server, &next).await;
        let token = response
            .headers()
            .get("x-continue")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(response.headers().contains_key("x-resource-version"));
        let page: Vec<Value> = response.json().await.unwrap();
        assert_eq!(page.len(), 1);
        seen.push(page[0]["id"].as_str().unwrap().to_string());
        match token {
            Some(token) => {
                next = server.url(&format!("/v1/fabman/devices?limit=1&continue={token}"))
            }
            None => break,
        }
    }
    let ids: Vec<String> = all
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids);
    server.stop().await;
}

#[tokio::test]
async fn label_selectors_filter_devices() {
    let server = Server::start().await;
    let all: Vec<Value> = json(&server, "/v1/fabman/devices").await;
    let (key, value) = all[0]["labels"]
        .as_object()
        .and_then(|labels| labels.iter().next())
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .expect("devices carry labels");
    let matching: Vec<Value> = json(
        &server,
        &format!("/v1/fabman/devices?label_selector={key}%3D{value}"),
    )
    .await;
    let expected = all
        .iter()
        .filter(|d| d["labels"][&key] == value.as_str())
        .count();
    assert_eq!(matching.len(), expected);
    assert!(!matching.is_empty());
    let none: Vec<Value> = json(&server, "/v1/fabman/devices?label_selector=no-such-label").await;
    assert!(none.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn watch_streams_changes_after_the_list_revision() {
    // No attestation at start: its tickets would change devices too, and
    // this test follows the one change it makes.
    let server = Options::default().attest_on_request().start().await;
    let client = server.client(&Principal::Admin);
    let page = client
        .list_page::<Value>("/v1/fabman/devices", None, None, None)
        .await
        .unwrap();
    let mut events = client
        .watch::<Value>("/v1/fabman/devices", page.resource_version.as_deref())
        .await
        .unwrap();
    let id = page.items[0]["id"].as_str().unwrap().to_string();
    server
        .plane()
        .devices
        .update(&id, None, |device| {
            device.status = corridor_model::fabric::DeviceStatus::Degraded;
            Ok(())
        })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("valid event");
    assert_eq!(event.event_type, "MODIFIED");
    assert_eq!(event.object["id"], id.as_str());
    assert_eq!(event.object["status"], "degraded");
    server.stop().await;
}

#[tokio::test]
async fn the_rfc_path_example_works_verbatim_and_a_full_port_is_named() {
    let server = Server::start().await;
    let http = server.admin();
    // The default twin starts with h0's standing paths to its pooled memory (they hold
    // 256 Gb/s on cxl-dev-001's port and 128 on cxl-dev-002's).
    let standing: Vec<Value> = json(&server, "/v1/fabman/paths").await;
    assert!(
        standing
            .iter()
            .all(|p| p["source_device"] == "h0" && p["status"] == "active"),
        "{standing:?}"
    );
    let ports_before: Vec<Value> = json(&server, "/v1/fabman/ports").await;
    let post = |body: String| {
        http.post(server.url("/v1/fabman/paths"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = post(rfc::PATH.to_owned()).await.unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let path: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/fabman/paths/{}", path["id"].as_str().unwrap())
    );
    assert_eq!(path["status"], "active", "{path}");
    assert_eq!(
        path["hops"],
        serde_json::json!([{"switch_id": "sw0", "ingress_port": 8, "egress_port": 9}])
    );
    assert_eq!(path["qos"]["min_bandwidth_gbps"], 50.0);
    assert_eq!(path["programming"]["enforcement"], "admission");
    let one: Value = json(&server, &location).await;
    assert_eq!(one["id"], path["id"]);
    let all: Vec<Value> = json(&server, "/v1/fabman/paths").await;
    assert_eq!(all.len(), standing.len() + 1);

    // cxl-dev-002's port admits 192 Gb/s; 128 + 50 are held: 150 more is 136 short.
    let greedy = rfc::PATH
        .replace("\"min_bandwidth_gbps\": 50", "\"min_bandwidth_gbps\": 150")
        .replace("\"bandwidth_gbps\": 64", "\"bandwidth_gbps\": 150");
    let full = Reply::read(post(greedy).await.unwrap()).await;
    assert_problem(&full, 409);
    let detail = full.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("sw0/9") && detail.contains("short by 136.0"),
        "{detail}"
    );
    // The port the 409 names, as the ports list shows it: 192 admissible, 50 held by the
    // path and 128 by h0's, 14 free; the source device's port (8) holds 50 more.
    let ports: Vec<Value> = json(&server, "/v1/fabman/ports").await;
    let port = |switch: &str, number: u64| {
        ports
            .iter()
            .find(|p| p["switch_id"] == switch && p["port"] == number)
            .unwrap_or_else(|| panic!("{switch}/{number} in {ports:?}"))
            .clone()
    };
    let named = port("sw0", 9);
    assert_eq!(named["attached_to"], "cxl-dev-002");
    assert_eq!(named["attachment"], "device");
    assert_eq!(named["admissible_gbps"], 192.0);
    assert_eq!(named["guaranteed_gbps"], 178.0);
    assert_eq!(named["free_gbps"], 14.0);
    assert!(
        named["paths"].as_array().unwrap().contains(&path["id"]),
        "{named}"
    );
    assert_eq!(port("sw0", 8)["guaranteed_gbps"], 306.0);
    // Every other port is as the standing paths left it.
    for before in &ports_before {
        let (switch, number) = (
            before["switch_id"].as_str().unwrap(),
            before["port"].as_u64().unwrap(),
        );
        if switch == "sw0" && (number == 8 || number == 9) {
            continue;
        }
        assert_eq!(
            port(switch, number)["guaranteed_gbps"],
            before["guaranteed_gbps"],
            "{switch}/{number}"
        );
    }

    // Unknown device: 422 naming the field.
    let unknown = Reply::read(
        post(rfc::PATH.replace("cxl-dev-002", "cxl-dev-404"))
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&unknown, 422);
    assert_eq!(unknown.body["errors"][0]["pointer"], "/target_device");

    let deleted = http.delete(server.url(&location)).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(deleted["status"], "released");
    assert_problem(&reply(&server, &location).await, 404);
    let ports: Vec<Value> = json(&server, "/v1/fabman/ports").await;
    let held = |list: &[Value]| -> Vec<(Value, Value, Value)> {
        list.iter()
            .map(|p| {
                (
                    p["switch_id"].clone(),
                    p["port"].clone(),
                    p["paths"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        held(&ports),
        held(&ports_before),
        "released path still held"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_operator_queries_a_switch_over_fm_api_and_changes_are_refused() {
    let server = Server::start().await;
    let http = server.admin();
    let send = |switch: &str, body: Value| {
        http.post(server.url(&format!("/v1/fabman/switches/{switch}/commands")))
            .json(&body)
            .send()
    };
    // Get Physical Port State for ports 8 and 9 of sw0: both devices' ports, decoded.
    let ports = send(
        "sw0",
        serde_json::json!({"opcode": "5101h", "payload_hex": "020809"}),
    )
    .await
    .unwrap();
    assert_eq!(ports.status(), 200);
    let ports: Value = ports.json().await.unwrap();
    assert_eq!(ports["command"], "Get Physical Port State");
    assert_eq!(ports["return_code"], 0);
    let decoded = ports["decoded"].as_str().unwrap();
    assert!(
        decoded.contains("port_id: 8") && decoded.contains("port_id: 9"),
        "{decoded}"
    );
    // The payload starts with the number of ports answered.
    assert!(
        ports["payload_hex"].as_str().unwrap().starts_with("02"),
        "{ports}"
    );

    // Tunnelled to the MLD on port 8, Get LD Info answers; the SLD on port 9 has no LDs
    // and says so with Unsupported (3), which is an answer, not an error.
    let mld = send(
        "sw0",
        serde_json::json!({"opcode": "5400h", "tunnel_port": 8}),
    )
    .await
    .unwrap();
    let mld: Value = mld.json().await.unwrap();
    assert_eq!(mld["return_code"], 0, "{mld}");
    assert!(mld["decoded"].as_str().unwrap().contains("LdInfo"), "{mld}");
    let sld: Value = send(
        "sw0",
        serde_json::json!({"opcode": "5400h", "tunnel_port": 9}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(sld["return_code"], 3, "{sld}");
    assert!(sld.get("decoded").is_none(), "{sld}");

    // Bind vPPB changes the fabric: refused on the opcode, and nothing was sent.
    let bind = Reply::read(
        send(
            "sw0",
            serde_json::json!({"opcode": "5201h", "payload_hex": "00000800"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_problem(&bind, 422);
    assert_eq!(bind.body["errors"][0]["pointer"], "/opcode");
    // A port list shorter than its count: refused on the payload.
    let short = Reply::read(
        send(
            "sw0",
            serde_json::json!({"opcode": "5101h", "payload_hex": "0308"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_problem(&short, 422);
    assert_eq!(short.body["errors"][0]["pointer"], "/payload_hex");
    let malformed = Reply::read(
        send("sw0", serde_json::json!({"opcode": "0x5101"}))
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&malformed, 422);
    assert_eq!(malformed.body["errors"][0]["pointer"], "/opcode");
    let nowhere = Reply::read(
        send("sw9", serde_json::json!({"opcode": "0001h"}))
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&nowhere, 404);
    server.stop().await;
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let server = Server::start().await;
    assert_eq!(get(&server, &server.url("/healthz")).await.status(), 200);
    assert_eq!(get(&server, &server.url("/readyz")).await.status(), 200);
    get(&server, &server.url("/v1/fabman/devices")).await;
    get(&server, &server.url("/v1/fabman/devices/nope")).await;
    let text = get(&server, &server.url("/metrics"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"corridor_http_requests_total{method="GET",route="/v1/fabman/devices",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/fabman/devices/{id}",status="404""#),
        "{text}"
    );
    assert!(
        text.contains(r#"corridor_store_operations_total{op="txn",result="ok"}"#),
        "{text}"
    );
    assert!(
        text.contains("corridor_process_resident_memory_bytes"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn inventory_survives_a_restart_on_the_same_state_dir() {
    let server = Server::start().await;
    let before: Vec<Value> = json(&server, "/v1/fabman/devices").await;
    let state = server.stop().await;
    let server = Options::default().state(state).start().await;
    let after: Vec<Value> = json(&server, "/v1/fabman/devices").await;
    let ids = |list: &[Value]| -> BTreeSet<String> {
        list.iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&before), ids(&after));
    server.stop().await;
}

#[test]
fn checked_in_openapi_matches_the_code() {
    let generated = openapi::document();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/corridoros.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/corridoros.json is out of date: run `make openapi` and review the diff"
    );
}

#[test]
fn openapi_documents_every_rfc_endpoint() {
    let doc: Value = serde_json::from_str(&openapi::document()).unwrap();
    for (method, path) in [
        ("post", "/v1/corridors"),
        ("get", "/v1/corridors/{id}"),
        ("get", "/v1/corridors/{id}/telemetry"),
        ("post", "/v1/corridors/{id}/recalibrate"),
        ("post", "/v1/ffm/alloc"),
        ("get", "/v1/ffm/{id}"),
        ("get", "/v1/ffm/{id}/telemetry"),
        ("patch", "/v1/ffm/{id}/bandwidth"),
        ("patch", "/v1/ffm/{id}/latency_class"),
        ("get", "/v1/fabman/devices"),
        ("post", "/v1/fabman/paths"),
        ("post", "/v1/fabman/attest"),
        ("get", "/v1/fabman/attest/{ticket_id}"),
        ("post", "/v1/heliopass/calibrate"),
        ("get", "/v1/heliopass/profiles"),
        ("post", "/v1/attest/device"),
        ("get", "/v1/attest/{attestation_id}"),
        ("get", "/v1/attest/measured-boot/{device_id}"),
        ("post", "/v1/attest/spdm"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}

/// With `--attest-on-request` nothing is attested at start: the inventory
/// names no ticket until an operator attests a device, and then names that
/// attestation.
#[tokio::test]
async fn on_request_attestation_attests_only_what_is_asked() {
    let server = Options::default().attest_on_request().start().await;
    let client = server.client(&Principal::Admin);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let devices = client.devices().await.unwrap();
    assert!(
        devices.iter().all(|d| d.attestation_ticket.is_none()),
        "{devices:#?}"
    );
    let attested = client
        .attest_device(&corridor_model::attestation::AttestDeviceRequest {
            device_id: "cxl-dev-001".into(),
            nonce: "0123456789abcdef".into(),
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let device = client.device("cxl-dev-001").await.unwrap();
        if device.attestation_ticket.as_deref() == Some(attested.id.as_str()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{device:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let others = client.devices().await.unwrap();
    assert!(
        others
            .iter()
            .filter(|d| d.id != "cxl-dev-001")
            .all(|d| d.attestation_ticket.is_none()),
        "{others:#?}"
    );
    server.stop().await;
}

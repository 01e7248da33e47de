//! Every JSON example of RFC-0001 "API Specifications", copied verbatim,
//! decodes into its type, and encoding keeps every RFC field and value.

use corridor_model::Validate;
use corridor_model::corridor::{
    Corridor, CorridorMode, CorridorRequest, CorridorStatus, CorridorTelemetry, CorridorType,
    DriftLevel, EyeMargin, QosPriority,
};
use corridor_model::fabric::{
    CxlDeviceType, DeviceStatus, FabricDevice, FabricPathRequest, PathType,
};
use corridor_model::ffm::{BandwidthPatch, FfmAllocRequest, FfmBundle, LatencyClass, Persistence};
use corridor_model::json::{from_slice_strict, from_slice_validated};
use corridor_model::rfc_examples::{FABRIC_PATH_REQUEST, FFM_ALLOC_REQUEST};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `POST /v1/corridors` request. Not JSON as printed: the RFC writes the
/// choice of `corridor_type` as `"SiCorridor" | "CarbonCorridor"`; the test
/// substitutes each alternative.
const CORRIDOR_REQUEST: &str = r#"{
  "corridor_type": "SiCorridor" | "CarbonCorridor",
  "lanes": 8,
  "lambda_nm": [1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557],
  "min_gbps": 400,
  "latency_budget_ns": 250,
  "reach_mm": 75,
  "mode": "waveguide",
  "qos": {
    "pfc": true,
    "priority": "gold"
  },
  "attestation_required": true
}"#;

const CORRIDOR_RESPONSE: &str = r#"{
  "id": "cor-7af3",
  "corridor_type": "SiCorridor",
  "lanes": 8,
  "lambda_nm": [1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557],
  "min_gbps": 400,
  "latency_budget_ns": 250,
  "reach_mm": 75,
  "mode": "waveguide",
  "qos": {
    "pfc": true,
    "priority": "gold"
  },
  "attestation_required": true,
  "achievable_gbps": 416,
  "ber": 1.0e-12,
  "eye_margin": "ok",
  "created_at": "2024-01-15T10:30:00Z",
  "status": "active"
}"#;

const CORRIDOR_TELEMETRY: &str = r#"{
  "ber": 1.1e-12,
  "temp_c": 47.5,
  "power_pj_per_bit": 0.9,
  "drift": "low",
  "utilization_percent": 85.3,
  "error_count": 0
}"#;

const FFM_ALLOC_RESPONSE: &str = r#"{
  "id": "ffm-9c2e",
  "bytes": 274877906944,
  "latency_class": "T2",
  "bandwidth_floor_GBs": 150,
  "persistence": "none",
  "shareable": true,
  "security_domain": "tenantA",
  "created_at": "2024-01-15T10:30:00Z",
  "policy_lease_ttl_s": 3600,
  "fds": ["/proc/12345/fd/37"],
  "achieved_GBs": 135,
  "moved_pages": 0,
  "tail_p99_ms": 2.1
}"#;

const FFM_BANDWIDTH_PATCH: &str = r#"{
  "floor_GBs": 180
}"#;

const FABRIC_DEVICES: &str = r#"[
  {
    "id": "cxl-dev-001",
    "type": "Type-3",
    "vendor_id": "0x8086",
    "device_id": "0x0b5a",
    "serial_number": "SN123456789",
    "firmware_version": "1.2.3",
    "capacity_bytes": 274877906944,
    "latency_ns": 100,
    "bandwidth_gbps": 64,
    "status": "active",
    "last_seen": "2024-01-15T10:30:00Z",
    "attestation_ticket": "attest-123456"
  }
]"#;

/// Asserts that every field of `example` (recursively, for objects) comes
/// back with the same name and the same JSON value.
fn assert_keeps_fields(example: &Value, encoded: &Value, at: &str) {
    match (example, encoded) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let got_value = got
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}/{key} missing from {encoded}"));
                assert_keeps_fields(value, got_value, &format!("{at}/{key}"));
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            assert_eq!(want.len(), got.len(), "{at}");
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                assert_keeps_fields(w, g, &format!("{at}/{i}"));
            }
        }
        (want, got) => assert_eq!(want, got, "{at}"),
    }
}

/// Decodes `text` strictly, re-encodes it, checks the fields survive, and
/// returns the value.
fn round_trip<T: DeserializeOwned + Serialize>(text: &str) -> T {
    let value: T = from_slice_strict(text.as_bytes()).unwrap_or_else(|p| panic!("{p:#?}"));
    let example: Value = serde_json::from_str(text).unwrap();
    let encoded = serde_json::to_value(&value).unwrap();
    assert_keeps_fields(&example, &encoded, "");
    value
}

/// Request types serialize exactly to the example (nothing added).
fn round_trip_request<T: DeserializeOwned + Serialize + Validate>(text: &str) -> T {
    let value: T = from_slice_validated(text.as_bytes()).unwrap_or_else(|p| panic!("{p:#?}"));
    let example: Value = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_value(&value).unwrap(), example);
    value
}

#[test]
fn corridor_request_each_type_alternative() {
    assert!(
        serde_json::from_str::<Value>(CORRIDOR_REQUEST).is_err(),
        "the RFC example is a template, not JSON"
    );
    for (alternative, expected) in [
        ("SiCorridor", CorridorType::SiCorridor),
        ("CarbonCorridor", CorridorType::CarbonCorridor),
    ] {
        let text = CORRIDOR_REQUEST.replace(
            r#""SiCorridor" | "CarbonCorridor""#,
            &format!("\"{alternative}\""),
        );
        let request: CorridorRequest = round_trip_request(&text);
        assert_eq!(request.corridor_type, expected);
        assert_eq!(request.lanes, 8);
        assert_eq!(request.lambda_nm.len(), 8);
        assert_eq!(request.lambda_nm[0].get(), 1550.0);
        assert_eq!(request.min_gbps.get(), 400.0);
        assert_eq!(request.latency_budget_ns.get(), 250);
        assert_eq!(request.reach_mm.get(), 75.0);
        assert_eq!(request.mode, CorridorMode::Waveguide);
        assert!(request.qos.pfc);
        assert_eq!(request.qos.priority, QosPriority::Gold);
        assert!(request.attestation_required);
    }
}

#[test]
fn corridor_response() {
    let corridor: Corridor = round_trip(CORRIDOR_RESPONSE);
    assert_eq!(corridor.id, "cor-7af3");
    assert_eq!(corridor.achievable_gbps.get(), 416.0);
    assert_eq!(corridor.ber, 1.0e-12);
    assert_eq!(corridor.eye_margin, EyeMargin::Ok);
    assert_eq!(corridor.status, CorridorStatus::Active);
    assert_eq!(
        corridor.created_at.to_rfc3339(),
        "2024-01-15T10:30:00+00:00"
    );
    // The spec part is a valid request.
    corridor.request().validate().unwrap();
    // Server fields added by DESIGN §4 are present on the wire.
    let encoded = serde_json::to_value(&corridor).unwrap();
    for key in ["resource_version", "conditions", "updated_at"] {
        assert!(encoded.get(key).is_some(), "{key}");
    }
    // And a full resource decodes back to itself.
    let back: Corridor = serde_json::from_value(encoded).unwrap();
    assert_eq!(back, corridor);
}

#[test]
fn corridor_telemetry() {
    let t: CorridorTelemetry = round_trip(CORRIDOR_TELEMETRY);
    assert_eq!(t.ber, 1.1e-12);
    assert_eq!(t.temp_c.get(), 47.5);
    assert_eq!(t.power_pj_per_bit.get(), 0.9);
    assert_eq!(t.drift, DriftLevel::Low);
    assert_eq!(t.utilization_percent, 85.3);
    assert_eq!(t.error_count, 0);
    assert_eq!(
        serde_json::to_value(&t).unwrap(),
        serde_json::from_str::<Value>(CORRIDOR_TELEMETRY).unwrap()
    );
}

#[test]
fn ffm_alloc_request() {
    let r: FfmAllocRequest = round_trip_request(FFM_ALLOC_REQUEST);
    assert_eq!(r.bytes.get(), 274_877_906_944);
    assert_eq!(r.latency_class, LatencyClass::T2);
    assert_eq!(r.bandwidth_floor_gbs.get(), 150.0);
    assert_eq!(r.persistence, Persistence::None);
    assert!(r.shareable);
    assert_eq!(r.security_domain, "tenantA");
}

#[test]
fn ffm_alloc_response() {
    let b: FfmBundle = round_trip(FFM_ALLOC_RESPONSE);
    assert_eq!(b.id, "ffm-9c2e");
    assert_eq!(b.policy_lease_ttl_s.get(), 3600);
    assert_eq!(b.fds, ["/proc/12345/fd/37"]);
    assert_eq!(b.achieved_gbs.get(), 135.0);
    assert_eq!(b.moved_pages, 0);
    assert_eq!(b.tail_p99_ms, 2.1);
    b.request().validate().unwrap();
    let back: FfmBundle = serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap();
    assert_eq!(back, b);
}

#[test]
fn ffm_bandwidth_patch() {
    let p: BandwidthPatch = round_trip_request(FFM_BANDWIDTH_PATCH);
    assert_eq!(p.floor_gbs.get(), 180.0);
}

#[test]
fn fabric_device_list() {
    let devices: Vec<FabricDevice> = round_trip(FABRIC_DEVICES);
    assert_eq!(devices.len(), 1);
    let d = &devices[0];
    assert_eq!(d.device_type, CxlDeviceType::Type3);
    assert_eq!(d.vendor_id, "0x8086");
    assert_eq!(d.capacity_bytes.get(), 274_877_906_944);
    assert_eq!(d.latency_ns.get(), 100);
    assert_eq!(d.bandwidth_gbps.get(), 64.0);
    assert_eq!(d.status, DeviceStatus::Active);
    assert_eq!(d.attestation_ticket.as_deref(), Some("attest-123456"));
}

#[test]
fn fabric_device_without_ticket_serializes_null() {
    let mut devices: Vec<FabricDevice> = serde_json::from_str(FABRIC_DEVICES).unwrap();
    devices[0].attestation_ticket = None;
    let encoded = serde_json::to_value(&devices[0]).unwrap();
    assert_eq!(encoded["attestation_ticket"], Value::Null);
    let mut text: Value = serde_json::from_str(FABRIC_DEVICES).unwrap();
    text[0]
        .as_object_mut()
        .unwrap()
        .remove("attestation_ticket");
    let decoded: Vec<FabricDevice> = serde_json::from_value(text).unwrap();
    assert_eq!(decoded[0].attestation_ticket, None);
}

#[test]
fn fabric_path_request() {
    let r: FabricPathRequest = round_trip_request(FABRIC_PATH_REQUEST);
    assert_eq!(r.path_type, PathType::Pbr);
    assert_eq!(r.qos.priority, QosPriority::Gold);
    assert_eq!(r.qos.min_bandwidth_gbps.get(), 50.0);
    assert_eq!(r.qos.max_latency_ns.get(), 300);
    assert!(r.qos.pfc);
    assert!(!r.qos.ecn);
}

//! One test per validation rule: the expected pointer and rule name, through
//! the same entry point the server uses.

use corridor_model::attestation::{AttestDeviceRequest, FabricAttestRequest, SpdmAttestRequest};
use corridor_model::calibration::{AmbientProfile, CalibrationRequest, RecalibrateRequest};
use corridor_model::corridor::CorridorRequest;
use corridor_model::fabric::FabricPathRequest;
use corridor_model::ffm::{BandwidthPatch, FfmAllocRequest, LatencyClassPatch};
use corridor_model::json::from_slice_validated;
use corridor_model::policy::PolicyRequest;
use corridor_model::{ProblemKind, Validate};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// (pointer, rule) of every violation, or an empty list if valid.
fn check<T: DeserializeOwned + Validate>(body: &Value) -> Vec<(String, String)> {
    match from_slice_validated::<T>(&serde_json::to_vec(body).unwrap()) {
        Ok(_) => vec![],
        Err(p) => {
            assert_eq!(p.kind(), Some(ProblemKind::Validation), "{p:#?}");
            assert_eq!(p.status, 422);
            assert!(!p.errors.is_empty());
            p.errors.into_iter().map(|v| (v.pointer, v.rule)).collect()
        }
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(p, r)| (p.to_string(), r.to_string()))
        .collect()
}

/// Sets `pointer` in a copy of `base` to `value` (`Value::Null` removes it).
fn with(base: &Value, pointer: &str, value: Value) -> Value {
    let mut out = base.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = out.pointer_mut(parent).unwrap();
    match target {
        Value::Object(map) if value.is_null() => {
            map.remove(key);
        }
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{parent} is not a container"),
    }
    out
}

fn corridor() -> Value {
    json!({
        "corridor_type": "SiCorridor",
        "lanes": 4,
        "lambda_nm": [1550.12, 1550.92, 1551.72, 1552.52],
        "min_gbps": 400,
        "latency_budget_ns": 250,
        "reach_mm": 75,
        "mode": "waveguide",
        "qos": {"pfc": true, "priority": "gold"},
        "attestation_required": false
    })
}

#[test]
fn corridor_valid_variants() {
    assert_eq!(check::<CorridorRequest>(&corridor()), vec![]);
    let full = with(&corridor(), "/endpoints", json!(["port-a", "port-b"]));
    let full = with(&full, "/labels", json!({"team": "photonics"}));
    let full = with(&full, "/security_domain", json!("tenantA"));
    let full = with(&full, "/policy_lease_ttl_s", json!(3600));
    let full = with(&full, "/mode", json!("fiber"));
    let full = with(&full, "/corridor_type", json!("CarbonCorridor"));
    assert_eq!(check::<CorridorRequest>(&full), vec![]);
}

#[test]
fn corridor_rules() {
    let base = corridor();
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            with(&base, "/lanes", json!(0)),
            vec![("/lanes", "range"), ("/lambda_nm", "compatible")],
        ),
        (
            with(&base, "/lanes", json!(65)),
            vec![("/lanes", "range"), ("/lambda_nm", "compatible")],
        ),
        (
            with(&base, "/lanes", json!(5)),
            vec![("/lambda_nm", "compatible")],
        ),
        (
            with(&base, "/lambda_nm/2", json!(1519.9)),
            vec![("/lambda_nm/2", "range")],
        ),
        (
            with(&base, "/lambda_nm/0", json!(1631)),
            vec![("/lambda_nm/0", "range")],
        ),
        (
            with(&base, "/lambda_nm/3", json!(1550.12)),
            vec![("/lambda_nm/3", "unique")],
        ),
        (
            with(&base, "/lambda_nm/1", json!(1550.14)),
            vec![("/lambda_nm/1", "unique")],
        ),
        (
            with(&base, "/min_gbps", json!(0)),
            vec![("/min_gbps", "range")],
        ),
        (
            with(&base, "/min_gbps", json!(-5.5)),
            vec![("/min_gbps", "range")],
        ),
        (
            with(&base, "/min_gbps", json!(12_800.5)),
            vec![("/min_gbps", "range")],
        ),
        (
            with(&base, "/latency_budget_ns", json!(0)),
            vec![("/latency_budget_ns", "range")],
        ),
        (
            with(&base, "/latency_budget_ns", json!(1_000_001)),
            vec![("/latency_budget_ns", "range")],
        ),
        (
            with(&base, "/reach_mm", json!(0)),
            vec![("/reach_mm", "range")],
        ),
        (
            with(&base, "/reach_mm", json!(10_000_001)),
            vec![("/reach_mm", "range")],
        ),
        (
            with(&base, "/endpoints", json!(["p1", "p1"])),
            vec![("/endpoints/1", "unique")],
        ),
        (
            with(&base, "/endpoints", json!(["p1", "bad port"])),
            vec![("/endpoints/1", "format")],
        ),
        (
            with(&base, "/endpoints", json!(["p1"])),
            vec![("/endpoints", "length")],
        ),
        (
            with(&base, "/security_domain", json!("a.b")),
            vec![("/security_domain", "format")],
        ),
        (
            with(&base, "/security_domain", json!("")),
            vec![("/security_domain", "length")],
        ),
        (
            with(&base, "/labels", json!({"ok": "x y"})),
            vec![("/labels/ok", "format")],
        ),
        (
            with(&base, "/policy_lease_ttl_s", json!(0)),
            vec![("/policy_lease_ttl_s", "range")],
        ),
        (
            with(&base, "/policy_lease_ttl_s", json!(31_536_001)),
            vec![("/policy_lease_ttl_s", "range")],
        ),
        (
            with(&base, "/qos/priority", json!("platinum")),
            vec![("/qos/priority", "enum")],
        ),
        (
            with(&base, "/mode", json!("free_space")),
            vec![("/mode", "enum")],
        ),
        (
            with(&base, "/corridor_type", json!("sicorridor")),
            vec![("/corridor_type", "enum")],
        ),
        (with(&base, "/lanes", json!("8")), vec![("/lanes", "type")]),
        (with(&base, "/lanes", json!(-1)), vec![("/lanes", "range")]),
        (
            with(&base, "/lambda_nm/1", json!("1551")),
            vec![("/lambda_nm/1", "type")],
        ),
        (
            with(&base, "/qos/pfc", Value::Null),
            vec![("/qos/pfc", "required")],
        ),
        (
            with(&base, "/qos/priority", json!("bronze")),
            vec![("/qos/pfc", "compatible")],
        ),
        (
            with(&base, "/attestation_required", Value::Null),
            vec![("/attestation_required", "required")],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(check::<CorridorRequest>(&body), pairs(&expected), "{body}");
    }
}

#[test]
fn corridor_collects_every_violation() {
    let body = with(&corridor(), "/min_gbps", json!(0));
    let body = with(&body, "/reach_mm", json!(-1));
    let body = with(&body, "/lambda_nm/0", json!(1400));
    assert_eq!(
        check::<CorridorRequest>(&body),
        pairs(&[
            ("/lambda_nm/0", "range"),
            ("/min_gbps", "range"),
            ("/reach_mm", "range")
        ])
    );
}

fn ffm() -> Value {
    json!({
        "bytes": 274877906944_u64,
        "latency_class": "T2",
        "bandwidth_floor_GBs": 150,
        "persistence": "none",
        "shareable": true,
        "security_domain": "tenantA"
    })
}

#[test]
fn ffm_rules() {
    let base = ffm();
    assert_eq!(check::<FfmAllocRequest>(&base), vec![]);
    let ok = with(&base, "/persistence", json!("dax"));
    let ok = with(&ok, "/latency_class", json!("T3"));
    let ok = with(&ok, "/bandwidth_floor_GBs", json!(0));
    let ok = with(&ok, "/policy_lease_ttl_s", json!(31_536_000));
    assert_eq!(check::<FfmAllocRequest>(&ok), vec![]);

    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            with(&base, "/bytes", json!(4095)),
            vec![("/bytes", "range")],
        ),
        (
            with(&base, "/bytes", json!((1_u64 << 50) + 1)),
            vec![("/bytes", "range")],
        ),
        (
            with(&base, "/bytes", json!(-4096)),
            vec![("/bytes", "range")],
        ),
        (
            with(&base, "/bandwidth_floor_GBs", json!(-1)),
            vec![("/bandwidth_floor_GBs", "range")],
        ),
        (
            with(&base, "/bandwidth_floor_GBs", json!(10_001)),
            vec![("/bandwidth_floor_GBs", "range")],
        ),
        (
            with(&base, "/security_domain", json!("tenant A")),
            vec![("/security_domain", "format")],
        ),
        (
            with(&base, "/security_domain", json!("x".repeat(64))),
            vec![("/security_domain", "length")],
        ),
        (
            with(&base, "/policy_lease_ttl_s", json!(0)),
            vec![("/policy_lease_ttl_s", "range")],
        ),
        (
            with(
                &with(&base, "/persistence", json!("file")),
                "/latency_class",
                json!("T1"),
            ),
            vec![("/persistence", "compatible")],
        ),
        (
            with(&base, "/latency_class", json!("T4")),
            vec![("/latency_class", "enum")],
        ),
        (
            with(&base, "/persistence", json!("tape")),
            vec![("/persistence", "enum")],
        ),
        (
            with(&base, "/shareable", json!("yes")),
            vec![("/shareable", "type")],
        ),
        (
            with(&base, "/security_domain", Value::Null),
            vec![("/security_domain", "required")],
        ),
        (
            with(&base, "/bandwidth_floor_gbs", json!(1)),
            vec![("/bandwidth_floor_gbs", "unknown_field")],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(check::<FfmAllocRequest>(&body), pairs(&expected), "{body}");
    }
}

#[test]
fn ffm_patches() {
    assert_eq!(check::<BandwidthPatch>(&json!({"floor_GBs": 180})), vec![]);
    assert_eq!(
        check::<BandwidthPatch>(&json!({"floor_GBs": -1})),
        pairs(&[("/floor_GBs", "range")])
    );
    assert_eq!(
        check::<BandwidthPatch>(&json!({})),
        pairs(&[("/floor_GBs", "required")])
    );
    assert_eq!(
        check::<LatencyClassPatch>(&json!({"latency_class": "T0"})),
        vec![]
    );
    assert_eq!(
        check::<LatencyClassPatch>(&json!({"latency_class": "t0"})),
        pairs(&[("/latency_class", "enum")])
    );
}

fn path() -> Value {
    json!({
        "source_device": "cxl-dev-001",
        "target_device": "cxl-dev-002",
        "path_type": "PBR",
        "bandwidth_gbps": 64,
        "latency_ns": 200,
        "qos": {"priority": "gold", "min_bandwidth_gbps": 50, "max_latency_ns": 300, "pfc": true, "ecn": false}
    })
}

#[test]
fn fabric_path_rules() {
    let base = path();
    assert_eq!(check::<FabricPathRequest>(&base), vec![]);
    for kind in ["HBR", "GIM"] {
        assert_eq!(
            check::<FabricPathRequest>(&with(&base, "/path_type", json!(kind))),
            vec![]
        );
    }
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            with(&base, "/target_device", json!("cxl-dev-001")),
            vec![("/target_device", "unique")],
        ),
        (
            with(&base, "/source_device", json!("")),
            vec![("/source_device", "length")],
        ),
        (
            with(&base, "/bandwidth_gbps", json!(0)),
            vec![("/bandwidth_gbps", "range")],
        ),
        (
            with(&base, "/bandwidth_gbps", json!(2048)),
            vec![("/bandwidth_gbps", "range")],
        ),
        (
            with(&base, "/latency_ns", json!(0)),
            vec![("/latency_ns", "range")],
        ),
        (
            with(&base, "/qos/min_bandwidth_gbps", json!(65)),
            vec![("/qos/min_bandwidth_gbps", "compatible")],
        ),
        (
            with(&base, "/qos/min_bandwidth_gbps", json!(-1)),
            vec![("/qos/min_bandwidth_gbps", "range")],
        ),
        (
            with(&base, "/qos/max_latency_ns", json!(199)),
            vec![("/qos/max_latency_ns", "compatible")],
        ),
        (
            with(&base, "/qos/max_latency_ns", json!(0)),
            vec![("/qos/max_latency_ns", "range")],
        ),
        (
            with(&base, "/path_type", json!("pbr")),
            vec![("/path_type", "enum")],
        ),
        (
            with(&base, "/qos/ecn", Value::Null),
            vec![("/qos/ecn", "required")],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            check::<FabricPathRequest>(&body),
            pairs(&expected),
            "{body}"
        );
    }
}

#[test]
fn calibration_rules() {
    let base = json!({"corridor_id": "cor-7af3"});
    assert_eq!(check::<CalibrationRequest>(&base), vec![]);
    let full = json!({
        "corridor_id": "cor-7af3", "target_ber": 1e-12, "power_budget_pj_per_bit": 1.5,
        "ambient_profile": "datacenter-diurnal", "mode": "incremental"
    });
    assert_eq!(check::<CalibrationRequest>(&full), vec![]);
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            with(&base, "/target_ber", json!(0.1)),
            vec![("/target_ber", "range")],
        ),
        (
            with(&base, "/target_ber", json!(0)),
            vec![("/target_ber", "range")],
        ),
        (
            with(&base, "/power_budget_pj_per_bit", json!(0)),
            vec![("/power_budget_pj_per_bit", "range")],
        ),
        (
            with(&base, "/ambient_profile", json!("a b")),
            vec![("/ambient_profile", "format")],
        ),
        (
            with(&base, "/mode", json!("quick")),
            vec![("/mode", "enum")],
        ),
        (json!({}), vec![("/corridor_id", "compatible")]),
    ];
    for (body, expected) in cases {
        assert_eq!(
            check::<CalibrationRequest>(&body),
            pairs(&expected),
            "{body}"
        );
    }
    assert_eq!(check::<RecalibrateRequest>(&json!({})), vec![]);
    assert_eq!(
        check::<RecalibrateRequest>(&json!({"target_ber": 1})),
        pairs(&[("/target_ber", "range")])
    );
}

#[test]
fn ambient_profile_rules() {
    let base = json!({"name": "lab", "description": "", "base_temp_c": 25, "swing_c": 5, "period_s": 86400});
    assert_eq!(check::<AmbientProfile>(&base), vec![]);
    assert_eq!(
        check::<AmbientProfile>(&with(&base, "/base_temp_c", json!(200))),
        pairs(&[("/base_temp_c", "range")])
    );
    assert_eq!(
        check::<AmbientProfile>(&with(&base, "/swing_c", json!(-1))),
        pairs(&[("/swing_c", "range")])
    );
    assert_eq!(
        check::<AmbientProfile>(&with(&base, "/period_s", json!(0))),
        pairs(&[("/period_s", "range")])
    );
    // The swing must keep the profile physical around its base.
    assert_eq!(
        check::<AmbientProfile>(&with(&base, "/base_temp_c", json!(124))),
        pairs(&[("/swing_c", "compatible")])
    );
    assert_eq!(
        check::<AmbientProfile>(&with(
            &base,
            "/steps",
            json!([{"at_s": 60, "temp_c": 30}, {"at_s": 30, "temp_c": 130}])
        )),
        pairs(&[
            ("/steps/1/temp_c", "range"),
            ("/steps/1/at_s", "compatible")
        ])
    );
    assert_eq!(
        check::<AmbientProfile>(&with(&base, "/colour", json!("red"))),
        pairs(&[("/colour", "unknown_field")])
    );
}

#[test]
fn attestation_rules() {
    let nonce32 = "ab".repeat(32);
    assert_eq!(
        check::<AttestDeviceRequest>(
            &json!({"device_id": "cxl-dev-001", "nonce": "00112233445566778899"})
        ),
        vec![]
    );
    assert_eq!(
        check::<AttestDeviceRequest>(&json!({"device_id": "d", "nonce": "0011"})),
        pairs(&[("/nonce", "length")])
    );
    assert_eq!(
        check::<AttestDeviceRequest>(&json!({"device_id": "d", "nonce": "xyz0112233445566"})),
        pairs(&[("/nonce", "format")])
    );
    assert_eq!(
        check::<SpdmAttestRequest>(
            &json!({"device_id": "d", "nonce": nonce32, "slot_id": 7, "measurement_indices": [1, 254]})
        ),
        vec![]
    );
    assert_eq!(
        check::<SpdmAttestRequest>(
            &json!({"device_id": "d", "nonce": "ab".repeat(16), "slot_id": 8, "measurement_indices": [0, 255]})
        ),
        pairs(&[
            ("/nonce", "length"),
            ("/slot_id", "range"),
            ("/measurement_indices/0", "range"),
            ("/measurement_indices/1", "range"),
        ])
    );
    assert_eq!(
        check::<SpdmAttestRequest>(&json!({"device_id": "d", "nonce": nonce32, "slot_id": 256})),
        pairs(&[("/slot_id", "range")])
    );
    assert_eq!(
        check::<FabricAttestRequest>(&json!({"device_id": "cxl-dev-001"})),
        vec![]
    );
    assert_eq!(
        check::<FabricAttestRequest>(
            &json!({"device_id": "d", "bind_to": [{"kind": "corridor", "id": "c 1"}]})
        ),
        pairs(&[("/bind_to/0/id", "format")])
    );
    assert_eq!(
        check::<FabricAttestRequest>(
            &json!({"device_id": "d", "bind_to": [{"kind": "tape", "id": "c"}]})
        ),
        pairs(&[("/bind_to/0/kind", "enum")])
    );
}

fn policy() -> Value {
    json!({
        "name": "nightly",
        "security_domain": "tenantA",
        "target": {"match_labels": {"app": "batch"}},
        "min_GBs": 150,
        "window": {"start": "20:00", "end": "08:00", "time_zone": "Etc/GMT-1", "days": ["mon", "fri"]}
    })
}

#[test]
fn policy_rules() {
    let base = policy();
    assert_eq!(check::<PolicyRequest>(&base), vec![]);
    assert_eq!(
        check::<PolicyRequest>(&with(&base, "/target", Value::Null)),
        vec![]
    );
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (
            with(&base, "/min_GBs", json!(0)),
            vec![("/min_GBs", "range")],
        ),
        (
            with(&base, "/window/start", json!("24:00")),
            vec![("/window/start", "format")],
        ),
        (
            with(&base, "/window/end", json!("8:00")),
            vec![("/window/end", "format")],
        ),
        (
            with(&base, "/window/end", json!("20:00")),
            vec![("/window/end", "compatible")],
        ),
        (
            with(&base, "/window/time_zone", json!("Paris time")),
            vec![("/window/time_zone", "exists")],
        ),
        (
            with(&base, "/window/time_zone", json!("Europe/Berlin")),
            vec![],
        ),
        (
            with(&base, "/window/days", json!(["mon", "mon"])),
            vec![("/window/days/1", "unique")],
        ),
        (
            with(&base, "/window/days", json!(["monday"])),
            vec![("/window/days/0", "enum")],
        ),
        (
            with(&base, "/target/ids", json!(["ffm 1"])),
            vec![("/target/ids/0", "format")],
        ),
        (
            with(&base, "/target/match_labels", json!({"a b": "c"})),
            vec![("/target/match_labels/a b", "format")],
        ),
        (with(&base, "/name", json!("")), vec![("/name", "length")]),
        (
            with(&base, "/window", Value::Null),
            vec![("/window", "required")],
        ),
        (
            with(&base, "/min_gbs", json!(1)),
            vec![("/min_gbs", "unknown_field")],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(check::<PolicyRequest>(&body), pairs(&expected), "{body}");
    }
}

/// JSON Schema's `integer` includes numbers with a zero fraction: the SPDM
/// request's slot and block indices accept `6.0` and `155.0` as the
/// document promises, and refuse `1.5`.
#[test]
fn spdm_request_integers_may_carry_a_zero_fraction() {
    use corridor_model::attestation::SpdmAttestRequest;
    let nonce = "ab".repeat(32);
    let ok: SpdmAttestRequest = serde_json::from_str(&format!(
        r#"{{"device_id":"cxl-dev-001","nonce":"{nonce}","slot_id":6.0,"measurement_indices":[155.0,2]}}"#
    ))
    .unwrap();
    assert_eq!((ok.slot_id, ok.measurement_indices), (6, vec![155, 2]));
    assert!(
        serde_json::from_str::<SpdmAttestRequest>(&format!(
            r#"{{"device_id":"cxl-dev-001","nonce":"{nonce}","measurement_indices":[1.5]}}"#
        ))
        .is_err()
    );
}

//! Unknown fields, wrong types and malformed bodies are reported with the
//! pointer of the field at fault.

use corridor_model::corridor::CorridorRequest;
use corridor_model::fabric::FabricPathRequest;
use corridor_model::ffm::FfmAllocRequest;
use corridor_model::json::{from_body_strict, from_slice_strict, from_slice_validated};
use corridor_model::policy::PolicyRequest;
use corridor_model::{Problem, ProblemKind};
use serde_json::json;

const CORRIDOR: &str = r#"{
  "corridor_type": "SiCorridor",
  "lanes": 2,
  "lambda_nm": [1550, 1551],
  "min_gbps": 100,
  "latency_budget_ns": 250,
  "reach_mm": 75,
  "mode": "waveguide",
  "qos": {"pfc": true, "priority": "gold"},
  "attestation_required": true
}"#;

fn only_violation(problem: &Problem) -> (&str, &str, &str) {
    assert_eq!(
        problem.kind(),
        Some(ProblemKind::Validation),
        "{problem:#?}"
    );
    assert_eq!(problem.errors.len(), 1, "{problem:#?}");
    let v = &problem.errors[0];
    (v.pointer.as_str(), v.rule.as_str(), v.message.as_str())
}

#[test]
fn unknown_nested_field_names_field_and_alternatives() {
    let body = CORRIDOR.replace(
        r#""priority": "gold""#,
        r#""priority": "gold", "colour": "red""#,
    );
    let p = from_slice_strict::<CorridorRequest>(body.as_bytes()).unwrap_err();
    let (pointer, rule, message) = only_violation(&p);
    assert_eq!((pointer, rule), ("/qos/colour", "unknown_field"));
    assert!(message.contains("`colour`"), "{message}");
    assert!(
        message.contains("`pfc`") && message.contains("`priority`"),
        "{message}"
    );
    assert!(p.detail.contains("/qos/colour"), "{}", p.detail);
}

#[test]
fn unknown_top_level_field() {
    let body = CORRIDOR.replace(r#""lanes": 2,"#, r#""lanes": 2, "lane_count": 2,"#);
    let p = from_slice_strict::<CorridorRequest>(body.as_bytes()).unwrap_err();
    let (pointer, rule, message) = only_violation(&p);
    assert_eq!((pointer, rule), ("/lane_count", "unknown_field"));
    assert!(message.contains("`lambda_nm`"), "{message}");
}

#[test]
fn unknown_fields_in_other_requests() {
    let body = json!({
        "bytes": 4096, "latency_class": "T0", "bandwidth_floor_GBs": 1, "persistence": "none",
        "shareable": false, "security_domain": "a", "tier": "hbm"
    });
    let p = from_slice_strict::<FfmAllocRequest>(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(only_violation(&p).0, "/tier");

    let body = json!({
        "source_device": "a", "target_device": "b", "path_type": "PBR", "bandwidth_gbps": 1,
        "latency_ns": 1, "qos": {"priority": "gold", "min_bandwidth_gbps": 0, "max_latency_ns": 1,
        "pfc": true, "ecn": true, "dscp": 46}
    });
    let p = from_slice_strict::<FabricPathRequest>(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(only_violation(&p).0, "/qos/dscp");

    let body = json!({
        "name": "n", "security_domain": "d", "min_GBs": 1,
        "window": {"start": "20:00", "end": "08:00", "time_zone": "UTC", "tz": "UTC"}
    });
    let p = from_slice_strict::<PolicyRequest>(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(only_violation(&p).0, "/window/tz");
}

#[test]
fn server_fields_are_not_accepted_in_requests() {
    let body = CORRIDOR.replace(r#""lanes": 2,"#, r#""lanes": 2, "id": "cor-1","#);
    let p = from_slice_strict::<CorridorRequest>(body.as_bytes()).unwrap_err();
    assert_eq!(only_violation(&p).0, "/id");
}

#[test]
fn type_errors_name_the_element() {
    let body = CORRIDOR.replace("[1550, 1551]", r#"[1550, "1551"]"#);
    let p = from_slice_strict::<CorridorRequest>(body.as_bytes()).unwrap_err();
    let (pointer, rule, message) = only_violation(&p);
    assert_eq!((pointer, rule), ("/lambda_nm/1", "type"));
    assert!(message.contains("expected f64"), "{message}");
    assert!(
        !message.contains("line"),
        "position belongs in the pointer: {message}"
    );
}

#[test]
fn enum_errors_list_the_allowed_values() {
    let body = CORRIDOR.replace(r#""gold""#, r#""platinum""#);
    let p = from_slice_strict::<CorridorRequest>(body.as_bytes()).unwrap_err();
    let (pointer, rule, message) = only_violation(&p);
    assert_eq!((pointer, rule), ("/qos/priority", "enum"));
    assert!(
        message.contains("`gold`") && message.contains("`bronze`"),
        "{message}"
    );
}

#[test]
fn malformed_bodies_are_400_with_position() {
    for body in ["", "   ", "{", "nope", "{\"lanes\": 2,}", "null x"] {
        let p = from_slice_strict::<CorridorRequest>(body.as_bytes()).unwrap_err();
        assert_eq!(p.status, 400, "{body:?}: {p:#?}");
        assert_eq!(p.kind(), Some(ProblemKind::BadRequest));
    }
    let p = from_slice_strict::<CorridorRequest>(b"{\n  \"lanes\": 2,\n  oops\n}").unwrap_err();
    assert!(p.detail.contains("line 3 column 3"), "{}", p.detail);
    let p =
        from_slice_strict::<CorridorRequest>(format!("{CORRIDOR} {{}}").as_bytes()).unwrap_err();
    assert_eq!(p.status, 400);
    assert!(p.detail.contains("trailing"), "{}", p.detail);
}

#[test]
fn wrong_document_type_is_422_at_the_root() {
    let p = from_slice_strict::<CorridorRequest>(b"42").unwrap_err();
    let (pointer, rule, _) = only_violation(&p);
    assert_eq!((pointer, rule), ("", "type"));
}

#[test]
fn validated_entry_point_reports_rules_after_shape() {
    let ok = from_slice_validated::<CorridorRequest>(CORRIDOR.as_bytes()).unwrap();
    assert_eq!(ok.lanes, 2);
    let body = CORRIDOR.replace(r#""lanes": 2"#, r#""lanes": 3"#);
    let p = from_slice_validated::<CorridorRequest>(body.as_bytes()).unwrap_err();
    assert_eq!(only_violation(&p).0, "/lambda_nm");
    // Problem bodies are problem+json with the RFC 9457 members.
    let encoded = serde_json::to_value(&p).unwrap();
    assert_eq!(
        encoded["type"],
        "https://corridoros.dev/problems/validation"
    );
    assert_eq!(encoded["status"], 422);
    assert_eq!(encoded["errors"][0]["pointer"], "/lambda_nm");
    assert_eq!(encoded["errors"][0]["rule"], "compatible");
    assert!(encoded.get("instance").is_none());
}

#[test]
fn an_array_is_not_an_alloc_body() {
    // serde's sequence form of the struct, field by field in declaration order.
    let p = from_body_strict::<FfmAllocRequest>(br#"[4096,"T1",0,"none",false,"tenantA"]"#)
        .unwrap_err();
    let (pointer, rule, message) = only_violation(&p);
    assert_eq!((pointer, rule), ("", "type"), "{message}");
    assert!(message.contains("object"), "{message}");
    // The object form of the same values is an alloc.
    let ok = from_slice_validated::<FfmAllocRequest>(
        br#"{"bytes":4096,"latency_class":"T1","bandwidth_floor_GBs":0,"persistence":"none","shareable":false,"security_domain":"tenantA"}"#,
    )
    .unwrap();
    assert_eq!(ok.bytes.get(), 4096);
    // A malformed array is still a syntax error (400), not a 422.
    let p = from_body_strict::<FfmAllocRequest>(b"[4096,").unwrap_err();
    assert_eq!(p.status, 400, "{p:#?}");
}

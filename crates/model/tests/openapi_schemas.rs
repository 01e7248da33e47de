//! The schemas the server will publish carry the RFC's field names.

use corridor_model::attestation::{
    AttestDeviceRequest, AttestationTicket, FabricAttestRequest, MeasuredBoot, SpdmAttestRequest,
};
use corridor_model::calibration::{
    AmbientProfile, Calibration, CalibrationRequest, RecalibrateRequest,
};
use corridor_model::corridor::{Corridor, CorridorRequest, CorridorTelemetry};
use corridor_model::fabric::{FabricDevice, FabricPath, FabricPathRequest};
use corridor_model::ffm::{
    BandwidthPatch, FfmAllocRequest, FfmBundle, FfmTelemetry, LatencyClassPatch,
};
use corridor_model::meta::Operation;
use corridor_model::policy::{Policy, PolicyRequest};
use corridor_model::problem::Problem;
use serde_json::Value;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(components(schemas(
    Problem,
    Operation,
    CorridorRequest,
    Corridor,
    CorridorTelemetry,
    FfmAllocRequest,
    FfmBundle,
    BandwidthPatch,
    LatencyClassPatch,
    FfmTelemetry,
    FabricDevice,
    FabricPathRequest,
    FabricPath,
    CalibrationRequest,
    RecalibrateRequest,
    Calibration,
    AmbientProfile,
    AttestDeviceRequest,
    FabricAttestRequest,
    SpdmAttestRequest,
    AttestationTicket,
    MeasuredBoot,
    PolicyRequest,
    Policy,
)))]
struct Doc;

fn schemas() -> Value {
    serde_json::to_value(Doc::openapi()).unwrap()["components"]["schemas"].clone()
}

/// Property names of a schema, following `allOf` (used for flattened meta).
fn properties(schema: &Value, all: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap();
        return properties(&all[name], all);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(properties(part, all));
    }
    out
}

#[test]
fn rfc_field_names_are_in_the_schemas() {
    let all = schemas();
    let cases: [(&str, &[&str]); 6] = [
        (
            "FfmAllocRequest",
            &["bandwidth_floor_GBs", "security_domain", "bytes"],
        ),
        (
            "FfmBundle",
            &[
                "achieved_GBs",
                "tail_p99_ms",
                "fds",
                "resource_version",
                "conditions",
                "updated_at",
            ],
        ),
        ("BandwidthPatch", &["floor_GBs"]),
        (
            "FabricDevice",
            &[
                "type",
                "vendor_id",
                "attestation_ticket",
                "resource_version",
            ],
        ),
        (
            "Corridor",
            &[
                "lambda_nm",
                "achievable_gbps",
                "eye_margin",
                "status",
                "resource_version",
            ],
        ),
        ("Problem", &["type", "title", "status", "detail", "errors"]),
    ];
    for (name, expected) in cases {
        let props = properties(&all[name], &all);
        for field in expected {
            assert!(
                props.iter().any(|p| p == field),
                "{name} lacks {field}: {props:?}"
            );
        }
    }
}

#[test]
fn units_are_plain_numbers_in_the_schemas() {
    let all = schemas();
    let min_gbps = &all["CorridorRequest"]["properties"]["min_gbps"];
    let resolved = match min_gbps.get("$ref").and_then(Value::as_str) {
        Some(r) => all[r.rsplit('/').next().unwrap()].clone(),
        None => min_gbps.clone(),
    };
    assert_eq!(resolved["type"], "number", "{min_gbps} / {resolved}");
}

#[test]
#[ignore = "prints the schemas for inspection"]
fn print() {
    println!("{}", serde_json::to_string_pretty(&schemas()).unwrap());
}

//! Request bodies the tests build beside the RFC's own ([`super::rfc`]).

use serde_json::{Value, json};

/// A one-lane corridor request with wavelengths and reach every link meets, on `mode`'s
/// medium (the default twin's ports -0/-1 are SiN waveguides, -2/-3 fibre), between
/// `endpoints` if given.
pub fn one_lane_corridor(
    lambda: f64,
    priority: &str,
    mode: &str,
    endpoints: Option<[&str; 2]>,
) -> Value {
    let mut body = json!({
        "corridor_type": "SiCorridor",
        "lanes": 1,
        "lambda_nm": [lambda],
        "min_gbps": 20,
        "latency_budget_ns": 1000,
        "reach_mm": 5000,
        "mode": mode,
        "qos": {"pfc": false, "priority": priority},
        "attestation_required": false
    });
    if let Some(e) = endpoints {
        body["endpoints"] = json!(e);
    }
    body
}

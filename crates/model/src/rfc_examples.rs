//! The request bodies of RFC-0001's "API Specifications", verbatim, for
//! every crate's tests that send them (one copy: the contract is that these
//! exact bytes work). `crates/model/tests/rfc_examples.rs` holds the rest of
//! the RFC's examples and decodes each into its type.

/// "Allocate Corridor" (`POST /v1/corridors`), with `SiCorridor` for the
/// RFC's `"SiCorridor" | "CarbonCorridor"`. It requires attestation, so
/// under `--attest-on-request` (nobody asks) its capacity is held with
/// every lane dark.
pub const CORRIDOR_REQUEST: &str = r#"{
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
  "attestation_required": true
}"#;

/// "Create Path" (`POST /v1/fabman/paths`): 50 Gb/s guaranteed from
/// cxl-dev-001 to cxl-dev-002 (through switch sw0, ports 8 and 9 of the
/// default twin).
pub const FABRIC_PATH_REQUEST: &str = r#"{
  "source_device": "cxl-dev-001",
  "target_device": "cxl-dev-002",
  "path_type": "PBR",
  "bandwidth_gbps": 64,
  "latency_ns": 200,
  "qos": {
    "priority": "gold",
    "min_bandwidth_gbps": 50,
    "max_latency_ns": 300,
    "pfc": true,
    "ecn": false
  }
}"#;

/// "Allocate Memory" (`POST /v1/ffm/alloc`): 256 GiB of T2 with a 150 GB/s
/// floor, shareable, for tenantA.
pub const FFM_ALLOC_REQUEST: &str = r#"{
  "bytes": 274877906944,
  "latency_class": "T2",
  "bandwidth_floor_GBs": 150,
  "persistence": "none",
  "shareable": true,
  "security_domain": "tenantA"
}"#;

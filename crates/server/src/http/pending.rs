//! RFC endpoints whose services arrive with later issues.
//!
//! They are routed and documented now so the API surface is complete and
//! stable, and each answers `501 Not Implemented` as problem+json naming
//! the issue that builds it: never a fake success.

use corridor_model::problem::Problem;

use super::problem::ApiError;

/// Declares a documented endpoint that answers 501 until its service lands.
macro_rules! pending_endpoint {
    ($name:ident, $method:ident, $path:literal, $tag:literal, $issue:literal) => {
        #[utoipa::path(
            $method,
            path = $path,
            tag = $tag,
            responses((status = 501, description = "Not implemented yet", body = Problem, content_type = "application/problem+json"))
        )]
        pub async fn $name() -> ApiError {
            ApiError(Problem::not_implemented(
                concat!(stringify!($method), " ", $path),
                $issue,
            ))
        }
    };
}

// corrd: photonic corridors (issue #3).
pending_endpoint!(
    create_corridor,
    post,
    "/v1/corridors",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    list_corridors,
    get,
    "/v1/corridors",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    get_corridor,
    get,
    "/v1/corridors/{id}",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    delete_corridor,
    delete,
    "/v1/corridors/{id}",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    corridor_telemetry,
    get,
    "/v1/corridors/{id}/telemetry",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    recalibrate_corridor,
    post,
    "/v1/corridors/{id}/recalibrate",
    "corrd",
    "#3 (photonic corridors)"
);
pending_endpoint!(
    renew_corridor_lease,
    post,
    "/v1/corridors/{id}/lease",
    "corrd",
    "#3 (photonic corridors)"
);

// memqosd: free-form memory and policies (issue #4).
pending_endpoint!(
    alloc_ffm,
    post,
    "/v1/ffm/alloc",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(list_ffm, get, "/v1/ffm", "memqosd", "#4 (free-form memory)");
pending_endpoint!(
    get_ffm,
    get,
    "/v1/ffm/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    delete_ffm,
    delete,
    "/v1/ffm/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    ffm_telemetry,
    get,
    "/v1/ffm/{id}/telemetry",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    patch_ffm_bandwidth,
    patch,
    "/v1/ffm/{id}/bandwidth",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    patch_ffm_latency_class,
    patch,
    "/v1/ffm/{id}/latency_class",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    renew_ffm_lease,
    post,
    "/v1/ffm/{id}/lease",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    create_policy,
    post,
    "/v1/policies",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    list_policies,
    get,
    "/v1/policies",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    get_policy,
    get,
    "/v1/policies/{id}",
    "memqosd",
    "#4 (free-form memory)"
);
pending_endpoint!(
    delete_policy,
    delete,
    "/v1/policies/{id}",
    "memqosd",
    "#4 (free-form memory)"
);

// fabmand: CXL fabric paths and device attestation (a later issue).
pending_endpoint!(
    create_path,
    post,
    "/v1/fabman/paths",
    "fabmand",
    "the CXL fabric issue (not yet filed)"
);
pending_endpoint!(
    list_paths,
    get,
    "/v1/fabman/paths",
    "fabmand",
    "the CXL fabric issue (not yet filed)"
);
pending_endpoint!(
    get_path,
    get,
    "/v1/fabman/paths/{id}",
    "fabmand",
    "the CXL fabric issue (not yet filed)"
);
pending_endpoint!(
    delete_path,
    delete,
    "/v1/fabman/paths/{id}",
    "fabmand",
    "the CXL fabric issue (not yet filed)"
);
pending_endpoint!(
    fabman_attest,
    post,
    "/v1/fabman/attest",
    "fabmand",
    "the attestation issue (not yet filed)"
);
pending_endpoint!(
    fabman_get_ticket,
    get,
    "/v1/fabman/attest/{ticket_id}",
    "fabmand",
    "the attestation issue (not yet filed)"
);

// heliopassd: calibration (a later issue).
pending_endpoint!(
    heliopass_calibrate,
    post,
    "/v1/heliopass/calibrate",
    "heliopassd",
    "the HELIOPASS calibration issue (not yet filed)"
);

// attestd: attestation (a later issue).
pending_endpoint!(
    attest_device,
    post,
    "/v1/attest/device",
    "attestd",
    "the attestation issue (not yet filed)"
);
pending_endpoint!(
    get_attestation,
    get,
    "/v1/attest/{attestation_id}",
    "attestd",
    "the attestation issue (not yet filed)"
);
pending_endpoint!(
    measured_boot,
    get,
    "/v1/attest/measured-boot/{device_id}",
    "attestd",
    "the attestation issue (not yet filed)"
);
pending_endpoint!(
    attest_spdm,
    post,
    "/v1/attest/spdm",
    "attestd",
    "the attestation issue (not yet filed)"
);

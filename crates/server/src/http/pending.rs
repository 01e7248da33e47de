//! RFC endpoints whose services arrive with later issues.
//!
//! They are routed and documented now so the API surface is complete and
//! stable, and each answers `501 Not Implemented` as problem+json naming
//! the issue that builds it: never a fake success.

use corridor_model::problem::Problem;

use super::problem::ApiError;

/// Declares a documented endpoint that answers 501 until its service lands.
#[macro_export]
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

//! The OpenAPI document, generated from the handlers' annotations.
//!
//! The generated document is checked in as `openapi/corridoros.json`; a test
//! fails when it drifts, so API changes are always reviewed as a diff.

use axum::Json;
use utoipa::OpenApi;

use super::{corridors, ffm, inventory, operations, pending};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "CorridorOS API",
        description = "Photonic corridors, free-form memory, CXL fabric paths, calibration and attestation (RFC-0001 v4).",
        version = "4.0.0",
        license(name = "Apache-2.0"),
    ),
    paths(
        corridors::create_corridor,
        corridors::list_corridors,
        corridors::get_corridor,
        corridors::delete_corridor,
        corridors::corridor_telemetry,
        corridors::recalibrate_corridor,
        corridors::renew_corridor_lease,
        corridors::inject_twin_fault,
        ffm::alloc_ffm,
        ffm::list_ffm,
        ffm::get_ffm,
        ffm::delete_ffm,
        ffm::ffm_telemetry,
        ffm::patch_ffm_bandwidth,
        ffm::patch_ffm_latency_class,
        ffm::renew_ffm_lease,
        ffm::create_policy,
        ffm::list_policies,
        ffm::get_policy,
        ffm::delete_policy,
        inventory::list_devices,
        inventory::get_device,
        pending::create_path,
        pending::list_paths,
        pending::get_path,
        pending::delete_path,
        pending::fabman_attest,
        pending::fabman_get_ticket,
        pending::heliopass_calibrate,
        inventory::list_profiles,
        pending::attest_device,
        pending::get_attestation,
        pending::measured_boot,
        pending::attest_spdm,
        operations::list_operations,
        operations::get_operation,
    ),
    components(schemas(
        corridor_model::corridor::CorridorRequest,
        corridor_model::corridor::Corridor,
        corridor_model::corridor::CorridorTelemetry,
        corridor_model::corridor::CorridorAssignment,
        corridor_model::corridor::TwinFaultRequest,
        corridor_model::ffm::FfmAllocRequest,
        corridor_model::ffm::FfmBundle,
        corridor_model::ffm::FfmTelemetry,
        corridor_model::ffm::BandwidthPatch,
        corridor_model::ffm::LatencyClassPatch,
        corridor_model::fabric::FabricPathRequest,
        corridor_model::fabric::FabricPath,
        corridor_model::calibration::CalibrationRequest,
        corridor_model::calibration::Calibration,
        corridor_model::attestation::AttestDeviceRequest,
        corridor_model::attestation::SpdmAttestRequest,
        corridor_model::attestation::AttestationTicket,
        corridor_model::attestation::MeasuredBoot,
        corridor_model::policy::PolicyRequest,
        corridor_model::policy::Policy,
    )),
    tags(
        (name = "corrd", description = "Photonic corridors"),
        (name = "memqosd", description = "Free-form memory and bandwidth policies"),
        (name = "fabmand", description = "CXL fabric devices, paths and device attestation"),
        (name = "heliopassd", description = "Optical calibration"),
        (name = "attestd", description = "Measured boot and device attestation"),
        (name = "operations", description = "Long-running operations"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline, exactly as checked in.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

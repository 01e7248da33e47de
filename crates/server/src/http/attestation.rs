//! attestd's HTTP endpoints (and fabmand's attestation pair, served by the
//! same service): attest a device, read an attestation, verify a ticket.
//!
//! Attesting is infrastructure work; a security domain may only verify the
//! tickets bound to its own objects (any other ticket id answers 404).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::attestation::{
    AttestDeviceRequest, AttestationTicket, FabricAttestRequest, MeasuredBoot, RevokeRequest,
    SpdmAttestRequest, TicketVerification,
};
use corridor_model::problem::Problem;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::extract::StrictJson;
use super::problem::ApiResult;
use super::responses::{BodyProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(attest_device))
        .routes(routes!(get_attestation))
        .routes(routes!(measured_boot))
        .routes(routes!(attest_spdm))
        .routes(routes!(revoke_attestation))
        .routes(routes!(fabric_attest))
        .routes(routes!(verify_ticket))
}

fn created(attestation: AttestationTicket) -> Response {
    let mut response = (StatusCode::CREATED, Json(&attestation)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("/v1/attest/{}", attestation.id)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Attest a device (SPDM 1.2).
///
/// Challenges the device (version, capabilities, algorithms, digests,
/// certificate chain, CHALLENGE, signed GET_MEASUREMENTS), checks the chain
/// to the vendor root, the pinned device key, both signatures and the
/// measurements against reference values, and issues a ticket signed by
/// ML-DSA-65 and ECDSA P-384 together. Every verdict gets a ticket: a
/// contraindicated device's says why. The nonce is single-use.
#[utoipa::path(
    post,
    path = "/v1/attest/device",
    tag = "attestd",
    security(("mtls" = ["infrastructure"])),
    request_body = AttestDeviceRequest,
    responses(
        (status = 201, description = "Attested: the verdict (affirming or contraindicated with the reason) and its signed ticket", body = AttestationTicket),
        (status = 404, description = "No attestable device with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The nonce was used before (NonceReplayed)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn attest_device(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    StrictJson(request): StrictJson<AttestDeviceRequest>,
) -> ApiResult<Response> {
    let attestation = state
        .plane
        .attestation
        .attest_device(&caller, request)
        .await?;
    Ok(created(attestation))
}

/// SPDM 1.2 attestation as the caller asks it: the caller's 32-byte nonce
/// is the one the device signs its measurements over; `slot_id` picks the
/// certificate chain; `measurement_indices` fetches those blocks (one
/// GET_MEASUREMENTS each, the last signed over all of them), every block
/// by default. The result is an attestation like `POST /v1/attest/device`'s,
/// with the SPDM session in `spdm`. A device without a chain in that slot,
/// or a reference block left out of the indices, is contraindicated.
#[utoipa::path(
    post,
    path = "/v1/attest/spdm",
    tag = "attestd",
    security(("mtls" = ["infrastructure"])),
    request_body = SpdmAttestRequest,
    responses(
        (status = 201, description = "Attested: the verdict, the SPDM session and the signed ticket", body = AttestationTicket),
        (status = 404, description = "No attestable device with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The nonce was used before (NonceReplayed)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn attest_spdm(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    StrictJson(request): StrictJson<SpdmAttestRequest>,
) -> ApiResult<Response> {
    let attestation = state
        .plane
        .attestation
        .attest_spdm(&caller, request)
        .await?;
    Ok(created(attestation))
}

/// One attestation with its ticket.
#[utoipa::path(
    get,
    path = "/v1/attest/{attestation_id}",
    tag = "attestd",
    security(("mtls" = ["infrastructure"])),
    params(("attestation_id" = String, Path, description = "Attestation id (`attest-…`)")),
    responses(
        (status = 200, description = "The attestation", body = AttestationTicket),
        NotFoundProblem,
    )
)]
pub async fn get_attestation(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<AttestationTicket>> {
    Ok(Json(state.plane.attestation.get(&caller, &id).await?))
}

/// Revoke an attestation's ticket: it stops vouching for its device at
/// once (verification answers `valid: false` with `revoked: <reason>`), and
/// corridors relying on it go `degraded` on the reconciler's next pass
/// until the device is attested again. Revoking twice keeps the first
/// reason.
#[utoipa::path(
    post,
    path = "/v1/attest/{attestation_id}/revoke",
    tag = "attestd",
    security(("mtls" = ["infrastructure"])),
    params(("attestation_id" = String, Path, description = "Attestation id (`attest-…`)")),
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "Revoked: the attestation with `revoked` set", body = AttestationTicket),
        NotFoundProblem,
        BodyProblems,
    )
)]
pub async fn revoke_attestation(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    StrictJson(request): StrictJson<RevokeRequest>,
) -> ApiResult<Json<AttestationTicket>> {
    Ok(Json(
        state
            .plane
            .attestation
            .revoke(&caller, &id, request)
            .await?,
    ))
}

/// Measured boot of a host: a fresh TPM quote over the policy PCRs (nonce
/// drawn by attestd), the TCG event log replayed against it, and the
/// enrolled measured-boot policy's verdict on every event. `device_id` is
/// the host corridord runs on; it reaches no other host's TPM. On the twin
/// the TPM is swtpm and the firmware events are modelled
/// (`event_log.origin`, `tpm.software` say so).
#[utoipa::path(
    get,
    path = "/v1/attest/measured-boot/{device_id}",
    tag = "attestd",
    security(("mtls" = ["infrastructure"])),
    params(("device_id" = String, Path, description = "The host (as in the topology, or this machine's host name)")),
    responses(
        (status = 200, description = "The quote, the replayed log and the policy's verdict", body = MeasuredBoot),
        NotFoundProblem,
        (status = 503, description = "The TPM did not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn measured_boot(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(device_id): Path<String>,
) -> ApiResult<Json<MeasuredBoot>> {
    Ok(Json(
        state
            .plane
            .attestation
            .measured_boot(&caller, &device_id)
            .await?,
    ))
}

/// Attest a fabric device and bind its ticket to the allocations that rely
/// on it (corridors, bundles), which must exist and be visible to the
/// caller. The nonce is drawn by the service if absent.
#[utoipa::path(
    post,
    path = "/v1/fabman/attest",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    request_body = FabricAttestRequest,
    responses(
        (status = 201, description = "Attested, the ticket bound to `bind_to`", body = AttestationTicket),
        (status = 404, description = "No attestable device with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The nonce was used before (NonceReplayed)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn fabric_attest(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    StrictJson(request): StrictJson<FabricAttestRequest>,
) -> ApiResult<Response> {
    let attestation = state
        .plane
        .attestation
        .fabric_attest(&caller, request)
        .await?;
    Ok(created(attestation))
}

/// Verify a ticket as a relying party would: both signatures, expiry,
/// revocation and verdict. A security domain sees only tickets bound to its
/// own objects.
#[utoipa::path(
    get,
    path = "/v1/fabman/attest/{ticket_id}",
    tag = "fabmand",
    security(("mtls" = ["tenant"])),
    params(("ticket_id" = String, Path, description = "Ticket id (`tkt-…`)")),
    responses(
        (status = 200, description = "The verification: `valid` with the reason when false", body = TicketVerification),
        NotFoundProblem,
    )
)]
pub async fn verify_ticket(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(ticket_id): Path<String>,
) -> ApiResult<Json<TicketVerification>> {
    Ok(Json(
        state
            .plane
            .attestation
            .verify_ticket(&caller, &ticket_id)
            .await?,
    ))
}

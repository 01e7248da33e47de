//! corrd's HTTP endpoints: photonic corridors, and the admin-only twin
//! fault injection the corridor reconciler reacts to.
//!
//! Handlers only translate HTTP: the corridor service receives the
//! caller and decides visibility (another domain's id answers exactly like
//! a missing one) and ownership, admits, grants, provisions and reads
//! telemetry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::corridor::{
    Corridor, CorridorPhysics, CorridorPlan, CorridorRequest, CorridorTelemetry, TwinFaultRequest,
};
use corridor_model::meta::Operation;
use corridor_model::problem::Problem;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::extract::{
    DryRun, DryRunParams, IfMatch, IfMatchHeader, ListParams, ListQuery, StrictJson,
};
use super::list::{events_response, page_response, watch_from};
use super::problem::ApiResult;
use super::responses::{BodyProblems, IfMatchProblems, ListProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_corridor, list_corridors))
        .routes(routes!(get_corridor, delete_corridor))
        .routes(routes!(corridor_telemetry))
        .routes(routes!(corridor_physics))
        .routes(routes!(recalibrate_corridor))
        .routes(routes!(renew_corridor_lease))
        .routes(routes!(inject_twin_fault))
}

pub(super) fn with_location(
    status: StatusCode,
    location: String,
    body: impl serde::Serialize,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Allocate a corridor (RFC "Allocate Corridor").
///
/// Snaps `lambda_nm` to the ports' DWDM grid, plans a path meeting
/// `reach_mm`, `latency_budget_ns` and the BER target at a lane rate giving
/// `min_gbps` for `corridor_type`, and grants it in one store transaction
/// with its capacity ledger, so no wavelength is ever granted twice. Gold
/// may pre-empt bronze. With `attestation_required` the grant is held in
/// `provisioning` until an attestation service exists.
///
/// `?dry_run=true` answers the plan a grant would make now (path,
/// channels, predicted BER and margin, the binding constraint, what it
/// would pre-empt) with nothing committed, or the refusal a grant would get.
#[utoipa::path(
    post,
    path = "/v1/corridors",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(DryRunParams),
    request_body = CorridorRequest,
    responses(
        (status = 200, description = "`dry_run=true`: the plan a grant would make now; nothing is committed", body = CorridorPlan),
        (status = 201, description = "Granted", body = Corridor),
        (status = 409, description = "Cannot be granted: the channels or lanes are held by others (InsufficientCapacity, binding constraint named), no path meets reach, latency, rate and BER whatever is held (NoFeasiblePath), more lanes than a port's module has (ExceedsPortLanes), or a rate no CMIS application of a port's module carries with that many lanes (ExceedsPortApplication, port and applications named)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        (status = 503, description = "Capacity kept changing during admission; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_corridor(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    DryRun(dry_run): DryRun,
    StrictJson(request): StrictJson<CorridorRequest>,
) -> ApiResult<Response> {
    if dry_run {
        let plan = state.plane.corridors.dry_run(&caller, request).await?;
        return Ok((StatusCode::OK, Json(plan)).into_response());
    }
    let corridor = state.plane.corridors.create(&caller, request).await?;
    let location = format!("/v1/corridors/{}", corridor.id);
    Ok(with_location(StatusCode::CREATED, location, corridor))
}

/// List corridors the caller may see.
///
/// A bare array; `limit`/`continue` paging (next token in `X-Continue`),
/// `label_selector`, and `watch=true&resource_version=N` as server-sent
/// events.
#[utoipa::path(
    get,
    path = "/v1/corridors",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(ListParams),
    responses(
        (status = 200, description = "The corridors: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<Corridor> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
)]
pub async fn list_corridors(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: ListQuery,
) -> ApiResult<Response> {
    let corridors = &state.plane.corridors;
    if query.watch {
        let selector = query.options.label_selector.clone();
        let events = corridors
            .watch(&caller, watch_from(&query), selector)
            .await?;
        return Ok(events_response(&state, query.watch_timeout, events));
    }
    let page = corridors.list(&caller, &query.options).await?;
    Ok(page_response("/v1/corridors", query.options.limit, page))
}

/// One corridor (RFC "Get corridor details").
#[utoipa::path(
    get,
    path = "/v1/corridors/{id}",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Corridor id")),
    responses(
        (status = 200, description = "The corridor", body = Corridor),
        NotFoundProblem,
    )
)]
pub async fn get_corridor(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Corridor>> {
    Ok(Json(state.plane.corridors.get(&caller, &id).await?))
}

/// Release a corridor: the object and its capacity ledger go in one
/// transaction, then the lanes are taken down. Answers the corridor as
/// released. `If-Match` makes it conditional.
#[utoipa::path(
    delete,
    path = "/v1/corridors/{id}",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(
        ("id" = String, Path, description = "Corridor id"),
        IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Released", body = Corridor),
        NotFoundProblem,
        IfMatchProblems,
    )
)]
pub async fn delete_corridor(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    IfMatch(precondition): IfMatch,
) -> ApiResult<Json<Corridor>> {
    Ok(Json(
        state
            .plane
            .corridors
            .delete(&caller, &id, precondition)
            .await?,
    ))
}

/// Live telemetry (RFC "Get Telemetry"), read back from both ends' CMIS
/// memory maps at the current (simulated) time, with per-lane detail.
#[utoipa::path(
    get,
    path = "/v1/corridors/{id}/telemetry",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Corridor id")),
    responses(
        (status = 200, description = "Telemetry", body = CorridorTelemetry),
        NotFoundProblem,
        (status = 409, description = "Its lanes are not all lit (held for attestation, provisioning, released or pre-empted, a data path down, no light): the problem names each lane's state, reason `NotLit`; or, in cluster mode, this replica does not drive the optical plant and the problem names the leader that does (reason `NotPlantOwner`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn corridor_telemetry(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<CorridorTelemetry>> {
    Ok(Json(state.plane.corridors.telemetry(&caller, &id).await?))
}

/// The physics decoder: for each lane at each end, the chain from the far
/// end's laser to the receiver's Q, BER, margin and pJ/bit, term by term,
/// each with its basis and the source of its numbers. What the digital
/// twin evaluated at its latest step (modelled, never measured).
#[utoipa::path(
    get,
    path = "/v1/corridors/{id}/physics",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Corridor id")),
    responses(
        (status = 200, description = "The chain of every receiving lane", body = CorridorPhysics),
        NotFoundProblem,
        (status = 409, description = "Its lanes are not all lit (a dark lane has no BER to explain; reason `NotLit`), or the plant is real modules, which measure rather than model (reason `NotATwin`), or this replica does not drive the optical plant and the problem names the leader (reason `NotPlantOwner`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn corridor_physics(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<CorridorPhysics>> {
    Ok(Json(state.plane.corridors.physics(&caller, &id).await?))
}

/// Recalibrate (RFC "Recalibrate corridor"): a HELIOPASS `full`
/// calibration of the corridor's rings at both ends (as
/// `POST /v1/heliopass/calibrate` with this corridor), a long operation.
#[utoipa::path(
    post,
    path = "/v1/corridors/{id}/recalibrate",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Corridor id")),
    responses(
        (status = 202, description = "Started; poll the operation", body = Operation),
        NotFoundProblem,
        (status = 409, description = "Its lanes are dark (NotLit: held for attestation, provisioning, released), a calibration of its ports is under way (CalibrationInProgress) or a module has no ring pages (NotCalibratable), or this replica does not drive the optical plant and the problem names the leader (NotPlantOwner)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn recalibrate_corridor(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let request = corridor_model::calibration::RecalibrateRequest::default().for_corridor(id);
    let operation = state.plane.heliopass.calibrate(&caller, request).await?;
    Ok(super::heliopass::accepted(operation))
}

/// Renew the corridor's lease for another full `policy_lease_ttl_s`; its
/// capacity ledger shares the lease, so an expired corridor frees its
/// wavelengths with it.
#[utoipa::path(
    post,
    path = "/v1/corridors/{id}/lease",
    tag = "corrd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Corridor id")),
    responses(
        (status = 200, description = "Renewed", body = Corridor),
        NotFoundProblem,
        (status = 409, description = "The corridor has no lease (granted without policy_lease_ttl_s)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn renew_corridor_lease(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Corridor>> {
    Ok(Json(state.plane.corridors.renew_lease(&caller, &id).await?))
}

/// Inject a fault into the digital twin's optical plant (admin only):
/// laser ageing, ring detuning, a link cut or a temperature step. The
/// corridor reconciler sees it in the next CMIS read-back.
#[utoipa::path(
    post,
    path = "/v1/admin/twin/faults",
    tag = "corrd",
    security(("mtls" = ["admin"])),
    request_body = TwinFaultRequest,
    responses(
        (status = 204, description = "Injected"),
        BodyProblems,
        (status = 409, description = "The optical plant is real modules, not the digital twin (reason NotATwin), or this replica does not drive the optical plant and the problem names the leader (reason NotPlantOwner)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn inject_twin_fault(
    State(state): State<AppState>,
    StrictJson(request): StrictJson<TwinFaultRequest>,
) -> ApiResult<StatusCode> {
    state.plane.corridors.inject_fault(&request).await?;
    Ok(StatusCode::NO_CONTENT)
}

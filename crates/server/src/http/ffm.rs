//! memqosd's HTTP endpoints: free-form memory bundles and bandwidth policies.
//!
//! Handlers only translate HTTP: they parse the request, call
//! [`FfmService`](corridor_services::ffm::FfmService) with the
//! [`Caller`](corridor_services::Caller) and turn its answer into a
//! response. The service decides visibility
//! (another domain's bundle or policy is the same `404` as a missing one),
//! ownership and who receives the fd hand-off token; the token travels in
//! the `X-Ffm-Token` response header of `POST /v1/ffm/alloc` and
//! `GET /v1/ffm/{id}`, so the RFC's response fields stay exactly as written.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::ffm::{
    BandwidthPatch, FfmAllocRequest, FfmBundle, FfmTelemetry, LatencyClassPatch,
};
use corridor_model::ffm_plan::BundlePlan;
use corridor_model::memory_tiers::MemoryTiers;
use corridor_model::meta::Operation;
use corridor_model::policy::{Policy, PolicyRequest};
use corridor_model::problem::Problem;
use corridor_services::ffm::BundleAndToken;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::extract::{
    DryRun, DryRunParams, IfMatch, IfMatchHeader, ListParams, ListQuery, ParsedJson,
};
use super::list::{events_response, page_response, watch_from};
use super::problem::ApiResult;
use super::responses::{BodyProblems, IfMatchProblems, ListProblems, NotFoundProblem};

/// The hand-off token of a bundle (see the module docs).
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-ffm-token");

/// `Location: {path}`.
fn location(headers: &mut HeaderMap, path: &str) {
    if let Ok(v) = HeaderValue::from_str(path) {
        headers.insert(header::LOCATION, v);
    }
}

/// The bundle as JSON, with the token header when the service gave one.
fn bundle_response(status: StatusCode, mut headers: HeaderMap, answer: BundleAndToken) -> Response {
    if let Some(token) = answer.token
        && let Ok(v) = HeaderValue::from_str(&token)
    {
        headers.insert(TOKEN_HEADER, v);
    }
    (status, headers, Json(answer.bundle)).into_response()
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alloc_ffm))
        .routes(routes!(list_ffm))
        .routes(routes!(get_ffm, delete_ffm))
        .routes(routes!(ffm_telemetry))
        .routes(routes!(ffm_tiers))
        .routes(routes!(patch_ffm_bandwidth))
        .routes(routes!(patch_ffm_latency_class))
        .routes(routes!(renew_ffm_lease))
        .routes(routes!(create_policy, list_policies))
        .routes(routes!(get_policy, delete_policy))
}

/// Allocate memory (RFC "Allocate Memory").
///
/// The bundle belongs to `host` (absent: the server's default host, `h0` on
/// the default twin) and admission uses only memory that host reaches: its
/// own tiers and the pooled CXL devices behind its switches. Admission
/// checks those devices of the tier for the bytes and the floor in every
/// policy window; the bundle's memory is a sealed memfd (or a persistent
/// file) with the placement's NUMA policy (nothing bound when the devices
/// are the twin's: `Placed` reason `Modelled`). The hand-off token is in
/// `X-Ffm-Token`.
///
/// `?dry_run=true` answers the plan an alloc would grant now (devices and
/// bytes per device, the fabric paths opening pooled slices, the floor
/// admitted per policy window, the modelled achieved GB/s, the lease, the
/// binding constraint) from the same admission code, with nothing
/// committed (no grant, lease, memory or audit record), or the refusal an
/// alloc would get.
#[utoipa::path(
    post,
    path = "/v1/ffm/alloc",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(DryRunParams),
    request_body = FfmAllocRequest,
    responses(
        (status = 200, description = "`dry_run=true`: the plan an alloc would grant now; nothing is committed", body = BundlePlan),
        (status = 201, description = "Allocated", body = FfmBundle,
            headers(("X-Ffm-Token" = String, description = "Token for the Unix-socket fd hand-off"))),
        (status = 409, description = "Does not fit: names the host, the tier, the binding device and window (InsufficientCapacity; a host's pooled CXL memory is only what its fabric paths give it), or the fabric path under the placement kept being released while it was decided (FabricPathWithdrawn; retry), or the host's bundles are allocated by another replica's memqosd, named in the detail (HostServedElsewhere), or this memqosd was fenced by a newer one for the host (LedgerFenced), or the ledger kept changing under the decision (LedgerChanged; retry), or the bundle's latency class is made of hugetlb pages and the kernel's pool has too few free (HugePagesUnavailable)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn alloc_ffm(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    DryRun(dry_run): DryRun,
    ParsedJson(request): ParsedJson<FfmAllocRequest>,
) -> ApiResult<Response> {
    if dry_run {
        let plan = state.plane.ffm.dry_run(&caller, request).await?;
        return Ok((StatusCode::OK, Json(plan)).into_response());
    }
    let answer = state.plane.ffm.create(&caller, request).await?;
    let mut headers = HeaderMap::new();
    location(&mut headers, &format!("/v1/ffm/{}", answer.bundle.id));
    Ok(bundle_response(StatusCode::CREATED, headers, answer))
}

/// List bundles (filtered to the caller's domain); paging, labels, watch.
///
/// A domain principal's pages are filtered before paging, so a page holds
/// `limit` of its own bundles unless it is the last; follow `X-Continue`.
/// A domain principal's watch carries only its own domain's events.
#[utoipa::path(
    get,
    path = "/v1/ffm",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(ListParams),
    responses(
        (status = 200, description = "The bundles: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<FfmBundle> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
)]
pub async fn list_ffm(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: ListQuery,
) -> ApiResult<Response> {
    let ffm = &state.plane.ffm;
    if query.watch {
        let events = ffm
            .watch(
                &caller,
                watch_from(&query),
                query.options.label_selector.clone(),
            )
            .await?;
        return Ok(events_response(&state, query.watch_timeout, events));
    }
    let page = ffm.list(&caller, &query.options).await?;
    Ok(page_response("/v1/ffm", query.options.limit, page))
}

/// One bundle with live telemetry; the hand-off token in `X-Ffm-Token`.
#[utoipa::path(
    get,
    path = "/v1/ffm/{id}",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Bundle id")),
    responses(
        (status = 200, description = "The bundle", body = FfmBundle,
            headers(("X-Ffm-Token" = String, description = "Token for the Unix-socket fd hand-off"))),
        NotFoundProblem,
    )
)]
pub async fn get_ffm(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let answer = state.plane.ffm.get(&caller, &id).await?;
    Ok(bundle_response(StatusCode::OK, HeaderMap::new(), answer))
}

/// Free a bundle: its memory, its capacity and its token, at once.
#[utoipa::path(
    delete,
    path = "/v1/ffm/{id}",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Bundle id"), IfMatchHeader),
    responses(
        (status = 200, description = "The freed bundle", body = FfmBundle),
        NotFoundProblem,
        IfMatchProblems,
    )
)]
pub async fn delete_ffm(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    IfMatch(precondition): IfMatch,
) -> ApiResult<Json<FfmBundle>> {
    Ok(Json(
        state.plane.ffm.delete(&caller, &id, precondition).await?,
    ))
}

/// The memory memqosd allocates on, its tiers and the floors admitted.
///
/// Every device or NUMA node of memqosd's admission ledger with its tier and why (`source`: `model` for the
/// twin's devices, `discovered` for this machine's nodes read from `/sys`,
/// with the HMAT figures, kernel memory tier and CXL regions discovery
/// found), its capacity and bandwidth, and per policy window the floors
/// admitted on it and what is left. One snapshot of the ledger
/// (`ledger_revision`). An infrastructure read: it shows every domain's
/// reservations.
#[utoipa::path(
    get,
    path = "/v1/ffm/tiers",
    tag = "memqosd",
    security(("mtls" = ["infrastructure"])),
    responses(
        (status = 200, description = "The devices, their tiers and admitted floors", body = MemoryTiers),
    )
)]
pub async fn ffm_tiers(State(state): State<AppState>) -> Json<MemoryTiers> {
    Json(state.plane.ffm.tiers())
}

/// Telemetry: achieved bandwidth (measured by the resctrl MBM counter of
/// the monitoring group named after the bundle id where there is one,
/// `source: counter`; else modelled, `source: model`), modelled p99, moved
/// pages, resident bytes.
#[utoipa::path(
    get,
    path = "/v1/ffm/{id}/telemetry",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Bundle id")),
    responses(
        (status = 200, description = "Telemetry", body = FfmTelemetry),
        NotFoundProblem,
    )
)]
pub async fn ffm_telemetry(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<FfmTelemetry>> {
    Ok(Json(state.plane.ffm.telemetry(&caller, &id).await?))
}

/// Adjust the bandwidth floor (RFC "Adjust Bandwidth"): re-admitted on the
/// bundle's devices; 409 naming the binding device and window if it does
/// not fit, and then nothing changed.
#[utoipa::path(
    patch,
    path = "/v1/ffm/{id}/bandwidth",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Bundle id")),
    request_body = BandwidthPatch,
    responses(
        (status = 200, description = "The bundle with its new floor", body = FfmBundle),
        NotFoundProblem,
        (status = 409, description = "Does not fit (InsufficientCapacity), or migrating (MigrationInProgress), or the bundle's host is served by another replica's memqosd (HostServedElsewhere)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn patch_ffm_bandwidth(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    IfMatch(precondition): IfMatch,
    ParsedJson(patch): ParsedJson<BandwidthPatch>,
) -> ApiResult<Json<FfmBundle>> {
    Ok(Json(
        state
            .plane
            .ffm
            .set_floor(&caller, &id, patch, precondition)
            .await?,
    ))
}

/// Migrate to another tier: a long-running operation (poll
/// `/v1/operations/{id}`); the destination is reserved before it starts.
#[utoipa::path(
    patch,
    path = "/v1/ffm/{id}/latency_class",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Bundle id")),
    request_body = LatencyClassPatch,
    responses(
        (status = 202, description = "Migration started", body = Operation),
        NotFoundProblem,
        (status = 409, description = "Destination does not fit (InsufficientCapacity), already migrating (MigrationInProgress), or the bundle's host is served by another replica's memqosd (HostServedElsewhere)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn patch_ffm_latency_class(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ParsedJson(patch): ParsedJson<LatencyClassPatch>,
) -> ApiResult<Response> {
    let operation = state.plane.ffm.migrate(&caller, &id, patch).await?;
    let mut headers = HeaderMap::new();
    location(&mut headers, &format!("/v1/operations/{}", operation.id));
    Ok((StatusCode::ACCEPTED, headers, Json(operation)).into_response())
}

/// Renew the bundle's lease for another `policy_lease_ttl_s`.
#[utoipa::path(
    post,
    path = "/v1/ffm/{id}/lease",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Bundle id")),
    responses(
        (status = 200, description = "Renewed", body = FfmBundle),
        NotFoundProblem,
    )
)]
pub async fn renew_ffm_lease(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<FfmBundle>> {
    Ok(Json(state.plane.ffm.renew(&caller, &id).await?))
}

/// Create a time-windowed floor policy ("min 150 GB/s 20:00–08:00"); refused
/// with 409 if the domain's bundles would then over-commit a device.
#[utoipa::path(
    post,
    path = "/v1/policies",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    request_body = PolicyRequest,
    responses(
        (status = 201, description = "Created", body = Policy),
        (status = 409, description = "Would over-commit a device in a window (InsufficientCapacity), or the domain already has a policy of this name (PolicyNameTaken), or grants on other hosts kept changing the ledger under the decision (LedgerChanged; retry)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn create_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ParsedJson(request): ParsedJson<PolicyRequest>,
) -> ApiResult<Response> {
    let policy = state.plane.ffm.create_policy(&caller, request).await?;
    let mut headers = HeaderMap::new();
    location(&mut headers, &format!("/v1/policies/{}", policy.id));
    Ok((StatusCode::CREATED, headers, Json(policy)).into_response())
}

/// List policies (filtered to the caller's domain).
#[utoipa::path(
    get,
    path = "/v1/policies",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(ListParams),
    responses(
        (status = 200, description = "The policies: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<Policy> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
)]
pub async fn list_policies(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    query: ListQuery,
) -> ApiResult<Response> {
    let ffm = &state.plane.ffm;
    if query.watch {
        let events = ffm
            .watch_policies(
                &caller,
                watch_from(&query),
                query.options.label_selector.clone(),
            )
            .await?;
        return Ok(events_response(&state, query.watch_timeout, events));
    }
    let page = ffm.list_policies(&caller, &query.options).await?;
    Ok(page_response("/v1/policies", query.options.limit, page))
}

/// One policy.
#[utoipa::path(
    get,
    path = "/v1/policies/{id}",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Policy id")),
    responses(
        (status = 200, description = "The policy", body = Policy),
        NotFoundProblem,
    )
)]
pub async fn get_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(state.plane.ffm.get_policy(&caller, &id).await?))
}

/// Delete a policy; the floors it set return to the bundles' own (refused
/// with 409 if that would over-commit a device).
#[utoipa::path(
    delete,
    path = "/v1/policies/{id}",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(("id" = String, Path, description = "Policy id")),
    responses(
        (status = 200, description = "The deleted policy", body = Policy),
        NotFoundProblem,
        (status = 409, description = "Without this policy's window the live grants would over-commit a device (InsufficientCapacity), or grants on other hosts kept changing the ledger under the decision (LedgerChanged; retry)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(state.plane.ffm.delete_policy(&caller, &id).await?))
}

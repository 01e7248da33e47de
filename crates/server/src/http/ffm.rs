//! memqosd's HTTP endpoints: free-form memory bundles and bandwidth policies.
//!
//! Every handler takes the [`Caller`]: a domain principal sees only its own
//! domain's bundles and policies (another domain's is the same `404` as a
//! missing one; lists are filtered). The fd hand-off token travels in the
//! `X-Ffm-Token` response header of `POST /v1/ffm/alloc` and
//! `GET /v1/ffm/{id}`, so the RFC's response fields stay exactly as written;
//! it is sent to the owning domain and to admin/operator, never to read-only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::ffm::{
    BandwidthPatch, FfmAllocRequest, FfmBundle, FfmTelemetry, LatencyClassPatch,
};
use corridor_model::meta::Operation;
use corridor_model::policy::{Policy, PolicyRequest};
use corridor_model::problem::Problem;
use corridor_services::ffm::FfmError;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::extract::{IfMatch, IfMatchHeader, ListParams, ListQuery, StrictJson};
use super::list::{RESOURCE_VERSION_HEADER, list_or_watch};
use super::problem::{ApiError, ApiResult};
use super::responses::{BodyProblems, IfMatchProblems, ListProblems, NotFoundProblem};
use corridor_services::Caller;

/// The hand-off token of a bundle (see the module docs).
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-ffm-token");

impl From<FfmError> for ApiError {
    fn from(error: FfmError) -> Self {
        if matches!(error, FfmError::Memory(_) | FfmError::Provider(_)) {
            tracing::error!(error = %corridor_services::error::error_chain(&error), "memqosd request failed");
        }
        ApiError(error.to_problem())
    }
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError(Problem::not_found(kind, id))
}

fn with_token(headers: &mut HeaderMap, caller: &Caller, owner: &str, token: Option<String>) {
    if caller.receives_secrets_of(owner)
        && let Some(t) = token
        && let Ok(v) = HeaderValue::from_str(&t)
    {
        headers.insert(TOKEN_HEADER, v);
    }
}

/// The bundle, if this caller may see it; otherwise the same 404 as a
/// missing bundle.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<FfmBundle> {
    match state.plane.ffm.get(id).await {
        Ok(b) if caller.may_see(Some(&b.security_domain)) => Ok(b),
        Ok(_) => Err(not_found("ffm", id)),
        Err(e) => Err(e.into()),
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alloc_ffm))
        .routes(routes!(list_ffm))
        .routes(routes!(get_ffm, delete_ffm))
        .routes(routes!(ffm_telemetry))
        .routes(routes!(patch_ffm_bandwidth))
        .routes(routes!(patch_ffm_latency_class))
        .routes(routes!(renew_ffm_lease))
        .routes(routes!(create_policy, list_policies))
        .routes(routes!(get_policy, delete_policy))
}

/// Allocate memory (RFC "Allocate Memory").
///
/// Admission checks the tier's devices for the bytes and the floor in every
/// policy window; the bundle's memory is a sealed memfd (or a persistent
/// file) with the placement's NUMA policy. The hand-off token is in
/// `X-Ffm-Token`.
#[utoipa::path(
    post,
    path = "/v1/ffm/alloc",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    request_body = FfmAllocRequest,
    responses(
        (status = 201, description = "Allocated", body = FfmBundle,
            headers(("X-Ffm-Token" = String, description = "Token for the Unix-socket fd hand-off"))),
        (status = 409, description = "Does not fit: names the binding device and window", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn alloc_ffm(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    StrictJson(mut request): StrictJson<FfmAllocRequest>,
) -> ApiResult<Response> {
    if let Some(owner) = caller.owner_for(Some(&request.security_domain)) {
        request.security_domain = owner;
    }
    let (bundle, token) = state.plane.ffm.alloc(request).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/ffm/{}", bundle.id)) {
        headers.insert(header::LOCATION, v);
    }
    with_token(&mut headers, &caller, &bundle.security_domain, Some(token));
    Ok((StatusCode::CREATED, headers, Json(bundle)).into_response())
}

/// List bundles (filtered to the caller's domain); paging, labels, watch.
///
/// A domain principal's pages are filtered after paging, so a page may hold
/// fewer than `limit` items; follow `X-Continue`. A domain principal's watch
/// carries only its own domain's events.
#[utoipa::path(
    get,
    path = "/v1/ffm",
    tag = "memqosd",
    security(("mtls" = ["tenant"])),
    params(ListParams),
    responses(
        (status = 200, description = "The bundles: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<FfmBundle> = "application/json"), (String = "text/event-stream")),
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
    if query.watch {
        return match caller.confined_to() {
            None => list_or_watch(&state, state.plane.ffm.registry(), "/v1/ffm", query).await,
            Some(domain) => watch_domain(&state, domain.to_owned(), query).await,
        };
    }
    let page = state.plane.ffm.list(&query.options).await?;
    let mut headers = HeaderMap::new();
    headers.insert(RESOURCE_VERSION_HEADER, HeaderValue::from(page.revision));
    if let Some(token) = &page.continue_token
        && let Ok(v) = HeaderValue::from_str(token)
    {
        headers.insert(super::list::CONTINUE_HEADER, v);
    }
    let items: Vec<FfmBundle> = page
        .items
        .into_iter()
        .filter(|b| caller.may_see(Some(&b.security_domain)))
        .collect();
    Ok((headers, Json(items)).into_response())
}

/// A watch of the bundles of one domain: other domains' events are dropped
/// before they reach the stream, so their existence does not leak.
async fn watch_domain(state: &AppState, domain: String, query: ListQuery) -> ApiResult<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    let from = query.resource_version.map_or(0, |r| r + 1);
    let events = state
        .plane
        .ffm
        .registry()
        .watch(from, query.options.label_selector.clone())
        .await?;
    let stream = events
        .filter_map(move |event| {
            let domain = domain.clone();
            async move {
                let sse = match event {
                    Ok(event) if event.object.security_domain == domain => Event::default()
                        .id(event.resource_version.clone())
                        .event(format!("{:?}", event.event_type).to_uppercase())
                        .json_data(&event)
                        .unwrap_or_else(|_| Event::default().event("ERROR")),
                    Ok(_) => return None,
                    Err(error) => Event::default()
                        .event("ERROR")
                        .json_data(error.to_problem())
                        .unwrap_or_else(|_| Event::default().event("ERROR")),
                };
                Some(Ok::<_, std::convert::Infallible>(sse))
            }
        })
        .take_until(state.drained())
        .boxed();
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
        .into_response())
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
    let bundle = visible(&state, &caller, &id).await?;
    let mut headers = HeaderMap::new();
    with_token(
        &mut headers,
        &caller,
        &bundle.security_domain,
        state.plane.ffm.token(&id),
    );
    Ok((headers, Json(bundle)).into_response())
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
    // One read serves the visibility check and the delete's precondition.
    match state
        .plane
        .ffm
        .delete_visible(&id, precondition, |b| {
            caller.may_see(Some(&b.security_domain))
        })
        .await?
    {
        Some(bundle) => Ok(Json(bundle)),
        None => Err(not_found("ffm", &id)),
    }
}

/// Telemetry: modelled achieved bandwidth and p99, moved pages, resident bytes.
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
    visible(&state, &caller, &id).await?;
    Ok(Json(state.plane.ffm.telemetry(&id).await?))
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
        (status = 409, description = "Does not fit, or migrating", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn patch_ffm_bandwidth(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    IfMatch(precondition): IfMatch,
    StrictJson(patch): StrictJson<BandwidthPatch>,
) -> ApiResult<Json<FfmBundle>> {
    visible(&state, &caller, &id).await?;
    Ok(Json(
        state.plane.ffm.set_floor(&id, patch, precondition).await?,
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
        (status = 409, description = "Destination does not fit, or already migrating", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn patch_ffm_latency_class(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    StrictJson(patch): StrictJson<LatencyClassPatch>,
) -> ApiResult<Response> {
    visible(&state, &caller, &id).await?;
    let operation = state.plane.ffm.migrate(&id, patch).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/operations/{}", operation.id)) {
        headers.insert(header::LOCATION, v);
    }
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
    visible(&state, &caller, &id).await?;
    Ok(Json(state.plane.ffm.renew(&id).await?))
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
        (status = 409, description = "Would over-commit a device in a window", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
    )
)]
pub async fn create_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    StrictJson(mut request): StrictJson<PolicyRequest>,
) -> ApiResult<Response> {
    if let Some(owner) = caller.owner_for(Some(&request.security_domain)) {
        request.security_domain = owner;
    }
    let policy = state.plane.ffm.create_policy(request).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/policies/{}", policy.id)) {
        headers.insert(header::LOCATION, v);
    }
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
            content((Vec<Policy> = "application/json"), (String = "text/event-stream")),
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
    if query.watch && caller.confined_to().is_none() {
        return list_or_watch(
            &state,
            state.plane.ffm.policy_registry(),
            "/v1/policies",
            query,
        )
        .await;
    }
    let page = state
        .plane
        .ffm
        .policy_registry()
        .list(&query.options)
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(RESOURCE_VERSION_HEADER, HeaderValue::from(page.revision));
    if let Some(token) = &page.continue_token
        && let Ok(v) = HeaderValue::from_str(token)
    {
        headers.insert(super::list::CONTINUE_HEADER, v);
    }
    let items: Vec<Policy> = page
        .items
        .into_iter()
        .filter(|p| caller.may_see(Some(&p.security_domain)))
        .collect();
    Ok((headers, Json(items)).into_response())
}

async fn visible_policy(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Policy> {
    match state.plane.ffm.policy_registry().get(id).await {
        Ok(p) if caller.may_see(Some(&p.security_domain)) => Ok(p),
        Ok(_) => Err(not_found("policies", id)),
        Err(e) => Err(e.into()),
    }
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
    Ok(Json(visible_policy(&state, &caller, &id).await?))
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
    )
)]
pub async fn delete_policy(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Policy>> {
    visible_policy(&state, &caller, &id).await?;
    Ok(Json(state.plane.ffm.delete_policy(&id).await?))
}

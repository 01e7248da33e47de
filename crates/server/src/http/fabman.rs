//! fabmand's path endpoints: CXL fabric paths with QoS, admitted against every port's
//! bandwidth and programmed into the switches over FM API.
//!
//! Paths are cluster infrastructure: operators create and delete them, read-only
//! principals read them, security domains do not see them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use corridor_model::fabric::{FabricPath, FabricPathRequest, FabricPort, FmApiCommand, FmApiReply};
use corridor_model::problem::Problem;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::corridors::with_location;
use super::extract::{IfMatch, IfMatchHeader, ListParams, ListQuery, StrictJson};
use super::list::list_or_watch;
use super::problem::ApiResult;
use super::responses::{BodyProblems, ListProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_path, list_paths))
        .routes(routes!(get_path, delete_path))
        .routes(routes!(list_ports))
        .routes(routes!(query_switch))
}

/// Create a fabric path (RFC "Create Path").
///
/// Routes from `source_device` to `target_device` (hosts' root ports and devices:
/// host → device for `HBR` or `PBR`, device → device for `PBR`, host → host for `GIM`)
/// over ports with `qos.min_bandwidth_gbps` free and a modelled latency within
/// `qos.max_latency_ns`; grants the bandwidth on every port in one store transaction;
/// then, host → device, binds a vPPB of the host's virtual switch to the device (a free
/// LD of a multi-logical device) and sets the LD's QoS share and limit over FM API, read
/// back into `programming`. `qos.ecn` enables the target's egress congestion control
/// (only an MLD has it: otherwise 422); `qos.pfc` is what CXL's credit-based link layer
/// always gives. PBR routing entries and GIM windows are modelled and say so in
/// `programming.modelled`.
#[utoipa::path(
    post,
    path = "/v1/fabman/paths",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    request_body = FabricPathRequest,
    responses(
        (status = 201, description = "Admitted and programmed", body = FabricPath),
        (status = 409, description = "Cannot be granted: a port on the best route has too little bandwidth left (InsufficientCapacity, naming the port and the shortfall), no route meets the latency bound or joins the endpoints (NoFeasiblePath), the device is bound to other hosts (DeviceTaken), the host's virtual switch has no free vPPB (NoFreeVppb), or this corridord has no switch to program (NoFabricManager)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        (status = 503, description = "A switch did not answer or refused a command, or the capacity kept changing; nothing was left granted. Retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_path(
    State(state): State<AppState>,
    StrictJson(request): StrictJson<FabricPathRequest>,
) -> ApiResult<Response> {
    let path = state.plane.paths.create(request).await?;
    let location = format!("/v1/fabman/paths/{}", path.id);
    Ok(with_location(StatusCode::CREATED, location, path))
}

/// List fabric paths.
///
/// A bare array; `limit`/`continue` paging (next token in `X-Continue`),
/// `label_selector`, and `watch=true&resource_version=N` as server-sent events.
#[utoipa::path(
    get,
    path = "/v1/fabman/paths",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    params(ListParams),
    responses(
        (status = 200, description = "The paths: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<FabricPath> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
)]
pub async fn list_paths(State(state): State<AppState>, query: ListQuery) -> ApiResult<Response> {
    list_or_watch(
        &state,
        state.plane.paths.registry(),
        "/v1/fabman/paths",
        query,
    )
    .await
}

/// One fabric path.
#[utoipa::path(
    get,
    path = "/v1/fabman/paths/{id}",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    params(("id" = String, Path, description = "Path id")),
    responses(
        (status = 200, description = "The path", body = FabricPath),
        NotFoundProblem,
    )
)]
pub async fn get_path(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<FabricPath>> {
    Ok(Json(state.plane.paths.registry().get(&id).await?))
}

/// Release a fabric path: the object and its bandwidth on every port go in one
/// transaction, then its vPPB binding (unless another path of the host uses it) and the
/// device's QoS shares are taken back. Answers the path as released. `If-Match` makes it
/// conditional.
#[utoipa::path(
    delete,
    path = "/v1/fabman/paths/{id}",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    params(
        ("id" = String, Path, description = "Path id"),
        IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Released", body = FabricPath),
        NotFoundProblem,
        (status = 409, description = "If-Match names a stale resource_version (PreconditionFailed; re-read and retry), or memory bundles live on what the path gives its host (PathInUse, naming them: free or migrate them first; the path is left as it was)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "If-Match is not a resource_version the server returned", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The capacity kept changing; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_path(
    State(state): State<AppState>,
    Path(id): Path<String>,
    IfMatch(precondition): IfMatch,
) -> ApiResult<Json<FabricPath>> {
    Ok(Json(state.plane.paths.delete(&id, precondition).await?))
}

/// The fabric's switch ports and their bandwidth.
///
/// Every port fabmand routes over (hosts' upstream ports, devices' downstream ports):
/// its capacity, the share guarantees may take, the guarantees the paths crossing it
/// hold and what is left, read from the bandwidth ledger at one store revision, and its
/// link as FM API discovery last found it. The port a 409 names is here.
#[utoipa::path(
    get,
    path = "/v1/fabman/ports",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    responses((status = 200, description = "The ports, by switch and port number", body = [FabricPort]))
)]
pub async fn list_ports(State(state): State<AppState>) -> ApiResult<Json<Vec<FabricPort>>> {
    Ok(Json(state.plane.paths.ports().await?))
}

/// Send one FM API query to a switch and read its answer decoded.
///
/// For operators looking at what a switch reports: the request goes out as given (to the
/// switch, or with `tunnel_port` through Tunnel Management to the component behind that
/// port), and the reply carries the return code, the response payload and its decoding.
/// Only queries are sent; commands that change the fabric are fabmand's own (create or
/// delete a path) and are refused naming `opcode`.
#[utoipa::path(
    post,
    path = "/v1/fabman/switches/{switch_id}/commands",
    tag = "fabmand",
    security(("mtls" = ["infrastructure"])),
    params(("switch_id" = String, Path, description = "The switch, as `GET /v1/fabman/ports` names it")),
    request_body = FmApiCommand,
    responses(
        (status = 200, description = "The switch answered (a return code other than 0 is its answer too)", body = FmApiReply),
        NotFoundProblem,
        BodyProblems,
        (status = 503, description = "The switch did not answer, or answered malformed bytes", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn query_switch(
    State(state): State<AppState>,
    Path(switch_id): Path<String>,
    StrictJson(command): StrictJson<FmApiCommand>,
) -> ApiResult<Json<FmApiReply>> {
    Ok(Json(
        state.plane.paths.query_switch(&switch_id, command).await?,
    ))
}

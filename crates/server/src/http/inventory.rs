//! Inventory endpoints served from the digital twin (or hardware)
//! inventory: fabric devices and ambient profiles.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use corridor_model::calibration::AmbientProfile;
use corridor_model::fabric::FabricDevice;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ListParams, ListQuery};
use super::list::list_or_watch;
use super::problem::ApiResult;
use super::responses::{ListProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices))
        .routes(routes!(get_device))
        .routes(routes!(list_profiles))
}

/// List the fabric's devices (RFC "List Devices").
///
/// Returns the RFC's bare array. Supports `limit`/`continue` paging (next
/// token in `X-Continue`), `label_selector`, and
/// `watch=true&resource_version=N` as server-sent events.
#[utoipa::path(
    get,
    path = "/v1/fabman/devices",
    tag = "fabmand",
    security(("mtls" = ["inventory"])),
    params(ListParams),
    responses(
        (status = 200, description = "The devices: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<FabricDevice> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
)]
pub async fn list_devices(State(state): State<AppState>, query: ListQuery) -> ApiResult<Response> {
    list_or_watch(&state, &state.plane.devices, "/v1/fabman/devices", query).await
}

/// One fabric device.
#[utoipa::path(
    get,
    path = "/v1/fabman/devices/{id}",
    tag = "fabmand",
    security(("mtls" = ["inventory"])),
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "The device", body = FabricDevice),
        NotFoundProblem,
    )
)]
pub async fn get_device(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<FabricDevice>> {
    Ok(Json(state.plane.devices.get(&id).await?))
}

/// Ambient (thermal) profiles the twin and HELIOPASS calibrate against.
#[utoipa::path(
    get,
    path = "/v1/heliopass/profiles",
    tag = "heliopassd",
    security(("mtls" = ["inventory"])),
    responses((status = 200, description = "The profiles", body = [AmbientProfile]))
)]
pub async fn list_profiles(State(state): State<AppState>) -> Json<Vec<AmbientProfile>> {
    Json(state.plane.ambient_profiles())
}

//! Inventory endpoints served from the digital twin (or hardware)
//! inventory: fabric devices and ambient profiles.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use corridor_model::calibration::AmbientProfile;
use corridor_model::fabric::FabricDevice;
use corridor_model::problem::Problem;

use super::AppState;
use super::extract::ListQuery;
use super::list::list_or_watch;
use super::problem::ApiResult;

/// List the fabric's devices (RFC "List Devices").
///
/// Returns the RFC's bare array. Supports `limit`/`continue` paging (next
/// token in `X-Continue`), `label_selector`, and
/// `watch=true&resource_version=N` as server-sent events.
#[utoipa::path(
    get,
    path = "/v1/fabman/devices",
    tag = "fabmand",
    params(
        ("limit" = Option<usize>, Query, description = "Page size, 1..=1000"),
        ("continue" = Option<String>, Query, description = "Token from the previous page's X-Continue header"),
        ("label_selector" = Option<String>, Query, description = "k=v,k!=v,k"),
        ("watch" = Option<bool>, Query, description = "Stream changes as server-sent events"),
        ("resource_version" = Option<String>, Query, description = "With watch: changes after this version"),
    ),
    responses(
        (status = 200, description = "The devices", body = [FabricDevice]),
        (status = 422, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
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
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 200, description = "The device", body = FabricDevice),
        (status = 404, description = "No such device", body = Problem, content_type = "application/problem+json"),
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
    responses((status = 200, description = "The profiles", body = [AmbientProfile]))
)]
pub async fn list_profiles(State(state): State<AppState>) -> Json<Vec<AmbientProfile>> {
    Json(state.plane.ambient_profiles())
}

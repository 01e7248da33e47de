//! Long-running operations (calibration, migration): poll or watch them.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use corridor_model::meta::Operation;
use corridor_model::problem::Problem;

use super::AppState;
use super::extract::ListQuery;
use super::list::list_or_watch;
use super::problem::ApiResult;

/// List operations; supports paging, labels and watch like every list.
#[utoipa::path(
    get,
    path = "/v1/operations",
    tag = "operations",
    params(
        ("limit" = Option<usize>, Query, description = "Page size, 1..=1000"),
        ("continue" = Option<String>, Query, description = "Token from X-Continue"),
        ("watch" = Option<bool>, Query, description = "Stream changes as server-sent events"),
        ("resource_version" = Option<String>, Query, description = "With watch: changes after this version"),
    ),
    responses((status = 200, description = "The operations", body = [Operation]))
)]
pub async fn list_operations(
    State(state): State<AppState>,
    query: ListQuery,
) -> ApiResult<Response> {
    list_or_watch(
        &state,
        state.plane.operations.registry(),
        "/v1/operations",
        query,
    )
    .await
}

/// One operation, with its progress.
#[utoipa::path(
    get,
    path = "/v1/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "The operation", body = Operation),
        (status = 404, description = "No such operation", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_operation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Operation>> {
    Ok(Json(state.plane.operations.registry().get(&id).await?))
}

//! Long-running operations (calibration, migration): poll or watch them.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use corridor_model::meta::Operation;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ListParams, ListQuery};
use super::list::list_or_watch;
use super::problem::ApiResult;
use super::responses::{ListProblems, NotFoundProblem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_operations))
        .routes(routes!(get_operation))
}

/// List operations; supports paging, labels and watch like every list.
#[utoipa::path(
    get,
    path = "/v1/operations",
    tag = "operations",
    security(("mtls" = ["infrastructure"])),
    params(ListParams),
    responses(
        (status = 200, description = "The operations: a bare JSON array (paging in the X-Continue, Link and X-Resource-Version headers), or with `watch=true` a server-sent event stream of ADDED/MODIFIED/DELETED events",
            content((Vec<Operation> = "application/json"), (super::responses::WatchStreamEvent = "text/event-stream")),
            headers(
                ("X-Resource-Version" = String, description = "The store revision the page was read at; watch from it"),
                ("X-Continue" = String, description = "Token for the next page, absent on the last"),
                ("Link" = String, description = "rel=\"next\" link to the next page"),
            )),
        ListProblems,
    )
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
    security(("mtls" = ["infrastructure"])),
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "The operation", body = Operation),
        NotFoundProblem,
    )
)]
pub async fn get_operation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Operation>> {
    Ok(Json(state.plane.operations.registry().get(&id).await?))
}

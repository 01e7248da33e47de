//! CorridorLabs reports, as `corridorctl labs run` wrote them under the
//! state directory: the list, each report's JSON and its HTML page (which
//! the console shows). Read-only; the runs happen in corridorctl.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use corridor_model::labs::LabsReportSummary;
use corridor_model::problem::{Problem, ProblemKind};
use corridor_services::labs::library::{self, ReportFile};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::caller::Authenticated;
use super::problem::{ApiError, ApiResult};
use super::responses::NotFoundProblem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(labs_reports))
        .routes(routes!(labs_report))
        .routes(routes!(labs_report_html))
}

/// The reports under `<state dir>/labs/`, by name: each scenario's
/// description, seed and duration, and its run's totals.
#[utoipa::path(
    get,
    path = "/v1/labs/reports",
    tag = "labs",
    security(("mtls" = ["infrastructure"])),
    responses((status = 200, description = "Every readable report, by name", body = Vec<LabsReportSummary>))
)]
pub async fn labs_reports(
    State(state): State<AppState>,
    Authenticated(_caller): Authenticated,
) -> Json<Vec<LabsReportSummary>> {
    let dir = state.labs_dir.clone();
    Json(
        tokio::task::spawn_blocking(move || library::list(&dir))
            .await
            .unwrap_or_default(),
    )
}

/// One report's `report.json` as written: the scenario, per-interval
/// blocking, per-corridor BER and temperature traces, floors met,
/// calibration events (figures from the twin's models; the report says so).
#[utoipa::path(
    get,
    path = "/v1/labs/reports/{name}",
    tag = "labs",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "The report's name (its directory under <state dir>/labs/)")),
    responses(
        (status = 200, description = "The report (format corridorlabs-report/1)", body = Object),
        NotFoundProblem,
    )
)]
pub async fn labs_report(
    State(state): State<AppState>,
    Authenticated(_caller): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let body = file(&state, name, ReportFile::Json).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// One report's self-contained page: inline SVG plots and tables, no
/// script, nothing loaded from anywhere (its policy forbids it).
#[utoipa::path(
    get,
    path = "/v1/labs/reports/{name}/html",
    tag = "labs",
    security(("mtls" = ["infrastructure"])),
    params(("name" = String, Path, description = "The report's name (its directory under <state dir>/labs/)")),
    responses(
        (status = 200, description = "The report's page", content_type = "text/html", body = String),
        NotFoundProblem,
    )
)]
pub async fn labs_report_html(
    State(state): State<AppState>,
    Authenticated(_caller): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let body = file(&state, name, ReportFile::Html).await?;
    let mut response = Body::from(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Inline styles only; the console may frame it (same origin).
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

async fn file(state: &AppState, name: String, which: ReportFile) -> ApiResult<Vec<u8>> {
    let dir = state.labs_dir.clone();
    let missing = format!("no CorridorLabs report {name:?}");
    tokio::task::spawn_blocking(move || library::read(&dir, &name, which))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiError(Problem::new(ProblemKind::NotFound, missing)))
}

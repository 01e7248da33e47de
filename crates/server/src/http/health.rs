//! Liveness, readiness and metrics endpoints.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::metrics::{Format, ResourceSnapshot, scrape_budget};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Alive: the process serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    security((), ("mtls" = ["probe"])),
    responses((status = 200, description = "Alive", content_type = "text/plain", body = String))
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: the store answers and the inventory has been published.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    security((), ("mtls" = ["probe"])),
    responses(
        (status = 200, description = "Ready", content_type = "text/plain", body = String),
        (status = 503, description = "Starting, or the store does not answer", content_type = "text/plain", body = String),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
    }
    match state.plane.store.current_revision().await {
        Ok(_) => "ok\n".into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {error}\n"),
        )
            .into_response(),
    }
}

/// Metrics in the OpenMetrics or Prometheus text format.
///
/// OpenMetrics 1.0 to a client whose Accept header names it (Prometheus
/// does), else the Prometheus text format 0.0.4 (promtool, curl). The
/// resources' series (corridors and lanes, memory bundles and devices,
/// fabric paths, ports and devices) are read from the services at scrape
/// time; see `docs/metrics.md`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    security(("mtls" = ["observability"])),
    responses((status = 200, description = "Counters, gauges and histograms: OpenMetrics 1.0 when the Accept header names application/openmetrics-text, else the Prometheus text format 0.0.4",
        content((String = "application/openmetrics-text"), (String = "text/plain"))))
)]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok()),
    );
    let budget = scrape_budget(
        headers
            .get("x-prometheus-scrape-timeout-seconds")
            .and_then(|timeout| timeout.to_str().ok()),
    );
    let deadline = std::time::Instant::now() + budget;
    let resources =
        ResourceSnapshot::gather(&state.plane, &state.metrics.resource_rows, deadline).await;
    let chunks = state.metrics.encode_chunks(format, resources);
    let body = axum::body::Body::from_stream(futures::stream::iter(
        chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

//! The HTTP API: routing, middleware and the OpenAPI document.

pub mod auth;
pub mod caller;
pub mod corridors;
pub mod extract;
pub mod ffm;
pub mod health;
pub mod inventory;
pub mod list;
pub mod middleware;
pub mod openapi;
pub mod operations;
pub mod pending;
pub mod problem;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::{get, post};
use corridor_services::ControlPlane;

use crate::metrics::Metrics;
use problem::ApiError;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub plane: Arc<ControlPlane>,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    /// Turns true when the server starts draining; long-lived responses
    /// (watch streams) end then, so a graceful shutdown does not wait for
    /// clients that would never hang up.
    pub draining: tokio::sync::watch::Receiver<bool>,
    /// Every mutating call and every denial goes here.
    pub audit: crate::audit::AuditLog,
}

impl AppState {
    /// Resolves once the server begins shutting down.
    pub fn drained(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut draining = self.draining.clone();
        async move {
            let _ = draining.wait_for(|draining| *draining).await;
        }
    }
}

/// Every route of the API. New endpoints must be added here and to
/// `openapi::ApiDoc`; the OpenAPI test fails if one is missing.
pub fn router(state: AppState) -> Router {
    use pending::*;
    let api = Router::new()
        // corrd
        .route(
            "/v1/corridors",
            post(corridors::create_corridor).get(corridors::list_corridors),
        )
        .route(
            "/v1/corridors/{id}",
            get(corridors::get_corridor).delete(corridors::delete_corridor),
        )
        .route(
            "/v1/corridors/{id}/telemetry",
            get(corridors::corridor_telemetry),
        )
        .route(
            "/v1/corridors/{id}/recalibrate",
            post(corridors::recalibrate_corridor),
        )
        .route(
            "/v1/corridors/{id}/lease",
            post(corridors::renew_corridor_lease),
        )
        .route("/v1/admin/twin/faults", post(corridors::inject_twin_fault))
        // memqosd
        .route("/v1/ffm/alloc", post(ffm::alloc_ffm))
        .route("/v1/ffm", get(ffm::list_ffm))
        .route("/v1/ffm/{id}", get(ffm::get_ffm).delete(ffm::delete_ffm))
        .route("/v1/ffm/{id}/telemetry", get(ffm::ffm_telemetry))
        .route(
            "/v1/ffm/{id}/bandwidth",
            axum::routing::patch(ffm::patch_ffm_bandwidth),
        )
        .route(
            "/v1/ffm/{id}/latency_class",
            axum::routing::patch(ffm::patch_ffm_latency_class),
        )
        .route("/v1/ffm/{id}/lease", post(ffm::renew_ffm_lease))
        .route(
            "/v1/policies",
            post(ffm::create_policy).get(ffm::list_policies),
        )
        .route(
            "/v1/policies/{id}",
            get(ffm::get_policy).delete(ffm::delete_policy),
        )
        // fabmand
        .route("/v1/fabman/devices", get(inventory::list_devices))
        .route("/v1/fabman/devices/{id}", get(inventory::get_device))
        .route("/v1/fabman/paths", post(create_path).get(list_paths))
        .route("/v1/fabman/paths/{id}", get(get_path).delete(delete_path))
        .route("/v1/fabman/attest", post(fabman_attest))
        .route("/v1/fabman/attest/{ticket_id}", get(fabman_get_ticket))
        // heliopassd
        .route("/v1/heliopass/calibrate", post(heliopass_calibrate))
        .route("/v1/heliopass/profiles", get(inventory::list_profiles))
        // attestd
        .route("/v1/attest/device", post(attest_device))
        .route("/v1/attest/spdm", post(attest_spdm))
        .route("/v1/attest/measured-boot/{device_id}", get(measured_boot))
        .route("/v1/attest/{attestation_id}", get(get_attestation))
        // operations
        .route("/v1/operations", get(operations::list_operations))
        .route("/v1/operations/{id}", get(operations::get_operation))
        // operations endpoints
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);

    // Layers run outside-in from the last added: observe (request id,
    // metrics) sees every request, then authorisation and audit.
    api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::authorize,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::observe,
    ))
    .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(problem::route_not_found(uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError(problem::method_not_allowed(method.as_str(), uri.path()))
}

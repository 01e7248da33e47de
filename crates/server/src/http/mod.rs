//! The HTTP API: routing, middleware and the OpenAPI document.
//!
//! Each endpoint is declared once, by its handler's `#[utoipa::path]`
//! attribute: method, path, parameters, every response, and its
//! authorisation scope (`security(("mtls" = ["<scope>"]))`). Each module's
//! `routes()` registers its handlers with `utoipa_axum::routes!`, which
//! reads the path from that attribute; [`api`] merges them into the axum
//! router and the OpenAPI document at once, and the middleware reads the
//! scopes and the documented responses back out of that document
//! ([`contract`]).

pub mod analytics;
pub mod attestation;
pub mod auth;
pub mod caller;
pub mod compat;
pub mod console;
pub mod contract;
pub mod corridors;
pub mod docs;
pub mod extract;
pub mod fabman;
pub mod ffm;
pub mod health;
pub mod heliopass;
pub mod history;
pub mod inventory;
pub mod labs;
pub mod list;
pub mod middleware;
pub mod openapi;
pub mod operations;
pub mod problem;
pub mod responses;
pub mod topology;
pub mod whoami;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use corridor_services::ControlPlane;
use utoipa_axum::router::OpenApiRouter;

use crate::metrics::Metrics;
use problem::ApiError;

/// What every handler can reach: a handle to [`SharedState`], which every
/// middleware layer and handler clones per request (so one reference
/// count, not a copy of each field; the copies were about 4 % of
/// corridord's CPU per corridor grant).
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The server's state, behind every [`AppState`].
#[derive(Debug)]
pub struct SharedState {
    pub plane: Arc<ControlPlane>,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    /// Turns true when the server starts draining; long-lived responses
    /// (watch streams) end then, so a graceful shutdown does not wait for
    /// clients that would never hang up.
    pub draining: tokio::sync::watch::Receiver<bool>,
    /// Every mutating call and every denial goes here.
    pub audit: crate::audit::AuditLog,
    /// Scopes and documented responses, read from the API document.
    pub contract: Arc<contract::Contract>,
    /// CorridorLabs reports (`<state dir>/labs/`), served read-only.
    pub labs_dir: std::path::PathBuf,
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

/// The whole API as one router plus the document generated from the same
/// declarations.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::base())
        .merge(analytics::routes())
        .merge(attestation::routes())
        .merge(compat::routes())
        .merge(corridors::routes())
        .merge(ffm::routes())
        .merge(heliopass::routes())
        .merge(history::routes())
        .merge(labs::routes())
        .merge(inventory::routes())
        .merge(fabman::routes())
        .merge(operations::routes())
        .merge(health::routes())
        .merge(openapi::routes())
        .merge(docs::routes())
        .merge(console::routes())
        .merge(topology::routes())
        .merge(whoami::routes())
        .split_for_parts();
    responses::layer_responses(&mut document);
    (router, document)
}

/// The API router with its middleware, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, _) = api();
    let api = api
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);

    // Layers run outside-in from the last added: observe (request id,
    // metrics) sees every request, then authorisation and audit, then the
    // check that this process runs the route's daemon.
    api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::serve_here,
    ))
    .layer(axum::middleware::from_fn_with_state(
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

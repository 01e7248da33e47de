//! The OpenAPI document: its fixed parts here, its paths from the handlers'
//! declarations (see [`super::api`]).
//!
//! The generated document is checked in as `openapi/corridoros.json`; a test
//! fails when it drifts, so API changes are always reviewed as a diff, and
//! another validates it against the OpenAPI 3.1 specification.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::SecurityScheme;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::contract::SECURITY_SCHEME;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "CorridorOS API",
        description = "Photonic corridors, free-form memory, CXL fabric paths, calibration and attestation (RFC-0001 v4).\n\nEvery operation names the scope that decides who may call it in its `security` requirement (`mtls` with one role name): `probe` (anyone), `discovery` (any authenticated principal), `inventory` (everyone reads; security domains read only), `tenant` (a security domain sees only its own objects; another domain's are 404), `infrastructure` and `observability` (not for security domains), `admin` (the admin principal only).",
        version = "4.0.0",
        license(name = "Apache-2.0"),
    ),
    modifiers(&MutualTlsScheme),
    components(schemas(corridor_model::problem::Problem)),
    tags(
        (name = "corrd", description = "Photonic corridors"),
        (name = "memqosd", description = "Free-form memory and bandwidth policies"),
        (name = "fabmand", description = "CXL fabric devices, paths and device attestation"),
        (name = "heliopassd", description = "Optical calibration"),
        (name = "attestd", description = "Measured boot and device attestation"),
        (name = "compatd", description = "Translation engines, per-program profiles and launched programs"),
        (name = "labs", description = "CorridorLabs analytics over the kept history"),
        (name = "operations", description = "Long-running operations"),
        (name = "service", description = "Probes, metrics and this document"),
    )
)]
struct ApiDoc;

/// Declares the TLS client-certificate scheme the operations refer to.
#[derive(Debug)]
struct MutualTlsScheme;

impl Modify for MutualTlsScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::MutualTls {
                description: Some(
                    "TLS 1.3 client certificate issued by the cluster CA; its principal (admin, operator, read-only or a security domain) is the caller".into(),
                ),
                extensions: None,
            },
        );
    }
}

/// The fixed parts of the document, before the routes are merged in.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| super::api().1);

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    let mut text = DOCUMENT
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
});

/// The whole document, generated once.
pub fn model() -> &'static utoipa::openapi::OpenApi {
    &DOCUMENT
}

/// The document as pretty JSON with a trailing newline, exactly as checked in.
pub fn document() -> String {
    DOCUMENT_JSON.clone()
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(serve))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    security(("mtls" = ["discovery"])),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    let mut response = DOCUMENT_JSON.as_str().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

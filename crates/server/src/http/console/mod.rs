//! `/ui/`: the operator console, a single-page app served from the binary.
//!
//! Served like `/docs`: any authenticated principal may load it (scope
//! `discovery`); what it shows and offers comes from the API it calls with
//! the same client certificate, and `GET /v1/whoami` tells it which
//! controls the caller may use. Unknown files are a 404 problem, never a
//! path on disk.

mod assets;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::problem::{ApiError, http_problem};

pub use assets::{ASSETS, Asset};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(console))
        .routes(routes!(console_file))
}

/// The console's page. Its files are relative to `/ui/` (the page carries
/// `<base href="/ui/">`); views are hash routes (`/ui/#/corridors/{id}`).
#[utoipa::path(
    get,
    path = "/ui/",
    tag = "service",
    security(("mtls" = ["discovery"])),
    responses((status = 200, description = "The console's page", content_type = "text/html", body = String))
)]
pub async fn console() -> Response {
    serve("index.html")
}

/// A file of the console: its page, scripts (JavaScript modules) and
/// style sheet, all served from the binary.
#[utoipa::path(
    get,
    path = "/ui/{file}",
    tag = "service",
    security(("mtls" = ["discovery"])),
    params(("file" = String, Path, description = "A file of the console, e.g. `app.js`", pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses(
        (status = 200, description = "The file",
            content((String = "text/html"), (String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "No such file in the console", body = corridor_model::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn console_file(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(name: &str) -> Response {
    let Some(asset) = assets::find(name) else {
        return ApiError(http_problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("the console has no file {name:?}"),
        ))
        .into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The files change with the binary, not with a URL: a browser must
    // ask again (a cheap 200 from memory) rather than run an old script
    // against a newer API.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Only this server's own scripts, styles and API: the console names
    // no other origin, and the browser is told to refuse one if it did.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

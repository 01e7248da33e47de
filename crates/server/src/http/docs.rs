//! `/docs`: the API reference, rendered from `/openapi.json` by Swagger UI
//! in the browser, so a user can read and try the API with their client
//! certificate.
//!
//! Swagger UI's assets are vendored into the binary
//! (`utoipa-swagger-ui`'s `vendored` feature: no CDN at run time, no
//! download at build time). Its online spec validator is off: it would
//! send the document to validator.swagger.io and load a badge from there.

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::Config;

use super::AppState;
use super::problem::{ApiError, http_problem};

/// The viewer's settings: this server's document, try-it-out on, no
/// external validator.
static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new(["/openapi.json"])
            .validator_url("none")
            .try_it_out_enabled(true)
            .display_request_duration(true),
    )
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(docs))
        .routes(routes!(docs_file))
}

/// The API reference page (the viewer's `index.html` with a `<base>` at
/// `/docs/`, so its relative files resolve under this path).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "service",
    security(("mtls" = ["discovery"])),
    responses((status = 200, description = "The reference page", content_type = "text/html", body = String))
)]
pub async fn docs() -> Response {
    // The vendored viewer always has its page: without it the binary is broken.
    let Some(page) = utoipa_swagger_ui::serve("index.html", Arc::clone(&CONFIG))
        .ok()
        .flatten()
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
    else {
        return ApiError(http_problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the API reference's page is missing from this build".to_owned(),
        ))
        .into_response();
    };
    let page = page
        .replacen("<head>", "<head>\n    <base href=\"/docs/\" />", 1)
        .replacen(
            "<title>Swagger UI</title>",
            "<title>CorridorOS API</title>",
            1,
        );
    let mut response = page.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A file of the API reference: its page (`index.html`) and the viewer's
/// scripts, styles and icons, all served from the binary.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "service",
    security(("mtls" = ["discovery"])),
    params(("file" = String, Path, description = "A file of the reference, e.g. `index.html`", pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses(
        (status = 200, description = "The file",
            content((String = "text/html"), (String = "text/javascript"), (String = "text/css"), (String = "image/png"), (String = "application/json"))),
        (status = 404, description = "No such file in the reference", body = corridor_model::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn docs_file(Path(file): Path<String>) -> Response {
    let missing = || {
        ApiError(http_problem(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("the API reference has no file {file:?}"),
        ))
        .into_response()
    };
    // Only plain file names: the viewer's files sit in one directory.
    if file.is_empty()
        || file.len() > 64
        || !file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return missing();
    }
    match utoipa_swagger_ui::serve(&file, Arc::clone(&CONFIG)) {
        Ok(Some(found)) => {
            let mut response = found.bytes.into_owned().into_response();
            if let Ok(value) = HeaderValue::from_str(&content_type(&file, &found.content_type)) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        Ok(None) => missing(),
        Err(error) => {
            tracing::error!(%error, file, "cannot render the API reference's settings");
            ApiError(http_problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the API reference could not be rendered".to_owned(),
            ))
            .into_response()
        }
    }
}

/// The documented type of viewer file `file` (`mime_guess` names scripts
/// `application/javascript`, RFC 9239 `text/javascript`; source maps are
/// JSON).
fn content_type(file: &str, guessed: &str) -> String {
    if file.ends_with(".map") {
        return "application/json".to_owned();
    }
    match guessed {
        "application/javascript" => "text/javascript".to_owned(),
        other => other.to_owned(),
    }
}

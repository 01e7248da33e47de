//! Turning errors into `application/problem+json` responses (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corridor_model::problem::{PROBLEM_TYPE_BASE, Problem, ProblemKind};
use corridor_services::error::ToProblem;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error on its way out as problem+json.
#[derive(Debug)]
pub struct ApiError(pub Problem);

/// The one conversion from every service error (and from a bare
/// [`Problem`]): a 5xx is the server's own failure, logged with the chain
/// its `detail` carries.
impl<E: ToProblem> From<E> for ApiError {
    fn from(error: E) -> Self {
        let problem = error.to_problem();
        if problem.status >= 500 {
            tracing::error!(detail = %problem.detail, "request failed");
        }
        ApiError(problem)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Problems of the HTTP layer itself, which no service raises.
pub fn http_problem(status: StatusCode, slug: &str, detail: String) -> Problem {
    Problem {
        problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        instance: None,
        reason: None,
        errors: Vec::new(),
    }
}

pub fn route_not_found(path: &str) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        format!("no API route matches {path}; see /openapi.json"),
    )
    .with_instance(path.to_string())
}

pub fn method_not_allowed(method: &str, path: &str) -> Problem {
    http_problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{method} is not allowed on {path}; see /openapi.json"),
    )
    .with_instance(path.to_string())
}

pub fn payload_too_large(detail: String) -> Problem {
    http_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", detail)
}

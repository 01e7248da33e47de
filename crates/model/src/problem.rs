//! RFC 9457 problem details (`application/problem+json`), the one error body
//! every CorridorOS endpoint returns.
//!
//! `type` is a stable URI clients can switch on; `reason` is a short CamelCase
//! machine code that refines it (for instance `InsufficientCapacity` inside a
//! 409), in the spirit of Kubernetes' `Status.reason`; `errors` lists every
//! field at fault so that a client can fix a request in one round trip.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Media type of a [`Problem`] body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Prefix of every problem type URI.
pub const PROBLEM_TYPE_BASE: &str = "https://corridoros.dev/problems/";

/// The problem types CorridorOS emits, each with a fixed URI, title and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// 400: the body is not JSON, or is empty.
    BadRequest,
    /// 401: no client identity (certificate) was presented.
    Unauthorized,
    /// 404: unknown id, or an id of another security domain.
    NotFound,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 409: admission control could not grant the capacity asked for.
    InsufficientCapacity,
    /// 409: `If-Match` named a resource_version that is no longer current.
    PreconditionFailed,
    /// 410: a watch asked for a revision that has been compacted away.
    Gone,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: well-formed JSON that breaks the schema or a validation rule.
    Validation,
    /// 500: a bug or a failing dependency on the server side.
    Internal,
    /// 501: an RFC endpoint this build does not implement yet.
    NotImplemented,
    /// 503: the service cannot answer now (starting, store unavailable).
    Unavailable,
}

impl ProblemKind {
    /// Every kind, for documentation and exhaustive tests.
    pub const ALL: [ProblemKind; 12] = [
        ProblemKind::BadRequest,
        ProblemKind::Unauthorized,
        ProblemKind::NotFound,
        ProblemKind::Conflict,
        ProblemKind::InsufficientCapacity,
        ProblemKind::PreconditionFailed,
        ProblemKind::Gone,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Validation,
        ProblemKind::Internal,
        ProblemKind::NotImplemented,
        ProblemKind::Unavailable,
    ];

    /// The last segment of the type URI.
    pub const fn slug(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "bad-request",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::NotFound => "not-found",
            ProblemKind::Conflict => "conflict",
            ProblemKind::InsufficientCapacity => "insufficient-capacity",
            ProblemKind::PreconditionFailed => "precondition-failed",
            ProblemKind::Gone => "gone",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Validation => "validation",
            ProblemKind::Internal => "internal",
            ProblemKind::NotImplemented => "not-implemented",
            ProblemKind::Unavailable => "unavailable",
        }
    }

    /// The full type URI, e.g. `https://corridoros.dev/problems/validation`.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.slug())
    }

    /// The kind a type URI names, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<ProblemKind> {
        let slug = uri.strip_prefix(PROBLEM_TYPE_BASE)?;
        ProblemKind::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// HTTP status code.
    ///
    /// Stale versions and capacity shortfalls are 409 rather than 412/507 as
    /// DESIGN §4 settles it: the client's remedy (re-read, retry) is the same
    /// as for any conflict.
    pub const fn status(self) -> u16 {
        match self {
            ProblemKind::BadRequest => 400,
            ProblemKind::Unauthorized => 401,
            ProblemKind::NotFound => 404,
            ProblemKind::Conflict
            | ProblemKind::InsufficientCapacity
            | ProblemKind::PreconditionFailed => 409,
            ProblemKind::Gone => 410,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::Validation => 422,
            ProblemKind::Internal => 500,
            ProblemKind::NotImplemented => 501,
            ProblemKind::Unavailable => 503,
        }
    }

    /// Short, human-readable summary that does not change between occurrences.
    pub const fn title(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "Malformed request",
            ProblemKind::Unauthorized => "Client identity required",
            ProblemKind::NotFound => "Resource not found",
            ProblemKind::Conflict => "Conflict with current state",
            ProblemKind::InsufficientCapacity => "Insufficient capacity",
            ProblemKind::PreconditionFailed => "Stale resource version",
            ProblemKind::Gone => "Revision no longer available",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::Validation => "Request failed validation",
            ProblemKind::Internal => "Internal server error",
            ProblemKind::NotImplemented => "Not implemented",
            ProblemKind::Unavailable => "Service unavailable",
        }
    }

    /// The default CamelCase reason code.
    pub const fn reason(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "BadRequest",
            ProblemKind::Unauthorized => "Unauthorized",
            ProblemKind::NotFound => "NotFound",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::InsufficientCapacity => "InsufficientCapacity",
            ProblemKind::PreconditionFailed => "StaleResourceVersion",
            ProblemKind::Gone => "Gone",
            ProblemKind::UnsupportedMediaType => "UnsupportedMediaType",
            ProblemKind::Validation => "Invalid",
            ProblemKind::Internal => "InternalError",
            ProblemKind::NotImplemented => "NotImplemented",
            ProblemKind::Unavailable => "Unavailable",
        }
    }
}

/// One field that broke one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldViolation {
    /// RFC 6901 JSON pointer into the request body, e.g. `/qos/priority`
    /// (`""` is the whole document).
    #[schema(example = "/qos/priority")]
    pub pointer: String,
    /// Machine-readable rule name: see [`crate::validate::rule`].
    #[schema(example = "enum")]
    pub rule: String,
    /// Human-readable explanation, including the allowed values or bounds.
    pub message: String,
}

impl FieldViolation {
    pub fn new(
        pointer: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(body)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {} ({})", self.message, self.rule)
    }
}

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[error("{status} {title}: {detail}")]
pub struct Problem {
    /// URI identifying the problem type (see [`ProblemKind::uri`]).
    #[serde(rename = "type")]
    #[schema(example = "https://corridoros.dev/problems/validation")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// URI of this occurrence, usually the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// CamelCase machine code, e.g. `InsufficientCapacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "InsufficientCapacity")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
}

impl Problem {
    /// A problem of `kind` with its default title, status and reason.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            problem_type: kind.uri(),
            title: kind.title().to_string(),
            status: kind.status(),
            detail: detail.into(),
            instance: None,
            reason: Some(kind.reason().to_string()),
            errors: Vec::new(),
        }
    }

    /// 422 listing every violated rule.
    pub fn validation(errors: Vec<FieldViolation>) -> Self {
        let detail = match errors.as_slice() {
            [] => "the request is invalid".to_string(),
            [only] => format!("1 field is invalid: {only}"),
            [first, rest @ ..] => {
                format!("{} fields are invalid; first: {first}", rest.len() + 1)
            }
        };
        Self {
            errors,
            ..Self::new(ProblemKind::Validation, detail)
        }
    }

    /// 404 for `kind`/`id` (also used for another domain's resources, so that
    /// existence does not leak).
    pub fn not_found(kind: impl fmt::Display, id: impl fmt::Display) -> Self {
        Self::new(ProblemKind::NotFound, format!("{kind} \"{id}\" not found"))
    }

    /// 409 with a CamelCase `reason` such as `AlreadyExists`.
    pub fn conflict(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Conflict, detail).with_reason(reason)
    }

    /// 409 `InsufficientCapacity`; `detail` names the binding constraint
    /// (which link, tier or window ran out).
    pub fn insufficient_capacity(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::InsufficientCapacity, detail)
    }

    /// 409 for an `If-Match` whose resource_version is stale.
    pub fn precondition_failed(expected: impl fmt::Display, actual: impl fmt::Display) -> Self {
        Self::new(
            ProblemKind::PreconditionFailed,
            format!(
                "If-Match asked for resource_version {expected}, current is {actual}; re-read and retry"
            ),
        )
    }

    /// 501 for an endpoint not built yet; `missing` names the capability
    /// that would serve it.
    pub fn not_implemented(endpoint: impl fmt::Display, missing: impl fmt::Display) -> Self {
        Self::new(
            ProblemKind::NotImplemented,
            format!("{endpoint} is not implemented yet: {missing} is not built"),
        )
    }

    /// 400 for a body that is not usable JSON.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::BadRequest, detail)
    }

    /// 410 for a compacted watch revision.
    pub fn gone(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Gone, detail)
    }

    /// 500; `detail` should carry the error chain.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Internal, detail)
    }

    /// 503.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unavailable, detail)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unauthorized, detail)
    }

    /// 415.
    pub fn unsupported_media_type(got: impl fmt::Display) -> Self {
        Self::new(
            ProblemKind::UnsupportedMediaType,
            format!("expected Content-Type application/json, got {got}"),
        )
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The kind this problem's type URI names, if it is one of ours.
    pub fn kind(&self) -> Option<ProblemKind> {
        ProblemKind::from_uri(&self.problem_type)
    }

    /// Violations reported at `pointer`.
    pub fn violations_at<'a>(
        &'a self,
        pointer: &'a str,
    ) -> impl Iterator<Item = &'a FieldViolation> + 'a {
        self.errors.iter().filter(move |v| v.pointer == pointer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_uri() {
        for kind in ProblemKind::ALL {
            assert_eq!(ProblemKind::from_uri(&kind.uri()), Some(kind));
        }
        assert_eq!(ProblemKind::from_uri("about:blank"), None);
    }

    #[test]
    fn serialization_skips_empty_optionals() {
        let json = serde_json::to_value(Problem::internal("boom").with_reason("X")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "https://corridoros.dev/problems/internal",
                "title": "Internal server error",
                "status": 500,
                "detail": "boom",
                "reason": "X",
            })
        );
    }

    #[test]
    fn constructors_set_status_and_reason() {
        let p = Problem::validation(vec![FieldViolation::new("/lanes", "range", "too many")]);
        assert_eq!((p.status, p.reason.as_deref()), (422, Some("Invalid")));
        assert_eq!(p.errors.len(), 1);
        assert!(p.detail.contains("/lanes"));

        let p = Problem::not_found("corridors", "cor-1");
        assert_eq!(p.status, 404);
        assert!(p.detail.contains("cor-1"));

        let p = Problem::conflict("AlreadyExists", "x");
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (409, Some("AlreadyExists"))
        );
        assert_eq!(p.kind(), Some(ProblemKind::Conflict));

        let p = Problem::insufficient_capacity("link l3 has 100 Gb/s left");
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (409, Some("InsufficientCapacity"))
        );

        let p = Problem::precondition_failed("7", "9");
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (409, Some("StaleResourceVersion"))
        );

        let p = Problem::not_implemented("POST /v1/attest/spdm", "the attestation service");
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (501, Some("NotImplemented"))
        );
        assert!(p.detail.contains("POST /v1/attest/spdm"));

        assert_eq!(Problem::bad_request("x").status, 400);
        assert_eq!(Problem::gone("x").status, 410);
    }

    #[test]
    fn problem_is_an_error_with_readable_display() {
        let e: Box<dyn std::error::Error> = Box::new(Problem::bad_request("empty body"));
        assert_eq!(e.to_string(), "400 Malformed request: empty body");
    }
}

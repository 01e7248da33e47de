//! Request extractors whose failures are problem+json naming the field,
//! never axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use corridor_model::json::from_body_strict;
use corridor_model::problem::{FieldViolation, Problem};
use corridor_model::validate::Validate;
use corridor_services::ListOptions;
use corridor_services::labels::LabelSelector;
use corridor_services::registry::parse_resource_version;
use corridor_store::Revision;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// A JSON body parsed strictly (unknown fields rejected, the JSON pointer of
/// any bad field named) and then validated.
#[derive(Debug)]
pub struct StrictJson<T>(pub T);

impl<S, T> FromRequest<S> for StrictJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ParsedJson(value) = ParsedJson::<T>::from_request(request, state).await?;
        value.validate().map_err(Problem::validation)?;
        Ok(StrictJson(value))
    }
}

/// A JSON body parsed as strictly as [`StrictJson`] but not validated: for
/// services that validate their requests themselves (once, after applying
/// what depends on the caller, such as the owning domain).
#[derive(Debug)]
pub struct ParsedJson<T>(pub T);

impl<S, T> FromRequest<S> for ParsedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::unsupported_media_type(
                "request bodies must be sent with Content-Type: application/json",
            )
            .into());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError(super::problem::payload_too_large(rejection.body_text()))
            })?;
        let value: T = from_body_strict(&body)?;
        Ok(ParsedJson(value))
    }
}

/// The `If-Match` precondition, as a store revision.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<Revision>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().map_err(|_| {
            ApiError(Problem::validation(vec![FieldViolation {
                pointer: "If-Match".into(),
                rule: "format".into(),
                message: "If-Match must be ASCII".into(),
            }]))
        })?;
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let revision = parse_resource_version(text).map_err(|_| {
            ApiError(Problem::validation(vec![FieldViolation {
                pointer: "If-Match".into(),
                rule: "format".into(),
                message: format!("{text:?} is not a resource_version returned by the server"),
            }]))
        })?;
        Ok(IfMatch(Some(revision)))
    }
}

/// Query parameters of list endpoints: parsed here and documented from
/// the same declaration (`params(ListParams)`). Fields are strings so a bad
/// value gets a problem naming the parameter instead of serde's message;
/// the documented types and ranges are exactly what the parser accepts.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The token from the previous page's `X-Continue` header (opaque).
    #[serde(rename = "continue")]
    #[param(pattern = "^([0-7][0-9a-fA-F]){1,512}$")]
    continue_token: Option<String>,
    /// Label selector: comma-separated `key`, `key=value`, `key==value` or
    /// `key!=value` terms, no spaces.
    #[param(
        pattern = "^([A-Za-z0-9._/-]{1,63}((!=|==?)[A-Za-z0-9._/-]{0,63})?(,[A-Za-z0-9._/-]{1,63}((!=|==?)[A-Za-z0-9._/-]{0,63})?)*)?$"
    )]
    label_selector: Option<String>,
    /// `true` streams changes as server-sent events (`text/event-stream`)
    /// instead of answering a page.
    #[param(value_type = Option<bool>)]
    watch: Option<String>,
    /// With `watch`: end the stream after this many seconds (default: the
    /// stream stays open until the client or the server goes away).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 3600)]
    timeout_seconds: Option<String>,
    /// With `watch`: stream the changes after this revision.
    #[param(pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)]
    resource_version: Option<String>,
}

/// The `If-Match` request header of writes, documented from here (by hand:
/// the derive would make an optional header nullable, and a header cannot
/// be null).
#[derive(Debug)]
pub struct IfMatchHeader;

/// The grammar [`IfMatch`] accepts: `*` or a resource_version.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?("[0-9]{1,18}"|[0-9]{1,18}))$"#;

impl utoipa::IntoParams for IfMatchHeader {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(utoipa::openapi::Required::False)
                .description(Some(
                    "Apply only if the object is still at this resource_version (or `*`); a stale one is a 409.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::new(Type::String))
                        .pattern(Some(IF_MATCH_PATTERN)),
                ))
                .build(),
        ]
    }
}

/// A parsed list or watch request.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub options: ListOptions,
    pub watch: bool,
    /// Watch from this revision (exclusive, as Kubernetes): events after it.
    pub resource_version: Option<Revision>,
    /// End a watch after this long.
    pub watch_timeout: Option<std::time::Duration>,
}

fn query_violation(parameter: &str, rule: &str, message: String) -> ApiError {
    ApiError(Problem::validation(vec![FieldViolation {
        pointer: format!("?{parameter}"),
        rule: rule.into(),
        message,
    }]))
}

/// A boolean query parameter: absent or `false` is false, `true` true;
/// anything else the violation naming `parameter`.
fn query_flag(parameter: &str, text: Option<&str>) -> Result<bool, Box<ApiError>> {
    match text {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Box::new(query_violation(
            parameter,
            "enum",
            format!("{parameter} must be true or false, got {other:?}"),
        ))),
    }
}

/// The query of a create that can be tried without committing: `dry_run`
/// only (any other parameter is refused naming it).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DryRunParams {
    /// `true`: answer the plan a grant would make now (200) and commit
    /// nothing.
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
}

/// Whether a create asked `?dry_run=true`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DryRun(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for DryRun {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let params: DryRunParams = serde_urlencoded::from_str(raw).map_err(|error| {
            query_violation(
                "query",
                "unknown_parameter",
                format!("{error}; this endpoint accepts dry_run"),
            )
        })?;
        Ok(DryRun(
            query_flag("dry_run", params.dry_run.as_deref()).map_err(|e| *e)?,
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let params: ListParams = serde_urlencoded::from_str(raw).map_err(|error| {
            query_violation(
                "query",
                "unknown_parameter",
                format!(
                    "{error}; list endpoints accept limit, continue, label_selector, watch, timeout_seconds, resource_version"
                ),
            )
        })?;
        let limit = match params.limit.as_deref() {
            None => None,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=corridor_services::registry::MAX_PAGE_SIZE).contains(&n) => Some(n),
                _ => {
                    return Err(query_violation(
                        "limit",
                        "range",
                        format!(
                            "limit must be an integer from 1 to {}, got {text:?}",
                            corridor_services::registry::MAX_PAGE_SIZE
                        ),
                    ));
                }
            },
        };
        let watch = query_flag("watch", params.watch.as_deref()).map_err(|e| *e)?;
        let resource_version = match params.resource_version.as_deref() {
            None => None,
            Some(text) => Some(parse_resource_version(text).map_err(|_| {
                query_violation(
                    "resource_version",
                    "format",
                    format!("{text:?} is not a resource_version returned by the server"),
                )
            })?),
        };
        let watch_timeout = match params.timeout_seconds.as_deref() {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(seconds) if (1..=3600).contains(&seconds) => {
                    Some(std::time::Duration::from_secs(seconds))
                }
                _ => {
                    return Err(query_violation(
                        "timeout_seconds",
                        "range",
                        format!("timeout_seconds must be an integer from 1 to 3600, got {text:?}"),
                    ));
                }
            },
        };
        let label_selector = match params.label_selector.as_deref() {
            None => LabelSelector::default(),
            Some(text) => LabelSelector::parse(text).map_err(ApiError::from)?,
        };
        if let Some(token) = params.continue_token.as_deref() {
            // Checked in watch mode too (where paging does not apply), so a
            // malformed token is refused whatever else the request asks.
            corridor_services::registry::check_continue(token).map_err(ApiError::from)?;
        }
        Ok(ListQuery {
            options: ListOptions {
                limit,
                continue_token: params.continue_token,
                label_selector,
            },
            watch,
            resource_version,
            watch_timeout,
        })
    }
}

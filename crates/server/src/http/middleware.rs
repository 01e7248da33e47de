//! Per-request observation: request id, metrics by matched route, and a
//! structured log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use crate::audit::AuditEntry;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The request id, for the layers inside `observe` (audit).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Records every request in `/metrics` under its route template (never the
/// raw path, whose ids would explode the label set) and tags the response
/// with a request id, taken from the client's `X-Request-Id` if it sent one.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req-{:x}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)));

    let mut request = request;
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    // The request's span: its children are the store transactions and
    // device commands it causes; exported over OTLP when configured.
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    let trace = crate::logging::trace(&span);
    if let Some(trace) = &trace {
        span.record("trace_id", trace.trace_id.as_str());
    }
    let mut response = next.run(request).instrument(span.clone()).await;
    if route != "unmatched" {
        response = hold_to_contract(&state, &method, &route, response);
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    // An exemplar names a trace a reader can open: a sampled one.
    let exemplar = trace
        .as_ref()
        .filter(|trace| trace.sampled)
        .map(|trace| trace.trace_id.as_str());
    state
        .metrics
        .observe_request(method.as_str(), &route, status, elapsed, exemplar);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| {
        tracing::debug!(
            request_id,
            method = %method,
            route,
            status,
            micros = elapsed.as_micros() as u64,
            "request"
        );
    });
    response
}

/// Checks an answer against the document. An operation that answers a
/// status or content type its declaration does not show is a bug in the
/// declaration or the code: it is logged, and in debug builds (every test
/// and every fuzzing run) replaced by a 500 naming the mismatch, so that no
/// test can pass while the two disagree. Methods a route does not have
/// (405) are not operations and are not checked.
fn hold_to_contract(
    state: &AppState,
    method: &axum::http::Method,
    route: &str,
    response: Response,
) -> Response {
    if state.contract.operation(method, route).is_none() {
        return response;
    }
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if state
        .contract
        .documents(method, route, status, content_type.as_deref())
    {
        return response;
    }
    let detail = format!(
        "{method} {route} answered {status} ({}), which its OpenAPI declaration does not show",
        content_type.as_deref().unwrap_or("no body")
    );
    tracing::error!(%detail, "undocumented response");
    if cfg!(debug_assertions) {
        let problem = corridor_model::problem::Problem::internal(detail);
        return super::problem::ApiError(problem).into_response();
    }
    response
}

/// Authorisation and audit: decides from the connection's identity and the
/// matched route (see [`super::auth::decide`]), checks a domain caller's
/// `security_domain`, and records every denial and every mutating call.
pub async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use axum::http::StatusCode;

    use super::auth::{Decision, Identity, MAX_CHECKED_BODY, decide, foreign_domain, is_read};
    use super::problem::{ApiError, http_problem};

    // A request without an identity did not come through our accept loop
    // (e.g. a test calling the router directly): nobody.
    let identity = request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity::Anonymous);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    // The request's arrival: a line and the note its store write carried
    // must agree on it (see `crate::audit`).
    let arrived = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let entry = |status: u16, result: &'static str, reason: Option<String>| AuditEntry {
        time: arrived.clone(),
        request_id: request_id.clone(),
        principal: identity.audit_name(),
        serial: identity.serial().map(str::to_owned),
        action: format!("{method} {}", route.as_deref().unwrap_or(&path)),
        resource: path.clone(),
        result,
        status: Some(status),
        reason,
        detail: None,
    };
    let deny = |status: StatusCode, slug: &str, reason: String| {
        let problem = http_problem(status, slug, reason.clone()).with_instance(path.clone());
        (
            entry(status.as_u16(), "denied", Some(reason)),
            ApiError(problem),
        )
    };

    let scope = route
        .as_deref()
        .and_then(|route| state.contract.scope(&method, route));
    let denied = match decide(&identity, &method, route.as_deref(), scope) {
        Decision::Allow => None,
        Decision::Unauthenticated(reason) => {
            Some(deny(StatusCode::UNAUTHORIZED, "unauthenticated", reason))
        }
        Decision::Forbidden(reason) => Some(deny(StatusCode::FORBIDDEN, "forbidden", reason)),
    };
    if let Some((record, error)) = denied {
        state.audit.record(&record).await;
        let mut response = error.into_response();
        if record.status == Some(401) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("mTLS"),
            );
        }
        return response;
    }

    // A security domain may only name itself in a request body.
    let mut request = request;
    if let Some(caller) = identity.principal().and_then(|p| p.security_domain())
        && !is_read(&method)
    {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_CHECKED_BODY).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let (record, error) = deny(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    format!(
                        "request bodies of security domains are limited to {MAX_CHECKED_BODY} bytes"
                    ),
                );
                state.audit.record(&record).await;
                return error.into_response();
            }
        };
        if let Some(reason) = foreign_domain(caller, &bytes) {
            let (record, error) = deny(StatusCode::FORBIDDEN, "forbidden", reason);
            state.audit.record(&record).await;
            return error.into_response();
        }
        request = Request::from_parts(parts, axum::body::Body::from(bytes));
    }

    // A dry run commits nothing: no audit record, as for a read.
    let dry_run = route
        .as_deref()
        .is_some_and(|r| state.contract.is_dry_run(&method, r, request.uri().query()));
    if is_read(&method) || dry_run {
        return next.run(request).await;
    }
    // The record rides the request's first store write where the store
    // can carry it (one durable write for both); otherwise it is synced on
    // its own after the handler.
    let pending = state.audit.rider(&entry(0, "allowed", None));
    let response = match pending.as_ref().map(|p| p.rider()) {
        Some(rider) => corridor_store::rider::carry(rider, next.run(request)).await,
        None => next.run(request).await,
    };
    state
        .audit
        .finish(pending, &entry(response.status().as_u16(), "allowed", None))
        .await;
    response
}

/// Answers a route whose RFC daemon this process does not run with a 503
/// naming that daemon (and the process leading its work, where the daemon
/// has a leader), instead of letting a handler reach a service that is held
/// here over the store only (`corridord memqosd` asked for a corridor).
/// Runs inside [`authorize`]: who may not call the route learns nothing.
pub async fn serve_here(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let served_by = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| state.contract.operation(request.method(), route.as_str()))
        .and_then(|operation| operation.served_by);
    let Some(daemon) = served_by.filter(|daemon| !state.plane.daemons.runs(*daemon)) else {
        return next.run(request).await;
    };
    let leader = match corridor_services::leadership::leader_key(daemon) {
        Some(key) => match state.plane.store.get(key).await {
            Ok(Some(kv)) => format!(
                "; {daemon}'s work is led by {}",
                String::from_utf8_lossy(&kv.value)
            ),
            Ok(None) => format!("; no {daemon} leads right now"),
            Err(error) => format!("; who leads {daemon} cannot be read: {error}"),
        },
        None => String::new(),
    };
    let problem = corridor_model::problem::Problem::unavailable(format!(
        "this corridord runs {} and not {daemon}, which serves {} {}: send it to a {daemon} process (`corridord {daemon}`){leader}",
        state.plane.daemons,
        request.method(),
        request.uri().path(),
    ))
    .with_reason("DaemonNotRunHere")
    .with_instance(request.uri().path().to_owned());
    super::problem::ApiError(problem).into_response()
}

//! Shared list and watch responses for every resource kind.
//!
//! The RFC's list responses are bare JSON arrays, so paging and revision
//! metadata travel in headers: `X-Continue` (and a `Link: rel="next"`) for
//! the next page, `X-Resource-Version` for the revision a watch can resume
//! from.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use corridor_services::error::ToProblem;
use corridor_services::{Page, Registry, Resource, ResourceEvent, ServiceError};
use corridor_store::Revision;
use futures::{Stream, StreamExt};
use serde::Serialize;

use super::AppState;
use super::extract::ListQuery;
use super::problem::ApiResult;

pub const CONTINUE_HEADER: HeaderName = HeaderName::from_static("x-continue");
pub const RESOURCE_VERSION_HEADER: HeaderName = HeaderName::from_static("x-resource-version");

/// Answers a list endpoint: a page of objects, or a watch stream when
/// `watch=true`.
pub async fn list_or_watch<T: Resource>(
    state: &AppState,
    registry: &Registry<T>,
    path: &str,
    query: ListQuery,
) -> ApiResult<Response> {
    list_or_watch_visible(state, registry, path, query, |_: &T| true).await
}

/// As [`list_or_watch`], showing only the objects `visible` accepts (a
/// security domain sees its own); pages may then hold fewer than `limit`.
pub async fn list_or_watch_visible<T: Resource>(
    state: &AppState,
    registry: &Registry<T>,
    path: &str,
    query: ListQuery,
    visible: impl Fn(&T) -> bool + Send + Sync + 'static,
) -> ApiResult<Response> {
    if query.watch {
        return watch(state, registry, query, visible).await;
    }
    // Filtered before paging, so a page is short only at the end.
    let page = registry.list_visible(&query.options, &visible).await?;
    Ok(page_response(path, query.options.limit, page))
}

/// A page as the RFC's bare JSON array, its metadata in headers:
/// `X-Resource-Version`, and `X-Continue` plus `Link: rel="next"` when more
/// follow (`path` and `limit` make the link).
pub fn page_response<T: Serialize>(path: &str, limit: Option<usize>, page: Page<T>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(RESOURCE_VERSION_HEADER, HeaderValue::from(page.revision));
    if let Some(token) = &page.continue_token {
        // Tokens are URL-safe base64, always valid header values.
        if let Ok(value) = HeaderValue::from_str(token) {
            headers.insert(CONTINUE_HEADER, value);
        }
        let mut next = format!("<{path}?continue={token}");
        if let Some(limit) = limit {
            next.push_str(&format!("&limit={limit}"));
        }
        next.push_str(">; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&next) {
            headers.insert(header::LINK, value);
        }
    }
    (headers, Json(page.items)).into_response()
}

/// Resolves when the server drains or the client's `timeout_seconds` is up.
async fn stream_end(drained: impl std::future::Future<Output = ()>, timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => {
            tokio::select! {
                () = drained => {}
                () = tokio::time::sleep(timeout) => {}
            }
        }
        None => drained.await,
    }
}

/// Server-sent events: one `ADDED`/`MODIFIED`/`DELETED` event per change
/// after `resource_version` (or from now), each with `id` = the revision so
/// an `EventSource` reconnect resumes with `Last-Event-ID`.
async fn watch<T: Resource>(
    state: &AppState,
    registry: &Registry<T>,
    query: ListQuery,
    visible: impl Fn(&T) -> bool + Send + Sync + 'static,
) -> ApiResult<Response> {
    let from = watch_from(&query);
    let events = registry
        .watch(from, query.options.label_selector.clone())
        .await?;
    let events = events.filter(move |event| {
        let keep = match event {
            Ok(event) => visible(&event.object),
            Err(_) => true,
        };
        std::future::ready(keep)
    });
    Ok(events_response(state, query.watch_timeout, events))
}

/// The revision a watch starts after: events from `resource_version + 1`,
/// or from now without one.
pub fn watch_from(query: &ListQuery) -> Revision {
    query.resource_version.map_or(0, |revision| revision + 1)
}

/// A stream of watch events as server-sent events, ended when the server
/// drains or after `timeout` (the client's `timeout_seconds`).
pub fn events_response<T: Serialize>(
    state: &AppState,
    timeout: Option<Duration>,
    events: impl Stream<Item = Result<ResourceEvent<T>, ServiceError>> + Send + 'static,
) -> Response {
    let stream = events
        .map(|event| {
            let sse = match event {
                Ok(event) => Event::default()
                    .id(event.resource_version.clone())
                    .event(format!("{:?}", event.event_type).to_uppercase())
                    .json_data(&event)
                    .unwrap_or_else(|_| Event::default().event("ERROR")),
                Err(error) => Event::default()
                    .event("ERROR")
                    .json_data(error.to_problem())
                    .unwrap_or_else(|_| Event::default().event("ERROR")),
            };
            Ok::<_, Infallible>(sse)
        })
        .take_until(stream_end(state.drained(), timeout))
        .boxed();
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

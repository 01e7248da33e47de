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
use corridor_services::registry::WatchEvents;
use corridor_services::{Page, Registry, Resource};
use corridor_store::Revision;
use futures::StreamExt;
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
/// security domain sees its own), filtered before paging so pages are
/// never short.
pub async fn list_or_watch_visible<T: Resource>(
    state: &AppState,
    registry: &Registry<T>,
    path: &str,
    query: ListQuery,
    visible: impl Fn(&T) -> bool + Send + Sync + 'static,
) -> ApiResult<Response> {
    if query.watch {
        let events = registry
            .watch(watch_from(&query), query.options.label_selector.clone())
            .await?;
        let events = events.filter(move |event| {
            std::future::ready(match event {
                Ok(event) => visible(&event.object),
                Err(_) => true,
            })
        });
        return Ok(watch_response(state, Box::pin(events)));
    }
    let page = registry.list_visible(&query.options, &visible).await?;
    Ok(page_response(path, &query, page))
}

/// The store revision a watch for `query` starts from: after its
/// `resource_version`, or (0) from now.
pub fn watch_from(query: &ListQuery) -> Revision {
    match query.resource_version {
        Some(revision) => revision + 1,
        None => 0,
    }
}

/// A list page as the RFC's bare array, paging and revision in headers.
pub fn page_response<T: Serialize>(path: &str, query: &ListQuery, page: Page<T>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(RESOURCE_VERSION_HEADER, HeaderValue::from(page.revision));
    if let Some(token) = &page.continue_token {
        // Tokens are URL-safe base64, always valid header values.
        if let Ok(value) = HeaderValue::from_str(token) {
            headers.insert(CONTINUE_HEADER, value);
        }
        let mut next = format!("<{path}?continue={token}");
        if let Some(limit) = query.options.limit {
            next.push_str(&format!("&limit={limit}"));
        }
        next.push_str(">; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&next) {
            headers.insert(header::LINK, value);
        }
    }
    (headers, Json(page.items)).into_response()
}

/// Server-sent events: one `ADDED`/`MODIFIED`/`DELETED` event per change,
/// each with `id` = the revision so an `EventSource` reconnect resumes
/// with `Last-Event-ID`; the stream ends when the server drains.
pub fn watch_response<T: Resource>(state: &AppState, events: WatchEvents<T>) -> Response {
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
        .take_until(state.drained())
        .boxed();
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

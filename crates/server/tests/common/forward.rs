//! A forwarding proxy that stands in for a browser's client certificate:
//! plain HTTP on a free loopback port in front, mutual TLS to corridord
//! behind, presenting one principal's certificate on every request.
//!
//! A headless Chromium picks client certificates from an NSS database and
//! selects one without a prompt only under a managed policy in `/etc`, which
//! a test must not write. So the browser talks to this proxy, and the proxy
//! does what the certificate store would: every request reaches corridord
//! over mTLS as that principal, through the same authorisation. Each
//! identity gets its own proxy, hence its own origin in the browser.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;

/// Headers a browser sends that corridord reads.
const REQUEST_HEADERS: [HeaderName; 4] = [
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::IF_MATCH,
    header::CACHE_CONTROL,
];

/// The largest request body forwarded (the console sends small JSON).
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    base: String,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct Forward {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Forward {
    /// Forwards to `base` (`https://127.0.0.1:port`) with `client`, a
    /// client holding one principal's certificate.
    pub async fn start(client: reqwest::Client, base: &str) -> Forward {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(forward).with_state(Upstream {
            client,
            base: base.trim_end_matches('/').to_owned(),
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Forward { addr, task }
    }

    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = format!(
        "{}{}",
        upstream.base,
        parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut outgoing = upstream.client.request(parts.method, target);
    for name in REQUEST_HEADERS {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    if !body.is_empty() {
        outgoing = outgoing.body(body);
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("corridord: {error}")).into_response();
        }
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        // Framing is this hop's own; everything else passes through.
        if name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
            && name != header::CONNECTION
        {
            response = response.header(name, value);
        }
    }
    // Streamed, not buffered: watches are server-sent event streams that
    // stay open.
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    response.body(Body::from_stream(stream)).unwrap()
}

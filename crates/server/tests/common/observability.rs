//! What the observability tests check corridord against: a local OTLP/HTTP
//! receiver that keeps every span it is sent, and Debian's `promtool`.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use serde_json::Value;

/// Where promtool and Prometheus come from, for a test that cannot run them.
pub const PROMETHEUS_INSTALL_HINT: &str =
    "install Debian's prometheus package (scripts/install-prometheus.sh, run by `make test`)";

/// One span as the receiver got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
}

/// Every span the receiver got, in arrival order.
pub type Spans = Arc<Mutex<Vec<ReceivedSpan>>>;

/// An OTLP/HTTP JSON receiver on a free loopback port, appending to
/// `spans`; answers the URL to give `--otlp-endpoint`.
pub async fn otlp_receiver(spans: Spans) -> String {
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let spans = Arc::clone(&spans);
            async move {
                let export: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                let mut got = spans.lock().unwrap();
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            let text = |key: &str| span[key].as_str().unwrap_or("").to_owned();
                            got.push(ReceivedSpan {
                                trace_id: text("traceId"),
                                span_id: text("spanId"),
                                parent_span_id: text("parentSpanId"),
                                name: text("name"),
                            });
                        }
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1/traces")
}

/// `promtool check metrics` on `text`: whether it exited successfully, and
/// its complaints, one a line (none when clean).
pub fn promtool_check(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): {PROMETHEUS_INSTALL_HINT}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

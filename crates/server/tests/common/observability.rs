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

/// A Prometheus child scraping one corridord (job `corridord`) every
/// second, its data in a temporary directory; killed by its pid when
/// dropped (also on a failed assertion).
pub struct Prometheus {
    child: std::process::Child,
    base: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus; `job` is the rest of the `corridord` scrape job
    /// (its `static_configs`, and a scheme and TLS settings if any), each
    /// line indented four spaces; `flags` are added to its command line.
    pub fn start(job: &str, flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: corridord\n{job}"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = super::process::free_port();
        let log = dir.path().join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus ({e}): {PROMETHEUS_INSTALL_HINT}"));
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path?query` of its HTTP API: the JSON answer, or `None` while
    /// it does not answer.
    pub async fn api(
        &self,
        client: &reqwest::Client,
        path: &str,
        query: &[(&str, String)],
    ) -> Option<Value> {
        let response = client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Asks `path` (with the query `query` builds for each attempt) every
    /// 250 ms until `found` picks something from an answer, at most
    /// `limit`; panics naming `what`, with Prometheus's log, if it exits or
    /// time runs out.
    pub async fn poll<T>(
        &mut self,
        client: &reqwest::Client,
        path: &str,
        query: impl Fn() -> Vec<(&'static str, String)>,
        limit: std::time::Duration,
        what: &str,
        found: impl Fn(&Value) -> Option<T>,
    ) -> T {
        let started = std::time::Instant::now();
        loop {
            let answer = self.api(client, path, &query()).await;
            if let Some(t) = answer.as_ref().and_then(&found) {
                return t;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < limit,
                "no {what} after {limit:?} (last answer {answer:?}); prometheus log:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGKILL to this child's pid only; its data are a temporary
        // directory, nothing to flush.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

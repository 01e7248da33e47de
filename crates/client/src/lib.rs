//! Typed async client for the CorridorOS REST API.
//!
//! Used by `corridorctl`, the end-to-end tests and anyone embedding
//! CorridorOS. Errors from the server arrive as the RFC 9457 problem the
//! server sent, so callers can match on `status` and `reason`.

mod attestation;
pub mod compat;
mod corridors;
mod fabric;
pub mod ffm;
mod sse;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corridor_model::calibration::AmbientProfile;
use corridor_model::fabric::FabricDevice;
use corridor_model::meta::Operation;
use corridor_model::problem::Problem;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::{ACCEPT, HeaderMap};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use sse::SseEvent;

/// The address corridord listens on by default.
pub const DEFAULT_SERVER: &str = "https://127.0.0.1:7070";

/// TLS material for talking to corridord: the CA that signed its
/// certificate and, for mTLS, this client's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub ca: PathBuf,
    /// Client certificate chain and private key (PEM).
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A rustls client configuration for corridord: aws-lc-rs, TLS 1.3 only,
/// X25519MLKEM768 offered first, the given CA as the only trust anchor.
pub fn rustls_config(tls: &TlsOptions) -> Result<rustls::ClientConfig> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    rustls_config_with_groups(tls, provider.kx_groups)
}

/// [`rustls_config`] offering only `groups` (benchmarks and tests compare
/// the hybrid group with X25519 alone).
pub fn rustls_config_with_groups(
    tls: &TlsOptions,
    groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
) -> Result<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &Path, reason: String| ClientError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let read_certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| bad(path, e.to_string()))?;
        if certs.is_empty() {
            return Err(bad(path, "no certificate in the file".into()));
        }
        Ok(certs)
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs(&tls.ca)? {
        roots.add(ca).map_err(|e| bad(&tls.ca, e.to_string()))?;
    }
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = groups;
    let provider = std::sync::Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad(&tls.ca, e.to_string()))?
        .with_root_certificates(roots);
    match &tls.identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| bad(cert, e.to_string()))
        }
    }
}

/// A TLS configuration that trusts no certificate, for a plain-HTTP
/// client that never makes a TLS connection.
fn trusting_nothing() -> rustls::ClientConfig {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("aws-lc-rs supports TLS 1.3")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server address {address:?}: {reason}")]
    InvalidServer { address: String, reason: String },

    #[error("TLS file {path}: {reason}")]
    Tls { path: PathBuf, reason: String },

    #[error("request to {url} failed")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{} {}: {}", .problem.status, .problem.title, .problem.detail)]
    Api { problem: Box<Problem> },

    #[error("unexpected {status} response from {url}: {body}")]
    Unexpected {
        url: String,
        status: u16,
        body: String,
    },

    #[error("cannot decode the response from {url}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The server's problem, when the server answered with one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api { problem } => Some(problem),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// One page of a list, with the token for the next.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub continue_token: Option<String>,
    /// Revision to resume a watch from.
    pub resource_version: Option<String>,
}

/// A change reported by a watch.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceEvent<T> {
    #[serde(rename = "type")]
    pub event_type: String,
    pub resource_version: String,
    pub object: T,
}

/// A connection to the control plane: one corridord, or several replicas
/// serving one state, tried in turn.
///
/// **Failover.** Requests go to the address that answered last. When a
/// request cannot reach it, the next address is tried, each at most once
/// per request: for every method when the connection was never made (the
/// server cannot have acted on it), for `GET`/`HEAD` on any transport
/// error (reading twice changes nothing). A write whose connection broke
/// after it was sent is not repeated elsewhere: the error says so, and the
/// caller decides (re-reading the object, say). An answer from a server,
/// even a problem, is final.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Base URLs in the order given; never empty.
    servers: Arc<[String]>,
    /// The index of the address that answered last.
    current: Arc<AtomicUsize>,
}

/// Sends a request; the success body and headers, or the server's problem
/// as an error.
async fn execute(url: &str, request: reqwest::RequestBuilder) -> Result<(Vec<u8>, HeaderMap)> {
    let transport = |source| ClientError::Transport {
        url: url.to_owned(),
        source,
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?.to_vec();
    if status.is_success() {
        Ok((body, headers))
    } else {
        Err(api_error(url, status.as_u16(), &body))
    }
}

/// Whether a request of `method` that failed with `error` may be sent to
/// another address (see [`Client`]).
fn may_fail_over(method: &reqwest::Method, error: &ClientError) -> bool {
    let ClientError::Transport { source, .. } = error else {
        return false;
    };
    source.is_connect() || matches!(*method, reqwest::Method::GET | reqwest::Method::HEAD)
}

/// The base URLs of `server`: one, or several separated by commas.
fn parse_servers(server: &str) -> Result<Vec<String>> {
    let servers: Vec<String> = server
        .split(',')
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .collect();
    for base in &servers {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::InvalidServer {
                address: server.to_string(),
                reason: format!(
                    "{base:?} must start with http:// or https:// (several addresses are separated by commas)"
                ),
            });
        }
    }
    Ok(servers)
}

impl Client {
    /// `server` is a base URL such as `http://127.0.0.1:7070` (plain HTTP,
    /// for a server started with `--insecure-dev`), or several separated by
    /// commas (replicas of one control plane, tried in turn).
    pub fn new(server: &str) -> Result<Self> {
        Self::build(server, None)
    }

    /// An HTTPS client that trusts `tls.ca` and presents `tls.identity`.
    pub fn with_tls(server: &str, tls: &TlsOptions) -> Result<Self> {
        Self::build(server, Some(rustls_config(tls)?))
    }

    fn build(server: &str, tls: Option<rustls::ClientConfig>) -> Result<Self> {
        let servers = parse_servers(server)?;
        let plain = servers.iter().all(|b| b.starts_with("http://"));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60));
        // Plain HTTP needs no roots: reqwest would otherwise load the
        // system's at build and refuse to build where there are none (an
        // image `FROM scratch`). HTTPS without options keeps the system's.
        let tls = tls.or_else(|| plain.then(trusting_nothing));
        if let Some(config) = tls {
            builder = builder.tls_backend_preconfigured(config);
        }
        let http = builder.build().map_err(|source| ClientError::Transport {
            url: servers[0].clone(),
            source,
        })?;
        Ok(Self {
            http,
            servers: servers.into(),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The address requests go to first: the one that answered last.
    pub fn base_url(&self) -> &str {
        &self.servers[self.current.load(Ordering::Relaxed) % self.servers.len()]
    }

    /// Every address, in the order given.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// Sends `method path` with an optional JSON body; the success body
    /// and headers, or the server's problem as an error.
    pub(crate) async fn send_raw<B: serde::Serialize + ?Sized + Sync>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(Vec<u8>, HeaderMap)> {
        self.exchange(method, path, &[], body).await
    }

    /// One request with failover (see [`Client`]).
    async fn exchange<B: serde::Serialize + ?Sized + Sync>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<(Vec<u8>, HeaderMap)> {
        self.with_failover(
            &method,
            |http, url| {
                let mut request = http.request(method.clone(), url).query(query);
                if let Some(body) = body {
                    request = request.json(body);
                }
                let url = url.to_owned();
                async move { execute(&url, request).await }
            },
            path,
        )
        .await
    }

    /// Runs `attempt` against each address in turn, from the one that
    /// answered last, while it fails in a way [`may_fail_over`] allows.
    async fn with_failover<T, F, Fut>(
        &self,
        method: &reqwest::Method,
        attempt: F,
        path: &str,
    ) -> Result<T>
    where
        F: Fn(&reqwest::Client, &str) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let n = self.servers.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut k = 0;
        loop {
            let i = (first + k) % n;
            let url = format!("{}{}", self.servers[i], path);
            match attempt(&self.http, &url).await {
                Err(e) if k + 1 < n && may_fail_over(method, &e) => k += 1,
                Err(e @ ClientError::Transport { .. }) => return Err(e),
                answered => {
                    self.current.store(i, Ordering::Relaxed);
                    return answered;
                }
            }
        }
    }

    /// `path` on the address requests go to first (for messages).
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// GET a path and decode its JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let (body, _) = self.get_raw(path, &[]).await?;
        decode(&self.url(path), &body)
    }

    async fn get_raw(&self, path: &str, query: &[(&str, String)]) -> Result<(Vec<u8>, HeaderMap)> {
        self.exchange::<()>(reqwest::Method::GET, path, query, None)
            .await
    }

    /// One page of a list endpoint.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Option<usize>,
        continue_token: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Page<T>> {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(token) = continue_token {
            query.push(("continue", token.to_string()));
        }
        if let Some(selector) = label_selector {
            query.push(("label_selector", selector.to_string()));
        }
        let (body, headers) = self.get_raw(path, &query).await?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Page {
            items: decode(&self.url(path), &body)?,
            continue_token: header("x-continue"),
            resource_version: header("x-resource-version"),
        })
    }

    /// Every item of a list endpoint, following continue tokens.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        label_selector: Option<&str>,
    ) -> Result<Page<T>> {
        let mut page = self.list_page(path, None, None, label_selector).await?;
        while let Some(token) = page.continue_token.take() {
            let next: Page<T> = self
                .list_page(path, None, Some(&token), label_selector)
                .await?;
            page.items.extend(next.items);
            page.continue_token = next.continue_token;
        }
        Ok(page)
    }

    /// Follows changes of a list endpoint after `resource_version` (or from
    /// now) as a stream of typed events.
    pub async fn watch<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        resource_version: Option<&str>,
    ) -> Result<BoxStream<'static, Result<ResourceEvent<T>>>> {
        let mut query = vec![("watch", "true".to_string())];
        if let Some(rv) = resource_version {
            query.push(("resource_version", rv.to_string()));
        }
        let query = &query;
        let (url, response) = self
            .with_failover(
                &reqwest::Method::GET,
                |http, url| {
                    let request = http
                        .get(url)
                        .query(query)
                        .header(ACCEPT, "text/event-stream");
                    let url = url.to_owned();
                    async move {
                        let response =
                            request
                                .send()
                                .await
                                .map_err(|source| ClientError::Transport {
                                    url: url.clone(),
                                    source,
                                })?;
                        Ok((url, response))
                    }
                },
                path,
            )
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(api_error(&url, status.as_u16(), &body));
        }
        let stream_url = url.clone();
        let events = sse::events(response.bytes_stream()).map(move |event| {
            let event = event.map_err(|source| ClientError::Transport {
                url: stream_url.clone(),
                source,
            })?;
            if event.event == "ERROR" {
                return Err(api_error(&stream_url, 0, event.data.as_bytes()));
            }
            decode(&stream_url, event.data.as_bytes())
        });
        Ok(events.boxed())
    }

    pub async fn devices(&self) -> Result<Vec<FabricDevice>> {
        self.get_json("/v1/fabman/devices").await
    }

    pub async fn device(&self, id: &str) -> Result<FabricDevice> {
        self.get_json(&format!("/v1/fabman/devices/{}", encode_segment(id)))
            .await
    }

    pub async fn ambient_profiles(&self) -> Result<Vec<AmbientProfile>> {
        self.get_json("/v1/heliopass/profiles").await
    }

    pub async fn operation(&self, id: &str) -> Result<Operation> {
        self.get_json(&format!("/v1/operations/{}", encode_segment(id)))
            .await
    }

    /// True when `/readyz` answers 200 (from the first address that
    /// answers).
    pub async fn ready(&self) -> Result<bool> {
        self.with_failover(
            &reqwest::Method::GET,
            |http, url| {
                let request = http.get(url);
                let url = url.to_owned();
                async move {
                    match request.send().await {
                        Ok(response) => Ok(response.status().is_success()),
                        Err(source) => Err(ClientError::Transport { url, source }),
                    }
                }
            },
            "/readyz",
        )
        .await
    }
}

/// Percent-encodes a path segment so ids cannot escape their position.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| ClientError::Decode {
        url: url.to_string(),
        source,
    })
}

fn api_error(url: &str, status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) => ClientError::Api {
            problem: Box::new(problem),
        },
        Err(_) => ClientError::Unexpected {
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(body).chars().take(500).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_must_be_http() {
        assert!(Client::new("127.0.0.1:7070").is_err());
        assert_eq!(
            Client::new("http://127.0.0.1:7070/").unwrap().base_url(),
            "http://127.0.0.1:7070"
        );
        let several = Client::new("http://a:1, http://b:2/").unwrap();
        assert_eq!(several.servers(), ["http://a:1", "http://b:2"]);
        assert_eq!(several.base_url(), "http://a:1");
        assert!(Client::new("http://a:1,b:2").is_err());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode_segment("cxl-dev-001"), "cxl-dev-001");
        assert_eq!(encode_segment("../x y"), "..%2Fx%20y");
    }
}

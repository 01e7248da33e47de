//! An in-process corridord (`Daemon::start` + `spawn`) on a free loopback
//! port, in a temporary state directory it owns.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use corridor_pki::{PkiPaths, Principal};
use corridor_server::config::{Config, StoreBackend};
use corridor_server::tls::TlsState;
use corridor_server::{Background, Daemon, StartError};
use corridor_services::ControlPlane;
use corridor_store::etcd::testing::ThrowawayEtcd;

use super::clients::{http_client, tls_options, typed_client};

/// How to start the server; the default is [`Config::local`]: TLS with a
/// local PKI, the embedded store, no security domains.
#[derive(Debug, Default)]
pub struct Options {
    security_domains: Vec<String>,
    insecure_dev: bool,
    store: Option<StoreBackend>,
    state: Option<tempfile::TempDir>,
    encryption_at_rest_required: bool,
    attest_on_request: bool,
    heliopass: Option<corridor_services::heliopass::HelioSettings>,
    time_scale: Option<f64>,
    history: Option<corridor_services::history::HistorySettings>,
}

impl Options {
    /// Security domains the PKI issues client certificates for.
    pub fn domains(mut self, domains: &[&str]) -> Self {
        self.security_domains = domains.iter().map(|d| d.to_string()).collect();
        self
    }

    /// Plain HTTP, no authentication (`--insecure-dev`).
    pub fn insecure_dev(mut self) -> Self {
        self.insecure_dev = true;
        self
    }

    /// The store on `etcd` instead of the embedded file.
    pub fn etcd(self, etcd: &ThrowawayEtcd) -> Self {
        self.store(StoreBackend::Etcd {
            endpoints: vec![etcd.endpoint().to_string()],
            tls: etcd.options().tls,
        })
    }

    pub fn store(mut self, store: StoreBackend) -> Self {
        self.store = Some(store);
        self
    }

    /// Persistent bundles without the plaintext opt-out tests default to
    /// (`--plaintext-persistence`), as corridord starts by default.
    pub fn encryption_at_rest_required(mut self) -> Self {
        self.encryption_at_rest_required = true;
        self
    }

    /// attestd attests only on request (`--attest-on-request`).
    pub fn attest_on_request(mut self) -> Self {
        self.attest_on_request = true;
        self
    }

    /// heliopassd's settings (control rate, tracking on or off).
    pub fn heliopass(mut self, settings: corridor_services::heliopass::HelioSettings) -> Self {
        self.heliopass = Some(settings);
        self
    }

    /// Simulated seconds per real second of the plant clock.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = Some(scale);
        self
    }

    /// How often corridor history is sampled and how long it is kept.
    pub fn history(mut self, settings: corridor_services::history::HistorySettings) -> Self {
        self.history = Some(settings);
        self
    }

    /// An existing state directory (a restart), instead of a new one.
    pub fn state(mut self, state: tempfile::TempDir) -> Self {
        self.state = Some(state);
        self
    }

    pub async fn try_start(self) -> Result<Server, StartError> {
        let state = match self.state {
            Some(state) => state,
            None => tempfile::tempdir().unwrap(),
        };
        let mut config = Config::local(state.path());
        config.security_domains = self.security_domains;
        config.insecure_dev = self.insecure_dev;
        config.attest_on_request = self.attest_on_request;
        if let Some(settings) = self.heliopass {
            config.heliopass = settings;
        }
        if let Some(settings) = self.history {
            config.history = settings;
        }
        if self.time_scale.is_some() {
            config.time_scale = self.time_scale;
        }
        if self.encryption_at_rest_required {
            config.plaintext_persistence = false;
        }
        if let Some(store) = self.store {
            config.store = store;
        }
        let daemon = start_when_free(&config).await?;
        let base = daemon.base_url();
        let tls = daemon.tls();
        // The admin client most tests use, built once; under
        // --insecure-dev every caller is admin, so it needs no identity.
        let admin = match tls {
            Some(_) => http_client(&tls_options(state.path(), Some(&Principal::Admin))),
            None => reqwest::Client::new(),
        };
        Ok(Server {
            base,
            addr: daemon.local_addr,
            plane: daemon.plane().clone(),
            tls,
            admin,
            background: daemon.spawn(),
            state,
        })
    }

    pub async fn start(self) -> Server {
        self.try_start().await.expect("corridord starts")
    }
}

/// Starts a daemon; on a restart in the same process, waits (up to 5 s) for the previous
/// one's store to close: its background tasks hold only weak handles between awaits, and
/// drop the last strong one when they next wake, which may be just after `stop` returned.
async fn start_when_free(config: &Config) -> Result<Daemon, StartError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Daemon::start(config).await {
            Err(StartError::Store {
                source: corridor_store::StoreError::AlreadyOpen { .. },
                ..
            }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// A corridord serving on a background task of the test's runtime.
pub struct Server {
    base: String,
    addr: SocketAddr,
    plane: Arc<ControlPlane>,
    tls: Option<Arc<TlsState>>,
    admin: reqwest::Client,
    background: Background,
    state: tempfile::TempDir,
}

impl Server {
    /// The default server (see [`Options`]).
    pub async fn start() -> Server {
        Options::default().start().await
    }

    /// Drains and stops the server, and hands back its state directory
    /// with the store closed, for a restart on it.
    pub async fn stop(self) -> tempfile::TempDir {
        self.background.stop().await.unwrap();
        // The services hold the store open; the directory is free once
        // they are gone.
        drop(self.plane);
        self.state
    }

    /// `https://127.0.0.1:port` (`http://` under --insecure-dev).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn pki(&self) -> PkiPaths {
        PkiPaths::in_state_dir(self.state.path())
    }

    /// The services, to change state behind the API's back.
    pub fn plane(&self) -> &Arc<ControlPlane> {
        &self.plane
    }

    /// The TLS state, to reload certificates; `None` under --insecure-dev.
    pub fn tls(&self) -> Option<&Arc<TlsState>> {
        self.tls.as_ref()
    }

    /// memqosd's fd hand-off socket.
    pub fn socket(&self) -> std::path::PathBuf {
        self.state.path().join("ffm.sock")
    }

    /// A raw HTTP client authenticated as the admin.
    pub fn admin(&self) -> &reqwest::Client {
        &self.admin
    }

    /// A raw HTTP client authenticated as `principal`.
    pub fn http(&self, principal: &Principal) -> reqwest::Client {
        assert!(
            self.tls.is_some(),
            "--insecure-dev has no principals: use admin()"
        );
        http_client(&tls_options(self.state.path(), Some(principal)))
    }

    /// The typed client of `principal`; under --insecure-dev, the plain
    /// client every caller is.
    pub fn client(&self, principal: &Principal) -> corridor_client::Client {
        match self.tls {
            Some(_) => typed_client(&self.base, self.state.path(), principal),
            None => corridor_client::Client::new(&self.base).unwrap(),
        }
    }
}

//! `corridord`: the CorridorOS control-plane daemon.
//!
//! Runs every service in one process by default. The library half exists so
//! tests and benchmarks can start a real server in-process on a free port.

pub mod config;
pub mod http;
pub mod metered_store;
pub mod metrics;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use corridor_hal::clock::{Clock, ScaledClock};
use corridor_hal::topology::Topology;
use corridor_services::ControlPlane;
use corridor_store::{RedbOptions, RedbStore, StateStore};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::AppState;
use crate::metered_store::MeteredStore;
use crate::metrics::Metrics;

/// Name of the store file inside the state directory.
pub const STORE_FILE: &str = "store.redb";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create state directory {path}")]
    StateDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the state store in {path}")]
    Store {
        path: std::path::PathBuf,
        #[source]
        source: corridor_store::StoreError,
    },
    #[error("cannot load the topology")]
    Topology(#[source] corridor_hal::topology::TopologyError),
    #[error("invalid simulated clock")]
    Clock(#[source] corridor_hal::ClockError),
    #[error("cannot start the control plane")]
    Services(#[source] corridor_services::ServiceError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// A started daemon: listening, inventory published, ready to serve.
#[derive(Debug)]
pub struct Daemon {
    listener: TcpListener,
    state: AppState,
    drain: tokio::sync::watch::Sender<bool>,
    pub local_addr: SocketAddr,
}

impl Daemon {
    /// The services, for tests that need to drive them directly.
    pub fn plane(&self) -> &Arc<ControlPlane> {
        &self.state.plane
    }

    /// Opens the store, loads the twin, publishes the inventory and binds
    /// the listener. Serving starts with [`Daemon::serve`].
    pub async fn start(config: &Config) -> Result<Daemon, StartError> {
        create_state_dir(&config.state_dir)?;
        let store_path = config.state_dir.join(STORE_FILE);
        let redb = RedbStore::open(&store_path, RedbOptions::default()).map_err(|source| {
            StartError::Store {
                path: store_path.clone(),
                source,
            }
        })?;
        let metrics = Metrics::new();
        let store: Arc<dyn StateStore> =
            Arc::new(MeteredStore::new(Arc::new(redb), Arc::clone(&metrics)));

        let topology = match &config.topology {
            Some(path) => Topology::load(path).map_err(StartError::Topology)?,
            None => Topology::default_twin(),
        };
        let time_scale = config.time_scale.unwrap_or(topology.twin().time_scale);
        // Simulated time starts at the wall clock so timestamps read
        // naturally; the topology's start_time is for reproducible runs.
        let clock: Arc<dyn Clock> =
            Arc::new(ScaledClock::new(chrono::Utc::now(), time_scale).map_err(StartError::Clock)?);
        let plane = ControlPlane::start(store, Arc::new(topology), clock)
            .await
            .map_err(StartError::Services)?;

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let (drain, draining) = tokio::sync::watch::channel(false);
        let state = AppState {
            plane: Arc::new(plane),
            metrics,
            ready: Arc::new(AtomicBool::new(false)),
            draining,
        };
        Ok(Daemon {
            listener,
            state,
            drain,
            local_addr,
        })
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let app = http::router(self.state.clone());
        self.state.ready.store(true, Ordering::Release);
        tracing::info!(addr = %self.local_addr, "corridord listening");
        let drain = self.drain;
        let ready = Arc::clone(&self.state.ready);
        let shutdown = async move {
            shutdown.await;
            // Not ready any more: load balancers stop sending new work
            // while in-flight requests finish and watches are closed.
            ready.store(false, Ordering::Release);
            let _ = drain.send(true);
        };
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(StartError::Serve)?;
        self.state.ready.store(false, Ordering::Release);
        Ok(())
    }
}

/// The state directory holds the store and, later, keys: owner-only.
fn create_state_dir(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StartError::StateDir {
            path: path.to_path_buf(),
            source,
        })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

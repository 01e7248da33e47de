//! `corridord`: the CorridorOS control-plane daemon.
//!
//! Runs every service in one process by default. The library half exists so
//! tests and benchmarks can start a real server in-process on a free port.

pub mod audit;
pub mod config;
pub mod http;
pub mod logging;
pub mod metered_store;
pub mod metrics;
pub mod platform_tpm;
pub mod serve;
mod singletons;
pub mod systemd;
pub mod ticket_keys;
pub mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use corridor_hal::clock::{Clock, Clocks, ScaledClock, WallClock};
use corridor_hal::topology::Topology;
use corridor_hal::{LinuxOptics, OpticalPlant, TwinOptics};
use corridor_services::ControlPlane;
use corridor_services::daemons::RfcDaemon;
use corridor_services::leadership::{self, DEFAULT_LEADER_TTL, Leadership};
use corridor_store::{EtcdOptions, EtcdStore, FencingStore, RedbOptions, RedbStore, StateStore};
use tokio::net::TcpListener;

use crate::config::{Config, OpticsBackendKind, StoreBackend};
use crate::http::AppState;
use crate::metered_store::MeteredStore;
use crate::metrics::Metrics;
use crate::tls::{TlsFiles, TlsState};

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
    #[error("cannot reach the etcd cluster at {endpoints}")]
    Etcd {
        endpoints: String,
        #[source]
        source: corridor_store::StoreError,
    },
    #[error("cannot load the topology")]
    Topology(#[source] corridor_hal::topology::TopologyError),
    #[error("invalid simulated clock")]
    Clock(#[source] corridor_hal::ClockError),
    #[error("cannot build the twin's optical ports")]
    TwinOptics(#[source] corridor_hal::OpticalError),
    #[error("cannot open the optical modules (--optics linux)")]
    LinuxOptics(#[source] corridor_hal::optical::LinuxOpticsError),
    #[error("cannot load attestd's ticket keys")]
    TicketKeys(#[source] ticket_keys::TicketKeyError),
    #[error("cannot open the platform TPM (--tpm)")]
    PlatformTpm(#[source] platform_tpm::PlatformTpmError),
    #[error("cannot start the control plane")]
    Services(#[source] corridor_services::ServiceError),
    #[error("cannot keep corridor history")]
    History(#[source] corridor_services::history::HistoryError),
    #[error("the API document's declarations are incomplete")]
    Contract(#[source] http::contract::ContractError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("cannot set up the local PKI")]
    Pki(#[source] corridor_pki::PkiError),
    #[error("cannot load the TLS configuration")]
    Tls(#[source] tls::TlsError),
    #[error("cannot open the audit log")]
    Audit(#[source] audit::AuditError),
    #[error("cannot bind memqosd's fd hand-off socket {path}")]
    FfmSocket {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// corrd's optical plant as configured: the twin's ports, or a real module
/// per topology port (opened on a blocking thread: opening reads each
/// module's identity over its device).
async fn open_optics(
    config: &Config,
    topology: &Arc<Topology>,
) -> Result<Arc<dyn OpticalPlant>, StartError> {
    match config.optics.backend {
        OpticsBackendKind::Twin => Ok(Arc::new(
            TwinOptics::new(topology).map_err(StartError::TwinOptics)?,
        )),
        OpticsBackendKind::Linux => {
            let topology = Arc::clone(topology);
            let settings = config.optics.clone();
            let plant = tokio::task::spawn_blocking(move || {
                LinuxOptics::open(&topology, &settings.ports, settings.poll_interval)
            })
            .await
            .expect("opening the optical modules does not panic")
            .map_err(StartError::LinuxOptics)?;
            Ok(Arc::new(plant))
        }
    }
}

/// The history's files, under the state directory.
pub const HISTORY_DIR: &str = "history";

/// A started daemon: listening, inventory published, ready to serve.
#[derive(Debug)]
pub struct Daemon {
    listener: TcpListener,
    state: AppState,
    drain: tokio::sync::watch::Sender<bool>,
    tls: Option<Arc<TlsState>>,
    /// memqosd's fd hand-off socket, served alongside HTTPS where memqosd
    /// runs.
    ffm_socket: Option<tokio::net::UnixListener>,
    /// The swtpm process behind measured boot, if corridord started one.
    _platform_tpm: Option<platform_tpm::PlatformTpmProcess>,
    /// attestd attests only on request (`--attest-on-request`).
    attest_on_request: bool,
    /// Whether this replica leads each daemon's cluster-wide work (always,
    /// on the embedded store).
    elections: Vec<Election>,
    pub local_addr: SocketAddr,
}

impl Daemon {
    /// The services, for tests that need to drive them directly.
    pub fn plane(&self) -> &Arc<ControlPlane> {
        &self.state.plane
    }

    /// The TLS state, for reloading certificates (SIGHUP); `None` under
    /// `--insecure-dev`.
    pub fn tls(&self) -> Option<Arc<TlsState>> {
        self.tls.clone()
    }

    /// `https://addr`, or `http://addr` under `--insecure-dev`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Opens the store, loads the twin, publishes the inventory and binds
    /// the listener. Serving starts with [`Daemon::serve`].
    pub async fn start(config: &Config) -> Result<Daemon, StartError> {
        create_state_dir(&config.state_dir)?;
        let tls = if config.insecure_dev {
            tracing::warn!(
                "--insecure-dev: serving plain HTTP with NO authentication; every caller is admin. \
                 Never use this beyond a developer's own machine."
            );
            None
        } else {
            let files = match &config.tls {
                Some(files) => files.clone(),
                None => {
                    let report = corridor_pki::ensure(&config.state_dir, &config.security_domains)
                        .map_err(StartError::Pki)?;
                    if !report.created.is_empty() {
                        // Paths only: key material never reaches a log.
                        tracing::info!(files = ?report.created, "local PKI: created");
                    }
                    TlsFiles::local_pki(&config.state_dir)
                }
            };
            Some(Arc::new(TlsState::load(files).map_err(StartError::Tls)?))
        };
        let backend = open_store(config).await?;
        let metrics = Metrics::new();
        if matches!(config.store, StoreBackend::Embedded) {
            metrics.watch_store_file(config.state_dir.join(STORE_FILE));
        }
        // Writes the leader's singleton work makes carry its fencing token.
        let store: Arc<dyn StateStore> = Arc::new(FencingStore::new(Arc::new(MeteredStore::new(
            backend,
            Arc::clone(&metrics),
        ))));

        let topology = match &config.topology {
            Some(path) => Topology::load(path).map_err(StartError::Topology)?,
            None => Topology::default_twin(),
        };
        let time_scale = config.time_scale.unwrap_or(topology.twin().time_scale);
        // The plant's simulated time starts at the wall clock so its ambient
        // profile follows the time of day; the topology's start_time is for
        // reproducible runs. Metadata and leases read the wall clock itself.
        let plant_clock: Arc<dyn Clock> =
            Arc::new(ScaledClock::new(chrono::Utc::now(), time_scale).map_err(StartError::Clock)?);
        let clocks = Clocks::new(Arc::new(WallClock), plant_clock);
        let daemons = config.daemons.clone();
        // The TPM first: memqosd seals and unseals domain keys with it, and
        // the twin's boot must be measured before anything unseals. It is
        // attestd's seam (measured boot); memqosd uses the same host TPM
        // only to seal, so a process of neither opens none.
        let uses_tpm = daemons.runs(RfcDaemon::Attestd) || daemons.runs(RfcDaemon::Memqosd);
        let opened_tpm = if !uses_tpm {
            None
        } else {
            let (kind, state_dir) = (config.tpm, config.state_dir.clone());
            tokio::task::spawn_blocking(move || platform_tpm::open(kind, &state_dir))
                .await
                .expect("opening the TPM does not panic")
                .map_err(StartError::PlatformTpm)?
        };
        let ffm = config
            .ffm_config()
            .with_protection(config.at_rest_protection(opened_tpm.as_ref().map(|o| o.tpm())));
        // The fd hand-off socket is memqosd's: bundles' memory lives in the
        // process that made it.
        let ffm_socket = if daemons.runs(RfcDaemon::Memqosd) {
            Some(
                corridor_services::ffm::handoff::bind(&ffm.socket_path).map_err(|source| {
                    StartError::FfmSocket {
                        path: ffm.socket_path.clone(),
                        source,
                    }
                })?,
            )
        } else {
            None
        };
        let topology = Arc::new(topology);
        // The optical plant is corrd's: another process plans over the
        // twin's capabilities and opens no module.
        let optics: Arc<dyn OpticalPlant> = if daemons.runs(RfcDaemon::Corrd) {
            open_optics(config, &topology).await?
        } else {
            Arc::new(TwinOptics::new(&topology).map_err(StartError::TwinOptics)?)
        };
        tracing::info!(
            backend = optics.backend(),
            ports = optics.inventory().len(),
            "optical plant"
        );
        let signer =
            ticket_keys::load_or_create(&config.state_dir).map_err(StartError::TicketKeys)?;
        let plane = ControlPlane::start_daemons(
            store,
            topology,
            clocks,
            ffm,
            optics,
            signer,
            daemons.clone(),
        )
        .await
        .map_err(StartError::Services)?;
        plane.compat.configure(config.compat_config());
        plane.heliopass.configure(config.heliopass.clone());
        plane
            .history
            .configure(&config.state_dir.join(HISTORY_DIR), config.history)
            .map_err(StartError::History)?;
        let platform_tpm = match opened_tpm {
            None => None,
            // memqosd without attestd: the TPM seals keys only; measured
            // boot is attestd's to enrol.
            Some(opened) if !daemons.runs(RfcDaemon::Attestd) => Some(opened.process),
            Some(opened) => {
                let host = plane.ffm.default_host().to_owned();
                // The attestation key's first use is blocking TPM work.
                let (platform, process) = tokio::task::spawn_blocking(move || opened.enrol(&host))
                    .await
                    .expect("enrolling the TPM does not panic")
                    .map_err(StartError::PlatformTpm)?;
                tracing::info!(
                    host = %platform.host,
                    transport = %platform.tpm.transport(),
                    origin = platform.origin.as_str(),
                    "platform TPM enrolled for measured boot"
                );
                plane.attestation.attach_platform(platform);
                Some(process)
            }
        };

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
        let audit =
            audit::AuditLog::open(&config.state_dir, config.audit).map_err(StartError::Audit)?;
        // Before anything is served: records the store recovered from its
        // log are written now.
        audit
            .attach(plane.store.as_ref())
            .await
            .map_err(StartError::Audit)?;
        let elections = match config.store {
            // One process has the file: it runs every daemon and leads.
            StoreBackend::Embedded => vec![Election {
                daemons: daemons.iter().collect(),
                leadership: Leadership::sole(),
            }],
            // Each daemon with work one replica does for the cluster has
            // its own election, so a corrd process and a fabmand process
            // each lead their own work.
            StoreBackend::Etcd { .. } => daemons
                .iter()
                .filter_map(|daemon| {
                    let key = leadership::leader_key(daemon)?;
                    Some(Election {
                        daemons: vec![daemon],
                        leadership: Leadership::campaign_for(
                            key,
                            Arc::clone(&plane.store),
                            format!(
                                "{} pid {} serving {}",
                                plane.ffm.default_host(),
                                std::process::id(),
                                local_addr
                            ),
                            DEFAULT_LEADER_TTL,
                        ),
                    })
                })
                .collect(),
        };
        // corrd's leader drives the optical plant: grants through other
        // replicas are written dark and lit by the leader's reconciler. The
        // embedded store has one process, which drives it alone (nothing
        // attached), and its reconciler follows no other replica's grants.
        // (A process without corrd follows for ever: see
        // `CorridorService::start_without_plant`.)
        if matches!(config.store, StoreBackend::Etcd { .. })
            && let Some(corrd) = elections
                .iter()
                .find(|election| election.daemons.contains(&RfcDaemon::Corrd))
        {
            plane
                .corridors
                .attach_leadership(corrd.leadership.subscribe());
        }
        let (drain, draining) = tokio::sync::watch::channel(false);
        let contract = http::contract::Contract::from_document(http::openapi::model())
            .map_err(StartError::Contract)?;
        let state = AppState::new(http::SharedState {
            contract: Arc::new(contract),
            audit,
            plane: Arc::new(plane),
            metrics,
            ready: Arc::new(AtomicBool::new(false)),
            draining,
            labs_dir: corridor_services::labs::library::reports_dir(&config.state_dir),
        });
        Ok(Daemon {
            listener,
            state,
            drain,
            tls,
            ffm_socket,
            _platform_tpm: platform_tpm,
            attest_on_request: config.attest_on_request,
            elections,
            local_addr,
        })
    }

    /// Serves on a background task until [`Background::stop`]; for tests
    /// and for embedding corridord in another program.
    pub fn spawn(self) -> Background {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(async move {
            let _ = stopped.await;
        }));
        Background {
            stop: Some(stop),
            task,
        }
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let app = http::router(self.state.clone());
        // Corridor history: samples of what corrd reads back, every
        // version of every corridor, pruned to the retention. First, so
        // that its failure to start leaves no other task running.
        // It samples corrd's plant, so it runs where corrd does.
        let history = if self.state.plane.daemons.runs(RfcDaemon::Corrd) {
            self.state
                .plane
                .history
                .spawn()
                .await
                .map_err(StartError::History)?
        } else {
            None
        };
        // The work one replica does for the cluster, while this one leads.
        let singletons: Vec<_> = self
            .elections
            .iter()
            .map(|election| {
                tokio::spawn(singletons::supervise(
                    Arc::clone(&self.state.plane),
                    self.attest_on_request,
                    election.daemons.clone(),
                    election.leadership.subscribe(),
                    self.drain.subscribe(),
                    Arc::clone(&self.state.metrics),
                ))
            })
            .collect();
        self.state.ready.store(true, Ordering::Release);
        tracing::info!(
            addr = %self.local_addr,
            tls = self.tls.is_some(),
            "corridord listening"
        );
        let notifier = systemd::Notifier::from_env();
        notifier.ready(&format!("serving on {}", self.local_addr));
        let watchdog = notifier.spawn_watchdog(Arc::clone(&self.state.plane.store));
        if let Some(ffm_socket) = self.ffm_socket {
            let mut stop_handoff = self.drain.subscribe();
            tokio::spawn(corridor_services::ffm::handoff::serve(
                ffm_socket,
                Arc::clone(&self.state.plane.ffm),
                async move {
                    let _ = stop_handoff.wait_for(|draining| *draining).await;
                },
            ));
        }
        let drain = self.drain;
        let ready = Arc::clone(&self.state.ready);
        let shutdown = async move {
            shutdown.await;
            notifier.stopping();
            // Not ready any more: load balancers stop sending new work
            // while in-flight requests finish and watches are closed.
            ready.store(false, Ordering::Release);
            let _ = drain.send(true);
        };
        let served = serve::serve(self.listener, self.tls, app, shutdown).await;
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        if let Some(history) = history {
            history.stop().await;
        }
        // Draining stopped the singleton work; the next replica need not
        // wait for the lease to lapse.
        for work in singletons {
            let _ = work.await;
        }
        for election in self.elections {
            election.leadership.resign().await;
        }
        // The inventory re-reads on every attestation; its task must not
        // keep the store open after the daemon stops.
        self.state.plane.inventory.stop().await;
        // The lines of the last requests may still be deferred.
        self.state.audit.flush().await;
        served.map_err(StartError::Serve)?;
        self.state.ready.store(false, Ordering::Release);
        Ok(())
    }
}

/// One election this process stands in, and the daemons whose
/// cluster-wide work its win starts.
#[derive(Debug)]
struct Election {
    daemons: Vec<RfcDaemon>,
    leadership: Leadership,
}

/// The configured state store: redb in the state directory, or etcd.
async fn open_store(config: &Config) -> Result<Arc<dyn StateStore>, StartError> {
    match &config.store {
        StoreBackend::Embedded => {
            let path = config.state_dir.join(STORE_FILE);
            let redb = RedbStore::open(&path, RedbOptions::default())
                .map_err(|source| StartError::Store { path, source })?;
            Ok(Arc::new(redb))
        }
        StoreBackend::Etcd { endpoints, tls } => {
            let mut options = EtcdOptions::new(endpoints.iter().cloned());
            options.tls = tls.clone();
            let etcd = EtcdStore::connect(options)
                .await
                .map_err(|source| StartError::Etcd {
                    endpoints: endpoints.join(","),
                    source,
                })?;
            tracing::info!(endpoints = %endpoints.join(","), "state store: etcd");
            Ok(Arc::new(etcd))
        }
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

/// Reloads the TLS files on every SIGHUP, for as long as the process runs.
/// A reload that fails keeps the previous configuration and logs why.
pub fn reload_on_sighup(tls: Arc<TlsState>) -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificates, CA and CRL reloaded"),
                Err(error) => tracing::error!(
                    error = %corridor_services::error::error_chain(&error),
                    "SIGHUP: TLS reload failed; keeping the previous configuration"
                ),
            }
        }
    });
    Ok(())
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

/// A daemon serving on a background task (see [`Daemon::spawn`]).
#[derive(Debug)]
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Background {
    /// Drains and stops the server as SIGTERM would, and waits for it.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("the serving task does not panic")
    }
}

//! Configuration: built-in defaults, then `/etc/corridoros/corridord.toml`
//! (or `--config`), then `CORRIDOR_*` environment variables and flags.
//!
//! Clap resolves flag-over-environment; this module lays the file under
//! both, so each setting has exactly one winner and the order is easy to
//! explain in `--help`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use corridor_model::ffm::LatencyClass;
use corridor_services::daemons::{DaemonNameError, Daemons, RfcDaemon};
use serde::Deserialize;

use crate::tls::TlsFiles;

/// The system-wide configuration file, read when it exists.
pub const SYSTEM_CONFIG: &str = "/etc/corridoros/corridord.toml";

/// The file `corridord <daemon>` reads: `/etc/corridoros/<daemon>.conf`
/// (the same keys as corridord.toml; `make install` lays out one per
/// daemon, holding that daemon's settings).
pub fn daemon_config_path(daemon: RfcDaemon) -> PathBuf {
    Path::new(SYSTEM_CONFIG).with_file_name(format!("{}.conf", daemon.name()))
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// Settings that may come from flags or the environment. Every field is
/// optional so that "not given" can fall back to the file.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// Configuration file [default: /etc/corridoros/corridord.toml if present;
    /// /etc/corridoros/<daemon>.conf for `corridord <daemon>`]
    #[arg(long, env = "CORRIDOR_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Run only these RFC daemons in this process, e.g. `corrd,memqosd`
    /// (heliopassd runs in corrd's); needs the etcd store [default: all]
    #[arg(long, env = "CORRIDOR_ONLY", value_delimiter = ',', global = true)]
    pub only: Vec<RfcDaemon>,

    /// Address to listen on [default: 127.0.0.1:7070]
    #[arg(long, env = "CORRIDOR_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,

    /// Directory for the store and generated files
    /// [default: $XDG_STATE_HOME/corridoros or ~/.local/state/corridoros]
    #[arg(long, env = "CORRIDOR_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,

    /// Digital-twin topology file [default: the embedded rack]
    #[arg(long, env = "CORRIDOR_TOPOLOGY", global = true)]
    pub topology: Option<PathBuf>,

    /// Simulated seconds per real second [default: the topology's, else 1]
    #[arg(long, env = "CORRIDOR_TIME_SCALE", global = true)]
    pub time_scale: Option<f64>,

    /// Log format [default: json]
    #[arg(long, env = "CORRIDOR_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `corridor_services=debug` [default: info]
    #[arg(long = "log", env = "CORRIDOR_LOG", global = true)]
    pub log_filter: Option<String>,

    /// OTLP/HTTP endpoint traces are sent to, e.g.
    /// http://127.0.0.1:4318/v1/traces [default: no tracing export]
    #[arg(long, env = "CORRIDOR_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// Serve plain HTTP without authentication (every caller is admin).
    /// For a developer's own machine only; logs a warning at start.
    #[arg(long, env = "CORRIDOR_INSECURE_DEV", global = true)]
    pub insecure_dev: bool,

    /// Security domains that get a client certificate in the local PKI
    /// (repeat, or comma-separated) [default: none]
    #[arg(
        long = "security-domain",
        env = "CORRIDOR_SECURITY_DOMAINS",
        value_delimiter = ',',
        global = true
    )]
    pub security_domains: Vec<String>,

    /// Server certificate chain (PEM) of a brought-in PKI; with --tls-key
    /// and --tls-client-ca. Without it the local PKI in the state directory
    /// is created and used.
    #[arg(long, env = "CORRIDOR_TLS_CERT", global = true)]
    pub tls_cert: Option<PathBuf>,

    /// Server private key (PEM) of a brought-in PKI
    #[arg(long, env = "CORRIDOR_TLS_KEY", global = true)]
    pub tls_key: Option<PathBuf>,

    /// CA bundle (PEM) client certificates must chain to, for a brought-in PKI
    #[arg(long, env = "CORRIDOR_TLS_CLIENT_CA", global = true)]
    pub tls_client_ca: Option<PathBuf>,

    /// CRL (PEM) of revoked client certificates, for a brought-in PKI
    #[arg(long, env = "CORRIDOR_TLS_CRL", global = true)]
    pub tls_crl: Option<PathBuf>,

    /// Keep state in this etcd cluster instead of the embedded store
    /// (client URLs; repeat, or comma-separated) [default: embedded redb]
    #[arg(
        long = "etcd-endpoint",
        env = "CORRIDOR_ETCD_ENDPOINTS",
        value_delimiter = ',',
        global = true
    )]
    pub etcd_endpoints: Vec<String>,

    /// CA bundle (PEM) that signed the etcd servers' certificates
    /// (with https:// endpoints)
    #[arg(long, env = "CORRIDOR_ETCD_CA", global = true)]
    pub etcd_ca: Option<PathBuf>,

    /// Client certificate (PEM) for etcd's --client-cert-auth; with --etcd-key
    #[arg(long, env = "CORRIDOR_ETCD_CERT", global = true)]
    pub etcd_cert: Option<PathBuf>,

    /// Client private key (PEM) for etcd
    #[arg(long, env = "CORRIDOR_ETCD_KEY", global = true)]
    pub etcd_key: Option<PathBuf>,
    /// memqosd's fd hand-off Unix socket [default: <state_dir>/ffm.sock]
    #[arg(long, env = "CORRIDOR_FFM_SOCKET", global = true)]
    pub ffm_socket: Option<PathBuf>,

    /// Where memqosd finds memory tiers [default: twin]
    #[arg(long, env = "CORRIDOR_MEMORY_PROVIDER", global = true)]
    pub memory_provider: Option<MemoryProviderKind>,

    /// A host whose memory bundles this corridord's memqosd allocates (repeat, or
    /// comma-separated; the first is the default host). In a cluster each replica serves
    /// its own [default: `[ffm] hosts`, else every known host]
    #[arg(
        long = "ffm-host",
        env = "CORRIDOR_FFM_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub ffm_hosts: Vec<String>,

    /// A latency class (T0..T3) whose new bundles memqosd makes of 2 MiB pages from the
    /// kernel's hugetlb pool, reserved at allocation (repeat, or comma-separated)
    /// [default: `[ffm] hugetlb_classes`, else none]
    #[arg(
        long = "ffm-hugetlb-class",
        env = "CORRIDOR_FFM_HUGETLB_CLASSES",
        value_delimiter = ',',
        value_parser = parse_latency_class,
        global = true
    )]
    pub ffm_hugetlb_classes: Vec<LatencyClass>,

    /// A directory whose programs compatd may launch (repeatable; none by
    /// default, so nothing can be launched until an operator names one)
    #[arg(
        long = "compat-root",
        env = "CORRIDOR_COMPAT_ROOTS",
        value_delimiter = ',',
        global = true
    )]
    pub compat_roots: Vec<PathBuf>,

    /// corrd's optical ports: the twin's, or real CMIS modules through the
    /// device paths under [optics.ports] in the configuration file
    /// [default: twin]
    #[arg(long, env = "CORRIDOR_OPTICS", global = true)]
    pub optics: Option<OpticsBackendKind>,

    /// This host's TPM for measured boot: none, a software TPM corridord
    /// starts (the twin's modelled boot), or the kernel's /dev/tpmrm0 with
    /// the firmware's event log [default: none]
    #[arg(long, env = "CORRIDOR_TPM", global = true)]
    pub tpm: Option<TpmKind>,

    /// Keep persistent memory bundles in plaintext files: the operator's
    /// explicit opt-out of encryption at rest (without it they are
    /// encrypted with a TPM-sealed key per security domain, or refused)
    #[arg(long, env = "CORRIDOR_PLAINTEXT_PERSISTENCE", global = true)]
    pub plaintext_persistence: bool,

    /// Attest devices only when asked (POST /v1/attest/device): no
    /// attestation of every device at start, no renewal before tickets
    /// expire; attestation_required corridors wait for an operator
    #[arg(long, env = "CORRIDOR_ATTEST_ON_REQUEST", global = true)]
    pub attest_on_request: bool,

    /// heliopassd's ring-tracker control rate in simulated time, Hz
    /// (default 1000)
    #[arg(long, env = "CORRIDOR_HELIOPASS_CONTROL_HZ", global = true)]
    pub heliopass_control_hz: Option<f64>,

    /// Do not run heliopassd's tracking loop (rings then drift with the
    /// ambient: for demonstrations and tests only)
    #[arg(long, env = "CORRIDOR_NO_RING_TRACKING", global = true)]
    pub no_ring_tracking: bool,

    /// Wall-clock seconds between two history samples of a lit corridor
    /// (0.05 to 3600) [default: 10]
    #[arg(long, env = "CORRIDOR_HISTORY_INTERVAL_S", global = true)]
    pub history_interval_s: Option<f64>,

    /// Seconds corridor history (telemetry samples and object changes) is
    /// kept, at least the interval and at most 366 days
    /// [default: 604800, 7 days]
    #[arg(long, env = "CORRIDOR_HISTORY_RETENTION_S", global = true)]
    pub history_retention_s: Option<f64>,
}

/// The TPM attestd quotes for `GET /v1/attest/measured-boot/{host}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum TpmKind {
    /// No TPM: measured boot answers 404.
    #[default]
    None,
    /// swtpm, started by corridord with its state under `<state_dir>/tpm`,
    /// into which the twin's modelled boot is extended.
    Swtpm,
    /// The kernel's TPM (`/dev/tpmrm0`) and firmware event log.
    Device,
}

/// corrd's optical plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum OpticsBackendKind {
    /// The twin topology's simulated modules, fed by the physics model.
    #[default]
    Twin,
    /// Real modules: one optoe `eeprom` file or `/dev/i2c-N` per topology
    /// optical port.
    Linux,
}

/// Status-poll interval of real modules when the file does not set one.
pub const DEFAULT_OPTICS_POLL: Duration = Duration::from_millis(10);

/// corrd's optical settings (`[optics]` in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpticsSettings {
    pub backend: OpticsBackendKind,
    /// Topology port id → the module's CMIS map (optoe `eeprom` file or
    /// `/dev/i2c-N`); used by the linux backend.
    pub ports: BTreeMap<String, PathBuf>,
    /// Sleep between two status polls of a real module.
    pub poll_interval: Duration,
}

impl Default for OpticsSettings {
    fn default() -> Self {
        OpticsSettings {
            backend: OpticsBackendKind::Twin,
            ports: BTreeMap::new(),
            poll_interval: DEFAULT_OPTICS_POLL,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOptics {
    backend: Option<OpticsBackendKind>,
    poll_interval_ms: Option<u64>,
    #[serde(default)]
    ports: BTreeMap<String, PathBuf>,
}

/// memqosd's source of memory devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum MemoryProviderKind {
    /// The twin topology's host memory and CXL devices.
    #[default]
    Twin,
    /// This host's NUMA nodes, HMAT and CXL objects from /sys.
    Linux,
}

/// compatd settings (`[compat]` in the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompatSettings {
    /// Directories whose programs may be launched.
    pub allowed_roots: Vec<PathBuf>,
    /// uid and gid launched programs run as when corridord is root
    /// (default 65534, nobody).
    pub run_as: Option<(u32, u32)>,
    /// Parent of each process's working directory (default
    /// `<temp dir>/corridor-compat`; never inside the state directory).
    pub work_dir: Option<PathBuf>,
    /// Whether QEMU's dynamic build runs programs with compatd's TCG
    /// plugin counting guest instructions (default on).
    pub count_instructions: Option<bool>,
    /// Whether profiles may be registered in the host's own binfmt_misc
    /// table through the API (default off).
    pub binfmt_system_wide: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCompat {
    #[serde(default)]
    allowed_roots: Vec<PathBuf>,
    run_as_uid: Option<u32>,
    run_as_gid: Option<u32>,
    work_dir: Option<PathBuf>,
    count_instructions: Option<bool>,
    binfmt_system_wide: Option<bool>,
}

/// memqosd settings (`[ffm]` in the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FfmSettings {
    /// Hand-off socket; `None` = `<state_dir>/ffm.sock`.
    pub socket: Option<PathBuf>,
    /// Persistent bundles' files; `None` = `<state_dir>/ffm-memory`.
    pub memory_dir: Option<PathBuf>,
    pub provider: MemoryProviderKind,
    /// Host of bundles whose request names none; `None` = the topology's
    /// first host (twin) or this machine (linux provider).
    pub default_host: Option<String>,
    /// Hosts whose bundles this corridord's memqosd allocates (`[ffm] hosts`); `None` =
    /// every known host. In a cluster each replica serves its own host(s).
    pub serve_hosts: Option<Vec<String>>,
    /// Latency classes whose new bundles are made of hugetlb pages (`[ffm] hugetlb_classes`).
    pub hugetlb_classes: Vec<LatencyClass>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFfm {
    socket: Option<PathBuf>,
    memory_dir: Option<PathBuf>,
    provider: Option<MemoryProviderKind>,
    default_host: Option<String>,
    hosts: Option<Vec<String>>,
    #[serde(default)]
    hugetlb_classes: Vec<LatencyClass>,
}

/// `T0`..`T3`, as the API spells a latency class.
fn parse_latency_class(text: &str) -> Result<LatencyClass, String> {
    LatencyClass::ALL
        .into_iter()
        .find(|c| format!("{c:?}") == text)
        .ok_or_else(|| format!("{text:?} is not a latency class (T0, T1, T2 or T3)"))
}

/// The configuration file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// The RFC daemons this process runs (`--only`).
    daemons: Option<Vec<String>>,
    listen: Option<SocketAddr>,
    state_dir: Option<PathBuf>,
    topology: Option<PathBuf>,
    time_scale: Option<f64>,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    insecure_dev: bool,
    #[serde(default)]
    security_domains: Vec<String>,
    #[serde(default)]
    tls: FileTls,
    #[serde(default)]
    audit: FileAudit,
    #[serde(default)]
    ffm: FileFfm,
    #[serde(default)]
    compat: FileCompat,
    #[serde(default)]
    optics: FileOptics,
    #[serde(default)]
    store: FileStore,
    tpm: Option<TpmKind>,
    #[serde(default)]
    plaintext_persistence: bool,
    #[serde(default)]
    attest_on_request: bool,
    heliopass_control_hz: Option<f64>,
    #[serde(default)]
    no_ring_tracking: bool,
    #[serde(default)]
    history: FileHistory,
}

/// `heliopassd.conf`: the calibration settings the RFC gives heliopassd
/// a file of its own for. heliopassd runs in corrd's process, which reads
/// it beside `corrd.conf`; it holds these keys only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeliopassFile {
    heliopass_control_hz: Option<f64>,
    no_ring_tracking: Option<bool>,
}

/// The name of heliopassd's file, beside corrd's.
pub const HELIOPASSD_CONFIG: &str = "heliopassd.conf";

/// Reads `heliopassd.conf` beside `source` when `source` is corrd's file
/// (`corrd.conf`) and heliopassd's exists; its keys then stand for the
/// same keys of corrd's file.
fn heliopass_file(source: Option<&Path>) -> Result<Option<(PathBuf, HeliopassFile)>, ConfigError> {
    let Some(source) = source else {
        return Ok(None);
    };
    if source.file_name() != Some(std::ffi::OsStr::new("corrd.conf")) {
        return Ok(None);
    }
    let path = source.with_file_name(HELIOPASSD_CONFIG);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let file = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.clone(),
        source,
    })?;
    Ok(Some((path, file)))
}

/// `[history]` in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHistory {
    interval_s: Option<f64>,
    retention_s: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    #[serde(default)]
    etcd_endpoints: Vec<String>,
    etcd_ca: Option<PathBuf>,
    etcd_cert: Option<PathBuf>,
    etcd_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    crl: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAudit {
    max_bytes: Option<u64>,
    keep: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    format: Option<LogFormat>,
    filter: Option<String>,
    otlp_endpoint: Option<String>,
}

/// Where corridord keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// redb in the state directory: one machine.
    Embedded,
    /// An etcd cluster: several corridords share one state.
    Etcd {
        endpoints: Vec<String>,
        /// TLS to etcd (mutual when it carries a client identity).
        tls: Option<corridor_store::EtcdTls>,
    },
}
#[derive(Debug, Clone)]
pub struct Config {
    /// The RFC daemons this process runs (every one by default).
    pub daemons: Daemons,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub topology: Option<PathBuf>,
    pub time_scale: Option<f64>,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Where traces go over OTLP/HTTP (JSON); `None`: nowhere.
    pub otlp_endpoint: Option<String>,
    /// The file the settings came from, if any, for the startup log.
    pub source: Option<PathBuf>,
    /// Plain HTTP, no authentication.
    pub insecure_dev: bool,
    /// Domains that get a client certificate in the local PKI.
    pub security_domains: Vec<String>,
    /// Brought-in TLS files; `None` means the local PKI.
    pub tls: Option<TlsFiles>,
    /// Audit log rotation.
    pub audit: AuditSettings,
    pub store: StoreBackend,
    /// memqosd.
    pub ffm: FfmSettings,
    /// compatd.
    pub compat: CompatSettings,
    /// corrd's optical plant.
    pub optics: OpticsSettings,
    /// attestd's platform TPM.
    pub tpm: TpmKind,
    /// Persistent bundles in plaintext (the operator's explicit opt-out).
    pub plaintext_persistence: bool,
    /// attestd attests only on request (no loop at start and renewal).
    pub attest_on_request: bool,
    /// heliopassd's tracker control rate (simulated time) and whether its
    /// loop runs.
    pub heliopass: corridor_services::heliopass::HelioSettings,
    /// How often corridors' telemetry is sampled into the history and how
    /// long history is kept.
    pub history: corridor_services::history::HistorySettings,
}

/// When `audit.log` is rotated and how many old files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    pub max_bytes: u64,
    pub keep: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            max_bytes: 64 * 1024 * 1024,
            keep: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("`daemons` in the configuration file")]
    Daemon(#[source] DaemonNameError),
    #[error("`daemons` in the configuration file names no daemon; leave it out to run all")]
    NoDaemons,
    #[error(
        "running only {daemons} needs the etcd store (--etcd-endpoint or [store] etcd_endpoints): \
         the embedded store has one owner process, so the other daemons could not share its state"
    )]
    SplitNeedsEtcd { daemons: String },
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration file {path} is invalid")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("time_scale must be a positive finite number, got {0}")]
    TimeScale(f64),
    #[error("no state directory given and neither XDG_STATE_HOME nor HOME is set")]
    NoStateDir,
    #[error("{0:?} is not a valid security domain (1-63 of A-Z a-z 0-9 _ -)")]
    SecurityDomain(String),
    #[error("a brought-in PKI needs tls cert, key and client_ca together; missing {0}")]
    PartialTls(&'static str),
    #[error("etcd endpoint {0:?} is not an http:// or https:// URL")]
    EtcdEndpoint(String),
    #[error("TLS to etcd needs etcd_ca, and etcd_cert with etcd_key; missing {0}")]
    PartialEtcdTls(&'static str),
    #[error(
        "the linux optics backend needs the CMIS device of every topology optical port under [optics.ports] in the configuration file; none is given"
    )]
    NoOpticsDevices,
    #[error(
        "heliopass_control_hz {0} is outside 1..=100000 Hz (the tracker's period must be a positive number of microseconds a ring heater can follow)"
    )]
    HeliopassControlHz(f64),
    #[error("[optics] poll_interval_ms must be 1 or more")]
    OpticsPoll,
    #[error("history interval_s {0} is outside 0.05..=3600 s")]
    HistoryInterval(f64),
    #[error(
        "history retention_s {retention} is outside {interval}..=31622400 s (at least one interval, at most 366 days)"
    )]
    HistoryRetention { retention: f64, interval: f64 },
}

impl Config {
    pub fn resolve(overrides: &Overrides) -> Result<Config, ConfigError> {
        let (file, source) = match &overrides.config {
            Some(path) => (read_file(path)?, Some(path.clone())),
            None if Path::new(SYSTEM_CONFIG).exists() => (
                read_file(Path::new(SYSTEM_CONFIG))?,
                Some(PathBuf::from(SYSTEM_CONFIG)),
            ),
            None => (FileConfig::default(), None),
        };
        let mut file = file;
        if let Some((_, heliopass)) = heliopass_file(source.as_deref())? {
            if heliopass.heliopass_control_hz.is_some() {
                file.heliopass_control_hz = heliopass.heliopass_control_hz;
            }
            if let Some(untracked) = heliopass.no_ring_tracking {
                file.no_ring_tracking = untracked;
            }
        }
        let state_dir = match overrides.state_dir.clone().or(file.state_dir) {
            Some(dir) => dir,
            None => default_state_dir()?,
        };
        let time_scale = overrides.time_scale.or(file.time_scale);
        if let Some(scale) = time_scale
            && !(scale.is_finite() && scale > 0.0)
        {
            return Err(ConfigError::TimeScale(scale));
        }
        let security_domains = if overrides.security_domains.is_empty() {
            file.security_domains
        } else {
            overrides.security_domains.clone()
        };
        if let Some(bad) = security_domains
            .iter()
            .find(|d| !corridor_pki::principal::valid_domain(d))
        {
            return Err(ConfigError::SecurityDomain(bad.clone()));
        }
        let cert = overrides.tls_cert.clone().or(file.tls.cert);
        let key = overrides.tls_key.clone().or(file.tls.key);
        let client_ca = overrides.tls_client_ca.clone().or(file.tls.client_ca);
        let crl = overrides.tls_crl.clone().or(file.tls.crl);
        let tls = match (cert, key, client_ca) {
            (None, None, None) => None,
            (Some(cert), Some(key), Some(client_ca)) => Some(TlsFiles {
                cert,
                key,
                client_ca,
                crl,
            }),
            (None, _, _) => return Err(ConfigError::PartialTls("cert")),
            (_, None, _) => return Err(ConfigError::PartialTls("key")),
            (_, _, None) => return Err(ConfigError::PartialTls("client_ca")),
        };
        let defaults = AuditSettings::default();
        let audit = AuditSettings {
            max_bytes: file.audit.max_bytes.unwrap_or(defaults.max_bytes).max(4096),
            keep: file.audit.keep.unwrap_or(defaults.keep).max(1),
        };
        let etcd_endpoints = if overrides.etcd_endpoints.is_empty() {
            file.store.etcd_endpoints
        } else {
            overrides.etcd_endpoints.clone()
        };
        if let Some(bad) = etcd_endpoints
            .iter()
            .find(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            return Err(ConfigError::EtcdEndpoint(bad.clone()));
        }
        let etcd_ca = overrides.etcd_ca.clone().or(file.store.etcd_ca);
        let etcd_cert = overrides.etcd_cert.clone().or(file.store.etcd_cert);
        let etcd_key = overrides.etcd_key.clone().or(file.store.etcd_key);
        let identity = match (etcd_cert, etcd_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, Some(_)) => return Err(ConfigError::PartialEtcdTls("etcd_cert")),
            (Some(_), None) => return Err(ConfigError::PartialEtcdTls("etcd_key")),
        };
        let etcd_tls = match (etcd_ca, identity) {
            (Some(ca), identity) => Some(corridor_store::EtcdTls { ca, identity }),
            (None, Some(_)) => return Err(ConfigError::PartialEtcdTls("etcd_ca")),
            (None, None) => None,
        };
        let store = if etcd_endpoints.is_empty() {
            StoreBackend::Embedded
        } else {
            StoreBackend::Etcd {
                endpoints: etcd_endpoints,
                tls: etcd_tls,
            }
        };
        let daemons = if !overrides.only.is_empty() {
            Daemons::only(overrides.only.iter().copied()).ok_or(ConfigError::NoDaemons)?
        } else if let Some(names) = &file.daemons {
            let parsed = names
                .iter()
                .map(|name| name.parse::<RfcDaemon>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(ConfigError::Daemon)?;
            Daemons::only(parsed).ok_or(ConfigError::NoDaemons)?
        } else {
            Daemons::all()
        };
        if !daemons.is_all() && matches!(store, StoreBackend::Embedded) {
            return Err(ConfigError::SplitNeedsEtcd {
                daemons: daemons.to_string(),
            });
        }
        let ffm = FfmSettings {
            socket: overrides.ffm_socket.clone().or(file.ffm.socket),
            memory_dir: file.ffm.memory_dir,
            provider: overrides
                .memory_provider
                .or(file.ffm.provider)
                .unwrap_or_default(),
            default_host: file.ffm.default_host,
            serve_hosts: if overrides.ffm_hosts.is_empty() {
                file.ffm.hosts
            } else {
                Some(overrides.ffm_hosts.clone())
            },
            hugetlb_classes: if overrides.ffm_hugetlb_classes.is_empty() {
                file.ffm.hugetlb_classes
            } else {
                overrides.ffm_hugetlb_classes.clone()
            },
        };
        let compat = CompatSettings {
            allowed_roots: if overrides.compat_roots.is_empty() {
                file.compat.allowed_roots
            } else {
                overrides.compat_roots.clone()
            },
            run_as: match (file.compat.run_as_uid, file.compat.run_as_gid) {
                (None, None) => None,
                (uid, gid) => Some((uid.or(gid).unwrap_or(65534), gid.or(uid).unwrap_or(65534))),
            },
            work_dir: file.compat.work_dir,
            count_instructions: file.compat.count_instructions,
            binfmt_system_wide: file.compat.binfmt_system_wide,
        };
        let optics = OpticsSettings {
            backend: overrides.optics.or(file.optics.backend).unwrap_or_default(),
            poll_interval: match file.optics.poll_interval_ms {
                Some(0) => return Err(ConfigError::OpticsPoll),
                Some(ms) => Duration::from_millis(ms),
                None => DEFAULT_OPTICS_POLL,
            },
            ports: file.optics.ports,
        };
        if optics.backend == OpticsBackendKind::Linux && optics.ports.is_empty() {
            return Err(ConfigError::NoOpticsDevices);
        }
        let history = history_settings(
            overrides.history_interval_s.or(file.history.interval_s),
            overrides.history_retention_s.or(file.history.retention_s),
        )?;
        Ok(Config {
            daemons,
            history,
            store,
            ffm,
            compat,
            optics,
            tpm: overrides.tpm.or(file.tpm).unwrap_or_default(),
            plaintext_persistence: overrides.plaintext_persistence || file.plaintext_persistence,
            attest_on_request: overrides.attest_on_request || file.attest_on_request,
            heliopass: {
                let hz = overrides
                    .heliopass_control_hz
                    .or(file.heliopass_control_hz)
                    .unwrap_or(1000.0);
                if !(hz.is_finite() && (1.0..=100_000.0).contains(&hz)) {
                    return Err(ConfigError::HeliopassControlHz(hz));
                }
                corridor_services::heliopass::HelioSettings {
                    control_hz: hz,
                    tracking: !(overrides.no_ring_tracking || file.no_ring_tracking),
                    ..Default::default()
                }
            },
            insecure_dev: overrides.insecure_dev || file.insecure_dev,
            security_domains,
            tls,
            audit,
            listen: overrides
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address")),
            state_dir,
            topology: overrides.topology.clone().or(file.topology),
            time_scale,
            log_format: overrides.log_format.or(file.log.format).unwrap_or_default(),
            log_filter: overrides
                .log_filter
                .clone()
                .or(file.log.filter)
                .unwrap_or_else(|| "info".to_string()),
            otlp_endpoint: overrides.otlp_endpoint.clone().or(file.log.otlp_endpoint),
            source,
        })
    }
}

/// The history's settings from the seconds given, checked: an interval
/// from 50 ms (faster than the reconciler's 1 s read-backs only repeats
/// them) to an hour, a retention from one interval to 366 days.
fn history_settings(
    interval_s: Option<f64>,
    retention_s: Option<f64>,
) -> Result<corridor_services::history::HistorySettings, ConfigError> {
    let defaults = corridor_services::history::HistorySettings::default();
    let interval = interval_s.unwrap_or(defaults.interval.as_secs_f64());
    if !(interval.is_finite() && (0.05..=3600.0).contains(&interval)) {
        return Err(ConfigError::HistoryInterval(interval));
    }
    let retention = retention_s.unwrap_or(defaults.retention.as_secs_f64());
    if !(retention.is_finite() && (interval..=31_622_400.0).contains(&retention)) {
        return Err(ConfigError::HistoryRetention {
            retention,
            interval,
        });
    }
    Ok(corridor_services::history::HistorySettings {
        interval: Duration::from_secs_f64(interval),
        retention: Duration::from_secs_f64(retention),
    })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// `$XDG_STATE_HOME/corridoros`, else `~/.local/state/corridoros`, per the
/// XDG base directory specification (shared with corridorctl).
pub fn default_state_dir() -> Result<PathBuf, ConfigError> {
    corridor_pki::default_state_dir().map_err(|_| ConfigError::NoStateDir)
}

impl Config {
    /// Defaults with the given state directory, listening on a free
    /// loopback port: what tests and benchmarks start.
    pub fn local(state_dir: &Path) -> Config {
        Config {
            daemons: Daemons::all(),
            listen: "127.0.0.1:0".parse().expect("valid address"),
            state_dir: state_dir.to_path_buf(),
            topology: None,
            time_scale: None,
            log_format: LogFormat::Json,
            log_filter: "warn".into(),
            otlp_endpoint: None,
            source: None,
            insecure_dev: false,
            security_domains: Vec::new(),
            tls: None,
            audit: AuditSettings::default(),
            store: StoreBackend::Embedded,
            ffm: FfmSettings::default(),
            compat: CompatSettings::default(),
            optics: OpticsSettings::default(),
            tpm: TpmKind::None,
            // Tests write persistent bundles in temporary directories on
            // filesystems without encryption; the encrypted path has its
            // own tests on an `-O encrypt` image.
            plaintext_persistence: true,
            attest_on_request: false,
            heliopass: corridor_services::heliopass::HelioSettings::default(),
            history: corridor_services::history::HistorySettings::default(),
        }
    }

    /// How memqosd keeps persistent bundles at rest: plaintext only when
    /// the operator opted out; else encrypted with keys sealed by `tpm` to
    /// PCR 0 (firmware) and PCR 7 (Secure Boot policy), as
    /// systemd-cryptenroll defaults to PCR 7 — a new kernel or corridord
    /// build does not lock the data out, a changed firmware or Secure Boot
    /// state does; refused when there is no TPM.
    pub fn at_rest_protection(
        &self,
        tpm: Option<std::sync::Arc<dyn corridor_hal::tpm::Tpm>>,
    ) -> corridor_services::ffm::Protection {
        use corridor_hal::tpm::{HashAlg, PcrSelection};
        use corridor_services::ffm::Protection;
        match (self.plaintext_persistence, tpm) {
            (true, _) => Protection::PlaintextOptOut,
            (false, Some(tpm)) => Protection::Fscrypt {
                tpm,
                pcrs: vec![PcrSelection::new(HashAlg::Sha256, &[0, 7])],
            },
            (false, None) => Protection::Unavailable {
                reason: "persistent bundles are kept encrypted with a key the TPM seals, and \
                         corridord has no TPM (start it with --tpm swtpm|device, or opt out \
                         of encryption at rest with --plaintext-persistence)"
                    .into(),
            },
        }
    }

    /// memqosd's configuration: directories default into the state dir.
    /// compatd's settings, with the state directory it must never touch.
    pub fn compat_config(&self) -> corridor_services::compat::CompatConfig {
        let mut compat = corridor_services::compat::CompatConfig {
            allowed_roots: self.compat.allowed_roots.clone(),
            state_dir: Some(self.state_dir.clone()),
            ..Default::default()
        };
        if let Some(run_as) = self.compat.run_as {
            compat.run_as = run_as;
        }
        if let Some(dir) = &self.compat.work_dir {
            compat.work_root = dir.clone();
        }
        if let Some(count) = self.compat.count_instructions {
            compat.count_instructions = count;
        }
        if let Some(system_wide) = self.compat.binfmt_system_wide {
            compat.binfmt_system_wide = system_wide;
        }
        compat
    }

    pub fn ffm_config(&self) -> corridor_services::ffm::FfmConfig {
        let mut ffm = corridor_services::ffm::FfmConfig::in_dir(&self.state_dir);
        if let Some(socket) = &self.ffm.socket {
            ffm.socket_path = socket.clone();
        }
        if let Some(dir) = &self.ffm.memory_dir {
            ffm.memory_dir = dir.clone();
        }
        ffm.default_host = self.ffm.default_host.clone();
        ffm.serve_hosts = self.ffm.serve_hosts.clone();
        ffm.hugetlb_classes = self.ffm.hugetlb_classes.clone();
        if self.ffm.provider == MemoryProviderKind::Linux {
            ffm.provider = Some(std::sync::Arc::new(corridor_hal::memory::SysfsMemory::new(
                "/sys",
            )));
        }
        ffm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("corridord.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The per-daemon files `make install` lays out, by daemon.
    const DAEMON_FILES: [(RfcDaemon, &str, &str); 5] = [
        (
            RfcDaemon::Corrd,
            "corrd.conf",
            include_str!("../../../deploy/daemons/corrd.conf"),
        ),
        (
            RfcDaemon::Memqosd,
            "memqosd.conf",
            include_str!("../../../deploy/daemons/memqosd.conf"),
        ),
        (
            RfcDaemon::Fabmand,
            "fabmand.conf",
            include_str!("../../../deploy/daemons/fabmand.conf"),
        ),
        (
            RfcDaemon::Attestd,
            "attestd.conf",
            include_str!("../../../deploy/daemons/attestd.conf"),
        ),
        (
            RfcDaemon::Compatd,
            "compatd.conf",
            include_str!("../../../deploy/daemons/compatd.conf"),
        ),
    ];

    #[test]
    fn each_shipped_daemon_file_runs_its_daemon_on_etcd_with_the_shared_pki() {
        let dir = tempfile::tempdir().unwrap();
        let mut ports = BTreeSet::new();
        for (daemon, name, text) in DAEMON_FILES {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert_eq!(daemon_config_path(daemon).file_name().unwrap(), name);
            let config = Config::resolve(&Overrides {
                config: Some(path),
                only: vec![daemon],
                ..Overrides::default()
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.daemons, Daemons::only([daemon]).unwrap());
            assert!(matches!(config.store, StoreBackend::Etcd { .. }), "{name}");
            assert_eq!(
                config.tls.as_ref().map(|tls| tls.client_ca.clone()),
                Some(PathBuf::from("/var/lib/corridoros/pki/ca.pem")),
                "{name}"
            );
            assert!(
                config.state_dir.ends_with(daemon.name()),
                "{name}: {}",
                config.state_dir.display()
            );
            assert!(ports.insert(config.listen.port()), "{name} reuses a port");
        }
    }

    #[test]
    fn heliopassd_conf_beside_corrd_conf_sets_calibration_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let corrd = dir.path().join("corrd.conf");
        std::fs::write(&corrd, DAEMON_FILES[0].2).unwrap();
        let shipped = include_str!("../../../deploy/daemons/heliopassd.conf");
        // Uncommented, the shipped keys are the ones this version reads.
        let uncommented: String = shipped
            .lines()
            .filter(|l| l.starts_with("# heliopass_control_hz") || l.starts_with("# no_ring"))
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let heliopassd = dir.path().join(HELIOPASSD_CONFIG);
        std::fs::write(&heliopassd, &uncommented).unwrap();
        let as_corrd = Overrides {
            config: Some(corrd.clone()),
            only: vec![RfcDaemon::Corrd],
            ..Overrides::default()
        };
        let config = Config::resolve(&as_corrd).unwrap();
        assert_eq!(config.heliopass.control_hz, 1000.0);
        std::fs::write(
            &heliopassd,
            "heliopass_control_hz = 250.0\nno_ring_tracking = true\n",
        )
        .unwrap();
        let config = Config::resolve(&as_corrd).unwrap();
        assert_eq!(config.heliopass.control_hz, 250.0);
        assert!(!config.heliopass.tracking);
        // A flag still overrides it.
        let flagged = Overrides {
            heliopass_control_hz: Some(500.0),
            ..as_corrd.clone()
        };
        assert_eq!(
            Config::resolve(&flagged).unwrap().heliopass.control_hz,
            500.0
        );
        // Only heliopassd's keys belong there.
        std::fs::write(&heliopassd, "listen = \"127.0.0.1:9\"\n").unwrap();
        assert!(matches!(
            Config::resolve(&as_corrd),
            Err(ConfigError::Parse { path, .. }) if path == heliopassd
        ));
    }

    #[test]
    fn a_subset_on_the_embedded_store_is_refused() {
        let refused = Config::resolve(&Overrides {
            state_dir: Some(PathBuf::from("/nonexistent")),
            only: vec![RfcDaemon::Corrd, RfcDaemon::Memqosd],
            ..Overrides::default()
        });
        assert!(
            matches!(&refused, Err(ConfigError::SplitNeedsEtcd { daemons }) if daemons == "corrd,memqosd"),
            "{refused:?}"
        );
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "listen = \"127.0.0.1:9000\"\nstate_dir = \"/srv/c\"\ntime_scale = 60.0\n[log]\nformat = \"text\"\n",
        );
        let overrides = Overrides {
            config: Some(path),
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Overrides::default()
        };
        let config = Config::resolve(&overrides).unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.state_dir, PathBuf::from("/srv/c"));
        assert_eq!(config.time_scale, Some(60.0));
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_filter, "info");
    }

    #[test]
    fn history_settings_come_from_the_file_or_flags_within_bounds() {
        let shipped = include_str!("../../../deploy/corridord.toml");
        let history: String = shipped
            .lines()
            .skip_while(|l| *l != "# [history]")
            .take_while(|l| !l.is_empty())
            .map(|l| {
                format!(
                    "{}\n",
                    l.trim_start_matches("# ").split('#').next().unwrap_or(l)
                )
            })
            .collect();
        assert!(history.starts_with("[history]"), "{history}");
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &history);
        let from_file = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        let config = Config::resolve(&from_file).unwrap();
        assert_eq!(
            config.history,
            corridor_services::history::HistorySettings::default()
        );
        let flags = Overrides {
            config: Some(path),
            history_interval_s: Some(0.25),
            history_retention_s: Some(60.0),
            ..Overrides::default()
        };
        let config = Config::resolve(&flags).unwrap();
        assert_eq!(config.history.interval, Duration::from_millis(250));
        assert_eq!(config.history.retention, Duration::from_secs(60));
        for (interval, retention) in [(0.01, 60.0), (5.0, 1.0), (10.0, 4e7), (f64::NAN, 60.0)] {
            let bad = Overrides {
                history_interval_s: Some(interval),
                history_retention_s: Some(retention),
                state_dir: Some(dir.path().to_path_buf()),
                ..Overrides::default()
            };
            assert!(
                matches!(
                    Config::resolve(&bad),
                    Err(ConfigError::HistoryInterval(_) | ConfigError::HistoryRetention { .. })
                ),
                "{interval} {retention}"
            );
        }
    }

    #[test]
    fn the_shipped_compat_and_log_settings_parse_when_uncommented() {
        // deploy/corridord.toml documents optional sections as comments;
        // uncommented, [compat] and the OTLP endpoint must be keys this
        // version reads (the file rejects unknown keys).
        let shipped = include_str!("../../../deploy/corridord.toml");
        let compat: String = shipped
            .lines()
            .skip_while(|l| *l != "# [compat]")
            .map(|l| l.trim_start_matches("# "))
            .map(|l| format!("{}\n", l.split("   #").next().unwrap_or(l).trim_end()))
            .collect();
        assert!(compat.starts_with("[compat]"), "{compat}");
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[log]\notlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\n{compat}");
        let overrides = Overrides {
            config: Some(write(dir.path(), &text)),
            ..Overrides::default()
        };
        let config = Config::resolve(&overrides).unwrap();
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(config.compat.count_instructions, Some(true));
        assert_eq!(config.compat.binfmt_system_wide, Some(false));
        assert_eq!(config.compat.run_as, Some((65534, 65534)));
        let compat = config.compat_config();
        assert!(compat.count_instructions && !compat.binfmt_system_wide);
    }

    #[test]
    fn hugetlb_classes_come_from_the_file_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[ffm]\nhugetlb_classes = [\"T0\", \"T1\"]\n");
        let from_file = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        let config = Config::resolve(&from_file).unwrap();
        assert_eq!(
            config.ffm_config().hugetlb_classes,
            vec![LatencyClass::T0, LatencyClass::T1]
        );
        let flagged = Overrides {
            config: Some(path),
            ffm_hugetlb_classes: vec![parse_latency_class("T2").unwrap()],
            ..Overrides::default()
        };
        let config = Config::resolve(&flagged).unwrap();
        assert_eq!(config.ffm_config().hugetlb_classes, vec![LatencyClass::T2]);
        assert!(
            parse_latency_class("t1")
                .unwrap_err()
                .contains("T0, T1, T2 or T3")
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "listne = \"127.0.0.1:9000\"\n");
        let overrides = Overrides {
            config: Some(path),
            ..Overrides::default()
        };
        let err = Config::resolve(&overrides).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains("listne"), "{chain}");
    }

    #[test]
    fn a_non_positive_time_scale_is_rejected() {
        let overrides = Overrides {
            time_scale: Some(0.0),
            state_dir: Some("/tmp/x".into()),
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&overrides),
            Err(ConfigError::TimeScale(_))
        ));
    }

    #[test]
    fn optics_backend_comes_from_the_flag_or_the_file_with_the_ports_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "state_dir = \"/srv/c\"\n[optics]\npoll_interval_ms = 2\n[optics.ports]\n\"op-h0-0\" = \"/sys/bus/i2c/devices/3-0050/eeprom\"\n\"op-h1-0\" = \"/dev/i2c-4\"\n",
        );
        let file_only = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        let optics = Config::resolve(&file_only).unwrap().optics;
        assert_eq!(optics.backend, OpticsBackendKind::Twin);
        assert_eq!(optics.poll_interval, Duration::from_millis(2));
        assert_eq!(
            optics.ports["op-h1-0"],
            PathBuf::from("/dev/i2c-4"),
            "{optics:?}"
        );
        let flag = Overrides {
            config: Some(path),
            optics: Some(OpticsBackendKind::Linux),
            ..Overrides::default()
        };
        assert_eq!(
            Config::resolve(&flag).unwrap().optics.backend,
            OpticsBackendKind::Linux
        );
        // linux without devices is refused before anything starts.
        let bare = Overrides {
            state_dir: Some("/tmp/x".into()),
            optics: Some(OpticsBackendKind::Linux),
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&bare),
            Err(ConfigError::NoOpticsDevices)
        ));
        let zero = write(dir.path(), "[optics]\npoll_interval_ms = 0\n");
        let zero = Overrides {
            config: Some(zero),
            state_dir: Some("/tmp/x".into()),
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&zero),
            Err(ConfigError::OpticsPoll)
        ));
    }

    #[test]
    fn etcd_endpoints_come_from_the_file_or_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "state_dir = \"/srv/c\"\n[store]\netcd_endpoints = [\"http://10.0.0.1:2379\"]\n",
        );
        let from_file = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        assert_eq!(
            Config::resolve(&from_file).unwrap().store,
            StoreBackend::Etcd {
                endpoints: vec!["http://10.0.0.1:2379".into()],
                tls: None,
            }
        );
        let from_flags = Overrides {
            config: Some(path),
            etcd_endpoints: vec!["https://a:2379".into(), "https://b:2379".into()],
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&from_flags).unwrap().store,
            StoreBackend::Etcd { endpoints, .. } if endpoints.len() == 2
        ));
        let bad = Overrides {
            state_dir: Some("/tmp/x".into()),
            etcd_endpoints: vec!["10.0.0.1:2379".into()],
            ..Overrides::default()
        };
        assert!(matches!(
            Config::resolve(&bad),
            Err(ConfigError::EtcdEndpoint(_))
        ));
        let none = Overrides {
            state_dir: Some("/tmp/x".into()),
            ..Overrides::default()
        };
        assert_eq!(
            Config::resolve(&none).unwrap().store,
            StoreBackend::Embedded
        );
    }
}

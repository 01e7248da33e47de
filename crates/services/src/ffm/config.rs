//! Where memqosd keeps things and how it finds memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use corridor_hal::memory::{BandwidthCounters, MemoryProvider};
use corridor_model::ffm::LatencyClass;
use corridor_model::units::Seconds;
use rand::Rng;

use super::protection::Protection;

/// memqosd admits floors up to the planner's default share of each device's peak.
pub use corridor_planner::memory::DEFAULT_ADMISSION_SHARE;

/// Default lease when the request names none: the RFC example's 3600 s.
pub const DEFAULT_LEASE_TTL_S: u64 = 3600;

#[derive(Debug, Clone)]
pub struct FfmConfig {
    /// Share of each device's peak that floors may take.
    pub admission_share: f64,
    /// Directory of persistent bundles' files (survives restarts).
    pub memory_dir: PathBuf,
    /// Directory of the domains' sealed fscrypt keys (only ever the TPM's sealed blobs).
    pub key_dir: PathBuf,
    /// How persistent bundles are protected at rest.
    pub protection: Protection,
    /// The fd hand-off socket.
    pub socket_path: PathBuf,
    pub default_ttl: Seconds,
    /// `None`: the twin's memory from the topology.
    pub provider: Option<Arc<dyn MemoryProvider>>,
    /// The host of bundles whose request names none. `None`: the first host
    /// the provider lists (the twin topology's first, `h0` by default), or,
    /// for memory of this machine alone, this machine (its host name).
    pub default_host: Option<String>,
    /// The hosts whose bundles this memqosd allocates (their memory lives in this
    /// process). `None`: every host the inventory knows, the one-process story. In a
    /// cluster, each replica serves its own host(s) (see `super::cluster`).
    pub serve_hosts: Option<Vec<String>>,
    /// Measured bandwidth. `None`: the kernel's resctrl MBM counters at
    /// `/sys/fs/resctrl` (absent when resctrl is not mounted).
    pub counters: Option<Arc<dyn BandwidthCounters>>,
    /// Whether the topology's pooled CXL devices are reached only through fabmand's paths
    /// (`super::reach`): set where a fabric manager programs the switches (the twin's).
    /// Otherwise every host cabled to a device's switch reaches all of it.
    pub follow_fabric_paths: bool,
    /// Latency classes whose new bundles are made of 2 MiB pages from the kernel's hugetlb
    /// pool (`MFD_HUGETLB`), reserved and faulted in at allocation, when not persistent and
    /// a whole number of 2 MiB pages; the others are shmem memfds. Empty: none.
    pub hugetlb_classes: Vec<LatencyClass>,
    /// Whether this process runs memqosd. `false` in a process of other
    /// daemons (`corridord corrd`): the service is held over the store only —
    /// it fences no host, announces none, restores no bundle, makes no
    /// memory and starts none of memqosd's watches or reconcilers.
    pub runs_memqosd: bool,
}

impl FfmConfig {
    /// Everything inside `state_dir`: `ffm-memory/`, `ffm-keys/` and `ffm.sock`.
    ///
    /// Protection is [`Protection::PlaintextOptOut`] until the caller chooses (the daemon
    /// sets [`FfmConfig::protection`] from its configuration and the TPM it finds): the
    /// opt-out keeps working what worked before, and every persistent bundle's
    /// `EncryptedAtRest` condition says its data is plaintext.
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            admission_share: DEFAULT_ADMISSION_SHARE,
            memory_dir: state_dir.join("ffm-memory"),
            key_dir: state_dir.join("ffm-keys"),
            protection: Protection::PlaintextOptOut,
            socket_path: state_dir.join("ffm.sock"),
            default_ttl: Seconds(DEFAULT_LEASE_TTL_S),
            provider: None,
            default_host: None,
            serve_hosts: None,
            counters: None,
            follow_fabric_paths: false,
            hugetlb_classes: Vec::new(),
            runs_memqosd: true,
        }
    }

    /// The same configuration with persistent bundles protected by `protection`.
    pub fn with_protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// A fresh private directory under the system temp dir, for control
    /// planes started without a state directory (tests).
    pub fn ephemeral() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "corridor-ffm-{}-{:08x}",
            std::process::id(),
            rand::rng().random::<u32>()
        ));
        Self::in_dir(&dir)
    }
}

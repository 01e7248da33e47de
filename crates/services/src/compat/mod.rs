//! compatd: translation engines, per-program profiles and the programs
//! launched under them.
//!
//! One job per module: `config` (what an operator sets), `binfmt` (the
//! host's table and each profile's registration), `error` (the
//! problems a call can end with), `engines` (what is installed),
//! `profiles` (the resource and the built-in catalogue), `processes`
//! (launch, observe, stop). The syscalls are in `corridor_hal::compat`;
//! the ELF, binfmt and rendering logic in `corridor-compat`.

pub mod binfmt;
pub mod config;
pub mod engines;
pub mod error;
pub mod processes;
pub mod profiles;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use corridor_hal::compat::{HostProbe, ProcessLauncher, SpawnLauncher, TranslatorProbe};
use corridor_model::compat::CompatProfile;
use corridor_store::StateStore;

pub use config::CompatConfig;
pub use error::CompatError;

use crate::{Registry, ServiceError};

crate::meta_resource!(CompatProfile, "compat-profiles");

/// compatd's entry point, held by the control plane.
#[derive(Debug)]
pub struct CompatService {
    profiles: Registry<CompatProfile>,
    config: RwLock<Arc<CompatConfig>>,
    probe: Arc<dyn TranslatorProbe>,
    launcher: Arc<dyn ProcessLauncher>,
    processes: processes::ProcessTable,
    /// The TCG plugin's installed path, once written.
    plugin: Mutex<Option<PathBuf>>,
}

impl CompatService {
    /// Wires compatd to the store and this host's translators, and loads
    /// the built-in catalogue into an empty profile store.
    pub async fn start(store: Arc<dyn StateStore>) -> Result<CompatService, ServiceError> {
        let service = Self::unseeded(store);
        service.load_catalogue().await?;
        Ok(service)
    }

    /// The service in a process that does not run compatd: seeding the
    /// built-in catalogue is compatd's to do, once, where it runs.
    pub fn unseeded(store: Arc<dyn StateStore>) -> CompatService {
        CompatService {
            profiles: Registry::new(store),
            config: RwLock::new(Arc::new(CompatConfig::default())),
            probe: Arc::new(HostProbe::default()),
            launcher: Arc::new(SpawnLauncher),
            processes: processes::ProcessTable::default(),
            plugin: Mutex::new(None),
        }
    }

    /// Replaces the configuration (corridord sets it once at start from
    /// its flags and file; launches read it per call).
    pub fn configure(&self, config: CompatConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    pub fn config(&self) -> Arc<CompatConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The TCG plugin's path under `config`'s plugin directory, written
    /// there the first time (and again if the directory moved or the file
    /// went away).
    pub(crate) fn tcg_plugin(&self, config: &CompatConfig) -> Result<String, CompatError> {
        let dir = config.plugin_dir();
        let mut installed = self.plugin.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = installed.as_ref()
            && path.parent() == Some(dir.as_path())
            && path.is_file()
        {
            return Ok(path.display().to_string());
        }
        let path = corridor_hal::compat::tcg::install_plugin(&dir).map_err(|source| {
            CompatError::PluginInstall {
                path: dir.display().to_string(),
                source,
            }
        })?;
        let shown = path.display().to_string();
        *installed = Some(path);
        Ok(shown)
    }

    /// The profile registry (for watches and tests).
    pub fn profile_registry(&self) -> &Registry<CompatProfile> {
        &self.profiles
    }
}

//! The Linux optical plant: one [`OptoePort`] per topology optical port, each reached through
//! the device file configured for it (an optoe `eeprom` file or `/dev/i2c-N`).
//!
//! The topology still describes the rack (ports, links, grids): it is what the planner plans
//! over. With real modules every optical port of the topology must therefore be a real module,
//! and every configured device must be a port of the topology; either mismatch is a startup
//! error listing every offending id, rather than a corridor that fails when it lands on a port
//! nobody wired.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::linux::OptoeAccess;
use super::linux::{OptoeConfig, OptoePort};
use super::plant::{OpticalPlant, PlantPort, SharedRingBank};
use super::rings::PageFileRingBank;
use super::{OpticalError, OpticalPort, Result};
use crate::topology::Topology;

/// Why the Linux plant could not be opened.
#[derive(Debug, Error)]
pub enum LinuxOpticsError {
    /// Topology ports with no device configured.
    #[error(
        "optical ports {ports:?} of the topology have no CMIS device configured (with the linux optics backend every optical port needs one)"
    )]
    Unmapped {
        /// The ports, in topology order.
        ports: Vec<String>,
    },
    /// Configured devices for ports the topology does not have.
    #[error(
        "CMIS devices are configured for {ports:?}, which are not optical ports of the topology"
    )]
    NotInTopology {
        /// The ids, sorted.
        ports: Vec<String>,
    },
    /// A topology port with a lane count no CMIS module has.
    #[error("optical port {port}: {lanes} lanes (a CMIS module has 1 to 32)")]
    Lanes {
        /// The port.
        port: String,
        /// Its lane count in the topology.
        lanes: u16,
    },
    /// The device could not be opened, or does not answer as a CMIS module.
    #[error("optical port {port}: {}", path.display())]
    Device {
        /// The port.
        port: String,
        /// The device path.
        path: PathBuf,
        /// What failed.
        #[source]
        source: OpticalError,
    },
}

/// Real CMIS modules behind optoe or i2c-dev, one per topology optical port.
#[derive(Debug)]
pub struct LinuxOptics {
    ports: Vec<OptoePort>,
    /// Ring banks opened so far, by port: one handle per module, so its mutex is the bank's
    /// single owner.
    rings: std::sync::Mutex<BTreeMap<String, SharedRingBank>>,
}

impl LinuxOptics {
    /// Opens the device of every topology optical port (`devices`: port id → device path) and
    /// reads each module's identity, so a wrong path fails here and not on the first grant.
    /// Status polls sleep `poll_interval`; poll budgets are the modules' own (page 01h).
    ///
    /// Opening does device I/O: async callers run it on a blocking thread.
    ///
    /// # Errors
    /// [`LinuxOpticsError`]: unmapped or unknown ports, bad lane counts, devices that cannot
    /// be opened or read.
    pub fn open(
        topology: &Topology,
        devices: &BTreeMap<String, PathBuf>,
        poll_interval: Duration,
    ) -> std::result::Result<Self, LinuxOpticsError> {
        let known: Vec<&str> = topology
            .optical_ports()
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        let stray: Vec<String> = devices
            .keys()
            .filter(|id| !known.contains(&id.as_str()))
            .cloned()
            .collect();
        if !stray.is_empty() {
            return Err(LinuxOpticsError::NotInTopology { ports: stray });
        }
        let unmapped: Vec<String> = known
            .iter()
            .filter(|id| !devices.contains_key(**id))
            .map(|id| (*id).to_owned())
            .collect();
        if !unmapped.is_empty() {
            return Err(LinuxOpticsError::Unmapped { ports: unmapped });
        }
        let mut ports = Vec::with_capacity(known.len());
        for port in topology.optical_ports() {
            let id = port.id.as_str();
            let lanes = u8::try_from(port.lanes)
                .ok()
                .filter(|l| (1..=32).contains(l))
                .ok_or_else(|| LinuxOpticsError::Lanes {
                    port: id.to_owned(),
                    lanes: port.lanes,
                })?;
            let path = devices[id].clone();
            let device = |source| LinuxOpticsError::Device {
                port: id.to_owned(),
                path: path.clone(),
                source,
            };
            let opened = OptoePort::open(OptoeConfig {
                poll_interval,
                ..OptoeConfig::new(id, &path, lanes)
            })
            .map_err(device)?;
            opened.identity().map_err(device)?;
            ports.push(opened);
        }
        Ok(Self {
            ports,
            rings: std::sync::Mutex::new(BTreeMap::new()),
        })
    }
}

impl OpticalPlant for LinuxOptics {
    fn backend(&self) -> &'static str {
        "linux"
    }

    fn readings_are_modelled(&self) -> bool {
        false
    }

    fn port(&self, id: &str) -> Option<&dyn OpticalPort> {
        self.ports
            .iter()
            .find(|p| p.name() == id)
            .map(|p| p as &dyn OpticalPort)
    }

    fn inventory(&self) -> Vec<PlantPort> {
        self.ports
            .iter()
            .map(|p| PlantPort {
                id: p.name().to_owned(),
                lanes: p.lanes(),
                device: Some(p.config().path.clone()),
            })
            .collect()
    }

    fn advance(&self, _now: DateTime<Utc>) -> Result<()> {
        // Real modules run on their own time; monitors are read when asked for.
        Ok(())
    }

    fn settle(&self, _ports: &[String], _lanes: &[u8], _now: DateTime<Utc>) -> Result<()> {
        Ok(())
    }

    fn blocks(&self) -> bool {
        // Status polls sleep between reads, and i2c transfers wait on the bus.
        true
    }

    /// The HELIOPASS pages of an optoe `eeprom` module; `None` for a module whose page B0h
    /// does not carry the ring header (a standard module) or one reached through raw i2c-dev
    /// (the page-file bank speaks the linear optoe layout only).
    fn ring_bank(&self, id: &str) -> Result<Option<SharedRingBank>> {
        let Some(port) = self.ports.iter().find(|p| p.name() == id) else {
            return Ok(None);
        };
        let mut rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bank) = rings.get(id) {
            return Ok(Some(std::sync::Arc::clone(bank)));
        }
        let config = port.config();
        if config.access != OptoeAccess::Eeprom {
            return Ok(None);
        }
        let bank = match PageFileRingBank::open(&config.path, usize::from(config.lanes)) {
            Ok(bank) => bank,
            Err(e @ OpticalError::Io { .. }) => return Err(e),
            Err(_) => return Ok(None),
        };
        let bank: SharedRingBank = std::sync::Arc::new(std::sync::Mutex::new(Box::new(bank)));
        rings.insert(id.to_owned(), std::sync::Arc::clone(&bank));
        Ok(Some(bank))
    }
}

//! Which CXL memory devices this Linux host has, for the device inventory: from ndctl's
//! `cxl list` when it is installed, else from `/sys/bus/cxl/devices` directly.
//!
//! `cxl list` is preferred because it is libcxl's own walk of the same sysfs objects
//! (memdevs with their firmware revision and state, regions with their interleave
//! mappings), so what corridord reports matches what an operator sees with the tool. It is
//! run as `cxl list -M -R -T -i`: memdevs including disabled ones (a device whose driver is
//! unbound is still in the machine), regions with their mappings. Its JSON is decoded by
//! [`corridor_protocols::cxl_list`]. Without the tool, [`SysfsMemory::cxl_objects`] reads
//! the same facts from the tree.
//!
//! `cxl list` always describes the running kernel's `/sys`; a discovery over another root
//! (a fixture tree) therefore never runs it (see [`LinuxCxlDiscovery::for_root`]).
//!
//! Besides the two listings, the PCI identity of each memdev's function is read from
//! `bus/pci/devices/<host>/{vendor,device}` under the same root, when present.

use std::fmt::Debug;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use corridor_protocols::cxl_list::{self, CxlListError, CxlListing};
use thiserror::Error;

use crate::memory::{CxlMemdev, CxlRegion, MemoryError, SysfsMemory};

/// The arguments corridord gives `cxl list`.
pub const CXL_LIST_ARGS: &[&str] = &["list", "-M", "-R", "-T", "-i"];

/// Why CXL discovery failed. An absent `cxl` binary is not an error (sysfs is read instead).
#[derive(Debug, Error)]
pub enum CxlError {
    /// `cxl` exists but could not be started.
    #[error("run {program}")]
    Run {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `cxl list` ran and failed.
    #[error("{program} exited with {status}: {stderr}")]
    Exit {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// `cxl list` printed something that is not a listing.
    #[error("decode the output of cxl list")]
    Decode(#[source] CxlListError),
    /// The sysfs tree could not be read.
    #[error("read /sys/bus/cxl")]
    Sysfs(#[source] MemoryError),
}

/// Runs `cxl list`; a seam so that tests substitute a recorded output.
pub trait CxlCli: Send + Sync + Debug {
    /// The bytes `cxl list` ([`CXL_LIST_ARGS`]) printed on stdout; `Ok(None)` when the tool
    /// is not installed.
    ///
    /// # Errors
    /// [`CxlError`] when it is installed but could not be run or failed.
    fn list(&self) -> Result<Option<Vec<u8>>, CxlError>;
}

/// The installed `cxl` program (found on `PATH` unless given as a path).
#[derive(Debug, Clone)]
pub struct SystemCxl {
    program: PathBuf,
}

impl SystemCxl {
    /// `cxl` from `PATH`.
    #[must_use]
    pub fn new() -> Self {
        Self::at("cxl")
    }

    /// A given program.
    #[must_use]
    pub fn at(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }
}

impl Default for SystemCxl {
    fn default() -> Self {
        Self::new()
    }
}

impl CxlCli for SystemCxl {
    fn list(&self) -> Result<Option<Vec<u8>>, CxlError> {
        let program = self.program.display().to_string();
        let output = match Command::new(&self.program).args(CXL_LIST_ARGS).output() {
            Ok(output) => output,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CxlError::Run { program, source }),
        };
        if !output.status.success() {
            return Err(CxlError::Exit {
                program,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        // "Warning: no matching devices found" goes to stderr with status 0 and `[` `]` on
        // stdout: an empty listing, nothing to report.
        Ok(Some(output.stdout))
    }
}

/// A machine without ndctl: every discovery reads sysfs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCxlCli;

impl CxlCli for NoCxlCli {
    fn list(&self) -> Result<Option<Vec<u8>>, CxlError> {
        Ok(None)
    }
}

/// Where a snapshot's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CxlSource {
    /// ndctl's `cxl list`.
    CxlList,
    /// `/sys/bus/cxl/devices` read directly.
    Sysfs,
}

impl CxlSource {
    /// `cxl-list` or `sysfs`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CxlList => "cxl-list",
            Self::Sysfs => "sysfs",
        }
    }
}

/// One CXL memory device as discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredMemdev {
    /// Name, serial, NUMA node, capacities, firmware, PCI function.
    pub memdev: CxlMemdev,
    /// False when its driver is not bound (`cxl list` `state: disabled`); `None` when the
    /// source does not say (sysfs).
    pub enabled: Option<bool>,
    /// PCI vendor id of its function.
    pub vendor_id: Option<u16>,
    /// PCI device id of its function.
    pub device_id: Option<u16>,
}

/// What one discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxlSnapshot {
    /// Which source answered.
    pub source: CxlSource,
    /// Memory devices (Type-3), by name.
    pub memdevs: Vec<DiscoveredMemdev>,
    /// Regions, by name.
    pub regions: Vec<CxlRegion>,
}

/// The CXL devices of this Linux host: `cxl list` if installed, else sysfs.
#[derive(Debug, Clone)]
pub struct LinuxCxlDiscovery {
    cli: Arc<dyn CxlCli>,
    sysfs: SysfsMemory,
}

impl LinuxCxlDiscovery {
    /// Discovery through `cli`, with sysfs under `sysfs_root` as the fallback and the
    /// source of PCI identities.
    #[must_use]
    pub fn new(cli: Arc<dyn CxlCli>, sysfs_root: impl Into<PathBuf>) -> Self {
        Self {
            cli,
            sysfs: SysfsMemory::new(sysfs_root),
        }
    }

    /// The discovery for a provider reading `root`: the installed `cxl` for the running
    /// kernel's `/sys`, sysfs alone for any other root (`cxl list` cannot read a fixture
    /// tree, and would describe a different machine than the provider does).
    #[must_use]
    pub fn for_root(root: &Path) -> Self {
        let cli: Arc<dyn CxlCli> = if root == Path::new("/sys") {
            Arc::new(SystemCxl::new())
        } else {
            Arc::new(NoCxlCli)
        };
        Self::new(cli, root)
    }

    /// One look at the devices.
    ///
    /// # Errors
    /// [`CxlError`] when `cxl list` fails or prints something undecodable, or sysfs cannot
    /// be read. A failing `cxl list` is not papered over with sysfs: the two would disagree
    /// on what a disabled device is, and the error says what is wrong with the tool.
    pub fn discover(&self) -> Result<CxlSnapshot, CxlError> {
        let (source, memdevs, regions) = match self.cli.list()? {
            Some(bytes) => {
                let listing = cxl_list::parse(&bytes).map_err(CxlError::Decode)?;
                let (memdevs, regions) = from_listing(&listing);
                (CxlSource::CxlList, memdevs, regions)
            }
            None => {
                let (memdevs, regions) = self.sysfs.cxl_objects().map_err(CxlError::Sysfs)?;
                let memdevs = memdevs
                    .into_iter()
                    .map(|memdev| DiscoveredMemdev {
                        memdev,
                        enabled: None,
                        vendor_id: None,
                        device_id: None,
                    })
                    .collect();
                (CxlSource::Sysfs, memdevs, regions)
            }
        };
        let memdevs = memdevs
            .into_iter()
            .map(|mut m| {
                if let Some(host) = &m.memdev.host {
                    m.vendor_id = self.pci_id(host, "vendor");
                    m.device_id = self.pci_id(host, "device");
                }
                m
            })
            .collect();
        Ok(CxlSnapshot {
            source,
            memdevs,
            regions,
        })
    }

    /// `bus/pci/devices/<host>/<file>` (`0x8086`); `None` when absent or not a PCI
    /// function (`cxl_mem.N` under cxl_test).
    fn pci_id(&self, host: &str, file: &str) -> Option<u16> {
        if !crate::memory::linux::is_pci_address(host) {
            return None;
        }
        let path = self
            .sysfs
            .root()
            .join("bus/pci/devices")
            .join(host)
            .join(file);
        let text = std::fs::read_to_string(path).ok()?;
        let t = text.trim();
        u16::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).ok()
    }
}

/// The listing in the inventory's terms: serials as the kernel spells them in sysfs
/// (`0x…` hexadecimal), regions with the memdevs of their mappings.
fn from_listing(listing: &CxlListing) -> (Vec<DiscoveredMemdev>, Vec<CxlRegion>) {
    let memdevs = listing
        .memdevs
        .iter()
        .map(|m| DiscoveredMemdev {
            memdev: CxlMemdev {
                name: m.memdev.clone(),
                serial: m.serial.map(|s| format!("{s:#x}")),
                numa_node: m.numa_node,
                ram_bytes: m.ram_size,
                pmem_bytes: m.pmem_size,
                firmware_version: m.firmware_version.clone(),
                host: m.host.clone(),
            },
            enabled: Some(m.enabled()),
            vendor_id: None,
            device_id: None,
        })
        .collect();
    let regions = listing
        .regions
        .iter()
        .map(|r| CxlRegion {
            name: r.region.clone(),
            size: r.size,
            mode: r.mode.clone(),
            targets: r
                .mappings
                .iter()
                .filter_map(|m| m.decoder.clone())
                .collect(),
            memdevs: r.memdevs().into_iter().map(str::to_owned).collect(),
            numa_node: r.target_node(),
            interleave_ways: r.interleave_ways,
            interleave_granularity: r.interleave_granularity,
            committed: r.decode_state.as_deref().map(|s| s == "commit"),
        })
        .collect();
    (memdevs, regions)
}

//! Memory-bandwidth counters: the kernel's resctrl Memory Bandwidth Monitoring (MBM), behind
//! [`BandwidthCounters`] so services read no filesystem.
//!
//! resctrl (Documentation/arch/x86/resctrl.rst), mounted at `/sys/fs/resctrl`, counts the
//! bytes the tasks of a *monitoring group* move between L3 and memory: for a group
//! `mon_groups/<name>`, each L3 cache domain has `mon_data/mon_L3_<NN>/mbm_total_bytes`, a
//! cumulative byte count (reads of a counter the hardware cannot give answer `Unavailable`).
//! The sum over the domains is the group's total; two readings over an interval are its
//! measured bandwidth. Which tasks are in a group is the group's `tasks` file, written by
//! whoever starts them.
//!
//! * [`ResctrlMbm`] reads a resctrl tree at an injectable root (`/sys/fs/resctrl`, or a
//!   fixture tree in tests).
//! * [`NoCounters`] is a host without MBM: every reading is absent.

use std::fmt::Debug;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::MemoryError;

/// Where resctrl is mounted on Linux.
pub const RESCTRL_ROOT: &str = "/sys/fs/resctrl";

/// Cumulative memory-traffic counters of monitoring groups.
pub trait BandwidthCounters: Send + Sync + Debug {
    /// Bytes moved between L3 and memory by the tasks of monitoring group `group` since the
    /// group was created, summed over the L3 domains. `Ok(None)` when there is no counter:
    /// resctrl not mounted, no such group, no MBM domain, or a domain's counter unavailable.
    ///
    /// # Errors
    /// [`MemoryError`] when a counter file exists but cannot be read or parsed.
    fn total_bytes(&self, group: &str) -> Result<Option<u64>, MemoryError>;
}

/// No memory-bandwidth counters (no resctrl, or not wanted).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCounters;

impl BandwidthCounters for NoCounters {
    fn total_bytes(&self, _group: &str) -> Result<Option<u64>, MemoryError> {
        Ok(None)
    }
}

/// resctrl MBM counters under a root directory.
#[derive(Debug, Clone)]
pub struct ResctrlMbm {
    root: PathBuf,
}

impl ResctrlMbm {
    /// Counters under `root` (the resctrl mount point).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Counters of the running kernel ([`RESCTRL_ROOT`]).
    #[must_use]
    pub fn system() -> Self {
        Self::new(RESCTRL_ROOT)
    }

    /// The root this reads.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl BandwidthCounters for ResctrlMbm {
    fn total_bytes(&self, group: &str) -> Result<Option<u64>, MemoryError> {
        // A group name is one path component: never let it climb out of mon_groups.
        if group.is_empty() || group.contains('/') || group == "." || group == ".." {
            return Ok(None);
        }
        let mon_data = self.root.join("mon_groups").join(group).join("mon_data");
        let entries = match fs::read_dir(&mon_data) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(MemoryError::Io {
                    path: mon_data.display().to_string(),
                    source,
                });
            }
        };
        let mut total = 0u64;
        let mut domains = 0usize;
        for entry in entries {
            let entry = entry.map_err(|source| MemoryError::Io {
                path: mon_data.display().to_string(),
                source,
            })?;
            if !entry.file_name().to_string_lossy().starts_with("mon_L3_") {
                continue;
            }
            let path = entry.path().join("mbm_total_bytes");
            let text = match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(MemoryError::Io {
                        path: path.display().to_string(),
                        source,
                    });
                }
            };
            let text = text.trim();
            if text == "Unavailable" {
                // A domain whose counter the hardware cannot read: the sum would undercount.
                return Ok(None);
            }
            let bytes = text.parse::<u64>().map_err(|e| MemoryError::Parse {
                path: path.display().to_string(),
                reason: format!("{text:?}: {e}"),
            })?;
            total = total.saturating_add(bytes);
            domains += 1;
        }
        Ok((domains > 0).then_some(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, group: &str, domain: &str, text: &str) {
        let dir = root
            .join("mon_groups")
            .join(group)
            .join("mon_data")
            .join(domain);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("mbm_total_bytes"), text).unwrap();
    }

    #[test]
    fn sums_the_l3_domains_of_a_group() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ffm-1", "mon_L3_00", "1000\n");
        write(dir.path(), "ffm-1", "mon_L3_01", "234\n");
        let mbm = ResctrlMbm::new(dir.path());
        assert_eq!(mbm.total_bytes("ffm-1").unwrap(), Some(1234));
        // No such group, no resctrl at all, a name that would leave mon_groups.
        assert_eq!(mbm.total_bytes("ffm-2").unwrap(), None);
        assert_eq!(
            ResctrlMbm::new(dir.path().join("absent"))
                .total_bytes("ffm-1")
                .unwrap(),
            None
        );
        assert_eq!(mbm.total_bytes("../ffm-1").unwrap(), None);
        assert_eq!(NoCounters.total_bytes("ffm-1").unwrap(), None);
    }

    #[test]
    fn unavailable_and_garbage_are_not_numbers() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "g", "mon_L3_00", "10\n");
        write(dir.path(), "g", "mon_L3_01", "Unavailable\n");
        let mbm = ResctrlMbm::new(dir.path());
        assert_eq!(mbm.total_bytes("g").unwrap(), None);
        write(dir.path(), "g", "mon_L3_01", "ten\n");
        assert!(matches!(
            mbm.total_bytes("g"),
            Err(MemoryError::Parse { .. })
        ));
    }
}

//! Memory discovery from sysfs (memory-cxl.md §1).
//!
//! Files read, relative to the configurable root (normally `/sys`):
//!
//! * `devices/system/node/nodeN/{meminfo,cpulist}`: `MemTotal`/`MemFree` (kB) and CPUs;
//! * `devices/system/node/nodeN/access0/initiators/{read,write}_{bandwidth,latency}`: HMAT
//!   figures from the closest initiator. Bandwidth is in MB/s (the ABI,
//!   `Documentation/ABI/stable/sysfs-devices-node`; `numaperf.rst` said MiB/s until a patch
//!   corrected it to MB/second), latency in ns. A `0` means "not provided" and is unknown;
//! * `devices/virtual/memory_tiering/memory_tierN/nodelist` (the ABI doc says `nodes`; the
//!   real file is `nodelist`, and both are accepted);
//! * `bus/cxl/devices/memN/{serial,numa_node,ram/size,pmem/size,firmware_version}` (and the
//!   PCI function `memN` hangs under, from where its link points), and
//!   `bus/cxl/devices/regionN/{size,mode,interleave_ways,interleave_granularity,commit,
//!   target0..N}`; a region's memdevs come from
//!   `endpointX/uport` of each target decoder `decoderX.Y`, its NUMA node from a
//!   `target_node` file of its dax device (`regionN/dax_regionN/daxN.M/target_node`), or for
//!   a persistent region onlined through libnvdimm, of the nd region at the same physical
//!   address (`bus/nd/devices/regionN/{resource,target_node}`, as QEMU's CXL Type-3 device
//!   shows it);
//! * `kernel/mm/mempolicy/weighted_interleave/{nodeN,auto,__auto_type}`;
//! * `kernel/mm/transparent_hugepage/shmem_enabled` (whether memfds may get 2 MiB pages).
//!
//! A missing file is an unknown, never an error and never a made-up number.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{
    CxlMemdev, CxlRegion, Figure, FigureSource, KernelTier, MediaKind, MemoryError,
    MemoryInventory, MemoryNode, MemoryProvider, Performance, WeightedInterleave, parse_list,
};

/// Discovery from a sysfs tree.
#[derive(Debug, Clone)]
pub struct SysfsMemory {
    root: PathBuf,
}

impl SysfsMemory {
    /// A provider reading under `sysfs_root` (`/sys` on a real host).
    #[must_use]
    pub fn new(sysfs_root: impl Into<PathBuf>) -> Self {
        Self {
            root: sysfs_root.into(),
        }
    }

    /// The root.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn nodes(&self) -> Result<Vec<MemoryNode>, MemoryError> {
        let dir = self.root.join("devices/system/node");
        let mut numbers: Vec<u32> = numbered_entries(&dir, "node")?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        numbers.sort_unstable();
        if numbers.is_empty() {
            return Err(MemoryError::NoNodes(self.root.display().to_string()));
        }
        numbers
            .into_iter()
            .map(|n| self.node(&dir.join(format!("node{n}")), n))
            .collect()
    }

    fn node(&self, dir: &Path, n: u32) -> Result<MemoryNode, MemoryError> {
        let (total_bytes, free_bytes) = match read_opt(&dir.join("meminfo"))? {
            Some(text) => parse_node_meminfo(&text, &dir.join("meminfo"))?,
            None => (None, None),
        };
        let cpus = match read_opt(&dir.join("cpulist"))? {
            Some(text) => Some(parse_list(&text).map_err(|reason| MemoryError::Parse {
                path: dir.join("cpulist").display().to_string(),
                reason,
            })?),
            None => None,
        };
        let hmat = dir.join("access0/initiators");
        // MB/s → GB/s (both decimal).
        let bw = |f: &str| -> Result<Option<Figure>, MemoryError> {
            Ok(read_u64(&hmat.join(f))?
                .filter(|&v| v > 0)
                .map(|v| Figure::new(v as f64 / 1000.0, FigureSource::Hmat)))
        };
        let lat = |f: &str| -> Result<Option<Figure>, MemoryError> {
            Ok(read_u64(&hmat.join(f))?
                .filter(|&v| v > 0)
                .map(|v| Figure::new(v as f64, FigureSource::Hmat)))
        };
        let performance = Performance {
            read_bandwidth_gbs: bw("read_bandwidth")?,
            write_bandwidth_gbs: bw("write_bandwidth")?,
            read_latency_ns: lat("read_latency")?,
            write_latency_ns: lat("write_latency")?,
        };
        Ok(MemoryNode {
            id: format!("node{n}"),
            host: None,
            reachable_from: Vec::new(),
            numa_node: Some(n),
            cpus,
            total_bytes,
            free_bytes,
            performance,
            media: MediaKind::Unknown,
            cxl_memdevs: Vec::new(),
            cxl_regions: Vec::new(),
            kernel_tier: None,
        })
    }

    fn kernel_tiers(&self) -> Result<Vec<KernelTier>, MemoryError> {
        let dir = self.root.join("devices/virtual/memory_tiering");
        let mut tiers = Vec::new();
        for (id, path) in numbered_entries(&dir, "memory_tier")? {
            let text = match read_opt(&path.join("nodelist"))? {
                Some(t) => Some((t, path.join("nodelist"))),
                None => read_opt(&path.join("nodes"))?.map(|t| (t, path.join("nodes"))),
            };
            let Some((text, file)) = text else { continue };
            let nodes = parse_list(&text).map_err(|reason| MemoryError::Parse {
                path: file.display().to_string(),
                reason,
            })?;
            tiers.push(KernelTier { id, nodes });
        }
        tiers.sort_by_key(|t| t.id);
        Ok(tiers)
    }

    fn cxl_memdevs(&self) -> Result<Vec<CxlMemdev>, MemoryError> {
        let dir = self.root.join("bus/cxl/devices");
        let mut out = Vec::new();
        let mut entries = numbered_entries(&dir, "mem")?;
        entries.sort_by_key(|(n, _)| *n);
        for (n, path) in entries {
            out.push(CxlMemdev {
                name: format!("mem{n}"),
                serial: read_opt(&path.join("serial"))?.map(|s| s.trim().to_owned()),
                numa_node: read_i64(&path.join("numa_node"))?.and_then(|v| u32::try_from(v).ok()),
                ram_bytes: read_u64(&path.join("ram/size"))?,
                pmem_bytes: read_u64(&path.join("pmem/size"))?,
                firmware_version: read_opt(&path.join("firmware_version"))?
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
                host: pci_parent(&path),
            });
        }
        Ok(out)
    }

    /// The CXL memdevs and regions under `bus/cxl/devices` alone (no NUMA nodes needed):
    /// what the device inventory reads when `cxl list` is not installed.
    ///
    /// # Errors
    /// [`MemoryError`] when a file exists but cannot be read or parsed.
    pub fn cxl_objects(&self) -> Result<(Vec<CxlMemdev>, Vec<CxlRegion>), MemoryError> {
        Ok((self.cxl_memdevs()?, self.cxl_regions()?))
    }

    fn cxl_regions(&self) -> Result<Vec<CxlRegion>, MemoryError> {
        let dir = self.root.join("bus/cxl/devices");
        let mut out = Vec::new();
        let mut entries = numbered_entries(&dir, "region")?;
        entries.sort_by_key(|(n, _)| *n);
        for (n, path) in entries {
            let mut targets = Vec::new();
            for i in 0.. {
                match read_opt(&path.join(format!("target{i}")))? {
                    Some(t) if !t.trim().is_empty() => targets.push(t.trim().to_owned()),
                    Some(_) => {}
                    None => break,
                }
            }
            let mut memdevs = Vec::new();
            for t in &targets {
                if let Some(m) = self.memdev_of_decoder(t)
                    && !memdevs.contains(&m)
                {
                    memdevs.push(m);
                }
            }
            out.push(CxlRegion {
                name: format!("region{n}"),
                size: read_u64(&path.join("size"))?,
                mode: read_opt(&path.join("mode"))?.map(|s| s.trim().to_owned()),
                targets,
                memdevs,
                numa_node: match find_target_node(&path, 3)? {
                    Some(node) => Some(node),
                    None => self.nd_region_target_node(read_u64(&path.join("resource"))?)?,
                },
                interleave_ways: read_u64(&path.join("interleave_ways"))?
                    .and_then(|v| u32::try_from(v).ok()),
                interleave_granularity: read_u64(&path.join("interleave_granularity"))?,
                committed: read_u64(&path.join("commit"))?.map(|v| v != 0),
            });
        }
        Ok(out)
    }

    /// A persistent (`pmem`) CXL region is onlined through libnvdimm, not under the region's
    /// own directory: its nd region (`bus/nd/devices/regionN`, the same physical `resource`)
    /// carries the `target_node` that `daxctl reconfigure-device --mode=system-ram` onlines.
    fn nd_region_target_node(&self, resource: Option<u64>) -> Result<Option<u32>, MemoryError> {
        let Some(resource) = resource else {
            return Ok(None);
        };
        let dir = self.root.join("bus/nd/devices");
        for (_, path) in numbered_entries(&dir, "region")? {
            if read_u64(&path.join("resource"))? == Some(resource) {
                return Ok(read_i64(&path.join("target_node"))?.and_then(|n| u32::try_from(n).ok()));
            }
        }
        Ok(None)
    }

    /// The host's transparent-huge-page policy for shmem (memfds), `None` on a kernel without
    /// THP.
    ///
    /// # Errors
    /// [`MemoryError::Parse`] when the file names no policy in brackets.
    pub fn shmem_huge_pages(&self) -> Result<Option<ShmemHugePages>, MemoryError> {
        let path = self
            .root
            .join("kernel/mm/transparent_hugepage/shmem_enabled");
        let Some(text) = read_opt(&path)? else {
            return Ok(None);
        };
        ShmemHugePages::parse(&text)
            .map(Some)
            .ok_or_else(|| MemoryError::Parse {
                path: path.display().to_string(),
                reason: format!("no policy in brackets: {:?}", text.trim()),
            })
    }

    /// 2 MiB huge pages of the hugetlb pool free and not reserved for a mapping already
    /// made (`kernel/mm/hugepages/hugepages-2048kB/{free,resv}_hugepages`): what a new
    /// hugetlb bundle can still take. `None` when the kernel has no such pool.
    ///
    /// # Errors
    /// A file that is there but unreadable or not a number.
    pub fn available_huge_pages(&self) -> Result<Option<u64>, MemoryError> {
        let pool = self.root.join("kernel/mm/hugepages/hugepages-2048kB");
        let (Some(free), Some(reserved)) = (
            read_u64(&pool.join("free_hugepages"))?,
            read_u64(&pool.join("resv_hugepages"))?,
        ) else {
            return Ok(None);
        };
        Ok(Some(free.saturating_sub(reserved)))
    }

    /// `decoderX.Y` → `endpointX/uport` → `memN`.
    fn memdev_of_decoder(&self, decoder: &str) -> Option<String> {
        let port = decoder.strip_prefix("decoder")?.split('.').next()?;
        let uport = self
            .root
            .join(format!("bus/cxl/devices/endpoint{port}/uport"));
        let target = fs::read_link(uport).ok()?;
        let name = target.file_name()?.to_str()?.to_owned();
        name.starts_with("mem").then_some(name)
    }

    fn read_weighted_interleave(&self) -> Result<Option<WeightedInterleave>, MemoryError> {
        let dir = self.root.join("kernel/mm/mempolicy/weighted_interleave");
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut weights = BTreeMap::new();
        for (n, path) in numbered_entries(&dir, "node")? {
            if let Some(w) = read_u64(&path)? {
                let w = u8::try_from(w).map_err(|_| MemoryError::Parse {
                    path: path.display().to_string(),
                    reason: format!("weight {w} is not a u8"),
                })?;
                weights.insert(n, w);
            }
        }
        let mut auto = None;
        let mut auto_file = None;
        for name in ["auto", "__auto_type"] {
            let path = dir.join(name);
            if let Some(text) = read_opt(&path)? {
                auto = Some(parse_bool(&text).ok_or_else(|| MemoryError::Parse {
                    path: path.display().to_string(),
                    reason: format!("not a boolean: {:?}", text.trim()),
                })?);
                auto_file = Some(name.to_owned());
                break;
            }
        }
        Ok(Some(WeightedInterleave {
            weights,
            auto,
            auto_file,
        }))
    }
}

impl MemoryProvider for SysfsMemory {
    fn discover(&self) -> Result<MemoryInventory, MemoryError> {
        let mut nodes = self.nodes()?;
        let kernel_tiers = self.kernel_tiers()?;
        let cxl_memdevs = self.cxl_memdevs()?;
        let cxl_regions = self.cxl_regions()?;
        for node in &mut nodes {
            let numa = node.numa_node;
            node.kernel_tier = kernel_tiers
                .iter()
                .find(|t| numa.is_some_and(|n| t.nodes.contains(&n)))
                .map(|t| t.id);
            let regions: Vec<&CxlRegion> = cxl_regions
                .iter()
                .filter(|r| r.numa_node.is_some() && r.numa_node == numa)
                .collect();
            for r in &regions {
                node.cxl_regions.push(r.name.clone());
                for m in &r.memdevs {
                    if !node.cxl_memdevs.contains(m) {
                        node.cxl_memdevs.push(m.clone());
                    }
                }
            }
            // A region that is a NUMA node was onlined as system RAM (`kmem`): the kernel
            // allocates from it like DRAM and nothing on it survives a reboot, so the node is
            // volatile memory even when the region's device is persistent (`pmem` mode, as
            // QEMU's Type-3 device offers; the region keeps its mode in `cxl_regions`).
            let modes: Vec<Option<&str>> = regions.iter().map(|r| r.mode.as_deref()).collect();
            node.media = if modes.is_empty() || modes.contains(&None) {
                MediaKind::Unknown
            } else if modes.iter().all(|m| matches!(m, Some("ram" | "pmem"))) {
                MediaKind::Volatile
            } else {
                MediaKind::Unknown
            };
        }
        Ok(MemoryInventory {
            realm: super::NodeRealm::ThisMachine,
            nodes,
            cxl_memdevs,
            cxl_regions,
            kernel_tiers,
            weighted_interleave: self.read_weighted_interleave()?,
        })
    }

    fn weighted_interleave(&self) -> Result<Option<WeightedInterleave>, MemoryError> {
        self.read_weighted_interleave()
    }

    fn sysfs_root(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

/// The PCI function (`DDDD:bb:dd.f`) a `memN` entry sits under: `bus/cxl/devices/memN` is a
/// link into the device tree (`devices/pci0000:34/0000:34:00.0/0000:35:00.0/mem0`), whose
/// parent directory is named after the function. `None` when it is not a link into such a
/// directory (a plain fixture directory).
fn pci_parent(memdev: &Path) -> Option<String> {
    let target = fs::read_link(memdev).ok()?;
    let parent = target.parent()?.file_name()?.to_str()?;
    is_pci_address(parent).then(|| parent.to_owned())
}

/// `DDDD:bb:dd.f` in hexadecimal.
pub(crate) fn is_pci_address(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

fn io_err(path: &Path, source: std::io::Error) -> MemoryError {
    MemoryError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Contents of a file; `None` when it (or its directory) does not exist.
fn read_opt(path: &Path) -> Result<Option<String>, MemoryError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

/// A decimal or `0x` hexadecimal unsigned integer file.
fn read_u64(path: &Path) -> Result<Option<u64>, MemoryError> {
    let Some(text) = read_opt(path)? else {
        return Ok(None);
    };
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map(Some).map_err(|_| MemoryError::Parse {
        path: path.display().to_string(),
        reason: format!("not an unsigned integer: {t:?}"),
    })
}

fn read_i64(path: &Path) -> Result<Option<i64>, MemoryError> {
    let Some(text) = read_opt(path)? else {
        return Ok(None);
    };
    let t = text.trim();
    t.parse().map(Some).map_err(|_| MemoryError::Parse {
        path: path.display().to_string(),
        reason: format!("not an integer: {t:?}"),
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "Y" | "y" | "true" | "on" => Some(true),
        "0" | "N" | "n" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Entries `<prefix><N>` of a directory (N decimal), with their paths; empty when the
/// directory does not exist. Entries such as `memory_tiering` or `mem0p1` are skipped.
fn numbered_entries(dir: &Path, prefix: &str) -> Result<Vec<(u32, PathBuf)>, MemoryError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix(prefix) else {
            continue;
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = num.parse() {
            out.push((n, entry.path()));
        }
    }
    Ok(out)
}

/// First `target_node` found under `dir`, at most `depth` levels down (dax device of a region).
fn find_target_node(dir: &Path, depth: u32) -> Result<Option<u32>, MemoryError> {
    if let Some(v) = read_i64(&dir.join("target_node"))? {
        return Ok(u32::try_from(v).ok());
    }
    if depth == 0 {
        return Ok(None);
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut subdirs: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            // Only dax objects: do not wander up `subsystem`/`driver` links.
            (name.starts_with("dax") || name.starts_with("dax_region"))
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        if let Some(n) = find_target_node(&sub, depth - 1)? {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// `transparent_hugepage/shmem_enabled`: when shmem (a memfd) may get 2 MiB pages
/// (Documentation/admin-guide/mm/transhuge.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmemHugePages {
    /// Whenever a 2 MiB-aligned extent fits in the file.
    Always,
    /// Only extents within the file's size.
    WithinSize,
    /// Only for mappings that ask with `MADV_HUGEPAGE`.
    Advise,
    /// Never.
    Never,
    /// Never, even for tmpfs mounts that ask (emergency off).
    Deny,
    /// Always, for testing.
    Force,
}

impl ShmemHugePages {
    /// The policy in brackets of the file's text, e.g.
    /// `always within_size advise [never] deny force`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let chosen = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))?;
        Some(match chosen {
            "always" => Self::Always,
            "within_size" => Self::WithinSize,
            "advise" => Self::Advise,
            "never" => Self::Never,
            "deny" => Self::Deny,
            "force" => Self::Force,
            _ => return None,
        })
    }

    /// Whether a memfd can get huge pages at all (for `Advise`, in mappings that ask).
    #[must_use]
    pub fn allows_huge_pages(self) -> bool {
        !matches!(self, Self::Never | Self::Deny)
    }
}

/// `Node 0 MemTotal:  24523212 kB` lines → (total, free) in bytes.
fn parse_node_meminfo(text: &str, path: &Path) -> Result<(Option<u64>, Option<u64>), MemoryError> {
    let mut total = None;
    let mut free = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        // "Node", "<n>", "<Key>:", "<value>", "kB"
        let (Some(_), Some(_), Some(key), Some(value)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let slot = match key {
            "MemTotal:" => &mut total,
            "MemFree:" => &mut free,
            _ => continue,
        };
        let kb: u64 = value.parse().map_err(|_| MemoryError::Parse {
            path: path.display().to_string(),
            reason: format!("bad value in {line:?}"),
        })?;
        let unit = words.next().unwrap_or("kB");
        let mult = if unit == "kB" { 1024 } else { 1 };
        *slot = Some(kb * mult);
    }
    Ok((total, free))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text = "Node 0 MemTotal:       21850324 kB\nNode 0 MemFree:         6172652 kB\nNode 0 MemUsed:        15677672 kB\n";
        let (t, f) = parse_node_meminfo(text, Path::new("x")).unwrap();
        assert_eq!(t, Some(21_850_324 * 1024));
        assert_eq!(f, Some(6_172_652 * 1024));
        assert!(parse_node_meminfo("Node 0 MemTotal: x kB", Path::new("x")).is_err());
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("true\n"), Some(true));
        assert_eq!(parse_bool("N"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn shmem_huge_page_policies_as_the_kernel_prints_them() {
        // This machine's file, and the guest's after `echo advise > …`.
        let host = "always within_size advise [never] deny force\n";
        assert_eq!(ShmemHugePages::parse(host), Some(ShmemHugePages::Never));
        let guest = "always within_size [advise] never deny force\n";
        assert_eq!(ShmemHugePages::parse(guest), Some(ShmemHugePages::Advise));
        assert_eq!(
            ShmemHugePages::parse("[within_size] always"),
            Some(ShmemHugePages::WithinSize)
        );
        assert_eq!(ShmemHugePages::parse("always within_size advise"), None);
        assert_eq!(ShmemHugePages::parse("[sometimes]"), None);
        assert!(ShmemHugePages::Advise.allows_huge_pages());
        assert!(!ShmemHugePages::Deny.allows_huge_pages());
    }

    proptest::proptest! {
        #[test]
        fn any_shmem_enabled_text_parses_without_panicking(text in "\\PC*") {
            let _ = ShmemHugePages::parse(&text);
        }
    }
}

//! Memory discovery: the [`MemoryProvider`] trait, its two backends and tier classification.
//!
//! A provider answers one question: which memory does this host (or rack) have, how much of it
//! is free, and how fast is it? The answer is a [`MemoryInventory`]: one [`MemoryNode`] per NUMA
//! node (linux) or memory device (twin), the CXL memdevs and regions behind them, the kernel's
//! memory tiers and the weighted-interleave state.
//!
//! Backends:
//!
//! * [`linux`]: [`SysfsMemory`] reads a sysfs tree (normally `/sys`, a fixture tree in tests):
//!   `devices/system/node`, HMAT access attributes, `memory_tiering`, `bus/cxl` and
//!   `kernel/mm/mempolicy/weighted_interleave` (memory-cxl.md §1).
//! * [`twin`]: [`TwinMemory`] turns the topology's host memory devices and CXL devices into
//!   nodes, with the capacity, bandwidth and latency the topology gives them.
//!
//! Every performance figure carries its [`FigureSource`]. The linux backend never invents a
//! number: what the kernel does not publish is `None`. [`MemoryInventory::fill_defaults`] fills
//! the gaps from the cited table of memory-cxl.md §6, only when a caller asks, and marks those
//! figures [`FigureSource::Default`].
//!
//! [`mbm`] reads measured memory traffic (resctrl MBM counters) behind [`BandwidthCounters`].
//!
//! [`backend`] is the other half: the syscalls that create a bundle's memory and place it
//! (memfd, `mbind`, `move_pages`, `mincore`) behind [`MemoryBackend`], so services make none.
//!
//! Tiers T0–T3 ([`Tier`]) are computed by [`classify`] from latency, bandwidth and media
//! persistence, relative to the fastest node of the same host; never from names.

pub mod backend;
pub mod fd_passing;
pub mod linux;
pub mod mbm;
pub mod twin;

use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use thiserror::Error;

pub use backend::{
    BackendError, Binding, EXTENT, HUGE_PAGE_BYTES, LinuxMemoryBackend, MemoryBackend, Migration,
    MigrationProgress, NodeRange, NumaMode, weighted_extents,
};
pub use linux::{ShmemHugePages, SysfsMemory};
pub use mbm::{BandwidthCounters, NoCounters, ResctrlMbm};
pub use twin::TwinMemory;

/// Why discovery failed. Missing files are not errors (they are unknowns); these are.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// A file or directory exists but could not be read.
    #[error("read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its contents are not what the kernel ABI says.
    #[error("parse {path}: {reason}")]
    Parse {
        /// The path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// No NUMA node directory under the root (a kernel without `CONFIG_NUMA`, or a wrong root).
    #[error("no NUMA nodes under {0} (no devices/system/node/nodeN)")]
    NoNodes(String),
}

/// Where a performance figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FigureSource {
    /// The kernel's HMAT access attributes (`nodeN/access0/initiators/*`): platform-rated.
    Hmat,
    /// The digital twin's topology file.
    Twin,
    /// The cited default table of memory-cxl.md §6 ([`MemoryInventory::fill_defaults`]).
    Default,
}

impl fmt::Display for FigureSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hmat => "hmat",
            Self::Twin => "twin",
            Self::Default => "default",
        })
    }
}

/// One number and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// The value, in the unit of the field that holds it.
    pub value: f64,
    /// Its origin.
    pub source: FigureSource,
}

impl Figure {
    /// A figure.
    #[must_use]
    pub const fn new(value: f64, source: FigureSource) -> Self {
        Self { value, source }
    }
}

/// Bandwidth (GB/s, 10^9 B/s) and idle latency (ns) of a node; `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Performance {
    /// Read bandwidth, GB/s.
    pub read_bandwidth_gbs: Option<Figure>,
    /// Write bandwidth, GB/s.
    pub write_bandwidth_gbs: Option<Figure>,
    /// Read latency, ns.
    pub read_latency_ns: Option<Figure>,
    /// Write latency, ns.
    pub write_latency_ns: Option<Figure>,
}

impl Performance {
    /// Read bandwidth, else write bandwidth (GB/s).
    #[must_use]
    pub fn bandwidth_gbs(&self) -> Option<f64> {
        self.read_bandwidth_gbs
            .or(self.write_bandwidth_gbs)
            .map(|f| f.value)
    }

    /// Read latency, else write latency (ns).
    #[must_use]
    pub fn latency_ns(&self) -> Option<f64> {
        self.read_latency_ns
            .or(self.write_latency_ns)
            .map(|f| f.value)
    }

    /// True when no figure is known.
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        self.read_bandwidth_gbs.is_none()
            && self.write_bandwidth_gbs.is_none()
            && self.read_latency_ns.is_none()
            && self.write_latency_ns.is_none()
    }
}

/// Volatile or persistent media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MediaKind {
    /// Volatile memory (DRAM, HBM, volatile CXL).
    Volatile,
    /// Persistent memory (pmem, a CXL region in `pmem` mode).
    Persistent,
    /// Not known (the linux backend without a CXL region for the node).
    #[default]
    Unknown,
}

/// One NUMA node (linux) or memory device (twin).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryNode {
    /// Stable id: `node<N>` on linux, the topology id on the twin.
    pub id: String,
    /// Host the node belongs to (twin: host id; `None` for an unbound CXL pool device and on
    /// linux, where the inventory is the local host's).
    pub host: Option<String>,
    /// Hosts whose processes can reach this memory: the node's own host, and for a twin pool
    /// device every host with an upstream port on the device's switch. Empty on linux, where
    /// every node is the local host's.
    pub reachable_from: Vec<String>,
    /// NUMA node number (`None` for a twin CXL pool device not bound to a host). Whose
    /// numbering it is says [`MemoryInventory::realm`]: only a [`NodeRealm::ThisMachine`]
    /// number may be given to `mbind`.
    pub numa_node: Option<u32>,
    /// CPUs on the node (`nodeN/cpulist`); `None` when unknown, empty for a memory-only node.
    pub cpus: Option<Vec<u32>>,
    /// Capacity in bytes (`MemTotal`), `None` when unknown.
    pub total_bytes: Option<u64>,
    /// Free bytes (`MemFree`), `None` when unknown.
    pub free_bytes: Option<u64>,
    /// Bandwidth and latency.
    pub performance: Performance,
    /// Volatile or persistent.
    pub media: MediaKind,
    /// CXL memdevs whose memory backs this node (`mem0`, … on linux; device ids on the twin).
    pub cxl_memdevs: Vec<String>,
    /// CXL regions onlined as this node (`region0`, …).
    pub cxl_regions: Vec<String>,
    /// The kernel memory tier the node is in (`N` of `memory_tierN`, an abstract distance band:
    /// DRAM is 4, dax/kmem without performance data 22). `None` when unknown (twin, old kernels).
    pub kernel_tier: Option<u32>,
}

impl MemoryNode {
    /// True when the node has CPUs (known and non-empty).
    #[must_use]
    pub fn has_cpus(&self) -> bool {
        self.cpus.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// True when the node is known to have memory.
    #[must_use]
    pub fn has_memory(&self) -> bool {
        self.total_bytes.is_some_and(|b| b > 0)
    }
}

/// A CXL memory device (`/sys/bus/cxl/devices/memN`, or a twin CXL device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxlMemdev {
    /// `mem0`, … (twin: the device id).
    pub name: String,
    /// Device serial number (`serial`, hex in sysfs), as text.
    pub serial: Option<String>,
    /// NUMA node of the *device* (its host bridge's proximity domain), not the node its
    /// memory is onlined as. `None` when absent or `-1`.
    pub numa_node: Option<u32>,
    /// Volatile capacity (`ram/size`).
    pub ram_bytes: Option<u64>,
    /// Persistent capacity (`pmem/size`).
    pub pmem_bytes: Option<u64>,
    /// Firmware revision the device reports (`firmware_version`).
    pub firmware_version: Option<String>,
    /// The PCI function the memdev belongs to (`0000:35:00.0`): the parent of `memN` in the
    /// device tree, `host` in `cxl list`.
    pub host: Option<String>,
}

impl CxlMemdev {
    /// Volatile plus persistent capacity; `None` when neither is known.
    #[must_use]
    pub fn capacity_bytes(&self) -> Option<u64> {
        match (self.ram_bytes, self.pmem_bytes) {
            (None, None) => None,
            (r, p) => Some(r.unwrap_or(0).saturating_add(p.unwrap_or(0))),
        }
    }
}

/// A CXL region (`/sys/bus/cxl/devices/regionN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxlRegion {
    /// `region0`, …
    pub name: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// `ram` or `pmem` (the `mode` file), when present.
    pub mode: Option<String>,
    /// Endpoint decoders from `target0..N` (`decoder5.0`, …).
    pub targets: Vec<String>,
    /// Memdevs behind those decoders (through `endpointX/uport`), when resolvable.
    pub memdevs: Vec<String>,
    /// NUMA node the region is onlined as (a `target_node` under the region's dax device).
    pub numa_node: Option<u32>,
    /// Interleave ways (`interleave_ways`).
    pub interleave_ways: Option<u32>,
    /// Interleave granularity, bytes (`interleave_granularity`).
    pub interleave_granularity: Option<u64>,
    /// Whether its decoders are committed (`commit` = 1; `decode_state` `commit` in
    /// `cxl list`).
    pub committed: Option<bool>,
}

/// One kernel memory tier (`/sys/devices/virtual/memory_tiering/memory_tierN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelTier {
    /// `N`.
    pub id: u32,
    /// Nodes from `nodelist`.
    pub nodes: Vec<u32>,
}

/// The `weighted_interleave` state (`/sys/kernel/mm/mempolicy/weighted_interleave`, Linux 6.9+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedInterleave {
    /// Per-node weight (1..=255), from the `nodeN` files.
    pub weights: BTreeMap<u32, u8>,
    /// Whether weights are derived automatically from HMAT/CDAT bandwidth (`auto`, about 6.16;
    /// spelled `__auto_type` on some kernels). `None` when the file is absent.
    pub auto: Option<bool>,
    /// Which file name carried `auto` (`"auto"` or `"__auto_type"`).
    pub auto_file: Option<String>,
}

/// Whose NUMA nodes an inventory describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeRealm {
    /// The machine this process runs on (sysfs): its node numbers are real `mbind` targets.
    #[default]
    ThisMachine,
    /// A modelled rack (the twin): node numbers are the modelled hosts' and name nothing on
    /// this machine; placements on them are modelled and bind no real memory.
    Modelled,
}

/// What a provider found.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryInventory {
    /// Whose nodes these are (decides whether their NUMA numbers may reach `mbind`).
    pub realm: NodeRealm,
    /// Nodes, in id order of discovery (linux: by node number).
    pub nodes: Vec<MemoryNode>,
    /// CXL memdevs.
    pub cxl_memdevs: Vec<CxlMemdev>,
    /// CXL regions.
    pub cxl_regions: Vec<CxlRegion>,
    /// Kernel memory tiers, by id.
    pub kernel_tiers: Vec<KernelTier>,
    /// Weighted-interleave state; `None` when the kernel has none (or on the twin).
    pub weighted_interleave: Option<WeightedInterleave>,
}

impl MemoryInventory {
    /// The node with this id.
    #[must_use]
    pub fn node(&self, id: &str) -> Option<&MemoryNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The node with this NUMA number (first match; twin inventories span hosts).
    #[must_use]
    pub fn numa_node(&self, numa: u32) -> Option<&MemoryNode> {
        self.nodes.iter().find(|n| n.numa_node == Some(numa))
    }

    /// Tier of every node, in node order ([`classify`]).
    #[must_use]
    pub fn tiers(&self) -> Vec<Option<Tier>> {
        classify(&self.nodes)
    }

    /// Tier of one node.
    #[must_use]
    pub fn tier_of(&self, id: &str) -> Option<Tier> {
        let i = self.nodes.iter().position(|n| n.id == id)?;
        classify(&self.nodes)[i]
    }

    /// Fill unknown bandwidth and latency from the memory-cxl.md §6 table, marking each filled
    /// figure [`FigureSource::Default`]. Known figures are never changed. Returns how many
    /// figures were filled. See [`defaults`] for which row a node gets.
    pub fn fill_defaults(&mut self) -> usize {
        defaults::fill(&mut self.nodes)
    }
}

/// Discovers memory.
pub trait MemoryProvider: Send + Sync + Debug {
    /// Nodes, devices, CXL objects, kernel tiers and weighted-interleave state.
    ///
    /// # Errors
    /// [`MemoryError`] when something that exists cannot be read or parsed.
    fn discover(&self) -> Result<MemoryInventory, MemoryError>;

    /// The weighted-interleave state alone; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// [`MemoryError`] when the directory exists but cannot be read or parsed.
    fn weighted_interleave(&self) -> Result<Option<WeightedInterleave>, MemoryError>;

    /// The sysfs tree this provider reads, when it reads one (the Linux backend): the device
    /// inventory discovers CXL devices under the same root. `None` for the twin.
    fn sysfs_root(&self) -> Option<&std::path::Path> {
        None
    }
}

/// Memory tiers as the placement code uses them (memory-cxl.md §6): the
/// planner's admission tiers, which this module classifies devices into.
pub use corridor_planner::memory::Tier;

/// Extra latency over the fastest node of the host below which a node is in the local band
/// (T0/T1). Remote-socket DRAM is about 1.5–2× local (memory-cxl.md §6) but HMAT `access0`
/// reports each node from its closest initiator, so DRAM nodes land here.
pub const LOCAL_BAND_EXTRA_NS: f64 = 60.0;
/// Extra latency above which a node is T3. CXL direct is +70–90 ns and a switched pool
/// +>180 ns (Pond, memory-cxl.md §6), so T2 spans (60, 250] ns.
pub const T3_EXTRA_NS: f64 = 250.0;
/// Absolute bandwidth a T0 node must reach: one HBM2e stack is ≈410 GB/s (memory-cxl.md §6).
pub const T0_MIN_BANDWIDTH_GBS: f64 = 400.0;
/// A T0 node must also have this many times the bandwidth of the slowest local-band node of
/// its host (so a 12-channel DDR5 socket alone is T1, not T0).
pub const T0_BANDWIDTH_RATIO: f64 = 2.0;

/// What [`classify_one`] compares a node with: the host's fastest node and its DRAM baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierReference {
    /// Lowest latency among the host's nodes, ns.
    pub fastest_latency_ns: f64,
    /// Lowest bandwidth among the host's local-band nodes (the DRAM baseline), GB/s.
    pub baseline_bandwidth_gbs: Option<f64>,
}

/// Classify one node, given its host's reference. Rules, in order:
///
/// 1. persistent media → T3;
/// 2. latency unknown → `None` (no guess; see [`MemoryInventory::fill_defaults`]);
/// 3. extra = latency − fastest latency; extra > [`T3_EXTRA_NS`] → T3;
/// 4. extra > [`LOCAL_BAND_EXTRA_NS`] → T2;
/// 5. in the local band: bandwidth ≥ [`T0_MIN_BANDWIDTH_GBS`] and ≥ [`T0_BANDWIDTH_RATIO`] ×
///    the baseline → T0, else T1.
#[must_use]
pub fn classify_one(
    latency_ns: Option<f64>,
    bandwidth_gbs: Option<f64>,
    media: MediaKind,
    reference: Option<TierReference>,
) -> Option<Tier> {
    if media == MediaKind::Persistent {
        return Some(Tier::T3);
    }
    let latency = latency_ns?;
    let reference = reference?;
    let extra = latency - reference.fastest_latency_ns;
    if extra > T3_EXTRA_NS {
        return Some(Tier::T3);
    }
    if extra > LOCAL_BAND_EXTRA_NS {
        return Some(Tier::T2);
    }
    let t0 = match (bandwidth_gbs, reference.baseline_bandwidth_gbs) {
        (Some(bw), Some(base)) => bw >= T0_MIN_BANDWIDTH_GBS && bw >= T0_BANDWIDTH_RATIO * base,
        _ => false,
    };
    Some(if t0 { Tier::T0 } else { Tier::T1 })
}

/// Classify every node, comparing each with the nodes of the same host (`host`; nodes with no
/// host — twin pool devices — are compared with all volatile nodes). Result in node order.
#[must_use]
pub fn classify(nodes: &[MemoryNode]) -> Vec<Option<Tier>> {
    nodes
        .iter()
        .zip(references(nodes))
        .map(|(node, reference)| {
            classify_one(
                node.performance.latency_ns(),
                node.performance.bandwidth_gbs(),
                node.media,
                reference,
            )
        })
        .collect()
}

/// What [`classify`] compares each node with (its host's fastest node and DRAM baseline), in
/// node order: the basis of a node's tier, for whoever explains it.
#[must_use]
pub fn references(nodes: &[MemoryNode]) -> Vec<Option<TierReference>> {
    nodes
        .iter()
        .map(|node| {
            let peers: Vec<&MemoryNode> = nodes
                .iter()
                .filter(|p| p.media != MediaKind::Persistent)
                .filter(|p| node.host.is_none() || p.host == node.host)
                .collect();
            reference_of(&peers)
        })
        .collect()
}

fn reference_of(peers: &[&MemoryNode]) -> Option<TierReference> {
    let fastest = peers
        .iter()
        .filter_map(|p| p.performance.latency_ns())
        .fold(f64::INFINITY, f64::min);
    if !fastest.is_finite() {
        return None;
    }
    let baseline = peers
        .iter()
        .filter(|p| {
            p.performance
                .latency_ns()
                .is_some_and(|l| l - fastest <= LOCAL_BAND_EXTRA_NS)
        })
        .filter_map(|p| p.performance.bandwidth_gbs())
        .fold(f64::INFINITY, f64::min);
    Some(TierReference {
        fastest_latency_ns: fastest,
        baseline_bandwidth_gbs: baseline.is_finite().then_some(baseline),
    })
}

/// The default table of memory-cxl.md §6 and how a node is matched to a row.
pub mod defaults {
    use super::{Figure, FigureSource, MediaKind, MemoryNode};

    /// DDR5 local idle latency: 90–120 ns in §6; 110 ns, the value the twin topology uses.
    pub const DRAM_LATENCY_NS: f64 = 110.0;
    /// DDR5-4800 8 channels (SPR) STREAM ≈205 GB/s (§6).
    pub const DRAM_BANDWIDTH_GBS: f64 = 205.0;
    /// CXL direct-attached: local + 70–90 ns (Pond, §6); the midpoint.
    pub const CXL_DIRECT_EXTRA_NS: f64 = 80.0;
    /// CXL Gen5 x8: Micron CZ120 measured 36 GB/s (MLC 2:1) (§6).
    pub const CXL_DIRECT_BANDWIDTH_GBS: f64 = 36.0;
    /// Persistent media: "about 300 ns+", an assumption with no measured source (§6).
    /// Persistent bandwidth is "device-bound" in §6 with no figure, so none is filled.
    pub const PERSISTENT_LATENCY_NS: f64 = 300.0;

    /// Which §6 row a node gets.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Row {
        /// DDR5 local.
        Dram,
        /// CXL direct-attached.
        CxlDirect,
        /// Persistent.
        Persistent,
    }

    /// The row for a node, from evidence other than its name: persistent media → persistent;
    /// backed by a CXL region/memdev, or memory-only and in a higher kernel tier than the
    /// lowest tier of the CPU nodes → CXL direct; has CPUs → DRAM; otherwise no row (a
    /// memory-only node in the DRAM kernel tier may be HBM or remote DRAM: not guessed).
    #[must_use]
    pub fn row_for(node: &MemoryNode, nodes: &[MemoryNode]) -> Option<Row> {
        if node.media == MediaKind::Persistent {
            return Some(Row::Persistent);
        }
        let dram_tier = nodes
            .iter()
            .filter(|n| n.has_cpus())
            .filter_map(|n| n.kernel_tier)
            .min();
        let slower_kernel_tier =
            matches!((node.kernel_tier, dram_tier), (Some(t), Some(d)) if t > d);
        if !node.cxl_memdevs.is_empty()
            || !node.cxl_regions.is_empty()
            || (!node.has_cpus() && slower_kernel_tier)
        {
            return Some(Row::CxlDirect);
        }
        if node.has_cpus() {
            return Some(Row::Dram);
        }
        None
    }

    /// Fill unknown figures; returns how many were filled.
    pub(super) fn fill(nodes: &mut [MemoryNode]) -> usize {
        // CXL "local + 80 ns": local is the fastest known CPU-node latency, else the table's.
        let local_ns = nodes
            .iter()
            .filter(|n| n.has_cpus())
            .filter_map(|n| n.performance.latency_ns())
            .fold(f64::INFINITY, f64::min);
        let local_ns = if local_ns.is_finite() {
            local_ns
        } else {
            DRAM_LATENCY_NS
        };
        let rows: Vec<Option<Row>> = nodes.iter().map(|n| row_for(n, nodes)).collect();
        let mut filled = 0;
        for (node, row) in nodes.iter_mut().zip(rows) {
            let (latency, bandwidth) = match row {
                None => continue,
                Some(Row::Dram) => (DRAM_LATENCY_NS, Some(DRAM_BANDWIDTH_GBS)),
                Some(Row::CxlDirect) => (
                    local_ns + CXL_DIRECT_EXTRA_NS,
                    Some(CXL_DIRECT_BANDWIDTH_GBS),
                ),
                Some(Row::Persistent) => (PERSISTENT_LATENCY_NS, None),
            };
            let p = &mut node.performance;
            for slot in [&mut p.read_latency_ns, &mut p.write_latency_ns] {
                if slot.is_none() {
                    *slot = Some(Figure::new(latency, FigureSource::Default));
                    filled += 1;
                }
            }
            if let Some(bw) = bandwidth {
                for slot in [&mut p.read_bandwidth_gbs, &mut p.write_bandwidth_gbs] {
                    if slot.is_none() {
                        *slot = Some(Figure::new(bw, FigureSource::Default));
                        filled += 1;
                    }
                }
            }
        }
        filled
    }
}

/// Parse a kernel node/cpu list such as `"0-1,3"` or `""` (empty: no members).
///
/// # Errors
/// A description of the first malformed element.
pub fn parse_list(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (range, stride) = match part.split_once(':') {
            // `0-7:2/4` group syntax is bitmap_parselist's; accept a plain stride only.
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad stride in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let num = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("bad number {s:?} in {part:?}"))
        };
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b || stride == 0 {
                    return Err(format!("bad range {part:?}"));
                }
                out.extend((a..=b).step_by(stride as usize));
            }
            None => out.push(num(range)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-1,3\n").unwrap(), vec![0, 1, 3]);
        assert_eq!(parse_list("").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_list("\n").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_list("2").unwrap(), vec![2]);
        assert_eq!(parse_list("0-6:2").unwrap(), vec![0, 2, 4, 6]);
        assert!(parse_list("3-1").is_err());
        assert!(parse_list("x").is_err());
    }

    fn reference(fastest: f64, base: f64) -> Option<TierReference> {
        Some(TierReference {
            fastest_latency_ns: fastest,
            baseline_bandwidth_gbs: Some(base),
        })
    }

    #[test]
    fn thresholds() {
        let r = reference(110.0, 205.0);
        let v = MediaKind::Volatile;
        // HBM beside DDR5: T0. The same bandwidth at CXL latency is not T0.
        assert_eq!(
            classify_one(Some(110.0), Some(1640.0), v, r),
            Some(Tier::T0)
        );
        assert_eq!(
            classify_one(Some(200.0), Some(1640.0), v, r),
            Some(Tier::T2)
        );
        // DRAM itself, and a faster DRAM that is not 2× the baseline.
        assert_eq!(classify_one(Some(110.0), Some(205.0), v, r), Some(Tier::T1));
        assert_eq!(classify_one(Some(110.0), Some(307.0), v, r), Some(Tier::T1));
        // Band edges: +60 is local, +61 is T2, +250 is T2, +251 is T3.
        assert_eq!(classify_one(Some(170.0), None, v, r), Some(Tier::T1));
        assert_eq!(classify_one(Some(171.0), None, v, r), Some(Tier::T2));
        assert_eq!(classify_one(Some(360.0), None, v, r), Some(Tier::T2));
        assert_eq!(classify_one(Some(361.0), None, v, r), Some(Tier::T3));
        // Persistent media is T3 whatever its figures; unknown latency is unknown.
        let p = MediaKind::Persistent;
        assert_eq!(classify_one(Some(110.0), Some(500.0), p, r), Some(Tier::T3));
        assert_eq!(classify_one(None, Some(205.0), v, r), None);
        // A single node is its own reference: T1 even at Xeon 6's 691 GB/s.
        let alone = reference(110.0, 691.0);
        assert_eq!(
            classify_one(Some(110.0), Some(691.0), v, alone),
            Some(Tier::T1)
        );
    }
}

//! What memqosd allocates on (`GET /v1/ffm/tiers`): every memory device or
//! node of its admission ledger, the tier it is in and why, its capacity and
//! bandwidth, and the bandwidth floors admitted on it in each policy window
//! with what is left.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ffm::LatencyClass;
use crate::units::{Bytes, GigabytesPerSecond};

/// Where a device, its tier and its figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TierSource {
    /// The digital twin's topology: a modelled device (its NUMA number is a
    /// modelled host's and names nothing on this machine).
    Model,
    /// Discovered on this machine by the Linux provider (`/sys`: NUMA
    /// nodes, HMAT access attributes, `memory_tiering`, `bus/cxl`).
    Discovered,
}

/// Where one performance figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FigureOrigin {
    /// The kernel's HMAT access attributes (platform-rated).
    Hmat,
    /// The digital twin's topology file.
    Twin,
    /// Not published by the kernel: memqosd's cited default for the kind of
    /// memory (memory-cxl.md §6), so an estimate.
    Default,
}

/// A figure and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourcedFigure {
    pub value: f64,
    pub origin: FigureOrigin,
}

/// Volatile or persistent media, as discovery knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Volatile,
    Persistent,
    /// Not known (a Linux node without a CXL region saying so).
    Unknown,
}

/// Why a device has its tier: the figures the classifier compared and the
/// rule that decided, and what the kernel says of the node where discovery
/// read it. Only what the provider really knows is filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TierBasis {
    /// The classifier's rule that placed the device, in words (tiers come
    /// from latency over the host's fastest node, bandwidth and media,
    /// never from names).
    #[schema(
        example = "latency 250 ns is 140 ns above the host's fastest node (110 ns): more than 60 ns and at most 250 ns above is T2"
    )]
    pub rule: String,
    /// Idle latency, ns (read, else write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ns: Option<SourcedFigure>,
    /// Latency of the fastest node the device was compared with, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fastest_latency_ns: Option<f64>,
    pub media: MediaKind,
    /// NUMA node number; whose numbering it is says `source` (`model`: a
    /// modelled host's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numa_node: Option<u32>,
    /// The kernel memory tier the node is in (`N` of
    /// `/sys/devices/virtual/memory_tiering/memory_tierN`; discovered only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tier: Option<u32>,
    /// CXL regions onlined as this node (discovered), or none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cxl_regions: Vec<String>,
    /// CXL memory devices behind it (`mem0`…; the twin's device ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cxl_memdevs: Vec<String>,
}

/// The floors admitted on a device in one policy window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WindowFloors {
    /// The window: the policies in force (`name` `start–end` `zone`), or
    /// `outside policy windows` for the rest of the week.
    #[schema(example = "night 20:00–08:00 Europe/Berlin")]
    pub window: String,
    /// Ids of the policies in force in this window; empty outside every
    /// window.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Floors admitted on the device in this window (the largest over the
    /// window's parts of the week).
    #[serde(rename = "admitted_GBs")]
    #[schema(value_type = f64, example = 40.0)]
    pub admitted_gbs: GigabytesPerSecond,
    /// Admission capacity (`admission_GBs`) minus `admitted_GBs`: what a
    /// new floor may still take in this window.
    #[serde(rename = "available_GBs")]
    #[schema(value_type = f64, example = 110.0)]
    pub available_gbs: GigabytesPerSecond,
}

/// One memory device or node memqosd allocates on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryTierDevice {
    /// The ledger's device id (`node<N>` on Linux, the topology id on the
    /// twin).
    #[schema(example = "cxl-pool-0")]
    pub id: String,
    pub tier: LatencyClass,
    pub source: TierSource,
    /// Hosts whose processes can reach it; empty: every host (this
    /// machine's own nodes).
    #[serde(default)]
    pub reachable_from: Vec<String>,
    pub basis: TierBasis,
    #[schema(value_type = u64)]
    pub capacity_bytes: Bytes,
    /// Bytes held by bundles placed on it.
    #[schema(value_type = u64)]
    pub allocated_bytes: Bytes,
    /// Peak bandwidth, GB/s (read, else write), with its origin.
    #[serde(rename = "bandwidth_GBs")]
    pub bandwidth_gbs: SourcedFigure,
    /// The part of the peak floors may take: `bandwidth_GBs` ×
    /// `admission_share`.
    #[serde(rename = "admission_GBs")]
    #[schema(value_type = f64)]
    pub admission_gbs: GigabytesPerSecond,
    /// Admitted floors and what is left, per policy window.
    pub windows: Vec<WindowFloors>,
    /// Present on a host's slice of a pooled CXL device (id `{device}@{host}`), whose
    /// memory the host reaches only through fabric paths: `capacity_bytes` is then the
    /// host's logical device (all of a single-logical device) and `bandwidth_GBs` and
    /// `admission_GBs` the sum of its active paths' guaranteed bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_slice: Option<FabricSlice>,
}

/// A host's slice of a pooled CXL device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FabricSlice {
    /// The pooled device.
    #[schema(example = "cxl-dev-001")]
    pub device: String,
    #[schema(example = "h0")]
    pub host: String,
    /// Whether an active fabric path from the host to the device opens the slice now;
    /// closed, nothing new is placed on it (what it holds stays booked).
    pub open: bool,
}

/// `GET /v1/ffm/tiers`: memqosd's admission ledger as one consistent
/// snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryTiers {
    /// The ledger's revision the snapshot was taken at (it changes with
    /// every grant, free, resize and policy).
    pub ledger_revision: u64,
    /// Share of each device's peak bandwidth that floors may take.
    #[schema(example = 0.75)]
    pub admission_share: f64,
    pub devices: Vec<MemoryTierDevice>,
    /// What discovery could not know (devices left out, defaults used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

//! CorridorLabs analytics over the kept history
//! (`GET /v1/analytics/synchrony`): which corridors, lanes and memory
//! bundles degrade together, and what they share in the topology that
//! could make them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Pearson correlation at or above which two corridors' series count as
/// moving together.
pub const SYNCHRONY_MIN_CORRELATION: f64 = 0.8;

/// Common sampling buckets two series need before their correlation is
/// computed at all.
pub const SYNCHRONY_MIN_COMMON_SAMPLES: usize = 4;

/// Which figure of the samples is correlated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SynchronyMetric {
    /// Hotter module case temperature.
    #[default]
    TempC,
    /// log10 of the worst lane's pre-FEC BER.
    PreFecBer,
    /// Energy per bit.
    PowerPjPerBit,
}

/// Which figure of the bundles' kept samples is correlated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BundleMetric {
    /// Achieved bandwidth, GB/s.
    #[default]
    AchievedGbs,
    /// Achieved bandwidth over the floor in force (a bundle without a floor
    /// has no ratio and no series).
    FloorRatio,
    /// 99th percentile access stall, ms.
    TailP99Ms,
}

/// What a series is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    Corridor,
    /// One lane of a corridor: its own figures from the same samples.
    Lane,
    /// A memory bundle.
    Bundle,
}

/// Where a series' samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesSource {
    /// Every sample is a model's: the digital twin's physics for corridors
    /// and lanes, memqosd's bandwidth and tail model for bundles.
    Model,
    /// Every sample was measured (real modules' monitors).
    Counter,
    /// Some of each.
    Mixed,
}

/// Whether a series took part in the correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesStatus {
    /// Compared with every other series of its kind.
    Compared,
    /// Fewer sampling buckets than a correlation needs
    /// ([`SYNCHRONY_MIN_COMMON_SAMPLES`]): reported, not correlated.
    TooFewSamples,
    /// Did not move over the window: correlates with nothing.
    Flat,
}

/// One series the analytics considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SynchronySeries {
    /// A corridor id, a lane (`<corridor>/lanes/<n>`) or a bundle id.
    pub id: String,
    pub kind: SeriesKind,
    pub source: SeriesSource,
    /// Sampling buckets with a value in the window.
    pub buckets: u32,
    pub status: SeriesStatus,
}

/// Body of `GET /v1/analytics/synchrony`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Synchrony {
    /// The window of kept samples correlated (wall-clock, inclusive).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The figure of corridors and lanes correlated.
    pub metric: SynchronyMetric,
    /// The figure of memory bundles correlated.
    pub bundle_metric: BundleMetric,
    /// Seconds of one sampling bucket: each corridor's samples are
    /// averaged per bucket and series are compared bucket by bucket.
    pub bucket_s: f64,
    /// Pairs at or above this correlation are listed and grouped (0.8).
    pub min_correlation: f64,
    /// Corridors with samples in the window.
    pub corridors: Vec<String>,
    /// Lanes with samples in the window (`<corridor>/lanes/<n>`; lanes
    /// carry temperature and pre-FEC BER, no energy figure of their own).
    pub lanes: Vec<String>,
    /// Memory bundles with samples in the window.
    pub bundles: Vec<String>,
    /// Every series considered, its kind, source, buckets and whether it
    /// was correlated. Only recorded samples make a series.
    pub series: Vec<SynchronySeries>,
    /// Pairs of one kind (corridor with corridor, lane with lane, bundle
    /// with bundle) whose series correlate at or above `min_correlation`,
    /// strongest first. A series that does not move (no variance) or has
    /// too few samples correlates with nothing.
    pub pairs: Vec<SynchronyPair>,
    /// Series linked by such pairs (connected components), with what they
    /// share.
    pub groups: Vec<SynchronyGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SynchronyPair {
    pub a: String,
    pub b: String,
    /// Pearson correlation of the two bucketed series, -1 to 1.
    pub correlation: f64,
    /// Buckets both series have.
    pub samples: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SynchronyGroup {
    pub kind: SeriesKind,
    /// The group's corridors, lanes or bundles.
    pub members: Vec<String>,
    /// The members of a corridor group (empty for lanes and bundles), as
    /// the first version of this document listed them.
    pub corridors: Vec<String>,
    /// The most specific part of the topology every member of the group
    /// uses: the likely shared cause.
    pub shared_cause: SharedCause,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SharedCause {
    pub kind: SharedCauseKind,
    /// Ids of what is shared (ports, links, hosts, memory devices, switch
    /// ports as `<switch>:<port>`, tiers; the topology's name for the rack).
    pub ids: Vec<String>,
    pub explanation: String,
}

/// From the most to the least specific: corridors and lanes share a port,
/// link, host or the rack; bundles a memory device, a fabric switch port,
/// a host, a tier or the rack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharedCauseKind {
    /// A memory device every bundle of the group has bytes on: its
    /// bandwidth is shared by every bundle placed there.
    Device,
    /// A CXL switch port every bundle's pooled memory crosses (the device's
    /// downstream port, or the host's upstream port).
    SwitchPort,
    /// A memory tier every bundle is in (different devices of one class).
    Tier,
    /// An optical port at an end of every corridor: one module, its case
    /// temperature and lasers.
    Port,
    /// A link every corridor crosses.
    Link,
    /// A host every corridor ends on.
    Host,
    /// Only the rack: its ambient temperature (the twin's profile) reaches
    /// every port.
    Rack,
    /// A member's placement is no longer known (a corridor released and its
    /// recorded versions gone).
    Unknown,
}

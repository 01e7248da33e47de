//! CorridorLabs analytics over the kept history
//! (`GET /v1/analytics/synchrony`): which corridors degrade together, and
//! what they share in the topology that could make them.

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

/// Body of `GET /v1/analytics/synchrony`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Synchrony {
    /// The window of kept samples correlated (wall-clock, inclusive).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub metric: SynchronyMetric,
    /// Seconds of one sampling bucket: each corridor's samples are
    /// averaged per bucket and series are compared bucket by bucket.
    pub bucket_s: f64,
    /// Pairs at or above this correlation are listed and grouped (0.8).
    pub min_correlation: f64,
    /// Corridors with samples in the window (each considered).
    pub corridors: Vec<String>,
    /// Corridor pairs whose series correlate at or above
    /// `min_correlation`, strongest first. A series that does not move
    /// (no variance) correlates with nothing.
    pub pairs: Vec<SynchronyPair>,
    /// Corridors linked by such pairs (connected components), with what
    /// they share.
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
    pub corridors: Vec<String>,
    /// The most specific part of the topology every corridor of the group
    /// uses: the likely shared cause.
    pub shared_cause: SharedCause,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SharedCause {
    pub kind: SharedCauseKind,
    /// Ids of what is shared (ports, links, hosts; the topology's name for
    /// the rack).
    pub ids: Vec<String>,
    pub explanation: String,
}

/// From the most to the least specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharedCauseKind {
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
    /// A corridor's placement is no longer known (released and its
    /// recorded versions gone).
    Unknown,
}

//! Kept history (`GET /v1/corridors/{id}/history`): a corridor's telemetry
//! samples and object versions over a window of wall-clock time, each with
//! the store revision it belongs to, so "what did corridor X look like at
//! 03:12" is a query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::corridor::{
    Corridor, CorridorStatus, CorridorTelemetrySource, DriftLevel, EyeMargin, LaneTelemetry,
};
use crate::units::{Celsius, PicojoulesPerBit};

/// Most telemetry samples one answer carries; a window holding more is
/// answered from its start with `truncated` set.
pub const MAX_HISTORY_SAMPLES: usize = 10_000;

/// Longest window one request may ask for, in seconds (one day).
pub const MAX_HISTORY_WINDOW_S: i64 = 86_400;

/// Window a request without `from` covers, in seconds (one hour).
pub const DEFAULT_HISTORY_WINDOW_S: i64 = 3_600;

/// Body of `GET /v1/corridors/{id}/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CorridorHistory {
    pub id: String,
    /// Start of the window answered (wall-clock time, inclusive).
    pub from: DateTime<Utc>,
    /// End of the window answered (wall-clock time, inclusive).
    pub to: DateTime<Utc>,
    /// Configured wall-clock seconds between two samples of a corridor.
    pub sample_interval_s: f64,
    /// Configured seconds samples and changes are kept. Whole files are
    /// removed, so what is older than this by less than one file's span
    /// (a seventh of the retention, at most a day) may still be answered.
    pub retention_s: f64,
    /// Telemetry samples in the window, oldest first: ordered by
    /// `observed_at` and by `resource_version` alike.
    pub samples: Vec<HistorySample>,
    /// Versions of the corridor object written in the window, in store
    /// revision order.
    pub changes: Vec<HistoryChange>,
    /// The window held more than 10,000 samples: these are its oldest;
    /// ask again from the last one's `observed_at`.
    pub truncated: bool,
}

/// One telemetry sample of a lit corridor: the figures
/// `GET /v1/corridors/{id}/telemetry` served from the same read-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistorySample {
    /// When the lanes were read back (wall-clock time).
    pub observed_at: DateTime<Utc>,
    /// The corridor object's `resource_version` (store revision) when the
    /// sample was taken: the version of the corridor these figures belong
    /// to.
    pub resource_version: String,
    /// Where the figures come from: `model` on the twin (modelled, not
    /// measured), `counter` from real modules' monitors.
    pub source: CorridorTelemetrySource,
    /// Post-FEC BER of the worst lane (floored at 1e-24, then an upper
    /// bound).
    pub ber: f64,
    /// Pre-FEC BER of the worst lane, as the modules report it.
    pub pre_fec_ber: f64,
    pub ber_is_upper_bound: bool,
    /// Eye margin judged from the worst pre-FEC BER against the KP4 limit,
    /// as the reconciler judges it.
    pub eye_margin: EyeMargin,
    /// The hotter module case.
    pub temp_c: Celsius,
    pub power_pj_per_bit: PicojoulesPerBit,
    pub drift: DriftLevel,
    /// Per lane, worse end.
    pub lanes: Vec<LaneTelemetry>,
}

/// One version of the corridor object, as the store's watch delivered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryChange {
    /// When corridord saw the change on the store's watch (wall-clock
    /// time, within milliseconds of the commit).
    pub observed_at: DateTime<Utc>,
    /// The store revision of the change.
    pub resource_version: String,
    #[serde(rename = "type")]
    pub change: HistoryChangeType,
    /// The object's status in this version.
    pub status: CorridorStatus,
    /// The object as written (for `DELETED`, its last version).
    pub object: Box<Corridor>,
}

/// What a change did to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HistoryChangeType {
    Added,
    Modified,
    Deleted,
}

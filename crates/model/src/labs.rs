//! CorridorLabs reports as the API lists them (`GET /v1/labs/reports`).
//! The reports themselves are files `corridorctl labs run` writes; the
//! server serves them as written.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One report kept under the state directory (`<state dir>/labs/<name>/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabsReportSummary {
    /// The report's directory: the scenario's name, unless written elsewhere with `--out`.
    #[schema(example = "hvac-failure")]
    pub name: String,
    /// The scenario's description.
    pub description: String,
    /// The scenario's seed.
    pub seed: u64,
    /// Simulated seconds the run lasted.
    pub duration_s: u64,
    pub corridors_offered: u32,
    pub corridors_blocked: u32,
    pub bundles_offered: u32,
    pub bundles_blocked: u32,
    pub calibration_events: u64,
}

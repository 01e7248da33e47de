//! What a run reports, and its JSON.
//!
//! Byte-identical across runs of one scenario: every collection is a
//! `Vec` in a fixed order (time, then id) or a struct, never a hash map;
//! times are seconds into the run (no wall time anywhere); floats are
//! rounded to a fixed number of significant digits before they are written
//! (`fixed`), so a last-bit difference in a model cannot show as noise.

use serde::Serialize;

use super::scenario::ScenarioFile;

/// The report's format, for readers that check it.
pub const FORMAT: &str = "corridorlabs-report/1";

/// Said in every report: where its figures come from.
pub const MODELLED: &str = "Every figure comes from CorridorOS's real services (admission, \
corrd's reconciler, heliopassd's tracking, memqosd's floors) running on the digital twin: \
optical and thermal figures are the twin's physics models (source \"model\"), not measurements \
of hardware.";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub modelled: &'static str,
    pub scenario: ScenarioFile,
    pub seed: u64,
    /// Simulated start (RFC 3339).
    pub start: String,
    pub ambient_profile: String,
    pub intervals: Vec<Interval>,
    pub corridors: Vec<CorridorTrace>,
    pub bundles: Vec<BundleTrace>,
    pub refusals: Vec<Refusal>,
    pub faults: Vec<AppliedFault>,
    pub calibration_events: Vec<CalibrationEvent>,
    pub totals: Totals,
}

/// One step of the run: what was offered in it, and the state at its end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Interval {
    /// End of the interval, seconds into the run.
    pub t_s: u64,
    pub corridors_offered: u32,
    pub corridors_blocked: u32,
    /// Blocked / offered in this interval; null when nothing was offered.
    pub corridor_blocking: Option<f64>,
    pub bundles_offered: u32,
    pub bundles_blocked: u32,
    pub bundle_blocking: Option<f64>,
    /// Corridors held at the end of the interval, by status.
    pub corridors_held: u32,
    pub corridors_lit: u32,
    pub corridors_degraded: u32,
    pub bundles_live: u32,
    /// Live bundles whose achieved bandwidth meets their floor.
    pub floors_met: u32,
    /// Highest module temperature over lit corridors (°C).
    pub max_temp_c: Option<f64>,
    /// Worst post-FEC BER over lit corridors.
    pub worst_ber: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorridorTrace {
    pub id: String,
    pub arrived_s: f64,
    pub released_s: Option<f64>,
    /// The ports it was granted (A end, B end).
    pub ports: Vec<String>,
    pub samples: Vec<CorridorSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorridorSample {
    pub t_s: u64,
    pub status: String,
    pub ber: Option<f64>,
    pub pre_fec_ber: Option<f64>,
    pub temp_c: Option<f64>,
    pub power_pj_per_bit: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleTrace {
    pub id: String,
    pub arrived_s: f64,
    pub freed_s: Option<f64>,
    pub floor_gbs: f64,
    pub samples: Vec<BundleSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleSample {
    pub t_s: u64,
    pub achieved_gbs: f64,
    pub floor_met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub t_s: f64,
    pub kind: &'static str,
    pub status: u16,
    pub reason: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppliedFault {
    pub t_s: u64,
    pub fault: serde_json::Value,
    /// `null` if the twin took it, else why not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalibrationEvent {
    pub t_s: u64,
    /// `first_calibration` (heliopassd calibrated a newly lit port),
    /// `rings_left_lock`, `rings_lost` (tracking), `degraded`, `repaired`,
    /// `unrepaired`, `deferred` (corrd's reconciler pass).
    pub kind: &'static str,
    pub target: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub corridors_offered: u32,
    pub corridors_blocked: u32,
    pub corridor_blocking: Option<f64>,
    pub bundles_offered: u32,
    pub bundles_blocked: u32,
    pub bundle_blocking: Option<f64>,
    /// Bundle samples (live bundle × step) whose floor was met, of all.
    pub floor_samples_met: u64,
    pub floor_samples: u64,
    pub max_temp_c: Option<f64>,
    pub worst_ber: Option<f64>,
    pub calibration_events: u64,
}

/// `x` rounded to 6 significant digits; `None` if it is not finite.
pub fn fixed(x: f64) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        return Some(0.0);
    }
    let text = format!("{x:.5e}");
    text.parse().ok()
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| fixed(f64::from(part) / f64::from(whole)).unwrap_or(0.0))
}

impl Report {
    /// The report as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the report: {e}\"}}"));
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_keeps_six_significant_digits() {
        assert_eq!(fixed(1.234_567_89e-12), Some(1.234_57e-12));
        assert_eq!(fixed(24.000_000_1), Some(24.0));
        assert_eq!(fixed(f64::NAN), None);
        assert_eq!(fixed(0.0), Some(0.0));
        assert_eq!(ratio(1, 3), Some(0.333_333));
        assert_eq!(ratio(1, 0), None);
    }
}

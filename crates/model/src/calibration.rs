//! HELIOPASS lane calibration (`/v1/heliopass`, `/v1/corridors/{id}/recalibrate`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{OperationState, ResourceMeta};
use crate::problem::FieldViolation;
use crate::units::{Celsius, Nanometers, PicojoulesPerBit, Seconds};
use crate::validate::{Validate, Violations};

/// Best BER target accepted: 1e-18 cannot be verified in any practical
/// measurement time (it takes ~10^18 bits, hours at 400 Gb/s, per decade).
pub const MIN_TARGET_BER: f64 = 1e-18;
/// Worst BER target accepted: above ~1e-2 no deployed FEC recovers the
/// stream, so the link would be useless.
pub const MAX_TARGET_BER: f64 = 1e-2;
/// 100 pJ/bit is two orders above today's optical I/O (~1 pJ/bit); a larger
/// budget is most likely a unit mistake (fJ for pJ).
pub const MAX_POWER_BUDGET_PJ_PER_BIT: f64 = 100.0;
/// Ambient temperatures beyond the industrial range (-40..=125 °C) are
/// outside what any part is rated for.
pub const MIN_AMBIENT_C: f64 = -40.0;
pub const MAX_AMBIENT_C: f64 = 125.0;

/// How much of the operating point to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMode {
    /// Sweep bias and heater over the full range, lane by lane.
    #[default]
    Full,
    /// Track drift around the current operating point; fast, no traffic
    /// interruption.
    Incremental,
}

/// The optional targets shared by both calibration requests; absent ones
/// take the service defaults.
fn validate_targets(
    v: &mut Violations,
    target_ber: Option<f64>,
    power_budget: Option<PicojoulesPerBit>,
    ambient_profile: Option<&str>,
) {
    if let Some(ber) = target_ber {
        v.range("/target_ber", ber, MIN_TARGET_BER, MAX_TARGET_BER);
    }
    if let Some(budget) = power_budget {
        v.above(
            "/power_budget_pj_per_bit",
            budget.get(),
            0.0,
            MAX_POWER_BUDGET_PJ_PER_BIT,
        );
    }
    if let Some(name) = ambient_profile {
        v.identifier("/ambient_profile", name);
    }
}

/// Body of `POST /v1/heliopass/calibrate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationRequest {
    #[schema(example = "cor-7af3")]
    pub corridor_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ber: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_budget_pj_per_bit: Option<PicojoulesPerBit>,
    /// Name of an [`AmbientProfile`] to calibrate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CalibrationMode>,
}

impl Validate for CalibrationRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/corridor_id", &self.corridor_id);
        validate_targets(
            &mut v,
            self.target_ber,
            self.power_budget_pj_per_bit,
            self.ambient_profile.as_deref(),
        );
        v.into_result()
    }
}

/// Body of `POST /v1/corridors/{id}/recalibrate` (the corridor is in the
/// path); may be empty (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecalibrateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ber: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_budget_pj_per_bit: Option<PicojoulesPerBit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CalibrationMode>,
}

impl RecalibrateRequest {
    pub fn for_corridor(self, corridor_id: impl Into<String>) -> CalibrationRequest {
        CalibrationRequest {
            corridor_id: corridor_id.into(),
            target_ber: self.target_ber,
            power_budget_pj_per_bit: self.power_budget_pj_per_bit,
            ambient_profile: self.ambient_profile,
            mode: self.mode,
        }
    }
}

impl Validate for RecalibrateRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        validate_targets(
            &mut v,
            self.target_ber,
            self.power_budget_pj_per_bit,
            self.ambient_profile.as_deref(),
        );
        v.into_result()
    }
}

/// The operating point found for one lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LaneCalibration {
    pub lane: u32,
    pub target_lambda_nm: Nanometers,
    /// Resonance reached, within the ring's locking accuracy.
    pub achieved_lambda_nm: Nanometers,
    /// Modulator bias.
    pub bias_v: f64,
    /// Ring heater power.
    pub heater_mw: f64,
    pub ber: f64,
}

/// A calibration run, as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Calibration {
    #[schema(example = "cal-19be")]
    pub id: String,
    pub corridor_id: String,
    pub mode: CalibrationMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ber: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_budget_pj_per_bit: Option<PicojoulesPerBit>,
    pub state: OperationState,
    /// 0..=100.
    pub progress_percent: u8,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<LaneCalibration>,
    /// Worst-lane BER after calibration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achieved_ber: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_pj_per_bit: Option<PicojoulesPerBit>,
    /// The operation tracking this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

impl Calibration {
    /// A run just accepted from `request`.
    pub fn pending(id: impl Into<String>, request: CalibrationRequest, now: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            corridor_id: request.corridor_id,
            mode: request.mode.unwrap_or_default(),
            ambient_profile: request.ambient_profile,
            target_ber: request.target_ber,
            power_budget_pj_per_bit: request.power_budget_pj_per_bit,
            state: OperationState::Pending,
            progress_percent: 0,
            created_at: now,
            completed_at: None,
            lanes: Vec::new(),
            achieved_ber: None,
            power_pj_per_bit: None,
            operation_id: None,
            meta: ResourceMeta::new(now),
        }
    }
}

/// A named ambient temperature profile (`GET /v1/heliopass/profiles`):
/// `base_temp_c + swing_c · sin(2π t / period_s)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AmbientProfile {
    #[schema(example = "datacenter-diurnal")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub base_temp_c: Celsius,
    /// Amplitude, ≥ 0.
    pub swing_c: Celsius,
    /// ≥ 1.
    pub period_s: Seconds,
}

impl Validate for AmbientProfile {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/name", &self.name);
        v.length("/description", self.description.chars().count(), 0, 1024);
        v.range(
            "/base_temp_c",
            self.base_temp_c.get(),
            MIN_AMBIENT_C,
            MAX_AMBIENT_C,
        );
        v.range(
            "/swing_c",
            self.swing_c.get(),
            0.0,
            MAX_AMBIENT_C - MIN_AMBIENT_C,
        );
        // One year: the longest cycle (seasonal) worth modelling.
        v.range("/period_s", self.period_s.get(), 1, 31_536_000);
        v.into_result()
    }
}

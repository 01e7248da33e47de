//! HELIOPASS lane calibration (`/v1/heliopass`, `/v1/corridors/{id}/recalibrate`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{OperationState, ResourceMeta};
use crate::problem::FieldViolation;
use crate::units::{Celsius, Nanometers, PicojoulesPerBit, Seconds};
use crate::validate::{Validate, Violations, rule};

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
    /// Track drift around the current operating point (the dither loop
    /// from the stored calibration, re-acquiring lost rings); fast, no
    /// traffic interruption. `incremental` is accepted as an alias.
    #[serde(alias = "incremental")]
    Track,
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

/// Body of `POST /v1/heliopass/calibrate`: a corridor (every lane of
/// both its ends) or one optical port (its whole ring bank).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationRequest {
    /// The corridor to calibrate; exactly one of `corridor_id` and `port`
    /// (a 422 with rule `compatible` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "cor-7af3", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub corridor_id: Option<String>,
    /// The optical port (topology id) to calibrate (admin: a port may carry
    /// several domains' lanes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "op-h0-0", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1e-18, maximum = 0.01)]
    pub target_ber: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 100)]
    pub power_budget_pj_per_bit: Option<PicojoulesPerBit>,
    /// Name of an [`AmbientProfile`] to calibrate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub ambient_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CalibrationMode>,
}

impl Validate for CalibrationRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        match (&self.corridor_id, &self.port) {
            (Some(id), None) => {
                v.identifier("/corridor_id", id);
            }
            (None, Some(port)) => {
                v.identifier("/port", port);
            }
            (None, None) => v.add(
                "/corridor_id",
                rule::COMPATIBLE,
                "name the corridor (corridor_id) or the optical port (port) to calibrate",
            ),
            (Some(_), Some(_)) => v.add(
                "/port",
                rule::COMPATIBLE,
                "name either a corridor or a port, not both",
            ),
        }
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
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub ambient_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CalibrationMode>,
}

impl RecalibrateRequest {
    pub fn for_corridor(self, corridor_id: impl Into<String>) -> CalibrationRequest {
        CalibrationRequest {
            corridor_id: Some(corridor_id.into()),
            port: None,
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

/// Where one ring's loop is (the HELIOPASS vendor page's lock status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LaneLockState {
    /// Heater parked, no loop.
    Parked,
    /// Calibration sweep or re-acquisition under way.
    Acquiring,
    /// The dither loop holds the ring on its lane.
    Locked,
    /// Lock lost; re-acquisition pending.
    Lost,
}

/// The operating point found for one lane (one end's ring), and its
/// progress while the calibration runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LaneCalibration {
    /// Module lane (1-based).
    pub lane: u32,
    /// The optical port (corridor end) the ring is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The lane's laser line (grid position).
    pub target_lambda_nm: Nanometers,
    /// Resonance reached: the line plus the loop's latest error estimate.
    pub achieved_lambda_nm: Nanometers,
    /// Loop state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<LaneLockState>,
    /// Modulator bias, V (reverse bias is negative).
    pub bias_v: f64,
    /// Ring heater power, mW.
    pub heater_mw: f64,
    /// The loop's detuning estimate, pm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_error_pm: Option<f64>,
    /// Pre-FEC BER the ring page reported before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ber_before: Option<f64>,
    /// Pre-FEC BER reported after (the operating point's).
    pub ber: f64,
}

/// A calibration run, as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Calibration {
    #[schema(example = "cal-19be")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corridor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    pub mode: CalibrationMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
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
            port: request.port,
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
/// at `t` seconds after it applies, the base (`base_temp_c`, replaced by
/// the `temp_c` of the latest step with `at_s ≤ t`) plus
/// `swing_c / 2 · sin(2π t / period_s)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmbientProfile {
    #[schema(example = "datacenter-diurnal", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: String,
    /// Where the figures come from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 1024)]
    pub source: String,
    #[schema(value_type = f64, minimum = -40, maximum = 125)]
    pub base_temp_c: Celsius,
    /// Peak-to-peak swing, ≥ 0; base ± swing/2 must stay within −40…125 °C
    /// (a 422 with rule `compatible` otherwise).
    #[schema(value_type = f64, minimum = 0, maximum = 165)]
    pub swing_c: Celsius,
    /// ≥ 1.
    #[schema(value_type = u64, minimum = 1, maximum = 31536000)]
    pub period_s: Seconds,
    /// Step changes of the base, in increasing time order (a 422 with rule
    /// `compatible` otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 64)]
    pub steps: Vec<AmbientStep>,
}

/// A step change of an ambient profile's base temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmbientStep {
    /// Seconds after the profile applies.
    #[schema(value_type = u64, minimum = 0, maximum = 31536000)]
    pub at_s: Seconds,
    /// The new base, °C.
    #[schema(value_type = f64, minimum = -40, maximum = 125)]
    pub temp_c: Celsius,
}

/// Body of `PUT /v1/admin/twin/ambient`: which part of the twin follows
/// which profile (a listed one by name, or one given inline). Neither
/// `host` nor `port`: the whole rack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwinAmbientRequest {
    /// Only this host's optical ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "h0", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub host: Option<String>,
    /// Only this optical port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "op-h0-0", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub port: Option<String>,
    /// A profile of `GET /v1/heliopass/profiles`; exactly one of `profile`
    /// and `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "step-up-10k", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub profile: Option<String>,
    /// A profile given inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<AmbientProfile>,
}

impl Validate for TwinAmbientRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if self.host.is_some() && self.port.is_some() {
            v.add("/port", rule::COMPATIBLE, "name a host or a port, not both");
        }
        if let Some(h) = &self.host {
            v.identifier("/host", h);
        }
        if let Some(p) = &self.port {
            v.identifier("/port", p);
        }
        match (&self.profile, &self.custom) {
            (Some(name), None) => {
                v.identifier("/profile", name);
            }
            (None, Some(custom)) => {
                if let Err(items) = custom.validate() {
                    for item in items {
                        v.add(format!("/custom{}", item.pointer), &item.rule, item.message);
                    }
                }
            }
            (None, None) => v.add(
                "/profile",
                rule::COMPATIBLE,
                "name a profile (profile) or give one (custom)",
            ),
            (Some(_), Some(_)) => v.add(
                "/custom",
                rule::COMPATIBLE,
                "name a profile or give one, not both",
            ),
        }
        v.into_result()
    }
}

/// What `PUT /v1/admin/twin/ambient` applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TwinAmbientStatus {
    /// The profile now followed.
    pub profile: AmbientProfile,
    /// Its time origin: the plant's simulated time when it was applied.
    pub applied_at: DateTime<Utc>,
    /// The optical ports that follow it.
    pub ports: Vec<String>,
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
        // The swing must stay physical around the base.
        // (Only when both are in range on their own: one violation each.)
        let base_ok = (MIN_AMBIENT_C..=MAX_AMBIENT_C).contains(&self.base_temp_c.get());
        let swing_ok = (0.0..=MAX_AMBIENT_C - MIN_AMBIENT_C).contains(&self.swing_c.get());
        if base_ok && swing_ok {
            let half = self.swing_c.get() / 2.0;
            if self.base_temp_c.get() - half < MIN_AMBIENT_C
                || self.base_temp_c.get() + half > MAX_AMBIENT_C
            {
                v.add(
                    "/swing_c",
                    rule::COMPATIBLE,
                    format!("base ± swing/2 must stay within {MIN_AMBIENT_C}..={MAX_AMBIENT_C} °C"),
                );
            }
        }
        v.length("/steps", self.steps.len(), 0, 64);
        let mut last = None;
        for (i, step) in self.steps.iter().enumerate() {
            v.range(
                &format!("/steps/{i}/temp_c"),
                step.temp_c.get(),
                MIN_AMBIENT_C,
                MAX_AMBIENT_C,
            );
            v.range(&format!("/steps/{i}/at_s"), step.at_s.get(), 0, 31_536_000);
            if last.is_some_and(|l| step.at_s.get() <= l) {
                v.add(
                    format!("/steps/{i}/at_s"),
                    rule::COMPATIBLE,
                    "steps must be in increasing time order",
                );
            }
            last = Some(step.at_s.get());
        }
        v.into_result()
    }
}

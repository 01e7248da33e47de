//! Photonic corridors (`/v1/corridors`, served by corrd).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::ResourceMeta;
use crate::problem::FieldViolation;
use crate::units::{
    Celsius, Gbps, Millimeters, Nanometers, Nanoseconds, PicojoulesPerBit, Seconds,
};
use crate::validate::{Validate, Violations, pointer, rule};

/// Most lanes one corridor may bundle: the largest wavelength count of
/// today's comb-laser optical I/O chiplets (64 λ per fibre).
pub const MAX_LANES: u32 = 64;
/// Lowest allowed wavelength: the start of the C band (ITU-T G.694.1 DWDM
/// grids are defined over C and L).
pub const LAMBDA_MIN_NM: f64 = 1520.0;
/// Highest allowed wavelength: the end of the L band.
pub const LAMBDA_MAX_NM: f64 = 1630.0;
/// Two wavelengths closer than this share a slot: 6.25 GHz, the finest
/// flex-grid granularity of G.694.1, is about 0.05 nm at 1550 nm.
pub const LAMBDA_MIN_SPACING_NM: f64 = 0.05;
/// 64 lanes at 200 Gb/s (the fastest 224G-class PAM4 lanes). Anything above
/// is physically impossible and most likely a unit mistake.
pub const MAX_GBPS: f64 = 12_800.0;
/// Latency budgets beyond 1 ms cannot constrain anything within
/// [`MAX_REACH_MM`] (10 km of fibre is about 50 µs); larger values are almost
/// certainly a unit mistake (ps for ns).
pub const MAX_LATENCY_BUDGET_NS: u64 = 1_000_000;
/// 10 km: past that it is a metro DWDM link, not a rack-scale corridor.
pub const MAX_REACH_MM: f64 = 10_000_000.0;
/// Longest lease: one year, so that forgotten grants still expire.
pub const MAX_LEASE_TTL_S: u64 = 31_536_000;

/// Corridor technology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum CorridorType {
    /// Silicon photonics (microring modulators, Ge detectors).
    SiCorridor,
    /// Carbon-based photonics (graphene / CNT devices).
    CarbonCorridor,
}

/// Guiding medium. The RFC shows `waveguide`; `fiber` covers links between
/// boards or racks. Honoured: a corridor runs only over ports (and so
/// links) of its mode's medium — `waveguide` is SOI or SiN, `fiber` is
/// single-mode fibre; endpoints of another medium are a 422 on `/mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorridorMode {
    Waveguide,
    Fiber,
}

/// Traffic class; also used by fabric paths.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QosPriority {
    Gold,
    Silver,
    Bronze,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorridorQos {
    /// Lossless class (priority flow control). A corridor is a dedicated
    /// circuit with no shared queue, so it never drops for congestion; what
    /// could still lose traffic in flight is pre-emption by gold, which only
    /// bronze suffers. So `pfc: true` is honoured by refusing it with
    /// `bronze` (422, rule `compatible`): a lossless corridor is gold or
    /// silver and is never pre-empted. Pause-frame configuration of the
    /// hosts' NICs is above the optical modules and outside corridord.
    pub pfc: bool,
    pub priority: QosPriority,
}

/// Body of `POST /v1/corridors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorridorRequest {
    pub corridor_type: CorridorType,
    /// 1..=64.
    #[schema(example = 8, minimum = 1, maximum = 64)]
    #[serde(deserialize_with = "crate::units::integral")]
    pub lanes: u32,
    /// One wavelength per lane (exactly `lanes` of them), within the C+L
    /// band, at least 0.05 nm apart. The count and the spacing relate
    /// fields or items, which JSON Schema cannot state: a request breaking
    /// them is a 422 with rule `compatible` or `unique`.
    #[schema(
        example = json!([1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557]),
        schema_with = crate::schema::wavelengths
    )]
    pub lambda_nm: Vec<Nanometers>,
    /// Guaranteed aggregate rate, > 0.
    #[schema(value_type = f64, exclusive_minimum = 0, maximum = 12800)]
    pub min_gbps: Gbps,
    /// End-to-end latency the path must stay under, > 0.
    #[schema(value_type = u64, minimum = 1, maximum = 1000000)]
    pub latency_budget_ns: Nanoseconds,
    /// Physical distance to cover, > 0.
    #[schema(value_type = f64, exclusive_minimum = 0, maximum = 10000000)]
    pub reach_mm: Millimeters,
    pub mode: CorridorMode,
    pub qos: CorridorQos,
    /// Grant only over devices holding a valid attestation ticket.
    pub attestation_required: bool,
    /// The two (different) optical port ids to join; the planner picks
    /// them if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::port_pair)]
    pub endpoints: Option<[String; 2]>,
    /// Owner; defaults to the client certificate's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,63}$")]
    pub security_domain: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::schema::labels)]
    pub labels: BTreeMap<String, String>,
    /// Lease length in seconds; [`DEFAULT_LEASE_TTL_S`] (3600) if absent.
    /// The capacity is released when the lease runs out unless
    /// `POST /v1/corridors/{id}/lease` renews it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 31536000)]
    pub policy_lease_ttl_s: Option<Seconds>,
}

/// Lease length of a corridor whose request names none, seconds.
pub const DEFAULT_LEASE_TTL_S: u64 = 3600;

impl Validate for CorridorRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.range("/lanes", self.lanes, 1, MAX_LANES);
        validate_lambdas(&mut v, self.lanes, &self.lambda_nm);
        v.above("/min_gbps", self.min_gbps.get(), 0.0, MAX_GBPS);
        v.above(
            "/latency_budget_ns",
            self.latency_budget_ns.get(),
            0,
            MAX_LATENCY_BUDGET_NS,
        );
        v.above("/reach_mm", self.reach_mm.get(), 0.0, MAX_REACH_MM);
        if self.qos.pfc && self.qos.priority == QosPriority::Bronze {
            v.add(
                "/qos/pfc",
                rule::COMPATIBLE,
                "a lossless (pfc) corridor must be gold or silver: bronze may be pre-empted by gold, which drops what is in flight",
            );
        }
        if let Some([a, b]) = &self.endpoints {
            v.identifier("/endpoints/0", a);
            v.identifier("/endpoints/1", b);
            if a == b {
                v.add(
                    "/endpoints/1",
                    rule::UNIQUE,
                    "a corridor joins two different ports",
                );
            }
        }
        if let Some(domain) = &self.security_domain {
            v.security_domain("/security_domain", domain);
        }
        v.labels("/labels", &self.labels);
        if let Some(ttl) = self.policy_lease_ttl_s {
            v.range("/policy_lease_ttl_s", ttl.get(), 1, MAX_LEASE_TTL_S);
        }
        v.into_result()
    }
}

fn validate_lambdas(v: &mut Violations, lanes: u32, lambdas: &[Nanometers]) {
    if lambdas.len() != lanes as usize {
        v.add(
            "/lambda_nm",
            rule::COMPATIBLE,
            format!(
                "one wavelength per lane: {lanes} lanes but {} wavelengths",
                lambdas.len()
            ),
        );
    }
    for (i, lambda) in lambdas.iter().enumerate() {
        v.range(
            &pointer("/lambda_nm", i),
            lambda.get(),
            LAMBDA_MIN_NM,
            LAMBDA_MAX_NM,
        );
    }
    // Sort a copy of the indices by wavelength so that neighbours are the
    // only candidates for a clash; report the later index of each clash.
    let mut order: Vec<usize> = (0..lambdas.len())
        .filter(|&i| lambdas[i].get().is_finite())
        .collect();
    order.sort_by(|&a, &b| lambdas[a].get().total_cmp(&lambdas[b].get()));
    let mut clashing: Vec<(usize, usize)> = order
        .windows(2)
        .filter(|w| lambdas[w[1]].get() - lambdas[w[0]].get() < LAMBDA_MIN_SPACING_NM)
        .map(|w| (w[0].min(w[1]), w[0].max(w[1])))
        .collect();
    clashing.sort_unstable();
    for (first, second) in clashing {
        v.add(
            pointer("/lambda_nm", second),
            rule::UNIQUE,
            format!(
                "{} is within {LAMBDA_MIN_SPACING_NM} nm of lambda_nm[{first}] = {}; lanes need distinct wavelengths",
                lambdas[second], lambdas[first]
            ),
        );
    }
}

/// Optical eye quality, from the receiver's margin measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EyeMargin {
    Ok,
    Marginal,
    Fail,
}

/// Lifecycle of a corridor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorridorStatus {
    /// Accepted, not yet admitted.
    Pending,
    /// Capacity granted; lasers, rings and switches being set up.
    Provisioning,
    Active,
    /// Carrying traffic outside its guarantees (BER, rate).
    Degraded,
    /// Lease ended or deleted; capacity returned.
    Released,
    Failed,
}

/// State of one lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    Up,
    Down,
    Calibrating,
    Degraded,
}

/// One lane of a corridor's wavelength set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LaneStatus {
    /// Index into `lambda_nm`.
    pub lane: u32,
    pub lambda_nm: Nanometers,
    pub state: LaneState,
    /// Post-FEC bit error rate of the lane, worse end (never below the
    /// CMIS F16 floor 1e-24, which then is an upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ber: Option<f64>,
    /// Received optical power.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_power_dbm: Option<f64>,
}

/// A corridor as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Corridor {
    #[schema(example = "cor-7af3")]
    pub id: String,
    pub corridor_type: CorridorType,
    pub lanes: u32,
    /// The wavelengths as requested.
    pub lambda_nm: Vec<Nanometers>,
    /// The DWDM grid channel each requested wavelength was snapped to (the
    /// nearest channel of the ports' grid), in request order: what the
    /// lasers are tuned to. Empty until capacity is granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assigned_lambda_nm: Vec<Nanometers>,
    pub min_gbps: Gbps,
    pub latency_budget_ns: Nanoseconds,
    pub reach_mm: Millimeters,
    pub mode: CorridorMode,
    pub qos: CorridorQos,
    pub attestation_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 2, max_items = 2)]
    pub endpoints: Option<[String; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_lease_ttl_s: Option<Seconds>,
    /// Rate the planned path can carry (≥ `min_gbps` once active).
    pub achievable_gbps: Gbps,
    /// Post-FEC bit error rate of the worst lane (the RFC's 1e-12 target is
    /// post-FEC): the model's prediction until the lanes are lit, then
    /// the read-back pre-FEC BER through the assignment's FEC. Never below
    /// the CMIS F16 floor 1e-24, which then is an upper bound.
    pub ber: f64,
    /// True when `ber` sits at the CMIS F16 floor (1e-24): the real rate is
    /// at most that, not equal to it.
    #[serde(default)]
    pub ber_is_upper_bound: bool,
    pub eye_margin: EyeMargin,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    pub status: CorridorStatus,
    /// Per-lane state of the wavelength set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<LaneStatus>,
    /// Link ids the corridor traverses, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// Number of links in `path`.
    #[serde(default)]
    pub hops: u32,
    /// Where the grant sits on the hardware: ports, module lanes, grid
    /// channels and the lane plan the physics model chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<CorridorAssignment>,
    /// With `attestation_required`: the attestations (`attest-…`) of the
    /// optical modules at the corridor's two ends that vouched for them
    /// when it was activated, near end first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<String>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

/// What `POST /v1/corridors?dry_run=true` answers: the plan a grant of the
/// request would make now, from the same planner and admission code up to
/// the store transaction, with nothing committed (no capacity held, no lane
/// lit, no lease). A grant made later plans again and may differ if
/// capacity changed meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CorridorPlan {
    /// Links in path order.
    pub path: Vec<String>,
    pub hops: u32,
    /// The wavelengths the grant would tune, snapped to the ports' grid.
    pub assigned_lambda_nm: Vec<Nanometers>,
    /// `lanes × lane rate × FEC code rate`, Gb/s.
    pub achievable_gbps: Gbps,
    /// Predicted post-FEC BER of a lane (modelled), floored as a corridor
    /// reports it.
    pub ber: f64,
    pub ber_is_upper_bound: bool,
    pub eye_margin: EyeMargin,
    /// Margin the technology requires over the receiver, dB (the plan's
    /// `assignment.margin_db` is what the path gives).
    pub required_margin_db: f64,
    /// What limits the lane: `unsupported_rate`, `heater_range`, or
    /// `loss:` and the largest term of the loss budget.
    pub binding_constraint: String,
    /// Bronze corridors a grant would pre-empt (gold requests only).
    pub preempts: Vec<String>,
    pub assignment: CorridorAssignment,
}

/// `GET /v1/corridors/{id}/physics`, the physics decoder: for each lane of
/// the corridor at each end, the chain from the far end's laser through the
/// link and the rings to the receiver's Q, BER, margin and energy per bit,
/// term by term, each with its basis and the source of its numbers (paper,
/// standard, datasheet, or a stated assumption). What the digital twin
/// evaluated at its latest step: modelled, never measured (a plant of real
/// modules answers 409 `NotATwin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CorridorPhysics {
    pub id: String,
    /// Always `model`.
    pub source: CorridorTelemetrySource,
    pub lanes: Vec<LanePhysics>,
}

/// One receiving lane's chain (see [`CorridorPhysics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LanePhysics {
    /// The receiving port (the light comes from the other end).
    pub port: String,
    /// Corridor lane (0-based).
    pub lane: u32,
    /// CMIS module lane (1-based).
    pub module_lane: u8,
    /// Line rate, modulation, symbol rate and FEC.
    pub signal: String,
    /// Launch power, then every loss of the budget, then the received and
    /// required power and the margin, in dB or dBm.
    pub budget: Vec<PhysicsTerm>,
    /// Decision Q of one eye.
    pub q: f64,
    pub pre_fec_ber: f64,
    /// Post-FEC BER, floored at 1e-24 as a corridor reports it.
    pub post_fec_ber: f64,
    pub post_fec_ber_is_upper_bound: bool,
    /// Margin the technology requires over the receiver, dB.
    pub required_margin_db: f64,
    /// `unsupported_rate`, `heater_range`, or `loss:` and the largest loss.
    pub limiting_factor: String,
    /// Energy per bit: transmitter, receiver, ring tuning, laser.
    pub energy: Vec<PhysicsTerm>,
    /// One-hop latency (time of flight, SerDes, FEC), ns.
    pub latency_ns: f64,
}

/// One term of a lane's chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PhysicsTerm {
    /// e.g. `propagation`, `received`.
    pub name: String,
    pub value: f64,
    /// `dB`, `dBm` or `pJ/b`.
    pub unit: String,
    /// How the value follows from the inputs (e.g. "75 mm × 0.01 dB/mm").
    pub basis: String,
    /// Where the numbers come from.
    pub source: String,
}

/// The hardware a granted corridor holds. Lane `i` of the corridor is
/// module lane `module_lanes[i]` on both ports, tuned to ITU grid channel
/// `grid_channels[i]` (f = 193.1 THz + n x spacing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CorridorAssignment {
    /// The two optical ports, in path order.
    #[schema(min_items = 2, max_items = 2)]
    pub ports: [String; 2],
    /// CMIS module lane (1-based) per corridor lane, the same on both ends.
    pub module_lanes: Vec<u8>,
    /// ITU grid index n per corridor lane.
    pub grid_channels: Vec<i32>,
    /// Grid spacing of those channels, GHz.
    pub grid_spacing_ghz: f64,
    /// Line rate per lane the planner chose for `corridor_type`, Gb/s.
    pub lane_rate_gbps: f64,
    /// `nrz` or `pam4`.
    pub modulation: String,
    /// FEC the lane plan assumes (`kp4`, `kr4`, `none`).
    pub fec: String,
    /// Predicted lane latency, ns.
    pub latency_ns: f64,
    /// Predicted link margin over the receiver requirement, dB.
    pub margin_db: f64,
    /// Predicted energy per bit, pJ/b.
    pub energy_pj_per_bit: f64,
}

impl Corridor {
    /// The client's spec, as it would be posted again.
    pub fn request(&self) -> CorridorRequest {
        CorridorRequest {
            corridor_type: self.corridor_type,
            lanes: self.lanes,
            lambda_nm: self.lambda_nm.clone(),
            min_gbps: self.min_gbps,
            latency_budget_ns: self.latency_budget_ns,
            reach_mm: self.reach_mm,
            mode: self.mode,
            qos: self.qos.clone(),
            attestation_required: self.attestation_required,
            endpoints: self.endpoints.clone(),
            security_domain: self.security_domain.clone(),
            labels: self.meta.labels.clone(),
            policy_lease_ttl_s: self.policy_lease_ttl_s,
        }
    }

    /// A corridor just accepted from `request`: pending, nothing measured
    /// yet (`ber` 0.5 is a coin toss, i.e. no signal), `eye_margin` fail.
    pub fn pending(id: impl Into<String>, request: CorridorRequest, now: DateTime<Utc>) -> Self {
        let CorridorRequest {
            corridor_type,
            lanes,
            lambda_nm,
            min_gbps,
            latency_budget_ns,
            reach_mm,
            mode,
            qos,
            attestation_required,
            endpoints,
            security_domain,
            labels,
            policy_lease_ttl_s,
        } = request;
        Self {
            id: id.into(),
            corridor_type,
            lanes,
            lambda_nm,
            assigned_lambda_nm: Vec::new(),
            min_gbps,
            latency_budget_ns,
            reach_mm,
            mode,
            qos,
            attestation_required,
            endpoints,
            security_domain,
            policy_lease_ttl_s,
            achievable_gbps: Gbps(0.0),
            ber: 0.5,
            ber_is_upper_bound: false,
            eye_margin: EyeMargin::Fail,
            created_at: now,
            status: CorridorStatus::Pending,
            channels: Vec::new(),
            path: Vec::new(),
            hops: 0,
            assignment: None,
            attestations: Vec::new(),
            meta: ResourceMeta::new(now).with_labels(labels),
        }
    }
}

/// Wavelength drift relative to the calibrated point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftLevel {
    Low,
    Medium,
    High,
}

/// One lane's telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LaneTelemetry {
    pub lane: u32,
    pub lambda_nm: Nanometers,
    /// Post-FEC bit error rate of the lane, worse end: the pre-FEC BER the
    /// modules report through the assignment's FEC model. Never below the
    /// CMIS F16 floor 1e-24; at the floor `ber_is_upper_bound` is true.
    pub ber: f64,
    /// Pre-FEC bit error rate the modules report (CMIS VDM), worse end,
    /// never below the F16 floor 1e-24.
    #[serde(default)]
    pub pre_fec_ber: f64,
    /// True when `ber` is the measurement floor: the true rate is at most
    /// that.
    #[serde(default)]
    pub ber_is_upper_bound: bool,
    pub temp_c: Celsius,
    /// Detuning from the calibrated wavelength, in picometres.
    pub drift_pm: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heater_mw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_v: Option<f64>,
}

/// Body of `GET /v1/corridors/{id}/telemetry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CorridorTelemetry {
    /// Post-FEC bit error rate of the worst lane (the RFC's 1e-12 is
    /// post-FEC): the worst pre-FEC BER the modules report through the
    /// assignment's FEC model (KP4 by default). Never exactly 0: below the
    /// CMIS F16 floor 1e-24 it reads 1e-24 with `ber_is_upper_bound`.
    pub ber: f64,
    /// Pre-FEC bit error rate of the worst lane, as the modules report it
    /// (CMIS VDM, F16), never below the F16 floor 1e-24. Always present in
    /// corridord's answers; absent only in documents that predate it (the
    /// RFC's example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_fec_ber: Option<f64>,
    /// True when `ber` is the measurement floor: the true rate is at most
    /// that. Always present in corridord's answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ber_is_upper_bound: Option<bool>,
    pub temp_c: Celsius,
    /// Energy per bit: every lit laser's electrical power (its reported
    /// bias × the DFB's forward voltage, the model the planner predicts
    /// with) over the bits it carries, plus the technology's modulator
    /// driver and receiver energy, plus the ring heaters' power (both
    /// ends) as heliopassd's trackers drive them, once it calibrated them.
    pub power_pj_per_bit: PicojoulesPerBit,
    /// The worse of the lasers' offset from their grid lines and the rings'
    /// lock error (a share of the linewidth, from heliopassd's trackers):
    /// under 10 % `low`, under 25 % `medium`, else `high`.
    pub drift: DriftLevel,
    pub utilization_percent: f64,
    pub error_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<LaneTelemetry>,
    /// When the sample was taken (wall-clock time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    /// Where `ber`, `pre_fec_ber`, `temp_c`, `drift` and the lasers' bias
    /// behind `power_pj_per_bit` come from. Always present in corridord's
    /// answers. `utilization_percent` is the committed share
    /// (`min_gbps / achievable_gbps`) whatever the source: no traffic
    /// counter is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CorridorTelemetrySource>,
}

/// Where a corridor's telemetry figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorridorTelemetrySource {
    /// The digital twin: simulated CMIS modules whose monitor registers the
    /// physics model fills (link budget, ring drift, ambient profile). Read
    /// back through the same CMIS code as real modules, but modelled.
    Model,
    /// Real CMIS modules' monitors (VDM pre-FEC BER, case temperature,
    /// laser bias and frequency error), read over optoe/i2c.
    Counter,
}

/// Body of `POST /v1/admin/twin/faults`: a fault for the digital twin's
/// optical ports, for exercising the corridor reconciler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwinFaultRequest {
    /// Optical port id: required by every fault but `link_cut` (a 422 with
    /// rule `compatible` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub port: Option<String>,
    /// Link id: required by `link_cut`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub link: Option<String>,
    pub fault: TwinFaultKind,
}

/// The fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TwinFaultKind {
    /// The laser of `lane` (every lane if absent) emits `db` less.
    LaserAgeing {
        #[serde(default, deserialize_with = "crate::units::integral_option")]
        #[schema(minimum = 0, maximum = 255)]
        lane: Option<u8>,
        #[schema(minimum = 0, maximum = 60)]
        db: f64,
    },
    /// The rings of `lane` (every lane if absent) are held `nm` off the
    /// laser line: the heater lock is frozen there.
    RingDetuning {
        #[serde(default, deserialize_with = "crate::units::integral_option")]
        #[schema(minimum = 0, maximum = 255)]
        lane: Option<u8>,
        #[schema(minimum = -20, maximum = 20)]
        nm: f64,
    },
    /// Cut (`true`) or repair (`false`) the link.
    LinkCut { cut: bool },
    /// Step the module case temperature by `celsius`.
    TemperatureStep {
        #[schema(minimum = -100, maximum = 100)]
        celsius: f64,
    },
    /// The ring heater of `lane` (every lane if absent) fails open: the ring
    /// cools back to its unheated resonance whatever HELIOPASS drives, loses
    /// lock and cannot re-acquire it.
    HeaterFailure {
        #[serde(default, deserialize_with = "crate::units::integral_option")]
        #[schema(minimum = 0, maximum = 255)]
        lane: Option<u8>,
    },
    /// Remove every fault of the port.
    Clear,
}

impl Validate for TwinFaultRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if let Some(port) = &self.port {
            v.identifier("/port", port);
        }
        if let Some(link) = &self.link {
            v.identifier("/link", link);
        }
        // Which id a fault needs depends on its kind: a relation between
        // fields, so the rule is `compatible`.
        match (&self.fault, &self.link, &self.port) {
            (TwinFaultKind::LinkCut { .. }, None, _) => {
                v.add("/link", rule::COMPATIBLE, "link_cut needs the link id");
            }
            (TwinFaultKind::LinkCut { .. }, Some(_), _) | (_, _, Some(_)) => {}
            (_, _, None) => v.add(
                "/port",
                rule::COMPATIBLE,
                "this fault acts on an optical port: name it in port",
            ),
        }
        match self.fault {
            TwinFaultKind::LaserAgeing { db, .. } => {
                v.range("/fault/db", db, 0.0, 60.0);
            }
            TwinFaultKind::RingDetuning { nm, .. } => {
                v.range("/fault/nm", nm, -20.0, 20.0);
            }
            TwinFaultKind::TemperatureStep { celsius } => {
                v.range("/fault/celsius", celsius, -100.0, 100.0);
            }
            TwinFaultKind::LinkCut { .. }
            | TwinFaultKind::HeaterFailure { .. }
            | TwinFaultKind::Clear => {}
        }
        v.into_result()
    }
}

//! The plan of a memory bundle (`POST /v1/ffm/alloc?dry_run=true`): what
//! memqosd would grant for an allocation request now, with nothing
//! committed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ffm::{LatencyClass, TelemetrySource};
use crate::units::{Bytes, GigabytesPerSecond, Seconds};

/// `POST /v1/ffm/alloc?dry_run=true`: the grant an allocation request would
/// get now, decided by the same admission code as a real alloc up to the
/// store transaction, with nothing committed (no grant, no lease, no memory,
/// no audit record). An alloc made later decides again and may differ if
/// the ledger changed meanwhile (`ledger_revision` says which state this
/// plan was decided on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BundlePlan {
    /// The host the bundle would be placed for (the request's or the
    /// server's default).
    #[schema(example = "h0")]
    pub host: String,
    pub security_domain: String,
    pub latency_class: LatencyClass,
    pub bytes: Bytes,
    /// The request's own floor.
    #[serde(rename = "bandwidth_floor_GBs")]
    pub bandwidth_floor_gbs: GigabytesPerSecond,
    /// Where the bytes would go: one entry per ledger device, in the
    /// placement's order (several: weighted interleave).
    pub placement: Vec<PlannedShare>,
    /// The floor admission would reserve in each policy window of the week
    /// (the request's floor, or a policy's where one selects the bundle).
    pub windows: Vec<WindowAdmission>,
    /// Bandwidth the bundle would achieve, GB/s, from the bandwidth model
    /// (`telemetry_source`) over every live bundle plus this one: max-min
    /// fair sharing with floors, every bundle backlogged, at the policy
    /// windows in force now.
    #[serde(rename = "achieved_GBs")]
    pub achieved_gbs: GigabytesPerSecond,
    /// Modelled 99th percentile access stall, ms (M/M/1 sojourn time of a
    /// 2 MiB transfer at the promised load of its busiest device).
    pub tail_p99_ms: f64,
    /// Always `model`: a bundle that does not exist has no counter.
    pub telemetry_source: TelemetrySource,
    /// Whether the modelled `achieved_GBs` meets the floor in force now.
    pub floor_met: bool,
    /// The store lease a grant would take.
    pub lease: PlannedLease,
    /// What limits the placement most: the least headroom a grant would
    /// leave, as a fraction of the limit, over every device's bandwidth in
    /// every window and its bytes.
    pub binding_constraint: BindingConstraint,
    /// The admission ledger's revision the plan was decided on.
    pub ledger_revision: u64,
}

/// One device's part of a planned bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedShare {
    /// The admission ledger's device: a device id, or for a pooled CXL
    /// device the host's slice of it (`<device>@<host>`).
    pub device: String,
    /// The device holding the bytes (as a bundle's `placement[].node`).
    pub node: String,
    pub latency_class: LatencyClass,
    pub bytes: Bytes,
    /// This device's part of the request's floor.
    #[serde(rename = "floor_GBs")]
    pub floor_gbs: GigabytesPerSecond,
    /// The weight the memory would be interleaved with (1..=255).
    pub interleave_weight: u8,
    /// The active fabric paths that open the host's slice of a pooled
    /// device, whose guarantees are the slice's bandwidth (empty: not a
    /// pooled device, or reach does not follow fabric paths).
    pub fabric_paths: Vec<String>,
}

/// The floor admission reserves for the bundle in one policy window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WindowAdmission {
    /// The window, as `GET /v1/ffm/tiers` names it.
    pub window: String,
    #[serde(rename = "floor_GBs")]
    pub floor_gbs: GigabytesPerSecond,
    /// The policies that set this floor (empty: the request's own).
    pub policies: Vec<String>,
}

/// The lease a grant would take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedLease {
    pub policy_lease_ttl_s: Seconds,
    /// When it would expire if granted at the plan's time and not renewed.
    pub lease_expires_at: DateTime<Utc>,
}

/// What binds a plan (see [`BundlePlan::binding_constraint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BindingConstraint {
    pub kind: BindingKind,
    /// The ledger device (see [`PlannedShare::device`]).
    pub device: String,
    /// The device holding the bytes.
    pub node: String,
    /// The policy window of a `bandwidth` constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// What sets the limit: `device` (its peak × the admission share, or its
    /// bytes) or `fabric_path` (the guarantees of the paths opening the
    /// host's slice of a pooled device, or the logical device they bind).
    pub limited_by: LimitSource,
    /// The fabric paths of a `fabric_path` limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fabric_paths: Vec<String>,
    /// The limit: GB/s for `bandwidth`, bytes for `capacity`.
    pub limit: f64,
    /// What a grant would leave of it, same unit.
    pub left: f64,
    /// The constraint in words.
    pub detail: String,
}

/// Which resource binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BindingKind {
    /// A device's admission bandwidth in a policy window.
    Bandwidth,
    /// A device's bytes.
    Capacity,
}

/// Where a binding limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    Device,
    FabricPath,
}

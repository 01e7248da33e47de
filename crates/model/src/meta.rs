//! Fields every resource shares (DESIGN §4), conditions, and the
//! long-running operation resource.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::Problem;

/// `status` of a [`Condition`], spelt as Kubernetes spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// Well-known condition types. Conditions are an open list keyed by type,
/// so services may add their own.
pub mod condition_type {
    /// The resource does what its spec asks (lanes lit, memory placed, …).
    pub const READY: &str = "Ready";
    /// Capacity was granted by admission control.
    pub const ADMITTED: &str = "Admitted";
    /// Running, but outside its guarantees (BER, floor, latency).
    pub const DEGRADED: &str = "Degraded";
    /// Lanes are calibrated (HELIOPASS).
    pub const CALIBRATED: &str = "Calibrated";
    /// The devices involved hold a valid attestation ticket.
    pub const ATTESTED: &str = "Attested";
    /// The lease is current.
    pub const LEASED: &str = "Leased";
}

/// One observation about a resource, as in Kubernetes' `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Condition {
    /// CamelCase, unique within a resource, e.g. `Ready`.
    #[serde(rename = "type")]
    #[schema(example = "Ready")]
    pub condition_type: String,
    pub status: ConditionStatus,
    /// CamelCase machine code for the last transition, e.g. `BerAboveTarget`.
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (not when the condition was last written).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub last_transition_time: DateTime<Utc>,
}

impl Condition {
    pub fn new(
        condition_type: impl Into<String>,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            condition_type: condition_type.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Sets `condition` in `conditions`, replacing the one of the same type.
///
/// `last_transition_time` is kept when the status does not change, so that
/// it tells when the status flipped, not when a reconciler last looked.
/// Returns whether anything changed (so that a reconciler can skip a write).
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) -> bool {
    match conditions
        .iter_mut()
        .find(|c| c.condition_type == condition.condition_type)
    {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time;
            }
            if *existing == condition {
                return false;
            }
            *existing = condition;
            true
        }
        None => {
            conditions.push(condition);
            true
        }
    }
}

/// The condition of `condition_type`, if set.
pub fn find_condition<'a>(
    conditions: &'a [Condition],
    condition_type: &str,
) -> Option<&'a Condition> {
    conditions
        .iter()
        .find(|c| c.condition_type == condition_type)
}

/// Removes the condition of `condition_type`; returns whether one was there.
pub fn remove_condition(conditions: &mut Vec<Condition>, condition_type: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.condition_type != condition_type);
    conditions.len() != before
}

fn unix_epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// Server-maintained fields flattened into every stored resource.
///
/// All of them have defaults when decoding, because the RFC's response
/// examples predate them; a server always fills them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceMeta {
    /// Opaque: the store revision at which the resource last changed, as a
    /// decimal string. Pass it back unchanged in `If-Match`.
    #[serde(default)]
    #[schema(example = "42")]
    pub resource_version: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Last change (spec or status). The Unix epoch when absent.
    #[serde(default = "unix_epoch", serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// When the lease ends and the grant is released, for leased resources.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::timestamp::option::serialize"
    )]
    pub lease_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Default for ResourceMeta {
    fn default() -> Self {
        Self::new(unix_epoch())
    }
}

impl ResourceMeta {
    pub fn new(updated_at: DateTime<Utc>) -> Self {
        Self {
            resource_version: String::new(),
            conditions: Vec::new(),
            updated_at,
            lease_expires_at: None,
            labels: BTreeMap::new(),
        }
    }

    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// See [`set_condition`].
    pub fn set_condition(&mut self, condition: Condition) -> bool {
        set_condition(&mut self.conditions, condition)
    }

    pub fn condition(&self, condition_type: &str) -> Option<&Condition> {
        find_condition(&self.conditions, condition_type)
    }
}

/// The kinds of resource the API serves, as used in references and keys.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Corridor,
    FfmBundle,
    FabricDevice,
    FabricPath,
    Calibration,
    Attestation,
    Policy,
    Operation,
}

impl ResourceKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Corridor => "corridor",
            ResourceKind::FfmBundle => "ffm_bundle",
            ResourceKind::FabricDevice => "fabric_device",
            ResourceKind::FabricPath => "fabric_path",
            ResourceKind::Calibration => "calibration",
            ResourceKind::Attestation => "attestation",
            ResourceKind::Policy => "policy",
            ResourceKind::Operation => "operation",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed reference to another resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub id: String,
}

impl ResourceRef {
    pub fn new(kind: ResourceKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

/// What a long-running operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// HELIOPASS calibration of a corridor's lanes.
    Calibration,
    /// Moving an FFM bundle to another latency class (tier).
    Migration,
    /// Attesting a device.
    Attestation,
    /// Tearing a grant down and returning its capacity.
    Release,
}

/// Lifecycle of an [`Operation`]; the last three are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl OperationState {
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationState::Succeeded | OperationState::Failed | OperationState::Cancelled
        )
    }
}

/// A long-running operation, returned with `202 Accepted` and polled or
/// watched until it reaches a terminal state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Operation {
    #[schema(example = "op-5d1c")]
    pub id: String,
    pub kind: OperationKind,
    pub target: ResourceRef,
    pub state: OperationState,
    /// 0..=100.
    pub progress_percent: u8,
    #[serde(default)]
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Kind-specific outcome once succeeded (e.g. the calibration result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Kind-specific detail of the progress while running (a calibration:
    /// the calibration document so far, each lane's state in it; a
    /// migration: the kernel's page counts so far, `resident_pages`,
    /// `examined_pages`, `moved_pages`, `left_pages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<serde_json::Value>,
    /// Why it failed, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
    #[serde(default)]
    pub resource_version: String,
}

impl Operation {
    /// A freshly accepted operation.
    pub fn pending(
        id: impl Into<String>,
        kind: OperationKind,
        target: ResourceRef,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            kind,
            target,
            state: OperationState::Pending,
            progress_percent: 0,
            message: String::new(),
            created_at: now,
            updated_at: now,
            result: None,
            progress_detail: None,
            error: None,
            resource_version: String::new(),
        }
    }

    /// Records progress, clamped to 100; moves a pending operation to running.
    pub fn progress(&mut self, percent: u8, message: impl Into<String>, now: DateTime<Utc>) {
        if self.state == OperationState::Pending {
            self.state = OperationState::Running;
        }
        self.progress_percent = percent.min(100);
        self.message = message.into();
        self.updated_at = now;
    }

    pub fn succeed(&mut self, result: Option<serde_json::Value>, now: DateTime<Utc>) {
        self.state = OperationState::Succeeded;
        self.progress_percent = 100;
        self.result = result;
        self.updated_at = now;
    }

    pub fn fail(&mut self, error: Problem, now: DateTime<Utc>) {
        self.state = OperationState::Failed;
        self.message = error.detail.clone();
        self.error = Some(error);
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn set_condition_keeps_transition_time_when_status_is_unchanged() {
        let mut cs = Vec::new();
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::False, "Pending", "", t(1))
        ));
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::True, "Lit", "", t(2))
        ));
        assert_eq!(cs[0].last_transition_time, t(2));
        assert!(!set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::True, "Lit", "", t(3))
        ));
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::True, "Lit", "all 8 lanes", t(4))
        ));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, t(2));
        assert_eq!(cs[0].message, "all 8 lanes");
        assert!(find_condition(&cs, "Ready").unwrap().is_true());
        assert!(remove_condition(&mut cs, "Ready"));
        assert!(cs.is_empty());
    }

    #[test]
    fn condition_json_shape() {
        let c = Condition::new("Ready", ConditionStatus::Unknown, "Probing", "m", t(0));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "type": "Ready", "status": "Unknown", "reason": "Probing", "message": "m",
                "last_transition_time": "1970-01-01T00:00:00Z"
            })
        );
    }

    #[test]
    fn operation_lifecycle() {
        let mut op = Operation::pending(
            "op-1",
            OperationKind::Calibration,
            ResourceRef::new(ResourceKind::Corridor, "cor-1"),
            t(0),
        );
        op.progress(250, "sweeping", t(1));
        assert_eq!(
            (op.state, op.progress_percent),
            (OperationState::Running, 100)
        );
        op.fail(Problem::internal("laser off"), t(2));
        assert!(op.state.is_terminal());
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["target"]["kind"], "corridor");
        assert_eq!(json["error"]["status"], 500);
        let back: Operation = serde_json::from_value(json).unwrap();
        assert_eq!(back, op);
    }
}

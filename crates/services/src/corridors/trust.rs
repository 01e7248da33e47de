//! Attestation binding: a corridor with `attestation_required` is lit only
//! while the optical modules at both its ends hold tickets that vouch for
//! them (corrd asks attestd through [`DeviceTrust`]).

use std::fmt;

use chrono::{DateTime, Utc};
use corridor_model::corridor::{Corridor, CorridorAssignment, CorridorStatus};
use corridor_model::meta::{Condition, ConditionStatus};

use super::conditions;

/// A device's standing with the attestation service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStanding {
    /// Its newest attestation affirms it and its ticket is valid.
    Trusted { attestation_id: String },
    /// Not vouched for, and why (never attested, contraindicated, ticket
    /// expired or revoked).
    Untrusted { reason: String },
}

/// What corrd asks about the devices at a corridor's ends.
#[async_trait::async_trait]
pub trait DeviceTrust: Send + Sync + fmt::Debug {
    async fn standing(&self, device_id: &str) -> DeviceStanding;
}

/// Whether the corridor's lanes are dark because it waits for attestation.
pub fn is_held(c: &Corridor) -> bool {
    c.attestation_required && c.status == CorridorStatus::Provisioning
}

/// The attestation ids vouching for both ends of `a`, or the first reason
/// one end is not vouched for.
pub async fn vouched(
    trust: Option<&dyn DeviceTrust>,
    a: &CorridorAssignment,
) -> Result<Vec<String>, String> {
    let Some(trust) = trust else {
        return Err("no attestation service runs in this control plane".into());
    };
    let mut ids = Vec::with_capacity(a.ports.len());
    for port in &a.ports {
        match trust.standing(port).await {
            DeviceStanding::Trusted { attestation_id } => ids.push(attestation_id),
            DeviceStanding::Untrusted { reason } => {
                return Err(format!(
                    "the optical module of {port} is not vouched for: {reason}"
                ));
            }
        }
    }
    Ok(ids)
}

/// Records that both ends are vouched for by `ids`.
pub fn record_attested(c: &mut Corridor, ids: Vec<String>, now: DateTime<Utc>) {
    c.meta.set_condition(Condition::new(
        conditions::ATTESTED,
        ConditionStatus::True,
        "DevicesAttested",
        format!(
            "both end modules hold affirming tickets: {}",
            ids.join(", ")
        ),
        now,
    ));
    c.attestations = ids;
}

/// Records why the corridor's activation is held (lanes dark).
pub fn record_held(c: &mut Corridor, why: &str, now: DateTime<Utc>) {
    c.meta.set_condition(Condition::new(
        conditions::ATTESTED,
        ConditionStatus::False,
        "AttestationPending",
        format!("activation held, lanes dark: {why}"),
        now,
    ));
    c.meta.updated_at = now;
}

/// Records that an active corridor lost its attestation: `degraded` with
/// the reason (the lanes stay lit; the operator decides).
pub fn record_lost(c: &mut Corridor, why: &str, now: DateTime<Utc>) {
    c.status = CorridorStatus::Degraded;
    c.meta.set_condition(Condition::new(
        conditions::ATTESTED,
        ConditionStatus::False,
        "AttestationLost",
        why.to_string(),
        now,
    ));
    c.meta.updated_at = now;
}

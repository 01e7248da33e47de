//! [`MeasuredBootPolicy`]: which events a measured boot may contain, as allowed digests per
//! (PCR, event type), in the manner of Keylime's measured-boot reference state.
//!
//! The event type is not covered by the event's digest (anyone writing the log can relabel
//! an event), so rules match the (PCR, type, digest) triple: relabelling an event does not
//! get its digest accepted under another type's rule. The policy judges the log; whether the
//! log is the one the TPM measured is the quote's `pcrDigest` check, so a verdict is only
//! meaningful next to a verified quote over the same PCRs (see [`super::appraise`]).

use std::collections::BTreeSet;

use corridor_protocols::tcg::{EventLog, EventType, HashAlg};

/// Allowed digests for one (PCR, event type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    /// The PCR.
    pub pcr: u8,
    /// The event type.
    pub event_type: EventType,
    /// Digests (in the policy's bank) an event of this PCR and type may carry.
    pub allowed: BTreeSet<Vec<u8>>,
    /// Whether at least one such event must appear.
    pub required: bool,
}

/// A measured-boot policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredBootPolicy {
    /// The bank digests are compared in (and the quote must cover the PCRs in).
    pub bank: HashAlg,
    /// The PCRs the policy judges: the quote must cover them, and every event in them must
    /// match a rule. Events in other PCRs are not judged.
    pub pcrs: Vec<u8>,
    /// The rules.
    pub rules: Vec<PolicyRule>,
}

/// Why an event was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// No rule names this (PCR, event type).
    UnexpectedEvent,
    /// A rule names it but does not allow this digest.
    DigestNotAllowed,
    /// The event carries no digest in the policy's bank.
    MissingBank,
}

/// One rejected event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    /// Its number in the log (1 = first record after the header).
    pub number: usize,
    /// Its PCR.
    pub pcr: u8,
    /// Its type.
    pub event_type: EventType,
    /// Its digest in the policy's bank (empty when it has none).
    pub digest: Vec<u8>,
    /// Why.
    pub reason: RejectReason,
}

/// The policy's judgement of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// Events the policy does not allow, in log order.
    pub rejected: Vec<RejectedEvent>,
    /// Required (PCR, type) pairs with no accepted event.
    pub missing: Vec<(u8, EventType)>,
}

impl PolicyVerdict {
    /// Whether the log passed: nothing rejected, nothing missing.
    #[must_use]
    pub fn accepted(&self) -> bool {
        self.rejected.is_empty() && self.missing.is_empty()
    }
}

impl MeasuredBootPolicy {
    /// A policy that allows exactly the events of `log` in `pcrs` (each (PCR, type) required),
    /// as a reference state recorded from a known-good boot.
    #[must_use]
    pub fn from_reference_log(log: &EventLog, bank: HashAlg, pcrs: &[u8]) -> Self {
        let mut rules: Vec<PolicyRule> = Vec::new();
        for e in log.events.iter().filter(|e| pcrs.contains(&e.pcr)) {
            if e.event_type == EventType::EV_NO_ACTION {
                continue;
            }
            let Some(d) = e.digest(bank) else { continue };
            match rules
                .iter_mut()
                .find(|r| r.pcr == e.pcr && r.event_type == e.event_type)
            {
                Some(r) => {
                    r.allowed.insert(d.to_vec());
                }
                None => rules.push(PolicyRule {
                    pcr: e.pcr,
                    event_type: e.event_type,
                    allowed: BTreeSet::from([d.to_vec()]),
                    required: true,
                }),
            }
        }
        Self {
            bank,
            pcrs: pcrs.to_vec(),
            rules,
        }
    }

    /// Judges every event of `log` in the policy's PCRs (`EV_NO_ACTION` events extend
    /// nothing and are not judged).
    #[must_use]
    pub fn evaluate(&self, log: &EventLog) -> PolicyVerdict {
        let mut rejected = Vec::new();
        let mut seen = BTreeSet::new();
        for e in &log.events {
            if !self.pcrs.contains(&e.pcr) || e.event_type == EventType::EV_NO_ACTION {
                continue;
            }
            let digest = e.digest(self.bank).map(<[u8]>::to_vec);
            let rule = self
                .rules
                .iter()
                .find(|r| r.pcr == e.pcr && r.event_type == e.event_type);
            let reason = match (&digest, rule) {
                (None, _) => Some(RejectReason::MissingBank),
                (Some(_), None) => Some(RejectReason::UnexpectedEvent),
                (Some(d), Some(r)) if !r.allowed.contains(d) => {
                    Some(RejectReason::DigestNotAllowed)
                }
                (Some(_), Some(_)) => None,
            };
            match reason {
                Some(reason) => rejected.push(RejectedEvent {
                    number: e.number,
                    pcr: e.pcr,
                    event_type: e.event_type,
                    digest: digest.unwrap_or_default(),
                    reason,
                }),
                None => {
                    seen.insert((e.pcr, e.event_type));
                }
            }
        }
        let missing = self
            .rules
            .iter()
            .filter(|r| r.required && !seen.contains(&(r.pcr, r.event_type)))
            .map(|r| (r.pcr, r.event_type))
            .collect();
        PolicyVerdict { rejected, missing }
    }
}

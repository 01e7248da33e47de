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

    /// SHA-256 of the policy's canonical encoding, for tickets to name the policy they were
    /// appraised under. Canonical: PCRs sorted and de-duplicated, rules sorted by (PCR, type,
    /// required, allowed digests), digests sorted; so two policies with the same meaning
    /// under [`MeasuredBootPolicy::evaluate`] hash alike whatever order they were written in.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        let mut pcrs = self.pcrs.clone();
        pcrs.sort_unstable();
        pcrs.dedup();
        let mut rules: Vec<&PolicyRule> = self.rules.iter().collect();
        rules.sort_by(|a, b| {
            (a.pcr, a.event_type, a.required, &a.allowed).cmp(&(
                b.pcr,
                b.event_type,
                b.required,
                &b.allowed,
            ))
        });
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        ctx.update(b"corridor measured-boot policy v1\0");
        ctx.update(&self.bank.id().to_be_bytes());
        ctx.update(&len(pcrs.len()));
        ctx.update(&pcrs);
        ctx.update(&len(rules.len()));
        for r in rules {
            ctx.update(&[r.pcr, u8::from(r.required)]);
            ctx.update(&r.event_type.0.to_be_bytes());
            ctx.update(&len(r.allowed.len()));
            for d in &r.allowed {
                ctx.update(&len(d.len()));
                ctx.update(d);
            }
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
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
            // Every rule for this (PCR, type) counts, whatever its position: the verdict does
            // not depend on rule order (which is why `digest` may sort them).
            let mut rules = self
                .rules
                .iter()
                .filter(|r| r.pcr == e.pcr && r.event_type == e.event_type)
                .peekable();
            let reason = match &digest {
                None => Some(RejectReason::MissingBank),
                Some(_) if rules.peek().is_none() => Some(RejectReason::UnexpectedEvent),
                Some(d) if !rules.any(|r| r.allowed.contains(d)) => {
                    Some(RejectReason::DigestNotAllowed)
                }
                Some(_) => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> EventLog {
        let mut log = EventLog::new(&[HashAlg::Sha256]);
        log.push(
            0,
            EventType::EV_POST_CODE,
            vec![(HashAlg::Sha256, vec![1; 32])],
            vec![],
        );
        log.push(
            4,
            EventType::EV_IPL,
            vec![(HashAlg::Sha256, vec![2; 32])],
            vec![],
        );
        log.push(
            9,
            EventType::EV_IPL,
            vec![(HashAlg::Sha256, vec![3; 32])],
            vec![],
        );
        log
    }

    #[test]
    fn reference_policy_accepts_its_log_and_ignores_pcrs_it_does_not_judge() {
        let p = MeasuredBootPolicy::from_reference_log(&log(), HashAlg::Sha256, &[0, 4]);
        assert_eq!(p.rules.len(), 2);
        assert!(p.evaluate(&log()).accepted());
    }

    #[test]
    fn split_rules_for_one_pcr_and_type_are_order_independent() {
        let rule = |d: u8| PolicyRule {
            pcr: 4,
            event_type: EventType::EV_IPL,
            allowed: BTreeSet::from([vec![d; 32]]),
            required: false,
        };
        let a = MeasuredBootPolicy {
            bank: HashAlg::Sha256,
            pcrs: vec![4],
            rules: vec![rule(9), rule(2)],
        };
        let b = MeasuredBootPolicy {
            bank: HashAlg::Sha256,
            pcrs: vec![4],
            rules: vec![rule(2), rule(9)],
        };
        assert!(a.evaluate(&log()).accepted() && b.evaluate(&log()).accepted());
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn digest_changes_with_any_allowed_digest_pcr_or_bank() {
        let p = MeasuredBootPolicy::from_reference_log(&log(), HashAlg::Sha256, &[0, 4]);
        let mut q = p.clone();
        q.rules[1].allowed.insert(vec![7; 32]);
        assert_ne!(p.digest(), q.digest());
        let mut q = p.clone();
        q.pcrs.push(9);
        assert_ne!(p.digest(), q.digest());
        let mut q = p.clone();
        q.bank = HashAlg::Sha384;
        assert_ne!(p.digest(), q.digest());
        let mut q = p.clone();
        q.rules[0].required = false;
        assert_ne!(p.digest(), q.digest());
    }
}

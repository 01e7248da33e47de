//! [`appraise`]: event log, quote and policy together — what the measured-boot endpoint
//! reports for one TPM.

use corridor_protocols::tcg::{EventLog, ReplayedPcrs, TcgError, replay};

use super::error::QuoteError;
use super::hasher::AwsLcHasher;
use super::policy::{MeasuredBootPolicy, PolicyVerdict};
use super::quote::{QuoteCheck, QuoteEvidence, VerifiedQuote, verify_quote};

/// The appraisal of one TPM's measured boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appraisal {
    /// The parsed event log.
    pub log: EventLog,
    /// The PCR values the log replays to.
    pub replayed: ReplayedPcrs,
    /// The quote's verdict against the nonce, key, policy PCRs and replay.
    pub quote: Result<VerifiedQuote, QuoteError>,
    /// The policy's verdict on the log's events.
    pub policy: PolicyVerdict,
}

impl Appraisal {
    /// Whether the quote verified and the policy accepted the log: only then do the events
    /// describe what the TPM measured *and* are allowed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.quote.is_ok() && self.policy.accepted()
    }
}

/// Parses and replays `log`, verifies the quote (policy PCRs and bank from `policy`) and
/// judges the log with `policy`.
///
/// # Errors
/// [`TcgError`] when the log does not parse or replay; a quote that fails is not an error
/// but [`Appraisal::quote`].
pub fn appraise(
    evidence: &QuoteEvidence<'_>,
    log: &[u8],
    nonce: &[u8],
    pinned_ak: Option<&[u8]>,
    policy: &MeasuredBootPolicy,
) -> Result<Appraisal, TcgError> {
    let log = EventLog::parse(log)?;
    let replayed = replay(&log, &AwsLcHasher)?;
    let check = QuoteCheck {
        nonce,
        bank: policy.bank,
        policy_pcrs: &policy.pcrs,
        pinned_ak,
    };
    let quote = verify_quote(evidence, &check, &replayed);
    let policy = policy.evaluate(&log);
    Ok(Appraisal {
        log,
        replayed,
        quote,
        policy,
    })
}

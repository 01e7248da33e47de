//! TPM measured boot, verifier side: a quote checked against the verifier's nonce, the
//! attestation key, the PCR selection a policy needs and the PCR values the event log
//! replays to; and a measured-boot policy that says which events it does not allow.
//!
//! * [`quote`]: [`verify_quote`] — every check a quote needs (see its documentation);
//! * [`policy`]: [`MeasuredBootPolicy`] — allowed digests per (PCR, event type);
//! * [`appraise`]: the two together over raw evidence, the shape
//!   `GET /v1/attest/measured-boot/{device_id}` reports;
//! * [`AwsLcHasher`]: SHA-1/256/384/512 for event-log replay.
//!
//! What a passing appraisal means depends on the TPM behind the evidence: over a hardware TPM
//! the PCRs hold what firmware measured; over swtpm (`corridor_hal::Tpm::is_software`) they
//! hold what the caller extended, so a verdict from swtpm proves the verifier works, not that
//! a platform booted well. The attestation key is trusted because the caller pins it
//! ([`QuoteCheck::pinned_ak`]); binding it to the endorsement key is not done here.

mod appraise;
mod error;
mod hasher;
pub mod policy;
pub mod quote;

pub use appraise::{Appraisal, appraise};
pub use error::QuoteError;
pub use hasher::AwsLcHasher;
pub use policy::{MeasuredBootPolicy, PolicyRule, PolicyVerdict, RejectReason, RejectedEvent};
pub use quote::{QuoteCheck, QuoteEvidence, VerifiedQuote, verify_quote};

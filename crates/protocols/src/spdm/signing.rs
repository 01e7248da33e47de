//! The SPDM 1.2 signed-message construction (DSP0274 1.2 §15, libspdm
//! `libspdm_crypt_asym.c`): a 100-byte combined prefix — `"dmtf-spdm-v1.2.*"` four times,
//! zero padding, the context string — followed by the transcript hash, which the caller
//! computes with the negotiated base hash and appends.

/// One repetition of the version prefix.
pub const VERSION_PREFIX: &[u8; 16] = b"dmtf-spdm-v1.2.*";
/// The length of the combined prefix (64 bytes of version prefix + 36 of padded context).
pub const COMBINED_PREFIX_LEN: usize = 100;
/// Context of CHALLENGE_AUTH signatures.
pub const CHALLENGE_AUTH_CONTEXT: &str = "responder-challenge_auth signing";
/// Context of MEASUREMENTS signatures.
pub const MEASUREMENTS_CONTEXT: &str = "responder-measurements signing";

/// Which signed response a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedResponse {
    ChallengeAuth,
    Measurements,
}

impl SignedResponse {
    #[must_use]
    pub fn context(self) -> &'static str {
        match self {
            SignedResponse::ChallengeAuth => CHALLENGE_AUTH_CONTEXT,
            SignedResponse::Measurements => MEASUREMENTS_CONTEXT,
        }
    }
}

/// The 100-byte combined prefix for `what`.
#[must_use]
pub fn combined_prefix(what: SignedResponse) -> [u8; COMBINED_PREFIX_LEN] {
    let mut out = [0u8; COMBINED_PREFIX_LEN];
    for chunk in out[..64].chunks_exact_mut(16) {
        chunk.copy_from_slice(VERSION_PREFIX);
    }
    let context = what.context().as_bytes();
    // Both contexts are shorter than 36 bytes, so the padding is never negative.
    out[COMBINED_PREFIX_LEN - context.len()..].copy_from_slice(context);
    out
}

/// The message the responder signs: the combined prefix, then the transcript hash.
#[must_use]
pub fn signed_message(what: SignedResponse, transcript_hash: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(COMBINED_PREFIX_LEN + transcript_hash.len());
    out.extend_from_slice(&combined_prefix(what));
    out.extend_from_slice(transcript_hash);
    out
}

//! Why a quote was refused.

use corridor_protocols::tcg::{HashAlg, TcgError};

/// A quote that does not verify, with the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The attestation key's `TPMT_PUBLIC` does not decode.
    #[error("attestation key: {0}")]
    AkPublic(TcgError),
    /// The attestation key is not a restricted, sign-only key that cannot leave its TPM; such
    /// a key could sign a forged `TPMS_ATTEST` (the magic check then proves nothing).
    #[error("the attestation key is not restricted, sign-only and fixedTPM")]
    AkNotRestricted,
    /// The quote was signed by a key other than the one enrolled for this TPM.
    #[error("the quote's attestation key is not the pinned one")]
    AkNotPinned,
    /// A key type, curve or hash the verifier does not handle.
    #[error("unsupported key or signature: {0}")]
    Unsupported(String),
    /// The `TPMT_SIGNATURE` does not decode.
    #[error("signature: {0}")]
    SignatureFormat(TcgError),
    /// The signature does not verify over the attest bytes with the attestation key.
    #[error("the quote's signature does not verify with the attestation key")]
    SignatureInvalid,
    /// The signed bytes are not a `TPMS_ATTEST` quote (wrong magic, type, or layout).
    #[error("not a TPM quote: {0}")]
    NotAQuote(TcgError),
    /// `extraData` is not the nonce the verifier sent: a replayed or foreign quote.
    #[error("the quote's extraData is not this verifier's nonce")]
    NonceMismatch,
    /// The quote does not cover a PCR the policy needs (CVE-2022-0317: a quote over fewer or
    /// no PCRs must not pass).
    #[error("the quote does not cover {bank} PCR {pcr}, which the policy needs")]
    PcrNotQuoted {
        /// The bank.
        bank: HashAlg,
        /// The PCR.
        pcr: u8,
    },
    /// No event of the log extends a PCR the policy needs: the log cannot explain its value.
    #[error("no event in the log extends PCR {0}, which the policy needs")]
    NoEventsForPcr(u8),
    /// The quote selects a bank the event log does not have.
    #[error("the quote selects the {0} bank, which the event log does not carry")]
    BankNotInLog(HashAlg),
    /// The event log does not replay to the PCR values the TPM signed.
    #[error("the event log's replayed PCRs do not match the quote's pcrDigest")]
    PcrDigestMismatch,
}

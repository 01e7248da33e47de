//! The outcome of one SPDM attestation.

use std::fmt;

use corridor_pki::pinning::SpkiPin;
use corridor_protocols::spdm::{MeasurementBlock, Negotiated};

/// Affirming, or contraindicated with the reason (the EAR statuses the tickets carry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Affirming,
    Contraindicated(Contraindication),
}

impl Verdict {
    #[must_use]
    pub fn is_affirming(&self) -> bool {
        matches!(self, Verdict::Affirming)
    }

    #[must_use]
    pub fn reason(&self) -> Option<&Contraindication> {
        match self {
            Verdict::Affirming => None,
            Verdict::Contraindicated(c) => Some(c),
        }
    }
}

/// Why a device is not trusted. Each names the message or value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Contraindication {
    /// The transport failed: the device did not answer.
    #[error("the device is unreachable: {detail}")]
    Unreachable { detail: String },
    /// An answer that is not the SPDM message expected.
    #[error("garbage answer to {request}: {detail}")]
    Garbage {
        request: &'static str,
        detail: String,
    },
    /// The device answered ERROR.
    #[error("the device answered {request} with ERROR 0x{code:02x} (data 0x{data:02x})")]
    ErrorResponse {
        request: &'static str,
        code: u8,
        data: u8,
    },
    /// No version, capability or algorithm in common.
    #[error("negotiation failed: {detail}")]
    Negotiation { detail: String },
    /// A certificate does not parse or uses an unsupported algorithm, or the chain's
    /// digests disagree with DIGESTS or CHALLENGE_AUTH.
    #[error("invalid certificate chain: {detail}")]
    CertificateInvalid { detail: String },
    /// The chain's RootHash is not the hash of its first certificate.
    #[error("the chain's root hash is not the hash of its first certificate")]
    RootHashMismatch,
    /// The chain does not lead to a configured vendor root.
    #[error("the certificate chain does not lead to a configured root: {detail}")]
    ChainNotToRoot { detail: String },
    /// The leaf key is not pinned.
    #[error("the device key {pin} is not pinned")]
    LeafKeyNotPinned { pin: SpkiPin },
    /// A signature does not verify over the transcript.
    #[error("the {message} signature does not verify")]
    BadSignature { message: &'static str },
    /// The responder's nonce was seen before or reflects ours: a replayed answer.
    #[error("stale nonce in {message}: {detail}")]
    StaleNonce {
        message: &'static str,
        detail: String,
    },
    /// A reference measurement is absent from the device's.
    #[error("measurement {index} is missing")]
    MeasurementMissing { index: u8 },
    /// A measurement differs from its reference value.
    #[error("measurement {index} is {actual}, expected {expected}")]
    MeasurementMismatch {
        index: u8,
        expected: Hex,
        actual: Hex,
    },
}

/// Bytes that print as lowercase hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({self})")
    }
}

/// Everything one attestation learnt, whatever the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    pub verdict: Verdict,
    /// The algorithms negotiated, once ALGORITHMS was accepted.
    pub negotiated: Option<Negotiated>,
    /// The leaf key's pin, once the chain was parsed (present even if not pinned).
    pub leaf_pin: Option<SpkiPin>,
    /// The measurement blocks, once MEASUREMENTS was accepted.
    pub measurements: Vec<MeasurementBlock>,
    /// Request/response exchanges made.
    pub exchanges: u32,
}

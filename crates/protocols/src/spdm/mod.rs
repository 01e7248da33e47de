//! SPDM 1.2 codec (DMTF DSP0274): the messages of device authentication and measurement,
//! pure — no crypto, no I/O — and in both directions, because the requester encodes
//! requests and decodes responses while the twin responder does the opposite.
//!
//! * [`request`]: GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, GET_DIGESTS,
//!   GET_CERTIFICATE, CHALLENGE, GET_MEASUREMENTS ([`Request`]).
//! * [`response`]: VERSION, CAPABILITIES, ALGORITHMS, DIGESTS, CERTIFICATE (chunked:
//!   PortionLength/RemainderLength), CHALLENGE_AUTH, MEASUREMENTS, ERROR ([`Response`]).
//! * [`algorithms`]: the algorithm bitfields and the typed selections (ECDSA P-256/P-384,
//!   SHA-256/384/512 base and measurement hashes).
//! * [`measurement`]: measurement records (DMTF blocks).
//! * [`cert_chain`]: the certificate-chain header (`Length, Reserved, RootHash`, DER certs).
//! * [`signing`]: the 1.2 signed-message prefix (4 × `"dmtf-spdm-v1.2.*"`, padded context).
//! * [`transcript`]: the A/B/C/M transcripts behind M1/M2 and L1/L2.
//! * [`emu`]: the DMTF spdm-emu socket framing (transport NONE and MCTP).
//!
//! Every decoder returns a typed [`SpdmError`] on truncated, oversized or inconsistent
//! input and never panics; `tests/spdm_*.rs` hold golden vectors, round trips and a
//! random-bytes property over every decoder, and `fuzz/fuzz_targets/spdm_message.rs` fuzzes
//! them.

pub mod algorithms;
pub mod cert_chain;
mod codec;
pub mod emu;
pub mod error;
pub mod measurement;
pub mod request;
pub mod response;
pub mod signing;
pub mod transcript;

pub use algorithms::{AsymAlgo, HashAlgo, MeasurementHash, Negotiated};
pub use cert_chain::CertChain;
pub use error::{Result, SpdmError};
pub use measurement::MeasurementBlock;
pub use request::{CapabilityFields, GetMeasurements, NegotiateAlgorithms, Request, SignedRequest};
pub use response::{Algorithms, ChallengeAuth, Measurements, Response, ResponseContext};
pub use signing::SignedResponse;
pub use transcript::Transcript;

/// SPDMVersion byte of GET_VERSION / VERSION (always 1.0).
pub const VERSION_10: u8 = 0x10;
/// SPDMVersion byte of every other message of a 1.2 connection.
pub const VERSION_12: u8 = 0x12;
/// Nonce size of CHALLENGE, GET_MEASUREMENTS and their responses.
pub const NONCE_LEN: usize = 32;

/// Request and response codes (libspdm `include/industry_standard/spdm.h`).
pub mod code {
    pub const GET_VERSION: u8 = 0x84;
    pub const GET_CAPABILITIES: u8 = 0xE1;
    pub const NEGOTIATE_ALGORITHMS: u8 = 0xE3;
    pub const GET_DIGESTS: u8 = 0x81;
    pub const GET_CERTIFICATE: u8 = 0x82;
    pub const CHALLENGE: u8 = 0x83;
    pub const GET_MEASUREMENTS: u8 = 0xE0;
    pub const VERSION: u8 = 0x04;
    pub const CAPABILITIES: u8 = 0x61;
    pub const ALGORITHMS: u8 = 0x63;
    pub const DIGESTS: u8 = 0x01;
    pub const CERTIFICATE: u8 = 0x02;
    pub const CHALLENGE_AUTH: u8 = 0x03;
    pub const MEASUREMENTS: u8 = 0x60;
    pub const ERROR: u8 = 0x7F;
}

/// Capability flags (DSP0274 1.2 Table 14/15), the ones this project reads or sets.
pub mod capability {
    pub const CACHE_CAP: u32 = 1 << 0;
    pub const CERT_CAP: u32 = 1 << 1;
    pub const CHAL_CAP: u32 = 1 << 2;
    /// MEAS_CAP = 01b: measurements without signature.
    pub const MEAS_CAP_NO_SIG: u32 = 1 << 3;
    /// MEAS_CAP = 10b: measurements with signature.
    pub const MEAS_CAP_SIG: u32 = 1 << 4;
    pub const MEAS_FRESH_CAP: u32 = 1 << 5;
    pub const CHUNK_CAP: u32 = 1 << 17;
}

pub(crate) fn expect_version(message: &'static str, expected: u8, got: u8) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(SpdmError::Version {
            message,
            expected,
            got,
        })
    }
}

//! SPDM 1.2 device attestation: the requester and its verifier.
//!
//! * [`requester`]: [`Requester::attest`] runs VCA → GET_DIGESTS → GET_CERTIFICATE
//!   (chunked) → CHALLENGE → GET_MEASUREMENTS (signed, all blocks) over any
//!   [`corridor_hal::attestation::SpdmTransport`] (the twin in-process, or TCP to a DMTF
//!   spdm-emu responder), keeping the M1/M2 and L1/L2 transcripts as libspdm does, and
//!   returns an [`AttestationReport`] with a [`Verdict`].
//! * [`chain`]: the certificate chain checked to configured vendor roots, the leaf key
//!   pinned with `corridor_pki::pinning::SpkiPin`.
//! * [`crypto`]: transcript hashes and raw `r ‖ s` ECDSA verification on aws-lc-rs
//!   (P-256/P-384 with SHA-256/384/512).
//! * [`nonce`]: requester nonces (system random, or fixed for replaying recordings) and
//!   the memory of responder nonces that exposes replayed answers.
//! * [`record`]: a transport that records exchanges and one that replays them, for golden
//!   transcripts.
//! * [`verdict`]: [`Verdict`] and [`Contraindication`].

pub mod chain;
pub mod crypto;
pub mod nonce;
pub mod record;
pub mod requester;
pub mod verdict;

pub use nonce::{FixedNonces, NonceHistory, NonceSource, SystemNonces};
pub use record::{Exchange, RecordingTransport, ReplayTransport};
pub use requester::{AttestOptions, DevicePolicy, Requester, RequesterConfig};
pub use verdict::{AttestationReport, Contraindication, Hex, Verdict};

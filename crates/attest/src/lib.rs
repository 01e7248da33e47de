//! Attestation for CorridorOS: the verifier side of device and platform evidence.
//!
//! Byte layouts live in `corridor-protocols` (pure codecs); this crate holds what
//! needs cryptography: checking SPDM signatures and certificate chains, TPM quotes
//! and event-log replay, and signing and verifying attestation tickets.

pub mod hex;
pub mod spdm;
pub mod ticket;
pub mod tpm;

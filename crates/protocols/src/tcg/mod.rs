//! TCG codecs for TPM measured boot (pure: no I/O, no crypto, no clocks).
//!
//! * [`event_log`]: the PC Client crypto-agile event log (`Spec ID Event03` header,
//!   `TCG_PCR_EVENT2` records), parser and encoder; [`event_type`] names the types.
//! * [`mod@replay`]: the PCR values a log implies, per bank, with the firmware profile's rules.
//! * [`attest`]: `TPMS_ATTEST` of a `TPM2_Quote`; [`signature`]: `TPMT_SIGNATURE`;
//!   [`public`]: `TPMT_PUBLIC` of an RSA or ECC attestation key.
//!
//! Hashing is the caller's ([`Hasher`]): `corridor-attest` passes aws-lc-rs. Event logs are
//! little-endian, TPM structures big-endian. Every malformed input is a [`TcgError`].

pub mod alg;
pub mod attest;
pub mod error;
pub mod event_log;
pub mod event_type;
pub mod public;
mod reader;
pub mod replay;
pub mod signature;

pub use alg::{HashAlg, Hasher};
pub use attest::{ClockInfo, PcrSelection, QuoteAttest, selection_list_bytes};
pub use error::{Result, TcgError};
pub use event_log::{Event, EventLog, SpecIdEvent};
pub use event_type::EventType;
pub use public::{EccCurve, PublicKey, TpmPublic};
pub use replay::{ReplayedPcrs, initial_value, replay};
pub use signature::TpmSignature;

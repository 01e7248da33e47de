//! Attestation tickets: the verifier's signed verdict over an attestation, bound to the
//! allocations it protects.
//!
//! - [`claims`]: what a ticket says (an EAR profile: submods, trust tiers, AR4SI vector,
//!   bound corridor/bundle/path ids, tenant, policy hash) and its validation rules.
//! - [`cbor`]: the claims' CBOR encoding (the COSE payload) and its fail-closed decoder.
//! - [`envelope`]: the COSE_Sign around them (ML-DSA-65 + ES384), size bound, key ids.
//! - [`sign`]: [`TicketSigner`], which issues tickets.
//! - [`verify`]: [`TicketVerifier`], which accepts a ticket only if both signatures hold.
//! - [`id`]: `ticket_id` and its relation to `attestation_id`.
//! - [`revocation`]: [`RevocationList`], consulted on every verification.
//! - [`nonce`]: [`NonceLedger`], single-use challenges with a TTL.
//! - [`error`]: the typed errors of all of the above.

pub mod cbor;
pub mod claims;
pub mod envelope;
pub mod error;
pub mod id;
pub mod nonce;
pub mod revocation;
pub mod sign;
pub mod verify;

pub use claims::{
    Appraisal, PROFILE, PolicyHash, Status, TicketClaims, TrustTier, TrustVector, VerifierId, ar4si,
};
pub use envelope::{MAX_TICKET_BYTES, key_id, signature_key_ids};
pub use error::{ClaimsError, DecodeError, KeyError, NonceError, SignError, VerifyError};
pub use id::TicketId;
pub use nonce::{InMemoryNonceLedger, Nonce, NonceLedger};
pub use revocation::{Revocation, RevocationList};
pub use sign::{SignedTicket, TicketSigner};
pub use verify::{DecodedTicket, TicketVerifier, VerifiedTicket, decode_unverified};

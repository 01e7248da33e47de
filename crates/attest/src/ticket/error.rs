//! Typed errors of the ticket library: one enum per job (claims, decoding, signing,
//! verification, keys, nonces), so that callers can map each to an HTTP problem or a
//! corridor condition without parsing strings.

use thiserror::Error;

/// A claims set that breaks the profile's rules (see [`super::claims`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClaimsError {
    #[error("eat_profile is {found:?}, this verifier only understands {expected:?}")]
    WrongProfile {
        found: String,
        expected: &'static str,
    },
    #[error("exp ({exp}) must be after iat ({iat})")]
    ExpiryNotAfterIssue { iat: u64, exp: u64 },
    #[error("the ticket appraises no component (submods is empty)")]
    NoSubmods,
    #[error("the ticket has {count} submods, more than the limit of {max}")]
    TooManySubmods { count: usize, max: usize },
    #[error("submod name {0:?} is not host-tpm, device:<id> or corridor:<id>")]
    BadSubmodName(String),
    #[error("submod {submod:?} has an empty trustworthiness vector")]
    EmptyTrustVector { submod: String },
    #[error("submod {submod:?} says {status} but its trustworthiness vector holds a {worst} claim")]
    StatusBetterThanVector {
        submod: String,
        status: &'static str,
        worst: &'static str,
    },
    #[error("eat_nonce is {len} bytes; EAT allows 8 to 64")]
    NonceLength { len: usize },
    #[error("attestation_id {0:?} is not of the form attest-<[0-9a-z-]+> (at most 64 characters)")]
    BadAttestationId(String),
    #[error("{field} holds a character outside printable ASCII (or a space)")]
    BadId { field: &'static str },
    #[error("{field} is empty")]
    EmptyField { field: &'static str },
    #[error("{field} is {len} bytes long, more than the limit of {max}")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} holds {count} entries, more than the limit of {max}")]
    TooManyEntries {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("the top-level ear.status ({found}) is not the worst submod status ({expected})")]
    InconsistentOverallStatus {
        found: &'static str,
        expected: &'static str,
    },
    #[error("policy_hash is not 64 hexadecimal digits")]
    BadPolicyHash,
    #[error("eat_nonce is not base64url")]
    BadNonceEncoding,
}

/// Bytes that are not a well-formed ticket envelope or claims set. Decoding never panics:
/// every malformed input maps to one of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("the ticket is empty")]
    Empty,
    #[error("the ticket is {len} bytes, more than the maximum of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("not a tagged COSE_Sign structure: {0}")]
    Cose(String),
    #[error("the COSE_Sign carries no payload (detached payloads are not accepted)")]
    MissingPayload,
    #[error("the payload is not CBOR: {0}")]
    PayloadCbor(String),
    #[error("the payload is not a CBOR map")]
    PayloadNotMap,
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    #[error("claim {0} appears twice")]
    DuplicateClaim(String),
    #[error("claim {0} is not part of the profile")]
    UnknownClaim(String),
    #[error("claim {claim} has the wrong type (expected {expected})")]
    WrongType {
        claim: &'static str,
        expected: &'static str,
    },
    #[error("claim {claim} is out of range")]
    OutOfRange { claim: &'static str },
    #[error("claims are well-formed CBOR but break the profile: {0}")]
    Claims(#[from] ClaimsError),
}

/// Why a ticket could not be signed.
#[derive(Debug, Error)]
pub enum SignError {
    #[error("refusing to sign invalid claims: {0}")]
    Claims(#[from] ClaimsError),
    #[error("{alg} signing failed in aws-lc-rs")]
    Crypto { alg: &'static str },
    #[error("encoding the COSE_Sign failed: {0}")]
    Encode(String),
    #[error("the encoded ticket is {len} bytes, more than the maximum of {max}")]
    TooLarge { len: usize, max: usize },
}

/// Why a ticket did not verify. Every variant means "do not trust this ticket".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the {alg} signature is missing; both ML-DSA-65 and ES384 are required")]
    MissingSignature { alg: &'static str },
    #[error("the ticket carries more than one {alg} signature")]
    DuplicateSignature { alg: &'static str },
    #[error("signature {index} uses an algorithm this verifier does not accept ({alg})")]
    UnexpectedAlgorithm { index: usize, alg: String },
    #[error("signature {index} has no algorithm in its protected header")]
    UnprotectedAlgorithm { index: usize },
    #[error("the {alg} signature names key {found}, expected {expected}")]
    WrongKeyId {
        alg: &'static str,
        expected: String,
        found: String,
    },
    #[error("the {alg} signature does not verify")]
    BadSignature { alg: &'static str },
    #[error("the ticket expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("the ticket is not valid before {iat} (now {now})")]
    NotYetValid { iat: u64, now: u64 },
    #[error("ticket {ticket_id} was revoked at {revoked_at}: {reason}")]
    Revoked {
        ticket_id: String,
        reason: String,
        revoked_at: u64,
    },
    #[error("the ticket's eat_nonce was refused: {0}")]
    Nonce(#[from] NonceError),
}

/// Key material that could not be loaded or generated.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("{alg} key generation failed in aws-lc-rs")]
    Generate { alg: &'static str },
    #[error("the {alg} PKCS#8 document was rejected: {reason}")]
    Pkcs8 { alg: &'static str, reason: String },
    #[error("the {alg} public key was rejected: {reason}")]
    PublicKey { alg: &'static str, reason: String },
    #[error("serialising the {alg} private key failed")]
    Serialise { alg: &'static str },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a nonce could not be consumed (or issued).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NonceError {
    #[error("the nonce was already used")]
    Replayed,
    #[error("the nonce expired at {expired_at} (now {now})")]
    Expired { expired_at: u64, now: u64 },
    #[error("the nonce was never issued by this ledger (or was forgotten after expiring)")]
    Unknown,
    #[error("the ledger holds {outstanding} live nonces, its limit")]
    LedgerFull { outstanding: usize },
    #[error("the nonce TTL must be at least one second")]
    ZeroTtl,
    #[error("the system random generator failed")]
    Random,
}

//! Device attestation and measured boot (`/v1/attest`, `/v1/fabman/attest`,
//! served by attestd and fabmand).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{ResourceMeta, ResourceRef};
use crate::problem::FieldViolation;
use crate::validate::{Validate, Violations, pointer, rule};

/// Shortest nonce: 8 bytes (64 bits) is the least that makes replay of an
/// old quote improbable.
pub const MIN_NONCE_BYTES: usize = 8;
/// Longest nonce: 64 bytes covers every protocol we speak (TPM2 quotes take
/// up to the digest size, 64 for SHA-512).
pub const MAX_NONCE_BYTES: usize = 64;
/// SPDM 1.2 fixes the requester nonce of CHALLENGE and GET_MEASUREMENTS at
/// 32 bytes.
pub const SPDM_NONCE_BYTES: usize = 32;
/// Evidence larger than 1 MiB is not a measurement transcript; the bound also
/// keeps one request from pinning server memory.
pub const MAX_EVIDENCE_CHARS: usize = 1 << 20;

fn validate_base64(v: &mut Violations, at: &str, value: &str) {
    let shape_ok = value.len().is_multiple_of(4)
        && value
            .trim_end_matches('=')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
        && value.len() - value.trim_end_matches('=').len() <= 2;
    if !shape_ok {
        v.add(at, rule::FORMAT, "must be standard, padded base64");
    }
    v.length(at, value.len(), 1, MAX_EVIDENCE_CHARS);
}

/// Body of `POST /v1/attest/device`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestDeviceRequest {
    #[schema(example = "cxl-dev-001")]
    pub device_id: String,
    /// Freshness challenge, hex (8..=64 bytes).
    #[schema(example = "5f1c9a0b7e3d2c48")]
    pub nonce: String,
    /// Evidence the client already collected (base64 SPDM measurement
    /// transcript or TPM quote); the service collects it itself if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Validate for AttestDeviceRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/device_id", &self.device_id);
        v.hex("/nonce", &self.nonce, MIN_NONCE_BYTES, MAX_NONCE_BYTES);
        if let Some(evidence) = &self.evidence {
            validate_base64(&mut v, "/evidence", evidence);
        }
        v.into_result()
    }
}

/// Body of `POST /v1/fabman/attest`: attest a fabric device and bind the
/// ticket to the resources that depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FabricAttestRequest {
    #[schema(example = "cxl-dev-001")]
    pub device_id: String,
    /// Hex; the fabric manager draws one if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Allocations (corridors, bundles, paths) the ticket is bound to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind_to: Vec<ResourceRef>,
}

impl Validate for FabricAttestRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/device_id", &self.device_id);
        if let Some(nonce) = &self.nonce {
            v.hex("/nonce", nonce, MIN_NONCE_BYTES, MAX_NONCE_BYTES);
        }
        for (i, r) in self.bind_to.iter().enumerate() {
            v.identifier(&format!("{}/id", pointer("/bind_to", i)), &r.id);
        }
        v.into_result()
    }
}

/// Body of `POST /v1/attest/spdm`: run an SPDM 1.2 GET_MEASUREMENTS
/// exchange with a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpdmAttestRequest {
    pub device_id: String,
    /// Exactly 32 bytes, hex.
    pub nonce: String,
    /// Certificate slot, 0..=7 (SPDM has eight).
    #[serde(default)]
    pub slot_id: u8,
    /// Measurement block indices, 1..=254 each; empty asks for all (SPDM's
    /// 0xFF).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_indices: Vec<u8>,
}

impl Validate for SpdmAttestRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/device_id", &self.device_id);
        v.hex("/nonce", &self.nonce, SPDM_NONCE_BYTES, SPDM_NONCE_BYTES);
        v.range("/slot_id", self.slot_id, 0, 7);
        for (i, index) in self.measurement_indices.iter().enumerate() {
            // 0 asks for the count and 0xFF for all: both are requests of
            // their own, not block indices.
            v.range(&pointer("/measurement_indices", i), *index, 1, 254);
        }
        v.into_result()
    }
}

/// Appraisal result, after the IETF EAR (Entity Attestation Result) trust
/// tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttestationVerdict {
    /// Evidence matches reference values.
    Affirming,
    /// Matches, with reservations (e.g. outdated but not revoked firmware).
    Warning,
    /// Does not match: do not trust the device.
    Contraindicated,
    /// No appraisal could be made.
    None,
}

/// One measured component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Measurement {
    /// SPDM measurement block index or TPM PCR index.
    pub index: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schema(example = "sha384")]
    pub digest_alg: String,
    /// Hex.
    pub digest: String,
}

/// The two signature algorithms every ticket carries together, post-quantum
/// and classical, so that a break of either alone does not forge one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum SignatureAlgorithm {
    #[serde(rename = "ML-DSA-65")]
    MlDsa65,
    #[serde(rename = "ECDSA-P384-SHA384")]
    EcdsaP384Sha384,
}

/// One attestation of one device (`GET /v1/attest/{attestation_id}`): the
/// appraisal of its SPDM evidence and the ticket that states it.
///
/// `id` is the attestation (`attest-` and 12 hex digits, the RFC's
/// `attest-123456` shape); `ticket_id` names its signed ticket (`tkt-` and
/// the hex of the first 16 bytes of SHA-256 over the COSE bytes): one
/// attestation issues exactly one ticket, whatever its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttestationTicket {
    #[schema(example = "attest-5f1c9a0b7e3d")]
    pub id: String,
    pub device_id: String,
    pub verdict: AttestationVerdict,
    /// Hex nonce the evidence was bound to (single use).
    pub nonce: String,
    /// The device's measurement blocks, as it reported them.
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    pub issued_at: DateTime<Utc>,
    /// After this the ticket no longer vouches for the device and what
    /// relies on it needs a new attestation.
    pub expires_at: DateTime<Utc>,
    /// The signatures the ticket carries, all of which must verify.
    pub signature_algs: Vec<SignatureAlgorithm>,
    #[schema(example = "tkt-0f3a5c7e9b1d2f4a6c8e0a2b4d6f8a1c")]
    pub ticket_id: String,
    /// The ticket: an EAR claims set in a COSE_Sign (RFC 9052) signed by
    /// ML-DSA-65 and ECDSA P-384, base64. Verifiable offline with the
    /// attestation service's public keys.
    pub ticket: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_to: Vec<ResourceRef>,
    /// The security domain whose objects the ticket is bound to; it may
    /// read the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// Why the verdict is not `affirming`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when the ticket was revoked: it no longer vouches for anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

/// Body of `GET /v1/fabman/attest/{ticket_id}`: whether a ticket vouches
/// for its device now, checked as a relying party would (both signatures,
/// expiry, revocation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TicketVerification {
    pub ticket_id: String,
    pub attestation_id: String,
    pub device_id: String,
    /// True only when both signatures verify, the ticket has not expired
    /// and is not revoked, and its verdict is `affirming`.
    pub valid: bool,
    pub verdict: AttestationVerdict,
    /// Why `valid` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_to: Vec<ResourceRef>,
    pub checked_at: DateTime<Utc>,
}

/// The RFC calls the same resource an attestation and a ticket.
pub type Attestation = AttestationTicket;

impl AttestationTicket {
    /// Whether the ticket vouches for its device at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.verdict == AttestationVerdict::Affirming
            && self.revoked.is_none()
            && self.issued_at <= now
            && now < self.expires_at
    }
}

/// TPM PCR bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PcrBank {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PcrValue {
    /// 0..=23 on a PC-client TPM.
    pub index: u8,
    /// Hex.
    pub digest: String,
}

/// What the TCG event log says, in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventLogSummary {
    pub event_count: u64,
    /// Replaying the log reproduces the quoted PCRs: the log is complete
    /// and untampered.
    pub replay_matches_pcrs: bool,
    /// Components measured, in boot order (e.g. firmware, bootloader, kernel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
}

/// Body of `GET /v1/attest/measured-boot/{device_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeasuredBoot {
    pub device_id: String,
    pub pcr_bank: PcrBank,
    pub pcrs: Vec<PcrValue>,
    pub event_log: EventLogSummary,
    /// The TPM quote over `pcrs` verified against the attestation key.
    pub quote_verified: bool,
    pub collected_at: DateTime<Utc>,
}

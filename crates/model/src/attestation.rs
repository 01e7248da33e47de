//! Device attestation and measured boot (`/v1/attest`, `/v1/fabman/attest`,
//! served by attestd and fabmand).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::meta::{ResourceMeta, ResourceRef};
use crate::problem::FieldViolation;
use crate::validate::{Validate, Violations, pointer};

/// Shortest nonce: 8 bytes (64 bits) is the least that makes replay of an
/// old quote improbable.
pub const MIN_NONCE_BYTES: usize = 8;
/// Longest nonce: 64 bytes covers every protocol we speak (TPM2 quotes take
/// up to the digest size, 64 for SHA-512).
pub const MAX_NONCE_BYTES: usize = 64;
/// SPDM 1.2 fixes the requester nonce of CHALLENGE and GET_MEASUREMENTS at
/// 32 bytes.
pub const SPDM_NONCE_BYTES: usize = 32;
/// Body of `POST /v1/attest/device`. attestd collects the evidence from
/// the device itself (an SPDM exchange it runs); evidence a client
/// collected is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestDeviceRequest {
    #[schema(example = "cxl-dev-001", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub device_id: String,
    /// Freshness challenge, hex (8..=64 bytes), single-use: the ticket
    /// carries it as `eat_nonce`.
    #[schema(example = "5f1c9a0b7e3d2c48", pattern = "^([0-9a-fA-F]{2}){8,64}$")]
    pub nonce: String,
}

impl Validate for AttestDeviceRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/device_id", &self.device_id);
        v.hex("/nonce", &self.nonce, MIN_NONCE_BYTES, MAX_NONCE_BYTES);
        v.into_result()
    }
}

/// Body of `POST /v1/fabman/attest`: attest a fabric device and bind the
/// ticket to the resources that depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FabricAttestRequest {
    #[schema(example = "cxl-dev-001", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub device_id: String,
    /// Hex (8..=64 bytes), single-use; the service draws one if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^([0-9a-fA-F]{2}){8,64}$")]
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
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub device_id: String,
    /// Exactly 32 bytes, hex.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub nonce: String,
    /// Certificate slot, 0..=7 (SPDM has eight).
    #[serde(default, deserialize_with = "crate::units::integral")]
    #[schema(minimum = 0, maximum = 7)]
    pub slot_id: u8,
    /// Measurement block indices, 1..=254 each, each once; empty asks for
    /// all (SPDM's 0xFF). One GET_MEASUREMENTS per index, the last signed
    /// over them all. Every block with a reference value must be among
    /// them for an `affirming` verdict.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::units::integral_vec"
    )]
    #[schema(schema_with = crate::schema::measurement_indices)]
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
            if self.measurement_indices[..i].contains(index) {
                v.add(
                    pointer("/measurement_indices", i),
                    "unique",
                    format!("block {index} is asked for twice"),
                );
            }
        }
        v.into_result()
    }
}

/// Longest revocation reason, in characters.
pub const MAX_REVOCATION_REASON: usize = 256;

/// Body of `POST /v1/attest/{attestation_id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why the ticket no longer vouches for its device (1..=256
    /// characters); relying parties see it.
    #[schema(example = "vendor key compromised", min_length = 1, max_length = 256)]
    pub reason: String,
}

impl Validate for RevokeRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.length(
            "/reason",
            self.reason.chars().count(),
            1,
            MAX_REVOCATION_REASON,
        );
        v.into_result()
    }
}

/// The SPDM session an attestation ran: what was negotiated and which key
/// signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpdmSession {
    /// `1.2`.
    pub version: String,
    /// Negotiated signature algorithm (`ECDSA_P256`, `ECDSA_P384`); absent
    /// when negotiation did not finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_asym_algo: Option<String>,
    /// Negotiated transcript hash (`SHA_256`, `SHA_384`, `SHA_512`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash_algo: Option<String>,
    /// Negotiated measurement hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_hash_algo: Option<String>,
    /// The certificate slot used.
    pub slot_id: u8,
    /// SHA-256 pin of the device's leaf key, as reported (pinned or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_key_pin: Option<String>,
    /// Request/response exchanges made.
    pub exchanges: u32,
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
    /// The SPDM session that collected the evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spdm: Option<SpdmSession>,
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

/// One record of the TCG event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BootEvent {
    /// Position in the log (1 = first record after the header).
    pub number: u64,
    pub pcr: u8,
    /// The spec name (`EV_SEPARATOR`, ...) or the hex value of an unknown type.
    #[schema(example = "EV_EFI_BOOT_SERVICES_APPLICATION")]
    pub event_type: String,
    /// Hex digest in the report's bank; absent when the record has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The event data when it is printable text (a path, a version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What the TCG event log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventLogSummary {
    pub event_count: u64,
    /// The quote verified and the log replays to the PCR digest it signed:
    /// the log is complete and untampered. False when the replay differs,
    /// and when the quote failed an earlier check (its digest then proves
    /// nothing; `quote_failure` says which).
    pub replay_matches_pcrs: bool,
    /// Components measured, in boot order (e.g. firmware, bootloader, kernel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Where the log comes from: `kernel` (the firmware's log as the kernel
    /// publishes it) or `modelled` (the twin's boot, written by corridord
    /// and extended into a software TPM: it measures no firmware).
    #[schema(example = "modelled")]
    pub origin: String,
    /// Every record, in log order.
    #[serde(default)]
    pub events: Vec<BootEvent>,
}

/// An event the measured-boot policy does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedBootEvent {
    pub number: u64,
    pub pcr: u8,
    pub event_type: String,
    /// Hex; empty when the event has no digest in the policy's bank.
    pub digest: String,
    /// `unexpected_event`, `digest_not_allowed` or `missing_bank`.
    pub reason: String,
}

/// The measured-boot policy's verdict on the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BootPolicyVerdict {
    /// Nothing rejected, nothing required missing.
    pub accepted: bool,
    /// SHA-256 of the policy, hex: which policy judged.
    pub policy_digest: String,
    /// How the policy was made: `reference_log` (the reference boot the
    /// operator enrolled) or `enrolled_at_start` (the log this host booted
    /// with when corridord started: trust on first use).
    pub source: String,
    /// The PCRs the policy judges (and the quote must cover).
    pub pcrs: Vec<u8>,
    #[serde(default)]
    pub rejected_events: Vec<RejectedBootEvent>,
    /// Required `pcr:event_type` pairs with no accepted event.
    #[serde(default)]
    pub missing: Vec<String>,
}

/// The TPM behind a measured-boot report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TpmInfo {
    /// The transport, as a TCTI string (`device:/dev/tpmrm0`,
    /// `swtpm:host=127.0.0.1,port=…`).
    pub transport: String,
    /// A software TPM (swtpm): real TPM 2.0 arithmetic and signatures, but
    /// no firmware measured anything into it.
    pub software: bool,
}

/// The platform's confidential-computing capability, as detected (not
/// attested: no SEV-SNP report or TDX quote is checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfidentialComputingReport {
    /// `sev-snp`, `tdx`, `sev` or `none`.
    #[schema(example = "none")]
    pub technology: String,
    /// This OS runs in a virtual machine.
    pub virtualised: bool,
    /// What was looked at and found.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// Body of `GET /v1/attest/measured-boot/{device_id}`: a fresh quote of the
/// host's TPM over the policy PCRs, the event log replayed against it, and
/// the measured-boot policy's verdict on the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeasuredBoot {
    /// The host whose TPM this is.
    pub device_id: String,
    pub pcr_bank: PcrBank,
    /// The quoted PCRs (their values as the verified quote signed them;
    /// as the log replays to them when the quote failed).
    pub pcrs: Vec<PcrValue>,
    pub event_log: EventLogSummary,
    /// The quote verified: signature by the enrolled attestation key,
    /// this request's nonce, every policy PCR quoted, and the log replays
    /// to the quoted digest.
    pub quote_verified: bool,
    /// Why the quote did not verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_failure: Option<String>,
    /// The nonce of this quote (hex, 32 bytes, drawn by attestd).
    pub nonce: String,
    pub policy: BootPolicyVerdict,
    /// Quote verified and policy accepted.
    pub trusted: bool,
    pub tpm: TpmInfo,
    pub confidential_computing: ConfidentialComputingReport,
    pub collected_at: DateTime<Utc>,
}

//! The claims a ticket carries: an EAT Attestation Result (EAR, draft-ietf-rats-ear) in our
//! own profile.
//!
//! A ticket is the verifier's signed verdict over one attestation: which components were
//! appraised (`submods`: `host-tpm`, `device:<id>`, `corridor:<id>`), the verdict for each
//! (`ear.status`, with EAR's trust tiers affirming 2 / warning 32 / contraindicated 96) and
//! why (the AR4SI trustworthiness vector), when it was issued and until when it holds
//! (`iat`, `exp`), the relying party's challenge it answers (`eat_nonce`), who issued it
//! (`ear.verifier-id`), and — our extension — the allocations it protects (corridor, bundle
//! and fabric path ids), the tenant and security domain, and the hash of the policy used.
//!
//! The JSON names are those of veraison's `ear` crate (`ear.status`,
//! `ear.trustworthiness-vector`, …); the CBOR labels (in [`super::cbor`]) are the draft's
//! integer keys, which are stable across its revisions. Our extension claims use text labels
//! in both encodings, as EAT allows.
//!
//! Every constructor path (signing, CBOR decoding, JSON deserialising) runs
//! [`TicketClaims::validate`], so a `TicketClaims` obtained from outside is well-formed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ClaimsError;
use super::nonce::Nonce;

/// The `eat_profile` of CorridorOS tickets. A `tag:` URI (RFC 4151) as EAR's own profile
/// is; `corridoros.example` is the project's placeholder authority until it owns a domain,
/// `2026` the year the profile was minted and `ear/1` its version. A verifier rejects every
/// other profile, so a change of claim semantics must mint `ear/2`.
pub const PROFILE: &str = "tag:corridoros.example,2026:ear/1";

/// Most submods one ticket may appraise (a rack's worth of devices; keeps tickets bounded).
pub const MAX_SUBMODS: usize = 256;
/// Most ids in each binding list (`corridor_ids`, `bundle_ids`, `path_ids`).
pub const MAX_BOUND_IDS: usize = 256;
/// Longest text claim in bytes (ids, names, policy ids).
pub const MAX_TEXT_LEN: usize = 256;

/// An appraisal verdict: EAR's trust tiers, worst last (so `max` is the overall verdict).
///
/// EAR also has `none` (0); a ticket never carries it as a status, because a verifier that
/// has nothing to say about a component must not appraise it at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Affirming,
    Warning,
    Contraindicated,
}

impl Status {
    /// EAR's numeric trust tier (the CBOR encoding of `ear.status`).
    pub const fn code(self) -> i64 {
        match self {
            Status::Affirming => 2,
            Status::Warning => 32,
            Status::Contraindicated => 96,
        }
    }

    /// The status for an EAR trust-tier code; `None` for `none` (0) and unknown codes.
    pub const fn from_code(code: i64) -> Option<Status> {
        match code {
            2 => Some(Status::Affirming),
            32 => Some(Status::Warning),
            96 => Some(Status::Contraindicated),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Status::Affirming => "affirming",
            Status::Warning => "warning",
            Status::Contraindicated => "contraindicated",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The tier of one trustworthiness claim value (AR4SI §2.3.3): -1..=1 make no claim,
/// -32..=31 affirm, -96..=95 warn, the rest contraindicate (veraison's `TrustClaim::tier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrustTier {
    None,
    Affirming,
    Warning,
    Contraindicated,
}

impl TrustTier {
    pub const fn of(value: i8) -> TrustTier {
        match value {
            -1..=1 => TrustTier::None,
            -32..=31 => TrustTier::Affirming,
            -96..=95 => TrustTier::Warning,
            _ => TrustTier::Contraindicated,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            TrustTier::None => "none",
            TrustTier::Affirming => "affirming",
            TrustTier::Warning => "warning",
            TrustTier::Contraindicated => "contraindicated",
        }
    }

    /// The weakest status that is consistent with a claim of this tier.
    const fn floor(self) -> Status {
        match self {
            TrustTier::None | TrustTier::Affirming => Status::Affirming,
            TrustTier::Warning => Status::Warning,
            TrustTier::Contraindicated => Status::Contraindicated,
        }
    }
}

/// The standard values of the AR4SI trustworthiness claims (draft-ietf-rats-ar4si §2.3,
/// with the names veraison uses). Values common to every claim come first.
pub mod ar4si {
    pub const VERIFIER_MALFUNCTION: i8 = -1;
    pub const NO_CLAIM: i8 = 0;
    pub const UNEXPECTED_EVIDENCE: i8 = 1;
    pub const CRYPTO_VALIDATION_FAILED: i8 = 99;

    // instance-identity
    pub const TRUSTWORTHY_INSTANCE: i8 = 2;
    pub const UNTRUSTWORTHY_INSTANCE: i8 = 96;
    pub const UNRECOGNIZED_INSTANCE: i8 = 97;
    // configuration
    pub const APPROVED_CONFIG: i8 = 2;
    pub const NO_CONFIG_VULNS: i8 = 3;
    pub const UNSAFE_CONFIG: i8 = 32;
    pub const UNAVAILABLE_CONFIG_ELEMENTS: i8 = 36;
    pub const UNSUPPORTABLE_CONFIG: i8 = 96;
    // executables
    pub const APPROVED_RUNTIME: i8 = 2;
    pub const APPROVED_BOOT: i8 = 3;
    pub const UNSAFE_RUNTIME: i8 = 32;
    pub const UNRECOGNIZED_RUNTIME: i8 = 33;
    pub const CONTRAINDICATED_RUNTIME: i8 = 96;
    // file-system
    pub const APPROVED_FILES: i8 = 2;
    pub const UNRECOGNIZED_FILES: i8 = 32;
    pub const CONTRAINDICATED_FILES: i8 = 96;
    // hardware
    pub const GENUINE_HARDWARE: i8 = 2;
    pub const UNSAFE_HARDWARE: i8 = 32;
    pub const CONTRAINDICATED_HARDWARE: i8 = 96;
    pub const UNRECOGNIZED_HARDWARE: i8 = 97;
    // runtime-opaque
    pub const ENCRYPTED_MEMORY_RUNTIME: i8 = 2;
    pub const ISOLATED_MEMORY_RUNTIME: i8 = 32;
    pub const VISIBLE_MEMORY_RUNTIME: i8 = 96;
    // storage-opaque
    pub const HW_KEYS_ENCRYPTED_SECRETS: i8 = 2;
    pub const SW_KEYS_ENCRYPTED_SECRETS: i8 = 32;
    pub const UNENCRYPTED_SECRETS: i8 = 96;
    // sourced-data
    pub const TRUSTED_SOURCES: i8 = 2;
    pub const UNTRUSTED_SOURCES: i8 = 32;
    pub const CONTRAINDICATED_SOURCES: i8 = 96;
}

/// The AR4SI trustworthiness vector of one appraisal: eight optional claims, each a signed
/// byte whose range gives its [`TrustTier`]. An absent claim makes no statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustVector {
    #[serde(
        rename = "instance-identity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_identity: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executables: Option<i8>,
    #[serde(
        rename = "file-system",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_system: Option<i8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<i8>,
    #[serde(
        rename = "runtime-opaque",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_opaque: Option<i8>,
    #[serde(
        rename = "storage-opaque",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_opaque: Option<i8>,
    #[serde(
        rename = "sourced-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sourced_data: Option<i8>,
}

impl TrustVector {
    /// The claims with their AR4SI CBOR keys (0..=7), in key order.
    pub fn entries(&self) -> [(u8, Option<i8>); 8] {
        [
            (0, self.instance_identity),
            (1, self.configuration),
            (2, self.executables),
            (3, self.file_system),
            (4, self.hardware),
            (5, self.runtime_opaque),
            (6, self.storage_opaque),
            (7, self.sourced_data),
        ]
    }

    /// The claim slot for an AR4SI CBOR key, `None` for keys outside 0..=7.
    pub fn slot_mut(&mut self, key: u8) -> Option<&mut Option<i8>> {
        Some(match key {
            0 => &mut self.instance_identity,
            1 => &mut self.configuration,
            2 => &mut self.executables,
            3 => &mut self.file_system,
            4 => &mut self.hardware,
            5 => &mut self.runtime_opaque,
            6 => &mut self.storage_opaque,
            7 => &mut self.sourced_data,
            _ => return None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries().iter().all(|(_, v)| v.is_none())
    }

    /// The worst tier among the claims present (`TrustTier::None` when empty).
    pub fn worst_tier(&self) -> TrustTier {
        self.entries()
            .iter()
            .filter_map(|(_, v)| v.map(TrustTier::of))
            .max()
            .unwrap_or(TrustTier::None)
    }
}

/// One component's appraisal (an EAR `submods` entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appraisal {
    #[serde(rename = "ear.status")]
    pub status: Status,
    #[serde(rename = "ear.trustworthiness-vector")]
    pub trust_vector: TrustVector,
    /// The reference-value / measured-boot policy this component was appraised against.
    #[serde(
        rename = "ear.appraisal-policy-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_id: Option<String>,
}

/// Who issued the ticket (EAR `ear.verifier-id`, AR4SI's verifier identity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierId {
    pub developer: String,
    pub build: String,
}

/// SHA-256 of the appraisal policy (reference values, measured-boot policy, trust anchors)
/// in force when the ticket was issued; hex in JSON, 32 bytes in CBOR. A relying party that
/// pins a policy compares this instead of trusting the policy id's name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyHash(pub [u8; 32]);

impl PolicyHash {
    /// SHA-256 of a policy document's bytes.
    pub fn of(policy: &[u8]) -> PolicyHash {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, policy);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        PolicyHash(out)
    }

    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }

    pub fn from_hex(text: &str) -> Result<PolicyHash, ClaimsError> {
        let bytes = crate::hex::decode(text).ok_or(ClaimsError::BadPolicyHash)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| ClaimsError::BadPolicyHash)?;
        Ok(PolicyHash(array))
    }
}

impl fmt::Debug for PolicyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyHash({})", self.to_hex())
    }
}

impl Serialize for PolicyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PolicyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PolicyHash::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// The claims set of a ticket. Build it, then hand it to [`super::TicketSigner::sign`],
/// which validates it first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ClaimsJson", try_from = "ClaimsJson")]
pub struct TicketClaims {
    /// Always [`PROFILE`].
    pub eat_profile: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds; after this the bound allocations need a re-attestation.
    pub exp: u64,
    /// The challenge this attestation answered (issued by a [`super::NonceLedger`]).
    pub eat_nonce: Nonce,
    pub verifier_id: VerifierId,
    /// The attestation (the RFC's `attest-123456`) that produced this ticket.
    pub attestation_id: String,
    /// The appraised components by name: `host-tpm`, `device:<id>` or `corridor:<id>`.
    pub submods: BTreeMap<String, Appraisal>,
    /// Allocations this ticket protects; a ticket presented for another one does not apply.
    pub corridor_ids: Vec<String>,
    pub bundle_ids: Vec<String>,
    pub path_ids: Vec<String>,
    /// The tenant whose objects the ticket is bound to (none for infrastructure-only tickets).
    pub tenant: Option<String>,
    pub security_domain: Option<String>,
    pub policy_hash: PolicyHash,
}

impl TicketClaims {
    /// The overall verdict: the worst submod status (contraindicated when there are none,
    /// so that an invalid claims set never reads as affirming).
    pub fn status(&self) -> Status {
        self.submods
            .values()
            .map(|a| a.status)
            .max()
            .unwrap_or(Status::Contraindicated)
    }

    /// Whether every appraised component is affirming — what corridor binding requires.
    pub fn is_affirming(&self) -> bool {
        !self.submods.is_empty() && self.status() == Status::Affirming
    }

    /// Whether the ticket expires within `margin_secs` of `now`: the service re-attests the
    /// bound devices then, so that a corridor does not go `degraded` merely because its
    /// ticket ran out.
    pub fn expires_within(&self, now: u64, margin_secs: u64) -> bool {
        now.saturating_add(margin_secs) >= self.exp
    }

    /// Checks the profile's rules; see [`ClaimsError`] for each.
    pub fn validate(&self) -> Result<(), ClaimsError> {
        if self.eat_profile != PROFILE {
            return Err(ClaimsError::WrongProfile {
                found: self.eat_profile.clone(),
                expected: PROFILE,
            });
        }
        if self.exp <= self.iat {
            return Err(ClaimsError::ExpiryNotAfterIssue {
                iat: self.iat,
                exp: self.exp,
            });
        }
        if self.submods.is_empty() {
            return Err(ClaimsError::NoSubmods);
        }
        if self.submods.len() > MAX_SUBMODS {
            return Err(ClaimsError::TooManySubmods {
                count: self.submods.len(),
                max: MAX_SUBMODS,
            });
        }
        check_attestation_id(&self.attestation_id)?;
        check_text("ear.verifier-id.developer", &self.verifier_id.developer)?;
        check_text("ear.verifier-id.build", &self.verifier_id.build)?;
        for (name, appraisal) in &self.submods {
            check_submod_name(name)?;
            if appraisal.trust_vector.is_empty() {
                return Err(ClaimsError::EmptyTrustVector {
                    submod: name.clone(),
                });
            }
            let worst = appraisal.trust_vector.worst_tier();
            if appraisal.status < worst.floor() {
                return Err(ClaimsError::StatusBetterThanVector {
                    submod: name.clone(),
                    status: appraisal.status.name(),
                    worst: worst.name(),
                });
            }
            if let Some(policy_id) = &appraisal.policy_id {
                check_text("ear.appraisal-policy-id", policy_id)?;
            }
        }
        for (field, ids) in [
            ("corridor_ids", &self.corridor_ids),
            ("bundle_ids", &self.bundle_ids),
            ("path_ids", &self.path_ids),
        ] {
            if ids.len() > MAX_BOUND_IDS {
                return Err(ClaimsError::TooManyEntries {
                    field,
                    count: ids.len(),
                    max: MAX_BOUND_IDS,
                });
            }
            for id in ids {
                check_id(field, id)?;
            }
        }
        if let Some(tenant) = &self.tenant {
            check_id("tenant", tenant)?;
        }
        if let Some(domain) = &self.security_domain {
            check_id("security_domain", domain)?;
        }
        Ok(())
    }
}

/// `attest-` followed by lowercase letters, digits and dashes: the RFC's `attest-123456`
/// shape, with room for the service's own numbering.
fn check_attestation_id(id: &str) -> Result<(), ClaimsError> {
    let bad = || ClaimsError::BadAttestationId(id.chars().take(80).collect());
    let rest = id.strip_prefix("attest-").ok_or_else(bad)?;
    if rest.is_empty()
        || id.len() > 64
        || !rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad());
    }
    Ok(())
}

fn check_text(field: &'static str, text: &str) -> Result<(), ClaimsError> {
    if text.is_empty() {
        return Err(ClaimsError::EmptyField { field });
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(ClaimsError::FieldTooLong {
            field,
            len: text.len(),
            max: MAX_TEXT_LEN,
        });
    }
    Ok(())
}

/// Ids are printable ASCII without spaces, so they print and compare unambiguously.
fn check_id(field: &'static str, id: &str) -> Result<(), ClaimsError> {
    check_text(field, id)?;
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ClaimsError::BadId { field });
    }
    Ok(())
}

fn check_submod_name(name: &str) -> Result<(), ClaimsError> {
    let bad = || ClaimsError::BadSubmodName(name.chars().take(80).collect());
    if name == "host-tpm" {
        return Ok(());
    }
    let id = name
        .strip_prefix("device:")
        .or_else(|| name.strip_prefix("corridor:"))
        .ok_or_else(bad)?;
    if id.is_empty() || name.len() > MAX_TEXT_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(())
}

/// The JSON shape: the claims plus the overall `ear.status`, which is derived on output and
/// checked on input (a JSON ticket whose overall status disagrees with its submods is refused).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsJson {
    eat_profile: String,
    iat: u64,
    exp: u64,
    eat_nonce: Nonce,
    #[serde(rename = "ear.verifier-id")]
    verifier_id: VerifierId,
    #[serde(rename = "ear.status")]
    status: Status,
    submods: BTreeMap<String, Appraisal>,
    attestation_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    corridor_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bundle_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    path_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security_domain: Option<String>,
    policy_hash: PolicyHash,
}

impl From<TicketClaims> for ClaimsJson {
    fn from(c: TicketClaims) -> Self {
        ClaimsJson {
            status: c.status(),
            eat_profile: c.eat_profile,
            iat: c.iat,
            exp: c.exp,
            eat_nonce: c.eat_nonce,
            verifier_id: c.verifier_id,
            submods: c.submods,
            attestation_id: c.attestation_id,
            corridor_ids: c.corridor_ids,
            bundle_ids: c.bundle_ids,
            path_ids: c.path_ids,
            tenant: c.tenant,
            security_domain: c.security_domain,
            policy_hash: c.policy_hash,
        }
    }
}

impl TryFrom<ClaimsJson> for TicketClaims {
    type Error = ClaimsError;

    fn try_from(j: ClaimsJson) -> Result<Self, ClaimsError> {
        let claims = TicketClaims {
            eat_profile: j.eat_profile,
            iat: j.iat,
            exp: j.exp,
            eat_nonce: j.eat_nonce,
            verifier_id: j.verifier_id,
            attestation_id: j.attestation_id,
            submods: j.submods,
            corridor_ids: j.corridor_ids,
            bundle_ids: j.bundle_ids,
            path_ids: j.path_ids,
            tenant: j.tenant,
            security_domain: j.security_domain,
            policy_hash: j.policy_hash,
        };
        claims.validate()?;
        check_overall_status(&claims, j.status)?;
        Ok(claims)
    }
}

/// A carried overall status must be exactly the worst submod status.
pub(crate) fn check_overall_status(
    claims: &TicketClaims,
    found: Status,
) -> Result<(), ClaimsError> {
    let expected = claims.status();
    if found != expected {
        return Err(ClaimsError::InconsistentOverallStatus {
            found: found.name(),
            expected: expected.name(),
        });
    }
    Ok(())
}

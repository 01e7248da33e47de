//! An SPDM report in the API's words (measurements) and in the ticket's
//! (an EAR appraisal with its AR4SI trustworthiness vector).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use corridor_attest::spdm::{AttestationReport, Contraindication, Verdict};
use corridor_attest::ticket::{
    Appraisal, Nonce, PROFILE, PolicyHash, Status, TicketClaims, TrustVector, VerifierId, ar4si,
};
use corridor_model::attestation::{Measurement, SpdmSession};
use corridor_model::meta::{ResourceKind, ResourceRef};
use corridor_protocols::spdm::{AsymAlgo, HashAlgo, MeasurementHash, measurement::value_type};

use super::AttestationError;

/// A fresh attestation id: `attest-` and 12 random hex digits (the RFC's
/// `attest-123456` shape, with room for a fleet's worth of attestations).
pub fn new_attestation_id() -> String {
    let mut bytes = [0u8; 6];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    format!("attest-{}", corridor_attest::hex::encode(&bytes))
}

fn component(value_type: u8) -> &'static str {
    match value_type & !value_type::RAW_BIT_STREAM {
        value_type::IMMUTABLE_ROM => "immutable ROM",
        value_type::MUTABLE_FIRMWARE => "mutable firmware",
        value_type::HARDWARE_CONFIG => "hardware configuration",
        value_type::FIRMWARE_CONFIG => "firmware configuration",
        value_type::MANIFEST => "measurement manifest",
        value_type::DEVICE_MODE => "device mode",
        value_type::VERSION => "firmware version",
        value_type::SECURE_VERSION_NUMBER => "secure version number",
        _ => "vendor-defined",
    }
}

/// The device's measurement blocks as the API lists them.
pub fn measurements(report: &AttestationReport) -> Vec<Measurement> {
    let alg = match report.negotiated.map(|n| n.measurement_hash) {
        Some(MeasurementHash::Hash(HashAlgo::Sha256)) => "sha256",
        Some(MeasurementHash::Hash(HashAlgo::Sha384)) => "sha384",
        Some(MeasurementHash::Hash(HashAlgo::Sha512)) => "sha512",
        Some(MeasurementHash::RawBitStream) | None => "raw",
    };
    report
        .measurements
        .iter()
        .map(|block| Measurement {
            index: block.index,
            description: Some(component(block.value_type).to_string()),
            digest_alg: if block.is_raw() { "raw" } else { alg }.to_string(),
            digest: corridor_attest::hex::encode(&block.value),
        })
        .collect()
}

fn hash_name(hash: HashAlgo) -> &'static str {
    match hash {
        HashAlgo::Sha256 => "SHA_256",
        HashAlgo::Sha384 => "SHA_384",
        HashAlgo::Sha512 => "SHA_512",
    }
}

/// The SPDM session of `report` as the API shows it.
pub fn session(report: &AttestationReport, slot_id: u8) -> SpdmSession {
    let negotiated = report.negotiated;
    SpdmSession {
        version: "1.2".into(),
        base_asym_algo: negotiated.map(|n| {
            match n.asym {
                AsymAlgo::EcdsaP256 => "ECDSA_P256",
                AsymAlgo::EcdsaP384 => "ECDSA_P384",
            }
            .into()
        }),
        base_hash_algo: negotiated.map(|n| hash_name(n.hash).into()),
        measurement_hash_algo: negotiated.map(|n| match n.measurement_hash {
            MeasurementHash::Hash(h) => hash_name(h).into(),
            MeasurementHash::RawBitStream => "RAW_BIT_STREAM".into(),
        }),
        slot_id,
        leaf_key_pin: report.leaf_pin.map(|pin| pin.to_string()),
        exchanges: report.exchanges,
    }
}

/// The AR4SI vector an SPDM verdict supports: identity from the chain and
/// pinned key, executables from the measurements, hardware from the
/// vendor chain. A contraindication sets the claim it disproves.
pub fn trust_vector(verdict: &Verdict) -> TrustVector {
    let mut v = TrustVector::default();
    match verdict {
        Verdict::Affirming => {
            v.instance_identity = Some(ar4si::TRUSTWORTHY_INSTANCE);
            v.executables = Some(ar4si::APPROVED_RUNTIME);
            v.hardware = Some(ar4si::GENUINE_HARDWARE);
        }
        Verdict::Contraindicated(reason) => match reason {
            Contraindication::MeasurementMismatch { .. }
            | Contraindication::MeasurementMissing { .. } => {
                v.instance_identity = Some(ar4si::TRUSTWORTHY_INSTANCE);
                v.executables = Some(ar4si::CONTRAINDICATED_RUNTIME);
            }
            Contraindication::BadSignature { .. } | Contraindication::StaleNonce { .. } => {
                v.instance_identity = Some(ar4si::CRYPTO_VALIDATION_FAILED);
            }
            Contraindication::ChainNotToRoot { .. }
            | Contraindication::CertificateInvalid { .. }
            | Contraindication::RootHashMismatch => {
                v.instance_identity = Some(ar4si::UNTRUSTWORTHY_INSTANCE);
                v.hardware = Some(ar4si::UNRECOGNIZED_HARDWARE);
            }
            Contraindication::LeafKeyNotPinned { .. } => {
                v.instance_identity = Some(ar4si::UNRECOGNIZED_INSTANCE);
            }
            Contraindication::Unreachable { .. }
            | Contraindication::Garbage { .. }
            | Contraindication::ErrorResponse { .. }
            | Contraindication::Negotiation { .. } => {
                v.instance_identity = Some(ar4si::UNRECOGNIZED_INSTANCE);
            }
        },
    }
    v
}

/// What a ticket's claims are made of.
#[derive(Debug)]
pub struct ClaimsInput<'a> {
    pub attestation_id: &'a str,
    pub device_id: &'a str,
    pub report: &'a AttestationReport,
    pub nonce_hex: &'a str,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub bound_to: &'a [ResourceRef],
    pub security_domain: Option<&'a str>,
    pub policy_hash: PolicyHash,
}

/// The EAR claims of one device attestation.
///
/// # Errors
/// A nonce that is not 8..=64 bytes of hex (the request validators already
/// refuse it; named here so nothing reaches the signer unchecked).
pub fn claims(input: ClaimsInput<'_>) -> Result<TicketClaims, AttestationError> {
    let nonce = corridor_attest::hex::decode(input.nonce_hex)
        .and_then(|bytes| Nonce::new(bytes).ok())
        .ok_or_else(|| AttestationError::Field {
            pointer: "/nonce",
            rule: "format",
            message: "8 to 64 bytes of hex".into(),
        })?;
    let status = if input.report.verdict.is_affirming() {
        Status::Affirming
    } else {
        Status::Contraindicated
    };
    let ids = |kind: ResourceKind| -> Vec<String> {
        input
            .bound_to
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.id.clone())
            .collect()
    };
    Ok(TicketClaims {
        eat_profile: PROFILE.to_string(),
        iat: u64::try_from(input.issued_at.timestamp()).unwrap_or(0),
        exp: u64::try_from(input.expires_at.timestamp()).unwrap_or(0),
        eat_nonce: nonce,
        verifier_id: VerifierId {
            developer: "corridoros".into(),
            build: concat!("attestd ", env!("CARGO_PKG_VERSION")).into(),
        },
        attestation_id: input.attestation_id.to_string(),
        submods: BTreeMap::from([(
            format!("device:{}", input.device_id),
            Appraisal {
                status,
                trust_vector: trust_vector(&input.report.verdict),
                policy_id: Some("spdm-reference-values".into()),
            },
        )]),
        corridor_ids: ids(ResourceKind::Corridor),
        bundle_ids: ids(ResourceKind::FfmBundle),
        path_ids: ids(ResourceKind::FabricPath),
        tenant: input.security_domain.map(str::to_string),
        security_domain: input.security_domain.map(str::to_string),
        policy_hash: input.policy_hash,
    })
}

//! The CBOR encoding of [`TicketClaims`] (the COSE payload): a CWT/EAT claims map with the
//! EAR draft's integer labels for standard claims and text labels for our extensions.
//!
//! | claim | label | CBOR type |
//! |---|---|---|
//! | `exp` | 4 | uint |
//! | `iat` | 6 | uint |
//! | `eat_nonce` | 10 | bstr (8..=64) |
//! | `eat_profile` | 265 | tstr ([`PROFILE`](super::PROFILE)) |
//! | `submods` | 266 | map tstr → appraisal |
//! | `ear.status` (overall) | 1000 | int (2 / 32 / 96) |
//! | `ear.verifier-id` | 1004 | map {0: developer, 1: build} |
//! | appraisal `ear.status` | 1000 | int |
//! | appraisal `ear.trustworthiness-vector` | 1001 | map {0..=7: int -128..=127} |
//! | appraisal `ear.appraisal-policy-id` | 1003 | tstr |
//! | `attestation_id`, `tenant`, `security_domain` | same text | tstr |
//! | `corridor_ids`, `bundle_ids`, `path_ids` | same text | array of tstr |
//! | `policy_hash` | `"policy_hash"` | bstr (32) |
//!
//! Decoding fails closed: unknown labels, duplicate labels, wrong types and values out of
//! range are typed [`DecodeError`]s, and the decoded claims are validated before they are
//! returned.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use ciborium::Value;

use super::claims::{
    Appraisal, PolicyHash, Status, TicketClaims, TrustVector, VerifierId, check_overall_status,
};
use super::error::DecodeError;
use super::nonce::Nonce;

const EXP: i64 = 4;
const IAT: i64 = 6;
const EAT_NONCE: i64 = 10;
const EAT_PROFILE: i64 = 265;
const SUBMODS: i64 = 266;
const EAR_STATUS: i64 = 1000;
const EAR_TRUST_VECTOR: i64 = 1001;
const EAR_POLICY_ID: i64 = 1003;
const EAR_VERIFIER_ID: i64 = 1004;

const ATTESTATION_ID: &str = "attestation_id";
const CORRIDOR_IDS: &str = "corridor_ids";
const BUNDLE_IDS: &str = "bundle_ids";
const PATH_IDS: &str = "path_ids";
const TENANT: &str = "tenant";
const SECURITY_DOMAIN: &str = "security_domain";
const POLICY_HASH: &str = "policy_hash";

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn text_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| text(s)).collect())
}

/// The claims as a CBOR value (a map), labels in a fixed order so that encoding is stable.
pub(crate) fn claims_to_value(c: &TicketClaims) -> Value {
    let mut map = vec![
        (int(EXP), int_u64(c.exp)),
        (int(IAT), int_u64(c.iat)),
        (
            int(EAT_NONCE),
            Value::Bytes(c.eat_nonce.as_bytes().to_vec()),
        ),
        (int(EAT_PROFILE), text(&c.eat_profile)),
        (
            int(SUBMODS),
            Value::Map(
                c.submods
                    .iter()
                    .map(|(name, a)| (text(name), appraisal_to_value(a)))
                    .collect(),
            ),
        ),
        (int(EAR_STATUS), int(c.status().code())),
        (
            int(EAR_VERIFIER_ID),
            Value::Map(vec![
                (int(0), text(&c.verifier_id.developer)),
                (int(1), text(&c.verifier_id.build)),
            ]),
        ),
        (text(ATTESTATION_ID), text(&c.attestation_id)),
        (text(CORRIDOR_IDS), text_array(&c.corridor_ids)),
        (text(BUNDLE_IDS), text_array(&c.bundle_ids)),
        (text(PATH_IDS), text_array(&c.path_ids)),
        (text(POLICY_HASH), Value::Bytes(c.policy_hash.0.to_vec())),
    ];
    if let Some(tenant) = &c.tenant {
        map.push((text(TENANT), text(tenant)));
    }
    if let Some(domain) = &c.security_domain {
        map.push((text(SECURITY_DOMAIN), text(domain)));
    }
    Value::Map(map)
}

fn int_u64(v: u64) -> Value {
    Value::Integer(v.into())
}

fn appraisal_to_value(a: &Appraisal) -> Value {
    let mut map = vec![
        (int(EAR_STATUS), int(a.status.code())),
        (
            int(EAR_TRUST_VECTOR),
            Value::Map(
                a.trust_vector
                    .entries()
                    .iter()
                    .filter_map(|(key, v)| v.map(|v| (int(i64::from(*key)), int(i64::from(v)))))
                    .collect(),
            ),
        ),
    ];
    if let Some(policy_id) = &a.policy_id {
        map.push((int(EAR_POLICY_ID), text(policy_id)));
    }
    Value::Map(map)
}

/// Encodes the claims to CBOR bytes, as they are: [`super::TicketSigner::sign`] validates
/// before it calls this.
pub fn encode_claims(c: &TicketClaims) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&claims_to_value(c), &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes and validates claims from CBOR bytes (the COSE payload).
pub fn decode_claims(bytes: &[u8]) -> Result<TicketClaims, DecodeError> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader(&mut reader)
        .map_err(|e| DecodeError::PayloadCbor(e.to_string()))?;
    if !reader.is_empty() {
        return Err(DecodeError::PayloadCbor(format!(
            "{} bytes after the claims map",
            reader.len()
        )));
    }
    claims_from_value(value)
}

/// A map label as a comparable key: integers and texts are distinct namespaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Int(i128),
    Text(String),
}

impl Label {
    fn of(v: &Value) -> Option<Label> {
        match v {
            Value::Integer(i) => Some(Label::Int(i128::from(*i))),
            Value::Text(t) => Some(Label::Text(t.clone())),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Label::Int(i) => i.to_string(),
            Label::Text(t) => format!("{:?}", t.chars().take(64).collect::<String>()),
        }
    }
}

/// The entries of a map with integer-or-text labels, each label at most once.
fn entries(value: Value, claim: &'static str) -> Result<Vec<(Label, Value)>, DecodeError> {
    let Value::Map(pairs) = value else {
        return Err(DecodeError::WrongType {
            claim,
            expected: "map",
        });
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let label = Label::of(&k).ok_or(DecodeError::WrongType {
            claim,
            expected: "map with int or text labels",
        })?;
        if !seen.insert(label.clone()) {
            return Err(DecodeError::DuplicateClaim(label.describe()));
        }
        out.push((label, v));
    }
    Ok(out)
}

fn as_u64(v: Value, claim: &'static str) -> Result<u64, DecodeError> {
    let Value::Integer(i) = v else {
        return Err(DecodeError::WrongType {
            claim,
            expected: "unsigned integer",
        });
    };
    u64::try_from(i).map_err(|_| DecodeError::OutOfRange { claim })
}

fn as_i64(v: Value, claim: &'static str) -> Result<i64, DecodeError> {
    let Value::Integer(i) = v else {
        return Err(DecodeError::WrongType {
            claim,
            expected: "integer",
        });
    };
    i64::try_from(i).map_err(|_| DecodeError::OutOfRange { claim })
}

fn as_text(v: Value, claim: &'static str) -> Result<String, DecodeError> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(DecodeError::WrongType {
            claim,
            expected: "text",
        }),
    }
}

fn as_bytes(v: Value, claim: &'static str) -> Result<Vec<u8>, DecodeError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(DecodeError::WrongType {
            claim,
            expected: "byte string",
        }),
    }
}

fn as_text_array(v: Value, claim: &'static str) -> Result<Vec<String>, DecodeError> {
    let Value::Array(items) = v else {
        return Err(DecodeError::WrongType {
            claim,
            expected: "array of text",
        });
    };
    items.into_iter().map(|i| as_text(i, claim)).collect()
}

fn as_status(v: Value, claim: &'static str) -> Result<Status, DecodeError> {
    Status::from_code(as_i64(v, claim)?).ok_or(DecodeError::OutOfRange { claim })
}

/// Builds claims from a decoded CBOR value, then validates them.
pub(crate) fn claims_from_value(value: Value) -> Result<TicketClaims, DecodeError> {
    if !matches!(value, Value::Map(_)) {
        return Err(DecodeError::PayloadNotMap);
    }
    let mut exp = None;
    let mut iat = None;
    let mut nonce = None;
    let mut profile = None;
    let mut submods = None;
    let mut overall = None;
    let mut verifier_id = None;
    let mut attestation_id = None;
    let mut corridor_ids = Vec::new();
    let mut bundle_ids = Vec::new();
    let mut path_ids = Vec::new();
    let mut tenant = None;
    let mut security_domain = None;
    let mut policy_hash = None;

    for (label, v) in entries(value, "claims")? {
        match &label {
            Label::Int(i) => match i64::try_from(*i).unwrap_or(i64::MIN) {
                EXP => exp = Some(as_u64(v, "exp")?),
                IAT => iat = Some(as_u64(v, "iat")?),
                EAT_NONCE => {
                    let bytes = as_bytes(v, "eat_nonce")?;
                    nonce = Some(Nonce::new(bytes).map_err(DecodeError::Claims)?);
                }
                EAT_PROFILE => profile = Some(as_text(v, "eat_profile")?),
                SUBMODS => submods = Some(submods_from_value(v)?),
                EAR_STATUS => overall = Some(as_status(v, "ear.status")?),
                EAR_VERIFIER_ID => verifier_id = Some(verifier_id_from_value(v)?),
                _ => return Err(DecodeError::UnknownClaim(label.describe())),
            },
            Label::Text(t) => match t.as_str() {
                ATTESTATION_ID => attestation_id = Some(as_text(v, "attestation_id")?),
                CORRIDOR_IDS => corridor_ids = as_text_array(v, "corridor_ids")?,
                BUNDLE_IDS => bundle_ids = as_text_array(v, "bundle_ids")?,
                PATH_IDS => path_ids = as_text_array(v, "path_ids")?,
                TENANT => tenant = Some(as_text(v, "tenant")?),
                SECURITY_DOMAIN => security_domain = Some(as_text(v, "security_domain")?),
                POLICY_HASH => {
                    let bytes = as_bytes(v, "policy_hash")?;
                    let array: [u8; 32] =
                        bytes.try_into().map_err(|_| DecodeError::OutOfRange {
                            claim: "policy_hash",
                        })?;
                    policy_hash = Some(PolicyHash(array));
                }
                _ => return Err(DecodeError::UnknownClaim(label.describe())),
            },
        }
    }

    let claims = TicketClaims {
        eat_profile: profile.ok_or(DecodeError::MissingClaim("eat_profile"))?,
        iat: iat.ok_or(DecodeError::MissingClaim("iat"))?,
        exp: exp.ok_or(DecodeError::MissingClaim("exp"))?,
        eat_nonce: nonce.ok_or(DecodeError::MissingClaim("eat_nonce"))?,
        verifier_id: verifier_id.ok_or(DecodeError::MissingClaim("ear.verifier-id"))?,
        attestation_id: attestation_id.ok_or(DecodeError::MissingClaim("attestation_id"))?,
        submods: submods.ok_or(DecodeError::MissingClaim("submods"))?,
        corridor_ids,
        bundle_ids,
        path_ids,
        tenant,
        security_domain,
        policy_hash: policy_hash.ok_or(DecodeError::MissingClaim("policy_hash"))?,
    };
    let overall = overall.ok_or(DecodeError::MissingClaim("ear.status"))?;
    claims.validate()?;
    check_overall_status(&claims, overall)?;
    Ok(claims)
}

fn verifier_id_from_value(v: Value) -> Result<VerifierId, DecodeError> {
    let mut developer = None;
    let mut build = None;
    for (label, v) in entries(v, "ear.verifier-id")? {
        match label {
            Label::Int(0) => developer = Some(as_text(v, "ear.verifier-id.developer")?),
            Label::Int(1) => build = Some(as_text(v, "ear.verifier-id.build")?),
            other => return Err(DecodeError::UnknownClaim(other.describe())),
        }
    }
    Ok(VerifierId {
        developer: developer.ok_or(DecodeError::MissingClaim("ear.verifier-id.developer"))?,
        build: build.ok_or(DecodeError::MissingClaim("ear.verifier-id.build"))?,
    })
}

fn submods_from_value(v: Value) -> Result<BTreeMap<String, Appraisal>, DecodeError> {
    let mut out = BTreeMap::new();
    for (label, v) in entries(v, "submods")? {
        let Label::Text(name) = label else {
            return Err(DecodeError::WrongType {
                claim: "submods",
                expected: "map with text names",
            });
        };
        out.insert(name, appraisal_from_value(v)?);
    }
    Ok(out)
}

fn appraisal_from_value(v: Value) -> Result<Appraisal, DecodeError> {
    let mut status = None;
    let mut vector = None;
    let mut policy_id = None;
    for (label, v) in entries(v, "submod appraisal")? {
        match label {
            Label::Int(i) if i == i128::from(EAR_STATUS) => {
                status = Some(as_status(v, "submod ear.status")?)
            }
            Label::Int(i) if i == i128::from(EAR_TRUST_VECTOR) => {
                vector = Some(trust_vector_from_value(v)?)
            }
            Label::Int(i) if i == i128::from(EAR_POLICY_ID) => {
                policy_id = Some(as_text(v, "ear.appraisal-policy-id")?)
            }
            other => return Err(DecodeError::UnknownClaim(other.describe())),
        }
    }
    Ok(Appraisal {
        status: status.ok_or(DecodeError::MissingClaim("submod ear.status"))?,
        trust_vector: vector.ok_or(DecodeError::MissingClaim("ear.trustworthiness-vector"))?,
        policy_id,
    })
}

fn trust_vector_from_value(v: Value) -> Result<TrustVector, DecodeError> {
    let mut vector = TrustVector::default();
    for (label, v) in entries(v, "ear.trustworthiness-vector")? {
        let slot = match &label {
            Label::Int(k) => u8::try_from(*k).ok().and_then(|k| vector.slot_mut(k)),
            Label::Text(_) => None,
        }
        .ok_or_else(|| DecodeError::UnknownClaim(label.describe()))?;
        let value = as_i64(v, "trustworthiness claim")?;
        *slot = Some(i8::try_from(value).map_err(|_| DecodeError::OutOfRange {
            claim: "trustworthiness claim",
        })?);
    }
    Ok(vector)
}

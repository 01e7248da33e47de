//! The relying side: [`TicketVerifier`] holds both public keys and accepts a ticket only if
//! both signatures are present, name the expected keys and verify, the claims are valid,
//! the ticket is within its validity window and not revoked.

use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED, ML_DSA_65, ParsedPublicKey, UnparsedPublicKey,
};
use coset::iana;
use coset::{Algorithm, CoseSign, RegisteredLabelWithPrivate};

use super::cbor::decode_claims;
use super::claims::TicketClaims;
use super::envelope::{ES384_NAME, EXTERNAL_AAD, ML_DSA_65_NAME, key_id, parse_envelope};
use super::error::{DecodeError, KeyError, VerifyError};
use super::id::TicketId;
use super::nonce::NonceLedger;
use super::revocation::RevocationList;
use crate::hex::encode as hex;

/// Default tolerance for an issuer clock ahead of the verifier's, applied to `iat` only:
/// expiry is strict, because it is what sends a device back to re-attestation.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 5;

/// A ticket whose envelope and claims parsed, signatures not checked. For inspection (the
/// API shows a revoked or expired ticket's claims) and for fuzzing the decoder.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedTicket {
    pub id: TicketId,
    pub claims: TicketClaims,
    pub envelope: CoseSign,
}

/// A ticket that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTicket {
    pub id: TicketId,
    pub claims: TicketClaims,
}

/// Parses and validates a ticket without checking its signatures. Never trust the result
/// for a decision: use [`TicketVerifier::verify`].
pub fn decode_unverified(bytes: &[u8]) -> Result<DecodedTicket, DecodeError> {
    let envelope = parse_envelope(bytes)?;
    let claims = decode_claims(envelope.payload.as_deref().unwrap_or_default())?;
    Ok(DecodedTicket {
        id: TicketId::of_envelope(bytes),
        claims,
        envelope,
    })
}

/// The public keys of a ticket issuer, and the verification policy.
pub struct TicketVerifier {
    mldsa: ParsedPublicKey,
    ecdsa: ParsedPublicKey,
    mldsa_kid: Vec<u8>,
    ecdsa_kid: Vec<u8>,
    clock_skew_secs: u64,
}

impl fmt::Debug for TicketVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketVerifier")
            .field("mldsa_kid", &hex(&self.mldsa_kid))
            .field("ecdsa_kid", &hex(&self.ecdsa_kid))
            .field("clock_skew_secs", &self.clock_skew_secs)
            .finish()
    }
}

/// Which of the two required signatures a COSE_Signature is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    MlDsa,
    Ecdsa,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::MlDsa => ML_DSA_65_NAME,
            Role::Ecdsa => ES384_NAME,
        }
    }
}

impl TicketVerifier {
    /// A verifier for the raw ML-DSA-65 public key (1952 bytes; a DER SubjectPublicKeyInfo
    /// is accepted too) and the uncompressed SEC1 P-384 public key (97 bytes).
    pub fn from_public_keys(mldsa: &[u8], ecdsa: &[u8]) -> Result<TicketVerifier, KeyError> {
        let parsed_mldsa = UnparsedPublicKey::new(&ML_DSA_65, mldsa)
            .parse()
            .map_err(|e| KeyError::PublicKey {
                alg: ML_DSA_65_NAME,
                reason: e.to_string(),
            })?;
        let parsed_ecdsa = UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, ecdsa)
            .parse()
            .map_err(|e| KeyError::PublicKey {
                alg: ES384_NAME,
                reason: e.to_string(),
            })?;
        Ok(TicketVerifier {
            mldsa: parsed_mldsa,
            ecdsa: parsed_ecdsa,
            mldsa_kid: key_id(mldsa),
            ecdsa_kid: key_id(ecdsa),
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
        })
    }

    /// Sets the tolerance for an issuer clock ahead of ours (applied to `iat`).
    pub fn with_clock_skew(mut self, secs: u64) -> Self {
        self.clock_skew_secs = secs;
        self
    }

    /// Verifies a ticket at time `now` (Unix seconds) against a revocation list.
    ///
    /// Order: envelope structure, both signatures, claims, validity window, revocation —
    /// so that no claim byte is interpreted before both signatures vouched for it.
    pub fn verify(
        &self,
        bytes: &[u8],
        now: u64,
        revocations: &RevocationList,
    ) -> Result<VerifiedTicket, VerifyError> {
        let envelope = parse_envelope(bytes)?;
        self.check_signatures(&envelope)?;
        let claims = decode_claims(envelope.payload.as_deref().unwrap_or_default())?;
        if now.saturating_add(self.clock_skew_secs) < claims.iat {
            return Err(VerifyError::NotYetValid {
                iat: claims.iat,
                now,
            });
        }
        if now >= claims.exp {
            return Err(VerifyError::Expired {
                exp: claims.exp,
                now,
            });
        }
        let id = TicketId::of_envelope(bytes);
        if let Some(revocation) = revocations.get(&id) {
            return Err(VerifyError::Revoked {
                ticket_id: id.to_string(),
                reason: revocation.reason.clone(),
                revoked_at: revocation.revoked_at,
            });
        }
        Ok(VerifiedTicket { id, claims })
    }

    /// Verifies a ticket and consumes its `eat_nonce` from the ledger: for a ticket handed
    /// in once against a challenge the relying party issued (`POST /v1/fabman/attest`).
    /// A second presentation of a ticket with the same nonce is refused as replayed.
    pub fn verify_presentation(
        &self,
        bytes: &[u8],
        now: u64,
        revocations: &RevocationList,
        ledger: &dyn NonceLedger,
    ) -> Result<VerifiedTicket, VerifyError> {
        let ticket = self.verify(bytes, now, revocations)?;
        ledger.consume(&ticket.claims.eat_nonce, now)?;
        Ok(ticket)
    }

    /// Both signatures: exactly one ML-DSA-65 and one ES384, algorithms in the protected
    /// headers, each with the expected `kid` (also protected), each valid.
    fn check_signatures(&self, envelope: &CoseSign) -> Result<(), VerifyError> {
        let mut found: [Option<usize>; 2] = [None, None];
        for (index, signature) in envelope.signatures.iter().enumerate() {
            let role = match &signature.protected.header.alg {
                None => return Err(VerifyError::UnprotectedAlgorithm { index }),
                Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ML_DSA_65)) => {
                    Role::MlDsa
                }
                Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => Role::Ecdsa,
                Some(other) => {
                    return Err(VerifyError::UnexpectedAlgorithm {
                        index,
                        alg: describe_alg(other),
                    });
                }
            };
            let slot = &mut found[usize::from(role == Role::Ecdsa)];
            if slot.replace(index).is_some() {
                return Err(VerifyError::DuplicateSignature { alg: role.name() });
            }
        }
        for (role, index) in [Role::MlDsa, Role::Ecdsa].into_iter().zip(found) {
            let index = index.ok_or(VerifyError::MissingSignature { alg: role.name() })?;
            let signature = &envelope.signatures[index];
            let (expected_kid, key) = match role {
                Role::MlDsa => (&self.mldsa_kid, &self.mldsa),
                Role::Ecdsa => (&self.ecdsa_kid, &self.ecdsa),
            };
            let kid = &signature.protected.header.key_id;
            if kid != expected_kid {
                return Err(VerifyError::WrongKeyId {
                    alg: role.name(),
                    expected: hex(expected_kid),
                    found: hex(kid),
                });
            }
            envelope
                .verify_signature(index, EXTERNAL_AAD, |sig, tbs| key.verify_sig(tbs, sig))
                .map_err(|_| VerifyError::BadSignature { alg: role.name() })?;
        }
        Ok(())
    }
}

fn describe_alg(alg: &Algorithm) -> String {
    match alg {
        RegisteredLabelWithPrivate::Assigned(a) => format!("{a:?} ({})", *a as i64),
        RegisteredLabelWithPrivate::PrivateUse(i) => format!("private {i}"),
        RegisteredLabelWithPrivate::Text(t) => {
            format!("{:?}", t.chars().take(32).collect::<String>())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ticket::cbor::encode_claims;
    use crate::ticket::claims::{Appraisal, PROFILE, PolicyHash, Status, TrustVector, VerifierId};
    use crate::ticket::error::ClaimsError;
    use crate::ticket::nonce::Nonce;
    use crate::ticket::sign::TicketSigner;

    #[test]
    fn validly_signed_but_invalid_claims_are_refused() {
        let signer = TicketSigner::generate().unwrap();
        let claims = TicketClaims {
            eat_profile: PROFILE.to_string(),
            iat: 100,
            exp: 100,
            eat_nonce: Nonce::new(vec![1; 32]).unwrap(),
            verifier_id: VerifierId {
                developer: "d".to_string(),
                build: "b".to_string(),
            },
            attestation_id: "attest-1".to_string(),
            submods: BTreeMap::from([(
                "host-tpm".to_string(),
                Appraisal {
                    status: Status::Affirming,
                    trust_vector: TrustVector {
                        hardware: Some(2),
                        ..TrustVector::default()
                    },
                    policy_id: None,
                },
            )]),
            corridor_ids: vec![],
            bundle_ids: vec![],
            path_ids: vec![],
            tenant: None,
            security_domain: None,
            policy_hash: PolicyHash([0; 32]),
        };
        let headers = signer.signature_headers(
            (iana::Algorithm::ML_DSA_65, signer.mldsa_key_id().to_vec()),
            (iana::Algorithm::ES384, signer.ecdsa_key_id().to_vec()),
        );
        let ticket = signer
            .sign_payload(encode_claims(&claims).unwrap(), headers)
            .unwrap();
        let verdict = signer
            .verifier()
            .unwrap()
            .verify(&ticket.bytes, 100, &RevocationList::new());
        assert_eq!(
            verdict,
            Err(VerifyError::Decode(DecodeError::Claims(
                ClaimsError::ExpiryNotAfterIssue { iat: 100, exp: 100 }
            )))
        );
    }
}

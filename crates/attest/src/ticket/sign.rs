//! The issuing side: [`TicketSigner`] holds both private keys and signs claims into an
//! envelope (see [`super::envelope`] for its shape).

use std::fmt;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, ML_DSA_65_SIGNING, PqdsaKeyPair,
};
use coset::iana;
use coset::{CoseSignBuilder, CoseSignatureBuilder, HeaderBuilder};

use super::cbor::encode_claims;
use super::claims::TicketClaims;
use super::envelope::{
    CONTENT_TYPE, ES384_NAME, EXTERNAL_AAD, MAX_TICKET_BYTES, ML_DSA_65_NAME, encode_envelope,
    key_id,
};
use super::error::{KeyError, SignError};
use super::id::TicketId;
use super::verify::TicketVerifier;

/// A signed ticket: its id and its encoded COSE_Sign bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTicket {
    pub id: TicketId,
    pub bytes: Vec<u8>,
}

/// The private keys of a ticket issuer: ML-DSA-65 and ECDSA P-384, used together on
/// every ticket.
pub struct TicketSigner {
    mldsa: PqdsaKeyPair,
    ecdsa: EcdsaKeyPair,
    mldsa_kid: Vec<u8>,
    ecdsa_kid: Vec<u8>,
    rng: SystemRandom,
}

impl fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only: private keys never reach a log.
        f.debug_struct("TicketSigner")
            .field("mldsa_kid", &crate::hex::encode(&self.mldsa_kid))
            .field("ecdsa_kid", &crate::hex::encode(&self.ecdsa_kid))
            .finish_non_exhaustive()
    }
}

impl TicketSigner {
    /// Fresh key pairs from the system random generator.
    pub fn generate() -> Result<TicketSigner, KeyError> {
        let mldsa = PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).map_err(|_| KeyError::Generate {
            alg: ML_DSA_65_NAME,
        })?;
        let ecdsa = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(|_| KeyError::Generate { alg: ES384_NAME })?;
        Ok(TicketSigner::from_key_pairs(mldsa, ecdsa))
    }

    /// Loads both keys from PKCS#8 v1 DER documents. For ML-DSA, aws-lc-rs reads the seed
    /// form, the expanded form or both (and checks that they agree), as
    /// draft-ietf-lamps-dilithium-certificates defines them; it writes the 32-byte seed form.
    pub fn from_pkcs8(mldsa_pkcs8: &[u8], ecdsa_pkcs8: &[u8]) -> Result<TicketSigner, KeyError> {
        let mldsa = PqdsaKeyPair::from_pkcs8(&ML_DSA_65_SIGNING, mldsa_pkcs8).map_err(|e| {
            KeyError::Pkcs8 {
                alg: ML_DSA_65_NAME,
                reason: e.to_string(),
            }
        })?;
        let ecdsa = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, ecdsa_pkcs8)
            .map_err(|e| KeyError::Pkcs8 {
                alg: ES384_NAME,
                reason: e.to_string(),
            })?;
        Ok(TicketSigner::from_key_pairs(mldsa, ecdsa))
    }

    /// Loads both keys from PKCS#8 v1 DER files.
    pub fn from_pkcs8_files(
        mldsa_path: &Path,
        ecdsa_path: &Path,
    ) -> Result<TicketSigner, KeyError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| KeyError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        TicketSigner::from_pkcs8(&read(mldsa_path)?, &read(ecdsa_path)?)
    }

    /// Both private keys as PKCS#8 v1 DER (ML-DSA in its seed form), for
    /// [`TicketSigner::from_pkcs8`]. The caller writes them with owner-only permissions.
    pub fn to_pkcs8(&self) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        let mldsa = self.mldsa.to_pkcs8v1().map_err(|_| KeyError::Serialise {
            alg: ML_DSA_65_NAME,
        })?;
        let ecdsa = self
            .ecdsa
            .to_pkcs8v1()
            .map_err(|_| KeyError::Serialise { alg: ES384_NAME })?;
        Ok((mldsa.as_ref().to_vec(), ecdsa.as_ref().to_vec()))
    }

    fn from_key_pairs(mldsa: PqdsaKeyPair, ecdsa: EcdsaKeyPair) -> TicketSigner {
        let mldsa_kid = key_id(mldsa.public_key().as_ref());
        let ecdsa_kid = key_id(ecdsa.public_key().as_ref());
        TicketSigner {
            mldsa,
            ecdsa,
            mldsa_kid,
            ecdsa_kid,
            rng: SystemRandom::new(),
        }
    }

    /// The raw ML-DSA-65 public key (1952 bytes).
    pub fn mldsa_public_key(&self) -> &[u8] {
        self.mldsa.public_key().as_ref()
    }

    /// The uncompressed SEC1 P-384 public key (97 bytes).
    pub fn ecdsa_public_key(&self) -> &[u8] {
        self.ecdsa.public_key().as_ref()
    }

    pub fn mldsa_key_id(&self) -> &[u8] {
        &self.mldsa_kid
    }

    pub fn ecdsa_key_id(&self) -> &[u8] {
        &self.ecdsa_kid
    }

    /// The verifier for tickets this signer issues.
    pub fn verifier(&self) -> Result<TicketVerifier, KeyError> {
        TicketVerifier::from_public_keys(self.mldsa_public_key(), self.ecdsa_public_key())
    }

    /// Validates the claims and signs them with both keys.
    pub fn sign(&self, claims: &TicketClaims) -> Result<SignedTicket, SignError> {
        let headers = self.signature_headers(
            (iana::Algorithm::ML_DSA_65, self.mldsa_kid.clone()),
            (iana::Algorithm::ES384, self.ecdsa_kid.clone()),
        );
        self.sign_with_headers(claims, headers)
    }

    /// The two signature protected headers, `alg` and `kid` in each.
    #[doc(hidden)]
    pub fn signature_headers(
        &self,
        mldsa: (iana::Algorithm, Vec<u8>),
        ecdsa: (iana::Algorithm, Vec<u8>),
    ) -> [coset::Header; 2] {
        [mldsa, ecdsa].map(|(alg, kid)| HeaderBuilder::new().algorithm(alg).key_id(kid).build())
    }

    /// Signs valid claims under the given signature headers (first ML-DSA, then ECDSA).
    /// Tests use it to produce tickets whose headers lie (swapped or borrowed kids); such a
    /// ticket only ever fails verification.
    #[doc(hidden)]
    pub fn sign_with_headers(
        &self,
        claims: &TicketClaims,
        headers: [coset::Header; 2],
    ) -> Result<SignedTicket, SignError> {
        claims.validate()?;
        let payload = encode_claims(claims).map_err(SignError::Encode)?;
        self.sign_payload(payload, headers)
    }

    /// Signs payload bytes as they are. Crate-private: every public path validates first.
    pub(crate) fn sign_payload(
        &self,
        payload: Vec<u8>,
        [mldsa_header, ecdsa_header]: [coset::Header; 2],
    ) -> Result<SignedTicket, SignError> {
        let body = HeaderBuilder::new()
            .content_type(CONTENT_TYPE.to_string())
            .build();
        let envelope = CoseSignBuilder::new()
            .protected(body)
            .payload(payload)
            .try_add_created_signature(
                CoseSignatureBuilder::new().protected(mldsa_header).build(),
                EXTERNAL_AAD,
                |tbs| self.sign_mldsa(tbs),
            )?
            .try_add_created_signature(
                CoseSignatureBuilder::new().protected(ecdsa_header).build(),
                EXTERNAL_AAD,
                |tbs| self.sign_ecdsa(tbs),
            )?
            .build();
        let bytes = encode_envelope(envelope).map_err(SignError::Encode)?;
        if bytes.len() > MAX_TICKET_BYTES {
            return Err(SignError::TooLarge {
                len: bytes.len(),
                max: MAX_TICKET_BYTES,
            });
        }
        Ok(SignedTicket {
            id: TicketId::of_envelope(&bytes),
            bytes,
        })
    }

    /// ML-DSA-65 ("pure" mode, empty context string) over the COSE Sig_structure.
    pub(crate) fn sign_mldsa(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut signature = vec![0u8; ML_DSA_65_SIGNING.signature_len()];
        let len = self
            .mldsa
            .sign(tbs, &mut signature)
            .map_err(|_| SignError::Crypto {
                alg: ML_DSA_65_NAME,
            })?;
        signature.truncate(len);
        Ok(signature)
    }

    /// ES384 over the COSE Sig_structure: fixed-width r‖s, as RFC 9053 §2.1 requires.
    pub(crate) fn sign_ecdsa(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature = self
            .ecdsa
            .sign(&self.rng, tbs)
            .map_err(|_| SignError::Crypto { alg: ES384_NAME })?;
        Ok(signature.as_ref().to_vec())
    }
}

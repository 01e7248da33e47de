//! `TPMT_SIGNATURE` (TPM 2.0 Library, Part 2 §11.3.4), big-endian:
//! `sigAlg u16 | TPMU_SIGNATURE`, where ECDSA is `hash u16 | r TPM2B | s TPM2B` and
//! RSASSA / RSAPSS are `hash u16 | sig TPM2B`.

use super::alg::HashAlg;
use super::attest::put_tpm2b;
use super::error::{Result, TcgError};
use super::reader::Reader;

/// `TPM_ALG_RSASSA`.
pub const TPM_ALG_RSASSA: u16 = 0x0014;
/// `TPM_ALG_RSAPSS`.
pub const TPM_ALG_RSAPSS: u16 = 0x0016;
/// `TPM_ALG_ECDSA`.
pub const TPM_ALG_ECDSA: u16 = 0x0018;
/// `TPM_ALG_NULL`.
pub const TPM_ALG_NULL: u16 = 0x0010;

/// A decoded signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmSignature {
    /// ECDSA: big-endian `r` and `s` (each at most the curve's size).
    Ecdsa {
        /// The digest signed.
        hash: HashAlg,
        /// r.
        r: Vec<u8>,
        /// s.
        s: Vec<u8>,
    },
    /// RSASSA-PKCS1-v1_5.
    RsaSsa {
        /// The digest signed.
        hash: HashAlg,
        /// The signature (modulus-sized).
        sig: Vec<u8>,
    },
    /// RSASSA-PSS.
    RsaPss {
        /// The digest signed.
        hash: HashAlg,
        /// The signature (modulus-sized).
        sig: Vec<u8>,
    },
}

impl TpmSignature {
    /// Decodes a marshalled `TPMT_SIGNATURE` that must fill `bytes`.
    ///
    /// # Errors
    /// [`TcgError::Unsupported`] for a scheme other than ECDSA/RSASSA/RSAPSS (including NULL)
    /// or an unknown hash; [`TcgError::Truncated`] / [`TcgError::TrailingBytes`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let alg = r.u16_be("sigAlg")?;
        if !matches!(alg, TPM_ALG_ECDSA | TPM_ALG_RSASSA | TPM_ALG_RSAPSS) {
            return Err(TcgError::Unsupported {
                what: "signature scheme",
                value: u32::from(alg),
            });
        }
        let hash_id = r.u16_be("signature hash")?;
        let hash = HashAlg::from_id(hash_id).ok_or(TcgError::Unsupported {
            what: "signature hash",
            value: u32::from(hash_id),
        })?;
        let sig = match alg {
            TPM_ALG_ECDSA => {
                let rr = r.tpm2b("signatureR")?.to_vec();
                let s = r.tpm2b("signatureS")?.to_vec();
                TpmSignature::Ecdsa { hash, r: rr, s }
            }
            TPM_ALG_RSASSA => TpmSignature::RsaSsa {
                hash,
                sig: r.tpm2b("signature")?.to_vec(),
            },
            _ => TpmSignature::RsaPss {
                hash,
                sig: r.tpm2b("signature")?.to_vec(),
            },
        };
        r.finish("TPMT_SIGNATURE")?;
        Ok(sig)
    }

    /// The hash algorithm the signature covers (also the one the quote's `pcrDigest` uses).
    #[must_use]
    pub fn hash(&self) -> HashAlg {
        match self {
            TpmSignature::Ecdsa { hash, .. }
            | TpmSignature::RsaSsa { hash, .. }
            | TpmSignature::RsaPss { hash, .. } => *hash,
        }
    }

    /// Marshals back to `TPMT_SIGNATURE` bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let (alg, hash) = match self {
            TpmSignature::Ecdsa { hash, .. } => (TPM_ALG_ECDSA, hash),
            TpmSignature::RsaSsa { hash, .. } => (TPM_ALG_RSASSA, hash),
            TpmSignature::RsaPss { hash, .. } => (TPM_ALG_RSAPSS, hash),
        };
        out.extend_from_slice(&alg.to_be_bytes());
        out.extend_from_slice(&hash.id().to_be_bytes());
        match self {
            TpmSignature::Ecdsa { r, s, .. } => {
                put_tpm2b(&mut out, r);
                put_tpm2b(&mut out, s);
            }
            TpmSignature::RsaSsa { sig, .. } | TpmSignature::RsaPss { sig, .. } => {
                put_tpm2b(&mut out, sig);
            }
        }
        out
    }
}

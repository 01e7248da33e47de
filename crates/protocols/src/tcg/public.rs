//! `TPMT_PUBLIC` for the keys an attestation key can be (TPM 2.0 Library, Part 2 §12.2.4),
//! big-endian: `type u16 | nameAlg u16 | objectAttributes u32 | authPolicy TPM2B
//! | parameters | unique`, with RSA and ECC parameters. Other object types are refused.

use super::alg::HashAlg;
use super::error::{Result, TcgError};
use super::reader::Reader;

/// `TPM_ALG_RSA`.
pub const TPM_ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_ECC`.
pub const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ALG_RSAES: u16 = 0x0015;
const TPM_ALG_ECDAA: u16 = 0x001A;

/// `TPMA_OBJECT` bits a verifier looks at.
pub mod attributes {
    /// `fixedTPM`: the key cannot leave this TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// `fixedParent`.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// `sensitiveDataOrigin`: the TPM generated the private part.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// `restricted`: signs only TPM-generated structures (what makes a quote unforgeable).
    pub const RESTRICTED: u32 = 1 << 16;
    /// `decrypt`.
    pub const DECRYPT: u32 = 1 << 17;
    /// `sign`.
    pub const SIGN: u32 = 1 << 18;
}

/// A named ECC curve (`TPM_ECC_CURVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccCurve {
    /// `TPM_ECC_NIST_P256` (0x0003).
    NistP256,
    /// `TPM_ECC_NIST_P384` (0x0004).
    NistP384,
}

/// The public key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An ECC point.
    Ecc {
        /// The curve.
        curve: EccCurve,
        /// Big-endian x.
        x: Vec<u8>,
        /// Big-endian y.
        y: Vec<u8>,
    },
    /// An RSA key.
    Rsa {
        /// Big-endian modulus.
        modulus: Vec<u8>,
        /// Public exponent (0 in the structure means 65537; already substituted).
        exponent: u32,
    },
}

/// A decoded `TPMT_PUBLIC` of an RSA or ECC key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmPublic {
    /// `nameAlg`.
    pub name_alg: HashAlg,
    /// `objectAttributes` (see [`attributes`]).
    pub attributes: u32,
    /// `authPolicy`.
    pub auth_policy: Vec<u8>,
    /// The signing scheme fixed in the key (`None` for TPM_ALG_NULL): (TPM_ALG_ID, hash).
    pub scheme: Option<(u16, HashAlg)>,
    /// The key.
    pub key: PublicKey,
}

impl TpmPublic {
    /// Decodes a marshalled `TPMT_PUBLIC` that must fill `bytes`.
    ///
    /// # Errors
    /// [`TcgError::Unsupported`] for an object type other than RSA/ECC, an unknown curve or
    /// hash; [`TcgError::Truncated`] / [`TcgError::TrailingBytes`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let kind = r.u16_be("type")?;
        let name_id = r.u16_be("nameAlg")?;
        let name_alg = hash(name_id, "nameAlg")?;
        let attributes = r.u32_be("objectAttributes")?;
        let auth_policy = r.tpm2b("authPolicy")?.to_vec();
        let sym = r.u16_be("symmetric.algorithm")?;
        if sym != TPM_ALG_NULL {
            r.u16_be("symmetric.keyBits")?;
            r.u16_be("symmetric.mode")?;
        }
        let scheme_id = r.u16_be("scheme")?;
        let scheme = match scheme_id {
            TPM_ALG_NULL => None,
            // RSAES has no details (TPMS_ENC_SCHEME_RSAES is empty).
            TPM_ALG_RSAES => None,
            id => {
                let h = hash(r.u16_be("scheme.hashAlg")?, "scheme hash")?;
                if id == TPM_ALG_ECDAA {
                    r.u16_be("scheme.count")?;
                }
                Some((id, h))
            }
        };
        let key = match kind {
            TPM_ALG_RSA => {
                r.u16_be("keyBits")?;
                let exponent = match r.u32_be("exponent")? {
                    0 => 65_537,
                    e => e,
                };
                let modulus = r.tpm2b("unique.rsa")?.to_vec();
                PublicKey::Rsa { modulus, exponent }
            }
            TPM_ALG_ECC => {
                let curve = match r.u16_be("curveID")? {
                    0x0003 => EccCurve::NistP256,
                    0x0004 => EccCurve::NistP384,
                    other => {
                        return Err(TcgError::Unsupported {
                            what: "ECC curve",
                            value: u32::from(other),
                        });
                    }
                };
                if r.u16_be("kdf.scheme")? != TPM_ALG_NULL {
                    r.u16_be("kdf.hashAlg")?;
                }
                let x = r.tpm2b("unique.x")?.to_vec();
                let y = r.tpm2b("unique.y")?.to_vec();
                PublicKey::Ecc { curve, x, y }
            }
            other => {
                return Err(TcgError::Unsupported {
                    what: "object type",
                    value: u32::from(other),
                });
            }
        };
        r.finish("TPMT_PUBLIC")?;
        Ok(Self {
            name_alg,
            attributes,
            auth_policy,
            scheme,
            key,
        })
    }

    /// Whether every bit of `mask` is set in the object attributes.
    #[must_use]
    pub fn has(&self, mask: u32) -> bool {
        self.attributes & mask == mask
    }
}

fn hash(id: u16, what: &'static str) -> Result<HashAlg> {
    HashAlg::from_id(id).ok_or(TcgError::Unsupported {
        what,
        value: u32::from(id),
    })
}

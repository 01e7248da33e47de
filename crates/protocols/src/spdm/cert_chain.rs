//! The SPDM certificate chain format (DSP0274 1.2 §10.6.1): `Length u16` (of the whole
//! chain, header included), `Reserved u16`, `RootHash` (the negotiated base hash of the first
//! certificate), then one or more DER certificates, root-most first.

use super::codec::{Put, Reader, fits};
use super::error::{Result, SpdmError};

/// A certificate chain split into its parts. The certificates are not parsed here (no X.509
/// in the pure codec); [`split_der_certificates`] only walks the DER outer TLVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChain {
    pub root_hash: Vec<u8>,
    /// The concatenated DER certificates.
    pub certificates: Vec<u8>,
}

/// The header size before the root hash.
pub const CERT_CHAIN_HEADER_LEN: usize = 4;

impl CertChain {
    /// Decodes a chain whose root hash is `hash_len` bytes.
    pub fn decode(bytes: &[u8], hash_len: usize) -> Result<CertChain> {
        let m = "certificate chain";
        let mut r = Reader::new(m, bytes);
        let length = usize::from(r.u16("Length")?);
        if length != bytes.len() {
            return Err(SpdmError::Inconsistent {
                message: m,
                field: "Length",
                reason: format!("says {length}, chain has {}", bytes.len()),
            });
        }
        r.u16("Reserved")?;
        let root_hash = r.take("RootHash", hash_len)?.to_vec();
        let certificates = r.rest().to_vec();
        if certificates.is_empty() {
            return Err(SpdmError::Truncated {
                message: m,
                field: "Certificates",
                need: 1,
                have: 0,
            });
        }
        split_der_certificates(&certificates)?;
        Ok(CertChain {
            root_hash,
            certificates,
        })
    }

    /// Encodes the chain with its header.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let len = CERT_CHAIN_HEADER_LEN + self.root_hash.len() + self.certificates.len();
        fits("certificate chain", "Length", len, usize::from(u16::MAX))?;
        let mut out = Vec::with_capacity(len);
        out.put_u16(len as u16);
        out.put_u16(0);
        out.extend_from_slice(&self.root_hash);
        out.extend_from_slice(&self.certificates);
        Ok(out)
    }

    /// The DER certificates, root-most first.
    pub fn der_certificates(&self) -> Result<Vec<&[u8]>> {
        split_der_certificates(&self.certificates)
    }
}

/// Splits concatenated DER certificates by their outer `SEQUENCE` TLVs. Fails on anything
/// that is not a run of definite-length SEQUENCEs filling the buffer exactly.
pub fn split_der_certificates(mut der: &[u8]) -> Result<Vec<&[u8]>> {
    let m = "certificate chain";
    let mut out = Vec::new();
    while !der.is_empty() {
        let mut r = Reader::new(m, der);
        let tag = r.u8("certificate tag")?;
        if tag != 0x30 {
            return Err(SpdmError::Inconsistent {
                message: m,
                field: "certificate tag",
                reason: format!("0x{tag:02x} is not a DER SEQUENCE"),
            });
        }
        let first = r.u8("certificate length")?;
        let len = match first {
            0..=0x7F => usize::from(first),
            0x81 => usize::from(r.u8("certificate length")?),
            0x82 => usize::from(u16::from_be_bytes(r.array("certificate length")?)),
            0x83 => {
                let [a, b, c] = r.array("certificate length")?;
                u32::from_be_bytes([0, a, b, c]) as usize
            }
            _ => {
                return Err(SpdmError::Inconsistent {
                    message: m,
                    field: "certificate length",
                    reason: format!("length form 0x{first:02x} is not definite DER"),
                });
            }
        };
        let header = der.len() - r.remaining();
        r.take("certificate", len)?;
        let (cert, rest) = der.split_at(header + len);
        out.push(cert);
        der = rest;
    }
    Ok(out)
}

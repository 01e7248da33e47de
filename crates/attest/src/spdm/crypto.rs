//! The cryptography of SPDM verification, on aws-lc-rs: transcript hashes and ECDSA
//! signatures in SPDM's raw `r ‖ s` form (libspdm `doc/crypto_endianness.md`).

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use corridor_protocols::spdm::{AsymAlgo, HashAlgo};

/// The digest of the concatenation of `parts`.
#[must_use]
pub fn hash(alg: HashAlgo, parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = digest::Context::new(digest_alg(alg));
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

pub(crate) fn digest_alg(alg: HashAlgo) -> &'static digest::Algorithm {
    match alg {
        HashAlgo::Sha256 => &digest::SHA256,
        HashAlgo::Sha384 => &digest::SHA384,
        HashAlgo::Sha512 => &digest::SHA512,
    }
}

/// The aws-lc verification algorithm for an ECDSA curve and message hash, DER signatures.
/// SPDM lets any negotiated base hash go with either curve, and aws-lc's fixed-size
/// verifiers cover only the matching pairs, so signatures are re-encoded as DER.
pub(crate) fn ecdsa_der_alg(curve: AsymAlgo, hash: HashAlgo) -> &'static dyn VerificationAlgorithm {
    match (curve, hash) {
        (AsymAlgo::EcdsaP256, HashAlgo::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (AsymAlgo::EcdsaP256, HashAlgo::Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (AsymAlgo::EcdsaP256, HashAlgo::Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
        (AsymAlgo::EcdsaP384, HashAlgo::Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (AsymAlgo::EcdsaP384, HashAlgo::Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (AsymAlgo::EcdsaP384, HashAlgo::Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
    }
}

/// DER `ECDSA-Sig-Value` of a raw big-endian `r ‖ s`.
#[must_use]
pub fn raw_to_der(raw: &[u8]) -> Vec<u8> {
    let half = raw.len() / 2;
    let int = |bytes: &[u8]| {
        let trimmed = match bytes.iter().position(|&b| b != 0) {
            Some(i) => &bytes[i..],
            None => &bytes[bytes.len().saturating_sub(1)..],
        };
        let mut out = vec![0x02];
        let pad = trimmed.first().is_some_and(|b| b & 0x80 != 0);
        out.push((trimmed.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
        out
    };
    let (r, s) = (int(&raw[..half]), int(&raw[half..]));
    let body = r.len() + s.len();
    let mut out = vec![0x30];
    if body >= 0x80 {
        out.push(0x81);
    }
    out.push(body as u8);
    out.extend_from_slice(&r);
    out.extend_from_slice(&s);
    out
}

/// Verifies an SPDM signature: ECDSA with `hash` over `message`, raw `r ‖ s`, by the
/// uncompressed public point `public_point`.
#[must_use]
pub fn verify_raw(
    curve: AsymAlgo,
    hash: HashAlgo,
    public_point: &[u8],
    message: &[u8],
    raw_sig: &[u8],
) -> bool {
    if raw_sig.len() != curve.signature_len() {
        return false;
    }
    UnparsedPublicKey::new(ecdsa_der_alg(curve, hash), public_point)
        .verify(message, &raw_to_der(raw_sig))
        .is_ok()
}

//! Checks an SPDM certificate chain: root hash, issuance to a configured vendor root,
//! validity, and the leaf key's pin.
//!
//! The chain's first certificate must be a configured root or be issued by one; each
//! following certificate must be issued (name and ECDSA signature) by the one before it,
//! which must be a CA. The leaf's SubjectPublicKeyInfo must hash (SHA-256) to a pinned
//! [`SpkiPin`] — the verifier of `corridor-pki` pins TLS peers the same way.

use aws_lc_rs::signature::UnparsedPublicKey;
use corridor_pki::pinning::SpkiPin;
use corridor_protocols::spdm::{AsymAlgo, HashAlgo};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
};
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};

use super::crypto::ecdsa_der_alg;

/// What the chain check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// A certificate does not parse or uses an algorithm we do not verify.
    Invalid(String),
    /// The chain does not lead to a configured root.
    NotToRoot(String),
    /// The leaf key is not pinned.
    NotPinned(SpkiPin),
}

/// The leaf's key, once the chain checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafKey {
    pub curve: AsymAlgo,
    /// Uncompressed EC point.
    pub point: Vec<u8>,
    pub pin: SpkiPin,
    pub subject: String,
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, ChainFault> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(ChainFault::Invalid("bytes after a certificate".into())),
        Err(e) => Err(ChainFault::Invalid(format!(
            "certificate does not parse: {e}"
        ))),
    }
}

fn curve_of(cert: &X509Certificate<'_>) -> Result<AsymAlgo, ChainFault> {
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(ChainFault::Invalid(format!(
            "{}: the key is not an EC key",
            cert.subject()
        )));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .ok_or_else(|| {
            ChainFault::Invalid(format!("{}: the EC key names no curve", cert.subject()))
        })?;
    if curve == OID_EC_P256 {
        Ok(AsymAlgo::EcdsaP256)
    } else if curve == OID_NIST_EC_P384 {
        Ok(AsymAlgo::EcdsaP384)
    } else {
        Err(ChainFault::Invalid(format!(
            "{}: curve {curve} is not P-256 or P-384",
            cert.subject()
        )))
    }
}

/// Whether `child` names `issuer` and carries its valid signature.
fn issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), String> {
    if child.issuer() != issuer.subject() {
        return Err(format!(
            "{} names issuer {}, not {}",
            child.subject(),
            child.issuer(),
            issuer.subject()
        ));
    }
    let sig_oid = &child.signature_algorithm.algorithm;
    let hash = if *sig_oid == OID_SIG_ECDSA_WITH_SHA256 {
        HashAlgo::Sha256
    } else if *sig_oid == OID_SIG_ECDSA_WITH_SHA384 {
        HashAlgo::Sha384
    } else if *sig_oid == OID_SIG_ECDSA_WITH_SHA512 {
        HashAlgo::Sha512
    } else {
        return Err(format!(
            "{}: signature algorithm {sig_oid} is not ECDSA with SHA-2",
            child.subject()
        ));
    };
    let curve = curve_of(issuer).map_err(|f| format!("{f:?}"))?;
    UnparsedPublicKey::new(
        ecdsa_der_alg(curve, hash),
        &issuer.public_key().subject_public_key.data,
    )
    .verify(child.tbs_certificate.as_ref(), &child.signature_value.data)
    .map_err(|_| {
        format!(
            "{}: the signature of {} does not verify",
            child.subject(),
            issuer.subject()
        )
    })
}

/// Checks `certs` (root-most first) against `roots` and `pins`, at `now` (Unix seconds)
/// when given, and returns the leaf key.
pub fn check_chain(
    certs: &[&[u8]],
    roots: &[Vec<u8>],
    pins: &[SpkiPin],
    now: Option<i64>,
) -> Result<LeafKey, ChainFault> {
    let parsed = certs
        .iter()
        .map(|c| parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let (first, leaf) = match (parsed.first(), parsed.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(ChainFault::Invalid("the chain holds no certificate".into())),
    };
    if !roots.iter().any(|r| r.as_slice() == certs[0]) {
        let mut why = Vec::new();
        let anchored = roots.iter().any(|r| match parse(r) {
            Ok(root) => issued_by(first, &root).map_err(|e| why.push(e)).is_ok(),
            Err(e) => {
                why.push(format!("{e:?}"));
                false
            }
        });
        if !anchored {
            return Err(ChainFault::NotToRoot(format!(
                "the first certificate ({}) is neither a configured root nor issued by one: {}",
                first.subject(),
                why.join("; ")
            )));
        }
    }
    for pair in parsed.windows(2) {
        if !pair[0].is_ca() {
            return Err(ChainFault::NotToRoot(format!(
                "{} issues certificates but is not a CA",
                pair[0].subject()
            )));
        }
        issued_by(&pair[1], &pair[0]).map_err(ChainFault::NotToRoot)?;
    }
    if let Some(now) = now {
        let at = ASN1Time::from_timestamp(now)
            .map_err(|e| ChainFault::Invalid(format!("time {now}: {e}")))?;
        if let Some(c) = parsed.iter().find(|c| !c.validity().is_valid_at(at)) {
            return Err(ChainFault::NotToRoot(format!(
                "{} is not valid at {at}",
                c.subject()
            )));
        }
    }
    let pin = SpkiPin::of_spki(leaf.public_key().raw);
    if !pins.contains(&pin) {
        return Err(ChainFault::NotPinned(pin));
    }
    Ok(LeafKey {
        curve: curve_of(leaf)?,
        point: leaf.public_key().subject_public_key.data.to_vec(),
        pin,
        subject: leaf.subject().to_string(),
    })
}

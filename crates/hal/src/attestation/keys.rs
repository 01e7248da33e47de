//! Deterministic key material and certificates of the twin's SPDM devices.
//!
//! Every private key is derived from the topology's `[twin] seed` and a label (the device
//! id, or `"vendor-ca"`): the scalar is the SHA-256 (P-256) or SHA-384 (P-384) of
//! `seed ‖ label ‖ counter`, the counter bumped in the 2⁻³² case that the digest is not a
//! valid scalar. So the twin's keys, and therefore the SPKI pins an operator configures, are
//! the same on every start. This is for the twin only: a key derived from a public seed
//! protects nothing. Certificates themselves are not byte-for-byte reproducible, because
//! ECDSA signatures are randomised by aws-lc.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, KeyPair as _,
};
use corridor_protocols::spdm::{AsymAlgo, HashAlgo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::TwinSpdmError;

/// The base hash a twin device signs with: aws-lc signs P-256 with SHA-256 and P-384 with
/// SHA-384 (the pairs libspdm's sample keys use too).
#[must_use]
pub fn paired_hash(asym: AsymAlgo) -> HashAlgo {
    match asym {
        AsymAlgo::EcdsaP256 => HashAlgo::Sha256,
        AsymAlgo::EcdsaP384 => HashAlgo::Sha384,
    }
}

fn signing_alg(asym: AsymAlgo) -> &'static EcdsaSigningAlgorithm {
    match asym {
        AsymAlgo::EcdsaP256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
        AsymAlgo::EcdsaP384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
    }
}

fn rcgen_alg(asym: AsymAlgo) -> &'static rcgen::SignatureAlgorithm {
    match asym {
        AsymAlgo::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        AsymAlgo::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
    }
}

/// RFC 5915 `ECPrivateKey` without the optional public key (aws-lc computes it).
fn rfc5915(asym: AsymAlgo, scalar: &[u8]) -> Vec<u8> {
    let curve_oid: &[u8] = match asym {
        AsymAlgo::EcdsaP256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        AsymAlgo::EcdsaP384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
    };
    let body_len = 3 + 2 + scalar.len() + 2 + curve_oid.len();
    let mut out = vec![
        0x30,
        body_len as u8,
        0x02,
        0x01,
        0x01,
        0x04,
        scalar.len() as u8,
    ];
    out.extend_from_slice(scalar);
    out.extend_from_slice(&[0xa0, curve_oid.len() as u8]);
    out.extend_from_slice(curve_oid);
    out
}

/// A deterministic key: the aws-lc key pair that signs SPDM messages and the same key as
/// rcgen needs it to issue certificates.
#[derive(Debug)]
pub struct TwinKey {
    pub asym: AsymAlgo,
    pub signer: EcdsaKeyPair,
    pub rcgen: KeyPair,
}

impl TwinKey {
    /// Derives the key of `label` from `seed`.
    pub fn derive(seed: u64, label: &str, asym: AsymAlgo) -> Result<TwinKey, TwinSpdmError> {
        let hash = match asym {
            AsymAlgo::EcdsaP256 => &digest::SHA256,
            AsymAlgo::EcdsaP384 => &digest::SHA384,
        };
        for counter in 0u32..16 {
            let mut ctx = digest::Context::new(hash);
            ctx.update(b"corridor-twin-spdm-key\0");
            ctx.update(&seed.to_be_bytes());
            ctx.update(label.as_bytes());
            ctx.update(&counter.to_be_bytes());
            let scalar = ctx.finish();
            let Ok(signer) = EcdsaKeyPair::from_private_key_der(
                signing_alg(asym),
                &rfc5915(asym, scalar.as_ref()),
            ) else {
                continue;
            };
            let pkcs8 = signer.to_pkcs8v1().map_err(|_| TwinSpdmError::Key {
                label: label.to_string(),
                reason: "cannot serialise the key as PKCS#8".into(),
            })?;
            let rcgen = KeyPair::from_pkcs8_der_and_sign_algo(
                &PrivatePkcs8KeyDer::from(pkcs8.as_ref()),
                rcgen_alg(asym),
            )
            .map_err(|e| TwinSpdmError::Key {
                label: label.to_string(),
                reason: e.to_string(),
            })?;
            return Ok(TwinKey {
                asym,
                signer,
                rcgen,
            });
        }
        Err(TwinSpdmError::Key {
            label: label.to_string(),
            reason: "no valid scalar in 16 derivations".into(),
        })
    }

    /// The raw public key (uncompressed point).
    #[must_use]
    pub fn public_point(&self) -> &[u8] {
        self.signer.public_key().as_ref()
    }
}

fn validity(params: &mut CertificateParams) {
    // Fixed dates: the twin's clock is simulated and may start anywhere in this window.
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
}

/// A twin CA: its self-signed certificate and the issuer that signs device certificates.
#[derive(Debug)]
pub struct TwinCa {
    pub der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl TwinCa {
    /// The CA named `name`, its key derived from `seed` and `label`.
    pub fn new(
        seed: u64,
        label: &str,
        name: &str,
        asym: AsymAlgo,
    ) -> Result<TwinCa, TwinSpdmError> {
        let key = TwinKey::derive(seed, label, asym)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "CorridorOS digital twin");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(SerialNumber::from(1u64));
        validity(&mut params);
        let cert = params
            .self_signed(&key.rcgen)
            .map_err(|e| TwinSpdmError::Certificate {
                subject: name.to_string(),
                reason: e.to_string(),
            })?;
        Ok(TwinCa {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key.rcgen),
        })
    }

    /// Issues the device certificate of `device_id` for `key`.
    pub fn issue_device(
        &self,
        device_id: &str,
        serial: u64,
        key: &TwinKey,
    ) -> Result<Vec<u8>, TwinSpdmError> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, device_id);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "CorridorOS digital twin");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from(serial));
        validity(&mut params);
        let cert =
            params
                .signed_by(&key.rcgen, &self.issuer)
                .map_err(|e| TwinSpdmError::Certificate {
                    subject: device_id.to_string(),
                    reason: e.to_string(),
                })?;
        Ok(cert.der().to_vec())
    }
}

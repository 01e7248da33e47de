//! Public-key pinning for device attestation transports.
//!
//! A device's TLS (or SPDM) identity is its key, not a name a public CA
//! vouches for: the attestation service records the SHA-256 of the
//! device's SubjectPublicKeyInfo when the device is enrolled, and every
//! later connection must present that same key. The verifier here first
//! runs the ordinary WebPKI checks against the configured roots (chain,
//! validity, name), then refuses any leaf whose SPKI hash is not pinned, so
//! a mis-issued certificate from a trusted CA is still refused.
//!
//! Pins use curl's `--pinnedpubkey` notation, `sha256//<base64>`, so an
//! operator can compute one with
//! `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Prefix of a pin in text form.
pub const PIN_PREFIX: &str = "sha256//";

/// The SHA-256 of a DER SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin(pub [u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PinError {
    #[error("{0:?} is not a pin: expected {PIN_PREFIX}<base64 of a SHA-256>")]
    Syntax(String),
    #[error("the certificate cannot be parsed: {0}")]
    Certificate(String),
}

impl SpkiPin {
    /// The pin of a DER certificate's public key.
    pub fn of_certificate(der: &[u8]) -> Result<SpkiPin, PinError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PinError::Certificate(e.to_string()))?;
        Ok(SpkiPin::of_spki(cert.public_key().raw))
    }

    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> SpkiPin {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
        let mut pin = [0u8; 32];
        pin.copy_from_slice(digest.as_ref());
        SpkiPin(pin)
    }

    /// Parses `sha256//<base64>`.
    pub fn parse(text: &str) -> Result<SpkiPin, PinError> {
        let syntax = || PinError::Syntax(text.to_string());
        let encoded = text.trim().strip_prefix(PIN_PREFIX).ok_or_else(syntax)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| syntax())?;
        let pin: [u8; 32] = bytes.try_into().map_err(|_| syntax())?;
        Ok(SpkiPin(pin))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PIN_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

/// A server verifier that requires WebPKI validity *and* a pinned key.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pins: Vec<SpkiPin>,
}

impl PinnedServerVerifier {
    /// `pins` must not be empty: a pinned transport with no pin would
    /// refuse every peer, which is a configuration error, not a policy.
    pub fn new(webpki: Arc<WebPkiServerVerifier>, pins: Vec<SpkiPin>) -> Arc<Self> {
        assert!(!pins.is_empty(), "a pinned verifier needs at least one pin");
        Arc::new(PinnedServerVerifier { webpki, pins })
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let presented = SpkiPin::of_certificate(end_entity)
            .map_err(|e| rustls::Error::General(format!("pinning: {e}")))?;
        if self.pins.contains(&presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the peer's public key {presented} is not pinned"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_round_trip_in_curl_notation() {
        let pin = SpkiPin::of_spki(b"any key");
        let text = pin.to_string();
        assert!(text.starts_with(PIN_PREFIX));
        assert_eq!(SpkiPin::parse(&text).unwrap(), pin);
    }

    /// Golden vector: SHA-256 of the empty string, in base64.
    #[test]
    fn the_digest_is_sha256() {
        assert_eq!(
            SpkiPin::of_spki(b"").to_string(),
            "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn malformed_pins_are_refused() {
        for bad in [
            "",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "sha256//not base64!",
            "sha256//AAAA",
            "sha1//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ] {
            assert!(SpkiPin::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

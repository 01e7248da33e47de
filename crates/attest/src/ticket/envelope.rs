//! The ticket envelope: a tagged COSE_Sign (RFC 9052 §4.1) over the CBOR claims, with one
//! COSE_Signature by ML-DSA-65 (COSE alg -49, draft-ietf-cose-dilithium, as registered with
//! IANA and named `ML_DSA_65` in `coset::iana::Algorithm`) and one by ECDSA P-384 with
//! SHA-384 (ES384, alg -35).
//!
//! Why COSE_Sign and not COSE_Sign1: the ticket must stay unforgeable as long as *either*
//! algorithm holds — ML-DSA against a quantum adversary, ECDSA in case a young lattice
//! implementation turns out broken — so it carries two independent signatures and the
//! verifier demands both. COSE_Sign is COSE's own structure for several signers over one
//! payload: each signature has its own protected header (its `alg` and `kid`), every one of
//! them covers the body's protected header and the payload, and generic COSE tools can
//! parse and check each. A composite signature in COSE_Sign1 would need an algorithm id
//! from the composite-signature drafts (draft-prabel-jose-pq-composite-sigs and the LAMPS
//! composite work), which are not registered yet and which neither aws-lc-rs nor
//! RustCrypto implements; it would also hide from a reader which half failed.
//!
//! COSE_Sign's weakness — a signature can be stripped and the rest still verifies — is
//! closed by the verifier's policy: it accepts exactly one ML-DSA-65 and one ES384
//! signature, each with the expected `kid`, and refuses everything else.
//!
//! Both signatures use the external AAD [`EXTERNAL_AAD`], so a signature made by a ticket
//! key cannot be replayed as a signature over some other COSE object that happens to share
//! the payload bytes (domain separation).

use coset::{CborSerializable as _, CoseSign, TaggedCborSerializable as _};

use super::error::DecodeError;

/// The largest encoded ticket accepted or produced: 64 KiB. A corridor's ticket (two
/// devices and the host, both signatures: 3309 + 96 bytes) is about 4 KB, and one appraising
/// a hundred devices stays under 16 KB (tested). Larger input is refused before it is
/// parsed, and the signer refuses to produce a ticket above the limit
/// ([`SignError::TooLarge`]) rather than issue one that verifiers would reject.
///
/// [`SignError::TooLarge`]: super::SignError::TooLarge
pub const MAX_TICKET_BYTES: usize = 64 * 1024;

/// External AAD of both signatures (see the module docs).
pub const EXTERNAL_AAD: &[u8] = b"corridoros/attestation-ticket/v1";

/// The body's content type: an EAT unprotected claims set in CBOR (RFC 9782), protected by
/// the COSE_Sign around it.
pub const CONTENT_TYPE: &str = "application/eat-ucs+cbor";

/// Names of the two algorithms, as errors print them.
pub const ML_DSA_65_NAME: &str = "ML-DSA-65";
pub const ES384_NAME: &str = "ES384";

/// Bytes of SHA-256 over a public key kept as its `kid`.
pub const KID_BYTES: usize = 16;

/// The `kid` of a public key: the first [`KID_BYTES`] bytes of SHA-256 over its encoding
/// (raw ML-DSA public key; uncompressed SEC1 point for P-384). Deriving it binds the id to
/// the key, so two keys never share one by accident and the verifier needs no key table.
pub fn key_id(public_key: &[u8]) -> Vec<u8> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_key);
    digest.as_ref()[..KID_BYTES].to_vec()
}

/// Parses the outer structure: size bounds, a tagged COSE_Sign with no trailing bytes, an
/// attached payload and our content type. Signatures are not checked here.
pub fn parse_envelope(bytes: &[u8]) -> Result<CoseSign, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > MAX_TICKET_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: MAX_TICKET_BYTES,
        });
    }
    let envelope =
        CoseSign::from_tagged_slice(bytes).map_err(|e| DecodeError::Cose(e.to_string()))?;
    if envelope.payload.is_none() {
        return Err(DecodeError::MissingPayload);
    }
    match &envelope.protected.header.content_type {
        Some(coset::ContentType::Text(t)) if t == CONTENT_TYPE => {}
        other => {
            return Err(DecodeError::Cose(format!(
                "content type {other:?}, expected {CONTENT_TYPE:?}"
            )));
        }
    }
    Ok(envelope)
}

/// The `kid`s of a ticket's signatures, in signature order, without checking any signature:
/// for a relying party that trusts several issuers to pick the verifier to check it with.
///
/// # Errors
/// The envelope does not parse.
pub fn signature_key_ids(bytes: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let envelope = parse_envelope(bytes)?;
    Ok(envelope
        .signatures
        .iter()
        .map(|s| s.protected.header.key_id.clone())
        .filter(|kid| !kid.is_empty())
        .collect())
}

/// Encodes a COSE_Sign as tagged CBOR.
pub(crate) fn encode_envelope(envelope: CoseSign) -> Result<Vec<u8>, String> {
    envelope.to_tagged_vec().map_err(|e| e.to_string())
}

/// Encodes a COSE_Sign without its tag (only tests use it, to show the tag is required).
#[doc(hidden)]
pub fn encode_untagged(envelope: CoseSign) -> Result<Vec<u8>, String> {
    envelope.to_vec().map_err(|e| e.to_string())
}

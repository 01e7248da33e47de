//! Ticket identity.
//!
//! An *attestation* (`attestation_id`, the RFC's `attest-123456`) is one run of the
//! verifier over one target's evidence; the service numbers it when the run starts, and the
//! RFC's device inventory shows it as `attestation_ticket`. A run that completes produces
//! exactly one *ticket*: the signed envelope, whose claims carry the `attestation_id`.
//! The `ticket_id` is derived from the envelope itself — `tkt-` followed by the first 16
//! bytes (32 lowercase hex digits) of SHA-256 over the encoded COSE bytes — so anyone holding
//! the bytes can recompute it, two different envelopes never share an id (up to 2^-64
//! collision odds at a billion tickets), and an id cannot be attached to a ticket it does not
//! name. Re-signing the same claims gives a new id (ECDSA signatures are randomised), which
//! is right: each envelope is revoked on its own.
//!
//! So `attestation_id → ticket_id` is one-to-one: the service resolves
//! `GET /v1/fabman/attest/{ticket_id}` by the ticket id and `GET /v1/attest/{attestation_id}`
//! by the attestation id, and both name the same verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Prefix of every ticket id.
pub const TICKET_ID_PREFIX: &str = "tkt-";
/// Bytes of SHA-256 kept in a ticket id.
pub const TICKET_ID_BYTES: usize = 16;

/// The id of one signed ticket (see the module docs for its derivation).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketId(String);

impl TicketId {
    /// The id of an encoded ticket envelope.
    pub fn of_envelope(cose_bytes: &[u8]) -> TicketId {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cose_bytes);
        TicketId(format!(
            "{TICKET_ID_PREFIX}{}",
            crate::hex::encode(&digest.as_ref()[..TICKET_ID_BYTES])
        ))
    }

    /// Parses a ticket id as it appears in a URL (`tkt-` and 32 lowercase hex digits).
    pub fn parse(text: &str) -> Option<TicketId> {
        let digits = text.strip_prefix(TICKET_ID_PREFIX)?;
        let well_formed = digits.len() == 2 * TICKET_ID_BYTES
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| TicketId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketId({})", self.0)
    }
}

impl TryFrom<String> for TicketId {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        TicketId::parse(&text).ok_or_else(|| format!("{text:?} is not a ticket id (tkt-<32 hex>)"))
    }
}

impl From<TicketId> for String {
    fn from(id: TicketId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_id_is_prefix_and_truncated_sha256_of_the_bytes() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        let id = TicketId::of_envelope(b"abc");
        assert_eq!(id.as_str(), "tkt-ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(TicketId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn malformed_ticket_ids_do_not_parse() {
        for bad in [
            "",
            "tkt-",
            "attest-123456",
            "tkt-BA7816BF8F01CFEA414140DE5DAE2223",
            "tkt-ba7816bf8f01cfea414140de5dae222",
            "tkt-ba7816bf8f01cfea414140de5dae22233",
            "tkt-ba7816bf8f01cfea414140de5dae222g",
        ] {
            assert_eq!(TicketId::parse(bad), None, "{bad}");
        }
    }
}

//! What attestd refuses, and the problem each becomes.

use corridor_model::problem::{FieldViolation, Problem};

use crate::ServiceError;
use crate::error::ToProblem;

#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// The device is not one attestd holds reference values for.
    #[error("no attestable device {0:?} (none with reference values and a pinned key)")]
    UnknownDevice(String),
    /// No TPM is known for this host (corridord reaches only its own
    /// host's TPM, and only when started with one).
    #[error("no measured boot for {0:?}: corridord has no TPM for it (start it with --tpm)")]
    NoMeasuredBoot(String),
    /// The TPM did not answer: the host's root of trust is unavailable.
    #[error("the TPM did not answer: {0}")]
    Tpm(String),
    /// The request's nonce was used before (or is still reserved): a
    /// replayed challenge must never produce a second ticket.
    #[error("nonce {0} was already used: every attestation needs a fresh one")]
    NonceReplayed(String),
    /// A field the service cannot honour, named by its JSON pointer.
    #[error("{pointer}: {message}")]
    Field {
        pointer: &'static str,
        rule: &'static str,
        message: String,
    },
    /// A bound object the caller may not see (or that does not exist).
    #[error("{kind} {id} does not exist")]
    BoundObjectMissing { kind: &'static str, id: String },
    /// The SPDM exchange's thread failed: a server fault.
    #[error("the SPDM exchange failed: {0}")]
    Exchange(String),
    /// Signing the ticket failed: a server fault.
    #[error("signing the ticket")]
    Sign(#[source] corridor_attest::ticket::SignError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ToProblem for AttestationError {
    fn to_problem(&self) -> Problem {
        match self {
            AttestationError::UnknownDevice(id) | AttestationError::NoMeasuredBoot(id) => {
                Problem::not_found("devices", id).with_detail(self.to_string())
            }
            AttestationError::Tpm(_) => Problem::unavailable(self.to_string()),
            AttestationError::NonceReplayed(_) => {
                Problem::conflict("NonceReplayed", self.to_string())
            }
            AttestationError::Field {
                pointer,
                rule,
                message,
            } => field(pointer, rule, message.clone()),
            AttestationError::BoundObjectMissing { .. } => {
                field("/bind_to", "exists", self.to_string())
            }
            AttestationError::Sign(_) | AttestationError::Exchange(_) => {
                Problem::internal(crate::error::error_chain(self))
            }
            AttestationError::Service(e) => e.to_problem(),
        }
    }
}

fn field(pointer: &str, rule: &str, message: String) -> Problem {
    Problem::validation(vec![FieldViolation {
        pointer: pointer.into(),
        rule: rule.into(),
        message,
    }])
}

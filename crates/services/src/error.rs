//! Errors of the resource machinery, and their mapping onto problem+json.

use corridor_model::problem::{FieldViolation, Problem};
use corridor_store::StoreError;

/// What can go wrong when a service reads or changes a resource.
///
/// Each variant carries the context an operator needs (kind, id, the
/// versions involved) so the HTTP layer can answer without guessing.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },

    #[error("{kind} {id:?} already exists")]
    AlreadyExists { kind: &'static str, id: String },

    #[error(
        "{kind} {id:?} was changed: If-Match asked for resource_version {expected}, current is {actual}"
    )]
    StaleVersion {
        kind: &'static str,
        id: String,
        expected: String,
        actual: String,
    },

    #[error("{kind} {id:?} was not created: state it depends on changed meanwhile; retry")]
    ConditionFailed { kind: &'static str, id: String },

    #[error("invalid request parameter {parameter}: {message}")]
    InvalidParameter {
        parameter: &'static str,
        message: String,
    },

    #[error("{kind} {id:?} has no lease to renew")]
    NotLeased { kind: &'static str, id: String },

    #[error("the lease of {kind} {id:?} has expired")]
    LeaseExpired { kind: &'static str, id: String },

    #[error("resource_version {requested} is no longer available; the oldest is {oldest}")]
    Gone { requested: i64, oldest: i64 },

    #[error("stored {kind} at {key:?} could not be decoded")]
    Corrupt {
        kind: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{service} could not start: {message}")]
    Startup {
        service: &'static str,
        message: String,
    },

    #[error("state store failed while trying to {context}")]
    Store {
        context: &'static str,
        #[source]
        source: StoreError,
    },
}

impl ServiceError {
    pub(crate) fn store(context: &'static str) -> impl FnOnce(StoreError) -> ServiceError {
        move |source| match source {
            StoreError::Compacted {
                requested,
                compacted,
            } => ServiceError::Gone {
                requested,
                oldest: compacted,
            },
            source => ServiceError::Store { context, source },
        }
    }
}

/// Every error a service call can end with, as the API shows it: the one
/// vocabulary the HTTP layer converts from (one `From` for all of them).
pub trait ToProblem {
    /// The RFC 9457 body the HTTP layer sends for this error. A 5xx is the
    /// server's own failure and carries the error chain in `detail`.
    fn to_problem(&self) -> Problem;
}

impl ToProblem for Problem {
    fn to_problem(&self) -> Problem {
        self.clone()
    }
}

impl ToProblem for ServiceError {
    fn to_problem(&self) -> Problem {
        match self {
            ServiceError::NotFound { kind, id } => Problem::not_found(kind, id),
            ServiceError::AlreadyExists { .. } => {
                Problem::conflict("AlreadyExists", self.to_string())
            }
            ServiceError::StaleVersion {
                expected, actual, ..
            } => Problem::precondition_failed(expected, actual).with_detail(self.to_string()),
            ServiceError::InvalidParameter { parameter, message } => {
                Problem::validation(vec![FieldViolation {
                    pointer: format!("?{parameter}"),
                    rule: "format".to_string(),
                    message: message.clone(),
                }])
            }
            ServiceError::NotLeased { .. } => Problem::conflict("NotLeased", self.to_string()),
            ServiceError::ConditionFailed { .. } => {
                Problem::conflict("ConditionFailed", self.to_string())
            }
            ServiceError::LeaseExpired { kind, id } => Problem::not_found(kind, id),
            ServiceError::Gone { .. } => Problem::gone(self.to_string()),
            ServiceError::Corrupt { .. }
            | ServiceError::Store { .. }
            | ServiceError::Startup { .. } => Problem::internal(error_chain(self)),
        }
    }
}

/// Renders an error and its sources on one line, for logs and 500 details.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

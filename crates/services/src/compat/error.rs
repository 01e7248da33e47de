//! The problems a compatd call can end with.

use corridor_model::problem::{FieldViolation, Problem};

use crate::ServiceError;
use crate::error::{ToProblem, error_chain};

/// What can go wrong in compatd.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A request field names something unusable (a path outside the
    /// allowed roots, a non-ELF file, an unserved architecture, an engine
    /// not installed): 422 naming the field.
    #[error("{pointer}: {message}")]
    Field {
        pointer: &'static str,
        rule: &'static str,
        message: String,
    },
    #[error("invalid request: {} problem(s)", .0.len())]
    Invalid(Vec<FieldViolation>),
    #[error("process {0:?} not found")]
    ProcessNotFound(String),
    #[error("preparing the working directory {path}")]
    WorkingDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("installing the TCG plugin in {path}")]
    PluginInstall {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("launching the program")]
    Launch(#[from] corridor_hal::compat::LaunchError),
    #[error("reading the host's binfmt_misc table")]
    Binfmt(#[from] corridor_hal::compat::binfmt::BinfmtHostError),
    /// A system-wide binfmt_misc change that cannot be made now: 409 with
    /// `reason`.
    #[error("{message}")]
    BinfmtConflict {
        reason: &'static str,
        message: String,
    },
    /// No entry of this name in the host's table.
    #[error("no binfmt_misc entry {0:?} in the host's table")]
    BinfmtEntryNotFound(String),
}

impl CompatError {
    pub fn field(pointer: &'static str, rule: &'static str, message: impl Into<String>) -> Self {
        CompatError::Field {
            pointer,
            rule,
            message: message.into(),
        }
    }
}

impl ToProblem for CompatError {
    fn to_problem(&self) -> Problem {
        match self {
            CompatError::Service(e) => e.to_problem(),
            CompatError::Field {
                pointer,
                rule,
                message,
            } => Problem::validation(vec![FieldViolation::new(*pointer, *rule, message.clone())]),
            CompatError::Invalid(violations) => Problem::validation(violations.clone()),
            CompatError::ProcessNotFound(id) => Problem::not_found("compat process", id),
            CompatError::BinfmtConflict { reason, message } => {
                Problem::conflict(*reason, message.clone())
            }
            CompatError::BinfmtEntryNotFound(name) => Problem::not_found("binfmt_misc entry", name),
            CompatError::WorkingDir { .. }
            | CompatError::PluginInstall { .. }
            | CompatError::Launch(_)
            | CompatError::Binfmt(_) => Problem::internal(error_chain(self)),
        }
    }
}

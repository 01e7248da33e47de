//! What can go wrong creating, programming and releasing fabric paths.

use corridor_model::problem::{FieldViolation, Problem};

use super::program::ProgramError;
use crate::ServiceError;
use crate::error::{ToProblem, error_chain};

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// A request field names something the fabric does not have, or asks for what the
    /// path type cannot do.
    #[error("{pointer}: {message}")]
    Field {
        pointer: &'static str,
        rule: &'static str,
        message: String,
    },

    /// A route exists, but a port on it has too little bandwidth left.
    #[error(
        "port {port} has {free_gbps:.1} Gb/s of {admissible_gbps:.1} Gb/s admissible left; {needed_gbps:.1} Gb/s guaranteed asked (short by {:.1} Gb/s)",
        needed_gbps - free_gbps
    )]
    InsufficientCapacity {
        port: String,
        free_gbps: f64,
        admissible_gbps: f64,
        needed_gbps: f64,
    },

    /// No route meets the request whatever is held.
    #[error("no feasible path: {0}")]
    NoFeasiblePath(String),

    /// This corridord has no switch to program (a real memory provider without FM API
    /// endpoints).
    #[error("no CXL switch answers FM API for this corridord: fabric paths cannot be programmed")]
    NoFabricManager,

    /// Memory bundles live on what the path gives its host: releasing it would strand them.
    #[error(
        "path {path} gives host {host} the memory of {device} that bundles {} live on; free or migrate them first",
        bundles.join(", ")
    )]
    InUse {
        path: String,
        host: String,
        device: String,
        bundles: Vec<String>,
    },

    /// Admission kept losing compare-and-swap races.
    #[error("fabric capacity changed during {attempts} admission attempts; retry")]
    Contention { attempts: usize },

    /// A switch or device refused, or could not be reached; nothing was left granted.
    #[error("programming the fabric failed: {0}")]
    Program(#[from] ProgramError),

    /// A blocking FM API job was dropped (the runtime is shutting down).
    #[error("the FM API job was cancelled: corridord is shutting down")]
    Cancelled,

    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ToProblem for PathError {
    fn to_problem(&self) -> Problem {
        match self {
            PathError::Field {
                pointer,
                rule,
                message,
            } => Problem::validation(vec![FieldViolation {
                pointer: (*pointer).into(),
                rule: (*rule).into(),
                message: message.clone(),
            }]),
            PathError::InsufficientCapacity { .. } => {
                Problem::insufficient_capacity(self.to_string())
            }
            PathError::NoFeasiblePath(_) => Problem::conflict("NoFeasiblePath", self.to_string()),
            PathError::NoFabricManager => Problem::conflict("NoFabricManager", self.to_string()),
            PathError::InUse { .. } => Problem::conflict("PathInUse", self.to_string()),
            PathError::Program(ProgramError::DeviceTaken { .. }) => {
                Problem::conflict("DeviceTaken", self.to_string())
            }
            PathError::Program(ProgramError::NoFreeVppb { .. }) => {
                Problem::conflict("NoFreeVppb", self.to_string())
            }
            PathError::Contention { .. } | PathError::Cancelled | PathError::Program(_) => {
                Problem::unavailable(error_chain(self))
            }
            PathError::Service(e) => e.to_problem(),
        }
    }
}

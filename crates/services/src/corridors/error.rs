//! What can go wrong granting, provisioning and watching corridors.

use corridor_model::problem::{FieldViolation, Problem};

use crate::ServiceError;
use crate::error::ToProblem;

#[derive(Debug, thiserror::Error)]
pub enum CorridorError {
    /// A requested wavelength cannot be placed on the grid.
    #[error("lambda_nm[{index}]: {message}")]
    Lambda { index: usize, message: String },

    /// A request field names something the fabric does not have.
    #[error("{pointer}: {message}")]
    Field {
        pointer: String,
        rule: &'static str,
        message: String,
    },

    /// A path could carry the request, but its wavelengths or module
    /// lanes are held by other corridors (retry when they are released).
    #[error("insufficient capacity: {0}")]
    InsufficientCapacity(String),

    /// No path of the fabric meets the request's reach, latency, rate or
    /// BER, whatever is held: the request must change, not wait.
    #[error("no feasible path: {0}")]
    NoFeasiblePath(String),

    /// More lanes than a port's module has (or than one 8-lane CMIS bank).
    #[error(
        "{lanes} lanes requested, port {port} has {module_lanes} module lanes (at most 8 in one bank)"
    )]
    ExceedsPortLanes {
        lanes: u16,
        port: String,
        module_lanes: u8,
    },

    /// No application a port's module advertises carries the request's
    /// lanes at its rate: the module binds, whatever is held.
    #[error("port {port} cannot carry {wanted}: its module's CMIS applications are {applications}")]
    PortApplication {
        port: String,
        wanted: String,
        applications: String,
    },

    /// The corridor holds no lanes (never granted, or released).
    #[error("corridor {id} holds no lanes (status {status})")]
    NoLanes { id: String, status: String },

    /// The corridor's lanes are not all lit: nothing to re-lock, no
    /// telemetry to read. `why` names the lane states.
    #[error("corridor {id}'s lanes are not lit: {why}")]
    NotLit { id: String, why: String },

    /// In cluster mode only the leader drives the optical plant: this
    /// replica's own twin holds none of the lit lanes, so reading or acting
    /// on the plant here would answer for a plant nobody uses.
    #[error(
        "this replica does not drive the optical plant; the leader does ({leader}): send plant reads and actions there"
    )]
    NotPlantOwner { leader: String },

    /// Admission kept losing compare-and-swap races.
    #[error("capacity changed during {attempts} admission attempts; retry")]
    Contention { attempts: usize },

    /// The topology cannot be planned over.
    #[error("optical topology: {0}")]
    Topology(String),

    /// The twin or the hardware refused a CMIS operation.
    #[error("optical port {port}: {source}")]
    Optical {
        port: String,
        #[source]
        source: corridor_hal::OpticalError,
    },

    /// Twin-only operations (fault injection, the physics decoder) on a
    /// plant of real modules; `what` says what the twin alone has.
    #[error("the optical plant is {backend}, not the digital twin: {what}")]
    NotATwin {
        backend: &'static str,
        what: &'static str,
    },

    /// A blocking optical-plant job was dropped before it ran (the runtime
    /// is shutting down).
    #[error("the optical plant job was cancelled: corridord is shutting down")]
    PlantJobCancelled,

    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ToProblem for CorridorError {
    fn to_problem(&self) -> Problem {
        match self {
            CorridorError::Lambda { index, message } => Problem::validation(vec![FieldViolation {
                pointer: format!("/lambda_nm/{index}"),
                rule: "grid".into(),
                message: message.clone(),
            }]),
            CorridorError::Field {
                pointer,
                rule,
                message,
            } => Problem::validation(vec![FieldViolation {
                pointer: pointer.clone(),
                rule: (*rule).into(),
                message: message.clone(),
            }]),
            CorridorError::InsufficientCapacity(detail) => {
                Problem::insufficient_capacity(detail.clone())
            }
            CorridorError::NoFeasiblePath(_) => {
                Problem::conflict("NoFeasiblePath", self.to_string())
            }
            CorridorError::ExceedsPortLanes { .. } => {
                Problem::conflict("ExceedsPortLanes", self.to_string())
            }
            CorridorError::PortApplication { .. } => {
                Problem::conflict("ExceedsPortApplication", self.to_string())
            }
            CorridorError::NoLanes { .. } => Problem::conflict("NoLanes", self.to_string()),
            CorridorError::Contention { .. } => Problem::unavailable(self.to_string()),
            CorridorError::NotLit { .. } => Problem::conflict("NotLit", self.to_string()),
            CorridorError::NotATwin { .. } => Problem::conflict("NotATwin", self.to_string()),
            CorridorError::NotPlantOwner { .. } => {
                Problem::conflict("NotPlantOwner", self.to_string())
            }
            CorridorError::PlantJobCancelled => Problem::unavailable(self.to_string()),
            CorridorError::Topology(_) | CorridorError::Optical { .. } => {
                Problem::internal(crate::error::error_chain(self))
            }
            CorridorError::Service(e) => e.to_problem(),
        }
    }
}

impl From<CorridorError> for ServiceError {
    fn from(error: CorridorError) -> Self {
        match error {
            CorridorError::Service(e) => e,
            other => ServiceError::Startup {
                service: "corrd",
                message: crate::error::error_chain(&other),
            },
        }
    }
}

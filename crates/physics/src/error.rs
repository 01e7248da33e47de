//! The crate's error type.

use crate::grid::{Channel, Grid};

/// Everything that can go wrong in a physics computation. All of them are caller errors
/// (invalid input or an impossible request): the models themselves never fail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhysicsError {
    /// A parameter is NaN, infinite or outside its physical range.
    #[error("invalid {name}: {value} (expected {expected})")]
    InvalidParameter {
        /// Parameter name, as a caller would spell it.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A requested wavelength lies outside the O–U telecom bands this model covers.
    #[error("wavelength {lambda_nm} nm is outside the 1260–1675 nm band covered by the grid model")]
    WavelengthOutOfBand {
        /// The requested wavelength, nm.
        lambda_nm: f64,
    },
    /// No free channel of the grid lies within half a channel width of the request.
    #[error("no free channel on the {grid} within ±{half_width_ghz} GHz of {lambda_nm} nm")]
    NoFreeChannel {
        /// The requested wavelength, nm.
        lambda_nm: f64,
        /// The grid searched.
        grid: Grid,
        /// The snapping tolerance, GHz.
        half_width_ghz: f64,
    },
    /// A wavelength of a multi-lane request only snaps onto channels already given to an
    /// earlier wavelength of the same request.
    #[error(
        "wavelength {lambda_nm} nm snaps to {channel}, already assigned to {other_lambda_nm} nm of the same request"
    )]
    ChannelCollision {
        /// The wavelength that could not be placed, nm.
        lambda_nm: f64,
        /// The (nearest free) channel it would have taken.
        channel: Channel,
        /// The earlier wavelength of the request that holds it, nm.
        other_lambda_nm: f64,
    },
    /// An inverse function was asked for a value its forward function never reaches.
    #[error("target {target} is outside the reachable range {lo}..{hi} of {what}")]
    TargetOutOfRange {
        /// The inverted quantity.
        what: &'static str,
        /// The requested target.
        target: f64,
        /// Lowest reachable value.
        lo: f64,
        /// Highest reachable value.
        hi: f64,
    },
}

/// Result alias for this crate.
pub type Result<T, E = PhysicsError> = std::result::Result<T, E>;

/// Checks that `value` is finite and within `[lo, hi]`.
pub(crate) fn check_range(
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    expected: &'static str,
) -> Result<f64> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(PhysicsError::InvalidParameter {
            name,
            value,
            expected,
        })
    }
}

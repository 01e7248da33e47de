//! Why a controller gave up.

use corridor_hal::optical::OpticalError;
use thiserror::Error;

/// Everything a HELIOPASS controller can fail with.
#[derive(Debug, Error)]
pub enum HelioError {
    /// The ring bank (its page codec or its transport) refused.
    #[error("ring bank: {0}")]
    Port(#[from] OpticalError),
    /// A sweep found too few drop-port peaks to identify the lanes.
    #[error(
        "ring {ring}: heater sweep found {found} resonance peaks, need at least {needed} to tell the lanes apart"
    )]
    TooFewPeaks {
        /// Ring index.
        ring: usize,
        /// Peaks found.
        found: usize,
        /// Peaks needed.
        needed: usize,
    },
    /// A local sweep around a known peak found none (measuring crosstalk or re-acquiring).
    #[error("ring {ring}: no resonance within {window_mw:.3} mW of heater {around_mw:.3} mW")]
    PeakLost {
        /// Ring index.
        ring: usize,
        /// Centre of the window, mW.
        around_mw: f64,
        /// Half-width of the window, mW.
        window_mw: f64,
    },
    /// No assignment puts every ring on a distinct lane within the heaters' range.
    #[error(
        "no collision-free ring-to-lane assignment within heater full scale {full_scale_mw:.2} mW"
    )]
    NoAssignment {
        /// Heater full scale, mW.
        full_scale_mw: f64,
    },
    /// The measured crosstalk matrix cannot be inverted.
    #[error("thermal crosstalk matrix is singular at column {column}")]
    Singular {
        /// Pivot column.
        column: usize,
    },
    /// Too many rings for the exact assignment search.
    #[error("bank of {rings} rings: calibration assigns at most {max} rings per bank")]
    TooManyRings {
        /// Rings asked for.
        rings: usize,
        /// The limit.
        max: usize,
    },
}

/// Result of HELIOPASS controllers.
pub type Result<T, E = HelioError> = std::result::Result<T, E>;

//! Physical quantities as newtypes.
//!
//! The TOML field names carry the unit (`bandwidth_gbs`, `length_mm`) so that a file is readable
//! on its own; the newtypes carry it in Rust, so that a latency cannot be passed where a
//! bandwidth is expected. All are `#[serde(transparent)]`: in TOML they are plain numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! float_unit {
    ($(#[$meta:meta])* $name:ident, $suffix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            /// The bare number, in this type's unit.
            #[must_use]
            pub const fn get(self) -> f64 {
                self.0
            }

            /// True for a finite number strictly above zero (what sizes, rates and lengths need).
            #[must_use]
            pub fn is_positive(self) -> bool {
                self.0.is_finite() && self.0 > 0.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $suffix)
            }
        }
    };
}

/// A size in bytes. Integral: capacities are exact and are compared, not estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    /// One gibibyte (2^30 bytes); memory is sold and configured in binary units.
    pub const GIB: Self = Self(1 << 30);

    /// The bare number of bytes.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

float_unit!(
    /// Bandwidth in gigabytes (10^9 bytes) per second, the unit of STREAM/MLC and of the RFC.
    GigabytesPerSecond,
    "GB/s"
);
float_unit!(
    /// Line rate in gigabits (10^9 bits) per second.
    GigabitsPerSecond,
    "Gb/s"
);
float_unit!(
    /// Serial-link signalling rate in gigatransfers per second (PCIe/CXL generation speed).
    GigatransfersPerSecond,
    "GT/s"
);
float_unit!(
    /// A duration or latency in nanoseconds. Fractional, since the twin derives latencies.
    Nanoseconds,
    "ns"
);
float_unit!(
    /// A length in millimetres.
    Millimeters,
    "mm"
);
float_unit!(
    /// A wavelength in nanometres.
    Nanometers,
    "nm"
);
float_unit!(
    /// A length in micrometres (ring radii).
    Micrometers,
    "µm"
);
float_unit!(
    /// A temperature in degrees Celsius.
    Celsius,
    "°C"
);
float_unit!(
    /// A frequency or frequency spacing in gigahertz.
    Gigahertz,
    "GHz"
);
float_unit!(
    /// A duration in seconds (ambient profile periods and offsets).
    Seconds,
    "s"
);
float_unit!(
    /// An absolute optical power in dBm (decibels relative to 1 mW).
    Dbm,
    "dBm"
);
float_unit!(
    /// A power ratio (loss) in decibels.
    Decibels,
    "dB"
);
float_unit!(
    /// Propagation loss in decibels per centimetre.
    DecibelsPerCentimeter,
    "dB/cm"
);
float_unit!(
    /// A thermal wavelength coefficient in nanometres per kelvin.
    NanometersPerKelvin,
    "nm/K"
);
float_unit!(
    /// Heater tuning cost in milliwatts per nanometre of resonance shift.
    MilliwattsPerNanometer,
    "mW/nm"
);

impl Millimeters {
    /// The same length in centimetres, the unit propagation losses are quoted in.
    #[must_use]
    pub fn to_centimeters(self) -> f64 {
        self.0 / 10.0
    }
}

impl Decibels {
    /// True for a finite value ≥ 0: a loss can be zero but never a gain.
    #[must_use]
    pub fn is_non_negative(self) -> bool {
        self.0.is_finite() && self.0 >= 0.0
    }
}

impl DecibelsPerCentimeter {
    /// True for a finite value ≥ 0.
    #[must_use]
    pub fn is_non_negative(self) -> bool {
        self.0.is_finite() && self.0 >= 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positivity_rejects_zero_negative_and_nan() {
        assert!(Millimeters(0.5).is_positive());
        assert!(!Millimeters(0.0).is_positive());
        assert!(!Millimeters(-1.0).is_positive());
        assert!(!Millimeters(f64::NAN).is_positive());
        assert!(!Millimeters(f64::INFINITY).is_positive());
    }

    #[test]
    fn display_carries_the_unit() {
        assert_eq!(GigabytesPerSecond(36.0).to_string(), "36 GB/s");
        assert_eq!(Bytes(1024).to_string(), "1024 B");
        assert!((Millimeters(75.0).to_centimeters() - 7.5).abs() < 1e-12);
    }
}

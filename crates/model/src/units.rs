//! Physical quantities as newtypes, so that a wavelength cannot be passed
//! where a reach is expected. On the wire they are plain JSON numbers.
//!
//! Quantities that are naturally fractional (rates, lengths, temperatures,
//! energies) wrap `f64`; counts of discrete things (bytes, whole seconds,
//! nanoseconds of budget) wrap `u64`, following the Kubernetes advice to
//! avoid floats where an integer will do.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// Writes an integral float as a JSON integer (`400`, not `400.0`), so that
/// the RFC's examples survive a decode/encode round trip byte for byte and
/// clients that parse integers strictly are not surprised.
fn serialize_number<S: Serializer>(value: f64, serializer: S) -> Result<S::Ok, S::Error> {
    // 2^53: beyond it not every integer is representable, so keep the float.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_finite() && value.fract() == 0.0 && value.abs() < EXACT {
        // The guard above makes the cast exact.
        #[allow(clippy::cast_possible_truncation)]
        serializer.serialize_i64(value as i64)
    } else {
        serializer.serialize_f64(value)
    }
}

macro_rules! float_unit {
    ($(#[$doc:meta])* $name:ident, $symbol:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Deserialize, ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            pub const fn new(value: f64) -> Self {
                Self(value)
            }

            pub const fn get(self) -> f64 {
                self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serialize_number(self.0, serializer)
            }
        }

        impl From<f64> for $name {
            fn from(value: f64) -> Self {
                Self(value)
            }
        }

        impl From<$name> for f64 {
            fn from(value: $name) -> f64 {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $symbol)
            }
        }
    };
}

/// Deserializes a non-negative integer, also written as a number with a
/// zero fraction (`4096.0`): JSON Schema's `integer` includes those, and
/// the API document promises JSON Schema's meaning.
pub fn integral<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Integral<T>(std::marker::PhantomData<T>);

    impl<T: TryFrom<u64>> serde::de::Visitor<'_> for Integral<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer")
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
            T::try_from(value).map_err(|_| {
                E::invalid_value(
                    serde::de::Unexpected::Unsigned(value),
                    &"an integer in range",
                )
            })
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
            let unsigned = u64::try_from(value)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(value), &self))?;
            self.visit_u64(unsigned)
        }

        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<T, E> {
            // 2^64 is exactly representable; every integral f64 below it
            // converts without loss.
            if value.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&value) {
                self.visit_u64(value as u64)
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(value), &self))
            }
        }
    }

    deserializer.deserialize_any(Integral(std::marker::PhantomData))
}

/// A value read by [`integral`], for containers of them.
struct Whole<T>(T);

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        integral(deserializer).map(Whole)
    }
}

/// [`integral`] for each element of a list.
pub fn integral_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    Ok(Vec::<Whole<T>>::deserialize(deserializer)?
        .into_iter()
        .map(|whole| whole.0)
        .collect())
}

/// [`integral`] for an optional field (with `#[serde(default)]`).
pub fn integral_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|whole| whole.0))
}

macro_rules! integer_unit {
    ($(#[$doc:meta])* $name:ident, $symbol:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            Serialize, ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                integral(deserializer).map(Self)
            }
        }

        impl $name {
            pub const fn new(value: u64) -> Self {
                Self(value)
            }

            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self(value)
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> u64 {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $symbol)
            }
        }
    };
}

float_unit!(
    /// Line rate in gigabits per second (10^9 bit/s), as optical and CXL
    /// links are specified.
    Gbps,
    "Gb/s"
);
float_unit!(
    /// Memory bandwidth in gigabytes per second (10^9 B/s), the RFC's
    /// `_GBs` fields.
    GigabytesPerSecond,
    "GB/s"
);
float_unit!(
    /// Vacuum wavelength in nanometres; fractional because the ITU-T G.694.1
    /// grid is laid out in GHz (193.1 THz is 1552.52 nm).
    Nanometers,
    "nm"
);
float_unit!(
    /// Length in millimetres (waveguide or fibre reach).
    Millimeters,
    "mm"
);
float_unit!(
    /// Temperature in degrees Celsius.
    Celsius,
    "°C"
);
float_unit!(
    /// Energy per transported bit in picojoules.
    PicojoulesPerBit,
    "pJ/bit"
);
integer_unit!(
    /// A duration or latency in whole nanoseconds.
    Nanoseconds,
    "ns"
);
integer_unit!(
    /// A size in bytes.
    Bytes,
    "B"
);
integer_unit!(
    /// A duration in whole seconds (lease TTLs, profile periods).
    Seconds,
    "s"
);

impl Bytes {
    pub const KIB: u64 = 1 << 10;
    pub const MIB: u64 = 1 << 20;
    pub const GIB: u64 = 1 << 30;
    pub const TIB: u64 = 1 << 40;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_plain_numbers_and_integral_ones_stay_integers() {
        assert_eq!(serde_json::to_string(&Gbps(400.0)).unwrap(), "400");
        assert_eq!(
            serde_json::to_string(&Nanometers(1550.12)).unwrap(),
            "1550.12"
        );
        assert_eq!(serde_json::to_string(&Celsius(-3.0)).unwrap(), "-3");
        assert_eq!(serde_json::to_string(&Gbps(1e300)).unwrap(), "1e+300");
        let g: Gbps = serde_json::from_str("416").unwrap();
        assert_eq!(g, Gbps(416.0));
        let g: Gbps = serde_json::from_str("416.5").unwrap();
        assert_eq!(g.get(), 416.5);
    }

    #[test]
    fn integers_are_transparent() {
        assert_eq!(serde_json::to_string(&Bytes(4096)).unwrap(), "4096");
        let s: Seconds = serde_json::from_str("3600").unwrap();
        assert_eq!(s, Seconds(3600));
        assert!(serde_json::from_str::<Seconds>("-1").is_err());
        assert_eq!(Nanoseconds(250).to_string(), "250 ns");
    }
}

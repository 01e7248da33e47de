//! Physical units as `f64` newtypes.
//!
//! The newtypes exist to stop the classic mistakes (adding dBm to dBm, mixing nm and THz, mW and
//! dBm, ps and ns). Arithmetic is only implemented where it is physically meaningful:
//!
//! * `Dbm ± Decibels = Dbm`, `Dbm − Dbm = Decibels` (a ratio), never `Dbm + Dbm`;
//! * `Celsius − Celsius = Kelvin` (a temperature *difference*), `Celsius ± Kelvin = Celsius`;
//! * `Milliwatts / Gbps = PicojoulesPerBit` (1 mW / 1 Gb/s = 1 pJ/b exactly);
//! * linear quantities (`Decibels`, `Kelvin`, `Nanometers`, …) add, subtract and scale by `f64`.
//!
//! The inner value is public (`.0`) so callers at I/O boundaries can read and build them freely.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

/// Speed of light in vacuum, m/s (exact by the SI definition of the metre).
pub const SPEED_OF_LIGHT_M_PER_S: f64 = 299_792_458.0;

macro_rules! unit {
    ($(#[$meta:meta])* $name:ident, $symbol:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            /// Wraps a raw value expressed in this unit.
            #[must_use]
            pub const fn new(value: f64) -> Self {
                Self(value)
            }

            /// The raw value in this unit.
            #[must_use]
            pub const fn value(self) -> f64 {
                self.0
            }

            /// The unit symbol used by `Display`.
            pub const SYMBOL: &'static str = $symbol;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match f.precision() {
                    Some(p) => write!(f, "{:.*} {}", p, self.0, $symbol),
                    None => write!(f, "{} {}", self.0, $symbol),
                }
            }
        }
    };
}

/// Adds `+ - += -= neg`, `* f64`, `/ f64`, `Self / Self -> f64` and `Sum` to a linear unit.
macro_rules! linear {
    ($name:ident) => {
        impl Add for $name {
            type Output = Self;
            fn add(self, rhs: Self) -> Self {
                Self(self.0 + rhs.0)
            }
        }
        impl Sub for $name {
            type Output = Self;
            fn sub(self, rhs: Self) -> Self {
                Self(self.0 - rhs.0)
            }
        }
        impl AddAssign for $name {
            fn add_assign(&mut self, rhs: Self) {
                self.0 += rhs.0;
            }
        }
        impl SubAssign for $name {
            fn sub_assign(&mut self, rhs: Self) {
                self.0 -= rhs.0;
            }
        }
        impl Neg for $name {
            type Output = Self;
            fn neg(self) -> Self {
                Self(-self.0)
            }
        }
        impl Mul<f64> for $name {
            type Output = Self;
            fn mul(self, rhs: f64) -> Self {
                Self(self.0 * rhs)
            }
        }
        impl Mul<$name> for f64 {
            type Output = $name;
            fn mul(self, rhs: $name) -> $name {
                $name(self * rhs.0)
            }
        }
        impl Div<f64> for $name {
            type Output = Self;
            fn div(self, rhs: f64) -> Self {
                Self(self.0 / rhs)
            }
        }
        impl Div for $name {
            type Output = f64;
            fn div(self, rhs: Self) -> f64 {
                self.0 / rhs.0
            }
        }
        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                Self(iter.map(|v| v.0).sum())
            }
        }
    };
}

unit!(
    /// Optical frequency in terahertz.
    Terahertz,
    "THz"
);
linear!(Terahertz);
unit!(
    /// Frequency (spacing, bandwidth) in gigahertz.
    Gigahertz,
    "GHz"
);
linear!(Gigahertz);
unit!(
    /// Vacuum wavelength (or a wavelength difference) in nanometres.
    Nanometers,
    "nm"
);
linear!(Nanometers);
unit!(
    /// Length in micrometres (ring radii).
    Micrometers,
    "µm"
);
linear!(Micrometers);
unit!(
    /// Length in millimetres (corridor lengths).
    Millimeters,
    "mm"
);
linear!(Millimeters);
unit!(
    /// A power *ratio* in decibels (loss, gain, margin, penalty). Positive loss = power lost.
    Decibels,
    "dB"
);
linear!(Decibels);
unit!(
    /// Absolute optical power in dB relative to 1 mW.
    Dbm,
    "dBm"
);
unit!(
    /// Absolute power in milliwatts (optical or electrical).
    Milliwatts,
    "mW"
);
linear!(Milliwatts);
unit!(
    /// Absolute temperature in degrees Celsius.
    Celsius,
    "°C"
);
unit!(
    /// A temperature *difference* in kelvin (equal to a difference in °C).
    Kelvin,
    "K"
);
linear!(Kelvin);
unit!(
    /// Time in picoseconds.
    Picoseconds,
    "ps"
);
linear!(Picoseconds);
unit!(
    /// Time in nanoseconds.
    Nanoseconds,
    "ns"
);
linear!(Nanoseconds);
unit!(
    /// Bit rate in gigabits per second.
    Gbps,
    "Gb/s"
);
linear!(Gbps);
unit!(
    /// Symbol rate in gigabaud.
    Gbaud,
    "GBd"
);
linear!(Gbaud);
unit!(
    /// Energy per bit in picojoules.
    PicojoulesPerBit,
    "pJ/b"
);
linear!(PicojoulesPerBit);

impl Terahertz {
    /// Vacuum wavelength λ = c / f.
    #[must_use]
    pub fn to_wavelength(self) -> Nanometers {
        // c [m/s] / (f [THz] · 1e12) [1/s] = metres; ·1e9 → nm  ⇒  λ_nm = c / f_THz / 1e3.
        Nanometers(SPEED_OF_LIGHT_M_PER_S / self.0 / 1e3)
    }

    /// The same frequency in GHz.
    #[must_use]
    pub fn to_gigahertz(self) -> Gigahertz {
        Gigahertz(self.0 * 1e3)
    }
}

impl Gigahertz {
    /// The same frequency in THz.
    #[must_use]
    pub fn to_terahertz(self) -> Terahertz {
        Terahertz(self.0 / 1e3)
    }

    /// The wavelength width Δλ = λ²·Δf / c of this frequency width at wavelength `at`.
    #[must_use]
    pub fn to_wavelength_width(self, at: Nanometers) -> Nanometers {
        // λ[nm]² · Δf[GHz]·1e9 / c[m/s] → nm²·s⁻¹/(m·s⁻¹) = nm²/m; /1e9 nm per m.
        Nanometers(at.0 * at.0 * self.0 / SPEED_OF_LIGHT_M_PER_S)
    }
}

impl Nanometers {
    /// Vacuum frequency f = c / λ.
    #[must_use]
    pub fn to_frequency(self) -> Terahertz {
        Terahertz(SPEED_OF_LIGHT_M_PER_S / self.0 / 1e3)
    }

    /// The frequency width Δf = c·Δλ / λ² of this wavelength width at wavelength `at`.
    #[must_use]
    pub fn to_frequency_width(self, at: Nanometers) -> Gigahertz {
        Gigahertz(self.0 * SPEED_OF_LIGHT_M_PER_S / (at.0 * at.0))
    }
}

impl Millimeters {
    /// From centimetres.
    #[must_use]
    pub fn from_cm(cm: f64) -> Self {
        Self(cm * 10.0)
    }
    /// From metres.
    #[must_use]
    pub fn from_m(m: f64) -> Self {
        Self(m * 1e3)
    }
    /// From kilometres.
    #[must_use]
    pub fn from_km(km: f64) -> Self {
        Self(km * 1e6)
    }
    /// In metres.
    #[must_use]
    pub fn to_m(self) -> f64 {
        self.0 / 1e3
    }
}

impl Micrometers {
    /// In metres.
    #[must_use]
    pub fn to_m(self) -> f64 {
        self.0 / 1e6
    }
}

impl Decibels {
    /// The decibel value of a linear power ratio: 10·log10(ratio).
    #[must_use]
    pub fn from_ratio(ratio: f64) -> Self {
        Self(10.0 * ratio.log10())
    }
    /// The linear power ratio 10^(dB/10).
    #[must_use]
    pub fn to_ratio(self) -> f64 {
        10f64.powf(self.0 / 10.0)
    }
}

impl Dbm {
    /// Linear power: P (mW) = 10^(dBm/10).
    #[must_use]
    pub fn to_milliwatts(self) -> Milliwatts {
        Milliwatts(10f64.powf(self.0 / 10.0))
    }
}

impl Milliwatts {
    /// Logarithmic power: dBm = 10·log10(P / 1 mW). Zero power gives −∞ dBm.
    #[must_use]
    pub fn to_dbm(self) -> Dbm {
        Dbm(10.0 * self.0.log10())
    }
}

impl From<Dbm> for Milliwatts {
    fn from(p: Dbm) -> Self {
        p.to_milliwatts()
    }
}

impl From<Milliwatts> for Dbm {
    fn from(p: Milliwatts) -> Self {
        p.to_dbm()
    }
}

impl Add<Decibels> for Dbm {
    type Output = Dbm;
    fn add(self, rhs: Decibels) -> Dbm {
        Dbm(self.0 + rhs.0)
    }
}

impl Sub<Decibels> for Dbm {
    type Output = Dbm;
    fn sub(self, rhs: Decibels) -> Dbm {
        Dbm(self.0 - rhs.0)
    }
}

impl Sub for Dbm {
    type Output = Decibels;
    fn sub(self, rhs: Dbm) -> Decibels {
        Decibels(self.0 - rhs.0)
    }
}

impl Sub for Celsius {
    type Output = Kelvin;
    fn sub(self, rhs: Celsius) -> Kelvin {
        Kelvin(self.0 - rhs.0)
    }
}

impl Add<Kelvin> for Celsius {
    type Output = Celsius;
    fn add(self, rhs: Kelvin) -> Celsius {
        Celsius(self.0 + rhs.0)
    }
}

impl Sub<Kelvin> for Celsius {
    type Output = Celsius;
    fn sub(self, rhs: Kelvin) -> Celsius {
        Celsius(self.0 - rhs.0)
    }
}

impl Picoseconds {
    /// In nanoseconds.
    #[must_use]
    pub fn to_nanoseconds(self) -> Nanoseconds {
        Nanoseconds(self.0 / 1e3)
    }
}

impl Nanoseconds {
    /// In picoseconds.
    #[must_use]
    pub fn to_picoseconds(self) -> Picoseconds {
        Picoseconds(self.0 * 1e3)
    }
}

impl From<Picoseconds> for Nanoseconds {
    fn from(t: Picoseconds) -> Self {
        t.to_nanoseconds()
    }
}

impl From<Nanoseconds> for Picoseconds {
    fn from(t: Nanoseconds) -> Self {
        t.to_picoseconds()
    }
}

impl Div<Gbps> for Milliwatts {
    type Output = PicojoulesPerBit;
    /// 1 mW / 1 Gb/s = 1e-3 J/s / 1e9 b/s = 1e-12 J/b = 1 pJ/b.
    fn div(self, rhs: Gbps) -> PicojoulesPerBit {
        PicojoulesPerBit(self.0 / rhs.0)
    }
}

impl Mul<Gbps> for PicojoulesPerBit {
    type Output = Milliwatts;
    fn mul(self, rhs: Gbps) -> Milliwatts {
        Milliwatts(self.0 * rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbm_milliwatt_goldens() {
        assert!((Dbm(0.0).to_milliwatts().0 - 1.0).abs() < 1e-12);
        assert!((Dbm(10.0).to_milliwatts().0 - 10.0).abs() < 1e-12);
        assert!((Dbm(-30.0).to_milliwatts().0 - 1e-3).abs() < 1e-15);
        assert!((Milliwatts(2.0).to_dbm().0 - 3.010_299_956_639_812).abs() < 1e-12);
        assert_eq!(Milliwatts(0.0).to_dbm().0, f64::NEG_INFINITY);
    }

    #[test]
    fn unit_algebra() {
        assert_eq!(Dbm(0.0) - Decibels(3.0), Dbm(-3.0));
        assert_eq!(Dbm(-3.0) - Dbm(-10.0), Decibels(7.0));
        assert_eq!(Celsius(47.5) - Celsius(45.0), Kelvin(2.5));
        assert_eq!(Milliwatts(1.0) / Gbps(50.0), PicojoulesPerBit(0.02));
        assert_eq!(Nanoseconds::from(Picoseconds(1050.0)), Nanoseconds(1.05));
        assert_eq!(Millimeters::from_km(1.0), Millimeters(1e6));
        assert_eq!(format!("{:.3}", Nanometers(1552.52438)), "1552.524 nm");
    }

    #[test]
    fn frequency_wavelength_goldens() {
        // reference/photonics.md §2 Grid: 193.1 THz = 1552.524 nm.
        let l = Terahertz(193.1).to_wavelength();
        assert!((l.0 - 1552.524).abs() < 5e-4, "{l}");
        // 100 / 50 / 12.5 GHz at 1552.5 nm = 0.804 / 0.402 / 0.100 nm.
        for (ghz, nm) in [(100.0, 0.804), (50.0, 0.402), (12.5, 0.100)] {
            let w = Gigahertz(ghz).to_wavelength_width(Nanometers(1552.5));
            assert!((w.0 - nm).abs() < 5e-4, "{ghz} GHz -> {w}");
            let back = w.to_frequency_width(Nanometers(1552.5));
            assert!((back.0 - ghz).abs() < 1e-9);
        }
    }
}

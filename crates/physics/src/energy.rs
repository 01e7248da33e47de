//! Energy per bit, split into transmitter, receiver, thermal tuning and laser.

use serde::{Deserialize, Serialize};

use crate::units::{Gbps, Milliwatts, PicojoulesPerBit};

/// Sun et al., Nature 528:534 (2015), doi 10.1038/nature16454: Tx (modulator driver) energy
/// 0.02 pJ/b (reference/photonics.md §2 energy table).
pub const SUN2015_TX: PicojoulesPerBit = PicojoulesPerBit(0.02);
/// Sun et al. 2015: receiver energy 0.50 pJ/b.
pub const SUN2015_RX: PicojoulesPerBit = PicojoulesPerBit(0.50);
/// Sun et al. 2015: thermal tuning energy 0.19 pJ/b (at their ±1 °C operating range).
pub const SUN2015_TUNING: PicojoulesPerBit = PicojoulesPerBit(0.19);
/// Sun et al. 2015: total 0.71 pJ/b, laser excluded.
pub const SUN2015_TOTAL: PicojoulesPerBit = PicojoulesPerBit(0.71);

/// Energy per bit of one lane, by where it is spent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EnergySplit {
    /// Modulator driver and serializer.
    pub tx: PicojoulesPerBit,
    /// Photodetector, front end, deserializer.
    pub rx: PicojoulesPerBit,
    /// Ring heaters: heater power / bit rate.
    pub tuning: PicojoulesPerBit,
    /// Laser wall-plug power / bit rate.
    pub laser: PicojoulesPerBit,
}

impl EnergySplit {
    /// Builds a split from per-bit Tx/Rx energies and the heater and laser electrical powers
    /// at bit rate `rate` (1 mW at 1 Gb/s = 1 pJ/b).
    #[must_use]
    pub fn new(
        tx: PicojoulesPerBit,
        rx: PicojoulesPerBit,
        heater: Milliwatts,
        laser_electrical: Milliwatts,
        rate: Gbps,
    ) -> Self {
        Self {
            tx,
            rx,
            tuning: heater / rate,
            laser: laser_electrical / rate,
        }
    }

    /// Total energy per bit, laser included.
    #[must_use]
    pub fn total(&self) -> PicojoulesPerBit {
        self.tx + self.rx + self.tuning + self.laser
    }

    /// Total energy per bit without the laser (the figure most papers quote).
    #[must_use]
    pub fn total_without_laser(&self) -> PicojoulesPerBit {
        self.tx + self.rx + self.tuning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sun_2015_sums() {
        let s = EnergySplit {
            tx: SUN2015_TX,
            rx: SUN2015_RX,
            tuning: SUN2015_TUNING,
            laser: PicojoulesPerBit(0.0),
        };
        assert!((s.total().0 - SUN2015_TOTAL.0).abs() < 1e-12);
        assert_eq!(s.total(), s.total_without_laser());
    }

    #[test]
    fn power_over_rate() {
        let s = EnergySplit::new(
            SUN2015_TX,
            SUN2015_RX,
            Milliwatts(2.0),
            Milliwatts(10.0),
            Gbps(50.0),
        );
        assert!((s.tuning.0 - 0.04).abs() < 1e-12);
        assert!((s.laser.0 - 0.2).abs() < 1e-12);
    }
}

//! Energy per bit, split into transmitter, receiver, thermal tuning and laser.

use serde::{Deserialize, Serialize};

use crate::ring::DfbDiode;
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

/// Laser energy per bit of lit lanes from the drive currents their lasers report: the
/// electrical power of every laser ([`DfbDiode::electrical_power`], the function the planner's
/// [`crate::LaserModel::electrical_power`] uses) over the bits those lasers carry, each laser
/// one lane at `lane_rate` in its own direction. For one laser at its predicted bias this is
/// exactly the planner's [`EnergySplit::laser`]; lasers at both ends of a corridor count the
/// bits of both directions. 0 when no laser is given.
#[must_use]
pub fn laser_energy_per_bit(
    diode: &DfbDiode,
    bias_ma: impl IntoIterator<Item = f64>,
    lane_rate: Gbps,
) -> PicojoulesPerBit {
    let (mut power, mut lasers) = (0.0, 0u32);
    for bias in bias_ma {
        power += diode.electrical_power(bias).0;
        lasers += 1;
    }
    if lasers == 0 || lane_rate.0 <= 0.0 {
        return PicojoulesPerBit(0.0);
    }
    Milliwatts(power) / (lane_rate * f64::from(lasers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::DFB_DIODE;
    use crate::technology::DEFAULT_LASER;

    /// Telemetry from reported bias and the planner's prediction are one model: the same laser
    /// at its predicted bias gives the same pJ/b, at one end or both.
    #[test]
    fn telemetry_and_plan_share_the_laser_model() {
        let rate = Gbps(53.125);
        let plan = EnergySplit::new(
            SUN2015_TX,
            SUN2015_RX,
            Milliwatts(0.0),
            DEFAULT_LASER.electrical_power(),
            rate,
        );
        let bias = DEFAULT_LASER.bias_ma();
        let one = laser_energy_per_bit(&DFB_DIODE, [bias], rate);
        let both_ends = laser_energy_per_bit(&DFB_DIODE, vec![bias; 16], rate);
        assert!((one.0 - plan.laser.0).abs() < 1e-12, "{one:?} vs {plan:?}");
        assert!((both_ends.0 - plan.laser.0).abs() < 1e-12);
        // 1.5 V × 24.92 mA / 53.125 Gb/s ≈ 0.70 pJ/b.
        assert!((plan.laser.0 - 0.7036).abs() < 1e-3, "{plan:?}");
        assert_eq!(
            laser_energy_per_bit(&DFB_DIODE, [], rate),
            PicojoulesPerBit(0.0)
        );
    }

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

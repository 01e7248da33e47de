//! Latency: time of flight n_g·L/c plus fixed per-hop electronic costs.

use crate::budget::Medium;
use crate::fec::Fec;
use crate::units::{Gbps, Millimeters, Nanoseconds, Picoseconds, SPEED_OF_LIGHT_M_PER_S};

/// Serializer (Tx PMA: gearbox, serializer, driver) latency per electrical→optical hop, ns.
/// Assumption: a few tens of UI-parallel clock cycles of a short-reach SerDes.
pub const SERDES_TX_LATENCY: Nanoseconds = Nanoseconds(5.0);
/// Deserializer (Rx PMA: CDR, deserializer, deskew) latency per optical→electrical hop, ns.
/// Assumption: slower than Tx because of clock recovery and lane deskew buffers.
pub const SERDES_RX_LATENCY: Nanoseconds = Nanoseconds(10.0);

/// Time of flight n_g·L/c through `length` of `medium`
/// (reference/photonics.md §2: 14 ps/mm in Si, ~7 ps/mm in SiN, 4.9 ns/m in fibre).
#[must_use]
pub fn propagation_delay(medium: Medium, length: Millimeters) -> Picoseconds {
    // n_g · L[m] / c[m/s] seconds → ×1e12 ps.
    Picoseconds(medium.group_index() * length.to_m() / SPEED_OF_LIGHT_M_PER_S * 1e12)
}

/// One-hop lane latency: time of flight + SerDes Tx + SerDes Rx + FEC (codeword fill at
/// `fec_rate` + decoder pipeline). Pass the lane rate as `fec_rate` when each lane carries whole
/// codewords, or the corridor's aggregate rate when codewords are striped over its lanes.
#[must_use]
pub fn hop_latency(medium: Medium, length: Millimeters, fec: Fec, fec_rate: Gbps) -> Nanoseconds {
    propagation_delay(medium, length).to_nanoseconds()
        + SERDES_TX_LATENCY
        + SERDES_RX_LATENCY
        + fec.latency(fec_rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_flight_goldens() {
        let si = propagation_delay(Medium::SoiStrip, Millimeters(1.0)).0;
        assert!((si - 14.0).abs() < 0.1, "{si}");
        // ≈ 1.05 ns for 75 mm of Si.
        let si75 = propagation_delay(Medium::SoiStrip, Millimeters(75.0))
            .to_nanoseconds()
            .0;
        assert!((si75 - 1.05).abs() < 0.01, "{si75}");
        let sin = propagation_delay(Medium::SiliconNitride, Millimeters(1.0)).0;
        assert!((sin - 7.0).abs() < 0.1, "{sin}");
        let fiber = propagation_delay(Medium::Fiber, Millimeters::from_m(1.0))
            .to_nanoseconds()
            .0;
        assert!((fiber - 4.9).abs() < 0.01, "{fiber}");
    }

    #[test]
    fn hop_adds_fixed_costs() {
        let l = hop_latency(
            Medium::SiliconNitride,
            Millimeters(0.0),
            Fec::None,
            Gbps(25.0),
        );
        assert_eq!(l, SERDES_TX_LATENCY + SERDES_RX_LATENCY);
    }
}

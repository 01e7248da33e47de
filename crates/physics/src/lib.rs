//! # corridor-physics
//!
//! Pure, deterministic photonics models for CorridorOS's photonic corridors: no I/O, no clock,
//! no randomness, no global state. Every constant cites its source (a paper, a standard, or
//! `reference/photonics.md §2`) or says plainly that it is an assumption.
//!
//! | module | models |
//! |---|---|
//! | [`units`] | `f64` newtypes (THz, nm, dB, dBm, mW, K, ps, Gb/s, pJ/b, …) and conversions |
//! | [`grid`] | ITU-T G.694.1 fixed and flex grids, channels, snapping and distinct assignment |
//! | [`budget`] | media, couplers, loss breakdown, thermal-noise-limited receiver |
//! | [`ber`] | `erfc`/`erfcx`, Q-function, NRZ/PAM4 BER and inverses |
//! | [`fec`] | Reed–Solomon (KP4, KR4) post-FEC BER, thresholds, FEC latency |
//! | [`latency`] | time of flight n_g·L/c, SerDes costs |
//! | [`ring`] | microring resonance, Lorentzian, FSR, heater lock; DFB laser and its drive (`I·V_f`) |
//! | [`energy`] | energy per bit: Tx, Rx, tuning, laser (plan and telemetry alike) |
//! | [`technology`] | `SiCorridor`, `CarbonCorridor` behind [`CorridorTechnology`] |
//! | [`lane`] | [`evaluate_lane`]: everything above for one lane → [`LaneReport`] |
//!
//! ```
//! use corridor_physics::*;
//!
//! // The RFC example wavelengths land on 8 distinct channels of the 100 GHz grid.
//! let req: Vec<Nanometers> = (1550..=1557).map(|l| Nanometers(f64::from(l))).collect();
//! let channels = assign_distinct(&req, Grid::Fixed100, |_n| true)?;
//! assert_eq!(channels.len(), 8);
//!
//! // One 53.125 Gb/s PAM4 lane over 75 mm of SiN, two edge couplers, 7 other rings on the bus.
//! let tech = DeviceTechnology::SiCorridor.technology();
//! let params = LaneParams::new(
//!     tech,
//!     Medium::SiliconNitride,
//!     Millimeters(75.0),
//!     Couplers { grating: 0, edge: 2 },
//!     7,
//!     Gbps(53.125),
//!     Modulation::Pam4,
//! );
//! let report = evaluate_lane(tech, &params)?;
//! assert!(report.feasible && report.post_fec_ber < 1e-12);
//! // Under 1 pJ/b without the laser (as the papers quote it); the DFB adds ≈ 0.7 pJ/b.
//! assert!(report.energy.total_without_laser() < PicojoulesPerBit(1.0));
//! assert!(report.energy.total() > PicojoulesPerBit(1.0));
//! # Ok::<(), PhysicsError>(())
//! ```

pub mod ber;
pub mod budget;
pub mod energy;
pub mod error;
pub mod fec;
pub mod grid;
pub mod lane;
pub mod latency;
pub mod ring;
pub mod technology;
pub mod units;

pub use ber::Modulation;
pub use budget::{Couplers, LossBreakdown, LossItem, Medium, ReceiverModel};
pub use energy::EnergySplit;
pub use error::{PhysicsError, Result};
pub use fec::Fec;
pub use grid::{Channel, Grid, assign_distinct, snap};
pub use lane::{
    HeaterState, LaneParams, LaneReport, LaneRequirement, LimitingFactor, evaluate_lane,
    evaluate_lane_with,
};
pub use ring::{DFB_DIODE, DfbDiode, LaserModel, Microring};
pub use technology::{CarbonCorridor, CorridorTechnology, DeviceTechnology, Maturity, SiCorridor};
pub use units::*;

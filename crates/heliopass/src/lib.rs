//! HELIOPASS controllers: keep a module's microrings on their lanes as the temperature moves,
//! at the least heater power (`reference/photonics.md` §2–3).
//!
//! Everything here is pure and deterministic: the controllers talk to the plant only through
//! [`corridor_hal::optical::RingBank`] (the HELIOPASS vendor pages B0h–B3h), so the same code
//! drives the twin ([`corridor_hal::optical::RingBankTwin`]) and a module.
//!
//! * [`calibrate`]: heater sweep per ring with the others parked, drop-peak detection on the
//!   monitor photodiode, lane identification, crosstalk matrix K, least-power assignment
//!   ([`assign`]) and heater solve.
//! * [`track`]: dither / lock-in + PI per ring with anti-windup, thermal feed-forward, K⁻¹
//!   decoupling, power-monitor search on loss of lock, laser grid tracking, bias tracking.
//! * [`bias`]: modulator bias sweep (least pre-FEC BER).
//! * [`baseline`]: the naive hill climb the benchmarks compare against.
//!
//! ```no_run
//! use corridor_hal::optical::{RingBankConfig, RingBankTwin};
//! use corridor_heliopass::{CalibrationSettings, Design, Tracker, TrackerSettings, calibrate};
//!
//! let cfg = RingBankConfig::new(8, 42);
//! let design = Design::of_twin(&cfg);
//! let mut bank = RingBankTwin::new(cfg)?;
//! let cal = calibrate(&mut bank, &design, &CalibrationSettings::default())?;
//! let mut tracker = Tracker::from_calibration(&cal, &design, TrackerSettings::default());
//! let report = tracker.step(&mut bank)?; // one 10 kHz period
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod assign;
pub mod baseline;
pub mod bias;
pub mod calibrate;
pub mod design;
pub mod error;
pub mod linalg;
pub mod track;

pub use assign::{Plan, assign, brute_force, plan_for};
pub use calibrate::{Calibration, CalibrationSettings, RingSurvey, calibrate};
pub use design::Design;
pub use error::{HelioError, Result};
pub use track::{RingLoop, StepReport, Tracker, TrackerSettings};

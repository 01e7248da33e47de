//! Corridor device technologies: `SiCorridor` (silicon microring photonics) and
//! `CarbonCorridor` (graphene-on-SiN/Si devices), behind one trait.
//!
//! Numbers are cited where a source exists; everything else says "assumption". The Carbon
//! figures describe research devices (lab PICs in the RFC): expect them to be revised.

use serde::{Deserialize, Serialize};

use crate::ber::Modulation;
use crate::budget::ReceiverModel;
use crate::energy::{SUN2015_RX, SUN2015_TX};
use crate::ring::{
    DFB_DIODE, DFB_DRIFT_NM_PER_K, LaserModel, Microring, SI_HEATER_MW_PER_NM,
    SI_RING_DRIFT_NM_PER_K,
};
use crate::units::{Dbm, Decibels, Gbaud, Gbps, Micrometers, Milliwatts, PicojoulesPerBit};

/// The device technology of a corridor's lanes: the API's `corridor_type` as the physics
/// models it, with its parameters ([`DeviceTechnology::technology`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeviceTechnology {
    /// Silicon photonics corridor.
    #[default]
    SiCorridor,
    /// Graphene-on-Si/SiN corridor (lab lane).
    CarbonCorridor,
}

impl DeviceTechnology {
    /// The technology with its cited default parameters.
    #[must_use]
    pub fn technology(self) -> &'static dyn CorridorTechnology {
        match self {
            Self::SiCorridor => &SiCorridor::DEFAULT,
            Self::CarbonCorridor => &CarbonCorridor::DEFAULT,
        }
    }

    /// The RFC spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SiCorridor => "SiCorridor",
            Self::CarbonCorridor => "CarbonCorridor",
        }
    }
}

impl std::fmt::Display for DeviceTechnology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a technology is from production; sets the extra margin a lane must keep for
/// device-to-device spread and ageing that the models do not capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Maturity {
    /// Shipping in volume.
    Production,
    /// Sampling / early production (e.g. TeraPHY, Intel OCI).
    Pilot,
    /// Laboratory demonstrations only.
    Research,
}

/// Base system margin every lane must keep: 2 dB. Assumption: ageing, polarisation and
/// connector repeatability allowance typical of short-reach link budgets.
pub const BASE_SYSTEM_MARGIN: Decibels = Decibels(2.0);

impl Maturity {
    /// Extra margin on top of [`BASE_SYSTEM_MARGIN`]. Assumption: 0 / 1 / 3 dB.
    #[must_use]
    pub fn extra_margin(self) -> Decibels {
        Decibels(match self {
            Self::Production => 0.0,
            Self::Pilot => 1.0,
            Self::Research => 3.0,
        })
    }

    /// Total margin a feasible lane must keep.
    #[must_use]
    pub fn required_margin(self) -> Decibels {
        BASE_SYSTEM_MARGIN + self.extra_margin()
    }
}

/// A lane rate a technology offers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LaneRateOption {
    /// Line rate (FEC overhead included).
    pub rate: Gbps,
    /// Modulation.
    pub modulation: Modulation,
}

impl LaneRateOption {
    /// Symbol rate = line rate / bits per symbol.
    #[must_use]
    pub fn baud(self) -> Gbaud {
        Gbaud(self.rate.0 / f64::from(self.modulation.bits_per_symbol()))
    }
}

/// Insertion losses of a technology's devices on one lane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InsertionLosses {
    /// Tx modulator ring insertion loss at its bias point.
    pub modulator: Decibels,
    /// Through-port loss of each off-resonance ring passed on the bus.
    pub ring_through: Decibels,
    /// Drop-port loss of the Rx demultiplexing ring on resonance.
    pub ring_drop: Decibels,
}

/// Per-bit electrical energy of a technology's Tx and Rx.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyModel {
    /// Tx: modulator driver.
    pub tx: PicojoulesPerBit,
    /// Rx: detector and front end.
    pub rx: PicojoulesPerBit,
}

/// What the corridor service needs to know about a device technology.
pub trait CorridorTechnology: std::fmt::Debug + Send + Sync {
    /// Which RFC `corridor_type` this is.
    fn corridor_type(&self) -> DeviceTechnology;
    /// Lane rates offered (line rates).
    fn lane_rates(&self) -> &[LaneRateOption];
    /// Tx/Rx energy per bit (tuning and laser come from the lane's state).
    fn energy(&self) -> EnergyModel;
    /// Device insertion losses.
    fn insertion_losses(&self) -> InsertionLosses;
    /// The receiver.
    fn receiver(&self) -> ReceiverModel;
    /// The Tx modulator / Rx filter ring (both rings of a lane use the same design).
    fn microring(&self) -> Microring;
    /// The laser feeding each lane.
    fn laser(&self) -> LaserModel;
    /// Technology maturity.
    fn maturity(&self) -> Maturity;

    /// Modulations offered.
    fn modulations(&self) -> Vec<Modulation> {
        let mut out: Vec<Modulation> = Vec::new();
        for o in self.lane_rates() {
            if !out.contains(&o.modulation) {
                out.push(o.modulation);
            }
        }
        out
    }

    /// Whether `(rate, modulation)` is offered (rates compared to 1e-9 Gb/s).
    fn supports(&self, rate: Gbps, modulation: Modulation) -> bool {
        self.lane_rates()
            .iter()
            .any(|o| o.modulation == modulation && (o.rate.0 - rate.0).abs() < 1e-9)
    }

    /// Margin a feasible lane must keep.
    fn required_margin(&self) -> Decibels {
        self.maturity().required_margin()
    }
}

/// Laser per lane shared by both technologies: 0 dBm launched (assumption: an external DFB/comb
/// line after splitting; TeraPHY/OCI-class sources deliver 0–5 dBm per λ), driven as
/// [`DFB_DIODE`] (its electrical power is [`crate::ring::DfbDiode::electrical_power`], the same
/// function telemetry applies to a module's reported bias), DFB drift 0.1 nm/K
/// (reference/photonics.md §2) — production lasers hold their line with a TEC + etalon locker,
/// so lanes default to ΔT = 0.
pub const DEFAULT_LASER: LaserModel = LaserModel {
    launch_power: Dbm(0.0),
    diode: DFB_DIODE,
    drift_nm_per_k: DFB_DRIFT_NM_PER_K,
};

const SI_RATES: [LaneRateOption; 5] = [
    // 16 Gb/s NRZ per λ: Ayar Labs TeraPHY (Wade et al., OFC 2021).
    LaneRateOption {
        rate: Gbps(16.0),
        modulation: Modulation::Nrz,
    },
    // 25 Gb/s NRZ: assumption, the common short-reach lane.
    LaneRateOption {
        rate: Gbps(25.0),
        modulation: Modulation::Nrz,
    },
    // 32 Gb/s NRZ per λ: Intel OCI (OFC 2024; reference/photonics.md §2).
    LaneRateOption {
        rate: Gbps(32.0),
        modulation: Modulation::Nrz,
    },
    // 53.125 Gb/s PAM4 (26.5625 GBd): IEEE 802.3 50G lane with KP4. Assumption for Si rings.
    LaneRateOption {
        rate: Gbps(53.125),
        modulation: Modulation::Pam4,
    },
    // 106.25 Gb/s PAM4 (53.125 GBd): IEEE 802.3ck 100G lane. Assumption: within reach of
    // state-of-the-art Si ring modulators (~50 GHz EO bandwidth), as in Lightmatter's Passage.
    LaneRateOption {
        rate: Gbps(106.25),
        modulation: Modulation::Pam4,
    },
];

/// Silicon microring corridor: depletion-mode Si ring modulators, Ge photodetectors, Si ring
/// demultiplexers with heaters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiCorridor {
    /// Device insertion losses.
    pub losses: InsertionLosses,
    /// Receiver.
    pub receiver: ReceiverModel,
    /// Ring design.
    pub ring: Microring,
    /// Laser per lane.
    pub laser: LaserModel,
    /// Tx/Rx energy.
    pub energy: EnergyModel,
}

impl SiCorridor {
    /// Cited defaults.
    pub const DEFAULT: Self = Self {
        losses: InsertionLosses {
            // Assumption: ~1 dB through-port loss of a biased depletion ring modulator.
            modulator: Decibels(1.0),
            // Assumption: 0.05 dB per off-resonance ring passed on the bus.
            ring_through: Decibels(0.05),
            // Assumption: ~1 dB drop loss of a critically coupled Si demux ring.
            ring_drop: Decibels(1.0),
        },
        receiver: ReceiverModel {
            // Assumption: −12 dBm average power at BER 1e-12 (Q 7.03), NRZ 25 GBd, for a
            // Ge photodiode + TIA: the usual class of short-reach receiver sensitivity.
            sensitivity: Dbm(-12.0),
            reference_q: 7.03,
            reference_baud: Gbaud(25.0),
        },
        ring: Microring {
            // 5 µm radius → FSR 18.2 nm at n_g 4.2 (reference/photonics.md §2).
            radius: Micrometers(5.0),
            group_index: 4.2,
            // Q = 10k → 0.155 nm linewidth (reference/photonics.md §2).
            loaded_q: 10_000.0,
            thermal_drift_nm_per_k: SI_RING_DRIFT_NM_PER_K,
            heater_mw_per_nm: SI_HEATER_MW_PER_NM,
            // Derived: enough to tune one FSR, 18.2 nm × 0.55 mW/nm ≈ 10 mW.
            heater_max: Milliwatts(10.0),
            // Assumption: 1 mW bias at the lock point, i.e. ~23 K of warming headroom
            // (1 mW / (0.08 nm/K · 0.55 mW/nm)).
            default_bias: Milliwatts(1.0),
        },
        laser: DEFAULT_LASER,
        // Sun et al., Nature 2015: Tx 0.02, Rx 0.50 pJ/b (tuning comes from the heater state).
        energy: EnergyModel {
            tx: SUN2015_TX,
            rx: SUN2015_RX,
        },
    };
}

impl Default for SiCorridor {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl CorridorTechnology for SiCorridor {
    fn corridor_type(&self) -> DeviceTechnology {
        DeviceTechnology::SiCorridor
    }
    fn lane_rates(&self) -> &[LaneRateOption] {
        &SI_RATES
    }
    fn energy(&self) -> EnergyModel {
        self.energy
    }
    fn insertion_losses(&self) -> InsertionLosses {
        self.losses
    }
    fn receiver(&self) -> ReceiverModel {
        self.receiver
    }
    fn microring(&self) -> Microring {
        self.ring
    }
    fn laser(&self) -> LaserModel {
        self.laser
    }
    /// Pilot: Si microring links are sampling (TeraPHY, Intel OCI; reference/photonics.md §2).
    fn maturity(&self) -> Maturity {
        Maturity::Pilot
    }
}

const CARBON_RATES: [LaneRateOption; 3] = [
    // 10 Gb/s NRZ: graphene phase modulator demonstration (Sorianello et al.).
    LaneRateOption {
        rate: Gbps(10.0),
        modulation: Modulation::Nrz,
    },
    // 25 Gb/s NRZ: within the 30 GHz EO bandwidth of Phare et al., Nat. Photon. 9:511 (2015).
    LaneRateOption {
        rate: Gbps(25.0),
        modulation: Modulation::Nrz,
    },
    // 53.125 Gb/s PAM4 (26.5625 GBd): assumption, still below the 30 GHz modulator bandwidth
    // (Phare 2015); detectors are not limiting (Wang 2021 > 67 GHz).
    LaneRateOption {
        rate: Gbps(53.125),
        modulation: Modulation::Pam4,
    },
];

/// SiN thermal drift, nm/K. Derived with the formula of reference/photonics.md §2
/// (λ·Γ·(dn/dT)/n_g) from dn/dT(Si3N4) ≈ 2.45e-5 /K (Arbabi & Goddard, Opt. Lett. 38:3878,
/// 2013), oxide cladding ≈ 0.95e-5 /K, Γ ≈ 0.7, n_g 2.1: ≈ 0.015 nm/K, about 5× below Si.
pub const SIN_RING_DRIFT_NM_PER_K: f64 = 0.015;

/// Graphene-on-SiN corridor: graphene electro-absorption ring modulators on SiN
/// (Phare et al. 2015), graphene photodetectors (photo-thermoelectric on a ring, Schuler et al.,
/// Nat. Commun. 12:3733, 2021; plasmonic, Wang et al., Nat. Commun. 2021: > 67 GHz, < 14 fJ/b).
/// Research maturity: higher insertion losses and a larger required margin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CarbonCorridor {
    /// Device insertion losses.
    pub losses: InsertionLosses,
    /// Receiver.
    pub receiver: ReceiverModel,
    /// Ring design.
    pub ring: Microring,
    /// Laser per lane.
    pub laser: LaserModel,
    /// Tx/Rx energy.
    pub energy: EnergyModel,
}

impl CarbonCorridor {
    /// Cited defaults (and labelled assumptions).
    pub const DEFAULT: Self = Self {
        losses: InsertionLosses {
            // Assumption: 3 dB; residual interband absorption of graphene in its transparent
            // state adds loss to the ring modulator (Phare 2015 reports 15 dB modulation per
            // 10 V, not a low insertion loss).
            modulator: Decibels(3.0),
            // Assumption: 0.1 dB per passed ring (graphene-loaded rings are lossier).
            ring_through: Decibels(0.1),
            // Assumption: 1.5 dB drop loss.
            ring_drop: Decibels(1.5),
        },
        receiver: ReceiverModel {
            // Assumption: −9 dBm at Q 7.03, NRZ 25 GBd — 3 dB worse than Ge + TIA: the
            // photo-thermoelectric detector gives ~90 V/W without a TIA (Schuler 2021, BER 1e-9).
            sensitivity: Dbm(-9.0),
            reference_q: 7.03,
            reference_baud: Gbaud(25.0),
        },
        ring: Microring {
            // Assumption: SiN needs larger rings; R = 20 µm, n_g 2.1 → FSR ≈ 9.1 nm.
            radius: Micrometers(20.0),
            group_index: 2.1,
            // Assumption: graphene absorption lowers the loaded Q to ~5000.
            loaded_q: 5_000.0,
            thermal_drift_nm_per_k: SIN_RING_DRIFT_NM_PER_K,
            // Assumption: same heater K/mW as Si, so 0.55 × 0.08 / 0.015 ≈ 2.9 mW/nm.
            heater_mw_per_nm: 2.9,
            // Derived: one FSR, 9.1 nm × 2.9 mW/nm ≈ 26 mW.
            heater_max: Milliwatts(26.0),
            // Assumption: same 1 mW bias as Si (≈ 23 K of warming headroom).
            default_bias: Milliwatts(1.0),
        },
        laser: DEFAULT_LASER,
        energy: EnergyModel {
            // Assumption: 0.25 pJ/b, CV²/4 for ~250 fF at a 2 V swing; graphene modulators
            // need larger swings than Si depletion rings (Phare 2015: 15 dB per 10 V).
            tx: PicojoulesPerBit(0.25),
            // Wang 2021: detector < 14 fJ/b, plus 0.1 pJ/b (assumption) for the limiting
            // amplifier/CDR; no TIA (Schuler 2021).
            rx: PicojoulesPerBit(0.114),
        },
    };
}

impl Default for CarbonCorridor {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl CorridorTechnology for CarbonCorridor {
    fn corridor_type(&self) -> DeviceTechnology {
        DeviceTechnology::CarbonCorridor
    }
    fn lane_rates(&self) -> &[LaneRateOption] {
        &CARBON_RATES
    }
    fn energy(&self) -> EnergyModel {
        self.energy
    }
    fn insertion_losses(&self) -> InsertionLosses {
        self.losses
    }
    fn receiver(&self) -> ReceiverModel {
        self.receiver
    }
    fn microring(&self) -> Microring {
        self.ring
    }
    fn laser(&self) -> LaserModel {
        self.laser
    }
    /// Research: laboratory demonstrations only (reference/photonics.md §2 Graphene).
    fn maturity(&self) -> Maturity {
        Maturity::Research
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Gigahertz, Nanometers};

    #[test]
    fn defaults_are_valid() {
        for t in [
            DeviceTechnology::SiCorridor,
            DeviceTechnology::CarbonCorridor,
        ] {
            let tech = t.technology();
            assert_eq!(tech.corridor_type(), t);
            tech.microring().validate().unwrap();
            tech.laser().validate().unwrap();
            assert!(!tech.lane_rates().is_empty());
        }
    }

    #[test]
    fn carbon_is_less_mature_and_lossier() {
        let si = DeviceTechnology::SiCorridor.technology();
        let c = DeviceTechnology::CarbonCorridor.technology();
        assert!(c.required_margin() > si.required_margin());
        assert!(c.insertion_losses().modulator > si.insertion_losses().modulator);
        assert!(c.receiver().sensitivity > si.receiver().sensitivity);
        // …but a SiN ring drifts ~5× less.
        assert!(c.microring().thermal_drift_nm_per_k * 4.0 < si.microring().thermal_drift_nm_per_k);
    }

    #[test]
    fn rings_hold_enough_channels() {
        // Both ring designs must fit 8 lanes of 100 GHz in one FSR (the RFC corridor).
        for t in [
            DeviceTechnology::SiCorridor,
            DeviceTechnology::CarbonCorridor,
        ] {
            let n = t
                .technology()
                .microring()
                .channels_per_fsr(Gigahertz(100.0), Nanometers(1550.0));
            assert!(n >= 8, "{t}: {n}");
        }
        let fsr = CarbonCorridor::DEFAULT.ring.fsr(Nanometers(1550.0)).0;
        assert!((fsr - 9.1).abs() < 0.1, "{fsr}");
    }

    #[test]
    fn supports_and_modulations() {
        let si = DeviceTechnology::SiCorridor.technology();
        assert!(si.supports(Gbps(53.125), Modulation::Pam4));
        assert!(!si.supports(Gbps(53.125), Modulation::Nrz));
        assert_eq!(si.modulations(), vec![Modulation::Nrz, Modulation::Pam4]);
        let opt = LaneRateOption {
            rate: Gbps(106.25),
            modulation: Modulation::Pam4,
        };
        assert!((opt.baud().0 - 53.125).abs() < 1e-12);
    }

    #[test]
    fn serde_names_match_the_rfc() {
        assert_eq!(DeviceTechnology::SiCorridor.to_string(), "SiCorridor");
        assert_eq!(DeviceTechnology::CarbonCorridor.as_str(), "CarbonCorridor");
    }
}

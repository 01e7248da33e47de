//! Link budget: propagation media, couplers, the loss breakdown of a lane, and the receiver.

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_range};
use crate::units::{Dbm, Decibels, Gbaud, Millimeters};

/// SOI strip waveguide loss: 3 dB/cm, the middle of the 2–4 dB/cm range
/// (reference/photonics.md §2 Link budget, photonica.io glossary; Sun et al. 2015 measured 4.3).
pub const SOI_LOSS_DB_PER_MM: f64 = 0.3;
/// SOI strip group index ≈ 4.2 (reference/photonics.md §2 Microring; gives 14 ps/mm).
pub const SOI_GROUP_INDEX: f64 = 4.2;
/// Silicon nitride waveguide loss: 0.1 dB/cm, within 0.05–0.2 dB/cm (reference/photonics.md §2).
pub const SIN_LOSS_DB_PER_MM: f64 = 0.01;
/// SiN waveguide group index ≈ 2.1. Assumption, chosen to match the ~7 ps/mm of
/// reference/photonics.md §2 (typical SiN strip n_g is 1.9–2.1).
pub const SIN_GROUP_INDEX: f64 = 2.1;
/// Standard single-mode fibre loss at 1550 nm: 0.2 dB/km (ITU-T G.652; reference/photonics.md §2).
pub const FIBER_LOSS_DB_PER_MM: f64 = 0.2e-6;
/// SMF-28 group index at 1550 nm, 1.4682 (Corning SMF-28 datasheet): 4.9 ns/m.
pub const FIBER_GROUP_INDEX: f64 = 1.4682;

/// Grating coupler loss per coupler: 3 dB. Assumption inside the 1.5–5 dB range of
/// reference/photonics.md §2 Link budget.
pub const GRATING_COUPLER_LOSS: Decibels = Decibels(3.0);
/// Edge coupler loss per facet: 1.5 dB. Assumption inside the ~1–2 dB range of
/// reference/photonics.md §2 Link budget.
pub const EDGE_COUPLER_LOSS: Decibels = Decibels(1.5);

/// The medium a corridor's light travels through.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    /// Silicon-on-insulator strip waveguide: lossy, slow; fine for millimetres only.
    SoiStrip,
    /// Silicon nitride waveguide (interposer or chip).
    SiliconNitride,
    /// Standard single-mode fibre.
    Fiber,
    /// Anything else, by its loss and group index.
    Custom {
        /// Propagation loss, dB/mm (≥ 0).
        loss_db_per_mm: f64,
        /// Group index (≥ 1).
        group_index: f64,
    },
}

impl Medium {
    /// Propagation loss per millimetre.
    #[must_use]
    pub fn loss_per_mm(self) -> Decibels {
        Decibels(match self {
            Self::SoiStrip => SOI_LOSS_DB_PER_MM,
            Self::SiliconNitride => SIN_LOSS_DB_PER_MM,
            Self::Fiber => FIBER_LOSS_DB_PER_MM,
            Self::Custom { loss_db_per_mm, .. } => loss_db_per_mm,
        })
    }

    /// Group index n_g.
    #[must_use]
    pub fn group_index(self) -> f64 {
        match self {
            Self::SoiStrip => SOI_GROUP_INDEX,
            Self::SiliconNitride => SIN_GROUP_INDEX,
            Self::Fiber => FIBER_GROUP_INDEX,
            Self::Custom { group_index, .. } => group_index,
        }
    }

    /// Propagation loss over `length`.
    #[must_use]
    pub fn propagation_loss(self, length: Millimeters) -> Decibels {
        self.loss_per_mm() * length.0
    }

    /// Checks a custom medium's parameters.
    ///
    /// # Errors
    /// `InvalidParameter` for negative/non-finite loss or a group index below 1.
    pub fn validate(self) -> Result<()> {
        if let Self::Custom {
            loss_db_per_mm,
            group_index,
        } = self
        {
            check_range("loss_db_per_mm", loss_db_per_mm, 0.0, 1e3, "0..=1000 dB/mm")?;
            check_range("group_index", group_index, 1.0, 10.0, "1..=10")?;
        }
        Ok(())
    }
}

/// Couplers on a lane's path (chip ↔ fibre or chip ↔ interposer transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Couplers {
    /// Number of grating couplers.
    pub grating: u32,
    /// Number of edge-coupled facets.
    pub edge: u32,
}

impl Couplers {
    /// Total coupling loss.
    #[must_use]
    pub fn loss(self) -> Decibels {
        GRATING_COUPLER_LOSS * f64::from(self.grating) + EDGE_COUPLER_LOSS * f64::from(self.edge)
    }
}

/// One term of a lane's loss breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossItem {
    /// Waveguide/fibre propagation.
    Propagation,
    /// Grating and edge couplers.
    Couplers,
    /// Insertion loss of the Tx modulator ring.
    Modulator,
    /// Off-resonance rings of other lanes passed on the bus.
    RingsThrough,
    /// The Rx demultiplexing ring's drop port.
    RingDrop,
    /// Rings off resonance from thermal drift (Lorentzian penalty).
    Detuning,
}

/// Where a lane's optical power goes, all as positive losses.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LossBreakdown {
    /// Propagation loss of the medium.
    pub propagation: Decibels,
    /// Coupler losses.
    pub couplers: Decibels,
    /// Tx modulator insertion loss.
    pub modulator: Decibels,
    /// Through-port losses of the rings passed.
    pub rings_through: Decibels,
    /// Rx drop-port loss.
    pub ring_drop: Decibels,
    /// Detuning penalty of Tx and Rx rings.
    pub detuning: Decibels,
}

impl LossBreakdown {
    /// All terms, in a fixed order.
    #[must_use]
    pub fn items(&self) -> [(LossItem, Decibels); 6] {
        [
            (LossItem::Propagation, self.propagation),
            (LossItem::Couplers, self.couplers),
            (LossItem::Modulator, self.modulator),
            (LossItem::RingsThrough, self.rings_through),
            (LossItem::RingDrop, self.ring_drop),
            (LossItem::Detuning, self.detuning),
        ]
    }

    /// Total loss.
    #[must_use]
    pub fn total(&self) -> Decibels {
        self.items().into_iter().map(|(_, l)| l).sum()
    }

    /// The largest term (the first in `items` order on ties).
    #[must_use]
    pub fn largest(&self) -> LossItem {
        let mut best = (LossItem::Propagation, self.propagation);
        for (item, loss) in self.items() {
            if loss > best.1 {
                best = (item, loss);
            }
        }
        best.0
    }
}

/// Received power = launch power − total loss.
#[must_use]
pub fn received_power(launch: Dbm, losses: &LossBreakdown) -> Dbm {
    launch - losses.total()
}

/// A thermal-noise-limited optical receiver (photodiode + front end).
///
/// Model: the receiver noise σ is independent of the signal (thermal/TIA noise dominates, as it
/// does for un-amplified short links), so the decision Q is **proportional to the received
/// optical power**: Q = Q_ref · P_rx / P_sens, with P_sens the sensitivity at Q_ref for NRZ at
/// `reference_baud`. The noise bandwidth scales with the symbol rate, so σ ∝ √baud and the
/// sensitivity worsens by 5·log10(baud / reference_baud) dB. Powers are average powers with
/// the extinction ratio folded into the sensitivity figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReceiverModel {
    /// Average received power giving Q = `reference_q` with NRZ at `reference_baud`.
    pub sensitivity: Dbm,
    /// The Q at which `sensitivity` is specified (7.03 ≈ BER 1e-12).
    pub reference_q: f64,
    /// The symbol rate at which `sensitivity` is specified.
    pub reference_baud: Gbaud,
}

impl ReceiverModel {
    /// Sensitivity (at `reference_q`, NRZ) at symbol rate `baud`.
    #[must_use]
    pub fn sensitivity_at(&self, baud: Gbaud) -> Dbm {
        self.sensitivity + Decibels(5.0 * (baud / self.reference_baud).log10())
    }

    /// The NRZ-equivalent Q (full optical modulation amplitude over σ) at `received` power and
    /// symbol rate `baud`.
    #[must_use]
    pub fn q_nrz(&self, received: Dbm, baud: Gbaud) -> f64 {
        self.reference_q * (received - self.sensitivity_at(baud)).to_ratio()
    }

    /// The received power needed for NRZ-equivalent Q `q_nrz` at symbol rate `baud`.
    #[must_use]
    pub fn power_for_q(&self, q_nrz: f64, baud: Gbaud) -> Dbm {
        self.sensitivity_at(baud) + Decibels::from_ratio(q_nrz / self.reference_q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_corridor_losses() {
        // reference/photonics.md §2: 75 mm of SOI wire costs 15–30 dB; SiN 0.4–1.5 dB.
        let l = Millimeters(75.0);
        let soi = Medium::SoiStrip.propagation_loss(l).0;
        assert!((15.0..=30.0).contains(&soi), "{soi}");
        let sin = Medium::SiliconNitride.propagation_loss(l).0;
        assert!((0.375..=1.5).contains(&sin), "{sin}");
        let fiber = Medium::Fiber.propagation_loss(Millimeters::from_km(10.0)).0;
        assert!((fiber - 2.0).abs() < 1e-9);
    }

    #[test]
    fn breakdown_total_and_largest() {
        let b = LossBreakdown {
            propagation: Decibels(0.75),
            couplers: Decibels(3.0),
            modulator: Decibels(1.0),
            rings_through: Decibels(0.35),
            ring_drop: Decibels(1.0),
            detuning: Decibels(0.0),
        };
        assert!((b.total().0 - 6.1).abs() < 1e-12);
        assert_eq!(b.largest(), LossItem::Couplers);
        assert_eq!(received_power(Dbm(0.0), &b), Dbm(-b.total().0));
        assert_eq!(
            Couplers {
                grating: 2,
                edge: 1
            }
            .loss(),
            Decibels(2.0 * 3.0 + 1.5)
        );
    }

    #[test]
    fn receiver_q_is_linear_in_power() {
        let rx = ReceiverModel {
            sensitivity: Dbm(-12.0),
            reference_q: 7.03,
            reference_baud: Gbaud(25.0),
        };
        assert!((rx.q_nrz(Dbm(-12.0), Gbaud(25.0)) - 7.03).abs() < 1e-12);
        // +3 dB of optical power doubles Q.
        assert!((rx.q_nrz(Dbm(-9.0), Gbaud(25.0)) / 7.03 - 1.995_262).abs() < 1e-5);
        // 4× the baud: +6 dB sensitivity (σ ∝ √bandwidth, 10·log10(2) = 3.01 dB per 2× σ).
        assert!((rx.sensitivity_at(Gbaud(100.0)).0 - (-12.0 + 3.0103)).abs() < 1e-3);
        let p = rx.power_for_q(3.49, Gbaud(26.5625));
        assert!((rx.q_nrz(p, Gbaud(26.5625)) - 3.49).abs() < 1e-12);
    }

    #[test]
    fn custom_medium_validation() {
        assert!(
            Medium::Custom {
                loss_db_per_mm: -1.0,
                group_index: 2.0
            }
            .validate()
            .is_err()
        );
        assert!(
            Medium::Custom {
                loss_db_per_mm: 0.1,
                group_index: 0.5
            }
            .validate()
            .is_err()
        );
        assert!(
            Medium::Custom {
                loss_db_per_mm: 0.1,
                group_index: 2.0
            }
            .validate()
            .is_ok()
        );
    }
}

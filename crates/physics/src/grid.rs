//! ITU-T G.694.1 DWDM frequency grids, channels, and snapping requested wavelengths to them.
//!
//! * Fixed grids: f = 193.1 THz + n·Δ, Δ ∈ {100, 50, 25, 12.5} GHz.
//! * Flexible grid: centre f = 193.1 THz + n·6.25 GHz, slot width m·12.5 GHz.
//!
//! (reference/photonics.md §2 Grid.) Lanes are stored as `(grid, n)`; wavelengths are derived.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{PhysicsError, Result};
use crate::units::{Gigahertz, Nanometers, Terahertz};

/// Anchor frequency of every G.694.1 grid.
pub const GRID_ANCHOR: Terahertz = Terahertz(193.1);
/// Flexible-grid centre-frequency granularity (G.694.1 §7).
pub const FLEX_CENTRE_GRANULARITY: Gigahertz = Gigahertz(6.25);
/// Flexible-grid slot-width granularity (G.694.1 §7).
pub const FLEX_SLOT_GRANULARITY: Gigahertz = Gigahertz(12.5);
/// Shortest wavelength the model accepts: start of the O band (ITU-T G.Sup39 band plan).
pub const BAND_MIN: Nanometers = Nanometers(1260.0);
/// Longest wavelength the model accepts: end of the U band (ITU-T G.Sup39 band plan).
pub const BAND_MAX: Nanometers = Nanometers(1675.0);
/// The C band, 1530–1565 nm (ITU-T G.Sup39).
pub const C_BAND: (Nanometers, Nanometers) = (Nanometers(1530.0), Nanometers(1565.0));

/// Slack (in channel-index units) for floating-point comparisons at the edge of a passband.
const EDGE_EPS: f64 = 1e-9;

/// A G.694.1 frequency grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grid {
    /// 100 GHz fixed grid (the default DWDM grid).
    #[default]
    #[serde(rename = "fixed_100ghz")]
    Fixed100,
    /// 50 GHz fixed grid.
    #[serde(rename = "fixed_50ghz")]
    Fixed50,
    /// 25 GHz fixed grid.
    #[serde(rename = "fixed_25ghz")]
    Fixed25,
    /// 12.5 GHz fixed grid.
    #[serde(rename = "fixed_12_5ghz")]
    Fixed12_5,
    /// Flexible grid: centres every 6.25 GHz, slots `slot_m`·12.5 GHz wide (`slot_m` ≥ 1).
    Flex {
        /// Slot width multiplier m.
        slot_m: u16,
    },
}

impl Grid {
    /// Distance between adjacent channel indices n and n+1.
    #[must_use]
    pub fn spacing(self) -> Gigahertz {
        match self {
            Self::Fixed100 => Gigahertz(100.0),
            Self::Fixed50 => Gigahertz(50.0),
            Self::Fixed25 => Gigahertz(25.0),
            Self::Fixed12_5 => Gigahertz(12.5),
            Self::Flex { .. } => FLEX_CENTRE_GRANULARITY,
        }
    }

    /// Width of one channel's passband: the spacing on fixed grids, m·12.5 GHz on the flex grid
    /// (m is taken as at least 1).
    #[must_use]
    pub fn channel_width(self) -> Gigahertz {
        match self {
            Self::Flex { slot_m } => FLEX_SLOT_GRANULARITY * f64::from(slot_m.max(1)),
            fixed => fixed.spacing(),
        }
    }

    /// Centre frequency of channel n.
    #[must_use]
    pub fn frequency(self, n: i32) -> Terahertz {
        GRID_ANCHOR + (self.spacing() * f64::from(n)).to_terahertz()
    }

    /// Centre wavelength of channel n.
    #[must_use]
    pub fn wavelength(self, n: i32) -> Nanometers {
        self.frequency(n).to_wavelength()
    }

    /// The (fractional) channel index of frequency `f`.
    #[must_use]
    pub fn index_of(self, f: Terahertz) -> f64 {
        (f - GRID_ANCHOR).to_gigahertz() / self.spacing()
    }

    /// The channel with index n.
    #[must_use]
    pub const fn channel(self, n: i32) -> Channel {
        Channel { grid: self, n }
    }

    /// Channel indices whose centres lie within `[lo, hi]` (in either order), ascending in n
    /// (i.e. descending in wavelength).
    #[must_use]
    pub fn indices_between(self, lo: Nanometers, hi: Nanometers) -> std::ops::RangeInclusive<i32> {
        let a = self.index_of(lo.to_frequency());
        let b = self.index_of(hi.to_frequency());
        let (min, max) = if a < b { (a, b) } else { (b, a) };
        (min - EDGE_EPS).ceil() as i32..=(max + EDGE_EPS).floor() as i32
    }

    /// Minimum index distance between two channels that do not overlap: 1 on fixed grids,
    /// 2m on the flex grid (slots are 2m centre steps wide).
    #[must_use]
    pub fn min_index_separation(self) -> i32 {
        match self {
            Self::Flex { slot_m } => 2 * i32::from(slot_m.max(1)),
            _ => 1,
        }
    }
}

impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flex { slot_m } => write!(f, "flex grid ({}×12.5 GHz slots)", slot_m.max(&1)),
            fixed => write!(f, "{} GHz grid", fixed.spacing().0),
        }
    }
}

/// One channel of a grid: the unit a lane is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Channel {
    /// The grid.
    pub grid: Grid,
    /// Channel index: f = 193.1 THz + n·spacing.
    pub n: i32,
}

impl Channel {
    /// Centre frequency.
    #[must_use]
    pub fn frequency(self) -> Terahertz {
        self.grid.frequency(self.n)
    }

    /// Centre wavelength.
    #[must_use]
    pub fn wavelength(self) -> Nanometers {
        self.grid.wavelength(self.n)
    }

    /// Passband width.
    #[must_use]
    pub fn width(self) -> Gigahertz {
        self.grid.channel_width()
    }

    /// Lowest and highest frequency of the passband.
    #[must_use]
    pub fn passband(self) -> (Terahertz, Terahertz) {
        let half = (self.width() / 2.0).to_terahertz();
        let f = self.frequency();
        (f - half, f + half)
    }

    /// Whether the passbands of two channels (of any grids) overlap. Adjacent channels that
    /// merely touch do not overlap.
    #[must_use]
    pub fn overlaps(self, other: Channel) -> bool {
        if self.grid == other.grid {
            return (self.n - other.n).abs() < self.grid.min_index_separation();
        }
        let distance = (self.frequency() - other.frequency())
            .to_gigahertz()
            .0
            .abs();
        let reach = (self.width().0 + other.width().0) / 2.0;
        distance < reach - 1e-6
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "channel n={} of the {} ({:.5} THz, {:.3} nm)",
            self.n,
            self.grid,
            self.frequency().0,
            self.wavelength().0
        )
    }
}

fn check_band(lambda: Nanometers) -> Result<()> {
    if lambda.0.is_finite() && lambda >= BAND_MIN && lambda <= BAND_MAX {
        Ok(())
    } else {
        Err(PhysicsError::WavelengthOutOfBand {
            lambda_nm: lambda.0,
        })
    }
}

/// Channel indices whose passband contains `lambda`, nearest centre first (ties: lower n first).
/// On fixed grids that is the nearest channel (two at an exact midpoint); on the flex grid,
/// every centre within half a slot width.
fn candidates(lambda: Nanometers, grid: Grid) -> impl Iterator<Item = i32> {
    let x = grid.index_of(lambda.to_frequency());
    let half = grid.channel_width() / grid.spacing() / 2.0;
    let lo = (x - half - EDGE_EPS).ceil() as i32;
    let hi = (x + half + EDGE_EPS).floor() as i32;
    let mut out: Vec<i32> = (lo..=hi).collect();
    out.sort_by(|a, b| {
        let da = (f64::from(*a) - x).abs();
        let db = (f64::from(*b) - x).abs();
        da.total_cmp(&db).then(a.cmp(b))
    });
    out.into_iter()
}

/// Snaps a requested wavelength to the nearest channel of `grid` for which `free(n)` holds,
/// among the channels whose passband contains the request (within half a channel width:
/// half the spacing on fixed grids, half the slot on the flex grid).
///
/// # Errors
/// `WavelengthOutOfBand` for a non-finite or out-of-band request; `NoFreeChannel`, naming the
/// wavelength, if every channel in reach is taken.
pub fn snap(lambda: Nanometers, grid: Grid, free: impl Fn(i32) -> bool) -> Result<Channel> {
    check_band(lambda)?;
    candidates(lambda, grid)
        .find(|&n| free(n))
        .map(|n| grid.channel(n))
        .ok_or(PhysicsError::NoFreeChannel {
            lambda_nm: lambda.0,
            grid,
            half_width_ghz: grid.channel_width().0 / 2.0,
        })
}

/// Assigns each requested wavelength to a distinct, non-overlapping free channel, in request
/// order: each takes the nearest channel in reach that `free` allows and that no earlier
/// wavelength of the request holds. Greedy by design (deterministic, O(lanes²)); on fixed grids
/// only an exact-midpoint request has a second choice, so it only differs from an exhaustive
/// search in contrived cases.
///
/// The RFC example 1550, 1551, …, 1557 nm resolves to 8 distinct channels of the 100 GHz grid
/// (1 nm ≈ 125 GHz > 100 GHz).
///
/// # Errors
/// As [`snap`], plus `ChannelCollision` naming both wavelengths when the only channels in reach
/// are held by an earlier wavelength of the same request.
pub fn assign_distinct(
    requests: &[Nanometers],
    grid: Grid,
    free: impl Fn(i32) -> bool,
) -> Result<Vec<Channel>> {
    let mut assigned: Vec<(Nanometers, Channel)> = Vec::with_capacity(requests.len());
    for &lambda in requests {
        let clash = |n: i32| {
            assigned
                .iter()
                .find(|(_, c)| c.overlaps(grid.channel(n)))
                .map(|(l, _)| *l)
        };
        match snap(lambda, grid, |n| free(n) && clash(n).is_none()) {
            Ok(channel) => assigned.push((lambda, channel)),
            Err(PhysicsError::NoFreeChannel { .. }) => {
                // Would it have fitted without the earlier wavelengths of this request?
                if let Ok(channel) = snap(lambda, grid, &free)
                    && let Some(other) = clash(channel.n)
                {
                    return Err(PhysicsError::ChannelCollision {
                        lambda_nm: lambda.0,
                        channel,
                        other_lambda_nm: other.0,
                    });
                }
                return Err(PhysicsError::NoFreeChannel {
                    lambda_nm: lambda.0,
                    grid,
                    half_width_ghz: grid.channel_width().0 / 2.0,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(assigned.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_golden() {
        let c = Grid::Fixed100.channel(0);
        assert_eq!(c.frequency(), Terahertz(193.1));
        assert!((c.wavelength().0 - 1552.524).abs() < 5e-4);
        assert!((Grid::Fixed50.frequency(3).0 - 193.25).abs() < 1e-12);
        assert!((Grid::Flex { slot_m: 4 }.frequency(-8).0 - 193.05).abs() < 1e-12);
        assert_eq!(Grid::Flex { slot_m: 4 }.channel_width(), Gigahertz(50.0));
    }

    /// reference/photonics.md §2: 1550 nm is n = 3.14 on the 100 GHz grid.
    #[test]
    fn off_grid_index() {
        let x = Grid::Fixed100.index_of(Nanometers(1550.0).to_frequency());
        assert!((3.13..3.15).contains(&x), "{x}");
        assert_eq!(
            snap(Nanometers(1550.0), Grid::Fixed100, |_| true)
                .unwrap()
                .n,
            3
        );
    }

    /// The RFC example must resolve to 8 distinct channels on the default (100 GHz) grid.
    #[test]
    fn rfc_example_resolves_to_eight_distinct_channels() {
        let req: Vec<Nanometers> = (1550..=1557).map(|l| Nanometers(f64::from(l))).collect();
        let ch = assign_distinct(&req, Grid::default(), |_| true).unwrap();
        let ns: Vec<i32> = ch.iter().map(|c| c.n).collect();
        assert_eq!(ns, vec![3, 2, 1, -1, -2, -3, -4, -6]);
        for (c, l) in ch.iter().zip(&req) {
            let off = (c.frequency() - l.to_frequency()).to_gigahertz().0.abs();
            assert!(off <= 50.0, "{c} is {off} GHz from {l}");
        }
    }

    #[test]
    fn occupied_nearest_is_an_error_naming_the_wavelength() {
        let err = snap(Nanometers(1550.0), Grid::Fixed100, |n| n != 3).unwrap_err();
        assert!(err.to_string().contains("1550 nm"), "{err}");
        assert!(matches!(err, PhysicsError::NoFreeChannel { .. }));
    }

    #[test]
    fn collision_names_both_wavelengths() {
        let req = [Nanometers(1550.0), Nanometers(1550.1)];
        let err = assign_distinct(&req, Grid::Fixed100, |_| true).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("1550.1 nm") && msg.contains("1550 nm"),
            "{msg}"
        );
        // On a 50 GHz grid they still share n = 6 (1550.1 is 6.11, 1550.0 is 6.28) → error,
        // and on 12.5 GHz they separate.
        assert!(assign_distinct(&req, Grid::Fixed50, |_| true).is_err());
        let ok = assign_distinct(&req, Grid::Fixed12_5, |_| true).unwrap();
        assert_ne!(ok[0], ok[1]);
    }

    #[test]
    fn flex_grid_moves_to_a_free_neighbour_within_the_slot() {
        let g = Grid::Flex { slot_m: 2 }; // 25 GHz slots: centres within ±12.5 GHz (±2 steps)
        let first = snap(Nanometers(1550.0), g, |_| true).unwrap();
        let second = snap(Nanometers(1550.0), g, |n| n != first.n).unwrap();
        assert_eq!((second.n - first.n).abs(), 1);
        // Two requests for the same wavelength cannot share overlapping slots.
        let both = assign_distinct(&[Nanometers(1550.0), Nanometers(1550.0)], g, |_| true);
        assert!(both.is_err());
        let req = [Nanometers(1550.0), Nanometers(1550.2)];
        let ch = assign_distinct(&req, g, |_| true).unwrap();
        assert!(!ch[0].overlaps(ch[1]));
    }

    #[test]
    fn out_of_band() {
        for l in [0.0, -1.0, 800.0, 2000.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                snap(Nanometers(l), Grid::Fixed100, |_| true),
                Err(PhysicsError::WavelengthOutOfBand { .. })
            ));
        }
    }

    #[test]
    fn c_band_channel_count() {
        // 1530–1565 nm spans 4.38 THz: 44 channels on the 100 GHz grid.
        let r = Grid::Fixed100.indices_between(C_BAND.0, C_BAND.1);
        assert_eq!(r.clone().count(), 44, "{r:?}");
    }

    #[test]
    fn overlap_rules() {
        let a = Grid::Fixed100.channel(0);
        assert!(a.overlaps(a));
        assert!(!a.overlaps(Grid::Fixed100.channel(1)));
        // 50 GHz channel n=1 sits at +50 GHz: its passband ±25 GHz overlaps 100 GHz n=0 (±50).
        assert!(a.overlaps(Grid::Fixed50.channel(1)));
        assert!(!a.overlaps(Grid::Fixed50.channel(3)));
        let f = Grid::Flex { slot_m: 4 };
        assert!(f.channel(0).overlaps(f.channel(7)));
        assert!(!f.channel(0).overlaps(f.channel(8)));
    }
}

//! Wavelength (and route) assignment policies.
//!
//! The planner hands a policy the candidate paths of a request that pass every physical check
//! (reach, latency, BER), shortest first, each with its continuous free mask; the policy picks a
//! path and `lanes` wavelengths free along it, or gives up.

use crate::graph::LinkId;
use crate::ksp::Path;
use crate::occupancy::{Mask, Occupancy};

mod max_sum;

pub use max_sum::{MAX_SUM_EXTRA_HOPS, MaxSum};

/// A physically feasible candidate path with the slots free along all its links.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Rank of the path among the pair's k shortest (0 = shortest).
    pub rank: usize,
    /// The path.
    pub path: &'a Path,
    /// Slots free on every link of the path.
    pub free: Mask,
}

/// A policy's pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Position in the candidate slice.
    pub candidate: usize,
    /// Exactly `lanes` slots, all free along the candidate's path.
    pub channels: Mask,
}

/// Picks a (path, wavelengths) for a request.
pub trait WavelengthPolicy: std::fmt::Debug + Send + Sync {
    /// Short name, for tables.
    fn name(&self) -> &str;
    /// Picks among `candidates` (non-empty, shortest first) for `lanes` wavelengths, against
    /// the snapshot `occ`. `None` blocks the request.
    fn choose(&self, occ: &Occupancy, lanes: u32, candidates: &[Candidate<'_>]) -> Option<Choice>;
}

/// The `lanes` lowest slots of `free` (First-Fit), if it has that many.
#[must_use]
#[inline]
pub fn first_fit(free: Mask, lanes: u32) -> Option<Mask> {
    if free.count_ones() < lanes {
        return None;
    }
    let mut rest = free;
    let mut out = 0;
    for _ in 0..lanes {
        let low = rest & rest.wrapping_neg();
        out |= low;
        rest &= !low;
    }
    Some(out)
}

/// The `lanes` slots of `free` busy on the most links network-wide (Most-Used / PACK), ties to
/// the lowest index.
#[must_use]
pub fn most_used(occ: &Occupancy, free: Mask, lanes: u32) -> Option<Mask> {
    if free.count_ones() < lanes {
        return None;
    }
    let load = occ.lambda_links();
    let mut out = 0u128;
    for _ in 0..lanes {
        let mut best: Option<(u32, u32)> = None;
        let mut rest = free & !out;
        while rest != 0 {
            let w = rest.trailing_zeros();
            rest &= rest - 1;
            let l = load[w as usize];
            if best.is_none_or(|(bl, _)| l > bl) {
                best = Some((l, w));
            }
        }
        out |= 1u128 << best?.1;
    }
    Some(out)
}

/// How a policy picks wavelengths on its chosen path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assign {
    /// Lowest free indices.
    #[default]
    FirstFit,
    /// Indices busy on the most links (packing).
    MostUsed,
}

impl Assign {
    fn pick(self, occ: &Occupancy, free: Mask, lanes: u32) -> Option<Mask> {
        match self {
            Self::FirstFit => first_fit(free, lanes),
            Self::MostUsed => most_used(occ, free, lanes),
        }
    }
}

/// The baseline: First-Fit on the fixed shortest (physically feasible) path. Blocks when that
/// path lacks `lanes` continuous wavelengths, whatever the alternatives.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirstFitShortest;

impl WavelengthPolicy for FirstFitShortest {
    fn name(&self) -> &str {
        "FF-SP"
    }

    fn choose(&self, _occ: &Occupancy, lanes: u32, candidates: &[Candidate<'_>]) -> Option<Choice> {
        let c = candidates.first()?;
        Some(Choice {
            candidate: 0,
            channels: first_fit(c.free, lanes)?,
        })
    }
}

/// Fewest free slots over the links of a path (its bottleneck).
#[must_use]
pub fn bottleneck(occ: &Occupancy, links: &[LinkId]) -> u32 {
    links
        .iter()
        .map(|&l| occ.free(l).count_ones())
        .min()
        .unwrap_or(0)
}

/// Adaptive k-shortest-path routing with trunk reservation (the default before [`MaxSum`]; it
/// blocks more than plain [`KspFirstFit`] below overload, see the `blocking` bench).
///
/// The shortest feasible path is taken whenever it has `lanes` continuous wavelengths. Otherwise
/// the request is *deflected* to the first alternate path that (a) is at most `max_extra_hops`
/// longer in hops than the shortest and (b) keeps, on every link, at least `reserve` slots free
/// beyond the `lanes` it takes. (b) is trunk reservation (Ott & Krishnan; Key's analysis of
/// dynamic alternative routing): a deflected request holds more links than a direct one, so it
/// is only admitted on links with spare capacity, which keeps alternate routing from
/// destabilising the network at high load while it soaks up the random peaks that block the
/// fixed-path baseline at moderate load. Wavelengths are picked by `assign`.
#[derive(Debug, Clone, Copy)]
pub struct AdaptiveKsp {
    /// Longest detour, in hops over the shortest candidate.
    pub max_extra_hops: usize,
    /// Slots per link kept free for direct traffic when deflecting.
    pub reserve: u32,
    /// Wavelength choice on the chosen path.
    pub assign: Assign,
}

impl Default for AdaptiveKsp {
    fn default() -> Self {
        Self {
            max_extra_hops: 3,
            reserve: 1,
            assign: Assign::MostUsed,
        }
    }
}

impl WavelengthPolicy for AdaptiveKsp {
    fn name(&self) -> &str {
        "adaptive-ksp"
    }

    fn choose(&self, occ: &Occupancy, lanes: u32, candidates: &[Candidate<'_>]) -> Option<Choice> {
        let first = candidates.first()?;
        if let Some(channels) = self.assign.pick(occ, first.free, lanes) {
            return Some(Choice {
                candidate: 0,
                channels,
            });
        }
        let hop_limit = first.path.hops() + self.max_extra_hops;
        for (i, c) in candidates.iter().enumerate().skip(1) {
            if c.path.hops() > hop_limit || c.free.count_ones() < lanes {
                continue;
            }
            if self.reserve > 0 && bottleneck(occ, &c.path.links) < lanes + self.reserve {
                continue;
            }
            if let Some(channels) = self.assign.pick(occ, c.free, lanes) {
                return Some(Choice {
                    candidate: i,
                    channels,
                });
            }
        }
        None
    }
}

/// Shortest-available-path First-Fit over the k candidates, without reservation (for
/// comparison: the textbook "fixed-alternate routing").
#[derive(Debug, Clone, Copy, Default)]
pub struct KspFirstFit;

impl WavelengthPolicy for KspFirstFit {
    fn name(&self) -> &str {
        "ksp-ff"
    }

    fn choose(&self, _occ: &Occupancy, lanes: u32, candidates: &[Candidate<'_>]) -> Option<Choice> {
        candidates.iter().enumerate().find_map(|(i, c)| {
            first_fit(c.free, lanes).map(|channels| Choice {
                candidate: i,
                channels,
            })
        })
    }
}

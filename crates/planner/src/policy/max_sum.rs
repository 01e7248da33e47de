//! Max-Sum routing and wavelength assignment (the default policy).

use std::sync::Arc;

use crate::graph::{LinkId, NodeId};
use crate::ksp::Path;
use crate::occupancy::{Mask, Occupancy};
use crate::planner::Planner;

use super::{Candidate, Choice, KspFirstFit, WavelengthPolicy};

/// Max-Sum (MΣ) routing and wavelength assignment over the k candidate paths: the default
/// policy (`MaxSum::new(&planner)`; it needs the planner's routes, so it has no `Default`).
///
/// Among every physically feasible candidate path (up to `max_extra_hops` longer than the
/// shortest) and every set of `lanes` wavelengths free along it, picks the one that leaves the
/// largest total capacity over a fixed set of *protected routes* — the `depth` shortest paths
/// of every node pair — where the capacity of a route is the number of wavelengths free along
/// all its links. Taking wavelength λ on path p removes one unit of capacity from every
/// protected route that shares a link with p and has λ free end to end, so maximising the sum
/// is minimising that count (the *loss*), which is additive over the `lanes` wavelengths.
/// Ties go to the shorter path, then to the lower wavelength (First-Fit).
///
/// References: the MΣ heuristic of S. Baroni and P. Bayvel ("Wavelength requirements in
/// arbitrarily connected wavelength-routed optical networks", J. Lightwave Technol. 15(2),
/// 1997; S. Baroni, P. Bayvel, R. J. Gibbens and S. K. Korotky, J. Lightwave Technol. 17(5),
/// 1999), as surveyed beside Relative Capacity Loss in H. Zang, J. P. Jue and B. Mukherjee, "A
/// review of routing and wavelength assignment approaches for wavelength-routed optical WDM
/// networks", Optical Networks Magazine 1(1), 2000. We apply it across the k candidate paths
/// (route and wavelength chosen together), with the pairs' shortest paths as the route set.
///
/// Unlike k-SP First-Fit, which takes the first candidate with *any* free wavelength, Max-Sum
/// weighs the detour's cost: a longer path crosses more protected routes and so loses more,
/// and a wavelength already busy around the path (free on few routes) is cheap to take. That
/// is what packs wavelengths and keeps continuous capacity for the pairs still to come.
///
/// Cost: [`MaxSum::new`] indexes the protected routes by link and, for each of the planner's
/// candidate paths, counts the routes lying wholly on it and lists the others crossing it. A
/// decision computes every route's free mask once, adds the crossing routes' masks into
/// bit-sliced per-wavelength counters (a few `u128` operations per route) and reads the
/// minimum-count wavelengths out of the slices — no per-wavelength loop; a path is dropped as
/// soon as its count cannot beat the best so far.
#[derive(Debug, Clone)]
pub struct MaxSum {
    /// Links of protected route `r`: `route_links[route_at[r]..route_at[r + 1]]`.
    route_links: Vec<LinkId>,
    route_at: Vec<usize>,
    /// Bitset of the routes through link `l`: `through[l * words..(l + 1) * words]`.
    through: Vec<u64>,
    /// `u64` words per route bitset.
    words: usize,
    /// Bits a per-wavelength loss count needs (the route count fits in it).
    count_bits: usize,
    /// The planner's candidate paths, by `(src × nodes + dst) × k + rank`, each with the
    /// number of protected routes lying wholly on it (`contained`) and the bitset of the
    /// other protected routes that share a link with it (`outside`, `words` per path).
    paths: Vec<Option<Arc<Path>>>,
    k: usize,
    nodes: usize,
    contained: Vec<u32>,
    outside: Vec<u64>,
    /// Longest detour considered, in hops over the shortest candidate.
    pub max_extra_hops: usize,
}

/// Detour bound of [`MaxSum::new`]: a path three hops longer than the shortest already crosses
/// so many routes that Max-Sum almost never picks it, and skipping it saves the counting.
pub const MAX_SUM_EXTRA_HOPS: usize = 3;

/// Bit-sliced per-wavelength counters: slice `b` holds bit `b` of every wavelength's count.
struct SlicedCounts {
    slices: [Mask; 32],
    bits: usize,
}

impl SlicedCounts {
    fn new(bits: usize) -> Self {
        Self {
            slices: [0; 32],
            bits: bits.min(32),
        }
    }

    /// Adds one to the count of every wavelength in `m` (ripple-carry across the slices).
    #[inline]
    fn add(&mut self, m: Mask) {
        let mut carry = m;
        for s in &mut self.slices[..self.bits] {
            if carry == 0 {
                break;
            }
            let next = *s & carry;
            *s ^= carry;
            carry = next;
        }
    }

    /// The `lanes` wavelengths of `free` (at least `lanes` of them) with the smallest counts,
    /// ties to the lowest index, and the sum of their counts.
    fn cheapest(&self, free: Mask, lanes: u32) -> (Mask, u32) {
        let mut chosen: Mask = 0;
        let mut total = 0u32;
        for _ in 0..lanes {
            let (set, count) = self.minimum(free & !chosen);
            chosen |= set & set.wrapping_neg();
            total += count;
        }
        (chosen, total)
    }

    /// The wavelengths of `among` (non-empty) whose count is smallest, and that count.
    fn minimum(&self, among: Mask) -> (Mask, u32) {
        let mut set = among;
        let mut count = 0u32;
        for b in (0..self.bits).rev() {
            let zero = set & !self.slices[b];
            if zero == 0 {
                count |= 1 << b;
            } else {
                set = zero;
            }
        }
        (set, count)
    }
}

impl MaxSum {
    /// Max-Sum over `planner`'s candidate paths, protecting the shortest path of every pair
    /// (`depth` 1: the routes traffic takes first, so their capacity is what blocking depends
    /// on), with the [`MAX_SUM_EXTRA_HOPS`] detour bound.
    #[must_use]
    pub fn new(planner: &Planner) -> Self {
        Self::with_depth(planner, 1)
    }

    /// Max-Sum protecting the `depth` shortest paths of every unordered node pair.
    #[must_use]
    pub fn with_depth(planner: &Planner, depth: usize) -> Self {
        let topo = planner.topology();
        let n = topo.node_count();
        let mut route_links = Vec::new();
        let mut route_at = vec![0];
        for a in 0..n {
            for b in a + 1..n {
                #[allow(clippy::cast_possible_truncation)]
                let (src, dst) = (NodeId(a as u32), NodeId(b as u32));
                for p in planner.paths().get(src, dst).iter().take(depth) {
                    route_links.extend_from_slice(&p.links);
                    route_at.push(route_links.len());
                }
            }
        }
        let routes = route_at.len() - 1;
        let words = routes.div_ceil(64).max(1);
        let mut through = vec![0u64; topo.link_count() * words];
        for r in 0..routes {
            for l in &route_links[route_at[r]..route_at[r + 1]] {
                through[l.index() * words + r / 64] |= 1 << (r % 64);
            }
        }
        let count_bits = (usize::BITS - routes.leading_zeros()).max(1) as usize;
        let k = planner.paths().k();
        let slots = n * n * k;
        let mut paths = vec![None; slots];
        let mut contained = vec![0u32; slots];
        let mut outside = vec![0u64; slots * words];
        for a in 0..n {
            for b in 0..n {
                #[allow(clippy::cast_possible_truncation)]
                let cands = planner.paths().get(NodeId(a as u32), NodeId(b as u32));
                for (rank, p) in cands.iter().enumerate().take(k) {
                    let slot = (a * n + b) * k + rank;
                    let set = &mut outside[slot * words..(slot + 1) * words];
                    for l in &p.links {
                        let through = &through[l.index() * words..(l.index() + 1) * words];
                        set.iter_mut().zip(through).for_each(|(o, t)| *o |= t);
                    }
                    for r in 0..routes {
                        let route = &route_links[route_at[r]..route_at[r + 1]];
                        if route.iter().all(|l| p.links.contains(l)) {
                            contained[slot] += 1;
                            set[r / 64] &= !(1 << (r % 64));
                        }
                    }
                    paths[slot] = Some(Arc::clone(p));
                }
            }
        }
        Self {
            route_links,
            route_at,
            through,
            words,
            count_bits,
            paths,
            k,
            nodes: n,
            contained,
            outside,
            max_extra_hops: MAX_SUM_EXTRA_HOPS,
        }
    }

    /// Number of protected routes.
    #[must_use]
    pub fn routes(&self) -> usize {
        self.route_at.len() - 1
    }

    /// The capacity `channels` would take from the protected routes if granted along `links`:
    /// for each wavelength of `channels`, the protected routes that share a link with `links`
    /// and have it free end to end. Counted route by route (the reference that the bit-sliced
    /// decision path must agree with; also what a caller can log to explain a choice).
    #[must_use]
    pub fn loss(&self, occ: &Occupancy, links: &[LinkId], channels: Mask) -> u32 {
        self.route_at
            .windows(2)
            .map(|w| &self.route_links[w[0]..w[1]])
            .filter(|route| route.iter().any(|l| links.contains(l)))
            .map(|route| (occ.free_along(route) & channels).count_ones())
            .sum()
    }

    /// Free mask of every protected route (wavelength continuity along it), or `None` when
    /// `occ` is not of the topology this index was built for.
    fn route_free(&self, occ: &Occupancy) -> Option<Vec<Mask>> {
        if self.through.len() != occ.link_count() * self.words {
            return None;
        }
        // Each link's free mask once, then each route's as the AND over its links.
        let link_free: Vec<Mask> = (0..occ.link_count())
            .map(|l| {
                #[allow(clippy::cast_possible_truncation)]
                occ.free(LinkId(l as u32))
            })
            .collect();
        Some(
            self.route_at
                .windows(2)
                .map(|w| {
                    self.route_links[w[0]..w[1]]
                        .iter()
                        .fold(Mask::MAX, |m, l| m & link_free[l.index()])
                })
                .collect(),
        )
    }

    /// Where `c` sits in the precomputed tables, if it is one of the planner's own paths.
    fn slot(&self, c: &Candidate<'_>) -> Option<usize> {
        let src = c.path.nodes.first()?.index();
        let dst = c.path.nodes.last()?.index();
        if src >= self.nodes || dst >= self.nodes || c.rank >= self.k {
            return None;
        }
        let slot = (src * self.nodes + dst) * self.k + c.rank;
        let known = self.paths[slot].as_ref()?;
        std::ptr::eq(&**known, c.path).then_some(slot)
    }

    /// The `lanes` wavelengths free along candidate `c` whose loss is smallest, and their
    /// total loss (see the type's documentation); `None` when `c` lacks `lanes` free
    /// wavelengths or cannot get below `bound` (the best so far). `route_free` is
    /// [`Self::route_free`].
    ///
    /// A protected route lying wholly on the path has every wavelength of the path free, so
    /// it adds exactly one to each: those are counted once per path in advance (`contained`),
    /// which also rules a path out before any counting when `lanes × contained` alone
    /// reaches `bound`. The other crossing routes go through the bit-sliced counters.
    fn cheapest(
        &self,
        route_free: &[Mask],
        c: &Candidate<'_>,
        lanes: u32,
        bound: u32,
    ) -> Option<(Mask, u32)> {
        let free = c.free;
        if free.count_ones() < lanes {
            return None;
        }
        // The routes sharing a link with the path: at most four words inline (256 routes,
        // enough for the 91 pairs of NSFNET), more on the heap.
        let mut inline = [0u64; 4];
        let mut heap = Vec::new();
        let crossing: &mut [u64] = if self.words <= inline.len() {
            &mut inline[..self.words]
        } else {
            heap.resize(self.words, 0);
            &mut heap
        };
        let base = if let Some(slot) = self.slot(c) {
            crossing.copy_from_slice(&self.outside[slot * self.words..(slot + 1) * self.words]);
            lanes * self.contained[slot]
        } else {
            for l in &c.path.links {
                let set = &self.through[l.index() * self.words..(l.index() + 1) * self.words];
                crossing.iter_mut().zip(set).for_each(|(c, s)| *c |= s);
            }
            0
        };
        if base >= bound {
            return None;
        }
        let mut counts = SlicedCounts::new(self.count_bits);
        let mut added = 0u32;
        for (w, &bits) in crossing.iter().enumerate() {
            let mut rest = bits;
            while rest != 0 {
                let r = w * 64 + rest.trailing_zeros() as usize;
                rest &= rest - 1;
                counts.add(route_free[r] & free);
                added += 1;
                // Counts only grow: once the cheapest choice so far costs `bound`, give up.
                if added.is_multiple_of(16) && base + counts.cheapest(free, lanes).1 >= bound {
                    return None;
                }
            }
        }
        let (chosen, loss) = counts.cheapest(free, lanes);
        (base + loss < bound).then_some((chosen, base + loss))
    }
}

impl WavelengthPolicy for MaxSum {
    fn name(&self) -> &str {
        "max-sum"
    }

    fn choose(&self, occ: &Occupancy, lanes: u32, candidates: &[Candidate<'_>]) -> Option<Choice> {
        let hop_limit = candidates.first()?.path.hops() + self.max_extra_hops;
        let Some(route_free) = self.route_free(occ) else {
            // Built for another topology: no meaningful capacity to weigh.
            return KspFirstFit.choose(occ, lanes, candidates);
        };
        let mut best: Option<(u32, Choice)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if c.path.hops() > hop_limit {
                continue;
            }
            let bound = best.map_or(u32::MAX, |(b, _)| b);
            if let Some((channels, loss)) = self.cheapest(&route_free, c, lanes, bound) {
                best = Some((
                    loss,
                    Choice {
                        candidate: i,
                        channels,
                    },
                ));
            }
        }
        best.map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests;

//! Per-link wavelength occupancy as `u128` bitsets (bit `i` = wavelength slot `i`) and per-node
//! module-lane occupancy as `u32` bitsets (bit `i` = module lane `i + 1`), with the grants that
//! hold them.
//!
//! Wavelength continuity along a path is the AND of its links' free masks. An [`Occupancy`]
//! carries a revision that every mutation bumps: the planner decides against an immutable
//! `&Occupancy`, and [`Occupancy::apply`] refuses a decision made against another revision —
//! the compare-and-swap the service runs inside one store transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::graph::{Graph, LinkId, MAX_MODULE_LANES, MAX_WAVELENGTHS, NodeId};

/// A set of wavelength slots.
pub type Mask = u128;

/// A set of module lanes of one node: bit `i` is lane `i + 1` (CMIS numbers lanes from 1).
pub type LaneMask = u32;

/// The lanes `1..=n` (bits `0..n`).
#[must_use]
pub fn full_lanes(n: u8) -> LaneMask {
    if n >= MAX_MODULE_LANES {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

/// The slots `0..w`.
#[must_use]
pub fn full_mask(w: u16) -> Mask {
    if w >= 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

/// The slot indices in `m`, ascending.
#[must_use]
pub fn mask_indices(m: Mask) -> Vec<u16> {
    let mut out = Vec::with_capacity(m.count_ones() as usize);
    let mut rest = m;
    while rest != 0 {
        #[allow(clippy::cast_possible_truncation)]
        out.push(rest.trailing_zeros() as u16);
        rest &= rest - 1;
    }
    out
}

/// The mask of slot indices (indices ≥ 128 are ignored).
#[must_use]
pub fn mask_of(indices: &[u16]) -> Mask {
    indices
        .iter()
        .filter(|&&i| i < MAX_WAVELENGTHS)
        .fold(0, |m, &i| m | (1u128 << i))
}

/// Identifier of a grant (a corridor's hold on wavelengths along a path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GrantId(pub u64);

/// QoS class, `Gold > Silver > Bronze`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Qos {
    /// Best effort; may be pre-empted by gold.
    #[default]
    Bronze,
    /// Not pre-emptible, no precedence.
    Silver,
    /// Shortest feasible path; may pre-empt bronze.
    Gold,
}

/// A grant: wavelengths `channels` held on every link of `links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Id.
    pub id: GrantId,
    /// QoS class.
    pub qos: Qos,
    /// Links held.
    pub links: Vec<LinkId>,
    /// Wavelength slots held on each of them.
    pub channels: Mask,
    /// Module lanes held, per node (each node once; empty when the nodes have none).
    pub module_lanes: Vec<(NodeId, LaneMask)>,
}

/// Why a mutation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OccupancyError {
    /// The decision was made against another revision (compare-and-swap failed).
    #[error("stale decision: made at revision {decided}, occupancy is at {current}")]
    Stale {
        /// Revision the decision was made against.
        decided: u64,
        /// Current revision.
        current: u64,
    },
    /// The grant id is already in use.
    #[error("grant {0:?} already exists")]
    DuplicateGrant(GrantId),
    /// A grant to pre-empt does not exist or is not bronze.
    #[error("grant {0:?} cannot be pre-empted (missing or not bronze)")]
    NotPreemptible(GrantId),
    /// A wavelength is busy (or beyond the link's slots) on a link.
    #[error("wavelengths {channels:#x} not free on link {link:?}")]
    Busy {
        /// Link.
        link: LinkId,
        /// Conflicting slots.
        channels: Mask,
    },
    /// A module lane is busy (or beyond the node's lanes) on a node.
    #[error("module lanes {lanes:#x} not free on node {node:?}")]
    LanesBusy {
        /// Node.
        node: NodeId,
        /// Conflicting lanes.
        lanes: LaneMask,
    },
    /// A link or node id out of range, an empty grant, or a repeated link or node.
    #[error("invalid grant: {0}")]
    Invalid(&'static str),
}

const NO_OWNER: u64 = u64::MAX;

/// Wavelength occupancy of every link, the grants holding it, and a revision.
#[derive(Debug, Clone)]
pub struct Occupancy {
    revision: u64,
    capacity: Vec<Mask>,
    used: Vec<Mask>,
    bronze: Vec<Mask>,
    owner: Vec<u64>,
    grants: BTreeMap<GrantId, Grant>,
    lambda_links: [u32; 128],
    /// Module lanes per node: what exists, what is held, what bronze holds, and by whom
    /// (`MAX_MODULE_LANES` owners per node).
    lane_capacity: Vec<LaneMask>,
    lanes_used: Vec<LaneMask>,
    lanes_bronze: Vec<LaneMask>,
    lane_owner: Vec<u64>,
    any_lanes: bool,
}

const LANES: usize = MAX_MODULE_LANES as usize;

impl Occupancy {
    /// Empty occupancy at revision 0.
    #[must_use]
    pub fn new(topo: &Graph) -> Self {
        let n = topo.link_count();
        let lane_capacity: Vec<LaneMask> = (0..topo.node_count())
            .map(|i| {
                #[allow(clippy::cast_possible_truncation)]
                let node = NodeId(i as u32);
                full_lanes(topo.node(node).module_lanes)
            })
            .collect();
        Self {
            revision: 0,
            capacity: topo
                .links()
                .iter()
                .map(|l| full_mask(l.wavelengths))
                .collect(),
            used: vec![0; n],
            bronze: vec![0; n],
            owner: vec![NO_OWNER; n * 128],
            grants: BTreeMap::new(),
            lambda_links: [0; 128],
            any_lanes: lane_capacity.iter().any(|&c| c != 0),
            lane_capacity,
            lanes_used: vec![0; topo.node_count()],
            lanes_bronze: vec![0; topo.node_count()],
            lane_owner: vec![NO_OWNER; topo.node_count() * LANES],
        }
    }

    /// Rebuilds the occupancy from the ledger's grants.
    ///
    /// # Errors
    /// As [`Occupancy::grant`] (overlapping grants are refused).
    pub fn from_grants(
        topo: &Graph,
        grants: impl IntoIterator<Item = Grant>,
    ) -> Result<Self, OccupancyError> {
        let mut o = Self::new(topo);
        for g in grants {
            o.grant(g)?;
        }
        Ok(o)
    }

    /// Revision: bumped by every successful mutation.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Number of links.
    #[must_use]
    pub fn link_count(&self) -> usize {
        self.used.len()
    }

    /// Number of nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.lane_capacity.len()
    }

    /// Whether any node has module lanes (if none does, planning is wavelengths only).
    #[must_use]
    #[inline]
    pub fn has_module_lanes(&self) -> bool {
        self.any_lanes
    }

    /// Free slots on `link`.
    #[must_use]
    #[inline]
    pub fn free(&self, link: LinkId) -> Mask {
        self.capacity[link.index()] & !self.used[link.index()]
    }

    /// Busy slots on `link`.
    #[must_use]
    pub fn used(&self, link: LinkId) -> Mask {
        self.used[link.index()]
    }

    /// Slots free on every link of `links` (wavelength continuity).
    #[must_use]
    #[inline]
    pub fn free_along(&self, links: &[LinkId]) -> Mask {
        links.iter().fold(u128::MAX, |m, &l| m & self.free(l))
    }

    /// Slots that are free or held by bronze grants on every link of `links`.
    #[must_use]
    pub fn preemptible_along(&self, links: &[LinkId]) -> Mask {
        links.iter().fold(u128::MAX, |m, &l| {
            m & self.capacity[l.index()] & (!self.used[l.index()] | self.bronze[l.index()])
        })
    }

    /// Module lanes of `node` (all of them, held or not).
    #[must_use]
    #[inline]
    pub fn module_lanes(&self, node: NodeId) -> LaneMask {
        self.lane_capacity[node.index()]
    }

    /// Free module lanes of `node`.
    #[must_use]
    #[inline]
    pub fn free_lanes(&self, node: NodeId) -> LaneMask {
        self.lane_capacity[node.index()] & !self.lanes_used[node.index()]
    }

    /// Module lanes of `node` that are free or held by bronze grants.
    #[must_use]
    pub fn preemptible_lanes(&self, node: NodeId) -> LaneMask {
        self.lane_capacity[node.index()]
            & (!self.lanes_used[node.index()] | self.lanes_bronze[node.index()])
    }

    /// The grant holding module-lane bit `bit` (lane `bit + 1`) of `node`.
    #[must_use]
    pub fn lane_owner(&self, node: NodeId, bit: u8) -> Option<GrantId> {
        let o = *self
            .lane_owner
            .get(node.index() * LANES + usize::from(bit))?;
        (o != NO_OWNER).then_some(GrantId(o))
    }

    /// The grant holding slot `lambda` on `link`.
    #[must_use]
    pub fn owner(&self, link: LinkId, lambda: u16) -> Option<GrantId> {
        let o = *self.owner.get(link.index() * 128 + usize::from(lambda))?;
        (o != NO_OWNER).then_some(GrantId(o))
    }

    /// A grant by id.
    #[must_use]
    pub fn get(&self, id: GrantId) -> Option<&Grant> {
        self.grants.get(&id)
    }

    /// All grants, by id.
    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.grants.values()
    }

    /// Number of grants.
    #[must_use]
    pub fn grant_count(&self) -> usize {
        self.grants.len()
    }

    /// For each slot, the number of links on which it is busy (for Most-Used packing).
    #[must_use]
    pub fn lambda_links(&self) -> &[u32; 128] {
        &self.lambda_links
    }

    /// Total busy (link, slot) pairs.
    #[must_use]
    pub fn busy_slots(&self) -> u64 {
        self.used.iter().map(|m| u64::from(m.count_ones())).sum()
    }

    /// Records `g`: its slots must be free on each of its (distinct, in-range) links.
    ///
    /// # Errors
    /// [`OccupancyError::DuplicateGrant`], [`OccupancyError::Busy`] or
    /// [`OccupancyError::Invalid`]; nothing changes on error.
    pub fn grant(&mut self, g: Grant) -> Result<(), OccupancyError> {
        if self.grants.contains_key(&g.id) {
            return Err(OccupancyError::DuplicateGrant(g.id));
        }
        if g.id.0 == NO_OWNER {
            return Err(OccupancyError::Invalid("grant id u64::MAX is reserved"));
        }
        if g.links.is_empty() || g.channels == 0 {
            return Err(OccupancyError::Invalid("grant without links or channels"));
        }
        for (i, &l) in g.links.iter().enumerate() {
            if l.index() >= self.used.len() {
                return Err(OccupancyError::Invalid("link out of range"));
            }
            if g.links[..i].contains(&l) {
                return Err(OccupancyError::Invalid("link repeated"));
            }
            let conflict = g.channels & !self.free(l);
            if conflict != 0 {
                return Err(OccupancyError::Busy {
                    link: l,
                    channels: conflict,
                });
            }
        }
        for (i, &(n, lanes)) in g.module_lanes.iter().enumerate() {
            if n.index() >= self.lanes_used.len() {
                return Err(OccupancyError::Invalid("node out of range"));
            }
            if g.module_lanes[..i].iter().any(|&(m, _)| m == n) {
                return Err(OccupancyError::Invalid("node repeated"));
            }
            let conflict = lanes & !self.free_lanes(n);
            if conflict != 0 {
                return Err(OccupancyError::LanesBusy {
                    node: n,
                    lanes: conflict,
                });
            }
        }
        for &(n, lanes) in &g.module_lanes {
            self.hold_lanes(n, lanes, g.id, g.qos);
        }
        let lambdas = mask_indices(g.channels);
        for &l in &g.links {
            self.used[l.index()] |= g.channels;
            if g.qos == Qos::Bronze {
                self.bronze[l.index()] |= g.channels;
            }
            for &w in &lambdas {
                self.owner[l.index() * 128 + usize::from(w)] = g.id.0;
            }
        }
        #[allow(clippy::cast_possible_truncation)]
        let hops = g.links.len() as u32;
        for &w in &lambdas {
            self.lambda_links[usize::from(w)] += hops;
        }
        self.grants.insert(g.id, g);
        self.revision += 1;
        Ok(())
    }

    fn hold_lanes(&mut self, n: NodeId, lanes: LaneMask, id: GrantId, qos: Qos) {
        self.lanes_used[n.index()] |= lanes;
        if qos == Qos::Bronze {
            self.lanes_bronze[n.index()] |= lanes;
        }
        let mut rest = lanes;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            self.lane_owner[n.index() * LANES + bit] = id.0;
        }
    }

    /// Releases grant `id`, returning it (`None`, and no revision bump, if unknown).
    pub fn release(&mut self, id: GrantId) -> Option<Grant> {
        let g = self.grants.remove(&id)?;
        for &(n, lanes) in &g.module_lanes {
            self.lanes_used[n.index()] &= !lanes;
            self.lanes_bronze[n.index()] &= !lanes;
            let mut rest = lanes;
            while rest != 0 {
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                self.lane_owner[n.index() * LANES + bit] = NO_OWNER;
            }
        }
        let lambdas = mask_indices(g.channels);
        for &l in &g.links {
            self.used[l.index()] &= !g.channels;
            self.bronze[l.index()] &= !g.channels;
            for &w in &lambdas {
                self.owner[l.index() * 128 + usize::from(w)] = NO_OWNER;
            }
        }
        #[allow(clippy::cast_possible_truncation)]
        let hops = g.links.len() as u32;
        for &w in &lambdas {
            self.lambda_links[usize::from(w)] -= hops;
        }
        self.revision += 1;
        Some(g)
    }

    /// Checks every derived structure against the grants (for tests and audits).
    ///
    /// # Errors
    /// A description of the first inconsistency.
    pub fn check_consistency(&self) -> Result<(), String> {
        let n = self.used.len();
        let mut used = vec![0u128; n];
        let mut bronze = vec![0u128; n];
        let mut lambda_links = [0u32; 128];
        for g in self.grants.values() {
            for &l in &g.links {
                if used[l.index()] & g.channels != 0 {
                    return Err(format!("link {l:?}: grants overlap"));
                }
                used[l.index()] |= g.channels;
                if g.qos == Qos::Bronze {
                    bronze[l.index()] |= g.channels;
                }
                for w in mask_indices(g.channels) {
                    lambda_links[usize::from(w)] += 1;
                    if self.owner[l.index() * 128 + usize::from(w)] != g.id.0 {
                        return Err(format!("link {l:?} slot {w}: owner mismatch"));
                    }
                }
            }
        }
        for l in 0..n {
            if used[l] != self.used[l] || bronze[l] != self.bronze[l] {
                return Err(format!("link {l}: masks differ from grants"));
            }
            if used[l] & !self.capacity[l] != 0 {
                return Err(format!("link {l}: slot beyond capacity"));
            }
            for w in 0..128 {
                let owned = self.owner[l * 128 + w] != NO_OWNER;
                if owned != (used[l] >> w & 1 == 1) {
                    return Err(format!("link {l} slot {w}: stale owner"));
                }
            }
        }
        if lambda_links != self.lambda_links {
            return Err("per-wavelength link counts differ".into());
        }
        let nodes = self.lanes_used.len();
        let mut lanes_used = vec![0u32; nodes];
        let mut lanes_bronze = vec![0u32; nodes];
        for g in self.grants.values() {
            for &(n, lanes) in &g.module_lanes {
                if lanes_used[n.index()] & lanes != 0 {
                    return Err(format!("node {n:?}: module lanes overlap"));
                }
                lanes_used[n.index()] |= lanes;
                if g.qos == Qos::Bronze {
                    lanes_bronze[n.index()] |= lanes;
                }
                for bit in 0..LANES {
                    if lanes >> bit & 1 == 1 && self.lane_owner[n.index() * LANES + bit] != g.id.0 {
                        return Err(format!("node {n:?} lane bit {bit}: owner mismatch"));
                    }
                }
            }
        }
        for n in 0..nodes {
            if lanes_used[n] != self.lanes_used[n] || lanes_bronze[n] != self.lanes_bronze[n] {
                return Err(format!("node {n}: lane masks differ from grants"));
            }
            if lanes_used[n] & !self.lane_capacity[n] != 0 {
                return Err(format!("node {n}: lane beyond the module's"));
            }
            for bit in 0..LANES {
                let owned = self.lane_owner[n * LANES + bit] != NO_OWNER;
                if owned != (lanes_used[n] >> bit & 1 == 1) {
                    return Err(format!("node {n} lane bit {bit}: stale owner"));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check_revision(&self, decided: u64) -> Result<(), OccupancyError> {
        if decided == self.revision {
            Ok(())
        } else {
            Err(OccupancyError::Stale {
                decided,
                current: self.revision,
            })
        }
    }
}

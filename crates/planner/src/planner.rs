//! The planner: requests in, [`Decision`]s (or [`Blocked`]) out, against an immutable
//! [`Occupancy`] snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use corridor_physics::technology::LaneRateOption;
use corridor_physics::{
    Couplers, DeviceTechnology, Fec, Gbps, LaneParams, LaneRequirement, LimitingFactor, Medium,
    Millimeters, Modulation, evaluate_lane_with,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::graph::{Graph, LinkId, MAX_MODULE_LANES, MAX_WAVELENGTHS, MODULE_LANE_BANK, NodeId};
use crate::ksp::{Metric, Path, PathCache};
use crate::occupancy::{
    Grant, GrantId, LaneMask, Mask, Occupancy, OccupancyError, Qos, mask_indices,
};
use crate::policy::{Candidate, WavelengthPolicy, first_fit};

/// Physical layer of a request: which device technology, FEC and post-FEC BER target. The lane
/// rate is chosen by the planner among the technology's offered rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LaneSpec {
    /// RFC `corridor_type`.
    pub technology: DeviceTechnology,
    /// FEC.
    pub fec: Fec,
    /// Post-FEC BER target (RFC `ber`, default 1e-12).
    pub target_ber: f64,
}

impl Default for LaneSpec {
    fn default() -> Self {
        Self {
            technology: DeviceTechnology::SiCorridor,
            fec: Fec::Kp4,
            target_ber: corridor_physics::lane::DEFAULT_TARGET_BER,
        }
    }
}

/// A corridor request between two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorridorDemand {
    /// Source node.
    pub src: NodeId,
    /// Destination node.
    pub dst: NodeId,
    /// Wavelengths (lanes) wanted, 1..=128, all continuous along one path.
    pub lanes: u16,
    /// Floor on `lanes × net lane rate` (Gb/s, after FEC overhead). Used only with `physics`.
    pub min_gbps: f64,
    /// End-to-end lane latency budget (ns): time of flight + SerDes + FEC with `physics`,
    /// time of flight alone without.
    pub latency_budget_ns: Option<f64>,
    /// Longest acceptable path (mm).
    pub reach_mm: Option<f64>,
    /// QoS class.
    pub qos: Qos,
    /// Physical-layer check; `None` plans wavelengths only (e.g. for network-scale studies).
    pub physics: Option<LaneSpec>,
    /// Wavelength slots the requester fixed (exactly `lanes` of them), or `None` for the
    /// policy to choose. Fixed slots go on the shortest feasible path that has them free; gold
    /// pre-empts bronze for exactly these slots.
    #[serde(default)]
    pub channels: Option<Mask>,
}

impl CorridorDemand {
    /// A wavelength-only request: `lanes` wavelengths, no physical constraint.
    #[must_use]
    pub fn wavelengths(src: NodeId, dst: NodeId, lanes: u16, qos: Qos) -> Self {
        Self {
            src,
            dst,
            lanes,
            min_gbps: 0.0,
            latency_budget_ns: None,
            reach_mm: None,
            qos,
            physics: None,
            channels: None,
        }
    }

    /// The same request on the fixed wavelength slots `channels`.
    #[must_use]
    pub fn with_channels(mut self, channels: Mask) -> Self {
        self.channels = Some(channels);
        self
    }
}

/// The physical-layer verdict for a chosen path: the lane rate and what the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LanePlan {
    /// Technology.
    pub technology: DeviceTechnology,
    /// Line rate per lane.
    pub rate: Gbps,
    /// Modulation.
    pub modulation: Modulation,
    /// FEC.
    pub fec: Fec,
    /// `lanes × rate × FEC rate`, Gb/s.
    pub achievable_gbps: f64,
    /// Link margin of one lane (dB).
    pub margin_db: f64,
    /// Margin the technology requires (dB).
    pub required_margin_db: f64,
    /// Predicted post-FEC BER.
    pub post_fec_ber: f64,
    /// Lane latency (ns).
    pub latency_ns: f64,
    /// Energy per bit (pJ/b).
    pub energy_pj_per_bit: f64,
    /// What limits the lane.
    pub limiting_factor: LimitingFactor,
}

/// A planning decision, made against occupancy revision `revision`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Occupancy revision decided against (compare-and-swap token).
    pub revision: u64,
    /// QoS class of the request.
    pub qos: Qos,
    /// The path.
    pub path: Arc<Path>,
    /// Its rank among the pair's k shortest paths (0 = shortest).
    pub path_rank: usize,
    /// Wavelength slots, ascending, one per lane.
    pub channels: Vec<u16>,
    /// The same slots as a mask.
    pub mask: Mask,
    /// Physical-layer plan (with `CorridorDemand::physics`).
    pub lane: Option<LanePlan>,
    /// Module lanes held on the path's nodes that have them: the same consecutive run on each
    /// (empty when no node of the path has module lanes).
    pub module_lanes: Vec<(NodeId, LaneMask)>,
    /// Bronze grants to release first (gold pre-emption); empty otherwise.
    pub preempt: Vec<GrantId>,
}

impl Decision {
    /// The grant this decision creates.
    #[must_use]
    pub fn to_grant(&self, id: GrantId) -> Grant {
        Grant {
            id,
            qos: self.qos,
            links: self.path.links.clone(),
            channels: self.mask,
            module_lanes: self.module_lanes.clone(),
        }
    }
}

/// The binding constraint of a blocked request.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BlockReason {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// No path joins the endpoints.
    #[error("no route between the endpoints")]
    NoRoute,
    /// Every path is longer than `reach_mm`.
    #[error("reach: shortest path is {path_mm:.1} mm, reach_mm is {reach_mm}")]
    Reach {
        /// Length of the shortest path.
        path_mm: f64,
        /// The request's reach.
        reach_mm: f64,
    },
    /// No path meets the latency budget.
    #[error("latency: the shortest path needs {path_ns:.1} ns, budget is {budget_ns} ns")]
    Latency {
        /// Latency on the shortest path (at the best rate tried).
        path_ns: f64,
        /// The budget.
        budget_ns: f64,
    },
    /// No offered lane rate gives `min_gbps` with this many lanes.
    #[error("rate: {lanes} lanes give at most {max_gbps:.1} Gb/s net, {min_gbps} requested")]
    Rate {
        /// Lanes requested.
        lanes: u16,
        /// Best achievable.
        max_gbps: f64,
        /// Requested.
        min_gbps: f64,
    },
    /// A node's module carries no lane signal of the technology that gives `min_gbps` with
    /// this many lanes: its applications bind, not the path or what is held.
    #[error(
        "lane capability: node {node:?}'s lanes carry at most {max_gbps:.1} Gb/s net over {lanes} lanes, {min_gbps} requested"
    )]
    NodeRate {
        /// The node whose lane signals fall short (the first on the path).
        node: NodeId,
        /// Lanes requested.
        lanes: u16,
        /// Best achievable through it (0 if it carries none of the technology's signals, or
        /// none the path's other nodes carry).
        max_gbps: f64,
        /// Requested.
        min_gbps: f64,
    },
    /// The BER target cannot be met with the required margin.
    #[error(
        "BER target not met: margin {margin_db:.2} dB < required {required_margin_db:.2} dB ({limiting_factor:?})"
    )]
    Ber {
        /// Margin on the shortest path at the lowest adequate rate.
        margin_db: f64,
        /// Margin required.
        required_margin_db: f64,
        /// What limits it.
        limiting_factor: LimitingFactor,
    },
    /// The physics model rejected the inputs.
    #[error("physics model: {0}")]
    Model(String),
    /// Feasible paths exist but none has `lanes` continuous free wavelengths (for gold: not
    /// even after pre-empting every bronze grant in the way).
    #[error(
        "wavelength continuity: {lanes} lanes needed, {free} continuous free on the shortest feasible path"
    )]
    Wavelengths {
        /// Lanes needed.
        lanes: u16,
        /// Continuous free (gold: free or bronze) slots on the shortest feasible path (with
        /// fixed slots: how many of them).
        free: u32,
    },
    /// A node of every otherwise feasible path has too few module lanes for the request (or the
    /// request needs more than one bank of them): no release of capacity can change that.
    #[error(
        "module lanes: {lanes} lanes needed in one bank of {MODULE_LANE_BANK}, node {node:?} has {module_lanes}"
    )]
    PortLanes {
        /// Lanes needed.
        lanes: u16,
        /// The node that cannot carry them.
        node: NodeId,
        /// Its module lanes.
        module_lanes: u8,
    },
    /// The wavelengths fit on a feasible path but no run of `lanes` consecutive module lanes is
    /// free (for gold: free or bronze) on every node of it.
    #[error(
        "module lanes: no run of {lanes} consecutive lanes free on every node of the path; node {node:?} has {free} free"
    )]
    ModuleLanes {
        /// Lanes needed.
        lanes: u16,
        /// The path's node with the fewest free (gold: free or bronze) lanes.
        node: NodeId,
        /// Its free (gold: free or bronze) lanes.
        free: u32,
    },
}

impl BlockReason {
    /// Whether the occupancy blocks the request (some path is feasible, its capacity is held),
    /// rather than the request being impossible on this topology.
    #[must_use]
    pub fn is_occupancy(&self) -> bool {
        matches!(
            self,
            BlockReason::Wavelengths { .. } | BlockReason::ModuleLanes { .. }
        )
    }
}

/// A request that cannot be placed, with the link that binds it when there is one (the
/// fullest link of the shortest feasible path for continuity; the longest link of the shortest
/// path for reach, latency and BER).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("blocked: {reason}")]
pub struct Blocked {
    /// The binding constraint.
    pub reason: BlockReason,
    /// The binding link.
    pub binding_link: Option<LinkId>,
}

impl Blocked {
    fn new(reason: BlockReason) -> Self {
        Self {
            reason,
            binding_link: None,
        }
    }
}

/// Which `(path, lanes, spec, rate floor, budget)` a physics verdict is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PhysKey {
    pair: u32,
    rank: u16,
    lanes: u16,
    technology: DeviceTechnology,
    fec: Fec,
    target_ber: u64,
    min_gbps: u64,
    budget_ns: u64,
}

/// Bound on memoised physics verdicts (cleared when reached).
const PHYSICS_MEMO_LIMIT: usize = 1 << 16;

/// Combinations above which pre-emption falls back from exhaustive search to greedy.
const PREEMPT_EXHAUSTIVE_LIMIT: u64 = 4096;

/// Routing and wavelength assignment over one topology.
///
/// Pure: [`Planner::decide`] depends only on the topology, the snapshot and the request. The
/// physics verdict of each (path, technology, FEC, target, lanes, rate floor, budget) is
/// memoised internally — the verdict is a deterministic function of those inputs, so the memo
/// changes timing only, never a result.
#[derive(Debug)]
pub struct Planner {
    topo: Graph,
    paths: PathCache,
    requirements: Vec<LaneRequirement>,
    memo: Mutex<HashMap<PhysKey, Result<LanePlan, BlockReason>>>,
}

impl Planner {
    /// Precomputes the `k` shortest paths of every pair under `metric`, and the receiver
    /// requirements of every (modulation, FEC) at the default 1e-12 target.
    #[must_use]
    pub fn new(topo: Graph, k: usize, metric: Metric) -> Self {
        let paths = PathCache::new(&topo, k, metric);
        let mut requirements = Vec::new();
        for m in [Modulation::Nrz, Modulation::Pam4] {
            for f in [Fec::None, Fec::Kp4, Fec::Kr4] {
                if let Ok(r) =
                    LaneRequirement::new(m, f, corridor_physics::lane::DEFAULT_TARGET_BER)
                {
                    requirements.push(r);
                }
            }
        }
        Self {
            topo,
            paths,
            requirements,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The topology.
    #[must_use]
    pub fn topology(&self) -> &Graph {
        &self.topo
    }

    /// The path cache.
    #[must_use]
    pub fn paths(&self) -> &PathCache {
        &self.paths
    }

    /// Forgets memoised physics verdicts (for cold-path measurements; results never change).
    pub fn clear_physics_memo(&self) {
        if let Ok(mut m) = self.memo.lock() {
            m.clear();
        }
    }

    /// Plans `req` against `occ` with `policy` (used for silver and bronze, and for the
    /// wavelength choice of gold on its path).
    ///
    /// Gold takes the shortest feasible path that has `lanes` continuous free wavelengths; if
    /// none has, the pre-emption planner picks, over the feasible paths, the smallest set of
    /// bronze grants whose release frees `lanes` continuous wavelengths (ties: shorter path).
    /// Where the path's nodes have module lanes, the same run of `lanes` consecutive lanes must
    /// be free (gold: free or freed by pre-emption) on each of them.
    ///
    /// # Errors
    /// [`Blocked`] with the binding constraint.
    pub fn decide(
        &self,
        occ: &Occupancy,
        req: &CorridorDemand,
        policy: &dyn WavelengthPolicy,
    ) -> Result<Decision, Blocked> {
        self.decide_among(occ, std::slice::from_ref(req), policy)
    }

    /// Plans the first of `alternatives` (the same corridor between different endpoints, say)
    /// that can be placed without pre-emption, in order; failing that, the gold alternative
    /// whose placement pre-empts the fewest bronze grants (ties: the earlier alternative, then
    /// the shorter path). One call decides among every alternative, so a caller never mixes
    /// its own pre-emption with the planner's.
    ///
    /// # Errors
    /// The [`Blocked`] of the first alternative that the occupancy blocks (some path of it is
    /// feasible), else of the first alternative.
    pub fn decide_among(
        &self,
        occ: &Occupancy,
        alternatives: &[CorridorDemand],
        policy: &dyn WavelengthPolicy,
    ) -> Result<Decision, Blocked> {
        let mut blocked: Option<Blocked> = None;
        let mut note = |b: Blocked| {
            if blocked
                .as_ref()
                .is_none_or(|kept| !kept.reason.is_occupancy() && b.reason.is_occupancy())
            {
                blocked = Some(b);
            }
        };
        let mut feasible = Vec::with_capacity(alternatives.len());
        for req in alternatives {
            match self.candidates(occ, req) {
                Ok(f) => match self.place(occ, req, &f, policy) {
                    Ok(d) => return Ok(d),
                    Err(b) => {
                        note(b);
                        feasible.push((req, f));
                    }
                },
                Err(b) => note(b),
            }
        }
        let mut best: Option<Decision> = None;
        for (req, f) in &feasible {
            if req.qos == Qos::Gold
                && let Some(d) = self.preempting(occ, req, f)
                && best
                    .as_ref()
                    .is_none_or(|b| d.preempt.len() < b.preempt.len())
            {
                best = Some(d);
            }
        }
        if let Some(d) = best {
            return Ok(d);
        }
        Err(blocked.unwrap_or_else(|| Blocked::new(BlockReason::Invalid("no alternative"))))
    }

    /// The physically feasible paths of `req`, shortest first, with their lane plans.
    fn candidates<'p>(
        &'p self,
        occ: &Occupancy,
        req: &CorridorDemand,
    ) -> Result<Feasible<'p>, Blocked> {
        self.validate(req)?;
        let paths = self.paths.get(req.src, req.dst);
        if paths.is_empty() {
            return Err(Blocked::new(BlockReason::NoRoute));
        }
        let mut cands: Vec<Candidate<'p>> = Vec::with_capacity(paths.len());
        let mut plans: Vec<Option<LanePlan>> = Vec::with_capacity(paths.len());
        let mut first_fail: Option<Blocked> = None;
        for (rank, p) in paths.iter().enumerate() {
            // A node that can never carry the lanes says more than the
            // physics of a path through it.
            let verdict = self
                .lanes_fit(occ, p, req.lanes)
                .and_then(|()| self.feasibility(req, rank, p));
            match verdict {
                Ok(plan) => {
                    cands.push(Candidate {
                        rank,
                        path: p,
                        free: occ.free_along(&p.links),
                    });
                    plans.push(plan);
                }
                Err(reason) => {
                    if first_fail.is_none() {
                        first_fail = Some(Blocked {
                            reason,
                            binding_link: self.longest_link(p),
                        });
                    }
                }
            }
        }
        if cands.is_empty() {
            return Err(first_fail.unwrap_or_else(|| Blocked::new(BlockReason::NoRoute)));
        }
        Ok(Feasible {
            paths,
            cands,
            plans,
        })
    }

    /// Whether every node of `p` that has module lanes could ever hold `lanes` of them in one
    /// bank.
    fn lanes_fit(&self, occ: &Occupancy, p: &Path, lanes: u16) -> Result<(), BlockReason> {
        if !occ.has_module_lanes() {
            return Ok(());
        }
        for &n in &p.nodes {
            let have = self.topo.node(n).module_lanes;
            if have > 0 && (lanes > u16::from(have) || lanes > u16::from(MODULE_LANE_BANK)) {
                return Err(BlockReason::PortLanes {
                    lanes,
                    node: n,
                    module_lanes: have,
                });
            }
        }
        Ok(())
    }

    fn decision(
        occ: &Occupancy,
        req: &CorridorDemand,
        f: &Feasible<'_>,
        i: usize,
        mask: Mask,
        run: LaneMask,
        preempt: Vec<GrantId>,
    ) -> Decision {
        let path = Arc::clone(&f.paths[f.cands[i].rank]);
        let module_lanes = if run == 0 {
            Vec::new()
        } else {
            lane_nodes(occ, &path).map(|n| (n, run)).collect()
        };
        Decision {
            revision: occ.revision(),
            qos: req.qos,
            path,
            path_rank: f.cands[i].rank,
            channels: mask_indices(mask),
            mask,
            lane: f.plans[i],
            module_lanes,
            preempt,
        }
    }

    /// A placement on free capacity only.
    fn place(
        &self,
        occ: &Occupancy,
        req: &CorridorDemand,
        f: &Feasible<'_>,
        policy: &dyn WavelengthPolicy,
    ) -> Result<Decision, Blocked> {
        let lanes = u32::from(req.lanes);
        let cands = &f.cands;
        let free_run = |c: &Candidate<'_>| lane_run(occ, c.path, lanes, |n| occ.free_lanes(n));
        match req.channels {
            Some(fixed) => {
                for (i, c) in cands.iter().enumerate() {
                    if c.free & fixed == fixed
                        && let Some(run) = free_run(c)
                    {
                        return Ok(Self::decision(occ, req, f, i, fixed, run, Vec::new()));
                    }
                }
            }
            None if req.qos == Qos::Gold => {
                for i in 0..cands.len() {
                    if cands[i].free.count_ones() >= lanes
                        && let Some(run) = free_run(&cands[i])
                        && let Some(c) = policy.choose(occ, lanes, &cands[i..=i])
                    {
                        return Ok(Self::decision(occ, req, f, i, c.channels, run, Vec::new()));
                    }
                }
            }
            None if !occ.has_module_lanes() => {
                if let Some(c) = policy.choose(occ, lanes, cands) {
                    debug_assert!(
                        c.channels.count_ones() == lanes
                            && c.channels & !cands[c.candidate].free == 0
                    );
                    return Ok(Self::decision(
                        occ,
                        req,
                        f,
                        c.candidate,
                        c.channels,
                        0,
                        Vec::new(),
                    ));
                }
            }
            None => {
                // The policy chooses among the paths that have a module-lane run free.
                let runs: Vec<(usize, LaneMask)> = cands
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| free_run(c).map(|run| (i, run)))
                    .collect();
                let usable: Vec<Candidate<'_>> = runs.iter().map(|&(i, _)| cands[i]).collect();
                if !usable.is_empty()
                    && let Some(c) = policy.choose(occ, lanes, &usable)
                {
                    let (i, run) = runs[c.candidate];
                    return Ok(Self::decision(occ, req, f, i, c.channels, run, Vec::new()));
                }
            }
        }
        Err(Self::blocked(occ, req, f))
    }

    /// Why `req` has no placement (for gold: counting what bronze holds as available).
    fn blocked(occ: &Occupancy, req: &CorridorDemand, f: &Feasible<'_>) -> Blocked {
        let gold = req.qos == Qos::Gold;
        let on_link = |l: LinkId| {
            if gold {
                occ.preemptible_along(&[l])
            } else {
                occ.free(l)
            }
        };
        let along = |c: &Candidate<'_>| {
            let m = if gold {
                occ.preemptible_along(&c.path.links)
            } else {
                c.free
            };
            match req.channels {
                Some(fixed) => m & fixed,
                None => m,
            }
        };
        let wanted = u32::from(req.lanes);
        if occ.has_module_lanes()
            && let Some(c) = f.cands.iter().find(|c| along(c).count_ones() >= wanted)
        {
            // The wavelengths fit: the module lanes bind.
            let lanes_of = |n: NodeId| {
                if gold {
                    occ.preemptible_lanes(n)
                } else {
                    occ.free_lanes(n)
                }
            };
            if let Some(node) =
                lane_nodes(occ, c.path).min_by_key(|&n| (lanes_of(n).count_ones(), n))
            {
                return Blocked {
                    reason: BlockReason::ModuleLanes {
                        lanes: req.lanes,
                        node,
                        free: lanes_of(node).count_ones(),
                    },
                    binding_link: None,
                };
            }
        }
        let shortest = &f.cands[0];
        Blocked {
            reason: BlockReason::Wavelengths {
                lanes: req.lanes,
                free: along(shortest).count_ones(),
            },
            binding_link: shortest.path.links.iter().copied().min_by_key(|&l| {
                let m = match req.channels {
                    Some(fixed) => on_link(l) & fixed,
                    None => on_link(l),
                };
                (m.count_ones(), l)
            }),
        }
    }

    /// Gold over bronze: over the feasible paths, the placement whose bronze victims are
    /// fewest (ties: the shorter path). The wavelengths are chosen first (the fixed ones, or
    /// the cheapest set), then the module-lane run that adds the fewest victims.
    fn preempting(
        &self,
        occ: &Occupancy,
        req: &CorridorDemand,
        f: &Feasible<'_>,
    ) -> Option<Decision> {
        let lanes = u32::from(req.lanes);
        let mut best: Option<(usize, Mask, LaneMask, Vec<GrantId>)> = None;
        for (i, c) in f.cands.iter().enumerate() {
            let found = match req.channels {
                Some(fixed) => fixed_preemption(occ, fixed, c),
                None => plan_preemption(occ, lanes, c),
            };
            let Some((mask, mut set)) = found else {
                continue;
            };
            let Some(run) = lane_preemption(occ, c.path, lanes, &mut set) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| set.len() < b.3.len()) {
                best = Some((i, mask, run, set));
            }
        }
        let (i, mask, run, set) = best?;
        Some(Self::decision(occ, req, f, i, mask, run, set))
    }

    fn validate(&self, req: &CorridorDemand) -> Result<(), Blocked> {
        let n = self.topo.node_count();
        let invalid = |m| Err(Blocked::new(BlockReason::Invalid(m)));
        if req.src.index() >= n || req.dst.index() >= n {
            return invalid("unknown endpoint");
        }
        if req.src == req.dst {
            return invalid("endpoints are the same node");
        }
        if req.lanes == 0 || req.lanes > MAX_WAVELENGTHS {
            return invalid("lanes must be 1..=128");
        }
        if !(req.min_gbps.is_finite() && req.min_gbps >= 0.0) {
            return invalid("min_gbps must be finite and >= 0");
        }
        if req.latency_budget_ns.is_some_and(|b| b.is_nan() || b < 0.0) {
            return invalid("latency_budget_ns must be >= 0");
        }
        if req.reach_mm.is_some_and(|r| r.is_nan() || r < 0.0) {
            return invalid("reach_mm must be >= 0");
        }
        if let Some(s) = req.physics
            && !(s.target_ber > 0.0 && s.target_ber < 0.375)
        {
            return invalid("target BER must be in (0, 0.375)");
        }
        if req
            .channels
            .is_some_and(|m| m.count_ones() != u32::from(req.lanes))
        {
            return invalid("fixed channels must number exactly `lanes`");
        }
        Ok(())
    }

    fn longest_link(&self, p: &Path) -> Option<LinkId> {
        p.links.iter().copied().max_by(|&a, &b| {
            self.topo
                .link(a)
                .length_mm
                .total_cmp(&self.topo.link(b).length_mm)
                .then(b.cmp(&a))
        })
    }

    /// Reach, latency and BER of `req` on path `p` (rank `rank`); with physics, the lowest
    /// offered lane rate that meets `min_gbps`, the BER target with margin and the budget.
    fn feasibility(
        &self,
        req: &CorridorDemand,
        rank: usize,
        p: &Path,
    ) -> Result<Option<LanePlan>, BlockReason> {
        if let Some(reach) = req.reach_mm
            && p.length_mm > reach
        {
            return Err(BlockReason::Reach {
                path_mm: p.length_mm,
                reach_mm: reach,
            });
        }
        let Some(spec) = req.physics else {
            if let Some(budget) = req.latency_budget_ns
                && p.flight_ns > budget
            {
                return Err(BlockReason::Latency {
                    path_ns: p.flight_ns,
                    budget_ns: budget,
                });
            }
            return Ok(None);
        };
        #[allow(clippy::cast_possible_truncation)]
        let key = PhysKey {
            pair: (req.src.index() * self.topo.node_count() + req.dst.index()) as u32,
            rank: rank as u16,
            lanes: req.lanes,
            technology: spec.technology,
            fec: spec.fec,
            target_ber: spec.target_ber.to_bits(),
            min_gbps: req.min_gbps.to_bits(),
            budget_ns: req.latency_budget_ns.unwrap_or(f64::INFINITY).to_bits(),
        };
        if let Some(v) = self.memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return v.map(Some);
        }
        let v = self.evaluate_path(req, spec, p);
        if let Ok(mut m) = self.memo.lock() {
            if m.len() >= PHYSICS_MEMO_LIMIT {
                m.clear();
            }
            m.insert(key, v.clone());
        }
        v.map(Some)
    }

    fn requirement(&self, m: Modulation, f: Fec, target: f64) -> Result<LaneRequirement, String> {
        if let Some(r) = self
            .requirements
            .iter()
            .find(|r| r.modulation == m && r.fec == f && r.target_ber == target)
        {
            return Ok(*r);
        }
        LaneRequirement::new(m, f, target).map_err(|e| e.to_string())
    }

    fn evaluate_path(
        &self,
        req: &CorridorDemand,
        spec: LaneSpec,
        p: &Path,
    ) -> Result<LanePlan, BlockReason> {
        let tech = spec.technology.technology();
        let (medium, length) = self.path_medium(p);
        let mut couplers = Couplers::default();
        for &l in &p.links {
            let c = self.topo.link(l).couplers;
            couplers.grating += c.grating;
            couplers.edge += c.edge;
        }
        let transit: u32 = p.nodes[1..p.nodes.len() - 1]
            .iter()
            .map(|&n| self.topo.node(n).through_rings)
            .sum();
        let rings = u32::from(req.lanes) - 1 + transit;
        let lanes = f64::from(req.lanes);
        let mut options: Vec<_> = tech.lane_rates().to_vec();
        options.sort_by(|a, b| a.rate.0.total_cmp(&b.rate.0));
        // Only what every node's module carries: a node whose signals cannot give the rate
        // is named (the first on the path), as is the first whose signals share none with
        // the nodes before it.
        let carries = |caps: &[LaneRateOption], o: &LaneRateOption| {
            caps.iter()
                .any(|c| c.modulation == o.modulation && (c.rate.0 - o.rate.0).abs() < 1e-9)
        };
        let net = |o: &LaneRateOption| lanes * o.rate.0 * spec.fec.rate();
        for &n in &p.nodes {
            let caps = &self.topo.node(n).lane_rates;
            if caps.is_empty() {
                continue;
            }
            let own_best = options
                .iter()
                .filter(|o| carries(caps, o))
                .map(net)
                .fold(0.0, f64::max);
            options.retain(|o| carries(caps, o));
            let best = options.iter().map(net).fold(0.0, f64::max);
            if own_best + 1e-9 < req.min_gbps || best + 1e-9 < req.min_gbps {
                return Err(BlockReason::NodeRate {
                    node: n,
                    lanes: req.lanes,
                    max_gbps: best,
                    min_gbps: req.min_gbps,
                });
            }
        }
        let max_gbps = options
            .iter()
            .map(|o| lanes * o.rate.0 * spec.fec.rate())
            .fold(0.0, f64::max);
        let mut first_fail: Option<BlockReason> = None;
        let mut any_rate = false;
        for o in options {
            let achievable = lanes * o.rate.0 * spec.fec.rate();
            if achievable + 1e-9 < req.min_gbps {
                continue;
            }
            any_rate = true;
            let mut params = LaneParams::new(
                tech,
                medium,
                Millimeters(length),
                couplers,
                rings,
                o.rate,
                o.modulation,
            );
            params.fec = spec.fec;
            params.target_ber = spec.target_ber;
            let reqm = self
                .requirement(o.modulation, spec.fec, spec.target_ber)
                .map_err(BlockReason::Model)?;
            let r = evaluate_lane_with(tech, &params, &reqm)
                .map_err(|e| BlockReason::Model(e.to_string()))?;
            let fail = if !r.feasible {
                Some(BlockReason::Ber {
                    margin_db: r.margin_db.0,
                    required_margin_db: r.required_margin_db.0,
                    limiting_factor: r.limiting_factor,
                })
            } else if let Some(budget) = req.latency_budget_ns
                && r.latency_ns.0 > budget
            {
                Some(BlockReason::Latency {
                    path_ns: r.latency_ns.0,
                    budget_ns: budget,
                })
            } else {
                None
            };
            match fail {
                Some(f) => {
                    first_fail.get_or_insert(f);
                }
                None => {
                    return Ok(LanePlan {
                        technology: spec.technology,
                        rate: o.rate,
                        modulation: o.modulation,
                        fec: spec.fec,
                        achievable_gbps: achievable,
                        margin_db: r.margin_db.0,
                        required_margin_db: r.required_margin_db.0,
                        post_fec_ber: r.post_fec_ber,
                        latency_ns: r.latency_ns.0,
                        energy_pj_per_bit: r.energy.total().0,
                        limiting_factor: r.limiting_factor,
                    });
                }
            }
        }
        if !any_rate {
            return Err(BlockReason::Rate {
                lanes: req.lanes,
                max_gbps,
                min_gbps: req.min_gbps,
            });
        }
        Err(first_fail.unwrap_or(BlockReason::NoRoute))
    }

    /// One medium equivalent to the path's links: the links' own medium if they share one,
    /// else a custom medium with the length-weighted loss per mm and group index (so the total
    /// loss and time of flight are exact).
    fn path_medium(&self, p: &Path) -> (Medium, f64) {
        let first = self.topo.link(p.links[0]).medium;
        if p.links.iter().all(|&l| self.topo.link(l).medium == first) {
            return (first, p.length_mm);
        }
        let (mut loss, mut ng_len) = (0.0, 0.0);
        for &l in &p.links {
            let link = self.topo.link(l);
            loss += link.medium.loss_per_mm().0 * link.length_mm;
            ng_len += link.medium.group_index() * link.length_mm;
        }
        (
            Medium::Custom {
                loss_db_per_mm: loss / p.length_mm,
                group_index: ng_len / p.length_mm,
            },
            p.length_mm,
        )
    }
}

/// The feasible paths of one request, shortest first.
struct Feasible<'p> {
    paths: &'p [Arc<Path>],
    cands: Vec<Candidate<'p>>,
    plans: Vec<Option<LanePlan>>,
}

/// The nodes of `path` that have module lanes.
fn lane_nodes<'a>(occ: &'a Occupancy, path: &'a Path) -> impl Iterator<Item = NodeId> + 'a {
    path.nodes
        .iter()
        .copied()
        .filter(move |&n| occ.module_lanes(n) != 0)
}

/// The runs of `lanes` consecutive module lanes within one bank, lowest first.
fn runs(lanes: u32) -> impl Iterator<Item = LaneMask> {
    let bank = u32::from(MODULE_LANE_BANK);
    let width = u32::from(MAX_MODULE_LANES);
    let ones = if (1..=bank).contains(&lanes) {
        (1u32 << lanes) - 1
    } else {
        0
    };
    (0..width.saturating_sub(lanes.saturating_sub(1)))
        .filter(move |&first| ones != 0 && first / bank == (first + lanes - 1) / bank)
        .map(move |first| ones << first)
}

/// The lowest run of `lanes` consecutive module lanes (one bank) inside `available(n)` on
/// every node of `path` that has module lanes: `Some(0)` when none has, `None` when no run is
/// available.
fn lane_run(
    occ: &Occupancy,
    path: &Path,
    lanes: u32,
    available: impl Fn(NodeId) -> LaneMask,
) -> Option<LaneMask> {
    if !occ.has_module_lanes() {
        return Some(0);
    }
    let mut any = false;
    let avail = lane_nodes(occ, path).fold(LaneMask::MAX, |m, n| {
        any = true;
        m & available(n)
    });
    if !any {
        return Some(0);
    }
    runs(lanes).find(|&run| run & !avail == 0)
}

/// The bronze grants in the way of the fixed slots `fixed` on `c` (`None` if a slot is held
/// by silver or gold, or does not exist on a link).
fn fixed_preemption(
    occ: &Occupancy,
    fixed: Mask,
    c: &Candidate<'_>,
) -> Option<(Mask, Vec<GrantId>)> {
    if fixed & !occ.preemptible_along(&c.path.links) != 0 {
        return None;
    }
    let mut set: Vec<GrantId> = Vec::new();
    for w in mask_indices(fixed & !c.free) {
        for g in owners(occ, &c.path.links, w) {
            if !set.contains(&g) {
                set.push(g);
            }
        }
    }
    set.sort_unstable();
    Some((fixed, set))
}

/// The module-lane run on `path` that adds the fewest bronze victims to `set` (lanes held by
/// grants already in `set` count as free; ties: the lowest run); adds them. `Some(0)` when no
/// node of the path has module lanes.
fn lane_preemption(
    occ: &Occupancy,
    path: &Path,
    lanes: u32,
    set: &mut Vec<GrantId>,
) -> Option<LaneMask> {
    if !occ.has_module_lanes() {
        return Some(0);
    }
    let nodes: Vec<NodeId> = lane_nodes(occ, path).collect();
    if nodes.is_empty() {
        return Some(0);
    }
    let mut best: Option<(LaneMask, Vec<GrantId>)> = None;
    'runs: for run in runs(lanes) {
        let mut extra: Vec<GrantId> = Vec::new();
        for &n in &nodes {
            if run & !occ.module_lanes(n) != 0 {
                continue 'runs;
            }
            let mut busy = run & !occ.free_lanes(n);
            while busy != 0 {
                #[allow(clippy::cast_possible_truncation)]
                let bit = busy.trailing_zeros() as u8;
                busy &= busy - 1;
                let Some(owner) = occ.lane_owner(n, bit) else {
                    continue 'runs;
                };
                if set.contains(&owner) || extra.contains(&owner) {
                    continue;
                }
                if occ.get(owner).is_none_or(|g| g.qos != Qos::Bronze) {
                    continue 'runs;
                }
                extra.push(owner);
            }
        }
        if best.as_ref().is_none_or(|b| extra.len() < b.1.len()) {
            let done = extra.is_empty();
            best = Some((run, extra));
            if done {
                break;
            }
        }
    }
    let (run, extra) = best?;
    set.extend(extra);
    set.sort_unstable();
    Some(run)
}

/// Owners (distinct) of slot `w` along `links`.
fn owners(occ: &Occupancy, links: &[LinkId], w: u16) -> Vec<GrantId> {
    let mut out: Vec<GrantId> = Vec::new();
    for &l in links {
        if let Some(g) = occ.owner(l, w)
            && !out.contains(&g)
        {
            out.push(g);
        }
    }
    out
}

fn binomial(n: u64, k: u64) -> u64 {
    let k = k.min(n - k.min(n));
    let mut r: u64 = 1;
    for i in 0..k {
        r = r.saturating_mul(n - i) / (i + 1);
        if r > PREEMPT_EXHAUSTIVE_LIMIT {
            return u64::MAX;
        }
    }
    r
}

/// The smallest set of bronze grants whose release gives `lanes` continuous slots on `c`:
/// free slots first, then busy-by-bronze slots chosen to minimise the union of their owners —
/// exhaustively when the combinations are few (≤ 4096; always exact for one lane), greedily by
/// marginal cost otherwise. Returns (slots, grants to pre-empt sorted by id).
fn plan_preemption(occ: &Occupancy, lanes: u32, c: &Candidate<'_>) -> Option<(Mask, Vec<GrantId>)> {
    let pre = occ.preemptible_along(&c.path.links);
    if pre.count_ones() < lanes {
        return None;
    }
    let free_n = c.free.count_ones().min(lanes);
    let mut chosen = first_fit(c.free, free_n)?;
    let need = (lanes - free_n) as usize;
    if need == 0 {
        return Some((chosen, Vec::new()));
    }
    let busy: Vec<(u16, Vec<GrantId>)> = mask_indices(pre & !c.free)
        .into_iter()
        .map(|w| (w, owners(occ, &c.path.links, w)))
        .collect();
    let mut set: Vec<GrantId> = Vec::new();
    if binomial(busy.len() as u64, need as u64) <= PREEMPT_EXHAUSTIVE_LIMIT {
        // Exhaustive over index combinations, first minimum in lexicographic order.
        let mut idx: Vec<usize> = (0..need).collect();
        let mut best: Option<(Vec<usize>, Vec<GrantId>)> = None;
        // No choice can pre-empt fewer grants than the cheapest single slot needs.
        let lower = busy.iter().map(|b| b.1.len()).min().unwrap_or(0);
        let mut u: Vec<GrantId> = Vec::new();
        loop {
            u.clear();
            let bound = best.as_ref().map_or(usize::MAX, |b| b.1.len());
            for &i in &idx {
                for g in &busy[i].1 {
                    if !u.contains(g) {
                        u.push(*g);
                    }
                }
                if u.len() >= bound {
                    break;
                }
            }
            if u.len() < bound {
                best = Some((idx.clone(), u.clone()));
                if u.len() <= lower {
                    break;
                }
            }
            // Next combination.
            let mut j = need;
            loop {
                if j == 0 {
                    break;
                }
                j -= 1;
                if idx[j] < busy.len() - need + j {
                    idx[j] += 1;
                    for t in j + 1..need {
                        idx[t] = idx[t - 1] + 1;
                    }
                    j = usize::MAX;
                    break;
                }
            }
            if j != usize::MAX {
                break;
            }
        }
        let (idx, u) = best?;
        for i in idx {
            chosen |= 1u128 << busy[i].0;
        }
        set = u;
    } else {
        let mut taken = vec![false; busy.len()];
        for _ in 0..need {
            let mut pick: Option<(usize, usize)> = None;
            for (i, (_, o)) in busy.iter().enumerate() {
                if taken[i] {
                    continue;
                }
                let cost = o.iter().filter(|g| !set.contains(g)).count();
                if pick.is_none_or(|(_, pc)| cost < pc) {
                    pick = Some((i, cost));
                }
            }
            let (i, _) = pick?;
            taken[i] = true;
            chosen |= 1u128 << busy[i].0;
            for g in &busy[i].1 {
                if !set.contains(g) {
                    set.push(*g);
                }
            }
        }
    }
    set.sort_unstable();
    Some((chosen, set))
}

impl Occupancy {
    /// Applies `d` as grant `id`: checks the revision (compare-and-swap), that every grant to
    /// pre-empt exists and is bronze, and that every slot of the path is free or held by one of
    /// them; then releases the pre-empted grants and records the new one. All or nothing.
    /// Returns the pre-empted grants.
    ///
    /// # Errors
    /// [`OccupancyError`]; nothing changes on error.
    pub fn apply(&mut self, d: &Decision, id: GrantId) -> Result<Vec<Grant>, OccupancyError> {
        self.check_revision(d.revision)?;
        if self.get(id).is_some() {
            return Err(OccupancyError::DuplicateGrant(id));
        }
        for &g in &d.preempt {
            match self.get(g) {
                Some(grant) if grant.qos == Qos::Bronze => {}
                _ => return Err(OccupancyError::NotPreemptible(g)),
            }
        }
        for &l in &d.path.links {
            if l.index() >= self.link_count() {
                return Err(OccupancyError::Invalid("link out of range"));
            }
            let mut conflict = d.mask & !self.free(l);
            let mut rest = conflict;
            while rest != 0 {
                #[allow(clippy::cast_possible_truncation)]
                let w = rest.trailing_zeros() as u16;
                rest &= rest - 1;
                if self.owner(l, w).is_some_and(|o| d.preempt.contains(&o)) {
                    conflict &= !(1u128 << w);
                }
            }
            if conflict != 0 {
                return Err(OccupancyError::Busy {
                    link: l,
                    channels: conflict,
                });
            }
        }
        for &(n, lanes) in &d.module_lanes {
            if n.index() >= self.node_count() {
                return Err(OccupancyError::Invalid("node out of range"));
            }
            let mut conflict = lanes & !self.free_lanes(n);
            let mut rest = conflict;
            while rest != 0 {
                #[allow(clippy::cast_possible_truncation)]
                let bit = rest.trailing_zeros() as u8;
                rest &= rest - 1;
                if self
                    .lane_owner(n, bit)
                    .is_some_and(|o| d.preempt.contains(&o))
                {
                    conflict &= !(1u32 << bit);
                }
            }
            if conflict != 0 {
                return Err(OccupancyError::LanesBusy {
                    node: n,
                    lanes: conflict,
                });
            }
        }
        let released: Vec<Grant> = d.preempt.iter().filter_map(|&g| self.release(g)).collect();
        self.grant(d.to_grant(id))?;
        Ok(released)
    }
}

//! Admission: which path, channels and module lanes a request gets, decided
//! by the planner (reach, latency and BER through `corridor-physics`) on a
//! snapshot of the ledger cache. Pure: no store, no clock.
//!
//! The RFC request fixes its wavelengths (`lambda_nm`), so the wavelength
//! policy here does not choose slots: it accepts the first feasible path on
//! which the snapped slots are free and both ends have the module lanes.

use std::sync::Arc;

use corridor_model::corridor::{CorridorRequest, CorridorType, QosPriority};
use corridor_physics::Fec;
use corridor_planner::{
    BlockReason, Blocked, Candidate, Choice, LanePlan, LaneSpec, Mask, Occupancy, Path, Qos,
    Request, WavelengthPolicy, mask_of,
};

use super::error::CorridorError;
use super::fabric::Fabric;
use super::ledger::{Cache, Holding};

/// A placement for one request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: Arc<Path>,
    /// Slots per corridor lane, in request order.
    pub slots: Vec<u16>,
    /// Module lane per corridor lane, the same on every port of the path.
    pub module_lanes: Vec<u8>,
    pub lane: LanePlan,
    /// Bronze corridors to release first (gold pre-emption).
    pub preempt: Vec<String>,
}

impl Plan {
    pub fn holding(&self, qos: QosPriority) -> Holding {
        Holding {
            qos,
            links: self
                .path
                .links
                .iter()
                .map(|l| (l.index(), sorted(&self.slots)))
                .collect(),
            ports: self
                .path
                .nodes
                .iter()
                .map(|n| (n.index(), self.module_lanes.clone()))
                .collect(),
        }
    }
}

fn sorted(slots: &[u16]) -> Vec<u16> {
    let mut s = slots.to_vec();
    s.sort_unstable();
    s
}

pub fn technology(t: CorridorType) -> corridor_physics::CorridorType {
    match t {
        CorridorType::SiCorridor => corridor_physics::CorridorType::SiCorridor,
        CorridorType::CarbonCorridor => corridor_physics::CorridorType::CarbonCorridor,
    }
}

/// The first run of `lanes` consecutive module lanes free on every port of
/// `nodes`, within one 8-lane CMIS bank (a provisioning request addresses
/// consecutive lanes of one bank).
fn lane_run(fabric: &Fabric, used: &[u32], nodes: &[usize], lanes: usize) -> Option<Vec<u8>> {
    let max = nodes
        .iter()
        .map(|&p| fabric.ports[p].lanes)
        .min()
        .unwrap_or(0);
    if lanes == 0 || lanes > 8 {
        return None;
    }
    let busy = nodes.iter().fold(0u32, |m, &p| m | used[p]);
    for first in 1..=max {
        let last = first as usize + lanes - 1;
        if last > max as usize || (first - 1) / 8 != (last as u8 - 1) / 8 {
            continue;
        }
        let run: Vec<u8> = (first..=last as u8).collect();
        if run.iter().all(|&l| busy & (1 << (l - 1)) == 0) {
            return Some(run);
        }
    }
    None
}

/// Accepts the first candidate whose path has the fixed slots free and a
/// free module-lane run on every port.
#[derive(Debug)]
struct FixedChannels<'a> {
    fabric: &'a Fabric,
    used_lanes: &'a [u32],
    mask: Mask,
    lanes: usize,
}

impl WavelengthPolicy for FixedChannels<'_> {
    fn name(&self) -> &str {
        "fixed-channels"
    }

    fn choose(
        &self,
        _occ: &Occupancy,
        _lanes: u32,
        candidates: &[Candidate<'_>],
    ) -> Option<Choice> {
        candidates.iter().enumerate().find_map(|(i, c)| {
            let nodes: Vec<usize> = c.path.nodes.iter().map(|n| n.index()).collect();
            (c.free & self.mask == self.mask
                && lane_run(self.fabric, self.used_lanes, &nodes, self.lanes).is_some())
            .then_some(Choice {
                candidate: i,
                channels: self.mask,
            })
        })
    }
}

/// Why a pair could not take the request.
#[derive(Debug)]
enum PairFailure {
    Physics(String),
    Capacity(String),
}

fn planner_request(fabric: &Fabric, req: &CorridorRequest, src: usize, dst: usize) -> Request {
    Request {
        src: fabric.node(src),
        dst: fabric.node(dst),
        lanes: req.lanes as u16,
        min_gbps: req.min_gbps.get(),
        latency_budget_ns: Some(req.latency_budget_ns.get() as f64),
        reach_mm: Some(req.reach_mm.get()),
        // The QoS decision (pre-emption) is made here with fixed slots; the
        // planner only checks physics and the policy's fit.
        qos: Qos::Silver,
        physics: Some(LaneSpec {
            technology: technology(req.corridor_type),
            fec: Fec::Kp4,
            target_ber: corridor_physics::lane::DEFAULT_TARGET_BER,
        }),
    }
}

fn describe(fabric: &Fabric, blocked: &Blocked) -> PairFailure {
    let link = blocked
        .binding_link
        .map(|l| format!(" (binding link {})", fabric.link_id(l)))
        .unwrap_or_default();
    match &blocked.reason {
        BlockReason::Wavelengths { .. } => PairFailure::Capacity(format!(
            "the requested channels or module lanes are taken{link}"
        )),
        other => PairFailure::Physics(format!("{other}{link}")),
    }
}

/// Plans `req` against `cache`; `endpoints` are port indices if the request
/// names them, else every link's pair is tried in topology order.
pub fn plan(fabric: &Fabric, cache: &Cache, req: &CorridorRequest) -> Result<Plan, CorridorError> {
    let pairs: Vec<(usize, usize)> = match &req.endpoints {
        Some([a, b]) => {
            let find = |i: usize, id: &str| {
                fabric.port_index(id).ok_or_else(|| CorridorError::Field {
                    pointer: format!("/endpoints/{i}"),
                    rule: "exists",
                    message: format!("no optical port {id:?} in the topology"),
                })
            };
            vec![(find(0, a)?, find(1, b)?)]
        }
        None => fabric
            .links
            .iter()
            .map(|l| (l.ports[0], l.ports[1]))
            .collect(),
    };
    let lanes = req.lanes as usize;
    let mut failures: Vec<(String, PairFailure)> = Vec::new();
    let empty = Occupancy::new(fabric.planner.topology());
    let mut preemptible: Vec<Plan> = Vec::new();
    for (src, dst) in pairs {
        let slots = fabric.snap(
            src,
            &req.lambda_nm.iter().map(|l| l.get()).collect::<Vec<_>>(),
        )?;
        let mask = mask_of(&slots);
        let pair = format!("{}-{}", fabric.ports[src].id, fabric.ports[dst].id);
        if lanes > fabric.ports[src].lanes.min(fabric.ports[dst].lanes) as usize || lanes > 8 {
            failures.push((
                pair,
                PairFailure::Capacity(format!(
                    "{lanes} lanes requested, the ports have {} module lanes",
                    fabric.ports[src].lanes.min(fabric.ports[dst].lanes)
                )),
            ));
            continue;
        }
        let request = planner_request(fabric, req, src, dst);
        let policy = FixedChannels {
            fabric,
            used_lanes: &cache.lanes,
            mask,
            lanes,
        };
        match fabric.planner.decide(&cache.occupancy, &request, &policy) {
            Ok(decision) => {
                let Some(lane) = decision.lane else {
                    continue;
                };
                let nodes: Vec<usize> = decision.path.nodes.iter().map(|n| n.index()).collect();
                let Some(module_lanes) = lane_run(fabric, &cache.lanes, &nodes, lanes) else {
                    continue;
                };
                return Ok(Plan {
                    path: decision.path,
                    slots,
                    module_lanes,
                    lane,
                    preempt: Vec::new(),
                });
            }
            Err(blocked) => {
                let failure = describe(fabric, &blocked);
                if req.qos.priority == QosPriority::Gold
                    && matches!(failure, PairFailure::Capacity(_))
                    && let Some(p) = plan_preemption(fabric, cache, &empty, &request, &slots)
                {
                    preemptible.push(p);
                }
                failures.push((pair, failure));
            }
        }
    }
    if let Some(best) = preemptible.into_iter().min_by_key(|p| p.preempt.len()) {
        return Ok(best);
    }
    // Name the binding constraint: capacity if any pair was physically
    // feasible, else the physics of the first pair.
    let detail = failures
        .iter()
        .find(|(_, f)| matches!(f, PairFailure::Capacity(_)))
        .or(failures.first())
        .map(|(pair, f)| match f {
            PairFailure::Capacity(m) | PairFailure::Physics(m) => format!("{pair}: {m}"),
        })
        .unwrap_or_else(|| "no optical link in the topology".into());
    let tried = failures.len();
    Err(CorridorError::InsufficientCapacity(format!(
        "{detail} ({tried} port pair(s) tried)"
    )))
}

/// Gold over bronze: on the feasible path of `request`, the slots and lanes
/// it needs must be free or held only by bronze corridors; those are
/// pre-empted.
fn plan_preemption(
    fabric: &Fabric,
    cache: &Cache,
    empty: &Occupancy,
    request: &Request,
    slots: &[u16],
) -> Option<Plan> {
    let mask = mask_of(slots);
    let lanes = slots.len();
    // Physics and path on an empty fabric: the occupancy plays no part.
    let unconstrained = FixedChannels {
        fabric,
        used_lanes: &vec![0; fabric.ports.len()],
        mask,
        lanes,
    };
    let decision = fabric.planner.decide(empty, request, &unconstrained).ok()?;
    let lane = decision.lane?;
    let mut victims: Vec<String> = Vec::new();
    for &link in &decision.path.links {
        for slot in corridor_planner::mask_indices(mask) {
            if let Some(owner) = cache.occupancy.owner(link, slot) {
                let name = cache.by_grant.get(&owner)?;
                let (_, holding) = cache.holdings.get(name)?;
                if holding.qos != QosPriority::Bronze {
                    return None;
                }
                if !victims.contains(name) {
                    victims.push(name.clone());
                }
            }
        }
    }
    // Module lanes: what stays used once the victims are gone.
    let mut used = cache.lanes.clone();
    for name in &victims {
        if let Some((_, holding)) = cache.holdings.get(name) {
            for (port, ls) in &holding.ports {
                for &l in ls {
                    used[*port] &= !(1 << (l - 1));
                }
            }
        }
    }
    let nodes: Vec<usize> = decision.path.nodes.iter().map(|n| n.index()).collect();
    let module_lanes = match lane_run(fabric, &used, &nodes, lanes) {
        Some(run) => run,
        None => {
            // Bronze corridors holding lanes on these ports can go too.
            let mut extra: Vec<String> = cache
                .holdings
                .iter()
                .filter(|(name, (_, h))| {
                    h.qos == QosPriority::Bronze
                        && !victims.contains(name)
                        && h.ports.iter().any(|(p, _)| nodes.contains(p))
                })
                .map(|(name, _)| name.clone())
                .collect();
            extra.sort();
            let mut run = None;
            for name in extra {
                if let Some((_, holding)) = cache.holdings.get(&name) {
                    for (port, ls) in &holding.ports {
                        for &l in ls {
                            used[*port] &= !(1 << (l - 1));
                        }
                    }
                }
                victims.push(name);
                run = lane_run(fabric, &used, &nodes, lanes);
                if run.is_some() {
                    break;
                }
            }
            run?
        }
    };
    if victims.is_empty() {
        // Nothing to pre-empt yet the policy failed: the cache moved; let
        // the caller's retry replan.
        return None;
    }
    victims.sort();
    Some(Plan {
        path: decision.path,
        slots: slots.to_vec(),
        module_lanes,
        lane,
        preempt: victims,
    })
}

//! Admission: which path, channels and module lanes a request gets, in one
//! question to the planner ([`corridor_planner::Planner::decide_among`])
//! over every port pair the request allows, against a snapshot of the
//! ledger cache. The planner checks reach, latency and BER through
//! `corridor-physics`, finds the module-lane run (the ports' lanes are
//! planner nodes' lanes) and makes the gold pre-emption of bronze; this
//! module only translates requests in and decisions out. Pure: no store,
//! no clock.
//!
//! The RFC request fixes its wavelengths (`lambda_nm`): they are snapped to
//! each pair's grid and passed to the planner as fixed slots.

use std::sync::Arc;

use corridor_hal::topology::Medium;
use corridor_model::corridor::{CorridorMode, CorridorRequest, CorridorType, QosPriority};
use corridor_physics::Fec;
use corridor_planner::{
    BlockReason, Blocked, CorridorDemand, Decision, FirstFitShortest, LanePlan, LaneSpec, Path,
    mask_of,
};

use super::error::CorridorError;
use super::fabric::{Fabric, PortInfo};
use super::ledger::{Cache, Holding, planner_qos};

/// A placement for one request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: Arc<Path>,
    /// Slots per corridor lane, in request order.
    pub slots: Vec<u16>,
    /// Module lane per corridor lane (1-based, ascending), the same on
    /// every port of `lane_ports`.
    pub module_lanes: Vec<u8>,
    /// The path's ports that hold module lanes.
    pub lane_ports: Vec<usize>,
    pub lane: LanePlan,
    /// Bronze corridors the grant releases (gold pre-emption).
    pub preempt: Vec<String>,
}

impl Plan {
    pub fn holding(&self, qos: QosPriority) -> Holding {
        let mut slots = self.slots.clone();
        slots.sort_unstable();
        Holding {
            qos,
            links: self
                .path
                .links
                .iter()
                .map(|l| (l.index(), slots.clone()))
                .collect(),
            ports: self
                .lane_ports
                .iter()
                .map(|&p| (p, self.module_lanes.clone()))
                .collect(),
        }
    }
}

pub fn technology(t: CorridorType) -> corridor_physics::DeviceTechnology {
    match t {
        CorridorType::SiCorridor => corridor_physics::DeviceTechnology::SiCorridor,
        CorridorType::CarbonCorridor => corridor_physics::DeviceTechnology::CarbonCorridor,
    }
}

fn planner_request(
    fabric: &Fabric,
    req: &CorridorRequest,
    src: usize,
    dst: usize,
    slots: &[u16],
) -> CorridorDemand {
    CorridorDemand {
        src: fabric.node(src),
        dst: fabric.node(dst),
        lanes: req.lanes as u16,
        min_gbps: req.min_gbps.get(),
        latency_budget_ns: Some(req.latency_budget_ns.get() as f64),
        reach_mm: Some(req.reach_mm.get()),
        qos: planner_qos(req.qos.priority),
        physics: Some(LaneSpec {
            technology: technology(req.corridor_type),
            fec: Fec::Kp4,
            target_ber: corridor_physics::lane::DEFAULT_TARGET_BER,
        }),
        channels: Some(mask_of(slots)),
    }
}

/// Whether a port of `medium` guides light the way `mode` asks: board or
/// chip waveguides (SOI, SiN) for `waveguide`, single-mode fibre for `fiber`.
fn guides(mode: CorridorMode, medium: Medium) -> bool {
    match mode {
        CorridorMode::Waveguide => matches!(medium, Medium::Soi | Medium::Sin),
        CorridorMode::Fiber => medium == Medium::Fiber,
    }
}

/// The port pairs `req` may use: its endpoints, or every link's ends in
/// topology order; pairs touching an `avoid` port are left out. Only ports
/// of the requested `mode`'s medium qualify; since every link of a port has
/// the port's medium (the topology loader checks it), every path between
/// two such ports runs on that medium alone.
fn pairs(
    fabric: &Fabric,
    req: &CorridorRequest,
    avoid: &[usize],
) -> Result<Vec<(usize, usize)>, CorridorError> {
    let pairs: Vec<(usize, usize)> = match &req.endpoints {
        Some([a, b]) => {
            let find = |i: usize, id: &str| {
                fabric.port_index(id).ok_or_else(|| CorridorError::Field {
                    pointer: format!("/endpoints/{i}"),
                    rule: "exists",
                    message: format!("no optical port {id:?} in the topology"),
                })
            };
            let (a, b) = (find(0, a)?, find(1, b)?);
            if a == b {
                return Err(CorridorError::Field {
                    pointer: "/endpoints/1".into(),
                    rule: "distinct",
                    message: "a corridor joins two different ports".into(),
                });
            }
            for port in [a, b] {
                let PortInfo { id, medium, .. } = &fabric.ports[port];
                if !guides(req.mode, *medium) {
                    return Err(CorridorError::Field {
                        pointer: "/mode".into(),
                        rule: "compatible",
                        message: format!(
                            "port {id} couples into {}, which is not a {} medium",
                            medium_name(*medium),
                            mode_name(req.mode)
                        ),
                    });
                }
            }
            vec![(a, b)]
        }
        None => fabric
            .links
            .iter()
            .map(|l| (l.ports[0], l.ports[1]))
            .filter(|&(a, _)| guides(req.mode, fabric.ports[a].medium))
            .collect(),
    };
    Ok(pairs
        .into_iter()
        .filter(|(a, b)| !avoid.contains(a) && !avoid.contains(b))
        .collect())
}

fn medium_name(medium: Medium) -> &'static str {
    match medium {
        Medium::Soi => "an SOI waveguide",
        Medium::Sin => "a SiN waveguide",
        Medium::Fiber => "fibre",
    }
}

fn mode_name(mode: CorridorMode) -> &'static str {
    match mode {
        CorridorMode::Waveguide => "waveguide",
        CorridorMode::Fiber => "fiber",
    }
}

/// Plans `req` against `cache`, never through a port of `avoid` (the
/// reconciler moving a corridor off failing ports).
pub fn plan(
    fabric: &Fabric,
    cache: &Cache,
    req: &CorridorRequest,
    avoid: &[usize],
) -> Result<Plan, CorridorError> {
    let lambdas: Vec<f64> = req.lambda_nm.iter().map(|l| l.get()).collect();
    let pairs = pairs(fabric, req, avoid)?;
    let mut alternatives = Vec::with_capacity(pairs.len());
    let mut slots = Vec::with_capacity(pairs.len());
    for &(src, dst) in &pairs {
        let snapped = fabric.snap(src, &lambdas)?;
        alternatives.push(planner_request(fabric, req, src, dst, &snapped));
        slots.push(snapped);
    }
    if alternatives.is_empty() {
        return Err(CorridorError::NoFeasiblePath(format!(
            "no {} link in the topology joins ports this corridor may use",
            mode_name(req.mode)
        )));
    }
    // The wavelengths are fixed, so the policy is never asked to choose.
    let decision = fabric
        .planner
        .decide_among(&cache.occupancy, &alternatives, &FirstFitShortest)
        .map_err(|blocked| refusal(fabric, &blocked, alternatives.len()))?;
    if decision
        .path
        .nodes
        .iter()
        .any(|n| avoid.contains(&n.index()))
    {
        return Err(CorridorError::InsufficientCapacity(
            "every placement left crosses a port being avoided".into(),
        ));
    }
    let chosen = alternatives
        .iter()
        .position(|r| r.src == decision.path.nodes[0] && Some(&r.dst) == decision.path.nodes.last())
        .ok_or_else(|| CorridorError::Topology("the planner answered an unasked pair".into()))?;
    to_plan(cache, decision, slots.swap_remove(chosen))
}

fn to_plan(cache: &Cache, decision: Decision, slots: Vec<u16>) -> Result<Plan, CorridorError> {
    let Some(lane) = decision.lane else {
        return Err(CorridorError::Topology(
            "the planner decided without a physics verdict".into(),
        ));
    };
    let run = decision.module_lanes.first().map_or(0, |&(_, run)| run);
    let module_lanes: Vec<u8> = (0..32u8)
        .filter(|b| run >> b & 1 == 1)
        .map(|b| b + 1)
        .collect();
    let preempt = decision
        .preempt
        .iter()
        .map(|g| {
            cache.by_grant.get(g).cloned().ok_or_else(|| {
                CorridorError::Topology(format!("the planning cache lost grant {g:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        lane_ports: decision
            .module_lanes
            .iter()
            .map(|&(n, _)| n.index())
            .collect(),
        path: decision.path,
        slots,
        module_lanes,
        lane,
        preempt,
    })
}

/// What the planner's refusal means for the client: capacity that is held
/// (retry later), a request no port can carry, or one no path can meet.
fn refusal(fabric: &Fabric, blocked: &Blocked, tried: usize) -> CorridorError {
    let link = blocked
        .binding_link
        .map(|l| format!(" (binding link {})", fabric.link_id(l)))
        .unwrap_or_default();
    let port = |n: corridor_planner::NodeId| fabric.ports[n.index()].id.clone();
    match &blocked.reason {
        BlockReason::Wavelengths { lanes, free } => CorridorError::InsufficientCapacity(format!(
            "the requested channels are taken: {free} of {lanes} free on the shortest feasible path{link} ({tried} port pair(s) tried)"
        )),
        BlockReason::ModuleLanes { lanes, node, free } => {
            CorridorError::InsufficientCapacity(format!(
                "no run of {lanes} consecutive module lanes is free on every port of the path: port {} has {free} free ({tried} port pair(s) tried)",
                port(*node)
            ))
        }
        BlockReason::PortLanes {
            lanes,
            node,
            module_lanes,
        } => CorridorError::ExceedsPortLanes {
            lanes: *lanes,
            port: port(*node),
            module_lanes: *module_lanes,
        },
        BlockReason::NodeRate {
            node,
            lanes,
            max_gbps,
            min_gbps,
        } => CorridorError::PortApplication {
            port: port(*node),
            wanted: format!(
                "{lanes} lanes giving {min_gbps} Gb/s net (at most {max_gbps:.1} Gb/s on this path)"
            ),
            applications: super::optics::describe(&fabric.ports[node.index()].applications),
        },
        BlockReason::Invalid(message) => CorridorError::Field {
            pointer: String::new(),
            rule: "plannable",
            message: (*message).into(),
        },
        other => {
            CorridorError::NoFeasiblePath(format!("{other}{link} ({tried} port pair(s) tried)"))
        }
    }
}

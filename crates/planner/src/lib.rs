//! # corridor-planner
//!
//! Pure routing and wavelength assignment (RWA) for CorridorOS photonic corridors: no I/O, no
//! clock, no global state; deterministic given its inputs (and the seed, for the simulator).
//!
//! | module | holds |
//! |---|---|
//! | [`graph`] | optical topology from plain data: nodes, undirected links (length, medium, couplers, W) |
//! | [`ksp`] | Yen's k shortest loopless paths, cached for every pair |
//! | [`occupancy`] | per-link `u128` wavelength and per-node `u32` module-lane bitsets, grants, revision (compare-and-swap token) |
//! | [`policy`] | [`WavelengthPolicy`]: [`MaxSum`] (the default), [`FirstFitShortest`] and [`KspFirstFit`] (baselines), [`AdaptiveKsp`] (the previous default) |
//! | [`planner`] | [`Planner::decide`]: feasibility (reach, latency, BER via `corridor-physics`), QoS, pre-emption |
//! | [`sim`] | seeded dynamic-traffic simulator (Poisson arrivals, exponential holding), Erlang-B |
//! | [`topologies`] | NSFNET (14 nodes, 21 links) and a single link |
//! | [`cxl`] | CXL fabric paths: fewest-switch, widest route with every port's bandwidth and the latency bound |
//! | [`memory`] | free-form memory: bundle placement (weighted interleave) and the time-windowed bandwidth-floor ledger |
//!
//! ```
//! use corridor_planner::*;
//!
//! let topo = topologies::nsfnet(16, 1.0);
//! let planner = Planner::new(topo, 4, Metric::Length);
//! let mut occ = Occupancy::new(planner.topology());
//! let req = CorridorDemand::wavelengths(NodeId(0), NodeId(12), 2, Qos::Silver);
//! let policy = MaxSum::new(&planner);
//! let d = planner.decide(&occ, &req, &policy).unwrap();
//! assert_eq!(d.channels, vec![0, 1]);
//! occ.apply(&d, GrantId(1)).unwrap();
//! // The same decision cannot be applied twice: the revision moved on.
//! assert!(occ.apply(&d, GrantId(2)).is_err());
//! ```

pub mod cxl;
pub mod graph;
pub mod ksp;
pub mod memory;
pub mod occupancy;
pub mod planner;
pub mod policy;
pub mod sim;
pub mod topologies;

pub use graph::{
    Graph, GraphSpec, Link, LinkId, LinkSpec, MAX_MODULE_LANES, MAX_WAVELENGTHS, MODULE_LANE_BANK,
    NodeId, NodeSpec, TopologyError,
};
pub use ksp::{Metric, Path, PathCache, k_shortest_paths};
pub use occupancy::{
    Grant, GrantId, LaneMask, Mask, Occupancy, OccupancyError, Qos, full_lanes, full_mask,
    mask_indices, mask_of,
};
pub use planner::{BlockReason, Blocked, CorridorDemand, Decision, LanePlan, LaneSpec, Planner};
pub use policy::{
    AdaptiveKsp, Assign, Candidate, Choice, FirstFitShortest, KspFirstFit, MAX_SUM_EXTRA_HOPS,
    MaxSum, WavelengthPolicy, first_fit, most_used,
};

#[cfg(test)]
mod tests;

//! CXL fabric paths: a constrained search over a switch graph.
//!
//! The graph has switches with numbered ports; a port is cabled to an endpoint (a host's
//! root port or a memory device) or, by an inter-switch link, to another switch's port. A
//! route from one endpoint to another enters the fabric at a port of the source, crosses
//! one or more switches and leaves at a port of the target. [`CxlFabric::route`] finds,
//! among the routes whose every port has the guaranteed bandwidth free, the one crossing
//! the fewest switches and, among those, the widest (largest bottleneck of free
//! bandwidth), then checks its latency against the bound.
//!
//! Latency of a route: the target's own figure (what a requester sees through one switch)
//! plus [`CxlFabric::switch_hop_ns`] for every further switch. Bandwidth is counted per
//! port, both directions together (a conservative model: a path's guarantee is held on
//! every port it crosses, whichever way its traffic flows).

use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

/// What sits at either end of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// A host's CXL root port.
    Host,
    /// A memory device (Type-3 SLD or MLD).
    Device,
}

/// An endpoint as the search knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Host or device.
    pub kind: EndpointKind,
    /// Idle latency seen by a requester reaching this endpoint through one switch, ns.
    pub latency_ns: u64,
    /// Indices of the switch ports it is cabled to.
    pub ports: Vec<usize>,
}

/// One switch port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// Index of its switch.
    pub switch: usize,
    /// Port number on that switch.
    pub number: u8,
    /// What it can carry, Gb/s (per direction).
    pub capacity_gbps: f64,
    /// The port at the other end of an inter-switch link, if it is one.
    pub peer: Option<usize>,
}

/// One switch crossed by a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Switch index.
    pub switch: usize,
    /// Port index the route enters by.
    pub ingress: usize,
    /// Port index the route leaves by.
    pub egress: usize,
}

/// A route through the fabric.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Switches crossed, in order.
    pub hops: Vec<Hop>,
    /// Predicted idle latency, ns.
    pub latency_ns: u64,
    /// The least free bandwidth over its ports before this path, Gb/s.
    pub bottleneck_gbps: f64,
}

impl Route {
    /// Every port the route uses (ingress and egress of every hop), in order.
    pub fn ports(&self) -> impl Iterator<Item = usize> + '_ {
        self.hops.iter().flat_map(|h| [h.ingress, h.egress])
    }
}

/// What a path needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand<'a> {
    /// Source endpoint name.
    pub source: &'a str,
    /// Target endpoint name.
    pub target: &'a str,
    /// Bandwidth to hold on every port, Gb/s.
    pub min_gbps: f64,
    /// Bound on the route's latency, ns.
    pub max_latency_ns: u64,
    /// At most this many switches (1 for hierarchy-based routing); `None`: any.
    pub max_switches: Option<usize>,
}

/// Why no route was found.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteError {
    /// The source or target is not an endpoint of the fabric.
    UnknownEndpoint {
        /// `source` or `target`.
        which: &'static str,
        /// The name given.
        name: String,
    },
    /// No usable route joins them, whatever the bandwidth held.
    Disconnected,
    /// Routes exist, but on the best of them this port has too little free.
    Bandwidth {
        /// The port.
        port: usize,
        /// What is free on it, Gb/s.
        free_gbps: f64,
        /// What the path needs, Gb/s.
        needed_gbps: f64,
    },
    /// The best route with the bandwidth is slower than the bound.
    Latency {
        /// Its latency, ns.
        best_ns: u64,
        /// The bound, ns.
        bound_ns: u64,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::UnknownEndpoint { which, name } => {
                write!(f, "{which} {name:?} is not a fabric endpoint")
            }
            RouteError::Disconnected => f.write_str("no working route joins the endpoints"),
            RouteError::Bandwidth {
                port,
                free_gbps,
                needed_gbps,
            } => write!(
                f,
                "port {port} has {free_gbps} Gb/s free, {needed_gbps} Gb/s needed"
            ),
            RouteError::Latency { best_ns, bound_ns } => {
                write!(
                    f,
                    "the fastest route takes {best_ns} ns, above {bound_ns} ns"
                )
            }
        }
    }
}

impl std::error::Error for RouteError {}

/// A CXL fabric: switches, their ports, and the endpoints cabled to them.
#[derive(Debug, Clone, Default)]
pub struct CxlFabric {
    switches: Vec<String>,
    ports: Vec<Port>,
    /// Port indices of each switch, so a search step looks at one switch's ports only.
    ports_of: Vec<Vec<usize>>,
    endpoints: BTreeMap<String, Endpoint>,
    /// Added for every switch a route crosses after the first, ns.
    pub switch_hop_ns: u64,
}

/// A search label: the best way found to reach a switch through a given ingress port.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Label {
    switches: usize,
    bottleneck: f64,
    ingress: usize,
}

impl Eq for Label {}

impl Ord for Label {
    /// Fewer switches first, then the wider bottleneck (a max-heap pops the greatest).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .switches
            .cmp(&self.switches)
            .then(self.bottleneck.total_cmp(&other.bottleneck))
            .then(other.ingress.cmp(&self.ingress))
    }
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl CxlFabric {
    /// An empty fabric adding `switch_hop_ns` per switch after the first.
    pub fn new(switch_hop_ns: u64) -> Self {
        CxlFabric {
            switch_hop_ns,
            ..Self::default()
        }
    }

    /// Adds a switch; returns its index.
    pub fn add_switch(&mut self, name: impl Into<String>) -> usize {
        self.switches.push(name.into());
        self.ports_of.push(Vec::new());
        self.switches.len() - 1
    }

    /// Adds a port to `switch`; returns its index.
    pub fn add_port(&mut self, switch: usize, number: u8, capacity_gbps: f64) -> usize {
        self.ports.push(Port {
            switch,
            number,
            capacity_gbps,
            peer: None,
        });
        let index = self.ports.len() - 1;
        self.ports_of[switch].push(index);
        index
    }

    /// Sets what `port` carries, Gb/s per direction.
    pub fn set_capacity(&mut self, port: usize, capacity_gbps: f64) {
        self.ports[port].capacity_gbps = capacity_gbps;
    }

    /// Cables two ports of different switches together.
    pub fn link(&mut self, a: usize, b: usize) {
        self.ports[a].peer = Some(b);
        self.ports[b].peer = Some(a);
    }

    /// Cables an endpoint to `port` (an endpoint may have several ports).
    pub fn attach(&mut self, name: &str, kind: EndpointKind, latency_ns: u64, port: usize) {
        self.endpoints
            .entry(name.to_owned())
            .or_insert_with(|| Endpoint {
                kind,
                latency_ns,
                ports: Vec::new(),
            })
            .ports
            .push(port);
    }

    /// Switch names, by index.
    pub fn switches(&self) -> &[String] {
        &self.switches
    }

    /// Ports, by index.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// The port with this switch index and number.
    pub fn port_index(&self, switch: usize, number: u8) -> Option<usize> {
        self.ports_of
            .get(switch)?
            .iter()
            .copied()
            .find(|&p| self.ports[p].number == number)
    }

    /// The endpoint with this name.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(name)
    }

    /// Every endpoint, by name.
    pub fn endpoints(&self) -> impl Iterator<Item = (&str, &Endpoint)> {
        self.endpoints.iter().map(|(n, e)| (n.as_str(), e))
    }

    /// The endpoint cabled to `port`, if any.
    pub fn endpoint_at(&self, port: usize) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|(_, e)| e.ports.contains(&port))
            .map(|(n, _)| n.as_str())
    }

    /// The best route for `demand`, given what is free on each port (`None`: the port is
    /// down and carries nothing).
    pub fn route(
        &self,
        demand: &Demand<'_>,
        free: impl Fn(usize) -> Option<f64>,
    ) -> Result<Route, RouteError> {
        let endpoint = |which: &'static str, name: &str| {
            self.endpoints
                .get(name)
                .ok_or_else(|| RouteError::UnknownEndpoint {
                    which,
                    name: name.to_owned(),
                })
        };
        let source = endpoint("source", demand.source)?;
        let target = endpoint("target", demand.target)?;
        let need = demand.min_gbps;
        if let Some(route) = self.search(source, target, demand.max_switches, |p| {
            free(p).filter(|&f| f >= need)
        }) {
            if route.latency_ns > demand.max_latency_ns {
                return Err(RouteError::Latency {
                    best_ns: route.latency_ns,
                    bound_ns: demand.max_latency_ns,
                });
            }
            return Ok(route);
        }
        // Why not: the best route that ignores the bandwidth names the binding port.
        let Some(best) = self.search(source, target, demand.max_switches, &free) else {
            return Err(RouteError::Disconnected);
        };
        let (port, free_gbps) = best
            .ports()
            .filter_map(|p| free(p).map(|f| (p, f)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a route has ports");
        Err(RouteError::Bandwidth {
            port,
            free_gbps,
            needed_gbps: need,
        })
    }

    /// Fewest switches, then widest: a lexicographic Dijkstra over (switch, ingress port)
    /// labels. Ports for which `usable` answers `None` are not crossed.
    fn search(
        &self,
        source: &Endpoint,
        target: &Endpoint,
        max_switches: Option<usize>,
        usable: impl Fn(usize) -> Option<f64>,
    ) -> Option<Route> {
        let limit = max_switches.unwrap_or(usize::MAX);
        // Best label per ingress port, and the (egress, ingress) of the switch before.
        let mut best: Vec<Option<Label>> = vec![None; self.ports.len()];
        let mut came_from: Vec<Option<(usize, usize)>> = vec![None; self.ports.len()];
        let mut heap = BinaryHeap::new();
        for &p in &source.ports {
            if let Some(f) = usable(p) {
                let label = Label {
                    switches: 1,
                    bottleneck: f,
                    ingress: p,
                };
                if best[p].is_none_or(|b| label > b) {
                    best[p] = Some(label);
                    heap.push(label);
                }
            }
        }
        let mut found: Option<(Label, usize)> = None;
        while let Some(label) = heap.pop() {
            if best[label.ingress] != Some(label) {
                continue; // superseded
            }
            if found.is_some_and(|(f, _)| f >= label) {
                break;
            }
            let switch = self.ports[label.ingress].switch;
            for &egress in &self.ports_of[switch] {
                if egress == label.ingress {
                    continue;
                }
                let port = &self.ports[egress];
                let Some(f) = usable(egress) else { continue };
                let bottleneck = label.bottleneck.min(f);
                if target.ports.contains(&egress) {
                    let done = Label {
                        bottleneck,
                        ..label
                    };
                    if found.is_none_or(|(b, _)| done > b) {
                        found = Some((done, egress));
                    }
                    continue;
                }
                let Some(next) = port.peer else { continue };
                if label.switches + 1 > limit {
                    continue;
                }
                let Some(g) = usable(next) else { continue };
                let candidate = Label {
                    switches: label.switches + 1,
                    bottleneck: bottleneck.min(g),
                    ingress: next,
                };
                if best[next].is_none_or(|b| candidate > b) {
                    best[next] = Some(candidate);
                    came_from[next] = Some((egress, label.ingress));
                    heap.push(candidate);
                }
            }
        }
        let (label, last_egress) = found?;
        // Walk back from the target's port. A label popped is final (Dijkstra), so each
        // predecessor recorded is the one its own route was built on.
        let mut hops = Vec::new();
        let (mut egress, mut ingress) = (last_egress, label.ingress);
        loop {
            hops.push(Hop {
                switch: self.ports[ingress].switch,
                ingress,
                egress,
            });
            let Some((previous_egress, previous_ingress)) = came_from[ingress] else {
                break;
            };
            (egress, ingress) = (previous_egress, previous_ingress);
        }
        hops.reverse();
        let extra = hops.len().saturating_sub(1) as u64;
        Some(Route {
            latency_ns: target.latency_ns + extra * self.switch_hop_ns,
            bottleneck_gbps: label.bottleneck,
            hops,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two switches joined by one ISL; h0 on sw0, d0 on sw0, d1 on sw1.
    fn two_switches() -> CxlFabric {
        let mut f = CxlFabric::new(100);
        let s0 = f.add_switch("sw0");
        let s1 = f.add_switch("sw1");
        let h0 = f.add_port(s0, 0, 512.0);
        let d0 = f.add_port(s0, 8, 256.0);
        let isl0 = f.add_port(s0, 12, 512.0);
        let isl1 = f.add_port(s1, 12, 512.0);
        let d1 = f.add_port(s1, 8, 256.0);
        f.link(isl0, isl1);
        f.attach("h0", EndpointKind::Host, 300, h0);
        f.attach("d0", EndpointKind::Device, 300, d0);
        f.attach("d1", EndpointKind::Device, 300, d1);
        f
    }

    fn demand<'a>(source: &'a str, target: &'a str, min: f64, max_ns: u64) -> Demand<'a> {
        Demand {
            source,
            target,
            min_gbps: min,
            max_latency_ns: max_ns,
            max_switches: None,
        }
    }

    fn all_free(f: &CxlFabric) -> impl Fn(usize) -> Option<f64> + '_ {
        |p| Some(f.ports()[p].capacity_gbps)
    }

    #[test]
    fn one_switch_route_costs_the_targets_latency() {
        let f = two_switches();
        let r = f
            .route(&demand("h0", "d0", 50.0, 300), all_free(&f))
            .unwrap();
        assert_eq!(r.hops.len(), 1);
        assert_eq!(r.latency_ns, 300);
        assert_eq!(f.ports()[r.hops[0].ingress].number, 0);
        assert_eq!(f.ports()[r.hops[0].egress].number, 8);
        assert_eq!(r.bottleneck_gbps, 256.0);
    }

    #[test]
    fn an_isl_adds_a_switch_hop() {
        let f = two_switches();
        let r = f
            .route(&demand("h0", "d1", 50.0, 400), all_free(&f))
            .unwrap();
        assert_eq!(r.hops.len(), 2);
        assert_eq!(r.latency_ns, 400);
        let numbers: Vec<u8> = r.ports().map(|p| f.ports()[p].number).collect();
        assert_eq!(numbers, [0, 12, 12, 8]);
        // One switch only (hierarchy-based routing) cannot reach d1.
        let mut hbr = demand("h0", "d1", 50.0, 400);
        hbr.max_switches = Some(1);
        assert_eq!(f.route(&hbr, all_free(&f)), Err(RouteError::Disconnected));
    }

    #[test]
    fn the_binding_constraint_is_named() {
        let f = two_switches();
        assert_eq!(
            f.route(&demand("h0", "d1", 50.0, 399), all_free(&f)),
            Err(RouteError::Latency {
                best_ns: 400,
                bound_ns: 399
            })
        );
        // d0's port has 20 Gb/s left.
        let d0 = f.port_index(0, 8).unwrap();
        let free = |p: usize| Some(if p == d0 { 20.0 } else { 512.0 });
        assert_eq!(
            f.route(&demand("h0", "d0", 50.0, 300), free),
            Err(RouteError::Bandwidth {
                port: d0,
                free_gbps: 20.0,
                needed_gbps: 50.0
            })
        );
        // A port that is down is not crossed at all.
        let down = |p: usize| if p == d0 { None } else { Some(512.0) };
        assert_eq!(
            f.route(&demand("h0", "d0", 0.0, 300), down),
            Err(RouteError::Disconnected)
        );
        assert!(matches!(
            f.route(&demand("h9", "d0", 1.0, 300), all_free(&f)),
            Err(RouteError::UnknownEndpoint {
                which: "source",
                ..
            })
        ));
    }

    #[test]
    fn among_equal_routes_the_widest_wins() {
        let mut f = CxlFabric::new(100);
        let s0 = f.add_switch("sw0");
        let s1 = f.add_switch("sw1");
        for (s, cap) in [(s0, 128.0), (s1, 512.0)] {
            let h = f.add_port(s, 0, 512.0);
            let d = f.add_port(s, 8, cap);
            f.attach("h0", EndpointKind::Host, 300, h);
            f.attach("pool", EndpointKind::Device, 300, d);
        }
        let r = f
            .route(&demand("h0", "pool", 10.0, 300), all_free(&f))
            .unwrap();
        assert_eq!(r.hops[0].switch, s1);
    }

    #[test]
    fn a_three_switch_chain_is_walked_back_in_order() {
        let mut f = CxlFabric::new(100);
        let s: Vec<usize> = (0..3).map(|i| f.add_switch(format!("sw{i}"))).collect();
        let h = f.add_port(s[0], 0, 512.0);
        f.attach("h0", EndpointKind::Host, 300, h);
        let a = f.add_port(s[0], 20, 512.0);
        let b = f.add_port(s[1], 20, 512.0);
        let c = f.add_port(s[1], 21, 512.0);
        let d = f.add_port(s[2], 21, 512.0);
        f.link(a, b);
        f.link(c, d);
        let dev = f.add_port(s[2], 8, 256.0);
        f.attach("d", EndpointKind::Device, 300, dev);
        let r = f
            .route(&demand("h0", "d", 1.0, 1_000), all_free(&f))
            .unwrap();
        let switches: Vec<usize> = r.hops.iter().map(|h| h.switch).collect();
        assert_eq!(switches, s);
        assert_eq!(r.ports().collect::<Vec<_>>(), [h, a, b, c, d, dev]);
        assert_eq!(r.latency_ns, 500);
    }
}

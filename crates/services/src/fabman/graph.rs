//! The CXL fabric as fabmand routes over it, from the topology's cabling: switches and
//! their ports, hosts on upstream ports, devices on downstream ports.
//!
//! Which host is cabled to which upstream port is configuration (FM API does not say who
//! is behind a USP); whether a port and its device are there now comes from FM API
//! discovery, applied by the service.

use std::collections::BTreeMap;

use corridor_hal::Topology;
use corridor_hal::topology::{CxlDeviceKind, PortPeer, PortRole};
use corridor_planner::cxl::{CxlFabric, EndpointKind};

/// Added per switch a route crosses after the first: Pond (ASPLOS'23) puts a switched
/// pool at local + >180 ns and a direct expander at local + 70–90 ns, so one switch
/// level costs about 180 − 80 = 100 ns (derived, memory-cxl.md §6).
pub const SWITCH_HOP_NS: u64 = 100;

/// A host's memory reached across the fabric (GIM) costs its local latency plus the
/// switched-pool overhead, >180 ns (Pond, memory-cxl.md §6); 190 ns is the figure the
/// default topology uses for a direct expander's whole path, so it is a floor here.
pub const GIM_OVERHEAD_NS: u64 = 190;

/// The share of a port's bandwidth that guarantees may take: above ~65–75 % of peak,
/// latency turns exponential (weighted-interleave cover letter, memory-cxl.md §5); the
/// same share memqosd admits memory floors against.
pub const ADMISSION_SHARE: f64 = 0.75;

const BITS_PER_BYTE: f64 = 8.0;

/// What fabmand needs to know about a device beyond the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceFacts {
    pub switch: String,
    pub port: u8,
    pub mld: bool,
    /// The device's own bandwidth, Gb/s.
    pub gbps: f64,
}

/// The routing graph with the facts programming needs.
#[derive(Debug, Clone)]
pub struct FabricMap {
    pub graph: CxlFabric,
    pub devices: BTreeMap<String, DeviceFacts>,
}

impl FabricMap {
    pub fn from_topology(topology: &Topology) -> Self {
        let mut graph = CxlFabric::new(SWITCH_HOP_NS);
        let mut devices = BTreeMap::new();
        // Fabric ports by (switch, port), cabled together once every switch is in.
        let mut fabric_ports: BTreeMap<(String, u8), (usize, String, u8)> = BTreeMap::new();
        for sw in topology.cxl_switches() {
            let s = graph.add_switch(sw.id.as_str());
            for p in &sw.ports {
                // Raw signalling per direction: x16 at 32 GT/s is 512 Gb/s (64 GB/s,
                // memory-cxl.md §6).
                let raw = f64::from(p.width) * p.speed_gts.get();
                match (&p.connected_to, p.role) {
                    (Some(PortPeer::Host(h)), PortRole::Upstream) => {
                        let index = graph.add_port(s, p.port, raw);
                        let latency = topology
                            .host(h.as_str())
                            .and_then(|host| {
                                host.memory
                                    .iter()
                                    .map(|m| m.latency_ns.get().round() as u64)
                                    .min()
                            })
                            .map_or(GIM_OVERHEAD_NS, |l| l + GIM_OVERHEAD_NS);
                        graph.attach(h.as_str(), EndpointKind::Host, latency, index);
                    }
                    (Some(PortPeer::Device(d)), PortRole::Downstream) => {
                        let Some(device) = topology.cxl_device(d.as_str()) else {
                            continue;
                        };
                        let gbps = device.bandwidth_gbs.get() * BITS_PER_BYTE;
                        // A device port carries no more than the device delivers.
                        let index = graph.add_port(s, p.port, raw.min(gbps));
                        graph.attach(
                            d.as_str(),
                            EndpointKind::Device,
                            device.latency_ns.get().round() as u64,
                            index,
                        );
                        devices.insert(
                            d.as_str().to_owned(),
                            DeviceFacts {
                                switch: sw.id.as_str().to_owned(),
                                port: p.port,
                                mld: device.kind == CxlDeviceKind::Type3Mld,
                                gbps,
                            },
                        );
                    }
                    (Some(PortPeer::Switch(other)), PortRole::Fabric) => {
                        let index = graph.add_port(s, p.port, raw);
                        fabric_ports.insert(
                            (sw.id.as_str().to_owned(), p.port),
                            (index, other.id.as_str().to_owned(), other.port),
                        );
                    }
                    // Empty ports carry nothing until a device is cabled (and the
                    // topology says what it is).
                    _ => {}
                }
            }
        }
        // An inter-switch link carries what the slower of its two ends does.
        for (index, other_switch, other_port) in fabric_ports.values() {
            if let Some((peer, _, _)) = fabric_ports.get(&(other_switch.clone(), *other_port))
                && index < peer
            {
                let capacity = graph.ports()[*index]
                    .capacity_gbps
                    .min(graph.ports()[*peer].capacity_gbps);
                graph.set_capacity(*index, capacity);
                graph.set_capacity(*peer, capacity);
                graph.link(*index, *peer);
            }
        }
        FabricMap { graph, devices }
    }

    /// `switch/port` of a port index, as the ledger and errors name it.
    pub fn port_name(&self, port: usize) -> String {
        let p = &self.graph.ports()[port];
        format!("{}/{}", self.graph.switches()[p.switch], p.number)
    }

    /// What guarantees may take on a port, Gb/s.
    pub fn admissible_gbps(&self, port: usize) -> f64 {
        self.graph.ports()[port].capacity_gbps * ADMISSION_SHARE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rack_has_hosts_and_devices_on_both_switches() {
        let map = FabricMap::from_topology(&Topology::default_twin());
        assert_eq!(map.graph.switches().len(), 2);
        let dev = map.graph.endpoint("cxl-dev-001").unwrap();
        assert_eq!(dev.kind, EndpointKind::Device);
        assert_eq!(dev.latency_ns, 300);
        let h0 = map.graph.endpoint("h0").unwrap();
        assert_eq!(h0.kind, EndpointKind::Host);
        // h0 reaches both switches.
        assert_eq!(h0.ports.len(), 2);
        assert!(map.devices["cxl-dev-001"].mld);
        assert!(!map.devices["cxl-dev-002"].mld);
    }
}

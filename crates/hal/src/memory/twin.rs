//! Memory of the digital twin: the topology's host memory devices and CXL devices as nodes.
//!
//! * Each host memory device (`[[hosts.memory]]`: HBM, DRAM, direct CXL, pmem) is a node of
//!   its host, on its `numa_node`, with the topology's capacity, bandwidth (used for read and
//!   write) and latency, all marked [`FigureSource::Twin`]. A `cxl` device lists itself as its
//!   memdev; a `pmem` device is persistent media.
//! * Each switched CXL device (`[[cxl_devices]]`) is a node with no host and no NUMA node (it
//!   becomes one only when the fabric manager binds it), with its media from the topology,
//!   reachable from every host with an upstream port on its switch.
//! * The inventory's realm is [`NodeRealm::Modelled`]: the twin hosts' NUMA numbers name no
//!   node of the machine corridord runs on, and nothing may pass them to `mbind`.
//!
//! Modelled, not measured: free bytes equal capacity (allocations are the planner's ledger,
//! not this layer's); there are no kernel tiers and no weighted-interleave state.

use super::{
    CxlMemdev, Figure, FigureSource, MediaKind, MemoryError, MemoryInventory, MemoryNode,
    MemoryProvider, NodeRealm, Performance, WeightedInterleave,
};
use crate::topology::{Media, MemoryTier, Topology};

/// Memory discovery over a twin topology.
#[derive(Debug, Clone)]
pub struct TwinMemory {
    inventory: MemoryInventory,
}

impl TwinMemory {
    /// Build the inventory of the whole rack.
    #[must_use]
    pub fn new(topology: &Topology) -> Self {
        let perf = |bw: f64, ns: f64| {
            let bw = Some(Figure::new(bw, FigureSource::Twin));
            let ns = Some(Figure::new(ns, FigureSource::Twin));
            Performance {
                read_bandwidth_gbs: bw,
                write_bandwidth_gbs: bw,
                read_latency_ns: ns,
                write_latency_ns: ns,
            }
        };
        let mut nodes = Vec::new();
        let mut cxl_memdevs = Vec::new();
        for (host, dev) in topology.memory_devices() {
            let is_cxl = dev.tier == MemoryTier::Cxl;
            if is_cxl {
                cxl_memdevs.push(CxlMemdev {
                    name: dev.id.as_str().to_owned(),
                    serial: None,
                    numa_node: None,
                    ram_bytes: Some(dev.bytes.get()),
                    pmem_bytes: None,
                    firmware_version: None,
                    host: None,
                });
            }
            nodes.push(MemoryNode {
                id: dev.id.as_str().to_owned(),
                host: Some(host.id.as_str().to_owned()),
                reachable_from: vec![host.id.as_str().to_owned()],
                numa_node: Some(dev.numa_node),
                cpus: None,
                total_bytes: Some(dev.bytes.get()),
                free_bytes: Some(dev.bytes.get()),
                performance: perf(dev.bandwidth_gbs.get(), dev.latency_ns.get()),
                media: if dev.tier == MemoryTier::Pmem {
                    MediaKind::Persistent
                } else {
                    MediaKind::Volatile
                },
                cxl_memdevs: if is_cxl {
                    vec![dev.id.as_str().to_owned()]
                } else {
                    Vec::new()
                },
                cxl_regions: Vec::new(),
                kernel_tier: None,
            });
        }
        for dev in topology.cxl_devices() {
            let persistent = dev.media == Media::Pmem;
            let bytes = dev.capacity_bytes.get();
            cxl_memdevs.push(CxlMemdev {
                name: dev.id.as_str().to_owned(),
                serial: Some(dev.serial_number.clone()),
                numa_node: None,
                ram_bytes: Some(if persistent { 0 } else { bytes }),
                pmem_bytes: Some(if persistent { bytes } else { 0 }),
                firmware_version: Some(dev.firmware_version.clone()),
                host: None,
            });
            nodes.push(MemoryNode {
                id: dev.id.as_str().to_owned(),
                host: None,
                reachable_from: topology
                    .hosts_on_switch(dev.switch.as_str())
                    .map(|h| h.id.as_str().to_owned())
                    .collect(),
                numa_node: None,
                cpus: Some(Vec::new()),
                total_bytes: Some(bytes),
                free_bytes: Some(bytes),
                performance: perf(dev.bandwidth_gbs.get(), dev.latency_ns.get()),
                media: if persistent {
                    MediaKind::Persistent
                } else {
                    MediaKind::Volatile
                },
                cxl_memdevs: vec![dev.id.as_str().to_owned()],
                cxl_regions: Vec::new(),
                kernel_tier: None,
            });
        }
        Self {
            inventory: MemoryInventory {
                realm: NodeRealm::Modelled,
                nodes,
                cxl_memdevs,
                cxl_regions: Vec::new(),
                kernel_tiers: Vec::new(),
                weighted_interleave: None,
            },
        }
    }
}

impl MemoryProvider for TwinMemory {
    fn discover(&self) -> Result<MemoryInventory, MemoryError> {
        Ok(self.inventory.clone())
    }

    fn weighted_interleave(&self) -> Result<Option<WeightedInterleave>, MemoryError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Tier;

    #[test]
    fn default_twin_tiers() {
        let topo = Topology::default_twin();
        let inv = TwinMemory::new(&topo).discover().unwrap();
        assert_eq!(
            inv.nodes.len(),
            topo.memory_devices().count() + topo.cxl_devices().len()
        );
        let expect = [
            ("h0-dram0", Tier::T1),
            ("h0-hbm0", Tier::T0),
            ("h0-cxl0", Tier::T2),
            ("h1-dram1", Tier::T1),
            ("h1-cxl0", Tier::T2),
            ("h2-hbm0", Tier::T0),
            ("h3-dram0", Tier::T1),
            ("h3-pmem0", Tier::T3),
            ("cxl-dev-001", Tier::T2),
            ("cxl-dev-002", Tier::T2),
            ("cxl-dev-004", Tier::T3),
        ];
        for (id, tier) in expect {
            assert_eq!(inv.tier_of(id), Some(tier), "{id}");
        }
        // Every twin node has every figure, from the twin.
        for n in &inv.nodes {
            assert_eq!(
                n.performance.read_latency_ns.map(|f| f.source),
                Some(FigureSource::Twin)
            );
            assert!(n.total_bytes.unwrap() > 0);
        }
        assert!(inv.tiers().iter().all(Option::is_some));
        let hbm = inv.node("h0-hbm0").unwrap();
        assert_eq!(hbm.numa_node, Some(2));
        assert_eq!(hbm.performance.bandwidth_gbs(), Some(1640.0));
        assert_eq!(inv.node("h1-cxl0").unwrap().cxl_memdevs, vec!["h1-cxl0"]);
        // Host memory is its host's alone; a pool device is every host's that has an upstream
        // port on its switch; none of the numbers are this machine's.
        assert_eq!(inv.realm, NodeRealm::Modelled);
        assert_eq!(inv.node("h1-cxl0").unwrap().reachable_from, vec!["h1"]);
        assert_eq!(
            inv.node("cxl-dev-003").unwrap().reachable_from,
            vec!["h0", "h1", "h2", "h3"]
        );
    }

    #[test]
    fn tiers_follow_figures_not_names() {
        // Relabel: an "hbm" device with DRAM figures is T1; a "dram" at CXL latency is T2.
        let mut doc = Topology::default_twin().into_document();
        for host in &mut doc.hosts {
            for m in &mut host.memory {
                if m.id.as_str() == "h0-hbm0" {
                    m.bandwidth_gbs = crate::topology::GigabytesPerSecond(205.0);
                }
                if m.id.as_str() == "h0-dram1" {
                    m.latency_ns = crate::topology::Nanoseconds(200.0);
                }
            }
        }
        let topo = Topology::from_document(doc, "test").unwrap();
        let inv = TwinMemory::new(&topo).discover().unwrap();
        assert_eq!(inv.tier_of("h0-hbm0"), Some(Tier::T1));
        assert_eq!(inv.tier_of("h0-dram1"), Some(Tier::T2));
        assert_eq!(inv.tier_of("h0-hbm1"), Some(Tier::T0));
    }
}

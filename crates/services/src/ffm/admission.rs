//! Memory devices as the admission ledger sees them, from a `MemoryProvider`
//! (the twin's topology by default, Linux sysfs where configured): each with
//! the hosts that reach it, and whether its memory is this machine's NUMA
//! node (a real `mbind` target) or a modelled twin device.

use corridor_hal::memory::{
    self as hal, FigureSource, LOCAL_BAND_EXTRA_NS, MediaKind, MemoryInventory, MemoryNode,
    NodeRealm, T0_BANDWIDTH_RATIO, T0_MIN_BANDWIDTH_GBS, T3_EXTRA_NS, TierReference,
};
use corridor_model::ffm::LatencyClass;
use corridor_model::memory_tiers::{
    self as view, FigureOrigin, SourcedFigure, TierBasis, TierSource,
};
use corridor_planner::memory::{Device, Tier};

/// Where a device's memory is, as far as `mbind` is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A NUMA node of the machine memqosd runs on (sysfs discovery): bundles
    /// placed on the device are bound to it.
    ThisMachine(u32),
    /// A twin device (or a node with no NUMA number): the placement is
    /// modelled and maps to no node of this machine.
    Modelled,
}

/// A ledger device and where its memory lives for `mbind`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// The ledger's device, with the hosts that reach it.
    pub device: Device,
    pub backing: Backing,
    pub peak_gbs: f64,
    /// Whether discovery read the device on this machine or the twin models it.
    pub source: TierSource,
    /// Where `peak_gbs` comes from.
    pub peak_origin: FigureOrigin,
    /// Why the device has its tier (`GET /v1/ffm/tiers`).
    pub basis: TierBasis,
    /// The device the memory is on: the ledger device's own id, or for a slice of a pooled
    /// device ([`super::reach`]) the pooled device's.
    pub physical: String,
    /// The host whose slice of a pooled device this is (`None`: not a slice).
    pub slice_host: Option<String>,
}

pub fn tier(class: LatencyClass) -> Tier {
    match class {
        LatencyClass::T0 => Tier::T0,
        LatencyClass::T1 => Tier::T1,
        LatencyClass::T2 => Tier::T2,
        LatencyClass::T3 => Tier::T3,
    }
}

pub fn class(tier: Tier) -> LatencyClass {
    match tier {
        Tier::T0 => LatencyClass::T0,
        Tier::T1 => LatencyClass::T1,
        Tier::T2 => LatencyClass::T2,
        Tier::T3 => LatencyClass::T3,
    }
}

/// Every node with a tier, a capacity and a bandwidth becomes a device,
/// reachable from the node's hosts (none listed: every host, as for this
/// machine's own nodes); only nodes of [`NodeRealm::ThisMachine`] are backed
/// by a real NUMA node.
/// Nodes the classifier cannot place (no figures even after the memory-cxl.md
/// defaults) are left out and named in the returned notes.
pub fn devices(mut inventory: MemoryInventory) -> (Vec<DeviceInfo>, Vec<String>) {
    inventory.fill_defaults();
    let tiers = inventory.tiers();
    let references = hal::references(&inventory.nodes);
    let source = match inventory.realm {
        NodeRealm::ThisMachine => TierSource::Discovered,
        NodeRealm::Modelled => TierSource::Model,
    };
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for ((node, tier), reference) in inventory.nodes.iter().zip(tiers).zip(references) {
        let (Some(tier), Some(bytes), Some(bw)) =
            (tier, node.total_bytes, node.performance.bandwidth_gbs())
        else {
            notes.push(format!(
                "memory node {} left out of admission: tier, capacity or bandwidth unknown",
                node.id
            ));
            continue;
        };
        let backing = match (inventory.realm, node.numa_node) {
            (NodeRealm::ThisMachine, Some(n)) => Backing::ThisMachine(n),
            _ => Backing::Modelled,
        };
        let peak_origin = node
            .performance
            .read_bandwidth_gbs
            .or(node.performance.write_bandwidth_gbs)
            .map_or(FigureOrigin::Default, |f| origin(f.source));
        out.push(DeviceInfo {
            device: Device::new(node.id.clone(), tier, bytes, bw)
                .reachable_from(node.reachable_from.iter().cloned()),
            backing,
            peak_gbs: bw,
            source,
            peak_origin,
            basis: basis(node, tier, reference),
            physical: node.id.clone(),
            slice_host: None,
        });
    }
    (out, notes)
}

fn origin(source: FigureSource) -> FigureOrigin {
    match source {
        FigureSource::Hmat => FigureOrigin::Hmat,
        FigureSource::Twin => FigureOrigin::Twin,
        FigureSource::Default => FigureOrigin::Default,
    }
}

/// What the classifier (`corridor_hal::memory::classify_one`) saw, and its
/// rule that decided, in words.
fn basis(node: &MemoryNode, tier: Tier, reference: Option<TierReference>) -> TierBasis {
    let perf = &node.performance;
    let latency = perf.read_latency_ns.or(perf.write_latency_ns);
    let bandwidth = perf.bandwidth_gbs();
    let rule = match (node.media, latency, reference) {
        (MediaKind::Persistent, _, _) => "persistent media is T3".to_string(),
        (_, Some(l), Some(r)) => {
            let extra = l.value - r.fastest_latency_ns;
            let above = format!(
                "latency {:.0} ns is {extra:.0} ns above the host's fastest node ({:.0} ns)",
                l.value, r.fastest_latency_ns
            );
            match tier {
                Tier::T3 => format!("{above}: more than {T3_EXTRA_NS:.0} ns above is T3"),
                Tier::T2 => format!(
                    "{above}: more than {LOCAL_BAND_EXTRA_NS:.0} ns and at most {T3_EXTRA_NS:.0} ns above is T2"
                ),
                Tier::T0 => format!(
                    "{above}, within {LOCAL_BAND_EXTRA_NS:.0} ns, and bandwidth {:.0} GB/s is at least {T0_MIN_BANDWIDTH_GBS:.0} GB/s and {T0_BANDWIDTH_RATIO}× the host's slowest local node ({:.0} GB/s): T0",
                    bandwidth.unwrap_or(0.0),
                    r.baseline_bandwidth_gbs.unwrap_or(0.0)
                ),
                Tier::T1 => format!(
                    "{above}, within {LOCAL_BAND_EXTRA_NS:.0} ns, and its bandwidth is not T0's (at least {T0_MIN_BANDWIDTH_GBS:.0} GB/s and {T0_BANDWIDTH_RATIO}× the host's slowest local node): T1"
                ),
            }
        }
        _ => format!("{tier:?}"),
    };
    TierBasis {
        rule,
        latency_ns: latency.map(|f| SourcedFigure {
            value: f.value,
            origin: origin(f.source),
        }),
        fastest_latency_ns: reference.map(|r| r.fastest_latency_ns),
        media: match node.media {
            MediaKind::Volatile => view::MediaKind::Volatile,
            MediaKind::Persistent => view::MediaKind::Persistent,
            MediaKind::Unknown => view::MediaKind::Unknown,
        },
        numa_node: node.numa_node,
        kernel_memory_tier: node.kernel_tier,
        cxl_regions: node.cxl_regions.clone(),
        cxl_memdevs: node.cxl_memdevs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corridor_hal::Topology;
    use corridor_hal::memory::{MemoryProvider, TwinMemory};

    #[test]
    fn only_this_machines_nodes_are_mbind_targets() {
        let twin = TwinMemory::new(&Topology::default_twin())
            .discover()
            .unwrap();
        // The twin's NUMA numbers are the modelled hosts': none is a target.
        let (modelled, _) = devices(twin.clone());
        assert!(!modelled.is_empty());
        assert!(modelled.iter().all(|d| d.backing == Backing::Modelled));
        assert!(modelled.iter().all(|d| d.source == TierSource::Model));
        assert!(
            modelled
                .iter()
                .all(|d| d.peak_origin == FigureOrigin::Twin && !d.basis.rule.is_empty())
        );
        // The same nodes discovered on this machine are bound to their nodes.
        let mut here = twin;
        here.realm = NodeRealm::ThisMachine;
        here.nodes.retain(|n| n.numa_node.is_some());
        for n in &mut here.nodes {
            n.reachable_from.clear();
        }
        let (real, _) = devices(here.clone());
        assert_eq!(real.len(), here.nodes.len());
        for (d, n) in real.iter().zip(&here.nodes) {
            assert_eq!(d.backing, Backing::ThisMachine(n.numa_node.unwrap()));
            assert_eq!(d.source, TierSource::Discovered);
            assert_eq!(d.basis.numa_node, n.numa_node);
            assert!(d.device.reaches(Some("any-host")));
        }
    }
}

#[cfg(test)]
mod discovered {
    use std::path::Path;

    use corridor_hal::memory::{MemoryProvider, SysfsMemory};
    use corridor_model::memory_tiers::{FigureOrigin, TierSource};

    use super::devices;

    /// A machine's nodes read from sysfs say so, with what the kernel
    /// published: HMAT figures, the memory tier, the CXL region.
    #[test]
    fn discovered_nodes_carry_the_kernels_figures() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../hal/tests/fixtures/sysfs-2s-cxl-hmat");
        let inventory = SysfsMemory::new(root).discover().unwrap();
        let (devices, _) = devices(inventory);
        assert!(!devices.is_empty());
        assert!(devices.iter().all(|d| d.source == TierSource::Discovered));
        let cxl = devices
            .iter()
            .find(|d| !d.basis.cxl_regions.is_empty())
            .expect("the CXL node");
        assert_eq!(cxl.peak_origin, FigureOrigin::Hmat, "{cxl:?}");
        assert_eq!(
            cxl.basis.latency_ns.map(|l| l.origin),
            Some(FigureOrigin::Hmat)
        );
        assert!(cxl.basis.kernel_memory_tier.is_some(), "{cxl:?}");
        assert!(
            cxl.basis.rule.contains("above the host's fastest node"),
            "{cxl:?}"
        );
    }
}

//! Memory devices as the admission ledger sees them, from a `MemoryProvider`
//! (the twin's topology by default, Linux sysfs where configured): each with
//! the hosts that reach it, and whether its memory is this machine's NUMA
//! node (a real `mbind` target) or a modelled twin device.

use corridor_hal::memory::{MemoryInventory, NodeRealm};
use corridor_model::ffm::LatencyClass;
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
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (node, tier) in inventory.nodes.iter().zip(tiers) {
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
        out.push(DeviceInfo {
            device: Device::new(node.id.clone(), tier, bytes, bw)
                .reachable_from(node.reachable_from.iter().cloned()),
            backing,
            peak_gbs: bw,
        });
    }
    (out, notes)
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
            assert!(d.device.reaches(Some("any-host")));
        }
    }
}

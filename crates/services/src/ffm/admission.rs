//! Memory devices as the admission ledger sees them, from a `MemoryProvider`
//! (the twin's topology by default, Linux sysfs where configured).

use corridor_hal::memory::{MemoryInventory, Tier as HalTier};
use corridor_model::ffm::LatencyClass;
use corridor_planner::memory::{Device, Tier};

/// A ledger device and where its memory lives for `mbind`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub device: Device,
    /// Linux NUMA node, if the device is onlined as one.
    pub numa_node: Option<u32>,
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

/// Every node with a tier, a capacity and a bandwidth becomes a device.
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
        let tier = match tier {
            HalTier::T0 => Tier::T0,
            HalTier::T1 => Tier::T1,
            HalTier::T2 => Tier::T2,
            HalTier::T3 => Tier::T3,
        };
        out.push(DeviceInfo {
            device: Device::new(node.id.clone(), tier, bytes, bw),
            numa_node: node.numa_node,
            peak_gbs: bw,
        });
    }
    (out, notes)
}

//! Publishing the hardware inventory (from the twin topology or, later,
//! from discovery) as API resources.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use corridor_hal::Topology;
use corridor_hal::topology::{CxlDevice, CxlDeviceKind, Media};
use corridor_model::calibration::AmbientProfile;
use corridor_model::fabric::{CxlDeviceType, DeviceStatus, FabricDevice};
use corridor_model::meta::ResourceMeta;
use corridor_model::units::{Bytes, Celsius, Gbps, Nanoseconds, Seconds};

use crate::{Registry, ServiceError};

crate::meta_resource!(FabricDevice, "devices");

/// Bits per byte: the RFC names device bandwidth `bandwidth_gbps`, so the
/// topology's GB/s are reported in Gb/s.
const BITS_PER_BYTE: f64 = 8.0;

/// The API view of one CXL memory device of the topology.
pub fn fabric_device(device: &CxlDevice, seen: DateTime<Utc>) -> FabricDevice {
    let (kind, media) = match (device.kind, device.media) {
        (CxlDeviceKind::Type3Sld, _) => ("type3-sld", media_label(device.media)),
        (CxlDeviceKind::Type3Mld, _) => ("type3-mld", media_label(device.media)),
    };
    let labels = BTreeMap::from([
        ("kind".to_string(), kind.to_string()),
        ("media".to_string(), media.to_string()),
        ("switch".to_string(), device.switch.as_str().to_string()),
        (
            "logical_devices".to_string(),
            device.logical_device_count().to_string(),
        ),
    ]);
    FabricDevice {
        id: device.id.as_str().to_string(),
        device_type: CxlDeviceType::Type3,
        vendor_id: device.vendor_id.to_string(),
        device_id: device.device_id.to_string(),
        serial_number: device.serial_number.clone(),
        firmware_version: device.firmware_version.clone(),
        capacity_bytes: Bytes::new(device.capacity_bytes.0),
        latency_ns: Nanoseconds::new(device.latency_ns.0.round() as u64),
        bandwidth_gbps: Gbps::new(device.bandwidth_gbs.0 * BITS_PER_BYTE),
        status: DeviceStatus::Active,
        last_seen: seen,
        // No attestation service yet: null, never an invented ticket.
        attestation_ticket: None,
        meta: ResourceMeta::new(seen).with_labels(labels),
    }
}

fn media_label(media: Media) -> &'static str {
    match media {
        Media::Dram => "dram",
        Media::Pmem => "pmem",
    }
}

/// Writes every CXL memory device of the topology into the registry and
/// removes devices that are no longer in it.
///
/// A device whose description has not changed keeps its stored record
/// (including `last_seen` and `resource_version`), so restarts do not
/// churn revisions or wake watchers.
pub async fn publish_devices(
    devices: &Registry<FabricDevice>,
    topology: &Topology,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let mut wanted = BTreeMap::new();
    for device in topology.cxl_devices() {
        wanted.insert(device.id.as_str().to_string(), fabric_device(device, now));
    }
    let existing = devices
        .list(&crate::ListOptions::default())
        .await?
        .items
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect::<BTreeMap<_, _>>();
    // The inventory is far below one page (MAX_PAGE_SIZE); a rack with more
    // devices than that would need paging here.
    for (id, device) in &wanted {
        match existing.get(id) {
            Some(current) if same_description(current, device) => {}
            _ => {
                devices.upsert(device).await?;
            }
        }
    }
    for id in existing.keys().filter(|id| !wanted.contains_key(*id)) {
        devices.delete(id, None).await?;
    }
    Ok(())
}

/// Equal but for the fields that record when we looked.
fn same_description(a: &FabricDevice, b: &FabricDevice) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.last_seen = b.last_seen;
    a.meta.updated_at = b.meta.updated_at;
    a.meta.resource_version.clear();
    b.meta.resource_version.clear();
    a == b
}

/// The topology's ambient profiles in the API's shape.
pub fn ambient_profiles(topology: &Topology) -> Vec<AmbientProfile> {
    topology
        .ambient_profiles()
        .iter()
        .map(|profile| AmbientProfile {
            name: profile.name.as_str().to_string(),
            description: profile.description.clone(),
            base_temp_c: Celsius::new(profile.base_temp_c.0),
            swing_c: Celsius::new(profile.swing_c.0),
            period_s: Seconds::new(profile.period_s.0.round() as u64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_convert_bandwidth_to_gigabits_and_keep_identity() {
        let topology = Topology::default_twin();
        let first = &topology.cxl_devices()[0];
        let device = fabric_device(first, Utc::now());
        assert_eq!(device.id, first.id.as_str());
        assert_eq!(device.bandwidth_gbps.get(), first.bandwidth_gbs.0 * 8.0);
        assert_eq!(device.capacity_bytes.get(), first.capacity_bytes.0);
        assert!(device.vendor_id.starts_with("0x"));
        assert!(device.attestation_ticket.is_none());
        let json = serde_json::to_value(&device).unwrap();
        assert_eq!(json["type"], "Type-3");
        assert!(json["attestation_ticket"].is_null());
    }

    #[test]
    fn every_profile_is_served() {
        let topology = Topology::default_twin();
        assert_eq!(
            ambient_profiles(&topology).len(),
            topology.ambient_profiles().len()
        );
    }
}

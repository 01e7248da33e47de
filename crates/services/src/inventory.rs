//! The fabric's device inventory as API resources: what each CXL memory
//! device of the topology is (from the topology) and whether it is there:
//! from FM API discovery of the switches when corridord manages the fabric
//! (the twin's switch twins today; firmware revisions are what the devices
//! report), else from the memory provider's discovery (the kernel's
//! `/sys/bus/cxl` memdevs on Linux).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_hal::fabric::{Discovery, FabricSnapshot, PortStatus, wire_serial};
use corridor_hal::memory::{MemoryInventory, MemoryProvider};
use corridor_hal::topology::{CxlDevice, CxlDeviceKind, Media};
use corridor_hal::{Clock, Topology};
use corridor_model::calibration::AmbientProfile;
use corridor_model::fabric::{CxlDeviceType, DeviceStatus, FabricDevice};
use corridor_model::meta::ResourceMeta;
use corridor_model::units::{Bytes, Gbps, Nanoseconds};

use crate::attestation::AttestationService;
use crate::{Registry, ServiceError};

crate::meta_resource!(FabricDevice, "devices");

/// Bits per byte: the RFC names device bandwidth `bandwidth_gbps`, so the
/// topology's GB/s are reported in Gb/s.
const BITS_PER_BYTE: f64 = 8.0;

/// How often the provider is asked which devices are there.
pub const DEVICE_POLL: Duration = Duration::from_secs(10);

/// While a device stays listed, `last_seen` is rewritten at most this
/// often: a steady rack does not churn revisions or wake watchers on every
/// poll, and `last_seen` is never more than this old for a present device.
pub const LAST_SEEN_REFRESH: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The API view of one CXL memory device of the topology, with what was
/// observed of it.
pub fn fabric_device(
    device: &CxlDevice,
    status: DeviceStatus,
    last_seen: Option<DateTime<Utc>>,
    attestation_ticket: Option<String>,
    now: DateTime<Utc>,
) -> FabricDevice {
    fabric_device_seen(device, status, last_seen, attestation_ticket, None, now)
}

/// As [`fabric_device`], with the firmware revision the device itself
/// reported (FM API Get FW Info) in place of the topology's.
pub fn fabric_device_seen(
    device: &CxlDevice,
    status: DeviceStatus,
    last_seen: Option<DateTime<Utc>>,
    attestation_ticket: Option<String>,
    reported_firmware: Option<&str>,
    now: DateTime<Utc>,
) -> FabricDevice {
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
        firmware_version: reported_firmware
            .map_or_else(|| device.firmware_version.clone(), str::to_owned),
        capacity_bytes: Bytes::new(device.capacity_bytes.0),
        latency_ns: Nanoseconds::new(device.latency_ns.0.round() as u64),
        bandwidth_gbps: Gbps::new(device.bandwidth_gbs.0 * BITS_PER_BYTE),
        status,
        last_seen,
        attestation_ticket,
        meta: ResourceMeta::new(now).with_labels(labels),
    }
}

fn media_label(media: Media) -> &'static str {
    match media {
        Media::Dram => "dram",
        Media::Pmem => "pmem",
    }
}

/// The topology devices `found` lists: by serial number where the provider
/// reads one (the kernel's `memN/serial`), else by id (the twin names its
/// memdevs after the topology's devices).
pub fn present(topology: &Topology, found: &MemoryInventory) -> BTreeSet<String> {
    let same_serial = |a: &str, b: &str| {
        let digits = |s: &str| {
            s.trim()
                .trim_start_matches("0x")
                .trim_start_matches('0')
                .to_ascii_lowercase()
        };
        digits(a) == digits(b)
    };
    topology
        .cxl_devices()
        .iter()
        .filter(|device| {
            found.cxl_memdevs.iter().any(|memdev| match &memdev.serial {
                Some(serial) => same_serial(serial, &device.serial_number),
                None => memdev.name == device.id.as_str(),
            })
        })
        .map(|device| device.id.as_str().to_string())
        .collect()
}

/// What FM API discovery says of the topology's devices: which answered
/// (matched by the serial number Identify reports; the twin puts the
/// topology's textual serial on the wire as [`wire_serial`]), and the
/// firmware revision each reported.
pub fn present_in_fabric(
    topology: &Topology,
    snapshot: &FabricSnapshot,
) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut present = BTreeSet::new();
    let mut firmware = BTreeMap::new();
    for device in topology.cxl_devices() {
        let serial = wire_serial(&device.serial_number);
        let found = snapshot
            .devices
            .iter()
            .filter(|record| record.serial_number == serial)
            .find(|record| record.status == PortStatus::Active);
        if let Some(record) = found {
            present.insert(device.id.as_str().to_string());
            if let Some(revision) = &record.firmware_version {
                firmware.insert(device.id.as_str().to_string(), revision.clone());
            }
        }
    }
    (present, firmware)
}

/// Writes every CXL memory device of the topology into the registry with
/// the status `present` implies and the attestation that vouches for it
/// now (`attestations`: device → attestation id), and removes devices no
/// longer in the topology.
///
/// A present device is `active` with `last_seen` now, unless its record
/// already says `active` with a `last_seen` younger than
/// [`LAST_SEEN_REFRESH`]; an absent one is `offline` and keeps the
/// `last_seen` it had. A record whose content does not change is not
/// rewritten, so restarts and steady polls do not churn revisions.
pub async fn publish_devices(
    devices: &Registry<FabricDevice>,
    topology: &Topology,
    present: &BTreeSet<String>,
    firmware: &BTreeMap<String, String>,
    attestations: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let existing = devices
        .list(&crate::ListOptions::default())
        .await?
        .items
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect::<BTreeMap<_, _>>();
    // The inventory is far below one page (MAX_PAGE_SIZE); a rack with more
    // devices than that would need paging here.
    let mut wanted = BTreeSet::new();
    for device in topology.cxl_devices() {
        let id = device.id.as_str();
        wanted.insert(id.to_string());
        let current = existing.get(id);
        let before = current.and_then(|c| c.last_seen);
        let (status, last_seen) = if present.contains(id) {
            let fresh = current.is_some_and(|c| c.status == DeviceStatus::Active)
                && before.is_some_and(|seen| now - seen < LAST_SEEN_REFRESH);
            (DeviceStatus::Active, if fresh { before } else { Some(now) })
        } else {
            (DeviceStatus::Offline, before)
        };
        let record = fabric_device_seen(
            device,
            status,
            last_seen,
            attestations.get(id).cloned(),
            firmware.get(id).map(String::as_str),
            now,
        );
        match current {
            Some(current) if same_content(current, &record) => {}
            _ => {
                devices.upsert(&record).await?;
            }
        }
    }
    for id in existing.keys().filter(|id| !wanted.contains(*id)) {
        devices.delete(id, None).await?;
    }
    Ok(())
}

/// Equal but for the bookkeeping of when the record was written.
fn same_content(a: &FabricDevice, b: &FabricDevice) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.meta.updated_at = b.meta.updated_at;
    a.meta.resource_version.clear();
    b.meta.resource_version.clear();
    a == b
}

/// The device inventory of one corridord: asks the memory provider what is
/// there every [`DEVICE_POLL`] and keeps the device records true, with
/// each device's current attestation once attestd is attached (refreshed
/// whenever attestd records or revokes an attestation).
#[derive(Debug)]
pub struct DeviceInventory {
    devices: Registry<FabricDevice>,
    topology: Arc<Topology>,
    provider: Arc<dyn MemoryProvider>,
    /// FM API discovery of the switches, when corridord manages a fabric:
    /// then presence and firmware come from what the switches answer, not
    /// from the memory provider.
    fabric: Option<Arc<std::sync::Mutex<Discovery>>>,
    clock: Arc<dyn Clock>,
    attestation: Option<Arc<AttestationService>>,
    /// The polling task, stopped by [`DeviceInventory::stop`].
    poller: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DeviceInventory {
    /// Publishes what the provider lists now, then keeps polling until the
    /// returned inventory is dropped.
    ///
    /// # Errors
    /// [`ServiceError`] when the first publication cannot be stored.
    pub async fn start(
        devices: Registry<FabricDevice>,
        topology: Arc<Topology>,
        provider: Arc<dyn MemoryProvider>,
        fabric: Option<Discovery>,
        clock: Arc<dyn Clock>,
        attestation: Option<Arc<AttestationService>>,
    ) -> Result<Arc<Self>, ServiceError> {
        let inventory = Arc::new(Self {
            devices,
            topology,
            provider,
            fabric: fabric.map(|d| Arc::new(std::sync::Mutex::new(d))),
            clock,
            attestation,
            poller: std::sync::Mutex::new(None),
        });
        inventory.observe().await?;
        let changes = inventory.attestation.as_ref().map(|a| a.changes());
        let poller = tokio::spawn(poll(Arc::downgrade(&inventory), changes));
        *inventory
            .poller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(poller);
        Ok(inventory)
    }

    /// Stops polling and waits until the task is gone, so that nothing it
    /// holds (the store) outlives the daemon that stops it.
    pub async fn stop(&self) {
        let poller = self
            .poller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(poller) = poller {
            poller.abort();
            let _ = poller.await;
        }
    }

    /// One observation: discovery (on a blocking thread: FM API exchanges
    /// with the switches when a fabric is managed, else the memory
    /// provider, whose Linux backend reads sysfs), then the records it
    /// implies. A provider discovery that fails says nothing about the
    /// devices, so their records stay as they are; a switch that cannot be
    /// discovered leaves its devices offline (its error is logged).
    ///
    /// # Errors
    /// [`ServiceError`] when the records cannot be read or written.
    pub async fn observe(&self) -> Result<(), ServiceError> {
        let (present, firmware) = match &self.fabric {
            Some(fabric) => {
                let fabric = Arc::clone(fabric);
                let now = self.clock.now();
                let scanned = tokio::task::spawn_blocking(move || {
                    fabric
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .scan(now)
                })
                .await;
                let snapshot = match scanned {
                    Ok(snapshot) => snapshot,
                    Err(error) => {
                        tracing::warn!(%error, "fabric discovery panicked; device records left as they were");
                        return Ok(());
                    }
                };
                for failure in &snapshot.failed {
                    tracing::warn!(switch = %failure.name, error = %crate::error::error_chain(&failure.error), "switch not discovered; its devices count as offline");
                }
                present_in_fabric(&self.topology, &snapshot)
            }
            None => {
                let provider = Arc::clone(&self.provider);
                let found = match tokio::task::spawn_blocking(move || provider.discover()).await {
                    Ok(Ok(found)) => found,
                    Ok(Err(error)) => {
                        tracing::warn!(error = %crate::error::error_chain(&error), "device discovery failed; device records left as they were");
                        return Ok(());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "device discovery panicked; device records left as they were");
                        return Ok(());
                    }
                };
                (present(&self.topology, &found), BTreeMap::new())
            }
        };
        let mut attestations = BTreeMap::new();
        if let Some(attestation) = &self.attestation {
            self.report_moves(attestation, &present).await?;
            for device in self.topology.cxl_devices() {
                let id = device.id.as_str();
                if let Some(current) = attestation.current_ticket(id).await? {
                    attestations.insert(id.to_owned(), current.id);
                }
            }
        }
        publish_devices(
            &self.devices,
            &self.topology,
            &present,
            &firmware,
            &attestations,
            self.clock.now(),
        )
        .await
    }
}

impl DeviceInventory {
    /// Tells attestd which devices are away (their tickets are revoked; they are not
    /// attested while gone) and which came back since the records were written (attested
    /// afresh when attestd attests unasked).
    async fn report_moves(
        &self,
        attestation: &AttestationService,
        present: &BTreeSet<String>,
    ) -> Result<(), ServiceError> {
        let active: BTreeSet<String> = self
            .devices
            .list(&crate::ListOptions::default())
            .await?
            .items
            .into_iter()
            .filter(|d| d.status == DeviceStatus::Active)
            .map(|d| d.id)
            .collect();
        for device in self.topology.cxl_devices() {
            let id = device.id.as_str();
            if !present.contains(id) {
                if let Some(revoked) = attestation.device_left(id).await? {
                    tracing::info!(device = %id, attestation = %revoked.id, "device left the fabric; its ticket is revoked");
                }
            } else if !active.contains(id)
                && let Some(fresh) = attestation.device_arrived(id).await
            {
                tracing::info!(device = %id, attestation = %fresh.id, verdict = ?fresh.verdict, "device back on the fabric; attested again");
            }
        }
        Ok(())
    }
}

async fn poll(
    inventory: Weak<DeviceInventory>,
    mut changes: Option<tokio::sync::watch::Receiver<u64>>,
) {
    loop {
        match changes.as_mut() {
            // A new or revoked attestation shows in the inventory at once.
            Some(changes) => tokio::select! {
                () = tokio::time::sleep(DEVICE_POLL) => {}
                changed = changes.changed() => if changed.is_err() { return },
            },
            None => tokio::time::sleep(DEVICE_POLL).await,
        }
        let Some(inventory) = inventory.upgrade() else {
            return;
        };
        if let Err(error) = inventory.observe().await {
            tracing::warn!(error = %crate::error::error_chain(&error), "device inventory not updated");
        }
    }
}

/// The topology's ambient profiles in the API's shape.
pub fn ambient_profiles(topology: &Topology) -> Vec<AmbientProfile> {
    topology
        .ambient_profiles()
        .iter()
        .map(crate::heliopass::api_profile)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use corridor_hal::TwinMemory;
    use corridor_store::{RedbOptions, RedbStore, StateStore};

    #[test]
    fn devices_convert_bandwidth_to_gigabits_and_keep_identity() {
        let topology = Topology::default_twin();
        let first = &topology.cxl_devices()[0];
        let now = Utc::now();
        let device = fabric_device(first, DeviceStatus::Active, Some(now), None, now);
        assert_eq!(device.id, first.id.as_str());
        assert_eq!(device.bandwidth_gbps.get(), first.bandwidth_gbs.0 * 8.0);
        assert_eq!(device.capacity_bytes.get(), first.capacity_bytes.0);
        assert!(device.vendor_id.starts_with("0x"));
        assert!(device.attestation_ticket.is_none());
        let json = serde_json::to_value(&device).unwrap();
        assert_eq!(json["type"], "Type-3");
        assert!(json["attestation_ticket"].is_null());
    }

    /// The twin lists its devices by id; the kernel by serial number (in
    /// its own hex spelling), under `memN` names.
    #[test]
    fn devices_are_present_when_the_provider_lists_them() {
        let topology = Topology::default_twin();
        let all: BTreeSet<String> = topology
            .cxl_devices()
            .iter()
            .map(|d| d.id.as_str().to_string())
            .collect();
        let twin = TwinMemory::new(&topology).discover().unwrap();
        assert_eq!(present(&topology, &twin), all);

        let first = &topology.cxl_devices()[0];
        let mut kernel = twin.clone();
        kernel.cxl_memdevs.retain(|m| m.name == first.id.as_str());
        kernel.cxl_memdevs[0].name = "mem0".into();
        kernel.cxl_memdevs[0].serial = Some(format!(
            "0x{}",
            first.serial_number.trim_start_matches("0x").to_uppercase()
        ));
        assert_eq!(
            present(&topology, &kernel),
            BTreeSet::from([first.id.as_str().to_string()])
        );
        kernel.cxl_memdevs[0].serial = Some("0xdeadbeef".into());
        assert!(present(&topology, &kernel).is_empty());
    }

    /// Status and `last_seen` follow what is observed: a device that stops
    /// being listed goes offline keeping when it was last seen, and comes
    /// back active; a steady device's `last_seen` moves once a refresh
    /// period has passed, not on every poll.
    #[tokio::test]
    async fn status_and_last_seen_follow_the_observations() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(
            RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap(),
        );
        let devices = Registry::<FabricDevice>::new(store);
        let topology = Topology::default_twin();
        let all: BTreeSet<String> = topology
            .cxl_devices()
            .iter()
            .map(|d| d.id.as_str().to_string())
            .collect();
        let gone = topology.cxl_devices()[0].id.as_str().to_string();
        let t0 = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .to_utc();
        let get = |id: String| {
            let devices = devices.clone();
            async move { devices.get(&id).await.unwrap() }
        };

        publish_devices(
            &devices,
            &topology,
            &all,
            &BTreeMap::new(),
            &BTreeMap::new(),
            t0,
        )
        .await
        .unwrap();
        let first = get(gone.clone()).await;
        assert_eq!(first.status, DeviceStatus::Active);
        assert_eq!(first.last_seen, Some(t0));

        // A poll within the refresh period writes nothing.
        let t1 = t0 + chrono::TimeDelta::seconds(10);
        publish_devices(
            &devices,
            &topology,
            &all,
            &BTreeMap::new(),
            &BTreeMap::new(),
            t1,
        )
        .await
        .unwrap();
        let steady = get(gone.clone()).await;
        assert_eq!(steady.meta.resource_version, first.meta.resource_version);
        assert_eq!(steady.last_seen, Some(t0));

        // The device disappears: offline, last seen at t0.
        let mut fewer = all.clone();
        fewer.remove(&gone);
        let t2 = t0 + chrono::TimeDelta::seconds(20);
        publish_devices(
            &devices,
            &topology,
            &fewer,
            &BTreeMap::new(),
            &BTreeMap::new(),
            t2,
        )
        .await
        .unwrap();
        let offline = get(gone.clone()).await;
        assert_eq!(offline.status, DeviceStatus::Offline);
        assert_eq!(offline.last_seen, Some(t0));
        let other = topology.cxl_devices()[1].id.as_str().to_string();
        assert_eq!(get(other.clone()).await.status, DeviceStatus::Active);

        // Back: active, seen now.
        let t3 = t0 + chrono::TimeDelta::seconds(30);
        publish_devices(
            &devices,
            &topology,
            &all,
            &BTreeMap::new(),
            &BTreeMap::new(),
            t3,
        )
        .await
        .unwrap();
        let back = get(gone.clone()).await;
        assert_eq!(back.status, DeviceStatus::Active);
        assert_eq!(back.last_seen, Some(t3));

        // A steady device is re-stamped once the refresh period is over.
        let t4 = t0 + LAST_SEEN_REFRESH + chrono::TimeDelta::seconds(1);
        publish_devices(
            &devices,
            &topology,
            &all,
            &BTreeMap::new(),
            &BTreeMap::new(),
            t4,
        )
        .await
        .unwrap();
        assert_eq!(get(other).await.last_seen, Some(t4));
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

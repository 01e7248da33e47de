//! The fabric's device inventory as API resources: what each CXL memory
//! device of the topology is (from the topology) and whether it is there:
//! from FM API discovery of the switches when corridord manages the fabric
//! (the twin's switch twins today; firmware revisions are what the devices
//! report); on Linux from the CXL memory devices the host lists (ndctl's
//! `cxl list` when installed, else `/sys/bus/cxl`: [`LinuxCxlDiscovery`]),
//! merged into the same records: a topology device found by its serial
//! number shows what the host reports of it, and a device the topology does
//! not name gets a record of its own; else (a provider that reads no sysfs)
//! from the memory provider's memdevs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tracing::Instrument;

use chrono::{DateTime, Utc};
use corridor_hal::cxl::{CxlSnapshot, DiscoveredMemdev, LinuxCxlDiscovery};
use corridor_hal::fabric::{Discovery, FabricSnapshot, PortStatus, wire_serial};
use corridor_hal::memory::{CxlMemdev, MemoryInventory, MemoryProvider};
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

/// How often the source is asked which devices are there.
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
    topology
        .cxl_devices()
        .iter()
        .filter(|device| found.cxl_memdevs.iter().any(|m| is_device(m, device)))
        .map(|device| device.id.as_str().to_string())
        .collect()
}

/// Whether a memdev is this topology device: by serial number where the
/// memdev has one (in any hex spelling: `0x5A3C0002` = `5a3c0002`), else by
/// name.
fn is_device(memdev: &CxlMemdev, device: &CxlDevice) -> bool {
    let digits = |s: &str| {
        s.trim()
            .trim_start_matches("0x")
            .trim_start_matches('0')
            .to_ascii_lowercase()
    };
    match &memdev.serial {
        Some(serial) => digits(serial) == digits(&device.serial_number),
        None => memdev.name == device.id.as_str(),
    }
}

/// What one observation says about the devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Topology devices that are there.
    pub present: BTreeSet<String>,
    /// Firmware revision each present topology device reported.
    pub firmware: BTreeMap<String, String>,
    /// What the host reports of each present topology device, as labels
    /// (`memdev`, `numa_node`, `pci`, `discovered_by`).
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Devices found that the topology does not name, as records (status
    /// and `last_seen` are decided when publishing).
    pub discovered: Vec<FabricDevice>,
    /// Whether records of devices the topology does not name are kept
    /// (offline when gone) rather than removed: true where a host discovers
    /// devices itself (Linux), false where only the topology's exist.
    pub keeps_discovered: bool,
}

/// The label that marks a record of a device the topology does not name.
pub const DISCOVERED_LABEL: (&str, &str) = ("source", "discovered");

/// What Linux CXL discovery says of the devices: topology devices found by
/// serial (else by memdev name) are present with the firmware and labels
/// the host reports; every other memdev becomes a record of its own.
pub fn observe_linux(
    topology: &Topology,
    snapshot: &CxlSnapshot,
    now: DateTime<Utc>,
) -> Observations {
    let mut observed = Observations {
        keeps_discovered: true,
        ..Observations::default()
    };
    let mut matched = vec![false; snapshot.memdevs.len()];
    for device in topology.cxl_devices() {
        let Some(i) = snapshot
            .memdevs
            .iter()
            .enumerate()
            .position(|(i, m)| !matched[i] && is_device(&m.memdev, device))
        else {
            continue;
        };
        matched[i] = true;
        let found = &snapshot.memdevs[i];
        let id = device.id.as_str().to_string();
        observed.present.insert(id.clone());
        if let Some(revision) = &found.memdev.firmware_version {
            observed.firmware.insert(id.clone(), revision.clone());
        }
        observed
            .labels
            .insert(id, host_labels(found, snapshot.source.as_str()));
    }
    let unmatched: Vec<&DiscoveredMemdev> = snapshot
        .memdevs
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(d, _)| d)
        .collect();
    for found in &unmatched {
        let id = discovered_id(found, &snapshot.memdevs);
        observed
            .discovered
            .push(discovered_device(&id, found, snapshot.source.as_str(), now));
    }
    observed
}

/// Labels of what the host reports of a memdev.
fn host_labels(found: &DiscoveredMemdev, source: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("memdev".to_string(), found.memdev.name.clone()),
        ("discovered_by".to_string(), source.to_string()),
    ]);
    if let Some(node) = found.memdev.numa_node {
        labels.insert("numa_node".into(), node.to_string());
    }
    if let Some(host) = &found.memdev.host {
        labels.insert("pci".into(), host.clone());
    }
    if found.enabled == Some(false) {
        labels.insert("state".into(), "disabled".into());
    }
    labels
}

/// A stable id for a device the topology does not name: its serial number
/// when no other listed memdev shares it (QEMU's expanders all report 0),
/// else its PCI function, else its memdev name (which the kernel may hand
/// to another device after a reboot, so it comes last).
fn discovered_id(found: &DiscoveredMemdev, all: &[DiscoveredMemdev]) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    if let Some(serial) = &found.memdev.serial {
        let unique = all
            .iter()
            .filter(|m| m.memdev.serial.as_ref() == Some(serial))
            .count()
            == 1;
        if unique {
            return format!("cxl-sn-{}", clean(serial.trim_start_matches("0x")));
        }
    }
    if let Some(host) = &found.memdev.host {
        return format!("cxl-pci-{}", clean(host));
    }
    format!("cxl-{}", clean(&found.memdev.name))
}

/// The record of a device the topology does not name. What the host does
/// not report is not invented: bandwidth and latency are not per-memdev
/// facts in sysfs or `cxl list` (the kernel publishes them per region and
/// node), so they are 0 with the label `performance: unknown`; a missing
/// PCI identity or firmware revision is the empty string.
fn discovered_device(
    id: &str,
    found: &DiscoveredMemdev,
    source: &str,
    now: DateTime<Utc>,
) -> FabricDevice {
    let m = &found.memdev;
    let media = match (m.ram_bytes.unwrap_or(0) > 0, m.pmem_bytes.unwrap_or(0) > 0) {
        (true, true) => "ram+pmem",
        (false, true) => "pmem",
        (true, false) => "ram",
        (false, false) => "none",
    };
    let mut labels = host_labels(found, source);
    labels.insert(DISCOVERED_LABEL.0.into(), DISCOVERED_LABEL.1.into());
    labels.insert("kind".into(), "type3".into());
    labels.insert("media".into(), media.into());
    labels.insert("performance".into(), "unknown".into());
    let hex = |v: Option<u16>| v.map(|v| format!("{v:#06x}")).unwrap_or_default();
    FabricDevice {
        id: id.to_string(),
        device_type: CxlDeviceType::Type3,
        vendor_id: hex(found.vendor_id),
        device_id: hex(found.device_id),
        serial_number: m.serial.clone().unwrap_or_default(),
        firmware_version: m.firmware_version.clone().unwrap_or_default(),
        capacity_bytes: Bytes::new(m.capacity_bytes().unwrap_or(0)),
        latency_ns: Nanoseconds::new(0),
        bandwidth_gbps: Gbps::new(0.0),
        status: DeviceStatus::Active,
        last_seen: None,
        attestation_ticket: None,
        meta: ResourceMeta::new(now).with_labels(labels),
    }
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
/// the status `observed` implies and the attestation that vouches for it
/// now (`attestations`: device → attestation id), writes the devices found
/// that the topology does not name (Linux discovery), and removes records
/// of devices that are neither.
///
/// A present device is `active` with `last_seen` now, unless its record
/// already says `active` with a `last_seen` younger than
/// [`LAST_SEEN_REFRESH`]; an absent one is `offline` and keeps the
/// `last_seen` it had (a discovered device's record stays, offline, while
/// `observed.keeps_discovered`). A record whose content does not change is
/// not rewritten, so restarts and steady polls do not churn revisions.
pub async fn publish_devices(
    devices: &Registry<FabricDevice>,
    topology: &Topology,
    observed: &Observations,
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
    let seen = |current: Option<&FabricDevice>, present: bool| {
        let before = current.and_then(|c| c.last_seen);
        if present {
            let fresh = current.is_some_and(|c| c.status == DeviceStatus::Active)
                && before.is_some_and(|seen| now - seen < LAST_SEEN_REFRESH);
            (DeviceStatus::Active, if fresh { before } else { Some(now) })
        } else {
            (DeviceStatus::Offline, before)
        }
    };
    let mut wanted = BTreeSet::new();
    for device in topology.cxl_devices() {
        let id = device.id.as_str();
        wanted.insert(id.to_string());
        let current = existing.get(id);
        let (status, last_seen) = seen(current, observed.present.contains(id));
        let mut record = fabric_device_seen(
            device,
            status,
            last_seen,
            attestations.get(id).cloned(),
            observed.firmware.get(id).map(String::as_str),
            now,
        );
        if let Some(labels) = observed.labels.get(id) {
            record.meta.labels.extend(labels.clone());
        }
        write_if_changed(devices, current, &record).await?;
    }
    for found in &observed.discovered {
        if wanted.contains(&found.id) {
            // Two memdevs cannot both be one record; the first listed wins.
            continue;
        }
        wanted.insert(found.id.clone());
        let current = existing.get(&found.id);
        let (status, last_seen) = seen(current, true);
        let record = FabricDevice {
            status,
            last_seen,
            ..found.clone()
        };
        write_if_changed(devices, current, &record).await?;
    }
    for (id, current) in existing.iter().filter(|(id, _)| !wanted.contains(*id)) {
        let discovered = current
            .meta
            .labels
            .get(DISCOVERED_LABEL.0)
            .map(String::as_str)
            == Some(DISCOVERED_LABEL.1);
        if discovered && observed.keeps_discovered {
            let (status, last_seen) = seen(Some(current), false);
            let record = FabricDevice {
                status,
                last_seen,
                meta: ResourceMeta {
                    updated_at: now,
                    ..current.meta.clone()
                },
                ..current.clone()
            };
            write_if_changed(devices, Some(current), &record).await?;
        } else {
            devices.delete(id, None).await?;
        }
    }
    Ok(())
}

async fn write_if_changed(
    devices: &Registry<FabricDevice>,
    current: Option<&FabricDevice>,
    record: &FabricDevice,
) -> Result<(), ServiceError> {
    match current {
        Some(current) if same_content(current, record) => Ok(()),
        _ => devices.upsert(record).await.map(|_| ()),
    }
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

/// Where the inventory learns which devices are there.
#[derive(Debug, Clone)]
pub enum DeviceSource {
    /// FM API discovery of the switches, when corridord manages a fabric
    /// (the twin's switch twins): presence and firmware come from what the
    /// switches answer.
    Fabric(Arc<std::sync::Mutex<Discovery>>),
    /// The CXL memory devices this Linux host lists (`cxl list`, else
    /// `/sys/bus/cxl`), merged into the topology's records.
    Linux(Arc<LinuxCxlDiscovery>),
    /// The memory provider's memdevs (a provider that reads no sysfs).
    Provider(Arc<dyn MemoryProvider>),
}

impl DeviceSource {
    /// FM API discovery when a fabric is given; else Linux CXL discovery
    /// under the provider's sysfs root when it reads one (`cxl list` only
    /// for the real `/sys`); else the provider itself.
    pub fn choose(provider: Arc<dyn MemoryProvider>, fabric: Option<Discovery>) -> Self {
        if let Some(fabric) = fabric {
            return Self::Fabric(Arc::new(std::sync::Mutex::new(fabric)));
        }
        match provider.sysfs_root() {
            Some(root) => Self::Linux(Arc::new(LinuxCxlDiscovery::for_root(root))),
            None => Self::Provider(provider),
        }
    }
}

/// The device inventory of one corridord: asks its [`DeviceSource`] what is
/// there every [`DEVICE_POLL`] and keeps the device records true, with
/// each device's current attestation once attestd is attached (refreshed
/// whenever attestd records or revokes an attestation).
#[derive(Debug)]
pub struct DeviceInventory {
    devices: Registry<FabricDevice>,
    topology: Arc<Topology>,
    source: DeviceSource,
    clock: Arc<dyn Clock>,
    attestation: Option<Arc<AttestationService>>,
    /// The polling task, stopped by [`DeviceInventory::stop`].
    poller: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DeviceInventory {
    /// Publishes what the source ([`DeviceSource::choose`]) lists now, then
    /// keeps polling until the returned inventory is dropped.
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
        let source = DeviceSource::choose(provider, fabric);
        Self::start_with(devices, topology, source, clock, attestation).await
    }

    /// As [`DeviceInventory::start`], from a given source.
    ///
    /// # Errors
    /// [`ServiceError`] when the first publication cannot be stored.
    pub async fn start_with(
        devices: Registry<FabricDevice>,
        topology: Arc<Topology>,
        source: DeviceSource,
        clock: Arc<dyn Clock>,
        attestation: Option<Arc<AttestationService>>,
    ) -> Result<Arc<Self>, ServiceError> {
        let inventory = Arc::new(Self {
            devices,
            topology,
            source,
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

    /// The inventory of a process that does not run fabmand: the device
    /// records are fabmand's to publish, so this one neither discovers nor
    /// polls; it only names the records for the code that holds it.
    pub fn idle(
        devices: Registry<FabricDevice>,
        topology: Arc<Topology>,
        provider: Arc<dyn MemoryProvider>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Self {
            devices,
            topology,
            source: DeviceSource::choose(provider, None),
            clock,
            attestation: None,
            poller: std::sync::Mutex::new(None),
        })
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
    /// with the switches when a fabric is managed, `cxl list` or sysfs on
    /// Linux, else the memory provider), then the records it implies. A
    /// discovery that fails says nothing about the devices, so their records
    /// stay as they are; a switch that cannot be discovered leaves its
    /// devices offline (its error is logged).
    ///
    /// # Errors
    /// [`ServiceError`] when the records cannot be read or written.
    pub async fn observe(&self) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let observed = match &self.source {
            DeviceSource::Fabric(fabric) => {
                let fabric = Arc::clone(fabric);
                let span = tracing::Span::current();
                let scanned = tokio::task::spawn_blocking(move || {
                    let _entered = span.entered();
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
                let (present, firmware) = present_in_fabric(&self.topology, &snapshot);
                Observations {
                    present,
                    firmware,
                    ..Observations::default()
                }
            }
            DeviceSource::Linux(cxl) => {
                let cxl = Arc::clone(cxl);
                let snapshot = match tokio::task::spawn_blocking(move || cxl.discover()).await {
                    Ok(Ok(snapshot)) => snapshot,
                    Ok(Err(error)) => {
                        tracing::warn!(error = %crate::error::error_chain(&error), "CXL device discovery failed; device records left as they were");
                        return Ok(());
                    }
                    Err(error) => {
                        tracing::warn!(%error, "CXL device discovery panicked; device records left as they were");
                        return Ok(());
                    }
                };
                observe_linux(&self.topology, &snapshot, now)
            }
            DeviceSource::Provider(provider) => {
                let provider = Arc::clone(provider);
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
                Observations {
                    present: present(&self.topology, &found),
                    ..Observations::default()
                }
            }
        };
        let present = &observed.present;
        let mut attestations = BTreeMap::new();
        if let Some(attestation) = &self.attestation {
            self.report_moves(attestation, present).await?;
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
            &observed,
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
        // One trace per pass: its FM API commands and store writes are
        // children of this span.
        let pass = tracing::info_span!("inventory.observe");
        if let Err(error) = inventory.observe().instrument(pass).await {
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

    fn seen(present: &BTreeSet<String>) -> Observations {
        Observations {
            present: present.clone(),
            ..Observations::default()
        }
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

        publish_devices(&devices, &topology, &seen(&all), &BTreeMap::new(), t0)
            .await
            .unwrap();
        let first = get(gone.clone()).await;
        assert_eq!(first.status, DeviceStatus::Active);
        assert_eq!(first.last_seen, Some(t0));

        // A poll within the refresh period writes nothing.
        let t1 = t0 + chrono::TimeDelta::seconds(10);
        publish_devices(&devices, &topology, &seen(&all), &BTreeMap::new(), t1)
            .await
            .unwrap();
        let steady = get(gone.clone()).await;
        assert_eq!(steady.meta.resource_version, first.meta.resource_version);
        assert_eq!(steady.last_seen, Some(t0));

        // The device disappears: offline, last seen at t0.
        let mut fewer = all.clone();
        fewer.remove(&gone);
        let t2 = t0 + chrono::TimeDelta::seconds(20);
        publish_devices(&devices, &topology, &seen(&fewer), &BTreeMap::new(), t2)
            .await
            .unwrap();
        let offline = get(gone.clone()).await;
        assert_eq!(offline.status, DeviceStatus::Offline);
        assert_eq!(offline.last_seen, Some(t0));
        let other = topology.cxl_devices()[1].id.as_str().to_string();
        assert_eq!(get(other.clone()).await.status, DeviceStatus::Active);

        // Back: active, seen now.
        let t3 = t0 + chrono::TimeDelta::seconds(30);
        publish_devices(&devices, &topology, &seen(&all), &BTreeMap::new(), t3)
            .await
            .unwrap();
        let back = get(gone.clone()).await;
        assert_eq!(back.status, DeviceStatus::Active);
        assert_eq!(back.last_seen, Some(t3));

        // A steady device is re-stamped once the refresh period is over.
        let t4 = t0 + LAST_SEEN_REFRESH + chrono::TimeDelta::seconds(1);
        publish_devices(&devices, &topology, &seen(&all), &BTreeMap::new(), t4)
            .await
            .unwrap();
        assert_eq!(get(other).await.last_seen, Some(t4));
    }

    /// QEMU's expanders all report serial 0: such devices are told apart
    /// by their PCI function, and one without either by its memdev name.
    #[test]
    fn discovered_ids_avoid_shared_serials() {
        use corridor_hal::cxl::{CxlSource, DiscoveredMemdev};
        let memdev = |name: &str, serial: Option<&str>, host: Option<&str>| DiscoveredMemdev {
            memdev: CxlMemdev {
                name: name.into(),
                serial: serial.map(str::to_owned),
                numa_node: Some(0),
                ram_bytes: Some(1 << 30),
                pmem_bytes: None,
                firmware_version: None,
                host: host.map(str::to_owned),
            },
            enabled: Some(true),
            vendor_id: None,
            device_id: None,
        };
        let snapshot = CxlSnapshot {
            source: CxlSource::CxlList,
            memdevs: vec![
                memdev("mem0", Some("0x0"), Some("0000:d3:00.0")),
                memdev("mem1", Some("0x0"), Some("0000:a9:00.0")),
                memdev("mem2", Some("0x5A3C0009"), None),
                memdev("mem3", None, None),
            ],
            regions: Vec::new(),
        };
        let observed = observe_linux(&Topology::default_twin(), &snapshot, Utc::now());
        assert!(observed.present.is_empty());
        let ids: Vec<&str> = observed.discovered.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "cxl-pci-0000-d3-00-0",
                "cxl-pci-0000-a9-00-0",
                "cxl-sn-5a3c0009",
                "cxl-mem3"
            ]
        );
        let first = &observed.discovered[0];
        assert_eq!(first.meta.labels["media"], "ram");
        assert_eq!(first.vendor_id, "", "no PCI identity read: not invented");
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

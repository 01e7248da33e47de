//! Memory follows the fabric: what a host may use of a pooled CXL device is what fabmand's
//! paths give it.
//!
//! A pooled device (a CXL Type-3 device behind a switch that fabmand programs) is split into
//! one ledger device per host cabled to its switch, a *slice* (`{device}@{host}`). A slice
//! is closed until an `active` path joins its host to the device; then its bytes are the
//! host's logical device (an MLD's LD as read back from the device, the whole of an SLD)
//! and its bandwidth the sum of the guarantees of the host's paths to the device (Gb/s ÷ 8),
//! all of which floors may take (the fabric already admitted the guarantees at its own share
//! of the port). memqosd follows the paths through the store (list, then watch), as it
//! would as its own daemon.
//!
//! **No bundle outlives its path.** Every write that puts new memory on a slice (an alloc,
//! a migration's commit) compares the `mod_revision` of each path that opened it, as memqosd
//! saw them. A path `DELETE` first marks the path `releasing` (a write, so those compares
//! fail from then on), then reads the grants ([`bundles_on`]): any bundle on the slice makes
//! it put the path back and answer 409; otherwise it releases the path. Whatever commits
//! before the mark is in that read; nothing can commit after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Weak;
use std::time::Duration;

use corridor_hal::Topology;
use corridor_hal::topology::CxlDeviceKind;
use corridor_model::fabric::{FabricPath, PathStatus};
use corridor_planner::memory::{self as planner, MBps, Placement};
use corridor_store::{Compare, CompareOp, RangeRequest, StateStore};
use futures::StreamExt;

use super::admission::DeviceInfo;
use super::error::FfmError;
use super::grants::GRANT_PREFIX;
use super::{FfmService, lock};
use crate::registry::ResourceEventType;
use crate::{Registry, ServiceError};

const BITS_PER_BYTE: f64 = 8.0;

/// The ledger id of `host`'s slice of the pooled `device`.
pub fn slice_id(device: &str, host: &str) -> String {
    format!("{device}@{host}")
}

/// A pooled device as the topology describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PooledDevice {
    /// Multi-logical: a host gets one LD; single-logical: the whole device.
    pub mld: bool,
    pub bytes: u64,
}

/// The devices whose reach fabric paths give (the topology's CXL devices behind switches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PooledDevices(BTreeMap<String, PooledDevice>);

impl PooledDevices {
    pub fn of(topology: &Topology) -> Self {
        Self(
            topology
                .cxl_devices()
                .iter()
                .map(|d| {
                    (
                        d.id.as_str().to_owned(),
                        PooledDevice {
                            mld: d.kind == CxlDeviceKind::Type3Mld,
                            bytes: d.capacity_bytes.get(),
                        },
                    )
                })
                .collect(),
        )
    }

    pub fn get(&self, id: &str) -> Option<&PooledDevice> {
        self.0.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Replaces each pooled device by one slice per host that reaches it, each closed until a
/// path opens it (see [`FfmService::load_reach`]).
pub(super) fn split(devices: Vec<DeviceInfo>, pool: &PooledDevices) -> Vec<DeviceInfo> {
    let mut out = Vec::with_capacity(devices.len());
    for info in devices {
        if pool.get(&info.device.id).is_none() {
            out.push(info);
            continue;
        }
        for host in &info.device.hosts {
            let mut slice = info.clone();
            slice.device =
                planner::Device::new(slice_id(&info.device.id, host), info.device.tier, 0, 0.0)
                    .reachable_from([host.as_str()])
                    .with_admission_share(1.0);
            slice.slice_host = Some(host.clone());
            out.push(slice);
        }
    }
    out
}

/// What one active path gives its slice.
#[derive(Debug, Clone, PartialEq)]
struct PathReach {
    slice: String,
    device: String,
    key: String,
    mod_revision: i64,
    guarantee_gbps: f64,
    /// The host's LD on an MLD, as the path's programming read it back.
    ld_bytes: Option<u64>,
}

/// Every active path from a host to a pooled device, as memqosd last saw it.
#[derive(Debug, Default)]
pub(super) struct Reach {
    paths: HashMap<String, PathReach>,
}

impl Reach {
    /// Records `path` as it now is (`None`: deleted); returns the slices whose limits may
    /// have changed.
    fn observe(
        &mut self,
        id: &str,
        path: Option<&FabricPath>,
        pool: &PooledDevices,
    ) -> Vec<String> {
        let mut touched: Vec<String> = self.paths.remove(id).map(|p| p.slice).into_iter().collect();
        let Some(path) = path.filter(|p| p.status == PathStatus::Active) else {
            return touched;
        };
        let Some(device) = pool.get(&path.target_device) else {
            return touched;
        };
        let ld_bytes = path
            .programming
            .as_ref()
            .and_then(|p| p.ld_allocation.as_ref())
            .map(|ld| ld.capacity_bytes.get());
        if device.mld && ld_bytes.is_none() {
            // Not bound to an LD yet: it gives no memory.
            return touched;
        }
        let Ok(mod_revision) = path.meta.resource_version.parse::<i64>() else {
            return touched;
        };
        let slice = slice_id(&path.target_device, &path.source_device);
        if !touched.contains(&slice) {
            touched.push(slice.clone());
        }
        self.paths.insert(
            id.to_owned(),
            PathReach {
                slice,
                device: path.target_device.clone(),
                key: Registry::<FabricPath>::key(id),
                mod_revision,
                guarantee_gbps: path.qos.min_bandwidth_gbps.get(),
                ld_bytes,
            },
        );
        touched
    }

    /// The slice's bytes and bandwidth from its paths, or `None` if no path opens it.
    fn limits(&self, slice: &str, pool: &PooledDevices) -> Option<(u64, MBps)> {
        let mut opening = self.paths.values().filter(|p| p.slice == slice).peekable();
        let device = pool.get(&opening.peek()?.device)?;
        let (mut gbps, mut ld_bytes) = (0.0, 0u64);
        for p in opening {
            gbps += p.guarantee_gbps;
            // Every path of the host to an MLD shares the host's one binding, so one LD.
            ld_bytes = ld_bytes.max(p.ld_bytes.unwrap_or(0));
        }
        let bytes = if device.mld { ld_bytes } else { device.bytes };
        Some((bytes, MBps::from_gbps(gbps / BITS_PER_BYTE)))
    }

    /// The ids of the paths that open `slice`, sorted.
    fn opening(&self, slice: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .paths
            .iter()
            .filter(|(_, p)| p.slice == slice)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The compares a write putting memory on `slice` carries: every path that opens it is
    /// still as memqosd saw it. Empty if no path opens it.
    fn compares(&self, slice: &str) -> Vec<Compare> {
        self.paths
            .values()
            .filter(|p| p.slice == slice)
            .map(|p| Compare::mod_revision(p.key.clone(), CompareOp::Equal, p.mod_revision))
            .collect()
    }
}

/// The bundles with memory (or a migration destination) on `slice`, from the grants in the
/// store: what a path `DELETE` must not strand.
pub async fn bundles_on(store: &dyn StateStore, slice: &str) -> Result<Vec<String>, ServiceError> {
    let mut after: Option<String> = None;
    let mut found = Vec::new();
    loop {
        let mut request = RangeRequest::prefix(GRANT_PREFIX).limit(1000);
        if let Some(a) = &after {
            request = request.after(a.clone());
        }
        let response = store
            .range(request)
            .await
            .map_err(ServiceError::store("read memqosd's grants"))?;
        for kv in &response.kvs {
            after = Some(kv.key.clone());
            let grant: planner::Bundle =
                serde_json::from_slice(&kv.value).map_err(|source| ServiceError::Corrupt {
                    kind: "ffm grant",
                    key: kv.key.clone(),
                    source,
                })?;
            let on_slice = std::iter::once(&grant.placement)
                .chain(grant.migrating_to.as_ref())
                .any(|p| p.shares.iter().any(|s| s.device == slice));
            if on_slice {
                found.push(grant.id);
            }
        }
        if !response.more || response.kvs.is_empty() {
            return Ok(found);
        }
    }
}

impl FfmService {
    /// Reads every path and opens, resizes or closes each slice; returns the revision read
    /// at. Runs before the grants are restored (they need their slices open) and whenever
    /// a write found a path changed under it.
    pub(super) async fn load_reach(&self) -> Result<i64, FfmError> {
        let registry = Registry::<FabricPath>::new(std::sync::Arc::clone(&self.store));
        let (paths, revision) = registry.list_all().await?;
        {
            let mut reach = lock(&self.reach);
            reach.paths.clear();
            for path in &paths {
                reach.observe(&path.id, Some(path), &self.pool);
            }
        }
        for slice in self.slices() {
            self.apply_reach(&slice);
        }
        Ok(revision)
    }

    fn slices(&self) -> Vec<String> {
        self.devices
            .iter()
            .filter(|d| d.slice_host.is_some())
            .map(|d| d.device.id.clone())
            .collect()
    }

    /// Sets the slice's limits in the ledger from its paths. A shrink below what its
    /// bundles hold (a path changed outside fabmand's checks) closes it instead: nothing
    /// new goes there, what it holds stays booked.
    fn apply_reach(&self, slice: &str) {
        let limits = lock(&self.reach).limits(slice, &self.pool);
        let mut ledger = lock(&self.ledger);
        match ledger.set_reach(slice, limits) {
            Ok(true) => match limits {
                Some((bytes, bandwidth)) => {
                    tracing::info!(slice, bytes, gbs = %bandwidth, "fabric path gives reach")
                }
                None => tracing::info!(slice, "no fabric path gives reach: closed"),
            },
            Ok(false) => {}
            Err(rejection) => {
                let _ = ledger.set_reach(slice, None);
                tracing::warn!(slice, %rejection, "fabric paths shrank below what the slice's bundles hold: closed");
            }
        }
    }

    /// The compares a write placing memory by `placement` carries (see the module docs).
    ///
    /// # Errors
    /// [`FfmError::ReachWithdrawn`] when a slice of the placement has no path now.
    pub(super) fn reach_compares(&self, placement: &Placement) -> Result<Vec<Compare>, FfmError> {
        let reach = lock(&self.reach);
        let mut compares = Vec::new();
        for share in &placement.shares {
            let Some(info) = self.devices.get(share.index as usize) else {
                continue;
            };
            let Some(host) = &info.slice_host else {
                continue;
            };
            let opening = reach.compares(&share.device);
            if opening.is_empty() {
                return Err(FfmError::ReachWithdrawn {
                    device: info.physical.clone(),
                    host: host.clone(),
                });
            }
            compares.extend(opening);
        }
        Ok(compares)
    }

    /// The fabric paths that open ledger device `device` (a host's slice of a
    /// pooled device); empty for any other device.
    pub(super) fn paths_opening(&self, device: &str) -> Vec<String> {
        lock(&self.reach).opening(device)
    }

    /// The pooled devices a placement has memory on through slices.
    pub(super) fn pooled_devices_of(&self, placement: &Placement) -> Vec<String> {
        let mut devices: Vec<String> = placement
            .shares
            .iter()
            .filter_map(|s| self.devices.get(s.index as usize))
            .filter(|d| d.slice_host.is_some())
            .map(|d| d.physical.clone())
            .collect();
        devices.dedup();
        devices
    }

    /// Whether the service follows fabric paths (it has pooled devices to slice).
    pub(super) fn follows_paths(&self) -> bool {
        !self.pool.is_empty()
    }
}

/// Follows the paths until the service is dropped: each round lists them (opening,
/// resizing and closing slices) and then watches from the list's revision; the first
/// round watches from `listed`, the revision start-up's list was read at.
///
/// Holds the service, and so the store, only weakly while it waits on the watch: dropping
/// the control plane closes the store.
pub(super) async fn follow(service: Weak<FfmService>, listed: i64) {
    let mut listed = Some(listed);
    loop {
        if service.strong_count() == 0 {
            return;
        }
        if let Err(e) = follow_once(&service, listed.take()).await {
            tracing::warn!(error = %crate::error::error_chain(&e), "memqosd cannot follow the fabric paths; relisting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One list-then-watch round (the list skipped when `listed` is the revision of one just
/// taken); returns when the watch ends or fails.
async fn follow_once(service: &Weak<FfmService>, listed: Option<i64>) -> Result<(), FfmError> {
    let mut events = {
        let Some(s) = service.upgrade() else {
            return Ok(());
        };
        let revision = match listed {
            Some(revision) => revision,
            None => s.load_reach().await?,
        };
        Registry::<FabricPath>::new(std::sync::Arc::clone(&s.store))
            .watch(revision + 1, Default::default())
            .await?
    };
    while let Some(event) = events.next().await {
        let event = event?;
        let Some(s) = service.upgrade() else {
            return Ok(());
        };
        let path = (event.event_type != ResourceEventType::Deleted).then_some(&event.object);
        let touched = lock(&s.reach).observe(&event.object.id, path, &s.pool);
        for slice in touched {
            s.apply_reach(&slice);
        }
    }
    Ok(())
}

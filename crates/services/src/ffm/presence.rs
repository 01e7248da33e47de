//! Bundles follow their devices' presence in the fabric.
//!
//! The device inventory (`/v1/fabman/devices`, kept by discovery over FM API
//! or from this host's CXL memory devices) says whether each CXL device is
//! there. memqosd follows it through the store, the way it would as its own
//! daemon: a device going `offline` takes no new placement (the ledger's
//! [`Ledger::set_offline`](corridor_planner::memory::Ledger::set_offline))
//! and every bundle with memory on it carries `Degraded=True/DeviceOffline`
//! naming the device and how much of the bundle it held; back `active`, the
//! device takes placements again and those bundles `Degraded=False/
//! DevicesBack`. What an offline device held stays booked: the bundle still
//! exists and its capacity returns when it is freed (its lease lapses if
//! its owner is gone with the device).
//!
//! Level-based: each (re)start lists the inventory and applies every
//! device's status, then follows the watch from the list's revision.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use corridor_model::fabric::{DeviceStatus, FabricDevice};
use corridor_model::meta::{Condition, ConditionStatus, condition_type};
use futures::StreamExt;

use super::{FfmService, lock};
use crate::registry::ResourceEventType;
use crate::{Registry, ServiceError};

/// `Degraded` reason while a device holding part of the bundle is offline.
pub const DEVICE_OFFLINE: &str = "DeviceOffline";
/// `Degraded` reason once every device holding the bundle is back.
pub const DEVICES_BACK: &str = "DevicesBack";

/// Follows the device inventory until the service is dropped.
///
/// Holds the service, and so the store, only weakly while it waits on the
/// watch: dropping the control plane closes the store.
pub(super) async fn follow(service: Weak<FfmService>) {
    loop {
        if service.strong_count() == 0 {
            return;
        }
        if let Err(e) = follow_once(&service).await {
            tracing::warn!(error = %crate::error::error_chain(&e), "memqosd cannot follow the device inventory; retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One list-then-watch round; returns when the watch ends or fails.
async fn follow_once(service: &Weak<FfmService>) -> Result<(), ServiceError> {
    let mut events = {
        let Some(s) = service.upgrade() else {
            return Ok(());
        };
        let registry = Registry::<FabricDevice>::new(std::sync::Arc::clone(&s.store));
        let (devices, revision) = registry.list_all().await?;
        for device in &devices {
            s.device_presence(&device.id, device.status).await;
        }
        registry.watch(revision + 1, Default::default()).await?
    };
    while let Some(event) = events.next().await {
        let event = event?;
        let Some(s) = service.upgrade() else {
            return Ok(());
        };
        let status = match event.event_type {
            // A device removed from the inventory is as gone as an offline one.
            ResourceEventType::Deleted => DeviceStatus::Offline,
            _ => event.object.status,
        };
        s.device_presence(&event.object.id, status).await;
    }
    Ok(())
}

impl FfmService {
    /// Applies device `id`'s inventory status: the ledger's placements and the
    /// `Degraded` condition of the bundles it holds (only on a change).
    pub(super) async fn device_presence(&self, id: &str, status: DeviceStatus) {
        let offline = status == DeviceStatus::Offline;
        // The ledger devices on it: the device itself, or each host's slice of a pooled one.
        let on_device: Vec<usize> = self
            .devices
            .iter()
            .enumerate()
            .filter(|(_, d)| d.physical == id)
            .map(|(i, _)| i)
            .collect();
        let held: BTreeMap<String, u64> = {
            let mut ledger = lock(&self.ledger);
            let mut changed = false;
            for &i in &on_device {
                changed |= ledger.set_offline(&self.devices[i].device.id, offline);
            }
            if !changed {
                return;
            }
            ledger
                .bundles()
                .filter_map(|b| {
                    let bytes: u64 = b
                        .placement
                        .shares
                        .iter()
                        .filter(|s| on_device.contains(&(s.index as usize)))
                        .map(|s| s.bytes)
                        .sum();
                    (bytes > 0).then(|| (b.id.clone(), bytes))
                })
                .collect()
        };
        if offline {
            tracing::warn!(
                device = id,
                bundles = held.len(),
                "device offline: no new placement on it"
            );
        } else {
            tracing::info!(
                device = id,
                bundles = held.len(),
                "device back: placements resume"
            );
        }
        for (bundle, bytes) in held {
            let now = self.clock.now();
            let condition = self.presence_condition(&bundle, id, offline, bytes, now);
            let written = self
                .bundles
                .update(&bundle, None, |b| {
                    b.meta.set_condition(condition.clone());
                    b.meta.updated_at = now;
                    Ok(())
                })
                .await;
            match written {
                Ok(_) | Err(ServiceError::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(bundle = %bundle, error = %crate::error::error_chain(&e), "cannot record a device's presence on a bundle");
                }
            }
        }
    }

    /// The bundle's `Degraded` condition after device `id` went (`offline`)
    /// or came back holding `bytes` of it: degraded while any of its devices
    /// is offline.
    fn presence_condition(
        &self,
        bundle: &str,
        id: &str,
        offline: bool,
        bytes: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Condition {
        let ledger = lock(&self.ledger);
        let still_gone: Vec<String> = ledger
            .bundle(bundle)
            .map(|b| {
                b.placement
                    .shares
                    .iter()
                    .filter(|s| ledger.is_offline(s.index as usize))
                    .map(|s| {
                        self.devices
                            .get(s.index as usize)
                            .map_or_else(|| s.device.clone(), |d| d.physical.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if still_gone.is_empty() {
            return Condition::new(
                condition_type::DEGRADED,
                ConditionStatus::False,
                DEVICES_BACK,
                format!(
                    "device {id} is back in the fabric: every device holding the bundle is present"
                ),
                now,
            );
        }
        let message = if offline {
            format!(
                "device {id}, holding {bytes} bytes of the bundle, is offline in the fabric inventory: that memory is unreachable until it returns; offline now: {}",
                still_gone.join(", ")
            )
        } else {
            format!(
                "device {id} is back; still offline: {}",
                still_gone.join(", ")
            )
        };
        Condition::new(
            condition_type::DEGRADED,
            ConditionStatus::True,
            DEVICE_OFFLINE,
            message,
            now,
        )
    }
}

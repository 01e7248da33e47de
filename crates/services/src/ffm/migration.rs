//! `PATCH /v1/ffm/{id}/latency_class`: the destination is reserved in the
//! ledger, then a `Migration` operation moves the resident pages (the
//! HAL's `move_pages` in chunks, whose counts are the operation's
//! progress) and commits the new placement, or aborts and gives the
//! reservation back.

use std::sync::Arc;

use corridor_hal::memory::MigrationProgress;
use corridor_model::ffm::{LatencyClassPatch, Persistence};
use corridor_model::meta::{Operation, OperationKind, ResourceKind, ResourceRef};
use corridor_model::validate::Validate;
use corridor_planner::memory::Placement;

use super::error::FfmError;
use super::{FfmService, admission, lock, visibility};
use crate::error::ToProblem;
use crate::operations::Progress;
use crate::{Caller, ServiceError};

/// How often the commit re-reads a bundle that changed under it (a renewal
/// or a PATCH) before giving up.
const COMMIT_ATTEMPTS: usize = 8;

impl FfmService {
    /// Reserves the destination and starts the migration operation; a
    /// bundle already migrating is `MigrationInProgress`.
    pub async fn migrate(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        patch: LatencyClassPatch,
    ) -> Result<Operation, FfmError> {
        patch.validate().map_err(FfmError::Invalid)?;
        let (bundle, _) = visibility::get(&self.bundles, caller, id).await?;
        if bundle.persistence != Persistence::None && !patch.latency_class.can_persist() {
            return Err(FfmError::field(
                "/latency_class",
                "compatible",
                format!(
                    "a {:?}-persistent bundle cannot move to volatile {:?}",
                    bundle.persistence, patch.latency_class
                ),
            ));
        }
        // The bundle's memory lives in the memqosd serving its host.
        self.epoch_unchanged(&bundle.host).await?;
        let class = admission::tier(patch.latency_class);
        let (dest, policies) = {
            let mut ledger = lock(&self.ledger);
            let dest = ledger
                .migrate_begin(id, class)
                .map_err(|r| FfmError::for_host(&bundle.host, class, r))?;
            // Under the same lock: the policies the destination was decided on. A policy
            // written meanwhile fails the commit (its writer did not count the destination).
            (dest, self.policies_unchanged())
        };
        self.set_migrating(id, true);
        let service = Arc::clone(self);
        let bundle_id = id.to_owned();
        let started = self
            .operations
            .start(
                OperationKind::Migration,
                ResourceRef::new(ResourceKind::FfmBundle, id),
                move |progress| async move {
                    let result = service
                        .run_migration(&bundle_id, dest, policies, &progress)
                        .await;
                    service.set_migrating(&bundle_id, false);
                    match result {
                        Ok(v) => Ok(Some(v)),
                        Err(e) => {
                            let _ = lock(&service.ledger).migrate_abort(&bundle_id);
                            Err(e.to_problem())
                        }
                    }
                },
            )
            .await;
        started.map_err(|e| {
            let _ = lock(&self.ledger).migrate_abort(id);
            self.set_migrating(id, false);
            e.into()
        })
    }

    fn set_migrating(&self, id: &str, migrating: bool) {
        if let Some(l) = lock(&self.live).get_mut(id) {
            l.migrating = migrating;
        }
    }

    async fn run_migration(
        &self,
        id: &str,
        dest: Placement,
        policies: corridor_store::Compare,
        progress: &Progress,
    ) -> Result<serde_json::Value, FfmError> {
        let memory = lock(&self.live)
            .get(id)
            .map(|l| Arc::clone(&l.memory))
            .ok_or_else(|| ServiceError::NotFound {
                kind: "ffm",
                id: id.to_owned(),
            })?;
        let _ = progress
            .report(
                10,
                format!(
                    "destination reserved on {:?}",
                    dest.shares.iter().map(|s| &s.device).collect::<Vec<_>>()
                ),
            )
            .await;
        let target = self.numa_target(&dest);
        // The kernel's move runs on a blocking thread, which times it; each
        // chunk's counts (a few per migration, whatever its size) come back
        // through a channel and become the operation's progress, in order.
        let (counts, mut chunks) = tokio::sync::mpsc::unbounded_channel();
        let moving = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let placed = memory.place(
                &target,
                Some(&mut |done: MigrationProgress| {
                    let _ = counts.send(done);
                }),
            );
            (placed, started.elapsed())
        });
        // The channel closes when the closure is dropped, after the last chunk.
        while let Some(mut done) = chunks.recv().await {
            // The counts are running totals, so the newest of those that
            // arrived while the last report was being written holds them all:
            // a backlog of reports would hold the operation open after the
            // pages have moved.
            while let Ok(newer) = chunks.try_recv() {
                done = newer;
            }
            let _ = progress
                .report_detail(
                    migration_percent(&done),
                    format!(
                        "move_pages: {} of {} resident pages examined, {} moved",
                        done.examined_pages, done.resident_pages, done.moved_pages
                    ),
                    progress_detail(&done),
                )
                .await;
        }
        let (placed, elapsed) = moving.await.map_err(|e| FfmError::Task("migration", e))?;
        let (outcome, moved) = placed?;
        let elapsed = elapsed.as_secs_f64();
        // The twin's duration: every byte crosses the slowest device link of
        // source and destination once (read there, write here).
        let (source_gbs, bytes) = match lock(&self.ledger).bundle(id) {
            Some(b) => (self.min_peak(&b.placement), b.request.bytes),
            None => (f64::INFINITY, 0),
        };
        let link_gbs = source_gbs.min(self.min_peak(&dest));
        let modelled_s = bytes as f64 / (link_gbs * 1e9);
        let _ = progress
            .report(
                80,
                if outcome.mode == super::memory::MODELLED_MODE {
                    "modelled placement: no page of this machine moved (twin devices)".to_owned()
                } else {
                    format!("{moved} resident pages moved by the kernel in {elapsed:.3} s")
                },
            )
            .await;
        let (placement, grant) = {
            let mut ledger = lock(&self.ledger);
            let placement = ledger.migrate_commit(id)?;
            (placement, ledger.bundle(id).cloned())
        };
        let now = self.clock.now();
        let placed = self.placed_condition(&outcome, now);
        let view = self.placement_view(&placement);
        let class = admission::class(placement.latency_class);
        for _ in 0..COMMIT_ATTEMPTS {
            let (mut bundle, kv) = self.bundles.get_kv(id).await?;
            bundle.latency_class = class;
            bundle.placement = view.clone();
            bundle.moved_pages += moved;
            bundle.meta.updated_at = now;
            bundle.meta.set_condition(placed.clone());
            // The destination's paths as they are now: a path released meanwhile fails
            // the write, and the migration with it.
            let mut compares = self.reach_compares(&placement)?;
            compares.push(policies.clone());
            match self
                .write_with_grant_if(&kv, &bundle, grant.as_ref(), compares)
                .await
            {
                Ok(_) => {
                    let mut result = serde_json::json!({
                        "latency_class": class,
                        "moved_pages": moved,
                        "measured_seconds": elapsed,
                        "policy": outcome.mode,
                        "notes": outcome.notes,
                        // Pages examined in their users' address spaces:
                        // the rest went through corridord's own mapping.
                        "holder_pages": outcome.holder_pages,
                    });
                    // The twin's modelled duration only where the placement
                    // is the twin's: on this machine's nodes the kernel moved
                    // the pages and `measured_seconds` is the duration.
                    if outcome.mode == super::memory::MODELLED_MODE {
                        result["twin_link_GBs"] = serde_json::json!(link_gbs);
                        result["twin_modelled_seconds"] = serde_json::json!(modelled_s);
                    }
                    return Ok(result);
                }
                Err(FfmError::Service(ServiceError::StaleVersion { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(FfmError::Service(ServiceError::ConditionFailed {
            kind: "ffm",
            id: id.to_owned(),
        }))
    }
}

/// 10 % once the destination is reserved, 80 % once every resident page
/// was examined; the move is the part between.
fn migration_percent(done: &MigrationProgress) -> u8 {
    let share = if done.resident_pages == 0 {
        1.0
    } else {
        done.examined_pages as f64 / done.resident_pages as f64
    };
    10 + (70.0 * share.clamp(0.0, 1.0)) as u8
}

/// The operation's `progress_detail` during a migration: the kernel's counts.
fn progress_detail(done: &MigrationProgress) -> serde_json::Value {
    serde_json::json!({
        "resident_pages": done.resident_pages,
        "examined_pages": done.examined_pages,
        "moved_pages": done.moved_pages,
        "left_pages": done.left_pages,
    })
}

//! The corridor reconciler: level-based. Each pass advances the twin to the
//! clock, re-reads the ledger (catching lease expiries), reads every lit
//! corridor's lanes back through CMIS and writes status and conditions.
//! A degraded corridor is repaired in escalating steps: re-tune the lasers,
//! re-lock the data path, then move it to another port pair keeping its
//! QoS; if nothing works the corridor says so in `Repaired`.
//!
//! A corridor whose rings heliopassd tracks and which lost lock is left to
//! heliopassd's search until it records `RingLock=False/ReacquireFailed`
//! (the hand-over, through the store); then the steps above run.
//!
//! The reconciler runs on the replica that drives the optical plant (the
//! leader). Each pass first takes over what the store holds as lit and
//! this plant does not (`CorridorService::adopt_lit`): after a failover,
//! the corridors the previous leader lit. Grants made through other replicas wait, dark, for it
//! (`Provisioned=False/AwaitingPlantOwner`), and corridors they release
//! leave lanes lit here: besides its period, a watch on the corridor
//! objects (opened only where other replicas share the store) wakes it for exactly those changes ([`on_change`]), so a
//! grant through any replica is lit, and a release darkened, without
//! waiting for the next pass.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tracing::Instrument;

use chrono::{DateTime, Utc};
use corridor_model::corridor::{Corridor, CorridorStatus, EyeMargin, LaneState};
use corridor_model::meta::{Condition, ConditionStatus};

use super::error::CorridorError;
use super::optics::{self, Readback, eye_margin};
use super::{CorridorService, admission, conditions, grant, lock, trust, tuning};

/// Laser drift beyond this share of the channel spacing counts as a fault
/// even while the BER holds: the line is walking towards its neighbour's
/// channel (and out of the ring filter's passband).
pub const MAX_DRIFT_SHARE: f64 = 0.25;

/// Whether the lanes are within every threshold.
pub fn is_healthy(r: &Readback) -> bool {
    eye_margin(r.worst_ber, r.all_up) == EyeMargin::Ok && r.worst_drift_share < MAX_DRIFT_SHARE
}

/// Writes a read-back into the corridor: worst-lane post-FEC BER, eye
/// margin (from the pre-FEC BER), per-lane state, and `active`/`degraded` with the reason.
pub fn apply_readback(c: &mut Corridor, r: &Readback, now: DateTime<Utc>) {
    // `ber` is post-FEC everywhere; the eye is judged on the pre-FEC BER.
    c.ber = r.worst_post_fec_ber;
    c.ber_is_upper_bound = r.post_fec_is_upper_bound;
    c.eye_margin = eye_margin(r.worst_ber, r.all_up);
    for (status, lane) in c.channels.iter_mut().zip(&r.lanes) {
        status.ber = Some(lane.ber);
        status.state = match eye_margin(lane.pre_fec_ber, r.all_up) {
            EyeMargin::Ok => LaneState::Up,
            EyeMargin::Marginal => LaneState::Degraded,
            EyeMargin::Fail if lane.pre_fec_ber >= 0.5 => LaneState::Down,
            EyeMargin::Fail => LaneState::Degraded,
        };
    }
    let healthy = is_healthy(r);
    c.status = if healthy {
        CorridorStatus::Active
    } else {
        CorridorStatus::Degraded
    };
    let (status, reason, message) = if healthy {
        (
            ConditionStatus::True,
            "WithinThresholds",
            format!(
                "worst-lane pre-FEC BER {:.2e}, a decade or more under the KP4 limit",
                r.worst_ber
            ),
        )
    } else if c.eye_margin == EyeMargin::Ok {
        (
            ConditionStatus::False,
            "LaserDrift",
            format!(
                "a laser is {:.0} % of the channel spacing off its channel (limit {:.0} %)",
                100.0 * r.worst_drift_share,
                100.0 * MAX_DRIFT_SHARE
            ),
        )
    } else if !r.all_up {
        (
            ConditionStatus::False,
            "LaneDark",
            format!(
                "a lane is not DPActivated or receives no light (worst pre-FEC BER {:.2e})",
                r.worst_ber
            ),
        )
    } else {
        (
            ConditionStatus::False,
            "BerAboveThreshold",
            format!(
                "worst-lane pre-FEC BER {:.2e} leaves less than a decade under the KP4 limit 2.4e-4 (eye margin {:?})",
                r.worst_ber, c.eye_margin
            ),
        )
    };
    c.meta.set_condition(Condition::new(
        conditions::HEALTHY,
        status,
        reason,
        message,
        now,
    ));
}

/// Whether writing `r` into `c` would change what a client acts on:
/// status, eye margin, lane states or a condition's status or reason.
fn changes(c: &Corridor, r: &Readback, now: DateTime<Utc>) -> bool {
    let mut next = c.clone();
    apply_readback(&mut next, r, now);
    let key = |c: &Corridor| {
        let mut conditions: Vec<(String, String, String)> = c
            .meta
            .conditions
            .iter()
            .map(|k| {
                (
                    k.condition_type.clone(),
                    format!("{:?}", k.status),
                    k.reason.clone(),
                )
            })
            .collect();
        conditions.sort();
        let lanes: Vec<LaneState> = c.channels.iter().map(|l| l.state).collect();
        (c.status, c.eye_margin, lanes, conditions)
    };
    key(c) != key(&next)
}

/// Stops the reconciler task when told to, or when dropped.
#[derive(Debug)]
pub struct ReconcilerHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ReconcilerHandle {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ReconcilerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn spawn(service: Arc<CorridorService>, interval: Duration) -> ReconcilerHandle {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = corridor_store::fencing::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Opened before the first pass (the ticker's first tick is now),
        // so a change is either in that pass's list or on the watch.
        let mut changes = watch_changes(&service).await;
        loop {
            let next_change = async {
                match changes.as_mut() {
                    Some(events) => events.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticker.tick() => {
                    if changes.is_none() {
                        // Lost (a store error, a compaction): every pass
                        // is a full one, so nothing is missed for long.
                        changes = watch_changes(&service).await;
                    }
                    let pass = tracing::info_span!("corrd.reconcile");
                    if let Err(e) = reconcile_once(&service).instrument(pass).await {
                        tracing::warn!(error = %crate::error::error_chain(&e), "corridor reconcile pass failed");
                    }
                }
                event = next_change => match event {
                    Some(Ok(event)) => {
                        let span = tracing::debug_span!("corrd.reconcile.change", corridor = %event.object.id);
                        if let Err(e) = on_change(&service, &event).instrument(span).await {
                            tracing::warn!(corridor = %event.object.id, error = %crate::error::error_chain(&e), "reconciling a corridor change failed; the next pass tries again");
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %crate::error::error_chain(&e), "the watch on corridors failed; reopened at the next pass");
                        changes = None;
                    }
                    None => changes = None,
                },
            }
        }
    });
    ReconcilerHandle {
        stop: Some(stop),
        task: Some(task),
    }
}

/// A watch on every corridor object from now on; `None` when no other
/// replica shares the store, or (logged) if the store refuses one.
async fn watch_changes(
    service: &CorridorService,
) -> Option<crate::registry::ResourceEvents<Corridor>> {
    // The only process on its store: every change is its own, already
    // acted on; following them would decode every grant's object again.
    if !service.shares_store() {
        return None;
    }
    match service
        .registry
        .watch(0, crate::labels::LabelSelector::default())
        .await
    {
        Ok(events) => Some(events),
        Err(e) => {
            tracing::warn!(error = %crate::error::error_chain(&e), "cannot watch corridors; reconciling on the period only");
            None
        }
    }
}

/// Reconciles the one corridor a watch event names, for the two changes
/// another replica makes that this plant must follow: a grant waiting to
/// be lit, and a corridor gone (released, pre-empted or expired) whose
/// lanes are lit here. Everything else waits for the periodic pass.
pub async fn on_change(
    service: &CorridorService,
    event: &crate::registry::ResourceEvent<Corridor>,
) -> Result<PassReport, CorridorError> {
    let mut report = PassReport::default();
    let c = &event.object;
    let gone = event.event_type == crate::registry::ResourceEventType::Deleted
        || c.status == CorridorStatus::Released;
    if gone {
        let lit = lock(&service.lit).get(&c.id).cloned();
        if let Some(a) = lit {
            darken_orphan(service, &c.id, &a, &mut report).await;
        }
        return Ok(report);
    }
    let Some(a) = &c.assignment else {
        return Ok(report);
    };
    let now = service.clocks.wall.now();
    if trust::is_held(c) {
        attestation_pass(service, c, a, now, &mut report).await?;
    } else if super::awaits_plant_owner(c) {
        light_awaiting(service, c, a, now, &mut report).await?;
    }
    Ok(report)
}

/// Takes down the lanes lit here for corridor `id` if the store says it is
/// gone or released (the store freed the capacity already).
async fn darken_orphan(
    service: &CorridorService,
    id: &str,
    a: &corridor_model::corridor::CorridorAssignment,
    report: &mut PassReport,
) {
    // An admission lights its lanes before its object is written (the
    // grant transaction records the outcome); until then its plan is
    // held in the cache. Checked before the store, which it reaches
    // only after the hold is confirmed.
    if lock(&service.cache).tentative.contains_key(id) {
        return;
    }
    // The caller's view may predate a grant made since: only the store's
    // word that the object is gone (ids are never reused) or released
    // counts.
    match service.registry.get(id).await {
        Err(crate::ServiceError::NotFound { .. }) => {}
        Ok(c) if c.status == CorridorStatus::Released => {}
        _ => return,
    }
    if lock(&service.lit).get(id) != Some(a) {
        // Lit again since the snapshot (the admission retried).
        return;
    }
    report.released.push(id.to_owned());
    if let Err(e) = service.darken(id, a).await {
        tracing::warn!(corridor = %id, error = %crate::error::error_chain(&e), "cannot take an orphan's lanes down");
    }
}

/// Lights a grant made through a replica that does not drive the plant,
/// through the bring-up a grant made here uses, and records the outcome.
async fn light_awaiting(
    service: &CorridorService,
    c: &Corridor,
    a: &corridor_model::corridor::CorridorAssignment,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> Result<(), CorridorError> {
    let outcome = if service.lit_here(&c.id) {
        // Lit already: `c` is an event or list older than the record that
        // says so, or writing the outcome failed. Only the latter is
        // written again, from a fresh read-back (no second bring-up).
        match service.registry.get(&c.id).await {
            Ok(current) if super::awaits_plant_owner(&current) => {}
            Ok(_) | Err(crate::ServiceError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let readback = optics::read(&service.optics, c, a).await;
        if let Ok(r) = &readback {
            service.remember(&c.id, a, r);
        }
        readback
    } else {
        service.bring_up(c, a).await
    };
    let updated = service
        .registry
        .update(&c.id, None, |obj| {
            super::record_bring_up(obj, a, &outcome, now);
            Ok(())
        })
        .await;
    match updated {
        Ok(_) => {
            report.activated.push(c.id.clone());
            Ok(())
        }
        Err(crate::ServiceError::NotFound { .. }) => {
            // Released while it was lit: dark again.
            darken_orphan(service, &c.id, a, report).await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// What one pass did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub checked: usize,
    pub degraded: Vec<String>,
    pub repaired: Vec<String>,
    pub unrepaired: Vec<String>,
    /// Corridors gone from the store whose lanes were taken down.
    pub released: Vec<String>,
    /// Corridors held for attestation whose ends are now vouched for, or
    /// granted through another replica: lit.
    pub activated: Vec<String>,
    /// Corridors the store holds as lit that this plant did not have lit
    /// (lit by the previous leader): lit here, not repaired.
    pub adopted: Vec<String>,
    /// Corridors whose reading fell while HELIOPASS calibrates their rings: judged on a
    /// later pass, not repaired under the calibration.
    pub deferred: Vec<String>,
}

/// The attestation side of one corridor's pass: a held corridor is lit
/// once both its ends are vouched for; a lit one whose ends no longer are
/// goes `degraded` with the reason. True when its health is checked next.
async fn attestation_pass(
    service: &CorridorService,
    c: &Corridor,
    a: &corridor_model::corridor::CorridorAssignment,
    now: chrono::DateTime<chrono::Utc>,
    report: &mut PassReport,
) -> Result<bool, CorridorError> {
    let vouched = service.vouched(a).await;
    let condition = c
        .meta
        .conditions
        .iter()
        .find(|k| k.condition_type == conditions::ATTESTED);
    match (trust::is_held(c), vouched) {
        (true, Ok(ids)) => {
            let outcome = service.bring_up(c, a).await;
            service
                .registry
                .update(&c.id, None, |obj| {
                    trust::record_attested(obj, ids.clone(), now);
                    super::record_bring_up(obj, a, &outcome, now);
                    Ok(())
                })
                .await?;
            report.activated.push(c.id.clone());
            Ok(false)
        }
        (true, Err(why)) => {
            if condition.is_none_or(|k| !k.message.ends_with(&why)) {
                service
                    .registry
                    .update(&c.id, None, |obj| {
                        trust::record_held(obj, &why, now);
                        Ok(())
                    })
                    .await?;
            }
            Ok(false)
        }
        (false, Ok(ids)) => {
            if c.attestations != ids || condition.is_none_or(|k| k.status != ConditionStatus::True)
            {
                service
                    .registry
                    .update(&c.id, None, |obj| {
                        trust::record_attested(obj, ids.clone(), now);
                        Ok(())
                    })
                    .await?;
            }
            Ok(true)
        }
        (false, Err(why)) => {
            if c.status != CorridorStatus::Degraded || condition.is_none_or(|k| k.message != why) {
                service
                    .registry
                    .update(&c.id, None, |obj| {
                        trust::record_lost(obj, &why, now);
                        Ok(())
                    })
                    .await?;
                report.degraded.push(c.id.clone());
            }
            Ok(false)
        }
    }
}

/// One reconcile pass at the clock's current time.
pub async fn reconcile_once(service: &CorridorService) -> Result<PassReport, CorridorError> {
    let now = service.clocks.wall.now();
    service.advance().await?;
    service.refresh().await?;
    let mut report = PassReport::default();
    let corridors = service.list_all().await?;
    let live: HashSet<&str> = corridors
        .iter()
        .filter(|c| c.status != CorridorStatus::Released)
        .map(|c| c.id.as_str())
        .collect();
    lock(&service.counters).retain(|id, _| live.contains(id.as_str()));
    lock(&service.readings).retain(|id, _| live.contains(id.as_str()));
    lock(&service.handover_waits).retain(|id, _| live.contains(id.as_str()));
    // Lanes whose corridor is gone (its lease expired, or it was released
    // by another replica) go dark: the store freed the capacity already.
    let orphans: Vec<(String, corridor_model::corridor::CorridorAssignment)> = lock(&service.lit)
        .iter()
        .filter(|(id, _)| !live.contains(id.as_str()))
        .map(|(id, a)| (id.clone(), a.clone()))
        .collect();
    for (id, a) in orphans {
        darken_orphan(service, &id, &a, &mut report).await;
    }
    // Corridors the store holds as lit that this plant does not: lit by
    // the replica that drove the plant before this one took the lead (or
    // whose lead ended in the middle of a grant). Taken over before any
    // lane is read, so they are not mistaken for lanes gone dark.
    report.adopted = service.adopt_lit(&corridors).await;
    if !report.adopted.is_empty() {
        service.advance().await?;
    }
    for c in &corridors {
        if !matches!(
            c.status,
            CorridorStatus::Active | CorridorStatus::Degraded | CorridorStatus::Provisioning
        ) {
            continue;
        }
        let Some(a) = &c.assignment else { continue };
        if c.attestation_required && !attestation_pass(service, c, a, now, &mut report).await? {
            continue;
        }
        if super::awaits_plant_owner(c) {
            light_awaiting(service, c, a, now, &mut report).await?;
            continue;
        }
        report.checked += 1;
        // Whether HELIOPASS sweeps these rings before the reading and after it: a reading
        // taken while a calibration ran is no fault, even if the calibration ended before
        // the reading is judged.
        let calibrating_before = service.tuning().is_some_and(|t| t.calibrating(&a.ports));
        let mut readback = optics::read(&service.optics, c, a).await?;
        // The reading `/metrics` shows until the next pass.
        service.remember(&c.id, a, &readback);
        // Every pass samples the post-FEC BER, so each interval's errors
        // are charged at that interval's BER, not at a later reading's.
        if !c.attestation_required && c.status != CorridorStatus::Provisioning {
            service.count_errors(c, Some(&readback)).await?;
        }
        let mut healthy = is_healthy(&readback);
        if !healthy
            && (calibrating_before || service.tuning().is_some_and(|t| t.calibrating(&a.ports)))
        {
            // HELIOPASS is sweeping these rings: a reading mid-calibration is no fault
            // to repair (re-tuning the lasers under it would fight the calibration).
            // The next pass after it judges the lanes.
            report.deferred.push(c.id.clone());
            continue;
        }
        if healthy {
            // A wait for heliopassd belongs to one episode of lost lock.
            lock(&service.handover_waits).remove(&c.id);
        } else if left_to_heliopass(service, c, a) {
            report.deferred.push(c.id.clone());
            continue;
        }
        let mut repair: Option<&str> = None;
        if !healthy {
            report.degraded.push(c.id.clone());
            // 1. Re-tune the lasers (re-centres them at today's temperature).
            // 2. Cycle the data path (re-locks the rings as well).
            for (step, name) in [(0, "re-tuned the lasers"), (1, "re-locked the data path")] {
                let done = if step == 0 {
                    optics::retune(&service.optics, a).await
                } else {
                    optics::relock(&service.optics, a).await
                };
                if done.is_err() {
                    continue;
                }
                service.advance().await?;
                readback = optics::read(&service.optics, c, a).await?;
                service.remember(&c.id, a, &readback);
                if is_healthy(&readback) {
                    healthy = true;
                    repair = Some(name);
                    break;
                }
            }
        }
        if !healthy && c.endpoints.is_none() {
            // 3. Another port pair with the same wavelengths and QoS.
            match reroute(service, c, &readback).await {
                Ok(Some(_)) => {
                    report.repaired.push(c.id.clone());
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(corridor = %c.id, error = %crate::error::error_chain(&e), "reroute failed");
                }
            }
        }
        if healthy && repair.is_none() && !changes(c, &readback, now) {
            // Level-based, not chatty: an unchanged healthy corridor is not
            // rewritten (watchers would see a MODIFIED every pass).
            continue;
        }
        let updated = service
            .registry
            .update(&c.id, None, |obj| {
                let before = (obj.status, obj.eye_margin);
                apply_readback(obj, &readback, now);
                match (healthy, repair) {
                    (true, Some(step)) => {
                        obj.meta.set_condition(Condition::new(
                            conditions::REPAIRED,
                            ConditionStatus::True,
                            "Relocked",
                            format!("telemetry crossed the threshold; {step} and it recovered"),
                            now,
                        ));
                    }
                    (false, _) => {
                        obj.meta.set_condition(Condition::new(
                            conditions::REPAIRED,
                            ConditionStatus::False,
                            "RepairFailed",
                            if obj.endpoints.is_some() {
                                format!(
                                    "re-tune and re-lock did not restore the lanes (worst pre-FEC BER {:.2e}); the request pins its endpoints, so it is not rerouted",
                                    readback.worst_ber
                                )
                            } else {
                                format!(
                                    "re-tune and re-lock did not restore the lanes (worst pre-FEC BER {:.2e}) and no other port pair can carry the corridor with its wavelengths and QoS",
                                    readback.worst_ber
                                )
                            },
                            now,
                        ));
                    }
                    _ => {}
                }
                if before != (obj.status, obj.eye_margin) || repair.is_some() || !healthy {
                    obj.meta.updated_at = now;
                }
                Ok(())
            })
            .await;
        match updated {
            Ok(_) if healthy && repair.is_some() => report.repaired.push(c.id.clone()),
            Ok(_) if !healthy => report.unrepaired.push(c.id.clone()),
            Ok(_) => {}
            // Released meanwhile: nothing to reconcile.
            Err(crate::ServiceError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

/// Whether the reconciler leaves unhealthy corridor `c` to heliopassd this
/// pass: its rings lost lock (or the tracking loop holds their ports right
/// now, so whether they did cannot be read) and heliopassd has not recorded
/// the hand-over (`RingLock=False/ReacquireFailed`) yet. Re-tuning the
/// lasers or cycling the data path under a ring search would fight it, and
/// acting on the recorded condition (not on heliopassd's live state) orders
/// the hand-over for every watcher: the condition, then the repair. Bounded
/// by [`tuning::HANDOVER_WAIT`] of real time, should heliopassd have
/// stopped. Rings read as locked (or untracked) leave the lanes to corrd.
fn left_to_heliopass(
    service: &CorridorService,
    c: &Corridor,
    a: &corridor_model::corridor::CorridorAssignment,
) -> bool {
    let unlocked = service.tuning().is_some_and(|t| {
        matches!(
            t.ring_lock(&a.ports, &a.module_lanes),
            tuning::RingLockView::Unlocked | tuning::RingLockView::Unknown
        )
    });
    let handed_over = c
        .meta
        .condition(tuning::RING_LOCK)
        .is_some_and(|k| k.reason == tuning::REACQUIRE_FAILED);
    let mut waits = lock(&service.handover_waits);
    if !unlocked || handed_over {
        waits.remove(&c.id);
        return false;
    }
    let since = *waits
        .entry(c.id.clone())
        .or_insert_with(std::time::Instant::now);
    since.elapsed() < tuning::HANDOVER_WAIT
}

/// Plans the corridor on another port pair (its current ports excluded),
/// moves the grant in one transaction and provisions the new lanes.
async fn reroute(
    service: &CorridorService,
    c: &Corridor,
    readback: &Readback,
) -> Result<Option<Corridor>, CorridorError> {
    let Some(a) = &c.assignment else {
        return Ok(None);
    };
    let plan = {
        let cache = lock(&service.cache);
        // Anywhere but the failing ports.
        let avoid: Vec<usize> = a
            .ports
            .iter()
            .filter_map(|id| service.fabric.port_index(id))
            .collect();
        match admission::plan(&service.fabric, &cache, &c.request(), &avoid) {
            // A repair does not pre-empt: the reconciler has no request to
            // weigh against the bronze corridor it would release.
            Ok(plan) if plan.preempt.is_empty() => plan,
            _ => return Ok(None),
        }
    };
    let reason = format!(
        "lanes on {} degraded (worst pre-FEC BER {:.2e}) and did not recover after re-tune and re-lock",
        c.path.join(" > "),
        readback.worst_ber
    );
    let moved = move_to(service, c, &plan, &reason).await?;
    let _ = service.darken(&c.id, a).await;
    let now = service.clocks.wall.now();
    let Some(new) = moved.assignment.clone() else {
        return Ok(None);
    };
    service.light(&c.id, &new).await?;
    service.advance().await?;
    let readback = optics::read(&service.optics, &moved, &new).await?;
    service.remember(&c.id, &new, &readback);
    let updated = service
        .registry
        .update(&c.id, None, |obj| {
            apply_readback(obj, &readback, now);
            obj.meta.updated_at = now;
            Ok(())
        })
        .await?;
    Ok(Some(updated))
}

/// Moves a corridor to `plan` in one transaction ([`grant::move_txn`]) and
/// moves its holding in the cache.
async fn move_to(
    service: &CorridorService,
    corridor: &Corridor,
    plan: &admission::Plan,
    reason: &str,
) -> Result<Corridor, CorridorError> {
    let fabric = &service.fabric;
    let (current, kv) = service.registry.get_kv(&corridor.id).await?;
    let now = service.clocks.wall.now();
    let mut moved = current.clone();
    grant::apply_plan(fabric, &mut moved, plan);
    moved.status = CorridorStatus::Provisioning;
    moved.meta.updated_at = now;
    moved.meta.set_condition(Condition::new(
        conditions::REPAIRED,
        ConditionStatus::True,
        "Rerouted",
        format!(
            "{reason}; moved from {} to {}",
            current.path.join(" > "),
            moved.path.join(" > ")
        ),
        now,
    ));
    let response = service
        .store
        .txn(grant::move_txn(fabric, &current, &kv, &moved, plan))
        .await
        .map_err(|source| crate::ServiceError::Store {
            context: "move a corridor",
            source,
        })?;
    if !response.succeeded {
        return Err(crate::ServiceError::ConditionFailed {
            kind: "corridors",
            id: corridor.id.clone(),
        }
        .into());
    }
    {
        let mut cache = lock(&service.cache);
        cache.release(&corridor.id);
        cache.hold(&corridor.id, plan.holding(corridor.qos.priority));
    }
    moved.meta.resource_version = response.revision.to_string();
    Ok(moved)
}

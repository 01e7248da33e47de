//! Runs a scenario through the real services on a scratch store.
//!
//! One `ControlPlane` on an embedded store in a private directory, every
//! clock (metadata, plant, the store's lease time) a `ScenarioClock`, which
//! also numbers the ids. Nothing runs on a timer: the runner moves the clock,
//! serves the timeline's events one at a time (releases, then faults, then
//! arrivals, at each instant), and at the end of every step runs corrd's
//! reconciler pass and heliopassd's tracking pass once, then samples. So the
//! services see the same requests at the same clock readings in the same
//! order on every run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use corridor_hal::topology::ProfileName;
use corridor_hal::{Clock, Clocks, ScenarioClock, Topology};
use corridor_model::corridor::{CorridorStatus, MAX_LEASE_TTL_S};
use corridor_model::units::Seconds;
use corridor_store::{LeaseClock, RedbOptions, RedbStore, StateStore};

use super::LabsError;
use super::report::{
    self, AppliedFault, BundleSample, BundleTrace, CalibrationEvent, CorridorSample, CorridorTrace,
    Interval, Refusal, Report, Totals, fixed, ratio,
};
use super::scenario::{Request, Scenario};
use super::schedule::{self, Offer};
use crate::corridors::reconcile;
use crate::error::ToProblem;
use crate::ffm::FfmConfig;
use crate::{Caller, ControlPlane};

/// The store's lease time, read from the scenario clock.
#[derive(Debug)]
struct ScenarioLeaseTime(Arc<ScenarioClock>);

impl LeaseClock for ScenarioLeaseTime {
    fn now_unix_ms(&self) -> i64 {
        self.0.now().timestamp_millis()
    }
}

/// What the runner holds and releases when its holding time ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Held {
    Corridor(String),
    Bundle(String),
}

/// A private directory removed when the run ends (whatever way it ends).
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, LabsError> {
        // Unique per process and run; the name appears in no report.
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "corridorlabs-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| LabsError::Io {
            what: format!("create the scratch directory {}", dir.display()),
            source,
        })?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `scenario` and returns its report.
pub async fn run(scenario: &Scenario) -> Result<Report, LabsError> {
    let scratch = Scratch::new()?;
    let topology = topology_for(scenario)?;
    let start = topology.twin().start_time;
    let ambient = topology.twin().ambient_profile.to_string();
    let clock = Arc::new(ScenarioClock::new(start, scenario.file.seed));
    let store = RedbStore::open(
        scratch.0.join("state.redb"),
        RedbOptions {
            lease_clock: Arc::new(ScenarioLeaseTime(Arc::clone(&clock))),
            ..RedbOptions::default()
        },
    )
    .map_err(|e| LabsError::Start(format!("the scratch store: {e}")))?;
    let store: Arc<dyn StateStore> = Arc::new(store);
    let plane = ControlPlane::start_with(
        store,
        Arc::new(topology),
        Clocks::single(clock.clone()),
        FfmConfig::in_dir(&scratch.0),
    )
    .await
    .map_err(|e| LabsError::Start(crate::error::error_chain(&e)))?;
    let mut run = Run {
        scenario,
        plane: &plane,
        clock: &clock,
        start,
        caller: Caller::system(),
        held: BTreeMap::new(),
        corridors: BTreeMap::new(),
        bundles: BTreeMap::new(),
        refusals: Vec::new(),
        faults: Vec::new(),
        events: Vec::new(),
        intervals: Vec::new(),
    };
    run.play().await;
    let report = run.report(ambient);
    // The plane's background tasks hold the store only weakly; dropping the
    // plane before the scratch directory lets the store close first.
    drop(plane);
    drop(scratch);
    Ok(report)
}

fn topology_for(scenario: &Scenario) -> Result<Topology, LabsError> {
    let mut doc = Topology::default_twin().into_document();
    if let Some(name) = &scenario.file.ambient_profile {
        doc.twin.ambient_profile = ProfileName::new(name).map_err(|e| LabsError::Invalid {
            source_name: scenario.file.name.clone(),
            field: "ambient_profile".into(),
            message: e.to_string(),
        })?;
    }
    if let Some(start) = scenario.start {
        doc.twin.start_time = start;
    }
    Topology::from_document(doc, "default").map_err(|e| LabsError::Invalid {
        source_name: scenario.file.name.clone(),
        field: "ambient_profile".into(),
        message: e.to_string(),
    })
}

struct Run<'a> {
    scenario: &'a Scenario,
    plane: &'a ControlPlane,
    clock: &'a Arc<ScenarioClock>,
    start: DateTime<Utc>,
    caller: Caller,
    /// (release time in ms, what) → held until then.
    held: BTreeMap<(u64, Held), ()>,
    corridors: BTreeMap<String, CorridorTrace>,
    bundles: BTreeMap<String, BundleTrace>,
    refusals: Vec<Refusal>,
    faults: Vec<AppliedFault>,
    events: Vec<CalibrationEvent>,
    intervals: Vec<Interval>,
}

/// The next thing on the timeline.
enum Next {
    Release(u64, Held),
    Fault(usize),
    Offer(Offer),
}

impl Run<'_> {
    fn set_time(&self, ms: u64) {
        let delta = TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
        self.clock.set(self.start + delta);
    }

    async fn play(&mut self) {
        let file = &self.scenario.file;
        let mut offers = schedule::offers(self.scenario).into_iter().peekable();
        let mut faults: Vec<usize> = (0..self.scenario.faults.len()).collect();
        faults.sort_by_key(|&i| (self.scenario.faults[i].at_s, i));
        let mut faults = faults.into_iter().peekable();
        let steps = file.duration_s.div_ceil(file.step_s);
        for step in 1..=steps {
            let end_s = (step * file.step_s).min(file.duration_s);
            let end_ms = end_s * 1000;
            let mut interval = Interval {
                t_s: end_s,
                ..Interval::default()
            };
            loop {
                // At one instant: releases free capacity before faults and
                // arrivals see it, as a release that is due has happened.
                let release = self.held.keys().next().filter(|(at, _)| *at <= end_ms);
                let fault = faults
                    .peek()
                    .map(|&i| (self.scenario.faults[i].at_s * 1000, i))
                    .filter(|(at, _)| *at <= end_ms);
                let offer = offers.peek().filter(|o| o.at_ms <= end_ms);
                let mut next: Option<(u64, u8, Next)> = release
                    .cloned()
                    .map(|(at, what)| (at, 0, Next::Release(at, what)));
                if let Some((at, i)) = fault
                    && next.as_ref().is_none_or(|(t, _, _)| at < *t)
                {
                    next = Some((at, 1, Next::Fault(i)));
                }
                if let Some(o) = offer
                    && next.as_ref().is_none_or(|(t, _, _)| o.at_ms < *t)
                {
                    next = Some((o.at_ms, 2, Next::Offer(o.clone())));
                }
                let Some((at, _, next)) = next else {
                    break;
                };
                self.set_time(at);
                match next {
                    Next::Release(at, what) => {
                        self.held.remove(&(at, what.clone()));
                        self.release(at, what).await;
                    }
                    Next::Fault(i) => {
                        faults.next();
                        self.fault(i).await;
                    }
                    Next::Offer(o) => {
                        offers.next();
                        self.offer(&o, &mut interval).await;
                    }
                }
            }
            self.set_time(end_ms);
            self.passes(end_s).await;
            self.sample(&mut interval).await;
            self.intervals.push(interval);
        }
    }

    async fn offer(&mut self, offer: &Offer, interval: &mut Interval) {
        let at_s = offer.at_ms as f64 / 1000.0;
        // Held past the end of the run at most: the lease must not expire
        // inside it (expiry would be swept when the store's writer wakes,
        // a real-time event no replay controls).
        let ttl = Seconds((self.scenario.file.duration_s + 86_400).min(MAX_LEASE_TTL_S));
        let release_ms = offer.at_ms.saturating_add(offer.holding_ms);
        match &self.scenario.arrivals[offer.process].request {
            Request::Corridor(request) => {
                interval.corridors_offered += 1;
                let mut request = (**request).clone();
                request.policy_lease_ttl_s = Some(ttl);
                match self.plane.corridors.create(&self.caller, request).await {
                    Ok(c) => {
                        let ports = c
                            .assignment
                            .as_ref()
                            .map(|a| a.ports.to_vec())
                            .unwrap_or_default();
                        self.corridors.insert(
                            c.id.clone(),
                            CorridorTrace {
                                id: c.id.clone(),
                                arrived_s: at_s,
                                released_s: None,
                                ports,
                                samples: Vec::new(),
                            },
                        );
                        self.held.insert((release_ms, Held::Corridor(c.id)), ());
                    }
                    Err(e) => {
                        let problem = e.to_problem();
                        if problem.status == 409 {
                            interval.corridors_blocked += 1;
                        }
                        self.refusals.push(refusal(at_s, "corridor", &problem));
                    }
                }
            }
            Request::Bundle(request) => {
                interval.bundles_offered += 1;
                let mut request = (**request).clone();
                request.policy_lease_ttl_s = Some(ttl);
                let floor = request.bandwidth_floor_gbs.get();
                match self.plane.ffm.create(&self.caller, request).await {
                    Ok(b) => {
                        let id = b.bundle.id.clone();
                        self.bundles.insert(
                            id.clone(),
                            BundleTrace {
                                id: id.clone(),
                                arrived_s: at_s,
                                freed_s: None,
                                floor_gbs: fixed(floor).unwrap_or(0.0),
                                samples: Vec::new(),
                            },
                        );
                        self.held.insert((release_ms, Held::Bundle(id)), ());
                    }
                    Err(e) => {
                        let problem = e.to_problem();
                        if problem.status == 409 {
                            interval.bundles_blocked += 1;
                        }
                        self.refusals.push(refusal(at_s, "bundle", &problem));
                    }
                }
            }
        }
    }

    async fn release(&mut self, at_ms: u64, what: Held) {
        let at_s = at_ms as f64 / 1000.0;
        match what {
            Held::Corridor(id) => {
                if let Err(e) = self.plane.corridors.delete(&self.caller, &id, None).await {
                    self.refusals
                        .push(refusal(at_s, "corridor_release", &e.to_problem()));
                }
                if let Some(t) = self.corridors.get_mut(&id) {
                    t.released_s = Some(at_s);
                }
            }
            Held::Bundle(id) => {
                if let Err(e) = self.plane.ffm.delete(&self.caller, &id, None).await {
                    self.refusals
                        .push(refusal(at_s, "bundle_free", &e.to_problem()));
                }
                if let Some(t) = self.bundles.get_mut(&id) {
                    t.freed_s = Some(at_s);
                }
            }
        }
    }

    async fn fault(&mut self, i: usize) {
        let fault = &self.scenario.faults[i];
        let outcome = self.plane.corridors.inject_fault(&fault.request).await;
        self.faults.push(AppliedFault {
            t_s: fault.at_s,
            fault: serde_json::to_value(&fault.request).unwrap_or_default(),
            error: outcome.err().map(|e| e.to_problem().detail),
        });
    }

    /// corrd's reconciler pass, then heliopassd's tracking pass, once each.
    async fn passes(&mut self, t_s: u64) {
        match reconcile::reconcile_once(&self.plane.corridors).await {
            Ok(pass) => {
                for (kind, ids) in [
                    ("degraded", &pass.degraded),
                    ("repaired", &pass.repaired),
                    ("unrepaired", &pass.unrepaired),
                    ("deferred", &pass.deferred),
                ] {
                    let mut ids = ids.clone();
                    ids.sort();
                    for id in ids {
                        self.events.push(CalibrationEvent {
                            t_s,
                            kind,
                            target: id,
                            count: 1,
                        });
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::error_chain(&e), "reconciler pass failed")
            }
        }
        let tracking = self.plane.heliopass.pass().await;
        let mut calibrated = tracking.calibrated;
        calibrated.sort();
        for port in calibrated {
            self.events.push(CalibrationEvent {
                t_s,
                kind: "first_calibration",
                target: port,
                count: 1,
            });
        }
        for (kind, count) in [
            ("rings_left_lock", tracking.caught_up.left_locked),
            ("rings_lost", tracking.caught_up.lost),
        ] {
            if count > 0 {
                self.events.push(CalibrationEvent {
                    t_s,
                    kind,
                    target: "tracked ports".into(),
                    count,
                });
            }
        }
    }

    async fn sample(&mut self, interval: &mut Interval) {
        let t_s = interval.t_s;
        let corridors = self.plane.corridors.list_all().await.unwrap_or_default();
        let mut max_temp: Option<f64> = None;
        let mut worst_ber: Option<f64> = None;
        for c in corridors {
            let Some(trace) = self.corridors.get_mut(&c.id) else {
                continue;
            };
            interval.corridors_held += 1;
            match c.status {
                CorridorStatus::Active => interval.corridors_lit += 1,
                CorridorStatus::Degraded => {
                    interval.corridors_lit += 1;
                    interval.corridors_degraded += 1;
                }
                _ => {}
            }
            let status = serde_json::to_value(c.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            // The reconciler's pass just read every lit corridor at this
            // clock reading: its read-back is what telemetry serves.
            let telemetry = self
                .plane
                .corridors
                .latest_telemetry(&c, Duration::from_secs(1))
                .await
                .ok()
                .flatten();
            let sample = match telemetry {
                Some(t) => {
                    let temp = fixed(t.temp_c.get());
                    let ber = fixed(t.ber);
                    max_temp = max_of(max_temp, temp);
                    worst_ber = max_of(worst_ber, ber);
                    CorridorSample {
                        t_s,
                        status,
                        ber,
                        pre_fec_ber: t.pre_fec_ber.and_then(fixed),
                        temp_c: temp,
                        power_pj_per_bit: fixed(t.power_pj_per_bit.get()),
                    }
                }
                None => CorridorSample {
                    t_s,
                    status,
                    ber: None,
                    pre_fec_ber: None,
                    temp_c: None,
                    power_pj_per_bit: None,
                },
            };
            trace.samples.push(sample);
        }
        interval.max_temp_c = max_temp;
        interval.worst_ber = worst_ber;
        let live: Vec<String> = self
            .bundles
            .iter()
            .filter(|(_, b)| b.freed_s.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in live {
            let Ok(b) = self.plane.ffm.get(&self.caller, &id).await else {
                continue;
            };
            let achieved = b.bundle.achieved_gbs.get();
            let floor = b.bundle.bandwidth_floor_gbs.get();
            let met = achieved + 1e-9 >= floor;
            interval.bundles_live += 1;
            interval.floors_met += u32::from(met);
            if let Some(trace) = self.bundles.get_mut(&id) {
                trace.samples.push(BundleSample {
                    t_s,
                    achieved_gbs: fixed(achieved).unwrap_or(0.0),
                    floor_met: met,
                });
            }
        }
        interval.corridor_blocking = ratio(interval.corridors_blocked, interval.corridors_offered);
        interval.bundle_blocking = ratio(interval.bundles_blocked, interval.bundles_offered);
    }

    fn report(self, ambient: String) -> Report {
        let mut totals = Totals::default();
        for i in &self.intervals {
            totals.corridors_offered += i.corridors_offered;
            totals.corridors_blocked += i.corridors_blocked;
            totals.bundles_offered += i.bundles_offered;
            totals.bundles_blocked += i.bundles_blocked;
            totals.max_temp_c = max_of(totals.max_temp_c, i.max_temp_c);
            totals.worst_ber = max_of(totals.worst_ber, i.worst_ber);
        }
        totals.corridor_blocking = ratio(totals.corridors_blocked, totals.corridors_offered);
        totals.bundle_blocking = ratio(totals.bundles_blocked, totals.bundles_offered);
        let mut corridors: Vec<CorridorTrace> = self.corridors.into_values().collect();
        corridors.sort_by(|a, b| a.arrived_s.total_cmp(&b.arrived_s).then(a.id.cmp(&b.id)));
        let mut bundles: Vec<BundleTrace> = self.bundles.into_values().collect();
        bundles.sort_by(|a, b| a.arrived_s.total_cmp(&b.arrived_s).then(a.id.cmp(&b.id)));
        for b in &bundles {
            totals.floor_samples += b.samples.len() as u64;
            totals.floor_samples_met += b.samples.iter().filter(|s| s.floor_met).count() as u64;
        }
        totals.calibration_events = self.events.iter().map(|e| e.count).sum();
        Report {
            format: report::FORMAT,
            modelled: report::MODELLED,
            scenario: self.scenario.file.clone(),
            seed: self.scenario.file.seed,
            start: self
                .start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ambient_profile: ambient,
            intervals: self.intervals,
            corridors,
            bundles,
            refusals: self.refusals,
            faults: self.faults,
            calibration_events: self.events,
            totals,
        }
    }
}

fn refusal(t_s: f64, kind: &'static str, problem: &corridor_model::problem::Problem) -> Refusal {
    Refusal {
        t_s,
        kind,
        status: problem.status,
        reason: problem.reason.clone(),
        detail: problem.detail.clone(),
    }
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

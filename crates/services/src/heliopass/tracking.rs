//! Continuous tracking: every lit port's tracker, stepped on the plant's
//! simulated time at the configured control rate.
//!
//! **Catching up.** [`HelioService::catch_up`] brings every calibrated
//! port's tracker to the plant's time. corrd calls it before it advances
//! the plant (so no reading ever sees a bank the tracker has not caught up
//! with), and the loop ([`spawn`]) calls it every
//! [`super::HelioSettings::tick`] so tracking runs when nobody reads.
//!
//! **Which periods run.** Between two catch-ups, `due` control periods
//! passed in simulated time (12 000 at 1 kHz, ×60, 200 ms). Up to
//! [`super::HelioSettings::max_periods_per_tick`] instants are spread evenly
//! over the interval; at each the bank is set to that instant's temperature
//! and a period runs if a ring is not locked, the bank's sensor moved more
//! than [`super::HelioSettings::quiet_k`] since the last period that ran, or
//! [`super::HelioSettings::keepalive_s`] passed. Otherwise the period is
//! skipped: on the twin the ambient is the only disturbance, and a locked
//! loop with no disturbance only re-measures noise. Skipped periods are
//! counted ([`super::control::PortStats`]). This is what keeps the loop under
//! 10 % of a core at ×60 (BENCHMARKS.md); a real module would run the
//! controller at its rate on its own core.
//!
//! While a ring acquires (after a step or a loss), the periods due in the
//! instant's slot run back to back until every ring is locked, as a
//! controller at the control rate would run them: one period per instant
//! stretched a relock over seconds of simulated time at ×600, and corrd,
//! reading in between, sometimes saw a ring part-way and re-tuned a healthy
//! corridor. A ring past [`super::HelioSettings::reacquire_periods`] gets one
//! period per instant again.
//!
//! The sensor has noise (0.01 K RMS on the twin), so "moved" compares the
//! instant's reading with the *mean* of every ring's reading in the last
//! period that ran ([`corridor_heliopass::StepReport::sensor_c`]), not with
//! another single reading: two single readings differ by more than 0.03 K
//! on noise alone at 3 % of the instants, which ran more periods than the
//! keep-alive and the real temperature moves together (BENCHMARKS.md).
//!
//! **Loss of lock.** A ring the tracker reports lost is searched and
//! re-acquired by the tracker itself; the corridor shows `RingLock=False /
//! Reacquiring` meanwhile. Not locked again within
//! [`super::HelioSettings::reacquire_periods`] → `RingLock=False /
//! ReacquireFailed`: the lane's BER is corrd's reconciler's to repair
//! (re-tune, cycle, reroute), as for any unhealthy corridor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use corridor_hal::optical::RingBank;
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_protocols::cmis::LockState;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::control::PortControl;
use super::{HelioService, lock};
use crate::corridors::tuning::{LOCKED, REACQUIRE_FAILED, REACQUIRING, RING_LOCK};

/// Stops the tracking loop.
#[derive(Debug)]
pub struct TrackingHandle {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Who holds a port while the tracking loop calibrates it for the first
/// time. A caller's calibration waits for this one (it is the system's own
/// and short) instead of being refused.
pub(crate) const FIRST_CALIBRATION: &str = "the tracking loop's first calibration of this lit port";

/// How long a caller's calibration waits for the tracking loop's first
/// calibration of its ports before it is refused as busy.
pub(crate) const FIRST_CALIBRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl TrackingHandle {
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TrackingHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Runs a tracking pass every tick until stopped.
pub fn spawn(service: Arc<HelioService>) -> TrackingHandle {
    // A new term: another replica may have led in between and recorded
    // other conditions, so every lit corridor is read again once.
    lock(&service.ring_lock_recorded).clear();
    let (stop, mut stopped) = watch::channel(false);
    let tick = service.settings().tick;
    let task = corridor_store::fencing::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stopped.changed() => break,
            }
            service.pass().await;
        }
    });
    TrackingHandle {
        stop,
        task: Some(task),
    }
}

/// What one port's catch-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    pub periods_run: u64,
    pub periods_skipped: u64,
    pub lost: u64,
    /// Rings that left `Locked` in the periods run (a loss, or the
    /// tracker's temperature-jump detector re-acquiring after a step).
    pub left_locked: u64,
}

/// What one tracking pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingPass {
    /// Lit ports calibrated for the first time, in port order.
    pub calibrated: Vec<String>,
    /// The catch-up of every tracked port to the pass's plant time.
    pub caught_up: CatchUp,
}

impl HelioService {
    /// Lit ports → the module lanes lit on them.
    fn lit_ports(&self) -> BTreeMap<String, BTreeSet<u8>> {
        let mut ports: BTreeMap<String, BTreeSet<u8>> = BTreeMap::new();
        for (_, a) in self.corridors.lit_assignments() {
            for p in &a.ports {
                ports
                    .entry(p.clone())
                    .or_default()
                    .extend(a.module_lanes.iter().copied());
            }
        }
        ports
    }

    /// Brings every calibrated port's tracker to `now` (see the module
    /// documentation). Ports under calibration are left to it. A port whose
    /// corridors were released stays tracked: its rings stay on their lanes
    /// for the next grant instead of drifting off with the ambient.
    pub fn catch_up(&self, now: DateTime<Utc>) -> CatchUp {
        let mut total = CatchUp::default();
        if !self.settings().tracking {
            return total;
        }
        for (port, control) in self.controls() {
            if self.is_busy(&port) {
                continue;
            }
            let mut c = lock(&control);
            match step_port(&mut c, now, &self.settings()) {
                Ok(done) => {
                    total.periods_run += done.periods_run;
                    total.periods_skipped += done.periods_skipped;
                    total.lost += done.lost;
                }
                Err(e) => {
                    tracing::warn!(port = %port, error = %crate::error::error_chain(&e), "tracking period failed");
                }
            }
        }
        total
    }

    /// One pass of the loop: calibrate lit ports never calibrated, catch up,
    /// then set each lit corridor's `RingLock` condition. Returns what it
    /// did (a replay reports it as calibration events; the loop ignores it).
    pub async fn pass(self: &Arc<Self>) -> TrackingPass {
        let mut done = TrackingPass::default();
        let lit = self.lit_ports();
        for port in lit.keys() {
            let known = lock(&self.ports)
                .get(port)
                .is_some_and(|c| lock(c).is_calibrated());
            if known || self.optics.port(port).is_none() {
                continue;
            }
            // A lit port HELIOPASS has never calibrated: calibrate it once
            // (a port without ring pages is skipped).
            let Ok(control) = self.control(port) else {
                continue;
            };
            // Claimed in one step with the check: an operator's calibration
            // claiming the port in between must neither be overwritten nor
            // have its claim removed when this one ends (corrd would then
            // judge lanes whose rings are still being swept).
            {
                let mut busy = lock(&self.busy);
                if busy.contains_key(port) {
                    continue;
                }
                busy.insert(port.clone(), FIRST_CALIBRATION.into());
            }
            let now = self.plant_now();
            let settings = self.settings();
            let outcome = tokio::task::spawn_blocking(move || {
                lock(&control).calibrate(
                    corridor_model::calibration::CalibrationMode::Full,
                    now,
                    &settings,
                )
            })
            .await;
            {
                let mut busy = lock(&self.busy);
                if busy.get(port).is_some_and(|by| by == FIRST_CALIBRATION) {
                    busy.remove(port);
                }
            }
            match outcome {
                Ok(Ok(())) => {
                    tracing::info!(port = %port, "ring bank calibrated for tracking");
                    done.calibrated.push(port.clone());
                }
                Ok(Err(e)) => {
                    tracing::warn!(port = %port, error = %crate::error::error_chain(&e), "calibration for tracking failed")
                }
                Err(e) => tracing::warn!(port = %port, error = %e, "calibration task failed"),
            }
        }
        let service = Arc::clone(self);
        let now = self.plant_now();
        if let Ok(caught_up) = tokio::task::spawn_blocking(move || service.catch_up(now)).await {
            done.caught_up = caught_up;
        }
        self.record_conditions().await;
        done
    }

    /// `RingLock` on every lit corridor whose rings HELIOPASS drives. A
    /// corridor's condition is read and written only when it differs from
    /// what this term last recorded on it: heliopassd is the condition's one
    /// writer, and a pass every tick over 1,000 lit corridors otherwise
    /// reads and decodes 5,000 objects a second to find them unchanged.
    async fn record_conditions(&self) {
        let now = self.wall_now();
        let budget = self.settings().reacquire_periods;
        let lit = self.corridors.lit_assignments();
        {
            let lit_ids: std::collections::HashSet<&str> =
                lit.iter().map(|(id, _)| id.as_str()).collect();
            lock(&self.ring_lock_recorded).retain(|id, _| lit_ids.contains(id.as_str()));
        }
        for (id, a) in lit {
            let mut unlocked = Vec::new();
            let mut failed = Vec::new();
            let mut tracked = false;
            for port in &a.ports {
                let Some(control) = lock(&self.ports).get(port).cloned() else {
                    continue;
                };
                // A port under calibration is left out of this pass.
                let Ok(c) = control.try_lock() else {
                    continue;
                };
                if !c.is_calibrated() {
                    continue;
                }
                if let Some(t) = c.tuning(port, &a.module_lanes, budget) {
                    tracked = true;
                    unlocked.extend(t.reacquiring);
                    failed.extend(t.handed_over);
                }
            }
            if !tracked {
                continue;
            }
            let condition = if !failed.is_empty() {
                Condition::new(
                    RING_LOCK,
                    ConditionStatus::False,
                    REACQUIRE_FAILED,
                    format!(
                        "rings of {} did not lock again within {} control periods; corrd's reconciler repairs the lanes (re-tune, data-path cycle, reroute)",
                        failed.join(", "),
                        self.settings().reacquire_periods
                    ),
                    now,
                )
            } else if !unlocked.is_empty() {
                Condition::new(
                    RING_LOCK,
                    ConditionStatus::False,
                    REACQUIRING,
                    format!(
                        "lock lost on {}: power-monitor search under way",
                        unlocked.join(", ")
                    ),
                    now,
                )
            } else {
                Condition::new(
                    RING_LOCK,
                    ConditionStatus::True,
                    LOCKED,
                    "every ring of the corridor is held on its lane by the dither loop",
                    now,
                )
            };
            let recorded = (condition.status, condition.reason.clone());
            if lock(&self.ring_lock_recorded).get(&id) == Some(&recorded) {
                continue;
            }
            match self.corridors.record_condition(&id, condition).await {
                Ok(()) => {
                    lock(&self.ring_lock_recorded).insert(id, recorded);
                }
                Err(e) => {
                    tracing::warn!(corridor = %id, error = %crate::error::error_chain(&e), "cannot record RingLock");
                }
            }
        }
    }
}

/// Runs `c`'s tracker up to `now` (see the module documentation); public
/// for the tracking benchmark.
pub fn step_port(
    c: &mut PortControl,
    now: DateTime<Utc>,
    s: &super::HelioSettings,
) -> Result<CatchUp, corridor_heliopass::HelioError> {
    let mut done = CatchUp::default();
    let Some(from) = c.sim_time else {
        return Ok(done);
    };
    if now <= from || c.tracker_mut().is_none() {
        return Ok(done);
    }
    let hz = s.control_hz.max(1.0);
    let span = (now - from).as_seconds_f64();
    let due = (span * hz).floor() as u64;
    if due == 0 {
        return Ok(done);
    }
    let instants = due.min(u64::from(s.max_periods_per_tick.max(1)));
    let slot = due.div_ceil(instants);
    let bank_arc = c.bank();
    let mut bank = lock(&bank_arc);
    let bank: &mut dyn RingBank = bank.as_mut();
    for k in 1..=instants {
        let t = from + TimeDelta::nanoseconds((span * 1e9 * k as f64 / instants as f64) as i64);
        // Most instants only read the temperature: what the receivers see is published when
        // a period acts on the bank, and at the last instant, which is `now`.
        if k == instants {
            bank.set_plant_time(t);
        } else {
            bank.pass_plant_time(t);
        }
        let tracker = c.tracker_mut().expect("checked above");
        let all_locked = tracker.loops.iter().all(|l| l.state == LockState::Locked);
        let temp = bank.read_temperature_c(0)?;
        let quiet = c.last_run.is_some_and(|(at, t_c)| {
            (temp - t_c).abs() <= s.quiet_k && (t - at).as_seconds_f64() < s.keepalive_s
        });
        if all_locked && quiet {
            continue;
        }
        // While rings acquire, the periods due in this instant's slot run
        // back to back, as a controller at the control rate would run them:
        // one period per instant would stretch a relock after a step over
        // seconds of simulated time at ×600 (instants 0.6 s apart), with the
        // rings part-way in between. A ring past its re-acquisition budget
        // (handed to corrd) gets one period per instant, so a bank that
        // cannot lock costs no more than before.
        let mut in_slot = 0;
        loop {
            let sensor_c = run_period(c, bank, s, &mut done)?;
            c.last_run = Some((t, sensor_c));
            in_slot += 1;
            let acquiring = c
                .unlocked_for
                .iter()
                .any(|u| u.is_some_and(|n| n <= s.reacquire_periods));
            if !acquiring || in_slot >= slot {
                break;
            }
        }
    }
    done.periods_skipped = due.saturating_sub(done.periods_run);
    c.stats.periods_run += done.periods_run;
    c.stats.periods_skipped += done.periods_skipped;
    c.sim_time = Some(now);
    Ok(done)
}

/// Runs one tracker period on `bank` and books it; returns the period's
/// bank temperature (the mean of every ring's sensor reading).
fn run_period(
    c: &mut PortControl,
    bank: &mut dyn RingBank,
    s: &super::HelioSettings,
    done: &mut CatchUp,
) -> Result<f64, corridor_heliopass::HelioError> {
    let tracker = c.tracker_mut().expect("checked above");
    let before: Vec<bool> = tracker
        .loops
        .iter()
        .map(|l| l.state == LockState::Locked)
        .collect();
    let report = tracker.step(bank)?;
    let states: Vec<bool> = tracker
        .loops
        .iter()
        .map(|l| l.state == LockState::Locked)
        .collect();
    let left = before
        .iter()
        .zip(&states)
        .filter(|&(&was, &is)| was && !is)
        .count() as u64;
    done.periods_run += 1;
    done.lost += report.lost.len() as u64;
    done.left_locked += left;
    c.stats.lock_losses += report.lost.len() as u64;
    c.stats.left_locked += left;
    for (ring, locked) in states.into_iter().enumerate() {
        let slot = &mut c.unlocked_for[ring];
        *slot = if locked {
            None
        } else {
            let n = slot.map_or(0, |n| n + 1);
            if n == s.reacquire_periods + 1 {
                c.stats.handed_over += 1;
            }
            Some(n)
        };
    }
    Ok(report.sensor_c)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use corridor_hal::optical::{AmbientScope, OpticalPlant, TwinAmbient};
    use corridor_hal::{Topology, TwinOptics};
    use corridor_model::calibration::CalibrationMode;

    use super::super::HelioSettings;
    use super::super::control::{PortControl, design_of};
    use super::step_port;

    /// The default twin's first optical port, calibrated at the twin's start
    /// by a port control; with `profile`, that topology profile then applied
    /// to the port. Answers the settings, the control, the start, the
    /// profile and the plant (kept alive for the test's length).
    fn calibrated_first_port(
        profile: Option<&str>,
    ) -> (
        HelioSettings,
        PortControl,
        chrono::DateTime<chrono::Utc>,
        Option<corridor_hal::topology::AmbientProfile>,
        TwinOptics,
    ) {
        let topology = Topology::default_twin();
        let optics = TwinOptics::new(&topology).unwrap();
        let settings = HelioSettings::default();
        let port = &topology.optical_ports()[0];
        let bank = optics.ring_bank(port.id.as_str()).unwrap().unwrap();
        let mut c = PortControl::new(port.id.as_str(), bank, design_of(port), &settings);
        let start = topology.twin().start_time;
        c.calibrate(CalibrationMode::Full, start, &settings)
            .unwrap();
        let profile = profile.map(|name| {
            let profile = topology
                .ambient_profiles()
                .iter()
                .find(|p| p.name.as_str() == name)
                .unwrap()
                .clone();
            optics
                .apply_ambient(
                    &AmbientScope::Port(port.id.as_str().to_owned()),
                    &profile,
                    start,
                )
                .unwrap();
            profile
        });
        (settings, c, start, profile, optics)
    }

    /// A +10 K step that falls into the last instant of a catch-up: the
    /// rings are locked again when the catch-up returns (the periods due in
    /// that instant's slot run back to back), so nothing that reads the
    /// plant after it sees them part-way.
    #[test]
    fn a_step_is_relocked_within_its_instant() {
        let (settings, mut c, start, _, _optics) = calibrated_first_port(Some("step-up-10k"));
        // 200 instants 0.3015 s apart: the step (at 60 s) falls between the
        // last two.
        let done = step_port(&mut c, start + TimeDelta::milliseconds(60_300), &settings).unwrap();
        assert_eq!(done.left_locked, 8, "the step reached every ring: {done:?}");
        assert!(
            c.unlocked_lanes().is_empty(),
            "rings still acquiring after the catch-up: lanes {:?}",
            c.unlocked_lanes()
        );
    }

    /// A ring that cannot lock (its calibrated peak is out of reach, so its
    /// monitor level never counts as locked) is handed over to corrd after
    /// the re-acquisition budget, once, and from then on costs one period
    /// per instant, not a slot's worth.
    #[test]
    fn a_ring_that_cannot_lock_is_handed_over_and_costs_one_period_per_instant() {
        let (settings, mut c, start, _, _optics) = calibrated_first_port(None);
        {
            let t = c.tracker_mut().unwrap();
            t.loops[0].peak_ua = 1e9;
            t.loops[0].state = corridor_protocols::cmis::LockState::Acquiring;
        }
        // ×60: 12 s of simulated time, 12 000 periods due over 200 instants.
        let done = step_port(&mut c, start + TimeDelta::seconds(12), &settings).unwrap();
        assert_eq!(c.stats.handed_over, 1, "{:?}", c.stats);
        let lane = c.lane_of_ring(0).unwrap();
        assert_eq!(c.unlocked_lanes(), vec![lane]);
        let budget = u64::from(settings.reacquire_periods) + 1;
        assert!(
            done.periods_run <= budget + 200,
            "{} periods: a ring past its budget still ran bursts",
            done.periods_run
        );
    }

    /// A calibrated, locked port under a slow ambient at ×60 (12 s of
    /// simulated time per pass, as the loop runs it): no ring leaves
    /// `Locked` between instants (a flicker would run an acquiring period
    /// at every instant until it locks again), and the periods that run are
    /// the ones the triggers call for: one per keep-alive plus one per
    /// `quiet_k` the case temperature really moved — not the sensor's noise.
    #[test]
    fn a_locked_bank_runs_only_the_periods_its_triggers_call_for() {
        let (settings, mut c, start, profile, _optics) =
            calibrated_first_port(Some("hvac-cycling"));
        let profile = profile.unwrap();
        let (passes, pass_s) = (40, 12);
        let mut now = start;
        let (mut run, mut left, mut lost) = (0, 0, 0);
        for _ in 0..passes {
            now += TimeDelta::seconds(pass_s);
            let done = step_port(&mut c, now, &settings).unwrap();
            run += done.periods_run;
            left += done.left_locked;
            lost += done.lost;
        }
        assert_eq!(
            (left, lost),
            (0, 0),
            "rings left Locked under a slow ambient"
        );
        // What the triggers call for: the keep-alives, plus the profile's
        // total variation over the window in steps of quiet_k.
        let sim_s = f64::from(passes * pass_s as i32);
        let variation: f64 = (0..(sim_s as usize * 10))
            .map(|k| {
                let at = |t: f64| profile.temperature_at(t).0;
                (at((k + 1) as f64 * 0.1) - at(k as f64 * 0.1)).abs()
            })
            .sum();
        let called_for = sim_s / settings.keepalive_s + variation / settings.quiet_k;
        assert!(
            (run as f64) <= 1.1 * called_for,
            "{run} periods ran where the keep-alive and {variation:.2} K of ambient call for {called_for:.0}"
        );
    }
}

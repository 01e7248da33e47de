//! Telemetry: the bandwidth model's outcome for every bundle, cached per
//! ledger revision and minute, and overlaid on the bundles a caller reads
//! (`achieved_GBs`, `tail_p99_ms`, `FloorMet`, `telemetry_source: model`);
//! `GET …/telemetry` adds the resident bytes counted on the memory itself
//! and, where the kernel counts it (resctrl MBM, a monitoring group named
//! after the bundle id), the measured bandwidth with `source: counter`.
//!
//! The model runs over bundle *shapes* (the floor in force and the split
//! over devices), each with its number of bundles: identical bundles get
//! identical outcomes, so a run costs one pass over the ledger to count the
//! shapes, and the model itself grows with the shapes, not the bundles. A
//! bundle is covered by a run that evaluated its shape; one whose shape the
//! cached run does not know (the first of its kind, or a policy window
//! changed its floor) is never shown with invented zeros: reading it forces
//! a run. A new bundle of a known shape reads the cached run's figures for
//! that shape, as stale as every other bundle's (at most the throttle's
//! interval, see `MODEL_DUTY`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use corridor_model::ffm::{FfmBundle, FfmTelemetry, TelemetrySource, TierBytes};
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_planner::memory::{self as planner, Ledger, MBps};

use super::error::FfmError;
use super::model::{self, Outcome, Part};
use super::{FfmService, lock, timezone, visibility};
use crate::Caller;

/// The model is recomputed at most once per this many times its own cost,
/// so with many live bundles it takes at most 1/50 of a core however fast
/// bundles come and go (a bundle of a shape the last run did not evaluate
/// forces a run).
const MODEL_DUTY: u32 = 50;

/// What decides a bundle's outcome in the model: the floor in force (MB/s)
/// and, per device it is placed on, the device's index and split weight.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Shape {
    floor: u64,
    shares: Vec<(u32, u64)>,
}

impl Shape {
    /// `bundle`'s shape with the policy windows in force at `now`.
    fn of(ledger: &Ledger, bundle: &planner::Bundle, now: DateTime<Utc>) -> Shape {
        Shape {
            floor: ledger.floor_in_force(&bundle.request, |p| timezone::in_force(p, now)),
            shares: bundle
                .placement
                .shares
                .iter()
                .map(|s| (s.index, s.weight))
                .collect(),
        }
    }

    /// The model's view: each device's fraction of the traffic and its part
    /// of the floor.
    fn parts(&self) -> Vec<Part> {
        let weights: Vec<u64> = self.shares.iter().map(|(_, w)| *w).collect();
        let total_w: u64 = weights.iter().sum();
        let mut floor_parts = Vec::new();
        planner::apportion(self.floor, &weights, &mut floor_parts);
        self.shares
            .iter()
            .zip(floor_parts)
            .map(|(&(index, weight), f)| Part {
                device: index as usize,
                fraction: if total_w == 0 {
                    1.0 / self.shares.len() as f64
                } else {
                    weight as f64 / total_w as f64
                },
                floor_gbs: MBps(f).gbps(),
            })
            .collect()
    }
}

/// One run's outcome per shape, and the instant whose policy windows gave
/// the shapes their floors.
#[derive(Debug, Clone)]
pub(super) struct Outcomes {
    by_shape: HashMap<Shape, Outcome>,
    /// Each bundle's outcome as the ledger held it at `revision`: while the
    /// ledger is still there, a bundle's outcome is one lookup instead of
    /// working its shape out again (a scrape reads 10,000).
    by_id: HashMap<String, Outcome>,
    revision: u64,
    at: DateTime<Utc>,
}

impl Outcomes {
    /// `id`'s outcome, if the ledger holds it and this run evaluated its
    /// shape (read under the ledger's lock the caller holds).
    fn of(&self, ledger: &Ledger, id: &str) -> Option<Outcome> {
        if ledger.revision() == self.revision {
            return self.by_id.get(id).copied();
        }
        let bundle = ledger.bundle(id)?;
        self.by_shape
            .get(&Shape::of(ledger, bundle, self.at))
            .copied()
    }
}

/// A bundle's modelled figures (`telemetry_source: model`), as rounded in
/// its reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelledFigures {
    pub achieved_gbs: f64,
    pub tail_p99_ms: f64,
}

/// Telemetry of every bundle at one ledger revision.
#[derive(Debug, Clone)]
struct Snapshot {
    revision: u64,
    minute: i64,
    outcomes: Arc<Outcomes>,
    computed_at: Instant,
    cost: Duration,
}

/// The last model run, and whether one is running now.
#[derive(Debug, Default)]
pub(super) struct Cache {
    last: Mutex<Option<Snapshot>>,
    /// Set while one caller recomputes the model.
    running: AtomicBool,
    /// Held by the caller running the model for bundles the last run does
    /// not cover. Callers that need a run queue here and mostly find, when
    /// their turn comes, that the run they waited for covered them too: one
    /// run serves every bundle allocated before it started, as a group
    /// commit serves every write of its batch.
    turn: tokio::sync::Mutex<()>,
    /// Each bundle's previous MBM counter reading and when it was taken.
    counter_readings: Mutex<std::collections::HashMap<String, (u64, DateTime<Utc>)>>,
}

impl Cache {
    /// Forgets a freed bundle's counter reading.
    pub(super) fn forget(&self, id: &str) {
        lock(&self.counter_readings).remove(id);
    }
}

/// One bundle's modelled figures at an instant, as the history records
/// them (see `history::record`).
#[derive(Debug, Clone, PartialEq)]
pub struct BundleReading {
    pub id: String,
    pub security_domain: String,
    pub host: String,
    pub latency_class: corridor_model::ffm::LatencyClass,
    /// The devices holding its bytes (a pooled device's id, not its slice).
    pub nodes: Vec<String>,
    pub achieved_gbs: f64,
    /// The floor in force at `at`.
    pub floor_gbs: f64,
    pub tail_p99_ms: f64,
    pub floor_met: bool,
    /// The admission ledger's revision the figures were modelled at.
    pub ledger_revision: u64,
    pub at: DateTime<Utc>,
}

impl FfmService {
    /// The model's figures for every bundle the ledger holds, from a run
    /// that evaluated them all (the cached one if it did). A bundle the run
    /// could not evaluate has no reading rather than an invented one.
    pub async fn readings(&self) -> Vec<BundleReading> {
        let ids: Vec<String> = lock(&self.ledger).bundles().map(|b| b.id.clone()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let snapshot = self.snapshot_covering(&refs).await;
        let at = self.clock.now();
        let ledger = lock(&self.ledger);
        ledger
            .bundles()
            .filter_map(|b| {
                let o = snapshot.of(&ledger, &b.id)?;
                let mut nodes: Vec<String> = b
                    .placement
                    .shares
                    .iter()
                    .map(|s| {
                        self.devices
                            .get(s.index as usize)
                            .map_or_else(|| s.device.clone(), |d| d.physical.clone())
                    })
                    .collect();
                nodes.dedup();
                Some(BundleReading {
                    id: b.id.clone(),
                    security_domain: b.request.security_domain.clone().unwrap_or_default(),
                    host: b.request.host.clone().unwrap_or_default(),
                    latency_class: super::admission::class(b.placement.latency_class),
                    nodes,
                    achieved_gbs: o.achieved_gbs,
                    floor_gbs: o.floor_gbs,
                    tail_p99_ms: o.tail_p99_ms,
                    floor_met: !o.floor_violated,
                    ledger_revision: ledger.revision(),
                    at,
                })
            })
            .collect()
    }

    /// `GET /v1/ffm/{id}/telemetry`.
    pub async fn telemetry(&self, caller: &Caller, id: &str) -> Result<FfmTelemetry, FfmError> {
        let (bundle, _) = visibility::get(&self.bundles, caller, id).await?;
        let bundle = self.with_telemetry(bundle).await;
        let measured = self.measured_gbs(id)?;
        let (migrating, memory) = match lock(&self.live).get(id) {
            Some(l) => (l.migrating, Some(Arc::clone(&l.memory))),
            None => (false, None),
        };
        let resident_bytes = match memory {
            Some(m) => {
                tokio::task::spawn_blocking(move || m.resident_pages())
                    .await
                    .map_err(|e| FfmError::Task("resident-page count", e))??
                    * 4096
            }
            None => 0,
        };
        let (achieved_gbs, source) = match measured {
            Some(gbs) => (GigabytesPerSecond(round3(gbs)), TelemetrySource::Counter),
            None => (bundle.achieved_gbs, bundle.telemetry_source),
        };
        Ok(FfmTelemetry {
            achieved_gbs,
            bandwidth_floor_gbs: bundle.bandwidth_floor_gbs,
            tail_p99_ms: bundle.tail_p99_ms,
            source,
            moved_pages: bundle.moved_pages,
            latency_class: bundle.latency_class,
            migrating,
            resident: vec![TierBytes {
                latency_class: bundle.latency_class,
                bytes: Bytes(resident_bytes),
            }],
            observed_at: Some(self.clock.now()),
        })
    }

    /// The bandwidth the MBM counter of the bundle's monitoring group
    /// measured since the previous reading, GB/s; `None` without a counter,
    /// on the first reading, or when the counter went backwards (the group
    /// was recreated) or no time passed.
    fn measured_gbs(&self, id: &str) -> Result<Option<f64>, FfmError> {
        let Some(bytes) = self.counters.total_bytes(id).map_err(FfmError::Counter)? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let previous = lock(&self.telemetry.counter_readings).insert(id.to_owned(), (bytes, now));
        Ok(previous.and_then(|(before, at)| {
            let seconds = (now - at).num_microseconds()? as f64 / 1e6;
            (bytes >= before && seconds > 0.0).then(|| (bytes - before) as f64 / seconds / 1e9)
        }))
    }

    /// The bundle with the model's current figures.
    pub(super) async fn with_telemetry(&self, bundle: FfmBundle) -> FfmBundle {
        let snapshot = self.snapshot_covering(&[bundle.id.as_str()]).await;
        self.overlay(bundle, &snapshot)
    }

    /// The model's outcome, from a run that evaluated every bundle of `ids`
    /// the ledger holds: the cached run if it did, else the next run, which
    /// this caller starts unless a run it waited for covered it already.
    pub(super) async fn snapshot_covering(&self, ids: &[&str]) -> Arc<Outcomes> {
        let cached = self.snapshot(false);
        if self.covers(&cached, ids) {
            return cached;
        }
        let _turn = self.telemetry.turn.lock().await;
        // The guard must be gone before `covers` takes the ledger's lock:
        // `snapshot` takes the two in the other order.
        let last = lock(&self.telemetry.last)
            .as_ref()
            .map(|s| Arc::clone(&s.outcomes));
        if let Some(last) = last
            && self.covers(&last, ids)
        {
            return last;
        }
        self.snapshot(true)
    }

    /// The bandwidth model's figures for each of `ids`, as a read of the
    /// bundle shows them (`None` where it shows `telemetry_source: none`):
    /// one model snapshot and one hold of the ledger for all of them. For
    /// ids the caller has read through [`project`](Self::project), which
    /// decides what it sees.
    pub async fn modelled_figures(&self, ids: &[&str]) -> Vec<Option<ModelledFigures>> {
        // The cached run mostly covers every bundle: look each up once, and
        // wait for a run only if one it does not cover is held.
        let figures = |outcomes: &Outcomes| {
            let ledger = lock(&self.ledger);
            let mut covered = true;
            let figures = ids
                .iter()
                .map(|id| {
                    let outcome = outcomes.of(&ledger, id);
                    covered &= outcome.is_some() || ledger.bundle(id).is_none();
                    outcome.map(|o| ModelledFigures {
                        achieved_gbs: round3(o.achieved_gbs),
                        tail_p99_ms: round3(o.tail_p99_ms),
                    })
                })
                .collect::<Vec<_>>();
            (figures, covered)
        };
        let (cached, covered) = figures(&self.snapshot(false));
        if covered {
            return cached;
        }
        figures(&*self.snapshot_covering(ids).await).0
    }

    /// Whether `outcomes` evaluated every bundle of `ids` the ledger holds.
    fn covers(&self, outcomes: &Outcomes, ids: &[&str]) -> bool {
        let ledger = lock(&self.ledger);
        ids.iter()
            .all(|id| ledger.bundle(id).is_none() || outcomes.of(&ledger, id).is_some())
    }

    pub(super) fn overlay(&self, mut bundle: FfmBundle, snapshot: &Outcomes) -> FfmBundle {
        let now = self.clock.now();
        let outcome = snapshot.of(&lock(&self.ledger), &bundle.id);
        let Some(o) = outcome else {
            bundle.telemetry_source = TelemetrySource::None;
            bundle.achieved_gbs = GigabytesPerSecond(0.0);
            bundle.tail_p99_ms = 0.0;
            bundle.meta.set_condition(Condition::new(
                "FloorMet",
                ConditionStatus::Unknown,
                "NotModelled",
                "the bundle holds no capacity grant the bandwidth model could evaluate; achieved_GBs and tail_p99_ms are 0 and mean nothing (telemetry_source none)",
                now,
            ));
            return bundle;
        };
        bundle.telemetry_source = TelemetrySource::Model;
        bundle.achieved_gbs = GigabytesPerSecond(round3(o.achieved_gbs));
        bundle.tail_p99_ms = round3(o.tail_p99_ms);
        bundle.meta.set_condition(if o.floor_violated {
            Condition::new(
                "FloorMet",
                ConditionStatus::False,
                "FloorViolated",
                format!(
                    "modelled {:.3} GB/s is below the {:.3} GB/s floor in force (max-min fair sharing with floors)",
                    o.achieved_gbs, o.floor_gbs
                ),
                now,
            )
        } else {
            Condition::new(
                "FloorMet",
                ConditionStatus::True,
                "FloorMet",
                format!(
                    "modelled {:.3} GB/s for a {:.3} GB/s floor in force (max-min fair sharing with floors)",
                    o.achieved_gbs, o.floor_gbs
                ),
                now,
            )
        });
        bundle
    }

    /// The model's outcome for every bundle, recomputed when the ledger or
    /// the minute (policy windows) changed, or always with `force`.
    ///
    /// Only the model's inputs are gathered under the ledger's lock; the
    /// model itself runs outside it, so allocs and DELETEs are not held up
    /// by it. While one caller recomputes, the others take the previous
    /// outcome (bundles newer than it say so).
    fn snapshot(&self, force: bool) -> Arc<Outcomes> {
        let cache = &self.telemetry;
        let minute = self.clock.now().timestamp().div_euclid(60);
        // The cost that throttles recomputation counts gathering the inputs
        // as well as running the model.
        let started;
        let gathered = {
            let ledger = lock(&self.ledger);
            {
                let cached = lock(&cache.last);
                if let Some(s) = cached.as_ref()
                    && !force
                    && ((s.revision == ledger.revision() && s.minute == minute)
                        || s.computed_at.elapsed() < s.cost * MODEL_DUTY
                        || cache.running.load(Ordering::Acquire))
                {
                    return Arc::clone(&s.outcomes);
                }
            }
            cache.running.store(true, Ordering::Release);
            started = Instant::now();
            // The floor in force now, each policy's window read on its own
            // zone's wall clock (admission's floors are conservative across
            // daylight saving time; these are the ones in force).
            let now = self.clock.now();
            let mut shapes: HashMap<Shape, (usize, u64)> = HashMap::new();
            let mut ids = Vec::with_capacity(ledger.len());
            for b in ledger.bundles() {
                let next = shapes.len();
                let (index, count) = shapes
                    .entry(Shape::of(&ledger, b, now))
                    .or_insert((next, 0));
                *count += 1;
                ids.push((b.id.clone(), *index));
            }
            (ledger.revision(), shapes, ids, now)
        };
        let (revision, shapes, ids, at) = gathered;
        let mut shapes: Vec<(Shape, (usize, u64))> = shapes.into_iter().collect();
        shapes.sort_unstable_by_key(|(_, (index, _))| *index);
        let shapes: Vec<(Shape, u64)> = shapes
            .into_iter()
            .map(|(shape, (_, count))| (shape, count))
            .collect();
        let evaluated = self.run_model(&shapes);
        let outcomes = Arc::new(Outcomes {
            by_id: ids
                .into_iter()
                .filter_map(|(id, index)| Some((id, *evaluated.get(index)?)))
                .collect(),
            by_shape: shapes
                .into_iter()
                .map(|(shape, _)| shape)
                .zip(evaluated)
                .collect(),
            revision,
            at,
        });
        let cost = started.elapsed();
        let stale = lock(&cache.last).replace(Snapshot {
            revision,
            minute,
            outcomes: Arc::clone(&outcomes),
            computed_at: Instant::now(),
            cost,
        });
        cache.running.store(false, Ordering::Release);
        drop(stale);
        outcomes
    }

    /// Runs the bandwidth and tail models over `shapes` (each with its
    /// number of bundles); one outcome per shape, in order.
    fn run_model(&self, shapes: &[(Shape, u64)]) -> Vec<Outcome> {
        let peaks: Vec<f64> = self.devices.iter().map(|d| d.peak_gbs).collect();
        // Hosts' slices of one pooled device share its bandwidth: the model sees the device.
        let on_device: Vec<usize> = self
            .devices
            .iter()
            .map(|d| {
                self.devices
                    .iter()
                    .position(|o| o.physical == d.physical)
                    .unwrap_or(0)
            })
            .collect();
        let parts: Vec<Vec<Part>> = shapes
            .iter()
            .map(|(shape, _)| {
                let mut parts = shape.parts();
                for part in &mut parts {
                    part.device = on_device.get(part.device).copied().unwrap_or(part.device);
                }
                parts
            })
            .collect();
        let classes: Vec<(&[Part], u64)> = parts
            .iter()
            .zip(shapes)
            .map(|(p, (_, n))| (p.as_slice(), *n))
            .collect();
        model::evaluate_classes(&peaks, &classes)
    }

    /// What the model predicts for `extra`, a bundle not in the ledger yet,
    /// competing with every bundle the ledger holds: the shapes are read
    /// under the ledger's lock the caller holds ([`Prediction::gather`]) and
    /// the model runs here, outside it.
    pub(super) fn predict(&self, prediction: Prediction) -> Outcome {
        let Prediction { mut shapes, extra } = prediction;
        let index = match shapes.iter().position(|(s, _)| *s == extra) {
            Some(i) => {
                shapes[i].1 += 1;
                i
            }
            None => {
                shapes.push((extra, 1));
                shapes.len() - 1
            }
        };
        self.run_model(&shapes)[index]
    }
}

/// The model's inputs for a bundle not in the ledger yet: every live
/// bundle's shape with its count, and the new bundle's.
#[derive(Debug)]
pub(super) struct Prediction {
    shapes: Vec<(Shape, u64)>,
    extra: Shape,
}

impl Prediction {
    /// Reads the shapes of `ledger` (under the lock the caller holds) and
    /// `extra`'s, with the policy windows in force at `now`.
    pub(super) fn gather(ledger: &Ledger, extra: &planner::Bundle, now: DateTime<Utc>) -> Self {
        let mut shapes: HashMap<Shape, u64> = HashMap::new();
        for b in ledger.bundles() {
            *shapes.entry(Shape::of(ledger, b, now)).or_default() += 1;
        }
        Prediction {
            shapes: shapes.into_iter().collect(),
            extra: Shape::of(ledger, extra, now),
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use corridor_hal::{ManualClock, Topology};
    use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence, TelemetrySource};
    use corridor_model::units::{Bytes, GigabytesPerSecond};
    use corridor_pki::Principal;
    use corridor_store::{RedbOptions, RedbStore, StateStore};

    use super::super::{FfmConfig, FfmService};
    use crate::operations::Operations;
    use crate::{Caller, Registry};

    fn request(floor: f64) -> FfmAllocRequest {
        FfmAllocRequest {
            bytes: Bytes(1 << 20),
            latency_class: LatencyClass::T1,
            bandwidth_floor_gbs: GigabytesPerSecond(floor),
            persistence: Persistence::None,
            shareable: true,
            security_domain: "tenantA".into(),
            host: None,
            policy_lease_ttl_s: None,
            labels: Default::default(),
        }
    }

    /// memqosd on the default twin, with its state directory (kept alive by
    /// the caller).
    async fn service() -> (Arc<FfmService>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(RedbStore::open(dir.path().join("s.redb"), RedbOptions::default()).unwrap());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let operations = Operations::new(Registry::new(Arc::clone(&store)), clock.clone());
        let service = FfmService::start(
            store,
            clock,
            operations,
            &Topology::default_twin(),
            FfmConfig::in_dir(dir.path()),
        )
        .await
        .unwrap();
        (service, dir)
    }

    #[tokio::test]
    async fn a_bundle_newer_than_the_cached_run_is_evaluated_not_zero() {
        let (service, _dir) = service().await;
        let caller = Caller::new(Principal::Domain("tenantA".into()));
        service.create(&caller, request(5.0)).await.unwrap();
        // Make the cached run look expensive: the duty throttle now serves
        // it for an hour, whatever the ledger does.
        if let Some(s) = super::lock(&service.telemetry.last).as_mut() {
            s.cost = Duration::from_secs(3600);
        }
        let newer = service.create(&caller, request(7.0)).await.unwrap().bundle;
        assert_eq!(newer.telemetry_source, TelemetrySource::Model, "{newer:?}");
        assert!(newer.achieved_gbs.get() >= 7.0, "{newer:?}");
        assert!(newer.tail_p99_ms > 0.0, "{newer:?}");
        let listed = service.list(&caller, &Default::default()).await.unwrap();
        assert!(
            listed
                .items
                .iter()
                .all(|b| b.telemetry_source == TelemetrySource::Model && b.achieved_gbs.get() > 0.0),
            "{listed:?}"
        );
    }

    /// What the metrics exporter reads (`modelled_figures`) is what a read
    /// of each bundle shows, whether the cached run is at the ledger's
    /// revision (looked up by id) or older (looked up by shape).
    #[tokio::test]
    async fn modelled_figures_are_the_figures_a_read_shows() {
        let (service, _dir) = service().await;
        let caller = Caller::new(Principal::Domain("tenantA".into()));
        let mut ids = Vec::new();
        for floor in [5.0, 7.0, 5.0, 9.0] {
            ids.push(
                service
                    .create(&caller, request(floor))
                    .await
                    .unwrap()
                    .bundle
                    .id,
            );
        }
        let agree = |ids: Vec<String>| {
            let service = &service;
            let caller = &caller;
            async move {
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let figures = service.modelled_figures(&refs).await;
                let listed = service.list(caller, &Default::default()).await.unwrap();
                for (id, figures) in ids.iter().zip(&figures) {
                    let read = listed.items.iter().find(|b| &b.id == id);
                    let expected = read.map(|b| super::ModelledFigures {
                        achieved_gbs: b.achieved_gbs.get(),
                        tail_p99_ms: b.tail_p99_ms,
                    });
                    assert_eq!(*figures, expected, "{id}");
                }
                figures
            }
        };
        let at_revision = agree(ids.clone()).await;
        assert!(at_revision.iter().all(Option::is_some));
        assert_ne!(at_revision[0], at_revision[1], "two floors, two outcomes");
        {
            // At the run's revision a lookup by id is the lookup by shape.
            let outcomes = service.snapshot(false);
            let ledger = super::lock(&service.ledger);
            assert_eq!(ledger.revision(), outcomes.revision);
            for id in &ids {
                let shape = super::Shape::of(&ledger, ledger.bundle(id).unwrap(), outcomes.at);
                let by_shape = outcomes.by_shape.get(&shape).copied();
                assert!(by_shape.is_some());
                assert_eq!(outcomes.of(&ledger, id), by_shape, "{id}");
            }
        }
        // Change the ledger, then hold the cached run: lookups go by shape.
        // The hold comes after the create, whose answer may run the model
        // (a new bundle on a device no evaluated bundle shares): held
        // before it, that run replaced the held one, and whether the two
        // reads below then shared a run depended on how fast they ran.
        ids.push(
            service
                .create(&caller, request(7.0))
                .await
                .unwrap()
                .bundle
                .id,
        );
        if let Some(s) = super::lock(&service.telemetry.last).as_mut() {
            s.cost = Duration::from_secs(3600);
        }
        service.delete(&caller, &ids[3], None).await.unwrap();
        let by_shape = agree(ids.clone()).await;
        assert!(by_shape[4].is_some(), "the new bundle is evaluated");
        assert_eq!(by_shape[3], None, "a freed bundle has no figures");
    }
}

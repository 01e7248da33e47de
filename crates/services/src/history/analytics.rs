//! `GET /v1/analytics/synchrony` over the kept history: reads the window's
//! recorded samples, makes the corridors', lanes' and bundles' series with
//! their sources, keeps what the caller may see, and hands them to the pure
//! [`super::synchrony`] module; then names what each group shares.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use corridor_hal::topology::{PortPeer, PortRole};
use corridor_model::analytics::{
    BundleMetric, SYNCHRONY_MIN_CORRELATION, SeriesKind, SeriesSource, SeriesStatus, Synchrony,
    SynchronyGroup, SynchronyMetric, SynchronyPair, SynchronySeries,
};
use corridor_model::corridor::Corridor;

use super::record::{Record, StoredBundleSample, StoredSample};
use super::synchrony::{self, BundlePlacement, Placement, Series};
use super::{HistoryError, HistoryService, on_files, window};
use crate::Caller;

/// What the shared cause calls the one rack a topology describes (the
/// topology has no rack id: its ambient profile reaches every port).
const RACK: &str = "rack";

/// Samples of one kind of figure: `(time µs, value)`, and how many were
/// modelled and measured.
#[derive(Debug, Default)]
struct Points {
    values: Vec<(i64, f64)>,
    modelled: usize,
    measured: usize,
}

impl Points {
    fn push(&mut self, at_us: i64, value: Option<f64>, modelled: bool) {
        let Some(value) = value else {
            return;
        };
        self.values.push((at_us, value));
        if modelled {
            self.modelled += 1;
        } else {
            self.measured += 1;
        }
    }

    fn source(&self) -> SeriesSource {
        match (self.modelled, self.measured) {
            (_, 0) => SeriesSource::Model,
            (0, _) => SeriesSource::Counter,
            _ => SeriesSource::Mixed,
        }
    }
}

/// One corridor's samples in the window, per lane too.
struct CorridorRead {
    id: String,
    points: Points,
    lanes: BTreeMap<u32, Points>,
    last: Option<Corridor>,
}

/// One bundle's samples in the window, and its latest (where it is, whose).
struct BundleRead {
    id: String,
    points: Points,
    last: StoredBundleSample,
}

/// Series of one kind that may be correlated, and what they sit on.
struct Family<P> {
    series: Vec<(String, Series)>,
    placements: HashMap<String, P>,
}

impl<P> Default for Family<P> {
    fn default() -> Self {
        Family {
            series: Vec::new(),
            placements: HashMap::new(),
        }
    }
}

impl HistoryService {
    /// Synchrony analytics over the kept samples in the window: which
    /// corridors and lanes (by `metric`) and which memory bundles (by
    /// `bundle_metric`) move together, each kind compared with its own
    /// (Pearson correlation of series bucketed by the sampling interval, at
    /// or above [`SYNCHRONY_MIN_CORRELATION`]), grouped, each group with the
    /// most specific part of the topology its members share. What the
    /// caller may not see is left out.
    pub async fn synchrony(
        &self,
        caller: &Caller,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        metric: SynchronyMetric,
        bundle_metric: BundleMetric,
    ) -> Result<Synchrony, HistoryError> {
        let window = window::resolve(from, to, self.wall.now())?;
        let kept = self.kept()?;
        // Where each corridor sits: the live object, else its last
        // recorded version (a released corridor).
        let live: HashMap<String, Corridor> = self
            .corridors
            .list_all()
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let log = Arc::clone(&kept.log);
        let bucket_us = i64::try_from(kept.settings.interval.as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        let (corridor_reads, bundle_reads) = on_files(&kept.dir, move || {
            let mut corridors = Vec::new();
            let mut bundles = Vec::new();
            // Each bucket file read once, not once per id.
            for (id, records) in log.read_all(&window)? {
                let mut points = Points::default();
                let mut lanes: BTreeMap<u32, Points> = BTreeMap::new();
                let mut bundle = Points::default();
                let mut last_bundle = None;
                for record in records {
                    match record {
                        Record::Sample(s) => {
                            points.push(s.at_us, Some(metric_of(&s, metric)), s.modelled);
                            for lane in &s.lanes {
                                lanes.entry(lane.lane).or_default().push(
                                    s.at_us,
                                    lane_metric_of(lane, metric),
                                    s.modelled,
                                );
                            }
                        }
                        Record::Bundle(b) => {
                            bundle.push(b.at_us, bundle_metric_of(&b, bundle_metric), b.modelled);
                            last_bundle = Some(b);
                        }
                        Record::Change(_) => {}
                    }
                }
                if let Some(last) = last_bundle {
                    bundles.push(BundleRead {
                        id: id.clone(),
                        points: bundle,
                        last,
                    });
                }
                if !points.values.is_empty() {
                    let last = log.latest_change(&id)?.and_then(|c| c.corridor());
                    lanes.retain(|_, p| !p.values.is_empty());
                    corridors.push(CorridorRead {
                        id,
                        points,
                        lanes,
                        last,
                    });
                }
            }
            Ok((corridors, bundles))
        })
        .await?;

        let mut described = Vec::new();
        let mut corridors: Family<Option<Placement>> = Family::default();
        let mut lanes: Family<Option<Placement>> = Family::default();
        let mut bundles: Family<BundlePlacement> = Family::default();
        let (mut corridor_ids, mut lane_ids, mut bundle_ids) = (Vec::new(), Vec::new(), Vec::new());
        for read in corridor_reads {
            let object = live.get(&read.id).cloned().or(read.last);
            let visible = match &object {
                Some(c) => caller.may_see(c.security_domain.as_deref()),
                // Nothing says whose it was: only the unconfined see it.
                None => caller.confined_to().is_none(),
            };
            if !visible {
                continue;
            }
            let placement = object.as_ref().and_then(|c| self.placement(c));
            let series = synchrony::bucketed(read.points.values.iter().copied(), bucket_us);
            described.push(describe(
                &read.id,
                SeriesKind::Corridor,
                &read.points,
                &series,
            ));
            corridors.add(&read.id, series, placement.clone());
            corridor_ids.push(read.id.clone());
            for (lane, points) in read.lanes {
                let id = format!("{}/lanes/{lane}", read.id);
                let series = synchrony::bucketed(points.values.iter().copied(), bucket_us);
                described.push(describe(&id, SeriesKind::Lane, &points, &series));
                lanes.add(&id, series, placement.clone());
                lane_ids.push(id);
            }
        }
        for read in bundle_reads {
            if !caller.may_see(Some(&read.last.security_domain)) {
                continue;
            }
            let series = synchrony::bucketed(read.points.values.iter().copied(), bucket_us);
            described.push(describe(
                &read.id,
                SeriesKind::Bundle,
                &read.points,
                &series,
            ));
            bundles.add(&read.id, series, self.bundle_placement(&read.last));
            bundle_ids.push(read.id);
        }

        let mut pairs = Vec::new();
        let mut groups = Vec::new();
        let corridor_pairs = corridors.pairs();
        groups.extend(
            corridors.groups(&corridor_pairs, SeriesKind::Corridor, |p| {
                synchrony::shared_cause(p, RACK, "corridor")
            }),
        );
        let lane_pairs = lanes.pairs();
        groups.extend(lanes.groups(&lane_pairs, SeriesKind::Lane, |p| {
            synchrony::shared_cause(p, RACK, "lane")
        }));
        let bundle_pairs = bundles.pairs();
        groups.extend(bundles.groups(&bundle_pairs, SeriesKind::Bundle, |p| {
            synchrony::bundle_shared_cause(p, RACK)
        }));
        pairs.extend(corridor_pairs);
        pairs.extend(lane_pairs);
        pairs.extend(bundle_pairs);
        pairs.sort_by(|x, y| y.correlation.total_cmp(&x.correlation));
        Ok(Synchrony {
            from: window.from,
            to: window.to,
            metric,
            bundle_metric,
            bucket_s: kept.settings.interval.as_secs_f64(),
            min_correlation: SYNCHRONY_MIN_CORRELATION,
            corridors: corridor_ids,
            lanes: lane_ids,
            bundles: bundle_ids,
            series: described,
            pairs,
            groups,
        })
    }

    /// The corridor's end ports, links and the ports' hosts.
    fn placement(&self, corridor: &Corridor) -> Option<Placement> {
        let assignment = corridor.assignment.as_ref()?;
        let ports: BTreeSet<String> = assignment.ports.iter().cloned().collect();
        let hosts = ports
            .iter()
            .filter_map(|p| self.topology.optical_port(p))
            .map(|p| p.host.to_string())
            .collect();
        Some(Placement {
            ports,
            links: corridor.path.iter().cloned().collect(),
            hosts,
        })
    }

    /// Where a bundle's memory is, from its latest sample: its devices, for
    /// a pooled CXL device the switch's downstream port to it and the
    /// host's upstream ports on that switch, its host and its tier.
    fn bundle_placement(&self, sample: &StoredBundleSample) -> BundlePlacement {
        let mut switch_ports = BTreeSet::new();
        for node in &sample.nodes {
            let Some(device) = self.topology.cxl_device(node) else {
                continue;
            };
            switch_ports.insert(format!("{}:{}", device.switch.as_str(), device.port));
            if let Some(switch) = self.topology.cxl_switch(device.switch.as_str()) {
                for port in &switch.ports {
                    let to_host = matches!(
                        &port.connected_to,
                        Some(PortPeer::Host(h)) if h.as_str() == sample.host
                    );
                    if port.role == PortRole::Upstream && to_host {
                        switch_ports.insert(format!("{}:{}", switch.id.as_str(), port.port));
                    }
                }
            }
        }
        BundlePlacement {
            devices: sample.nodes.iter().cloned().collect(),
            switch_ports,
            hosts: std::iter::once(sample.host.clone())
                .filter(|h| !h.is_empty())
                .collect(),
            tiers: std::iter::once(format!("{:?}", sample.latency_class())).collect(),
        }
    }
}

impl<P: Clone> Family<P> {
    /// Adds a series; only one that can be correlated takes part.
    fn add(&mut self, id: &str, series: Series, placement: P) {
        if synchrony::status(&series) == SeriesStatus::Compared {
            self.series.push((id.to_owned(), series));
            self.placements.insert(id.to_owned(), placement);
        }
    }

    fn pairs(&self) -> Vec<SynchronyPair> {
        synchrony::correlated_pairs(&self.series, SYNCHRONY_MIN_CORRELATION)
    }

    fn groups(
        &self,
        pairs: &[SynchronyPair],
        kind: SeriesKind,
        cause: impl Fn(&[P]) -> corridor_model::analytics::SharedCause,
    ) -> Vec<SynchronyGroup> {
        synchrony::groups(pairs)
            .into_iter()
            .map(|members| {
                let placements: Vec<P> = members
                    .iter()
                    .filter_map(|id| self.placements.get(id).cloned())
                    .collect();
                SynchronyGroup {
                    kind,
                    corridors: if kind == SeriesKind::Corridor {
                        members.clone()
                    } else {
                        Vec::new()
                    },
                    shared_cause: cause(&placements),
                    members,
                }
            })
            .collect()
    }
}

/// A series as the answer lists it.
fn describe(id: &str, kind: SeriesKind, points: &Points, series: &Series) -> SynchronySeries {
    SynchronySeries {
        id: id.to_owned(),
        kind,
        source: points.source(),
        buckets: u32::try_from(series.len()).unwrap_or(u32::MAX),
        status: synchrony::status(series),
    }
}

/// The figure of a sample `metric` names; BER on a log scale, where its
/// decades move.
fn metric_of(sample: &StoredSample, metric: SynchronyMetric) -> f64 {
    match metric {
        SynchronyMetric::TempC => sample.temp_c,
        SynchronyMetric::PreFecBer => sample.pre_fec_ber.max(f64::MIN_POSITIVE).log10(),
        SynchronyMetric::PowerPjPerBit => sample.power_pj_per_bit,
    }
}

/// A lane's own figure; lanes have no energy figure of their own.
fn lane_metric_of(lane: &super::record::StoredLane, metric: SynchronyMetric) -> Option<f64> {
    match metric {
        SynchronyMetric::TempC => Some(lane.temp_c),
        SynchronyMetric::PreFecBer => Some(lane.pre_fec_ber.max(f64::MIN_POSITIVE).log10()),
        SynchronyMetric::PowerPjPerBit => None,
    }
}

/// A bundle's figure; a floor ratio needs a floor.
fn bundle_metric_of(sample: &StoredBundleSample, metric: BundleMetric) -> Option<f64> {
    match metric {
        BundleMetric::AchievedGbs => Some(sample.achieved_gbs),
        BundleMetric::FloorRatio => {
            (sample.floor_gbs > 0.0).then(|| sample.achieved_gbs / sample.floor_gbs)
        }
        BundleMetric::TailP99Ms => Some(sample.tail_p99_ms),
    }
}

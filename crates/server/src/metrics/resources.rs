//! The resources' current state as series, read from the services at scrape
//! time: corridors and their lanes (corrd), memory bundles and devices
//! (memqosd), fabric paths, ports and devices (fabmand).
//!
//! A corridor's figures (BER, temperature, energy, drift, per lane) are
//! those of its latest read-back, which corrd's reconciler takes of every
//! lit corridor each pass (every second): a scrape reads no module and
//! steps no physics, and shows no read-back older than
//! [`TELEMETRY_MAX_AGE`]. Everything else is read from the services at
//! scrape time.
//!
//! A figure is exported only where a model or a measurement produced it: a
//! corridor whose lanes are not all lit (held for attestation, being
//! provisioned, released, a lane dark) has no telemetry, so it has no BER,
//! temperature, energy or drift sample — only its status and lane states.
//! Every modelled or measured series carries `source` as the service's
//! document says it (`model` for the twin's CMIS modules and memqosd's
//! bandwidth model, `counter` for real monitors); planned figures from the
//! physics model (`achievable`) say `model` too.
//!
//! Every family is described on every scrape, even without samples, so a
//! dashboard's query names a family that exists before the first corridor.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Bytes;

use corridor_model::corridor::{
    Corridor, CorridorStatus, CorridorTelemetry, DriftLevel, EyeMargin, LaneState,
};
use corridor_model::fabric::{FabricDevice, FabricPath, FabricPort, PathStatus, PortLink};
use corridor_model::ffm::FfmBundle;
use corridor_model::memory_tiers::MemoryTiers;
use corridor_services::corridors::CorridorError;
use corridor_services::daemons::RfcDaemon;
use corridor_services::{Caller, ControlPlane, ListOptions};

use super::exposition::{Kind, Label, Spec, write_sample};
use super::object_lines::{
    BundleLines, CorridorLines, FamilySet, LinesRenderer, ObjectLines, ResourceRows, Samples,
};
use super::{Format, PREFIX};

/// The oldest read-back a scrape shows a corridor's figures from. corrd's
/// reconciler reads every lit corridor once a second (a bring-up and a
/// telemetry request read too), so ten seconds is ten passes: a corridor
/// with no read-back that recent has a reconciler that fell behind, and
/// its figures are left out (counted as `corridor_telemetry` collection
/// failures) rather than shown stale.
pub const TELEMETRY_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// The unit suffix of a family (base units, as Prometheus asks).
#[derive(Debug, Clone, Copy)]
enum U {
    None,
    Seconds,
    Bytes,
    Celsius,
    Meters,
    Volts,
    Watts,
    BytesPerSecond,
    JoulesPerBit,
}

impl U {
    fn as_str(self) -> Option<&'static str> {
        Some(match self {
            U::None => return None,
            U::Seconds => "seconds",
            U::Bytes => "bytes",
            U::Celsius => "celsius",
            U::Meters => "meters",
            U::Volts => "volts",
            U::Watts => "watts",
            U::BytesPerSecond => "bytes_per_second",
            U::JoulesPerBit => "joules_per_bit",
        })
    }
}

/// One family: its name without prefix and unit, help, unit and type.
type Family = (&'static str, &'static str, U, Kind);

/// Every resource family, in the order of the exposition.
const FAMILIES: &[Family] = &[
    // corrd: corridors.
    (
        "corridor",
        "A corridor as granted: type, mode, QoS priority and security domain",
        U::None,
        Kind::Info,
    ),
    (
        "corridor_status",
        "Corridor lifecycle as a state set: 1 for the corridor's current status, 0 for the others",
        U::None,
        Kind::Gauge,
    ),
    (
        "corridor_min_bandwidth",
        "Bandwidth the corridor's request guarantees (min_gbps)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "corridor_achievable_bandwidth",
        "Rate the granted lane plan carries, as the physics model planned it (absent until granted)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "corridor_post_fec_bit_error_ratio",
        "Post-FEC bit error ratio of the corridor's worst lane at its latest read-back (lit corridors only; at the CMIS F16 floor 1e-24 it is an upper bound)",
        U::None,
        Kind::Gauge,
    ),
    (
        "corridor_pre_fec_bit_error_ratio",
        "Pre-FEC bit error ratio of the corridor's worst lane as the modules report it (lit corridors only)",
        U::None,
        Kind::Gauge,
    ),
    (
        "corridor_eye_margin",
        "Eye margin of the worst lane as a state set (ok, marginal, fail), judged on the pre-FEC BER (lit corridors only)",
        U::None,
        Kind::Gauge,
    ),
    (
        "corridor_temperature",
        "Module temperature the corridor's ends report (lit corridors only)",
        U::Celsius,
        Kind::Gauge,
    ),
    (
        "corridor_energy",
        "Energy per bit: lasers from their reported bias, modulator driver and receiver, ring heaters (lit corridors only)",
        U::JoulesPerBit,
        Kind::Gauge,
    ),
    (
        "corridor_drift",
        "Worse of laser offset from its grid line and ring lock error, as a state set (low under 10 % of the linewidth, medium under 25 %, high) (lit corridors only)",
        U::None,
        Kind::Gauge,
    ),
    (
        "corridor_post_fec_bit_errors",
        "Post-FEC bit errors charged to the corridor since it was granted: each interval between read-backs at that interval's post-FEC BER and rate",
        U::None,
        Kind::Counter,
    ),
    (
        "link_wavelengths",
        "DWDM channels an optical link can carry (both its ports' grids)",
        U::None,
        Kind::Gauge,
    ),
    (
        "link_wavelengths_held",
        "DWDM channels held on an optical link by granted corridors and admissions in flight, as corrd's planner sees them",
        U::None,
        Kind::Gauge,
    ),
    (
        "lane_state",
        "Corridor lane state as a state set (up, down, calibrating, degraded), as the reconciler last judged it",
        U::None,
        Kind::Gauge,
    ),
    (
        "lane_post_fec_bit_error_ratio",
        "Post-FEC bit error ratio of one lane, worse end, at its latest read-back (lit lanes only)",
        U::None,
        Kind::Gauge,
    ),
    (
        "lane_pre_fec_bit_error_ratio",
        "Pre-FEC bit error ratio of one lane as the modules report it, worse end (lit lanes only)",
        U::None,
        Kind::Gauge,
    ),
    (
        "lane_post_fec_bit_error_ratio_is_upper_bound",
        "1 when the lane's post-FEC BER sits at the CMIS F16 floor 1e-24, so the real ratio is at most that (lit lanes only)",
        U::None,
        Kind::Gauge,
    ),
    (
        "lane_temperature",
        "Temperature at one lane's module (lit lanes only)",
        U::Celsius,
        Kind::Gauge,
    ),
    (
        "lane_drift",
        "Detuning of one lane from its calibrated wavelength (lit lanes only)",
        U::Meters,
        Kind::Gauge,
    ),
    (
        "lane_heater_power",
        "Ring heater power reported for one lane (lit lanes whose read-back reports one; the twin reports none per lane, the corridor energy includes heliopassd's heaters)",
        U::Watts,
        Kind::Gauge,
    ),
    (
        "lane_bias",
        "Bias voltage reported for one lane (lit lanes whose read-back reports one; the twin reports none)",
        U::Volts,
        Kind::Gauge,
    ),
    // memqosd: bundles and the devices they sit on.
    (
        "ffm_bundle",
        "A memory bundle: tier (latency class), security domain, host and persistence",
        U::None,
        Kind::Info,
    ),
    (
        "ffm_bundle_size",
        "Bytes the bundle holds",
        U::Bytes,
        Kind::Gauge,
    ),
    (
        "ffm_bundle_floor_bandwidth",
        "Bandwidth floor the bundle was granted (bandwidth_floor_GBs)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "ffm_bundle_achieved_bandwidth",
        "Bandwidth the bundle achieves: memqosd's max-min fair share with floors (source model) when every live bundle is backlogged; absent when no grant could be evaluated",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "ffm_bundle_tail_p99_latency",
        "99th percentile access stall of the bundle (M/M/1 sojourn time of a 2 MiB transfer at its busiest device's promised load, source model); absent when no grant could be evaluated",
        U::Seconds,
        Kind::Gauge,
    ),
    (
        "ffm_bundle_moved_pages",
        "Pages moved between tiers since the bundle was allocated",
        U::None,
        Kind::Counter,
    ),
    (
        "memory_device_capacity",
        "Bytes of a memory device memqosd allocates on",
        U::Bytes,
        Kind::Gauge,
    ),
    (
        "memory_device_allocated",
        "Bytes of a memory device held by bundles",
        U::Bytes,
        Kind::Gauge,
    ),
    (
        "memory_device_peak_bandwidth",
        "Peak bandwidth of a memory device, with the origin of the figure (hmat, twin, default)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "memory_device_admission_bandwidth",
        "Bandwidth admission may grant as floors on a memory device (its admission share of the peak)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "memory_device_admitted_bandwidth",
        "Bandwidth floors admitted on a memory device, in the policy window that holds the most",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    // fabmand: paths, ports and devices.
    (
        "fabric_path_status",
        "Fabric path lifecycle as a state set: 1 for the path's current status, 0 for the others",
        U::None,
        Kind::Gauge,
    ),
    (
        "fabric_path_guaranteed_bandwidth",
        "Bandwidth the fabric path holds on every port it crosses (qos.min_bandwidth_gbps)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "fabric_path_bandwidth",
        "Bandwidth the fabric path asked for (bandwidth_gbps; at least its guarantee)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "fabric_port_capacity",
        "Line rate of a CXL switch port",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "fabric_port_admissible_bandwidth",
        "Bandwidth admission may grant on a CXL switch port",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "fabric_port_guaranteed_bandwidth",
        "Bandwidth the fabric paths crossing a port hold on it",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "fabric_port_free_bandwidth",
        "Bandwidth a new fabric path may still take on a port (admissible minus guaranteed)",
        U::BytesPerSecond,
        Kind::Gauge,
    ),
    (
        "fabric_port_link",
        "Port link as the last FM API discovery found it, as a state set (up, down, unknown)",
        U::None,
        Kind::Gauge,
    ),
    (
        "fabric_device_status",
        "CXL device as the inventory lists it, as a state set (active, offline)",
        U::None,
        Kind::Gauge,
    ),
    (
        "fabric_device_capacity",
        "Bytes of a CXL device",
        U::Bytes,
        Kind::Gauge,
    ),
    (
        "fabric_device_attested",
        "1 while the device holds a current attestation ticket",
        U::None,
        Kind::Gauge,
    ),
    (
        "metrics_collection_failures",
        "Reads of a resource that failed, or did not finish within the scrape's time budget, while this scrape was collected: their series are missing from it",
        U::None,
        Kind::Gauge,
    ),
];

/// The description of the family named `name` (one of [`FAMILIES`]).
pub(super) fn family_spec(name: &str) -> Spec {
    let described = FAMILIES
        .iter()
        .find(|(family, ..)| *family == name)
        .unwrap_or_else(|| panic!("{name} is not described in FAMILIES"));
    spec(described)
}

/// `source` of a modelled bundle figure, as the API writes
/// `TelemetrySource::Model`.
const MODEL_SOURCE: &str = "model";

/// The family's description as the exposition writes it.
fn spec(family: &Family) -> Spec {
    let (name, help, unit, kind) = *family;
    Spec {
        name,
        help,
        unit: unit.as_str(),
        kind,
    }
}

/// One family's sample lines, written as the resources are gathered.
#[derive(Debug)]
struct Lines {
    /// The name every line starts with (prefix, unit and type suffix).
    sample_name: String,
    kind: Kind,
    text: String,
}

/// The resources' series for one scrape, gathered by
/// [`ResourceSnapshot::gather`] and sent by [`ResourceSnapshot::into_chunks`].
#[derive(Debug, Default)]
pub struct ResourceSnapshot {
    lines: BTreeMap<&'static str, Lines>,
    /// Collection failures by resource, written last.
    failures: BTreeMap<&'static str, usize>,
}

/// The wire name of an enum value (its serde name), as the API writes it.
pub(super) fn wire<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}").to_lowercase(),
    }
}

const CORRIDOR_STATUSES: [CorridorStatus; 6] = [
    CorridorStatus::Pending,
    CorridorStatus::Provisioning,
    CorridorStatus::Active,
    CorridorStatus::Degraded,
    CorridorStatus::Released,
    CorridorStatus::Failed,
];
const LANE_STATES: [LaneState; 4] = [
    LaneState::Up,
    LaneState::Down,
    LaneState::Calibrating,
    LaneState::Degraded,
];
const EYE_MARGINS: [EyeMargin; 3] = [EyeMargin::Ok, EyeMargin::Marginal, EyeMargin::Fail];
const DRIFT_LEVELS: [DriftLevel; 3] = [DriftLevel::Low, DriftLevel::Medium, DriftLevel::High];
const PATH_STATUSES: [PathStatus; 6] = [
    PathStatus::Pending,
    PathStatus::Programming,
    PathStatus::Active,
    PathStatus::Degraded,
    PathStatus::Released,
    PathStatus::Failed,
];
const PORT_LINKS: [PortLink; 3] = [PortLink::Up, PortLink::Down, PortLink::Unknown];

impl Samples for ResourceSnapshot {
    fn write(
        &mut self,
        family: &'static str,
        labels: &[Label<'_>],
        extra: Option<Label<'_>>,
        value: f64,
    ) {
        if let Some(lines) = self.lines(family) {
            write_sample(
                &mut lines.text,
                &lines.sample_name,
                lines.kind,
                labels,
                extra,
                value,
            );
        }
    }
}

impl ResourceSnapshot {
    /// The lines of `family`, started on its first sample.
    fn lines(&mut self, family: &'static str) -> Option<&mut Lines> {
        if !self.lines.contains_key(family) {
            let Some(described) = FAMILIES.iter().find(|(name, ..)| *name == family) else {
                debug_assert!(false, "{family} is not described in FAMILIES");
                return None;
            };
            let spec = spec(described);
            self.lines.insert(
                family,
                Lines {
                    sample_name: spec.sample_name(PREFIX),
                    kind: spec.kind,
                    text: String::new(),
                },
            );
        }
        self.lines.get_mut(family)
    }

    /// Every object's lines of `set`'s families, family by family, in
    /// the objects' order.
    fn append<'a>(
        &mut self,
        set: &FamilySet,
        objects: impl Iterator<Item = &'a ObjectLines> + Clone,
    ) {
        for (index, family) in set.names().enumerate() {
            if let Some(lines) = self.lines(family) {
                let parts = objects.clone().map(|o| o.part(index));
                lines.text.reserve(parts.clone().map(str::len).sum());
                parts.for_each(|part| lines.text.push_str(part));
            }
        }
    }

    fn failed(&mut self, resource: &'static str, error: &(dyn std::error::Error + 'static)) {
        tracing::warn!(
            resource,
            error = %corridor_services::error::error_chain(error),
            "metrics: cannot read the resource; its series are left out of this scrape"
        );
        self.count_failures(resource, 1);
    }

    fn count_failures(&mut self, resource: &'static str, failures: usize) {
        *self.failures.entry(resource).or_default() += failures;
    }

    /// Reads every resource's current state from the services. Corridor
    /// telemetry still unread at `deadline` is left out of this scrape
    /// (and counted as `corridor_telemetry` collection failures), so the
    /// scrape answers within its client's timeout instead of being dropped
    /// whole.
    ///
    /// Every store read is bounded by `deadline` too: a read that has not
    /// answered by then (a replica cut off from etcd waits on it for the
    /// store's whole timeout) is a collection failure of its resource, and
    /// the scrape still answers, with the series that need no store.
    pub async fn gather(
        plane: &ControlPlane,
        rows: &ResourceRows,
        deadline: Instant,
    ) -> ResourceSnapshot {
        let mut snapshot = ResourceSnapshot::default();
        // Each process exports the series of the daemons it runs, so that
        // split daemons scraped side by side give each series once.
        if plane.daemons.runs(RfcDaemon::Corrd) {
            snapshot.gather_corridors(plane, rows, deadline).await;
            snapshot.links(plane);
        }
        if plane.daemons.runs(RfcDaemon::Memqosd) {
            snapshot.gather_bundles(plane, rows, deadline).await;
            snapshot.gather_memory(&plane.ffm.tiers());
        }
        if plane.daemons.runs(RfcDaemon::Fabmand) {
            snapshot.gather_fabric(plane, deadline).await;
        }
        snapshot
    }

    /// Every family in `format`, as chunks to send in order: descriptors
    /// always (a dashboard's query names a family that exists before its
    /// first sample), then the family's samples. A family's lines (up to
    /// megabytes) move into the response as they are, uncopied.
    pub fn into_chunks(mut self, format: Format) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        // Descriptors and the failure counts, sent before the next lines.
        let mut small = String::new();
        for family in FAMILIES {
            let spec = spec(family);
            spec.write_descriptor(&mut small, PREFIX, format);
            if spec.name == "metrics_collection_failures" {
                let sample_name = spec.sample_name(PREFIX);
                for (resource, count) in &self.failures {
                    write_sample(
                        &mut small,
                        &sample_name,
                        spec.kind,
                        &[("resource", resource)],
                        None,
                        *count as f64,
                    );
                }
            } else if let Some(lines) = self.lines.remove(spec.name) {
                chunks.push(Bytes::from(std::mem::take(&mut small)));
                chunks.push(Bytes::from(lines.text));
            }
        }
        chunks.push(Bytes::from(small));
        chunks
    }

    /// Every corridor's lines: those that depend only on the stored
    /// corridor come from `rows` (rendered once per corridor revision), its
    /// latest read-back's figures are written at each scrape.
    async fn gather_corridors(
        &mut self,
        plane: &ControlPlane,
        rows: &ResourceRows,
        deadline: Instant,
    ) {
        let mut projection = rows.corridors.lock().await;
        let corridors = match within(
            deadline,
            plane
                .corridors
                .project(&Caller::system(), &mut projection, render_corridor),
        )
        .await
        {
            Ok(corridors) => corridors,
            Err(error) => return self.failed("corridor", &error),
        };
        drop(projection);
        self.append(FamilySet::corridor(), corridors.iter().map(|c| &c.lines));
        // Telemetry exists only for corridors whose every lane is lit; the
        // service answers NotLit for the others, which is no failure. It
        // comes from each corridor's latest read-back (the reconciler reads
        // every lit corridor each pass), not from the plant: see
        // `TELEMETRY_MAX_AGE`.
        let mut unread = 0;
        for row in &corridors {
            let corridor = &row.corridor;
            if !may_be_lit(corridor) {
                continue;
            }
            // Charging an error interval may write the count to the
            // store: a scrape whose client gives up soon stops reading in
            // time.
            if Instant::now() >= deadline {
                unread += 1;
                continue;
            }
            match plane
                .corridors
                .latest_telemetry(corridor, TELEMETRY_MAX_AGE)
                .await
            {
                Ok(Some(t)) => self.corridor_figures(corridor, &t),
                Ok(None) => unread += 1,
                Err(CorridorError::NotLit { .. }) => {}
                Err(error) => self.failed("corridor", &error),
            }
        }
        if unread > 0 {
            tracing::warn!(
                unread,
                "metrics: corridors without a read-back within the scrape's time budget and {} s; those corridors have no figures in this scrape",
                TELEMETRY_MAX_AGE.as_secs()
            );
            self.count_failures("corridor_telemetry", unread);
        }
    }

    /// λ occupancy: channels held per optical link, from the planner's
    /// cache (the ledger as corrd last read it, plus admissions in flight),
    /// so no store read.
    fn links(&mut self, plane: &ControlPlane) {
        let fabric = plane.corridors.fabric();
        let cache = plane.corridors.cache_snapshot();
        for (index, link) in fabric.links.iter().enumerate() {
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            let id = corridor_planner::LinkId(index);
            let used = cache.occupancy.used(id).count_ones();
            let free = cache.occupancy.free(id).count_ones();
            let labels = [("link", link.id.as_str())];
            self.push("link_wavelengths", &labels, f64::from(used + free));
            self.push("link_wavelengths_held", &labels, f64::from(used));
        }
    }

    /// The figures of `c`'s latest read-back.
    fn corridor_figures(&mut self, c: &Corridor, t: &CorridorTelemetry) {
        let source = t
            .source
            .as_ref()
            .map(wire)
            .unwrap_or_else(|| "model".to_owned());
        let sourced = [("corridor", c.id.as_str()), ("source", &source)];
        self.push("corridor_post_fec_bit_error_ratio", &sourced, t.ber);
        if let Some(pre) = t.pre_fec_ber {
            self.push("corridor_pre_fec_bit_error_ratio", &sourced, pre);
        }
        // The object's eye margin is the reconciler's judgement of the
        // latest read-back; shown only while there is one to judge.
        self.state_set(
            "corridor_eye_margin",
            &sourced,
            "margin",
            &EYE_MARGINS,
            &c.eye_margin,
        );
        self.push("corridor_temperature", &sourced, t.temp_c.get());
        self.push(
            "corridor_energy",
            &sourced,
            t.power_pj_per_bit.get() * 1e-12,
        );
        self.state_set("corridor_drift", &sourced, "level", &DRIFT_LEVELS, &t.drift);
        self.push(
            "corridor_post_fec_bit_errors",
            &sourced,
            t.error_count as f64,
        );
        for lane in &t.lanes {
            let number = lane.lane.to_string();
            let labels = [
                ("corridor", c.id.as_str()),
                ("lane", &number),
                ("source", &source),
            ];
            self.push("lane_post_fec_bit_error_ratio", &labels, lane.ber);
            self.push("lane_pre_fec_bit_error_ratio", &labels, lane.pre_fec_ber);
            self.push(
                "lane_post_fec_bit_error_ratio_is_upper_bound",
                &labels,
                if lane.ber_is_upper_bound { 1.0 } else { 0.0 },
            );
            self.push("lane_temperature", &labels, lane.temp_c.get());
            self.push("lane_drift", &labels, lane.drift_pm * 1e-12);
            if let Some(mw) = lane.heater_mw {
                self.push("lane_heater_power", &labels, mw * 1e-3);
            }
            if let Some(v) = lane.bias_v {
                self.push("lane_bias", &labels, v);
            }
        }
    }

    /// Every bundle's lines: those that depend only on the stored bundle
    /// come from `rows` (rendered once per bundle revision), the modelled
    /// figures are written at each scrape.
    async fn gather_bundles(
        &mut self,
        plane: &ControlPlane,
        rows: &ResourceRows,
        deadline: Instant,
    ) {
        let mut projection = rows.bundles.lock().await;
        let bundles = match within(
            deadline,
            plane
                .ffm
                .project(&Caller::system(), &mut projection, render_bundle),
        )
        .await
        {
            Ok(bundles) => bundles,
            Err(error) => return self.failed("ffm_bundle", &error),
        };
        drop(projection);
        self.append(FamilySet::bundle(), bundles.iter().map(|b| &b.lines));
        let ids: Vec<&str> = bundles.iter().map(|b| b.id.as_str()).collect();
        let figures = plane.ffm.modelled_figures(&ids).await;
        // `none`: no grant the model could evaluate, so its zeros mean
        // nothing and are not exported.
        for (bundle, figures) in bundles.iter().zip(figures) {
            let Some(figures) = figures else { continue };
            let labels = [("bundle", bundle.id.as_str()), ("tier", &bundle.tier)];
            let sourced = Some(("source", MODEL_SOURCE));
            self.push_with(
                "ffm_bundle_achieved_bandwidth",
                &labels,
                sourced,
                figures.achieved_gbs * 1e9,
            );
            self.push_with(
                "ffm_bundle_tail_p99_latency",
                &labels,
                sourced,
                figures.tail_p99_ms * 1e-3,
            );
        }
    }

    fn gather_memory(&mut self, tiers: &MemoryTiers) {
        for d in &tiers.devices {
            let tier = wire(&d.tier);
            let labels = [("device", d.id.as_str()), ("tier", &tier)];
            self.push(
                "memory_device_capacity",
                &labels,
                d.capacity_bytes.get() as f64,
            );
            self.push(
                "memory_device_allocated",
                &labels,
                d.allocated_bytes.get() as f64,
            );
            self.push_with(
                "memory_device_peak_bandwidth",
                &labels,
                Some(("source", &wire(&d.bandwidth_gbs.origin))),
                d.bandwidth_gbs.value * 1e9,
            );
            self.push(
                "memory_device_admission_bandwidth",
                &labels,
                d.admission_gbs.get() * 1e9,
            );
            let admitted = d
                .windows
                .iter()
                .map(|w| w.admitted_gbs.get())
                .fold(0.0, f64::max);
            self.push("memory_device_admitted_bandwidth", &labels, admitted * 1e9);
        }
    }

    async fn gather_fabric(&mut self, plane: &ControlPlane, deadline: Instant) {
        let mut options = ListOptions::default();
        loop {
            let page = match within(deadline, plane.paths.registry().list(&options)).await {
                Ok(page) => page,
                Err(error) => {
                    self.failed("fabric_path", &error);
                    break;
                }
            };
            for path in &page.items {
                self.path(path);
            }
            match page.continue_token {
                Some(token) => options.continue_token = Some(token),
                None => break,
            }
        }
        match within(deadline, plane.paths.ports()).await {
            Ok(ports) => ports.iter().for_each(|p| self.port(p)),
            Err(error) => self.failed("fabric_port", &error),
        }
        let mut options = ListOptions::default();
        loop {
            let page = match within(deadline, plane.devices.list(&options)).await {
                Ok(page) => page,
                Err(error) => return self.failed("fabric_device", &error),
            };
            for device in &page.items {
                self.device(device);
            }
            match page.continue_token {
                Some(token) => options.continue_token = Some(token),
                None => return,
            }
        }
    }

    fn path(&mut self, p: &FabricPath) {
        let labels = [("path", p.id.as_str())];
        self.state_set(
            "fabric_path_status",
            &labels,
            "status",
            &PATH_STATUSES,
            &p.status,
        );
        self.push(
            "fabric_path_guaranteed_bandwidth",
            &[
                ("path", &p.id),
                ("source_device", &p.source_device),
                ("target_device", &p.target_device),
                ("path_type", &wire(&p.path_type)),
            ],
            gbit(p.qos.min_bandwidth_gbps.get()),
        );
        self.push(
            "fabric_path_bandwidth",
            &labels,
            gbit(p.bandwidth_gbps.get()),
        );
    }

    fn port(&mut self, p: &FabricPort) {
        let port = p.port.to_string();
        let labels = [
            ("switch", p.switch_id.as_str()),
            ("port", &port),
            ("attached_to", &p.attached_to),
        ];
        self.push("fabric_port_capacity", &labels, gbit(p.capacity_gbps.get()));
        self.push(
            "fabric_port_admissible_bandwidth",
            &labels,
            gbit(p.admissible_gbps.get()),
        );
        self.push(
            "fabric_port_guaranteed_bandwidth",
            &labels,
            gbit(p.guaranteed_gbps.get()),
        );
        self.push(
            "fabric_port_free_bandwidth",
            &labels,
            gbit(p.free_gbps.get()),
        );
        self.state_set("fabric_port_link", &labels, "link", &PORT_LINKS, &p.link);
    }

    fn device(&mut self, d: &FabricDevice) {
        let device_type = wire(&d.device_type);
        let labels = [("device", d.id.as_str()), ("device_type", &device_type)];
        let status = wire(&d.status);
        for state in ["active", "offline"] {
            self.push_with(
                "fabric_device_status",
                &labels,
                Some(("status", state)),
                if status == state { 1.0 } else { 0.0 },
            );
        }
        self.push(
            "fabric_device_capacity",
            &labels,
            d.capacity_bytes.get() as f64,
        );
        self.push(
            "fabric_device_attested",
            &labels,
            if d.attestation_ticket.is_some() {
                1.0
            } else {
                0.0
            },
        );
    }
}

/// A corridor's lines that depend only on the stored corridor.
fn render_corridor(c: &Corridor) -> CorridorLines {
    let mut r = LinesRenderer::new(FamilySet::corridor());
    let id = [("corridor", c.id.as_str())];
    r.push(
        "corridor",
        &[
            ("corridor", &c.id),
            ("corridor_type", &wire(&c.corridor_type)),
            ("mode", &wire(&c.mode)),
            ("priority", &wire(&c.qos.priority)),
            (
                "security_domain",
                c.security_domain.as_deref().unwrap_or_default(),
            ),
        ],
        1.0,
    );
    r.state_set(
        "corridor_status",
        &id,
        "status",
        &CORRIDOR_STATUSES,
        &c.status,
    );
    r.push("corridor_min_bandwidth", &id, gbit(c.min_gbps.get()));
    if c.assignment.is_some() {
        r.push_with(
            "corridor_achievable_bandwidth",
            &id,
            Some(("source", "model")),
            gbit(c.achievable_gbps.get()),
        );
    }
    for lane in &c.channels {
        // Picometre resolution: the grid's channels are 0.4 nm apart or
        // more, and a label is no place for float noise.
        let lambda = format!("{:.3}", lane.lambda_nm.get());
        let number = lane.lane.to_string();
        let labels = [
            ("corridor", c.id.as_str()),
            ("lane", &number),
            ("lambda_nm", &lambda),
        ];
        r.state_set("lane_state", &labels, "state", &LANE_STATES, &lane.state);
    }
    CorridorLines::new(c, r.finish())
}

/// A bundle's lines that depend only on the stored bundle.
fn render_bundle(b: &FfmBundle) -> BundleLines {
    let mut r = LinesRenderer::new(FamilySet::bundle());
    let tier = wire(&b.latency_class);
    let labels = [("bundle", b.id.as_str()), ("tier", &tier)];
    r.push(
        "ffm_bundle",
        &[
            ("bundle", &b.id),
            ("tier", &tier),
            ("security_domain", &b.security_domain),
            ("host", &b.host),
            ("persistence", &wire(&b.persistence)),
        ],
        1.0,
    );
    r.push("ffm_bundle_size", &labels, b.bytes.get() as f64);
    r.push(
        "ffm_bundle_floor_bandwidth",
        &labels,
        b.bandwidth_floor_gbs.get() * 1e9,
    );
    r.push("ffm_bundle_moved_pages", &labels, b.moved_pages as f64);
    let lines = r.finish();
    BundleLines::new(b, tier, lines)
}

/// Gb/s (the API's unit for links) in bytes per second, the base unit
/// Prometheus asks for.
fn gbit(gbps: f64) -> f64 {
    gbps * 1e9 / 8.0
}

/// A store read of a scrape: failed, or not answered by the deadline.
#[derive(Debug, thiserror::Error)]
enum ScrapeRead<E: std::error::Error + 'static> {
    #[error(transparent)]
    Failed(E),
    #[error("not answered within the scrape's time budget")]
    Late,
}

/// `read`, unless `deadline` passes first.
async fn within<T, E: std::error::Error + 'static>(
    deadline: Instant,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ScrapeRead<E>> {
    match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), read).await {
        Ok(result) => result.map_err(ScrapeRead::Failed),
        Err(_) => Err(ScrapeRead::Late),
    }
}

/// Corridors whose lanes may be lit: the service decides (a held one
/// answers NotLit), this only skips the reads that cannot succeed.
fn may_be_lit(c: &Corridor) -> bool {
    matches!(c.status, CorridorStatus::Active | CorridorStatus::Degraded) && c.assignment.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(snapshot: ResourceSnapshot, format: Format) -> String {
        let bytes: Vec<u8> = snapshot.into_chunks(format).concat();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn every_family_is_described_once() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|(n, ..)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a family is described twice");
    }

    #[test]
    fn the_model_source_is_the_apis_name_for_it() {
        use corridor_model::ffm::TelemetrySource;
        assert_eq!(MODEL_SOURCE, wire(&TelemetrySource::Model));
    }

    #[test]
    fn a_value_that_is_no_figure_is_left_out() {
        let mut snapshot = ResourceSnapshot::default();
        snapshot.push("corridor_temperature", &[], f64::NAN);
        let text = joined(snapshot, Format::OpenMetrics);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("corridor_corridor_temperature_celsius")),
            "{text}"
        );
    }

    #[test]
    fn failures_are_counted_per_resource() {
        let mut snapshot = ResourceSnapshot::default();
        snapshot.count_failures("corridor_telemetry", 3);
        snapshot.count_failures("corridor_telemetry", 2);
        let text = joined(snapshot, Format::PrometheusText);
        assert!(
            text.contains(
                "corridor_metrics_collection_failures{resource=\"corridor_telemetry\"} 5.0\n"
            ),
            "{text}"
        );
    }
}

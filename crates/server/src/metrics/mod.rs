//! Prometheus metrics.
//!
//! Two kinds of series:
//!
//! - events counted as they happen, held in [`Metrics`] for the life of the
//!   process: HTTP requests by route and status, request latency, admission
//!   outcomes and latency, state-store calls and transaction latency, and
//!   the process itself ([`process`]);
//! - the resources' current state, read from the services at scrape time
//!   into a [`resources::ResourceSnapshot`] and encoded by it as a
//!   collector: corridors and their lanes, memory bundles and devices,
//!   fabric paths, ports and devices. The metrics module caches nothing
//!   between scrapes; a corridor's optical figures are its latest read-back
//!   (corrd's reconciler takes one of every lit corridor each second), at
//!   most [`resources::TELEMETRY_MAX_AGE`] old.
//!
//! Both formats Prometheus reads are served: OpenMetrics 1.0 to a client
//! that asks for it (Prometheus does), the 0.0.4 text format otherwise
//! (`promtool check metrics`, curl). They differ in how a counter family is
//! named, so one text cannot be both.
//!
//! The request and admission latency histograms carry OpenMetrics
//! exemplars: each bucket keeps the latest observation that fell in it with
//! the `trace_id` of the request that made it, so a slow bucket on a
//! dashboard leads to a trace of one such request. Only requests with a
//! sampled OpenTelemetry trace (corridord exporting over OTLP) leave one;
//! the 0.0.4 text format has no exemplars and shows none.

pub mod exposition;
pub mod object_lines;
pub mod process;
pub mod resources;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub use object_lines::ResourceRows;
pub use resources::ResourceSnapshot;

/// Every family name starts with this (`corridor_…`).
pub const PREFIX: &str = "corridor";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// An exemplar's labels: the trace of the request the observation came
/// from (32 lowercase hex digits, the W3C trace id).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceLabels {
    pub trace_id: String,
}

/// A latency histogram whose buckets name the trace of their latest
/// observation.
pub type TracedHistogram = HistogramWithExemplars<TraceLabels>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOpLabels {
    /// `txn`, `range`, `lease_grant`, ...
    pub op: &'static str,
    /// `ok`, `compare_failed` or `error`.
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreTxnLabels {
    /// `ok`, `compare_failed` or `error`.
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    /// `corridor`, `ffm_bundle` or `fabric_path`.
    pub resource: &'static str,
    /// See [`admission_outcome`].
    pub outcome: &'static str,
}

/// The routes whose POST asks for capacity, and the resource each grants.
/// Admission is counted at the HTTP layer, by the status the service's
/// decision became: every outcome (granted, refused for capacity, invalid,
/// denied, failed) passes through here, and the services stay free of
/// metrics plumbing.
const ADMISSION_ROUTES: [(&str, &str); 3] = [
    ("/v1/corridors", "corridor"),
    ("/v1/ffm/alloc", "ffm_bundle"),
    ("/v1/fabman/paths", "fabric_path"),
];

/// The outcome of an admission request, from its status: `granted` (2xx),
/// `refused` (409: no capacity, no feasible path, contention),
/// `invalid` (400, 413, 415, 422), `denied` (401, 403, 404), `unavailable`
/// (503: a switch or the store did not answer), `error` (other 5xx) and
/// `other`.
pub fn admission_outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "granted",
        409 => "refused",
        400 | 413 | 415 | 422 => "invalid",
        401 | 403 | 404 => "denied",
        503 => "unavailable",
        500..=599 => "error",
        _ => "other",
    }
}

/// The embedded store's files, sized by a `stat` at scrape time (nothing
/// is read). The log is preallocated in segments, so its size is the space
/// it holds on disk, not the records pending in it.
#[derive(Debug)]
struct StoreFiles(Arc<std::sync::OnceLock<std::path::PathBuf>>);

impl prometheus_client::collector::Collector for StoreFiles {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::gauge::ConstGauge;
        let Some(store) = self.0.get() else {
            return Ok(());
        };
        let [wal, wal2] = corridor_store::wal_paths(store);
        let [events, events2] = corridor_store::event_log_paths(store);
        let files = [
            ("store", store.clone()),
            ("wal", wal),
            ("wal2", wal2),
            ("events", events),
            ("events2", events2),
        ];
        let mut family = encoder.encode_descriptor(
            "store_file_size",
            "On-disk size of the embedded store's files: the redb database (store), its two write-ahead logs (wal, wal2; a checkpoint switches from one to the other; preallocated in segments) and the two files of its event log (events, events2; compaction empties one and appends there)",
            Some(&Unit::Bytes),
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (file, path) in files {
            // A file that cannot be read has no size to show.
            if let Ok(meta) = std::fs::metadata(&path) {
                let labels = [("file", file)];
                ConstGauge::new(meta.len() as f64).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The share of its client's scrape timeout a scrape may spend reading the
/// resources; the rest is for encoding and the way back.
const BUDGET_SHARE: f64 = 0.8;

/// Prometheus's default scrape timeout, for clients that do not say theirs.
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a scrape may spend reading the resources, from the timeout
/// Prometheus sends in `X-Prometheus-Scrape-Timeout-Seconds` (10 s, its
/// default, when absent or unreadable).
pub fn scrape_budget(timeout_header: Option<&str>) -> Duration {
    let timeout = timeout_header
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
        .and_then(|t| Duration::try_from_secs_f64(t).ok())
        .unwrap_or(DEFAULT_SCRAPE_TIMEOUT);
    timeout.mul_f64(BUDGET_SHARE)
}

/// The text format a scrape receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// Prometheus text 0.0.4 (`text/plain`).
    PrometheusText,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, else the 0.0.4 text
    /// format every Prometheus tool reads. (Prometheus ranks OpenMetrics
    /// first in its `Accept`; weights are not compared beyond that.)
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept)
                if accept.split(',').any(|part| {
                    let mut params = part.split(';');
                    let essence = params.next().unwrap_or("").trim();
                    let refused = params.any(|p| {
                        let p = p.trim().replace(' ', "");
                        p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
                    });
                    essence.eq_ignore_ascii_case("application/openmetrics-text") && !refused
                }) =>
            {
                Format::OpenMetrics
            }
            _ => Format::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// Every event metric corridord exports, registered once at start.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: Family<RouteLabels, TracedHistogram>,
    pub store_ops: Family<StoreOpLabels, Counter>,
    pub store_txn_duration: Family<StoreTxnLabels, Histogram>,
    pub admissions: Family<AdmissionLabels, Counter>,
    pub admission_duration: Family<AdmissionLabels, TracedHistogram>,
    /// 1 while this replica runs the cluster's singleton work.
    pub leader: Gauge,
    /// The embedded store's file, once the daemon opened one (none on etcd).
    store_file: Arc<std::sync::OnceLock<std::path::PathBuf>>,
    /// Resource lines kept between scrapes.
    pub resource_rows: ResourceRows,
}

/// 50 µs .. ~3.3 s: loopback reads sit at the low end, a corridor grant
/// that lights and reads back lanes or an FM API programming at the top.
fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.00005, 2.0, 17)
}

/// The request latency histograms: the same buckets, with exemplars.
fn traced_latency_histogram() -> TracedHistogram {
    TracedHistogram::new(latency_buckets())
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix(PREFIX);
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by method, matched route and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, TracedHistogram>::new_with_constructor(traced_latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from request received to response headers sent, by matched route (watches are not timed)",
            Unit::Seconds,
            http_duration.clone(),
        );
        let store_ops = Family::<StoreOpLabels, Counter>::default();
        registry.register(
            "store_operations",
            "State-store calls by operation and result",
            store_ops.clone(),
        );
        let store_txn_duration =
            Family::<StoreTxnLabels, Histogram>::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "store_transaction_duration",
            "State-store transaction latency (every kind: plain, with a new lease, then revoking one), from the call to its durable commit (or refusal), by result",
            Unit::Seconds,
            store_txn_duration.clone(),
        );
        let admissions = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "admissions",
            "Requests for capacity (corridor grants, memory bundle allocations, fabric paths) by resource and outcome (granted, refused, invalid, denied, unavailable, error)",
            admissions.clone(),
        );
        let admission_duration = Family::<AdmissionLabels, TracedHistogram>::new_with_constructor(
            traced_latency_histogram,
        );
        registry.register_with_unit(
            "admission_duration",
            "Time to decide a request for capacity, grant and bring-up included, by resource and outcome",
            Unit::Seconds,
            admission_duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica leads: it runs the work one replica does for the whole control plane (corrd's reconciler, heliopassd's tracking, fabmand's path reconciler, attestd's renewals); the embedded store's one process always leads",
            leader.clone(),
        );
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        let store_file = Arc::new(std::sync::OnceLock::new());
        registry.register_collector(Box::new(StoreFiles(Arc::clone(&store_file))));
        Arc::new(Self {
            registry,
            http_requests,
            http_duration,
            store_ops,
            store_txn_duration,
            admissions,
            admission_duration,
            leader,
            store_file,
            resource_rows: ResourceRows::default(),
        })
    }

    /// Exports the on-disk size of the embedded store at `path` and its
    /// write-ahead log. Set once, when the daemon opens the store.
    pub fn watch_store_file(&self, path: std::path::PathBuf) {
        let _ = self.store_file.set(path);
    }

    /// Counts a request and times it; `trace_id` (the request's sampled
    /// trace, if any) becomes the exemplar of the buckets it lands in.
    pub fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
        trace_id: Option<&str>,
    ) {
        let exemplar = || {
            trace_id.map(|trace_id| TraceLabels {
                trace_id: trace_id.to_owned(),
            })
        };
        // When the exemplar was taken: OpenMetrics lets a scraper tell an
        // exemplar from the last minute from one of last week.
        let now = trace_id.map(|_| std::time::SystemTime::now());
        self.http_requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64(), exemplar(), now);
        if method == "POST"
            && let Some((_, resource)) = ADMISSION_ROUTES.iter().find(|(r, _)| *r == route)
        {
            let labels = AdmissionLabels {
                resource,
                outcome: admission_outcome(status),
            };
            self.admissions.get_or_create(&labels).inc();
            self.admission_duration.get_or_create(&labels).observe(
                elapsed.as_secs_f64(),
                exemplar(),
                now,
            );
        }
    }

    pub fn observe_store(&self, op: &'static str, result: &'static str) {
        self.store_ops
            .get_or_create(&StoreOpLabels { op, result })
            .inc();
    }

    pub fn observe_store_txn(&self, result: &'static str, elapsed: Duration) {
        self.store_txn_duration
            .get_or_create(&StoreTxnLabels { result })
            .observe(elapsed.as_secs_f64());
    }

    /// The event metrics and `resources` in `format`.
    /// The exposition as chunks to send in order: the event metrics, the
    /// resources' families (moved, not copied: a loaded scrape is ~9 MB)
    /// and, in OpenMetrics, the end marker.
    pub fn encode_chunks(&self, format: Format, resources: ResourceSnapshot) -> Vec<Bytes> {
        let mut text = String::with_capacity(16 * 1024);
        let written = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode_registry(&mut text, &self.registry)
            }
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            }
        };
        written.expect("writing to a String cannot fail");
        let mut chunks = vec![Bytes::from(text)];
        chunks.extend(resources.into_chunks(format));
        if format == Format::OpenMetrics {
            let mut eof = String::new();
            prometheus_client::encoding::text::encode_eof(&mut eof)
                .expect("writing to a String cannot fail");
            chunks.push(Bytes::from(eof));
        }
        coalesce(chunks)
    }
}

/// Chunks below this size are copied together, so that a body is sent in
/// few writes: about 90 small descriptor chunks cost a 114 kB scrape of an
/// empty control plane 1.5 ms more than one body did. Larger ones (a
/// family's lines with many resources) move through as they are.
const COPY_BELOW: usize = 64 * 1024;

/// `chunks` with the small ones joined, in order.
fn coalesce(chunks: Vec<Bytes>) -> Vec<Bytes> {
    let mut joined = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for chunk in chunks {
        if chunk.len() >= COPY_BELOW {
            if !pending.is_empty() {
                joined.push(Bytes::from(std::mem::take(&mut pending)));
            }
            joined.push(chunk);
        } else {
            pending.extend_from_slice(&chunk);
            if pending.len() >= COPY_BELOW {
                joined.push(Bytes::from(std::mem::take(&mut pending)));
            }
        }
    }
    if !pending.is_empty() {
        joined.push(Bytes::from(pending));
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition of `metrics` without resources, as one text.
    fn encode(metrics: &Metrics, format: Format) -> String {
        let chunks = metrics.encode_chunks(format, ResourceSnapshot::default());
        String::from_utf8(chunks.concat()).expect("the exposition is written as UTF-8")
    }

    #[test]
    fn small_chunks_are_joined_and_large_ones_pass_through_in_order() {
        let big = Bytes::from(vec![b'b'; COPY_BELOW]);
        let chunks = vec![
            Bytes::from_static(b"a1"),
            Bytes::from_static(b"a2"),
            big.clone(),
            Bytes::from_static(b"c"),
        ];
        let joined = coalesce(chunks.clone());
        assert_eq!(joined.len(), 3);
        assert_eq!(joined[0], Bytes::from_static(b"a1a2"));
        assert_eq!(joined[1].as_ptr(), big.as_ptr(), "moved, not copied");
        assert_eq!(joined.concat(), chunks.concat());
        assert!(coalesce(Vec::new()).is_empty());
    }

    #[test]
    fn exposition_has_requests_and_process_metrics() {
        let metrics = Metrics::new();
        metrics.observe_request(
            "GET",
            "/v1/fabman/devices",
            200,
            Duration::from_millis(2),
            None,
        );
        metrics.observe_store("txn", "ok");
        let text = encode(&metrics, Format::OpenMetrics);
        assert!(
            text.contains(
                "corridor_http_requests_total{method=\"GET\",route=\"/v1/fabman/devices\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("corridor_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("corridor_store_operations_total{op=\"txn\",result=\"ok\"} 1"));
        assert!(
            text.contains("corridor_process_resident_memory_bytes"),
            "{text}"
        );
        assert!(
            text.contains("corridor_process_cpu_seconds_total"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }

    #[test]
    fn the_text_format_names_counters_with_their_suffix() {
        let metrics = Metrics::new();
        metrics.observe_store("txn", "ok");
        let text = encode(&metrics, Format::PrometheusText);
        assert!(
            text.contains("# TYPE corridor_store_operations_total counter"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn admissions_are_counted_by_resource_and_outcome() {
        let metrics = Metrics::new();
        metrics.observe_request("POST", "/v1/corridors", 201, Duration::from_millis(3), None);
        metrics.observe_request("POST", "/v1/corridors", 409, Duration::from_millis(1), None);
        metrics.observe_request("GET", "/v1/corridors", 200, Duration::from_millis(1), None);
        metrics.observe_request("POST", "/v1/ffm/alloc", 422, Duration::from_millis(1), None);
        let text = encode(&metrics, Format::OpenMetrics);
        for line in [
            "corridor_admissions_total{resource=\"corridor\",outcome=\"granted\"} 1",
            "corridor_admissions_total{resource=\"corridor\",outcome=\"refused\"} 1",
            "corridor_admissions_total{resource=\"ffm_bundle\",outcome=\"invalid\"} 1",
            "corridor_admission_duration_seconds_count{resource=\"corridor\",outcome=\"granted\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        // A list is no admission.
        assert_eq!(
            text.matches("corridor_admissions_total{").count(),
            3,
            "{text}"
        );
    }

    #[test]
    fn latency_buckets_name_the_request_trace_in_openmetrics_only() {
        let metrics = Metrics::new();
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        metrics.observe_request(
            "POST",
            "/v1/corridors",
            201,
            Duration::from_millis(3),
            Some(trace),
        );
        // Untraced: counted, but leaves no exemplar of its own.
        metrics.observe_request(
            "GET",
            "/v1/fabman/devices",
            200,
            Duration::from_millis(3),
            None,
        );
        let text = encode(&metrics, Format::OpenMetrics);
        let exemplar = format!(" # {{trace_id=\"{trace}\"}} 0.003 ");
        // The encoder writes `le` first among a bucket's labels.
        for (bucket, labels) in [
            (
                "corridor_http_request_duration_seconds_bucket{",
                "route=\"/v1/corridors\"}",
            ),
            (
                "corridor_admission_duration_seconds_bucket{",
                "resource=\"corridor\",outcome=\"granted\"}",
            ),
        ] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(bucket) && l.contains(labels) && l.contains(&exemplar)),
                "{bucket}…{labels} with {exemplar} missing:\n{text}"
            );
        }
        assert_eq!(text.matches(" # {").count(), 2, "{text}");
        let plain = encode(&metrics, Format::PrometheusText);
        assert!(!plain.contains(trace), "{plain}");
    }

    #[test]
    fn the_budget_follows_the_scrape_timeout() {
        assert_eq!(scrape_budget(Some("2.5")), Duration::from_secs(2));
        assert_eq!(scrape_budget(None), Duration::from_secs(8));
        assert_eq!(scrape_budget(Some("soon")), Duration::from_secs(8));
        assert_eq!(scrape_budget(Some("-1")), Duration::from_secs(8));
    }

    #[test]
    fn negotiation_serves_openmetrics_only_to_who_asks() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::PrometheusText);
        assert_eq!(Format::negotiate(Some("*/*")), Format::PrometheusText);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=0")),
            Format::PrometheusText
        );
    }
}

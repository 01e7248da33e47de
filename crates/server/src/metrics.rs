//! Prometheus metrics: HTTP requests by route and status, request latency,
//! state-store transactions and the process itself.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOpLabels {
    /// `txn`, `range`, `lease_grant`, ...
    pub op: &'static str,
    /// `ok`, `compare_failed` or `error`.
    pub result: &'static str,
}

/// Every metric corridord exports, registered once at start.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub store_ops: Family<StoreOpLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("corridor");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by method, matched route and status",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 50 µs .. ~3.3 s: loopback reads sit at the low end, long
            // operations and watches are not timed here.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.00005, 2.0, 17,
            ))
        });
        registry.register_with_unit(
            "http_request_duration",
            "Time from request received to response headers sent",
            Unit::Seconds,
            http_duration.clone(),
        );
        let store_ops = Family::<StoreOpLabels, Counter>::default();
        registry.register(
            "store_operations",
            "State-store calls by operation and result",
            store_ops.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector::new()));
        Arc::new(Self {
            registry,
            http_requests,
            http_duration,
            store_ops,
        })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
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
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_store(&self, op: &'static str, result: &'static str) {
        self.store_ops
            .get_or_create(&StoreOpLabels { op, result })
            .inc();
    }

    /// The text exposition format (OpenMetrics 1.0, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Reads `/proc/self` at scrape time, so the figures are always current and
/// cost nothing between scrapes.
#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: f64,
    ticks_per_second: f64,
    page_size: f64,
}

impl ProcessCollector {
    fn new() -> Self {
        // SAFETY: sysconf only reads a configuration value; it has no
        // preconditions and touches no memory of ours.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        Self {
            start_time_seconds: start,
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as f64 } else { 4096.0 },
        }
    }
}

/// The fields of `/proc/self/stat` we export.
struct ProcStat {
    cpu_ticks: f64,
    threads: i64,
    vsize_bytes: f64,
    rss_pages: f64,
}

fn read_proc_stat() -> Option<ProcStat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces and parentheses; fields after the
    // last ')' are positional (proc(5): utime is field 14, stime 15,
    // num_threads 20, vsize 23, rss 24; field 3 is the first after ')').
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    Some(ProcStat {
        cpu_ticks: field(14)? + field(15)?,
        threads: field(20)? as i64,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

fn open_fds() -> Option<i64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = |encoder: &mut DescriptorEncoder,
                     name: &str,
                     help: &str,
                     unit: Option<&Unit>,
                     value: f64|
         -> Result<(), std::fmt::Error> {
            let metric = ConstGauge::new(value);
            let metric_encoder =
                encoder.encode_descriptor(name, help, unit, metric.metric_type())?;
            metric.encode(metric_encoder)
        };
        gauge(
            &mut encoder,
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Some(&Unit::Seconds),
            self.start_time_seconds,
        )?;
        if let Some(stat) = read_proc_stat() {
            let cpu = ConstCounter::new(stat.cpu_ticks / self.ticks_per_second);
            let metric_encoder = encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                cpu.metric_type(),
            )?;
            cpu.encode(metric_encoder)?;
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident set size",
                Some(&Unit::Bytes),
                stat.rss_pages * self.page_size,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory",
                "Virtual memory size",
                Some(&Unit::Bytes),
                stat.vsize_bytes,
            )?;
            gauge(
                &mut encoder,
                "process_threads",
                "OS threads in the process",
                None,
                stat.threads as f64,
            )?;
        }
        if let Some(fds) = open_fds() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors",
                None,
                fds as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_requests_and_process_metrics() {
        let metrics = Metrics::new();
        metrics.observe_request("GET", "/v1/fabman/devices", 200, Duration::from_millis(2));
        metrics.observe_store("txn", "ok");
        let text = metrics.encode();
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
    }
}

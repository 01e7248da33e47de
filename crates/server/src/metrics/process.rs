//! The process itself, read from `/proc/self` at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Reads `/proc/self` at scrape time, so the figures are always current and
/// cost nothing between scrapes.
#[derive(Debug)]
pub(super) struct ProcessCollector {
    start_time_seconds: f64,
    ticks_per_second: f64,
    page_size: f64,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
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
    // Since Linux 6.2 the size of /proc/self/fd is the number of open
    // descriptors: one stat instead of listing them (every memory bundle
    // holds a memfd, so with 10,000 bundles the listing was a visible part
    // of a scrape). Older kernels report 0 there; they are counted.
    match std::fs::metadata("/proc/self/fd") {
        Ok(meta) if meta.len() > 0 => i64::try_from(meta.len()).ok(),
        _ => Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64),
    }
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

//! `GET /metrics` on a loaded control plane against the same scrape on an
//! empty one, in one run.
//!
//! Both sides run a real release `corridord` child (`--insecure-dev`, plain
//! HTTP on loopback) on the same generated topology
//! ([`corridor_hal::topology::generated_twin`]: the default rack grown by
//! sleds until it carries the corridors asked for). The empty side scrapes
//! a fresh control plane; the loaded side first grants
//! `METRICS_BENCH_CORRIDORS` one-lane corridors (default 1,000; lit, half
//! over SiN waveguides, half over fibre) and allocates
//! `METRICS_BENCH_BUNDLES` 4 KiB memory bundles (default 10,000), then
//! scrapes. The two sides run one after the other, so they never share the
//! machine with each other.
//!
//! Each scrape asks as Prometheus does (`Accept: application/openmetrics-text`,
//! a 10 s scrape timeout) and is timed from the request to the last byte
//! of the body. Every loaded scrape must show every corridor, every bundle
//! and every lit corridor's telemetry, and report no collection failure:
//! a scrape that is fast because it left series out would be no figure.
//!
//! Before it scrapes, the loaded side waits until heliopassd holds every
//! lit corridor's rings (`RingLock=True` on each): the first calibration of
//! each of the rack's lit ports is a one-off burst (a second or more of CPU
//! per 16 ports), and the target is about a control plane at rest. How
//! long that took is printed.
//!
//! Reported per side: p50 / p99 / max scrape time, bytes, series (sample
//! lines), corridord's own CPU time per scrape and its CPU use over
//! `METRICS_BENCH_IDLE_SECONDS` (default 10) idle seconds before the
//! scrapes (its reconcilers and heliopassd's loops, which a scrape
//! competes with), from `/proc`, against the target of
//! 50 ms for 1,000 corridors and 10,000 bundles.
//!
//! `cargo bench -p corridor-server --bench metrics_scrape` (part of
//! `make bench`). `METRICS_BENCH_BASELINE=<corridord binary>` adds a
//! loaded side run on that binary (an earlier build) before this build's,
//! so a change is measured beside its baseline in one run. `METRICS_BENCH_SCRAPES` sets the scrapes per side
//! (default 40), `METRICS_BENCH_SECONDS` bounds the time spent scraping per
//! side (default 15).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::Server;

/// Clients granting corridors and allocating bundles while the loaded side
/// fills; the fill is not measured.
const FILL_CLIENTS: usize = 16;

/// What Prometheus 2.x sends.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The target the scrape is held to at 1,000 corridors and 10,000 bundles.
const TARGET: Duration = Duration::from_millis(50);

const BUNDLE: &str = r#"{"bytes":4096,"latency_class":"T1","bandwidth_floor_GBs":0,"persistence":"none","shareable":true,"security_domain":"bench"}"#;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A one-lane corridor on grid channel `n` of the twin's 100 GHz grid;
/// `waveguide` picks the SiN links (75 mm reach), else the fibre ones.
fn corridor(n: i32, waveguide: bool) -> String {
    let lambda = 299_792_458.0 / ((193_100.0 + f64::from(n) * 100.0) * 1e9) * 1e9;
    json!({
        "corridor_type": "SiCorridor",
        "lanes": 1,
        "lambda_nm": [lambda],
        "min_gbps": 20,
        "latency_budget_ns": 1000,
        "reach_mm": if waveguide { 75 } else { 5000 },
        "mode": if waveguide { "waveguide" } else { "fiber" },
        "qos": {"pfc": false, "priority": "silver"},
        "attestation_required": false
    })
    .to_string()
}

/// Grants `count` lit one-lane corridors. A link carries a channel once,
/// so a refused channel (409) is retried on the next of the grid's 16.
async fn fill_corridors(http: &reqwest::Client, base: &str, count: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for client in 0..FILL_CLIENTS {
        let (http, base) = (http.clone(), base.to_owned());
        let share = count / FILL_CLIENTS + usize::from(client < count % FILL_CLIENTS);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(share);
            let mut channel = client as i32;
            let mut refusals = 0;
            while ids.len() < share {
                let waveguide = (client + ids.len()) % 2 == 0;
                let response = http
                    .post(format!("{base}/v1/corridors"))
                    .header("content-type", "application/json")
                    .body(corridor(-8 + channel.rem_euclid(16), waveguide))
                    .send()
                    .await
                    .expect("POST /v1/corridors");
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("JSON");
                match status {
                    201 => {
                        assert_eq!(body["status"], "active", "not lit: {body}");
                        ids.push(body["id"].as_str().expect("id").to_owned());
                        refusals = 0;
                    }
                    409 | 503 => {
                        refusals += 1;
                        assert!(
                            refusals <= 64,
                            "{count} corridors do not fit the generated rack: {status} {body}"
                        );
                        channel += 1;
                    }
                    _ => panic!("POST /v1/corridors: {status} {body}"),
                }
            }
            ids
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await.expect("filling client"));
    }
    ids
}

async fn fill_bundles(http: &reqwest::Client, base: &str, count: usize) {
    let mut tasks = Vec::new();
    for client in 0..FILL_CLIENTS {
        let (http, base) = (http.clone(), base.to_owned());
        let share = count / FILL_CLIENTS + usize::from(client < count % FILL_CLIENTS);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let response = http
                    .post(format!("{base}/v1/ffm/alloc"))
                    .header("content-type", "application/json")
                    .body(BUNDLE)
                    .send()
                    .await
                    .expect("POST /v1/ffm/alloc");
                let status = response.status().as_u16();
                let body = response.text().await.expect("body");
                assert_eq!(status, 201, "POST /v1/ffm/alloc: {body}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("filling client");
    }
}

/// How long heliopassd may take to calibrate and lock every lit port.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);

/// Corridors whose `RingLock` condition is `True` (heliopassd calibrated
/// their ports and holds every ring on its lane), over every page of
/// `GET /v1/corridors`.
async fn ring_locked(http: &reqwest::Client, base: &str) -> usize {
    let mut locked = 0;
    let mut next = Some(format!("{base}/v1/corridors?limit=1000"));
    while let Some(url) = next.take() {
        let response = http.get(&url).send().await.expect("GET /v1/corridors");
        assert_eq!(response.status().as_u16(), 200, "GET /v1/corridors");
        next = response
            .headers()
            .get("x-continue")
            .and_then(|token| token.to_str().ok())
            .map(|token| format!("{base}/v1/corridors?limit=1000&continue={token}"));
        let page: Vec<Value> = response.json().await.expect("a corridor list");
        locked += page
            .iter()
            .filter(|corridor| {
                corridor["conditions"].as_array().is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c["type"] == "RingLock" && c["status"] == "True")
                })
            })
            .count();
    }
    locked
}

/// Waits until heliopassd has taken over every one of the `corridors` lit
/// corridors (`RingLock=True`): its first calibration of each lit port is a
/// one-off burst of CPU, and a control plane at rest is what the target is
/// about. Answers how long that took, or how many were locked when
/// [`SETTLE_LIMIT`] ran out.
/// Waits until the history directory holds at least `objects` segment
/// files; how long that took, or how many there were at the limit.
async fn wait_for_history(dir: &std::path::Path, objects: usize) -> Result<Duration, usize> {
    let started = Instant::now();
    let count = || -> usize {
        let Ok(spans) = std::fs::read_dir(dir) else {
            return 0;
        };
        spans
            .flatten()
            .filter_map(|span| std::fs::read_dir(span.path()).ok())
            .map(|segments| segments.count())
            .sum()
    };
    loop {
        let written = count();
        if written >= objects {
            // The pass writes its files one by one: let it finish.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(started.elapsed());
        }
        if started.elapsed() > SETTLE_LIMIT {
            return Err(written);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn settle(http: &reqwest::Client, base: &str, corridors: usize) -> Result<Duration, usize> {
    let started = Instant::now();
    loop {
        let locked = ring_locked(http, base).await;
        if locked >= corridors {
            return Ok(started.elapsed());
        }
        if started.elapsed() > SETTLE_LIMIT {
            return Err(locked);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sample lines of an exposition (neither comments nor `# EOF`).
fn series(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// Sample lines of the family whose sample name is `name` (exactly).
fn count(text: &str, name: &str) -> usize {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .count()
}

/// What one side measured.
struct Side {
    label: String,
    times: Vec<Duration>,
    bytes: usize,
    series: usize,
    /// corridord's CPU time over the scrapes divided by their number: all
    /// its threads, so its background work in that window is included.
    cpu_per_scrape: Option<Duration>,
    /// corridord's CPU use with nobody scraping (its reconcilers and
    /// heliopassd's loops), as a share of one core: what a scrape competes
    /// with on this machine.
    idle_cpu_share: Option<f64>,
    problems: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Scrapes `server` up to `scrapes` times within `budget`; `expect`
/// checks each scrape's text and names what is missing.
async fn scrape(
    label: String,
    server: &Server,
    http: &reqwest::Client,
    scrapes: usize,
    budget: Duration,
    expect: impl Fn(&str) -> Vec<String>,
) -> Side {
    let url = format!("http://{}/metrics", server.addr);
    // One unmeasured scrape: connection set-up, and the first reads of
    // state that later scrapes find warm.
    let _ = http.get(&url).header("accept", ACCEPT).send().await;
    // Long enough to average over heliopassd's passes and corrd's reconciles
    // (a second each), and for what a settle leaves behind to finish.
    let idle = Duration::from_secs(env("METRICS_BENCH_IDLE_SECONDS", 10));
    let idle_before = server.cpu_seconds();
    tokio::time::sleep(idle).await;
    let idle_cpu_share = match (idle_before, server.cpu_seconds()) {
        (Some(before), Some(after)) => Some((after - before) / idle.as_secs_f64()),
        _ => None,
    };
    let cpu_before = server.cpu_seconds();
    let deadline = Instant::now() + budget;
    let mut side = Side {
        label,
        times: Vec::with_capacity(scrapes),
        bytes: 0,
        series: 0,
        cpu_per_scrape: None,
        idle_cpu_share,
        problems: Vec::new(),
    };
    while side.times.len() < scrapes && Instant::now() < deadline {
        let started = Instant::now();
        let response = http
            .get(&url)
            .header("accept", ACCEPT)
            .header("x-prometheus-scrape-timeout-seconds", "10")
            .send()
            .await
            .expect("GET /metrics");
        let status = response.status().as_u16();
        let text = response.text().await.expect("scrape body");
        side.times.push(started.elapsed());
        assert_eq!(status, 200, "{text}");
        side.bytes = text.len();
        side.series = series(&text);
        if side.problems.is_empty() {
            side.problems = expect(&text);
        }
    }
    if let (Some(before), Some(after)) = (cpu_before, server.cpu_seconds())
        && !side.times.is_empty()
    {
        // No share of it can be subtracted as "background": heliopassd's
        // loops catch up with the simulated time they were not given, so
        // what they use stretches into whatever the scrapes leave.
        side.cpu_per_scrape = Some(Duration::from_secs_f64(
            (after - before) / side.times.len() as f64,
        ));
    }
    side.times.sort_unstable();
    side
}

/// Fills `server` with `corridors` lit corridors and `bundles` bundles,
/// then scrapes it; every scrape must hold them all, with no collection
/// failure.
async fn loaded_side(
    label: String,
    server: &Server,
    http: &reqwest::Client,
    corridors: usize,
    bundles: usize,
    scrapes: usize,
    budget: Duration,
) -> Side {
    let base = format!("http://{}", server.addr);
    support::wait_ready(http, &base, Duration::from_secs(60)).await;
    let started = Instant::now();
    let granted = fill_corridors(http, &base, corridors).await;
    let corridor_fill = started.elapsed();
    let started = Instant::now();
    fill_bundles(http, &base, bundles).await;
    let bundle_fill = started.elapsed();
    println!(
        "{label}: filled {} corridors in {:.1} s, {bundles} bundles in {:.1} s",
        granted.len(),
        corridor_fill.as_secs_f64(),
        bundle_fill.as_secs_f64()
    );
    match settle(http, &base, granted.len()).await {
        Ok(took) => println!(
            "{label}: every lit corridor RingLock=True {:.1} s after the fill",
            took.as_secs_f64()
        ),
        Err(locked) => println!(
            "{label}: only {locked} of {} corridors RingLock=True after {} s; scraping anyway",
            granted.len(),
            SETTLE_LIMIT.as_secs()
        ),
    }
    // The history's first pass after the fill creates a segment file per
    // corridor and bundle (11,000 file creations, seconds of CPU, and
    // slower still right after another side deleted as many): a one-off
    // like the first calibration, so the measurement starts after it.
    let history = server.state.path().join(corridor_server::HISTORY_DIR);
    let objects = granted.len() + bundles;
    match wait_for_history(&history, objects).await {
        Ok(took) => println!(
            "{label}: the history's first pass wrote {objects} segments {:.1} s after the settle",
            took.as_secs_f64()
        ),
        Err(written) => println!(
            "{label}: the history wrote only {written} of {objects} segments within {} s; scraping anyway",
            SETTLE_LIMIT.as_secs()
        ),
    }
    scrape(label, server, http, scrapes, budget, |text| {
        let mut missing = Vec::new();
        for (name, want) in [
            ("corridor_corridor_info", corridors),
            ("corridor_corridor_temperature_celsius", corridors),
            ("corridor_ffm_bundle_info", bundles),
        ] {
            let got = count(text, name);
            if got != want {
                missing.push(format!("{name}: {got} series, {want} expected"));
            }
        }
        for line in text
            .lines()
            .filter(|l| l.starts_with("corridor_metrics_collection_failures{"))
        {
            missing.push(format!("collection failure: {line}"));
        }
        missing
    })
    .await
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[tokio::main]
async fn main() {
    let corridors = env("METRICS_BENCH_CORRIDORS", 1000) as usize;
    let bundles = env("METRICS_BENCH_BUNDLES", 10_000) as usize;
    let scrapes = env("METRICS_BENCH_SCRAPES", 40) as usize;
    let budget = Duration::from_secs(env("METRICS_BENCH_SECONDS", 15));

    // The default rack plus as many sleds as the corridors need.
    let mut sleds = 0;
    let topology = loop {
        let topology = corridor_hal::topology::generated_twin(sleds).expect("generated topology");
        if topology.one_lane_corridor_capacity() >= corridors {
            break topology;
        }
        sleds += 1;
    };
    let files = tempfile::tempdir().expect("temp dir");
    let topology_file = files.path().join("topology.toml");
    std::fs::write(&topology_file, topology.to_toml_string()).expect("write the topology");
    let topology_arg = topology_file.to_str().expect("UTF-8 temp path").to_owned();
    println!(
        "topology: default rack + {sleds} generated sleds = {} hosts, {} optical ports, {} links, room for {} one-lane corridors",
        topology.hosts().len(),
        topology.optical_ports().len(),
        topology.links().len(),
        topology.one_lane_corridor_capacity()
    );
    println!("load average at start: {}", load_average());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(FILL_CLIENTS)
        .build()
        .expect("HTTP client");

    // Empty control plane.
    let empty = {
        let server = Server::spawn_with(true, &["--topology", &topology_arg]);
        let base = format!("http://{}", server.addr);
        support::wait_ready(&http, &base, Duration::from_secs(60)).await;
        scrape(
            "empty control plane".into(),
            &server,
            &http,
            scrapes,
            budget,
            |_| Vec::new(),
        )
        .await
    };

    // Loaded control plane: the baseline binary's first, when one is given.
    let mut sides = vec![empty];
    if let Ok(baseline) = std::env::var("METRICS_BENCH_BASELINE") {
        let server = Server::spawn_binary(&baseline, true, &["--topology", &topology_arg]);
        let label = format!("baseline: {corridors} corridors + {bundles} bundles");
        sides.push(loaded_side(label, &server, &http, corridors, bundles, scrapes, budget).await);
    }
    let server = Server::spawn_with(true, &["--topology", &topology_arg]);
    let label = format!("{corridors} corridors + {bundles} bundles");
    let loaded = loaded_side(label, &server, &http, corridors, bundles, scrapes, budget).await;
    drop(server);
    println!("load average at end: {}", load_average());
    sides.push(loaded);

    println!();
    let row = |name: &str, cell: &dyn Fn(&Side) -> String| {
        let cells: Vec<String> = sides.iter().map(cell).collect();
        println!("| {name} | {} |", cells.join(" | "));
    };
    row("figure", &|s| s.label.clone());
    row("---", &|_| "---".into());
    row("scrapes", &|s| s.times.len().to_string());
    row("p50", &|s| ms(percentile(&s.times, 0.5)));
    row("p99", &|s| ms(percentile(&s.times, 0.99)));
    row("max", &|s| ms(s.times.last().copied().unwrap_or_default()));
    row("bytes", &|s| s.bytes.to_string());
    row("series", &|s| s.series.to_string());
    let cpu = |d: Option<Duration>| d.map_or("not measured".into(), ms);
    row("corridord CPU per scrape (all threads)", &|s| {
        cpu(s.cpu_per_scrape)
    });
    row("corridord CPU between scrapes (one core)", &|s| {
        s.idle_cpu_share
            .map_or("not measured".into(), |c| format!("{:.0} %", 100.0 * c))
    });
    let loaded = sides.last().expect("the loaded side");
    let p99 = percentile(&loaded.times, 0.99);
    println!();
    println!(
        "target: p99 ≤ {} at 1,000 corridors and 10,000 bundles: {}",
        ms(TARGET),
        if corridors < 1000 || bundles < 10_000 {
            "not this size".to_owned()
        } else if p99 <= TARGET {
            "met".to_owned()
        } else {
            format!("NOT met ({})", ms(p99))
        }
    );
    let failed = sides
        .iter()
        .any(|s| !s.problems.is_empty() || s.times.is_empty());
    for side in &sides {
        for problem in &side.problems {
            eprintln!(
                "FAILED: {}: the scrape is incomplete: {problem}",
                side.label
            );
        }
    }
    if failed {
        std::process::exit(1);
    }
}

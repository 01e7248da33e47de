//! Exemplars: with traces exported over OTLP, the request and admission
//! latency histograms name, on the bucket a request's time fell in, the
//! trace id of that request — the very trace the OTLP receiver got. They
//! are OpenMetrics only: the 0.0.4 text format carries none and still
//! passes `promtool check metrics`, and a real Prometheus with exemplar
//! storage scrapes and stores them.
//!
//! Prometheus and promtool come from Debian's `prometheus` package
//! (`scripts/install-prometheus.sh`, run by `make test`); without them this
//! test fails, it does not skip.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::observability::{Prometheus, Spans, otlp_receiver, promtool_check};
use common::process::{self, Corridord, free_port};
use serde_json::json;

/// Every wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";

/// The trace id of the exemplar on a `bucket` line (`name_bucket`) with
/// every label of `with` (`le` is among the labels, in any order), if any
/// such bucket has one. Checks the line's shape:
/// `name{…} count # {trace_id="…"} value timestamp`.
fn exemplar(text: &str, bucket: &str, with: &[(&str, &str)]) -> Option<String> {
    let line = text
        .lines()
        .filter(|l| l.starts_with(&format!("{bucket}{{")))
        .filter(|l| {
            let labels = &l[..l.find('}').unwrap_or(l.len())];
            with.iter()
                .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\"")))
        })
        .find(|l| l.contains(" # {"))?;
    let (_, exemplar) = line.split_once(" # {").unwrap();
    let (labels, rest) = exemplar
        .split_once("} ")
        .unwrap_or_else(|| panic!("exemplar without a value: {line}"));
    let trace_id = labels
        .strip_prefix("trace_id=\"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("exemplar labels are not just a trace id: {line}"));
    let mut fields = rest.split(' ');
    let value: f64 = fields.next().unwrap().parse().unwrap();
    let timestamp: f64 = fields
        .next()
        .unwrap_or_else(|| panic!("exemplar without a timestamp: {line}"))
        .parse()
        .unwrap();
    assert!(value > 0.0 && value < 60.0, "{line}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - timestamp).abs() < 600.0,
        "exemplar not taken now: {line}"
    );
    Some(trace_id.to_owned())
}

fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && id.bytes().any(|b| b != b'0')
}

async fn scrape(client: &reqwest::Client, base: &str, accept: Option<&str>) -> String {
    let mut request = client.get(format!("{base}/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The trace ids of the exemplars Prometheus stored for `selector` in the
/// last ten minutes, once it has any (at most [`WAIT`]).
async fn exemplar_trace_ids(
    prometheus: &mut Prometheus,
    client: &reqwest::Client,
    selector: &str,
) -> Vec<String> {
    prometheus
        .poll(
            client,
            "/api/v1/query_exemplars",
            || {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64();
                vec![
                    ("query", selector.to_owned()),
                    ("start", format!("{:.3}", now - 600.0)),
                    ("end", format!("{:.3}", now + 60.0)),
                ]
            },
            WAIT,
            &format!("exemplar for {selector}"),
            |answer| {
                let ids: Vec<String> = answer["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
                    .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
                    .collect();
                (!ids.is_empty()).then_some(ids)
            },
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_corridor_leaves_its_trace_id_on_the_latency_buckets() {
    let spans: Spans = Arc::default();
    let endpoint = otlp_receiver(Arc::clone(&spans)).await;
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = process::command();
    command
        .arg("--state-dir")
        .arg(state.path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--insecure-dev")
        // The request spans are info spans: on, as by default.
        .args(["--log", "info"])
        .arg("--otlp-endpoint")
        .arg(&endpoint);
    let mut corridord = Corridord::spawn(command, state.path(), port, false);
    corridord.ready().await;
    let base = corridord.base();
    let client = reqwest::Client::new();

    let granted = client
        .post(format!("{base}/v1/corridors"))
        .json(&json!({
            "corridor_type": "SiCorridor",
            "lanes": 1,
            "lambda_nm": [1550],
            "min_gbps": 20,
            "latency_budget_ns": 1000,
            "reach_mm": 5000,
            "mode": "waveguide",
            "qos": {"pfc": false, "priority": "silver"},
            "attestation_required": false
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 201, "{}", granted.text().await.unwrap());

    let text = scrape(&client, &base, Some(OPENMETRICS)).await;
    let admission = exemplar(
        &text,
        "corridor_admission_duration_seconds_bucket",
        &[("resource", "corridor"), ("outcome", "granted")],
    )
    .unwrap_or_else(|| panic!("no exemplar on the corridor admission histogram:\n{text}"));
    let request = exemplar(
        &text,
        "corridor_http_request_duration_seconds_bucket",
        &[("route", "/v1/corridors")],
    )
    .unwrap_or_else(|| panic!("no exemplar on the /v1/corridors request histogram:\n{text}"));
    assert!(is_trace_id(&admission), "{admission}");
    // One request made both observations.
    assert_eq!(admission, request);

    // The exemplar names the trace the request's span was exported in.
    let deadline = Instant::now() + WAIT;
    loop {
        let got = spans.lock().unwrap().clone();
        if let Some(span) = got.iter().find(|s| s.name == "POST /v1/corridors") {
            assert_eq!(span.trace_id, admission, "the exemplar names another trace");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span of POST /v1/corridors among {} received",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The text format has no exemplars, and promtool still passes it.
    let plain = scrape(&client, &base, None).await;
    assert!(!plain.contains(&admission), "{plain}");
    assert!(!plain.contains(" # {"), "{plain}");
    let (clean, complaints) = promtool_check(&plain);
    assert!(
        clean,
        "promtool check metrics:\n{complaints}\n--- scrape ---\n{plain}"
    );

    // Prometheus itself reads and stores them.
    let mut prometheus = Prometheus::start(
        &format!(
            "    static_configs:\n      - targets: [\"{}\"]\n",
            corridord.addr()
        ),
        &["--enable-feature=exemplar-storage"],
    );
    let stored = exemplar_trace_ids(
        &mut prometheus,
        &client,
        "corridor_admission_duration_seconds_bucket{resource=\"corridor\"}",
    )
    .await;
    assert!(
        stored.contains(&admission),
        "Prometheus stored {stored:?}, not {admission}"
    );
    drop(prometheus);

    corridord.signal(libc::SIGTERM);
    corridord.wait_exit(Duration::from_secs(10), "SIGTERM");
}

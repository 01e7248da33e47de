//! `/metrics` against the real tools: a scrape of a corridord holding a lit
//! corridor, a corridor held dark for attestation and a memory bundle is
//! checked by `promtool check metrics`; a real Prometheus scrapes it over
//! mTLS and answers queries for the corridor's series; every query of the
//! Grafana dashboards in `deploy/grafana/` runs on that Prometheus and names
//! only families corridord exports.
//!
//! Prometheus and promtool come from Debian's `prometheus` package
//! (`scripts/install-prometheus.sh`, run by `make test`); without them these
//! tests fail, they do not skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::observability::{Prometheus, promtool_check};
use common::rfc;
use common::server::{Options, Server};
use corridor_pki::Principal;
use serde_json::{Value, json};

/// Every wait on Prometheus is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

/// A one-lane corridor every default-twin link carries, lit at once
/// (no attestation to wait for).
fn lit_corridor() -> String {
    json!({
        "corridor_type": "SiCorridor",
        "lanes": 1,
        "lambda_nm": [1550],
        "min_gbps": 20,
        "latency_budget_ns": 1000,
        "reach_mm": 5000,
        "mode": "waveguide",
        "qos": {"pfc": false, "priority": "silver"},
        "attestation_required": false
    })
    .to_string()
}

/// A small bundle with a bandwidth floor (the RFC's example asks for
/// 256 GiB; the series are the same for 1 MiB).
const BUNDLE: &str = r#"{
  "bytes": 1048576,
  "latency_class": "T1",
  "bandwidth_floor_GBs": 5,
  "persistence": "none",
  "shareable": true,
  "security_domain": "tenantA"
}"#;

/// What the tests create: a lit corridor, a held (dark) one, a bundle and
/// a fabric path.
struct Fixture {
    server: Server,
    lit: String,
    /// The optical links the lit corridor runs over.
    lit_path: Vec<String>,
    held: String,
    bundle: String,
    path: String,
}

async fn post(server: &Server, path: &str, body: &str) -> Value {
    let response = server
        .admin()
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST {path}: {body}");
    body
}

async fn fixture() -> Fixture {
    let server = Options::default()
        .domains(&["tenantA"])
        .attest_on_request()
        .start()
        .await;
    let lit = post(&server, "/v1/corridors", &lit_corridor()).await;
    assert_eq!(lit["status"], "active", "{lit}");
    let held = post(&server, "/v1/corridors", rfc::CORRIDOR).await;
    assert_eq!(
        held["status"], "provisioning",
        "held for attestation: {held}"
    );
    let bundle = post(&server, "/v1/ffm/alloc", BUNDLE).await;
    let path = post(&server, "/v1/fabman/paths", rfc::PATH).await;
    Fixture {
        lit: lit["id"].as_str().unwrap().to_owned(),
        lit_path: lit["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect(),
        held: held["id"].as_str().unwrap().to_owned(),
        bundle: bundle["id"].as_str().unwrap().to_owned(),
        path: path["id"].as_str().unwrap().to_owned(),
        server,
    }
}

async fn delete(server: &Server, path: &str) {
    let response = server
        .admin()
        .delete(server.url(path))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.is_success(), "DELETE {path}: {status}");
}

/// `/metrics` as `principal` sees it, with `accept` as the Accept header.
async fn scrape(server: &Server, principal: &Principal, accept: Option<&str>) -> (String, String) {
    let mut request = server.http(principal).get(server.url("/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

/// One sample of the text format: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a text exposition (either format). Label values are read
/// as quoted strings with `\"`, `\\` and `\n` escapes.
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = line[..name_end].to_owned();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let mut key = String::new();
            let mut end = body.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '}' => {
                        end = i + 1;
                        break;
                    }
                    ',' | ' ' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                        let mut value = String::new();
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '\\' => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(other) => value.push(other),
                                    None => break,
                                },
                                '"' => break,
                                other => value.push(other),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    other => key.push(other),
                }
            }
            rest = &body[end..];
        }
        let value = rest.split_whitespace().next().unwrap_or("");
        let value = value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("no value in {line:?}"));
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

/// The samples of family `name` whose labels include every pair of `with`.
fn find<'a>(all: &'a [Sample], name: &str, with: &[(&str, &str)]) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

#[tokio::test]
async fn a_scrape_passes_promtool_and_shows_what_each_resource_holds() {
    let f = fixture().await;
    let (content_type, text) = scrape(&f.server, &Principal::ReadOnly, None).await;
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let (clean, complaints) = promtool_check(&text);
    assert!(
        clean && complaints.trim().is_empty(),
        "promtool check metrics:\n{complaints}\n--- scrape ---\n{text}"
    );
    let all = samples(&text);
    let one = |name: &str, with: &[(&str, &str)]| -> f64 {
        let found = find(&all, name, with);
        assert_eq!(found.len(), 1, "{name} {with:?}: {found:?}\n{text}");
        found[0].value
    };

    // The lit corridor: status, its figures from the twin's model, per lane.
    let lit = f.lit.as_str();
    assert_eq!(
        one(
            "corridor_corridor_status",
            &[("corridor", lit), ("status", "active")]
        ),
        1.0
    );
    let ber = one(
        "corridor_corridor_post_fec_bit_error_ratio",
        &[("corridor", lit), ("source", "model")],
    );
    assert!(ber > 0.0 && ber < 1e-12, "post-FEC BER {ber}");
    let temperature = one(
        "corridor_corridor_temperature_celsius",
        &[("corridor", lit), ("source", "model")],
    );
    assert!((0.0..120.0).contains(&temperature), "{temperature} °C");
    let energy = one(
        "corridor_corridor_energy_joules_per_bit",
        &[("corridor", lit), ("source", "model")],
    );
    assert!(energy > 1e-14 && energy < 1e-10, "{energy} J/bit");
    assert_eq!(
        one(
            "corridor_lane_state",
            &[("corridor", lit), ("lane", "0"), ("state", "up")]
        ),
        1.0
    );
    one(
        "corridor_lane_post_fec_bit_error_ratio",
        &[("corridor", lit), ("lane", "0"), ("source", "model")],
    );
    one(
        "corridor_corridor_post_fec_bit_errors_total",
        &[("corridor", lit)],
    );
    assert_eq!(
        find(&all, "corridor_corridor_drift", &[("corridor", lit)])
            .iter()
            .map(|s| s.value)
            .sum::<f64>(),
        1.0,
        "exactly one drift level is current"
    );

    // λ occupancy: every link of the lit corridor's path holds its channel.
    assert!(!f.lit_path.is_empty());
    for link in &f.lit_path {
        let held = one("corridor_link_wavelengths_held", &[("link", link)]);
        let all = one("corridor_link_wavelengths", &[("link", link)]);
        assert!(held >= 1.0 && held <= all, "{link}: {held} of {all}");
    }

    // The held corridor: it exists and says so, but no lane is lit, so no
    // figure a lit lane would produce is exported.
    let held = f.held.as_str();
    assert_eq!(
        one(
            "corridor_corridor_status",
            &[("corridor", held), ("status", "provisioning")]
        ),
        1.0
    );
    one(
        "corridor_corridor_info",
        &[("corridor", held), ("priority", "gold")],
    );
    for family in [
        "corridor_corridor_post_fec_bit_error_ratio",
        "corridor_corridor_pre_fec_bit_error_ratio",
        "corridor_corridor_temperature_celsius",
        "corridor_corridor_energy_joules_per_bit",
        "corridor_corridor_eye_margin",
        "corridor_corridor_drift",
        "corridor_lane_post_fec_bit_error_ratio",
        "corridor_lane_pre_fec_bit_error_ratio",
        "corridor_lane_temperature_celsius",
    ] {
        let found = find(&all, family, &[("corridor", held)]);
        assert!(
            found.is_empty(),
            "a dark corridor has no {family}: {found:?}"
        );
    }

    // The bundle: its floor, and the model's achieved bandwidth and tail.
    let bundle = f.bundle.as_str();
    assert_eq!(
        one(
            "corridor_ffm_bundle_floor_bandwidth_bytes_per_second",
            &[("bundle", bundle), ("tier", "T1")]
        ),
        5e9
    );
    let achieved = one(
        "corridor_ffm_bundle_achieved_bandwidth_bytes_per_second",
        &[("bundle", bundle), ("source", "model")],
    );
    assert!(
        achieved >= 5e9,
        "achieved {achieved} under the 5 GB/s floor"
    );
    one(
        "corridor_ffm_bundle_tail_p99_latency_seconds",
        &[("bundle", bundle), ("source", "model")],
    );

    // The fabric path and the ports it holds bandwidth on (50 Gb/s).
    let path = f.path.as_str();
    assert_eq!(
        one(
            "corridor_fabric_path_status",
            &[("path", path), ("status", "active")]
        ),
        1.0
    );
    assert_eq!(
        one(
            "corridor_fabric_path_guaranteed_bandwidth_bytes_per_second",
            &[("path", path), ("path_type", "PBR")]
        ),
        50e9 / 8.0
    );
    // h0's standing paths hold 256 Gb/s on cxl-dev-001's port (8) and 128 on
    // cxl-dev-002's (9); the path adds its 50 on both.
    for (port, standing_gbps) in [("8", 256e9), ("9", 128e9)] {
        let with = [("switch", "sw0"), ("port", port)];
        assert_eq!(
            one(
                "corridor_fabric_port_guaranteed_bandwidth_bytes_per_second",
                &with
            ),
            (standing_gbps + 50e9) / 8.0,
            "sw0/{port}"
        );
        let admissible = one(
            "corridor_fabric_port_admissible_bandwidth_bytes_per_second",
            &with,
        );
        assert_eq!(
            one(
                "corridor_fabric_port_free_bandwidth_bytes_per_second",
                &with
            ),
            admissible - (standing_gbps + 50e9) / 8.0,
            "sw0/{port}"
        );
    }
    assert_eq!(
        one(
            "corridor_admissions_total",
            &[("resource", "fabric_path"), ("outcome", "granted")]
        ),
        1.0
    );
    assert_eq!(
        one(
            "corridor_admissions_total",
            &[("resource", "corridor"), ("outcome", "granted")]
        ),
        2.0
    );
    assert_eq!(
        one(
            "corridor_admissions_total",
            &[("resource", "ffm_bundle"), ("outcome", "granted")]
        ),
        1.0
    );

    // The embedded store's files on disk.
    assert!(one("corridor_store_file_size_bytes", &[("file", "store")]) > 0.0);
    assert!(one("corridor_store_file_size_bytes", &[("file", "wal")]) > 0.0);
    assert!(one("corridor_store_file_size_bytes", &[("file", "events")]) > 0.0);
    assert!(
        !find(
            &all,
            "corridor_store_transaction_duration_seconds_count",
            &[("result", "ok")]
        )
        .is_empty(),
        "{text}"
    );

    // OpenMetrics to whoever asks for it, with the same series.
    let (content_type, open) = scrape(
        &f.server,
        &Principal::ReadOnly,
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(open.trim_end().ends_with("# EOF"), "{open}");
    assert!(
        open.contains(&format!("corridor_corridor_status{{corridor=\"{lit}\"")),
        "{open}"
    );

    // Every family is documented in docs/metrics.md.
    let docs = std::fs::read_to_string(common::workspace().join("docs/metrics.md")).unwrap();
    for line in text.lines() {
        let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_whitespace().next())
        else {
            continue;
        };
        let documented = docs.contains(&format!("`{name}`"))
            || (name.starts_with("corridor_process_") && docs.contains("`corridor_process_*`"));
        assert!(documented, "{name} is not in docs/metrics.md");
    }

    // Tenants do not read cluster-wide figures.
    let response = f
        .server
        .http(&common::clients::domain("tenantA"))
        .get(f.server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    f.server.stop().await;
}

#[tokio::test]
async fn a_scrape_out_of_time_leaves_out_the_telemetry_it_could_not_read_and_says_so() {
    let f = fixture().await;
    // A client that waits at most 1 µs: the 0.8 µs the scrape may spend
    // are gone before the first read-back could begin, so none is started.
    let response = f
        .server
        .http(&Principal::ReadOnly)
        .get(f.server.url("/metrics"))
        .header("x-prometheus-scrape-timeout-seconds", "0.000001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let (clean, complaints) = promtool_check(&text);
    assert!(clean && complaints.trim().is_empty(), "{complaints}");
    let all = samples(&text);
    let lit = f.lit.as_str();
    // The corridor is there; its figures are not, and the scrape says why.
    assert_eq!(
        find(
            &all,
            "corridor_corridor_status",
            &[("corridor", lit), ("status", "active")]
        )[0]
        .value,
        1.0
    );
    assert!(
        find(
            &all,
            "corridor_corridor_post_fec_bit_error_ratio",
            &[("corridor", lit)]
        )
        .is_empty(),
        "{text}"
    );
    let failures = find(
        &all,
        "corridor_metrics_collection_failures",
        &[("resource", "corridor_telemetry")],
    );
    assert_eq!(failures.len(), 1, "{text}");
    assert_eq!(failures[0].value, 1.0, "the one lit corridor");
    f.server.stop().await;
}

/// Prometheus scraping corridord at `target` every second over mTLS as
/// `principal` of the PKI in `state_dir`.
fn prometheus_over_mtls(
    target: std::net::SocketAddr,
    state_dir: &Path,
    principal: &Principal,
) -> Prometheus {
    let pki = corridor_pki::PkiPaths::in_state_dir(state_dir);
    Prometheus::start(
        &format!(
            r#"    scheme: https
    tls_config:
      ca_file: {ca}
      cert_file: {cert}
      key_file: {key}
    static_configs:
      - targets: ["{target}"]
"#,
            ca = pki.ca_cert().display(),
            cert = pki.client_cert(principal).display(),
            key = pki.client_key(principal).display(),
        ),
        &[],
    )
}

/// Queries `expr` until it returns a sample (at most [`WAIT`]).
async fn wait_for_sample(
    prometheus: &mut Prometheus,
    client: &reqwest::Client,
    expr: &str,
) -> Vec<Value> {
    prometheus
        .poll(
            client,
            "/api/v1/query",
            || vec![("query", expr.to_owned())],
            WAIT,
            &format!("sample for {expr}"),
            |answer| {
                let result = answer["data"]["result"].as_array()?;
                (answer["status"] == "success" && !result.is_empty()).then(|| result.clone())
            },
        )
        .await
}

/// Every `expr` in a Grafana dashboard, wherever it sits (panels, rows,
/// nested panels, template queries).
fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// A dashboard query as Prometheus can run it: Grafana's interval
/// variables become a fixed range, other variables match anything.
fn runnable(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m");
    // `$name` / `${name}` only ever appear as a regex matcher's value
    // (`=~"$name"`) in our dashboards.
    while let Some(start) = out.find('$') {
        let rest = &out[start + 1..];
        let len = if let Some(inner) = rest.strip_prefix('{') {
            inner.find('}').map(|i| i + 2).unwrap_or(rest.len())
        } else {
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        };
        out.replace_range(start..start + 1 + len, ".*");
    }
    out
}

/// The metric names an expression reads: identifiers starting with the
/// `corridor_` prefix outside label matchers, grouping clauses and strings
/// (label names such as `corridor_type` sit only there).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth_braces = 0;
    let mut in_string = false;
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            if c == '\\' {
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '{' {
            depth_braces += 1;
        } else if c == '}' {
            depth_braces -= 1;
        } else if depth_braces == 0 {
            plain.push(c);
        }
        i += 1;
    }
    // Grouping clauses name labels: drop their parenthesised lists.
    let mut cleaned = String::new();
    let mut rest = plain.as_str();
    let clause = |s: &str| -> Option<usize> {
        [
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
        ]
        .iter()
        .filter_map(|k| {
            let mut from = 0;
            while let Some(at) = s[from..].find(k) {
                let at = from + at;
                let before_ok = at == 0
                    || !s[..at]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                let after = s[at + k.len()..].trim_start();
                if before_ok && after.starts_with('(') {
                    return Some(at);
                }
                from = at + k.len();
            }
            None
        })
        .min()
    };
    while let Some(at) = clause(rest) {
        cleaned.push_str(&rest[..at]);
        let open = at + rest[at..].find('(').unwrap();
        let close = open + rest[open..].find(')').unwrap();
        rest = &rest[close + 1..];
    }
    cleaned.push_str(rest);
    let mut names = BTreeSet::new();
    let mut token = String::new();
    for c in cleaned.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            token.push(c);
        } else {
            if token.starts_with("corridor_") {
                names.insert(std::mem::take(&mut token));
            }
            token.clear();
        }
    }
    names
}

/// Every series name a scrape exports or declares (a declared family with
/// no sample yet, e.g. fabric paths before the first path, still counts;
/// a histogram declares its `_bucket`, `_sum` and `_count`).
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = samples(text).into_iter().map(|s| s.name).collect();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            names.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    names
}

/// Dashboard queries that show only trouble, so are empty on a healthy
/// fixture.
fn may_be_empty(expr: &str) -> bool {
    expr.contains(" < on ") || expr.contains("corridor_metrics_collection_failures")
}

/// The dashboards shipped in `deploy/grafana/dashboards/`.
fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = common::workspace().join("deploy/grafana/dashboards");
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p, json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn the_expression_reader_finds_metric_names_and_skips_labels() {
    let names = metric_names(
        r#"sum by (corridor_type) (rate(corridor_admissions_total{resource="corridor", corridor_x="a"}[1m])) / on (corridor) group_left(priority) corridor_corridor_info"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["corridor_admissions_total", "corridor_corridor_info"]
    );
    assert_eq!(
        runnable(r#"x{corridor=~"$corridor"}[$__rate_interval]"#),
        r#"x{corridor=~".*"}[1m]"#
    );
}

#[tokio::test]
async fn prometheus_scrapes_corridord_over_mtls_and_every_dashboard_query_resolves() {
    let f = fixture().await;
    let mut prometheus =
        prometheus_over_mtls(f.server.addr(), f.server.state_dir(), &Principal::ReadOnly);
    let client = reqwest::Client::new();

    // The target is up: the scrape went through TLS with the read-only
    // client certificate and parsed.
    let up = wait_for_sample(&mut prometheus, &client, r#"up{job="corridord"} == 1"#).await;
    assert_eq!(up.len(), 1, "{up:?}");

    // The lit corridor's series, by its id.
    let lit = f.lit.as_str();
    let result = wait_for_sample(
        &mut prometheus,
        &client,
        &format!(r#"corridor_corridor_post_fec_bit_error_ratio{{corridor="{lit}"}}"#),
    )
    .await;
    assert_eq!(result.len(), 1, "{result:?}");
    assert_eq!(result[0]["metric"]["corridor"], lit, "{result:?}");
    assert_eq!(result[0]["metric"]["source"], "model", "{result:?}");
    let ber: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(ber > 0.0 && ber < 1e-12, "{ber}");
    // The held corridor is known to Prometheus, with no BER.
    let held = f.held.as_str();
    wait_for_sample(
        &mut prometheus,
        &client,
        &format!(r#"corridor_corridor_status{{corridor="{held}",status="provisioning"}} == 1"#),
    )
    .await;
    let answer = prometheus
        .api(
            &client,
            "/api/v1/query",
            &[(
                "query",
                format!(r#"corridor_corridor_post_fec_bit_error_ratio{{corridor="{held}"}}"#),
            )],
        )
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["data"]["result"], json!([]), "{answer}");
    // The bundle's floor and achieved bandwidth.
    let bundle = f.bundle.as_str();
    wait_for_sample(&mut prometheus, &client,
            &format!(
                r#"corridor_ffm_bundle_achieved_bandwidth_bytes_per_second{{bundle="{bundle}",source="model"}} >= on (bundle) corridor_ffm_bundle_floor_bandwidth_bytes_per_second"#
            ),
        )
        .await;

    // Every dashboard query runs and names only exported series.
    let (_, text) = scrape(&f.server, &Principal::ReadOnly, None).await;
    let exported = exported_names(&text);
    let boards = dashboards();
    assert!(
        boards.len() >= 3,
        "corridors, memory and fabric dashboards: {boards:?}"
    );
    let mut checked = 0;
    for (path, board) in &boards {
        let mut found = Vec::new();
        exprs(board, &mut found);
        assert!(!found.is_empty(), "{}: no queries", path.display());
        for expr in found {
            let names = metric_names(&expr);
            assert!(
                !names.is_empty(),
                "{}: {expr:?} reads no corridord series",
                path.display()
            );
            for name in &names {
                assert!(
                    exported.contains(name),
                    "{}: {expr:?} reads {name}, which corridord does not export",
                    path.display()
                );
            }
            let query = runnable(&expr);
            let answer = prometheus
                .api(&client, "/api/v1/query", &[("query", query.clone())])
                .await
                .unwrap();
            assert_eq!(
                answer["status"],
                "success",
                "{}: {query:?}: {answer}",
                path.display()
            );
            // With a lit corridor, a bundle and a path every panel has data,
            // but those that show only trouble (a bundle under its floor, a
            // failed read): a misspelt label value would show nothing.
            if !may_be_empty(&expr) {
                wait_for_sample(&mut prometheus, &client, &query).await;
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} dashboard queries");
    drop(prometheus);
    f.server.stop().await;
}

/// Bundle and corridor lines are kept between scrapes by the object's
/// revision (`metrics/object_lines.rs`): each scrape still shows every
/// object as it is then, a migrated bundle under its new tier only, a freed
/// bundle or released corridor nowhere and a new one at once.
#[tokio::test]
async fn each_scrape_shows_the_objects_as_they_are_at_the_scrape() {
    let server = Options::default().domains(&["tenantA"]).start().await;
    let id = |object: &Value| object["id"].as_str().unwrap().to_owned();
    let released = id(&post(&server, "/v1/corridors", &lit_corridor()).await);
    let migrated = id(&post(&server, "/v1/ffm/alloc", BUNDLE).await);
    let freed = id(&post(&server, "/v1/ffm/alloc", BUNDLE).await);
    let tier_of = |all: &[Sample], bundle: &str| -> Vec<String> {
        find(all, "corridor_ffm_bundle_info", &[("bundle", bundle)])
            .iter()
            .map(|s| s.labels["tier"].clone())
            .collect()
    };
    let (_, text) = scrape(&server, &Principal::ReadOnly, None).await;
    let all = samples(&text);
    assert_eq!(tier_of(&all, &migrated), ["T1"], "{text}");
    assert_eq!(tier_of(&all, &freed), ["T1"], "{text}");
    let status_of = |all: &[Sample], corridor: &str| -> Vec<String> {
        find(all, "corridor_corridor_status", &[("corridor", corridor)])
            .iter()
            .filter(|s| s.value == 1.0)
            .map(|s| s.labels["status"].clone())
            .collect()
    };
    assert_eq!(status_of(&all, &released), ["active"], "{text}");

    let response = server
        .admin()
        .patch(server.url(&format!("/v1/ffm/{migrated}/latency_class")))
        .header("content-type", "application/json")
        .body(r#"{"latency_class":"T2"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let bundle: Value = server
            .admin()
            .get(server.url(&format!("/v1/ffm/{migrated}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if bundle["latency_class"] == "T2" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{bundle}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delete(&server, &format!("/v1/ffm/{freed}")).await;
    let added = id(&post(&server, "/v1/ffm/alloc", BUNDLE).await);
    delete(&server, &format!("/v1/corridors/{released}")).await;
    let lit = id(&post(&server, "/v1/corridors", &lit_corridor()).await);

    let (_, text) = scrape(&server, &Principal::ReadOnly, None).await;
    let all = samples(&text);
    assert_eq!(tier_of(&all, &migrated), ["T2"], "{text}");
    assert_eq!(
        find(
            &all,
            "corridor_ffm_bundle_size_bytes",
            &[("bundle", &migrated), ("tier", "T2")]
        )
        .len(),
        1,
        "{text}"
    );
    assert!(
        all.iter().all(|s| s.labels.get("bundle") != Some(&freed)),
        "{text}"
    );
    assert_eq!(tier_of(&all, &added), ["T1"], "{text}");
    assert!(
        all.iter()
            .all(|s| s.labels.get("corridor") != Some(&released)),
        "{text}"
    );
    assert_eq!(status_of(&all, &lit), ["active"], "{text}");
    server.stop().await;
}

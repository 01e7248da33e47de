//! Traces over OTLP: corridord, started with `--otlp-endpoint`, sends one
//! trace per request to a local OTLP/HTTP receiver — the request's span
//! with the FM API command it caused as a child — and the JSON log line of
//! that request carries the same trace id.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::observability::{Spans, otlp_receiver};
use common::process::{self, Corridord, free_port};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_trace_down_to_its_fm_api_command_and_the_log_names_it() {
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
        .args([
            "--log-format",
            "json",
            "--log",
            "info,corridor_server=debug",
        ])
        .arg("--otlp-endpoint")
        .arg(&endpoint)
        .stderr(Stdio::piped());
    let mut corridord = Corridord::spawn(command, state.path(), port, false);
    corridord.ready().await;

    let client = reqwest::Client::new();
    let reply = client
        .post(format!(
            "{}/v1/fabman/switches/sw0/commands",
            corridord.base()
        ))
        .json(&serde_json::json!({"opcode": "5101h", "payload_hex": "020809"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());

    // The batch exporter sends within its schedule (5 s by default); a
    // SIGTERM flushes the rest on the way out.
    let request_name = "POST /v1/fabman/switches/{switch_id}/commands";
    let deadline = Instant::now() + Duration::from_secs(20);
    let (request, command_span) = loop {
        let got = spans.lock().unwrap().clone();
        let request = got.iter().find(|s| s.name == request_name).cloned();
        let command_span = request.as_ref().and_then(|r| {
            got.iter()
                .find(|s| {
                    s.trace_id == r.trace_id && s.name.starts_with("FM API Get Physical Port State")
                })
                .cloned()
        });
        if let (Some(request), Some(command_span)) = (&request, &command_span) {
            break (request.clone(), command_span.clone());
        }
        assert!(
            Instant::now() < deadline,
            "{} spans received; the request's: {request:?}; FM API Get Physical Port State spans: {:?}",
            got.len(),
            got.iter()
                .filter(|s| s.name.starts_with("FM API Get Physical Port State"))
                .take(5)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // One trace: the command is the request's child.
    assert_eq!(
        command_span.parent_span_id, request.span_id,
        "{command_span:?} under {request:?}"
    );
    assert_eq!(request.trace_id.len(), 32);

    corridord.signal(libc::SIGTERM);
    corridord.wait_exit(Duration::from_secs(10), "SIGTERM");
    let log = corridord.stderr();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["message"] == "request" && l["route"] == "/v1/fabman/switches/{switch_id}/commands"
        })
        .unwrap_or_else(|| panic!("no request line in {log}"));
    assert_eq!(
        line["span"]["trace_id"],
        request.trace_id.as_str(),
        "{line}"
    );
}

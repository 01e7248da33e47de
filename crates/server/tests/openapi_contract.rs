//! The API document is the contract: it is valid OpenAPI 3.1, and a
//! property-based fuzzer driven only by the document (Schemathesis) finds
//! no disagreement with the running server: no schema-valid request
//! refused, no invalid one accepted, no status, content type, header or
//! body the document does not show, no 5xx.
//!
//! Tools come from `scripts/install-api-tools.sh` (run by `make test`) into
//! `target/api-tools`; `CORRIDOR_API_TOOLS` points elsewhere. A missing
//! tool fails the test: it is part of what `make test` checks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::server::Server;
use common::workspace;
use corridor_pki::Principal;

mod common;

fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("CORRIDOR_API_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/api-tools"));
    let path = dir.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (or scripts/install-api-tools.sh) to install the API tools",
        path.display()
    );
    path
}

#[test]
fn checked_in_document_is_valid_openapi_3_1() {
    let document = workspace().join("openapi/corridoros.json");
    let output = std::process::Command::new(tool("openapi-spec-validator"))
        .arg(&document)
        .output()
        .expect("openapi-spec-validator runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("OK"), "{text}");
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&document).unwrap()).unwrap();
    assert_eq!(value["openapi"], "3.1.0");
}

/// Runs Schemathesis against a live corridord (TLS, admin certificate) with
/// a fixed seed and a bounded number of cases per operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_from_the_document_finds_no_disagreement() {
    let server = Server::start().await;
    let base = server.base().to_owned();
    let pki = server.pki();
    let report = tempfile::tempdir().unwrap();
    let examples = std::env::var("CORRIDOR_FUZZ_EXAMPLES").unwrap_or_else(|_| "12".into());
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut command = tokio::process::Command::new(tool("st"));
    command
        .arg("--config-file")
        .arg(hooks.join("schemathesis.toml"))
        .arg("run")
        .arg(workspace().join("openapi/corridoros.json"))
        .args(["--url", &base])
        .arg("--request-cert")
        .arg(pki.client_cert(&Principal::Admin))
        .arg("--request-cert-key")
        .arg(pki.client_key(&Principal::Admin))
        .arg("--tls-verify")
        .arg(pki.ca_cert())
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance,\
             negative_data_rejection,positive_data_acceptance_by_rule",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &examples,
            "--seed",
            "20261203",
            // One worker: with two, Hypothesis' lambda-source cache is
            // shared between threads and now and then raises a KeyError of
            // its own (a "Runtime Error" that is no finding about us).
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--report-dir",
        ])
        .arg(report.path())
        .env("SCHEMATHESIS_HOOKS", "corridor_hooks")
        .env("PYTHONPATH", &hooks)
        // Schemathesis keeps a crash cache in its working directory: keep it
        // out of the source tree, so every run starts from the same state.
        .current_dir(report.path())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(900), command.output())
        .await
        .expect("the fuzzing run is bounded: it ended within 15 minutes")
        .expect("schemathesis runs");
    server.stop().await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Schemathesis found disagreements between the document and the server:\n{text}"
    );
    // The run really exercised the API: every operation was tested.
    assert!(
        text.contains("passed") && !text.contains("No operations"),
        "{text}"
    );
}

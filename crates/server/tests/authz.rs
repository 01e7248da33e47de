//! The authorisation matrix, generated from the OpenAPI document's route
//! list (plus the operational endpoints it does not document): every route
//! × every kind of caller, with the outcome this file expects. A route this
//! file does not know fails the test, so a new endpoint cannot slip in
//! without somebody deciding who may call it.
//!
//! Creating routes get a valid body, so an allowed caller's mutation must
//! succeed (201); a refused TLS handshake counts as a refusal only while the
//! server still answers. Also: the audit log records denials and mutations, and no response body
//! or audit line carries private-key material.

use std::collections::BTreeMap;
use std::path::Path;

use common::clients::http_client;
use common::server::Options;
use corridor_client::TlsOptions;
use corridor_pki::{Ca, Issued, Principal};
use corridor_server::http::openapi;
use serde_json::Value;

mod common;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    NoCert,
    Expired,
    Revoked,
    OtherDomain,
    OwnDomain,
    ReadOnly,
    Operator,
    Admin,
}

const CALLERS: [Caller; 8] = [
    Caller::NoCert,
    Caller::Expired,
    Caller::Revoked,
    Caller::OtherDomain,
    Caller::OwnDomain,
    Caller::ReadOnly,
    Caller::Operator,
    Caller::Admin,
];

/// What the caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The TLS handshake refuses the certificate: no HTTP at all.
    Refused,
    /// 401 problem.
    Unauthenticated,
    /// 403 problem.
    Forbidden,
    /// Past authorisation: whatever the handler answers (200, 404, 422),
    /// never 401 or 403.
    Passes,
}

/// This file's own classification of the routes (deliberately not the
/// server's `scope_of`, so the two must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Probe,
    Discovery,
    Inventory,
    Tenant,
    Infrastructure,
    Metrics,
    /// `/v1/admin/*`: the admin principal only.
    Admin,
}

/// The kind of a route, from the scope its declaration names in the
/// document (the one place a route's authorisation is written). This file
/// keeps its own expectation per kind in [`expected`], so the server's
/// decisions are checked against an independent statement of the policy.
fn kind_of(scope: &str) -> Kind {
    match scope {
        "probe" => Kind::Probe,
        "discovery" => Kind::Discovery,
        "inventory" => Kind::Inventory,
        "tenant" => Kind::Tenant,
        "infrastructure" => Kind::Infrastructure,
        "observability" => Kind::Metrics,
        "admin" => Kind::Admin,
        other => panic!("scope {other:?} is not in the authorisation matrix: add its expectations"),
    }
}

fn expected(caller: Caller, kind: Kind, method: &str) -> Outcome {
    let read = matches!(method, "GET" | "HEAD");
    match caller {
        Caller::Expired | Caller::Revoked => Outcome::Refused,
        _ if kind == Kind::Probe => Outcome::Passes,
        Caller::NoCert => Outcome::Unauthenticated,
        Caller::Admin => Outcome::Passes,
        _ if kind == Kind::Admin => Outcome::Forbidden,
        Caller::Operator => Outcome::Passes,
        Caller::ReadOnly if read => Outcome::Passes,
        Caller::ReadOnly => Outcome::Forbidden,
        Caller::OwnDomain | Caller::OtherDomain => match kind {
            Kind::Probe | Kind::Discovery => Outcome::Passes,
            Kind::Inventory if read => Outcome::Passes,
            Kind::Inventory => Outcome::Forbidden,
            // Every mutation in the matrix names tenantA in its body; the
            // other domain (tenantB) must be refused for that. Reads of
            // another domain's objects are the service's 404 (no
            // existence leak), which arrives with the services (#3, #4).
            Kind::Tenant if caller == Caller::OtherDomain && !read => Outcome::Forbidden,
            Kind::Tenant => Outcome::Passes,
            Kind::Infrastructure | Kind::Metrics | Kind::Admin => Outcome::Forbidden,
        },
    }
}

/// Every (method, path template, kind) the server routes, from the
/// document the router is built from.
fn routes() -> Vec<(String, String, Kind)> {
    let doc: Value = serde_json::from_str(&openapi::document()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete", "head"].contains(&method.as_str()) {
                continue;
            }
            let scopes: Vec<&str> = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} declares no security"))
                .iter()
                .filter_map(|requirement| requirement["mtls"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(scopes.len(), 1, "{method} {path}: {scopes:?}");
            routes.push((method.to_uppercase(), path.clone(), kind_of(scopes[0])));
        }
    }
    assert!(routes.len() > 30, "{routes:?}");
    routes
}

fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x-1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A valid body for the tenant routes that create something, owned by
/// tenantA, so the matrix checks that an allowed caller's mutation really
/// succeeds (201), not only that it gets past authorisation. Distinct per
/// caller: corridors on their own channel, policies under their own name.
fn valid_body(method: &str, template: &str, caller: Caller) -> Option<String> {
    let n = CALLERS.iter().position(|&c| c == caller).unwrap();
    match (method, template) {
        ("POST", "/v1/corridors") => Some(format!(
            r#"{{"corridor_type":"SiCorridor","lanes":1,"lambda_nm":[{}],"min_gbps":20,"latency_budget_ns":1000,"reach_mm":5000,"mode":"fiber","qos":{{"pfc":false,"priority":"silver"}},"attestation_required":false,"security_domain":"tenantA"}}"#,
            1550 + n
        )),
        ("POST", "/v1/ffm/alloc") => Some(
            r#"{"bytes":4096,"latency_class":"T1","bandwidth_floor_GBs":1,"persistence":"none","shareable":false,"security_domain":"tenantA"}"#
                .to_owned(),
        ),
        ("POST", "/v1/policies") => Some(format!(
            r#"{{"name":"matrix-{n}","security_domain":"tenantA","min_GBs":1,"window":{{"start":"20:00","end":"08:00","time_zone":"UTC"}}}}"#
        )),
        _ => None,
    }
}

fn write_identity(
    dir: &Path,
    name: &str,
    issued: &Issued,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    (cert, key)
}

/// The base64 body lines of every private key under `dir`, to look for in
/// outputs.
fn key_material(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if !line.starts_with("-----") && line.len() >= 16 {
                    lines.push(line.to_string());
                }
            }
        }
    }
    assert!(!lines.is_empty());
    lines
}

fn assert_no_secrets(what: &str, text: &str, material: &[String]) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "{what} contains a PEM private key"
    );
    for line in material {
        assert!(
            !text.contains(line.as_str()),
            "{what} contains private-key material"
        );
    }
}

#[tokio::test]
async fn every_route_times_every_caller() {
    let server = Options::default()
        .domains(&["tenantA", "tenantB"])
        .start()
        .await;
    let base = server.base();
    let pki = server.pki();
    let ca = Ca::load(&pki).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .issue_client_valid(
            &Principal::Admin,
            now - time::Duration::days(10),
            now - time::Duration::days(1),
        )
        .unwrap();
    let revoked = ca.issue_client(&Principal::Admin).unwrap();
    ca.revoke(&revoked.serial).unwrap();
    server.tls().unwrap().reload().unwrap();

    let files = |p: Principal| Some((pki.client_cert(&p), pki.client_key(&p)));
    let mut clients = BTreeMap::new();
    for caller in CALLERS {
        let identity = match caller {
            Caller::NoCert => None,
            Caller::Expired => Some(write_identity(scratch.path(), "expired", &expired)),
            Caller::Revoked => Some(write_identity(scratch.path(), "revoked", &revoked)),
            Caller::OtherDomain => files(Principal::domain("tenantB").unwrap()),
            Caller::OwnDomain => files(Principal::domain("tenantA").unwrap()),
            Caller::ReadOnly => files(Principal::ReadOnly),
            Caller::Operator => files(Principal::Operator),
            Caller::Admin => files(Principal::Admin),
        };
        let tls = TlsOptions {
            ca: pki.ca_cert(),
            identity,
        };
        clients.insert(caller, http_client(&tls));
    }

    let material = key_material(&pki.dir);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, template, kind) in routes() {
        let url = format!("{base}{}", concrete(&template));
        for caller in CALLERS {
            let want = expected(caller, kind, &method);
            let mut request = clients[&caller].request(method.parse().unwrap(), &url);
            let valid = valid_body(&method, &template, caller);
            if method != "GET" {
                let body = valid
                    .clone()
                    .unwrap_or_else(|| r#"{"security_domain":"tenantA"}"#.to_owned());
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let got = match request.send().await {
                Err(error) => {
                    // A refusal is the TLS handshake turning the
                    // certificate away from a server that is up: a dead or
                    // unreachable server is a failure, not a refusal.
                    let alive = clients[&Caller::Admin]
                        .get(format!("{base}/healthz"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200);
                    if !alive {
                        failures.push(format!(
                            "{method} {template} as {caller:?}: the server is down after: {error}"
                        ));
                    }
                    Outcome::Refused
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    assert_no_secrets(&format!("{method} {url}"), &body, &material);
                    if valid.is_some() && want == Outcome::Passes && status != 201 {
                        failures.push(format!(
                            "{method} {template} as {caller:?}: a valid request got {status}: {body}"
                        ));
                    }
                    match status {
                        401 => Outcome::Unauthenticated,
                        403 => Outcome::Forbidden,
                        // Past authorisation a handler may refuse the
                        // matrix's placeholder input, never fail: a 5xx
                        // is a bug.
                        _ if status >= 500 => {
                            failures.push(format!(
                                "{method} {template} as {caller:?}: server error {status}: {body}"
                            ));
                            Outcome::Passes
                        }
                        _ if kind == Kind::Probe && status != 200 => {
                            failures.push(format!("{method} {template} as {caller:?}: {status}"));
                            Outcome::Passes
                        }
                        _ => Outcome::Passes,
                    }
                }
            };
            checked += 1;
            if got != want {
                failures.push(format!(
                    "{method} {template} as {caller:?}: expected {want:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 250, "{checked}");

    // The audit log has every denial and every mutation, as JSON lines,
    // and no key material, once the server has stopped (the lines of
    // requests whose records rode their store writes are deferred; a clean
    // stop writes them).
    let state = server.stop().await;
    let audit = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    assert_no_secrets("audit.log", &audit, &material);
    let entries: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |principal: &str, action: &str, status: u16| {
        entries.iter().any(|e| {
            e["principal"] == principal
                && e["action"] == action
                && e["status"] == status
                && e["request_id"].as_str().is_some_and(|r| !r.is_empty())
                && e["time"].is_string()
        })
    };
    assert!(find("admin", "POST /v1/corridors", 201), "{audit}");
    assert!(find("domain/tenantA", "POST /v1/ffm/alloc", 201), "{audit}");
    assert!(find("operator", "POST /v1/policies", 201), "{audit}");
    assert!(find("read-only", "POST /v1/corridors", 403), "{audit}");
    assert!(find("anonymous", "GET /v1/fabman/devices", 401), "{audit}");
    assert!(find("domain/tenantB", "POST /v1/ffm/alloc", 403), "{audit}");
    assert!(find("domain/tenantA", "GET /metrics", 403), "{audit}");
    // Allowed reads are not audited.
    assert!(
        !entries
            .iter()
            .any(|e| e["result"] == "allowed" && e["action"].as_str().unwrap().starts_with("GET")),
        "{audit}"
    );
}

//! corridorctl against a real corridord (in-process, free loopback port).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_server::Daemon;
use corridor_server::config::Config;
use corridor_services::ControlPlane;

struct Server {
    base: String,
    plane: Arc<ControlPlane>,
    _state: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn start() -> Server {
    start_with(|_| {})
}

fn start_with(configure: impl FnOnce(&mut Config)) -> Server {
    let state = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = Config::local(state.path());
    configure(&mut config);
    let daemon = runtime.block_on(Daemon::start(&config)).unwrap();
    let base = daemon.base_url();
    let plane = daemon.plane().clone();
    runtime.spawn(daemon.serve(std::future::pending()));
    Server {
        base,
        plane,
        _state: state,
        _runtime: runtime,
    }
}

fn corridorctl(server: &Server, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .env("CORRIDOR_STATE_DIR", server._state.path())
        .arg("--server")
        .arg(&server.base)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn get_devices_as_table_json_and_yaml() {
    let server = start();
    let (ok, table, err) = corridorctl(&server, &["get", "devices"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(lines[0].contains("STATUS"), "{table}");
    assert_eq!(lines.len(), 1 + 4, "{table}");
    assert!(table.contains("cxl-dev-001"), "{table}");

    let (ok, json, err) = corridorctl(&server, &["get", "devices", "-o", "json"]);
    assert!(ok, "{err}");
    let devices: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(devices.len(), 4);

    let (ok, yaml, err) = corridorctl(&server, &["get", "device", "cxl-dev-001", "-o", "yaml"]);
    assert!(ok, "{err}");
    assert!(yaml.contains("id: cxl-dev-001"), "{yaml}");
    assert!(yaml.contains("type: Type-3"), "{yaml}");

    let (ok, json, err) = corridorctl(
        &server,
        &["get", "devices", "-l", "kind=type3-mld", "-o", "json"],
    );
    assert!(ok, "{err}");
    let mld: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert!(!mld.is_empty() && mld.len() < 4, "{json}");
}

#[test]
fn errors_are_reported_with_the_servers_problem() {
    let server = start();
    let (ok, _, err) = corridorctl(&server, &["get", "device", "nope"]);
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
    // A command that would change the fabric behind fabmand: refused, naming the field.
    let (ok, _, err) = corridorctl(&server, &["fabric", "raw", "sw0", "0x5201", "00000800"]);
    assert!(!ok);
    assert!(err.contains("422") && err.contains("/opcode"), "{err}");
    let (ok, _, err) = corridorctl(&server, &["get", "devices", "-l", "bad key"]);
    assert!(!ok);
    assert!(err.contains("?label_selector"), "{err}");
}

#[test]
fn fabric_ports_and_a_raw_fm_api_query() {
    let server = start();
    let (ok, table, err) = corridorctl(&server, &["fabric", "ports"]);
    assert!(ok, "{err}");
    assert!(
        table.contains("FREE") && table.contains("cxl-dev-002"),
        "{table}"
    );
    let (ok, out, err) = corridorctl(&server, &["fabric", "raw", "sw0", "5101", "0109"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("5101h (Get Physical Port State) return code 0") && out.contains("port_id: 9"),
        "{out}"
    );
}

#[test]
fn server_address_from_the_environment_and_status() {
    let server = start();
    let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .env("CORRIDOR_STATE_DIR", server._state.path())
        .env("CORRIDOR_SERVER", &server.base)
        .arg("status")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("ready"));
}

/// Where the system has no CA certificates (an image built `FROM
/// scratch`), plain HTTP still works: the client loads no roots it does
/// not need. Without that, building the client failed with "No CA
/// certificates were loaded from the system" before any request.
#[test]
fn plain_http_needs_no_system_ca_certificates() {
    let server = start_with(|config| config.insecure_dev = true);
    assert!(server.base.starts_with("http://"), "{}", server.base);
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .env("CORRIDOR_STATE_DIR", server._state.path())
        .env("SSL_CERT_FILE", empty.path().join("none.pem"))
        .env("SSL_CERT_DIR", empty.path())
        .arg("--server")
        .arg(&server.base)
        .arg("status")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("ready"));
}

#[test]
fn watch_prints_changes_after_the_list() {
    let server = start();
    let mut child = spawn_watch(&server, "devices");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Header plus the four devices first.
    for _ in 0..5 {
        lines.next().unwrap().unwrap();
    }
    // Give the watch a moment to be established, then change a device.
    std::thread::sleep(Duration::from_millis(300));
    server
        ._runtime
        .block_on(server.plane.devices.update("cxl-dev-002", None, |device| {
            device.status = corridor_model::fabric::DeviceStatus::Degraded;
            Ok(())
        }))
        .unwrap();
    // Other devices change too (attestd's tickets land in the inventory as
    // corridord attests them at start): wait for this device's change.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut modified = Vec::new();
    let mut seen = false;
    while Instant::now() < deadline {
        let line = lines.next().unwrap().unwrap();
        if line.starts_with("MODIFIED") {
            seen = line.contains("cxl-dev-002") && line.contains("degraded");
            modified.push(line);
            if seen {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen,
        "no MODIFIED line for cxl-dev-002 degraded: {modified:#?}"
    );
}

#[test]
fn pki_issue_list_and_revoke_work_offline_on_the_state_dir() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
            .env("CORRIDOR_STATE_DIR", state.path())
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["pki", "issue", "--domain", "tenantB"]);
    assert!(!ok && err.contains("pki init"), "{err}");
    let (ok, out, err) = run(&["pki", "init"]);
    assert!(ok && out.contains("ca.pem"), "{out}{err}");
    let (ok, out, err) = run(&["pki", "issue", "--domain", "tenantB"]);
    assert!(ok, "{err}");
    assert!(out.contains("domain/tenantB"), "{out}");
    assert!(state.path().join("pki/domain-tenantB.key").exists());
    let serial = out
        .lines()
        .find_map(|l| l.strip_prefix("serial"))
        .unwrap()
        .trim()
        .to_string();
    let (ok, _, err) = run(&["pki", "issue", "--domain", "tenantB"]);
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, out, err) = run(&["pki", "revoke", &serial]);
    assert!(ok, "{err}");
    assert!(out.contains("SIGHUP"), "{out}");
    let (ok, out, _) = run(&["pki", "list"]);
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with(&serial)).unwrap();
    assert!(
        line.contains("revoked") && line.contains("domain/tenantB"),
        "{out}"
    );
    let (ok, _, err) = run(&["pki", "issue", "--domain", "bad.domain"]);
    assert!(!ok && err.contains("security domain"), "{err}");
}

#[test]
fn corridor_verbs_create_inspect_and_release() {
    let server = start();
    let request = server._state.path().join("corridor.json");
    std::fs::write(
        &request,
        r#"{
  "corridor_type": "SiCorridor",
  "lanes": 2,
  "lambda_nm": [1550, 1551],
  "min_gbps": 100,
  "latency_budget_ns": 250,
  "reach_mm": 75,
  "mode": "waveguide",
  "qos": {"pfc": true, "priority": "gold"},
  "attestation_required": false
}"#,
    )
    .unwrap();
    let file = request.to_str().unwrap();
    // A dry run prints the plan and creates nothing.
    let (ok, plan, err) = corridorctl(&server, &["corridor", "create", "-f", file, "--dry-run"]);
    assert!(ok, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(
        plan["assigned_lambda_nm"].as_array().unwrap().len(),
        2,
        "{plan}"
    );
    let (ok, table, err) = corridorctl(&server, &["get", "corridors", "-o", "json"]);
    assert!(ok, "{err}");
    assert_eq!(table.trim(), "[]", "a dry run created a corridor");
    let (ok, created, err) =
        corridorctl(&server, &["corridor", "create", "-f", file, "-o", "json"]);
    assert!(ok, "{err}");
    let corridor: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(corridor["status"], "active", "{created}");
    let id = corridor["id"].as_str().unwrap();

    let (ok, table, err) = corridorctl(&server, &["get", "corridors"]);
    assert!(ok, "{err}");
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    assert!(table.contains(id), "{table}");

    let (ok, telemetry, err) = corridorctl(&server, &["corridor", "telemetry", id]);
    assert!(ok, "{err}");
    let telemetry: serde_json::Value = serde_json::from_str(&telemetry).unwrap();
    for field in [
        "ber",
        "temp_c",
        "power_pj_per_bit",
        "drift",
        "utilization_percent",
        "error_count",
    ] {
        assert!(telemetry.get(field).is_some(), "{field}: {telemetry}");
    }

    let (ok, op, err) = corridorctl(&server, &["corridor", "recalibrate", id, "-o", "json"]);
    assert!(ok, "{err}");
    assert!(op.contains("\"calibration\""), "{op}");

    // Every corridor holds a lease (the server default when the request
    // names none); renewing it moves its expiry.
    let (ok, renewed, err) = corridorctl(&server, &["corridor", "renew", id, "-o", "json"]);
    assert!(ok, "{err}");
    assert!(renewed.contains("\"lease_expires_at\""), "{renewed}");

    let (ok, released, err) = corridorctl(&server, &["corridor", "delete", id, "-o", "json"]);
    assert!(ok, "{err}");
    assert!(released.contains("\"released\""), "{released}");
    let (ok, _, err) = corridorctl(&server, &["get", "corridor", id]);
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
}

#[test]
fn get_corridors_watch_prints_grants() {
    let server = start();
    let mut child = spawn_watch(&server, "corridors");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The (empty) table's header first.
    lines.next().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let request: corridor_model::corridor::CorridorRequest =
        serde_json::from_value(serde_json::json!({
            "corridor_type": "SiCorridor",
            "lanes": 1,
            "lambda_nm": [1552],
            "min_gbps": 20,
            "latency_budget_ns": 250,
            "reach_mm": 75,
            "mode": "waveguide",
            "qos": {"pfc": false, "priority": "silver"},
            "attestation_required": false
        }))
        .unwrap();
    let created = server
        ._runtime
        .block_on(
            server
                .plane
                .corridors
                .create(&corridor_services::Caller::system(), request),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = None;
    while Instant::now() < deadline {
        let line = lines.next().unwrap().unwrap();
        if line.starts_with("ADDED") {
            seen = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = seen.expect("an ADDED line");
    assert!(line.contains(&created.id), "{line}");
}

/// `corridorctl get <kind> -w` against `server`, its output piped.
fn spawn_watch(server: &Server, kind: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .env("CORRIDOR_STATE_DIR", server._state.path())
        .arg("--server")
        .arg(&server.base)
        .args(["get", kind, "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// hello.riscv64, cross-compiled once per build (its directory is the
/// allowed launch root).
fn hello_riscv64() -> std::path::PathBuf {
    corridor_hal::compat::cross::shipped_program("hello", "riscv64").unwrap()
}

#[test]
fn compat_run_reports_the_cost_and_binfmt_shows_the_registrations() {
    let exe = hello_riscv64();
    let dir = exe.parent().unwrap().to_path_buf();
    let server = start_with(|config| config.compat.allowed_roots = vec![dir.clone()]);
    // `corridorctl compat run ./hello.riscv64`, relative to where it runs.
    let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .current_dir(&dir)
        .env("CORRIDOR_STATE_DIR", server._state.path())
        .args(["--server", &server.base, "compat", "run", "./hello.riscv64"])
        .args(["--", "exit:0"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "hello from hello.riscv64\n");
    assert!(stderr.contains("under riscv64-linux (qemu"), "{stderr}");
    assert!(stderr.contains("exit 0"), "{stderr}");
    assert!(stderr.contains("guest instructions "), "{stderr}");

    let (ok, table, err) = corridorctl(&server, &["compat", "binfmt"]);
    assert!(ok, "{err}");
    assert!(
        table.contains("host table /proc/sys/fs/binfmt_misc"),
        "{table}"
    );
    assert!(table.contains(":corridor-riscv64-linux:M:0:"), "{table}");
    // The host's own table only when the server is configured for it.
    let (ok, _, err) = corridorctl(&server, &["compat", "binfmt", "register", "riscv64-linux"]);
    assert!(!ok);
    assert!(
        err.contains("SystemWideOff") || err.contains("binfmt_system_wide"),
        "{err}"
    );

    let exe_arg = exe.display().to_string();
    let (ok, stdout, err) = corridorctl(&server, &["compat", "run", "--binfmt", &exe_arg]);
    assert!(ok, "{err}");
    assert_eq!(stdout, format!("hello from {exe_arg}\n"));

    let (ok, ps, err) = corridorctl(&server, &["compat", "ps"]);
    assert!(ok, "{err}");
    assert_eq!(ps.lines().count(), 1 + 2, "{ps}");
}

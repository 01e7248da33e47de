//! corridorctl's memqosd verbs against a real corridord: alloc, then one
//! corridorctl process writes through the mapped fd and another reads the
//! same bytes back; floor, telemetry, policy, delete.

use std::process::Command;

use corridor_server::Daemon;
use corridor_server::config::Config;

fn corridorctl(state: &std::path::Path, base: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .env("CORRIDOR_STATE_DIR", state)
        .arg("--server")
        .arg(base)
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
fn ffm_verbs_end_to_end() {
    let state = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let daemon = runtime
        .block_on(Daemon::start(&Config::local(state.path())))
        .unwrap();
    let base = daemon.base_url();
    let server = runtime.spawn(daemon.serve(std::future::pending()));
    let ctl = |args: &[&str]| corridorctl(state.path(), &base, args);

    // A dry run prints the plan and allocates nothing.
    let (ok, out, err) = ctl(&[
        "ffm",
        "alloc",
        "--bytes",
        "1048576",
        "--class",
        "T1",
        "--floor",
        "5",
        "--domain",
        "tenantA",
        "--dry-run",
    ]);
    assert!(ok, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["placement"][0]["bytes"], 1_048_576, "{plan}");
    assert_eq!(plan["telemetry_source"], "model", "{plan}");
    assert!(!err.contains("hand-off token"), "{err}");
    let (ok, out, err) = ctl(&["get", "ffm", "-o", "json"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]", "a dry run allocated a bundle");

    let (ok, out, err) = ctl(&[
        "ffm",
        "alloc",
        "--bytes",
        "1048576",
        "--class",
        "T1",
        "--floor",
        "5",
        "--domain",
        "tenantA",
        "--shareable",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("hand-off token"), "{err}");
    let bundle: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = bundle["id"].as_str().unwrap();

    let (ok, _, err) = ctl(&[
        "ffm",
        "map",
        id,
        "--offset",
        "100",
        "--write",
        "through the fd",
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = ctl(&["ffm", "map", id, "--offset", "100", "--read", "14"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "through the fd");

    let (ok, out, err) = ctl(&["ffm", "floor", id, "7.5"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"bandwidth_floor_GBs\": 7.5"), "{out}");
    let (ok, out, err) = ctl(&["ffm", "telemetry", id]);
    assert!(ok, "{err}");
    let telemetry: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(telemetry["resident"][0]["bytes"], 4096, "one page touched");
    let (ok, out, err) = ctl(&["get", "ffm", "-o", "json"]);
    assert!(ok, "{err}");
    assert!(out.contains(id), "{out}");
    let (ok, out, err) = ctl(&[
        "policy",
        "create",
        "--name",
        "night",
        "--domain",
        "tenantA",
        "--min",
        "10",
        "--start",
        "20:00",
        "--end",
        "08:00",
        "--time-zone",
        "Europe/Berlin",
    ]);
    assert!(ok, "{err}");
    let policy: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(policy["window"]["time_zone"], "Europe/Berlin");
    // What memqosd allocates on: a row per device and window; the bundle's
    // 7.5 GB/s by day and the policy's 10 at night on its T1 device.
    let (ok, table, err) = ctl(&["get", "tiers"]);
    assert!(ok, "{err}");
    let header = table.lines().next().unwrap();
    for column in [
        "DEVICE",
        "TIER",
        "SOURCE",
        "WINDOW",
        "ADMITTED_GBS",
        "LEFT_GBS",
    ] {
        assert!(header.contains(column), "{table}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.contains("T1") && l.contains("outside policy windows") && l.contains("7.5")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.contains("T1")
            && l.contains("20:00–08:00 Europe/Berlin")
            && l.contains("10")),
        "{table}"
    );
    let (ok, out, err) = ctl(&["get", "tiers", "-o", "json"]);
    assert!(ok, "{err}");
    let tiers: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = tiers["devices"][0]["id"].as_str().unwrap().to_owned();
    let (ok, out, err) = ctl(&["get", "tiers", &first, "-o", "json"]);
    assert!(ok, "{err}");
    let one: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(one["devices"].as_array().unwrap().len(), 1, "{out}");
    let (ok, _, err) = ctl(&["get", "tiers", "no-such-device"]);
    assert!(!ok && err.contains("no-such-device"), "{err}");
    let (ok, _, err) = ctl(&["policy", "delete", policy["id"].as_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = ctl(&["ffm", "delete", id]);
    assert!(ok, "{err}");
    let (ok, _, _) = ctl(&["ffm", "telemetry", id]);
    assert!(!ok);
    server.abort();
}

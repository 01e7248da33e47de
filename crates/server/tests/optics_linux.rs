//! `corridord --optics linux` end to end: the real binary drives two CMIS modules through
//! optoe-layout map files, each played by the project's module simulator on a thread that
//! reacts to the host's writes as a module would. A corridor provisioned through the API walks
//! the modules and their data paths through the CMIS state machines, which the test reads back
//! from what the modules recorded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::problem::Reply;
use common::process::{self, Corridord, free_port};

use corridor_hal::Topology;
use corridor_hal::optical::file_module::{FileModule, ModuleSnapshot};
use corridor_hal::optical::twin::module_profile;
use corridor_protocols::cmis::{DataPathState, Lane, ModuleSim, ModuleState};
use serde_json::{Value, json};

mod common;

const PORTS: [&str; 2] = ["op-h0-0", "op-h1-0"];

/// The default rack cut down to one cabled port pair: with real modules every optical port of
/// the topology needs a device, and this test has two.
fn two_port_rack() -> Topology {
    let mut doc = Topology::default_twin().into_document();
    doc.optical_ports.retain(|p| PORTS.contains(&p.id.as_str()));
    doc.links.retain(|l| l.id.as_str() == "l-h0-h1-a");
    Topology::from_document(doc, "two-port rack").unwrap()
}

/// The module behind `port`, as the twin would build it, receiving light on every lane: the
/// simulator does not model the fibre, so the received power and BER of a lit link are set
/// here (Rx power is what the module reports whatever its transmitters do).
fn module(rack: &Topology, port: &str) -> ModuleSim {
    let mut sim =
        ModuleSim::new(module_profile(rack.optical_port(port).unwrap()).unwrap()).unwrap();
    sim.set_temperature_c(41.0).unwrap();
    for n in 1..=sim.profile().lanes {
        let lane = Lane::new(n).unwrap();
        sim.set_rx_power_uw(lane, 310.0).unwrap();
        sim.set_bias_ma(lane, 60.0).unwrap();
        sim.set_pre_fec_ber(lane, 2.0e-9).unwrap();
    }
    sim
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let reply = Reply::read(request.send().await.unwrap()).await;
    (reply.status, reply.body)
}

/// Index of the first snapshot at or after `from` matching `want`.
fn seen_after(
    seen: &[ModuleSnapshot],
    from: usize,
    want: impl Fn(&ModuleSnapshot) -> bool,
) -> Option<usize> {
    seen.iter()
        .enumerate()
        .skip(from)
        .find(|(_, s)| want(s))
        .map(|(i, _)| i)
}

/// The module left low power, then the corridor's lanes walked the data-path state machine up
/// to Activated and, after the DELETE, back to Deactivated.
fn assert_walked(port: &str, seen: &[ModuleSnapshot], lanes: &[u8]) {
    let on = |state: DataPathState| {
        move |s: &ModuleSnapshot| {
            lanes
                .iter()
                .all(|&l| s.data_paths[usize::from(l - 1)] == Some(state))
        }
    };
    assert_eq!(
        seen[0].module,
        Some(ModuleState::LowPwr),
        "{port}: {seen:?}"
    );
    assert!(on(DataPathState::Deactivated)(&seen[0]));
    let pwr_up = seen_after(seen, 0, |s| s.module == Some(ModuleState::PwrUp))
        .unwrap_or_else(|| panic!("{port} never powered up: {seen:?}"));
    let mut at = seen_after(seen, pwr_up, |s| s.module == Some(ModuleState::Ready))
        .unwrap_or_else(|| panic!("{port} never ready: {seen:?}"));
    for state in [
        DataPathState::Init,
        DataPathState::Initialized,
        DataPathState::TxTurnOn,
        DataPathState::Activated,
        DataPathState::Deactivated,
    ] {
        at = seen_after(seen, at, on(state))
            .unwrap_or_else(|| panic!("{port}: lanes {lanes:?} never {state:?}: {seen:?}"));
    }
    // Lanes the corridor does not hold were never brought up.
    assert!(
        seen.iter().all(|s| s
            .data_paths
            .iter()
            .enumerate()
            .filter(|(i, _)| !lanes.contains(&(*i as u8 + 1)))
            .all(|(_, d)| *d == Some(DataPathState::Deactivated))),
        "{port}: {seen:?}"
    );
}

fn write_config(dir: &Path, rack: &Topology) -> std::path::PathBuf {
    let topology = dir.join("rack.toml");
    std::fs::write(&topology, rack.to_toml_string()).unwrap();
    let mut config = format!(
        "topology = {:?}\n[optics]\npoll_interval_ms = 1\n[optics.ports]\n",
        topology.display().to_string()
    );
    for port in PORTS {
        config.push_str(&format!(
            "{port:?} = {:?}\n",
            dir.join(format!("{port}.eeprom")).display().to_string()
        ));
    }
    let path = dir.join("corridord.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corridord_with_linux_optics_provisions_a_corridor_on_file_backed_cmis_modules() {
    let dir = tempfile::tempdir().unwrap();
    let rack = two_port_rack();
    let modules: Vec<FileModule> = PORTS
        .iter()
        .map(|port| {
            FileModule::spawn(
                dir.path().join(format!("{port}.eeprom")),
                module(&rack, port),
                Duration::from_micros(500),
            )
            .unwrap()
        })
        .collect();
    let config = write_config(dir.path(), &rack);
    let port = free_port();
    let mut command = process::command();
    command
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--optics")
        .arg("linux")
        .arg("--insecure-dev")
        .arg("--log")
        .arg("warn")
        .stderr(Stdio::piped());
    let mut corridord = Corridord::spawn(command, &dir.path().join("state"), port, false);
    corridord.ready().await;
    let base = corridord.base();
    let client = reqwest::Client::new();

    let request = json!({
        "corridor_type": "SiCorridor",
        "lanes": 1,
        "lambda_nm": [1550.0],
        "min_gbps": 20,
        "latency_budget_ns": 1000,
        "reach_mm": 5000,
        "mode": "waveguide",
        "qos": {"pfc": false, "priority": "gold"},
        "attestation_required": false
    });
    let (status, corridor) = send(client.post(format!("{base}/v1/corridors")).json(&request)).await;
    assert_eq!(status, 201, "{corridor}");
    assert_eq!(corridor["status"], "active", "{corridor}");
    let id = corridor["id"].as_str().unwrap().to_owned();
    let assignment = &corridor["assignment"];
    let mut ports: Vec<&str> = assignment["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, PORTS);
    let lanes: Vec<u8> = assignment["module_lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| u8::try_from(l.as_u64().unwrap()).unwrap())
        .collect();
    assert_eq!(lanes.len(), 1, "{assignment}");

    // Telemetry is what the modules' maps say: their temperature and BER.
    let (status, telemetry) = send(client.get(format!("{base}/v1/corridors/{id}/telemetry"))).await;
    assert_eq!(status, 200, "{telemetry}");
    assert!(
        (telemetry["temp_c"].as_f64().unwrap() - 41.0).abs() < 0.01,
        "{telemetry}"
    );
    // The modules report a pre-FEC BER of 2e-9; through KP4 that is far
    // below the F16 floor, so `ber` (post-FEC) is the floor, flagged.
    let pre = telemetry["pre_fec_ber"].as_f64().unwrap();
    assert!((pre - 2.0e-9).abs() / 2.0e-9 < 1e-2, "{telemetry}");
    assert_eq!(telemetry["ber"].as_f64(), Some(1e-24), "{telemetry}");
    assert_eq!(telemetry["ber_is_upper_bound"], json!(true), "{telemetry}");
    // Read from module registers, not computed by corrd.
    assert_eq!(telemetry["source"], "counter", "{telemetry}");

    // Real modules take no injected faults: a 409 saying so, never a 500.
    let (status, problem) = send(
        client
            .post(format!("{base}/v1/admin/twin/faults"))
            .json(&json!({"port": PORTS[0], "fault": {"kind": "clear"}})),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["reason"], "NotATwin", "{problem}");

    let (status, released) = send(client.delete(format!("{base}/v1/corridors/{id}"))).await;
    assert_eq!(status, 200, "{released}");

    corridord.signal(libc::SIGTERM);
    corridord.wait_exit(Duration::from_secs(10), "SIGTERM");

    for (port, module) in PORTS.iter().zip(modules) {
        let seen = module.transitions();
        let sim = module.stop().unwrap();
        assert_walked(port, &seen, &lanes);
        let lane = Lane::new(lanes[0]).unwrap();
        assert_eq!(sim.map().module_state().unwrap(), ModuleState::Ready);
        assert_eq!(
            sim.map().dp_state(lane).unwrap(),
            DataPathState::Deactivated
        );
        let channel = assignment["grid_channels"][0].as_i64().unwrap();
        assert_eq!(
            i64::from(sim.map().channel(lane).unwrap()),
            channel,
            "{port}"
        );
    }
}

#[test]
fn corridord_refuses_to_start_when_a_topology_port_has_no_module() {
    let dir = tempfile::tempdir().unwrap();
    let rack = two_port_rack();
    // The embedded 16-port rack with devices for two of its ports only.
    let _modules: Vec<FileModule> = PORTS
        .iter()
        .map(|port| {
            FileModule::spawn(
                dir.path().join(format!("{port}.eeprom")),
                module(&rack, port),
                Duration::from_millis(1),
            )
            .unwrap()
        })
        .collect();
    let config = write_config(dir.path(), &rack);
    let text = std::fs::read_to_string(&config).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("topology"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, text).unwrap();
    let output = Command::new(process::BINARY)
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--optics")
        .arg("linux")
        .arg("--insecure-dev")
        .arg("--log-format")
        .arg("text")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open the optical modules"),
        "{stderr}"
    );
    assert!(
        stderr.contains("op-h0-1"),
        "names an unmapped port: {stderr}"
    );
    assert!(
        !stderr.contains("\"op-h0-0\""),
        "a mapped port is not listed: {stderr}"
    );
}

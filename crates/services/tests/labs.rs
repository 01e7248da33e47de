//! CorridorLabs: the shipped scenarios replay through the real services,
//! bit for bit the same on every run, and each report shows what its
//! scenario is about.

use std::path::{Path, PathBuf};

use corridor_services::labs::{self, LabsError, Report, Scenario};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn load(name: &str) -> Scenario {
    let path = scenarios_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::from_toml_str(&text, &path.display().to_string()).unwrap()
}

async fn run(name: &str) -> Report {
    labs::run(&load(name)).await.unwrap()
}

/// The report's files, as bytes.
fn written(report: &Report) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let files = labs::write_report(report, dir.path()).unwrap();
    (
        std::fs::read(files.json).unwrap(),
        std::fs::read(files.html).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_scenario_twice_gives_byte_identical_reports() {
    let (json_a, html_a) = written(&run("hvac-failure.toml").await);
    let (json_b, html_b) = written(&run("hvac-failure.toml").await);
    assert!(json_a == json_b, "report.json differs between two runs");
    assert!(html_a == html_b, "report.html differs between two runs");
    // The ids the run made are in it, so seeded ids are what keeps it equal.
    let text = String::from_utf8(json_a).unwrap();
    assert!(text.contains("\"id\": \"cor-"), "{text}");
    let html = String::from_utf8(html_a).unwrap();
    assert!(html.contains("<svg"));
    // Self-contained: the SVG namespace is the only URL, and nothing loads.
    let urls = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!urls.contains("http://") && !urls.contains("https://"));
    assert!(!html.contains("<script") && !html.contains("<link"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hvac_failure_warms_the_modules_and_the_rings_are_calibrated() {
    let report = run("hvac-failure.toml").await;
    assert!(report.modelled.contains("modelled") || report.modelled.contains("models"));
    let corridor = &report.corridors[0];
    let temp_at = |t: u64| {
        corridor
            .samples
            .iter()
            .find(|s| s.t_s == t)
            .and_then(|s| s.temp_c)
            .unwrap()
    };
    // The CRAC fails at 1 h and the inlet is 10 K up by 1.5 h; recovered by 3 h.
    let before = temp_at(3600);
    let during = temp_at(6300);
    let after = temp_at(12600);
    assert!(during > before + 5.0, "{before} -> {during}");
    assert!(after < during - 5.0, "{during} -> {after}");
    assert!(
        report
            .calibration_events
            .iter()
            .any(|e| e.kind == "first_calibration"),
        "{:?}",
        report.calibration_events
    );
    assert_eq!(report.totals.corridors_blocked, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_cut_under_load_degrades_its_corridors_and_blocks_requests() {
    let report = run("link-cut.toml").await;
    assert_eq!(report.faults.len(), 2);
    assert!(
        report.faults.iter().all(|f| f.error.is_none()),
        "{:?}",
        report.faults
    );
    // After the cut at 1800 s, corrd's pass finds the corridor on the cut
    // link dark and cannot repair it on the same link.
    assert!(
        report
            .calibration_events
            .iter()
            .any(|e| e.t_s >= 1800 && e.kind == "degraded"),
        "{:?}",
        report.calibration_events
    );
    let cut = report.intervals.iter().find(|i| i.t_s == 2400).unwrap();
    assert!(cut.corridors_degraded > 0, "{cut:?}");
    assert!(report.totals.corridors_blocked > 0);
    assert!(
        report
            .refusals
            .iter()
            .all(|r| r.reason.as_deref() == Some("InsufficientCapacity")),
        "{:?}",
        report.refusals
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2000_crunch_refuses_floors_it_cannot_hold_and_keeps_the_admitted_ones() {
    let report = run("memory-crunch-2000.toml").await;
    assert_eq!(report.start, "2025-06-02T19:30:00Z");
    // Nothing is refused before the 20:00 burst; floors are refused in it.
    let first = report
        .refusals
        .first()
        .expect("the crunch refuses some floors");
    assert!(first.t_s >= 1800.0, "{first:?}");
    assert_eq!(first.reason.as_deref(), Some("InsufficientCapacity"));
    assert!(report.totals.bundles_blocked > 0);
    // What was admitted keeps its floor: admission, not over-commitment.
    assert!(report.totals.floor_samples > 0);
    assert_eq!(
        report.totals.floor_samples_met, report.totals.floor_samples,
        "{:?}",
        report.totals
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diurnal_day_runs_and_reports_every_hour() {
    let report = run("diurnal-day.toml").await;
    assert_eq!(report.intervals.len(), 24);
    assert!(report.totals.corridors_offered > 0 && report.totals.bundles_offered > 0);
    assert!(
        report
            .corridors
            .iter()
            .any(|c| c.samples.iter().any(|s| s.ber.is_some()))
    );
    assert!(report.totals.max_temp_c.is_some());
}

fn refused(text: &str) -> (String, String) {
    match Scenario::from_toml_str(text, "bad.toml") {
        Err(LabsError::Invalid { field, message, .. }) => (field, message),
        Err(LabsError::Parse { message, .. }) => ("<parse>".into(), message),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

const GOOD: &str = r#"
name = "ok"
seed = 1
duration_s = 600
step_s = 60
[[arrivals]]
kind = "corridor"
mean_interarrival_s = 60
mean_holding_s = 60
request = { corridor_type = "SiCorridor", lanes = 1, lambda_nm = [1550], min_gbps = 25, latency_budget_ns = 250, reach_mm = 75, mode = "waveguide", qos = { pfc = true, priority = "gold" }, attestation_required = false }
[[faults]]
at_s = 60
port = "op-h0-0"
fault = { kind = "temperature_step", celsius = 5 }
"#;

#[test]
fn bad_scenario_files_name_the_field() {
    Scenario::from_toml_str(GOOD, "good.toml").unwrap();
    let cases = [
        ("step_s = 60", "step_s = 0", "step_s"),
        ("duration_s = 600", "duration_s = 0", "duration_s"),
        ("name = \"ok\"", "name = \"a b\"", "name"),
        (
            "mean_holding_s = 60",
            "mean_holding_s = -1",
            "arrivals[0].mean_holding_s",
        ),
        (
            "kind = \"corridor\"",
            "kind = \"fridge\"",
            "arrivals[0].kind",
        ),
        ("lanes = 1,", "lanes = 0,", "arrivals[0].request/lanes"),
        ("at_s = 60", "at_s = 6000", "faults[0].at_s"),
        ("celsius = 5", "celsius = 500", "faults[0]/fault"),
    ];
    for (from, to, field) in cases {
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "{from}");
        let (named, message) = refused(&text);
        assert!(
            named.starts_with(field),
            "{to}: named {named:?} ({message}), want {field}"
        );
    }
    // Unknown keys and bad types are parse errors with the line.
    let (named, message) = refused(&GOOD.replacen("seed = 1", "seed = 1\ncolour = 2", 1));
    assert_eq!(named, "<parse>");
    assert!(
        message.contains("colour") && message.contains("line"),
        "{message}"
    );
}

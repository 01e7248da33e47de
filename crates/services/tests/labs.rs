//! CorridorLabs: the shipped scenarios replay through the real services,
//! bit for bit the same on every run, and their reports show what each
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    for name in [
        "hvac-failure.toml",
        "link-cut.toml",
        "memory-crunch-2000.toml",
        "diurnal-day.toml",
    ] {
        let started = std::time::Instant::now();
        let report = run(name).await;
        eprintln!("{name}: {:?} {:?}", started.elapsed(), report.totals);
        eprintln!(
            "refusals: {:?}",
            report.refusals.iter().take(3).collect::<Vec<_>>()
        );
        eprintln!(
            "events: {:?}",
            report.calibration_events.iter().take(8).collect::<Vec<_>>()
        );
        eprintln!("faults: {:?}", report.faults);
        let dir = std::env::temp_dir().join(format!("labs-probe-{name}"));
        labs::write_report(&report, &dir).unwrap();
    }
    let _ = LabsError::Start(String::new());
}

//! `corridorctl labs run` as a newcomer runs it: a shipped scenario, its
//! report written under the state directory (where corridord serves it to
//! the console) or to `--out`, the same bytes both times.

use std::path::Path;
use std::process::Command;

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
        .display()
        .to_string()
}

fn corridorctl(state: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_corridorctl"))
        .env("CORRIDOR_STATE_DIR", state)
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
fn labs_run_writes_the_report_under_the_state_dir_and_to_out() {
    let state = tempfile::tempdir().unwrap();
    let (ok, out, err) = corridorctl(
        state.path(),
        &["labs", "run", &scenario("hvac-failure.toml")],
    );
    assert!(ok, "{out}\n{err}");
    let dir = state.path().join("labs/hvac-failure");
    assert!(
        out.contains(&dir.join("report.html").display().to_string()),
        "{out}"
    );
    assert!(out.contains("calibration events"), "{out}");
    let json = std::fs::read(dir.join("report.json")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("hvac-failure"));

    let elsewhere = tempfile::tempdir().unwrap();
    let (ok, out, err) = corridorctl(
        state.path(),
        &[
            "labs",
            "run",
            &scenario("hvac-failure.toml"),
            "--out",
            &elsewhere.path().display().to_string(),
        ],
    );
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        std::fs::read(elsewhere.path().join("report.json")).unwrap(),
        json
    );
}

#[test]
fn labs_run_names_the_field_of_a_bad_scenario() {
    let state = tempfile::tempdir().unwrap();
    let bad = state.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nseed = 1\nduration_s = 60\nstep_s = 0\n",
    )
    .unwrap();
    let (ok, _, err) = corridorctl(state.path(), &["labs", "run", &bad.display().to_string()]);
    assert!(!ok);
    assert!(err.contains("step_s"), "{err}");
    assert!(!state.path().join("labs").exists());
}

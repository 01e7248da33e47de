//! The reports kept under a state directory, for corridord to serve:
//! `<state dir>/labs/<name>/report.json` and `report.html`, as
//! `corridorctl labs run` wrote them. Read-only: a report is never changed
//! by the server.

use std::path::{Path, PathBuf};

use corridor_model::labs::LabsReportSummary;

/// The directory of reports under a state directory (corridorctl writes
/// there by default).
pub fn reports_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("labs")
}

/// A report's name is one path segment of these characters, so no name
/// reaches outside the reports directory.
fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every readable report, by name. A directory whose `report.json` is not
/// a report is left out (it is someone else's, or half written).
pub fn list(dir: &Path) -> Vec<LabsReportSummary> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_name(n))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let text = std::fs::read(dir.join(&name).join("report.json")).ok()?;
            summary(name, &serde_json::from_slice(&text).ok()?)
        })
        .collect()
}

fn summary(name: String, report: &serde_json::Value) -> Option<LabsReportSummary> {
    let scenario = report.get("scenario")?;
    let totals = report.get("totals")?;
    let count = |v: &serde_json::Value, key: &str| v.get(key).and_then(serde_json::Value::as_u64);
    let small = |key: &str| count(totals, key).and_then(|n| u32::try_from(n).ok());
    Some(LabsReportSummary {
        name,
        description: scenario.get("description")?.as_str()?.to_owned(),
        seed: count(report, "seed")?,
        duration_s: count(scenario, "duration_s")?,
        corridors_offered: small("corridors_offered")?,
        corridors_blocked: small("corridors_blocked")?,
        bundles_offered: small("bundles_offered")?,
        bundles_blocked: small("bundles_blocked")?,
        calibration_events: count(totals, "calibration_events")?,
    })
}

/// Which file of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFile {
    Json,
    Html,
}

/// The bytes of one report's file; `None` if there is no such report.
pub fn read(dir: &Path, name: &str, file: ReportFile) -> Option<Vec<u8>> {
    if !valid_name(name) {
        return None;
    }
    let file = match file {
        ReportFile::Json => "report.json",
        ReportFile::Html => "report.html",
    };
    std::fs::read(dir.join(name).join(file)).ok()
}

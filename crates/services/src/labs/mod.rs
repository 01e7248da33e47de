//! CorridorLabs: deterministic scenario replay with reports.
//!
//! A scenario (`scenario`) names a seed, an ambient profile, arrival
//! processes of corridor and bundle requests, faults at given times and a
//! duration. `schedule` draws its timeline from the seed; `runner` plays it
//! through a fresh `ControlPlane` on a scratch store with every clock and id
//! generator driven by the scenario; `report` and `html` write what was
//! seen. The same scenario gives byte-identical `report.json` and
//! `report.html` on every run.

pub mod html;
pub mod library;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schedule;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use report::Report;
pub use runner::run;
pub use scenario::Scenario;

#[derive(Debug, Error)]
pub enum LabsError {
    #[error("{source_name}: not a scenario file: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {field}: {message}")]
    Invalid {
        source_name: String,
        field: String,
        message: String,
    },
    #[error("cannot start the scenario's control plane: {0}")]
    Start(String),
    #[error("cannot {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// The files a report is written to.
#[derive(Debug, Clone)]
pub struct Written {
    pub json: PathBuf,
    pub html: PathBuf,
}

/// Writes `report.json` and `report.html` into `dir` (created if needed).
pub fn write_report(report: &Report, dir: &Path) -> Result<Written, LabsError> {
    std::fs::create_dir_all(dir).map_err(|source| LabsError::Io {
        what: format!("create {}", dir.display()),
        source,
    })?;
    let json = dir.join("report.json");
    let html = dir.join("report.html");
    for (path, text) in [(&json, report.to_json()), (&html, html::render(report))] {
        std::fs::write(path, text).map_err(|source| LabsError::Io {
            what: format!("write {}", path.display()),
            source,
        })?;
    }
    Ok(Written { json, html })
}

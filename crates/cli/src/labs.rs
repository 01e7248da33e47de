//! `corridorctl labs run scenario.toml`: a CorridorLabs replay, run here.
//!
//! The run needs no server: it starts its own control plane on a scratch
//! store (the services linked into corridorctl), so it never touches a
//! running corridord's state and takes only the CPU of this process. The
//! report goes to `<state-dir>/labs/<name>/` by default, where corridord
//! serves it to the console (`GET /v1/labs/reports`), or to `--out`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use corridor_services::labs;

#[derive(Debug, Subcommand)]
pub enum LabsCommand {
    /// Replay a scenario file on the twin and write report.json and
    /// report.html.
    Run {
        /// The scenario (TOML; `scenarios/` in the repository has examples)
        scenario: PathBuf,
        /// Where to write the report [default: <state-dir>/labs/<name>]
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(state_dir: &Path, command: LabsCommand) -> anyhow::Result<()> {
    match command {
        LabsCommand::Run { scenario, out } => {
            let text = std::fs::read_to_string(&scenario)
                .with_context(|| format!("cannot read {}", scenario.display()))?;
            let scenario = labs::Scenario::from_toml_str(&text, &scenario.display().to_string())?;
            let out = out
                .unwrap_or_else(|| labs::library::reports_dir(state_dir).join(&scenario.file.name));
            eprintln!(
                "running {} ({} s of simulated time in steps of {} s, seed {})…",
                scenario.file.name,
                scenario.file.duration_s,
                scenario.file.step_s,
                scenario.file.seed
            );
            let report = labs::run(&scenario).await?;
            let written = labs::write_report(&report, &out)?;
            let t = &report.totals;
            println!(
                "corridors blocked {}/{}, bundles blocked {}/{}, floors met {}/{} samples, {} calibration events",
                t.corridors_blocked,
                t.corridors_offered,
                t.bundles_blocked,
                t.bundles_offered,
                t.floor_samples_met,
                t.floor_samples,
                t.calibration_events
            );
            println!("{}", written.json.display());
            println!("{}", written.html.display());
            Ok(())
        }
    }
}

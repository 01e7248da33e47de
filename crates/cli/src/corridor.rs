//! `corridorctl corridor …`: the corrd verbs beyond `get corridors`.

use std::path::PathBuf;

use clap::Subcommand;
use corridor_client::Client;
use corridor_model::corridor::{CorridorRequest, TwinFaultRequest};
use serde_json::Value;

use crate::kinds::Kind;
use crate::output::{Format, render};

#[derive(Debug, Subcommand)]
pub enum CorridorCommand {
    /// Allocate a corridor from a JSON request (the RFC's body), given
    /// inline or with `-f FILE` (`-f -` reads standard input).
    Create {
        /// The request as JSON text
        #[arg(conflicts_with = "file", required_unless_present = "file")]
        json: Option<String>,
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
        /// Print the plan a grant would make now (path, channels, predicted
        /// BER and margin, binding constraint) and commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Release a corridor.
    Delete { id: String },
    /// Live telemetry of a corridor.
    Telemetry { id: String },
    /// A corridor's kept history: its telemetry samples and object
    /// changes, oldest first, as a table (one row each) or JSON/YAML.
    History {
        id: String,
        /// Start of the window, RFC 3339 (e.g. 2026-12-04T03:12:00Z)
        /// [default: an hour before --to]
        #[arg(long)]
        from: Option<String>,
        /// End of the window, RFC 3339 [default: now]
        #[arg(long)]
        to: Option<String>,
    },
    /// Start a recalibration (a CMIS re-lock); prints the operation.
    Recalibrate { id: String },
    /// Renew a corridor's lease.
    Renew { id: String },
    /// Inject a twin fault (admin only) from a JSON body such as
    /// `{"port":"op-h1-0","fault":{"kind":"ring_detuning","nm":0.2}}`,
    /// given inline or with `-f FILE` (`-f -` reads standard input).
    Fault {
        /// The fault as JSON text
        #[arg(conflicts_with = "file", required_unless_present = "file")]
        json: Option<String>,
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
}

/// The JSON body given inline, or read from `file` (`-` = standard input).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    json: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<T> {
    let (text, origin) = match (json, file) {
        (Some(text), _) => (text, "the JSON argument".to_owned()),
        (None, Some(file)) if file.as_os_str() == "-" => (
            std::io::read_to_string(std::io::stdin())?,
            "standard input".to_owned(),
        ),
        (None, Some(file)) => (
            std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?,
            file.display().to_string(),
        ),
        (None, None) => anyhow::bail!("give the JSON inline or with -f FILE"),
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))
}

pub(crate) fn show(value: impl serde::Serialize, kind: Kind, format: Format) -> anyhow::Result<()> {
    let value: Value = serde_json::to_value(value)?;
    print!("{}", render(kind, &[value], format)?);
    Ok(())
}

pub async fn run(client: &Client, command: CorridorCommand, format: Format) -> anyhow::Result<()> {
    match command {
        CorridorCommand::Create {
            json,
            file,
            dry_run: true,
        } => {
            let request: CorridorRequest = read_json(json, file)?;
            // A plan is not a corridor: shown as JSON whatever the format.
            let format = if format == Format::Table {
                Format::Json
            } else {
                format
            };
            show(
                client.plan_corridor(&request).await?,
                Kind::Corridors,
                format,
            )
        }
        CorridorCommand::Create { json, file, .. } => {
            let request: CorridorRequest = read_json(json, file)?;
            show(
                client.create_corridor(&request).await?,
                Kind::Corridors,
                format,
            )
        }
        CorridorCommand::Delete { id } => {
            show(client.delete_corridor(&id).await?, Kind::Corridors, format)
        }
        CorridorCommand::Telemetry { id } => {
            // Telemetry has no table columns of its own: JSON unless asked.
            let format = if format == Format::Table {
                Format::Json
            } else {
                format
            };
            show(
                client.corridor_telemetry(&id).await?,
                Kind::Corridors,
                format,
            )
        }
        CorridorCommand::History { id, from, to } => {
            let history = client
                .corridor_history(&id, from.as_deref(), to.as_deref())
                .await?;
            if format == Format::Table {
                print!("{}", crate::history::table(&history));
                Ok(())
            } else {
                show(history, Kind::Corridors, format)
            }
        }
        CorridorCommand::Recalibrate { id } => show(
            client.recalibrate_corridor(&id).await?,
            Kind::Operations,
            format,
        ),
        CorridorCommand::Renew { id } => show(
            client.renew_corridor_lease(&id).await?,
            Kind::Corridors,
            format,
        ),
        CorridorCommand::Fault { json, file } => {
            let fault: TwinFaultRequest = read_json(json, file)?;
            client.inject_twin_fault(&fault).await?;
            println!("fault injected");
            Ok(())
        }
    }
}

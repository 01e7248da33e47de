//! `corridorctl fabric …`: fabmand's devices and paths.

use std::path::PathBuf;

use clap::Subcommand;
use corridor_client::Client;
use corridor_model::fabric::FabricPathRequest;

use crate::corridor::{read_json, show};
use crate::kinds::Kind;
use crate::output::{Format, render};

#[derive(Debug, Subcommand)]
pub enum FabricCommand {
    /// The fabric's devices (as `get devices`).
    Devices,
    /// The fabric's paths (as `get paths`).
    Paths,
    /// Create, show or delete one path.
    Path {
        #[command(subcommand)]
        command: PathCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PathCommand {
    /// Create a path from a JSON request (the RFC's body), given inline or with
    /// `-f FILE` (`-f -` reads standard input).
    Create {
        /// The request as JSON text
        #[arg(conflicts_with = "file", required_unless_present = "file")]
        json: Option<String>,
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// One path, with its hops and what was programmed.
    Get { id: String },
    /// Release a path.
    Delete { id: String },
}

pub async fn run(client: &Client, command: FabricCommand, format: Format) -> anyhow::Result<()> {
    match command {
        FabricCommand::Devices => {
            let devices = client.devices().await?;
            let values: Vec<serde_json::Value> = devices
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            print!("{}", render(Kind::Devices, &values, format)?);
            Ok(())
        }
        FabricCommand::Paths => {
            let paths = client.paths().await?;
            let values: Vec<serde_json::Value> = paths
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            print!("{}", render(Kind::Paths, &values, format)?);
            Ok(())
        }
        FabricCommand::Path { command } => match command {
            PathCommand::Create { json, file } => {
                let request: FabricPathRequest = read_json(json, file)?;
                show(client.create_path(&request).await?, Kind::Paths, format)
            }
            PathCommand::Get { id } => show(client.path(&id).await?, Kind::Paths, format),
            PathCommand::Delete { id } => show(client.delete_path(&id).await?, Kind::Paths, format),
        },
    }
}

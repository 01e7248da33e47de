//! `corridorctl`: the CorridorOS command-line client.

mod config;
mod kinds;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corridor_client::{Client, ClientError};
use futures::StreamExt;

use crate::kinds::Kind;
use crate::output::{Format, render, render_event};

/// Command-line client for CorridorOS.
///
/// The server address comes from --server, else CORRIDOR_SERVER, else
/// `server` in ~/.config/corridoros/corridorctl.toml, else
/// http://127.0.0.1:7070.
#[derive(Debug, Parser)]
#[command(name = "corridorctl", version)]
struct Cli {
    /// corridord base URL, e.g. http://127.0.0.1:7070
    #[arg(long, short = 's', env = "CORRIDOR_SERVER", global = true)]
    server: Option<String>,

    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table, global = true)]
    output: Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show resources: `get devices`, `get device cxl-pool-0`, `get profiles`.
    Get {
        /// Resource kind (devices, profiles, operations, corridors, ffm, policies, paths)
        kind: Kind,
        /// One resource by id; omit to list
        id: Option<String>,
        /// Label selector for lists, e.g. `media=dram,switch!=sw1`
        #[arg(long, short = 'l')]
        selector: Option<String>,
        /// After listing, keep watching for changes
        #[arg(long, short = 'w')]
        watch: bool,
    },
    /// Check that the server is ready.
    Status,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), anyhow::Error> {
    let server = config::server_address(cli.server.as_deref())?;
    let client = Client::new(&server)?;
    match cli.command {
        Command::Status => {
            if client.ready().await? {
                println!("{server}: ready");
                Ok(())
            } else {
                anyhow::bail!("{server}: not ready")
            }
        }
        Command::Get {
            kind,
            id,
            selector,
            watch,
        } => {
            if let Some(id) = id {
                let value: serde_json::Value = client.get_json(&kind.item_path(&id)?).await?;
                print!("{}", render(kind, &[value], cli.output)?);
                return Ok(());
            }
            let page = client
                .list_all::<serde_json::Value>(kind.list_path(), selector.as_deref())
                .await?;
            print!("{}", render(kind, &page.items, cli.output)?);
            if watch {
                let mut events = client
                    .watch::<serde_json::Value>(kind.list_path(), page.resource_version.as_deref())
                    .await?;
                while let Some(event) = events.next().await {
                    let event = event?;
                    print!("{}", render_event(kind, &event, cli.output)?);
                }
            }
            Ok(())
        }
    }
}

/// One line per error, with the server's field violations spelled out.
fn describe(error: &anyhow::Error) -> String {
    if let Some(ClientError::Api { problem }) = error.downcast_ref::<ClientError>() {
        let mut text = format!("{} {}: {}", problem.status, problem.title, problem.detail);
        for violation in &problem.errors {
            text.push_str(&format!(
                "\n  {} ({}): {}",
                violation.pointer, violation.rule, violation.message
            ));
        }
        return text;
    }
    format!("{error:#}")
}

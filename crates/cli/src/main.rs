//! `corridorctl`: the CorridorOS command-line client.

mod attest;
mod calibrate;
mod compat;
mod config;
mod corridor;
mod fabric;
mod ffm;
mod history;
mod kinds;
mod labs;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corridor_client::{Client, ClientError};
use corridor_pki::{Ca, PkiPaths, Principal};
use futures::StreamExt;

use crate::kinds::Kind;
use crate::output::{Format, render, render_event};

/// Command-line client for CorridorOS.
///
/// The server address comes from --server, else CORRIDOR_SERVER, else
/// `server` in ~/.config/corridoros/corridorctl.toml, else
/// https://127.0.0.1:7070. For HTTPS the CA and the client certificate
/// come from --ca/--cert/--key, else from the local PKI in the state
/// directory (the CA and the admin certificate).
#[derive(Debug, Parser)]
#[command(name = "corridorctl", version)]
struct Cli {
    /// corridord base URL, e.g. https://127.0.0.1:7070; several replicas
    /// separated by commas are tried in turn when one cannot be reached
    #[arg(long, short = 's', env = "CORRIDOR_SERVER", global = true)]
    server: Option<String>,

    /// corridord's state directory, where its PKI lives
    /// [default: $XDG_STATE_HOME/corridoros or ~/.local/state/corridoros]
    #[arg(long, env = "CORRIDOR_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,

    /// CA certificate to trust [default: <state-dir>/pki/ca.pem]
    #[arg(long, env = "CORRIDOR_CA", global = true)]
    ca: Option<PathBuf>,

    /// Client certificate [default: <state-dir>/pki/admin.pem]
    #[arg(long, env = "CORRIDOR_CERT", global = true)]
    cert: Option<PathBuf>,

    /// Client private key [default: <state-dir>/pki/admin.key]
    #[arg(long, env = "CORRIDOR_KEY", global = true)]
    key: Option<PathBuf>,

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
        /// Resource kind (devices, profiles, operations, corridors, ffm, policies, paths, tiers)
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
    /// Photonic corridors: create, delete, telemetry, recalibrate, renew,
    /// twin faults (list and watch with `get corridors [-w]`).
    Corridor {
        #[command(subcommand)]
        command: corridor::CorridorCommand,
    },
    /// HELIOPASS: calibrate a corridor's rings (or one port's) and show
    /// each lane's progress live until the operation ends.
    Calibrate(calibrate::CalibrateArgs),
    /// Make the twin's rack, a host or a port follow an ambient profile
    /// (admin only).
    Ambient(calibrate::AmbientArgs),
    /// Check that the server is ready.
    Status,
    /// Translation (compatd): engines, profiles, render, run, ps, kill.
    Compat {
        #[command(subcommand)]
        command: compat::CompatCommand,
    },
    /// Free-form memory bundles (memqosd): alloc, delete, floor, migrate,
    /// telemetry, renew, map.
    Ffm {
        #[command(subcommand)]
        command: ffm::FfmCommand,
    },
    /// CXL fabric (fabmand): devices, paths, path create/get/delete.
    Fabric {
        #[command(subcommand)]
        command: fabric::FabricCommand,
    },
    /// Time-windowed bandwidth policies (memqosd).
    Policy {
        #[command(subcommand)]
        command: ffm::PolicyCommand,
    },
    /// Attestation (attestd): device, spdm, get, ticket verify,
    /// measured-boot.
    Attest {
        #[command(subcommand)]
        command: attest::AttestCommand,
    },
    /// CorridorLabs: replay a scenario on the twin (runs here, no server)
    /// and write its report where the console shows it.
    Labs {
        #[command(subcommand)]
        command: labs::LabsCommand,
    },
    /// The local PKI in the state directory (works offline, no server).
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Print a shell completion script: `corridorctl completion bash >
    /// /usr/share/bash-completion/completions/corridorctl` (`make install`
    /// installs all three).
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print corridorctl's man page (roff, section 1); `make install`
    /// installs it.
    #[command(hide = true)]
    Manpage,
}

/// The shells `completion` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Completion and man page: generated from the clap definitions, so they
/// cannot disagree with the flags; no server needed.
fn generated(command: &Command) -> Option<std::io::Result<()>> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    let mut out = std::io::stdout();
    match command {
        Command::Completion { shell } => {
            let shell = match shell {
                CompletionShell::Bash => clap_complete::Shell::Bash,
                CompletionShell::Zsh => clap_complete::Shell::Zsh,
                CompletionShell::Fish => clap_complete::Shell::Fish,
            };
            // Into a buffer first: clap_complete panics on a write error
            // (a closed pipe, `| head`), and this reports it instead.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli, "corridorctl", &mut script);
            Some(std::io::Write::write_all(&mut out, &script))
        }
        Command::Manpage => Some(clap_mangen::Man::new(cli).section("1").render(&mut out)),
        _ => None,
    }
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create whatever of the PKI is missing (corridord does this at start).
    Init {
        /// Security domains to issue client certificates for
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
    /// Issue a client certificate into <state-dir>/pki/ (key 0600).
    Issue {
        /// A security domain, e.g. tenantB
        #[arg(long, conflicts_with = "role", required_unless_present = "role")]
        domain: Option<String>,
        /// A built-in role instead of a domain
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// Replace an existing certificate for the same principal
        #[arg(long)]
        force: bool,
    },
    /// Revoke a certificate by serial (hex, as `pki list` shows) and
    /// rewrite the CRL; corridord honours it on SIGHUP or restart.
    Revoke { serial: String },
    /// Every certificate issued here, with its serial and revocation state.
    List,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Role {
    Admin,
    Operator,
    ReadOnly,
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
    if let Some(written) = generated(&cli.command) {
        return Ok(written?);
    }
    if let Command::Pki { command } = cli.command {
        return pki(&config::state_dir(cli.state_dir.as_deref())?, command);
    }
    if let Command::Labs { command } = cli.command {
        return labs::run(&config::state_dir(cli.state_dir.as_deref())?, command).await;
    }
    let server = config::server_address(cli.server.as_deref())?;
    let client = if server.contains("https://") {
        let tls = config::tls_options(&config::TlsFlags {
            state_dir: cli.state_dir.as_deref(),
            ca: cli.ca.as_deref(),
            cert: cli.cert.as_deref(),
            key: cli.key.as_deref(),
        })?;
        Client::with_tls(&server, &tls)?
    } else {
        Client::new(&server)?
    };
    match cli.command {
        Command::Pki { .. }
        | Command::Labs { .. }
        | Command::Completion { .. }
        | Command::Manpage => {
            unreachable!("handled above")
        }
        Command::Corridor { command } => corridor::run(&client, command, cli.output).await,
        Command::Compat { command } => compat::run(&client, command, cli.output).await,
        Command::Calibrate(args) => calibrate::run(&client, args, cli.output).await,
        Command::Ambient(args) => calibrate::ambient(&client, args).await,
        Command::Ffm { command } => {
            let state_dir = config::state_dir(cli.state_dir.as_deref())?;
            ffm::run(&client, &state_dir, command).await
        }
        Command::Policy { command } => ffm::policy(&client, command).await,
        Command::Fabric { command } => fabric::run(&client, command, cli.output).await,
        Command::Attest { command } => attest::run(&client, command, cli.output).await,
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
            if kind == Kind::Tiers {
                if watch || selector.is_some() {
                    anyhow::bail!(
                        "tiers are one snapshot of memqosd's ledger: no --watch or --selector"
                    );
                }
                return ffm::tiers(&client, id.as_deref(), cli.output).await;
            }
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

fn pki(state_dir: &Path, command: PkiCommand) -> Result<(), anyhow::Error> {
    let paths = PkiPaths::in_state_dir(state_dir);
    match command {
        PkiCommand::Init { domains } => {
            let report = corridor_pki::ensure(state_dir, &domains)?;
            for path in &report.created {
                println!("created {}", path.display());
            }
            if report.created.is_empty() {
                println!("{}: complete, nothing to do", paths.dir.display());
            }
            Ok(())
        }
        PkiCommand::Issue {
            domain,
            role,
            force,
        } => {
            let principal = match (domain, role) {
                (Some(domain), _) => Principal::domain(&domain)?,
                (None, Some(Role::Admin)) => Principal::Admin,
                (None, Some(Role::Operator)) => Principal::Operator,
                (None, Some(Role::ReadOnly)) => Principal::ReadOnly,
                (None, None) => anyhow::bail!("give --domain or --role"),
            };
            let ca = Ca::load(&paths).map_err(|e| {
                anyhow::anyhow!(
                    "{}: no CA there yet (run `corridorctl pki init` or start corridord): {e}",
                    paths.dir.display()
                )
            })?;
            let cert = paths.client_cert(&principal);
            if cert.exists() && !force {
                anyhow::bail!(
                    "{} exists; pass --force to replace it (revoke the old serial too)",
                    cert.display()
                );
            }
            let issued = ca.issue_client_files(&principal)?;
            println!("principal {principal}");
            println!("serial    {}", issued.serial);
            println!("cert      {}", cert.display());
            println!("key       {}", paths.client_key(&principal).display());
            Ok(())
        }
        PkiCommand::Revoke { serial } => {
            let ca = Ca::load(&paths)?;
            ca.revoke(&serial)?;
            println!(
                "revoked {serial}; CRL written to {} (send corridord SIGHUP to apply it now)",
                paths.crl().display()
            );
            Ok(())
        }
        PkiCommand::List => {
            let ca = Ca::load(&paths)?;
            let revoked = ca.revoked_serials()?;
            println!(
                "{:<34} {:<24} {:<8} NOT AFTER",
                "SERIAL", "PRINCIPAL", "STATE"
            );
            for record in ca.issued()? {
                let state = if revoked.contains(&record.serial) {
                    "revoked"
                } else {
                    "valid"
                };
                println!(
                    "{:<34} {:<24} {:<8} {}",
                    record.serial, record.principal, state, record.not_after
                );
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

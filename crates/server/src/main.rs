//! `corridord` entry point: parse configuration, start logging, run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corridor_server::config::{Config, Overrides};
use corridor_server::{Daemon, reload_on_sighup, shutdown_signal};
use corridor_services::daemons::RfcDaemon;
use corridor_services::error::error_chain;

/// CorridorOS control-plane daemon: photonic corridors, free-form memory,
/// CXL fabric, calibration and attestation behind one REST API.
///
/// Settings come from the configuration file, then CORRIDOR_* environment
/// variables, then flags (each overriding the one before).
#[derive(Debug, Parser)]
#[command(name = "corridord", version)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service in this process (the default); with `--only`, a
    /// subset of them.
    All,
    /// Run corrd alone: corridors, the optical plant and HELIOPASS
    /// calibration and tracking (heliopassd). Reads
    /// /etc/corridoros/corrd.conf by default; needs the etcd store.
    Corrd,
    /// Run memqosd alone: free-form memory, policies, the memory backend and
    /// the fd hand-off socket. Reads /etc/corridoros/memqosd.conf by default.
    Memqosd,
    /// Run fabmand alone: the CXL switches, fabric paths and the device
    /// inventory. Reads /etc/corridoros/fabmand.conf by default.
    Fabmand,
    /// Run attestd alone: device attestation, tickets and the platform TPM.
    /// Reads /etc/corridoros/attestd.conf by default.
    Attestd,
    /// Run compatd alone: translation profiles and launched programs. Reads
    /// /etc/corridoros/compatd.conf by default.
    Compatd,
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Check a topology file and exit (prints every problem found).
    CheckTopology { path: std::path::PathBuf },
    /// Print the embedded default topology and exit.
    DefaultTopology,
    /// Print corridord's man page (roff, section 8) and exit; `make
    /// install` installs it.
    #[command(hide = true)]
    Manpage,
}

/// mimalloc instead of glibc's allocator: corridord allocates many small,
/// short-lived buffers per request (JSON, store records, CMIS pages), and a
/// profile of the grant benchmark put glibc's malloc/free/consolidate at
/// ~13 % of corridord's CPU (BENCHMARKS.md, corridor grants).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::All) {
        Command::Openapi => {
            print!("{}", corridor_server::http::openapi::document());
            ExitCode::SUCCESS
        }
        Command::DefaultTopology => {
            print!(
                "{}",
                corridor_hal::topology::Topology::default_twin().to_toml_string()
            );
            ExitCode::SUCCESS
        }
        Command::CheckTopology { path } => match corridor_hal::topology::Topology::load(&path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{}", error_chain(&error));
                ExitCode::FAILURE
            }
        },
        Command::Manpage => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).section("8");
            match page.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("corridord: writing the man page: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::All => run(&cli.overrides),
        Command::Corrd => run(&for_daemon(cli.overrides, RfcDaemon::Corrd)),
        Command::Memqosd => run(&for_daemon(cli.overrides, RfcDaemon::Memqosd)),
        Command::Fabmand => run(&for_daemon(cli.overrides, RfcDaemon::Fabmand)),
        Command::Attestd => run(&for_daemon(cli.overrides, RfcDaemon::Attestd)),
        Command::Compatd => run(&for_daemon(cli.overrides, RfcDaemon::Compatd)),
    }
}

/// `corridord <daemon>`: that daemon alone, configured by its own file
/// (`/etc/corridoros/<daemon>.conf`, as the RFC's deployment guide lays
/// them out) unless `--config` names another.
fn for_daemon(mut overrides: Overrides, daemon: RfcDaemon) -> Overrides {
    overrides.only = vec![daemon];
    if overrides.config.is_none() {
        let own = corridor_server::config::daemon_config_path(daemon);
        if own.exists() {
            overrides.config = Some(own);
        }
    }
    overrides
}

fn run(overrides: &Overrides) -> ExitCode {
    // mimalloc commits its arenas eagerly, and with transparent huge pages
    // on (`madvise` or `always`) each first touch in an arena faults in a
    // whole 2 MiB page: an idle corridord held 22 MiB of mostly empty huge
    // pages (`AnonHugePages` in smaps), half its RSS. corridord's heap is
    // small objects; 4 KiB pages keep its footprint what it uses.
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and changes only this
    // process's page-fault policy; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let config = match Config::resolve(overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("corridord: {}", error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let _logging = match corridor_server::logging::init(&config) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("corridord: {}", error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("corridord")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("corridord: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tracing::info!(
            state_dir = %config.state_dir.display(),
            config_file = ?config.source,
            topology = ?config.topology,
            "corridord starting"
        );
        let daemon = Daemon::start(&config).await?;
        if let Some(tls) = daemon.tls() {
            reload_on_sighup(tls).map_err(corridor_server::StartError::Serve)?;
        }
        daemon.serve(shutdown_signal()).await
    });
    match result {
        Ok(()) => {
            tracing::info!("corridord stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "corridord failed");
            ExitCode::FAILURE
        }
    }
}

//! `corridorctl compat …`: compatd's verbs (engines, profiles, run, ps,
//! kill, render).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use corridor_client::Client;
use corridor_model::compat::{BinfmtStatus, CompatProcess, LaunchRequest, ProcessState};
use serde::Serialize;

use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum CompatCommand {
    /// Translation engines: installed, versions, guest architectures.
    Engines,
    /// Translation profiles (`profiles NAME` for one).
    Profiles { name: Option<String> },
    /// A profile as each engine reads it (QEMU argv and binfmt
    /// environment, box64rc section, FEX AppConfig).
    Render { name: String },
    /// Run a program under its engine and wait for it: its output, exit
    /// and cost. `corridorctl compat run ./hello.riscv64 -- arg1 arg2`.
    Run {
        exe: PathBuf,
        /// Profile to use [default: chosen by the ELF header and name]
        #[arg(long)]
        profile: Option<String>,
        /// Security domain the process belongs to
        #[arg(long)]
        domain: Option<String>,
        /// Environment for the program, NAME=VALUE (repeatable)
        #[arg(long = "env", short = 'e')]
        env: Vec<String>,
        /// Wall-clock limit in seconds [default: the server's]
        #[arg(long)]
        timeout: Option<u32>,
        /// Print the started process and return at once
        #[arg(long, short = 'd')]
        detach: bool,
        /// Start it through the profile's binfmt_misc registration in a
        /// private user namespace (the kernel picks the interpreter)
        #[arg(long)]
        binfmt: bool,
        /// Arguments for the program (after `--`)
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Launched processes (`ps ID` for one, with its output).
    Ps { id: Option<String> },
    /// Stop a process.
    Kill { id: String },
    /// binfmt_misc: the host's table, whether this kernel has private
    /// instances, and each profile's registration; `register`/`unregister`
    /// change the host's own table (when the server allows it).
    Binfmt {
        #[command(subcommand)]
        action: Option<BinfmtAction>,
    },
}

fn print<T: Serialize>(value: &T, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Yaml => print!("{}", serde_norway::to_string(value)?),
        _ => println!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

fn state(p: &CompatProcess) -> String {
    match (&p.state, &p.exit) {
        (ProcessState::Running, _) => "running".into(),
        (state, Some(exit)) => {
            let what = match (exit.code, exit.signal) {
                (Some(code), _) => format!("exit {code}"),
                (_, Some(signal)) => format!("signal {signal}"),
                _ => "ended".into(),
            };
            let verb = if *state == ProcessState::Killed {
                "killed"
            } else {
                "exited"
            };
            format!("{verb} ({what})")
        }
        (_, None) => "ended".into(),
    }
}

fn cost(p: &CompatProcess) -> String {
    let mut line = format!(
        "user {:.3}s sys {:.3}s peak RSS {:.1} MiB threads {}",
        p.usage.utime_s,
        p.usage.stime_s,
        p.usage.peak_rss_bytes as f64 / (1024.0 * 1024.0),
        p.usage.threads
    );
    if let (Some(instructions), Some(blocks)) =
        (p.usage.guest_instructions, p.usage.blocks_translated)
    {
        line.push_str(&format!(
            " guest instructions {instructions} blocks translated {blocks}"
        ));
    }
    line
}

fn binfmt_table(status: &BinfmtStatus) {
    let host = &status.host;
    println!(
        "host table {}: {}",
        host.path,
        match (host.mounted, host.enabled) {
            (false, _) => "not mounted",
            (true, true) => "enabled",
            (true, false) => "disabled",
        }
    );
    println!(
        "kernel {}: private instances in user namespaces {}",
        status.kernel_release,
        if status.private_instances {
            "yes"
        } else {
            "no (needs Linux 6.7)"
        }
    );
    println!();
    println!(
        "{:<28} {:<9} {:<6} INTERPRETER",
        "HOST ENTRY", "ENABLED", "FLAGS"
    );
    for e in &host.entries {
        match &e.error {
            Some(error) => println!("{:<28} unreadable: {error}", e.name),
            None => println!(
                "{:<28} {:<9} {:<6} {}",
                e.name,
                e.enabled.map_or("-", |on| if on { "yes" } else { "no" }),
                e.flags.as_deref().unwrap_or("-"),
                e.interpreter.as_deref().unwrap_or("-")
            ),
        }
    }
    println!();
    println!(
        "{:<20} {:<8} {:<24} REGISTRATION",
        "PROFILE", "ARCH", "HOST ENTRIES"
    );
    for p in &status.profiles {
        println!(
            "{:<20} {:<8} {:<24} {}",
            p.profile,
            p.guest_arch.as_str(),
            if p.host_entries.is_empty() {
                "-".to_owned()
            } else {
                p.host_entries.join(",")
            },
            p.registration.as_deref().unwrap_or(&p.note)
        );
    }
}

fn table(processes: &[CompatProcess]) {
    println!(
        "{:<24} {:>7} {:<20} {:<8} {:<22} {:>9} {:>9} {:>9}  EXE",
        "ID", "PID", "PROFILE", "ARCH", "STATE", "USER_S", "SYS_S", "RSS_MIB"
    );
    for p in processes {
        println!(
            "{:<24} {:>7} {:<20} {:<8} {:<22} {:>9.3} {:>9.3} {:>9.1}  {}",
            p.id,
            p.pid,
            p.profile,
            p.guest_arch.as_str(),
            state(p),
            p.usage.utime_s,
            p.usage.stime_s,
            p.usage.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            p.exe
        );
    }
}

#[derive(Debug, Subcommand)]
pub enum BinfmtAction {
    /// Register a profile in the host's binfmt_misc table.
    Register { profile: String },
    /// Remove a profile's entry from the host's binfmt_misc table.
    Unregister { profile: String },
}

pub async fn run(client: &Client, command: CompatCommand, format: Format) -> anyhow::Result<()> {
    match command {
        CompatCommand::Engines => print(&client.compat_engines().await?, format),
        CompatCommand::Profiles { name: Some(name) } => {
            print(&client.compat_profile(&name).await?, format)
        }
        CompatCommand::Profiles { name: None } => {
            let profiles = client.compat_profiles().await?;
            if format != Format::Table {
                return print(&profiles, format);
            }
            println!(
                "{:<24} {:<8} {:<7} {:<12} DESCRIPTION",
                "NAME", "ARCH", "ENGINE", "MATCH"
            );
            for p in profiles {
                println!(
                    "{:<24} {:<8} {:<7} {:<12} {}",
                    p.id,
                    p.spec.guest_arch.as_str(),
                    p.spec.engine.as_str(),
                    p.spec.matcher.exe.as_deref().unwrap_or("*"),
                    p.spec.description
                );
            }
            Ok(())
        }
        CompatCommand::Render { name } => {
            let rendered = client.render_compat_profile(&name).await?;
            if format != Format::Table {
                return print(&rendered, format);
            }
            for r in rendered {
                println!("== {} — {}", r.engine.as_str(), r.path);
                println!("{}", r.text.trim_end());
                for note in r.notes {
                    println!("# note: {note}");
                }
            }
            Ok(())
        }
        CompatCommand::Run {
            exe,
            profile,
            domain,
            env,
            timeout,
            detach,
            binfmt,
            args,
        } => {
            // The server resolves the path; a relative one means ours.
            let exe = std::path::absolute(&exe)?;
            let mut environment = BTreeMap::new();
            for pair in env {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--env {pair:?} is not NAME=VALUE"))?;
                environment.insert(name.to_owned(), value.to_owned());
            }
            let started = client
                .launch(&LaunchRequest {
                    exe: exe.display().to_string(),
                    args,
                    env: environment,
                    profile,
                    security_domain: domain,
                    timeout_s: timeout,
                    binfmt,
                })
                .await?;
            if detach {
                return print(&started, format);
            }
            let mut process = started;
            while process.state == ProcessState::Running {
                tokio::time::sleep(Duration::from_millis(50)).await;
                process = client.compat_process(&process.id).await?;
            }
            if format != Format::Table {
                return print(&process, format);
            }
            print!("{}", process.output);
            eprintln!(
                "{} under {} ({} {}): {}; {}",
                process.id,
                process.profile,
                process.engine.as_str(),
                process.interpreter,
                state(&process),
                cost(&process)
            );
            match process.exit.as_ref().and_then(|e| e.code) {
                Some(0) => Ok(()),
                _ => Err(anyhow::anyhow!(
                    "the program did not exit 0: {}",
                    state(&process)
                )),
            }
        }
        CompatCommand::Ps { id: Some(id) } => {
            let process = client.compat_process(&id).await?;
            if format != Format::Table {
                return print(&process, format);
            }
            table(std::slice::from_ref(&process));
            println!("{}", cost(&process));
            print!("{}", process.output);
            Ok(())
        }
        CompatCommand::Ps { id: None } => {
            let processes = client.compat_processes().await?;
            if format != Format::Table {
                return print(&processes, format);
            }
            table(&processes);
            Ok(())
        }
        CompatCommand::Binfmt {
            action: Some(action),
        } => {
            let registration = match action {
                BinfmtAction::Register { profile } => {
                    client.register_compat_binfmt(&profile).await?
                }
                BinfmtAction::Unregister { profile } => {
                    client.unregister_compat_binfmt(&profile).await?
                }
            };
            print(&registration, format)
        }
        CompatCommand::Binfmt { action: None } => {
            let status = client.compat_binfmt().await?;
            if format != Format::Table {
                return print(&status, format);
            }
            binfmt_table(&status);
            Ok(())
        }
        CompatCommand::Kill { id } => {
            let process = client.stop_compat_process(&id).await?;
            if format != Format::Table {
                return print(&process, format);
            }
            println!("{} {}", process.id, state(&process));
            Ok(())
        }
    }
}

//! `corridorctl ffm …` and `corridorctl policy …`: memqosd's verbs. Lists
//! and single objects are also under `get ffm` / `get policies`; the
//! devices memqosd allocates on under `get tiers`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use corridor_client::Client;
use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence};
use corridor_model::memory_tiers::MemoryTiers;
use corridor_model::policy::{PolicyRequest, PolicySelector, PolicyWindow};
use corridor_model::units::{Bytes, GigabytesPerSecond, Seconds};
use serde_json::{Value, json};

use crate::kinds::Kind;
use crate::output::{Format, render};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum Class {
    T0,
    T1,
    T2,
    T3,
}

impl From<Class> for LatencyClass {
    fn from(c: Class) -> Self {
        match c {
            Class::T0 => LatencyClass::T0,
            Class::T1 => LatencyClass::T1,
            Class::T2 => LatencyClass::T2,
            Class::T3 => LatencyClass::T3,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Keep {
    None,
    Dax,
    File,
}

#[derive(Debug, Subcommand)]
pub enum FfmCommand {
    /// Allocate a bundle; prints it and its hand-off token.
    Alloc {
        /// Size in bytes
        #[arg(long)]
        bytes: u64,
        #[arg(long = "class", value_enum)]
        latency_class: Class,
        /// Bandwidth floor, GB/s
        #[arg(long, default_value_t = 0.0)]
        floor: f64,
        #[arg(long, value_enum, default_value_t = Keep::None)]
        persistence: Keep,
        #[arg(long)]
        shareable: bool,
        #[arg(long)]
        domain: String,
        /// Lease in seconds [default: the server's]
        #[arg(long)]
        ttl: Option<u64>,
        /// Host whose processes map the bundle [default: the server's default host]
        #[arg(long)]
        host: Option<String>,
        /// Print the plan an alloc would grant now (devices and bytes, fabric
        /// paths, floor per window, modelled GB/s, lease, binding
        /// constraint) and commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Free a bundle.
    Delete { id: String },
    /// Set a new bandwidth floor (GB/s).
    Floor { id: String, floor: f64 },
    /// Migrate to another tier (prints the operation).
    Migrate {
        id: String,
        #[arg(value_enum)]
        latency_class: Class,
    },
    /// Modelled achieved bandwidth, p99, moved pages, resident bytes.
    Telemetry { id: String },
    /// Renew the lease.
    Renew { id: String },
    /// Map the bundle through corridord's Unix socket, write and/or read.
    Map {
        id: String,
        /// Hand-off socket [default: <state-dir>/ffm.sock]
        #[arg(long)]
        socket: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Bytes (UTF-8) to write at the offset
        #[arg(long)]
        write: Option<String>,
        /// Number of bytes to read at the offset and print
        #[arg(long)]
        read: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// "min N GB/s from START to END" for a domain's bundles.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        domain: String,
        /// Floor in the window, GB/s
        #[arg(long)]
        min: f64,
        /// HH:MM
        #[arg(long)]
        start: String,
        /// HH:MM (before start wraps past midnight)
        #[arg(long)]
        end: String,
        /// IANA time zone of start and end, e.g. Europe/Berlin
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
    /// Delete a policy.
    Delete { id: String },
}

fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn run(client: &Client, state_dir: &Path, command: FfmCommand) -> anyhow::Result<()> {
    match command {
        FfmCommand::Alloc {
            bytes,
            latency_class,
            floor,
            persistence,
            shareable,
            domain,
            ttl,
            host,
            dry_run,
        } => {
            let request = FfmAllocRequest {
                bytes: Bytes(bytes),
                latency_class: latency_class.into(),
                bandwidth_floor_gbs: GigabytesPerSecond(floor),
                persistence: match persistence {
                    Keep::None => Persistence::None,
                    Keep::Dax => Persistence::Dax,
                    Keep::File => Persistence::File,
                },
                shareable,
                security_domain: domain,
                host,
                policy_lease_ttl_s: ttl.map(Seconds),
                labels: Default::default(),
            };
            if dry_run {
                return print(&client.ffm_plan(&request).await?);
            }
            let handle = client.ffm_alloc(&request).await?;
            print(&handle.bundle)?;
            if let Some(token) = handle.token {
                eprintln!("hand-off token: {token}");
            }
            Ok(())
        }
        FfmCommand::Delete { id } => print(&client.ffm_delete(&id).await?),
        FfmCommand::Floor { id, floor } => print(&client.ffm_set_floor(&id, floor).await?),
        FfmCommand::Migrate { id, latency_class } => {
            print(&client.ffm_migrate(&id, latency_class.into()).await?)
        }
        FfmCommand::Telemetry { id } => print(&client.ffm_telemetry(&id).await?),
        FfmCommand::Renew { id } => print(&client.ffm_renew(&id).await?),
        FfmCommand::Map {
            id,
            socket,
            offset,
            write,
            read,
        } => {
            let handle = client.ffm_get(&id).await?;
            let socket = socket.unwrap_or_else(|| state_dir.join("ffm.sock"));
            // The hand-off is blocking socket I/O; keep it off the runtime.
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut map = handle.map(&socket)?;
                if let Some(text) = write {
                    let end = offset + text.len();
                    anyhow::ensure!(
                        end <= map.len(),
                        "write past the bundle's {} bytes",
                        map.len()
                    );
                    map.as_mut_slice()[offset..end].copy_from_slice(text.as_bytes());
                    eprintln!("wrote {} bytes at {offset}", text.len());
                }
                if let Some(n) = read {
                    let end = (offset + n).min(map.len());
                    println!("{}", String::from_utf8_lossy(&map.as_slice()[offset..end]));
                }
                Ok(())
            })
            .await?
        }
    }
}

pub async fn policy(client: &Client, command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Create {
            name,
            domain,
            min,
            start,
            end,
            time_zone,
        } => {
            let request = PolicyRequest {
                name,
                security_domain: domain,
                target: PolicySelector::default(),
                min_gbs: GigabytesPerSecond(min),
                window: PolicyWindow {
                    start,
                    end,
                    time_zone,
                    days: Vec::new(),
                },
                labels: Default::default(),
            };
            print(&client.policy_create(&request).await?)
        }
        PolicyCommand::Delete { id } => print(&client.policy_delete(&id).await?),
    }
}

/// `corridorctl get tiers [device]`: the whole document as JSON or YAML, or
/// a table of one row per device and policy window.
pub async fn tiers(client: &Client, device: Option<&str>, format: Format) -> anyhow::Result<()> {
    let mut doc = client.ffm_tiers().await?;
    if let Some(id) = device {
        doc.devices.retain(|d| d.id == id);
        if doc.devices.is_empty() {
            anyhow::bail!("memqosd allocates on no device {id:?} (see `corridorctl get tiers`)");
        }
    }
    match format {
        Format::Table => print!("{}", render(Kind::Tiers, &tier_rows(&doc), format)?),
        Format::Json | Format::Yaml => {
            print!(
                "{}",
                render(Kind::Tiers, &[serde_json::to_value(&doc)?], format)?
            )
        }
    }
    Ok(())
}

/// One flat row per device and window, for the table.
pub fn tier_rows(doc: &MemoryTiers) -> Vec<Value> {
    let mut rows = Vec::new();
    for d in &doc.devices {
        for w in &d.windows {
            rows.push(json!({
                "id": d.id,
                "tier": d.tier,
                "source": d.source,
                "capacity_bytes": d.capacity_bytes,
                "bandwidth_GBs": d.bandwidth_gbs.value,
                "window": w.window,
                "admitted_GBs": w.admitted_gbs,
                "available_GBs": w.available_gbs,
            }));
        }
    }
    rows
}

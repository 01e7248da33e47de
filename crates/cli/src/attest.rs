//! `corridorctl attest …`: attestd's verbs (infrastructure principals;
//! a security domain may verify the tickets bound to its own objects).

use clap::Subcommand;
use corridor_client::Client;
use corridor_model::attestation::{AttestDeviceRequest, SpdmAttestRequest};
use serde::Serialize;

use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Attest a device over SPDM 1.2 now; prints the verdict and its ticket.
    Device {
        device_id: String,
        /// Freshness challenge, hex (8..=64 bytes); a random one if absent
        #[arg(long)]
        nonce: Option<String>,
    },
    /// SPDM attestation with the caller's 32-byte nonce, a certificate
    /// slot and chosen measurement blocks.
    Spdm {
        device_id: String,
        /// 32 bytes of hex; a random one if absent
        #[arg(long)]
        nonce: Option<String>,
        /// Certificate slot (0..=7)
        #[arg(long, default_value_t = 0)]
        slot: u8,
        /// A measurement block index (1..=254), repeatable; every block if none
        #[arg(long = "index")]
        indices: Vec<u8>,
    },
    /// One attestation by id (`attest-…`).
    Get { attestation_id: String },
    /// Tickets: verify one as a relying party would.
    Ticket {
        #[command(subcommand)]
        command: TicketCommand,
    },
    /// A host's measured boot: a fresh TPM quote, the event log replayed
    /// against it and the policy's verdict.
    MeasuredBoot { host: String },
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// Both signatures, expiry, revocation and verdict (`tkt-…`).
    Verify { ticket_id: String },
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rng(), buf.as_mut_slice());
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON and YAML as the API answers; the table format as `field: value`
/// lines of the top-level scalars (nested parts are in `-o json`).
fn show(value: impl Serialize, format: Format) -> anyhow::Result<()> {
    let value = serde_json::to_value(value)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&value)?),
        Format::Yaml => print!("{}", serde_norway::to_string(&value)?),
        Format::Table => {
            if let serde_json::Value::Object(map) = &value {
                for (key, field) in map {
                    let text = match field {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                            field.to_string()
                        }
                        _ => continue,
                    };
                    if key == "ticket" {
                        continue; // the COSE bytes: in -o json
                    }
                    println!("{key:<22} {text}");
                }
            }
        }
    }
    Ok(())
}

pub async fn run(client: &Client, command: AttestCommand, format: Format) -> anyhow::Result<()> {
    match command {
        AttestCommand::Device { device_id, nonce } => {
            let request = AttestDeviceRequest {
                device_id,
                nonce: nonce.unwrap_or_else(|| random_hex(16)),
            };
            show(client.attest_device(&request).await?, format)
        }
        AttestCommand::Spdm {
            device_id,
            nonce,
            slot,
            indices,
        } => {
            let request = SpdmAttestRequest {
                device_id,
                nonce: nonce.unwrap_or_else(|| random_hex(32)),
                slot_id: slot,
                measurement_indices: indices,
            };
            show(client.attest_spdm(&request).await?, format)
        }
        AttestCommand::Get { attestation_id } => {
            show(client.attestation(&attestation_id).await?, format)
        }
        AttestCommand::Ticket {
            command: TicketCommand::Verify { ticket_id },
        } => {
            let verification = client.verify_ticket(&ticket_id).await?;
            let valid = verification.valid;
            show(&verification, format)?;
            if !valid {
                anyhow::bail!(
                    "ticket {ticket_id} does not vouch for its device: {}",
                    verification.reason.as_deref().unwrap_or("no reason given")
                );
            }
            Ok(())
        }
        AttestCommand::MeasuredBoot { host } => {
            let report = client.measured_boot(&host).await?;
            let trusted = report.trusted;
            show(&report, format)?;
            if !trusted {
                anyhow::bail!(
                    "{host}'s measured boot is not trusted: {}",
                    report.quote_failure.as_deref().unwrap_or(
                        "the policy rejects events (see policy.rejected_events in -o json)"
                    )
                );
            }
            Ok(())
        }
    }
}

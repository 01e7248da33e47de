//! `corridorctl fabric …`: fabmand's devices, ports and paths.

use std::path::PathBuf;

use clap::Subcommand;
use corridor_client::Client;
use corridor_model::fabric::{FabricPathRequest, FmApiCommand, FmApiReply};

use crate::corridor::{read_json, show};
use crate::kinds::Kind;
use crate::output::{Format, render};

#[derive(Debug, Subcommand)]
pub enum FabricCommand {
    /// The fabric's devices (as `get devices`).
    Devices,
    /// The switch ports paths route over: capacity, guaranteed, free, link (as `get ports`).
    Ports,
    /// The fabric's paths (as `get paths`).
    Paths,
    /// Create, show or delete one path.
    Path {
        #[command(subcommand)]
        command: PathCommand,
    },
    /// Send one FM API query to a switch and print its decoded answer (queries only:
    /// what changes the fabric goes through paths).
    Raw {
        /// The switch, as `fabric ports` names it
        switch: String,
        /// The opcode: `5101h`, `0x5101` or `5101`
        opcode: String,
        /// The request payload as hex (e.g. `020809`: two ports, 8 and 9)
        #[arg(default_value = "")]
        payload: String,
        /// Send it to the component behind this port (Tunnel Management)
        #[arg(long)]
        tunnel_port: Option<u8>,
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
        FabricCommand::Devices => print_all(Kind::Devices, &client.devices().await?, format),
        FabricCommand::Ports => print_all(Kind::Ports, &client.ports().await?, format),
        FabricCommand::Paths => print_all(Kind::Paths, &client.paths().await?, format),
        FabricCommand::Raw {
            switch,
            opcode,
            payload,
            tunnel_port,
        } => {
            let command = FmApiCommand {
                opcode: spec_opcode(&opcode),
                payload_hex: payload,
                tunnel_port,
            };
            let reply = client.query_switch(&switch, &command).await?;
            match format {
                Format::Table => print!("{}", raw_text(&reply)),
                _ => show_value(&reply, format)?,
            }
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

fn print_all<T: serde::Serialize>(kind: Kind, items: &[T], format: Format) -> anyhow::Result<()> {
    let values: Vec<serde_json::Value> = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    print!("{}", render(kind, &values, format)?);
    Ok(())
}

/// `0x5101`, `5101` and `5101h` as the API spells opcodes (`5101h`); anything else is
/// passed on for the server to name.
fn spec_opcode(text: &str) -> String {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.len() == 4 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        format!("{}h", digits.to_ascii_uppercase())
    } else {
        text.to_owned()
    }
}

fn raw_text(reply: &FmApiReply) -> String {
    let via = reply
        .tunnel_port
        .map(|p| format!(" via port {p}"))
        .unwrap_or_default();
    let mut text = format!(
        "{}{via}: {} ({}) return code {}\n",
        reply.switch_id, reply.opcode, reply.command, reply.return_code
    );
    if let Some(payload) = &reply.payload_hex {
        text.push_str(&format!("payload: {payload}\n"));
    }
    if let Some(decoded) = &reply.decoded {
        text.push_str(decoded);
        text.push('\n');
    }
    text
}

fn show_value(value: &impl serde::Serialize, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Yaml => print!("{}", serde_norway::to_string(value)?),
        _ => println!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::spec_opcode;

    #[test]
    fn opcodes_are_spelled_as_the_specification_writes_them() {
        assert_eq!(spec_opcode("0x5101"), "5101h");
        assert_eq!(spec_opcode("5101"), "5101h");
        assert_eq!(spec_opcode("540a"), "540Ah");
        assert_eq!(spec_opcode("5101h"), "5101h");
        assert_eq!(spec_opcode("bogus"), "bogus");
    }
}

//! Golden FM API transcripts of path programming, one per kind of path: every command
//! fabmand sends the switches to create and then delete it, as the switch twins saw them
//! on the wire, decoded. A change to what fabmand programs changes a file under
//! `tests/golden/fmapi/` and shows in review; `UPDATE_GOLDEN=1` rewrites them.
//!
//! Host-to-device paths bind a vPPB and (on an MLD) set every LD's QoS through Tunnel
//! Management. The RFC's device-to-device PBR path and a host-to-host GIM path send no
//! command at all: their CXL 3.x routing (PBR entries, GFD windows) is modelled, and their
//! transcripts are empty on purpose.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use corridor_hal::fabric::Exchange;
use corridor_hal::{ManualClock, Topology};
use corridor_model::fabric::FabricPathRequest;
use corridor_protocols::fmapi::header::decode_message;
use corridor_protocols::fmapi::{Opcode, Request, Response, ReturnCode, TunnelTarget};
use corridor_services::ControlPlane;
use corridor_store::{RedbOptions, RedbStore, StateStore};

fn body(source: &str, target: &str, path_type: &str, ecn: bool) -> FabricPathRequest {
    serde_json::from_value(serde_json::json!({
        "source_device": source,
        "target_device": target,
        "path_type": path_type,
        "bandwidth_gbps": 64,
        "latency_ns": 200,
        "qos": {
            "priority": "gold",
            "min_bandwidth_gbps": 50,
            "max_latency_ns": 400,
            "pfc": true,
            "ecn": ecn
        }
    }))
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn opcode_text(opcode: Opcode) -> String {
    format!("{opcode} {}", opcode.name().unwrap_or("(unknown)"))
}

fn status_text(code: ReturnCode) -> String {
    if code == ReturnCode::SUCCESS {
        "Success".to_owned()
    } else {
        format!("return code {:#06x}", code.0)
    }
}

/// One exchange as two lines; a tunnelled command shows the inner message (tags, which
/// count per connection, are left out so the transcript says what, not when).
fn render(exchange: &Exchange, out: &mut String) {
    let (request_header, request_payload) = decode_message(&exchange.request).unwrap();
    let (reply_header, reply_payload) = decode_message(&exchange.reply).unwrap();
    let request = Request::decode(request_header.opcode, request_payload).unwrap();
    match &request {
        Request::Tunnel(tunnel) => {
            let target = match tunnel.target {
                TunnelTarget::PortOrLd(port) => format!("port {port}"),
                TunnelTarget::LdPool => "LD pool".to_owned(),
            };
            let (inner, inner_payload) = decode_message(&tunnel.message).unwrap();
            writeln!(
                out,
                "  > {} to {target}: {} {}",
                opcode_text(request_header.opcode),
                opcode_text(inner.opcode),
                hex(inner_payload)
            )
            .unwrap();
            if reply_header.return_code != ReturnCode::SUCCESS {
                writeln!(out, "  < {}", status_text(reply_header.return_code)).unwrap();
                return;
            }
            let Response::Tunnel(reply) = Response::decode(&request, reply_payload).unwrap() else {
                panic!("a tunnel request answered with something else");
            };
            let (inner_reply, inner_reply_payload) = decode_message(&reply.message).unwrap();
            writeln!(
                out,
                "  < {}: {} {}",
                status_text(reply_header.return_code),
                status_text(inner_reply.return_code),
                hex(inner_reply_payload)
            )
            .unwrap();
        }
        _ => {
            writeln!(
                out,
                "  > {} {}",
                opcode_text(request_header.opcode),
                hex(request_payload)
            )
            .unwrap();
            writeln!(
                out,
                "  < {} {}",
                status_text(reply_header.return_code),
                hex(reply_payload)
            )
            .unwrap();
        }
    }
}

/// Whether the exchange changes a switch or device (directly or tunnelled).
fn changes(exchange: &Exchange) -> bool {
    let (header, payload) = decode_message(&exchange.request).unwrap();
    match Request::decode(header.opcode, payload).unwrap() {
        Request::Tunnel(tunnel) => !decode_message(&tunnel.message).unwrap().0.opcode.is_query(),
        _ => !header.opcode.is_query(),
    }
}

/// The connections of one operation that changed something, each rendered in order; the
/// inventory's discovery scans (queries only, on their own connections) are left out.
fn transcript(recordings: BTreeMap<String, Vec<Exchange>>) -> String {
    let mut out = String::new();
    for (switch, exchanges) in recordings {
        let mut by_connection: BTreeMap<u64, Vec<Exchange>> = BTreeMap::new();
        for e in exchanges {
            by_connection.entry(e.connection).or_default().push(e);
        }
        for exchanges in by_connection.into_values() {
            if !exchanges.iter().any(changes) {
                continue;
            }
            writeln!(out, "{switch}, one connection:").unwrap();
            for e in &exchanges {
                render(e, &mut out);
            }
        }
    }
    if out.is_empty() {
        out.push_str("(no FM API command)\n");
    }
    out
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/fmapi")
        .join(format!("{name}.txt"))
}

fn check(name: &str, text: &str) {
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        text,
        golden,
        "{name}: fabmand now says something else to the switches than {}",
        path.display()
    );
}

/// Creates and deletes one path on a fresh twin, recording what the switches heard.
async fn record(name: &str, request: FabricPathRequest) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Topology::default_twin().without_standing_paths();
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    let plane = ControlPlane::start(store, Arc::new(topology), clock)
        .await
        .unwrap();
    let fabric = plane.fabric.clone().expect("switch twins");
    fabric.record();
    let path = plane.paths.create(request).await.unwrap();
    let created = transcript(fabric.take_recordings());
    fabric.record();
    plane.paths.delete(&path.id, None).await.unwrap();
    let deleted = transcript(fabric.take_recordings());
    plane.inventory.stop().await;
    check(
        name,
        &format!(
            "# {name}: {} -> {} ({:?})\n## create\n{created}## delete\n{deleted}",
            path.source_device, path.target_device, path.path_type
        ),
    );
}

#[tokio::test]
async fn the_rfc_device_to_device_pbr_path_sends_nothing() {
    record(
        "pbr_device_to_device",
        body("cxl-dev-001", "cxl-dev-002", "PBR", false),
    )
    .await;
}

#[tokio::test]
async fn a_host_to_mld_path_binds_an_ld_and_sets_every_ld_s_qos() {
    record(
        "hbr_host_to_mld_ecn",
        body("h1", "cxl-dev-001", "HBR", true),
    )
    .await;
}

#[tokio::test]
async fn a_host_to_sld_path_binds_the_whole_port() {
    record("hbr_host_to_sld", body("h0", "cxl-dev-002", "HBR", false)).await;
}

#[tokio::test]
async fn a_host_to_host_gim_path_sends_nothing() {
    record("gim_host_to_host", body("h0", "h1", "GIM", false)).await;
}

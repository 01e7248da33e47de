//! FM API codec throughput (issue 12): encode + decode of whole CCI messages on one core;
//! target ≥ 5 M messages/s.
//!
//! One "message" is one CCI message encoded into a reused buffer (header and payload) and
//! decoded back to its typed value (header checked, payload parsed), cycling over a mix of
//! what a fabric manager sends and receives most: Bind vPPB and Set QoS Allocated BW
//! requests, Get LD Info, Identify Switch Device (0x49 bytes) and Get Physical Port State
//! (one 16-byte port block) responses. The MCTP packetisation (68-byte TCP records) and
//! reassembly of the same messages is measured separately.
//!
//! Run: `cargo bench -p corridor-protocols --bench fmapi` (`FMAPI_BENCH_MESSAGES=N` sets the
//! count of the printed one-core figure, default 20 M).

use std::hint::black_box;
use std::time::Instant;

use corridor_protocols::fmapi::header::decode_message;
use corridor_protocols::fmapi::mctp::{Reassembler, Route, TCP_PACKET_LEN, packetize, trim_cci};
use corridor_protocols::fmapi::switch::{link_flags, ltssm};
use corridor_protocols::fmapi::{
    BindVppb, CciHeader, ConnectedDeviceType, IdentifySwitchDevice, LdInfo, PhysicalPortState,
    PortConfigState, PortInfo, QosFractions, Request, Response,
};
use criterion::Criterion;

/// A request to encode and decode, or a response with the request it answers.
enum Case {
    Request(Request),
    Response(Request, Response),
}

fn cases() -> Vec<Case> {
    let port = PortInfo {
        port_id: 8,
        config_state: PortConfigState::Dsp,
        connected_cxl_version: 2,
        connected_device_type: ConnectedDeviceType::Type3Mld,
        supported_cxl_versions: 3,
        max_link_width: 16,
        negotiated_link_width: 16,
        supported_speeds: 0x1f,
        max_link_speed: 5,
        current_link_speed: 5,
        ltssm_state: ltssm::L0,
        first_lane: 0,
        link_state: link_flags::PRESENT,
        supported_ld_count: 4,
    };
    vec![
        Case::Request(Request::BindVppb(BindVppb {
            vcs_id: 1,
            vppb_id: 0,
            port_id: 8,
            ld_id: 2,
        })),
        Case::Request(Request::SetQosAllocatedBw(QosFractions {
            start_ld: 0,
            fractions: vec![64, 64, 64, 64],
        })),
        Case::Response(
            Request::GetLdInfo,
            Response::LdInfo(LdInfo {
                memory_size: 256 << 30,
                ld_count: 4,
                qos_telemetry_caps: 1,
            }),
        ),
        Case::Response(
            Request::IdentifySwitchDevice,
            Response::IdentifySwitchDevice(IdentifySwitchDevice {
                ingress_port_id: 0,
                num_physical_ports: 7,
                num_vcs: 4,
                active_port_bitmask: [0x0f; 32],
                active_vcs_bitmask: [0x0f; 32],
                total_vppbs: 12,
                bound_vppbs: 3,
                hdm_decoders_per_usp: 4,
            }),
        ),
        Case::Response(
            Request::GetPhysicalPortState(corridor_protocols::fmapi::GetPhysicalPortState {
                ports: vec![8],
            }),
            Response::PhysicalPortState(PhysicalPortState { ports: vec![port] }),
        ),
    ]
}

/// Encodes and decodes one message; returns a byte of the result so nothing is elided.
fn round_trip(case: &Case, tag: u8, buf: &mut Vec<u8>) -> usize {
    buf.clear();
    match case {
        Case::Request(r) => {
            r.encode_message(tag, buf).unwrap();
            let (h, back) = Request::decode_message(buf).unwrap();
            usize::from(h.tag) + usize::from(matches!(back, Request::Identify))
        }
        Case::Response(req, rsp) => {
            let header = CciHeader::request(tag, req.opcode(), 0);
            rsp.encode_message(&header, buf).unwrap();
            let (h, payload) = decode_message(buf).unwrap();
            let back = Response::decode(req, payload).unwrap();
            usize::from(h.tag) + usize::from(matches!(back, Response::Empty))
        }
    }
}

fn one_core_figure(cases: &[Case]) {
    let n: usize = std::env::var("FMAPI_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let mut buf = Vec::with_capacity(256);
    // Warm up.
    for i in 0..100_000 {
        black_box(round_trip(&cases[i % cases.len()], i as u8, &mut buf));
    }
    let start = Instant::now();
    let mut sink = 0usize;
    for i in 0..n {
        sink = sink.wrapping_add(round_trip(
            black_box(&cases[i % cases.len()]),
            i as u8,
            &mut buf,
        ));
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(sink);
    let rate = n as f64 / secs;
    println!(
        "fmapi encode+decode: {n} messages in {secs:.3} s on one core = {:.2} M messages/s ({:.0} ns/message); target >= 5 M/s: {}",
        rate / 1e6,
        secs * 1e9 / n as f64,
        if rate >= 5e6 { "met" } else { "NOT met" }
    );

    // MCTP framing of the same messages: packetise to 68-byte records, reassemble, trim.
    let messages: Vec<Vec<u8>> = cases
        .iter()
        .map(|c| {
            let mut b = Vec::new();
            match c {
                Case::Request(r) => r.encode_message(0, &mut b).unwrap(),
                Case::Response(req, rsp) => rsp
                    .encode_message(&CciHeader::request(0, req.opcode(), 0), &mut b)
                    .unwrap(),
            }
            b
        })
        .collect();
    let route = Route {
        dest_eid: 9,
        src_eid: 8,
        tag: 0,
        tag_owner: true,
    };
    let m = n / 4;
    let mut wire = Vec::with_capacity(4 * TCP_PACKET_LEN);
    let mut reassembler = Reassembler::new();
    let start = Instant::now();
    for i in 0..m {
        wire.clear();
        packetize(route, 7, &messages[i % messages.len()], &mut wire);
        for chunk in wire.chunks_exact(TCP_PACKET_LEN) {
            if let Some(msg) = reassembler.push(chunk.try_into().unwrap()).unwrap() {
                sink = sink.wrapping_add(trim_cci(&msg.padded_body).unwrap().len());
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(sink);
    println!(
        "fmapi MCTP packetise+reassemble: {m} messages in {secs:.3} s = {:.2} M messages/s",
        m as f64 / secs / 1e6
    );
}

fn main() {
    let cases = cases();
    one_core_figure(&cases);
    let mut c = Criterion::default().configure_from_args();
    let mut buf = Vec::with_capacity(256);
    let names = [
        "bind_vppb_request",
        "set_qos_allocated_bw_request",
        "get_ld_info_response",
        "identify_switch_device_response",
        "physical_port_state_response",
    ];
    for (case, name) in cases.iter().zip(names) {
        c.bench_function(&format!("fmapi/{name}"), |b| {
            b.iter(|| round_trip(black_box(case), 7, &mut buf));
        });
    }
    c.final_summary();
}

//! Property tests of the FM API codecs: every request and response round-trips through its
//! message bytes, MCTP packetisation round-trips any body, and no byte string makes a
//! decoder panic.

use corridor_protocols::fmapi::header::decode_message;
use corridor_protocols::fmapi::mctp::{Reassembler, Route, TCP_PACKET_LEN, packetize, trim_cci};
use corridor_protocols::fmapi::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn window() -> impl Strategy<Value = LdWindow> {
    (any::<u8>(), any::<u8>()).prop_map(|(start_ld, count)| LdWindow { start_ld, count })
}

fn fractions() -> impl Strategy<Value = QosFractions> {
    (any::<u8>(), vec(any::<u8>(), 0..16)).prop_map(|(start_ld, fractions)| QosFractions {
        start_ld,
        fractions,
    })
}

fn allocations() -> impl Strategy<Value = SetLdAllocations> {
    (any::<u8>(), vec((any::<u64>(), any::<u64>()), 0..16)).prop_map(|(start_ld, a)| {
        SetLdAllocations {
            start_ld,
            allocations: a
                .into_iter()
                .map(|(r1, r2)| LdAllocation {
                    range1_multiplier: r1,
                    range2_multiplier: r2,
                })
                .collect(),
        }
    })
}

fn qos_control() -> impl Strategy<Value = QosControl> {
    (any::<[u8; 4]>(), any::<u16>(), any::<u8>()).prop_map(|(b, basis, interval)| QosControl {
        telemetry_control: b[0],
        egress_moderate_percent: b[1],
        egress_severe_percent: b[2],
        backpressure_sample_interval: b[3],
        req_cmp_basis: basis,
        completion_collection_interval: interval,
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Identify),
        Just(Request::BackgroundOperationStatus),
        Just(Request::GetFwInfo),
        Just(Request::IdentifySwitchDevice),
        vec(any::<u8>(), 0..40)
            .prop_map(|ports| Request::GetPhysicalPortState(GetPhysicalPortState { ports })),
        (any::<u8>(), 0u8..3).prop_map(|(ppb_id, op)| {
            Request::PhysicalPortControl(PhysicalPortControl {
                ppb_id,
                operation: [
                    PortOperation::AssertPerst,
                    PortOperation::DeassertPerst,
                    PortOperation::ResetPpb,
                ][usize::from(op)],
            })
        }),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..8)).prop_map(|(s, l, ids)| {
            Request::GetVcsInfo(GetVcsInfo {
                start_vppb: s,
                vppb_list_limit: l,
                vcs_ids: ids,
            })
        }),
        (any::<[u8; 3]>(), any::<u16>()).prop_map(|(b, ld)| Request::BindVppb(BindVppb {
            vcs_id: b[0],
            vppb_id: b[1],
            port_id: b[2],
            ld_id: ld
        })),
        (any::<u8>(), any::<u8>(), 0u8..3).prop_map(|(v, p, o)| {
            Request::UnbindVppb(UnbindVppb {
                vcs_id: v,
                vppb_id: p,
                option: o,
            })
        }),
        (any::<u8>(), any::<bool>(), vec(any::<u8>(), 0..64)).prop_map(|(id, pool, message)| {
            Request::Tunnel(TunnelRequest {
                target: if pool {
                    TunnelTarget::LdPool
                } else {
                    TunnelTarget::PortOrLd(id)
                },
                message,
            })
        }),
        Just(Request::GetLdInfo),
        window().prop_map(Request::GetLdAllocations),
        allocations().prop_map(Request::SetLdAllocations),
        Just(Request::GetQosControl),
        qos_control().prop_map(Request::SetQosControl),
        Just(Request::GetQosStatus),
        window().prop_map(Request::GetQosAllocatedBw),
        fractions().prop_map(Request::SetQosAllocatedBw),
        window().prop_map(Request::GetQosBwLimit),
        fractions().prop_map(Request::SetQosBwLimit),
        window().prop_map(Request::GetMhdInfo),
    ]
}

fn port_info() -> impl Strategy<Value = PortInfo> {
    (any::<[u8; 13]>(), any::<u16>()).prop_map(|(b, link_state)| PortInfo {
        port_id: b[0],
        config_state: PortConfigState::from_byte(b[1] & 0x0f),
        connected_cxl_version: b[2],
        connected_device_type: ConnectedDeviceType::from_byte(b[3]),
        supported_cxl_versions: b[4],
        max_link_width: b[5],
        negotiated_link_width: b[6],
        supported_speeds: b[7],
        max_link_speed: b[8],
        current_link_speed: b[9],
        ltssm_state: b[10],
        first_lane: b[11],
        link_state,
        supported_ld_count: b[12],
    })
}

/// A response with the request it answers.
fn exchange() -> impl Strategy<Value = (Request, Response)> {
    prop_oneof![
        (any::<[u16; 4]>(), any::<u64>(), any::<[u8; 2]>()).prop_map(|(ids, serial, b)| {
            (
                Request::Identify,
                Response::Identify(IdentifyResponse {
                    vendor_id: ids[0],
                    device_id: ids[1],
                    subsystem_vendor_id: ids[2],
                    subsystem_id: ids[3],
                    serial_number: serial,
                    max_message_size_log2: b[0],
                    component_type: ComponentType::from_byte(b[1]),
                }),
            )
        }),
        (any::<bool>(), 0u8..=100, any::<[u16; 3]>()).prop_map(|(running, pct, w)| {
            (
                Request::BackgroundOperationStatus,
                Response::BackgroundOperationStatus(BackgroundOperationStatus {
                    running,
                    percent_complete: pct,
                    opcode: w[0],
                    return_code: w[1],
                    vendor_status: w[2],
                }),
            )
        }),
        (any::<[u8; 3]>(), any::<[[u8; 16]; 4]>()).prop_map(|(b, revisions)| {
            (
                Request::GetFwInfo,
                Response::FwInfo(FwInfo {
                    slots_supported: b[0],
                    slot_info: b[1],
                    activation_caps: b[2],
                    revisions,
                }),
            )
        }),
        (
            any::<[u8; 4]>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            any::<[u16; 2]>()
        )
            .prop_map(|(b, ports, vcs, v)| {
                (
                    Request::IdentifySwitchDevice,
                    Response::IdentifySwitchDevice(IdentifySwitchDevice {
                        ingress_port_id: b[0],
                        num_physical_ports: b[1],
                        num_vcs: b[2],
                        active_port_bitmask: ports,
                        active_vcs_bitmask: vcs,
                        total_vppbs: v[0],
                        bound_vppbs: v[1],
                        hdm_decoders_per_usp: b[3],
                    }),
                )
            }),
        vec(port_info(), 0..12).prop_map(|ports| {
            (
                Request::GetPhysicalPortState(GetPhysicalPortState { ports: vec![] }),
                Response::PhysicalPortState(PhysicalPortState { ports }),
            )
        }),
        vec((any::<[u8; 3]>(), vec(any::<[u8; 3]>(), 0..8)), 0..5).prop_map(|blocks| {
            let request = GetVcsInfo {
                start_vppb: 0,
                vppb_list_limit: u8::MAX,
                vcs_ids: vec![],
            };
            let blocks = blocks
                .into_iter()
                .map(|(h, v)| VcsInfoBlock {
                    vcs_id: h[0],
                    state: h[1],
                    usp_id: h[2],
                    num_vppbs: v.len() as u8,
                    vppbs: v
                        .into_iter()
                        .map(|b| VppbInfo {
                            status: match b[0] % 5 {
                                0 => BindingStatus::Unbound,
                                1 => BindingStatus::InProgress,
                                2 => BindingStatus::BoundPort,
                                3 => BindingStatus::BoundLd,
                                _ => BindingStatus::BoundPid,
                            },
                            port_id: b[1],
                            ld_id: b[2],
                        })
                        .collect(),
                })
                .collect();
            (
                Request::GetVcsInfo(request),
                Response::VcsInfo(VcsInfo { blocks }),
            )
        }),
        (any::<u64>(), any::<u16>(), any::<u8>()).prop_map(|(m, n, c)| {
            (
                Request::GetLdInfo,
                Response::LdInfo(LdInfo {
                    memory_size: m,
                    ld_count: n,
                    qos_telemetry_caps: c,
                }),
            )
        }),
        (any::<[u8; 2]>(), allocations()).prop_map(|(b, a)| {
            (
                Request::GetLdAllocations(LdWindow {
                    start_ld: 0,
                    count: 0,
                }),
                Response::LdAllocations(LdAllocations {
                    number_of_lds: b[0],
                    memory_granularity: b[1],
                    start_ld: a.start_ld,
                    allocations: a.allocations,
                }),
            )
        }),
        allocations().prop_map(|a| (
            Request::SetLdAllocations(a.clone()),
            Response::SetLdAllocations(a)
        )),
        qos_control().prop_map(|q| (Request::GetQosControl, Response::QosControl(q))),
        any::<u8>().prop_map(|b| {
            (
                Request::GetQosStatus,
                Response::QosStatus(QosStatus {
                    backpressure_average_percent: b,
                }),
            )
        }),
        fractions().prop_map(|f| (
            Request::SetQosAllocatedBw(f.clone()),
            Response::QosAllocatedBw(f)
        )),
        fractions().prop_map(|f| (
            Request::GetQosBwLimit(LdWindow {
                start_ld: 0,
                count: 0
            }),
            Response::QosBwLimit(f)
        )),
        (any::<[u8; 3]>(), vec(any::<u8>(), 0..16)).prop_map(|(b, ld_map)| {
            (
                Request::GetMhdInfo(LdWindow {
                    start_ld: 0,
                    count: 0,
                }),
                Response::MhdInfo(MhdInfo {
                    num_lds: b[0],
                    num_heads: b[1],
                    start_ld: b[2],
                    ld_map,
                }),
            )
        }),
        vec(any::<u8>(), 0..80).prop_map(|message| {
            (
                Request::Tunnel(TunnelRequest {
                    target: TunnelTarget::LdPool,
                    message: vec![],
                }),
                Response::Tunnel(TunnelResponse { message }),
            )
        }),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(request in request(), tag in any::<u8>()) {
        let mut bytes = Vec::new();
        request.encode_message(tag, &mut bytes).unwrap();
        let (header, back) = Request::decode_message(&bytes).unwrap();
        prop_assert_eq!(header.tag, tag);
        prop_assert_eq!(header.opcode, request.opcode());
        prop_assert_eq!(back, request);
    }

    #[test]
    fn responses_round_trip((request, response) in exchange(), tag in any::<u8>()) {
        let request_header = CciHeader::request(tag, request.opcode(), 0);
        let mut bytes = Vec::new();
        response.encode_message(&request_header, &mut bytes).unwrap();
        let (header, payload) = decode_message(&bytes).unwrap();
        prop_assert_eq!(header.category, Category::Response);
        prop_assert_eq!(header.tag, tag);
        prop_assert_eq!(Response::decode(&request, payload).unwrap(), response);
    }

    #[test]
    fn headers_round_trip(
        response in any::<bool>(), tag in any::<u8>(), opcode in any::<u16>(),
        len in 0u32..(1 << 20), background in any::<bool>(), rc in any::<u16>(), vs in any::<u16>(),
    ) {
        let h = CciHeader {
            category: if response { Category::Response } else { Category::Request },
            tag,
            opcode: Opcode(opcode),
            payload_len: len,
            background,
            return_code: ReturnCode(rc),
            vendor_status: vs,
        };
        prop_assert_eq!(CciHeader::decode(&h.to_bytes().unwrap()).unwrap(), h);
    }

    #[test]
    fn mctp_packets_round_trip(
        payload in vec(any::<u8>(), 0..400), tag in 0u8..8, eids in any::<[u8; 2]>(),
    ) {
        let mut cci = Vec::new();
        corridor_protocols::fmapi::header::encode_message(
            &CciHeader::request(1, Opcode::IDENTIFY, 0), &payload, &mut cci).unwrap();
        let route = Route { dest_eid: eids[0], src_eid: eids[1], tag, tag_owner: true };
        let mut wire = Vec::new();
        packetize(route, 7, &cci, &mut wire);
        prop_assert_eq!(wire.len() % TCP_PACKET_LEN, 0);
        let mut r = Reassembler::new();
        let mut done = None;
        for (i, chunk) in wire.chunks_exact(TCP_PACKET_LEN).enumerate() {
            let got = r.push(chunk.try_into().unwrap()).unwrap();
            prop_assert_eq!(got.is_some(), (i + 1) * TCP_PACKET_LEN == wire.len());
            done = got.or(done);
        }
        let m = done.unwrap();
        prop_assert_eq!((m.tag, m.dest_eid, m.src_eid, m.message_type), (tag, eids[0], eids[1], 7));
        prop_assert_eq!(trim_cci(&m.padded_body).unwrap(), &cci[..]);
    }

    #[test]
    fn decoders_never_panic(bytes in vec(any::<u8>(), 0..200), opcode in any::<u16>()) {
        let _ = Request::decode_message(&bytes);
        let _ = trim_cci(&bytes);
        if let Ok(request) = Request::decode(Opcode(opcode), &bytes) {
            // Whatever decodes re-encodes to a payload that decodes to the same value.
            let mut again = Vec::new();
            request.encode_payload(&mut again).unwrap();
            prop_assert_eq!(Request::decode(Opcode(opcode), &again).unwrap(), request.clone());
            let _ = Response::decode(&request, &bytes);
        }
    }
}

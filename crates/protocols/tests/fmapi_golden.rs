//! Golden vectors for the FM API codecs, written by hand from the layouts: the CCI message
//! header (CXL r3.1 §7.6.3, Figure 7-19), the command payloads (r3.1 §7.6.7.1–7.6.7.5 and
//! §8.2.9.1/§8.2.9.3, as libcxlmi's `api-types.h` lays them out) and MCTP packets
//! (DSP0236 §8.1; memory-cxl.md §3 gives the Identify Switch Device frame).

use corridor_protocols::fmapi::header::{decode_message, encode_message};
use corridor_protocols::fmapi::mctp::{
    MESSAGE_TYPE_FM_API, Reassembler, Route, TCP_PACKET_LEN, packetize, trim_cci,
};
use corridor_protocols::fmapi::switch::{link_flags, ltssm};
use corridor_protocols::fmapi::*;

fn msg(request: &Request, tag: u8) -> Vec<u8> {
    let mut out = Vec::new();
    request.encode_message(tag, &mut out).unwrap();
    out
}

#[test]
fn identify_switch_device_request_is_the_documented_frame() {
    // memory-cxl.md §3: `00 TT 00 00 51 00 00 00 00 00 00 00` after the MCTP type byte 07.
    let bytes = msg(&Request::IdentifySwitchDevice, 0x2a);
    assert_eq!(bytes, [0x00, 0x2a, 0x00, 0x00, 0x51, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        Request::decode_message(&bytes).unwrap().1,
        Request::IdentifySwitchDevice
    );
}

#[test]
fn header_packs_the_20_bit_length_and_the_background_bit() {
    let h = CciHeader {
        category: Category::Response,
        tag: 7,
        opcode: Opcode::BIND_VPPB,
        payload_len: 0x1_2345,
        background: true,
        return_code: ReturnCode::BACKGROUND_STARTED,
        vendor_status: 0xabcd,
    };
    let b = h.to_bytes().unwrap();
    // length 0x12345 little-endian in bytes 5..8, bit 23 set: 45 23 81.
    assert_eq!(
        b,
        [
            0x01, 0x07, 0x00, 0x01, 0x52, 0x45, 0x23, 0x81, 0x01, 0x00, 0xcd, 0xab
        ]
    );
    assert_eq!(CciHeader::decode(&b).unwrap(), h);
    let too_big = CciHeader {
        payload_len: 1 << 20,
        ..h
    };
    assert_eq!(
        too_big.to_bytes(),
        Err(FmApiError::PayloadTooLarge(1 << 20))
    );
}

#[test]
fn bind_vppb_request_is_six_bytes() {
    // r3.1 §7.6.7.2.2: VCS id, vPPB id, port id, reserved, LD id (u16).
    let bytes = msg(
        &Request::BindVppb(BindVppb {
            vcs_id: 0,
            vppb_id: 1,
            port_id: 8,
            ld_id: 2,
        }),
        3,
    );
    assert_eq!(
        bytes,
        [
            0x00, 0x03, 0x00, 0x01, 0x52, 0x06, 0x00, 0x00, 0, 0, 0, 0, 0x00, 0x01, 0x08, 0x00,
            0x02, 0x00
        ]
    );
}

#[test]
fn unbind_vppb_request_is_three_bytes() {
    let bytes = msg(
        &Request::UnbindVppb(UnbindVppb {
            vcs_id: 1,
            vppb_id: 2,
            option: 2,
        }),
        0,
    );
    assert_eq!(&bytes[3..8], &[0x02, 0x52, 0x03, 0x00, 0x00]);
    assert_eq!(&bytes[12..], &[0x01, 0x02, 0x02]);
}

#[test]
fn get_ld_info_response_is_eleven_bytes() {
    // r3.1 §7.6.7.4.1: memory size (u64), LD count (u16), QoS telemetry capability (u8).
    let request = CciHeader::request(9, Opcode::GET_LD_INFO, 0);
    let mut out = Vec::new();
    Response::LdInfo(LdInfo {
        memory_size: 256 << 30,
        ld_count: 4,
        qos_telemetry_caps: 1,
    })
    .encode_message(&request, &mut out)
    .unwrap();
    assert_eq!(
        out,
        [
            0x01, 0x09, 0x00, 0x00, 0x54, 0x0b, 0x00, 0x00, 0, 0, 0, 0, //
            0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01
        ]
    );
    let (h, p) = decode_message(&out).unwrap();
    assert_eq!(h.return_code, ReturnCode::SUCCESS);
    assert_eq!(
        Response::decode(&Request::GetLdInfo, p).unwrap(),
        Response::LdInfo(LdInfo {
            memory_size: 256 << 30,
            ld_count: 4,
            qos_telemetry_caps: 1
        })
    );
}

#[test]
fn identify_switch_device_response_is_0x49_bytes() {
    let mut ports = [0u8; 32];
    ports[0] = 0b0000_1111; // ports 0-3
    ports[1] = 0b0000_0111; // ports 8-10
    let mut vcs = [0u8; 32];
    vcs[0] = 0b1111;
    let r = IdentifySwitchDevice {
        ingress_port_id: 0,
        num_physical_ports: 7,
        num_vcs: 4,
        active_port_bitmask: ports,
        active_vcs_bitmask: vcs,
        total_vppbs: 12,
        bound_vppbs: 3,
        hdm_decoders_per_usp: 4,
    };
    let mut p = Vec::new();
    r.encode(&mut p);
    assert_eq!(p.len(), 0x49);
    let mut expect = vec![0x00, 0x00, 0x07, 0x04, 0x0f, 0x07];
    expect.resize(4 + 32, 0);
    expect.push(0x0f);
    expect.resize(4 + 64, 0);
    expect.extend_from_slice(&[0x0c, 0x00, 0x03, 0x00, 0x04]);
    assert_eq!(p, expect);
    let back = IdentifySwitchDevice::decode(&p).unwrap();
    assert_eq!(
        back.active_ports().collect::<Vec<_>>(),
        [0, 1, 2, 3, 8, 9, 10]
    );
    assert_eq!(back.active_vcs().collect::<Vec<_>>(), [0, 1, 2, 3]);
    // One byte short or long is refused, not guessed at.
    assert!(matches!(
        IdentifySwitchDevice::decode(&p[..0x48]),
        Err(FmApiError::Truncated { need: 0x49, .. })
    ));
    let mut long = p.clone();
    long.push(0);
    assert!(matches!(
        IdentifySwitchDevice::decode(&long),
        Err(FmApiError::Oversized { .. })
    ));
}

#[test]
fn port_state_block_is_sixteen_bytes() {
    // r3.1 §7.6.7.1.2: a 4-byte header (number of ports, 3 reserved), then per port: id,
    // config state, connected CXL version, reserved, connected device type, supported CXL
    // versions, max width, negotiated width, supported speeds, max speed, current speed,
    // LTSSM, first lane, link state (u16), supported LD count.
    let block = PortInfo {
        port_id: 8,
        config_state: PortConfigState::Dsp,
        connected_cxl_version: 2,
        connected_device_type: ConnectedDeviceType::Type3Mld,
        supported_cxl_versions: 0b11,
        max_link_width: 16,
        negotiated_link_width: 16,
        supported_speeds: 0b1_1111,
        max_link_speed: 5,
        current_link_speed: 5,
        ltssm_state: ltssm::L0,
        first_lane: 0,
        link_state: link_flags::PRESENT,
        supported_ld_count: 4,
    };
    let mut p = Vec::new();
    PhysicalPortState { ports: vec![block] }
        .encode(&mut p)
        .unwrap();
    assert_eq!(
        p,
        [
            0x01, 0, 0, 0, //
            0x08, 0x03, 0x02, 0x00, 0x05, 0x03, 0x10, 0x10, 0x1f, 0x05, 0x05, 0x04, 0x00, 0x04,
            0x00, 0x04
        ]
    );
    assert_eq!(PhysicalPortState::decode(&p).unwrap().ports, [block]);
    // A count of two with one block present is truncated.
    p[0] = 2;
    assert!(matches!(
        PhysicalPortState::decode(&p),
        Err(FmApiError::Truncated { .. })
    ));
}

#[test]
fn vcs_info_response_is_parsed_against_the_request_window() {
    let request = GetVcsInfo {
        start_vppb: 1,
        vppb_list_limit: 2,
        vcs_ids: vec![0],
    };
    let mut p = Vec::new();
    request.encode(&mut p).unwrap();
    assert_eq!(p, [0x01, 0x02, 0x01, 0x00]);
    // One VCS (id 0, enabled, USP 0) with 3 vPPBs; the window from 1 holds 2: vPPB 1 bound
    // to port 8 LD 2, vPPB 2 unbound.
    let rsp = [
        0x01, 0, 0, 0, 0x00, 0x01, 0x00, 0x03, 0x03, 0x08, 0x02, 0x00, 0x00, 0xff, 0xff, 0x00,
    ];
    let info = VcsInfo::decode(&rsp, &request).unwrap();
    assert_eq!(info.blocks[0].num_vppbs, 3);
    assert_eq!(
        info.blocks[0].vppbs,
        [
            VppbInfo {
                status: BindingStatus::BoundLd,
                port_id: 8,
                ld_id: 2
            },
            VppbInfo {
                status: BindingStatus::Unbound,
                port_id: 0xff,
                ld_id: 0xff
            }
        ]
    );
    let mut again = Vec::new();
    info.encode(&mut again).unwrap();
    assert_eq!(again, rsp);
}

#[test]
fn ld_allocations_and_qos_fractions() {
    // r3.1 §7.6.7.4.3: number of LDs, start LD, 2 reserved, then 2 × u64 per LD.
    let set = SetLdAllocations {
        start_ld: 1,
        allocations: vec![LdAllocation {
            range1_multiplier: 256,
            range2_multiplier: 0,
        }],
    };
    let bytes = msg(&Request::SetLdAllocations(set.clone()), 0);
    assert_eq!(&bytes[5..8], &[20, 0, 0]);
    assert_eq!(
        &bytes[12..],
        &[
            1, 1, 0, 0, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]
    );
    // §7.6.7.4.8: number of LDs, start LD, one fraction × 256 per LD.
    let qos = Request::SetQosAllocatedBw(QosFractions {
        start_ld: 0,
        fractions: vec![64, 64, 64, 64],
    });
    assert_eq!(&msg(&qos, 0)[12..], &[4, 0, 0x40, 0x40, 0x40, 0x40]);
    // §7.6.7.4.7: the Get request is number of LDs, then start LD.
    let get = Request::GetQosAllocatedBw(LdWindow {
        start_ld: 2,
        count: 3,
    });
    assert_eq!(&msg(&get, 0)[12..], &[3, 2]);
    // §7.6.7.4.2: the Get LD Allocations request is start LD, then list limit.
    let get = Request::GetLdAllocations(LdWindow {
        start_ld: 2,
        count: 3,
    });
    assert_eq!(&msg(&get, 0)[12..], &[2, 3]);
}

#[test]
fn qos_control_defaults_and_layout() {
    let mut p = Vec::new();
    QosControl::default().encode(&mut p);
    // moderate 10 %, severe 25 %, sample interval 8, ReqCmpBasis 0, completion interval 64.
    assert_eq!(p, [0x00, 10, 25, 8, 0x00, 0x00, 64]);
}

#[test]
fn fw_info_is_0x50_bytes_with_nul_padded_revisions() {
    let fw = FwInfo::single_slot("1.2.3");
    let mut p = Vec::new();
    fw.encode(&mut p);
    assert_eq!(p.len(), 0x50);
    assert_eq!(&p[..3], &[1, 1, 0]);
    assert_eq!(&p[16..21], b"1.2.3");
    assert!(p[21..].iter().all(|&b| b == 0));
    assert_eq!(
        FwInfo::decode(&p).unwrap().active_revision().as_deref(),
        Some("1.2.3")
    );
}

#[test]
fn identify_response_is_eighteen_bytes() {
    let id = IdentifyResponse {
        vendor_id: 0x8086,
        device_id: 0x0b5a,
        subsystem_vendor_id: 0x8086,
        subsystem_id: 0x0001,
        serial_number: 0x0102_0304_0506_0708,
        max_message_size_log2: 13,
        component_type: ComponentType::Type3,
    };
    let mut p = Vec::new();
    id.encode(&mut p);
    assert_eq!(
        p,
        [
            0x86, 0x80, 0x5a, 0x0b, 0x86, 0x80, 0x01, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
            0x02, 0x01, 13, 0x03
        ]
    );
}

#[test]
fn tunnel_wraps_a_whole_message() {
    let inner = msg(&Request::GetLdInfo, 5);
    let outer = Request::Tunnel(TunnelRequest {
        target: TunnelTarget::PortOrLd(8),
        message: inner.clone(),
    });
    let bytes = msg(&outer, 6);
    assert_eq!(&bytes[3..5], &[0x00, 0x53]);
    assert_eq!(&bytes[12..16], &[8, 0, 12, 0]);
    assert_eq!(&bytes[16..], &inner[..]);
}

#[test]
fn mctp_packets_are_68_byte_records() {
    let cci = msg(&Request::IdentifySwitchDevice, 0);
    let route = Route {
        dest_eid: 9,
        src_eid: 8,
        tag: 3,
        tag_owner: true,
    };
    let mut wire = Vec::new();
    packetize(route, MESSAGE_TYPE_FM_API, &cci, &mut wire);
    assert_eq!(wire.len(), TCP_PACKET_LEN);
    // version 1, dest 9, src 8, SOM|EOM|seq 0|TO|tag 3 = 0xcb; then the type byte 07.
    assert_eq!(&wire[..5], &[0x01, 0x09, 0x08, 0xcb, 0x07]);
    assert_eq!(&wire[5..17], &cci[..]);
    assert!(wire[17..].iter().all(|&b| b == 0));

    // 100 bytes of CCI + the type byte = two packets: SOM then EOM with sequence 1.
    let big = {
        let mut out = Vec::new();
        encode_message(
            &CciHeader::request(1, Opcode::IDENTIFY, 0),
            &[0xaa; 88],
            &mut out,
        )
        .unwrap();
        out
    };
    let mut wire = Vec::new();
    packetize(route, MESSAGE_TYPE_FM_API, &big, &mut wire);
    assert_eq!(wire.len(), 2 * TCP_PACKET_LEN);
    assert_eq!(wire[3], 0x8b);
    assert_eq!(wire[TCP_PACKET_LEN + 3], 0x5b);
    let mut r = Reassembler::new();
    assert_eq!(r.push(wire[..68].try_into().unwrap()).unwrap(), None);
    let m = r.push(wire[68..].try_into().unwrap()).unwrap().unwrap();
    assert_eq!((m.message_type, m.src_eid, m.dest_eid, m.tag), (7, 8, 9, 3));
    assert_eq!(trim_cci(&m.padded_body).unwrap(), &big[..]);
}

#[test]
fn mctp_reassembly_refuses_gaps_and_orphans() {
    let route = Route {
        dest_eid: 9,
        src_eid: 8,
        tag: 0,
        tag_owner: true,
    };
    let mut wire = Vec::new();
    packetize(route, 7, &[0u8; 200], &mut wire); // 4 packets
    let packet = |i: usize| -> [u8; 68] { wire[i * 68..(i + 1) * 68].try_into().unwrap() };
    let mut r = Reassembler::new();
    assert!(matches!(
        r.push(&packet(1)),
        Err(FmApiError::MctpSequence(_))
    ));
    assert_eq!(r.push(&packet(0)).unwrap(), None);
    assert!(matches!(
        r.push(&packet(2)),
        Err(FmApiError::MctpSequence(_))
    ));
    let mut bad = packet(0);
    bad[0] = 2;
    assert_eq!(r.push(&bad), Err(FmApiError::MctpVersion(2)));
}

#[test]
fn padding_beyond_one_packet_and_short_bodies_are_refused() {
    let cci = msg(&Request::Identify, 0);
    let mut padded = cci.clone();
    padded.resize(12 + 64, 0);
    assert!(matches!(
        trim_cci(&padded),
        Err(FmApiError::Oversized { .. })
    ));
    let mut lying = cci.clone();
    lying[5] = 40; // says 40 payload bytes, has none
    assert!(matches!(
        trim_cci(&lying),
        Err(FmApiError::Truncated { .. })
    ));
    assert!(matches!(
        decode_message(&lying),
        Err(FmApiError::LengthMismatch {
            declared: 40,
            actual: 0
        })
    ));
}

#[test]
fn unknown_opcodes_and_bad_fields_are_typed_errors() {
    assert_eq!(
        Request::decode(Opcode(0x5301), &[]),
        Err(FmApiError::UnknownOpcode(0x5301))
    );
    assert!(matches!(
        Request::decode(Opcode::PHYSICAL_PORT_CONTROL, &[1, 9]),
        Err(FmApiError::InvalidField {
            field: "port opcode",
            value: 9,
            ..
        })
    ));
    assert!(matches!(
        Request::decode(Opcode::IDENTIFY, &[0]),
        Err(FmApiError::Oversized { .. })
    ));
    let mut bad = msg(&Request::Identify, 0);
    bad[0] = 2;
    assert_eq!(
        Request::decode_message(&bad),
        Err(FmApiError::BadCategory(2))
    );
}

//! Feeds arbitrary bytes to the FM API decoders as a switch would send them: as MCTP packet
//! records (68 bytes each) through reassembly and padding removal, as a CCI request, and as
//! the response payload to every kind of request. Any panic is a bug; every request that
//! decodes must re-encode to a message that decodes to the same request.
#![no_main]

use corridor_protocols::fmapi::header::decode_message;
use corridor_protocols::fmapi::mctp::{Reassembler, TCP_PACKET_LEN, trim_cci};
use corridor_protocols::fmapi::{
    GetPhysicalPortState, GetVcsInfo, LdWindow, Opcode, Request, Response,
};
use libfuzzer_sys::fuzz_target;

fn requests(window: LdWindow) -> [Request; 12] {
    [
        Request::Identify,
        Request::BackgroundOperationStatus,
        Request::GetFwInfo,
        Request::IdentifySwitchDevice,
        Request::GetPhysicalPortState(GetPhysicalPortState { ports: vec![] }),
        Request::GetVcsInfo(GetVcsInfo {
            start_vppb: window.start_ld,
            vppb_list_limit: window.count,
            vcs_ids: vec![],
        }),
        Request::GetLdInfo,
        Request::GetLdAllocations(window),
        Request::GetQosControl,
        Request::GetQosStatus,
        Request::GetQosAllocatedBw(window),
        Request::GetMhdInfo(window),
    ]
}

fuzz_target!(|data: &[u8]| {
    // As a stream of packet records from a switch.
    let mut reassembler = Reassembler::new();
    for chunk in data.chunks_exact(TCP_PACKET_LEN) {
        if let Ok(Some(m)) = reassembler.push(chunk.try_into().unwrap()) {
            if let Ok(cci) = trim_cci(&m.padded_body) {
                assert!(decode_message(cci).is_ok());
            }
        }
    }

    // As one CCI request message.
    if let Ok((header, request)) = Request::decode_message(data) {
        assert_eq!(header.opcode, request.opcode());
        let mut again = Vec::new();
        request.encode_message(header.tag, &mut again).unwrap();
        assert_eq!(Request::decode_message(&again).unwrap().1, request);
    }

    // As a response payload, against every kind of request.
    if let [a, b, rest @ ..] = data {
        let window = LdWindow { start_ld: *a, count: *b };
        for request in requests(window) {
            let _ = Response::decode(&request, rest);
        }
        let _ = Request::decode(Opcode(u16::from_le_bytes([*a, *b])), rest);
    }
});

//! SPDM 1.2 golden vectors, hand-built from the DSP0274 1.2 layouts (and, for VERSION, the
//! bytes DMTF's spdm-emu responder answered), and the typed errors of bad input.

use corridor_protocols::spdm::algorithms::{base_asym, base_hash};
use corridor_protocols::spdm::emu::{self, EmuTransport, command};
use corridor_protocols::spdm::measurement::value_type;
use corridor_protocols::spdm::signing::{SignedResponse, combined_prefix, signed_message};
use corridor_protocols::spdm::{
    AsymAlgo, CapabilityFields, CertChain, ChallengeAuth, GetMeasurements, HashAlgo,
    MeasurementBlock, MeasurementHash, Measurements, NegotiateAlgorithms, Negotiated, Request,
    Response, ResponseContext, SignedRequest, SpdmError,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const P384: Negotiated = Negotiated {
    asym: AsymAlgo::EcdsaP384,
    hash: HashAlgo::Sha384,
    measurement_hash: MeasurementHash::Hash(HashAlgo::Sha512),
};

fn ctx(summary: bool, signed: bool) -> ResponseContext {
    ResponseContext {
        negotiated: Some(P384),
        challenge_summary: summary,
        measurements_signed: signed,
    }
}

/// Every golden request: bytes and value.
fn requests() -> Vec<(Vec<u8>, Request)> {
    let nonce = [0xA5; 32];
    vec![
        (hex("10 84 00 00"), Request::GetVersion),
        (
            hex("12 e1 00 00  00 0c 00 00  16 00 00 00  00 10 00 00  00 10 00 00"),
            Request::GetCapabilities(CapabilityFields {
                ct_exponent: 12,
                flags: 0x16,
                data_transfer_size: 4096,
                max_spdm_msg_size: 4096,
            }),
        ),
        (
            hex(
                "12 e3 00 00  20 00  01 02  90 00 00 00  07 00 00 00  000000000000000000000000  00 00 00 00",
            ),
            Request::NegotiateAlgorithms(NegotiateAlgorithms {
                measurement_specification: 1,
                other_params_support: 2,
                base_asym_algo: base_asym::ECDSA_P256 | base_asym::ECDSA_P384,
                base_hash_algo: base_hash::SHA_256 | base_hash::SHA_384 | base_hash::SHA_512,
                ext_asym: vec![],
                ext_hash: vec![],
                alg_structs: vec![],
            }),
        ),
        (hex("12 81 00 00"), Request::GetDigests),
        (
            hex("12 82 00 00  00 02  00 04"),
            Request::GetCertificate {
                slot_id: 0,
                offset: 0x200,
                length: 0x400,
            },
        ),
        (
            [hex("12 83 00 ff"), nonce.to_vec()].concat(),
            Request::Challenge {
                slot_id: 0,
                measurement_summary: 0xFF,
                nonce,
            },
        ),
        (
            [hex("12 e0 01 ff"), nonce.to_vec(), hex("00")].concat(),
            Request::GetMeasurements(GetMeasurements {
                attributes: 1,
                operation: 0xFF,
                signed: Some(SignedRequest { nonce, slot_id: 0 }),
            }),
        ),
        (
            hex("12 e0 00 00"),
            Request::GetMeasurements(GetMeasurements {
                attributes: 0,
                operation: 0,
                signed: None,
            }),
        ),
    ]
}

#[test]
fn requests_encode_and_decode_to_the_golden_bytes() {
    for (bytes, request) in requests() {
        assert_eq!(request.encode().unwrap(), bytes, "{}", request.name());
        assert_eq!(
            Request::decode(&bytes).unwrap(),
            request,
            "{}",
            request.name()
        );
    }
}

/// Every golden response with the context it decodes in.
fn responses() -> Vec<(Vec<u8>, ResponseContext, Response)> {
    let digest = vec![0x11; 48];
    let nonce = [0x5A; 32];
    let sig = vec![0x77; 96];
    let block = MeasurementBlock {
        index: 2,
        value_type: value_type::MUTABLE_FIRMWARE,
        value: vec![0x22; 64],
    };
    vec![
        // DMTF spdm-emu's answer to GET_VERSION: one entry, 1.2.
        (
            hex("10 04 00 00 00 01 00 12"),
            ResponseContext::default(),
            Response::Version(vec![0x1200]),
        ),
        (
            hex("12 61 00 00  00 0c 00 00  36 00 00 00  00 12 00 00  00 12 00 00"),
            ResponseContext::default(),
            Response::Capabilities(CapabilityFields {
                ct_exponent: 12,
                flags: 0x36,
                data_transfer_size: 0x1200,
                max_spdm_msg_size: 0x1200,
            }),
        ),
        // What DMTF's responder selects: SHA-512 measurements, ECDSA P-384, SHA-384.
        (
            hex(
                "12 63 00 00  24 00  01 02  08 00 00 00  80 00 00 00  02 00 00 00  000000000000000000000000  00 00 00 00",
            ),
            ResponseContext::default(),
            Response::Algorithms(corridor_protocols::spdm::Algorithms {
                measurement_specification_sel: 1,
                other_params_selection: 2,
                measurement_hash_algo: 0x08,
                base_asym_sel: 0x80,
                base_hash_sel: 0x02,
                ext_asym_sel: vec![],
                ext_hash_sel: vec![],
                alg_structs: vec![],
            }),
        ),
        (
            [hex("12 01 00 01"), digest.clone()].concat(),
            ctx(false, false),
            Response::Digests {
                slot_mask: 1,
                digests: vec![digest.clone()],
            },
        ),
        (
            hex("12 02 00 00  03 00  10 00  aa bb cc"),
            ctx(false, false),
            Response::Certificate {
                slot_id: 0,
                portion: vec![0xaa, 0xbb, 0xcc],
                remainder_length: 16,
            },
        ),
        (
            [
                hex("12 03 00 01"),
                digest.clone(),
                nonce.to_vec(),
                hex("00 00"),
                sig.clone(),
            ]
            .concat(),
            ctx(false, false),
            Response::ChallengeAuth(ChallengeAuth {
                attributes: 0,
                slot_mask: 1,
                cert_chain_hash: digest.clone(),
                nonce,
                measurement_summary_hash: None,
                opaque: vec![],
                signature: sig.clone(),
            }),
        ),
        (
            [
                hex("12 03 00 01"),
                digest.clone(),
                nonce.to_vec(),
                vec![0x33; 48],
                hex("02 00 ab cd"),
                sig.clone(),
            ]
            .concat(),
            ctx(true, false),
            Response::ChallengeAuth(ChallengeAuth {
                attributes: 0,
                slot_mask: 1,
                cert_chain_hash: digest.clone(),
                nonce,
                measurement_summary_hash: Some(vec![0x33; 48]),
                opaque: vec![0xab, 0xcd],
                signature: sig.clone(),
            }),
        ),
        (
            [
                hex("12 60 00 00  01  47 00 00"),
                // index 2, DMTF, size 67 = 3 + 64; type 1, value size 64
                hex("02 01 43 00  01 40 00"),
                vec![0x22; 64],
                nonce.to_vec(),
                hex("00 00"),
                sig.clone(),
            ]
            .concat(),
            ctx(false, true),
            Response::Measurements(Measurements {
                total_indices: 0,
                slot_id: 0,
                content_changed: 0,
                blocks: vec![block],
                nonce,
                opaque: vec![],
                signature: Some(sig.clone()),
            }),
        ),
        (
            [
                hex("12 60 03 00  00  00 00 00"),
                nonce.to_vec(),
                hex("00 00"),
            ]
            .concat(),
            ctx(false, false),
            Response::Measurements(Measurements {
                total_indices: 3,
                slot_id: 0,
                content_changed: 0,
                blocks: vec![],
                nonce,
                opaque: vec![],
                signature: None,
            }),
        ),
        (
            hex("12 7f 01 00"),
            ResponseContext::default(),
            Response::Error {
                version: 0x12,
                error_code: 1,
                error_data: 0,
                extended: vec![],
            },
        ),
    ]
}

#[test]
fn responses_encode_and_decode_to_the_golden_bytes() {
    for (bytes, ctx, response) in responses() {
        assert_eq!(response.encode().unwrap(), bytes, "{}", response.name());
        assert_eq!(
            Response::decode(&bytes, &ctx).unwrap(),
            response,
            "{}",
            response.name()
        );
    }
}

#[test]
fn every_truncation_and_every_extra_byte_is_a_typed_error() {
    for (bytes, request) in requests() {
        for cut in 0..bytes.len() {
            let err = Request::decode(&bytes[..cut]).expect_err(request.name());
            assert!(
                matches!(err, SpdmError::Truncated { .. }),
                "{} cut at {cut}: {err}",
                request.name()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            Request::decode(&longer).is_err(),
            "{} with a trailing byte",
            request.name()
        );
    }
    for (bytes, ctx, response) in responses() {
        for cut in 0..bytes.len() {
            assert!(
                Response::decode(&bytes[..cut], &ctx).is_err(),
                "{} cut at {cut}",
                response.name()
            );
        }
        if !matches!(response, Response::Error { .. }) {
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(
                Response::decode(&longer, &ctx).is_err(),
                "{} with a trailing byte",
                response.name()
            );
        }
    }
}

#[test]
fn inconsistent_fields_are_named() {
    // NEGOTIATE_ALGORITHMS whose Length disagrees with the message.
    let mut bytes = requests()[2].0.clone();
    bytes[4] = 0x1f;
    match Request::decode(&bytes) {
        Err(SpdmError::Inconsistent { field, .. }) => assert_eq!(field, "Length"),
        other => panic!("{other:?}"),
    }
    // A measurement block whose inner size disagrees with the outer.
    let (mut bytes, ctx, _) = responses()[7].clone();
    bytes[14] = 0x3f;
    match Response::decode(&bytes, &ctx) {
        Err(SpdmError::Inconsistent { field, .. }) => {
            assert_eq!(field, "DMTFSpecMeasurementValueSize")
        }
        other => panic!("{other:?}"),
    }
    // Wrong version byte, unknown code, slot out of range.
    assert!(matches!(
        Request::decode(&hex("11 84 00 00")),
        Err(SpdmError::Version { got: 0x11, .. })
    ));
    assert!(matches!(
        Request::decode(&hex("12 e4 00 00")),
        Err(SpdmError::UnknownCode { code: 0xe4, .. })
    ));
    assert!(matches!(
        Request::decode(&hex("12 82 09 00 00 00 00 04")),
        Err(SpdmError::Inconsistent {
            field: "SlotID",
            ..
        })
    ));
    // DIGESTS before ALGORITHMS cannot be sized.
    assert!(Response::decode(&responses()[3].0, &ResponseContext::default()).is_err());
    // An ALGORITHMS selection that is two algorithms at once.
    assert!(AsymAlgo::from_selection("ALGORITHMS", 0x90).is_err());
    assert_eq!(
        AsymAlgo::from_selection("ALGORITHMS", 0x80).unwrap(),
        AsymAlgo::EcdsaP384
    );
}

#[test]
fn the_signed_message_prefix_is_the_1_2_layout() {
    let p = combined_prefix(SignedResponse::ChallengeAuth);
    assert_eq!(p.len(), 100);
    assert_eq!(
        &p[..64],
        b"dmtf-spdm-v1.2.*dmtf-spdm-v1.2.*dmtf-spdm-v1.2.*dmtf-spdm-v1.2.*"
    );
    // "responder-challenge_auth signing" is 32 bytes: 4 bytes of zero padding.
    assert_eq!(&p[64..68], &[0; 4]);
    assert_eq!(&p[68..], b"responder-challenge_auth signing");
    let p = combined_prefix(SignedResponse::Measurements);
    // "responder-measurements signing" is 30 bytes: 6 bytes of padding.
    assert_eq!(&p[64..70], &[0; 6]);
    assert_eq!(&p[70..], b"responder-measurements signing");
    let m = signed_message(SignedResponse::Measurements, &[9; 48]);
    assert_eq!(m.len(), 148);
    assert_eq!(&m[100..], &[9; 48]);
}

#[test]
fn certificate_chains_have_the_spdm_header() {
    // Two minimal DER SEQUENCEs stand in for certificates (the codec only splits them).
    let certs = hex("30 03 02 01 01  30 81 02 05 00");
    let chain = CertChain {
        root_hash: vec![0xEE; 32],
        certificates: certs.clone(),
    };
    let bytes = chain.encode().unwrap();
    assert_eq!(&bytes[..4], &[(4 + 32 + 10) as u8, 0, 0, 0]);
    assert_eq!(CertChain::decode(&bytes, 32).unwrap(), chain);
    assert_eq!(
        chain.der_certificates().unwrap(),
        vec![&certs[..5], &certs[5..]]
    );
    let mut wrong_len = bytes.clone();
    wrong_len[0] += 1;
    assert!(matches!(
        CertChain::decode(&wrong_len, 32),
        Err(SpdmError::Inconsistent {
            field: "Length",
            ..
        })
    ));
    let mut cut = bytes.clone();
    cut.pop();
    cut[0] -= 1;
    assert!(
        CertChain::decode(&cut, 32).is_err(),
        "a certificate cut short"
    );
}

#[test]
fn spdm_emu_frames_are_big_endian_with_the_mctp_prefix() {
    let get_version = hex("10 84 00 00");
    let none = emu::encode_frame(command::NORMAL, EmuTransport::None, &get_version).unwrap();
    assert_eq!(none, hex("00000001 00000000 00000004 10840000"));
    let mctp = emu::encode_frame(command::NORMAL, EmuTransport::Mctp, &get_version).unwrap();
    assert_eq!(mctp, hex("00000001 00000001 00000005 05 10840000"));
    assert_eq!(
        emu::decode_frame(&mctp, EmuTransport::Mctp).unwrap().1,
        &get_version[..]
    );
    assert_eq!(
        emu::decode_frame(&none, EmuTransport::None).unwrap().1,
        &get_version[..]
    );
    // A frame whose transport type is not the connection's, a bad MCTP type, a lying size.
    assert!(emu::decode_frame(&mctp, EmuTransport::None).is_err());
    let mut secured = mctp.clone();
    secured[12] = 0x06;
    assert!(emu::decode_frame(&secured, EmuTransport::Mctp).is_err());
    let mut short = none.clone();
    short.pop();
    assert!(emu::decode_frame(&short, EmuTransport::None).is_err());
    assert!(
        emu::EmuHeader::decode(&hex("00000001 00000000 7fffffff")).is_err(),
        "oversized"
    );
}

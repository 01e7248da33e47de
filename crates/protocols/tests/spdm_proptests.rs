//! Property tests of the SPDM codec: round trips of arbitrary messages, and random or
//! mutated bytes fed to every decoder (which must answer, never panic).

use corridor_protocols::spdm::emu::{self, EmuTransport};
use corridor_protocols::spdm::measurement::{decode_record, encode_record};
use corridor_protocols::spdm::{
    AsymAlgo, CapabilityFields, CertChain, ChallengeAuth, GetMeasurements, HashAlgo,
    MeasurementBlock, MeasurementHash, Measurements, Negotiated, Request, Response,
    ResponseContext, SignedRequest,
};
use proptest::prelude::*;

fn negotiated() -> impl Strategy<Value = Negotiated> {
    (
        prop::sample::select(AsymAlgo::ALL.to_vec()),
        prop::sample::select(HashAlgo::ALL.to_vec()),
        prop::sample::select(HashAlgo::ALL.to_vec()),
    )
        .prop_map(|(asym, hash, m)| Negotiated {
            asym,
            hash,
            measurement_hash: MeasurementHash::Hash(m),
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::GetVersion),
        (any::<u8>(), any::<u32>(), 42u32..10_000, 0u32..10_000).prop_map(
            |(ct, flags, dts, extra)| {
                Request::GetCapabilities(CapabilityFields {
                    ct_exponent: ct,
                    flags,
                    data_transfer_size: dts,
                    max_spdm_msg_size: dts + extra,
                })
            }
        ),
        Just(Request::GetDigests),
        (0u8..8, any::<u16>(), any::<u16>()).prop_map(|(slot_id, offset, length)| {
            Request::GetCertificate {
                slot_id,
                offset,
                length,
            }
        }),
        (
            0u8..8,
            prop::sample::select(vec![0u8, 1, 0xFF]),
            any::<[u8; 32]>()
        )
            .prop_map(|(slot_id, measurement_summary, nonce)| Request::Challenge {
                slot_id,
                measurement_summary,
                nonce
            }),
        (
            any::<u8>(),
            any::<[u8; 32]>(),
            0u8..8,
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(operation, nonce, slot_id, signed, raw)| {
                Request::GetMeasurements(GetMeasurements {
                    attributes: u8::from(signed) | (u8::from(raw) << 1),
                    operation,
                    signed: signed.then_some(SignedRequest { nonce, slot_id }),
                })
            }),
    ]
}

fn blocks(meas: usize) -> impl Strategy<Value = Vec<MeasurementBlock>> {
    prop::collection::btree_set(1u8..0xFF, 0..6).prop_flat_map(move |indices| {
        let n = indices.len();
        (
            Just(indices.into_iter().collect::<Vec<_>>()),
            prop::collection::vec((0u8..8, prop::collection::vec(any::<u8>(), meas)), n),
        )
            .prop_map(|(idx, vals)| {
                idx.into_iter()
                    .zip(vals)
                    .map(|(index, (value_type, value))| MeasurementBlock {
                        index,
                        value_type,
                        value,
                    })
                    .collect()
            })
    })
}

proptest! {
    #[test]
    fn requests_round_trip(req in request()) {
        let bytes = req.encode().unwrap();
        prop_assert_eq!(Request::decode(&bytes).unwrap(), req);
    }

    #[test]
    fn signed_responses_round_trip(
        n in negotiated(),
        nonce in any::<[u8; 32]>(),
        opaque in prop::collection::vec(any::<u8>(), 0..40),
        summary in any::<bool>(),
        signed in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let h = n.hash.size();
        let ctx = ResponseContext { negotiated: Some(n), challenge_summary: summary, measurements_signed: signed };
        let auth = Response::ChallengeAuth(ChallengeAuth {
            attributes: seed & 0x0F,
            slot_mask: 1,
            cert_chain_hash: vec![seed; h],
            nonce,
            measurement_summary_hash: summary.then(|| vec![seed ^ 0xFF; h]),
            opaque: opaque.clone(),
            signature: vec![seed; n.asym.signature_len()],
        });
        prop_assert_eq!(Response::decode(&auth.encode().unwrap(), &ctx).unwrap(), auth);
        let MeasurementHash::Hash(mh) = n.measurement_hash else { unreachable!() };
        let m = Response::Measurements(Measurements {
            total_indices: 0,
            slot_id: seed & 0x07,
            content_changed: seed >> 6,
            blocks: vec![MeasurementBlock { index: 1, value_type: 1, value: vec![seed; mh.size()] }],
            nonce,
            opaque,
            signature: signed.then(|| vec![seed; n.asym.signature_len()]),
        });
        prop_assert_eq!(Response::decode(&m.encode().unwrap(), &ctx).unwrap(), m);
    }

    #[test]
    fn measurement_records_round_trip(b in blocks(48)) {
        let record = encode_record(&b).unwrap();
        prop_assert_eq!(decode_record(&record, b.len() as u8).unwrap(), b);
    }

    #[test]
    fn certificates_round_trip(portion in prop::collection::vec(any::<u8>(), 0..600), rem in any::<u16>(), slot in 0u8..8) {
        let r = Response::Certificate { slot_id: slot, portion, remainder_length: rem };
        prop_assert_eq!(Response::decode(&r.encode().unwrap(), &ResponseContext::default()).unwrap(), r);
    }

    /// Random bytes: every decoder answers Ok or a typed error, never panics.
    #[test]
    fn random_bytes_never_panic_any_decoder(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        n in negotiated(),
        summary in any::<bool>(),
        signed in any::<bool>(),
        count in any::<u8>(),
    ) {
        let _ = Request::decode(&bytes);
        for negotiated in [None, Some(n)] {
            let ctx = ResponseContext { negotiated, challenge_summary: summary, measurements_signed: signed };
            let _ = Response::decode(&bytes, &ctx);
        }
        let _ = decode_record(&bytes, count);
        let _ = CertChain::decode(&bytes, n.hash.size());
        let _ = emu::decode_frame(&bytes, EmuTransport::Mctp);
        let _ = emu::decode_frame(&bytes, EmuTransport::None);
    }

    /// Valid messages with the code byte forced to a response code and random tails
    /// exercise the deeper branches that fully random bytes rarely reach.
    #[test]
    fn typed_headers_with_random_bodies_never_panic(
        code in prop::sample::select(vec![0x04u8, 0x61, 0x63, 0x01, 0x02, 0x03, 0x60, 0x7F, 0x84, 0xE1, 0xE3, 0x81, 0x82, 0x83, 0xE0]),
        version in prop::sample::select(vec![0x10u8, 0x12]),
        p1 in any::<u8>(), p2 in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        n in negotiated(),
    ) {
        let mut bytes = vec![version, code, p1, p2];
        bytes.extend_from_slice(&body);
        let _ = Request::decode(&bytes);
        let ctx = ResponseContext { negotiated: Some(n), challenge_summary: p1 & 1 == 1, measurements_signed: p2 & 1 == 1 };
        if let Ok(r) = Response::decode(&bytes, &ctx) {
            // Whatever decodes re-encodes and decodes to the same value.
            let again = r.encode().unwrap();
            prop_assert_eq!(Response::decode(&again, &ctx).unwrap(), r);
        }
    }
}

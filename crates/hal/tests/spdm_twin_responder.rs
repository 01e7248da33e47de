//! The twin SPDM responder on its own: protocol order, chunking, errors, deterministic keys
//! and measurements derived from the topology's firmware.

use corridor_hal::Topology;
use corridor_hal::attestation::identity::FIRMWARE_INDEX;
use corridor_hal::attestation::{
    DeviceKind, SpdmFault, SpdmTransport, TwinSpdm, TwinSpdmConfig, attestable_devices,
    reference_measurements,
};
use corridor_protocols::spdm::algorithms::{base_asym, base_hash};
use corridor_protocols::spdm::response::error_code;
use corridor_protocols::spdm::{
    CapabilityFields, HashAlgo, NegotiateAlgorithms, Request, Response, ResponseContext,
};

fn twin(seed_offset: u64, config: TwinSpdmConfig) -> TwinSpdm {
    let topology = Topology::default_twin();
    let devices = attestable_devices(&topology);
    TwinSpdm::new(topology.twin().seed + seed_offset, devices, config).unwrap()
}

fn send(t: &mut dyn SpdmTransport, req: &Request, ctx: &ResponseContext) -> Response {
    Response::decode(&t.exchange(&req.encode().unwrap()).unwrap(), ctx).unwrap()
}

fn vca(t: &mut dyn SpdmTransport) -> ResponseContext {
    let ctx = ResponseContext::default();
    send(t, &Request::GetVersion, &ctx);
    send(
        t,
        &Request::GetCapabilities(CapabilityFields {
            ct_exponent: 0,
            flags: 0,
            data_transfer_size: 4096,
            max_spdm_msg_size: 4096,
        }),
        &ctx,
    );
    let Response::Algorithms(a) = send(
        t,
        &Request::NegotiateAlgorithms(NegotiateAlgorithms {
            measurement_specification: 1,
            other_params_support: 0,
            base_asym_algo: base_asym::ECDSA_P256 | base_asym::ECDSA_P384,
            base_hash_algo: base_hash::SHA_256 | base_hash::SHA_384,
            ext_asym: vec![],
            ext_hash: vec![],
            alg_structs: vec![],
        }),
        &ctx,
    ) else {
        panic!("no ALGORITHMS")
    };
    ResponseContext {
        negotiated: Some(corridor_protocols::spdm::Negotiated {
            asym: corridor_protocols::spdm::AsymAlgo::from_selection("", a.base_asym_sel).unwrap(),
            hash: HashAlgo::from_base_selection("", a.base_hash_sel).unwrap(),
            measurement_hash: corridor_protocols::spdm::MeasurementHash::from_selection(
                "",
                a.measurement_hash_algo,
            )
            .unwrap(),
        }),
        ..ResponseContext::default()
    }
}

#[test]
fn the_default_rack_has_switches_cxl_devices_and_optical_modules() {
    let devices = attestable_devices(&Topology::default_twin());
    for kind in [
        DeviceKind::CxlSwitch,
        DeviceKind::CxlDevice,
        DeviceKind::OpticalModule,
    ] {
        assert!(devices.iter().any(|d| d.kind == kind), "{kind:?}");
    }
}

#[test]
fn requests_out_of_order_get_unexpected_request() {
    let t = twin(0, TwinSpdmConfig::default());
    let id = t.devices().next().unwrap().id.clone();
    let mut c = t.open(&id).unwrap();
    let r = send(&mut c, &Request::GetDigests, &ResponseContext::default());
    assert!(
        matches!(
            r,
            Response::Error {
                error_code: error_code::UNEXPECTED_REQUEST,
                ..
            }
        ),
        "{r:?}"
    );
    let r = Response::decode(
        &c.exchange(&[0x12, 0xE1]).unwrap(),
        &ResponseContext::default(),
    )
    .unwrap();
    assert!(
        matches!(
            r,
            Response::Error {
                error_code: error_code::INVALID_REQUEST,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn certificates_come_in_chunks_of_at_most_max_chunk() {
    let t = twin(
        0,
        TwinSpdmConfig {
            max_chunk: 100,
            ..TwinSpdmConfig::default()
        },
    );
    let id = t.devices().next().unwrap().id.clone();
    let mut c = t.open(&id).unwrap();
    let ctx = vca(&mut c);
    send(&mut c, &Request::GetDigests, &ctx);
    let mut offset = 0u16;
    let mut chunks = 0;
    loop {
        let Response::Certificate {
            portion,
            remainder_length,
            ..
        } = send(
            &mut c,
            &Request::GetCertificate {
                slot_id: 0,
                offset,
                length: 0xFFFF,
            },
            &ctx,
        )
        else {
            panic!("no CERTIFICATE")
        };
        assert!(portion.len() <= 100);
        chunks += 1;
        offset += portion.len() as u16;
        if remainder_length == 0 {
            break;
        }
    }
    assert!(chunks > 5, "{chunks} chunks for a {offset}-byte chain");
    // Past the end is an error, not an empty portion.
    let r = send(
        &mut c,
        &Request::GetCertificate {
            slot_id: 0,
            offset,
            length: 10,
        },
        &ctx,
    );
    assert!(matches!(
        r,
        Response::Error {
            error_code: error_code::INVALID_REQUEST,
            ..
        }
    ));
}

#[test]
fn keys_are_a_function_of_the_seed() {
    let a = twin(0, TwinSpdmConfig::default());
    let b = twin(0, TwinSpdmConfig::default());
    let c = twin(1, TwinSpdmConfig::default());
    let id = a.devices().next().unwrap().id.clone();
    let spki = |t: &TwinSpdm| {
        let (_, cert) =
            x509_parser::parse_x509_certificate(t.device_certificate_der(&id).unwrap()).unwrap();
        cert.public_key().raw.to_vec()
    };
    assert_eq!(spki(&a), spki(&b));
    assert_ne!(spki(&a), spki(&c));
}

#[test]
fn measurements_follow_the_firmware_version_and_the_tamper_fault() {
    let t = twin(0, TwinSpdmConfig::default());
    let device = t.devices().next().unwrap().clone();
    let reference = reference_measurements(&device, HashAlgo::Sha384);
    let mut flashed = device.clone();
    flashed.firmware_version.push_str("-next");
    let after = reference_measurements(&flashed, HashAlgo::Sha384);
    for ((i, a), (_, b)) in reference.iter().zip(&after) {
        assert_eq!(a == b, *i != FIRMWARE_INDEX, "index {i}");
    }

    let measure = |t: &TwinSpdm| {
        let mut c = t.open(&device.id).unwrap();
        let ctx = vca(&mut c);
        let req = Request::GetMeasurements(corridor_protocols::spdm::GetMeasurements {
            attributes: 0,
            operation: 0xFF,
            signed: None,
        });
        let Response::Measurements(m) = send(&mut c, &req, &ctx) else {
            panic!()
        };
        m.blocks
            .into_iter()
            .map(|b| (b.index, b.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(measure(&t), reference);
    t.faults().inject(&device.id, SpdmFault::TamperedFirmware);
    let tampered = measure(&t);
    assert_ne!(tampered, reference);
    assert_eq!(
        tampered
            .iter()
            .filter(|(i, v)| reference.contains(&(*i, v.clone())))
            .count(),
        2
    );
}

//! The SPDM requester against the twin's responders: every default-rack device attests,
//! and each injected fault turns into the contraindication that names it.

use corridor_attest::spdm::{
    Contraindication, DevicePolicy, FixedNonces, Requester, RequesterConfig, SystemNonces, Verdict,
};
use corridor_hal::Topology;
use corridor_hal::attestation::{
    SpdmFault, SpdmTransport, TwinSpdm, TwinSpdmConfig, identity::FIRMWARE_INDEX,
    reference_measurements,
};
use corridor_pki::pinning::SpkiPin;
use corridor_protocols::spdm::{AsymAlgo, HashAlgo, MeasurementHash};

fn twin(config: TwinSpdmConfig) -> TwinSpdm {
    TwinSpdm::from_topology(&Topology::default_twin(), config).expect("twin builds")
}

fn policy(twin: &TwinSpdm, id: &str) -> DevicePolicy {
    let device = twin.device(id).expect("device exists");
    DevicePolicy {
        roots: vec![twin.vendor_root_der().to_vec()],
        pins: vec![SpkiPin::of_certificate(twin.device_certificate_der(id).unwrap()).unwrap()],
        reference: reference_measurements(device, twin.config().measurement_hash),
        now_unix: Some(1_800_000_000),
    }
}

fn attest(twin: &TwinSpdm, requester: &Requester, id: &str) -> Verdict {
    let mut t = twin.open(id).map_err(|e| e.to_string());
    match &mut t {
        Ok(t) => {
            requester
                .attest(t, &policy(twin, id), &mut SystemNonces)
                .verdict
        }
        Err(e) => Verdict::Contraindicated(Contraindication::Unreachable { detail: e.clone() }),
    }
}

fn first_device(twin: &TwinSpdm) -> String {
    twin.devices()
        .next()
        .expect("the default rack has devices")
        .id
        .clone()
}

#[test]
fn every_default_rack_device_attests() {
    let twin = twin(TwinSpdmConfig::default());
    let requester = Requester::default();
    let ids: Vec<String> = twin.devices().map(|d| d.id.clone()).collect();
    assert!(
        ids.len() >= 4,
        "switches, CXL devices and optical modules: {ids:?}"
    );
    for id in &ids {
        let mut t = twin.open(id).unwrap();
        let report = requester.attest(&mut t, &policy(&twin, id), &mut SystemNonces);
        assert_eq!(report.verdict, Verdict::Affirming, "{id}");
        assert_eq!(report.measurements.len(), 3, "{id}");
        let n = report.negotiated.unwrap();
        assert_eq!((n.asym, n.hash), (AsymAlgo::EcdsaP256, HashAlgo::Sha256));
        assert_eq!(n.measurement_hash, MeasurementHash::Hash(HashAlgo::Sha384));
        // 3 VCA + digests + 2 certificate chunks (chain > 512 bytes) + challenge + measurements.
        assert!(
            report.exchanges >= 8,
            "{id}: {} exchanges",
            report.exchanges
        );
    }
}

#[test]
fn p384_with_sha512_measurements_attests_as_dmtf_negotiates() {
    let twin = twin(TwinSpdmConfig {
        asym: AsymAlgo::EcdsaP384,
        measurement_hash: HashAlgo::Sha512,
        max_chunk: 300,
    });
    let id = first_device(&twin);
    let mut t = twin.open(&id).unwrap();
    let report = Requester::default().attest(&mut t, &policy(&twin, &id), &mut SystemNonces);
    assert_eq!(report.verdict, Verdict::Affirming);
    let n = report.negotiated.unwrap();
    assert_eq!((n.asym, n.hash), (AsymAlgo::EcdsaP384, HashAlgo::Sha384));
    assert_eq!(n.measurement_hash, MeasurementHash::Hash(HashAlgo::Sha512));
}

#[test]
fn a_requester_that_offers_only_p384_refuses_a_p256_device() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    let requester = Requester::new(RequesterConfig {
        base_asym: corridor_protocols::spdm::algorithms::base_asym::ECDSA_P384,
        ..RequesterConfig::default()
    });
    match attest(&twin, &requester, &id) {
        Verdict::Contraindicated(Contraindication::ErrorResponse { request, .. }) => {
            assert_eq!(request, "NEGOTIATE_ALGORITHMS");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tampered_firmware_is_a_measurement_mismatch_on_the_firmware_index() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    twin.faults().inject(&id, SpdmFault::TamperedFirmware);
    let requester = Requester::default();
    match attest(&twin, &requester, &id) {
        Verdict::Contraindicated(Contraindication::MeasurementMismatch {
            index,
            expected,
            actual,
        }) => {
            assert_eq!(index, FIRMWARE_INDEX);
            assert_ne!(expected, actual);
            assert_eq!(expected.0.len(), 48);
        }
        other => panic!("{other:?}"),
    }
    // Other devices are unaffected, and clearing the fault restores the device.
    let other = twin.devices().nth(1).unwrap().id.clone();
    assert_eq!(attest(&twin, &requester, &other), Verdict::Affirming);
    twin.faults().clear(&id, SpdmFault::TamperedFirmware);
    assert_eq!(attest(&twin, &requester, &id), Verdict::Affirming);
}

#[test]
fn a_chain_from_another_ca_does_not_lead_to_the_root() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    twin.faults().inject(&id, SpdmFault::WrongChain);
    match attest(&twin, &Requester::default(), &id) {
        Verdict::Contraindicated(Contraindication::ChainNotToRoot { detail }) => {
            assert!(detail.contains("neither a configured root"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn another_devices_key_is_not_pinned() {
    let twin = twin(TwinSpdmConfig::default());
    let mut devices = twin.devices().map(|d| d.id.clone());
    let (a, b) = (devices.next().unwrap(), devices.next().unwrap());
    // b's genuine chain presented where a's key is pinned: chain valid, key wrong.
    let mut p = policy(&twin, &a);
    p.reference = Vec::new();
    let mut t = twin.open(&b).unwrap();
    let report = Requester::default().attest(&mut t, &p, &mut SystemNonces);
    let b_pin = SpkiPin::of_certificate(twin.device_certificate_der(&b).unwrap()).unwrap();
    assert_eq!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::LeafKeyNotPinned { pin: b_pin })
    );
}

#[test]
fn a_corrupted_signature_is_a_bad_challenge_auth_signature() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    twin.faults().inject(&id, SpdmFault::WrongSignature);
    assert_eq!(
        attest(&twin, &Requester::default(), &id),
        Verdict::Contraindicated(Contraindication::BadSignature {
            message: "CHALLENGE_AUTH"
        })
    );
}

#[test]
fn a_replayed_answer_is_a_stale_nonce() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    let requester = Requester::default();
    assert_eq!(attest(&twin, &requester, &id), Verdict::Affirming);
    twin.faults().inject(&id, SpdmFault::StaleNonce);
    match attest(&twin, &requester, &id) {
        Verdict::Contraindicated(Contraindication::StaleNonce { message, detail }) => {
            assert_eq!(message, "CHALLENGE_AUTH");
            assert!(detail.contains("seen before"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // A verifier without that memory still refuses: the old signature does not cover the
    // new transcript.
    assert_eq!(
        attest(&twin, &Requester::default(), &id),
        Verdict::Contraindicated(Contraindication::BadSignature {
            message: "CHALLENGE_AUTH"
        })
    );
}

#[test]
fn a_stale_device_with_nothing_to_replay_reflects_our_nonce_and_is_refused() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    twin.faults().inject(&id, SpdmFault::StaleNonce);
    match attest(&twin, &Requester::default(), &id) {
        Verdict::Contraindicated(Contraindication::StaleNonce { detail, .. }) => {
            assert!(detail.contains("reflects"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unreachable_device_is_contraindicated_mid_connection_too() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    let mut t = twin.open(&id).unwrap();
    twin.faults().inject(&id, SpdmFault::Unreachable);
    let report = Requester::default().attest(&mut t, &policy(&twin, &id), &mut SystemNonces);
    assert!(matches!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::Unreachable { .. })
    ));
    assert!(twin.open(&id).is_err());
}

/// A transport that corrupts the n-th response: the verdict names the request whose
/// answer was garbage.
#[derive(Debug)]
struct Corrupting<T> {
    inner: T,
    target: u32,
    seen: u32,
    how: fn(&mut Vec<u8>),
}

impl<T: SpdmTransport> SpdmTransport for Corrupting<T> {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, corridor_hal::SpdmTransportError> {
        let mut r = self.inner.exchange(request)?;
        self.seen += 1;
        if self.seen == self.target {
            (self.how)(&mut r);
        }
        Ok(r)
    }
}

#[test]
fn garbage_answers_name_the_request() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    let expected = [
        (1, "GET_VERSION"),
        (2, "GET_CAPABILITIES"),
        (3, "NEGOTIATE_ALGORITHMS"),
        (4, "GET_DIGESTS"),
        (5, "GET_CERTIFICATE"),
    ];
    for (target, name) in expected {
        let mut t = Corrupting {
            inner: twin.open(&id).unwrap(),
            target,
            seen: 0,
            how: |r| r.truncate(r.len() / 2),
        };
        let report = Requester::default().attest(&mut t, &policy(&twin, &id), &mut SystemNonces);
        match report.verdict {
            Verdict::Contraindicated(Contraindication::Garbage { request, .. }) => {
                assert_eq!(request, name, "exchange {target}");
            }
            other => panic!("exchange {target}: {other:?}"),
        }
    }
    // A flipped byte inside a signed response's body breaks its signature.
    let mut honest = twin.open(&id).unwrap();
    let last = Requester::default()
        .attest(&mut honest, &policy(&twin, &id), &mut SystemNonces)
        .exchanges;
    let mut t = Corrupting {
        inner: twin.open(&id).unwrap(),
        target: last,
        seen: 0,
        how: |r| r[20] ^= 0x40, // inside the first block's digest
    };
    let report = Requester::default().attest(&mut t, &policy(&twin, &id), &mut SystemNonces);
    assert_eq!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::BadSignature {
            message: "MEASUREMENTS"
        })
    );
}

#[test]
fn fixed_nonces_make_the_requests_reproducible() {
    let twin = twin(TwinSpdmConfig::default());
    let id = first_device(&twin);
    let record = |twin: &TwinSpdm| {
        let mut t = corridor_attest::spdm::RecordingTransport::new(twin.open(&id).unwrap());
        let mut nonces = FixedNonces::new(vec![[1; 32], [2; 32]]);
        let report = Requester::default().attest(&mut t, &policy(twin, &id), &mut nonces);
        assert_eq!(report.verdict, Verdict::Affirming);
        t.exchanges
            .into_iter()
            .map(|e| e.request)
            .collect::<Vec<_>>()
    };
    let first = record(&twin);
    assert_eq!(first, record(&twin));
    let challenge = first
        .iter()
        .find(|q| q[1] == 0x83)
        .expect("a CHALLENGE was sent");
    assert_eq!(
        &challenge[4..36],
        &[1; 32],
        "CHALLENGE carries the first fixed nonce"
    );
    let measurements = first.last().unwrap();
    assert_eq!(
        &measurements[4..36],
        &[2; 32],
        "GET_MEASUREMENTS carries the second"
    );
}

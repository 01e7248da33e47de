//! The requester against DMTF's reference responder (`spdm_responder_emu` of DMTF/spdm-emu
//! with libspdm and mbedtls), recorded with fixed nonces and replayed here so CI checks
//! the requester against real libspdm bytes without the emulator.
//!
//! `data/spdm_emu_none.txt` is the recording (`> request` / `< response` hex lines) of one
//! attestation over transport NONE; `data/dmtf_ecp384_ca.cert.der` is the root of spdm-emu's
//! sample ECDSA P-384 chain (`bin/ecp384/ca.cert.der`). The pin and measurement values below
//! are what that run showed; the replay checks that the same verdict follows from the
//! same bytes, and the tests below show it fails when any of them is changed.
//!
//! Live (ignored in CI): build spdm-emu outside the repository, run
//! `spdm_responder_emu --ip 127.0.0.1 --trans NONE --ver 1.2 --basic_mut_auth NO --mut_auth NO --meas_op ALL`
//! from its `bin/` directory, then
//! `SPDM_EMU_ADDR=127.0.0.1:2323 cargo test -p corridor-attest --test spdm_emu -- --ignored`
//! (`SPDM_EMU_RECORD=<file>` also writes the recording; `SPDM_EMU_TRANS=MCTP` talks to a
//! responder started with `--trans MCTP`).

use std::time::Duration;

use corridor_attest::spdm::{
    AttestationReport, Contraindication, DevicePolicy, FixedNonces, RecordingTransport,
    ReplayTransport, Requester, Verdict,
};
use corridor_hal::attestation::{EmuTcpTransport, SpdmTransport};
use corridor_pki::pinning::SpkiPin;
use corridor_protocols::spdm::emu::EmuTransport;
use corridor_protocols::spdm::{AsymAlgo, HashAlgo, MeasurementHash};

const RECORDING: &str = include_str!("data/spdm_emu_none.txt");
const ROOT: &[u8] = include_bytes!("data/dmtf_ecp384_ca.cert.der");
const NONCES: [[u8; 32]; 2] = [[0x11; 32], [0x22; 32]];

fn policy(pins: Vec<SpkiPin>, reference: Vec<(u8, Vec<u8>)>) -> DevicePolicy {
    DevicePolicy {
        roots: vec![ROOT.to_vec()],
        pins,
        reference,
        now_unix: None,
    }
}

fn attest(transport: &mut dyn SpdmTransport, policy: &DevicePolicy) -> AttestationReport {
    Requester::default().attest(transport, policy, &mut FixedNonces::new(NONCES.to_vec()))
}

include!("data/spdm_emu_expected.rs");

fn golden_policy() -> DevicePolicy {
    policy(
        vec![SpkiPin::parse(LEAF_PIN).unwrap()],
        REFERENCE.iter().map(|(i, hex)| (*i, unhex(hex))).collect(),
    )
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_recorded_dmtf_transcript_replays_to_affirming() {
    let mut replay = ReplayTransport::from_text(RECORDING).unwrap();
    let report = attest(&mut replay, &golden_policy());
    assert_eq!(report.verdict, Verdict::Affirming);
    assert!(replay.finished(), "every recorded exchange was used");
    let n = report.negotiated.unwrap();
    // What DMTF's responder picks (reference §2): P-384, SHA-384, SHA-512 measurements.
    assert_eq!((n.asym, n.hash), (AsymAlgo::EcdsaP384, HashAlgo::Sha384));
    assert_eq!(n.measurement_hash, MeasurementHash::Hash(HashAlgo::Sha512));
}

#[test]
fn the_replay_fails_when_a_reference_value_or_the_pin_or_the_root_changes() {
    let mut p = golden_policy();
    p.reference[0].1[0] ^= 1;
    let index = p.reference[0].0;
    let report = attest(&mut ReplayTransport::from_text(RECORDING).unwrap(), &p);
    assert!(
        matches!(report.verdict, Verdict::Contraindicated(Contraindication::MeasurementMismatch { index: i, .. }) if i == index),
        "{:?}",
        report.verdict
    );

    let mut p = golden_policy();
    p.pins = vec![SpkiPin([0; 32])];
    let report = attest(&mut ReplayTransport::from_text(RECORDING).unwrap(), &p);
    assert!(matches!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::LeafKeyNotPinned { .. })
    ));

    let mut p = golden_policy();
    p.roots = vec![];
    let report = attest(&mut ReplayTransport::from_text(RECORDING).unwrap(), &p);
    assert!(matches!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::ChainNotToRoot { .. })
    ));
}

#[test]
fn a_flipped_bit_in_the_recorded_signatures_is_a_bad_signature() {
    for (needle, message) in [("< 1203", "CHALLENGE_AUTH"), ("< 1260", "MEASUREMENTS")] {
        let mut lines: Vec<String> = RECORDING.lines().map(str::to_string).collect();
        let line = lines.iter_mut().find(|l| l.starts_with(needle)).unwrap();
        // The last hex digit is in the signature's s.
        let last = line.pop().unwrap();
        line.push(if last == '0' { '1' } else { '0' });
        let mut replay = ReplayTransport::from_text(&lines.join("\n")).unwrap();
        let report = attest(&mut replay, &golden_policy());
        assert_eq!(
            report.verdict,
            Verdict::Contraindicated(Contraindication::BadSignature { message })
        );
    }
}

#[test]
fn other_nonces_do_not_replay() {
    let mut replay = ReplayTransport::from_text(RECORDING).unwrap();
    let report = Requester::default().attest(
        &mut replay,
        &golden_policy(),
        &mut FixedNonces::new(vec![[0x33; 32]]),
    );
    assert!(matches!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::Unreachable { .. })
    ));
}

#[test]
#[ignore = "needs DMTF spdm_responder_emu on SPDM_EMU_ADDR (see the module docs)"]
fn live_dmtf_responder_attests() {
    let addr = std::env::var("SPDM_EMU_ADDR").unwrap_or_else(|_| "127.0.0.1:2323".into());
    // SPDM_EMU_TRANS=MCTP for a responder started with `--trans MCTP`.
    let transport = match std::env::var("SPDM_EMU_TRANS").as_deref() {
        Ok("MCTP") => EmuTransport::Mctp,
        _ => EmuTransport::None,
    };
    let t = EmuTcpTransport::connect(addr.parse().unwrap(), transport, Duration::from_secs(10))
        .unwrap();
    let mut rec = RecordingTransport::new(t);
    // First run without pins or references, to learn them; then check against the golden.
    let report = attest(&mut rec, &policy(vec![], vec![]));
    let pin = report.leaf_pin.expect("the chain was checked to the root");
    assert_eq!(
        report.verdict,
        Verdict::Contraindicated(Contraindication::LeafKeyNotPinned { pin })
    );
    // spdm-emu serves one connection and stops when it drops, so every run reuses it:
    // GET_VERSION starts a new SPDM connection on the same socket.
    let mut rec = RecordingTransport::new(rec.inner);
    let report = attest(&mut rec, &policy(vec![pin], vec![]));
    assert_eq!(report.verdict, Verdict::Affirming);
    let reference: Vec<(u8, Vec<u8>)> = report
        .measurements
        .iter()
        .map(|b| (b.index, b.value.clone()))
        .collect();
    eprintln!("leaf pin {pin}");
    for b in &report.measurements {
        eprintln!(
            "block {} type 0x{:02x}: {}",
            b.index,
            b.value_type,
            corridor_attest::spdm::Hex(b.value.clone())
        );
    }
    assert!(!reference.is_empty());
    let mut rec = RecordingTransport::new(rec.inner);
    let report = attest(&mut rec, &policy(vec![pin], reference.clone()));
    assert_eq!(report.verdict, Verdict::Affirming);
    if let Ok(path) = std::env::var("SPDM_EMU_RECORD") {
        let mut text = String::from(
            "# DMTF spdm_responder_emu (spdm-emu 85436d5, libspdm 1e16c60f, mbedtls 3.6.5),\n\
             # --trans NONE --ver 1.2 --basic_mut_auth NO --mut_auth NO --meas_op ALL;\n\
             # requester nonces 0x11 x 32 (CHALLENGE) and 0x22 x 32 (GET_MEASUREMENTS).\n",
        );
        text.push_str(&rec.to_text());
        std::fs::write(&path, text).unwrap();
        let mut expected = format!(
            "/// Recorded from the live run (see `spdm_emu.rs`).\nconst LEAF_PIN: &str = \"{pin}\";\nconst REFERENCE: &[(u8, &str)] = &[\n"
        );
        for (i, v) in &reference {
            expected.push_str(&format!(
                "    ({i}, \"{}\"),\n",
                corridor_attest::spdm::Hex(v.clone())
            ));
        }
        expected.push_str("];\n");
        std::fs::write(format!("{path}.expected.rs"), expected).unwrap();
    }
    rec.inner.shutdown().ok();
}

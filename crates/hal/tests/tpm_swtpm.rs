//! The tss-esapi backend against a real swtpm process (started per test on free loopback
//! ports, killed at the end). Needs swtpm and libtss2 (`scripts/install-tpm.sh`).

use std::sync::Mutex;

use corridor_hal::tpm::{HashAlg, PcrSelection, Swtpm, Tpm, TpmTransport, TssTpm};
use corridor_protocols::tcg::public::{PublicKey, attributes};
use corridor_protocols::tcg::{QuoteAttest, TpmPublic, TpmSignature};

/// swtpm tests run one at a time: they are CPU-heavy and two cores are shared.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// SHA-256 of 64 zero bytes: PCR value after extending a zero PCR with a zero digest.
const EXTEND_ZERO_WITH_ZERO: &str =
    "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn quote_over_extended_pcrs_carries_nonce_selection_and_restricted_ak() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).expect("swtpm starts (scripts/install-tpm.sh)");
    let tpm = TssTpm::open(swtpm.transport(), None).expect("connects");
    assert!(tpm.is_software() && tpm.blocks());
    assert_eq!(
        tpm.transport(),
        format!("swtpm:host=127.0.0.1,port={}", swtpm.port())
    );
    assert_eq!(tpm.event_log().unwrap(), None);

    let fresh = tpm
        .pcr_read(&[PcrSelection::new(HashAlg::Sha256, &[0, 23])])
        .unwrap();
    assert!(fresh.iter().all(|v| v.value == [0u8; 32]), "{fresh:?}");

    tpm.extend_pcr(0, &[(HashAlg::Sha256, vec![0; 32])])
        .unwrap();
    let after = tpm
        .pcr_read(&[PcrSelection::new(HashAlg::Sha256, &[0])])
        .unwrap();
    assert_eq!(hex(&after[0].value), EXTEND_ZERO_WITH_ZERO);

    let ak = TpmPublic::parse(&tpm.attestation_key().unwrap()).unwrap();
    assert!(ak.has(attributes::RESTRICTED | attributes::SIGN | attributes::FIXED_TPM));
    assert!(matches!(ak.key, PublicKey::Ecc { .. }));

    let nonce = [7u8; 32];
    let q = tpm
        .quote(&nonce, &[PcrSelection::new(HashAlg::Sha256, &[0, 4, 7])])
        .unwrap();
    let attest = QuoteAttest::parse(&q.attest).unwrap();
    assert_eq!(attest.extra_data, nonce);
    assert_eq!(
        attest.selections,
        vec![PcrSelection::new(HashAlg::Sha256, &[0, 4, 7])]
    );
    assert!(matches!(
        TpmSignature::parse(&q.signature).unwrap(),
        TpmSignature::Ecdsa {
            hash: HashAlg::Sha256,
            ..
        }
    ));
    assert_eq!(q.ak_public, tpm.attestation_key().unwrap());

    // The same TPM derives the same AK after reconnecting (a primary from the endorsement seed).
    let first = q.ak_public;
    drop(tpm);
    let again = TssTpm::open(swtpm.transport(), None).unwrap();
    assert_eq!(again.attestation_key().unwrap(), first);
}

#[test]
fn every_transient_handle_is_flushed() {
    let _g = serial();
    if std::process::Command::new("tpm2_getcap")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: tpm2_getcap (tpm2-tools) is not installed; run scripts/install-tpm.sh");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).unwrap();
    // swtpm has no resource manager: leftovers would accumulate over these quotes and rounds
    // until TPM_RC_OBJECT_MEMORY (0x902). (tss-esapi's Context also flushes what it created
    // when it is dropped; the backend's own flush is what keeps a long-lived session at one.)
    for round in 0..6 {
        let tpm = TssTpm::open(swtpm.transport(), None).unwrap();
        for _ in 0..3 {
            tpm.quote(&[round; 16], &[PcrSelection::new(HashAlg::Sha1, &[0])])
                .unwrap();
        }
        let loaded = transient_handles(&swtpm);
        assert_eq!(
            loaded.len(),
            1,
            "only the AK is loaded while open: {loaded:?}"
        );
    }
    assert_eq!(transient_handles(&swtpm), Vec::<String>::new());
}

fn transient_handles(swtpm: &Swtpm) -> Vec<String> {
    let TpmTransport::Swtpm { host, port } = swtpm.transport() else {
        unreachable!()
    };
    let out = std::process::Command::new("tpm2_getcap")
        .arg("-T")
        .arg(format!("swtpm:host={host},port={port}"))
        .arg("handles-transient")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn invalid_requests_are_refused_before_the_tpm() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).unwrap();
    let tpm = TssTpm::open(swtpm.transport(), Some(dir.path().join("missing.log"))).unwrap();
    assert!(
        tpm.quote(&[0; 65], &[PcrSelection::new(HashAlg::Sha256, &[0])])
            .is_err()
    );
    assert!(
        tpm.pcr_read(&[PcrSelection::new(HashAlg::Sha256, &[24])])
            .is_err()
    );
    assert!(
        tpm.extend_pcr(0, &[(HashAlg::Sha256, vec![0; 20])])
            .is_err()
    );
    assert!(matches!(
        tpm.event_log(),
        Err(corridor_hal::TpmError::EventLog { .. })
    ));
    // PCRs 17-22 are not extendable from locality 0: the TPM's own refusal comes back typed.
    assert!(matches!(
        tpm.extend_pcr(17, &[(HashAlg::Sha256, vec![0; 32])]),
        Err(corridor_hal::TpmError::Command { .. })
    ));
}

#[test]
fn swtpm_is_killed_when_dropped_and_unreachable_tpm_is_an_open_error() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).unwrap();
    let (pid, transport) = (swtpm.pid(), swtpm.transport());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(swtpm);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "swtpm {pid} still running"
    );
    assert!(matches!(
        TssTpm::open(transport, None),
        Err(corridor_hal::TpmError::Open { .. })
    ));
}

/// An swtpm whose owner died without stopping it (corridord under kill -9)
/// holds its state directory's lock; the next start on that directory stops
/// it instead of failing, and the state (the TPM's seeds) carries over.
#[test]
fn a_stale_swtpm_on_the_same_state_dir_is_stopped_by_the_next_start() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let first = Swtpm::start(dir.path()).unwrap();
    let ak = TssTpm::open(first.transport(), None)
        .unwrap()
        .attestation_key()
        .unwrap();
    let stale = first.pid();
    // The owner vanishes without dropping it: the process keeps running.
    std::mem::forget(first);
    let second = Swtpm::start(dir.path()).expect("a start over a stale swtpm");
    let state = std::fs::read_to_string(format!("/proc/{stale}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "the stale swtpm {stale} still runs: {state}"
    );
    let again = TssTpm::open(second.transport(), None)
        .unwrap()
        .attestation_key()
        .unwrap();
    assert_eq!(ak, again, "the same TPM (seeds kept in the state dir)");
}

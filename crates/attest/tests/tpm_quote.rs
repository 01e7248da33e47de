//! Quotes from a real swtpm, verified end to end: the test writes a boot's event log,
//! extends the TPM with its events, quotes with a fresh nonce, and verifies the quote against
//! the log's replay and a measured-boot policy. Each test names the check it exercises; each
//! was checked to fail with that check removed from `verify_quote`.

use std::sync::Mutex;

use corridor_attest::tpm::{
    AwsLcHasher, MeasuredBootPolicy, QuoteCheck, QuoteError, QuoteEvidence, RejectReason, appraise,
    verify_quote,
};
use corridor_hal::tpm::{Quote, Swtpm, Tpm, TssTpm};
use corridor_protocols::tcg::{
    EventLog, EventType, HashAlg, Hasher, PcrSelection, QuoteAttest, replay,
};

static SERIAL: Mutex<()> = Mutex::new(());

const POLICY_PCRS: [u8; 3] = [0, 4, 7];

/// Fields drop in order: the TPM connection (flushing its key) before swtpm stops.
struct Booted {
    tpm: TssTpm,
    swtpm: Swtpm,
    dir: tempfile::TempDir,
    log: Vec<u8>,
    policy: MeasuredBootPolicy,
}

fn event(log: &mut EventLog, pcr: u8, ty: EventType, measured: &[u8], data: &[u8]) {
    let digests = log
        .spec_id
        .algorithms
        .iter()
        .map(|&a| (a, AwsLcHasher.digest(a, &[measured]).unwrap()))
        .collect();
    log.push(pcr, ty, digests, data.to_vec());
}

/// A small UEFI-shaped boot: S-CRTM and firmware in PCR 0, shim and kernel in PCR 4, Secure
/// Boot state in PCR 7, separators closing each.
fn boot_log(kernel: &[u8]) -> EventLog {
    let mut log = EventLog::new(&[HashAlg::Sha1, HashAlg::Sha256]);
    let mut locality = b"StartupLocality\0".to_vec();
    locality.push(0);
    log.push(
        0,
        EventType::EV_NO_ACTION,
        vec![(HashAlg::Sha1, vec![0; 20]), (HashAlg::Sha256, vec![0; 32])],
        locality,
    );
    event(
        &mut log,
        0,
        EventType::EV_S_CRTM_VERSION,
        b"corridor-crtm 1.0",
        b"corridor-crtm 1.0",
    );
    event(
        &mut log,
        0,
        EventType::EV_POST_CODE,
        b"firmware volume",
        b"POST CODE",
    );
    event(
        &mut log,
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        b"SecureBoot=1",
        b"SecureBoot",
    );
    event(
        &mut log,
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        b"shim image",
        b"\\EFI\\BOOT\\BOOTX64.EFI",
    );
    event(
        &mut log,
        4,
        EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
        kernel,
        b"vmlinuz",
    );
    for pcr in POLICY_PCRS {
        event(&mut log, pcr, EventType::EV_SEPARATOR, &[0; 4], &[0; 4]);
    }
    log
}

/// Starts swtpm, boots it with the reference log, and records the reference policy from it.
fn booted() -> Booted {
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).expect("swtpm (scripts/install-tpm.sh)");
    let log = boot_log(b"kernel 6.1.0-corridor");
    let path = dir.path().join("binary_bios_measurements");
    std::fs::write(&path, log.to_bytes()).unwrap();
    let tpm = TssTpm::open(swtpm.transport(), Some(path)).unwrap();
    tpm.measure_log(&log).unwrap();
    let policy = MeasuredBootPolicy::from_reference_log(&log, HashAlg::Sha256, &POLICY_PCRS);
    Booted {
        tpm,
        swtpm,
        dir,
        log: log.to_bytes(),
        policy,
    }
}

fn evidence(q: &Quote) -> QuoteEvidence<'_> {
    QuoteEvidence {
        attest: &q.attest,
        signature: &q.signature,
        ak_public: &q.ak_public,
    }
}

fn check<'a>(nonce: &'a [u8], ak: &'a [u8]) -> QuoteCheck<'a> {
    QuoteCheck {
        nonce,
        bank: HashAlg::Sha256,
        policy_pcrs: &POLICY_PCRS,
        pinned_ak: Some(ak),
    }
}

fn fresh_nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    aws_lc_rs::rand::fill(&mut n).unwrap();
    n
}

fn sel(pcrs: &[u8]) -> Vec<PcrSelection> {
    vec![PcrSelection::new(HashAlg::Sha256, pcrs)]
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn swtpm_quote_verifies_against_the_replayed_log_and_policy() {
    let _g = serial();
    let b = booted();
    let ak = b.tpm.attestation_key().unwrap();
    let nonce = fresh_nonce();
    let q = b.tpm.quote(&nonce, &sel(&POLICY_PCRS)).unwrap();
    let log = b.tpm.event_log().unwrap().expect("the test's log");
    assert_eq!(log, b.log);

    let replayed = replay(&EventLog::parse(&log).unwrap(), &AwsLcHasher).unwrap();
    let verified = verify_quote(&evidence(&q), &check(&nonce, &ak), &replayed).expect("verifies");
    assert_eq!(verified.hash, HashAlg::Sha256);
    assert_eq!(verified.pcrs.len(), 3);
    // The same boot: a second quote reports the same reset and restart counts.
    let n2 = fresh_nonce();
    let q2 = b.tpm.quote(&n2, &sel(&POLICY_PCRS)).unwrap();
    let v2 = verify_quote(&evidence(&q2), &check(&n2, &ak), &replayed).unwrap();
    assert!(!v2.restarted_since(&verified.clock_info));
    assert!(v2.clock_info.clock >= verified.clock_info.clock);

    // The replayed values are the TPM's own PCRs.
    let read = b.tpm.pcr_read(&sel(&POLICY_PCRS)).unwrap();
    for v in read {
        assert_eq!(
            replayed.value(HashAlg::Sha256, v.pcr).unwrap(),
            v.value,
            "PCR {}",
            v.pcr
        );
    }

    let a = appraise(&evidence(&q), &log, &nonce, Some(&ak), &b.policy).unwrap();
    assert!(a.passed(), "{:?} {:?}", a.quote, a.policy);
    assert_eq!(a.log.events.len(), 9);

    // A reboot (swtpm restarted on the same state, TPM2_Startup(CLEAR) again) shows in
    // resetCount; the same AK signs, but the PCRs are back at their reset values, so the old
    // log no longer replays to them.
    let Booted {
        tpm, swtpm, dir, ..
    } = b;
    drop(tpm);
    drop(swtpm);
    let swtpm = Swtpm::start(dir.path()).unwrap();
    let tpm = TssTpm::open(swtpm.transport(), None).unwrap();
    let n3 = fresh_nonce();
    let q3 = tpm.quote(&n3, &sel(&POLICY_PCRS)).unwrap();
    assert_eq!(q3.ak_public, ak);
    let after = QuoteAttest::parse(&q3.attest).unwrap();
    assert!(after.clock_info.reset_count > verified.clock_info.reset_count);
    assert_eq!(
        verify_quote(&evidence(&q3), &check(&n3, &ak), &replayed),
        Err(QuoteError::PcrDigestMismatch)
    );
    drop(tpm);
}

#[test]
fn wrong_nonce_fails() {
    let _g = serial();
    let b = booted();
    let ak = b.tpm.attestation_key().unwrap();
    let replayed = replay(&EventLog::parse(&b.log).unwrap(), &AwsLcHasher).unwrap();
    let sent = fresh_nonce();
    let q = b.tpm.quote(&sent, &sel(&POLICY_PCRS)).unwrap();
    let other = fresh_nonce();
    assert_eq!(
        verify_quote(&evidence(&q), &check(&other, &ak), &replayed),
        Err(QuoteError::NonceMismatch)
    );
    // An empty expectation is no wildcard either.
    assert_eq!(
        verify_quote(&evidence(&q), &check(&[], &ak), &replayed),
        Err(QuoteError::NonceMismatch)
    );
}

#[test]
fn quote_over_fewer_pcrs_than_the_policy_fails() {
    let _g = serial();
    let b = booted();
    let ak = b.tpm.attestation_key().unwrap();
    let replayed = replay(&EventLog::parse(&b.log).unwrap(), &AwsLcHasher).unwrap();
    let nonce = fresh_nonce();
    // Signed, fresh and consistent with the log — over PCRs 0 and 4 only.
    let q = b.tpm.quote(&nonce, &sel(&[0, 4])).unwrap();
    assert_eq!(
        verify_quote(&evidence(&q), &check(&nonce, &ak), &replayed),
        Err(QuoteError::PcrNotQuoted {
            bank: HashAlg::Sha256,
            pcr: 7
        })
    );
    // The right PCRs in the wrong bank are not the policy's PCRs either.
    let q = b
        .tpm
        .quote(&nonce, &[PcrSelection::new(HashAlg::Sha1, &POLICY_PCRS)])
        .unwrap();
    assert_eq!(
        verify_quote(&evidence(&q), &check(&nonce, &ak), &replayed),
        Err(QuoteError::PcrNotQuoted {
            bank: HashAlg::Sha256,
            pcr: 0
        })
    );
    // No PCRs at all (CVE-2022-0317).
    let q = b.tpm.quote(&nonce, &[]).unwrap();
    assert!(matches!(
        verify_quote(&evidence(&q), &check(&nonce, &ak), &replayed),
        Err(QuoteError::PcrNotQuoted { .. })
    ));
}

#[test]
fn tampered_event_fails_replay_and_the_policy_names_it() {
    let _g = serial();
    let b = booted();
    let ak = b.tpm.attestation_key().unwrap();
    let nonce = fresh_nonce();
    let q = b.tpm.quote(&nonce, &sel(&POLICY_PCRS)).unwrap();

    // The log claims another kernel than the one the TPM measured.
    let forged = boot_log(b"kernel 6.1.0-evil").to_bytes();
    let a = appraise(&evidence(&q), &forged, &nonce, Some(&ak), &b.policy).unwrap();
    assert_eq!(a.quote, Err(QuoteError::PcrDigestMismatch));
    assert_eq!(a.policy.rejected.len(), 1);
    let r = &a.policy.rejected[0];
    assert_eq!(
        (r.number, r.pcr, r.event_type, &r.reason),
        (
            6,
            4,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            &RejectReason::DigestNotAllowed
        )
    );
    assert!(!a.passed());

    // Relabelling an event's type is caught by the policy even though the digests (and so
    // the replay) still match: types are not covered by the digest.
    let mut relabelled = EventLog::parse(&b.log).unwrap();
    relabelled.events[4].event_type = EventType::EV_EFI_BOOT_SERVICES_DRIVER;
    let a = appraise(
        &evidence(&q),
        &relabelled.to_bytes(),
        &nonce,
        Some(&ak),
        &b.policy,
    )
    .unwrap();
    assert!(a.quote.is_ok());
    assert_eq!(a.policy.rejected[0].reason, RejectReason::UnexpectedEvent);
    assert!(!a.passed());

    // Dropping an event from the log breaks replay too.
    let mut shortened = EventLog::parse(&b.log).unwrap();
    shortened.events.remove(2);
    let a = appraise(
        &evidence(&q),
        &shortened.to_bytes(),
        &nonce,
        Some(&ak),
        &b.policy,
    )
    .unwrap();
    assert_eq!(a.quote, Err(QuoteError::PcrDigestMismatch));
    assert_eq!(a.policy.missing, vec![(0, EventType::EV_POST_CODE)]);
}

#[test]
fn tampered_signature_attest_or_key_fails() {
    let _g = serial();
    let b = booted();
    let ak = b.tpm.attestation_key().unwrap();
    let replayed = replay(&EventLog::parse(&b.log).unwrap(), &AwsLcHasher).unwrap();
    let nonce = fresh_nonce();
    let q = b.tpm.quote(&nonce, &sel(&POLICY_PCRS)).unwrap();

    let mut attest = q.attest.clone();
    let last = attest.len() - 1;
    attest[last] ^= 1; // a bit of pcrDigest
    let e = QuoteEvidence {
        attest: &attest,
        ..evidence(&q)
    };
    assert_eq!(
        verify_quote(&e, &check(&nonce, &ak), &replayed),
        Err(QuoteError::SignatureInvalid)
    );

    let mut sig = q.signature.clone();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    let e = QuoteEvidence {
        signature: &sig,
        ..evidence(&q)
    };
    assert_eq!(
        verify_quote(&e, &check(&nonce, &ak), &replayed),
        Err(QuoteError::SignatureInvalid)
    );

    // Another TPM's key, or the same key claimed unrestricted.
    let dir = tempfile::tempdir().unwrap();
    let other_swtpm = Swtpm::start(dir.path()).unwrap();
    let other = TssTpm::open(other_swtpm.transport(), None).unwrap();
    let other_ak = other.attestation_key().unwrap();
    drop(other);
    assert_ne!(other_ak, ak);
    let e = QuoteEvidence {
        ak_public: &other_ak,
        ..evidence(&q)
    };
    assert_eq!(
        verify_quote(&e, &check(&nonce, &ak), &replayed),
        Err(QuoteError::AkNotPinned)
    );
    let unpinned = QuoteCheck {
        pinned_ak: None,
        ..check(&nonce, &ak)
    };
    assert_eq!(
        verify_quote(&e, &unpinned, &replayed),
        Err(QuoteError::SignatureInvalid)
    );
    let mut unrestricted = ak.clone();
    unrestricted[5] &= !0x01; // objectAttributes bit 16 (restricted), big-endian at bytes 4..8
    let e = QuoteEvidence {
        ak_public: &unrestricted,
        ..evidence(&q)
    };
    assert_eq!(
        verify_quote(&e, &unpinned, &replayed),
        Err(QuoteError::AkNotRestricted)
    );
}

#[test]
fn a_policy_pcr_no_event_extends_fails() {
    let _g = serial();
    let b = booted();
    let ak = b.tpm.attestation_key().unwrap();
    let replayed = replay(&EventLog::parse(&b.log).unwrap(), &AwsLcHasher).unwrap();
    let nonce = fresh_nonce();
    let pcrs = [0, 4, 7, 9];
    let q = b.tpm.quote(&nonce, &sel(&pcrs)).unwrap();
    let c = QuoteCheck {
        policy_pcrs: &pcrs,
        ..check(&nonce, &ak)
    };
    assert_eq!(
        verify_quote(&evidence(&q), &c, &replayed),
        Err(QuoteError::NoEventsForPcr(9))
    );
}

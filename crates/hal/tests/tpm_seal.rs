//! Sealing to a PCR policy against a real swtpm (started per test on free loopback ports,
//! killed at the end). Needs swtpm and libtss2 (`scripts/install-tpm.sh`).

use std::sync::Mutex;

use corridor_hal::tpm::{HashAlg, PcrSelection, SealedSecret, Swtpm, Tpm, TpmError, TssTpm};

/// swtpm tests run one at a time: they are CPU-heavy and two cores are shared.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn policy_pcrs() -> Vec<PcrSelection> {
    vec![PcrSelection::new(HashAlg::Sha256, &[0, 7])]
}

#[test]
fn a_sealed_secret_unseals_only_while_the_policy_pcrs_are_unchanged() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).expect("swtpm starts (scripts/install-tpm.sh)");
    let tpm = TssTpm::open(swtpm.transport(), None).expect("connects");
    // A measured boot, as firmware would leave it.
    tpm.extend_pcr(0, &[(HashAlg::Sha256, vec![1; 32])])
        .unwrap();

    let secret: Vec<u8> = (0..64).collect();
    let sealed = tpm.seal(&secret, &policy_pcrs()).unwrap();
    // The stored form carries the secret only encrypted by the TPM's parent key.
    let stored = sealed.to_bytes();
    assert!(!stored.windows(16).any(|w| w == &secret[..16]));
    let sealed = SealedSecret::from_bytes(&stored).unwrap();

    // Unchanged PCRs: the secret comes back, as often as asked (every handle is flushed,
    // or swtpm's few object slots would run out within a few rounds).
    for _ in 0..8 {
        assert_eq!(
            tpm.unseal(&sealed, &policy_pcrs()).unwrap().expose(),
            &secret[..]
        );
    }
    // A PCR outside the policy does not matter.
    tpm.extend_pcr(16, &[(HashAlg::Sha256, vec![2; 32])])
        .unwrap();
    assert_eq!(
        tpm.unseal(&sealed, &policy_pcrs()).unwrap().expose(),
        &secret[..]
    );

    // A different boot: PCR 7 (secure-boot state) extended.
    tpm.extend_pcr(7, &[(HashAlg::Sha256, vec![3; 32])])
        .unwrap();
    match tpm.unseal(&sealed, &policy_pcrs()) {
        Err(TpmError::PolicyMismatch { .. }) => {}
        other => panic!("expected PolicyMismatch, got {other:?}"),
    }
    // A policy over other PCRs is another policy: refused too, not a bypass.
    assert!(
        tpm.unseal(&sealed, &[PcrSelection::new(HashAlg::Sha256, &[16])])
            .is_err()
    );

    // Sealing again to the new state works, and the old blob stays refused.
    let resealed = tpm.seal(&secret, &policy_pcrs()).unwrap();
    assert_eq!(
        tpm.unseal(&resealed, &policy_pcrs()).unwrap().expose(),
        &secret[..]
    );
    assert!(tpm.unseal(&sealed, &policy_pcrs()).is_err());
}

#[test]
fn bad_requests_and_blobs_are_typed_errors() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).expect("swtpm starts (scripts/install-tpm.sh)");
    let tpm = TssTpm::open(swtpm.transport(), None).expect("connects");
    assert!(matches!(tpm.seal(&[1; 8], &[]), Err(TpmError::Invalid(_))));
    assert!(matches!(
        tpm.seal(&[], &policy_pcrs()),
        Err(TpmError::Invalid(_))
    ));
    assert!(matches!(
        tpm.seal(&[1; 129], &policy_pcrs()),
        Err(TpmError::Invalid(_))
    ));
    let sealed = tpm.seal(&[9; 32], &policy_pcrs()).unwrap();
    let mut tampered = sealed.clone();
    let last = tampered.private.len() - 1;
    tampered.private[last] ^= 1;
    // The parent's integrity check refuses a modified private blob.
    assert!(matches!(
        tpm.unseal(&tampered, &policy_pcrs()),
        Err(TpmError::Command { .. })
    ));

    // Another TPM (another owner seed) cannot load this one's blob.
    let other_dir = tempfile::tempdir().unwrap();
    let other_swtpm = Swtpm::start(other_dir.path()).unwrap();
    let other = TssTpm::open(other_swtpm.transport(), None).unwrap();
    assert!(other.unseal(&sealed, &policy_pcrs()).is_err());
    assert_eq!(
        tpm.unseal(&sealed, &policy_pcrs()).unwrap().expose(),
        &[9; 32][..]
    );
}

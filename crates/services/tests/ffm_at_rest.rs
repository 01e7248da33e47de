//! Encryption at rest of persistent bundles, where no encrypting filesystem is needed: the
//! refusal when bundles cannot be protected, and the operator's plaintext opt-out said on
//! the bundle. (The encrypted path itself, on an ext4 image with `-O encrypt`, is
//! `ffm_fscrypt_loop.rs`.)

use std::sync::Arc;

use corridor_hal::tpm::{Swtpm, TssTpm};
use corridor_hal::{ManualClock, Topology};
use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_pki::Principal;
use corridor_services::error::ToProblem;
use corridor_services::ffm::{FfmConfig, Protection};
use corridor_services::{Caller, ControlPlane};
use corridor_store::{RedbOptions, RedbStore, StateStore};

fn request(class: LatencyClass, persistence: Persistence) -> FfmAllocRequest {
    FfmAllocRequest {
        bytes: Bytes(1 << 20),
        latency_class: class,
        bandwidth_floor_gbs: GigabytesPerSecond(1.0),
        persistence,
        shareable: true,
        security_domain: "tenantA".into(),
        host: None,
        policy_lease_ttl_s: None,
        labels: Default::default(),
    }
}

async fn plane(dir: &std::path::Path, ffm: FfmConfig) -> ControlPlane {
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.join("store.redb"), RedbOptions::default()).unwrap());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    ControlPlane::start_with(
        store,
        Arc::new(Topology::default_twin().clone()),
        clock,
        ffm,
    )
    .await
    .unwrap()
}

fn tenant() -> Caller {
    Caller::new(Principal::Domain("tenantA".into()))
}

#[tokio::test]
async fn persistent_bundles_are_refused_when_nothing_can_protect_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = FfmConfig::in_dir(dir.path()).with_protection(Protection::Unavailable {
        reason: "no TPM to seal the keys with".into(),
    });
    let plane = plane(dir.path(), config).await;
    for persistence in [Persistence::File, Persistence::Dax] {
        let err = plane
            .ffm
            .create(&tenant(), request(LatencyClass::T3, persistence))
            .await
            .unwrap_err();
        let problem = err.to_problem();
        assert_eq!(problem.status, 422, "{problem:?}");
        assert_eq!(problem.errors[0].pointer, "/persistence");
        assert!(
            problem.errors[0]
                .message
                .contains("no TPM to seal the keys with"),
            "{problem:?}"
        );
    }
    // Nothing was written, and the refused bundles hold no capacity.
    let memory_dir = dir.path().join("ffm-memory");
    assert!(
        !memory_dir.exists() || std::fs::read_dir(&memory_dir).unwrap().next().is_none(),
        "no file for a refused bundle"
    );
    assert!(
        plane
            .ffm
            .list(&Caller::new(Principal::Admin), &Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Volatile bundles never reach a file and are not concerned.
    let volatile = plane
        .ffm
        .create(&tenant(), request(LatencyClass::T1, Persistence::None))
        .await
        .unwrap()
        .bundle;
    assert!(volatile.meta.condition("EncryptedAtRest").is_none());
}

#[tokio::test]
async fn fscrypt_on_a_filesystem_without_encryption_refuses_and_says_why() {
    // tmpfs has no fscrypt: the memory directory there cannot be encrypted.
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() || corridor_hal::fscrypt::check_support(shm).is_ok() {
        eprintln!("skipped: no /dev/shm without fscrypt on this machine");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let memory = tempfile::tempdir_in(shm).unwrap();
    let tpm_dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(tpm_dir.path()).expect("swtpm starts (scripts/install-tpm.sh)");
    let tpm = Arc::new(TssTpm::open(swtpm.transport(), None).unwrap());
    let mut config = FfmConfig::in_dir(state.path()).with_protection(Protection::fscrypt(tpm));
    config.memory_dir = memory.path().join("ffm-memory");
    let plane = plane(state.path(), config).await;
    assert!(plane.ffm.key_vault().is_none());
    let problem = plane
        .ffm
        .create(&tenant(), request(LatencyClass::T3, Persistence::File))
        .await
        .unwrap_err()
        .to_problem();
    assert_eq!(problem.status, 422, "{problem:?}");
    assert_eq!(problem.errors[0].pointer, "/persistence");
    assert!(
        problem.errors[0]
            .message
            .contains("does not support encryption"),
        "{problem:?}"
    );
    // No key was made for a directory that could not use it.
    assert!(!state.path().join("ffm-keys").exists());
}

#[tokio::test]
async fn the_plaintext_opt_out_is_said_on_every_persistent_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let config = FfmConfig::in_dir(dir.path()).with_protection(Protection::PlaintextOptOut);
    let plane = plane(dir.path(), config).await;
    let bundle = plane
        .ffm
        .create(&tenant(), request(LatencyClass::T3, Persistence::File))
        .await
        .unwrap()
        .bundle;
    let condition = bundle.meta.condition("EncryptedAtRest").unwrap();
    assert!(!condition.is_true());
    assert_eq!(condition.reason, "PlaintextOptOut");
    assert!(condition.message.contains("plaintext"), "{condition:?}");
    assert!(
        dir.path()
            .join("ffm-memory")
            .join(format!("{}.mem", bundle.id))
            .exists()
    );
}

//! attestd against the twin's SPDM responders and a real redb store: a
//! genuine device is affirmed with a ticket that verifies, a tampered one is
//! contraindicated with the measurement named, a nonce is used once.

use std::sync::Arc;

use corridor_hal::attestation::{SpdmFault, TwinSpdm, TwinSpdmConfig};
use corridor_hal::{Clock, ManualClock, Topology};
use corridor_model::attestation::{AttestDeviceRequest, AttestationVerdict};
use corridor_services::Caller;
use corridor_services::attestation::{AttestationError, AttestationService, TrustAnchors};
use corridor_services::error::ToProblem;
use corridor_store::{RedbOptions, RedbStore, StateStore};

struct Fixture {
    service: AttestationService,
    twin: Arc<TwinSpdm>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Topology::default_twin();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(chrono::Utc::now()));
    let twin = Arc::new(TwinSpdm::from_topology(&topology, TwinSpdmConfig::default()).unwrap());
    let anchors = TrustAnchors::of_twin(&twin).unwrap();
    let signer = corridor_attest::ticket::TicketSigner::generate().unwrap();
    let service = AttestationService::new(store, clock, twin.clone(), anchors, signer).unwrap();
    Fixture {
        service,
        twin,
        _dir: dir,
    }
}

fn request(device: &str, nonce: &str) -> AttestDeviceRequest {
    AttestDeviceRequest {
        device_id: device.into(),
        nonce: nonce.into(),
        evidence: None,
    }
}

#[tokio::test]
async fn a_genuine_device_is_affirmed_with_a_ticket_that_verifies() {
    let f = fixture();
    let caller = Caller::system();
    let a = f
        .service
        .attest_device(&caller, request("op-h0-0", "5f1c9a0b7e3d2c48"))
        .await
        .unwrap();
    assert_eq!(a.verdict, AttestationVerdict::Affirming, "{a:#?}");
    assert!(a.id.starts_with("attest-") && a.ticket_id.starts_with("tkt-"));
    assert!(!a.measurements.is_empty());
    let v = f
        .service
        .verify_ticket(&caller, &a.ticket_id)
        .await
        .unwrap();
    assert!(v.valid, "{v:#?}");
    assert_eq!(v.attestation_id, a.id);
    let current = f.service.current_ticket("op-h0-0").await.unwrap().unwrap();
    assert_eq!(current.id, a.id);
    assert_eq!(f.service.get(&caller, &a.id).await.unwrap(), a);
}

#[tokio::test]
async fn a_tampered_device_is_contraindicated_naming_the_measurement() {
    let f = fixture();
    let caller = Caller::system();
    f.twin
        .faults()
        .inject("op-h1-0", SpdmFault::TamperedFirmware);
    let a = f
        .service
        .attest_device(&caller, request("op-h1-0", "00112233445566778899"))
        .await
        .unwrap();
    assert_eq!(a.verdict, AttestationVerdict::Contraindicated, "{a:#?}");
    let reason = a.reason.clone().unwrap();
    assert!(reason.contains("measurement"), "{reason}");
    // Its ticket is genuine (signed) but does not vouch for the device.
    let v = f
        .service
        .verify_ticket(&caller, &a.ticket_id)
        .await
        .unwrap();
    assert!(!v.valid, "{v:#?}");
    assert!(f.service.current_ticket("op-h1-0").await.unwrap().is_none());
}

#[tokio::test]
async fn a_nonce_is_used_once() {
    let f = fixture();
    let caller = Caller::system();
    f.service
        .attest_device(&caller, request("op-h0-0", "aabbccddeeff0011"))
        .await
        .unwrap();
    match f
        .service
        .attest_device(&caller, request("op-h0-1", "AABBCCDDEEFF0011"))
        .await
    {
        Err(e @ AttestationError::NonceReplayed(_)) => {
            let p = e.to_problem();
            assert_eq!(p.status, 409);
            assert_eq!(p.reason.as_deref(), Some("NonceReplayed"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_devices_and_client_evidence_are_refused() {
    let f = fixture();
    let caller = Caller::system();
    let e = f
        .service
        .attest_device(&caller, request("no-such-device", "0011223344556677"))
        .await
        .unwrap_err();
    assert_eq!(e.to_problem().status, 404);
    let mut r = request("op-h0-0", "0011223344556677");
    r.evidence = Some("AAAA".into());
    let e = f.service.attest_device(&caller, r).await.unwrap_err();
    assert_eq!(e.to_problem().status, 422);
}

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
async fn unknown_devices_are_refused() {
    let f = fixture();
    let caller = Caller::system();
    let e = f
        .service
        .attest_device(&caller, request("no-such-device", "0011223344556677"))
        .await
        .unwrap_err();
    assert_eq!(e.to_problem().status, 404);
}

/// The RFC's corridor (`attestation_required: true`) is held with its lanes
/// dark until both end modules are attested, then goes active naming the
/// attestations; when one end's newest attestation is contraindicated it
/// goes degraded with that reason, and a new corridor on that module stays
/// dark saying why.
#[tokio::test]
async fn attested_corridors_follow_their_end_modules_tickets() {
    use corridor_model::corridor::{CorridorRequest, CorridorStatus};
    use corridor_services::ControlPlane;
    use corridor_services::corridors::reconcile::reconcile_once;

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Topology::default_twin();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let plane = ControlPlane::start(store, Arc::new(topology), clock.clone())
        .await
        .unwrap();
    let rfc: CorridorRequest = corridor_model::json::from_slice_strict(
        br#"{"corridor_type": "SiCorridor", "lanes": 8,
        "lambda_nm": [1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557],
        "min_gbps": 400, "latency_budget_ns": 250, "reach_mm": 75, "mode": "waveguide",
        "qos": {"pfc": true, "priority": "gold"}, "attestation_required": true}"#,
    )
    .unwrap();
    let system = Caller::system();
    let held = plane.corridors.create(&system, rfc.clone()).await.unwrap();
    assert_eq!(held.status, CorridorStatus::Provisioning, "{held:#?}");
    let why = |c: &corridor_model::corridor::Corridor| {
        c.meta
            .conditions
            .iter()
            .find(|k| k.condition_type == "Attested")
            .map(|k| (k.status, k.message.clone()))
            .unwrap()
    };
    assert!(
        why(&held).1.contains("not attested yet"),
        "{:?}",
        why(&held)
    );
    reconcile_once(&plane.corridors).await.unwrap();
    let still = plane.corridors.get(&system, &held.id).await.unwrap();
    assert_eq!(still.status, CorridorStatus::Provisioning);

    // attestd attests every twin device; the next pass lights the corridor.
    assert!(
        plane
            .attestation
            .attest_due(std::time::Duration::from_secs(3600))
            .await
            > 0
    );
    let report = reconcile_once(&plane.corridors).await.unwrap();
    assert_eq!(report.activated, vec![held.id.clone()]);
    let active = plane.corridors.get(&system, &held.id).await.unwrap();
    assert_eq!(active.status, CorridorStatus::Active, "{active:#?}");
    assert_eq!(active.attestations.len(), 2);
    let ends = active.assignment.clone().unwrap().ports;
    for (port, id) in ends.iter().zip(&active.attestations) {
        let a = plane.attestation.get(&system, id).await.unwrap();
        assert_eq!(&a.device_id, port);
        assert_eq!(a.verdict, AttestationVerdict::Affirming);
    }
    // Telemetry is real now: the lanes are lit.
    plane.corridors.telemetry(&system, &held.id).await.unwrap();

    // The near end's firmware is tampered with and re-attested.
    plane
        .spdm_faults
        .inject(&ends[0], SpdmFault::TamperedFirmware);
    let bad = plane
        .attestation
        .attest_device(&system, request(&ends[0], "feedfacecafebeef"))
        .await
        .unwrap();
    assert_eq!(bad.verdict, AttestationVerdict::Contraindicated);
    reconcile_once(&plane.corridors).await.unwrap();
    let degraded = plane.corridors.get(&system, &held.id).await.unwrap();
    assert_eq!(degraded.status, CorridorStatus::Degraded, "{degraded:#?}");
    let (status, message) = why(&degraded);
    assert_eq!(status, corridor_model::meta::ConditionStatus::False);
    assert!(
        message.contains(&bad.id) && message.contains("measurement"),
        "{message}"
    );

    // A new attested corridor on that module is held, dark, saying why.
    plane
        .corridors
        .delete(&system, &held.id, None)
        .await
        .unwrap();
    let mut again = rfc;
    again.endpoints = Some([ends[0].clone(), ends[1].clone()]);
    let dark = plane.corridors.create(&system, again).await.unwrap();
    assert_eq!(dark.status, CorridorStatus::Provisioning, "{dark:#?}");
    assert!(why(&dark).1.contains("measurement"), "{:?}", why(&dark));
    assert!(plane.corridors.telemetry(&system, &dark.id).await.is_err());
}

//! attestd against the twin's SPDM responders and a real redb store: a
//! genuine device is affirmed with a ticket that verifies, a tampered one is
//! contraindicated with the measurement named, a nonce is used once.

use std::sync::Arc;

use corridor_hal::attestation::{SpdmFault, TwinSpdm, TwinSpdmConfig};
use corridor_hal::{Clock, ManualClock, Topology};
use corridor_model::attestation::{AttestDeviceRequest, AttestationVerdict, SpdmAttestRequest};
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

/// Every service on the default twin over a real redb store (the guard
/// keeps the store's directory).
async fn control_plane() -> (corridor_services::ControlPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let plane =
        corridor_services::ControlPlane::start(store, Arc::new(Topology::default_twin()), clock)
            .await
            .unwrap();
    (plane, dir)
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
    use corridor_services::corridors::reconcile::reconcile_once;

    let (plane, _dir) = control_plane().await;
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

fn spdm(device: &str, nonce_byte: u8, slot_id: u8, indices: &[u8]) -> SpdmAttestRequest {
    SpdmAttestRequest {
        device_id: device.into(),
        nonce: corridor_attest::hex::encode(&[nonce_byte; 32]),
        slot_id,
        measurement_indices: indices.to_vec(),
    }
}

/// `POST /v1/attest/spdm` fetches the blocks asked for, signed once over
/// all of them, with the caller's nonce, and reports the session.
#[tokio::test]
async fn spdm_attestation_fetches_the_blocks_asked_for_and_names_the_session() {
    let f = fixture();
    let caller = Caller::system();
    let all = f
        .service
        .attest_device(&caller, request("op-h0-0", "0102030405060708"))
        .await
        .unwrap();
    let indices: Vec<u8> = all.measurements.iter().map(|m| m.index).collect();
    assert!(indices.len() >= 2, "{all:#?}");
    let a = f
        .service
        .attest_spdm(&caller, spdm("op-h0-0", 0x11, 0, &indices))
        .await
        .unwrap();
    assert_eq!(a.verdict, AttestationVerdict::Affirming, "{a:#?}");
    assert_eq!(a.measurements, all.measurements);
    let session = a.spdm.clone().unwrap();
    assert_eq!(session.version, "1.2");
    assert_eq!(session.slot_id, 0);
    assert!(session.leaf_key_pin.is_some() && session.base_asym_algo.is_some());
    // VCA (3), DIGESTS, at least one CERTIFICATE, CHALLENGE, and one
    // GET_MEASUREMENTS per block.
    assert!(
        session.exchanges as usize >= 6 + indices.len(),
        "{session:?}"
    );
    assert_eq!(a.nonce, corridor_attest::hex::encode(&[0x11; 32]));
}

/// Evidence that leaves out a block with a reference value cannot affirm
/// the device, and a slot without a chain is refused.
#[tokio::test]
async fn spdm_attestation_with_partial_evidence_or_an_empty_slot_is_contraindicated() {
    let f = fixture();
    let caller = Caller::system();
    let all = f
        .service
        .attest_device(&caller, request("op-h0-0", "0102030405060709"))
        .await
        .unwrap();
    let first = all.measurements[0].index;
    let partial = f
        .service
        .attest_spdm(&caller, spdm("op-h0-0", 0x22, 0, &[first]))
        .await
        .unwrap();
    assert_eq!(partial.verdict, AttestationVerdict::Contraindicated);
    assert!(
        partial.reason.as_deref().unwrap_or("").contains("missing"),
        "{partial:#?}"
    );
    let slot = f
        .service
        .attest_spdm(&caller, spdm("op-h0-0", 0x33, 3, &[]))
        .await
        .unwrap();
    assert_eq!(slot.verdict, AttestationVerdict::Contraindicated);
    assert!(
        slot.reason.as_deref().unwrap_or("").contains("slot 3"),
        "{slot:#?}"
    );
}

/// Measured boot on swtpm: the twin's boot verifies and passes its policy;
/// a logged extra application is rejected by the policy while the quote
/// still verifies; an unlogged extension breaks the quote's replay.
#[tokio::test]
async fn measured_boot_verifies_the_twin_boot_and_catches_both_tamperings() {
    use corridor_hal::tpm::{Swtpm, TssTpm};
    use corridor_services::attestation::platform::MeasuredTwinBoot;
    use corridor_services::attestation::{BootTamper, PlatformTpm};

    let f = fixture();
    let caller = Caller::system();
    assert_eq!(
        f.service
            .measured_boot(&caller, "host-0")
            .await
            .unwrap_err()
            .to_problem()
            .status,
        404
    );
    let dir = tempfile::tempdir().unwrap();
    let swtpm = Swtpm::start(dir.path()).expect("swtpm (scripts/install-tpm.sh)");
    let log = dir.path().join("binary_bios_measurements");
    let tpm = Arc::new(TssTpm::open(swtpm.transport(), Some(log.clone())).unwrap());
    let boot = MeasuredTwinBoot::measure(tpm, &log).unwrap();
    let platform = Arc::new(PlatformTpm::twin("host-0", boot, Default::default()).unwrap());
    f.service.attach_platform(Arc::clone(&platform));

    let good = f.service.measured_boot(&caller, "host-0").await.unwrap();
    assert!(good.quote_verified, "{good:#?}");
    assert!(good.policy.accepted && good.trusted, "{good:#?}");
    assert!(good.tpm.software);
    assert_eq!(good.event_log.origin, "modelled");
    assert_eq!(good.pcrs.len(), 3);
    assert!(
        good.event_log
            .components
            .iter()
            .any(|c| c.contains("corridord")),
        "{:?}",
        good.event_log.components
    );
    let again = f.service.measured_boot(&caller, "host-0").await.unwrap();
    assert_ne!(good.nonce, again.nonce, "every quote has a fresh nonce");

    platform.tamper(BootTamper::LoggedApplication).unwrap();
    let logged = f.service.measured_boot(&caller, "host-0").await.unwrap();
    assert!(logged.quote_verified, "{logged:#?}");
    assert!(!logged.policy.accepted && !logged.trusted);
    assert_eq!(logged.policy.rejected_events.len(), 1, "{logged:#?}");
    assert_eq!(logged.policy.rejected_events[0].pcr, 4);
    assert_eq!(
        logged.policy.rejected_events[0].reason,
        "digest_not_allowed"
    );

    platform.tamper(BootTamper::UnloggedExtension).unwrap();
    let hidden = f.service.measured_boot(&caller, "host-0").await.unwrap();
    assert!(!hidden.quote_verified && !hidden.trusted, "{hidden:#?}");
    assert!(
        hidden
            .quote_failure
            .as_deref()
            .unwrap_or("")
            .contains("replayed PCRs do not match"),
        "{hidden:#?}"
    );
    drop(f);
    drop(platform);
    drop(swtpm);
}

/// A revoked ticket stops vouching at once: verification says why, the
/// device has no current attestation, and the inventory's
/// `attestation_ticket` follows (set after attestation, cleared on
/// revocation) without waiting for its poll.
#[tokio::test]
async fn revocation_ends_a_tickets_vouching_and_the_inventory_follows() {
    use corridor_model::attestation::RevokeRequest;
    use corridor_services::ControlPlane;

    let (plane, _dir) = control_plane().await;
    let system = Caller::system();
    let device = "cxl-dev-001";
    let shown = |plane: &ControlPlane| {
        let devices = plane.devices.clone();
        async move { devices.get(device).await.unwrap().attestation_ticket }
    };
    assert_eq!(shown(&plane).await, None, "no ticket is invented");
    let a = plane
        .attestation
        .attest_device(&system, request(device, "a1a2a3a4a5a6a7a8"))
        .await
        .unwrap();
    assert_eq!(a.verdict, AttestationVerdict::Affirming, "{a:#?}");
    let within = std::time::Duration::from_secs(5);
    let deadline = std::time::Instant::now() + within;
    while shown(&plane).await.as_deref() != Some(a.id.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "inventory never showed {}",
            a.id
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let revoked = plane
        .attestation
        .revoke(
            &system,
            &a.id,
            RevokeRequest {
                reason: "vendor key compromised".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked.as_deref(), Some("vendor key compromised"));
    let v = plane
        .attestation
        .verify_ticket(&system, &a.ticket_id)
        .await
        .unwrap();
    assert!(!v.valid);
    assert!(
        v.reason
            .as_deref()
            .unwrap_or("")
            .contains("vendor key compromised"),
        "{v:#?}"
    );
    assert!(
        plane
            .attestation
            .current_ticket(device)
            .await
            .unwrap()
            .is_none()
    );
    let deadline = std::time::Instant::now() + within;
    while shown(&plane).await.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "inventory kept the revoked ticket"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A second revocation keeps the first reason.
    let again = plane
        .attestation
        .revoke(
            &system,
            &a.id,
            RevokeRequest {
                reason: "other".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(again.revoked.as_deref(), Some("vendor key compromised"));
}

/// A bundle records the attestations that vouched for the CXL devices
/// holding it when it was placed; before attestation it records none.
#[tokio::test]
async fn bundles_record_the_attestations_of_the_devices_they_sit_on() {
    use corridor_model::ffm::{FfmAllocRequest, LatencyClass, Persistence};
    use corridor_model::units::{Bytes, GigabytesPerSecond};

    let (plane, _dir) = control_plane().await;
    let system = Caller::system();
    let request = FfmAllocRequest {
        bytes: Bytes(1 << 20),
        latency_class: LatencyClass::T2,
        bandwidth_floor_gbs: GigabytesPerSecond(1.0),
        persistence: Persistence::None,
        shareable: true,
        security_domain: "tenantA".into(),
        host: None,
        policy_lease_ttl_s: None,
        labels: Default::default(),
    };
    let before = plane
        .ffm
        .create(&system, request.clone())
        .await
        .unwrap()
        .bundle;
    assert!(before.attestations.is_empty(), "{before:#?}");

    plane
        .attestation
        .attest_due(std::time::Duration::from_secs(3600))
        .await;
    let after = plane.ffm.create(&system, request).await.unwrap().bundle;
    assert!(!after.attestations.is_empty(), "{after:#?}");
    for part in &after.placement {
        let current = plane.attestation.current_ticket(&part.node).await.unwrap();
        if let Some(current) = current {
            assert!(after.attestations.contains(&current.id), "{after:#?}");
        }
    }
}

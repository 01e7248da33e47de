//! The device inventory learns the twin's fabric through FM API, as it
//! would from real switches: a device unplugged from its switch twin goes
//! offline (keeping when it was last seen), comes back active when it is
//! plugged in again, and reports the firmware its Get FW Info answered.

use std::sync::Arc;

use corridor_hal::fabric::wire_serial;
use corridor_hal::{Clock, ManualClock, Topology};
use corridor_model::fabric::DeviceStatus;
use corridor_services::ControlPlane;
use corridor_store::{RedbOptions, RedbStore, StateStore};

/// A redb store in `dir`, the default twin and a manual clock at its start.
fn fresh(dir: &std::path::Path) -> (Arc<dyn StateStore>, Topology, Arc<ManualClock>) {
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Topology::default_twin();
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    (store, topology, clock)
}

#[tokio::test]
async fn devices_follow_what_the_switches_answer_over_fm_api() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let plane = ControlPlane::start(store, Arc::new(topology.clone()), clock.clone())
        .await
        .unwrap();
    let fabric = plane
        .fabric
        .clone()
        .expect("the twin's switches answer FM API");

    // Every device of the topology answered Identify through its switch.
    for device in topology.cxl_devices() {
        let record = plane.devices.get(device.id.as_str()).await.unwrap();
        assert_eq!(
            record.status,
            DeviceStatus::Active,
            "{}",
            device.id.as_str()
        );
        assert_eq!(record.last_seen, Some(clock.now()));
        assert!(!record.firmware_version.is_empty());
    }

    // Unplug the first device from its switch port.
    let device = &topology.cxl_devices()[0];
    let id = device.id.as_str();
    let seen = plane.devices.get(id).await.unwrap().last_seen;
    fabric
        .faults()
        .unplug(device.switch.as_str(), device.port)
        .unwrap();
    clock.advance(std::time::Duration::from_secs(30));
    plane.inventory.observe().await.unwrap();
    let gone = plane.devices.get(id).await.unwrap();
    assert_eq!(gone.status, DeviceStatus::Offline);
    assert_eq!(gone.last_seen, seen, "offline keeps when it was last seen");
    let other = topology.cxl_devices()[1].id.as_str();
    assert_eq!(
        plane.devices.get(other).await.unwrap().status,
        DeviceStatus::Active
    );

    // Hot-plug it back: active, seen now.
    fabric
        .faults()
        .plug(device.switch.as_str(), device.port, device)
        .unwrap();
    clock.advance(std::time::Duration::from_secs(30));
    plane.inventory.observe().await.unwrap();
    let back = plane.devices.get(id).await.unwrap();
    assert_eq!(back.status, DeviceStatus::Active);
    assert_eq!(back.last_seen, Some(clock.now()));

    // The serial on the wire is the topology's, as the twin encodes it.
    let snapshot = corridor_hal::fabric::Discovery::new(
        fabric.endpoints(),
        corridor_services::control_plane::FM_API_TIMEOUT,
    )
    .scan(clock.now());
    assert!(
        snapshot
            .devices
            .iter()
            .any(|d| d.serial_number == wire_serial(&device.serial_number))
    );
}

/// A device unplugged from its switch loses its ticket (revoked, naming why) and is not
/// attested while away; plugged back in, it is attested afresh at once — not trusted on
/// the ticket it had before it left.
#[tokio::test]
async fn a_device_that_leaves_loses_its_ticket_and_is_attested_again_when_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let plane = ControlPlane::start(store, Arc::new(topology.clone()), clock.clone())
        .await
        .unwrap();
    let fabric = plane.fabric.clone().expect("switch twins");
    let device = &topology.cxl_devices()[0];
    let id = device.id.as_str();
    // attestd attests unasked (as corridord does without --attest-on-request).
    let attesting = plane.attestation.spawn_attestation_loop();
    let first = loop {
        if let Some(a) = plane.attestation.current_ticket(id).await.unwrap() {
            break a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    plane.inventory.observe().await.unwrap();
    assert_eq!(
        plane.devices.get(id).await.unwrap().attestation_ticket,
        Some(first.id.clone())
    );

    fabric
        .faults()
        .unplug(device.switch.as_str(), device.port)
        .unwrap();
    clock.advance(std::time::Duration::from_secs(30));
    plane.inventory.observe().await.unwrap();
    let gone = plane.devices.get(id).await.unwrap();
    assert_eq!(gone.status, DeviceStatus::Offline);
    assert_eq!(gone.attestation_ticket, None);
    let revoked = plane.attestation.newest(id).await.unwrap().unwrap();
    assert_eq!(revoked.id, first.id, "nothing attested it while away");
    assert!(
        revoked
            .revoked
            .as_deref()
            .is_some_and(|why| why.contains("left the fabric")),
        "{revoked:?}"
    );
    assert!(
        plane
            .attestation
            .current_ticket(id)
            .await
            .unwrap()
            .is_none()
    );
    // A renewal pass leaves the absent device alone.
    plane
        .attestation
        .attest_due(corridor_services::attestation::REATTEST_MARGIN)
        .await;
    assert_eq!(
        plane.attestation.newest(id).await.unwrap().unwrap().id,
        first.id
    );

    fabric
        .faults()
        .plug(device.switch.as_str(), device.port, device)
        .unwrap();
    clock.advance(std::time::Duration::from_secs(30));
    plane.inventory.observe().await.unwrap();
    let fresh = plane.attestation.current_ticket(id).await.unwrap().unwrap();
    assert_ne!(
        fresh.id, first.id,
        "attested again, not trusted on the old ticket"
    );
    assert!(fresh.revoked.is_none());
    plane.inventory.observe().await.unwrap();
    let back = plane.devices.get(id).await.unwrap();
    assert_eq!(back.status, DeviceStatus::Active);
    assert_eq!(back.attestation_ticket, Some(fresh.id));
    attesting.abort();
    let _ = attesting.await;
    plane.inventory.stop().await;
}

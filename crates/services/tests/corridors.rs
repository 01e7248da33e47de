//! The corridor service against a real redb store and the default twin,
//! with a manual clock.

use corridor_services::error::ToProblem;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use corridor_hal::topology::Medium;
use corridor_hal::{Clock, ManualClock, Topology};
use corridor_model::corridor::{
    CorridorMode, CorridorRequest, CorridorStatus, EyeMargin, QosPriority, TwinFaultKind,
    TwinFaultRequest,
};
use corridor_model::json::from_slice_strict;
use corridor_physics::Fec;
use corridor_pki::Principal;
use corridor_protocols::cmis::{LaneCapability, LaneModulation};
use corridor_services::corridors::CorridorService;
use corridor_services::corridors::ledger::LEDGER_PREFIX;
use corridor_services::corridors::{CorridorError, reconcile};
use corridor_services::operations::Operations;
use corridor_services::{Caller, ControlPlane, ListOptions, Registry};
use corridor_store::{RangeRequest, RedbOptions, RedbStore, StateStore};

/// A redb store in `dir`, the default twin and a manual clock at its start.
fn fresh(dir: &std::path::Path) -> (Arc<dyn StateStore>, Topology, Arc<ManualClock>) {
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Topology::default_twin();
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    (store, topology, clock)
}

fn rfc_request() -> CorridorRequest {
    from_slice_strict(corridor_model::rfc_examples::CORRIDOR_REQUEST.as_bytes()).unwrap()
}

fn request(lambdas: &[f64], priority: QosPriority) -> CorridorRequest {
    let mut r = rfc_request();
    r.attestation_required = false;
    r.lanes = lambdas.len() as u32;
    r.lambda_nm = lambdas
        .iter()
        .map(|&l| corridor_model::units::Nanometers(l))
        .collect();
    r.min_gbps = corridor_model::units::Gbps(50.0 * lambdas.len() as f64);
    r.qos.priority = priority;
    // Lossless (pfc) is for corridors that are never pre-empted.
    r.qos.pfc = priority != QosPriority::Bronze;
    r
}

/// The control plane acting for itself: sees and owns everything.
fn system() -> Caller {
    Caller::system()
}

fn tenant(name: &str) -> Caller {
    Caller::new(Principal::domain(name).unwrap())
}

async fn plane_in(dir: &std::path::Path) -> (ControlPlane, Arc<ManualClock>) {
    let (store, topology, clock) = fresh(dir);
    let plane = ControlPlane::start(store, Arc::new(topology), clock.clone())
        .await
        .unwrap();
    (plane, clock)
}

/// One corrd on `store`, driving `optics`, as one replica (or one run of a
/// restarted process) would: its own planning cache, the shared store.
async fn corrd_on(
    store: &Arc<dyn StateStore>,
    topology: &Topology,
    optics: Arc<dyn corridor_hal::OpticalPlant>,
    clock: &Arc<ManualClock>,
) -> CorridorService {
    let operations = Operations::new(Registry::new(Arc::clone(store)), clock.clone());
    CorridorService::start(
        Arc::clone(store),
        topology,
        optics,
        clock.clone(),
        operations,
    )
    .await
    .unwrap()
}

/// A fresh twin of `topology`.
fn twin(topology: &Topology) -> Arc<dyn corridor_hal::OpticalPlant> {
    Arc::new(corridor_hal::TwinOptics::new(topology).unwrap())
}

/// Every ledger key with its holder, and a check that every live corridor
/// holds exactly the keys its record names.
async fn ledger(plane: &ControlPlane) -> HashMap<String, String> {
    let response = plane
        .store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap();
    response
        .kvs
        .iter()
        .map(|kv| {
            let v: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
            (kv.key.clone(), v["corridor"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// No (link, channel) and no (port, lane) is held by two live corridors,
/// judged from the corridor objects themselves.
async fn assert_no_double_grant(plane: &ControlPlane) {
    let corridors = plane.corridors.list_all().await.unwrap();
    let mut seen: HashMap<String, String> = HashMap::new();
    let keys = ledger(plane).await;
    for c in corridors
        .iter()
        .filter(|c| c.status != CorridorStatus::Released)
    {
        for key in corridor_services::corridors::grant::keys_of(plane.corridors.fabric(), c) {
            if let Some(other) = seen.insert(key.clone(), c.id.clone()) {
                panic!("{key} granted to both {other} and {}", c.id);
            }
            assert_eq!(keys.get(&key), Some(&c.id), "ledger disagrees on {key}");
        }
    }
    assert_eq!(seen.len(), keys.len(), "orphan ledger keys");
}

#[tokio::test]
async fn the_rfc_request_is_granted_and_held_for_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let c = plane
        .corridors
        .create(&tenant("tenantA"), rfc_request())
        .await
        .unwrap();
    assert_eq!(c.lanes, 8);
    assert_eq!(c.hops, 1);
    assert_eq!(c.channels.len(), 8);
    assert!(c.achievable_gbps.get() >= 400.0, "{}", c.achievable_gbps);
    // No device is attested yet: capacity held, activation held.
    assert_eq!(c.status, CorridorStatus::Provisioning);
    let held = c.meta.condition("Attested").unwrap();
    assert_eq!(held.reason, "AttestationPending");
    assert!(
        held.message.contains("not attested yet"),
        "{}",
        held.message
    );
    assert_eq!(c.security_domain.as_deref(), Some("tenantA"));
    // Each requested wavelength is reported with the grid channel it was
    // snapped to: 1550 nm is n = 3 of the 100 GHz grid, 193.4 THz.
    assert_eq!(c.assigned_lambda_nm.len(), 8);
    assert!(
        (c.assigned_lambda_nm[0].0 - 299_792_458.0 / 193.4e12 * 1e9).abs() < 1e-9,
        "{:?}",
        c.assigned_lambda_nm
    );
    for (asked, got) in c.lambda_nm.iter().zip(&c.assigned_lambda_nm) {
        // Within half a 100 GHz channel (≈ 0.4 nm at 1550 nm).
        assert!((asked.0 - got.0).abs() < 0.41, "{asked:?} -> {got:?}");
    }
    // No lease asked for: the server default applies, shown on the object.
    assert_eq!(c.policy_lease_ttl_s.map(|s| s.get()), Some(3600));
    assert_eq!(
        c.meta.lease_expires_at,
        Some(c.created_at + chrono::TimeDelta::seconds(3600))
    );
    // 8 channel keys on one link + 8 lanes on each of 2 ports.
    assert_eq!(ledger(&plane).await.len(), 24);
    assert_no_double_grant(&plane).await;
}

#[tokio::test]
async fn an_unattested_corridor_goes_active_with_telemetry_from_cmis() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, clock) = plane_in(dir.path()).await;
    let c = plane
        .corridors
        .create(&system(), request(&[1550.0, 1551.0], QosPriority::Silver))
        .await
        .unwrap();
    assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
    assert_eq!(c.eye_margin, EyeMargin::Ok);
    assert!(c.ber < 1e-5, "{}", c.ber);
    // A healthy, unchanged corridor is not rewritten by the reconciler.
    let report = reconcile::reconcile_once(&plane.corridors).await.unwrap();
    assert_eq!(report.checked, 1);
    assert!(report.degraded.is_empty(), "{report:?}");
    let same = plane.corridors.get(&system(), &c.id).await.unwrap();
    assert_eq!(same.meta.resource_version, c.meta.resource_version);
    let t0 = plane.corridors.telemetry(&system(), &c.id).await.unwrap();
    assert_eq!(t0.lanes.len(), 2);
    assert!(t0.temp_c.get() > 20.0 && t0.temp_c.get() < 60.0);
    clock.advance(Duration::from_secs(6 * 3600));
    let t1 = plane.corridors.telemetry(&system(), &c.id).await.unwrap();
    // Six simulated hours of the diurnal profile move the module.
    assert_ne!(t0.temp_c, t1.temp_c);
    assert!(t1.power_pj_per_bit.get() > 0.0);
}

#[tokio::test]
async fn off_grid_wavelengths_are_refused_naming_the_lane() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    match plane
        .corridors
        .create(&system(), request(&[1550.0, 1530.0], QosPriority::Silver))
        .await
    {
        Err(CorridorError::Lambda { index: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// Replays the store's whole history and fails if a ledger key (a
/// (link, channel) or a (port, module lane)) was ever written for one
/// corridor while another held it: the no-double-grant property over every
/// revision, not only the final state. Without pre-emption (no gold
/// request) a key only ever changes hands through its deletion.
async fn assert_history_has_no_double_grant(store: &Arc<dyn StateStore>) -> usize {
    use futures::StreamExt;
    let end = store.current_revision().await.unwrap();
    let mut history = store.watch("/", 1).await.unwrap();
    let mut grants = 0;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), history.next())
        .await
        .expect("the history replays")
    {
        let event = event.unwrap();
        if event.kv.key.starts_with(LEDGER_PREFIX) && !event.kv.value.is_empty() {
            let holder = |value: &[u8]| -> String {
                let v: serde_json::Value = serde_json::from_slice(value).unwrap();
                v["corridor"].as_str().unwrap().to_owned()
            };
            let now = holder(&event.kv.value);
            if let Some(prev) = &event.prev_kv {
                let before = holder(&prev.value);
                assert_eq!(
                    before,
                    now,
                    "{} granted to {now} at revision {} while {before} held it",
                    event.kv.key,
                    event.revision()
                );
            } else {
                grants += 1;
            }
        }
        if event.revision() >= end {
            break;
        }
    }
    grants
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_grants_on_two_services_never_share_a_wavelength() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    // Two corrds on one store, as two replicas would be: each plans on its
    // own cache, so they race on the store's compare-and-swap and the loser
    // replans.
    let mut services = Vec::new();
    for _ in 0..2 {
        services.push(Arc::new(
            corrd_on(&store, &topology, twin(&topology), &clock).await,
        ));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let service = Arc::clone(&services[i % 2]);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            // Everyone wants 1550 nm on one lane, without endpoints and with
            // a reach every link meets: each link carries one of them. Half
            // ask for fibre, half for waveguides, so every link is wanted.
            let mut r = request(&[1550.0], QosPriority::Silver);
            if (i / 2) % 2 == 0 {
                r.mode = CorridorMode::Fiber;
            }
            r.reach_mm = corridor_model::units::Millimeters(5000.0);
            r.latency_budget_ns = corridor_model::units::Nanoseconds(1000);
            r.min_gbps = corridor_model::units::Gbps(20.0);
            barrier.wait().await;
            service.create(&system(), r).await
        }));
    }
    let mut granted = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => granted.push(c),
            Err(CorridorError::InsufficientCapacity(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    // Every link carries 1550 nm exactly once: all of them granted, none
    // twice, whichever replica won each race.
    let links = services[0].fabric().links.len();
    assert_eq!(
        granted.len(),
        links,
        "{} grants on {links} links",
        granted.len()
    );
    let mut paths: Vec<&String> = granted.iter().map(|c| &c.path[0]).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), links, "two grants share a link");
    let grants = assert_history_has_no_double_grant(&store).await;
    assert!(grants >= links, "{grants} ledger grants replayed");
}

#[tokio::test]
async fn a_restart_rebuilds_occupancy_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let (plane, _) = plane_in(dir.path()).await;
        let c = plane
            .corridors
            .create(&system(), request(&[1550.0], QosPriority::Silver))
            .await
            .unwrap();
        let cache = plane.corridors.cache_snapshot();
        assert_eq!(cache.holdings.len(), 1);
        c
    };
    let (plane, _) = plane_in(dir.path()).await;
    let cache = plane.corridors.cache_snapshot();
    assert!(cache.holdings.contains_key(&first.id));
    // The same wavelength with the same endpoints cannot be granted again.
    let mut again = request(&[1550.0], QosPriority::Silver);
    again.endpoints = first.assignment.as_ref().map(|a| a.ports.clone());
    match plane.corridors.create(&system(), again).await {
        Err(CorridorError::InsufficientCapacity(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_no_double_grant(&plane).await;
    plane
        .corridors
        .delete(&system(), &first.id, None)
        .await
        .unwrap();
    assert!(ledger(&plane).await.is_empty());
}

#[tokio::test]
async fn gold_preempts_bronze_and_the_bronze_owner_sees_why() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let mut bronze = request(&[1550.0], QosPriority::Bronze);
    bronze.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    let bronze = plane.corridors.create(&system(), bronze).await.unwrap();
    let mut gold = request(&[1550.0], QosPriority::Gold);
    gold.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    let gold = plane.corridors.create(&system(), gold).await.unwrap();
    let seen = plane.corridors.get(&system(), &bronze.id).await.unwrap();
    assert_eq!(seen.status, CorridorStatus::Released);
    let why = seen.meta.condition("Preempted").unwrap();
    assert_eq!(why.reason, "PreemptedByGold");
    assert!(why.message.contains(&gold.id));
    assert_no_double_grant(&plane).await;
    // Silver is not pre-emptible.
    let mut silver = request(&[1551.0], QosPriority::Silver);
    silver.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    plane.corridors.create(&system(), silver).await.unwrap();
    let mut gold2 = request(&[1551.0], QosPriority::Gold);
    gold2.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    assert!(matches!(
        plane.corridors.create(&system(), gold2).await,
        Err(CorridorError::InsufficientCapacity(_))
    ));
}

#[tokio::test]
async fn the_reconciler_repairs_a_temperature_step_and_reroutes_around_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, clock) = plane_in(dir.path()).await;
    let mut r = request(&[1550.0, 1551.0], QosPriority::Silver);
    r.reach_mm = corridor_model::units::Millimeters(75.0);
    let c = plane.corridors.create(&system(), r).await.unwrap();
    assert_eq!(c.status, CorridorStatus::Active);
    let a = c.assignment.clone().unwrap();

    // A 25 °C step on one end: the lasers' TEC residual walks them more
    // than a quarter of the 100 GHz spacing off their channels; a re-tune
    // at the new temperature re-centres them.
    plane
        .corridors
        .inject_fault(&TwinFaultRequest {
            port: Some(a.ports[1].clone()),
            link: None,
            fault: TwinFaultKind::TemperatureStep { celsius: 25.0 },
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let report = reconcile::reconcile_once(&plane.corridors).await.unwrap();
    assert_eq!(report.checked, 1);
    assert_eq!(report.degraded, vec![c.id.clone()], "{report:?}");
    assert_eq!(report.repaired, vec![c.id.clone()], "{report:?}");
    let after = plane.corridors.get(&system(), &c.id).await.unwrap();
    assert_eq!(
        after.status,
        CorridorStatus::Active,
        "{report:?} {after:#?}"
    );

    // Cut the link: nothing on it can recover; the corridor has no pinned
    // endpoints, so it moves to another pair within reach.
    plane
        .corridors
        .inject_fault(&TwinFaultRequest {
            port: None,
            link: Some(c.path[0].clone()),
            fault: TwinFaultKind::LinkCut { cut: true },
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let report = reconcile::reconcile_once(&plane.corridors).await.unwrap();
    assert_eq!(report.degraded, vec![c.id.clone()], "{report:?}");
    assert_eq!(report.repaired, vec![c.id.clone()], "{report:?}");
    let moved = plane.corridors.get(&system(), &c.id).await.unwrap();
    assert_ne!(moved.path, c.path);
    assert_eq!(moved.status, CorridorStatus::Active, "{moved:#?}");
    assert_eq!(moved.meta.condition("Repaired").unwrap().reason, "Rerouted");
    assert_no_double_grant(&plane).await;
}

/// HELIOPASS as corrd sees it, calibrating every port while told to.
#[derive(Debug, Default)]
struct Calibrating(std::sync::atomic::AtomicBool);

impl corridor_services::corridors::tuning::LaneTuning for Calibrating {
    fn tuning(
        &self,
        _: &[String],
        _: &[u8],
    ) -> Option<corridor_services::corridors::tuning::TuningState> {
        None
    }

    fn catch_up(&self, _: chrono::DateTime<chrono::Utc>) {}

    fn calibrating(&self, _: &[String]) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn ring_lock(
        &self,
        _: &[String],
        _: &[u8],
    ) -> corridor_services::corridors::tuning::RingLockView {
        corridor_services::corridors::tuning::RingLockView::NotTracked
    }
}

/// A calibration sweeps the rings across the lane on purpose: what a reading shows then
/// is judged after it, not "repaired" under it; once it is over, the same fault is.
#[tokio::test]
async fn a_reading_taken_while_heliopass_calibrates_is_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let corrd = corrd_on(&store, &topology, twin(&topology), &clock).await;
    let calibrating = Arc::new(Calibrating(std::sync::atomic::AtomicBool::new(true)));
    let tuning: Arc<dyn corridor_services::corridors::tuning::LaneTuning> = calibrating.clone();
    corrd.attach_tuning(&tuning);
    let mut r = request(&[1550.0, 1551.0], QosPriority::Silver);
    r.reach_mm = corridor_model::units::Millimeters(75.0);
    let c = corrd.create(&system(), r).await.unwrap();
    let a = c.assignment.clone().unwrap();
    corrd
        .inject_fault(&TwinFaultRequest {
            port: Some(a.ports[1].clone()),
            link: None,
            fault: TwinFaultKind::TemperatureStep { celsius: 25.0 },
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let report = reconcile::reconcile_once(&corrd).await.unwrap();
    assert_eq!(report.deferred, vec![c.id.clone()], "{report:?}");
    assert!(report.repaired.is_empty(), "{report:?}");
    let seen = corrd.get(&system(), &c.id).await.unwrap();
    assert!(seen.meta.condition("Repaired").is_none(), "{seen:#?}");

    calibrating
        .0
        .store(false, std::sync::atomic::Ordering::SeqCst);
    clock.advance(Duration::from_secs(1));
    let report = reconcile::reconcile_once(&corrd).await.unwrap();
    assert!(report.deferred.is_empty(), "{report:?}");
    assert_eq!(report.repaired, vec![c.id.clone()], "{report:?}");
}

#[tokio::test]
async fn a_pinned_corridor_that_cannot_be_repaired_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, clock) = plane_in(dir.path()).await;
    let mut r = request(&[1550.0], QosPriority::Gold);
    r.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    let c = plane.corridors.create(&system(), r).await.unwrap();
    assert_eq!(c.status, CorridorStatus::Active);
    // Rings frozen 0.2 nm off the line: re-tune and re-lock cannot move a
    // frozen heater loop, and the endpoints are pinned.
    plane
        .corridors
        .inject_fault(&TwinFaultRequest {
            port: Some("op-h1-0".into()),
            link: None,
            fault: TwinFaultKind::RingDetuning {
                lane: None,
                nm: 0.2,
            },
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let report = reconcile::reconcile_once(&plane.corridors).await.unwrap();
    assert_eq!(report.unrepaired, vec![c.id.clone()], "{report:?}");
    let seen = plane.corridors.get(&system(), &c.id).await.unwrap();
    assert_eq!(seen.status, CorridorStatus::Degraded);
    assert_ne!(seen.eye_margin, EyeMargin::Ok);
    let repaired = seen.meta.condition("Repaired").unwrap();
    assert_eq!(repaired.reason, "RepairFailed");
    assert_eq!(
        seen.meta.condition("Healthy").unwrap().reason,
        "BerAboveThreshold"
    );
    // Telemetry reports the bad lane from the CMIS read-back.
    let t = plane
        .corridors
        .telemetry(&system(), &seen.id)
        .await
        .unwrap();
    // The eye fails on the pre-FEC BER; `ber` is what is left after FEC.
    assert!(t.pre_fec_ber.unwrap() > 1e-5, "{t:?}");
    assert!(t.ber <= t.pre_fec_ber.unwrap(), "{t:?}");
}

#[tokio::test]
async fn an_expired_lease_frees_the_capacity_and_the_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let mut r = request(&[1550.0], QosPriority::Silver);
    r.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    r.policy_lease_ttl_s = Some(corridor_model::units::Seconds(1));
    let c = plane.corridors.create(&system(), r.clone()).await.unwrap();
    assert!(c.meta.lease_expires_at.is_some());
    assert_eq!(c.status, CorridorStatus::Active);
    let renewed = plane.corridors.renew_lease(&system(), &c.id).await.unwrap();
    assert!(renewed.meta.lease_expires_at >= c.meta.lease_expires_at);
    // Store leases run on the wall clock: wait for the store to expire it
    // (no timing is asserted, only the outcome).
    let mut gone = false;
    for _ in 0..200 {
        if plane.corridors.get(&system(), &c.id).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the lease never expired");
    assert!(
        ledger(&plane).await.is_empty(),
        "ledger keys share the lease"
    );
    // The same wavelength on the same ports can be granted again, before
    // the reconciler has taken the expired corridor's lanes down...
    r.policy_lease_ttl_s = None;
    let again = plane.corridors.create(&system(), r).await.unwrap();
    assert_eq!(again.status, CorridorStatus::Active);
    assert_eq!(again.assignment, c.assignment, "the very same lanes");
    // ...and taking them down for the expired one leaves the new one lit.
    let report = reconcile::reconcile_once(&plane.corridors).await.unwrap();
    assert_eq!(report.released, vec![c.id.clone()]);
    assert!(report.degraded.is_empty(), "{report:?}");
    assert_eq!(plane.corridors.lit(), vec![again.id.clone()]);
    assert_no_double_grant(&plane).await;
}

#[tokio::test]
async fn a_grant_is_one_store_write_holding_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let c = plane
        .corridors
        .create(&system(), request(&[1550.0, 1551.0], QosPriority::Silver))
        .await
        .unwrap();
    assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
    // The object was written once, already lit and read back, in the
    // same transaction as every ledger key; that revision is its version.
    let key = Registry::<corridor_model::corridor::Corridor>::key(&c.id);
    let kv = plane.store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        kv.create_revision, kv.mod_revision,
        "written again after the grant"
    );
    assert_eq!(c.meta.resource_version, kv.mod_revision.to_string());
    let stored: corridor_model::corridor::Corridor = serde_json::from_slice(&kv.value).unwrap();
    assert_eq!(stored.status, CorridorStatus::Active);
    let keys = plane
        .store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap();
    assert_eq!(
        keys.kvs.len(),
        2 + 2 * 2,
        "2 channels on 1 link, 2 lanes on 2 ports"
    );
    assert!(keys.kvs.iter().all(|k| k.mod_revision == kv.mod_revision));
}

#[tokio::test]
async fn two_services_on_one_store_replan_after_losing_a_race() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let a = corrd_on(&store, &topology, twin(&topology), &clock).await;
    let b = corrd_on(&store, &topology, twin(&topology), &clock).await;
    // B's cache knows nothing of what A grants: B plans onto it, loses the
    // transaction's compares, refreshes and plans again.
    let mut pinned = request(&[1550.0], QosPriority::Silver);
    pinned.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    a.create(&system(), pinned.clone()).await.unwrap();
    match b.create(&system(), pinned).await {
        Err(CorridorError::InsufficientCapacity(_)) => {}
        other => panic!("{other:?}"),
    }
    let mut free = request(&[1551.0], QosPriority::Silver);
    free.reach_mm = corridor_model::units::Millimeters(5000.0);
    free.latency_budget_ns = corridor_model::units::Nanoseconds(1000);
    free.min_gbps = corridor_model::units::Gbps(20.0);
    let first = a.create(&system(), free.clone()).await.unwrap();
    let second = b.create(&system(), free).await.unwrap();
    assert_ne!(first.path, second.path, "B replanned onto another link");
    let mut seen = HashMap::new();
    for c in a.list_all().await.unwrap() {
        for key in corridor_services::corridors::grant::keys_of(a.fabric(), &c) {
            assert!(
                seen.insert(key.clone(), c.id.clone()).is_none(),
                "{key} twice"
            );
        }
    }
    assert_eq!(seen.len(), 3 * (1 + 2));
}

#[tokio::test]
async fn refusals_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    // Nine lanes: no port's module has them; waiting cannot help.
    let nine: Vec<f64> = (1550..=1558).map(f64::from).collect();
    match plane
        .corridors
        .create(&system(), request(&nine, QosPriority::Silver))
        .await
    {
        Err(CorridorError::ExceedsPortLanes { lanes: 9, .. }) => {}
        other => panic!("{other:?}"),
    }
    // A reach shorter than every link: no path, whatever is held.
    let mut short = request(&[1550.0], QosPriority::Silver);
    short.reach_mm = corridor_model::units::Millimeters(0.5);
    match plane.corridors.create(&system(), short).await {
        Err(e @ CorridorError::NoFeasiblePath(_)) => {
            assert_eq!(e.to_problem().reason.as_deref(), Some("NoFeasiblePath"));
            assert!(e.to_string().contains("reach"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A pre-empted corridor holds no lanes: its telemetry says so rather
    // than reading lanes that are now the gold corridor's.
    let mut bronze = request(&[1550.0], QosPriority::Bronze);
    bronze.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    let bronze = plane.corridors.create(&system(), bronze).await.unwrap();
    let mut gold = request(&[1550.0], QosPriority::Gold);
    gold.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    plane.corridors.create(&system(), gold).await.unwrap();
    match plane.corridors.telemetry(&system(), &bronze.id).await {
        Err(e @ CorridorError::NotLit { .. }) => {
            assert_eq!(e.to_problem().reason.as_deref(), Some("NotLit"));
            assert!(e.to_string().contains("released"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_domain_sees_its_own_corridors_in_full_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let mut theirs = Vec::new();
    for (i, lambda) in [1550.0, 1551.0, 1552.0, 1553.0, 1554.0, 1555.0]
        .into_iter()
        .enumerate()
    {
        let owner = if i % 2 == 0 { "tenantA" } else { "tenantB" };
        let mut r = request(&[lambda], QosPriority::Silver);
        r.reach_mm = corridor_model::units::Millimeters(5000.0);
        r.latency_budget_ns = corridor_model::units::Nanoseconds(1000);
        r.min_gbps = corridor_model::units::Gbps(20.0);
        let c = plane.corridors.create(&tenant(owner), r).await.unwrap();
        assert_eq!(c.security_domain.as_deref(), Some(owner));
        if owner == "tenantB" {
            theirs.push(c.id);
        }
    }
    let a = tenant("tenantA");
    let mut options = ListOptions {
        limit: Some(1),
        ..ListOptions::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = plane.corridors.list(&a, &options).await.unwrap();
        // Filtered before paging: a page is never short while more follow.
        assert_eq!(page.items.len(), 1, "{:?}", page.items);
        seen.extend(page.items);
        match page.continue_token {
            Some(token) => options.continue_token = Some(token),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|c| c.security_domain.as_deref() == Some("tenantA"))
    );
    // Another domain's corridor is reported exactly like a missing one.
    for id in [theirs[0].as_str(), "cor-000000000000"] {
        for result in [
            plane.corridors.get(&a, id).await.map(|_| ()),
            plane.corridors.telemetry(&a, id).await.map(|_| ()),
            plane.corridors.renew_lease(&a, id).await.map(|_| ()),
            plane.corridors.delete(&a, id, None).await.map(|_| ()),
        ] {
            match result {
                Err(CorridorError::Service(corridor_services::ServiceError::NotFound {
                    ..
                })) => {}
                other => panic!("{id}: {other:?}"),
            }
        }
    }
    assert!(plane.corridors.get(&system(), &theirs[0]).await.is_ok());
}

#[tokio::test]
async fn refused_faults_name_the_field_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _clock) = plane_in(dir.path()).await;
    let cases = [
        (
            Some("op-h0-0"),
            None,
            TwinFaultKind::LaserAgeing {
                lane: Some(9),
                db: 3.0,
            },
            "/fault/lane",
        ),
        (
            Some("op-h0-0"),
            None,
            TwinFaultKind::RingDetuning {
                lane: Some(0),
                nm: 0.1,
            },
            "/fault/lane",
        ),
        (Some("op-nowhere"), None, TwinFaultKind::Clear, "/port"),
        (
            Some("op-nowhere"),
            None,
            TwinFaultKind::TemperatureStep { celsius: 5.0 },
            "/port",
        ),
        (
            None,
            Some("l-nowhere"),
            TwinFaultKind::LinkCut { cut: true },
            "/link",
        ),
    ];
    for (port, link, fault, pointer) in cases {
        let err = plane
            .corridors
            .inject_fault(&TwinFaultRequest {
                port: port.map(str::to_owned),
                link: link.map(str::to_owned),
                fault,
            })
            .await
            .unwrap_err();
        let problem = err.to_problem();
        assert_eq!(problem.status, 422, "{fault:?}: {problem:?}");
        match err {
            corridor_services::corridors::CorridorError::Field { pointer: p, .. } => {
                assert_eq!(p, pointer, "{fault:?}");
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
}

/// The RFC request, unattested so that its lanes light.
fn rfc_lit() -> CorridorRequest {
    let mut r = rfc_request();
    r.attestation_required = false;
    r
}

/// One lane model: the RFC corridor is planned with the lane signal its
/// ports' modules advertise, and both modules run the application (ApSel)
/// that carries exactly that lane.
#[tokio::test]
async fn the_rfc_corridor_runs_the_lane_its_ports_advertise() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let c = plane.corridors.create(&system(), rfc_lit()).await.unwrap();
    assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
    let a = c.assignment.clone().unwrap();
    assert_eq!((a.lane_rate_gbps, a.modulation.as_str()), (53.125, "pam4"));
    let net = 8.0 * a.lane_rate_gbps * 514.0 / 544.0;
    assert!((c.achievable_gbps.get() - net).abs() < 1e-9, "{c:#?}");
    for id in &a.ports {
        let port = plane.corridors.optics().port(id).unwrap();
        let identity = port.identity().unwrap();
        let monitors = port.read_lane_monitors(&a.module_lanes).unwrap();
        for lane in &monitors.lanes {
            let (_, descriptor) = identity
                .applications
                .iter()
                .find(|(ap, _)| *ap == lane.active_ap_sel)
                .unwrap_or_else(|| panic!("{id} lane {}: no active application", lane.lane));
            let cap = LaneCapability::of(lane.active_ap_sel, descriptor).unwrap();
            assert_eq!(
                (cap.media.lane_gbps, cap.media.modulation),
                (a.lane_rate_gbps, LaneModulation::Pam4),
                "{id} lane {}: {}",
                lane.lane,
                cap.describe()
            );
        }
    }
}

/// A request no application of a port's module can carry is a 409 naming
/// the port and its applications: 8 lanes of 400 Gb/s between the 32 Gb/s
/// NRZ fibre ports give at most 241.9 Gb/s.
#[tokio::test]
async fn a_rate_no_port_application_carries_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let mut r = rfc_lit();
    r.mode = CorridorMode::Fiber;
    r.endpoints = Some(["op-h0-2".into(), "op-h2-2".into()]);
    r.reach_mm = corridor_model::units::Millimeters(5000.0);
    r.latency_budget_ns = corridor_model::units::Nanoseconds(1000);
    match plane.corridors.create(&system(), r).await {
        Err(e @ CorridorError::PortApplication { .. }) => {
            let problem = e.to_problem();
            assert_eq!(problem.status, 409);
            assert_eq!(problem.reason.as_deref(), Some("ExceedsPortApplication"));
            let m = e.to_string();
            assert!(m.contains("op-h0-2"), "{m}");
            assert!(
                m.contains("ApSel 1 (corridor DWDM 32G NRZ, 8 × 32 Gb/s NRZ)"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(ledger(&plane).await.is_empty());
}

/// `mode` chooses the medium: without endpoints a corridor lands only on
/// ports (and so links) of its mode's medium, and endpoints of another
/// medium are a 422 on `/mode` with nothing held.
#[tokio::test]
async fn a_corridor_runs_only_on_its_modes_medium() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let topology = Topology::default_twin();
    let medium_of = |port: &str| {
        topology
            .optical_ports()
            .iter()
            .find(|p| p.id.as_str() == port)
            .map(|p| p.medium)
            .unwrap()
    };
    // A fibre corridor the waveguide ports could carry just as well (one
    // 32 G lane fits both), so only `mode` keeps it off them.
    let mut fibre = request(&[1550.0], QosPriority::Gold);
    fibre.mode = CorridorMode::Fiber;
    fibre.min_gbps = corridor_model::units::Gbps(20.0);
    fibre.reach_mm = corridor_model::units::Millimeters(5000.0);
    fibre.latency_budget_ns = corridor_model::units::Nanoseconds(1000);
    let mut waveguide = fibre.clone();
    waveguide.mode = CorridorMode::Waveguide;
    for (r, medium) in [(fibre.clone(), Medium::Fiber), (waveguide, Medium::Sin)] {
        let c = plane.corridors.create(&system(), r).await.unwrap();
        let ports = c.assignment.as_ref().unwrap().ports.clone();
        for port in &ports {
            assert_eq!(medium_of(port), medium, "{c:#?}");
        }
    }
    let held = ledger(&plane).await;
    fibre.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    match plane.corridors.create(&system(), fibre).await {
        Err(e @ CorridorError::Field { .. }) => {
            let problem = e.to_problem();
            assert_eq!(problem.status, 422);
            let m = e.to_string();
            assert!(m.contains("op-h0-0") && m.contains("fiber"), "{m}");
            assert!(format!("{problem:?}").contains("/mode"), "{problem:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger(&plane).await, held, "a refusal holds nothing");
}

/// `ber` is post-FEC everywhere, with the pre-FEC BER beside it; a rate
/// below the CMIS F16 floor is the floor, flagged as an upper bound.
#[tokio::test]
async fn telemetry_ber_is_post_fec_and_floored_at_the_f16_step() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let c = plane.corridors.create(&system(), rfc_lit()).await.unwrap();
    assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
    let t = plane.corridors.telemetry(&system(), &c.id).await.unwrap();
    // Through JSON, as a client reads it.
    let json = serde_json::to_value(&t).unwrap();
    let pre = json["pre_fec_ber"]
        .as_f64()
        .expect("pre_fec_ber is a number");
    assert!((1e-24..2.4e-5).contains(&pre), "{json}");
    let post = Fec::Kp4.post_fec_ber(pre);
    assert!(
        post < 1e-24,
        "healthy KP4 lanes are below the floor: {post}"
    );
    assert_eq!(json["ber"].as_f64(), Some(1e-24), "{json}");
    assert_eq!(
        json["ber_is_upper_bound"],
        serde_json::json!(true),
        "{json}"
    );
    for lane in json["lanes"].as_array().unwrap() {
        assert_eq!(lane["ber"].as_f64(), Some(1e-24), "{lane}");
        assert!(lane["pre_fec_ber"].as_f64().unwrap() >= 1e-24, "{lane}");
    }
    // The corridor object says the same.
    let seen = plane.corridors.get(&system(), &c.id).await.unwrap();
    assert_eq!(seen.ber, 1e-24);
    assert!(seen.ber_is_upper_bound, "{seen:#?}");
    assert!(
        seen.channels.iter().all(|l| l.ber == Some(1e-24)),
        "{seen:#?}"
    );
}

/// One energy model: the telemetry's pJ/b (lasers from their reported
/// bias, Tx, Rx) is the planner's prediction less the ring heaters, which
/// are not read back.
#[tokio::test]
async fn telemetry_energy_matches_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let c = plane.corridors.create(&system(), rfc_lit()).await.unwrap();
    let a = c.assignment.clone().unwrap();
    let t = plane.corridors.telemetry(&system(), &c.id).await.unwrap();
    let tech = corridor_physics::DeviceTechnology::SiCorridor.technology();
    // The plan's heaters: two rings per lane at their bias.
    let tuning = 2.0 * tech.microring().default_bias.0 / a.lane_rate_gbps;
    let planned = a.energy_pj_per_bit - tuning;
    let measured = t.power_pj_per_bit.get();
    assert!(
        (measured - planned).abs() < 0.05 * planned,
        "telemetry {measured} pJ/b vs plan {planned} pJ/b ({} with tuning)",
        a.energy_pj_per_bit
    );
}

#[tokio::test]
async fn metadata_and_leases_read_the_wall_clock_and_physics_the_plant_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Topology::default_twin();
    // The plant runs a day ahead of the wall (as `make run`'s ×60 twin
    // soon does); metadata must not follow it.
    let wall = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    let plant = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    let clocks = corridor_hal::Clocks::new(wall.clone(), plant.clone());
    let plane = ControlPlane::start(store, Arc::new(topology), clocks)
        .await
        .unwrap();
    let mut r = request(&[1550.0], QosPriority::Silver);
    r.policy_lease_ttl_s = Some(corridor_model::units::Seconds(30));
    let c = plane.corridors.create(&system(), r).await.unwrap();
    assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
    assert_eq!(c.meta.updated_at, wall.now());
    assert_eq!(
        c.meta.lease_expires_at,
        Some(wall.now() + chrono::TimeDelta::seconds(30))
    );
    assert!(
        c.meta
            .conditions
            .iter()
            .all(|k| k.last_transition_time == wall.now())
    );
    // Six plant hours move the module's temperature; the wall has not moved.
    let t0 = plane.corridors.telemetry(&system(), &c.id).await.unwrap();
    plant.advance(Duration::from_secs(6 * 3600));
    let t1 = plane.corridors.telemetry(&system(), &c.id).await.unwrap();
    assert_ne!(t0.temp_c, t1.temp_c);
    assert_eq!(t1.observed_at, Some(wall.now()));
    let renewed = plane.corridors.renew_lease(&system(), &c.id).await.unwrap();
    assert_eq!(
        renewed.meta.lease_expires_at,
        Some(wall.now() + chrono::TimeDelta::seconds(30))
    );
}

#[tokio::test]
async fn a_held_corridor_has_no_telemetry_only_its_lane_states() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    let held = plane
        .corridors
        .create(&tenant("tenantA"), rfc_request())
        .await
        .unwrap();
    assert_eq!(held.status, CorridorStatus::Provisioning);
    match plane
        .corridors
        .telemetry(&tenant("tenantA"), &held.id)
        .await
    {
        Err(e @ CorridorError::NotLit { .. }) => {
            assert_eq!(e.to_problem().status, 409);
            assert!(e.to_string().contains("held for attestation"), "{e}");
        }
        other => panic!("a held corridor served telemetry: {other:?}"),
    }
}

#[tokio::test]
async fn a_lit_corridor_with_a_dark_lane_names_it_instead_of_a_ber() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, clock) = plane_in(dir.path()).await;
    let mut r = request(&[1550.0], QosPriority::Gold);
    r.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    let c = plane.corridors.create(&system(), r).await.unwrap();
    assert_eq!(c.status, CorridorStatus::Active);
    plane
        .corridors
        .inject_fault(&TwinFaultRequest {
            port: None,
            link: Some(c.path[0].clone()),
            fault: TwinFaultKind::LinkCut { cut: true },
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    match plane.corridors.telemetry(&system(), &c.id).await {
        Err(e @ CorridorError::NotLit { .. }) => {
            assert!(e.to_string().contains("no light received"), "{e}");
        }
        other => panic!("a cut link served telemetry: {other:?}"),
    }
}

#[tokio::test]
async fn error_counts_are_charged_only_while_lit_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    // The plant outlives the service: a restarted corrd finds the modules
    // still lit, as real modules would be.
    let optics = twin(&topology);
    let first = corrd_on(&store, &topology, Arc::clone(&optics), &clock).await;
    let mut r = request(&[1550.0], QosPriority::Gold);
    r.endpoints = Some(["op-h0-0".into(), "op-h1-0".into()]);
    let c = first.create(&system(), r).await.unwrap();
    // Rings detuned: a pre-FEC BER high enough for post-FEC errors.
    first
        .inject_fault(&TwinFaultRequest {
            port: Some("op-h1-0".into()),
            link: None,
            fault: TwinFaultKind::RingDetuning {
                lane: None,
                nm: 0.1,
            },
        })
        .await
        .unwrap();
    let t0 = first.telemetry(&system(), &c.id).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let t1 = first.telemetry(&system(), &c.id).await.unwrap();
    assert!(t1.error_count > t0.error_count, "{t0:?} then {t1:?}");
    // Cut for an hour: the lanes are dark, nothing is charged for it.
    let path = c.path[0].clone();
    let cut = |cut: bool| TwinFaultRequest {
        port: None,
        link: Some(path.clone()),
        fault: TwinFaultKind::LinkCut { cut },
    };
    first.inject_fault(&cut(true)).await.unwrap();
    reconcile::reconcile_once(&first).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    assert!(first.telemetry(&system(), &c.id).await.is_err());
    first.inject_fault(&cut(false)).await.unwrap();
    let t2 = first.telemetry(&system(), &c.id).await.unwrap();
    assert_eq!(t2.error_count, t1.error_count, "dark time was charged");
    // A restart continues from the stored count.
    drop(first);
    let second = corrd_on(&store, &topology, Arc::clone(&optics), &clock).await;
    let t3 = second.telemetry(&system(), &c.id).await.unwrap();
    assert!(t3.error_count >= t2.error_count, "{t2:?} then {t3:?}");
    // Released: the count goes with the corridor.
    second.delete(&system(), &c.id, None).await.unwrap();
    let left = store
        .range(RangeRequest::prefix("/counters/"))
        .await
        .unwrap();
    assert!(left.kvs.is_empty(), "{:?}", left.kvs);
}

/// A leadership state for [`CorridorService::attach_leadership`]: leading
/// (unfenced, as the sole process) or not. The sender is kept by the test.
fn leadership(
    leading: bool,
) -> (
    tokio::sync::watch::Sender<Option<corridor_services::leadership::Leader>>,
    tokio::sync::watch::Receiver<Option<corridor_services::leadership::Leader>>,
) {
    tokio::sync::watch::channel(
        leading.then_some(corridor_services::leadership::Leader { token: None }),
    )
}

/// Polls `done` every 10 ms for at most `limit` of real time.
async fn within(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test]
async fn a_grant_through_a_follower_is_lit_and_darkened_by_the_leaders_plant() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let leader_plant = twin(&topology);
    let follower_plant = twin(&topology);
    let leader = Arc::new(corrd_on(&store, &topology, Arc::clone(&leader_plant), &clock).await);
    let follower = corrd_on(&store, &topology, Arc::clone(&follower_plant), &clock).await;
    let (_leading, leads) = leadership(true);
    let (follows_tx, follows) = leadership(false);
    leader.attach_leadership(leads);
    follower.attach_leadership(follows);
    assert!(leader.drives_plant() && !follower.drives_plant());
    // A period far beyond the test's waits: only the watch can wake the
    // reconciler after its first pass.
    let reconciler = leader.spawn_reconciler(Duration::from_secs(3600));
    // Its first pass runs at once, on an empty store: let it finish, so
    // the grant below is lit through the watch or not at all.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let granted = follower
        .create(&system(), request(&[1550.0, 1551.0], QosPriority::Silver))
        .await
        .unwrap();
    assert_eq!(granted.status, CorridorStatus::Provisioning, "{granted:#?}");
    let provisioned = granted.meta.condition("Provisioned").unwrap();
    assert_eq!(
        (provisioned.status, provisioned.reason.as_str()),
        (
            corridor_model::meta::ConditionStatus::False,
            "AwaitingPlantOwner"
        )
    );
    let a = granted.assignment.clone().unwrap();
    assert!(follower.lit().is_empty(), "the follower touched its optics");
    let on_follower = corridor_services::corridors::optics::read(&follower_plant, &granted, &a)
        .await
        .unwrap();
    assert!(!on_follower.dark.is_empty(), "lit on the follower's plant");

    let id = granted.id.clone();
    let active = within(Duration::from_secs(10), async || {
        follower
            .get(&system(), &id)
            .await
            .is_ok_and(|c| c.status == CorridorStatus::Active)
    })
    .await;
    assert!(
        active.is_some(),
        "the leader never lit the follower's grant"
    );
    let lit = leader.get(&system(), &id).await.unwrap();
    let provisioned = lit.meta.condition("Provisioned").unwrap();
    assert_eq!(provisioned.reason, "DataPathActivated", "{lit:#?}");
    assert_eq!(leader.lit(), vec![id.clone()]);
    let on_leader = corridor_services::corridors::optics::read(&leader_plant, &lit, &a)
        .await
        .unwrap();
    assert!(
        on_leader.dark.is_empty() && on_leader.all_up,
        "{:?}",
        on_leader.dark
    );
    // Telemetry and physics come from the plant that lit it: the follower,
    // whose own twin is dark there, refuses and points at the leader.
    leader.telemetry(&system(), &id).await.unwrap();
    for refused in [
        follower.telemetry(&system(), &id).await.map(drop),
        follower.physics(&system(), &id).await.map(drop),
    ] {
        let problem = corridor_services::error::ToProblem::to_problem(&refused.unwrap_err());
        assert_eq!(
            (problem.status, problem.reason.as_deref()),
            (409, Some("NotPlantOwner")),
            "{}",
            problem.detail
        );
    }

    follower.delete(&system(), &id, None).await.unwrap();
    assert!(
        ledger_is_empty(&store).await,
        "the release freed the ledger"
    );
    let dark = within(Duration::from_secs(10), async || leader.lit().is_empty()).await;
    assert!(dark.is_some(), "the leader kept the released lanes lit");
    let on_leader = corridor_services::corridors::optics::read(&leader_plant, &lit, &a)
        .await
        .unwrap();
    assert!(
        !on_leader.all_up && !on_leader.dark.is_empty(),
        "lanes still lit on the leader's plant"
    );

    // Once the follower leads, it drives its own plant again: its grants
    // are lit at once.
    follows_tx
        .send(Some(corridor_services::leadership::Leader { token: None }))
        .unwrap();
    let own = follower
        .create(&system(), request(&[1552.0], QosPriority::Silver))
        .await
        .unwrap();
    assert_eq!(own.status, CorridorStatus::Active, "{own:#?}");
    reconciler.stop().await;
}

async fn ledger_is_empty(store: &Arc<dyn StateStore>) -> bool {
    store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap()
        .kvs
        .is_empty()
}

#[tokio::test]
async fn the_leaders_periodic_pass_lights_a_followers_grant_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let leader = corrd_on(&store, &topology, twin(&topology), &clock).await;
    let follower = corrd_on(&store, &topology, twin(&topology), &clock).await;
    let (_follows_tx, follows) = leadership(false);
    follower.attach_leadership(follows);
    let granted = follower
        .create(&system(), request(&[1550.0], QosPriority::Silver))
        .await
        .unwrap();
    assert_eq!(granted.status, CorridorStatus::Provisioning);
    // No watch here: the pass alone finds the grant waiting for the plant.
    let report = reconcile::reconcile_once(&leader).await.unwrap();
    assert_eq!(report.activated, vec![granted.id.clone()], "{report:?}");
    let lit = leader.get(&system(), &granted.id).await.unwrap();
    assert_eq!(lit.status, CorridorStatus::Active, "{lit:#?}");
    // Level-based: the next pass finds nothing left to light.
    let report = reconcile::reconcile_once(&leader).await.unwrap();
    assert!(report.activated.is_empty(), "{report:?}");
    follower.delete(&system(), &granted.id, None).await.unwrap();
    let report = reconcile::reconcile_once(&leader).await.unwrap();
    assert_eq!(report.released, vec![granted.id.clone()], "{report:?}");
    assert!(leader.lit().is_empty());
}

#[tokio::test]
async fn gold_through_a_follower_preempts_bronze_lit_on_the_leaders_plant() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let leader_plant = twin(&topology);
    let leader = Arc::new(corrd_on(&store, &topology, Arc::clone(&leader_plant), &clock).await);
    let follower = corrd_on(&store, &topology, twin(&topology), &clock).await;
    // Both attached: a service with none is alone on its store and its
    // reconciler follows no other replica's grants.
    let (_leading, leads) = leadership(true);
    leader.attach_leadership(leads);
    let (_follows_tx, follows) = leadership(false);
    follower.attach_leadership(follows);
    let ends = Some(["op-h0-0".to_owned(), "op-h1-0".to_owned()]);
    let mut bronze = request(&[1550.0], QosPriority::Bronze);
    bronze.endpoints = ends.clone();
    let bronze = leader.create(&system(), bronze).await.unwrap();
    assert_eq!(bronze.status, CorridorStatus::Active);
    let reconciler = leader.spawn_reconciler(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut gold = request(&[1550.0], QosPriority::Gold);
    gold.endpoints = ends;
    let gold = follower.create(&system(), gold).await.unwrap();
    assert_eq!(gold.status, CorridorStatus::Provisioning, "{gold:#?}");
    let id = gold.id.clone();
    let active = within(Duration::from_secs(10), async || {
        leader
            .get(&system(), &id)
            .await
            .is_ok_and(|c| c.status == CorridorStatus::Active)
            && leader.lit() == vec![id.clone()]
    })
    .await;
    assert!(
        active.is_some(),
        "gold not lit in the bronze's place: lit {:?}",
        leader.lit()
    );
    let lit = leader.get(&system(), &id).await.unwrap();
    let a = lit.assignment.clone().unwrap();
    let on_leader = corridor_services::corridors::optics::read(&leader_plant, &lit, &a)
        .await
        .unwrap();
    assert!(
        on_leader.all_up && on_leader.dark.is_empty(),
        "{:?}",
        on_leader.dark
    );
    reconciler.stop().await;
}

#[tokio::test]
async fn a_new_leader_takes_over_the_corridors_the_old_one_lit_without_repairing_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, topology, clock) = fresh(dir.path());
    let a_plant = twin(&topology);
    let b_plant = twin(&topology);
    // Both start on an empty store: nothing for the start-up restore, so
    // B's twin is dark for everything granted below.
    let a = corrd_on(&store, &topology, Arc::clone(&a_plant), &clock).await;
    let b = corrd_on(&store, &topology, Arc::clone(&b_plant), &clock).await;
    let (a_leads, a_leadership) = leadership(true);
    let (b_leads, b_leadership) = leadership(false);
    a.attach_leadership(a_leadership);
    b.attach_leadership(b_leadership);

    let mut granted = Vec::new();
    for lambdas in [&[1550.0, 1551.0][..], &[1552.0]] {
        let c = a
            .create(&system(), request(lambdas, QosPriority::Silver))
            .await
            .unwrap();
        assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
        granted.push(c.id);
    }
    let through_b = b
        .create(&system(), request(&[1553.0], QosPriority::Gold))
        .await
        .unwrap();
    assert_eq!(through_b.status, CorridorStatus::Provisioning);
    let report = reconcile::reconcile_once(&a).await.unwrap();
    assert_eq!(report.activated, vec![through_b.id.clone()], "{report:?}");
    granted.push(through_b.id);
    granted.sort();
    let mut lit_on_a = a.lit();
    lit_on_a.sort();
    assert_eq!(lit_on_a, granted);
    assert!(b.lit().is_empty(), "B touched its twin as a follower");
    let mut before = HashMap::new();
    for id in &granted {
        let c = a.get(&system(), id).await.unwrap();
        assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
        let on_b = corridor_services::corridors::optics::read(
            &b_plant,
            &c,
            c.assignment.as_ref().unwrap(),
        )
        .await
        .unwrap();
        assert!(!on_b.dark.is_empty(), "{id} lit on B's twin already");
        before.insert(id.clone(), c);
    }

    // The lead moves to B.
    a_leads.send(None).unwrap();
    b_leads
        .send(Some(corridor_services::leadership::Leader { token: None }))
        .unwrap();
    assert!(b.drives_plant() && !a.drives_plant());
    let report = reconcile::reconcile_once(&b).await.unwrap();
    let mut adopted = report.adopted.clone();
    adopted.sort();
    assert_eq!(adopted, granted, "{report:?}");
    assert!(
        report.degraded.is_empty()
            && report.repaired.is_empty()
            && report.unrepaired.is_empty()
            && report.released.is_empty()
            && report.activated.is_empty(),
        "{report:?}"
    );
    let mut lit_on_b = b.lit();
    lit_on_b.sort();
    assert_eq!(lit_on_b, granted);
    for id in &granted {
        let c = b.get(&system(), id).await.unwrap();
        let was = &before[id];
        assert_eq!(c.status, CorridorStatus::Active, "{c:#?}");
        assert!(c.meta.condition("Repaired").is_none(), "{c:#?}");
        assert_eq!(c.assignment, was.assignment, "{id} moved");
        assert_eq!(c.path, was.path, "{id} moved");
        let assignment = c.assignment.as_ref().unwrap();
        let on_b = corridor_services::corridors::optics::read(&b_plant, &c, assignment)
            .await
            .unwrap();
        assert!(
            on_b.all_up && on_b.dark.is_empty(),
            "{id} dark on B's twin: {:?}",
            on_b.dark
        );
    }
    // Level-based: the next pass has nothing left to take over.
    let report = reconcile::reconcile_once(&b).await.unwrap();
    assert!(
        report.adopted.is_empty() && report.degraded.is_empty(),
        "{report:?}"
    );

    // A corridor the old leader lit, released through it as a follower,
    // goes dark on the new leader's twin: B took its lanes over.
    let gone = before[&granted[0]].clone();
    a.delete(&system(), &gone.id, None).await.unwrap();
    let report = reconcile::reconcile_once(&b).await.unwrap();
    assert_eq!(report.released, vec![gone.id.clone()], "{report:?}");
    let on_b = corridor_services::corridors::optics::read(
        &b_plant,
        &gone,
        gone.assignment.as_ref().unwrap(),
    )
    .await
    .unwrap();
    assert!(
        !on_b.dark.is_empty(),
        "released lanes still lit on B's twin"
    );
}

/// What a grant answers is exactly what the store holds: a release takes
/// the object from what the grant wrote when the stored one is still at
/// that revision (`corridors/written.rs`), so the two must not differ.
#[tokio::test]
async fn a_grant_answers_the_object_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, _) = plane_in(dir.path()).await;
    for (lambdas, priority) in [
        (&[1550.0][..], QosPriority::Silver),
        (&[1550.8, 1551.6][..], QosPriority::Gold),
        (&[1549.2][..], QosPriority::Bronze),
    ] {
        let granted = plane
            .corridors
            .create(&system(), request(lambdas, priority))
            .await
            .unwrap();
        let stored = plane.corridors.get(&system(), &granted.id).await.unwrap();
        assert_eq!(granted, stored);
        let released = plane
            .corridors
            .delete(&system(), &granted.id, None)
            .await
            .unwrap();
        assert_eq!(released.id, granted.id);
    }
    assert!(ledger(&plane).await.is_empty());
}

/// A release answers the corridor as stored, whether it took the object
/// this process granted (comparing on that grant's revision, reading
/// nothing) or read it because it changed since; a stale `If-Match` is
/// refused and releases nothing; another domain is told nothing exists.
#[tokio::test]
async fn a_release_answers_the_stored_version_kept_or_read() {
    let dir = tempfile::tempdir().unwrap();
    let (plane, clock) = plane_in(dir.path()).await;
    let released_as = |mut stored: corridor_model::corridor::Corridor,
                       released: &corridor_model::corridor::Corridor| {
        stored.status = CorridorStatus::Released;
        stored.meta.resource_version = released.meta.resource_version.clone();
        stored.meta.updated_at = released.meta.updated_at;
        stored
    };

    // As granted: the kept object.
    let granted = plane
        .corridors
        .create(&system(), request(&[1550.0], QosPriority::Silver))
        .await
        .unwrap();
    let stored = plane.corridors.get(&system(), &granted.id).await.unwrap();
    let released = plane
        .corridors
        .delete(&system(), &granted.id, None)
        .await
        .unwrap();
    assert_eq!(released, released_as(stored, &released));

    // Changed since the grant (a renewed lease moves its expiry): the
    // stored version, not the one granted.
    let granted = plane
        .corridors
        .create(&system(), request(&[1550.8], QosPriority::Silver))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let renewed = plane
        .corridors
        .renew_lease(&system(), &granted.id)
        .await
        .unwrap();
    assert_ne!(renewed.meta.lease_expires_at, granted.meta.lease_expires_at);
    let as_granted: i64 = granted.meta.resource_version.parse().unwrap();
    let refused = plane
        .corridors
        .delete(&system(), &granted.id, Some(as_granted))
        .await
        .unwrap_err();
    assert_eq!(refused.to_problem().status, 409, "{refused}");
    assert_eq!(
        plane.corridors.get(&system(), &granted.id).await.unwrap(),
        renewed,
        "a refused release changed the corridor"
    );
    let released = plane
        .corridors
        .delete(&system(), &granted.id, None)
        .await
        .unwrap();
    assert_eq!(released, released_as(renewed, &released));

    // Another domain's corridor, kept here: not found, and still held.
    let mut owned = request(&[1551.6], QosPriority::Silver);
    owned.security_domain = None;
    let granted = plane
        .corridors
        .create(&tenant("tenant-a"), owned)
        .await
        .unwrap();
    let hidden = plane
        .corridors
        .delete(&tenant("tenant-b"), &granted.id, None)
        .await
        .unwrap_err();
    assert_eq!(hidden.to_problem().status, 404, "{hidden}");
    let released = plane
        .corridors
        .delete(&tenant("tenant-a"), &granted.id, None)
        .await
        .unwrap();
    assert_eq!(released, released_as(granted, &released));
    assert!(ledger(&plane).await.is_empty());
}

//! fabmand's paths on the twin's switches: admitted per port in one store transaction,
//! programmed over FM API and read back, refused by name when a port is full, never
//! over-committed under concurrency, degraded when a device goes and programmed again
//! when it is back. What a test checks on the switches it reads through its own FM API
//! discovery, not through the service.

use std::sync::Arc;

use corridor_hal::fabric::{Discovery, FabricSnapshot, FabricTwin};
use corridor_hal::{ManualClock, Topology};
use corridor_model::corridor::QosPriority;
use corridor_model::fabric::{FabricPathRequest, FabricQos, PathStatus, PathType, QosEnforcement};
use corridor_model::units::{Gbps, Nanoseconds};
use corridor_protocols::fmapi::BindingStatus;
use corridor_services::ControlPlane;
use corridor_services::control_plane::FM_API_TIMEOUT;
use corridor_services::error::ToProblem;
use corridor_services::fabman::ledger::{LEDGER_PREFIX, PortShares};
use corridor_services::fabman::{PathError, PathService};
use corridor_store::{RangeRequest, RedbOptions, RedbStore, StateStore};

async fn plane() -> (ControlPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    // These tests admit paths on an empty fabric (memqosd's tests cover the standing ones).
    let topology = Topology::default_twin().without_standing_paths();
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    let plane = ControlPlane::start(store, Arc::new(topology), clock)
        .await
        .unwrap();
    (plane, dir)
}

fn request(
    source: &str,
    target: &str,
    path_type: PathType,
    bandwidth: f64,
    min: f64,
) -> FabricPathRequest {
    FabricPathRequest {
        source_device: source.into(),
        target_device: target.into(),
        path_type,
        bandwidth_gbps: Gbps(bandwidth),
        latency_ns: Nanoseconds(200),
        qos: FabricQos {
            priority: QosPriority::Gold,
            min_bandwidth_gbps: Gbps(min),
            max_latency_ns: Nanoseconds(300),
            pfc: true,
            ecn: false,
        },
    }
}

/// The RFC's example, verbatim.
fn rfc_request() -> FabricPathRequest {
    serde_json::from_str(corridor_model::rfc_examples::FABRIC_PATH_REQUEST).unwrap()
}

fn scan(plane: &ControlPlane) -> FabricSnapshot {
    let fabric = plane.fabric.as_ref().expect("the twin's switches");
    Discovery::new(fabric.endpoints(), FM_API_TIMEOUT).scan(chrono::Utc::now())
}

/// Gb/s held on each port key of the ledger.
async fn ledger(plane: &ControlPlane) -> Vec<(String, f64)> {
    plane
        .store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap()
        .kvs
        .iter()
        .map(|kv| {
            let shares: PortShares = serde_json::from_slice(&kv.value).unwrap();
            (kv.key.clone(), shares.held_gbps())
        })
        .collect()
}

#[tokio::test]
async fn the_rfc_device_to_device_path_is_admitted_routed_and_says_what_is_modelled() {
    let (plane, _dir) = plane().await;
    let path = plane.paths.create(rfc_request()).await.unwrap();
    assert_eq!(path.status, PathStatus::Active);
    assert_eq!(path.hops.len(), 1);
    let hop = &path.hops[0];
    assert_eq!(
        (hop.switch_id.as_str(), hop.ingress_port, hop.egress_port),
        ("sw0", 8, 9)
    );
    assert_eq!(path.predicted_latency_ns, Some(Nanoseconds(300)));
    let programming = path.programming.as_ref().unwrap();
    assert_eq!(programming.enforcement, QosEnforcement::Admission);
    assert!(programming.bindings.is_empty());
    assert!(programming.modelled[0].contains("PBR"), "{programming:?}");
    // 50 Gb/s held on both ports of the route, nowhere else.
    let mut held = ledger(&plane).await;
    held.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        held,
        [
            (format!("{LEDGER_PREFIX}sw0/8"), 50.0),
            (format!("{LEDGER_PREFIX}sw0/9"), 50.0)
        ]
    );
    let released = plane.paths.delete(&path.id, None).await.unwrap();
    assert_eq!(released.status, PathStatus::Released);
    assert!(ledger(&plane).await.is_empty());
    assert!(plane.paths.registry().get(&path.id).await.is_err());
}

#[tokio::test]
async fn a_host_path_binds_an_ld_and_sets_its_qos_over_fm_api() {
    let (plane, _dir) = plane().await;
    let mut asked = request("h1", "cxl-dev-001", PathType::Hbr, 200.0, 100.0);
    asked.qos.ecn = true;
    let path = plane.paths.create(asked).await.unwrap();
    assert_eq!(path.status, PathStatus::Active, "{path:?}");
    let programming = path.programming.clone().unwrap();
    assert_eq!(programming.enforcement, QosEnforcement::Device);
    assert!(programming.congestion_control);
    let binding = &programming.bindings[0];
    let ld = binding.ld_id.expect("an MLD binds one LD");
    // 100 of the device's 512 Gb/s is 50/256 (rounded up), 200 is 100/256.
    let share = &programming.qos_shares[0];
    assert_eq!(
        (share.allocated_bw_fraction, share.bw_limit_fraction),
        (50, 100)
    );
    // 256 GiB over 4 LDs.
    assert_eq!(
        programming
            .ld_allocation
            .as_ref()
            .unwrap()
            .capacity_bytes
            .get(),
        64 << 30
    );

    // What the switch says, asked independently.
    let snapshot = scan(&plane);
    let sw0 = snapshot.switches.iter().find(|s| s.name == "sw0").unwrap();
    let vcs = sw0.vcs.iter().find(|v| v.vcs_id == binding.vcs_id).unwrap();
    assert_eq!(vcs.usp_id, 1, "h1's upstream port");
    let vppb = &vcs.vppbs[usize::from(binding.vppb_id)];
    assert_eq!(vppb.status, BindingStatus::BoundLd);
    assert_eq!((vppb.port_id, u16::from(vppb.ld_id)), (8, ld));
    let device = snapshot
        .devices
        .iter()
        .find(|d| d.switch == "sw0" && d.port == 8)
        .unwrap();
    assert_eq!(device.qos_allocated_bw[usize::from(ld)], 50);
    assert_eq!(device.qos_bw_limit[usize::from(ld)], 100);
    // The other three LDs share what is left evenly, unlimited.
    for (i, (&f, &l)) in device
        .qos_allocated_bw
        .iter()
        .zip(&device.qos_bw_limit)
        .enumerate()
    {
        if i != usize::from(ld) {
            assert_eq!((f, l), (((256 - 50) / 3) as u8, 255));
        }
    }

    // Released: unbound, and the LDs share the device evenly again.
    plane.paths.delete(&path.id, None).await.unwrap();
    let snapshot = scan(&plane);
    let sw0 = snapshot.switches.iter().find(|s| s.name == "sw0").unwrap();
    let vcs = sw0.vcs.iter().find(|v| v.vcs_id == binding.vcs_id).unwrap();
    assert_eq!(
        vcs.vppbs[usize::from(binding.vppb_id)].status,
        BindingStatus::Unbound
    );
    let device = snapshot
        .devices
        .iter()
        .find(|d| d.switch == "sw0" && d.port == 8)
        .unwrap();
    assert_eq!(device.qos_allocated_bw, vec![64; 4]);
    assert_eq!(device.qos_bw_limit, vec![255; 4]);
}

#[tokio::test]
async fn a_full_port_is_refused_by_name_and_nothing_is_granted() {
    let (plane, _dir) = plane().await;
    // cxl-dev-002's port is x8 at 32 GT/s: 256 Gb/s, 192 admissible (0.75).
    let first = request("cxl-dev-001", "cxl-dev-002", PathType::Pbr, 120.0, 100.0);
    plane.paths.create(first.clone()).await.unwrap();
    let error = plane.paths.create(first).await.unwrap_err();
    let PathError::InsufficientCapacity {
        port,
        free_gbps,
        needed_gbps,
        ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(port, "sw0/9");
    assert_eq!((*free_gbps, *needed_gbps), (92.0, 100.0));
    let problem = error.to_problem();
    assert_eq!(problem.status, 409);
    assert!(problem.detail.contains("sw0/9"), "{}", problem.detail);
    assert!(
        problem.detail.contains("short by 8.0"),
        "{}",
        problem.detail
    );
    assert_eq!(
        plane
            .paths
            .registry()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(ledger(&plane).await.iter().all(|(_, g)| *g == 100.0));
}

#[tokio::test]
async fn requests_the_fabric_cannot_honour_name_the_field() {
    let (plane, _dir) = plane().await;
    let cases = [
        (
            request("h0", "cxl-dev-999", PathType::Hbr, 10.0, 1.0),
            "/target_device",
        ),
        (
            request("hx", "cxl-dev-001", PathType::Hbr, 10.0, 1.0),
            "/source_device",
        ),
        (
            request("h0", "cxl-dev-001", PathType::Gim, 10.0, 1.0),
            "/path_type",
        ),
        (
            request("cxl-dev-001", "cxl-dev-002", PathType::Hbr, 10.0, 1.0),
            "/path_type",
        ),
        (
            {
                let mut r = request("h0", "cxl-dev-002", PathType::Hbr, 10.0, 1.0);
                r.qos.ecn = true;
                r
            },
            "/qos/ecn",
        ),
    ];
    for (asked, pointer) in cases {
        let problem = plane.paths.create(asked).await.unwrap_err().to_problem();
        assert_eq!(problem.status, 422, "{pointer}: {problem:?}");
        assert_eq!(problem.errors[0].pointer, pointer);
    }
    // A latency bound below what any route gives.
    let mut tight = request("h0", "cxl-dev-001", PathType::Hbr, 10.0, 1.0);
    tight.latency_ns = Nanoseconds(100);
    tight.qos.max_latency_ns = Nanoseconds(250);
    let problem = plane.paths.create(tight).await.unwrap_err().to_problem();
    assert_eq!(
        (problem.status, problem.reason.as_deref()),
        (409, Some("NoFeasiblePath"))
    );
    assert!(ledger(&plane).await.is_empty());
}

/// 24 grants of 20 Gb/s race for cxl-dev-002's 192 admissible Gb/s from several threads:
/// at most 9 fit, and the ledger and the path objects agree on what is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_grants_never_over_commit_a_port() {
    let (plane, _dir) = plane().await;
    let plane = Arc::new(plane);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let plane = Arc::clone(&plane);
        tasks.push(tokio::spawn(async move {
            plane
                .paths
                .create(request(
                    "cxl-dev-001",
                    "cxl-dev-002",
                    PathType::Pbr,
                    20.0,
                    20.0,
                ))
                .await
        }));
    }
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => granted += 1,
            Err(PathError::InsufficientCapacity { .. } | PathError::Contention { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert!((1..=9).contains(&granted), "{granted} granted");
    let paths = plane
        .paths
        .registry()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(paths.len(), granted);
    for (key, held) in ledger(&plane).await {
        assert!(held <= 192.0, "{key} holds {held}");
        assert_eq!(held, 20.0 * granted as f64, "{key}");
    }
}

#[tokio::test]
async fn a_device_that_goes_degrades_its_paths_and_they_come_back_programmed() {
    let (plane, _dir) = plane().await;
    let plane = Arc::new(plane);
    let path = plane
        .paths
        .create(request("h2", "cxl-dev-001", PathType::Hbr, 64.0, 50.0))
        .await
        .unwrap();
    let topology = Topology::default_twin();
    let device = topology.cxl_device("cxl-dev-001").unwrap().clone();
    let faults = plane.fabric.as_ref().unwrap().faults();
    faults.unplug("sw0", device.port).unwrap();
    plane.paths.reconcile_once().await.unwrap();
    let degraded = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(degraded.status, PathStatus::Degraded);
    let ready = degraded
        .meta
        .conditions
        .iter()
        .find(|c| c.condition_type == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "PortDown");
    assert!(ready.message.contains("sw0/8"), "{}", ready.message);
    // While it is gone no new path reaches it.
    let refused = plane
        .paths
        .create(request("h3", "cxl-dev-001", PathType::Hbr, 10.0, 1.0))
        .await
        .unwrap_err();
    assert!(matches!(refused, PathError::NoFeasiblePath(_)), "{refused}");

    // Plugged back (its bindings were lost with it): programmed again.
    faults.plug("sw0", device.port, &device).unwrap();
    plane.paths.reconcile_once().await.unwrap();
    let back = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(back.status, PathStatus::Active);
    let binding = &back.programming.as_ref().unwrap().bindings[0];
    let snapshot = scan(&plane);
    let sw0 = snapshot.switches.iter().find(|s| s.name == "sw0").unwrap();
    let vcs = sw0.vcs.iter().find(|v| v.vcs_id == binding.vcs_id).unwrap();
    assert_eq!(
        vcs.vppbs[usize::from(binding.vppb_id)].status,
        BindingStatus::BoundLd
    );
}

/// The default twin's two switches joined by two inter-switch links (sw0 port 12 to sw1
/// port 12, and 13 to 13, x16 at 32 GT/s), with no standing path.
async fn plane_with_inter_switch_links() -> (ControlPlane, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let mut doc = Topology::default_twin()
        .without_standing_paths()
        .document()
        .clone();
    for (switch, other) in [(0, "sw1"), (1, "sw0")] {
        for port in [12, 13] {
            doc.cxl_switches[switch].ports.push(
                serde_json::from_value(serde_json::json!({
                    "port": port,
                    "role": "fabric",
                    "width": 16,
                    "speed_gts": 32.0,
                    "connected_to": {"switch": {"id": other, "port": port}},
                }))
                .unwrap(),
            );
        }
    }
    let topology = Topology::from_document(doc, "two switches, two links").unwrap();
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    let plane = ControlPlane::start(store, Arc::new(topology), clock)
        .await
        .unwrap();
    (plane, dir)
}

/// The inter-switch link a path crosses, as its first hop's egress port.
fn link_of(path: &corridor_model::fabric::FabricPath) -> u16 {
    assert_eq!(path.hops.len(), 2, "{:?}", path.hops);
    path.hops[0].egress_port
}

/// A device-to-device path across two switches moves to the other inter-switch link when
/// the one it crosses goes down (its share moves with it, in one transaction), degrades
/// when both are down, and moves back when one returns.
#[tokio::test]
async fn a_path_whose_link_goes_down_is_rerouted_over_another() {
    let (plane, _dir) = plane_with_inter_switch_links().await;
    let mut request = request("cxl-dev-001", "cxl-dev-003", PathType::Pbr, 64.0, 50.0);
    // Two switches: the target's 300 ns plus 100 for the second.
    request.qos.max_latency_ns = Nanoseconds(400);
    let path = plane.paths.create(request).await.unwrap();
    assert_eq!(path.status, PathStatus::Active);
    let first = link_of(&path);
    let other = if first == 12 { 13 } else { 12 };
    let faults = plane.fabric.as_ref().unwrap().faults();

    faults.set_link("sw0", first as u8, false).unwrap();
    plane.paths.reconcile_once().await.unwrap();
    let moved = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(
        moved.status,
        PathStatus::Active,
        "{:?}",
        moved.meta.conditions
    );
    assert_eq!(link_of(&moved), other);
    let admitted = moved.meta.condition("Admitted").unwrap();
    assert_eq!(admitted.reason, "Rerouted", "{}", admitted.message);
    // The share left the link that went down and holds the one it moved to, on both ends.
    let held: std::collections::BTreeMap<String, f64> = ledger(&plane).await.into_iter().collect();
    for switch in ["sw0", "sw1"] {
        assert!(
            !held.contains_key(&format!("{LEDGER_PREFIX}{switch}/{first}")),
            "{held:?}"
        );
        assert_eq!(
            held[&format!("{LEDGER_PREFIX}{switch}/{other}")],
            50.0,
            "{held:?}"
        );
    }

    // Both links down: nowhere to go.
    faults.set_link("sw0", other as u8, false).unwrap();
    plane.paths.reconcile_once().await.unwrap();
    let stuck = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(stuck.status, PathStatus::Degraded);
    assert_eq!(link_of(&stuck), other);

    // The first link back: the path moves onto it.
    faults.set_link("sw0", first as u8, true).unwrap();
    plane.paths.reconcile_once().await.unwrap();
    let back = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(back.status, PathStatus::Active);
    assert_eq!(link_of(&back), first);
    plane.paths.delete(&path.id, None).await.unwrap();
    assert!(ledger(&plane).await.is_empty());
}

/// After a restart on the same store, the twin's switches (which start empty) hold the
/// bindings and QoS vectors of the paths the store says are active, programmed again at
/// start.
#[tokio::test]
async fn a_restart_programs_the_active_paths_again() {
    let dir = tempfile::tempdir().unwrap();
    let start = |dir: std::path::PathBuf| async move {
        let store: Arc<dyn StateStore> =
            Arc::new(RedbStore::open(dir.join("state.redb"), RedbOptions::default()).unwrap());
        let topology = Topology::default_twin().without_standing_paths();
        let clock = Arc::new(ManualClock::new(topology.twin().start_time));
        ControlPlane::start(store, Arc::new(topology), clock)
            .await
            .unwrap()
    };
    let plane = start(dir.path().to_owned()).await;
    let path = plane
        .paths
        .create(request("h1", "cxl-dev-001", PathType::Hbr, 200.0, 100.0))
        .await
        .unwrap();
    let binding = path.programming.as_ref().unwrap().bindings[0].clone();
    let ld = usize::from(binding.ld_id.unwrap());
    drop(plane);
    // The store closes once the old plane's tasks have let go of it.
    let root = dir.path().to_owned();
    let plane = loop {
        match RedbStore::open(root.join("state.redb"), RedbOptions::default()) {
            Ok(store) => {
                drop(store);
                break start(root.clone()).await;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    let snapshot = scan(&plane);
    let sw0 = snapshot.switches.iter().find(|s| s.name == "sw0").unwrap();
    let vcs = sw0.vcs.iter().find(|v| v.vcs_id == binding.vcs_id).unwrap();
    let vppb = &vcs.vppbs[usize::from(binding.vppb_id)];
    assert_eq!(vppb.status, BindingStatus::BoundLd, "{vcs:?}");
    let device = snapshot
        .devices
        .iter()
        .find(|d| d.switch == "sw0" && d.port == 8)
        .unwrap();
    assert_eq!(device.qos_allocated_bw[ld], 50, "{device:?}");
    let kept = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(kept.status, PathStatus::Active);
    assert_eq!(kept.programming, path.programming);
}

/// corridord replicas started together on one empty store each start fabmand, which
/// creates the topology's standing paths: they all create them at once. Every one must
/// start and see the same paths, each granted once: a second grant of a standing path
/// does not fit beside the first on h0's upstream port (256 + 128 of 384 Gb/s), so a
/// replica that asked for it again would fail its start for capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fabmands_starting_together_grant_each_standing_path_once() {
    const REPLICAS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let topology = Arc::new(Topology::default_twin());
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    let standing = topology.standing_cxl_paths().len();
    assert!(standing > 1);
    // Each replica programs its own twin switches, as each corridord does.
    let replicas: Vec<(FabricTwin, Arc<PathService>)> = (0..REPLICAS)
        .map(|_| {
            let fabric = FabricTwin::start(&topology).unwrap();
            let service = Arc::new(PathService::new(
                Arc::clone(&store),
                &topology,
                fabric.endpoints(),
                FM_API_TIMEOUT,
                clock.clone(),
            ));
            (fabric, service)
        })
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(REPLICAS));
    let starts: Vec<_> = replicas
        .iter()
        .map(|(_, service)| {
            let (service, topology, barrier) = (
                Arc::clone(service),
                Arc::clone(&topology),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                service.ensure_standing(&topology).await
            })
        })
        .collect();
    let mut ensured = Vec::new();
    for (replica, start) in starts.into_iter().enumerate() {
        match start.await.unwrap() {
            Ok(paths) => ensured.push(paths),
            Err(e) => panic!(
                "replica {replica}'s fabmand could not start: {}",
                corridor_services::error::error_chain(&e)
            ),
        }
    }

    let stored = replicas[0]
        .1
        .registry()
        .list(&corridor_services::ListOptions::default())
        .await
        .unwrap()
        .items;
    let mut pairs: Vec<(&str, &str)> = stored
        .iter()
        .map(|p| (p.source_device.as_str(), p.target_device.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(stored.len(), standing, "{pairs:?}");
    assert_eq!(pairs.len(), standing, "one path per standing pair");
    let mut ids: Vec<&str> = stored.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    for (replica, paths) in ensured.iter().enumerate() {
        let mut seen: Vec<&str> = paths.iter().map(|p| p.id.as_str()).collect();
        seen.sort_unstable();
        assert_eq!(seen, ids, "replica {replica} sees the standing paths");
        for path in paths {
            assert_eq!(
                path.status,
                PathStatus::Active,
                "replica {replica}: {path:?}"
            );
        }
    }
    // The ledger holds each standing path's guarantee once, on its own ports.
    let ledger = store
        .range(RangeRequest::prefix(LEDGER_PREFIX))
        .await
        .unwrap()
        .kvs;
    for kv in &ledger {
        let shares: PortShares = serde_json::from_slice(&kv.value).unwrap();
        for (id, gbps) in &shares.shares {
            let path = stored.iter().find(|p| &p.id == id);
            let path = path.unwrap_or_else(|| panic!("{} holds a share for {id}", kv.key));
            assert_eq!(*gbps, path.qos.min_bandwidth_gbps.get(), "{}", kv.key);
        }
    }
    // Every replica's own switches carry h0's binding to its LD of cxl-dev-001.
    let path = stored
        .iter()
        .find(|p| p.target_device == "cxl-dev-001")
        .unwrap();
    let binding = path.programming.as_ref().unwrap().bindings[0].clone();
    for (replica, (fabric, _)) in replicas.iter().enumerate() {
        let snapshot = Discovery::new(fabric.endpoints(), FM_API_TIMEOUT).scan(chrono::Utc::now());
        let sw0 = snapshot.switches.iter().find(|s| s.name == "sw0").unwrap();
        let vcs = sw0.vcs.iter().find(|v| v.vcs_id == binding.vcs_id).unwrap();
        let vppb = &vcs.vppbs[usize::from(binding.vppb_id)];
        assert_eq!(
            vppb.status,
            BindingStatus::BoundLd,
            "replica {replica}: {vcs:?}"
        );
        assert_eq!(
            Some(u16::from(vppb.ld_id)),
            binding.ld_id,
            "replica {replica}"
        );
    }
}

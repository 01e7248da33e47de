//! memqosd at the service level: admission, the RFC example, the race,
//! policies, restart with restored memory, hand-off over the Unix socket.

use corridor_services::error::ToProblem;
use std::io::{BufRead, BufReader, IoSliceMut, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use corridor_hal::{ManualClock, Topology};
use corridor_model::corridor::QosPriority;
use corridor_model::fabric::{FabricPath, FabricPathRequest, FabricQos, PathType};
use corridor_model::ffm::FfmBundle;
use corridor_model::ffm::{BandwidthPatch, FfmAllocRequest, LatencyClass, Persistence};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_model::units::{Gbps, Nanoseconds};
use corridor_pki::Principal;
use corridor_services::fabman::PathError;
use corridor_services::ffm::{FfmConfig, FfmError, handoff};
use corridor_services::{Caller, ControlPlane};
use corridor_store::{RedbOptions, RedbStore, StateStore};

fn request(
    bytes: u64,
    class: LatencyClass,
    floor: f64,
    persistence: Persistence,
) -> FfmAllocRequest {
    FfmAllocRequest {
        bytes: Bytes(bytes),
        latency_class: class,
        bandwidth_floor_gbs: GigabytesPerSecond(floor),
        persistence,
        shareable: true,
        security_domain: "tenantA".into(),
        host: None,
        policy_lease_ttl_s: None,
        labels: Default::default(),
    }
}

fn tenant(domain: &str) -> Caller {
    Caller::new(Principal::Domain(domain.into()))
}

fn admin() -> Caller {
    Caller::new(Principal::Admin)
}

/// Allocates as tenantA (the requests' domain); the bundle and its token.
async fn alloc(
    plane: &ControlPlane,
    request: FfmAllocRequest,
) -> Result<(FfmBundle, String), FfmError> {
    let answer = plane.ffm.create(&tenant("tenantA"), request).await?;
    Ok((
        answer.bundle,
        answer.token.expect("the owner receives the token"),
    ))
}

async fn plane(dir: &std::path::Path) -> ControlPlane {
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.join("store.redb"), RedbOptions::default()).unwrap());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    ControlPlane::start_with(
        store,
        Arc::new(Topology::default_twin().clone()),
        clock,
        FfmConfig::in_dir(dir),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn rfc_example_is_admitted_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    let (bundle, token) = alloc(
        &plane,
        request(274_877_906_944, LatencyClass::T2, 150.0, Persistence::None),
    )
    .await
    .unwrap();
    assert!(bundle.id.starts_with("ffm-"));
    assert_eq!(bundle.policy_lease_ttl_s.get(), 3600);
    assert_eq!(bundle.fds.len(), 1);
    assert!(bundle.fds[0].starts_with(&format!("/proc/{}/fd/", std::process::id())));
    assert!(bundle.achieved_gbs.get() >= 150.0, "{bundle:?}");
    assert!(bundle.tail_p99_ms > 0.0);
    assert_eq!(bundle.moved_pages, 0);
    assert_eq!(token.len(), 64);
    // The fd path opens the same memory.
    let meta = std::fs::metadata(&bundle.fds[0]).unwrap();
    assert_eq!(meta.len(), 274_877_906_944);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_allocs_never_over_admit() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(plane(dir.path()).await);
    // T2 capacity is finite; 64 clients each ask for 20 GB/s.
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let plane = Arc::clone(&plane);
            tokio::spawn(async move {
                alloc(
                    &plane,
                    request(1 << 20, LatencyClass::T2, 20.0, Persistence::None),
                )
                .await
            })
        })
        .collect();
    let mut granted = 0.0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok((b, _)) => granted += b.bandwidth_floor_gbs.get(),
            Err(FfmError::HostCannotReach { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        refused > 0,
        "the race must exceed capacity to prove anything"
    );
    // Capacity: admission share × peak summed over the T2 devices the
    // default host (h0) reaches, from the same inventory.
    let inventory = corridor_hal::memory::TwinMemory::new(&Topology::default_twin());
    let (devices, _) = corridor_services::ffm::admission::devices(
        corridor_hal::MemoryProvider::discover(&inventory).unwrap(),
    );
    let capacity: f64 = devices
        .iter()
        .filter(|d| {
            d.device.tier == corridor_planner::memory::Tier::T2 && d.device.reaches(Some("h0"))
        })
        .map(|d| {
            (d.peak_gbs * corridor_services::ffm::DEFAULT_ADMISSION_SHARE * 1000.0).floor() / 1000.0
        })
        .sum();
    assert!(granted <= capacity + 1e-9, "{granted} > {capacity}");
    // And the store agrees with the ledger: as many objects as grants.
    let page = plane.ffm.list(&admin(), &Default::default()).await.unwrap();
    assert_eq!(page.items.len() as f64, granted / 20.0);
}

#[tokio::test]
async fn bandwidth_patch_that_does_not_fit_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    let (b, _) = alloc(
        &plane,
        request(1 << 20, LatencyClass::T2, 10.0, Persistence::None),
    )
    .await
    .unwrap();
    let err = plane
        .ffm
        .set_floor(
            &tenant("tenantA"),
            &b.id,
            BandwidthPatch {
                floor_gbs: GigabytesPerSecond(5000.0),
            },
            None,
        )
        .await
        .unwrap_err();
    let problem = err.to_problem();
    assert_eq!(problem.status, 409);
    assert!(problem.detail.contains("GB/s"), "{}", problem.detail);
    let after = plane.ffm.get(&admin(), &b.id).await.unwrap().bundle;
    assert_eq!(after.bandwidth_floor_gbs.get(), 10.0);
    let ok = plane
        .ffm
        .set_floor(
            &tenant("tenantA"),
            &b.id,
            BandwidthPatch {
                floor_gbs: GigabytesPerSecond(12.0),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(ok.bandwidth_floor_gbs.get(), 12.0);
}

fn receive(
    socket: &std::path::Path,
    id: &str,
    domain: &str,
    token: &str,
) -> Result<(UnixStream, std::os::fd::OwnedFd), String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut stream = UnixStream::connect(socket).unwrap();
    let line = serde_json::to_string(&handoff::HandoffRequest {
        id: id.into(),
        security_domain: domain.into(),
        token: token.into(),
    })
    .unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::empty(),
    )
    .unwrap();
    let reply: handoff::HandoffReply =
        serde_json::from_slice(buf[..got.bytes].trim_ascii_end()).unwrap();
    let mut fd = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            fd = fds.next();
        }
    }
    match (reply.ok, fd) {
        (true, Some(fd)) => Ok((stream, fd)),
        _ => Err(reply.error.unwrap_or_default()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_shares_memory_and_enforces_domain_token_and_exclusivity() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    let listener = handoff::bind(&plane.ffm.config().socket_path).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(handoff::serve(listener, Arc::clone(&plane.ffm), async {
        let _ = stopped.await;
    }));
    let mut exclusive = request(1 << 20, LatencyClass::T1, 1.0, Persistence::None);
    exclusive.shareable = false;
    let (b, token) = alloc(&plane, exclusive).await.unwrap();
    let socket = plane.ffm.config().socket_path.clone();
    let id = b.id.clone();
    tokio::task::spawn_blocking(move || {
        assert!(
            receive(&socket, &id, "tenantB", &token).is_err(),
            "other domain"
        );
        assert!(
            receive(&socket, &id, "tenantA", &"0".repeat(64)).is_err(),
            "wrong token"
        );
        let (conn, fd) = receive(&socket, &id, "tenantA", &token).unwrap();
        let mut f = std::fs::File::from(fd);
        f.write_all(b"shared bytes").unwrap();
        // Non-shareable: a second client is refused while the first holds it.
        let busy = receive(&socket, &id, "tenantA", &token).unwrap_err();
        assert!(busy.contains("already held"), "{busy}");
        drop(conn);
        // Released when the holder hangs up; the server notices EOF.
        let mut again = Err(String::new());
        for _ in 0..200 {
            again = receive(&socket, &id, "tenantA", &token);
            if again.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (_conn, fd) = again.unwrap();
        // The fds share one open file description (and its offset): read
        // at an explicit offset.
        let mut text = [0u8; 12];
        std::os::unix::fs::FileExt::read_exact_at(&std::fs::File::from(fd), &mut text, 0).unwrap();
        assert_eq!(&text, b"shared bytes");
    })
    .await
    .unwrap();
    let _ = stop.send(());
    server.await.unwrap();
}

#[tokio::test]
async fn restart_restores_bundles_memory_and_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, volatile) = {
        let plane = plane(dir.path()).await;
        let (p, _) = alloc(
            &plane,
            request(1 << 20, LatencyClass::T3, 5.0, Persistence::File),
        )
        .await
        .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p.fds[0])
            .unwrap();
        f.write_all(b"survives").unwrap();
        let (v, _) = alloc(
            &plane,
            request(1 << 20, LatencyClass::T1, 5.0, Persistence::None),
        )
        .await
        .unwrap();
        (p.id, v.id)
    };
    let plane = plane(dir.path()).await;
    let p = plane.ffm.get(&admin(), &kept).await.unwrap().bundle;
    let mut text = String::new();
    BufReader::new(std::fs::File::open(&p.fds[0]).unwrap())
        .read_line(&mut text)
        .unwrap();
    assert!(text.starts_with("survives"));
    let retained = p.meta.condition("DataRetained").unwrap();
    assert!(retained.is_true());
    let v = plane.ffm.get(&admin(), &volatile).await.unwrap().bundle;
    assert!(!v.meta.condition("DataRetained").unwrap().is_true());
    assert!(std::fs::metadata(&v.fds[0]).is_ok(), "fd path restored");
    // Capacity came back with them: deleting frees it again.
    plane.ffm.delete(&admin(), &kept, None).await.unwrap();
    assert!(
        !dir.path()
            .join("ffm-memory")
            .join(format!("{kept}.mem"))
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_frees_memory_and_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    let mut short = request(1 << 20, LatencyClass::T2, 150.0, Persistence::None);
    short.policy_lease_ttl_s = Some(corridor_model::units::Seconds(1));
    let (b, _) = alloc(&plane, short).await.unwrap();
    // The whole T2 capacity is taken: a second grant is refused now.
    let full = request(1 << 20, LatencyClass::T2, 150.0, Persistence::None);
    assert!(matches!(
        alloc(&plane, full.clone()).await,
        Err(FfmError::HostCannotReach { .. })
    ));
    // Once the store expires the lease, the reconciler frees the grant:
    // the same request then fits. Poll (no timing is asserted).
    let mut granted = None;
    for _ in 0..600 {
        if let Ok(g) = alloc(&plane, full.clone()).await {
            granted = Some(g);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(granted.is_some(), "capacity never came back");
    assert!(
        plane.ffm.get(&admin(), &b.id).await.is_err(),
        "expired bundle is gone"
    );
    assert!(
        !plane.ffm.holds_memory(&b.id),
        "its memory and token are freed"
    );
}

fn policy(min: f64, time_zone: &str) -> corridor_model::policy::PolicyRequest {
    corridor_model::policy::PolicyRequest {
        name: "night".into(),
        security_domain: "tenantA".into(),
        target: Default::default(),
        min_gbs: GigabytesPerSecond(min),
        window: corridor_model::policy::PolicyWindow {
            start: "20:00".into(),
            end: "08:00".into(),
            time_zone: time_zone.into(),
            days: vec![],
        },
        labels: Default::default(),
    }
}

#[tokio::test]
async fn policies_shape_admission_and_are_refused_when_they_over_commit() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    // Two 10 GB/s T2 bundles of tenantA.
    for _ in 0..2 {
        alloc(
            &plane,
            request(1 << 20, LatencyClass::T2, 10.0, Persistence::None),
        )
        .await
        .unwrap();
    }
    // Both land on h0's largest slice, cxl-dev-003@h0 (75 GB/s, what h0's path to it
    // guarantees). "min 100 GB/s 20:00–08:00" would put each at 100 GB/s at night, more
    // than that. Refused, naming the window.
    let err = plane
        .ffm
        .create_policy(&tenant("tenantA"), policy(100.0, "UTC"))
        .await
        .unwrap_err();
    let problem = err.to_problem();
    assert_eq!(problem.status, 409, "{}", problem.detail);
    assert!(problem.detail.contains("20:00"), "{}", problem.detail);
    assert!(
        plane
            .ffm
            .list_policies(&admin(), &Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // 35 GB/s at night fits (70 of the slice's 75) and then shapes admission: a new
    // tenantA bundle counts 35 GB/s at night, of the 80 GB/s h0's T2 has left then
    // (150 − 70), so two more fit and a third does not.
    let created = plane
        .ffm
        .create_policy(&tenant("tenantA"), policy(35.0, "Etc/GMT-1"))
        .await
        .unwrap();
    for _ in 0..2 {
        alloc(
            &plane,
            request(1 << 20, LatencyClass::T2, 1.0, Persistence::None),
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        alloc(
            &plane,
            request(1 << 20, LatencyClass::T2, 1.0, Persistence::None)
        )
        .await,
        Err(FfmError::HostCannotReach { .. })
    ));
    // Unknown zones are refused naming the field.
    let err = plane
        .ffm
        .create_policy(&tenant("tenantA"), policy(5.0, "Mars/Olympus"))
        .await
        .unwrap_err();
    assert_eq!(err.to_problem().errors[0].pointer, "/window/time_zone");
    plane
        .ffm
        .delete_policy(&tenant("tenantA"), &created.id)
        .await
        .unwrap();
    // Without the night floor, 1 GB/s bundles fit again.
    alloc(
        &plane,
        request(1 << 20, LatencyClass::T2, 1.0, Persistence::None),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn migration_keeps_persistent_bundles_on_persistent_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(plane(dir.path()).await);
    let (b, _) = alloc(
        &plane,
        request(1 << 20, LatencyClass::T3, 1.0, Persistence::File),
    )
    .await
    .unwrap();
    let err = plane
        .ffm
        .migrate(
            &tenant("tenantA"),
            &b.id,
            corridor_model::ffm::LatencyClassPatch {
                latency_class: LatencyClass::T1,
            },
        )
        .await
        .unwrap_err();
    let problem = err.to_problem();
    assert_eq!(problem.status, 422);
    assert_eq!(problem.errors[0].pointer, "/latency_class");
}

#[tokio::test]
async fn a_domains_list_pages_are_full_when_other_domains_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    let small = |domain: &str| {
        let mut r = request(1 << 20, LatencyClass::T1, 0.0, Persistence::None);
        r.security_domain = domain.into();
        r
    };
    // Ids grow with creation time: alternating the two domains puts a
    // tenantB bundle between each two of tenantA's, so a page filtered after
    // paging would be short.
    let mut own = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..6 {
        for (domain, ids) in [("tenantA", &mut own), ("tenantB", &mut theirs)] {
            let b = plane
                .ffm
                .create(&tenant(domain), small(domain))
                .await
                .unwrap();
            ids.push(b.bundle.id);
        }
    }
    own.sort();
    let between = theirs
        .iter()
        .filter(|id| **id > own[0] && **id < own[5])
        .count();
    assert!(between >= 3, "tenantB's bundles never interleaved");
    let mut seen = Vec::new();
    let mut options = corridor_services::ListOptions {
        limit: Some(2),
        ..Default::default()
    };
    let mut pages = 0;
    loop {
        let page = plane.ffm.list(&tenant("tenantA"), &options).await.unwrap();
        pages += 1;
        assert!(
            page.items.iter().all(|b| b.security_domain == "tenantA"),
            "{:?}",
            page.items
        );
        assert_eq!(page.items.len(), 2, "page {pages} is short");
        seen.extend(page.items.into_iter().map(|b| b.id));
        match page.continue_token {
            Some(t) => options.continue_token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, own, "every own bundle once, in key order");
}

#[tokio::test]
async fn the_service_decides_visibility_ownership_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(plane(dir.path()).await);
    // A domain principal's request naming another domain still makes a
    // bundle of the caller's own domain.
    let mut theirs = request(1 << 20, LatencyClass::T1, 1.0, Persistence::None);
    theirs.security_domain = "tenantB".into();
    let created = plane.ffm.create(&tenant("tenantA"), theirs).await.unwrap();
    assert_eq!(created.bundle.security_domain, "tenantA");
    assert!(created.token.is_some());
    let id = created.bundle.id.clone();
    // Admin and operator receive the token; read-only and other domains do not.
    assert_eq!(
        plane.ffm.get(&admin(), &id).await.unwrap().token,
        created.token
    );
    let read_only = Caller::new(Principal::ReadOnly);
    let seen = plane.ffm.get(&read_only, &id).await.unwrap();
    assert_eq!(seen.bundle.id, id);
    assert!(seen.token.is_none());
    // Every call on another domain's bundle is the NotFound of a missing one.
    let b = tenant("tenantB");
    let missing = "ffm-000000000000";
    let problems = |target: String| {
        let plane = Arc::clone(&plane);
        let b = b.clone();
        async move {
            let floor = BandwidthPatch {
                floor_gbs: GigabytesPerSecond(2.0),
            };
            let class = corridor_model::ffm::LatencyClassPatch {
                latency_class: LatencyClass::T2,
            };
            vec![
                plane.ffm.get(&b, &target).await.unwrap_err().to_problem(),
                plane
                    .ffm
                    .telemetry(&b, &target)
                    .await
                    .unwrap_err()
                    .to_problem(),
                plane.ffm.renew(&b, &target).await.unwrap_err().to_problem(),
                plane
                    .ffm
                    .set_floor(&b, &target, floor, None)
                    .await
                    .unwrap_err()
                    .to_problem(),
                plane
                    .ffm
                    .migrate(&b, &target, class)
                    .await
                    .unwrap_err()
                    .to_problem(),
                plane
                    .ffm
                    .delete(&b, &target, None)
                    .await
                    .unwrap_err()
                    .to_problem(),
            ]
        }
    };
    let foreign = problems(id.clone()).await;
    let absent = problems(missing.to_owned()).await;
    for (f, a) in foreign.iter().zip(&absent) {
        assert_eq!(f.status, 404, "{f:?}");
        assert_eq!(
            (f.status, &f.title, &f.reason),
            (a.status, &a.title, &a.reason)
        );
        assert_eq!(f.detail.replace(&id, missing), a.detail);
    }
    // Untouched by all that: still there, floor unchanged, not migrating.
    let after = plane.ffm.get(&admin(), &id).await.unwrap().bundle;
    assert_eq!(after.bandwidth_floor_gbs.get(), 1.0);
    assert_eq!(after.latency_class, LatencyClass::T1);
    // Policies: another domain's is NotFound too, and lists leave it out.
    let policy = plane
        .ffm
        .create_policy(&tenant("tenantA"), policy(1.0, "UTC"))
        .await
        .unwrap();
    for error in [
        plane.ffm.get_policy(&b, &policy.id).await.unwrap_err(),
        plane.ffm.delete_policy(&b, &policy.id).await.unwrap_err(),
    ] {
        let p = error.to_problem();
        assert_eq!(p.status, 404);
        assert_eq!(p.detail, format!("policies \"{}\" not found", policy.id));
    }
    let listed = plane
        .ffm
        .list_policies(&b, &Default::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert!(plane.ffm.get_policy(&admin(), &policy.id).await.is_ok());
}

#[tokio::test]
async fn watches_carry_only_the_callers_domain() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    let b = tenant("tenantB");
    let mut bundles = plane.ffm.watch(&b, 0, Default::default()).await.unwrap();
    let mut policies = plane
        .ffm
        .watch_policies(&b, 0, Default::default())
        .await
        .unwrap();
    // tenantA's changes come first; tenantB's first event is its own.
    alloc(
        &plane,
        request(1 << 20, LatencyClass::T1, 0.0, Persistence::None),
    )
    .await
    .unwrap();
    plane
        .ffm
        .create_policy(&tenant("tenantA"), policy(1.0, "UTC"))
        .await
        .unwrap();
    let mut mine = request(1 << 20, LatencyClass::T1, 0.0, Persistence::None);
    mine.security_domain = "tenantB".into();
    let own = plane.ffm.create(&b, mine).await.unwrap().bundle;
    let mut own_policy = policy(1.0, "UTC");
    own_policy.security_domain = "tenantB".into();
    let own_policy = plane.ffm.create_policy(&b, own_policy).await.unwrap();
    let first = bundles.next().await.unwrap().unwrap();
    assert_eq!(first.object.id, own.id);
    let first = policies.next().await.unwrap().unwrap();
    assert_eq!(first.object.id, own_policy.id);
}

#[tokio::test]
async fn a_bundle_already_migrating_is_migration_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(plane(dir.path()).await);
    let (b, _) = alloc(
        &plane,
        request(1 << 20, LatencyClass::T1, 1.0, Persistence::None),
    )
    .await
    .unwrap();
    let a = tenant("tenantA");
    let to_t2 = || corridor_model::ffm::LatencyClassPatch {
        latency_class: LatencyClass::T2,
    };
    // On this single-threaded runtime the operation's job cannot run before
    // the test yields, and reading a bundle from redb does not yield: the
    // calls below all see the migration in progress.
    plane.ffm.migrate(&a, &b.id, to_t2()).await.unwrap();
    let again = plane.ffm.migrate(&a, &b.id, to_t2()).await.unwrap_err();
    let resize = plane
        .ffm
        .set_floor(
            &a,
            &b.id,
            BandwidthPatch {
                floor_gbs: GigabytesPerSecond(2.0),
            },
            None,
        )
        .await
        .unwrap_err();
    for error in [again, resize] {
        assert!(
            matches!(error, FfmError::MigrationInProgress(ref id) if *id == b.id),
            "{error:?}"
        );
        let problem = error.to_problem();
        assert_eq!(problem.status, 409);
        assert_eq!(problem.reason.as_deref(), Some("MigrationInProgress"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_names_are_unique_per_domain() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(plane(dir.path()).await);
    let a = tenant("tenantA");
    let first = plane
        .ffm
        .create_policy(&a, policy(1.0, "UTC"))
        .await
        .unwrap();
    let taken = plane
        .ffm
        .create_policy(&a, policy(2.0, "UTC"))
        .await
        .unwrap_err();
    let problem = taken.to_problem();
    assert_eq!(problem.status, 409, "{problem:?}");
    assert_eq!(problem.reason.as_deref(), Some("PolicyNameTaken"));
    assert!(problem.detail.contains("night"), "{}", problem.detail);
    // The same name in another domain is another policy.
    let mut elsewhere = policy(1.0, "UTC");
    elsewhere.security_domain = "tenantB".into();
    plane
        .ffm
        .create_policy(&tenant("tenantB"), elsewhere)
        .await
        .unwrap();
    // Deleting frees the name.
    plane.ffm.delete_policy(&a, &first.id).await.unwrap();
    let second = plane
        .ffm
        .create_policy(&a, policy(1.0, "UTC"))
        .await
        .unwrap();
    plane.ffm.delete_policy(&a, &second.id).await.unwrap();
    // Racing creates of one name: exactly one wins, in the store as well.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let plane = Arc::clone(&plane);
            tokio::spawn(async move {
                plane
                    .ffm
                    .create_policy(&tenant("tenantA"), policy(1.0, "UTC"))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(FfmError::PolicyNameTaken { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    let stored = plane
        .ffm
        .list_policies(&a, &Default::default())
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1);
}

#[tokio::test]
async fn a_policy_outside_the_ledger_is_deletable_and_unknown_ones_are_policies_not_ffm() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    // A policy stored without passing admission (as by another memqosd
    // version, or one that no longer fits after a restart): the ledger
    // does not hold it.
    let outside = corridor_model::policy::Policy::new(
        "pol-outside",
        policy(1.0, "Europe/Paris"),
        chrono::Utc::now(),
    );
    corridor_services::Registry::new(Arc::clone(&plane.store))
        .create(&outside)
        .await
        .unwrap();
    let a = tenant("tenantA");
    let deleted = plane.ffm.delete_policy(&a, "pol-outside").await.unwrap();
    assert_eq!(deleted.id, "pol-outside");
    assert!(plane.ffm.get_policy(&a, "pol-outside").await.is_err());
    // Gone now: a NotFound naming the policy kind, not a bundle.
    let problem = plane
        .ffm
        .delete_policy(&a, "pol-outside")
        .await
        .unwrap_err()
        .to_problem();
    assert_eq!(problem.status, 404);
    assert_eq!(problem.detail, "policies \"pol-outside\" not found");
}

/// The memory devices `host` reaches on `topology`, computed from the
/// topology itself (not from memqosd's inventory): its own memory, and
/// every pooled device on a switch the host has an upstream port on.
fn reachable(topology: &Topology, host: &str) -> std::collections::BTreeSet<String> {
    let mut out: std::collections::BTreeSet<String> = topology
        .memory_devices()
        .filter(|(h, _)| h.id.as_str() == host)
        .map(|(_, m)| m.id.as_str().to_owned())
        .collect();
    for device in topology.cxl_devices() {
        if topology
            .hosts_on_switch(device.switch.as_str())
            .any(|h| h.id.as_str() == host)
        {
            out.insert(device.id.as_str().to_owned());
        }
    }
    out
}

#[tokio::test]
async fn a_bundle_never_gets_memory_its_host_cannot_reach() {
    let topology = Topology::default_twin();
    // Every host of the default twin, every tier, floors from best effort to
    // more than any host reaches: each grant only on reachable devices, each
    // refusal a 409 naming the host and the tier.
    for host in topology.hosts() {
        let host = host.id.as_str();
        let dir = tempfile::tempdir().unwrap();
        let plane = plane(dir.path()).await;
        let reach = reachable(&topology, host);
        let mut granted = 0;
        for class in LatencyClass::ALL {
            for floor in [0.0, 20.0, 60.0, 150.0, 400.0, 2000.0] {
                let mut r = request(1 << 30, class, floor, Persistence::None);
                r.host = Some(host.to_owned());
                match alloc(&plane, r).await {
                    Ok((bundle, _)) => {
                        granted += 1;
                        assert_eq!(bundle.host, host);
                        assert!(!bundle.placement.is_empty());
                        for part in &bundle.placement {
                            assert!(
                                reach.contains(&part.node),
                                "{host}'s {class:?} bundle got {} (it reaches {reach:?})",
                                part.node
                            );
                        }
                    }
                    Err(e) => {
                        let p = e.to_problem();
                        assert_eq!(p.status, 409, "{host} {class:?} {floor}: {p:?}");
                        assert!(
                            p.detail.contains(&format!("host {host} "))
                                && p.detail.contains(&format!("{class:?}")),
                            "{}",
                            p.detail
                        );
                    }
                }
            }
        }
        assert!(granted > 0, "{host} got nothing at all");
    }
}

#[tokio::test]
async fn hosts_that_reach_too_little_are_refused_and_unknown_hosts_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    // h2 has no CXL of its own: the pooled devices admit 0.75 × 164 = 123 GB/s.
    let mut rfc_on_h2 = request(274_877_906_944, LatencyClass::T2, 150.0, Persistence::None);
    rfc_on_h2.host = Some("h2".into());
    let p = alloc(&plane, rfc_on_h2).await.unwrap_err().to_problem();
    assert_eq!(p.status, 409, "{p:?}");
    assert!(
        p.detail.contains("host h2") && p.detail.contains("T2"),
        "{}",
        p.detail
    );
    // h1 has no HBM at all.
    let mut hbm_on_h1 = request(1 << 30, LatencyClass::T0, 1.0, Persistence::None);
    hbm_on_h1.host = Some("h1".into());
    let p = alloc(&plane, hbm_on_h1).await.unwrap_err().to_problem();
    assert_eq!(p.status, 409, "{p:?}");
    assert!(
        p.detail.contains("host h1") && p.detail.contains("T0"),
        "{}",
        p.detail
    );
    // A host the topology does not have is the request's fault.
    let mut nowhere = request(1 << 30, LatencyClass::T1, 1.0, Persistence::None);
    nowhere.host = Some("h9".into());
    let p = alloc(&plane, nowhere).await.unwrap_err().to_problem();
    assert_eq!(p.status, 422, "{p:?}");
    assert_eq!(p.errors[0].pointer, "/host");
    // No host named: the default host, h0, the RFC's example fits.
    let (rfc, _) = alloc(
        &plane,
        request(274_877_906_944, LatencyClass::T2, 150.0, Persistence::None),
    )
    .await
    .unwrap();
    assert_eq!(rfc.host, "h0");
}

#[tokio::test]
async fn twin_placements_bind_nothing_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    // h0's HBM is twin NUMA node 2: nothing of this machine is that node.
    let (b, _) = alloc(
        &plane,
        request(1 << 20, LatencyClass::T0, 1.0, Persistence::None),
    )
    .await
    .unwrap();
    let placed = b.meta.condition("Placed").expect("Placed condition");
    assert_eq!(placed.reason, "Modelled", "{placed:?}");
    assert!(placed.message.contains("modelled"), "{}", placed.message);
}

#[tokio::test]
async fn telemetry_says_model_until_a_counter_measures() {
    use corridor_model::ffm::TelemetrySource;
    let dir = tempfile::tempdir().unwrap();
    let resctrl = dir.path().join("resctrl");
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut config = FfmConfig::in_dir(dir.path());
    config.counters = Some(Arc::new(corridor_hal::memory::ResctrlMbm::new(&resctrl)));
    let plane = ControlPlane::start_with(
        store,
        Arc::new(Topology::default_twin()),
        Arc::clone(&clock) as Arc<dyn corridor_hal::Clock>,
        config,
    )
    .await
    .unwrap();
    let (b, _) = alloc(
        &plane,
        request(1 << 20, LatencyClass::T1, 10.0, Persistence::None),
    )
    .await
    .unwrap();
    // The bundle is evaluated by the model at once, and says so.
    assert_eq!(b.telemetry_source, TelemetrySource::Model);
    assert!(b.achieved_gbs.get() >= 10.0, "{b:?}");
    let owner = tenant("tenantA");
    let t = plane.ffm.telemetry(&owner, &b.id).await.unwrap();
    assert_eq!(t.source, TelemetrySource::Model, "no resctrl group yet");
    // The client's tasks are in the monitoring group named after the bundle.
    let counter = |bytes: u64| {
        for (domain, share) in [("mon_L3_00", bytes / 4), ("mon_L3_01", bytes - bytes / 4)] {
            let d = resctrl
                .join("mon_groups")
                .join(&b.id)
                .join("mon_data")
                .join(domain);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("mbm_total_bytes"), format!("{share}\n")).unwrap();
        }
    };
    counter(1_000_000_000);
    let t = plane.ffm.telemetry(&owner, &b.id).await.unwrap();
    assert_eq!(t.source, TelemetrySource::Model, "one reading is no rate");
    clock.advance(std::time::Duration::from_secs(2));
    counter(7_000_000_000);
    let t = plane.ffm.telemetry(&owner, &b.id).await.unwrap();
    assert_eq!(t.source, TelemetrySource::Counter);
    assert_eq!(t.achieved_gbs.get(), 3.0, "6 GB over 2 s");
}

/// A policy in any IANA zone: "20:00–08:00 Europe/Berlin" is admitted, and
/// the floor in force follows Berlin's wall clock, summer and winter time
/// alike (20:30 CEST is 18:30 UTC in July; 18:30 UTC in January is 19:30
/// CET, before the window).
#[tokio::test]
async fn a_policy_in_europe_berlin_follows_berlin_time() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap());
    let july = chrono::DateTime::parse_from_rfc3339("2026-07-15T18:30:00Z")
        .unwrap()
        .to_utc();
    let clock = Arc::new(ManualClock::new(july));
    let plane = ControlPlane::start_with(
        store,
        Arc::new(Topology::default_twin().clone()),
        clock.clone(),
        FfmConfig::in_dir(dir.path()),
    )
    .await
    .unwrap();
    let (bundle, _) = alloc(
        &plane,
        request(1 << 20, LatencyClass::T2, 1.0, Persistence::None),
    )
    .await
    .unwrap();
    let created = plane
        .ffm
        .create_policy(&tenant("tenantA"), policy(20.0, "Europe/Berlin"))
        .await
        .unwrap();
    assert_eq!(created.window.time_zone, "Europe/Berlin");
    let floor_in_force = |at: &str| {
        let plane = &plane;
        let clock = clock.clone();
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
        let id = bundle.id.clone();
        async move {
            clock.set(at);
            // The model's cached run is throttled; let it be recomputed.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let b = plane.ffm.get(&admin(), &id).await.unwrap().bundle;
            b.meta.condition("FloorMet").unwrap().message.clone()
        }
    };
    let summer_evening = floor_in_force("2026-07-15T18:30:00Z").await;
    assert!(
        summer_evening.contains("20.000 GB/s floor"),
        "{summer_evening}"
    );
    let winter_evening = floor_in_force("2026-01-15T18:30:00Z").await;
    assert!(
        winter_evening.contains("1.000 GB/s floor"),
        "{winter_evening}"
    );
    let winter_night = floor_in_force("2026-01-15T19:30:00Z").await;
    assert!(winter_night.contains("20.000 GB/s floor"), "{winter_night}");
}

/// Polls bundle `id` until its `Degraded` condition has `reason` (the
/// presence follower applies inventory changes from a store watch).
async fn degraded_reason(plane: &ControlPlane, id: &str, reason: &str) -> FfmBundle {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let b = plane.ffm.get(&admin(), id).await.unwrap().bundle;
        if b.meta
            .condition("Degraded")
            .is_some_and(|k| k.reason == reason)
        {
            return b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Degraded/{reason} on {id}: {:?}",
            b.meta.conditions
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A pooled CXL device unplugged from its switch (FM API discovery lists it
/// offline): the bundles with memory on it say so in `Degraded`, nothing new
/// lands on it, and once it is plugged back both recover.
#[tokio::test]
async fn bundles_follow_their_devices_out_of_the_fabric_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    // h2 has no CXL memory of its own: its T2 bundles land on the pooled devices its paths
    // reach, 12 GB/s on each.
    for device in ["cxl-dev-001", "cxl-dev-003"] {
        open_path(&plane, "h2", device, 96.0).await;
    }
    let mut on_pool = request(1 << 30, LatencyClass::T2, 1.0, Persistence::None);
    on_pool.host = Some("h2".into());
    let (bundle, _) = alloc(&plane, on_pool.clone()).await.unwrap();
    assert_eq!(bundle.placement.len(), 1, "{:?}", bundle.placement);
    let gone = bundle.placement[0].node.clone();
    let topology = Topology::default_twin();
    let device = topology
        .cxl_device(&gone)
        .unwrap_or_else(|| panic!("{gone} is not a pooled device"))
        .clone();
    // A heavier bundle on the other pooled device: left alone, the next
    // placements would prefer `gone`, which keeps more headroom.
    let mut heavy = on_pool.clone();
    heavy.bandwidth_floor_gbs = GigabytesPerSecond(5.0);
    let (heavy, _) = alloc(&plane, heavy).await.unwrap();
    assert!(heavy.placement.iter().all(|p| p.node != gone));
    let faults = plane.fabric.as_ref().expect("switch twins").faults();
    faults.unplug(device.switch.as_str(), device.port).unwrap();
    plane.inventory.observe().await.unwrap();
    let degraded = degraded_reason(&plane, &bundle.id, "DeviceOffline").await;
    let k = degraded.meta.condition("Degraded").unwrap();
    assert_eq!(k.status, corridor_model::meta::ConditionStatus::True);
    assert!(
        k.message.contains(&gone) && k.message.contains("1073741824 bytes"),
        "{}",
        k.message
    );
    // Nothing new is placed on it while it is gone.
    for _ in 0..3 {
        let (other, _) = alloc(&plane, on_pool.clone()).await.unwrap();
        assert!(
            other.placement.iter().all(|p| p.node != gone),
            "placed on offline {gone}: {:?}",
            other.placement
        );
    }
    faults
        .plug(device.switch.as_str(), device.port, &device)
        .unwrap();
    plane.inventory.observe().await.unwrap();
    let back = degraded_reason(&plane, &bundle.id, "DevicesBack").await;
    assert_eq!(
        back.meta.condition("Degraded").unwrap().status,
        corridor_model::meta::ConditionStatus::False
    );
}

/// A path from `host` to the pooled `device` guaranteeing `gbps` Gb/s, once memqosd has
/// opened the host's slice with it (it follows the paths through a store watch).
async fn open_path(plane: &ControlPlane, host: &str, device: &str, gbps: f64) -> FabricPath {
    let path = plane
        .paths
        .create(FabricPathRequest {
            source_device: host.into(),
            target_device: device.into(),
            path_type: PathType::Hbr,
            bandwidth_gbps: Gbps(gbps),
            latency_ns: Nanoseconds(300),
            qos: FabricQos {
                priority: QosPriority::Gold,
                min_bandwidth_gbps: Gbps(gbps),
                max_latency_ns: Nanoseconds(300),
                pfc: false,
                ecn: false,
            },
        })
        .await
        .unwrap();
    slice_admits(plane, &format!("{device}@{host}"), Some(gbps / 8.0)).await;
    path
}

/// Waits until the slice admits `gbs` GB/s of floors (`None`: until it is closed).
async fn slice_admits(plane: &ControlPlane, slice: &str, gbs: Option<f64>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let tiers = plane.ffm.tiers();
        let device = tiers
            .devices
            .iter()
            .find(|d| d.id == slice)
            .unwrap_or_else(|| panic!("no slice {slice} in {:?}", tiers.devices));
        let open = device.fabric_slice.as_ref().unwrap().open;
        let now = open.then_some(device.admission_gbs.0);
        if now == gbs {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{slice} admits {now:?} GB/s, not {gbs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn on_host(host: &str, floor: f64) -> FfmAllocRequest {
    let mut r = request(1 << 30, LatencyClass::T2, floor, Persistence::None);
    r.host = Some(host.into());
    r
}

/// h2 has no T2 memory of its own and no path: no T2 bundle. A path to cxl-dev-001 gives it
/// what the path guarantees on its own LD and no more; the path cannot be deleted while a
/// bundle lives on it (409 naming the bundle), and once the bundle is freed it can, and
/// h2's T2 is gone again.
#[tokio::test]
async fn a_hosts_pooled_memory_is_what_its_paths_give_it() {
    let dir = tempfile::tempdir().unwrap();
    let plane = plane(dir.path()).await;
    assert!(matches!(
        alloc(&plane, on_host("h2", 1.0)).await,
        Err(FfmError::HostCannotReach { .. })
    ));
    // 80 Gb/s guaranteed: 10 GB/s of floors, on h2's LD of the MLD.
    let path = open_path(&plane, "h2", "cxl-dev-001", 80.0).await;
    let ld = path
        .programming
        .as_ref()
        .unwrap()
        .ld_allocation
        .clone()
        .unwrap();
    let tiers = plane.ffm.tiers();
    let slice = tiers
        .devices
        .iter()
        .find(|d| d.id == "cxl-dev-001@h2")
        .unwrap();
    assert_eq!(slice.capacity_bytes, ld.capacity_bytes, "the host's LD");
    let (bundle, _) = alloc(&plane, on_host("h2", 10.0)).await.unwrap();
    assert_eq!(bundle.placement.len(), 1);
    assert_eq!(bundle.placement[0].node, "cxl-dev-001");
    assert!(matches!(
        alloc(&plane, on_host("h2", 0.5)).await,
        Err(FfmError::HostCannotReach { .. })
    ));
    // The path holds a live bundle's memory: its DELETE is refused and changes nothing.
    let refused = plane.paths.delete(&path.id, None).await.unwrap_err();
    assert!(
        matches!(&refused, PathError::InUse { bundles, .. } if bundles == &vec![bundle.id.clone()]),
        "{refused:?}"
    );
    let problem = refused.to_problem();
    assert_eq!(
        (problem.status, problem.reason.as_deref()),
        (409, Some("PathInUse"))
    );
    let kept = plane.paths.registry().get(&path.id).await.unwrap();
    assert_eq!(kept.status, corridor_model::fabric::PathStatus::Active);
    slice_admits(&plane, "cxl-dev-001@h2", Some(10.0)).await;
    // Freed, the path goes, and h2's T2 with it.
    plane
        .ffm
        .delete(&tenant("tenantA"), &bundle.id, None)
        .await
        .unwrap();
    plane.paths.delete(&path.id, None).await.unwrap();
    slice_admits(&plane, "cxl-dev-001@h2", None).await;
    assert!(matches!(
        alloc(&plane, on_host("h2", 1.0)).await,
        Err(FfmError::HostCannotReach { .. })
    ));
}

/// Allocations through a path race its DELETE, round after round, on several threads: a
/// path is only ever gone with no bundle on what it gave (checked from the grants in the
/// store after each round), and every bundle an alloc was told about is on a path that
/// still exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_bundle_outlives_its_path_under_racing_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(plane(dir.path()).await);
    let (mut deleted, mut refused) = (0, 0);
    for round in 0..30 {
        let path = open_path(&plane, "h2", "cxl-dev-001", 80.0).await;
        // Allocations and the DELETE each start after their own delay, so that across the
        // rounds each goes first, and they overlap in between.
        let (alloc_delay, delete_delay) = ((round % 6) * 400, ((round + 3) % 6) * 400);
        let allocs: Vec<_> = (0..6)
            .map(|_| {
                let plane = Arc::clone(&plane);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_micros(alloc_delay)).await;
                    alloc(&plane, on_host("h2", 0.5)).await
                })
            })
            .collect();
        let release = {
            let plane = Arc::clone(&plane);
            let id = path.id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_micros(delete_delay)).await;
                plane.paths.delete(&id, None).await
            })
        }
        .await
        .unwrap();
        let mut granted = Vec::new();
        for a in allocs {
            if let Ok((bundle, _)) = a.await.unwrap() {
                granted.push(bundle.id);
            }
        }
        let on_slice =
            corridor_services::ffm::reach::bundles_on(plane.store.as_ref(), "cxl-dev-001@h2")
                .await
                .unwrap();
        match release {
            Ok(_) => {
                deleted += 1;
                assert!(
                    on_slice.is_empty(),
                    "round {round}: path deleted with bundles {on_slice:?} on it"
                );
                assert!(
                    granted.is_empty(),
                    "round {round}: {granted:?} on a deleted path"
                );
            }
            Err(PathError::InUse { .. }) => {
                refused += 1;
                for id in &granted {
                    plane
                        .ffm
                        .delete(&tenant("tenantA"), id, None)
                        .await
                        .unwrap();
                }
                plane.paths.delete(&path.id, None).await.unwrap();
            }
            Err(other) => panic!("round {round}: {other:?}"),
        }
        slice_admits(&plane, "cxl-dev-001@h2", None).await;
    }
    // Both outcomes happened, so the race was run both ways.
    assert!(
        deleted > 0 && refused > 0,
        "deleted {deleted}, refused {refused}"
    );
}

/// The bundle as the store holds it, decoded as a read answers it.
async fn stored(store: &Arc<dyn StateStore>, id: &str) -> serde_json::Value {
    let key = corridor_services::Registry::<FfmBundle>::key(id);
    let kv = store
        .get(&key)
        .await
        .unwrap()
        .expect("the bundle is stored");
    let mut bundle: FfmBundle = serde_json::from_slice(&kv.value).unwrap();
    bundle.meta.resource_version = kv.mod_revision.to_string();
    serde_json::to_value(bundle).unwrap()
}

/// A DELETE answers with the version the store held, whether this process
/// still had the version it created (the release compares on it, nothing is
/// read) or the bundle changed since (the compare fails, and the bundle is
/// read); an `If-Match` of the old version is refused either way.
#[tokio::test]
async fn delete_answers_the_stored_version_kept_or_read() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap());
    let plane = ControlPlane::start_with(
        Arc::clone(&store),
        Arc::new(Topology::default_twin().clone()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        FfmConfig::in_dir(dir.path()),
    )
    .await
    .unwrap();
    let owner = tenant("tenantA");
    let demand = || request(1 << 20, LatencyClass::T2, 10.0, Persistence::None);

    // Unchanged since it was created.
    let (b, _) = alloc(&plane, demand()).await.unwrap();
    let before = stored(&store, &b.id).await;
    let deleted = plane.ffm.delete(&owner, &b.id, None).await.unwrap();
    assert_eq!(serde_json::to_value(&deleted).unwrap(), before);
    let key = corridor_services::Registry::<FfmBundle>::key(&b.id);
    assert!(store.get(&key).await.unwrap().is_none());
    assert!(plane.ffm.get(&admin(), &b.id).await.is_err(), "gone");

    // Another domain cannot delete it, kept or not.
    let (b, _) = alloc(&plane, demand()).await.unwrap();
    let hidden = plane.ffm.delete(&tenant("tenantB"), &b.id, None).await;
    assert_eq!(hidden.unwrap_err().to_problem().status, 404);

    // Rewritten since (a new floor): the old version's If-Match is refused
    // and nothing is deleted; without one, the new version goes.
    let created = b.meta.resource_version.parse::<i64>().unwrap();
    plane
        .ffm
        .set_floor(
            &owner,
            &b.id,
            BandwidthPatch {
                floor_gbs: GigabytesPerSecond(12.0),
            },
            None,
        )
        .await
        .unwrap();
    let refused = plane.ffm.delete(&owner, &b.id, Some(created)).await;
    assert_eq!(
        refused.as_ref().unwrap_err().to_problem().status,
        409,
        "{refused:?}"
    );
    let before = stored(&store, &b.id).await;
    assert_eq!(before["bandwidth_floor_GBs"], 12.0, "{before}");
    let deleted = plane.ffm.delete(&owner, &b.id, None).await.unwrap();
    assert_eq!(serde_json::to_value(&deleted).unwrap(), before);
    assert!(plane.ffm.get(&admin(), &b.id).await.is_err(), "gone");
}

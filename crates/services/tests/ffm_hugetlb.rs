//! memqosd's hugetlb bundles on this machine's kernel: a latency class the setting names
//! gets a memfd of 2 MiB pages taken from the hugetlb pool at allocation; a pool too small
//! refuses the allocation whole (409 `HugePagesUnavailable`, nothing granted); a DELETE
//! gives the pages back. The pool is grown for the test and shrunk back after (root only,
//! as `make test` runs).

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use corridor_hal::memory::SysfsMemory;
use corridor_hal::{ManualClock, Topology};
use corridor_model::ffm::{FfmAllocRequest, LatencyClass, PageSize, Persistence};
use corridor_model::units::{Bytes, GigabytesPerSecond};
use corridor_pki::Principal;
use corridor_services::error::ToProblem;
use corridor_services::ffm::{FfmConfig, FfmError};
use corridor_services::{Caller, ControlPlane};
use corridor_store::{RedbOptions, RedbStore, StateStore};

const HUGE_PAGE: u64 = 2 << 20;
const POOL: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";

/// The 2 MiB hugetlb pool grown by some pages for as long as it lives.
struct GrownPool {
    original: u64,
}

impl GrownPool {
    fn by(pages: u64) -> Self {
        let original: u64 = std::fs::read_to_string(POOL)
            .expect("the kernel has a 2 MiB hugetlb pool")
            .trim()
            .parse()
            .unwrap();
        let wanted = original + pages;
        std::fs::write(POOL, wanted.to_string()).unwrap_or_else(|e| {
            panic!("cannot grow the hugetlb pool through {POOL} (root only): {e}")
        });
        let grown = Self { original };
        let now: u64 = std::fs::read_to_string(POOL)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            now, wanted,
            "the kernel found too few free 2 MiB pages to grow the pool"
        );
        grown
    }
}

impl Drop for GrownPool {
    fn drop(&mut self) {
        let _ = std::fs::write(POOL, self.original.to_string());
    }
}

fn available() -> u64 {
    SysfsMemory::new("/sys")
        .available_huge_pages()
        .unwrap()
        .unwrap()
}

fn request(bytes: u64, class: LatencyClass) -> FfmAllocRequest {
    FfmAllocRequest {
        bytes: Bytes(bytes),
        latency_class: class,
        bandwidth_floor_gbs: GigabytesPerSecond(1.0),
        persistence: Persistence::None,
        shareable: true,
        security_domain: "tenantA".into(),
        host: None,
        policy_lease_ttl_s: None,
        labels: Default::default(),
    }
}

fn allocated(plane: &ControlPlane, class: LatencyClass) -> u64 {
    plane
        .ffm
        .tiers()
        .devices
        .iter()
        .filter(|d| d.tier == class)
        .map(|d| d.allocated_bytes.0)
        .sum()
}

/// Everything that takes pages from the pool, in one test: the pool is machine-wide.
#[tokio::test]
async fn a_named_class_gets_hugetlb_pages_taken_at_allocation_and_given_back_on_delete() {
    let _pool = GrownPool::by(4);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("store.redb"), RedbOptions::default()).unwrap());
    let mut config = FfmConfig::in_dir(dir.path());
    config.hugetlb_classes = vec![LatencyClass::T1];
    let plane = ControlPlane::start_with(
        store,
        Arc::new(Topology::default_twin()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        config,
    )
    .await
    .unwrap();
    let tenant = Caller::new(Principal::Domain("tenantA".into()));
    let admin = Caller::new(Principal::Admin);

    let before = available();
    let huge = plane
        .ffm
        .create(&tenant, request(2 * HUGE_PAGE, LatencyClass::T1))
        .await
        .unwrap()
        .bundle;
    assert_eq!(huge.page_size, PageSize::Hugetlb);
    assert_eq!(available(), before - 2, "both pages taken at allocation");
    // The file behind the bundle's fd is on hugetlbfs: its block size is the huge page.
    let file = std::fs::metadata(&huge.fds[0]).unwrap();
    assert_eq!(file.blksize(), HUGE_PAGE);

    // Not a whole number of pages, or a class not named: shmem, no page from the pool.
    let small = plane
        .ffm
        .create(&tenant, request(HUGE_PAGE / 2, LatencyClass::T1))
        .await
        .unwrap()
        .bundle;
    assert_ne!(small.page_size, PageSize::Hugetlb);
    let other = plane
        .ffm
        .create(&tenant, request(2 * HUGE_PAGE, LatencyClass::T2))
        .await
        .unwrap()
        .bundle;
    assert_ne!(other.page_size, PageSize::Hugetlb);
    assert_eq!(available(), before - 2);

    // More pages than the pool has free: refused whole, nothing granted or left behind.
    let t1_before = allocated(&plane, LatencyClass::T1);
    let too_many = (available() + 1) * HUGE_PAGE;
    // A dry run says so too, and takes nothing.
    let planned = plane
        .ffm
        .dry_run(&tenant, request(too_many, LatencyClass::T1))
        .await
        .unwrap_err();
    assert!(
        matches!(planned, FfmError::HugePagesUnavailable { .. }),
        "{planned}"
    );
    plane
        .ffm
        .dry_run(&tenant, request(2 * HUGE_PAGE, LatencyClass::T1))
        .await
        .unwrap();
    assert_eq!(available(), before - 2);
    let refused = plane
        .ffm
        .create(&tenant, request(too_many, LatencyClass::T1))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, FfmError::HugePagesUnavailable { needed, .. } if needed == too_many / HUGE_PAGE),
        "{refused}"
    );
    let problem = refused.to_problem();
    assert_eq!(problem.status, 409);
    assert_eq!(problem.reason.as_deref(), Some("HugePagesUnavailable"));
    assert_eq!(allocated(&plane, LatencyClass::T1), t1_before);
    assert_eq!(available(), before - 2);
    let listed = plane
        .ffm
        .list(&admin, &corridor_services::ListOptions::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3, "only the three bundles granted");

    plane.ffm.delete(&admin, &huge.id, None).await.unwrap();
    assert_eq!(available(), before, "the pages went back with the bundle");
}

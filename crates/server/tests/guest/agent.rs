//! The guest side: runs inside the booted kernel as the ignored
//! `guest_agent` test of this same binary. It starts the real corridord
//! with `--memory-provider linux`, reads what memqosd discovered, allocates
//! bundles, receives their fds over the hand-off socket and asks the kernel
//! (`move_pages` with no target nodes) where every page is. Each check is an
//! assertion here; the host test passes only on [`super::PASSED`].

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corridor_client::Client;
use corridor_client::ffm::MappedBundle;
use corridor_model::ffm::{FfmAllocRequest, FfmBundle, LatencyClass, PageSize, Persistence};
use corridor_model::memory_tiers::FigureOrigin;
use corridor_model::meta::{Operation, OperationState};
use futures::StreamExt;

use super::{FINDING, PASSED, Scenario};

pub const LISTEN: &str = "127.0.0.1:7070";
pub const STATE_DIR: &str = "/tmp/corridord";
pub const PAGE: usize = 4096;
/// Bundles on the emulated CXL node stay small: its writes run at ~4 MiB/s.
const CXL_BUNDLE: u64 = 8 << 20;
const DRAM_BUNDLE: u64 = 32 << 20;

pub fn finding(key: &str, value: impl std::fmt::Display) {
    println!("{FINDING}{key} {value}");
}

/// The guest's corridord, killed when the agent ends however it ends.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_corridord(scenario: Scenario) -> Daemon {
    let log = std::fs::File::create("/tmp/corridord.log").unwrap();
    let child = Command::new("/bin/corridord")
        .args([
            "--insecure-dev",
            "--listen",
            LISTEN,
            "--state-dir",
            STATE_DIR,
        ])
        .args(["--memory-provider", "linux"])
        .args(if scenario.hugetlb_pages_per_node() > 0 {
            &["--ffm-hugetlb-class", "T2"][..]
        } else {
            &[]
        })
        // Nothing optical is under test: no attestation sweep, no ring
        // tracking, so the emulated CPUs serve memqosd.
        .args(["--attest-on-request", "--no-ring-tracking"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("/bin/corridord starts");
    Daemon(child)
}

pub async fn wait_ready(daemon: &mut Daemon, client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            panic!(
                "corridord exited {status}: {}",
                std::fs::read_to_string("/tmp/corridord.log").unwrap_or_default()
            );
        }
        if client.ready().await.unwrap_or(false) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "corridord not ready: {}",
            std::fs::read_to_string("/tmp/corridord.log").unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where the kernel holds each page of `[ptr, ptr + len)` in this process:
/// node → pages (negative keys are errnos, e.g. -ENOENT for a page not
/// present). Asks `move_pages` with `nodes = NULL`, which moves nothing.
pub fn nodes_of(ptr: *const u8, len: usize) -> BTreeMap<i32, usize> {
    let pages: Vec<*const libc::c_void> = (0..len / PAGE)
        // SAFETY: each address is a page inside the caller's live mapping.
        .map(|i| unsafe { ptr.add(i * PAGE) }.cast())
        .collect();
    let mut status = vec![0i32; pages.len()];
    // SAFETY: pid 0 is this process; `pages` and `status` hold `pages.len()`
    // elements each and outlive the call; a NULL node list only queries.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as libc::c_long,
            pages.len() as libc::c_ulong,
            pages.as_ptr(),
            std::ptr::null::<i32>(),
            status.as_mut_ptr(),
            0 as libc::c_int,
        )
    };
    assert_eq!(
        rc,
        0,
        "move_pages(query): {}",
        std::io::Error::last_os_error()
    );
    let mut nodes = BTreeMap::new();
    for node in status {
        *nodes.entry(node).or_insert(0) += 1;
    }
    nodes
}

pub fn request(bytes: u64, class: LatencyClass) -> FfmAllocRequest {
    serde_json::from_value(serde_json::json!({
        "bytes": bytes,
        "latency_class": class,
        "bandwidth_floor_GBs": 0.0,
        "persistence": Persistence::None,
        "shareable": true,
        "security_domain": "guest",
    }))
    .unwrap()
}

/// Maps a new bundle of `class` through the hand-off socket, writes every
/// page (memqosd's policy decides where each lands), and checks that the
/// kernel put every page on the node memqosd's placement names.
pub async fn place(client: &Client, class: LatencyClass, bytes: u64) -> (FfmBundle, MappedBundle) {
    let handle = client.ffm_alloc(&request(bytes, class)).await.unwrap();
    let mut mapped = handle
        .map(format!("{STATE_DIR}/ffm.sock"))
        .expect("the bundle's fd arrives over the hand-off socket");
    assert_eq!(mapped.len() as u64, bytes);
    // Faulted in by corridor-client's threads, each on its own vCPU: the
    // placement check below holds only if the bundle's policy, not the
    // faulting CPU's node, decided where every page went.
    let threads = mapped
        .populate()
        .expect("MADV_POPULATE_WRITE (Linux 5.14 or later)");
    finding(&format!("{class:?}_populate_threads"), threads.to_string());
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if cpus > 1 && bytes >= 2 * corridor_client::ffm::POPULATE_PART_MIN as u64 {
        assert!(
            threads > 1,
            "{bytes} bytes populated on one thread of {cpus} CPUs"
        );
    }
    for (i, page) in mapped.as_mut_slice().chunks_mut(PAGE).enumerate() {
        page[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    let bundle = handle.bundle;
    let [part] = bundle.placement.as_slice() else {
        panic!("a {class:?} bundle of {bytes} bytes on one node: {bundle:?}");
    };
    let node: i32 = part
        .node
        .strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("placement on a NUMA node: {part:?}"));
    let pages = nodes_of(mapped.as_slice().as_ptr(), mapped.len());
    finding(
        &format!("{class:?}_bundle"),
        format!("placed on {} pages_by_node {pages:?}", part.node),
    );
    assert_eq!(pages, BTreeMap::from([(node, mapped.len() / PAGE)]));
    (bundle, mapped)
}

/// A T2 floor neither T2 node can carry alone (the CXL node's cited
/// 36 GB/s and the slow node's HMAT 5 GB/s, each 75 % admissible) is split
/// over both, and the kernel holds each node's pages in the admitted ratio
/// (within one 2 MiB extent), not the system-wide interleave weights.
async fn split_in_the_admitted_ratio(client: &Client) {
    let mut split = request(CXL_BUNDLE * 2, LatencyClass::T2);
    split.bandwidth_floor_gbs = corridor_model::units::GigabytesPerSecond(29.0);
    let handle = client.ffm_alloc(&split).await.unwrap();
    let shares: Vec<(i32, u64)> = handle
        .bundle
        .placement
        .iter()
        .map(|p| {
            (
                p.node.trim_start_matches("node").parse().unwrap(),
                p.bytes.get(),
            )
        })
        .collect();
    assert_eq!(shares.len(), 2, "split over both T2 nodes: {shares:?}");
    let mut mapped = handle.map(format!("{STATE_DIR}/ffm.sock")).unwrap();
    for page in mapped.as_mut_slice().chunks_mut(PAGE) {
        page[0] = 1;
    }
    let pages = nodes_of(mapped.as_slice().as_ptr(), mapped.len());
    finding(
        "split_bundle",
        format!("shares {shares:?} pages_by_node {pages:?}"),
    );
    for (node, bytes) in shares {
        let held = pages.get(&node).copied().unwrap_or(0) as u64 * PAGE as u64;
        assert!(
            held.abs_diff(bytes) <= 2 << 20,
            "node{node} holds {held} bytes for a share of {bytes}: {pages:?}"
        );
    }
}

/// Bytes of `[ptr, ptr + len)` mapped with 2 MiB page-table entries
/// (`ShmemPmdMapped` of its line in `/proc/self/smaps`): huge pages the
/// kernel really gave, not the policy.
pub fn huge_mapped_bytes(ptr: *const u8, len: usize) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let start = ptr as usize;
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ')
            && let Some((from, to)) = range.split_once('-')
            && let (Ok(from), Ok(to)) = (
                usize::from_str_radix(from, 16),
                usize::from_str_radix(to, 16),
            )
        {
            inside = from <= start && start + len <= to;
            continue;
        }
        if inside && let Some(kb) = line.strip_prefix("ShmemPmdMapped:") {
            let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
            return kb * 1024;
        }
    }
    panic!("no smaps entry covers {start:#x}+{len}");
}

/// Free pages in node `node`'s 2 MiB hugetlb pool.
fn huge_pool_free(node: usize) -> u64 {
    std::fs::read_to_string(format!(
        "/sys/devices/system/node/node{node}/hugepages/hugepages-2048kB/free_hugepages"
    ))
    .unwrap()
    .trim()
    .parse()
    .unwrap()
}

pub fn run() {
    let scenario = std::env::var("CORRIDOR_GUEST_SCENARIO")
        .ok()
        .and_then(|s| Scenario::from_name(&s))
        .expect("CORRIDOR_GUEST_SCENARIO names a scenario (set by tests/vm/init.sh)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(checks(scenario));
    println!("{PASSED}");
}

async fn checks(scenario: Scenario) {
    let started = Instant::now();
    let mut daemon = start_corridord(scenario);
    let client = Client::new(&format!("http://{LISTEN}")).unwrap();
    wait_ready(&mut daemon, &client).await;
    finding(
        "ready_after_s",
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );

    // What memqosd discovered, as a user sees it.
    let tiers = client.ffm_tiers().await.unwrap();
    for device in &tiers.devices {
        finding(
            &format!("device.{}", device.id),
            format!(
                "tier={:?} kernel_tier={:?} latency_ns={:?} bandwidth_GBs={:.1}({:?}) capacity_MiB={} rule={:?}",
                device.tier,
                device.basis.kernel_memory_tier,
                device.basis.latency_ns.map(|l| l.value),
                device.bandwidth_gbs.value,
                device.bandwidth_gbs.origin,
                device.capacity_bytes.get() >> 20,
                device.basis.rule,
            ),
        );
    }
    // The mapping of ARCHITECTURE.md: HMAT figures first (80 ns is the
    // fastest node: T1; 250 ns is 170 ns above it: T2), then for a node the
    // platform gives none, what discovery knows (a CXL region: T2, with the
    // cited CXL defaults), whatever the kernel's abstract-distance tiers say.
    let device = |id: &str| {
        tiers
            .devices
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("memqosd lists no {id}: {tiers:?}"))
    };
    assert_eq!(device("node0").tier, LatencyClass::T1);
    assert_eq!(device("node0").basis.kernel_memory_tier, Some(4));
    assert_eq!(device("node1").tier, LatencyClass::T2);
    // 6.12 ranks the slow node by its HMAT figures; 6.1 puts every node in
    // tier 4, and the tiers above come from HMAT all the same.
    let slow_kernel_tier = match scenario {
        Scenario::HmatLts => 4,
        Scenario::Hmat | Scenario::Cxl => 56,
    };
    assert_eq!(
        device("node1").basis.kernel_memory_tier,
        Some(slow_kernel_tier)
    );
    for id in ["node0", "node1"] {
        assert_eq!(
            device(id).bandwidth_gbs.origin,
            FigureOrigin::Hmat,
            "{id}'s figures are the platform's HMAT"
        );
    }
    let slow_node = match scenario {
        Scenario::Hmat | Scenario::HmatLts => {
            assert_eq!(tiers.devices.len(), 2, "{tiers:?}");
            1
        }
        Scenario::Cxl => {
            let cxl = device("node2");
            assert_eq!(cxl.tier, LatencyClass::T2);
            // The kernel ranks the CXL node (tier 22) above the slow HMAT
            // node (tier 56); without HMAT/CDAT figures for it, memqosd uses
            // the cited CXL defaults and says so.
            assert_eq!(cxl.basis.kernel_memory_tier, Some(22));
            assert_eq!(cxl.basis.cxl_regions, vec!["region0".to_owned()]);
            assert_eq!(cxl.bandwidth_gbs.origin, FigureOrigin::Default);
            assert!(cxl.capacity_bytes.get() <= 256 << 20, "{cxl:?}");
            2
        }
    };

    // T1 lands on the fast node; T2 on the slow HMAT node, or on the CXL
    // node when there is one (the lower latency of the two).
    let t1_bytes = DRAM_BUNDLE;
    let t2_bytes = match scenario {
        Scenario::Hmat | Scenario::HmatLts => DRAM_BUNDLE,
        Scenario::Cxl => CXL_BUNDLE,
    };
    let (t1, t1_map) = place(&client, LatencyClass::T1, t1_bytes).await;
    assert_eq!(t1.placement[0].node, "node0");
    // Huge pages where the guest's shmem policy allows them, and only there:
    // what the bundle reports is what the kernel mapped.
    let huge = huge_mapped_bytes(t1_map.as_slice().as_ptr(), t1_map.len());
    finding(
        "T1_page_size",
        format!("{:?}, {huge} bytes mapped huge", t1.page_size),
    );
    match scenario {
        Scenario::Hmat => {
            assert_eq!(t1.page_size, PageSize::TransparentHuge);
            assert!(huge > 0, "no 2 MiB mapping though the policy allows it");
        }
        Scenario::Cxl | Scenario::HmatLts => {
            assert_eq!(t1.page_size, PageSize::Base);
            assert_eq!(huge, 0);
        }
    }
    let (t2, mut t2_map) = place(&client, LatencyClass::T2, t2_bytes).await;
    assert_eq!(t2.placement[0].node, format!("node{slow_node}"));
    // Where the pools have pages, T2 bundles are hugetlb: the placement above was checked
    // on 2 MiB pages, and the migration below moves them.
    finding("T2_page_size", format!("{:?}", t2.page_size));
    if scenario.hugetlb_pages_per_node() > 0 {
        assert_eq!(t2.page_size, PageSize::Hugetlb);
        assert_eq!(
            huge_pool_free(slow_node),
            u64::from(scenario.hugetlb_pages_per_node()) - t2_bytes / (2 << 20),
            "the bundle's pages were taken from the slow node's pool at allocation"
        );
    } else {
        assert_ne!(t2.page_size, PageSize::Hugetlb);
    }
    let (t1, t2) = (t1.id, t2.id);

    // A live T2 bundle moves to T1 while this process keeps writing to it:
    // every page ends on node 0 and no write is lost.
    let pages = t2_map.len() / PAGE;
    let base = t2_map.as_mut_slice().as_mut_ptr() as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut round = 0u64;
            let mut last = vec![0u64; pages];
            while !stop.load(Ordering::Acquire) || round < 2 {
                round += 1;
                for (i, slot) in last.iter_mut().enumerate() {
                    let value = round << 32 | i as u64;
                    // SAFETY: page i lies inside the mapping, which outlives
                    // this thread (joined below before it is dropped); only
                    // this thread writes while it runs.
                    unsafe { ((base + i * PAGE) as *mut u64).write_volatile(value) };
                    *slot = value;
                }
            }
            (round, last)
        })
    };
    // Every write of the operation arrives on the watch, so its progress
    // is seen whatever the timing.
    let mut events = client
        .watch::<Operation>("/v1/operations", None)
        .await
        .unwrap();
    let operation = client.ffm_migrate(&t2, LatencyClass::T1).await.unwrap();
    let mut details = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(event) = events.next().await {
            let now = event.unwrap().object;
            if now.id != operation.id {
                continue;
            }
            if let Some(detail) = &now.progress_detail {
                details.push(detail.clone());
            }
            if matches!(
                now.state,
                OperationState::Succeeded | OperationState::Failed
            ) {
                return now;
            }
        }
        panic!("the operations watch ended before the migration did");
    })
    .await
    .expect("the migration ends within 300 s");
    stop.store(true, Ordering::Release);
    let (rounds, last) = writer.join().unwrap();
    assert_eq!(
        finished.state,
        OperationState::Succeeded,
        "migration: {finished:?}"
    );
    finding(
        "migration_result",
        finished.result.clone().unwrap_or_default(),
    );
    finding("writer_rounds", rounds);
    let moved = nodes_of(t2_map.as_slice().as_ptr(), t2_map.len());
    finding("migrated_pages_by_node", format!("{moved:?}"));
    if scenario.hugetlb_pages_per_node() > 0 {
        let (fast, slow) = (huge_pool_free(0), huge_pool_free(slow_node));
        finding(
            "hugetlb_free_by_node_after_migration",
            format!("node0 {fast} node{slow_node} {slow}"),
        );
        // The huge pages themselves changed pools: taken on node 0, given back on the slow node.
        let per_node = u64::from(scenario.hugetlb_pages_per_node());
        assert_eq!(
            (fast, slow),
            (per_node - t2_bytes / (2 << 20), per_node),
            "huge pages free by node after the move"
        );
    }
    // The kernel's counts as the operation reported them: they only grow,
    // some arrive while pages are still moving, and the last one has seen
    // every resident page.
    let counts: Vec<(u64, u64, u64, u64)> = details
        .iter()
        .map(|d| {
            (
                d["examined_pages"].as_u64().unwrap(),
                d["resident_pages"].as_u64().unwrap(),
                d["moved_pages"].as_u64().unwrap(),
                d["left_pages"].as_u64().unwrap(),
            )
        })
        .collect();
    finding("migration_progress", format!("{counts:?}"));
    assert!(
        counts
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].2 <= w[1].2),
        "progress went backwards: {counts:?}"
    );
    assert!(
        counts
            .iter()
            .any(|&(examined, resident, moved, _)| moved > 0 && examined < resident),
        "no intermediate move_pages count: {counts:?}"
    );
    let (examined, resident, _, left) = *counts.last().unwrap();
    assert_eq!((examined, resident), (pages as u64, pages as u64));
    // What memqosd says stayed behind is what the kernel shows.
    let off_target = pages - moved.get(&0).copied().unwrap_or(0);
    assert_eq!(left, off_target as u64, "left_pages against {moved:?}");
    match scenario {
        // 6.12 moves every page under the writer.
        Scenario::Hmat | Scenario::Cxl => assert_eq!(left, 0),
        // 6.1 sometimes cannot move a page the writer keeps busy, through
        // every retry; then the bundle's Placed condition says so.
        Scenario::HmatLts => {
            if left > 0 {
                let bundle = client.ffm_get(&t2).await.unwrap().bundle;
                let placed = bundle
                    .meta
                    .conditions
                    .iter()
                    .find(|c| c.condition_type == "Placed")
                    .unwrap();
                assert!(
                    placed.message.contains(&format!("{left} pages stayed off")),
                    "{placed:?}"
                );
            }
        }
    }
    // The pages this process maps moved through its own address space (it
    // is the hand-off's peer), not through a second mapping of corridord's.
    let holder_pages = finished.result.as_ref().unwrap()["holder_pages"]
        .as_u64()
        .unwrap();
    assert!(
        holder_pages > 0,
        "no page moved through the holder's address space: {:?}",
        finished.result
    );
    let lost = t2_map
        .as_slice()
        .chunks(PAGE)
        .zip(&last)
        .filter(|(page, expected)| u64::from_le_bytes(page[..8].try_into().unwrap()) != **expected)
        .count();
    assert_eq!(lost, 0, "pages whose last write did not survive the move");

    if scenario == Scenario::Cxl {
        split_in_the_admitted_ratio(&client).await;
    }
    drop(t1_map);
    client.ffm_delete(&t1).await.unwrap();
    finding(
        "elapsed_s",
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
}

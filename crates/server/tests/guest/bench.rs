//! The guest side of `cargo bench --bench guest_memory`: memqosd's
//! migration of a bundle between the two NUMA nodes against `move_pages` of
//! the same pages by bare code, and populating a fresh bundle against
//! anonymous memory and a bare memfd (the guest's shmem policy is `advise`:
//! all three get 2 MiB pages), alternating, in the same guest. Prints one
//! `corridor-guest-bench:` line per measurement; the host prints them.

use std::time::{Duration, Instant};

use corridor_client::Client;
use corridor_model::ffm::LatencyClass;
use corridor_model::meta::{Operation, OperationState};
use futures::StreamExt;

use super::agent::{LISTEN, PAGE, place, start_corridord, wait_ready};

/// The bundle moved back and forth (64 MiB: long enough under TCG that the
/// API's own cost is visible beside the copy, small enough for 1 GiB nodes).
const BYTES: u64 = 64 << 20;
/// Rounds of the migration comparison: single TCG timings of the same move
/// vary by 2× on this machine, so the medians are what to read.
const ROUNDS: usize = 9;
const MPOL_MF_MOVE_ALL: libc::c_int = 1 << 2;

fn line(text: impl std::fmt::Display) {
    println!("corridor-guest-bench: {text}");
}

/// Every page of `[ptr, ptr + len)` to `node` in one `move_pages` call, as
/// a bare program would; the time it took.
fn bare_move(ptr: *const u8, len: usize, node: i32) -> Duration {
    let started = Instant::now();
    bare_move_pages(ptr, len, node);
    started.elapsed()
}

/// The same move as [`bare_move`], split into one `move_pages` call per
/// CPU, each on its own thread, as memqosd splits its own: what a bare
/// program using every CPU gets, to set memqosd's figure beside.
fn bare_move_split(ptr: *const u8, len: usize, node: i32) -> Duration {
    let threads = split_threads();
    let part = (len / PAGE).div_ceil(threads) * PAGE;
    let start = ptr as usize;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for offset in (0..len).step_by(part) {
            let this = part.min(len - offset);
            scope.spawn(move || bare_move_pages((start + offset) as *const u8, this, node));
        }
    });
    started.elapsed()
}

/// The threads [`bare_move_split`] uses: one per CPU, at most 4, as the
/// HAL's `move_threads` gives memqosd for a move this large.
fn split_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// One `move_pages(MPOL_MF_MOVE_ALL)` call moving the `len` bytes at `ptr`
/// (this process's live mapping) to `node`.
fn bare_move_pages(ptr: *const u8, len: usize, node: i32) {
    let pages: Vec<*const libc::c_void> = (0..len / PAGE)
        // SAFETY: each address is a page inside the caller's live mapping.
        .map(|i| unsafe { ptr.add(i * PAGE) }.cast())
        .collect();
    let nodes = vec![node; pages.len()];
    let mut status = vec![0i32; pages.len()];
    // SAFETY: pid 0 is this process; pages, nodes and status hold
    // `pages.len()` elements each and outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as libc::c_long,
            pages.len() as libc::c_ulong,
            pages.as_ptr(),
            nodes.as_ptr(),
            status.as_mut_ptr(),
            MPOL_MF_MOVE_ALL,
        )
    };
    assert!(rc >= 0, "move_pages: {}", std::io::Error::last_os_error());
}

/// memqosd's migration to `class`: wall time from the PATCH to the
/// operation's success, and the kernel part it measured itself. The
/// operation is followed on a watch, not polled, so the measuring side
/// takes no CPU from the emulated machine while the pages move.
///
/// `via_holder` says which path the move must have taken: through the
/// hand-off peer's address space (every page examined there) or through
/// corridord's own mapping (none), so each figure is the path it names.
async fn memqosd_move(
    client: &Client,
    id: &str,
    class: LatencyClass,
    via_holder: bool,
) -> (Duration, f64) {
    let mut events = client
        .watch::<Operation>("/v1/operations", None)
        .await
        .unwrap();
    let started = Instant::now();
    let operation = client.ffm_migrate(id, class).await.unwrap();
    while let Some(event) = events.next().await {
        let now = event.unwrap().object;
        if now.id != operation.id {
            continue;
        }
        match now.state {
            OperationState::Succeeded => {
                let wall = started.elapsed();
                let result = now.result.as_ref().unwrap();
                let kernel = result["measured_seconds"].as_f64().unwrap();
                let holder_pages = result["holder_pages"].as_u64().unwrap();
                assert_eq!(
                    holder_pages > 0,
                    via_holder,
                    "the migration took the other path: {result}"
                );
                return (wall, kernel);
            }
            OperationState::Failed => panic!("migration failed: {now:?}"),
            _ => {}
        }
    }
    panic!("the operations watch ended before the migration did");
}

/// Populating memory of `len` bytes at `ptr` for writing
/// (`MADV_POPULATE_WRITE`); the time it took.
fn populate_write(ptr: *mut libc::c_void, len: usize) -> Duration {
    let started = Instant::now();
    // SAFETY: the range is a live mapping the caller owns; populating only
    // allocates and maps its pages.
    let rc = unsafe { libc::madvise(ptr, len, libc::MADV_POPULATE_WRITE) };
    assert_eq!(
        rc,
        0,
        "MADV_POPULATE_WRITE: {}",
        std::io::Error::last_os_error()
    );
    started.elapsed()
}

/// A fresh mapping of `len` bytes: of `fd` (shared) or anonymous, with
/// `MAP_POPULATE` or not, asking for huge pages (`MADV_HUGEPAGE`) after
/// mapping. The mapping and the time the `mmap` call took.
fn map(fd: Option<libc::c_int>, len: usize, populate: bool) -> (*mut libc::c_void, Duration) {
    let mut flags = match fd {
        Some(_) => libc::MAP_SHARED,
        None => libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
    };
    if populate {
        flags |= libc::MAP_POPULATE;
    }
    let started = Instant::now();
    // SAFETY: a new mapping at a kernel-chosen address; unmapped by the
    // caller.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd.unwrap_or(-1),
            0,
        )
    };
    let elapsed = started.elapsed();
    assert_ne!(
        ptr,
        libc::MAP_FAILED,
        "mmap: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the range is the mapping just created.
    unsafe { libc::madvise(ptr, len, libc::MADV_HUGEPAGE) };
    (ptr, elapsed)
}

fn unmap(ptr: *mut libc::c_void, len: usize) {
    // SAFETY: unmaps a mapping `map` created, once.
    unsafe { libc::munmap(ptr, len) };
}

/// Populating memory of `len` bytes at `ptr` for writing the way
/// corridor-client populates a bundle (`MADV_POPULATE_WRITE` split over one
/// thread per CPU); the time it took.
fn populate_split(ptr: *mut libc::c_void, len: usize) -> Duration {
    let started = Instant::now();
    // SAFETY: the range is a live mapping the caller owns for the call.
    unsafe { corridor_client::ffm::populate_write(ptr.cast(), len) }
        .expect("MADV_POPULATE_WRITE split over threads");
    started.elapsed()
}

/// A fresh bundle of `bytes` as its user gets it: memqosd's memfd with the
/// tier's policy, received over the hand-off socket and mapped by
/// corridor-client (which asks for huge pages).
async fn fresh_bundle(client: &Client, bytes: u64) -> (String, corridor_client::ffm::MappedBundle) {
    let handle = client
        .ffm_alloc(&super::agent::request(bytes, LatencyClass::T1))
        .await
        .unwrap();
    let mapped = handle
        .map(format!("{}/ffm.sock", super::agent::STATE_DIR))
        .unwrap();
    (handle.bundle.id, mapped)
}

const POPULATE_BYTES: u64 = 128 << 20;
const BUNDLE_SPLIT: &str = "bundle, MappedBundle::populate";
const BUNDLE_ONE_CALL: &str = "bundle, one MADV_POPULATE_WRITE";
const BARE_ONE_CALL: &str = "bare memfd, one MADV_POPULATE_WRITE";
const BARE_SPLIT: &str = "bare memfd, MADV_POPULATE_WRITE split as the bundle's";

type Times = std::collections::BTreeMap<&'static str, Vec<Duration>>;

/// Two fresh bundles populated, one by `MappedBundle::populate`, one with a
/// single `MADV_POPULATE_WRITE`; both must end up all 2 MiB pages. The
/// threads `MappedBundle::populate` used.
async fn populate_bundles(client: &Client, times: &mut Times) -> usize {
    let len = POPULATE_BYTES as usize;
    let (id, mapped) = fresh_bundle(client, POPULATE_BYTES).await;
    let started = Instant::now();
    let split_threads = mapped.populate().expect("MappedBundle::populate");
    times
        .entry(BUNDLE_SPLIT)
        .or_default()
        .push(started.elapsed());
    let ptr = mapped.as_slice().as_ptr();
    // Compared with huge pages elsewhere, the bundle must have them too.
    assert_eq!(
        super::agent::huge_mapped_bytes(ptr, len),
        POPULATE_BYTES,
        "the bundle is not all 2 MiB pages"
    );
    drop(mapped);
    client.ffm_delete(&id).await.unwrap();

    let (id, mut mapped) = fresh_bundle(client, POPULATE_BYTES).await;
    let ptr = mapped.as_mut_slice().as_mut_ptr().cast();
    times
        .entry(BUNDLE_ONE_CALL)
        .or_default()
        .push(populate_write(ptr, len));
    assert_eq!(
        super::agent::huge_mapped_bytes(ptr.cast(), len),
        POPULATE_BYTES,
        "the bundle is not all 2 MiB pages"
    );
    drop(mapped);
    client.ffm_delete(&id).await.unwrap();
    split_threads
}

/// A fresh mapping of `fd` (anonymous memory for `None`) populated by
/// `fill`, then unmapped: the time `fill` took.
fn populated(fd: Option<libc::c_int>, fill: fn(*mut libc::c_void, usize) -> Duration) -> Duration {
    let len = POPULATE_BYTES as usize;
    let (ptr, _) = map(fd, len, false);
    let took = fill(ptr, len);
    unmap(ptr, len);
    took
}

/// A bare memfd populated with one `MADV_POPULATE_WRITE`, then, its pages
/// punched out, split as the bundle's.
fn populate_bare_memfd(times: &mut Times) {
    let len = POPULATE_BYTES as usize;
    // SAFETY: memfd_create with a valid C string; the fd is closed below.
    let fd = unsafe { libc::memfd_create(c"bench".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: fd is the memfd just created.
    assert_eq!(unsafe { libc::ftruncate(fd, len as libc::off_t) }, 0);
    times
        .entry(BARE_ONE_CALL)
        .or_default()
        .push(populated(Some(fd), populate_write));
    // Punching the pages out makes the memfd fresh again.
    // SAFETY: fd is the memfd above; the range is its whole size.
    let punched = unsafe {
        libc::fallocate(
            fd,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            0,
            len as libc::off_t,
        )
    };
    assert_eq!(punched, 0, "punching the bare memfd's pages out");
    times
        .entry(BARE_SPLIT)
        .or_default()
        .push(populated(Some(fd), populate_split));
    // SAFETY: closes the memfd created above, once.
    unsafe { libc::close(fd) };
}

/// Populating fresh bundles against anonymous memory and a bare memfd,
/// alternating, each both ways: one `MADV_POPULATE_WRITE` call (and
/// `MAP_POPULATE` for anonymous memory), and split over one thread per CPU
/// as `MappedBundle::populate` does. Each figure the median of its rounds;
/// the bundle against the bare memfd also as the median of round-by-round
/// ratios, the two populated in alternating order (single TCG timings vary
/// too much for a ratio of separate medians to settle at a few percent).
/// Every bundle must end up all 2 MiB pages, as the anonymous memory and
/// the bare memfd get them here.
async fn populate(client: &Client) {
    const POPULATE_ROUNDS: usize = 9;
    let len = POPULATE_BYTES as usize;
    let mut times = Times::default();
    let mut split_threads = 0;
    for round in 0..POPULATE_ROUNDS {
        if round.is_multiple_of(2) {
            split_threads = populate_bundles(client, &mut times).await;
            populate_bare_memfd(&mut times);
        } else {
            populate_bare_memfd(&mut times);
            split_threads = populate_bundles(client, &mut times).await;
        }
        let mut time = |name, took| times.entry(name).or_default().push(took);
        let (anon, took) = map(None, len, true);
        time("anonymous, MAP_POPULATE", took);
        unmap(anon, len);
        time(
            "anonymous, one MADV_POPULATE_WRITE",
            populated(None, populate_write),
        );
        time(
            "anonymous, MADV_POPULATE_WRITE split as the bundle's",
            populated(None, populate_split),
        );
    }
    let median = |name: &str| {
        let mut v = times[name].clone();
        v.sort();
        v[v.len() / 2]
    };
    let bundle = median(BUNDLE_SPLIT);
    line(format!(
        "populate {} MiB: MappedBundle::populate split the bundle over {split_threads} threads",
        POPULATE_BYTES >> 20
    ));
    for name in times.keys() {
        let m = median(name);
        line(format!(
            "populate {} MiB, {name}: {:.1} ms (MappedBundle::populate takes {:.2}x this; median of {POPULATE_ROUNDS})",
            POPULATE_BYTES >> 20,
            m.as_secs_f64() * 1e3,
            bundle.as_secs_f64() / m.as_secs_f64(),
        ));
    }
    for (bundle, bare) in [(BUNDLE_SPLIT, BARE_SPLIT), (BUNDLE_ONE_CALL, BARE_ONE_CALL)] {
        let mut ratios: Vec<f64> = times[bundle]
            .iter()
            .zip(&times[bare])
            .map(|(b, m)| b.as_secs_f64() / m.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        line(format!(
            "populate {} MiB, {bundle} against {bare}, paired by round (order alternating): \
             {:.3} (rounds {:.3}-{:.3}; median of {POPULATE_ROUNDS} ratios)",
            POPULATE_BYTES >> 20,
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1],
        ));
    }
}

/// A bundle of `class` mapped the other way a process of corridord's user
/// can reach it: by opening its `fds` path (`/proc/<corridord>/fd/<n>`)
/// rather than through the hand-off socket, so corridord does not know the
/// process maps it and migrates its pages through a mapping of its own (what
/// every migration did before it moved pages through the holders' address
/// spaces). One word written per page, as `place` does; the mapping and its
/// fd, for `unmap` and `close`.
async fn place_unannounced(
    client: &Client,
    class: LatencyClass,
    bytes: u64,
) -> (String, *mut libc::c_void, libc::c_int) {
    let handle = client
        .ffm_alloc(&super::agent::request(bytes, class))
        .await
        .unwrap();
    let path = std::ffi::CString::new(handle.bundle.fds[0].as_str()).unwrap();
    // SAFETY: opens a path given as a C string; the fd is closed by the caller.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    assert!(
        fd >= 0,
        "open {:?}: {}",
        handle.bundle.fds,
        std::io::Error::last_os_error()
    );
    let len = bytes as usize;
    let (ptr, _) = map(Some(fd), len, false);
    for i in 0..len / PAGE {
        // SAFETY: page i lies inside the live mapping of `len` bytes.
        unsafe { ptr.cast::<u8>().add(i * PAGE).cast::<u64>().write(i as u64) };
    }
    (handle.bundle.id, ptr, fd)
}

pub fn run() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut daemon = start_corridord(super::Scenario::Hmat);
        let client = Client::new(&format!("http://{LISTEN}")).unwrap();
        wait_ready(&mut daemon, &client).await;
        let (bundle, map) = place(&client, LatencyClass::T2, BYTES).await;
        let (ptr, len) = (map.as_slice().as_ptr(), map.len());
        // The same bundle again, its holder unknown to corridord: the
        // migration path of pages no hand-off peer maps.
        let (own_id, own_ptr, own_fd) =
            place_unannounced(&client, LatencyClass::T2, BYTES).await;
        let mb = BYTES as f64 / 1e6;
        let mut times: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        // Each move's throughput against the bare move of its round and
        // direction, made seconds before: it would cancel a drift of the
        // emulator's speed over a run (measured: it spreads as widely as the
        // medians, BENCHMARKS.md).
        let mut paired: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        for round in 0..ROUNDS {
            // Pages on node 1. Bare: to node 0 and back; memqosd: the same,
            // through the holder's address space and through its own mapping.
            let bare_there = bare_move(ptr, len, 0);
            let bare_back = bare_move(ptr, len, 1);
            let split_there = bare_move_split(ptr, len, 0).as_secs_f64();
            let split_back = bare_move_split(ptr, len, 1).as_secs_f64();
            times
                .entry("bare split")
                .or_default()
                .extend([split_there, split_back]);
            let (wall_there, kernel_there) =
                memqosd_move(&client, &bundle.id, LatencyClass::T1, true).await;
            let (wall_back, kernel_back) =
                memqosd_move(&client, &bundle.id, LatencyClass::T2, true).await;
            let (own_wall_there, own_kernel_there) =
                memqosd_move(&client, &own_id, LatencyClass::T1, false).await;
            let (own_wall_back, own_kernel_back) =
                memqosd_move(&client, &own_id, LatencyClass::T2, false).await;
            for (direction, bare, wall, kernel, own_wall, own_kernel) in [
                (
                    "node1->node0",
                    bare_there,
                    wall_there,
                    kernel_there,
                    own_wall_there,
                    own_kernel_there,
                ),
                (
                    "node0->node1",
                    bare_back,
                    wall_back,
                    kernel_back,
                    own_wall_back,
                    own_kernel_back,
                ),
            ] {
                let bare = bare.as_secs_f64();
                let (wall, own_wall) = (wall.as_secs_f64(), own_wall.as_secs_f64());
                times.entry("bare").or_default().push(bare);
                for (name, value) in [
                    ("holder kernel", kernel),
                    ("holder wall", wall),
                    ("own kernel", own_kernel),
                    ("own wall", own_wall),
                ] {
                    times.entry(name).or_default().push(value);
                    paired.entry(name).or_default().push(bare / value);
                }
                line(format!(
                    "round {round} {direction} {mb:.0} MB: bare move_pages {:.1} MB/s ({bare:.3} s); \
                     memqosd through the holder {kernel:.3} s in the kernel ({:.2}x bare), \
                     {wall:.3} s PATCH to done ({:.2}x); \
                     memqosd through its own mapping {own_kernel:.3} s in the kernel ({:.2}x), \
                     {own_wall:.3} s PATCH to done ({:.2}x)",
                    mb / bare,
                    bare / kernel,
                    bare / wall,
                    bare / own_kernel,
                    bare / own_wall,
                ));
            }
        }
        fn median(v: &[f64]) -> f64 {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        }
        // The emulator's interference only ever slows a move, so the fastest
        // of each is the figure it disturbs least.
        fn fastest(v: &[f64]) -> f64 {
            v.iter().copied().fold(f64::INFINITY, f64::min)
        }
        /// How a path's moves are summed up in one figure.
        type Statistic = fn(&[f64]) -> f64;
        let statistics: [(&str, Statistic); 2] = [("medians", median), ("fastest", fastest)];
        for (statistic, of) in statistics {
            let bare = of(&times["bare"]);
            let figure = |name: &str| {
                let m = of(&times[name]);
                format!("{m:.3} s ({:.2}x bare's throughput)", bare / m)
            };
            line(format!(
                "migration {mb:.0} MB, {statistic} of {} moves each: bare move_pages {bare:.3} s; \
                 memqosd through the holder's address space {} in the kernel, {} PATCH to done; \
                 through its own mapping {} in the kernel, {} PATCH to done",
                times["bare"].len(),
                figure("holder kernel"),
                figure("holder wall"),
                figure("own kernel"),
                figure("own wall"),
            ));
        }
        let split = median(&times["bare split"]);
        line(format!(
            "migration {mb:.0} MB, bare move_pages split over {} threads as memqosd splits its \
             own, median of {} moves: {split:.3} s; memqosd through the holder's address space \
             in the kernel {:.2}x its throughput, through its own mapping {:.2}x",
            split_threads(),
            times["bare split"].len(),
            split / median(&times["holder kernel"]),
            split / median(&times["own kernel"]),
        ));
        let paired_median = |name: &str| format!("{:.2}x", median(&paired[name]));
        line(format!(
            "migration {mb:.0} MB, median of {} paired ratios (each move against the bare move of \
             its round and direction): memqosd through the holder's address space {} bare's throughput \
             in the kernel, {} PATCH to done; through its own mapping {} in the kernel, {} \
             PATCH to done",
            paired["holder kernel"].len(),
            paired_median("holder kernel"),
            paired_median("holder wall"),
            paired_median("own kernel"),
            paired_median("own wall"),
        ));
        drop(map);
        unmap(own_ptr, len);
        // SAFETY: closes the fd `place_unannounced` opened, once.
        unsafe { libc::close(own_fd) };
        client.ffm_delete(&own_id).await.unwrap();
        populate(&client).await;
        line("done");
    });
}

//! memqosd benchmarks, bounded in time:
//!
//! 1. **alloc + DELETE end to end** against a real corridord child
//!    (`--insecure-dev`: plain HTTP on loopback, so the figure is the
//!    service, not TLS) with 10,000 live bundles and 32 keep-alive clients
//!    each looping `POST /v1/ffm/alloc` then `DELETE /v1/ffm/{id}`.
//! 2. **Populating a 1 GiB bundle through its fd** (`mmap(MAP_SHARED |
//!    MAP_POPULATE)` of the sealed memfd) against `mmap(MAP_PRIVATE |
//!    MAP_ANONYMOUS | MAP_POPULATE)` of 1 GiB, interleaved in one run; and
//!    both populated as corridor-client's `MappedBundle::populate` does
//!    (`MADV_POPULATE_WRITE` split over one thread per CPU); and the bundle
//!    against a bare memfd both ways, paired round by round with the order
//!    alternating, so the ratio is not one figure's noise over another's.
//! 3. **Migration** of a populated 1 GiB bundle (`mbind(MPOL_MF_MOVE)` over
//!    its resident pages, counted by `move_pages`) against `memcpy` of 1 GiB.
//!
//! `cargo bench -p corridor-server --bench ffm`. `FFM_BENCH_SECONDS` sets
//! the load time of (1) (default 10), `FFM_BENCH_LIVE` the live bundles
//! (default 10000). `FFM_BENCH_BASELINE=<paths of other corridords, comma
//! separated>` runs (1) against those builds too, alternating with this one
//! (baselines first), `FFM_BENCH_ROUNDS` times (default 1), so a
//! before/after comparison shares one run's machine load;
//! `FFM_BENCH_RATE=<pairs/s>` runs (1) open loop: each client starts a pair
//! at its slot of the offered rate rather than as soon as the last ended, and a
//! pair that starts late (the server held the client past its slot) has its
//! alloc latency counted from the slot, so queueing is not hidden
//! (coordinated omission); without it the clients run flat out.
//! `FFM_BENCH_ONLY_ALLOC=1` skips (2) and (3); `FFM_BENCH_ONLY_MEMORY=1` runs only
//! them. `FFM_BENCH_TRACE=<file>` appends every request of (1) to the file,
//! a line each (its start in ms since the load began, then its latency in
//! ms) after a `# <label>` line per run: how the slow requests of a p99
//! cluster in time (all clients stalled at once, every checkpoint, found
//! the audit settle on the store's writer).
//!
//! (2) also times, run as root, a 1 GiB hugetlb bundle (`MFD_HUGETLB`, its 2 MiB pages
//! taken by memqosd's own populate, `MADV_POPULATE_WRITE`) beside anonymous memory
//! populated the same way, growing the kernel's hugetlb pool by 512 pages for it and
//! shrinking it back after.
//!
//! `FFM_BENCH_STORE=redb,etcd,etcd3` runs (1) once per store named, in that
//! order, in one run: `redb` is the embedded store (the default), `etcd` a
//! throwaway single-member etcd and `etcd3` a throwaway 3-member etcd on
//! loopback, each started for its run and killed after it. On etcd an
//! alloc grants its lease with its own consensus write before the
//! transaction, and a DELETE revokes it with another after; on redb each is
//! one logged write.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use corridor_services::ffm::memory::{BundleMemory, NumaTarget, local_memory_nodes};
use corridor_store::etcd::testing::{ThrowawayCluster, ThrowawayEtcd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

const CLIENTS: usize = 32;

/// Appends `trace` (request start, latency), in start order, to `path`.
fn write_trace(path: &std::path::Path, label: &str, trace: &mut [(Duration, Duration)]) {
    use std::fmt::Write as _;
    trace.sort();
    let mut text = format!("# {label}\n");
    for (start, latency) in trace.iter() {
        let _ = writeln!(
            text,
            "{:.3} {:.3}",
            start.as_secs_f64() * 1e3,
            latency.as_secs_f64() * 1e3
        );
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()));
    if let Err(error) = written {
        eprintln!("FFM_BENCH_TRACE: cannot write {}: {error}", path.display());
    }
}
const GIB: usize = 1 << 30;
const BODY: &str = r#"{"bytes":4096,"latency_class":"T1","bandwidth_floor_GBs":0,"persistence":"none","shareable":true,"security_domain":"bench"}"#;

struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            addr,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// One request; returns status and body.
    async fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await.unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    let n = self.stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0);
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return (status, self.buf[end + 4..end + 4 + len].to_vec());
            }
        }
    }

    async fn alloc(&mut self) -> String {
        let (status, body) = self.call("POST", "/v1/ffm/alloc", BODY).await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["id"].as_str().unwrap().to_owned()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn wait_ready(addr: SocketAddr) {
    for _ in 0..2000 {
        if let Ok(mut c) = TcpStream::connect(addr).await {
            let _ = c
                .write_all(
                    format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out).await;
            if out.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("corridord never became ready");
}

async fn alloc_delete(binary: &str, label: &str, store_args: &[String]) {
    let seconds: u64 = std::env::var("FFM_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let live: usize = std::env::var("FFM_BENCH_LIVE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let args: Vec<&str> = store_args.iter().map(String::as_str).collect();
    let server = support::Server::spawn_binary(binary, true, &args);
    wait_ready(server.addr).await;
    println!("ffm/alloc+delete [{label}]: {binary}");
    let addr = server.addr;
    // Populate the live set with 32 connections.
    let started = Instant::now();
    let per = live.div_ceil(CLIENTS);
    let fill: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await;
                for _ in 0..per {
                    c.alloc().await;
                }
            })
        })
        .collect();
    for f in fill {
        f.await.unwrap();
    }
    println!(
        "ffm/populate: {} live bundles in {:.2} s ({:.0} allocs/s)",
        per * CLIENTS,
        started.elapsed().as_secs_f64(),
        (per * CLIENTS) as f64 / started.elapsed().as_secs_f64()
    );
    let cpu_before = server.cpu_seconds();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let trace_to = std::env::var_os("FFM_BENCH_TRACE");
    let tracing = trace_to.is_some();
    let rate: Option<f64> = std::env::var("FFM_BENCH_RATE").ok().map(|s| {
        s.parse()
            .expect("FFM_BENCH_RATE: alloc+DELETE pairs per second")
    });
    // Each client's time between pairs at the offered rate, the clients
    // spread evenly over it.
    let pace = rate.map(|r| Duration::from_secs_f64(CLIENTS as f64 / r));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await;
                let mut alloc = Vec::new();
                let mut delete = Vec::new();
                let mut late = 0usize;
                // (start since the load began, latency) of every request.
                let mut trace: Vec<(Duration, Duration)> = Vec::new();
                let mut due = pace.map(|p| started + p.mul_f64(client as f64 / CLIENTS as f64));
                while Instant::now() < deadline {
                    let t = match (pace, due.as_mut()) {
                        (Some(pace), Some(due)) => {
                            let scheduled = *due;
                            *due += pace;
                            if scheduled >= deadline {
                                break;
                            }
                            if Instant::now() > scheduled {
                                // The server kept this client past its
                                // slot: the wait counts (no coordinated
                                // omission).
                                late += 1;
                                scheduled
                            } else {
                                // On time: the timer's own lateness (tokio
                                // sleeps in whole milliseconds) is the
                                // benchmark's, not the server's.
                                tokio::time::sleep_until(scheduled.into()).await;
                                Instant::now()
                            }
                        }
                        _ => Instant::now(),
                    };
                    let id = c.alloc().await;
                    alloc.push(t.elapsed());
                    if tracing {
                        trace.push((t - started, t.elapsed()));
                    }
                    let t = Instant::now();
                    let (status, _) = c.call("DELETE", &format!("/v1/ffm/{id}"), "").await;
                    assert_eq!(status, 200);
                    delete.push(t.elapsed());
                    if tracing {
                        trace.push((t - started, t.elapsed()));
                    }
                }
                (alloc, delete, trace, late)
            })
        })
        .collect();
    let (mut alloc, mut delete, mut trace, mut late) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (a, d, r, l) = t.await.unwrap();
        alloc.extend(a);
        delete.extend(d);
        trace.extend(r);
        late += l;
    }
    if let Some(path) = trace_to {
        write_trace(std::path::Path::new(&path), label, &mut trace);
    }
    let elapsed = started.elapsed().as_secs_f64();
    alloc.sort();
    delete.sort();
    let mut both: Vec<Duration> = alloc.iter().chain(&delete).copied().collect();
    both.sort();
    println!(
        "ffm/alloc+delete: {CLIENTS} clients, {} live: {:.0} alloc+DELETE pairs/s = {:.0} requests/s over {elapsed:.1} s",
        per * CLIENTS,
        alloc.len() as f64 / elapsed,
        both.len() as f64 / elapsed,
    );
    if let Some(rate) = rate {
        println!(
            "ffm/alloc+delete: open loop at {rate:.0} pairs/s offered; {late} of {} pairs started late \
             (their alloc latency counted from the slot they missed)",
            alloc.len()
        );
    }
    for (name, v) in [("alloc", &alloc), ("delete", &delete), ("any", &both)] {
        println!(
            "ffm/alloc+delete: {name:6} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            percentile(v, 0.5).as_secs_f64() * 1e3,
            percentile(v, 0.99).as_secs_f64() * 1e3,
            v.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    if let (Some(before), Some(after)) = (cpu_before, server.cpu_seconds()) {
        println!(
            "ffm/alloc+delete: corridord CPU {:.2} s over the load ({:.0} µs per request)",
            after - before,
            (after - before) / both.len().max(1) as f64 * 1e6
        );
    }
    if let Some(rss) = server.rss_kib() {
        println!("ffm/alloc+delete: corridord RSS {} MiB", rss / 1024);
    }
}

/// How a benchmark mapping is populated.
#[derive(Clone, Copy)]
enum Fill {
    /// `MAP_POPULATE` in the `mmap` call: one thread.
    MapPopulate,
    /// `corridor_client::ffm::populate_write` after the `mmap`: the range
    /// split over one thread per CPU, as `MappedBundle::populate` does.
    Split,
}

/// mmap + populate `fill`'s way, timed, then unmapped: the time and the
/// threads that populated.
fn populate_by(fd: Option<std::os::fd::BorrowedFd<'_>>, fill: Fill) -> (Duration, usize) {
    use rustix::mm::{MapFlags, ProtFlags, mmap, mmap_anonymous, munmap};
    let populate = match fill {
        Fill::MapPopulate => MapFlags::POPULATE,
        Fill::Split => MapFlags::empty(),
    };
    let t = Instant::now();
    // SAFETY: fresh mappings at kernel-chosen addresses, unmapped below,
    // never dereferenced here.
    let ptr = unsafe {
        match fd {
            Some(fd) => mmap(
                std::ptr::null_mut(),
                GIB,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | populate,
                fd,
                0,
            ),
            None => mmap_anonymous(
                std::ptr::null_mut(),
                GIB,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | populate,
            ),
        }
    }
    .expect("mmap 1 GiB");
    let threads = match fill {
        Fill::MapPopulate => 1,
        // SAFETY: the mapping made just above, live until the munmap below.
        Fill::Split => unsafe { corridor_client::ffm::populate_write(ptr.cast(), GIB) }
            .expect("MADV_POPULATE_WRITE split over threads"),
    };
    let elapsed = t.elapsed();
    // SAFETY: the mapping made just above.
    unsafe { munmap(ptr, GIB) }.expect("munmap");
    (elapsed, threads)
}

/// mmap + `MAP_POPULATE`, timed, then unmapped.
fn populate(fd: Option<std::os::fd::BorrowedFd<'_>>) -> Duration {
    populate_by(fd, Fill::MapPopulate).0
}

/// A fresh bundle as memqosd makes one (a sealed memfd with its mbind
/// policy), populated `fill`'s way: the time and the threads that populated.
fn populate_bundle(fill: Fill) -> (Duration, usize) {
    let bundle = BundleMemory::memfd("bench", GIB as u64).expect("memfd");
    bundle
        .apply_policy(&local_memory_nodes(), None)
        .expect("mbind");
    populate_by(Some(bundle.fd()), fill)
}

/// A fresh memfd without the policy, populated `fill`'s way.
fn populate_bare_memfd(fill: Fill) -> Duration {
    let bare = BundleMemory::memfd("bench-bare", GIB as u64).expect("memfd");
    populate_by(Some(bare.fd()), fill).0
}

/// The bundle and a bare memfd populated `fill`'s way in round `round`,
/// the one first in even rounds and the other in odd ones, so neither
/// always follows the same unmap: (bundle, bare memfd, threads).
fn bundle_and_bare(round: usize, fill: Fill) -> (Duration, Duration, usize) {
    if round.is_multiple_of(2) {
        let (bundle, threads) = populate_bundle(fill);
        (bundle, populate_bare_memfd(fill), threads)
    } else {
        let bare = populate_bare_memfd(fill);
        let (bundle, threads) = populate_bundle(fill);
        (bundle, bare, threads)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median of round-by-round ratios and their range, as text.
fn paired(ratios: &mut [f64]) -> String {
    let m = median(ratios);
    format!(
        "{m:.3} (rounds {:.3}-{:.3})",
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

fn populate_vs_anonymous() {
    // Odd, so the median is a round; paired ratios need more rounds than
    // medians of separate figures to settle (BENCHMARKS.md).
    let rounds = 9;
    let (mut fd_times, mut anon_times, mut bare_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut falloc_times, mut split_times, mut anon_split_times) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut to_bare, mut split_to_bare, mut split_threads) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        // A fresh memfd each time: populating allocates its pages. Without
        // the mbind policy beside it, to separate the policy's cost from
        // shmem's.
        let (bundle, bare, _) = bundle_and_bare(round, Fill::MapPopulate);
        fd_times.push(bundle.as_secs_f64());
        bare_times.push(bare.as_secs_f64());
        to_bare.push(bundle.as_secs_f64() / bare.as_secs_f64());
        anon_times.push(populate(None).as_secs_f64());
        // Populating through the fd with fallocate(2), then mapping.
        let bundle = BundleMemory::memfd("bench-falloc", GIB as u64).expect("memfd");
        bundle
            .apply_policy(&local_memory_nodes(), None)
            .expect("mbind");
        let t = Instant::now();
        rustix::fs::fallocate(
            bundle.fd(),
            rustix::fs::FallocateFlags::empty(),
            0,
            GIB as u64,
        )
        .expect("fallocate");
        let total = t.elapsed() + populate(Some(bundle.fd()));
        falloc_times.push(total.as_secs_f64());
        drop(bundle);
        // The bundle as corridor-client's `MappedBundle::populate` fills it,
        // a bare memfd and anonymous memory split the same way.
        let (split, bare_split, threads) = bundle_and_bare(round, Fill::Split);
        split_times.push(split.as_secs_f64());
        split_to_bare.push(split.as_secs_f64() / bare_split.as_secs_f64());
        split_threads = threads;
        anon_split_times.push(populate_by(None, Fill::Split).0.as_secs_f64());
    }
    let anon = median(&mut anon_times);
    let (split, anon_split) = (median(&mut split_times), median(&mut anon_split_times));
    println!(
        "ffm/populate 1 GiB: bundle fd populated over {split_threads} threads (MappedBundle::populate's way) {:.1} ms; \
         anonymous split the same way {:.1} ms; ratio to anonymous MAP_POPULATE {:.3}, to anonymous split {:.3} (median of {rounds})",
        split * 1e3,
        anon_split * 1e3,
        split / anon,
        split / anon_split,
    );
    println!(
        "ffm/populate 1 GiB: memfd without mbind {:.1} ms; fallocate + MAP_POPULATE {:.1} ms (median of {rounds})",
        median(&mut bare_times) * 1e3,
        median(&mut falloc_times) * 1e3,
    );
    let f = median(&mut fd_times);
    println!(
        "ffm/populate 1 GiB: bundle fd {:.1} ms ({:.2} GB/s), anonymous {:.1} ms ({:.2} GB/s), ratio {:.3} (median of {rounds})",
        f * 1e3,
        GIB as f64 / f / 1e9,
        anon * 1e3,
        GIB as f64 / anon / 1e9,
        f / anon
    );
    println!(
        "ffm/populate 1 GiB: bundle against a bare memfd, paired in each round (which goes first alternating): \
         MAP_POPULATE {}, split over threads {}; median of {rounds} ratios",
        paired(&mut to_bare),
        paired(&mut split_to_bare),
    );
}

/// `MADV_POPULATE_WRITE` over a fresh anonymous 1 GiB mapping, timed, then unmapped.
fn populate_anonymous_by_madvise() -> Duration {
    use rustix::mm::{Advice, MapFlags, ProtFlags, madvise, mmap_anonymous, munmap};
    let t = Instant::now();
    // SAFETY: a fresh mapping at a kernel-chosen address, only advised and unmapped below,
    // never dereferenced.
    let ptr = unsafe {
        mmap_anonymous(
            std::ptr::null_mut(),
            GIB,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .expect("mmap 1 GiB");
    // SAFETY: the mapping made just above; populating writes nothing visible.
    unsafe { madvise(ptr, GIB, Advice::LinuxPopulateWrite) }.expect("MADV_POPULATE_WRITE");
    let elapsed = t.elapsed();
    // SAFETY: the mapping made just above.
    unsafe { munmap(ptr, GIB) }.expect("munmap");
    elapsed
}

/// The kernel's 2 MiB hugetlb pool, grown for a measurement and shrunk back on drop.
struct GrownHugePool {
    original: u64,
}

const HUGE_POOL: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";

impl GrownHugePool {
    /// `None` (saying why) when the pool cannot grow by `pages`: not root, or too little
    /// free contiguous memory.
    fn by(pages: u64) -> Option<Self> {
        let read =
            || -> Option<u64> { std::fs::read_to_string(HUGE_POOL).ok()?.trim().parse().ok() };
        let original = read()?;
        if let Err(e) = std::fs::write(HUGE_POOL, (original + pages).to_string()) {
            println!("ffm/populate hugetlb: not measured: cannot grow {HUGE_POOL}: {e}");
            return None;
        }
        let grown = Self { original };
        let now = read()?;
        if now < original + pages {
            println!(
                "ffm/populate hugetlb: not measured: the kernel found {} of {pages} free 2 MiB pages",
                now - original
            );
            return None;
        }
        Some(grown)
    }
}

impl Drop for GrownHugePool {
    fn drop(&mut self) {
        let _ = std::fs::write(HUGE_POOL, self.original.to_string());
    }
}

/// A 1 GiB hugetlb bundle populated as memqosd does at allocation, against anonymous memory
/// populated the same way (`MADV_POPULATE_WRITE`) and the usual way (`MAP_POPULATE`),
/// interleaved in one run.
fn populate_hugetlb_vs_anonymous() {
    let Some(_pool) = GrownHugePool::by(GIB as u64 / (2 << 20)) else {
        return;
    };
    let rounds = 5;
    let (mut huge, mut anon_madvise, mut anon_map) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let bundle = BundleMemory::hugetlb_memfd("bench-hugetlb", GIB as u64).expect("memfd");
        // This host's first node, as a one-node placement binds it.
        let node = local_memory_nodes()[0];
        let target = NumaTarget::ThisMachine(vec![(node, GIB as u64)]);
        let (placed, _) = bundle.place(&target, None).expect("mbind");
        let t = Instant::now();
        bundle
            .populate(&target, &placed)
            .expect("populate the hugetlb bundle");
        huge.push(t.elapsed());
        drop(bundle);
        anon_madvise.push(populate_anonymous_by_madvise());
        anon_map.push(populate(None));
    }
    for v in [&mut huge, &mut anon_madvise, &mut anon_map] {
        v.sort();
    }
    let (h, a, m) = (
        huge[rounds / 2],
        anon_madvise[rounds / 2],
        anon_map[rounds / 2],
    );
    println!(
        "ffm/populate 1 GiB hugetlb: bundle (MADV_POPULATE_WRITE) {:.1} ms ({:.2} GB/s); anonymous MADV_POPULATE_WRITE {:.1} ms, \
         MAP_POPULATE {:.1} ms; ratio to anonymous MAP_POPULATE {:.3} (median of {rounds})",
        h.as_secs_f64() * 1e3,
        GIB as f64 / h.as_secs_f64() / 1e9,
        a.as_secs_f64() * 1e3,
        m.as_secs_f64() * 1e3,
        h.as_secs_f64() / m.as_secs_f64()
    );
}

fn migration_vs_memcpy() {
    let bundle = BundleMemory::memfd("bench-migrate", GIB as u64).expect("memfd");
    let nodes = local_memory_nodes();
    bundle.apply_policy(&nodes, None).expect("mbind");
    {
        let f = std::fs::File::from(bundle.fd().try_clone_to_owned().unwrap());
        let chunk = vec![0x5au8; 1 << 20];
        for i in 0..1024u64 {
            std::os::unix::fs::FileExt::write_all_at(&f, &chunk, i << 20).unwrap();
        }
    }
    let t = Instant::now();
    let (outcome, moved) = bundle
        .apply_policy(&nodes, Some(&mut |_| {}))
        .expect("migrate");
    let migrate = t.elapsed();
    let src = vec![1u8; GIB];
    let mut dst = vec![0u8; GIB];
    dst.copy_from_slice(&src); // fault both in before timing
    let t = Instant::now();
    dst.copy_from_slice(&src);
    let copy = t.elapsed();
    std::hint::black_box(&dst);
    println!(
        "ffm/migrate 1 GiB to nodes {:?} ({}): {moved} pages moved in {:.1} ms ({:.2} GB/s of bundle); memcpy 1 GiB {:.1} ms ({:.2} GB/s)",
        outcome.nodes,
        outcome.mode,
        migrate.as_secs_f64() * 1e3,
        GIB as f64 / migrate.as_secs_f64() / 1e9,
        copy.as_secs_f64() * 1e3,
        GIB as f64 / copy.as_secs_f64() / 1e9,
    );
    if nodes.len() == 1 {
        println!(
            "ffm/migrate: this host has one NUMA node ({}): no page can change node, so the figure is the cost of the \
             migration pass (mincore, MADV_POPULATE_READ, move_pages query, mbind) over 262144 resident pages, not a copy",
            nodes[0]
        );
    }
}

fn main() {
    // Criterion-style filters are ignored; `cargo bench` passes `--bench`.
    if std::env::var_os("FFM_BENCH_ONLY_ALLOC").is_none() {
        populate_vs_anonymous();
        populate_hugetlb_vs_anonymous();
        migration_vs_memcpy();
    }
    if std::env::var_os("FFM_BENCH_ONLY_MEMORY").is_some() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let this = env!("CARGO_BIN_EXE_corridord");
    let stores = std::env::var("FFM_BENCH_STORE").unwrap_or_else(|_| "redb".into());
    for store in stores.split(',') {
        runtime.block_on(with_store(store, |args, store_label| async move {
            match std::env::var("FFM_BENCH_BASELINE") {
                Ok(baselines) => {
                    let rounds: usize = std::env::var("FFM_BENCH_ROUNDS")
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1);
                    for round in 1..=rounds {
                        for (n, baseline) in baselines.split(',').enumerate() {
                            let label = format!("baseline {} round {round}, {store_label}", n + 1);
                            alloc_delete(baseline, &label, &args).await;
                        }
                        let label = format!("this build round {round}, {store_label}");
                        alloc_delete(this, &label, &args).await;
                    }
                }
                Err(_) => alloc_delete(this, &format!("this build, {store_label}"), &args).await,
            }
        }));
    }
}

/// Runs `run` with corridord's arguments for `store` (and a label), the
/// etcd it names (if any) alive until `run` is done.
async fn with_store<F, Fut>(store: &str, run: F)
where
    F: FnOnce(Vec<String>, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let endpoint_args = |endpoints: Vec<String>| {
        endpoints
            .into_iter()
            .flat_map(|e| ["--etcd-endpoint".to_string(), e])
            .collect::<Vec<_>>()
    };
    match store.trim() {
        "redb" => run(Vec::new(), "redb".into()).await,
        "etcd" => {
            let etcd = ThrowawayEtcd::start().await.expect("etcd starts");
            let label = format!("etcd 1 member ({})", etcd.version());
            run(endpoint_args(vec![etcd.endpoint().to_string()]), label).await;
        }
        "etcd3" => {
            let cluster = ThrowawayCluster::start()
                .await
                .expect("etcd cluster starts");
            let label = format!("etcd 3 members ({})", cluster.version());
            run(endpoint_args(cluster.endpoints()), label).await;
        }
        other => panic!("FFM_BENCH_STORE: unknown store {other:?} (redb, etcd or etcd3)"),
    }
}

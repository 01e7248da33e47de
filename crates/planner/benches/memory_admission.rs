//! Admission decisions of the memory ledger: `Ledger::admit` on one core against a ledger
//! holding 10,000 live bundles on 16 devices (4 tiers), with two time-windowed policies
//! (the week has 28 segments) and a mix of lease lengths. Target: ≥ 100,000 decisions/s.
//!
//! Run: `nice -n 15 cargo bench -p corridor-planner --bench memory_admission`

use std::hint::black_box;
use std::time::Instant;

use corridor_planner::memory::*;
use corridor_planner::sim::SplitMix64;

const LIVE: usize = 10_000;
const DECISIONS: usize = 200_000;
const GIB: u64 = 1 << 30;
const MONDAY: i64 = 1_705_276_800;
const TIERS: [Tier; 4] = [Tier::T0, Tier::T1, Tier::T2, Tier::T3];

fn percentile(sorted: &[u64], q: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    #[allow(clippy::cast_precision_loss)]
    let v = sorted[i] as f64;
    v / 1e3
}

fn devices() -> Vec<Device> {
    let mut d = Vec::new();
    for i in 0..2 {
        d.push(Device::new(format!("hbm-{i}"), Tier::T0, 64 * GIB, 819.0));
    }
    for i in 0..4 {
        d.push(Device::new(
            format!("dram-{i}"),
            Tier::T1,
            1024 * GIB,
            307.0,
        ));
    }
    for i in 0..8 {
        d.push(Device::new(
            format!("cxl-dev-{i:03}"),
            Tier::T2,
            512 * GIB,
            64.0,
        ));
    }
    for i in 0..2 {
        d.push(Device::new(format!("pmem-{i}"), Tier::T3, 4096 * GIB, 40.0));
    }
    d
}

fn request(rng: &mut SplitMix64, floor_scale: f64) -> BundleDemand {
    let tier = TIERS[rng.below(4) as usize];
    let bytes = u64::from(1 + rng.below(64)) << 24; // 16 MiB .. 1 GiB
    #[allow(clippy::cast_precision_loss)]
    let floor = rng.below(1000) as f64 / 1000.0 * floor_scale;
    let start = MONDAY + i64::from(rng.below(7 * 86_400));
    let end = match rng.below(3) {
        0 => None,
        1 => Some(start + 3600 * (1 + i64::from(rng.below(24)))),
        _ => Some(start + 86_400 * (1 + i64::from(rng.below(10)))),
    };
    BundleDemand {
        bytes,
        latency_class: tier,
        floor: MBps::from_gbps(floor),
        security_domain: Some(format!("tenant{}", rng.below(4))),
        start_s: start,
        end_s: end,
        host: None,
    }
}

fn main() {
    let mut ledger = Ledger::new(LedgerConfig::default(), devices()).unwrap();
    for (id, w) in [("night", "20:00–08:00"), ("batch", "01:00–05:00")] {
        let mut p = WindowedFloor {
            id: id.into(),
            floor: MBps::from_gbps(0.2),
            window: DailyWindow::parse(w).unwrap().with_offset(60),
            security_domain: Some("tenant0".into()),
            time_zone: None,
        };
        if id == "batch" {
            p.security_domain = Some("tenant1".into());
            p.floor = MBps::from_gbps(0.1);
        }
        ledger.set_policy(p).unwrap();
    }
    let mut rng = SplitMix64::new(0xFF_A110C);
    let mut live = 0usize;
    let mut tries = 0usize;
    while live < LIVE {
        tries += 1;
        let req = request(&mut rng, 0.3);
        if ledger.allocate(&format!("ffm-{tries:06}"), req).is_ok() {
            live += 1;
        }
    }
    let split = ledger
        .bundles()
        .filter(|b| b.placement.shares.len() > 1)
        .count();
    let json = serde_json::to_vec(&ledger).unwrap();
    println!(
        "ledger: {} live bundles ({} refused while filling, {} interleaved), {} devices, {} week segments, snapshot {} KiB JSON",
        ledger.len(),
        tries - live,
        split,
        ledger.devices().count(),
        ledger.segments().len(),
        json.len() / 1024,
    );

    // Requests from the same mix, with floors up to 8 GB/s so some are refused.
    let reqs: Vec<BundleDemand> = (0..DECISIONS).map(|_| request(&mut rng, 8.0)).collect();
    let mut lat = Vec::with_capacity(DECISIONS);
    let mut admitted = 0usize;
    let t0 = Instant::now();
    for r in &reqs {
        let t = Instant::now();
        let d = ledger.admit(black_box(r));
        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        admitted += usize::from(d.is_ok());
        black_box(d.ok());
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rate = DECISIONS as f64 / secs;
    println!(
        "admit(): {DECISIONS} decisions in {secs:.3} s = {rate:.0} decisions/s on one core; p50 {:.2} µs, p99 {:.2} µs; {admitted} admitted; target ≥ 100000/s: {}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        if rate >= 100_000.0 { "met" } else { "MISSED" }
    );

    // Claim path too: allocate + free pairs at 10,000 live.
    let n = 50_000usize;
    let t0 = Instant::now();
    let mut ok = 0usize;
    for (i, r) in reqs.iter().take(n).enumerate() {
        let id = format!("x{i}");
        if ledger.allocate(&id, r.clone()).is_ok() {
            ledger.free(&id).unwrap();
            ok += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / secs;
    println!("allocate()+free(): {n} in {secs:.3} s = {rate:.0}/s ({ok} admitted)");
}

//! Fabric path computation: `CxlFabric::route` on a generated leaf-spine CXL fabric of 64
//! switches (56 leaves, 8 spines, every leaf linked to every spine), 512 devices and 64
//! hosts on the leaves. Two loads side by side in one run: an empty fabric (every route
//! found on the first search) and a loaded one (half the device ports nearly full, so many
//! requests are refused and the search runs a second time to name the binding port).
//! Target: p99 < 1 ms per computation.
//!
//! Run: `nice -n 15 cargo bench -p corridor-planner --bench cxl_paths`

use std::hint::black_box;
use std::time::Instant;

use corridor_planner::cxl::{CxlFabric, Demand, EndpointKind};
use corridor_planner::sim::SplitMix64;

const LEAVES: usize = 56;
const SPINES: usize = 8;
const DEVICES: usize = 512;
const HOSTS: usize = 64;
const ROUTES: usize = 20_000;

fn fabric() -> CxlFabric {
    let mut f = CxlFabric::new(100);
    let spines: Vec<usize> = (0..SPINES)
        .map(|i| f.add_switch(format!("spine{i}")))
        .collect();
    let leaves: Vec<usize> = (0..LEAVES)
        .map(|i| f.add_switch(format!("leaf{i}")))
        .collect();
    for (l, &leaf) in leaves.iter().enumerate() {
        for (s, &spine) in spines.iter().enumerate() {
            let up = f.add_port(leaf, (200 + s) as u8, 512.0);
            let down = f.add_port(spine, l as u8, 512.0);
            f.link(up, down);
        }
    }
    for d in 0..DEVICES {
        let leaf = leaves[d % LEAVES];
        let port = f.add_port(leaf, (16 + d / LEAVES) as u8, 256.0);
        f.attach(&format!("dev{d}"), EndpointKind::Device, 300, port);
    }
    for h in 0..HOSTS {
        let leaf = leaves[(h * 7) % LEAVES];
        let port = f.add_port(leaf, (h / LEAVES) as u8, 512.0);
        f.attach(&format!("h{h}"), EndpointKind::Host, 300, port);
    }
    f
}

fn percentile_us(sorted: &[u64], q: f64) -> f64 {
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

fn run(label: &str, f: &CxlFabric, free: &[f64]) {
    let mut rng = SplitMix64::new(7);
    let names: Vec<(String, String)> = (0..ROUTES)
        .map(|_| {
            let source = if rng.below(2) == 0 {
                format!("h{}", rng.below(HOSTS as u32))
            } else {
                format!("dev{}", rng.below(DEVICES as u32))
            };
            (source, format!("dev{}", rng.below(DEVICES as u32)))
        })
        .collect();
    let mut times = Vec::with_capacity(ROUTES);
    let mut found = 0usize;
    for (source, target) in &names {
        let demand = Demand {
            source,
            target,
            min_gbps: 50.0,
            max_latency_ns: 600,
            max_switches: None,
        };
        let start = Instant::now();
        let result = f.route(black_box(&demand), |p| Some(free[p]));
        times.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
        found += usize::from(result.is_ok());
    }
    times.sort_unstable();
    println!(
        "{label:<28} {ROUTES} routes: p50 {:>7.1} µs  p99 {:>7.1} µs  max {:>8.1} µs  found {found}",
        percentile_us(&times, 0.5),
        percentile_us(&times, 0.99),
        percentile_us(&times, 1.0),
    );
}

fn main() {
    let f = fabric();
    println!(
        "fabric: {} switches, {} ports, {DEVICES} devices, {HOSTS} hosts",
        f.switches().len(),
        f.ports().len()
    );
    let empty: Vec<f64> = f.ports().iter().map(|p| p.capacity_gbps * 0.75).collect();
    run("empty fabric", &f, &empty);
    let mut rng = SplitMix64::new(11);
    let loaded: Vec<f64> = f
        .ports()
        .iter()
        .map(|p| {
            if rng.below(2) == 0 {
                10.0
            } else {
                p.capacity_gbps * 0.75
            }
        })
        .collect();
    run("loaded (half the ports full)", &f, &loaded);
}

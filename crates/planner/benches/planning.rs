//! Planning throughput and latency: `Planner::decide` on NSFNET with 80 wavelengths per link,
//! single thread, against a snapshot warmed to steady state at the load where First-Fit on the
//! shortest path blocks about 1 % (276.8 Erl, from the `blocking` bench). "ours" is the default
//! policy, Max-Sum ([`MaxSum`]); the previous default (`AdaptiveKsp`) and k-SP First-Fit are
//! timed on the same snapshot for comparison.
//!
//! Run: `nice -n 15 cargo bench -p corridor-planner --bench planning`

use std::time::Instant;

use corridor_planner::sim::{SplitMix64, Traffic, simulate};
use corridor_planner::*;

const W: u16 = 80;
const K: usize = 6;
/// FF-SP 1 % load for W = 80 (interpolated by the `blocking` bench).
const LOAD: f64 = 276.8;
const CALLS: usize = 200_000;

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

/// Demand mix: 1–4 lanes; 20 % gold, 50 % silver, 30 % bronze; uniform pairs.
fn requests(n: usize, physics: bool) -> Vec<CorridorDemand> {
    let mut rng = SplitMix64::new(0xDEC1DE);
    (0..n)
        .map(|_| {
            let src = rng.below(14);
            let mut dst = rng.below(13);
            if dst >= src {
                dst += 1;
            }
            #[allow(clippy::cast_possible_truncation)]
            let lanes = 1 + rng.below(4) as u16;
            let qos = match rng.below(10) {
                0 | 1 => Qos::Gold,
                2..=6 => Qos::Silver,
                _ => Qos::Bronze,
            };
            let mut r = CorridorDemand::wavelengths(NodeId(src), NodeId(dst), lanes, qos);
            if physics {
                r.physics = Some(LaneSpec::default());
                r.min_gbps = 50.0 * f64::from(lanes);
                r.latency_budget_ns = Some(1_000.0);
            }
            r
        })
        .collect()
}

fn run(
    name: &str,
    planner: &Planner,
    occ: &Occupancy,
    policy: &dyn WavelengthPolicy,
    reqs: &[CorridorDemand],
    cold: bool,
) {
    let mut times = Vec::with_capacity(reqs.len());
    let mut ok = 0usize;
    let mut preempting = 0usize;
    let total = Instant::now();
    for r in reqs {
        if cold {
            planner.clear_physics_memo();
        }
        let t = Instant::now();
        let d = planner.decide(occ, r, policy);
        #[allow(clippy::cast_possible_truncation)]
        times.push(t.elapsed().as_nanos() as u64);
        if let Ok(d) = std::hint::black_box(d) {
            ok += 1;
            preempting += usize::from(!d.preempt.is_empty());
        }
    }
    let secs = total.elapsed().as_secs_f64();
    times.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rate = reqs.len() as f64 / secs;
    println!(
        "| {name} | {rate:.0} | {:.2} | {:.2} | {:.2} | {:.1} % | {} |",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        100.0 * ok as f64 / reqs.len() as f64,
        preempting
    );
}

fn main() {
    let planner = Planner::new(topologies::nsfnet(W, 1e6), K, Metric::Length);
    let ours = MaxSum::new(&planner);
    // Warm: steady state at LOAD (all grants bronze, 1 lane). The snapshots are warmed by the
    // previous default, AdaptiveKsp, as before Max-Sum, so that every row times the same
    // state across versions; one row adds Max-Sum on its own steady state.
    let (_, occ) = simulate(
        &planner,
        &AdaptiveKsp::default(),
        Traffic::new(14, LOAD, 1.0, 11),
        1,
        Qos::Bronze,
        0,
        100_000,
    );
    #[allow(clippy::cast_precision_loss)]
    let util = occ.busy_slots() as f64 / (21.0 * f64::from(W)) * 100.0;
    println!("# Planning benchmark (corridor-planner)\n");
    println!(
        "NSFNET, W = {W}, k = {K}; snapshot after 100,000 arrivals at {LOAD} Erl: {} grants, {util:.1} % of (link, λ) slots busy.",
        occ.grant_count()
    );
    println!(
        "{CALLS} decide() calls per row, single thread, each timed with Instant (~20-40 ns overhead included); the snapshot is not modified. Mix: 1-4 lanes, 20 % gold / 50 % silver / 30 % bronze.\n"
    );
    println!("| variant | decisions/s | p50 µs | p99 µs | max µs | placed | with pre-emption |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let wl = requests(CALLS, false);
    run(
        "wavelengths only, FF-SP",
        &planner,
        &occ,
        &FirstFitShortest,
        &wl,
        false,
    );
    run(
        "wavelengths only, ksp-ff",
        &planner,
        &occ,
        &KspFirstFit,
        &wl,
        false,
    );
    run(
        "wavelengths only, adaptive-ksp (previous default)",
        &planner,
        &occ,
        &AdaptiveKsp::default(),
        &wl,
        false,
    );
    run("wavelengths only, ours", &planner, &occ, &ours, &wl, false);
    let (_, own) = simulate(
        &planner,
        &ours,
        Traffic::new(14, LOAD, 1.0, 11),
        1,
        Qos::Bronze,
        0,
        100_000,
    );
    #[allow(clippy::cast_precision_loss)]
    let own_util = own.busy_slots() as f64 / (21.0 * f64::from(W)) * 100.0;
    run(
        &format!("wavelengths only, ours, snapshot warmed by ours ({own_util:.1} % busy)"),
        &planner,
        &own,
        &ours,
        &wl,
        false,
    );
    // Same shape at rack scale (1 km -> 1 mm of fibre) so that lanes close: physics on.
    let rack = Planner::new(topologies::nsfnet(W, 1.0), K, Metric::Length);
    let rack_ours = MaxSum::new(&rack);
    let ph = requests(CALLS, true);
    run(
        "physics (Si, KP4, 1e-12), ours, memo warm",
        &rack,
        &occ,
        &rack_ours,
        &ph,
        false,
    );
    let cold: Vec<CorridorDemand> = ph.iter().copied().take(CALLS / 10).collect();
    run(
        "physics, ours, memo cleared before every call",
        &rack,
        &occ,
        &rack_ours,
        &cold,
        true,
    );
    // Overloaded snapshot (3x the load, 4-lane bronze grants): blocking and gold pre-emption.
    let (_, hot) = simulate(
        &planner,
        &AdaptiveKsp::default(),
        Traffic::new(14, LOAD * 3.0 / 4.0, 1.0, 12),
        4,
        Qos::Bronze,
        0,
        100_000,
    );
    #[allow(clippy::cast_precision_loss)]
    let hot_util = hot.busy_slots() as f64 / (21.0 * f64::from(W)) * 100.0;
    run(
        &format!("overloaded snapshot ({hot_util:.0} % busy), ours"),
        &planner,
        &hot,
        &ours,
        &wl,
        false,
    );
    run(
        &format!("overloaded snapshot ({hot_util:.0} % busy), FF-SP"),
        &planner,
        &hot,
        &FirstFitShortest,
        &wl,
        false,
    );
    println!("\n(The memo-cleared row times {} calls.)", CALLS / 10);
    println!("\nTargets: >= 20,000 decisions/s and p99 < 200 µs.");
}

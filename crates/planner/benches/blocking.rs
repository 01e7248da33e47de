//! Blocking probability against offered load on NSFNET (14 nodes, 21 links; see
//! `topologies::NSFNET_LINKS_KM` for the link list and its source), W = 16, 40, 80:
//! First-Fit on the fixed shortest path (FF-SP) against our adaptive k-SP policy (and the
//! textbook k-SP First-Fit for reference), with common random numbers (same seed → same
//! arrival sequence for every policy). Also checks the simulator against Erlang-B on one link.
//!
//! Run: `nice -n 15 cargo bench -p corridor-planner --bench blocking`

use std::time::Instant;

use corridor_planner::sim::{Traffic, batch_summary, erlang_b, simulate, simulate_batches};
use corridor_planner::*;

const SEED: u64 = 0x00C0_441D_0805;
const K: usize = 6;
const SWEEP_ARRIVALS: usize = 200_000;
const FINAL_ARRIVALS: usize = 1_000_000;
const WARMUP: usize = 20_000;
const BATCHES: usize = 10;

fn main() {
    let start = Instant::now();
    println!("# RWA blocking benchmark (corridor-planner)\n");
    println!(
        "Traffic: Poisson arrivals, exponential holding (mean 1), uniform random ordered node pairs, 1 wavelength per request, seed {SEED:#x}; warm-up {WARMUP} arrivals discarded."
    );
    println!(
        "Routing: k = {K} shortest paths by length (Yen). Policies: FF-SP = First-Fit on the fixed shortest path; ours = {:?}; ksp-ff = first k-SP path with a free wavelength, First-Fit.\n",
        AdaptiveKsp::default()
    );

    erlang_check();

    let ours = AdaptiveKsp::default();
    let mut summary = Vec::new();
    for w in [16u16, 40, 80] {
        let planner = Planner::new(topologies::nsfnet(w, 1e6), K, Metric::Length);
        println!(
            "\n## NSFNET, W = {w}: blocking vs offered load ({SWEEP_ARRIVALS} arrivals per point)\n"
        );
        println!("| load (Erl) | FF-SP | ours | ksp-ff |");
        println!("|---:|---:|---:|---:|");
        let mut points = Vec::new();
        for mult in [1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0, 5.0] {
            let load = f64::from(w) * mult;
            let run = |p: &dyn WavelengthPolicy| {
                let t = Traffic::new(14, load, 1.0, SEED);
                simulate(&planner, p, t, 1, Qos::Bronze, WARMUP, SWEEP_ARRIVALS)
                    .0
                    .blocking()
            };
            let (ff, us, kf) = (run(&FirstFitShortest), run(&ours), run(&KspFirstFit));
            println!("| {load:.0} | {ff:.5} | {us:.5} | {kf:.5} |");
            points.push((load, ff));
        }
        // Interpolate log(blocking) linearly in load between the points bracketing 1 %.
        let Some(l1) = points.windows(2).find_map(|p| {
            let ((la, ba), (lb, bb)) = (p[0], p[1]);
            (ba > 0.0 && ba <= 0.01 && bb >= 0.01)
                .then(|| la + (0.01f64.ln() - ba.ln()) / (bb.ln() - ba.ln()) * (lb - la))
        }) else {
            println!("\n(no bracket around 1 % for FF-SP)");
            continue;
        };
        let run = |p: &dyn WavelengthPolicy| {
            let t = Traffic::new(14, l1, 1.0, SEED ^ 0x5EED);
            let (b, _) = simulate_batches(
                &planner,
                p,
                t,
                1,
                Qos::Bronze,
                WARMUP,
                FINAL_ARRIVALS,
                BATCHES,
            );
            batch_summary(&b)
        };
        let (ff, ff_ci) = run(&FirstFitShortest);
        let (us, us_ci) = run(&ours);
        let (kf, kf_ci) = run(&KspFirstFit);
        println!(
            "\nAt the interpolated FF-SP 1 % load, {l1:.1} Erl ({FINAL_ARRIVALS} arrivals, 95 % batch-means CI over {BATCHES} batches):\n"
        );
        println!("| policy | blocking | ± 95 % CI |");
        println!("|---|---:|---:|");
        println!("| FF-SP | {:.5} | {ff_ci:.5} |", ff.blocking());
        println!("| ours | {:.5} | {us_ci:.5} |", us.blocking());
        println!("| ksp-ff | {:.5} | {kf_ci:.5} |", kf.blocking());
        summary.push((w, l1, ff.blocking(), us.blocking(), us_ci));
    }
    println!("\n## Summary (target: ours ≤ 0.5 % where FF-SP blocks 1 %)\n");
    println!("| W | load (Erl) | FF-SP | ours | met |");
    println!("|---:|---:|---:|---:|---|");
    for (w, l, ff, us, ci) in summary {
        let met = if us + ci <= 0.005 { "yes" } else { "NO" };
        println!(
            "| {w} | {l:.1} | {:.3} % | {:.3} % | {met} |",
            ff * 100.0,
            us * 100.0
        );
    }
    println!("\nTotal time {:.1} s", start.elapsed().as_secs_f64());
}

/// One link, W servers, A Erlangs: simulated blocking against Erlang-B.
fn erlang_check() {
    println!("## Simulator check: one link against Erlang-B (1,000,000 arrivals)\n");
    println!("| W | load (Erl) | simulated | ± 95 % CI | Erlang-B | relative error |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (w, a) in [(8u16, 5.0), (16, 10.0), (16, 14.0), (40, 32.0), (80, 70.0)] {
        let p = Planner::new(topologies::single_link(w), 1, Metric::Hops);
        let t = Traffic::new(2, a, 1.0, SEED);
        let (b, _) = simulate_batches(
            &p,
            &FirstFitShortest,
            t,
            1,
            Qos::Bronze,
            WARMUP,
            1_000_000,
            BATCHES,
        );
        let (r, ci) = batch_summary(&b);
        let eb = erlang_b(u32::from(w), a);
        println!(
            "| {w} | {a} | {:.5} | {ci:.5} | {eb:.5} | {:+.2} % |",
            r.blocking(),
            (r.blocking() - eb) / eb * 100.0
        );
    }
}

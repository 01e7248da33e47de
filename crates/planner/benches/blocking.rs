//! Blocking probability on NSFNET (14 nodes, 21 links; see `topologies::NSFNET_LINKS_KM` for
//! the link list and its source), W = 16, 40, 80: the default policy (Max-Sum, [`MaxSum`])
//! against k-shortest-path First-Fit ([`KspFirstFit`]), with common random numbers (same seed →
//! same arrival sequence for every policy).
//!
//! 1. Simulator check against Erlang-B on one link.
//! 2. Calibration: k-SP First-Fit's blocking against load, and by log-linear interpolation the
//!    loads where it blocks 0.1 %, 1 % and 5 %.
//! 3. The gate, per (W, load): paired runs of ours and k-SP First-Fit on the same arrivals,
//!    batch by batch; PASS unless the 95 % confidence interval of (ours − k-SP FF) lies wholly
//!    above zero. The process exits with status 1 if any point fails (so `make bench` shows
//!    it). FF-SP (First-Fit on the fixed shortest path) and the previous default
//!    (`AdaptiveKsp`) ride along on the same arrivals for reference.
//! 4. Stretch (reported, not gated): ours ≤ 0.5 × k-SP First-Fit at its 1 % load.
//! 5. QoS classes at the 1 % loads: gold, silver and bronze blocking and the bronze grants
//!    pre-empted, for ours with and without gold pre-emption, k-SP First-Fit, and
//!    `AdaptiveKsp` with and without its trunk reservation.
//!
//! Run: `cargo bench -p corridor-planner --bench blocking`. Longer runs: `BLOCKING_ARRIVALS`
//! (counted arrivals per gate point, default 1,000,000), `BLOCKING_BATCHES` (default 20),
//! `BLOCKING_SWEEP_ARRIVALS` (per calibration point, default 150,000),
//! `BLOCKING_CLASS_ARRIVALS` (per QoS-class run, default 300,000).

use std::process::ExitCode;
use std::time::Instant;

use corridor_planner::sim::{
    ClassMix, ClassReport, SimReport, Traffic, batch_summary, erlang_b, paired_difference,
    simulate, simulate_batches, simulate_classes,
};
use corridor_planner::*;

const SEED: u64 = 0x00C0_441D_0805;
const K: usize = 6;
const WARMUP: usize = 20_000;
/// k-SP First-Fit blocking levels that define the gate's loads.
const TARGETS: [f64; 3] = [0.001, 0.01, 0.05];
/// Calibration grid: load = W × multiplier, from here up in steps until past the top target.
const SWEEP_FROM: f64 = 2.0;
const SWEEP_STEP: f64 = 0.25;
const SWEEP_TO: f64 = 10.0;
/// Class mix of the QoS runs (as in the planning bench): 20 % gold, 50 % silver, 30 % bronze.
const MIX: ClassMix = ClassMix {
    gold_percent: 20,
    silver_percent: 50,
};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

fn pct(x: f64) -> String {
    format!("{:.4} %", x * 100.0)
}

fn main() -> ExitCode {
    let start = Instant::now();
    let arrivals = env_usize("BLOCKING_ARRIVALS", 1_000_000);
    let batches = env_usize("BLOCKING_BATCHES", 20);
    let sweep_arrivals = env_usize("BLOCKING_SWEEP_ARRIVALS", 150_000);
    let class_arrivals = env_usize("BLOCKING_CLASS_ARRIVALS", 300_000);
    println!("# RWA blocking benchmark (corridor-planner)\n");
    println!(
        "Traffic: Poisson arrivals, exponential holding (mean 1), uniform random ordered node pairs, 1 wavelength per request, seed {SEED:#x}; warm-up {WARMUP} arrivals discarded. Routing: k = {K} shortest paths by length (Yen)."
    );
    println!(
        "Policies: ours = Max-Sum over the k paths (protected routes: the shortest path of each pair; detours up to {MAX_SUM_EXTRA_HOPS} extra hops); ksp-ff = first of the k paths with a free wavelength, First-Fit; FF-SP = First-Fit on the fixed shortest path; adaptive = previous default {:?}.\n",
        AdaptiveKsp::default()
    );

    erlang_check(batches);

    let mut gate: Vec<GateRow> = Vec::new();
    let mut failed = false;
    for w in [16u16, 40, 80] {
        let planner = Planner::new(topologies::nsfnet(w, 1e6), K, Metric::Length);
        let ours = MaxSum::new(&planner);
        let loads = calibrate(&planner, w, sweep_arrivals);
        println!(
            "\n### W = {w}: paired runs at the calibrated loads ({arrivals} arrivals, {batches} batches, 95 % CI of the per-batch difference)\n"
        );
        println!(
            "| ksp-ff target | load (Erl) | ksp-ff | ours | ours − ksp-ff (95 % CI) | ours / ksp-ff | FF-SP | adaptive | gate |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for (target, load) in TARGETS.iter().zip(&loads) {
            let Some(load) = *load else {
                println!(
                    "| {} | — | no bracket in the calibration sweep | | | | | | FAIL |",
                    pct(*target)
                );
                failed = true;
                continue;
            };
            let run = |p: &dyn WavelengthPolicy| {
                let t = Traffic::new(14, load, 1.0, SEED ^ 0x5EED);
                simulate_batches(&planner, p, t, 1, Qos::Bronze, WARMUP, arrivals, batches).0
            };
            let base = run(&KspFirstFit);
            let us = run(&ours);
            let ff = batch_summary(&run(&FirstFitShortest)).0.blocking();
            let adaptive = batch_summary(&run(&AdaptiveKsp::default())).0.blocking();
            let row = GateRow::new(w, *target, load, &us, &base);
            failed |= !row.pass();
            println!(
                "| {} | {load:.1} | {} | {} | {:+.4} % ± {:.4} % | {:.3} | {} | {} | {} |",
                pct(*target),
                pct(row.base),
                pct(row.ours),
                row.diff * 100.0,
                row.diff_ci * 100.0,
                row.ratio(),
                pct(ff),
                pct(adaptive),
                if row.pass() { "PASS" } else { "FAIL" }
            );
            gate.push(row);
        }
        if let Some(load) = loads[1] {
            classes(&planner, &ours, load, class_arrivals);
        }
    }

    println!(
        "\n## Gate: ours never worse than k-SP First-Fit (FAIL when the 95 % CI of ours − ksp-ff lies above 0)\n"
    );
    for r in &gate {
        println!(
            "GATE W={} ksp-ff={} load={:.1}: ours {} vs ksp-ff {}, diff {:+.4} % [{:+.4} %, {:+.4} %] {}",
            r.w,
            pct(r.target),
            r.load,
            pct(r.ours),
            pct(r.base),
            r.diff * 100.0,
            (r.diff - r.diff_ci) * 100.0,
            (r.diff + r.diff_ci) * 100.0,
            if r.pass() { "PASS" } else { "FAIL" }
        );
    }
    println!("\n## Stretch (not gated): ours ≤ 0.5 × k-SP First-Fit at its 1 % load\n");
    for r in gate.iter().filter(|r| r.target == TARGETS[1]) {
        println!(
            "STRETCH W={} load={:.1}: ours/ksp-ff = {:.3}; ours − 0.5·ksp-ff = {:+.4} % ± {:.4} % → {}",
            r.w,
            r.load,
            r.ratio(),
            r.half_diff * 100.0,
            r.half_ci * 100.0,
            if r.half_diff + r.half_ci <= 0.0 {
                "met"
            } else {
                "not met"
            }
        );
    }
    println!("\nTotal time {:.1} s", start.elapsed().as_secs_f64());
    if failed {
        println!("\nGATE FAILED");
        ExitCode::FAILURE
    } else {
        println!("\nGATE PASSED");
        ExitCode::SUCCESS
    }
}

/// One gate point: paired blocking of ours and k-SP First-Fit.
struct GateRow {
    w: u16,
    target: f64,
    load: f64,
    ours: f64,
    base: f64,
    /// Mean per-batch (ours − base) and its 95 % half-width.
    diff: f64,
    diff_ci: f64,
    /// Mean per-batch (ours − 0.5 × base) and its 95 % half-width (the stretch goal).
    half_diff: f64,
    half_ci: f64,
}

impl GateRow {
    fn new(w: u16, target: f64, load: f64, ours: &[SimReport], base: &[SimReport]) -> Self {
        let (diff, diff_ci) = paired_difference(ours, base, 1.0);
        let (half_diff, half_ci) = paired_difference(ours, base, 0.5);
        Self {
            w,
            target,
            load,
            ours: batch_summary(ours).0.blocking(),
            base: batch_summary(base).0.blocking(),
            diff,
            diff_ci,
            half_diff,
            half_ci,
        }
    }

    /// The gate: the interval of the difference does not lie wholly above zero.
    fn pass(&self) -> bool {
        self.diff - self.diff_ci <= 0.0
    }

    fn ratio(&self) -> f64 {
        if self.base > 0.0 {
            self.ours / self.base
        } else {
            f64::NAN
        }
    }
}

/// k-SP First-Fit's blocking on a load grid, and the loads where it crosses each of
/// [`TARGETS`] (log-linear interpolation between the bracketing points; `None` without a
/// bracket).
fn calibrate(planner: &Planner, w: u16, arrivals: usize) -> Vec<Option<f64>> {
    println!("\n## NSFNET, W = {w}\n");
    println!("Calibration: k-SP First-Fit blocking vs load ({arrivals} arrivals per point).\n");
    println!("| load (Erl) | ksp-ff |");
    println!("|---:|---:|");
    let top = TARGETS[TARGETS.len() - 1];
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut mult = SWEEP_FROM;
    while mult <= SWEEP_TO {
        let load = f64::from(w) * mult;
        let t = Traffic::new(14, load, 1.0, SEED);
        let b = simulate(planner, &KspFirstFit, t, 1, Qos::Bronze, WARMUP, arrivals)
            .0
            .blocking();
        println!("| {load:.0} | {} |", pct(b));
        points.push((load, b));
        if b > top {
            break;
        }
        mult += SWEEP_STEP;
    }
    let loads: Vec<Option<f64>> = TARGETS
        .iter()
        .map(|&target| {
            points.windows(2).find_map(|p| {
                let ((la, ba), (lb, bb)) = (p[0], p[1]);
                (ba > 0.0 && ba <= target && bb >= target && bb > ba)
                    .then(|| la + (target.ln() - ba.ln()) / (bb.ln() - ba.ln()) * (lb - la))
            })
        })
        .collect();
    let shown: Vec<String> = TARGETS
        .iter()
        .zip(&loads)
        .map(|(t, l)| match l {
            Some(l) => format!("{} at {l:.1} Erl", pct(*t)),
            None => format!("{} not bracketed", pct(*t)),
        })
        .collect();
    println!("\nk-SP First-Fit blocks {}.", shown.join(", "));
    loads
}

/// Mixed classes at `load`: per-class blocking and bronze pre-emption.
fn classes(planner: &Planner, ours: &MaxSum, load: f64, arrivals: usize) {
    println!(
        "\nQoS classes at {load:.1} Erl ({}% gold / {}% silver / {}% bronze, {arrivals} arrivals, same arrivals and classes for every row). \"pre-empted\" = bronze grants cut short by gold, as a share of admitted bronze; \"no pre-emption\" plans gold as silver.\n",
        MIX.gold_percent,
        MIX.silver_percent,
        100 - MIX.gold_percent - MIX.silver_percent
    );
    println!("| policy | gold | silver | bronze | bronze pre-empted | all classes |");
    println!("|---|---:|---:|---:|---:|---:|");
    let no_reserve = AdaptiveKsp {
        reserve: 0,
        ..AdaptiveKsp::default()
    };
    let rows: [(&str, &dyn WavelengthPolicy, bool); 5] = [
        ("ours", ours, true),
        ("ours, no pre-emption", ours, false),
        ("ksp-ff", &KspFirstFit, true),
        ("adaptive (reserve 1)", &AdaptiveKsp::default(), true),
        ("adaptive, reserve 0", &no_reserve, true),
    ];
    for (name, policy, preemption) in rows {
        let t = Traffic::new(14, load, 1.0, SEED ^ 0xC1A55);
        let r = simulate_classes(
            planner, policy, t, 1, MIX, preemption, SEED, WARMUP, arrivals,
        );
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            pct(r.gold.blocking()),
            pct(r.silver.blocking()),
            pct(r.bronze.blocking()),
            pct(r.preempted_share()),
            pct(all(&r).blocking())
        );
    }
}

fn all(r: &ClassReport) -> SimReport {
    SimReport {
        arrivals: r.gold.arrivals + r.silver.arrivals + r.bronze.arrivals,
        blocked: r.gold.blocked + r.silver.blocked + r.bronze.blocked,
    }
}

/// One link, W servers, A Erlangs: simulated blocking against Erlang-B.
fn erlang_check(batches: usize) {
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
            batches,
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

//! The CMIS module simulator's step, as the twin drives it on every corridor grant: one
//! `ModuleSim::tick` (every lane's state machines), one host read of a lane's data-path state
//! and one monitor write (Rx power), per iteration. Each field access looks up its page in the
//! memory map, so this is mostly the map's page lookup.
//!
//! Run: `cargo bench -p corridor-protocols --bench cmis_sim` (`CMIS_SIM_BENCH_STEPS=N` sets
//! the steps of each of the five timed passes, default 300,000; the fastest pass is printed).

use std::hint::black_box;
use std::time::Instant;

use corridor_protocols::cmis::{Lane, ModuleSim};

fn main() {
    let steps: usize = std::env::var("CMIS_SIM_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    let mut sim = ModuleSim::default();
    let lanes = 8;
    let mut fastest = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        for i in 0..steps {
            sim.tick();
            let lane = Lane::new((i % lanes) as u8 + 1).expect("lanes 1-8");
            black_box(sim.map().dp_state(lane).ok());
            sim.set_rx_power_uw(lane, 100.0 + (i % 7) as f64)
                .expect("a monitor write to a held page");
        }
        fastest = fastest.min(started.elapsed().as_secs_f64() / steps as f64 * 1e9);
    }
    println!(
        "cmis_sim: {fastest:.1} ns per tick + lane read + monitor write (fastest of 5 passes of {steps})"
    );
}

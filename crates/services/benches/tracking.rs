//! The tracking loop's CPU on the default twin at ×60: every port's ring
//! bank calibrated and tracked (every lane of the rack lit, the worst case),
//! 30 s of real time in 200 ms passes (12 s of simulated time each, at the
//! default 1 kHz control rate), under three ambient profiles.
//!
//! `cargo bench -p corridor-services --bench tracking`
//!
//! Prints the share of one core the trackers take (their CPU time over
//! the 30 s of real time they stand for), the periods run and skipped, the
//! rings that left `Locked` (a loss or a re-acquisition after a temperature
//! jump) and, separately, the plant's own advance (which corrd's reconciler
//! does once a second regardless).

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use corridor_hal::optical::{AmbientScope, OpticalPlant, TwinAmbient};
use corridor_hal::{Topology, TwinOptics};
use corridor_model::calibration::CalibrationMode;
use corridor_services::heliopass::HelioSettings;
use corridor_services::heliopass::control::{PortControl, design_of};
use corridor_services::heliopass::tracking::step_port;

/// Real time the run stands for, and the pass interval.
const REAL: Duration = Duration::from_secs(30);
const PASS: Duration = Duration::from_millis(200);
const SCALE: f64 = 60.0;

fn main() {
    let topology = Topology::default_twin();
    let optics = TwinOptics::new(&topology).expect("default twin");
    let settings = HelioSettings::default();
    let mut now = topology.twin().start_time;
    let cal = Instant::now();
    let mut controls: Vec<PortControl> = topology
        .optical_ports()
        .iter()
        .map(|p| {
            let bank = optics
                .ring_bank(p.id.as_str())
                .expect("twin bank")
                .expect("every twin port has one");
            let mut c = PortControl::new(p.id.as_str(), bank, design_of(p), &settings);
            c.calibrate(CalibrationMode::Full, now, &settings)
                .expect("calibrates");
            c
        })
        .collect();
    let rings: usize = topology
        .optical_ports()
        .iter()
        .map(|p| usize::from(p.lanes))
        .sum();
    println!(
        "calibrated {} ports ({rings} rings) in {:.2} s of CPU",
        controls.len(),
        cal.elapsed().as_secs_f64()
    );
    let sim_per_pass = TimeDelta::milliseconds((PASS.as_secs_f64() * SCALE * 1e3) as i64);
    let passes = (REAL.as_secs_f64() / PASS.as_secs_f64()) as usize;
    for name in ["datacenter-diurnal", "hvac-cycling", "step-up-10k"] {
        let profile = topology
            .ambient_profiles()
            .iter()
            .find(|p| p.name.as_str() == name)
            .expect("default profile");
        optics
            .apply_ambient(&AmbientScope::Rack, profile, now)
            .expect("applies");
        let (mut tracking, mut plant) = (Duration::ZERO, Duration::ZERO);
        let (mut run, mut skipped, mut lost, mut left) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..passes {
            now += sim_per_pass;
            let t = Instant::now();
            for c in &mut controls {
                let done = step_port(c, now, &settings).expect("tracks");
                run += done.periods_run;
                skipped += done.periods_skipped;
                lost += done.lost;
                left += done.left_locked;
            }
            tracking += t.elapsed();
            let t = Instant::now();
            optics.advance(now).expect("advances");
            plant += t.elapsed();
        }
        println!(
            "{name:>20}: trackers {:.2} % of one core ({:.3} s CPU for {} s real at x{SCALE}), \
             periods run {run}, skipped {skipped}, lock losses {lost}, rings that left Locked {left}; plant advance every pass {:.2} %",
            100.0 * tracking.as_secs_f64() / REAL.as_secs_f64(),
            tracking.as_secs_f64(),
            REAL.as_secs(),
            100.0 * plant.as_secs_f64() / REAL.as_secs_f64(),
        );
    }
}

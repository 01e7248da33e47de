//! The run's timeline, drawn from the seed before the run starts (pure).
//!
//! Each arrival process gets its own stream (the seed mixed with the
//! process's index), so adding a process to a scenario does not reshuffle
//! the others. Inter-arrival and holding times are exponential (a Poisson
//! process with exponential holding, the teletraffic model behind Erlang's
//! blocking formula), rounded to whole milliseconds so that every instant
//! is exact.

use super::scenario::{Arrival, Scenario};

/// One arrival on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Offer {
    /// Milliseconds into the run.
    pub at_ms: u64,
    /// Which arrival process (index in the scenario).
    pub process: usize,
    /// Its arrival number within the process.
    pub number: u32,
    /// How long it is held once admitted, in milliseconds.
    pub holding_ms: u64,
}

/// Every arrival of the scenario, in time order (ties by process, then
/// number: the order arrivals are served in).
pub fn offers(scenario: &Scenario) -> Vec<Offer> {
    let mut all = Vec::new();
    for (process, arrival) in scenario.arrivals.iter().enumerate() {
        let mut rng = SplitMix::new(
            scenario.file.seed ^ (process as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f),
        );
        all.extend(offers_of(arrival, process, &mut rng));
    }
    all.sort();
    all
}

fn offers_of(arrival: &Arrival, process: usize, rng: &mut SplitMix) -> Vec<Offer> {
    let mut out = Vec::new();
    let end_ms = arrival.end_s * 1000;
    let mut at_ms = arrival.start_s * 1000;
    for number in 0..arrival.max_arrivals {
        at_ms = at_ms.saturating_add(millis(rng.exponential(arrival.mean_interarrival_s)));
        if at_ms > end_ms {
            break;
        }
        let holding_ms = millis(rng.exponential(arrival.mean_holding_s)).max(1);
        out.push(Offer {
            at_ms,
            process,
            number,
            holding_ms,
        });
    }
    out
}

fn millis(seconds: f64) -> u64 {
    // Finite and non-negative by construction; `as` saturates anyway.
    (seconds * 1000.0).round() as u64
}

/// SplitMix64 with an exponential draw: the arrival process's stream.
/// The id stream is the scenario clock's (`corridor_hal::ScenarioClock`),
/// seeded from the same seed.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        corridor_hal::clock::splitmix64(&mut self.0)
    }

    /// Uniform on (0, 1]: the top 53 bits, never zero (ln(0) is -inf).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::Scenario;

    const TEXT: &str = r#"
name = "t"
seed = 5
duration_s = 3600
step_s = 60
[[arrivals]]
kind = "corridor"
mean_interarrival_s = 300
mean_holding_s = 600
request = { corridor_type = "SiCorridor", lanes = 1, lambda_nm = [1550], min_gbps = 25, latency_budget_ns = 250, reach_mm = 75, mode = "waveguide", qos = { pfc = true, priority = "gold" }, attestation_required = false }
"#;

    #[test]
    fn the_timeline_is_a_function_of_the_seed() {
        let a = Scenario::from_toml_str(TEXT, "t").unwrap();
        let first = offers(&a);
        assert_eq!(first, offers(&a));
        assert!(!first.is_empty());
        assert!(first.iter().all(|o| o.at_ms <= 3_600_000));
        assert!(first.windows(2).all(|w| w[0] <= w[1]));
        let b = Scenario::from_toml_str(&TEXT.replace("seed = 5", "seed = 6"), "t").unwrap();
        assert_ne!(first, offers(&b));
    }

    #[test]
    fn exponential_draws_have_the_mean() {
        let mut rng = SplitMix::new(1);
        let n = 20_000;
        let mean = (0..n).map(|_| rng.exponential(10.0)).sum::<f64>() / f64::from(n);
        assert!((mean - 10.0).abs() < 0.3, "{mean}");
    }
}

//! Dynamic-traffic simulator: Poisson arrivals, exponential holding times, uniform random
//! source/destination pairs, from a seed. Running two policies with the same seed gives them
//! the same arrival sequence (common random numbers).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::graph::NodeId;
use crate::occupancy::{GrantId, Occupancy, Qos};
use crate::planner::{Planner, Request};
use crate::policy::WavelengthPolicy;

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): small, fast, and stable across crate
/// versions, so that published figures can be reproduced bit for bit.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded generator.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn next_f64(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let u = ((self.next_u64() >> 11) + 1) as f64;
        u / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0; Lemire's multiply-shift, bias < n/2^64).
    pub fn below(&mut self, n: u32) -> u32 {
        #[allow(clippy::cast_possible_truncation)]
        let r = ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u32;
        r
    }

    /// Exponential with mean `mean`.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.next_f64().ln()
    }
}

/// One arrival.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Arrival time.
    pub time: f64,
    /// Source.
    pub src: NodeId,
    /// Destination (≠ source).
    pub dst: NodeId,
    /// Holding time.
    pub holding: f64,
}

/// Poisson traffic offering `load_erlangs` in total (arrival rate × mean holding) over uniform
/// random ordered pairs of `nodes` distinct nodes.
#[derive(Debug, Clone)]
pub struct Traffic {
    rng: SplitMix64,
    nodes: u32,
    rate: f64,
    mean_holding: f64,
    now: f64,
}

impl Traffic {
    /// Traffic from `seed`.
    ///
    /// # Panics
    /// If `nodes < 2` or the load or holding time is not finite and > 0.
    #[must_use]
    pub fn new(nodes: u32, load_erlangs: f64, mean_holding: f64, seed: u64) -> Self {
        assert!(nodes >= 2, "need two nodes");
        assert!(load_erlangs.is_finite() && load_erlangs > 0.0, "load > 0");
        assert!(
            mean_holding.is_finite() && mean_holding > 0.0,
            "holding > 0"
        );
        Self {
            rng: SplitMix64::new(seed),
            nodes,
            rate: load_erlangs / mean_holding,
            mean_holding,
            now: 0.0,
        }
    }
}

impl Iterator for Traffic {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        self.now += self.rng.exp(1.0 / self.rate);
        let src = self.rng.below(self.nodes);
        let mut dst = self.rng.below(self.nodes - 1);
        if dst >= src {
            dst += 1;
        }
        let holding = self.rng.exp(self.mean_holding);
        Some(Arrival {
            time: self.now,
            src: NodeId(src),
            dst: NodeId(dst),
            holding,
        })
    }
}

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimReport {
    /// Arrivals counted (after warm-up).
    pub arrivals: u64,
    /// Of which blocked.
    pub blocked: u64,
}

impl SimReport {
    /// Blocking probability.
    #[must_use]
    pub fn blocking(&self) -> f64 {
        if self.arrivals == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let b = self.blocked as f64 / self.arrivals as f64;
        b
    }
}

#[derive(Debug, PartialEq)]
struct Departure(f64, u64);
impl PartialOrd for Departure {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Eq for Departure {}
impl Ord for Departure {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// Runs `warmup + arrivals` arrivals of `traffic` through `planner` with `policy`, each
/// asking for `lanes` wavelengths of class `qos` without physical constraints; counts blocking
/// over the last `arrivals`. Returns the report and the final occupancy.
///
/// # Panics
/// If a decision fails to apply (a planner bug: the occupancy is never changed elsewhere).
pub fn simulate(
    planner: &Planner,
    policy: &dyn WavelengthPolicy,
    traffic: Traffic,
    lanes: u16,
    qos: Qos,
    warmup: usize,
    arrivals: usize,
) -> (SimReport, Occupancy) {
    let (batches, occ) =
        simulate_batches(planner, policy, traffic, lanes, qos, warmup, arrivals, 1);
    (batches[0], occ)
}

/// [`simulate`] with the counted arrivals split into `batches` consecutive batches of equal
/// size (the last takes the remainder), for batch-means confidence intervals.
///
/// # Panics
/// As [`simulate`], or if `batches == 0`.
#[allow(clippy::too_many_arguments)]
pub fn simulate_batches(
    planner: &Planner,
    policy: &dyn WavelengthPolicy,
    traffic: Traffic,
    lanes: u16,
    qos: Qos,
    warmup: usize,
    arrivals: usize,
    batches: usize,
) -> (Vec<SimReport>, Occupancy) {
    assert!(batches > 0, "at least one batch");
    let per_batch = (arrivals / batches).max(1);
    let mut occ = Occupancy::new(planner.topology());
    let mut departures: BinaryHeap<Reverse<Departure>> = BinaryHeap::new();
    let mut reports = vec![SimReport::default(); batches];
    let mut next_id = 0u64;
    for (i, a) in traffic.take(warmup + arrivals).enumerate() {
        while let Some(Reverse(Departure(t, id))) = departures.peek()
            && *t <= a.time
        {
            let id = *id;
            departures.pop();
            occ.release(GrantId(id));
        }
        let batch = (i >= warmup).then(|| ((i - warmup) / per_batch).min(batches - 1));
        if let Some(b) = batch {
            reports[b].arrivals += 1;
        }
        let req = Request::wavelengths(a.src, a.dst, lanes, qos);
        match planner.decide(&occ, &req, policy) {
            Ok(d) => {
                next_id += 1;
                occ.apply(&d, GrantId(next_id))
                    .expect("a fresh decision applies");
                departures.push(Reverse(Departure(a.time + a.holding, next_id)));
            }
            Err(_) => {
                if let Some(b) = batch {
                    reports[b].blocked += 1;
                }
            }
        }
    }
    (reports, occ)
}

/// Total of batch reports, and the half-width of the 95 % batch-means confidence interval of
/// the blocking probability (Student t with `batches − 1` degrees of freedom; 0 for < 2).
#[must_use]
pub fn batch_summary(batches: &[SimReport]) -> (SimReport, f64) {
    let total = SimReport {
        arrivals: batches.iter().map(|b| b.arrivals).sum(),
        blocked: batches.iter().map(|b| b.blocked).sum(),
    };
    let n = batches.len();
    if n < 2 {
        return (total, 0.0);
    }
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let mean = batches.iter().map(SimReport::blocking).sum::<f64>() / nf;
    let var = batches
        .iter()
        .map(|b| (b.blocking() - mean).powi(2))
        .sum::<f64>()
        / (nf - 1.0);
    // Two-sided 97.5 % quantiles of Student t for 1..=30 degrees of freedom, then normal.
    const T975: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    let t = T975.get(n - 2).copied().unwrap_or(1.96);
    (total, t * (var / nf).sqrt())
}

/// Erlang-B blocking of `servers` servers offered `load` Erlangs (stable recursion
/// `B(0) = 1`, `B(n) = A·B(n−1) / (n + A·B(n−1))`).
#[must_use]
pub fn erlang_b(servers: u32, load: f64) -> f64 {
    let mut b = 1.0;
    for n in 1..=servers {
        b = load * b / (f64::from(n) + load * b);
    }
    b
}

//! Dynamic-traffic simulator: Poisson arrivals, exponential holding times, uniform random
//! source/destination pairs, from a seed, in one QoS class or a gold/silver/bronze mix.
//! Running two policies with the same seed gives them the same arrival sequence (common
//! random numbers), which [`paired_difference`] turns into a tight comparison.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::graph::NodeId;
use crate::occupancy::{GrantId, Occupancy, Qos};
use crate::planner::{CorridorDemand, Planner};
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
    let mut reports = vec![SimReport::default(); batches];
    let occ = drive(
        planner,
        policy,
        traffic.take(warmup + arrivals),
        |a| (CorridorDemand::wavelengths(a.src, a.dst, lanes, qos), ()),
        |i, (), outcome| {
            if i < warmup {
                return;
            }
            let b = &mut reports[((i - warmup) / per_batch).min(batches - 1)];
            b.arrivals += 1;
            b.blocked += u64::from(outcome.is_none());
        },
    );
    (reports, occ)
}

/// Share of arrivals per QoS class, in percent; bronze takes the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassMix {
    /// Gold share (%).
    pub gold_percent: u32,
    /// Silver share (%).
    pub silver_percent: u32,
}

/// Outcome of a mixed-class run ([`simulate_classes`]), per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassReport {
    /// Gold arrivals and how many were blocked.
    pub gold: SimReport,
    /// Silver arrivals and how many were blocked.
    pub silver: SimReport,
    /// Bronze arrivals and how many were blocked at arrival.
    pub bronze: SimReport,
    /// Bronze grants cut short by gold pre-emption (counted when the pre-empting gold
    /// arrival is counted).
    pub preempted: u64,
}

impl ClassReport {
    /// Share of admitted bronze grants that gold pre-empted (0 when none was admitted).
    #[must_use]
    pub fn preempted_share(&self) -> f64 {
        let admitted = self.bronze.arrivals - self.bronze.blocked;
        if admitted == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let s = self.preempted as f64 / admitted as f64;
        s
    }
}

/// Runs `traffic` with each arrival's class drawn from `mix` by a generator seeded with
/// `class_seed` (independent of the traffic's, so every policy sees the same classes in the
/// same order), `lanes` wavelengths per request; counts the last `arrivals`. With
/// `preemption` false, gold arrivals are planned as silver (no precedence, no pre-emption), so
/// a paired run shows what pre-emption costs bronze and what it saves gold.
///
/// # Panics
/// As [`simulate`], or if the mix's shares add up to more than 100 %.
#[allow(clippy::too_many_arguments)]
pub fn simulate_classes(
    planner: &Planner,
    policy: &dyn WavelengthPolicy,
    traffic: Traffic,
    lanes: u16,
    mix: ClassMix,
    preemption: bool,
    class_seed: u64,
    warmup: usize,
    arrivals: usize,
) -> ClassReport {
    assert!(
        mix.gold_percent + mix.silver_percent <= 100,
        "class shares above 100 %"
    );
    let mut rng = SplitMix64::new(class_seed);
    let mut report = ClassReport::default();
    drive(
        planner,
        policy,
        traffic.take(warmup + arrivals),
        |a| {
            let draw = rng.below(100);
            let qos = if draw < mix.gold_percent {
                Qos::Gold
            } else if draw < mix.gold_percent + mix.silver_percent {
                Qos::Silver
            } else {
                Qos::Bronze
            };
            let planned = if qos == Qos::Gold && !preemption {
                Qos::Silver
            } else {
                qos
            };
            (
                CorridorDemand::wavelengths(a.src, a.dst, lanes, planned),
                qos,
            )
        },
        |i, class, outcome| {
            if i < warmup {
                return;
            }
            let r = match class {
                Qos::Gold => &mut report.gold,
                Qos::Silver => &mut report.silver,
                Qos::Bronze => &mut report.bronze,
            };
            r.arrivals += 1;
            match outcome {
                None => r.blocked += 1,
                Some(preempted) => report.preempted += preempted as u64,
            }
        },
    );
    report
}

/// The event loop shared by the simulators: releases departed grants, asks `request` for the
/// request of each arrival (and a tag for it, such as its class), plans it and applies the
/// decision, then tells `record` the arrival's index, its tag and the outcome (`Some(grants
/// pre-empted)` when placed, `None` when blocked). Returns the final occupancy.
fn drive<T>(
    planner: &Planner,
    policy: &dyn WavelengthPolicy,
    arrivals: impl Iterator<Item = Arrival>,
    mut request: impl FnMut(&Arrival) -> (CorridorDemand, T),
    mut record: impl FnMut(usize, T, Option<usize>),
) -> Occupancy {
    let mut occ = Occupancy::new(planner.topology());
    let mut departures: BinaryHeap<Reverse<Departure>> = BinaryHeap::new();
    let mut next_id = 0u64;
    for (i, a) in arrivals.enumerate() {
        while let Some(Reverse(Departure(t, id))) = departures.peek()
            && *t <= a.time
        {
            let id = *id;
            departures.pop();
            // A pre-empted grant is already gone: releasing it again is a no-op.
            occ.release(GrantId(id));
        }
        let (req, tag) = request(&a);
        let outcome = match planner.decide(&occ, &req, policy) {
            Ok(d) => {
                next_id += 1;
                let released = occ
                    .apply(&d, GrantId(next_id))
                    .expect("a fresh decision applies");
                departures.push(Reverse(Departure(a.time + a.holding, next_id)));
                Some(released.len())
            }
            Err(_) => None,
        };
        record(i, tag, outcome);
    }
    occ
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
    (total, t975(n - 1) * (var / nf).sqrt())
}

/// Two-sided 95 % quantile (97.5 % one-sided) of Student's t with `df` degrees of freedom
/// (tabulated for 1..=30, normal beyond).
fn t975(df: usize) -> f64 {
    const T975: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    T975.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// Paired comparison of two runs on the same arrivals, batch by batch: the mean over batches
/// of `ours − scale × base` blocking and the half-width of its 95 % confidence interval
/// (Student t over the per-batch differences; common random numbers make the batches of the
/// two runs positively correlated, so this interval is much narrower than the difference of
/// two independent ones). `scale` 1 compares, 0.5 tests "at most half".
///
/// # Panics
/// If the runs have different numbers of batches.
#[must_use]
pub fn paired_difference(ours: &[SimReport], base: &[SimReport], scale: f64) -> (f64, f64) {
    assert_eq!(ours.len(), base.len(), "paired runs need the same batches");
    let d: Vec<f64> = ours
        .iter()
        .zip(base)
        .map(|(o, b)| o.blocking() - scale * b.blocking())
        .collect();
    let n = d.len();
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let mean = d.iter().sum::<f64>() / nf.max(1.0);
    if n < 2 {
        return (mean, 0.0);
    }
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    (mean, t975(n - 1) * (var / nf).sqrt())
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

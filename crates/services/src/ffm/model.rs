//! Telemetry models: what each bundle achieves when every live bundle
//! competes for the devices it is placed on, and its tail access stall.
//!
//! **Bandwidth: max-min fairness with floors** (progressive filling,
//! Bertsekas & Gallager, *Data Networks*, 2nd ed., §6.5.2). Every bundle is
//! a backlogged flow (it would use all the bandwidth it gets: the worst case
//! a floor must survive). A bundle striped over several devices moves its
//! bytes in proportion to its interleave weights, so at rate `r` it loads
//! device `d` with `r·w_d`. First every bundle gets its floor; where a
//! device's floors exceed its peak they are scaled down pro rata (a floor
//! violation, reported as a condition). Then all unfrozen rates rise together
//! until a device saturates; bundles on it freeze; repeat until every bundle
//! is frozen.
//!
//! **Tail latency: M/M/1 sojourn time** (Kleinrock, *Queueing Systems* vol. 1,
//! 1975, §3.2: the response time of an M/M/1 queue is exponential with rate
//! `μ − λ`, so `p99 = ln(100) / (μ − λ)`). A device serves transfers of
//! [`STALL_UNIT_BYTES`] (one transparent huge page, the unit a fault-in or
//! migration stalls on) at its peak; the offered load is the sum of the
//! floors placed on it (what admission promised, at most the admission share
//! of peak). A bundle's p99 is the worst of its devices'.

use std::collections::BTreeMap;

/// One transparent huge page: the unit a bundle stalls on.
pub const STALL_UNIT_BYTES: f64 = 2.0 * 1024.0 * 1024.0;

/// A bundle's share of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub device: usize,
    /// Fraction of the bundle's traffic on this device (weights normalised).
    pub fraction: f64,
    /// Floor on this device, GB/s.
    pub floor_gbs: f64,
}

/// What the model computes for one bundle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub achieved_gbs: f64,
    pub floor_gbs: f64,
    pub tail_p99_ms: f64,
    /// The bundle got less than its floor.
    pub floor_violated: bool,
}

/// Runs both models over every live bundle. `peaks_gbs[d]` is device `d`'s
/// peak bandwidth.
pub fn evaluate(
    peaks_gbs: &[f64],
    bundles: &BTreeMap<String, Vec<Part>>,
) -> BTreeMap<String, Outcome> {
    let classes: Vec<(&[Part], u64)> = bundles.values().map(|p| (p.as_slice(), 1)).collect();
    bundles
        .keys()
        .cloned()
        .zip(evaluate_classes(peaks_gbs, &classes))
        .collect()
}

/// [`evaluate`] over classes of identical bundles: `classes[i]` is the
/// parts every bundle of class `i` has and how many bundles it holds.
///
/// Bundles with the same parts get the same outcome (max-min fairness has
/// one solution, and swapping two identical bundles leaves it one), so the
/// model runs once per class with every sum weighted by the class's count:
/// its cost grows with the number of distinct shapes, not of bundles.
pub fn evaluate_classes(peaks_gbs: &[f64], classes: &[(&[Part], u64)]) -> Vec<Outcome> {
    let devices = peaks_gbs.len();
    let count: Vec<f64> = classes.iter().map(|(_, n)| *n as f64).collect();
    // Floors, scaled down where a device is over-promised.
    let mut floor_load = vec![0.0; devices];
    for ((p, _), &n) in classes.iter().zip(&count) {
        for s in p.iter() {
            floor_load[s.device] += s.floor_gbs * n;
        }
    }
    let scale: Vec<f64> = floor_load
        .iter()
        .zip(peaks_gbs)
        .map(|(&l, &peak)| if l > peak && l > 0.0 { peak / l } else { 1.0 })
        .collect();
    let floors: Vec<f64> = classes
        .iter()
        .map(|(p, _)| p.iter().map(|s| s.floor_gbs).sum::<f64>())
        .collect();
    // A striped bundle's rate is bound by its most over-promised device.
    let mut rate: Vec<f64> = classes
        .iter()
        .zip(&floors)
        .map(|((p, _), &f)| p.iter().map(|s| scale[s.device]).fold(1.0_f64, f64::min) * f)
        .collect();
    let mut load = vec![0.0; devices];
    for (((p, _), &r), &n) in classes.iter().zip(&rate).zip(&count) {
        for s in p.iter() {
            load[s.device] += r * s.fraction * n;
        }
    }
    // Progressive filling.
    let mut frozen: Vec<bool> = classes
        .iter()
        .map(|(p, n)| p.is_empty() || *n == 0)
        .collect();
    let eps = 1e-9;
    for _ in 0..=devices {
        let mut weight = vec![0.0; devices];
        for (i, (p, _)) in classes.iter().enumerate() {
            if !frozen[i] {
                for s in p.iter() {
                    weight[s.device] += s.fraction * count[i];
                }
            }
        }
        let step = (0..devices)
            .filter(|&d| weight[d] > 0.0)
            .map(|d| ((peaks_gbs[d] - load[d]).max(0.0)) / weight[d])
            .fold(f64::INFINITY, f64::min);
        if !step.is_finite() {
            break;
        }
        for (i, (p, _)) in classes.iter().enumerate() {
            if !frozen[i] {
                rate[i] += step;
                for s in p.iter() {
                    load[s.device] += step * s.fraction * count[i];
                }
            }
        }
        let saturated: Vec<bool> = (0..devices)
            .map(|d| load[d] >= peaks_gbs[d] - eps)
            .collect();
        for (i, (p, _)) in classes.iter().enumerate() {
            if p.iter().any(|s| saturated[s.device]) {
                frozen[i] = true;
            }
        }
        if frozen.iter().all(|&f| f) {
            break;
        }
    }
    // p99 per device from the promised (floor) load.
    let p99_ms: Vec<f64> = peaks_gbs
        .iter()
        .zip(&floor_load)
        .map(|(&peak, &l)| {
            let mu = peak * 1e9 / STALL_UNIT_BYTES;
            let lambda = l.min(peak) * 1e9 / STALL_UNIT_BYTES;
            let gap = (mu - lambda).max(mu * 1e-3);
            100f64.ln() / gap * 1e3
        })
        .collect();
    classes
        .iter()
        .enumerate()
        .map(|(i, (p, _))| Outcome {
            achieved_gbs: rate[i],
            floor_gbs: floors[i],
            tail_p99_ms: p.iter().map(|s| p99_ms[s.device]).fold(0.0_f64, f64::max),
            floor_violated: rate[i] + 1e-6 < floors[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(device: usize, fraction: f64, floor: f64) -> Part {
        Part {
            device,
            fraction,
            floor_gbs: floor,
        }
    }

    #[test]
    fn floors_then_fair_share() {
        let mut b = BTreeMap::new();
        b.insert("a".to_string(), vec![part(0, 1.0, 30.0)]);
        b.insert("b".to_string(), vec![part(0, 1.0, 0.0)]);
        let out = evaluate(&[64.0], &b);
        // 34 GB/s left after a's floor, shared equally on top of the floors.
        assert!((out["a"].achieved_gbs - 47.0).abs() < 1e-6);
        assert!((out["b"].achieved_gbs - 17.0).abs() < 1e-6);
        assert!(!out["a"].floor_violated);
        assert!(out["a"].tail_p99_ms > 0.0);
    }

    #[test]
    fn over_promised_device_violates_floors() {
        let mut b = BTreeMap::new();
        b.insert("a".to_string(), vec![part(0, 1.0, 40.0)]);
        b.insert("b".to_string(), vec![part(0, 1.0, 40.0)]);
        let out = evaluate(&[64.0], &b);
        assert!(out["a"].floor_violated);
        assert!((out["a"].achieved_gbs - 32.0).abs() < 1e-6);
    }

    #[test]
    fn striped_bundle_is_bound_by_its_slowest_share() {
        let mut b = BTreeMap::new();
        b.insert(
            "s".to_string(),
            vec![part(0, 0.5, 10.0), part(1, 0.5, 10.0)],
        );
        let out = evaluate(&[64.0, 36.0], &b);
        // Half the traffic on the 36 GB/s device: 72 GB/s total.
        assert!((out["s"].achieved_gbs - 72.0).abs() < 1e-6);
    }

    /// A class of n identical bundles is the n bundles one by one.
    #[test]
    fn classes_match_bundles_one_by_one() {
        let mut b = BTreeMap::new();
        for i in 0..5 {
            b.insert(format!("a{i}"), vec![part(0, 1.0, 3.0)]);
        }
        for i in 0..3 {
            b.insert(
                format!("s{i}"),
                vec![part(0, 0.25, 2.0), part(1, 0.75, 6.0)],
            );
        }
        b.insert("c".to_string(), vec![part(1, 1.0, 0.0)]);
        let peaks = [64.0, 36.0];
        let one_by_one = evaluate(&peaks, &b);
        let a = [part(0, 1.0, 3.0)];
        let s = [part(0, 0.25, 2.0), part(1, 0.75, 6.0)];
        let c = [part(1, 1.0, 0.0)];
        let classes = evaluate_classes(&peaks, &[(&a, 5), (&s, 3), (&c, 1)]);
        for (id, class) in [("a0", 0), ("a4", 0), ("s2", 1), ("c", 2)] {
            let (x, y) = (one_by_one[id], classes[class]);
            assert!(
                (x.achieved_gbs - y.achieved_gbs).abs() < 1e-9,
                "{id}: {x:?} {y:?}"
            );
            assert!(
                (x.tail_p99_ms - y.tail_p99_ms).abs() < 1e-9,
                "{id}: {x:?} {y:?}"
            );
            assert_eq!(x.floor_violated, y.floor_violated, "{id}");
        }
    }

    #[test]
    fn tail_grows_with_load() {
        let mut light = BTreeMap::new();
        light.insert("a".to_string(), vec![part(0, 1.0, 5.0)]);
        let mut heavy = BTreeMap::new();
        heavy.insert("a".to_string(), vec![part(0, 1.0, 40.0)]);
        let l = evaluate(&[64.0], &light)["a"].tail_p99_ms;
        let h = evaluate(&[64.0], &heavy)["a"].tail_p99_ms;
        assert!(h > l);
    }
}

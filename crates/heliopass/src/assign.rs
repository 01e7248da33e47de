//! Ring → lane assignment at the least total heater power.
//!
//! Ring *i* on lane *c* needs an own-heater-equivalent power `u_ic` (measured with the others
//! parked; the lowest FSR order; one more order costs one FSR of heater). With crosstalk the
//! heaters must deliver `P = K⁻¹·u` (photonics.md §3, thermal eigenmode decomposition), so the
//! total `1ᵀP = wᵀu` with `w = K⁻ᵀ·1` is *linear* in the chosen `u`: the least-power collision-
//! free assignment would be a linear assignment problem with costs `w_i·u_ic`. But heaters only
//! heat and must keep headroom to follow a warming: a ring whose `P_i` comes out under the
//! headroom (its neighbours over-heat it) moves to its next FSR order, which makes the problem
//! non-linear, and a DP-plus-swap heuristic tried here landed 2× off the optimum on 9 rings.
//! So a bank is one ring page (≤ [`MAX_RINGS`] = 8 rings) and is searched exactly. A 32-lane
//! module is calibrated page by page.
//!
//! **Exact, without trying all 8! orders.** Moving a ring up an order only adds `fsr_i` to
//! `u_i`, so when every `w_i ≥ 0` (weak crosstalk: `K` close to the identity) an assignment's
//! total is at least `Σ w_i·u_ic` of its first orders. A partial assignment whose fixed rings
//! plus each free ring's cheapest free lane already reach the best total found cannot beat
//! it, and its completions are skipped (branch and bound, in the same order as
//! [`brute_force`], so ties resolve the same way). With a negative `w_i` the bound does not
//! hold and every order is tried.

use crate::error::{HelioError, Result};
use crate::linalg::{Matrix, mul_vec};

/// Largest bank the assignment handles: one ring page (8! = 40 320 orders).
pub const MAX_RINGS: usize = 8;

/// An assignment and the heater powers it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Lane of each ring.
    pub lane_of_ring: Vec<usize>,
    /// Own-heater-equivalent power per ring (including any extra FSR order), mW.
    pub own_mw: Vec<f64>,
    /// Heater powers P = K⁻¹·u, mW.
    pub heater_mw: Vec<f64>,
    /// Σ P, mW.
    pub total_mw: f64,
}

/// The heater powers of an assignment: `P = K⁻¹u`, moving rings with `P_i < min_mw` up one
/// FSR order until every heater keeps `min_mw` of headroom (a heater can only heat: to follow
/// a warming of ΔT it must be able to drop by η·dλ/dT·ΔT). `None` if a heater would exceed
/// `full_scale_mw`.
#[must_use]
pub fn plan_for(
    lane_of_ring: &[usize],
    costs: &[Vec<f64>],
    kinv: &Matrix,
    fsr_mw: &[f64],
    min_mw: f64,
    full_scale_mw: f64,
) -> Option<Plan> {
    let mut u: Vec<f64> = lane_of_ring
        .iter()
        .enumerate()
        .map(|(i, &c)| costs[i][c])
        .collect();
    for _ in 0..=u.len() {
        let p = mul_vec(kinv, &u);
        let worst = p
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, v)| (i, *v));
        match worst {
            Some((i, v)) if v < min_mw => u[i] += fsr_mw[i],
            _ => {
                if p.iter().any(|&x| x > full_scale_mw) {
                    return None;
                }
                let total = p.iter().sum();
                return Some(Plan {
                    lane_of_ring: lane_of_ring.to_vec(),
                    own_mw: u,
                    heater_mw: p,
                    total_mw: total,
                });
            }
        }
    }
    None
}

/// The least-power assignment keeping `min_mw` of headroom on every heater (exhaustive).
///
/// # Errors
/// [`HelioError::TooManyRings`] beyond [`MAX_RINGS`], [`HelioError::NoAssignment`] if no
/// assignment fits the heaters.
pub fn assign(
    costs: &[Vec<f64>],
    kinv: &Matrix,
    fsr_mw: &[f64],
    min_mw: f64,
    full_scale_mw: f64,
) -> Result<Plan> {
    let n = costs.len();
    if n > MAX_RINGS {
        return Err(HelioError::TooManyRings {
            rings: n,
            max: MAX_RINGS,
        });
    }
    branch_and_bound(costs, kinv, fsr_mw, min_mw, full_scale_mw)
        .ok_or(HelioError::NoAssignment { full_scale_mw })
}

/// The least-power assignment, skipping partial assignments that cannot beat the best found
/// (see the module documentation); the same plan as [`brute_force`].
fn branch_and_bound(
    costs: &[Vec<f64>],
    kinv: &Matrix,
    fsr_mw: &[f64],
    min_mw: f64,
    full_scale_mw: f64,
) -> Option<Plan> {
    let n = costs.len();
    // w = K⁻ᵀ·1: the column sums of K⁻¹.
    let w: Vec<f64> = (0..n)
        .map(|j| kinv.iter().map(|row| row[j]).sum())
        .collect();
    if w.iter().any(|&wi| wi < 0.0) {
        return brute_force(costs, kinv, fsr_mw, min_mw, full_scale_mw);
    }
    let mut search = Search {
        costs,
        w: &w,
        best: None,
        plan: |p: &[usize]| plan_for(p, costs, kinv, fsr_mw, min_mw, full_scale_mw),
    };
    let mut perm: Vec<usize> = (0..n).collect();
    search.descend(&mut perm, 0, 0.0);
    search.best
}

/// The state of [`branch_and_bound`]'s search.
struct Search<'a, F> {
    costs: &'a [Vec<f64>],
    w: &'a [f64],
    best: Option<Plan>,
    plan: F,
}

impl<F: Fn(&[usize]) -> Option<Plan>> Search<'_, F> {
    /// Rings `..k` hold lanes `perm[..k]`, at first-order cost `fixed`; tries every lane of
    /// `perm[k..]` for ring `k`, in [`permute`]'s order.
    fn descend(&mut self, perm: &mut [usize], k: usize, fixed: f64) {
        let n = perm.len();
        if k == n {
            if let Some(plan) = (self.plan)(perm)
                && self
                    .best
                    .as_ref()
                    .is_none_or(|b| plan.total_mw < b.total_mw)
            {
                self.best = Some(plan);
            }
            return;
        }
        for i in k..n {
            perm.swap(k, i);
            let fixed = fixed + self.w[k] * self.costs[k][perm[k]];
            if !self.cannot_beat_best(perm, k + 1, fixed) {
                self.descend(perm, k + 1, fixed);
            }
            perm.swap(k, i);
        }
    }

    /// Whether every completion of rings `..k` (at first-order cost `fixed`) costs at least
    /// the best plan found. The margin keeps rounding (the bound and `plan_for`'s total are
    /// summed differently) from skipping an assignment that is better by less than it.
    fn cannot_beat_best(&self, perm: &[usize], k: usize, fixed: f64) -> bool {
        let Some(best) = &self.best else {
            return false;
        };
        let free = &perm[k..];
        let bound: f64 = fixed
            + (k..perm.len())
                .map(|ring| {
                    let cheapest = free
                        .iter()
                        .map(|&lane| self.costs[ring][lane])
                        .fold(f64::INFINITY, f64::min);
                    self.w[ring] * cheapest
                })
                .sum::<f64>();
        bound > best.total_mw + 1e-9 * best.total_mw.abs().max(1.0)
    }
}

/// The least-power assignment by trying every permutation (n! orders: small banks; the
/// reference the benches and tests hold [`assign`] to).
#[must_use]
pub fn brute_force(
    costs: &[Vec<f64>],
    kinv: &Matrix,
    fsr_mw: &[f64],
    min_mw: f64,
    full_scale_mw: f64,
) -> Option<Plan> {
    let n = costs.len();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut best: Option<Plan> = None;
    permute(&mut perm, 0, &mut |p| {
        if let Some(plan) = plan_for(p, costs, kinv, fsr_mw, min_mw, full_scale_mw)
            && best.as_ref().is_none_or(|b| plan.total_mw < b.total_mw)
        {
            best = Some(plan);
        }
    });
    best
}

fn permute(v: &mut [usize], k: usize, f: &mut impl FnMut(&[usize])) {
    if k == v.len() {
        f(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permute(v, k + 1, f);
        v.swap(k, i);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::linalg::invert;

    fn k(n: usize, k1: f64, k2: f64) -> Matrix {
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| match i.abs_diff(j) {
                        0 => 1.0,
                        1 => k1,
                        2 => k2,
                        _ => 0.0,
                    })
                    .collect()
            })
            .collect()
    }

    proptest! {
        #[test]
        /// Costs with the structure of a real bank: ring i at λ0_i (2 nm blue of its lane
        /// ± 1.5 nm), lanes 0.8 nm apart, FSR 18.2 nm, 0.55 mW/nm, red shifts only.
        fn assignment_is_collision_free_with_headroom_and_least_power(
            n in 2usize..=6,
            fab in proptest::collection::vec(-1.5f64..1.5, 6),
            k1 in 0.0f64..0.15,
        ) {
            let (fsr_nm, eff) = (18.2, 0.55);
            let costs: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    let l0 = -0.8 * i as f64 - 2.0 + fab[i];
                    (0..n)
                        .map(|c| {
                            let need = -0.8 * c as f64 - l0;
                            (need - fsr_nm * (need / fsr_nm).floor()) * eff
                        })
                        .collect()
                })
                .collect();
            let kinv = invert(&k(n, k1, k1 / 5.0)).unwrap();
            let fsr = vec![fsr_nm * eff; n];
            let ours = assign(&costs, &kinv, &fsr, 0.44, 60.0).unwrap();
            // Every cyclic rotation (the in-order design assignment among them) costs more.
            for r in 0..n {
                let rot: Vec<usize> = (0..n).map(|i| (i + r) % n).collect();
                if let Some(p) = plan_for(&rot, &costs, &kinv, &fsr, 0.44, 60.0) {
                    prop_assert!(ours.total_mw <= p.total_mw + 1e-9);
                }
            }
            // Collision-free.
            let mut lanes = ours.lane_of_ring.clone();
            lanes.sort_unstable();
            prop_assert_eq!(lanes, (0..n).collect::<Vec<_>>());
            prop_assert!(ours.heater_mw.iter().all(|&p| p >= 0.44));
        }
    }

    proptest! {
        // Each case runs the exhaustive search too (8! orders unoptimised).
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        /// The pruned search finds the exhaustive search's plan (the same lanes, the same
        /// total), on banks of up to the page's 8 rings with random first-order costs.
        fn pruning_finds_the_exhaustive_optimum(
            n in 1usize..=MAX_RINGS,
            costs in proptest::collection::vec(proptest::collection::vec(0.0f64..12.0, MAX_RINGS), MAX_RINGS),
            k1 in 0.0f64..0.2,
            min_mw in 0.0f64..1.0,
            full_scale_mw in 8.0f64..40.0,
        ) {
            let costs: Vec<Vec<f64>> = costs[..n].iter().map(|row| row[..n].to_vec()).collect();
            let kinv = invert(&k(n, k1, k1 / 5.0)).unwrap();
            let fsr = vec![10.0; n];
            let exhaustive = brute_force(&costs, &kinv, &fsr, min_mw, full_scale_mw);
            let pruned = branch_and_bound(&costs, &kinv, &fsr, min_mw, full_scale_mw);
            prop_assert_eq!(pruned, exhaustive);
        }
    }

    #[test]
    fn negative_heaters_move_up_one_order() {
        // Ring 1 needs nothing, its neighbours heat it: it must take its next order.
        let costs = vec![
            vec![5.0, 9.0, 9.0],
            vec![9.0, 0.0, 9.0],
            vec![9.0, 9.0, 5.0],
        ];
        let kinv = invert(&k(3, 0.1, 0.0)).unwrap();
        let p = plan_for(&[0, 1, 2], &costs, &kinv, &[10.0; 3], 0.0, 60.0).unwrap();
        assert!(p.heater_mw.iter().all(|&x| x >= 0.0));
        assert_eq!(p.own_mw[1], 10.0);
        assert!(plan_for(&[0, 1, 2], &costs, &kinv, &[10.0; 3], 0.0, 5.0).is_none());
        // With 6 mW of headroom asked, rings 0 and 2 need their next order too.
        let p = plan_for(&[0, 1, 2], &costs, &kinv, &[10.0; 3], 6.0, 60.0).unwrap();
        assert!(p.heater_mw.iter().all(|&x| x >= 6.0), "{:?}", p.heater_mw);
    }
}

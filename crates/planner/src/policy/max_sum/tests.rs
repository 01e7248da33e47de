use corridor_physics::Medium;

use crate::graph::{Graph, GraphSpec, LinkSpec, NodeSpec};
use crate::*;

fn topo(nodes: usize, links: &[(u32, u32, f64)], w: u16) -> Graph {
    Graph::new(GraphSpec {
        nodes: (0..nodes).map(|i| NodeSpec::new(format!("n{i}"))).collect(),
        links: links
            .iter()
            .map(|&(a, b, l)| LinkSpec::new(a, b, l, Medium::Fiber, w))
            .collect(),
    })
    .unwrap()
}

fn silver(occ: &mut Occupancy, id: u64, links: &[u32], channels: Mask) {
    occ.grant(Grant {
        id: GrantId(id),
        qos: Qos::Silver,
        links: links.iter().map(|&l| LinkId(l)).collect(),
        channels,
        module_lanes: Vec::new(),
    })
    .unwrap();
}

/// Line 0 -1- 1 -2- 2 (links 0 and 1), W = 2, slot 1 busy on link 1. A request 0→1 fits on
/// either slot. First-Fit takes slot 0 and so kills the only slot still free end to end on
/// 0→2; Max-Sum sees that slot 0 is free on two protected routes through link 0 (0→1 and 0→2)
/// and slot 1 on one (0→1), takes slot 1, and the next request 0→2 still fits.
#[test]
fn max_sum_keeps_continuity_that_first_fit_destroys() {
    let p = Planner::new(topo(3, &[(0, 1, 1.0), (1, 2, 1.0)], 2), 2, Metric::Length);
    let ours = MaxSum::new(&p);
    assert_eq!(ours.routes(), 3);
    let mut base = Occupancy::new(p.topology());
    silver(&mut base, 1, &[1], 0b10);
    let near = CorridorDemand::wavelengths(NodeId(0), NodeId(1), 1, Qos::Silver);
    let far = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Silver);

    let ff = p.decide(&base, &near, &KspFirstFit).unwrap();
    let ms = p.decide(&base, &near, &ours).unwrap();
    assert_eq!(ff.channels, vec![0]);
    assert_eq!(ms.channels, vec![1]);
    assert_eq!(ours.loss(&base, &ff.path.links, ff.mask), 2);
    assert_eq!(ours.loss(&base, &ms.path.links, ms.mask), 1);

    let mut after_ff = base.clone();
    after_ff.apply(&ff, GrantId(2)).unwrap();
    assert!(p.decide(&after_ff, &far, &KspFirstFit).is_err());
    let mut after_ms = base.clone();
    after_ms.apply(&ms, GrantId(2)).unwrap();
    assert_eq!(p.decide(&after_ms, &far, &ours).unwrap().channels, vec![0]);
}

/// A triangle 0-1-2 (direct link A = 0-2, the way round B = 0-1, C = 1-2) with leaves 3 on
/// node 0 (link D) and 4 on node 2 (link E), W = 2. Slot 1 is busy on A, D and E. For 0→2,
/// k-SP First-Fit takes the direct link on slot 0, the last slot free on every route through
/// A (0→2, 0→4, 2→3, 3→4: loss 4). Max-Sum goes round on slot 1, which only the routes 0→1
/// and 1→2 can still use (1→3 and 1→4 lost slot 1 on D and E): loss 2 — and 3→4 keeps its
/// path.
#[test]
fn max_sum_deflects_where_that_saves_capacity() {
    let p = Planner::new(
        topo(
            5,
            &[
                (0, 2, 1.0),
                (0, 1, 1.0),
                (1, 2, 1.0),
                (3, 0, 1.0),
                (2, 4, 1.0),
            ],
            2,
        ),
        3,
        Metric::Length,
    );
    let ours = MaxSum::new(&p);
    let mut occ = Occupancy::new(p.topology());
    silver(&mut occ, 1, &[0], 0b10);
    silver(&mut occ, 2, &[3], 0b10);
    silver(&mut occ, 3, &[4], 0b10);
    let req = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Silver);
    let ff = p.decide(&occ, &req, &KspFirstFit).unwrap();
    assert_eq!((ff.path_rank, ff.channels.clone()), (0, vec![0]));
    assert_eq!(ours.loss(&occ, &ff.path.links, ff.mask), 4);
    let ms = p.decide(&occ, &req, &ours).unwrap();
    assert_eq!((ms.path_rank, ms.channels.clone()), (1, vec![1]));
    assert_eq!(ours.loss(&occ, &ms.path.links, ms.mask), 2);
    // Afterwards 3→4 still fits on its shortest path with Max-Sum's choice, not with FF's.
    let far = CorridorDemand::wavelengths(NodeId(3), NodeId(4), 1, Qos::Silver);
    let mut after = occ.clone();
    after.apply(&ms, GrantId(9)).unwrap();
    assert_eq!(p.decide(&after, &far, &ours).unwrap().path_rank, 0);
    occ.apply(&ff, GrantId(9)).unwrap();
    assert_ne!(p.decide(&occ, &far, &ours).map(|d| d.path_rank), Ok(0));
}

/// An empty network: every wavelength of the shortest path costs the same, a detour costs
/// more (it crosses more routes), so Max-Sum agrees with First-Fit on the shortest path.
#[test]
fn max_sum_on_empty_network_is_first_fit_on_shortest() {
    let p = Planner::new(topologies::nsfnet(16, 1e6), 6, Metric::Length);
    let ours = MaxSum::new(&p);
    assert_eq!(ours.routes(), 91);
    let occ = Occupancy::new(p.topology());
    for (s, t) in [(0, 13), (3, 9), (12, 1)] {
        let req = CorridorDemand::wavelengths(NodeId(s), NodeId(t), 3, Qos::Bronze);
        let d = p.decide(&occ, &req, &ours).unwrap();
        assert_eq!(d.path_rank, 0);
        assert_eq!(d.channels, vec![0, 1, 2]);
    }
}

/// A policy built for another topology does not index out of range: it falls back to k-SP
/// First-Fit.
#[test]
fn max_sum_of_another_topology_falls_back_to_ksp_first_fit() {
    let small = Planner::new(topo(2, &[(0, 1, 1.0)], 4), 1, Metric::Length);
    let p = Planner::new(topologies::nsfnet(8, 1e6), 4, Metric::Length);
    let foreign = MaxSum::new(&small);
    let mut occ = Occupancy::new(p.topology());
    silver(&mut occ, 1, &[5], 0b1);
    for (s, t) in [(0, 13), (4, 5), (13, 2)] {
        let req = CorridorDemand::wavelengths(NodeId(s), NodeId(t), 2, Qos::Bronze);
        assert_eq!(
            p.decide(&occ, &req, &foreign).unwrap(),
            p.decide(&occ, &req, &KspFirstFit).unwrap()
        );
    }
}

/// The bit-sliced decision agrees with the route-by-route [`MaxSum::loss`]: on occupancies from
/// a simulation, the chosen (path, wavelengths) has the smallest loss over every admissible
/// candidate path and every set of `lanes` wavelengths free along it (the cheapest set is the
/// `lanes` individually cheapest slots, since the loss is additive over wavelengths).
#[test]
fn max_sum_choice_minimises_loss() {
    let p = Planner::new(topologies::nsfnet(16, 1e6), 6, Metric::Length);
    let ours = MaxSum::new(&p);
    let mut rng = sim::SplitMix64::new(5);
    for load in [30.0, 50.0, 70.0] {
        let (_, occ) = sim::simulate(
            &p,
            &KspFirstFit,
            sim::Traffic::new(14, load, 1.0, 9),
            1,
            Qos::Bronze,
            0,
            3_000,
        );
        for _ in 0..200 {
            let s = rng.below(14);
            let t = (s + 1 + rng.below(13)) % 14;
            let lanes = 1 + rng.below(3);
            let paths = p.paths().get(NodeId(s), NodeId(t));
            let mut best: Option<u32> = None;
            for path in paths {
                if path.hops() > paths[0].hops() + ours.max_extra_hops {
                    continue;
                }
                let free = occ.free_along(&path.links);
                let mut per_slot: Vec<u32> = mask_indices(free)
                    .into_iter()
                    .map(|w| ours.loss(&occ, &path.links, 1 << w))
                    .collect();
                if per_slot.len() < lanes as usize {
                    continue;
                }
                per_slot.sort_unstable();
                let cost = per_slot[..lanes as usize].iter().sum();
                best = Some(best.map_or(cost, |b: u32| b.min(cost)));
            }
            #[allow(clippy::cast_possible_truncation)]
            let req = CorridorDemand::wavelengths(NodeId(s), NodeId(t), lanes as u16, Qos::Bronze);
            match p.decide(&occ, &req, &ours) {
                Ok(d) => {
                    assert_eq!(d.channels.len(), lanes as usize);
                    assert_eq!(
                        Some(ours.loss(&occ, &d.path.links, d.mask)),
                        best,
                        "{s}->{t} x{lanes} at {load} Erl"
                    );
                }
                Err(_) => assert_eq!(best, None, "{s}->{t} x{lanes} blocked with room"),
            }
        }
    }
}

/// Candidates from another planner of the same topology are not in the precomputed tables, so
/// their crossing routes are gathered link by link: the decisions are the same.
#[test]
fn max_sum_decides_the_same_for_paths_it_did_not_index() {
    let p = Planner::new(topologies::nsfnet(16, 1e6), 6, Metric::Length);
    let other = Planner::new(topologies::nsfnet(16, 1e6), 6, Metric::Length);
    let own = MaxSum::new(&p);
    let foreign = MaxSum::new(&other);
    let (_, occ) = sim::simulate(
        &p,
        &own,
        sim::Traffic::new(14, 55.0, 1.0, 3),
        1,
        Qos::Bronze,
        0,
        3_000,
    );
    let mut rng = sim::SplitMix64::new(8);
    let mut deflected = 0;
    for _ in 0..300 {
        let s = rng.below(14);
        let t = (s + 1 + rng.below(13)) % 14;
        #[allow(clippy::cast_possible_truncation)]
        let lanes = 1 + rng.below(3) as u16;
        let req = CorridorDemand::wavelengths(NodeId(s), NodeId(t), lanes, Qos::Bronze);
        let mine = p.decide(&occ, &req, &own);
        assert_eq!(mine, p.decide(&occ, &req, &foreign));
        deflected += usize::from(mine.is_ok_and(|d| d.path_rank > 0));
    }
    assert!(
        deflected > 0,
        "the occupancy should make some requests deflect"
    );
}

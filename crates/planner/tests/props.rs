//! Property tests: decisions never take a busy wavelength; grant/release never leaks.

use corridor_planner::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    CorridorDemand {
        src: u32,
        dst: u32,
        lanes: u16,
        qos: u8,
        policy: u8,
    },
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..14, 0u32..13, 1u16..4, 0u8..3, 0u8..3).prop_map(
            |(src, d, lanes, qos, policy)| Op::CorridorDemand {
                src,
                dst: if d >= src { d + 1 } else { d },
                lanes,
                qos,
                policy,
            }
        ),
        1 => any::<usize>().prop_map(Op::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decisions_take_only_free_or_preempted_slots(ops in prop::collection::vec(op(), 1..200)) {
        let planner = Planner::new(topologies::nsfnet(8, 1e6), 4, Metric::Length);
        let mut occ = Occupancy::new(planner.topology());
        let mut live: Vec<GrantId> = Vec::new();
        let mut next = 0u64;
        let max_sum = MaxSum::new(&planner);
        let policies: [&dyn WavelengthPolicy; 3] =
            [&max_sum, &AdaptiveKsp::default(), &FirstFitShortest];
        for op in ops {
            match op {
                Op::CorridorDemand { src, dst, lanes, qos, policy } => {
                    let qos = [Qos::Bronze, Qos::Silver, Qos::Gold][usize::from(qos)];
                    let req = CorridorDemand::wavelengths(NodeId(src), NodeId(dst), lanes, qos);
                    let policy = policies[usize::from(policy)];
                    if let Ok(d) = planner.decide(&occ, &req, policy) {
                        prop_assert_eq!(d.channels.len(), usize::from(lanes));
                        prop_assert_eq!(d.mask, mask_of(&d.channels));
                        prop_assert!(qos == Qos::Gold || d.preempt.is_empty());
                        for &l in &d.path.links {
                            let busy = d.mask & !occ.free(l);
                            for w in mask_indices(busy) {
                                let owner = occ.owner(l, w);
                                prop_assert!(owner.is_some(), "slot beyond capacity");
                                let owner = owner.unwrap();
                                prop_assert!(d.preempt.contains(&owner), "busy slot taken");
                                prop_assert_eq!(occ.get(owner).unwrap().qos, Qos::Bronze);
                            }
                        }
                        next += 1;
                        let released = occ.apply(&d, GrantId(next)).unwrap();
                        live.retain(|g| !released.iter().any(|r| r.id == *g));
                        live.push(GrantId(next));
                    }
                }
                Op::Release(i) => {
                    if !live.is_empty() {
                        let id = live.swap_remove(i % live.len());
                        prop_assert!(occ.release(id).is_some());
                    }
                }
            }
            prop_assert!(occ.check_consistency().is_ok(), "{:?}", occ.check_consistency());
        }
        for id in live {
            prop_assert!(occ.release(id).is_some());
        }
        prop_assert_eq!(occ.busy_slots(), 0);
        prop_assert_eq!(occ.grant_count(), 0);
        prop_assert!(occ.lambda_links().iter().all(|&c| c == 0));
    }

    #[test]
    fn release_and_regrant_restores_state(
        ops in prop::collection::vec((0u32..14, 0u32..13, 1u16..3), 1..60)
    ) {
        let planner = Planner::new(topologies::nsfnet(6, 1e6), 3, Metric::Length);
        let mut occ = Occupancy::new(planner.topology());
        let mut ids = Vec::new();
        for (i, (src, d, lanes)) in ops.into_iter().enumerate() {
            let dst = if d >= src { d + 1 } else { d };
            let req = CorridorDemand::wavelengths(NodeId(src), NodeId(dst), lanes, Qos::Silver);
            if let Ok(dec) = planner.decide(&occ, &req, &AdaptiveKsp::default()) {
                occ.apply(&dec, GrantId(i as u64)).unwrap();
                ids.push(GrantId(i as u64));
            }
        }
        let snapshot: Vec<Mask> = (0..occ.link_count()).map(|l| occ.used(LinkId(l as u32))).collect();
        // Release everything, then re-grant the same grants: identical masks.
        let grants: Vec<Grant> = ids.iter().map(|&id| occ.release(id).unwrap()).collect();
        prop_assert_eq!(occ.busy_slots(), 0);
        for g in grants {
            occ.grant(g).unwrap();
        }
        let again: Vec<Mask> = (0..occ.link_count()).map(|l| occ.used(LinkId(l as u32))).collect();
        prop_assert_eq!(snapshot, again);
        prop_assert!(occ.check_consistency().is_ok());
    }

    /// Yen's k shortest costs equal the k smallest costs among all simple paths.
    #[test]
    fn yen_matches_brute_force(
        edges in prop::collection::vec((0u32..6, 0u32..6, 1u32..10), 4..12),
        k in 1usize..6,
    ) {
        let links: Vec<LinkSpec> = edges
            .iter()
            .filter(|(a, b, _)| a != b)
            .map(|&(a, b, l)| LinkSpec::new(a, b, f64::from(l), corridor_physics::Medium::Fiber, 4))
            .collect();
        let topo = Graph::new(GraphSpec {
            nodes: (0..6).map(|i| NodeSpec::new(format!("n{i}"))).collect(),
            links,
        })
        .unwrap();
        let got: Vec<f64> = k_shortest_paths(&topo, NodeId(0), NodeId(5), k, Metric::Length)
            .iter()
            .map(|p| p.cost)
            .collect();
        // Brute force: DFS over simple paths (as link sequences).
        let mut all = Vec::new();
        let mut visited = [false; 6];
        fn dfs(t: &Graph, at: NodeId, cost: f64, visited: &mut [bool; 6], all: &mut Vec<f64>) {
            if at == NodeId(5) {
                all.push(cost);
                return;
            }
            visited[at.index()] = true;
            for &(n, l) in t.neighbours(at) {
                if !visited[n.index()] {
                    dfs(t, n, cost + t.link(l).length_mm, visited, all);
                }
            }
            visited[at.index()] = false;
        }
        dfs(&topo, NodeId(0), 0.0, &mut visited, &mut all);
        all.sort_by(f64::total_cmp);
        all.truncate(k);
        prop_assert_eq!(got, all);
    }
}

//! Unit tests across modules.

use corridor_physics::{Couplers, Medium};

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

/// The graph of the Wikipedia "Yen's algorithm" example (C, D, E, F, G, H), undirected.
fn yen_example() -> Graph {
    // C=0 D=1 E=2 F=3 G=4 H=5
    topo(
        6,
        &[
            (0, 1, 3.0),
            (0, 2, 2.0),
            (1, 3, 4.0),
            (2, 1, 1.0),
            (2, 3, 2.0),
            (2, 4, 3.0),
            (3, 4, 2.0),
            (3, 5, 1.0),
            (4, 5, 2.0),
        ],
        8,
    )
}

#[test]
fn yen_known_graph() {
    let t = yen_example();
    let p = k_shortest_paths(&t, NodeId(0), NodeId(5), 5, Metric::Length);
    let nodes: Vec<Vec<u32>> = p
        .iter()
        .map(|p| p.nodes.iter().map(|n| n.0).collect())
        .collect();
    let costs: Vec<f64> = p.iter().map(|p| p.cost).collect();
    // C-E-F-H 5; then the two 7s, fewer hops first: C-E-G-H, C-D-E-F-H.
    assert_eq!(nodes[0], vec![0, 2, 3, 5]);
    assert_eq!(nodes[1], vec![0, 2, 4, 5]);
    assert_eq!(nodes[2], vec![0, 1, 2, 3, 5]);
    assert_eq!(costs, vec![5.0, 7.0, 7.0, 8.0, 8.0]);
    for p in &p {
        assert_eq!(p.links.len() + 1, p.nodes.len());
        let mut seen = p.nodes.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), p.nodes.len(), "loopless");
    }
}

#[test]
fn yen_line_and_disconnected() {
    let t = topo(4, &[(0, 1, 1.0), (1, 2, 1.0)], 4);
    let p = k_shortest_paths(&t, NodeId(0), NodeId(2), 3, Metric::Hops);
    assert_eq!(p.len(), 1);
    assert!(k_shortest_paths(&t, NodeId(0), NodeId(3), 3, Metric::Hops).is_empty());
    let c = PathCache::new(&t, 3, Metric::Hops);
    assert_eq!(
        c.get(NodeId(2), NodeId(0))[0].nodes,
        vec![NodeId(2), NodeId(1), NodeId(0)]
    );
}

#[test]
fn topology_rejects_bad_input() {
    let bad = |l: LinkSpec| {
        Graph::new(GraphSpec {
            nodes: vec![NodeSpec::new("a"), NodeSpec::new("b")],
            links: vec![l],
        })
    };
    assert!(bad(LinkSpec::new(0, 2, 1.0, Medium::Fiber, 4)).is_err());
    assert!(bad(LinkSpec::new(0, 0, 1.0, Medium::Fiber, 4)).is_err());
    assert!(bad(LinkSpec::new(0, 1, -1.0, Medium::Fiber, 4)).is_err());
    assert!(bad(LinkSpec::new(0, 1, 1.0, Medium::Fiber, 129)).is_err());
    assert!(bad(LinkSpec::new(0, 1, 1.0, Medium::Fiber, 128)).is_ok());
}

#[test]
fn continuity_is_and_of_links() {
    let t = topo(3, &[(0, 1, 1.0), (1, 2, 1.0)], 4);
    let mut occ = Occupancy::new(&t);
    occ.grant(Grant {
        id: GrantId(1),
        qos: Qos::Silver,
        links: vec![LinkId(0)],
        channels: 0b0001,
        module_lanes: Vec::new(),
    })
    .unwrap();
    occ.grant(Grant {
        id: GrantId(2),
        qos: Qos::Silver,
        links: vec![LinkId(1)],
        channels: 0b0010,
        module_lanes: Vec::new(),
    })
    .unwrap();
    assert_eq!(occ.free_along(&[LinkId(0), LinkId(1)]), 0b1100);
    let p = Planner::new(t, 2, Metric::Hops);
    let d = p
        .decide(
            &occ,
            &CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Bronze),
            &FirstFitShortest,
        )
        .unwrap();
    assert_eq!(d.channels, vec![2], "first fit on the continuous set");
    let d2 = p
        .decide(
            &occ,
            &CorridorDemand::wavelengths(NodeId(0), NodeId(2), 3, Qos::Bronze),
            &FirstFitShortest,
        )
        .unwrap_err();
    assert_eq!(d2.reason, BlockReason::Wavelengths { lanes: 3, free: 2 });
    assert!(d2.binding_link.is_some());
}

#[test]
fn first_fit_and_most_used() {
    assert_eq!(first_fit(0b1011_0100, 2), Some(0b0001_0100));
    assert_eq!(first_fit(0b1, 2), None);
    let t = topo(3, &[(0, 1, 1.0), (1, 2, 1.0)], 8);
    let mut occ = Occupancy::new(&t);
    occ.grant(Grant {
        id: GrantId(1),
        qos: Qos::Silver,
        links: vec![LinkId(0)],
        channels: 1 << 5,
        module_lanes: Vec::new(),
    })
    .unwrap();
    // Slot 5 is busy on one link, so it is the most used one free on link 1.
    assert_eq!(most_used(&occ, occ.free(LinkId(1)), 1), Some(1 << 5));
}

/// A triangle 0-1-2 plus a long way round: FF-SP blocks when its path is full, ours deflects.
#[test]
fn adaptive_deflects_where_baseline_blocks() {
    let t = topo(3, &[(0, 2, 1.0), (0, 1, 1.0), (1, 2, 1.0)], 2);
    let p = Planner::new(t, 3, Metric::Length);
    let mut occ = Occupancy::new(p.topology());
    occ.grant(Grant {
        id: GrantId(9),
        qos: Qos::Silver,
        links: vec![LinkId(0)],
        channels: 0b11,
        module_lanes: Vec::new(),
    })
    .unwrap();
    let req = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Silver);
    assert!(p.decide(&occ, &req, &FirstFitShortest).is_err());
    let ours = AdaptiveKsp {
        reserve: 0,
        ..AdaptiveKsp::default()
    };
    let d = p.decide(&occ, &req, &ours).unwrap();
    assert_eq!(d.path_rank, 1);
    assert_eq!(d.path.hops(), 2);
    // With reservation 1, deflecting onto links with only 2 free slots for 1 lane is refused
    // when it would leave fewer than 1 spare: 2 >= 1 + 1, so still accepted.
    assert!(p.decide(&occ, &req, &AdaptiveKsp::default()).is_ok());
}

/// Line 0-1-2, W = 4: slot 0 silver end to end; slot 1 bronze on each link (two grants);
/// slot 2 one bronze end to end; slot 3 silver on link 1.
fn preemption_fixture() -> (Planner, Occupancy) {
    let t = topo(3, &[(0, 1, 1.0), (1, 2, 1.0)], 4);
    let p = Planner::new(t, 2, Metric::Hops);
    let mut occ = Occupancy::new(p.topology());
    let g = |id, qos, links: &[u32], ch| Grant {
        id: GrantId(id),
        qos,
        links: links.iter().map(|&l| LinkId(l)).collect(),
        channels: ch,
        module_lanes: Vec::new(),
    };
    for gr in [
        g(1, Qos::Silver, &[0, 1], 0b0001),
        g(2, Qos::Bronze, &[0], 0b0010),
        g(3, Qos::Bronze, &[1], 0b0010),
        g(4, Qos::Bronze, &[0, 1], 0b0100),
        g(5, Qos::Silver, &[1], 0b1000),
    ] {
        occ.grant(gr).unwrap();
    }
    (p, occ)
}

#[test]
fn preemption_picks_minimal_bronze_set() {
    let (p, mut occ) = preemption_fixture();
    let gold = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Gold);
    let d = p.decide(&occ, &gold, &FirstFitShortest).unwrap();
    assert_eq!(d.preempt, vec![GrantId(4)], "one grant beats two");
    assert_eq!(d.channels, vec![2]);
    // Silver and bronze never pre-empt.
    for q in [Qos::Silver, Qos::Bronze] {
        let r = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, q);
        assert!(p.decide(&occ, &r, &AdaptiveKsp::default()).is_err());
    }
    // Two lanes: slots 1 and 2, all three bronze grants; silver untouched.
    let gold2 = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 2, Qos::Gold);
    let d2 = p.decide(&occ, &gold2, &FirstFitShortest).unwrap();
    assert_eq!(d2.preempt, vec![GrantId(2), GrantId(3), GrantId(4)]);
    assert_eq!(d2.channels, vec![1, 2]);
    // Three lanes would need silver slots: blocked, naming a link.
    let gold3 = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 3, Qos::Gold);
    let e = p.decide(&occ, &gold3, &FirstFitShortest).unwrap_err();
    assert_eq!(e.reason, BlockReason::Wavelengths { lanes: 3, free: 2 });
    assert_eq!(e.binding_link, Some(LinkId(1)));
    // Applying releases exactly the pre-empted grants.
    let released = occ.apply(&d, GrantId(10)).unwrap();
    assert_eq!(
        released.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![GrantId(4)]
    );
    assert!(occ.get(GrantId(2)).is_some() && occ.get(GrantId(3)).is_some());
    occ.check_consistency().unwrap();
}

#[test]
fn gold_prefers_free_capacity_to_preemption() {
    let (p, mut occ) = preemption_fixture();
    occ.release(GrantId(5));
    let gold = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Gold);
    let d = p.decide(&occ, &gold, &FirstFitShortest).unwrap();
    assert!(d.preempt.is_empty());
    assert_eq!(d.channels, vec![3]);
}

#[test]
fn apply_is_compare_and_swap() {
    let (p, mut occ) = preemption_fixture();
    let gold = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 1, Qos::Gold);
    let d = p.decide(&occ, &gold, &FirstFitShortest).unwrap();
    let before = occ.clone();
    occ.release(GrantId(1));
    assert!(matches!(
        occ.apply(&d, GrantId(10)),
        Err(OccupancyError::Stale { .. })
    ));
    let mut occ = before;
    assert!(matches!(
        occ.apply(&d, GrantId(1)),
        Err(OccupancyError::DuplicateGrant(_))
    ));
    let rev = occ.revision();
    occ.apply(&d, GrantId(10)).unwrap();
    assert_eq!(occ.revision(), rev + 2, "one release, one grant");
}

/// The RFC corridor: 8 lanes, 400 Gb/s, 250 ns, 75 mm of SiN with two edge couplers.
#[test]
fn rfc_request_physics() {
    let t = Graph::new(GraphSpec {
        nodes: vec![NodeSpec::new("a"), NodeSpec::new("b")],
        links: vec![LinkSpec {
            couplers: Couplers {
                grating: 0,
                edge: 2,
            },
            ..LinkSpec::new(0, 1, 75.0, Medium::SiliconNitride, 40)
        }],
    })
    .unwrap();
    let p = Planner::new(t, 2, Metric::Latency);
    let occ = Occupancy::new(p.topology());
    let req = CorridorDemand {
        src: NodeId(0),
        dst: NodeId(1),
        lanes: 8,
        min_gbps: 400.0,
        latency_budget_ns: Some(250.0),
        reach_mm: Some(75.0),
        qos: Qos::Gold,
        physics: Some(LaneSpec::default()),
        channels: None,
    };
    let d = p.decide(&occ, &req, &AdaptiveKsp::default()).unwrap();
    let lane = d.lane.unwrap();
    assert_eq!(d.channels.len(), 8);
    assert!((lane.rate.0 - 53.125).abs() < 1e-9, "{lane:?}");
    assert!(lane.achievable_gbps >= 400.0 && lane.post_fec_ber <= 1e-12);
    assert!(lane.latency_ns <= 250.0);
    let short = CorridorDemand {
        reach_mm: Some(50.0),
        ..req
    };
    let e = p.decide(&occ, &short, &FirstFitShortest).unwrap_err();
    assert!(matches!(e.reason, BlockReason::Reach { .. }));
    assert_eq!(e.binding_link, Some(LinkId(0)));
    let fast = CorridorDemand {
        latency_budget_ns: Some(50.0),
        ..req
    };
    assert!(matches!(
        p.decide(&occ, &fast, &FirstFitShortest).unwrap_err().reason,
        BlockReason::Latency { .. }
    ));
    let greedy = CorridorDemand {
        min_gbps: 5000.0,
        ..req
    };
    assert!(matches!(
        p.decide(&occ, &greedy, &FirstFitShortest)
            .unwrap_err()
            .reason,
        BlockReason::Rate { .. }
    ));
    // Memoised verdicts give the same answer.
    assert_eq!(p.decide(&occ, &req, &AdaptiveKsp::default()).unwrap(), d);
}

/// The RFC corridor between ports whose modules carry `a` and `b` lane signals.
fn rfc_between(
    a: Vec<corridor_physics::technology::LaneRateOption>,
    b: Vec<corridor_physics::technology::LaneRateOption>,
) -> Result<Decision, Blocked> {
    let t = Graph::new(GraphSpec {
        nodes: vec![
            NodeSpec::new("a").with_lane_rates(a),
            NodeSpec::new("b").with_lane_rates(b),
        ],
        links: vec![LinkSpec {
            couplers: Couplers {
                grating: 0,
                edge: 2,
            },
            ..LinkSpec::new(0, 1, 75.0, Medium::SiliconNitride, 40)
        }],
    })
    .unwrap();
    let p = Planner::new(t, 2, Metric::Latency);
    let occ = Occupancy::new(p.topology());
    let req = CorridorDemand {
        src: NodeId(0),
        dst: NodeId(1),
        lanes: 8,
        min_gbps: 400.0,
        latency_budget_ns: Some(250.0),
        reach_mm: Some(75.0),
        qos: Qos::Gold,
        physics: Some(LaneSpec::default()),
        channels: None,
    };
    p.decide(&occ, &req, &FirstFitShortest)
}

/// A node's lane signals bind: the planner plans only what both ends' modules carry, and a
/// rate no node's signal reaches names the node.
#[test]
fn nodes_carry_only_their_lane_signals() {
    use corridor_physics::technology::LaneRateOption;
    let nrz32 = LaneRateOption {
        rate: corridor_physics::Gbps(32.0),
        modulation: corridor_physics::Modulation::Nrz,
    };
    let pam4_53 = LaneRateOption {
        rate: corridor_physics::Gbps(53.125),
        modulation: corridor_physics::Modulation::Pam4,
    };
    let pam4_106 = LaneRateOption {
        rate: corridor_physics::Gbps(106.25),
        modulation: corridor_physics::Modulation::Pam4,
    };
    // Both carry 53.125 PAM4 (b also 106.25): the lowest shared signal meeting 400 Gb/s.
    let d = rfc_between(vec![pam4_53], vec![pam4_53, pam4_106]).unwrap();
    assert!((d.lane.unwrap().rate.0 - 53.125).abs() < 1e-9);
    // 8 × 32 G NRZ at node b: 241.9 Gb/s net, and the refusal names b.
    let e = rfc_between(vec![pam4_53], vec![nrz32]).unwrap_err();
    match e.reason {
        BlockReason::NodeRate {
            node,
            lanes: 8,
            max_gbps,
            ..
        } => {
            assert_eq!(node, NodeId(1));
            assert!(max_gbps < 1e-9, "no shared signal: {max_gbps}");
        }
        other => panic!("{other:?}"),
    }
    let e = rfc_between(vec![nrz32], vec![nrz32]).unwrap_err();
    assert!(
        matches!(e.reason, BlockReason::NodeRate { node: NodeId(0), max_gbps, .. } if (max_gbps - 8.0 * 32.0 * 514.0 / 544.0).abs() < 1e-6),
        "{e:?}"
    );
}

#[test]
fn physics_blocks_long_lossy_paths() {
    // 20 m of SOI strip: hopeless loss.
    let t = Graph::new(GraphSpec {
        nodes: vec![NodeSpec::new("a"), NodeSpec::new("b")],
        links: vec![LinkSpec::new(0, 1, 20_000.0, Medium::SoiStrip, 8)],
    })
    .unwrap();
    let p = Planner::new(t, 2, Metric::Latency);
    let occ = Occupancy::new(p.topology());
    let req = CorridorDemand {
        physics: Some(LaneSpec::default()),
        min_gbps: 100.0,
        ..CorridorDemand::wavelengths(NodeId(0), NodeId(1), 4, Qos::Silver)
    };
    let e = p.decide(&occ, &req, &FirstFitShortest).unwrap_err();
    assert!(matches!(e.reason, BlockReason::Ber { .. }), "{e}");
}

#[test]
fn invalid_requests() {
    let p = Planner::new(topologies::nsfnet(8, 1.0), 2, Metric::Length);
    let occ = Occupancy::new(p.topology());
    for r in [
        CorridorDemand::wavelengths(NodeId(0), NodeId(0), 1, Qos::Bronze),
        CorridorDemand::wavelengths(NodeId(0), NodeId(99), 1, Qos::Bronze),
        CorridorDemand::wavelengths(NodeId(0), NodeId(1), 0, Qos::Bronze),
        CorridorDemand::wavelengths(NodeId(0), NodeId(1), 129, Qos::Bronze),
        CorridorDemand::wavelengths(NodeId(0), NodeId(1), 2, Qos::Bronze).with_channels(0b1),
    ] {
        assert!(matches!(
            p.decide(&occ, &r, &FirstFitShortest).unwrap_err().reason,
            BlockReason::Invalid(_)
        ));
    }
}

#[test]
fn nsfnet_shape() {
    let t = topologies::nsfnet(16, 1e6);
    assert_eq!((t.node_count(), t.link_count()), (14, 21));
    let c = PathCache::new(&t, 4, Metric::Length);
    for s in 0..14 {
        for d in 0..14 {
            if s != d {
                assert!(!c.get(NodeId(s), NodeId(d)).is_empty());
            }
        }
    }
}

/// The simulator against Erlang-B on one link: W = 8 servers offered 5 Erlangs.
#[test]
fn simulator_matches_erlang_b() {
    let p = Planner::new(topologies::single_link(8), 1, Metric::Hops);
    let traffic = sim::Traffic::new(2, 5.0, 1.0, 42);
    let (r, _) = sim::simulate(
        &p,
        &FirstFitShortest,
        traffic,
        1,
        Qos::Bronze,
        5_000,
        200_000,
    );
    let b = sim::erlang_b(8, 5.0);
    assert!((b - 0.070_048).abs() < 1e-5, "{b}");
    let rel = (r.blocking() - b).abs() / b;
    assert!(rel < 0.04, "simulated {} vs Erlang-B {b}", r.blocking());
}

#[test]
fn simulation_is_deterministic() {
    let p = Planner::new(topologies::nsfnet(8, 1e6), 3, Metric::Length);
    let run = || {
        sim::simulate(
            &p,
            &AdaptiveKsp::default(),
            sim::Traffic::new(14, 30.0, 1.0, 3),
            1,
            Qos::Bronze,
            100,
            3_000,
        )
        .0
    };
    assert_eq!(run(), run());
}

/// Line 0-1-2 with W = 16 wavelengths per link and `lanes` module lanes on every node.
fn laned(lanes: u8) -> (Planner, Occupancy) {
    let t = Graph::new(GraphSpec {
        nodes: (0..3)
            .map(|i| NodeSpec::new(format!("p{i}")).with_module_lanes(lanes))
            .collect(),
        links: vec![
            LinkSpec::new(0, 1, 1.0, Medium::Fiber, 16),
            LinkSpec::new(1, 2, 1.0, Medium::Fiber, 16),
        ],
    })
    .unwrap();
    let p = Planner::new(t, 2, Metric::Hops);
    let occ = Occupancy::new(p.topology());
    (p, occ)
}

#[test]
fn module_lanes_are_held_on_every_node_in_one_bank() {
    let (p, mut occ) = laned(16);
    let req = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 3, Qos::Silver);
    let mut id = 0;
    let mut runs = Vec::new();
    // Runs of three in banks of eight: 1-3, 4-6, then 9-11 (7-9 would cross the bank).
    for _ in 0..3 {
        let d = p.decide(&occ, &req, &FirstFitShortest).unwrap();
        let nodes: Vec<NodeId> = d.module_lanes.iter().map(|&(n, _)| n).collect();
        assert_eq!(nodes, vec![NodeId(0), NodeId(1), NodeId(2)]);
        assert!(
            d.module_lanes
                .iter()
                .all(|&(_, m)| m == d.module_lanes[0].1)
        );
        runs.push(d.module_lanes[0].1);
        id += 1;
        occ.apply(&d, GrantId(id)).unwrap();
    }
    assert_eq!(runs, vec![0b111, 0b111_000, 0b111 << 8]);
    occ.check_consistency().unwrap();
    // A grant whose lanes are taken is refused whatever its wavelengths.
    let clash = Grant {
        id: GrantId(99),
        qos: Qos::Silver,
        links: vec![LinkId(0)],
        channels: 1 << 12,
        module_lanes: vec![(NodeId(1), 0b100)],
    };
    assert_eq!(
        occ.grant(clash),
        Err(OccupancyError::LanesBusy {
            node: NodeId(1),
            lanes: 0b100
        })
    );
    // Released lanes are free again.
    occ.release(GrantId(1));
    let d = p.decide(&occ, &req, &FirstFitShortest).unwrap();
    assert_eq!(d.module_lanes[0].1, 0b111);
    occ.check_consistency().unwrap();
}

#[test]
fn module_lanes_bind_when_wavelengths_are_free() {
    let (p, mut occ) = laned(4);
    let two = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 2, Qos::Silver);
    for id in 1..=2 {
        let d = p.decide(&occ, &two, &FirstFitShortest).unwrap();
        occ.apply(&d, GrantId(id)).unwrap();
    }
    // 4 of 16 wavelengths are held, every module lane is.
    assert_eq!(occ.free_along(&[LinkId(0), LinkId(1)]).count_ones(), 12);
    let e = p.decide(&occ, &two, &FirstFitShortest).unwrap_err();
    assert_eq!(
        e.reason,
        BlockReason::ModuleLanes {
            lanes: 2,
            node: NodeId(0),
            free: 0
        },
        "{e}"
    );
    // More lanes than a node has: no occupancy can help.
    let five = CorridorDemand::wavelengths(NodeId(0), NodeId(2), 5, Qos::Silver);
    let e = p.decide(&Occupancy::new(p.topology()), &five, &FirstFitShortest);
    assert_eq!(
        e.unwrap_err().reason,
        BlockReason::PortLanes {
            lanes: 5,
            node: NodeId(0),
            module_lanes: 4
        }
    );
    // Topologies without module lanes plan wavelengths only, as before.
    let (p0, occ0) = laned(0);
    let d = p0.decide(&occ0, &five, &FirstFitShortest).unwrap();
    assert!(d.module_lanes.is_empty());
}

#[test]
fn fixed_channels_are_taken_as_given() {
    let (p, mut occ) = laned(8);
    let req =
        CorridorDemand::wavelengths(NodeId(0), NodeId(1), 2, Qos::Silver).with_channels(0b1010);
    let d = p.decide(&occ, &req, &FirstFitShortest).unwrap();
    assert_eq!(d.channels, vec![1, 3]);
    assert_eq!(d.module_lanes, vec![(NodeId(0), 0b11), (NodeId(1), 0b11)]);
    occ.apply(&d, GrantId(1)).unwrap();
    // The same slots again: blocked on wavelengths (module lanes are free), naming the link.
    let e = p.decide(&occ, &req, &FirstFitShortest).unwrap_err();
    assert_eq!(e.reason, BlockReason::Wavelengths { lanes: 2, free: 0 });
    assert_eq!(e.binding_link, Some(LinkId(0)));
}

#[test]
fn gold_preempts_bronze_for_module_lanes_and_fixed_channels() {
    let (p, mut occ) = laned(2);
    // Bronze holds both module lanes of node 0 and 1 on wavelengths 0-1.
    let bronze = CorridorDemand::wavelengths(NodeId(0), NodeId(1), 2, Qos::Bronze);
    let d = p.decide(&occ, &bronze, &FirstFitShortest).unwrap();
    occ.apply(&d, GrantId(1)).unwrap();
    // Gold on other wavelengths: they are free, the lanes are not; the bronze grant goes.
    let gold =
        CorridorDemand::wavelengths(NodeId(0), NodeId(1), 2, Qos::Gold).with_channels(0b1100);
    let d = p.decide(&occ, &gold, &FirstFitShortest).unwrap();
    assert_eq!(d.preempt, vec![GrantId(1)]);
    assert_eq!(d.channels, vec![2, 3]);
    assert_eq!(d.module_lanes[0].1, 0b11);
    // Silver in the same place is not pre-empted: the lanes bind.
    let silver = CorridorDemand::wavelengths(NodeId(0), NodeId(1), 2, Qos::Silver);
    let mut held = Occupancy::new(p.topology());
    let s = p.decide(&held, &silver, &FirstFitShortest).unwrap();
    held.apply(&s, GrantId(2)).unwrap();
    let e = p.decide(&held, &gold, &FirstFitShortest).unwrap_err();
    assert!(matches!(e.reason, BlockReason::ModuleLanes { .. }), "{e}");
    // Fixed gold slots held by bronze: exactly that grant goes.
    let released = occ.apply(&d, GrantId(3)).unwrap();
    assert_eq!(released.len(), 1);
    occ.check_consistency().unwrap();
    let gold2 =
        CorridorDemand::wavelengths(NodeId(0), NodeId(1), 2, Qos::Gold).with_channels(0b1100);
    let e = p.decide(&occ, &gold2, &FirstFitShortest).unwrap_err();
    assert!(e.reason.is_occupancy(), "gold does not pre-empt gold: {e}");
}

#[test]
fn decide_among_prefers_free_capacity_then_the_fewest_victims() {
    let (p, mut occ) = laned(8);
    // Pair (0, 1) is full of bronze on slot 0; pair (1, 2) is free.
    let bronze = CorridorDemand::wavelengths(NodeId(0), NodeId(1), 1, Qos::Bronze).with_channels(1);
    let d = p.decide(&occ, &bronze, &FirstFitShortest).unwrap();
    occ.apply(&d, GrantId(1)).unwrap();
    let gold =
        |a, b| CorridorDemand::wavelengths(NodeId(a), NodeId(b), 1, Qos::Gold).with_channels(1);
    let d = p
        .decide_among(&occ, &[gold(0, 1), gold(1, 2)], &FirstFitShortest)
        .unwrap();
    assert!(
        d.preempt.is_empty(),
        "free capacity elsewhere beats pre-emption"
    );
    assert_eq!(d.path.links, vec![LinkId(1)]);
    occ.apply(&d, GrantId(2)).unwrap();
    // Now only pre-emption on the first pair can place it.
    let d = p
        .decide_among(&occ, &[gold(1, 2), gold(0, 1)], &FirstFitShortest)
        .unwrap();
    assert_eq!(d.preempt, vec![GrantId(1)]);
    assert_eq!(d.path.links, vec![LinkId(0)]);
    // A silver request there is blocked by the occupancy; that is the reason given even
    // after an alternative that is physically impossible.
    let silver =
        |a, b, lanes| CorridorDemand::wavelengths(NodeId(a), NodeId(b), lanes, Qos::Silver);
    let e = p
        .decide_among(
            &occ,
            &[silver(0, 1, 9), silver(0, 1, 1).with_channels(1)],
            &FirstFitShortest,
        )
        .unwrap_err();
    assert!(e.reason.is_occupancy(), "{e}");
}

/// All-bronze traffic through the class simulator is the single-class simulator; with gold in
/// the mix, gold pre-empts bronze and blocks less, and without pre-emption nothing is cut short.
#[test]
fn class_simulation_counts_each_class() {
    let p = Planner::new(topologies::nsfnet(8, 1e6), 4, Metric::Length);
    let traffic = || sim::Traffic::new(14, 60.0, 1.0, 4);
    let (single, _) = sim::simulate(&p, &KspFirstFit, traffic(), 1, Qos::Bronze, 500, 20_000);
    let bronze_only = sim::ClassMix {
        gold_percent: 0,
        silver_percent: 0,
    };
    let r = sim::simulate_classes(
        &p,
        &KspFirstFit,
        traffic(),
        1,
        bronze_only,
        true,
        1,
        500,
        20_000,
    );
    assert_eq!(r.bronze, single);
    assert_eq!((r.gold.arrivals, r.silver.arrivals, r.preempted), (0, 0, 0));

    let mix = sim::ClassMix {
        gold_percent: 30,
        silver_percent: 30,
    };
    let with = sim::simulate_classes(&p, &KspFirstFit, traffic(), 1, mix, true, 1, 500, 20_000);
    assert_eq!(
        with.gold.arrivals + with.silver.arrivals + with.bronze.arrivals,
        20_000
    );
    assert!(with.gold.arrivals > 5_000 && with.silver.arrivals > 5_000);
    assert!(with.preempted > 0);
    assert!(with.preempted_share() > 0.0);
    assert!(with.gold.blocking() < with.bronze.blocking());
    let without = sim::simulate_classes(&p, &KspFirstFit, traffic(), 1, mix, false, 1, 500, 20_000);
    assert_eq!(
        without.gold.arrivals, with.gold.arrivals,
        "same classes drawn"
    );
    assert_eq!(without.preempted, 0);
    assert!(without.gold.blocking() > with.gold.blocking());
}

#[test]
fn paired_difference_is_per_batch() {
    let r = |blocked| sim::SimReport {
        arrivals: 100,
        blocked,
    };
    let a = [r(10), r(20), r(30)];
    assert_eq!(sim::paired_difference(&a, &a, 1.0), (0.0, 0.0));
    // Differences 0.01 each: mean 0.01, no spread, although each run alone varies a lot.
    let b = [r(9), r(19), r(29)];
    let (mean, half) = sim::paired_difference(&a, &b, 1.0);
    assert!(
        (mean - 0.01).abs() < 1e-12 && half < 1e-12,
        "{mean} ± {half}"
    );
    // Differences 0, 0.02 (ours − base): mean 0.01, sd √2·0.01, standard error 0.01, t(1)
    // quantile 12.706.
    let (mean, half) = sim::paired_difference(&[r(10), r(12)], &[r(10), r(10)], 1.0);
    assert!((mean - 0.01).abs() < 1e-12);
    assert!((half - 12.706 * 0.01).abs() < 1e-9, "{half}");
    // Scale 0.5: ours 0.05 against half of 0.10.
    let (mean, _) = sim::paired_difference(&[r(5)], &[r(10)], 0.5);
    assert!(mean.abs() < 1e-12);
}

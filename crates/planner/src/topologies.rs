//! Reference topologies.

use corridor_physics::Medium;

use crate::graph::{Graph, GraphSpec, LinkSpec, NodeSpec};

/// NSFNET links `(a, b, km)`, nodes numbered 1..=14 as in the source.
///
/// Source: the 14-node NSFNET T1 graph of the RWA literature. We take the 22-link list of
/// `carlosnatalino/optical-rl-gym` `examples/topologies/nsfnet_chen.txt` (DeepRMSA, Chen et al.,
/// JLT 2019, DOI 10.1109/jlt.2019.2923615) and drop its link 7–10, which leaves the common
/// 21-link version (average degree 3). Lengths are twice that file's figures, i.e. the widely
/// used km table (1–2 2100 km, 1–3 3000 km, 1–8 4800 km, …) that the DeepRMSA file halves.
pub const NSFNET_LINKS_KM: [(u32, u32, f64); 21] = [
    (1, 2, 2100.0),
    (1, 3, 3000.0),
    (1, 8, 4800.0),
    (2, 3, 1200.0),
    (2, 4, 1500.0),
    (3, 6, 3600.0),
    (4, 5, 1200.0),
    (4, 11, 3900.0),
    (5, 6, 2400.0),
    (5, 7, 1200.0),
    (6, 10, 2100.0),
    (6, 14, 3600.0),
    (7, 8, 1500.0),
    (8, 9, 1500.0),
    (9, 10, 1500.0),
    (9, 12, 600.0),
    (9, 13, 600.0),
    (11, 12, 1200.0),
    (11, 13, 1500.0),
    (12, 14, 600.0),
    (13, 14, 300.0),
];

/// NSFNET (14 nodes, 21 fibre links, [`NSFNET_LINKS_KM`]) with `w` wavelengths per link and
/// each km mapped to `mm_per_km` millimetres (1e6 for the real network; smaller values give
/// a fabric of the same shape at rack or campus scale). Nodes are `n0..n13` (source node
/// `i` is `n{i-1}`).
///
/// # Panics
/// If `w` is not in 1..=128 or `mm_per_km` is not finite and > 0.
#[must_use]
pub fn nsfnet(w: u16, mm_per_km: f64) -> Graph {
    let spec = GraphSpec {
        nodes: (0..14).map(|i| NodeSpec::new(format!("n{i}"))).collect(),
        links: NSFNET_LINKS_KM
            .iter()
            .map(|&(a, b, km)| LinkSpec::new(a - 1, b - 1, km * mm_per_km, Medium::Fiber, w))
            .collect(),
    };
    Graph::new(spec).expect("valid NSFNET parameters")
}

/// Two nodes joined by one link of `w` wavelengths (for Erlang-B checks).
///
/// # Panics
/// If `w` is not in 1..=128.
#[must_use]
pub fn single_link(w: u16) -> Graph {
    Graph::new(GraphSpec {
        nodes: vec![NodeSpec::new("a"), NodeSpec::new("b")],
        links: vec![LinkSpec::new(0, 1, 1000.0, Medium::Fiber, w)],
    })
    .expect("valid single link")
}

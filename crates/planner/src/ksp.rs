//! Yen's k shortest loopless paths, and a cache of them for every node pair so that a
//! planning decision never runs Dijkstra.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, LinkId, NodeId};

/// What "shortest" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Physical length (mm).
    Length,
    /// Time of flight n_g·L/c (differs from length when media differ).
    #[default]
    Latency,
    /// Number of links.
    Hops,
}

/// A loopless path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Nodes from source to destination.
    pub nodes: Vec<NodeId>,
    /// Links, `nodes.len() - 1` of them.
    pub links: Vec<LinkId>,
    /// Total length, mm.
    pub length_mm: f64,
    /// Total time of flight, ns.
    pub flight_ns: f64,
    /// Cost under the metric it was computed with.
    pub cost: f64,
}

impl Path {
    /// Number of links.
    #[must_use]
    pub fn hops(&self) -> usize {
        self.links.len()
    }

    fn from_links(topo: &Graph, src: NodeId, links: Vec<LinkId>, metric: Metric) -> Self {
        let mut nodes = Vec::with_capacity(links.len() + 1);
        nodes.push(src);
        let (mut length_mm, mut flight_ns, mut cost) = (0.0, 0.0, 0.0);
        let mut at = src;
        for &l in &links {
            let link = topo.link(l);
            at = link.other(at);
            nodes.push(at);
            length_mm += link.length_mm;
            flight_ns += link.flight_ns;
            cost += weight(topo, l, metric);
        }
        Self {
            nodes,
            links,
            length_mm,
            flight_ns,
            cost,
        }
    }

    /// The same path walked from the other end.
    #[must_use]
    pub fn reversed(&self) -> Self {
        let mut p = self.clone();
        p.nodes.reverse();
        p.links.reverse();
        p
    }
}

fn weight(topo: &Graph, l: LinkId, metric: Metric) -> f64 {
    let link = topo.link(l);
    match metric {
        Metric::Length => link.length_mm,
        Metric::Latency => link.flight_ns,
        Metric::Hops => 1.0,
    }
}

#[derive(PartialEq)]
struct HeapItem(f64, NodeId);
impl Eq for HeapItem {}
impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on cost, ties on node id: deterministic.
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Dijkstra from `src` to `dst` avoiding `banned_nodes` and `banned_links`; returns the links.
fn dijkstra(
    topo: &Graph,
    src: NodeId,
    dst: NodeId,
    metric: Metric,
    banned_nodes: &[bool],
    banned_links: &[bool],
) -> Option<Vec<LinkId>> {
    let n = topo.node_count();
    let mut dist = vec![f64::INFINITY; n];
    let mut prev: Vec<Option<LinkId>> = vec![None; n];
    let mut heap = BinaryHeap::new();
    dist[src.index()] = 0.0;
    heap.push(HeapItem(0.0, src));
    while let Some(HeapItem(d, u)) = heap.pop() {
        if d > dist[u.index()] {
            continue;
        }
        if u == dst {
            break;
        }
        for &(v, l) in topo.neighbours(u) {
            if banned_nodes[v.index()] || banned_links[l.index()] {
                continue;
            }
            let nd = d + weight(topo, l, metric);
            if nd < dist[v.index()] {
                dist[v.index()] = nd;
                prev[v.index()] = Some(l);
                heap.push(HeapItem(nd, v));
            }
        }
    }
    if !dist[dst.index()].is_finite() {
        return None;
    }
    let mut links = Vec::new();
    let mut at = dst;
    while at != src {
        let l = prev[at.index()]?;
        links.push(l);
        at = topo.link(l).other(at);
    }
    links.reverse();
    Some(links)
}

/// Yen's algorithm: up to `k` loopless paths from `src` to `dst`, by increasing cost (ties:
/// fewer hops, then lexicographic link ids — deterministic).
#[must_use]
pub fn k_shortest_paths(
    topo: &Graph,
    src: NodeId,
    dst: NodeId,
    k: usize,
    metric: Metric,
) -> Vec<Path> {
    let n = topo.node_count();
    if k == 0 || src == dst || src.index() >= n || dst.index() >= n {
        return Vec::new();
    }
    let mut banned_nodes = vec![false; n];
    let mut banned_links = vec![false; topo.link_count()];
    let Some(first) = dijkstra(topo, src, dst, metric, &banned_nodes, &banned_links) else {
        return Vec::new();
    };
    let mut a: Vec<Path> = vec![Path::from_links(topo, src, first, metric)];
    let mut b: Vec<Path> = Vec::new();
    while a.len() < k {
        let last = a.last().expect("a is not empty").clone();
        for j in 0..last.links.len() {
            let spur = last.nodes[j];
            let root_links = &last.links[..j];
            banned_nodes.iter_mut().for_each(|x| *x = false);
            banned_links.iter_mut().for_each(|x| *x = false);
            for p in &a {
                if p.links.len() > j && p.links[..j] == *root_links {
                    banned_links[p.links[j].index()] = true;
                }
            }
            for &node in &last.nodes[..j] {
                banned_nodes[node.index()] = true;
            }
            if let Some(spur_links) =
                dijkstra(topo, spur, dst, metric, &banned_nodes, &banned_links)
            {
                let mut links = root_links.to_vec();
                links.extend(spur_links);
                if !a.iter().any(|p| p.links == links) && !b.iter().any(|p| p.links == links) {
                    b.push(Path::from_links(topo, src, links, metric));
                }
            }
        }
        if b.is_empty() {
            break;
        }
        let best = (0..b.len())
            .min_by(|&x, &y| {
                b[x].cost
                    .total_cmp(&b[y].cost)
                    .then(b[x].links.len().cmp(&b[y].links.len()))
                    .then_with(|| b[x].links.cmp(&b[y].links))
            })
            .expect("b is not empty");
        a.push(b.swap_remove(best));
    }
    a
}

/// The k shortest paths of every ordered node pair, computed once.
#[derive(Debug, Clone)]
pub struct PathCache {
    nodes: usize,
    k: usize,
    metric: Metric,
    paths: Vec<Vec<Arc<Path>>>,
}

impl PathCache {
    /// Runs Yen for every unordered pair `{s, d}` (s < d) and stores the reversed paths for
    /// `(d, s)`, so both directions use the same routes.
    #[must_use]
    pub fn new(topo: &Graph, k: usize, metric: Metric) -> Self {
        let n = topo.node_count();
        let mut paths = vec![Vec::new(); n * n];
        for s in 0..n {
            for d in (s + 1)..n {
                #[allow(clippy::cast_possible_truncation)]
                let (src, dst) = (NodeId(s as u32), NodeId(d as u32));
                let fwd = k_shortest_paths(topo, src, dst, k, metric);
                paths[d * n + s] = fwd.iter().map(|p| Arc::new(p.reversed())).collect();
                paths[s * n + d] = fwd.into_iter().map(Arc::new).collect();
            }
        }
        Self {
            nodes: n,
            k,
            metric,
            paths,
        }
    }

    /// Paths from `src` to `dst`, shortest first (empty if none or out of range).
    #[must_use]
    pub fn get(&self, src: NodeId, dst: NodeId) -> &[Arc<Path>] {
        if src.index() >= self.nodes || dst.index() >= self.nodes {
            return &[];
        }
        &self.paths[src.index() * self.nodes + dst.index()]
    }

    /// The `k` it was built with.
    #[must_use]
    pub fn k(&self) -> usize {
        self.k
    }

    /// The metric it was built with.
    #[must_use]
    pub fn metric(&self) -> Metric {
        self.metric
    }
}

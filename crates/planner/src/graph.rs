//! Optical topology graph: nodes are optical ports or switching sites, links are undirected
//! waveguides or fibres with a length, a medium, couplers and a number of wavelength slots.
//!
//! Built from plain data ([`GraphSpec`]) so that the service can map the twin's topology
//! onto it.

use corridor_physics::technology::LaneRateOption;
use corridor_physics::{Couplers, Medium};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest number of wavelength slots per link (occupancy is a `u128` bitset per link).
pub const MAX_WAVELENGTHS: u16 = 128;

/// Largest number of module lanes per node (occupancy is a `u32` bitset per node).
pub const MAX_MODULE_LANES: u8 = 32;

/// Module lanes are addressed in banks of this many (a CMIS data path spans consecutive lanes
/// of one bank), so a lane run never crosses a bank boundary.
pub const MODULE_LANE_BANK: u8 = 8;

/// Index of a node in its [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// Index of a link in its [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId(pub u32);

impl NodeId {
    /// As a `usize` index.
    #[must_use]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl LinkId {
    /// As a `usize` index.
    #[must_use]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A node: an optical port or a transparent switching site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Name (unique).
    pub name: String,
    /// Off-resonance rings a lane passes when it transits this node (ring-based switch or
    /// add/drop site). Adds to the lane's `rings_passed` in the physics model.
    #[serde(default)]
    pub through_rings: u32,
    /// Module lanes of the node's optical module (0..=32): a corridor whose path touches this
    /// node holds one lane per wavelength here, the same consecutive run on every such node of
    /// its path. 0 = the node has no module lanes to hold (a transparent switching site, or a
    /// network-scale study that plans wavelengths only).
    #[serde(default)]
    pub module_lanes: u8,
    /// Lane signals the node's module can carry (an optical port: its CMIS Applications). A
    /// path through the node uses one of these, and only if the request's technology offers
    /// it. Empty = no constraint of the node's own (a transparent switching site, or a study
    /// that plans with the technology's rates alone).
    #[serde(default)]
    pub lane_rates: Vec<LaneRateOption>,
}

impl NodeSpec {
    /// A node without transit rings or module lanes.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            through_rings: 0,
            module_lanes: 0,
            lane_rates: Vec::new(),
        }
    }

    /// The same node carrying only the lane signals `rates`.
    #[must_use]
    pub fn with_lane_rates(mut self, rates: Vec<LaneRateOption>) -> Self {
        self.lane_rates = rates;
        self
    }

    /// The same node with `lanes` module lanes.
    #[must_use]
    pub fn with_module_lanes(mut self, lanes: u8) -> Self {
        self.module_lanes = lanes;
        self
    }
}

/// An undirected link between nodes `a` and `b` (indices into [`GraphSpec::nodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkSpec {
    /// One end.
    pub a: u32,
    /// The other end.
    pub b: u32,
    /// Length in millimetres (> 0).
    pub length_mm: f64,
    /// Propagation medium.
    pub medium: Medium,
    /// Couplers a lane crosses on this link.
    #[serde(default)]
    pub couplers: Couplers,
    /// Wavelength slots W on this link (1..=128).
    pub wavelengths: u16,
}

impl LinkSpec {
    /// A link without couplers.
    #[must_use]
    pub fn new(a: u32, b: u32, length_mm: f64, medium: Medium, wavelengths: u16) -> Self {
        Self {
            a,
            b,
            length_mm,
            medium,
            couplers: Couplers::default(),
            wavelengths,
        }
    }
}

/// A topology as plain data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GraphSpec {
    /// Nodes.
    pub nodes: Vec<NodeSpec>,
    /// Links.
    pub links: Vec<LinkSpec>,
}

/// Why a [`GraphSpec`] was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TopologyError {
    /// A link names a node that does not exist.
    #[error("link {link}: node {node} out of range ({nodes} nodes)")]
    NodeOutOfRange {
        /// Link index.
        link: usize,
        /// Offending node index.
        node: u32,
        /// Number of nodes.
        nodes: usize,
    },
    /// A link joins a node to itself.
    #[error("link {link}: self loop on node {node}")]
    SelfLoop {
        /// Link index.
        link: usize,
        /// Node.
        node: u32,
    },
    /// Length not finite or not > 0.
    #[error("link {link}: length {length_mm} mm must be finite and > 0")]
    BadLength {
        /// Link index.
        link: usize,
        /// Length given.
        length_mm: f64,
    },
    /// Wavelength count outside 1..=128.
    #[error("link {link}: {wavelengths} wavelengths, expected 1..={MAX_WAVELENGTHS}")]
    BadWavelengths {
        /// Link index.
        link: usize,
        /// Count given.
        wavelengths: u16,
    },
    /// The medium's parameters are invalid.
    #[error("link {link}: invalid medium: {message}")]
    BadMedium {
        /// Link index.
        link: usize,
        /// Physics error.
        message: String,
    },
    /// Two nodes share a name.
    #[error("duplicate node name {0:?}")]
    DuplicateName(String),
    /// More module lanes than a node's bitset holds.
    #[error("node {node}: {lanes} module lanes, at most {MAX_MODULE_LANES}")]
    BadModuleLanes {
        /// Node name.
        node: String,
        /// Count given.
        lanes: u8,
    },
    /// More nodes or links than fit a `u32`.
    #[error("topology too large")]
    TooLarge,
}

/// A validated link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Its id.
    pub id: LinkId,
    /// One end.
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// Length, mm.
    pub length_mm: f64,
    /// Medium.
    pub medium: Medium,
    /// Couplers.
    pub couplers: Couplers,
    /// Wavelength slots.
    pub wavelengths: u16,
    /// Time of flight n_g·L/c, ns.
    pub flight_ns: f64,
}

impl Link {
    /// The end that is not `n` (`n` must be an end).
    #[must_use]
    pub fn other(&self, n: NodeId) -> NodeId {
        if self.a == n { self.b } else { self.a }
    }
}

/// A validated, immutable topology with adjacency lists.
#[derive(Debug, Clone)]
pub struct Graph {
    nodes: Vec<NodeSpec>,
    links: Vec<Link>,
    adjacency: Vec<Vec<(NodeId, LinkId)>>,
}

impl Graph {
    /// Validates `spec` and builds adjacency lists (in link order, so everything downstream
    /// is deterministic).
    ///
    /// # Errors
    /// A [`TopologyError`] naming the first bad node or link.
    pub fn new(spec: GraphSpec) -> Result<Self, TopologyError> {
        if u32::try_from(spec.nodes.len()).is_err() || u32::try_from(spec.links.len()).is_err() {
            return Err(TopologyError::TooLarge);
        }
        let n = spec.nodes.len();
        let mut names = std::collections::BTreeSet::new();
        for node in &spec.nodes {
            if !names.insert(node.name.as_str()) {
                return Err(TopologyError::DuplicateName(node.name.clone()));
            }
            if node.module_lanes > MAX_MODULE_LANES {
                return Err(TopologyError::BadModuleLanes {
                    node: node.name.clone(),
                    lanes: node.module_lanes,
                });
            }
        }
        let mut adjacency = vec![Vec::new(); n];
        let mut links = Vec::with_capacity(spec.links.len());
        for (i, l) in spec.links.iter().enumerate() {
            for node in [l.a, l.b] {
                if node as usize >= n {
                    return Err(TopologyError::NodeOutOfRange {
                        link: i,
                        node,
                        nodes: n,
                    });
                }
            }
            if l.a == l.b {
                return Err(TopologyError::SelfLoop { link: i, node: l.a });
            }
            if !(l.length_mm.is_finite() && l.length_mm > 0.0) {
                return Err(TopologyError::BadLength {
                    link: i,
                    length_mm: l.length_mm,
                });
            }
            if l.wavelengths == 0 || l.wavelengths > MAX_WAVELENGTHS {
                return Err(TopologyError::BadWavelengths {
                    link: i,
                    wavelengths: l.wavelengths,
                });
            }
            l.medium.validate().map_err(|e| TopologyError::BadMedium {
                link: i,
                message: e.to_string(),
            })?;
            #[allow(clippy::cast_possible_truncation)]
            let id = LinkId(i as u32);
            let flight_ns = corridor_physics::latency::propagation_delay(
                l.medium,
                corridor_physics::Millimeters(l.length_mm),
            )
            .0 / 1e3;
            links.push(Link {
                id,
                a: NodeId(l.a),
                b: NodeId(l.b),
                length_mm: l.length_mm,
                medium: l.medium,
                couplers: l.couplers,
                wavelengths: l.wavelengths,
                flight_ns,
            });
            adjacency[l.a as usize].push((NodeId(l.b), id));
            adjacency[l.b as usize].push((NodeId(l.a), id));
        }
        Ok(Self {
            nodes: spec.nodes,
            links,
            adjacency,
        })
    }

    /// Number of nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of links.
    #[must_use]
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// A node's data.
    #[must_use]
    pub fn node(&self, n: NodeId) -> &NodeSpec {
        &self.nodes[n.index()]
    }

    /// The node named `name`.
    #[must_use]
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(NodeId)
    }

    /// A link.
    #[must_use]
    pub fn link(&self, l: LinkId) -> &Link {
        &self.links[l.index()]
    }

    /// All links, by id.
    #[must_use]
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Neighbours of `n` with the link to each, in link order.
    #[must_use]
    pub fn neighbours(&self, n: NodeId) -> &[(NodeId, LinkId)] {
        &self.adjacency[n.index()]
    }
}

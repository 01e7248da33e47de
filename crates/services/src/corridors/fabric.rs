//! The twin topology's optical ports and links as the planner's graph.
//!
//! Nodes are optical ports (with their module lanes) and links are the
//! topology's links, so a path is the chain of links a lane crosses. Wavelength slot `i` of a link is the
//! `i`-th channel of its ports' grid (grid index `first_channel + i`), which
//! is how the requested `lambda_nm` are snapped: nearest channel of the
//! port grid within half a spacing, each lane on a distinct channel.

use std::collections::HashMap;

use corridor_hal::Topology;
use corridor_hal::topology::{GridKind, Medium as HalMedium};
use corridor_physics::budget::{FIBER_GROUP_INDEX, SIN_GROUP_INDEX, SOI_GROUP_INDEX};
use corridor_physics::technology::LaneRateOption;
use corridor_physics::{Couplers, Medium};
use corridor_planner::{Graph, GraphSpec, LinkId, LinkSpec, Metric, NodeId, NodeSpec, Planner};
use corridor_protocols::cmis::{LaneCapability, LaneModulation};

use super::error::CorridorError;

/// Paths kept per node pair. The twin joins each port pair by one link,
/// so more only matters for richer topologies.
const K_PATHS: usize = 4;

/// Speed of light, m/s (exact, SI).
const C_M_PER_S: f64 = 299_792_458.0;

/// One port as the corridor service needs it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub id: String,
    pub lanes: u8,
    /// Grid index n of slot 0.
    pub first_channel: i32,
    pub channels: u16,
    pub spacing_ghz: f64,
    /// What the port couples into. The topology loader insists every link
    /// of a port has the port's medium, so every path between two ports of
    /// one medium runs on that medium alone.
    pub medium: HalMedium,
    /// What its module advertises it can carry (CMIS Applications with a
    /// known lane signal): the only lane signals planned on it.
    pub applications: Vec<LaneCapability>,
}

/// One link, with the ports at its ends.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub id: String,
    pub ports: [usize; 2],
    pub length_mm: f64,
}

/// The optical fabric: the planner over the graph, and the names behind
/// its indices.
#[derive(Debug)]
pub struct Fabric {
    pub planner: Planner,
    pub ports: Vec<PortInfo>,
    pub links: Vec<LinkInfo>,
}

impl Fabric {
    /// Builds the graph from the topology's optical ports and links, each
    /// port carrying what its module advertises (`applications`, by port
    /// id, as [`super::optics::read_capabilities`] reads them).
    pub fn from_topology(
        topology: &Topology,
        applications: &HashMap<String, Vec<LaneCapability>>,
    ) -> Result<Self, CorridorError> {
        let mut ports = Vec::new();
        for port in topology.optical_ports() {
            let id = port.id.as_str();
            let caps = applications.get(id).cloned().unwrap_or_default();
            if caps.is_empty() {
                // An empty capability would read as "anything" to the
                // planner; a module that says nothing carries nothing.
                return Err(CorridorError::Topology(format!(
                    "port {id}: its module advertises no CMIS application with a known lane signal"
                )));
            }
            if port.grid.kind != GridKind::Fixed {
                return Err(CorridorError::Topology(format!(
                    "port {}: only fixed DWDM grids are planned",
                    port.id.as_str()
                )));
            }
            ports.push(PortInfo {
                id: port.id.as_str().to_owned(),
                lanes: u8::try_from(port.lanes.min(32)).unwrap_or(32),
                first_channel: port.grid.first_channel,
                channels: port.grid.channels.min(corridor_planner::MAX_WAVELENGTHS),
                spacing_ghz: port.grid.spacing_ghz.0,
                medium: port.medium,
                applications: caps,
            });
        }
        let index = |id: &str| ports.iter().position(|p| p.id == id);
        let mut links = Vec::new();
        let mut specs = Vec::new();
        for link in topology.links() {
            let (Some(a), Some(b)) = (index(link.a.as_str()), index(link.b.as_str())) else {
                return Err(CorridorError::Topology(format!(
                    "link {} names an unknown port",
                    link.id.as_str()
                )));
            };
            if ports[a].first_channel != ports[b].first_channel
                || ports[a].spacing_ghz != ports[b].spacing_ghz
            {
                return Err(CorridorError::Topology(format!(
                    "link {}: its ports use different grids",
                    link.id.as_str()
                )));
            }
            let group_index = match link.medium {
                HalMedium::Soi => SOI_GROUP_INDEX,
                HalMedium::Sin => SIN_GROUP_INDEX,
                HalMedium::Fiber => FIBER_GROUP_INDEX,
            };
            // The link's own loss (its override or the medium default)
            // with the medium's group index: the same numbers the twin's
            // ports are fed, so plan and telemetry agree.
            let medium = Medium::Custom {
                loss_db_per_mm: link.loss_per_cm().0 / 10.0,
                group_index,
            };
            // Ports on board waveguides couple by edge facets, fibre ports
            // by grating couplers (the topology's convention).
            let couplers = match link.medium {
                HalMedium::Fiber => Couplers {
                    grating: 2,
                    edge: 0,
                },
                _ => Couplers {
                    grating: 0,
                    edge: 2,
                },
            };
            let wavelengths = ports[a].channels.min(ports[b].channels);
            let mut spec = LinkSpec::new(a as u32, b as u32, link.length_mm.0, medium, wavelengths);
            spec.couplers = couplers;
            specs.push(spec);
            links.push(LinkInfo {
                id: link.id.as_str().to_owned(),
                ports: [a, b],
                length_mm: link.length_mm.0,
            });
        }
        let graph = Graph::new(GraphSpec {
            // A port's module lanes are the planner's node lanes: a corridor
            // holds the same run of them on every port of its path.
            nodes: ports
                .iter()
                .map(|p| {
                    NodeSpec::new(p.id.clone())
                        .with_module_lanes(p.lanes)
                        .with_lane_rates(p.applications.iter().map(lane_rate).collect())
                })
                .collect(),
            links: specs,
        })
        .map_err(|e| CorridorError::Topology(e.to_string()))?;
        Ok(Self {
            planner: Planner::new(graph, K_PATHS, Metric::Length),
            ports,
            links,
        })
    }

    pub fn port_index(&self, id: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.id == id)
    }

    pub fn link_index(&self, id: &str) -> Option<usize> {
        self.links.iter().position(|l| l.id == id)
    }

    pub fn node(&self, port: usize) -> NodeId {
        NodeId(port as u32)
    }

    pub fn link_id(&self, link: LinkId) -> &str {
        &self.links[link.index()].id
    }

    /// Grid index n of slot `slot` on `link`.
    pub fn channel_of_slot(&self, link: usize, slot: u16) -> i32 {
        self.ports[self.links[link].ports[0]].first_channel + i32::from(slot)
    }

    /// Snaps each requested wavelength to the nearest channel of `port`'s
    /// grid (within half a spacing), each lane on a distinct channel.
    /// Returns slot indices in request order.
    pub fn snap(&self, port: usize, lambdas: &[f64]) -> Result<Vec<u16>, CorridorError> {
        let p = &self.ports[port];
        let mut slots: Vec<u16> = Vec::with_capacity(lambdas.len());
        for (i, &lambda) in lambdas.iter().enumerate() {
            let f_ghz = C_M_PER_S / (lambda * 1e-9) / 1e9;
            let n_exact = (f_ghz - 193_100.0) / p.spacing_ghz;
            // Every wavelength is within half a spacing of its nearest grid
            // channel: snapping is the rule (the RFC's own list sits up to
            // 0.45 of a 100 GHz channel off the grid). Only a channel outside
            // the port's band is refused.
            let n = n_exact.round() as i32;
            let slot = n - p.first_channel;
            if slot < 0 || slot >= i32::from(p.channels) {
                let lo = wavelength_nm(p.first_channel + i32::from(p.channels) - 1, p.spacing_ghz);
                let hi = wavelength_nm(p.first_channel, p.spacing_ghz);
                return Err(CorridorError::Lambda {
                    index: i,
                    message: format!(
                        "{lambda} nm snaps to grid channel n={n}, outside the band of port {}: its {} GHz grid has channels n={}..={} ({lo:.3}..={hi:.3} nm)",
                        p.id,
                        p.spacing_ghz,
                        p.first_channel,
                        p.first_channel + i32::from(p.channels) - 1
                    ),
                });
            }
            let slot = slot as u16;
            if let Some(j) = slots.iter().position(|&s| s == slot) {
                return Err(CorridorError::Lambda {
                    index: i,
                    message: format!(
                        "{lambda} nm snaps to grid channel n={n} ({:.3} nm), already taken by lambda_nm[{j}]; lanes need distinct channels",
                        wavelength_nm(n, p.spacing_ghz)
                    ),
                });
            }
            slots.push(slot);
        }
        Ok(slots)
    }
}

/// The lane signal of an application, as the planner names it.
fn lane_rate(cap: &LaneCapability) -> LaneRateOption {
    LaneRateOption {
        rate: corridor_physics::Gbps(cap.media.lane_gbps),
        modulation: match cap.media.modulation {
            LaneModulation::Nrz => corridor_physics::Modulation::Nrz,
            LaneModulation::Pam4 => corridor_physics::Modulation::Pam4,
        },
    }
}

/// Vacuum wavelength of grid channel n, nm.
pub fn wavelength_nm(n: i32, spacing_ghz: f64) -> f64 {
    C_M_PER_S / ((193_100.0 + f64::from(n) * spacing_ghz) * 1e9) * 1e9
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What the default twin's modules advertise, by port.
    pub(crate) fn twin_applications(topology: &Topology) -> HashMap<String, Vec<LaneCapability>> {
        let optics = corridor_hal::optical::TwinOptics::new(topology).unwrap();
        optics
            .ports()
            .iter()
            .map(|p| {
                use corridor_hal::optical::OpticalPort;
                let id = p.identity().unwrap();
                (p.name().to_owned(), super::super::optics::capabilities(&id))
            })
            .collect()
    }

    pub(crate) fn default_fabric() -> Fabric {
        let t = Topology::default_twin();
        Fabric::from_topology(&t, &twin_applications(&t)).unwrap()
    }

    #[test]
    fn the_default_twin_maps_every_port_and_link() {
        let fabric = default_fabric();
        assert_eq!(fabric.ports.len(), 16);
        assert_eq!(fabric.links.len(), 8);
        assert_eq!(fabric.planner.topology().link_count(), 8);
    }

    #[test]
    fn the_rfc_wavelengths_snap_to_eight_distinct_channels() {
        let fabric = default_fabric();
        let lambdas: Vec<f64> = (1550..=1557).map(f64::from).collect();
        let slots = fabric.snap(0, &lambdas).unwrap();
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        // 1550 nm = 193.414 THz: nearest 100 GHz channel is n = 3 (193.4 THz).
        assert_eq!(fabric.channel_of_slot(0, slots[0]), 3);
    }

    #[test]
    fn out_of_band_and_clashing_wavelengths_name_the_lane() {
        let fabric = default_fabric();
        match fabric.snap(0, &[1550.0, 1530.0]) {
            Err(CorridorError::Lambda { index: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        match fabric.snap(0, &[1550.0, 1550.2]) {
            Err(CorridorError::Lambda { index: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

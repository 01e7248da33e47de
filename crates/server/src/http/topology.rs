//! `GET /v1/topology`: the rack the plant is built from (hosts, optical
//! ports with their DWDM grid, links), so a client can draw the optical
//! layer without reading the topology file. The figures are the
//! topology's own (a twin's file or the embedded default); no live state.

use axum::Json;
use axum::extract::State;
use corridor_hal::topology::{GRID_ANCHOR_GHZ, Grid, Medium, Topology};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_topology))
}

/// The rack: hosts, optical ports and the links between them.
#[derive(Debug, Serialize, ToSchema)]
pub struct RackTopology {
    pub hosts: Vec<TopologyHost>,
    pub optical_ports: Vec<TopologyOpticalPort>,
    pub links: Vec<TopologyLink>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopologyHost {
    pub id: String,
    pub name: String,
    /// CPU architecture as `uname -m` prints it.
    pub cpu: String,
    pub sockets: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopologyOpticalPort {
    pub id: String,
    pub host: String,
    /// `soi`, `sin` or `fiber`.
    pub medium: String,
    /// DWDM lanes the port lights at once.
    pub lanes: u16,
    pub lane_rate_gbps: f64,
    pub grid_spacing_ghz: f64,
    /// Every channel the port can tune to, in grid order.
    pub channels: Vec<GridChannel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GridChannel {
    /// 0-based index on the port's grid.
    pub index: u16,
    /// ITU grid index n at the port's spacing (f = 193.1 THz + n ×
    /// `grid_spacing_ghz`): the number a corridor's
    /// `assignment.grid_channels` gives for its lanes.
    pub itu_n: i64,
    pub frequency_thz: f64,
    /// Vacuum wavelength, nm.
    pub lambda_nm: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopologyLink {
    pub id: String,
    /// The two optical ports it joins.
    pub a: String,
    pub b: String,
    pub medium: String,
    pub length_mm: f64,
}

/// The rack's topology: hosts, optical ports (with every grid channel's
/// frequency and wavelength) and links.
#[utoipa::path(
    get,
    path = "/v1/topology",
    tag = "corrd",
    security(("mtls" = ["inventory"])),
    responses((status = 200, description = "The rack's topology", body = RackTopology))
)]
pub async fn get_topology(State(state): State<AppState>) -> Json<RackTopology> {
    Json(rack(&state.plane.topology))
}

fn rack(topology: &Topology) -> RackTopology {
    RackTopology {
        hosts: topology
            .hosts()
            .iter()
            .map(|host| TopologyHost {
                id: host.id.to_string(),
                name: host.name.clone(),
                cpu: host.cpu.clone(),
                sockets: host.sockets,
            })
            .collect(),
        optical_ports: topology
            .optical_ports()
            .iter()
            .map(|port| TopologyOpticalPort {
                id: port.id.to_string(),
                host: port.host.to_string(),
                medium: medium_name(port.medium).to_owned(),
                lanes: port.lanes,
                lane_rate_gbps: port.lane_rate_gbps.0,
                grid_spacing_ghz: port.grid.spacing_ghz.0,
                channels: channels(&port.grid),
            })
            .collect(),
        links: topology
            .links()
            .iter()
            .map(|link| TopologyLink {
                id: link.id.to_string(),
                a: link.a.to_string(),
                b: link.b.to_string(),
                medium: medium_name(link.medium).to_owned(),
                length_mm: link.length_mm.0,
            })
            .collect(),
    }
}

fn channels(grid: &Grid) -> Vec<GridChannel> {
    (0..grid.channels)
        .map(|index| {
            let ghz = grid.channel_frequency(index).0;
            GridChannel {
                index,
                // Whole by construction on a fixed grid; rounding absorbs
                // the float sum (a flex slot between fixed channels is
                // rounded to the nearest).
                itu_n: ((ghz - GRID_ANCHOR_GHZ) / grid.spacing_ghz.0).round() as i64,
                frequency_thz: ghz / 1000.0,
                lambda_nm: grid.channel_wavelength(index).0,
            }
        })
        .collect()
}

/// The topology file's spelling of a medium.
fn medium_name(medium: Medium) -> &'static str {
    match medium {
        Medium::Soi => "soi",
        Medium::Sin => "sin",
        Medium::Fiber => "fiber",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_lists_its_whole_grid() {
        let topology = Topology::default_twin();
        let rack = rack(&topology);
        assert_eq!(rack.links.len(), topology.links().len());
        for (port, source) in rack.optical_ports.iter().zip(topology.optical_ports()) {
            assert_eq!(port.channels.len(), usize::from(source.grid.channels));
            assert!(port.channels.iter().all(|c| c.lambda_nm > 1500.0));
        }
    }
}

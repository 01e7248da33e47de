//! Racks larger than the embedded default, generated for scale tests and benchmarks.
//!
//! The default rack holds 64 one-lane corridors (8 links of 8-lane ports); measuring the
//! control plane with a thousand live corridors needs a rack that can carry them. Rather
//! than a second hand-written file, [`generated_twin`] grows the default by sleds built from
//! the default's own parts (its hosts' DDR5, its SiN and fibre ports, its link lengths), so
//! every figure in the result is one the default file already cites, and the result goes
//! through the same validation as any file.

use super::error::Issue;
use super::ids::{CmisText, HostId, IdError, LinkId, MemoryDeviceId, OpticalPortId};
use super::model::{Host, Link, Medium, MemoryTier, OpticalPort, TopologyDocument};
use super::{Topology, TopologyError};

/// Source name of a generated topology in error messages.
pub const GENERATED_TOPOLOGY_NAME: &str = "<generated>";

/// Optical links of one generated sled, by medium and length (mm): sled A's two SiN board
/// waveguides (40 mm and 75 mm) and the default's two shortest fibre patches (0.5 m, 1 m).
const SLED_LINKS: [(Medium, f64); 4] = [
    (Medium::Sin, 40.0),
    (Medium::Sin, 75.0),
    (Medium::Fiber, 500.0),
    (Medium::Fiber, 1000.0),
];

/// The default rack plus `sleds` generated sleds.
///
/// Generated sled `k` is two hosts, `s{k}-h0` and `s{k}-h1`, each with the DRAM of the
/// default's host `h1` (two DDR5 sockets) and four optical ports, copies of the default's
/// first SiN and first fibre port (same lanes, grid, rings, lasers and module part numbers;
/// serials of their own). The two hosts are joined by four links: two SiN board waveguides
/// and two fibre patches ([`SLED_LINKS`]). Generated hosts are cabled to no CXL switch, so
/// the fabric and the pooled memory are the default's.
///
/// Capacity: a link carries as many one-lane corridors at once as its ports have lanes
/// (see [`Topology::one_lane_corridor_capacity`]); with the default's 8-lane ports each
/// sled adds 32, half for `waveguide` corridors and half for `fiber` ones.
///
/// # Errors
/// [`TopologyError::Invalid`] if a generated id or serial is malformed (a sled number too
/// long for a 16-character CMIS serial) or the result fails validation.
pub fn generated_twin(sleds: usize) -> Result<Topology, TopologyError> {
    let mut doc = Topology::default_twin().into_document();
    let mut issues = Vec::new();
    for sled in 0..sleds {
        if let Err(issue) = add_sled(&mut doc, sled) {
            issues.push(issue);
        }
    }
    if !issues.is_empty() {
        return Err(TopologyError::Invalid {
            source_name: GENERATED_TOPOLOGY_NAME.to_owned(),
            issues,
        });
    }
    Topology::from_document(doc, GENERATED_TOPOLOGY_NAME)
}

fn add_sled(doc: &mut TopologyDocument, sled: usize) -> Result<(), Issue> {
    let template = |what: &str| {
        Issue::new(
            format!("generated sled {sled}"),
            format!("the default rack has no {what} to copy"),
        )
    };
    let host_template = doc
        .hosts
        .iter()
        .find(|h| h.id == "h1")
        .cloned()
        .ok_or_else(|| template("host h1"))?;
    let port_of = |medium: Medium| {
        doc.optical_ports
            .iter()
            .find(|p| p.medium == medium)
            .cloned()
            .ok_or_else(|| template(&format!("{medium:?} optical port")))
    };
    let (sin, fiber) = (port_of(Medium::Sin)?, port_of(Medium::Fiber)?);
    let id_issue = |e: IdError| Issue::new(format!("generated sled {sled}"), e.to_string());
    let mut ends: Vec<[OpticalPortId; 2]> = Vec::new();
    for side in 0..2 {
        let host_id = HostId::new(format!("s{sled}-h{side}")).map_err(id_issue)?;
        let mut host = Host {
            id: host_id.clone(),
            name: format!("generated-sled-{sled}-{side}"),
            memory: Vec::new(),
            ..host_template.clone()
        };
        for (i, mem) in host_template
            .memory
            .iter()
            .filter(|m| m.tier == MemoryTier::Dram)
            .enumerate()
        {
            let mut mem = mem.clone();
            mem.id = MemoryDeviceId::new(format!("{host_id}-dram{i}")).map_err(id_issue)?;
            host.memory.push(mem);
        }
        doc.hosts.push(host);
        for (n, (medium, _)) in SLED_LINKS.iter().enumerate() {
            let mut port: OpticalPort = match medium {
                Medium::Fiber => fiber.clone(),
                _ => sin.clone(),
            };
            port.id = OpticalPortId::new(format!("op-{host_id}-{n}")).map_err(id_issue)?;
            port.host = host_id.clone();
            // Unique across modules, at most 16 characters: "CTG" + sled + side + port.
            port.module.serial = CmisText::new(format!("CTG{sled:08}H{side}P{n}"))
                .map_err(|e| Issue::new(format!("generated sled {sled}"), e.to_string()))?;
            if side == 0 {
                ends.push([port.id.clone(), port.id.clone()]);
            } else {
                ends[n][1] = port.id.clone();
            }
            doc.optical_ports.push(port);
        }
    }
    for (n, ((medium, length_mm), [a, b])) in SLED_LINKS.iter().zip(ends).enumerate() {
        doc.links.push(Link {
            id: LinkId::new(format!("l-s{sled}-{n}")).map_err(id_issue)?,
            a,
            b,
            medium: *medium,
            length_mm: super::units::Millimeters(*length_mm),
            loss_db_per_cm: None,
        });
    }
    Ok(())
}

impl Topology {
    /// How many one-lane corridors the rack carries at once: every link as many as the
    /// fewer lanes of its two ports (a port's lanes are the wavelengths it uses at once).
    #[must_use]
    pub fn one_lane_corridor_capacity(&self) -> usize {
        self.links()
            .iter()
            .map(|l| {
                let lanes = |id: &str| self.optical_port(id).map_or(0, |p| usize::from(p.lanes));
                lanes(&l.a).min(lanes(&l.b))
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_holds_64_and_each_sled_adds_32() {
        assert_eq!(Topology::default_twin().one_lane_corridor_capacity(), 64);
        let big = generated_twin(30).expect("valid");
        assert_eq!(big.one_lane_corridor_capacity(), 64 + 30 * 32);
        assert_eq!(big.hosts().len(), 4 + 60);
        assert_eq!(big.links().len(), 8 + 120);
    }

    #[test]
    fn a_generated_rack_survives_its_file() {
        let big = generated_twin(3).expect("valid");
        let text = big.to_toml_string();
        let again = Topology::from_toml_str(&text, "generated.toml").expect("reloads");
        assert_eq!(again, big);
    }

    #[test]
    fn a_sled_number_too_long_for_a_serial_is_reported() {
        let mut doc = Topology::default_twin().into_document();
        let issue = add_sled(&mut doc, 1_000_000_000).expect_err("17-character serial");
        assert!(issue.message.contains("16"), "{issue}");
    }
}

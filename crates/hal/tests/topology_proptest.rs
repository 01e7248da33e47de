//! Property tests: a dangling reference anywhere is always caught and located, and the
//! loader never panics.

use corridor_hal::topology::{
    CxlDeviceId, CxlSwitchId, HostId, OpticalPortId, PortPeer, ProfileName, Topology,
    TopologyDocument,
};
use proptest::prelude::*;

/// A place in the document that refers to another element by id.
#[derive(Debug, Clone, Copy)]
enum Site {
    TwinProfile,
    SwitchPeer(usize, usize),
    DeviceSwitch(usize),
    PortHost(usize),
    LinkA(usize),
    LinkB(usize),
}

impl Site {
    fn all(doc: &TopologyDocument) -> Vec<Site> {
        let mut sites = vec![Site::TwinProfile];
        for (i, sw) in doc.cxl_switches.iter().enumerate() {
            for (j, port) in sw.ports.iter().enumerate() {
                if port.connected_to.is_some() {
                    sites.push(Site::SwitchPeer(i, j));
                }
            }
        }
        sites.extend((0..doc.cxl_devices.len()).map(Site::DeviceSwitch));
        sites.extend((0..doc.optical_ports.len()).map(Site::PortHost));
        sites.extend((0..doc.links.len()).map(Site::LinkA));
        sites.extend((0..doc.links.len()).map(Site::LinkB));
        sites
    }

    fn path(self) -> String {
        match self {
            Site::TwinProfile => "twin.ambient_profile".into(),
            Site::SwitchPeer(i, j) => format!("cxl_switches[{i}].ports[{j}].connected_to"),
            Site::DeviceSwitch(i) => format!("cxl_devices[{i}].switch"),
            Site::PortHost(i) => format!("optical_ports[{i}].host"),
            Site::LinkA(i) => format!("links[{i}].a"),
            Site::LinkB(i) => format!("links[{i}].b"),
        }
    }

    /// Points the reference at `id`, which names nothing in the document.
    fn dangle(self, doc: &mut TopologyDocument, id: &str) {
        match self {
            Site::TwinProfile => doc.twin.ambient_profile = ProfileName::new(id).unwrap(),
            Site::SwitchPeer(i, j) => {
                let peer = doc.cxl_switches[i].ports[j].connected_to.as_mut().unwrap();
                *peer = match peer {
                    PortPeer::Host(_) => PortPeer::Host(HostId::new(id).unwrap()),
                    PortPeer::Device(_) => PortPeer::Device(CxlDeviceId::new(id).unwrap()),
                    PortPeer::Switch(other) => {
                        PortPeer::Switch(corridor_hal::topology::SwitchPortRef {
                            id: CxlSwitchId::new(id).unwrap(),
                            port: other.port,
                        })
                    }
                };
            }
            Site::DeviceSwitch(i) => doc.cxl_devices[i].switch = CxlSwitchId::new(id).unwrap(),
            Site::PortHost(i) => doc.optical_ports[i].host = HostId::new(id).unwrap(),
            Site::LinkA(i) => doc.links[i].a = OpticalPortId::new(id).unwrap(),
            Site::LinkB(i) => doc.links[i].b = OpticalPortId::new(id).unwrap(),
        }
    }
}

/// Every id in the document, of any kind, so a generated id can be checked to be unknown.
fn known_ids(doc: &TopologyDocument) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    ids.extend(doc.hosts.iter().map(|h| h.id.to_string()));
    ids.extend(doc.cxl_switches.iter().map(|s| s.id.to_string()));
    ids.extend(doc.cxl_devices.iter().map(|d| d.id.to_string()));
    ids.extend(doc.optical_ports.iter().map(|p| p.id.to_string()));
    ids.extend(doc.ambient_profiles.iter().map(|p| p.name.to_string()));
    ids
}

proptest! {
    #[test]
    fn dangling_references_are_reported_at_their_path(
        site_pick in any::<prop::sample::Index>(),
        id in "[a-z0-9][a-z0-9._-]{0,30}",
    ) {
        let mut doc = Topology::default_twin().into_document();
        prop_assume!(!known_ids(&doc).contains(&id));
        let sites = Site::all(&doc);
        let site = sites[site_pick.index(sites.len())];
        site.dangle(&mut doc, &id);
        let path = site.path();

        // Straight from the document…
        let err = Topology::from_document(doc.clone(), "mutated").unwrap_err();
        prop_assert!(
            err.issues().iter().any(|i| i.path == path && i.message.contains(&format!("\"{id}\""))),
            "no issue at {path} naming {id:?}: {err}"
        );

        // …and through TOML text, as a user's file would arrive.
        let text = toml::to_string(&doc).unwrap();
        let err = Topology::from_toml_str(&text, "mutated.toml").unwrap_err();
        prop_assert!(err.to_string().contains(&format!("\n  {path}: ")), "{err}");
    }

    #[test]
    fn loader_never_panics_on_truncated_or_corrupted_text(
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let text = corridor_hal::topology::DEFAULT_TOPOLOGY_TOML;
        let at = cut.index(text.len());
        let truncated = String::from_utf8_lossy(&text.as_bytes()[..at]).into_owned();
        let _ = Topology::from_toml_str(&truncated, "truncated.toml");
        let mut corrupted = text.as_bytes().to_vec();
        corrupted[at] = byte;
        let corrupted = String::from_utf8_lossy(&corrupted).into_owned();
        let _ = Topology::from_toml_str(&corrupted, "corrupted.toml");
    }

    #[test]
    fn twin_settings_round_trip(seed in 0..=i64::MAX as u64, scale in 1e-3f64..1e6) {
        let mut doc = Topology::default_twin().into_document();
        doc.twin.seed = seed;
        doc.twin.time_scale = scale;
        let t = Topology::from_document(doc, "edited").unwrap();
        let back = Topology::from_toml_str(&t.to_toml_string(), "round-trip.toml").unwrap();
        prop_assert_eq!(back, t);
    }
}

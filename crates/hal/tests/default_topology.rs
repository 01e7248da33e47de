//! The embedded default topology loads and has the shape the rest of the system relies on.

use corridor_hal::topology::{
    CxlDeviceKind, Media, Medium, MemoryTier, PortPeer, Topology, TopologyDocument,
};

#[test]
fn default_topology_loads_with_the_promised_counts() {
    let t = Topology::default_twin();
    assert!(t.hosts().len() >= 4);
    for host in t.hosts() {
        assert!(
            host.memory.iter().any(|m| m.tier == MemoryTier::Dram),
            "{} has no DRAM",
            host.id
        );
        assert_eq!(t.ports_of_host(&host.id).count(), 4, "{}", host.id);
    }
    let hbm_hosts = t
        .hosts()
        .iter()
        .filter(|h| h.memory.iter().any(|m| m.tier == MemoryTier::Hbm))
        .count();
    assert!(hbm_hosts >= 1);
    assert!(t.memory_devices().any(|(_, m)| m.tier == MemoryTier::Pmem));
    assert_eq!(t.cxl_switches().len(), 2);
    assert!(t.cxl_devices().len() >= 4);
    assert!(
        t.cxl_devices()
            .iter()
            .any(|d| d.kind == CxlDeviceKind::Type3Mld && d.logical_device_count() > 1)
    );
    assert!(t.cxl_devices().iter().any(|d| d.media == Media::Pmem));
    assert_eq!(t.optical_ports().len(), 16);
    assert!(!t.ambient_profiles().is_empty());
    assert_eq!(t.active_ambient_profile().name, "datacenter-diurnal");
}

#[test]
fn default_links_form_a_full_mesh_of_realistic_lengths() {
    let t = Topology::default_twin();
    for link in t.links() {
        let len = link.length_mm.get();
        match link.medium {
            Medium::Sin => assert!((10.0..100.0).contains(&len), "{}: {len} mm", link.id),
            Medium::Fiber => assert!((500.0..=3000.0).contains(&len), "{}: {len} mm", link.id),
            Medium::Soi => panic!("{}: SOI is not viable at rack scale", link.id),
        }
    }
    let hosts: Vec<_> = t.hosts().iter().map(|h| h.id.clone()).collect();
    for a in &hosts {
        for b in hosts.iter().filter(|b| *b != a) {
            let connected = t.ports_of_host(a).any(|p| {
                t.links_of(&p.id).any(|l| {
                    let far = l.other_end(&p.id).and_then(|id| t.optical_port(id));
                    far.is_some_and(|f| f.host == *b)
                })
            });
            assert!(connected, "no link between {a} and {b}");
        }
    }
}

#[test]
fn default_cxl_fabric_reaches_every_pool_from_every_host() {
    let t = Topology::default_twin();
    for dev in t.cxl_devices() {
        let sw = t.cxl_switch(&dev.switch).expect("switch resolves");
        let port = sw.ports.iter().find(|p| p.port == dev.port).unwrap();
        assert_eq!(port.connected_to, Some(PortPeer::Device(dev.id.clone())));
        assert_eq!(t.hosts_on_switch(&sw.id).count(), t.hosts().len());
        assert!(t.devices_on_switch(&sw.id).any(|d| d.id == dev.id));
    }
}

#[test]
fn default_link_budgets_close() {
    // Every link must carry traffic out of the box: laser − 2 couplers − propagation ≥ Rx
    // sensitivity. Faults are injected later, never shipped in the default.
    let t = Topology::default_twin();
    for link in t.links() {
        let a = t.optical_port(&link.a).unwrap();
        let b = t.optical_port(&link.b).unwrap();
        let rx = a.laser.output_power_dbm.get()
            - a.coupler_loss_db.get()
            - b.coupler_loss_db.get()
            - link.propagation_loss().get();
        let margin = rx - b.receiver_sensitivity_dbm.get();
        assert!(margin > 1.0, "{}: margin {margin:.2} dB", link.id);
    }
}

#[test]
fn serials_and_ids_are_unique_and_lookups_work() {
    let t = Topology::default_twin();
    let mut serials: Vec<&str> = t
        .cxl_devices()
        .iter()
        .map(|d| d.serial_number.as_str())
        .chain(t.cxl_switches().iter().map(|s| s.serial_number.as_str()))
        .chain(t.optical_ports().iter().map(|p| p.module.serial.as_str()))
        .collect();
    let n = serials.len();
    serials.sort_unstable();
    serials.dedup();
    assert_eq!(serials.len(), n);

    assert_eq!(t.host("h0").unwrap().name, "sled-a-0");
    assert!(t.host("nope").is_none());
    assert_eq!(
        t.cxl_device("cxl-dev-001").unwrap().serial_number,
        "SN123456789"
    );
    assert_eq!(t.optical_port("op-h1-3").unwrap().host, "h1");
    assert_eq!(t.links_of("op-h0-0").count(), 1);
    assert_eq!(
        t.link("l-h0-h1-a").unwrap().other_end("op-h0-0").unwrap(),
        "op-h1-0"
    );
    let (host, mem) = t.memory_device("h3-pmem0").unwrap();
    assert_eq!((host.id.as_str(), mem.tier), ("h3", MemoryTier::Pmem));
}

#[test]
fn default_round_trips_through_toml() {
    let t = Topology::default_twin();
    let text = t.to_toml_string();
    let back = Topology::from_toml_str(&text, "round-trip.toml").unwrap();
    assert_eq!(back, t);
    // And again, to catch anything lossy that only shows on the second pass.
    assert_eq!(back.to_toml_string(), text);
}

#[test]
fn load_reads_a_file_and_reports_unreadable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rack.toml");
    std::fs::write(&path, Topology::default_twin().to_toml_string()).unwrap();
    assert_eq!(Topology::load(&path).unwrap(), Topology::default_twin());

    let missing = dir.path().join("missing.toml");
    let err = Topology::load(&missing).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read topology file ")
            && err.to_string().ends_with("missing.toml"),
        "{err}"
    );
}

#[test]
fn document_can_be_edited_and_revalidated() {
    let mut doc: TopologyDocument = Topology::default_twin().into_document();
    doc.twin.seed = 7;
    let t = Topology::from_document(doc, "edited").unwrap();
    assert_eq!(t.twin().seed, 7);
}

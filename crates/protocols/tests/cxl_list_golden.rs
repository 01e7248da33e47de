//! Every documented `cxl list` output in `data/cxl-list/` decodes to the objects it shows.

use corridor_protocols::cxl_list::{CxlListing, parse};

fn fixture(name: &str) -> CxlListing {
    let path = format!("{}/tests/data/cxl-list/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e:?}"))
}

const MIB_256: u64 = 268_435_456;
const GIB_128: u64 = 137_438_953_472;

#[test]
fn a_bare_array_of_memdevs() {
    let l = fixture("memdevs.json");
    assert_eq!(l.memdevs.len(), 1);
    let m = &l.memdevs[0];
    assert_eq!(m.memdev, "mem0");
    assert_eq!(m.pmem_size, Some(MIB_256));
    assert_eq!(m.ram_size, None);
    assert_eq!(m.capacity(), Some(MIB_256));
    assert_eq!(m.serial, Some(0));
    assert_eq!(m.host.as_deref(), Some("0000:35:00.0"));
    assert!(m.enabled());
    assert!(l.regions.is_empty() && l.buses.is_empty());
}

#[test]
fn several_memdevs_in_order() {
    let l = fixture("memdevs-filtered.json");
    let names: Vec<&str> = l.memdevs.iter().map(|m| m.memdev.as_str()).collect();
    assert_eq!(names, ["mem0", "mem3", "mem5"]);
    let serials: Vec<Option<u64>> = l.memdevs.iter().map(|m| m.serial).collect();
    assert_eq!(serials, [Some(0), Some(2), Some(4)]);
    assert_eq!(l.memdev("mem3").unwrap().capacity(), Some(2 * MIB_256));
}

/// Arrays keyed by object type; human mode prints sizes as rounded text (unknown here) and
/// serials as strings (exact).
#[test]
fn typed_arrays_in_human_form() {
    let l = fixture("buses-memdevs-human.json");
    assert_eq!(l.memdevs.len(), 1);
    assert_eq!(l.memdevs[0].memdev, "mem0");
    assert_eq!(l.memdevs[0].pmem_size, None);
    assert_eq!(l.memdevs[0].serial, Some(0));
    assert_eq!(l.memdevs[0].parent, None);
    assert_eq!(l.buses.len(), 1);
    assert_eq!(l.buses[0].bus, "root0");
    assert_eq!(l.buses[0].provider.as_deref(), Some("ACPI.CXL"));
}

#[test]
fn health_is_read() {
    let l = fixture("health.json");
    let h = l.memdevs[0].health.as_ref().unwrap();
    assert_eq!(h.maintenance_needed, Some(true));
    assert_eq!(h.media_normal, Some(false));
    assert_eq!(h.life_used_percent, Some(15));
    assert_eq!(h.temperature, Some(25));
    assert_eq!(h.dirty_shutdowns, Some(10));
}

#[test]
fn partition_info_is_not_mistaken_for_objects() {
    let l = fixture("partition.json");
    assert_eq!(l.memdevs.len(), 1);
    assert_eq!(l.memdevs[0].ram_size, Some(273_535_729_664));
}

#[test]
fn endpoints_nest_under_their_port() {
    let l = fixture("ports-endpoints.json");
    assert_eq!(l.ports.len(), 1);
    assert_eq!(l.ports[0].port, "port1");
    assert_eq!(l.ports[0].host.as_deref(), Some("ACPI0016:00"));
    assert_eq!(l.endpoints.len(), 1);
    assert_eq!(l.endpoints[0].endpoint, "endpoint2");
    assert_eq!(l.endpoints[0].host.as_deref(), Some("mem0"));
    assert_eq!(l.endpoints[0].parent.as_deref(), Some("port1"));
    assert!(
        l.memdevs.is_empty(),
        "an endpoint's host is not a memdev listing"
    );
}

#[test]
fn a_single_bus_as_a_bare_object() {
    let l = fixture("bus-targets-human.json");
    assert_eq!(l.buses.len(), 1);
    assert_eq!(l.buses[0].bus, "root0");
    assert!(l.ports.is_empty(), "dports are not ports");
}

#[test]
fn a_region_with_its_dax_device() {
    let l = fixture("region-dax-human.json");
    let r = l.region("region4").unwrap();
    assert_eq!(r.resource, Some(0xf0_1000_0000));
    assert_eq!(r.size, None, "human-form size");
    assert_eq!(r.interleave_ways, Some(2));
    assert_eq!(r.interleave_granularity, Some(4096));
    assert_eq!(r.decode_state.as_deref(), Some("commit"));
    assert_eq!(r.target_node(), Some(0));
    let dax = &r.daxregion.as_ref().unwrap().devices[0];
    assert_eq!(dax.chardev, "dax4.0");
    assert_eq!(dax.mode.as_deref(), Some("system-ram"));
}

#[test]
fn media_errors_of_a_memdev_and_a_region() {
    let l = fixture("memdev-media-errors-human.json");
    let m = l.memdev("mem9").unwrap();
    assert_eq!(m.serial, Some(5));
    assert_eq!(m.numa_node, Some(1));
    assert_eq!(m.ram_qos_class, Some(42));
    assert_eq!(m.pmem_qos_class, Some(42));
    assert_eq!(m.host.as_deref(), Some("cxl_mem.5"));
    let l = fixture("region-media-errors-human.json");
    let r = l.region("region5").unwrap();
    assert_eq!(r.mode.as_deref(), Some("pmem"));
    assert_eq!(r.resource, Some(0xf1_1000_0000));
    assert!(r.mappings.is_empty());
}

/// The kernel's full `cxl list -v` dump: a root with four host bridges, one expander.
#[test]
fn the_kernels_single_device_dump() {
    let l = fixture("kernel-single-device.json");
    assert_eq!(l.buses.len(), 1);
    let ports: Vec<&str> = l.ports.iter().map(|p| p.port.as_str()).collect();
    assert_eq!(ports, ["port1", "port2", "port3", "port4"]);
    assert!(l.ports.iter().all(|p| p.parent.as_deref() == Some("root0")));
    assert_eq!(l.endpoints.len(), 1);
    assert_eq!(l.endpoints[0].parent.as_deref(), Some("port1"));
    assert_eq!(l.memdevs.len(), 1);
    let m = &l.memdevs[0];
    assert_eq!(m.memdev, "mem0");
    assert_eq!(m.ram_size, Some(GIB_128));
    assert_eq!(m.numa_node, Some(0));
    assert_eq!(m.host.as_deref(), Some("0000:d3:00.0"));
    assert_eq!(m.parent.as_deref(), Some("endpoint5"));
    let decoders: Vec<(&str, Option<&str>)> = l
        .decoders
        .iter()
        .map(|d| (d.decoder.as_str(), d.parent.as_deref()))
        .collect();
    assert_eq!(
        decoders,
        [
            ("decoder0.0", Some("root0")),
            ("decoder1.0", Some("port1")),
            ("decoder5.0", Some("endpoint5")),
        ]
    );
    let ep = &l.decoders[2];
    assert_eq!(ep.mode.as_deref(), Some("ram"));
    assert_eq!(ep.dpa_size, Some(GIB_128));
    assert_eq!(ep.region.as_deref(), Some("region0"));
    assert_eq!(l.decoders[0].targets[0].target, "pci0000:d2");
    assert_eq!(l.regions.len(), 1);
    let r = &l.regions[0];
    assert_eq!(r.region, "region0");
    assert_eq!(r.parent.as_deref(), Some("decoder0.0"));
    assert_eq!(r.size, Some(GIB_128));
    assert_eq!(r.mode.as_deref(), Some("ram"));
    assert_eq!(r.memdevs(), ["mem0"]);
}

/// Two expanders on two host bridges interleaved by the root decoder at 256 bytes.
#[test]
fn the_kernels_host_bridge_interleave_dump() {
    let l = fixture("kernel-hb-interleave.json");
    let mems: Vec<(&str, Option<&str>)> = l
        .memdevs
        .iter()
        .map(|m| (m.memdev.as_str(), m.parent.as_deref()))
        .collect();
    assert_eq!(
        mems,
        [("mem0", Some("endpoint5")), ("mem1", Some("endpoint6"))]
    );
    let r = l.region("region0").unwrap();
    assert_eq!(r.interleave_ways, Some(2));
    assert_eq!(r.interleave_granularity, Some(256));
    assert_eq!(r.size, Some(2 * GIB_128));
    assert_eq!(
        r.memdevs(),
        ["mem0", "mem1"],
        "in interleave position order"
    );
    assert_eq!(l.decoders.len(), 5);
}

#[test]
fn memdevs_and_regions_as_corridord_lists_them() {
    let l = fixture("memdevs-regions.json");
    let m0 = l.memdev("mem0").unwrap();
    assert_eq!(m0.serial, Some(0xdead_beef));
    assert_eq!(m0.firmware_version.as_deref(), Some("BWFW VERSION 00"));
    assert!(m0.enabled());
    let m1 = l.memdev("mem1").unwrap();
    assert!(!m1.enabled());
    assert_eq!(m1.numa_node, None);
    assert_eq!(l.region("region0").unwrap().memdevs(), ["mem0"]);
}

#[test]
fn nothing_listed_on_a_machine_without_cxl() {
    assert!(fixture("empty-ndctl76.json").is_empty());
}

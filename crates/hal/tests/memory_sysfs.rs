//! `SysfsMemory` on fixture trees shaped like real machines (`tests/fixtures/README.md`) and
//! on the host itself.

use std::path::PathBuf;

use corridor_hal::memory::{FigureSource, MediaKind, MemoryProvider, SysfsMemory, Tier, defaults};

fn fixture(name: &str) -> SysfsMemory {
    SysfsMemory::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

const GIB: u64 = 1 << 30;

#[test]
fn two_sockets_and_cxl_with_hmat() {
    let inv = fixture("sysfs-2s-cxl-hmat").discover().unwrap();
    assert_eq!(inv.nodes.len(), 3);
    let n0 = inv.node("node0").unwrap();
    assert_eq!(n0.numa_node, Some(0));
    assert_eq!(n0.total_bytes, Some(528_280_528 * 1024));
    assert_eq!(n0.free_bytes, Some(501_234_176 * 1024));
    assert_eq!(n0.cpus.as_ref().unwrap().len(), 64);
    // HMAT: MB/s → GB/s, ns as is, all marked hmat.
    let rb = n0.performance.read_bandwidth_gbs.unwrap();
    assert_eq!((rb.value, rb.source), (230.4, FigureSource::Hmat));
    assert_eq!(n0.performance.latency_ns(), Some(128.0));
    assert_eq!(n0.kernel_tier, Some(4));
    assert!(n0.cxl_regions.is_empty());

    let n2 = inv.node("node2").unwrap();
    assert!(!n2.has_cpus());
    assert_eq!(n2.total_bytes, Some(256 * GIB));
    assert_eq!(n2.performance.bandwidth_gbs(), Some(25.6));
    assert_eq!(n2.performance.latency_ns(), Some(256.0));
    assert_eq!(n2.kernel_tier, Some(22));
    assert_eq!(n2.cxl_regions, vec!["region0"]);
    assert_eq!(n2.cxl_memdevs, vec!["mem0"]);
    assert_eq!(n2.media, MediaKind::Volatile);

    assert_eq!(inv.kernel_tiers.len(), 2);
    assert_eq!(inv.kernel_tiers[0].nodes, vec![0, 1]);
    assert_eq!(inv.kernel_tiers[1].id, 22);
    let mem0 = &inv.cxl_memdevs[0];
    assert_eq!(mem0.name, "mem0");
    assert_eq!(mem0.serial.as_deref(), Some("0x5a3c0001"));
    assert_eq!(mem0.numa_node, Some(0)); // the device's host bridge, not node 2
    assert_eq!(
        (mem0.ram_bytes, mem0.pmem_bytes),
        (Some(256 * GIB), Some(0))
    );
    let r0 = &inv.cxl_regions[0];
    assert_eq!(r0.targets, vec!["decoder5.0"]);
    assert_eq!((r0.size, r0.numa_node), (Some(256 * GIB), Some(2)));

    let wi = inv.weighted_interleave.as_ref().unwrap();
    assert_eq!(wi.weights.get(&0), Some(&9));
    assert_eq!(wi.weights.get(&2), Some(&1));
    assert_eq!(
        (wi.auto, wi.auto_file.as_deref()),
        (Some(true), Some("auto"))
    );

    // +128 ns over DRAM: T2, from the figures.
    assert_eq!(
        inv.tiers(),
        vec![Some(Tier::T1), Some(Tier::T1), Some(Tier::T2)]
    );
    // Everything known: filling defaults changes nothing.
    let mut filled = inv.clone();
    assert_eq!(filled.fill_defaults(), 0);
    assert_eq!(filled, inv);
}

#[test]
fn two_sockets_and_cxl_without_hmat() {
    let provider = fixture("sysfs-2s-cxl-nohmat");
    let mut inv = provider.discover().unwrap();
    assert_eq!(inv.nodes.len(), 3);
    // No HMAT: unknown, not invented, and so no tier.
    assert!(inv.nodes.iter().all(|n| n.performance.is_unknown()));
    assert_eq!(inv.tiers(), vec![None, None, None]);
    assert_eq!(inv.node("node2").unwrap().cxl_memdevs, vec!["mem0"]);

    let wi = provider.weighted_interleave().unwrap().unwrap();
    assert_eq!(
        (wi.auto, wi.auto_file.as_deref()),
        (Some(true), Some("__auto_type"))
    );
    assert_eq!(wi.weights.len(), 3);

    // Asked for defaults: DRAM row for CPU nodes, CXL-direct row for the region's node.
    assert_eq!(
        defaults::row_for(&inv.nodes[0], &inv.nodes),
        Some(defaults::Row::Dram)
    );
    assert_eq!(
        defaults::row_for(&inv.nodes[2], &inv.nodes),
        Some(defaults::Row::CxlDirect)
    );
    assert_eq!(inv.fill_defaults(), 12);
    let n0 = inv.node("node0").unwrap();
    let lat = n0.performance.read_latency_ns.unwrap();
    assert_eq!(
        (lat.value, lat.source),
        (defaults::DRAM_LATENCY_NS, FigureSource::Default)
    );
    let n2 = inv.node("node2").unwrap();
    assert_eq!(
        n2.performance.latency_ns(),
        Some(defaults::DRAM_LATENCY_NS + defaults::CXL_DIRECT_EXTRA_NS)
    );
    assert_eq!(
        n2.performance.bandwidth_gbs(),
        Some(defaults::CXL_DIRECT_BANDWIDTH_GBS)
    );
    assert_eq!(
        inv.tiers(),
        vec![Some(Tier::T1), Some(Tier::T1), Some(Tier::T2)]
    );
}

#[test]
fn a_persistent_cxl_region_onlined_through_libnvdimm_finds_its_node() {
    let inv = fixture("sysfs-qemu-cxl-pmem").discover().unwrap();
    let r0 = &inv.cxl_regions[0];
    assert_eq!(r0.mode.as_deref(), Some("pmem"));
    assert_eq!(r0.numa_node, Some(2), "the nd region at the same address");
    let n2 = inv.node("node2").unwrap();
    assert_eq!(n2.cxl_regions, vec!["region0"]);
    assert_eq!(n2.cxl_memdevs, vec!["mem0"]);
    // Onlined as system RAM: volatile, whatever the device's medium.
    assert_eq!(n2.media, MediaKind::Volatile);
    assert!(inv.node("node1").unwrap().cxl_regions.is_empty());
}

#[test]
fn single_node_vm() {
    let inv = fixture("sysfs-1node-vm").discover().unwrap();
    assert_eq!(inv.nodes.len(), 1);
    let n0 = &inv.nodes[0];
    assert_eq!(n0.cpus.as_deref(), Some(&[0, 1][..]));
    assert_eq!(n0.total_bytes, Some(21_850_324 * 1024));
    assert!(n0.performance.is_unknown());
    assert_eq!(n0.kernel_tier, Some(4));
    assert_eq!(n0.media, MediaKind::Unknown);
    assert!(inv.cxl_memdevs.is_empty() && inv.cxl_regions.is_empty());
    let wi = inv.weighted_interleave.as_ref().unwrap();
    assert_eq!(wi.weights.get(&0), Some(&1));
    assert_eq!(wi.auto_file.as_deref(), Some("__auto_type"));
    assert_eq!(inv.tiers(), vec![None]);
    let mut inv = inv;
    assert_eq!(inv.fill_defaults(), 4);
    assert_eq!(inv.tiers(), vec![Some(Tier::T1)]);
}

#[test]
fn missing_root_is_an_error_not_a_guess() {
    let err = SysfsMemory::new("/nonexistent-sysfs-root")
        .discover()
        .unwrap_err();
    assert!(err.to_string().contains("no NUMA nodes"), "{err}");
    assert_eq!(
        SysfsMemory::new("/nonexistent-sysfs-root")
            .weighted_interleave()
            .unwrap(),
        None
    );
}

/// The host itself: only what holds on any Linux machine with NUMA sysfs.
#[test]
fn this_host() {
    let inv = SysfsMemory::new("/sys").discover().expect("discover /sys");
    assert!(!inv.nodes.is_empty());
    assert!(
        inv.nodes
            .iter()
            .any(|n| n.total_bytes.is_some_and(|b| b > 0))
    );
    for n in &inv.nodes {
        if let (Some(t), Some(f)) = (n.total_bytes, n.free_bytes) {
            assert!(f <= t, "{}: free {f} > total {t}", n.id);
        }
    }
}

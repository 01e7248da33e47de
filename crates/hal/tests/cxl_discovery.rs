//! CXL device discovery for the inventory: from `/sys/bus/cxl` on a fixture tree laid out as
//! the kernel does (`tests/fixtures/README.md`), from a recorded `cxl list`, and from the
//! real `cxl list` of this machine (ndctl, `scripts/install-cxl.sh`).

use std::path::PathBuf;
use std::sync::Arc;

use corridor_hal::cxl::{CxlCli, CxlError, CxlSource, LinuxCxlDiscovery, NoCxlCli, SystemCxl};

fn fixture_root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A `cxl list` that prints a recorded output.
#[derive(Debug)]
struct Recorded(Vec<u8>);

impl CxlCli for Recorded {
    fn list(&self) -> Result<Option<Vec<u8>>, CxlError> {
        Ok(Some(self.0.clone()))
    }
}

fn cxl_list_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../protocols/tests/data/cxl-list")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const GIB: u64 = 1 << 30;

#[test]
fn sysfs_when_cxl_is_not_installed() {
    let found = LinuxCxlDiscovery::new(Arc::new(NoCxlCli), fixture_root("sysfs-cxl-pci"))
        .discover()
        .unwrap();
    assert_eq!(found.source, CxlSource::Sysfs);
    let names: Vec<&str> = found
        .memdevs
        .iter()
        .map(|m| m.memdev.name.as_str())
        .collect();
    assert_eq!(names, ["mem0", "mem1"]);
    let mem0 = &found.memdevs[0];
    assert_eq!(mem0.memdev.serial.as_deref(), Some("0x5a3c0002"));
    assert_eq!(mem0.memdev.numa_node, Some(0));
    assert_eq!(mem0.memdev.firmware_version.as_deref(), Some("2.1.0"));
    assert_eq!(mem0.memdev.capacity_bytes(), Some(64 * GIB));
    // The PCI function `mem0` hangs under, and its identity.
    assert_eq!(mem0.memdev.host.as_deref(), Some("0000:35:00.0"));
    assert_eq!(
        (mem0.vendor_id, mem0.device_id),
        (Some(0x8086), Some(0x0d93))
    );
    assert_eq!(mem0.enabled, None, "sysfs does not say");
    let mem1 = &found.memdevs[1];
    assert_eq!(mem1.memdev.host.as_deref(), Some("0000:36:00.0"));
    assert_eq!(
        (mem1.memdev.ram_bytes, mem1.memdev.pmem_bytes),
        (Some(64 * GIB), Some(16 * GIB))
    );
    assert_eq!(mem1.vendor_id, Some(0x1344));

    assert_eq!(found.regions.len(), 1);
    let r = &found.regions[0];
    assert_eq!(r.name, "region0");
    assert_eq!(r.size, Some(128 * GIB));
    assert_eq!(r.mode.as_deref(), Some("ram"));
    assert_eq!(r.interleave_ways, Some(2));
    assert_eq!(r.interleave_granularity, Some(256));
    assert_eq!(r.committed, Some(true));
    assert_eq!(r.targets, ["decoder2.0", "decoder3.0"]);
    assert_eq!(r.memdevs, ["mem0", "mem1"]);
    assert_eq!(r.numa_node, Some(1));
}

/// The memory fixtures without PCI links still list their memdev, with no PCI identity.
#[test]
fn sysfs_memdev_without_a_pci_parent() {
    let found = LinuxCxlDiscovery::for_root(&fixture_root("sysfs-2s-cxl-hmat"))
        .discover()
        .unwrap();
    assert_eq!(
        found.source,
        CxlSource::Sysfs,
        "a fixture root never runs cxl"
    );
    assert_eq!(found.memdevs.len(), 1);
    let mem0 = &found.memdevs[0];
    assert_eq!(mem0.memdev.firmware_version.as_deref(), Some("1.4.0"));
    assert_eq!(mem0.memdev.host, None);
    assert_eq!(mem0.vendor_id, None);
    assert_eq!(found.regions[0].interleave_ways, Some(1));
}

#[test]
fn a_machine_without_cxl_has_nothing() {
    let found = LinuxCxlDiscovery::new(Arc::new(NoCxlCli), fixture_root("sysfs-1node-vm"))
        .discover()
        .unwrap();
    assert!(found.memdevs.is_empty() && found.regions.is_empty());
}

#[test]
fn cxl_list_when_installed() {
    let cli = Recorded(cxl_list_fixture("memdevs-regions.json"));
    let found = LinuxCxlDiscovery::new(Arc::new(cli), fixture_root("sysfs-1node-vm"))
        .discover()
        .unwrap();
    assert_eq!(found.source, CxlSource::CxlList);
    let mem0 = &found.memdevs[0];
    // Serials in the kernel's sysfs spelling, so both sources match the same topology.
    assert_eq!(mem0.memdev.serial.as_deref(), Some("0xdeadbeef"));
    assert_eq!(
        mem0.memdev.firmware_version.as_deref(),
        Some("BWFW VERSION 00")
    );
    assert_eq!(mem0.memdev.host.as_deref(), Some("0000:d3:00.0"));
    assert_eq!(mem0.enabled, Some(true));
    assert_eq!(mem0.vendor_id, None, "no such PCI function under this root");
    let mem1 = &found.memdevs[1];
    assert_eq!(mem1.enabled, Some(false));
    assert_eq!(mem1.memdev.capacity_bytes(), Some(256 << 20));
    let r = &found.regions[0];
    assert_eq!(r.memdevs, ["mem0"]);
    assert_eq!(r.targets, ["decoder5.0"]);
    assert_eq!(r.committed, Some(true));
}

#[test]
fn a_broken_listing_is_an_error_not_an_empty_machine() {
    let cli = Recorded(b"[{\"memdev\":\"mem0\",\"ram_size\":true}]".to_vec());
    let err = LinuxCxlDiscovery::new(Arc::new(cli), fixture_root("sysfs-cxl-pci"))
        .discover()
        .unwrap_err();
    assert!(matches!(err, CxlError::Decode(_)), "{err:?}");
}

#[test]
fn an_absent_program_is_not_installed() {
    let cli = SystemCxl::at("/nonexistent/bin/cxl");
    assert!(cli.list().unwrap().is_none());
}

/// ndctl's own `cxl list` on this machine. Without CXL hardware it prints `[` `]` (and a
/// warning on stderr) and exits 0; with some, a listing. Either must decode.
#[test]
fn the_real_cxl_list_decodes() {
    let out = SystemCxl::new()
        .list()
        .expect("cxl list runs")
        .expect("cxl is installed (scripts/install-cxl.sh)");
    let listing = corridor_protocols::cxl_list::parse(&out)
        .unwrap_or_else(|e| panic!("{e:?} in {}", String::from_utf8_lossy(&out)));
    let found = LinuxCxlDiscovery::for_root(std::path::Path::new("/sys"))
        .discover()
        .unwrap();
    assert_eq!(found.source, CxlSource::CxlList);
    assert_eq!(found.memdevs.len(), listing.memdevs.len());
    if !std::path::Path::new("/sys/bus/cxl/devices").exists() {
        assert!(
            listing.is_empty(),
            "no /sys/bus/cxl, yet cxl list listed {listing:?}"
        );
    }
}

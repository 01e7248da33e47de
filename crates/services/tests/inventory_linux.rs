//! The device inventory on Linux: CXL memory devices the host lists (`cxl list`, or
//! `/sys/bus/cxl` without it) are merged into the topology's records. A topology device
//! found by its serial shows the firmware and place the host reports; a device the topology
//! does not name gets a record of its own. Both go offline keeping `last_seen` when the host
//! stops listing them, and come back active.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corridor_hal::cxl::{CxlCli, CxlError, LinuxCxlDiscovery, NoCxlCli};
use corridor_hal::topology::DEFAULT_TOPOLOGY_TOML;
use corridor_hal::{Clock, ManualClock, Topology};
use corridor_model::fabric::{DeviceStatus, FabricDevice};
use corridor_services::Registry;
use corridor_services::inventory::{DeviceInventory, DeviceSource};
use corridor_store::{RedbOptions, RedbStore, StateStore};

/// The default rack, with `cxl-dev-002` given the serial the kernel reports for `mem0`.
fn topology() -> Topology {
    let text = DEFAULT_TOPOLOGY_TOML.replace("\"SN123456790\"", "\"0x5a3c0002\"");
    assert_ne!(text, DEFAULT_TOPOLOGY_TOML);
    Topology::from_toml_str(&text, "test").unwrap()
}

/// A `cxl list` whose output the test changes between observations.
#[derive(Debug, Default, Clone)]
struct Recorded(Arc<Mutex<Vec<u8>>>);

impl Recorded {
    fn show(&self, snapshot: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cxl-list")
            .join(snapshot);
        *self.0.lock().unwrap() = std::fs::read(&path).unwrap();
    }
}

impl CxlCli for Recorded {
    fn list(&self) -> Result<Option<Vec<u8>>, CxlError> {
        Ok(Some(self.0.lock().unwrap().clone()))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    devices: Registry<FabricDevice>,
    clock: Arc<ManualClock>,
    inventory: Arc<DeviceInventory>,
}

async fn start(discovery: LinuxCxlDiscovery, topology: Topology) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStore::open(dir.path().join("state.redb"), RedbOptions::default()).unwrap());
    let devices = Registry::<FabricDevice>::new(store);
    let clock = Arc::new(ManualClock::new(topology.twin().start_time));
    let inventory = DeviceInventory::start_with(
        devices.clone(),
        Arc::new(topology),
        DeviceSource::Linux(Arc::new(discovery)),
        clock.clone(),
        None,
    )
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        devices,
        clock,
        inventory,
    }
}

impl Fixture {
    async fn get(&self, id: &str) -> FabricDevice {
        self.devices.get(id).await.unwrap()
    }

    async fn later(&self) {
        self.clock.advance(Duration::from_secs(30));
        self.inventory.observe().await.unwrap();
    }
}

#[tokio::test]
async fn cxl_list_snapshots_drive_the_records() {
    let cli = Recorded::default();
    cli.show("both.json");
    let discovery = LinuxCxlDiscovery::new(Arc::new(cli.clone()), "/nonexistent-sysfs");
    let f = start(discovery, topology()).await;
    let t0 = f.clock.now();

    // mem0 is the topology's cxl-dev-002: active, with what the host reports of it.
    let dev = f.get("cxl-dev-002").await;
    assert_eq!(dev.status, DeviceStatus::Active);
    assert_eq!(dev.last_seen, Some(t0));
    assert_eq!(
        dev.firmware_version, "2.1.0",
        "as reported, not the topology's 1.4.0"
    );
    assert_eq!(dev.meta.labels["memdev"], "mem0");
    assert_eq!(dev.meta.labels["numa_node"], "0");
    assert_eq!(dev.meta.labels["pci"], "0000:35:00.0");
    assert_eq!(dev.meta.labels["discovered_by"], "cxl-list");
    // Devices of the topology the host does not list are offline, never seen.
    let other = f.get("cxl-dev-001").await;
    assert_eq!(
        (other.status, other.last_seen),
        (DeviceStatus::Offline, None)
    );

    // mem1 is in no topology: a record of its own, keyed by its serial.
    let extra = f.get("cxl-sn-5a3c0003").await;
    assert_eq!(extra.status, DeviceStatus::Active);
    assert_eq!(extra.last_seen, Some(t0));
    assert_eq!(extra.serial_number, "0x5a3c0003");
    assert_eq!(extra.capacity_bytes.get(), 80 << 30);
    assert_eq!(extra.firmware_version, "2.1.0");
    assert_eq!(extra.meta.labels["source"], "discovered");
    assert_eq!(extra.meta.labels["media"], "ram+pmem");
    assert_eq!(extra.meta.labels["performance"], "unknown");
    let json = serde_json::to_value(&extra).unwrap();
    assert_eq!(json["type"], "Type-3");

    // mem0 leaves: cxl-dev-002 goes offline keeping when it was seen; mem1 stays.
    cli.show("mem1-only.json");
    f.later().await;
    let gone = f.get("cxl-dev-002").await;
    assert_eq!(gone.status, DeviceStatus::Offline);
    assert_eq!(gone.last_seen, Some(t0));
    assert!(!gone.meta.labels.contains_key("memdev"));
    assert_eq!(f.get("cxl-sn-5a3c0003").await.status, DeviceStatus::Active);

    // Nothing listed: the discovered device is kept, offline, with its last sighting.
    cli.show("none.json");
    f.later().await;
    let extra_gone = f.get("cxl-sn-5a3c0003").await;
    assert_eq!(extra_gone.status, DeviceStatus::Offline);
    assert_eq!(extra_gone.last_seen, Some(t0));
    let steady = extra_gone.meta.resource_version.clone();
    f.later().await;
    assert_eq!(
        f.get("cxl-sn-5a3c0003").await.meta.resource_version,
        steady,
        "an unchanged offline record is not rewritten"
    );

    // Both back: active, seen now.
    cli.show("both.json");
    f.later().await;
    let now = f.clock.now();
    for id in ["cxl-dev-002", "cxl-sn-5a3c0003"] {
        let back = f.get(id).await;
        assert_eq!(
            (back.status, back.last_seen),
            (DeviceStatus::Active, Some(now)),
            "{id}"
        );
    }
    f.inventory.stop().await;
}

/// Without `cxl`, the same from `/sys/bus/cxl`: a copy of the hal fixture tree, from which
/// `mem0` is then removed as a hot-unplug removes it.
#[tokio::test]
async fn sysfs_snapshots_drive_the_records() {
    let tree = tempfile::tempdir().unwrap();
    let source =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hal/tests/fixtures/sysfs-cxl-pci");
    copy_tree(&source, tree.path());
    let discovery = LinuxCxlDiscovery::new(Arc::new(NoCxlCli), tree.path());
    let f = start(discovery, topology()).await;
    let t0 = f.clock.now();

    let dev = f.get("cxl-dev-002").await;
    assert_eq!(
        (dev.status, dev.last_seen),
        (DeviceStatus::Active, Some(t0))
    );
    assert_eq!(dev.meta.labels["discovered_by"], "sysfs");
    let extra = f.get("cxl-sn-5a3c0003").await;
    assert_eq!(
        extra.vendor_id, "0x1344",
        "from the PCI function under the same root"
    );
    assert_eq!(extra.device_id, "0x6400");

    std::fs::remove_file(tree.path().join("bus/cxl/devices/mem0")).unwrap();
    f.later().await;
    let gone = f.get("cxl-dev-002").await;
    assert_eq!(
        (gone.status, gone.last_seen),
        (DeviceStatus::Offline, Some(t0))
    );
    assert_eq!(f.get("cxl-sn-5a3c0003").await.status, DeviceStatus::Active);
    f.inventory.stop().await;
}

/// Copies a directory tree, keeping symbolic links as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

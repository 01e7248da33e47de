//! The Linux optical plant against file-backed CMIS maps: a simulated module plays on each
//! optoe-layout file (reacting to the host's writes as a module would), and the plant drives it
//! through the same trait the twin implements.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use corridor_hal::optical::file_module::{FileModule, ModuleSnapshot};
use corridor_hal::optical::linux_plant::LinuxOpticsError;
use corridor_hal::optical::twin::module_profile;
use corridor_hal::{LinuxOptics, OpticalPlant, Topology};
use corridor_protocols::cmis::{DataPathState, ModuleSim, ModuleState, ProvisionRequest};

const PORTS: [&str; 2] = ["op-h0-0", "op-h1-0"];

/// The default rack cut down to one cabled port pair.
fn two_port_rack() -> Topology {
    let mut doc = Topology::default_twin().into_document();
    doc.optical_ports.retain(|p| PORTS.contains(&p.id.as_str()));
    doc.links.retain(|l| l.id.as_str() == "l-h0-h1-a");
    Topology::from_document(doc, "two-port rack").unwrap()
}

fn modules(rack: &Topology, dir: &std::path::Path) -> (Vec<FileModule>, BTreeMap<String, PathBuf>) {
    let mut modules = Vec::new();
    let mut devices = BTreeMap::new();
    for port in rack.optical_ports() {
        let path = dir.join(format!("{}.eeprom", port.id.as_str()));
        let sim = ModuleSim::new(module_profile(port).unwrap()).unwrap();
        modules.push(FileModule::spawn(&path, sim, Duration::from_micros(500)).unwrap());
        devices.insert(port.id.as_str().to_owned(), path);
    }
    (modules, devices)
}

/// Index of the first snapshot matching `want` at or after `from`.
fn seen_after(
    seen: &[ModuleSnapshot],
    from: usize,
    want: impl Fn(&ModuleSnapshot) -> bool,
) -> Option<usize> {
    seen.iter()
        .enumerate()
        .skip(from)
        .find(|(_, s)| want(s))
        .map(|(i, _)| i)
}

#[test]
fn provisions_a_module_playing_on_the_file_through_the_plant() {
    let rack = two_port_rack();
    let dir = tempfile::tempdir().unwrap();
    let (modules, devices) = modules(&rack, dir.path());
    let plant = LinuxOptics::open(&rack, &devices, Duration::from_millis(1)).unwrap();

    assert_eq!(plant.backend(), "linux");
    assert!(
        plant.blocks(),
        "device polls sleep: callers must not run them on a worker"
    );
    assert!(
        plant.twin_faults().is_none(),
        "real modules take no injected faults"
    );
    let inventory = plant.inventory();
    assert_eq!(
        inventory.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        PORTS
    );
    assert_eq!(
        inventory[0].device.as_deref(),
        Some(devices[PORTS[0]].as_path())
    );
    assert!(plant.port("op-h0-1").is_none());

    let port = plant.port(PORTS[0]).unwrap();
    let id = port.identity().unwrap();
    assert_eq!(id.vendor_name, "");
    assert_eq!(id.applications.len(), 2, "the twin's two applications");
    let report = port.provision(&ProvisionRequest::new(1, 0, 1, 8)).unwrap();
    assert_eq!(report.lanes, (1..=8).collect::<Vec<u8>>());
    port.tune(3, -6).unwrap();
    let monitors = port.read_monitors().unwrap();
    assert_eq!(monitors.module_state, Some(ModuleState::Ready));
    assert!(
        monitors
            .lanes
            .iter()
            .all(|l| l.data_path == Some(DataPathState::Activated))
    );
    assert_eq!(monitors.lane(3).unwrap().channel, -6);
    port.deprovision(&[1, 2]).unwrap();

    let mut modules = modules.into_iter();
    let near = modules.next().unwrap();
    let far = modules.next().unwrap();
    let seen = near.transitions();
    // The module left low power through PwrUp, then every data path walked
    // Deactivated → Init → Initialized → TxTurnOn → Activated, and lanes 1-2 back down.
    let all = |state| move |s: &ModuleSnapshot| s.data_paths.iter().all(|d| *d == Some(state));
    assert_eq!(seen[0].module, Some(ModuleState::LowPwr), "{seen:?}");
    let pwr_up = seen_after(&seen, 0, |s| s.module == Some(ModuleState::PwrUp)).expect("PwrUp");
    let ready = seen_after(&seen, pwr_up, |s| s.module == Some(ModuleState::Ready)).expect("Ready");
    let mut at = ready;
    for state in [
        DataPathState::Init,
        DataPathState::Initialized,
        DataPathState::TxTurnOn,
        DataPathState::Activated,
    ] {
        at = seen_after(&seen, at, all(state)).unwrap_or_else(|| panic!("{state:?}: {seen:?}"));
    }
    let down = seen_after(&seen, at, |s| {
        s.data_paths[..2] == [Some(DataPathState::Deactivated); 2]
            && s.data_paths[2..]
                .iter()
                .all(|d| *d == Some(DataPathState::Activated))
    });
    assert!(down.is_some(), "lanes 1-2 deactivated: {seen:?}");
    let sim = near.stop().unwrap();
    assert_eq!(sim.map().module_state().unwrap(), ModuleState::Ready);
    // The far end was never written to: still in low power.
    assert_eq!(far.transitions().len(), 1);
    assert_eq!(
        far.stop().unwrap().map().module_state().unwrap(),
        ModuleState::LowPwr
    );
}

#[test]
fn every_topology_port_needs_a_device_and_every_device_a_port() {
    let rack = two_port_rack();
    let dir = tempfile::tempdir().unwrap();
    let (_modules, mut devices) = modules(&rack, dir.path());
    let fast = Duration::from_millis(1);

    let mut stray = devices.clone();
    stray.insert("op-nowhere".into(), dir.path().join("x"));
    match LinuxOptics::open(&rack, &stray, fast) {
        Err(LinuxOpticsError::NotInTopology { ports }) => assert_eq!(ports, ["op-nowhere"]),
        other => panic!("{other:?}"),
    }
    let far = devices.remove(PORTS[1]).unwrap();
    match LinuxOptics::open(&rack, &devices, fast) {
        Err(LinuxOpticsError::Unmapped { ports }) => assert_eq!(ports, [PORTS[1]]),
        other => panic!("{other:?}"),
    }
    devices.insert(PORTS[1].into(), far.with_extension("missing"));
    match LinuxOptics::open(&rack, &devices, fast) {
        Err(e @ LinuxOpticsError::Device { .. }) => {
            assert!(e.to_string().contains(PORTS[1]), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

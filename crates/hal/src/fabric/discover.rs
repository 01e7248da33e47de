//! Fabric discovery through FM API only: what a fabric manager learns from the switches it
//! is given, the same way for twin and real switches.
//!
//! Per switch: Identify (it must be a switch), Get FW Info, Identify Switch Device, Get
//! Physical Port State of every active port, Get VCS Info of every active VCS; then for each
//! downstream port whose link is up with a Type-3 device behind it, through Tunnel
//! Management: Identify, Get FW Info and, for an MLD, Get LD Info, Get LD Allocations, Get
//! QoS Allocated BW and Get QoS BW Limit. An SLD's capacity is not an FM API fact (it is in
//! the memory device's own Identify Memory Device, a CCI command), so it is left unknown.
//!
//! [`Discovery`] keeps what it saw: a device that was seen and is no longer reachable (its
//! port empty, its link down, its switch silent or malformed) stays in the snapshot as
//! `Offline` with the time it was last seen. A switch that fails is reported with its typed
//! error; the others are discovered as usual.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_protocols::fmapi::{
    ComponentType, ConnectedDeviceType, LdAllocation, LdWindow, PortConfigState, PortInfo,
    VcsInfoBlock,
};

use super::{FabricError, FmClient, FmTransport, MctpTcpTransport};

/// A switch's FM API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchEndpoint {
    /// A name for it (the twin uses the topology's switch id).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Whether a port or device is usable now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortStatus {
    /// Link trained and answering.
    Active,
    /// Absent, link down, or not answering.
    Offline,
}

/// Kind of Type-3 device, from the port's connected device type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    /// Single-logical device.
    Type3Sld,
    /// Multi-logical device.
    Type3Mld,
}

/// One physical switch port, as Get Physical Port State reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRecord {
    /// Port id.
    pub port: u8,
    /// Upstream, downstream, disabled...
    pub config_state: PortConfigState,
    /// What is behind it.
    pub connected: ConnectedDeviceType,
    /// PRSNT#: a device is present (even with the link down).
    pub present: bool,
    /// Active when the link is in L0.
    pub status: PortStatus,
    /// Maximum link width, lanes.
    pub max_width: u8,
    /// Negotiated link width, lanes.
    pub width: u8,
    /// Current PCIe generation (5 = 32 GT/s), 0 when down.
    pub generation: u8,
}

impl PortRecord {
    fn from_info(p: &PortInfo) -> Self {
        use corridor_protocols::fmapi::switch::link_flags;
        PortRecord {
            port: p.port_id,
            config_state: p.config_state,
            connected: p.connected_device_type,
            present: p.link_state & link_flags::PRESENT != 0,
            status: if p.link_up() {
                PortStatus::Active
            } else {
                PortStatus::Offline
            },
            max_width: p.max_link_width,
            width: p.negotiated_link_width,
            generation: p.current_link_speed,
        }
    }
}

/// A switch as discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchRecord {
    /// Endpoint name.
    pub name: String,
    /// Endpoint address.
    pub addr: SocketAddr,
    /// PCI vendor id.
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
    /// Serial number (Identify).
    pub serial_number: u64,
    /// Active firmware revision.
    pub firmware_version: Option<String>,
    /// Physical ports the switch has.
    pub num_physical_ports: u8,
    /// vPPBs bound, of all vPPBs.
    pub bound_vppbs: u16,
    /// Every active port.
    pub ports: Vec<PortRecord>,
    /// Every active virtual CXL switch and its vPPB bindings.
    pub vcs: Vec<VcsInfoBlock>,
    /// Devices behind a trained port that refused a discovery command, by port: they are
    /// left out of (or offline in) the device list, the rest of the switch is discovered.
    pub device_errors: Vec<(u8, String)>,
}

/// A Type-3 device behind a switch port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Name of the switch it hangs off.
    pub switch: String,
    /// Downstream port.
    pub port: u8,
    /// SLD or MLD.
    pub kind: DeviceKind,
    /// PCI vendor id.
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
    /// Serial number (Identify).
    pub serial_number: u64,
    /// Active firmware revision (Get FW Info).
    pub firmware_version: Option<String>,
    /// LDs (1 for an SLD).
    pub ld_count: u16,
    /// Memory size from Get LD Info (MLDs only).
    pub memory_size: Option<u64>,
    /// Bytes allocated to each LD (MLDs only).
    pub ld_bytes: Vec<u64>,
    /// QoS allocated bandwidth per LD, fraction × 256 (MLDs only).
    pub qos_allocated_bw: Vec<u8>,
    /// QoS bandwidth limit per LD, fraction × 256 (MLDs only).
    pub qos_bw_limit: Vec<u8>,
    /// Active when it answered in this scan.
    pub status: PortStatus,
    /// When it last answered.
    pub last_seen: DateTime<Utc>,
    /// Why it did not answer, when it is offline for an error.
    pub error: Option<String>,
}

/// One switch that could not be discovered.
#[derive(Debug)]
pub struct SwitchFailure {
    /// Endpoint name.
    pub name: String,
    /// Endpoint address.
    pub addr: SocketAddr,
    /// What went wrong.
    pub error: FabricError,
}

/// The result of one scan.
#[derive(Debug)]
pub struct FabricSnapshot {
    /// Switches discovered, in endpoint order.
    pub switches: Vec<SwitchRecord>,
    /// Switches that failed, each with its own error.
    pub failed: Vec<SwitchFailure>,
    /// Devices found now or before, by (switch, port).
    pub devices: Vec<DeviceRecord>,
}

/// Discovers a fabric from its switches' FM API endpoints, remembering what it saw.
#[derive(Debug)]
pub struct Discovery {
    endpoints: Vec<SwitchEndpoint>,
    timeout: Duration,
    seen: BTreeMap<(String, u8), DeviceRecord>,
}

impl Discovery {
    /// Discovery of `endpoints`; `timeout` bounds each connect and each answer.
    #[must_use]
    pub fn new(endpoints: Vec<SwitchEndpoint>, timeout: Duration) -> Self {
        Discovery {
            endpoints,
            timeout,
            seen: BTreeMap::new(),
        }
    }

    /// Scans every switch; `now` stamps the devices that answer.
    pub fn scan(&mut self, now: DateTime<Utc>) -> FabricSnapshot {
        let mut switches = Vec::new();
        let mut failed = Vec::new();
        for ep in &self.endpoints {
            let result = MctpTcpTransport::connect(ep.addr, self.timeout)
                .and_then(|t| scan_switch(&mut FmClient::new(t), ep, now));
            // Whatever this switch's devices were, they are offline unless found again.
            for d in self.seen.values_mut().filter(|d| d.switch == ep.name) {
                d.status = PortStatus::Offline;
            }
            match result {
                Ok((record, devices)) => {
                    for (port, error) in &record.device_errors {
                        if let Some(d) = self.seen.get_mut(&(ep.name.clone(), *port)) {
                            d.error = Some(error.clone());
                        }
                    }
                    switches.push(record);
                    for d in devices {
                        self.seen.insert((d.switch.clone(), d.port), d);
                    }
                }
                Err(error) => {
                    for d in self.seen.values_mut().filter(|d| d.switch == ep.name) {
                        d.error = Some(error.to_string());
                    }
                    failed.push(SwitchFailure {
                        name: ep.name.clone(),
                        addr: ep.addr,
                        error,
                    });
                }
            }
        }
        FabricSnapshot {
            switches,
            failed,
            devices: self.seen.values().cloned().collect(),
        }
    }
}

fn scan_switch<T: FmTransport>(
    client: &mut FmClient<T>,
    ep: &SwitchEndpoint,
    now: DateTime<Utc>,
) -> Result<(SwitchRecord, Vec<DeviceRecord>), FabricError> {
    let id = client.identify()?;
    if id.component_type != ComponentType::Switch {
        return Err(FabricError::Mismatch {
            peer: client.peer().to_owned(),
            detail: format!(
                "Identify reports component type {:#04x}, not a switch",
                id.component_type.byte()
            ),
        });
    }
    let fw = client.fw_info(None)?;
    let sw = client.identify_switch()?;
    let active: Vec<u8> = sw.active_ports().collect();
    let ports = client.port_state(&active)?;
    let vcs_ids: Vec<u8> = sw.active_vcs().collect();
    let vcs = if vcs_ids.is_empty() {
        Vec::new()
    } else {
        client.vcs_info(&vcs_ids)?
    };
    let mut devices = Vec::new();
    let mut device_errors = Vec::new();
    for p in &ports {
        let kind = match p.connected_device_type {
            ConnectedDeviceType::Type3Sld => DeviceKind::Type3Sld,
            ConnectedDeviceType::Type3Mld => DeviceKind::Type3Mld,
            _ => continue,
        };
        if p.config_state != PortConfigState::Dsp || !p.link_up() {
            continue;
        }
        match scan_device(client, &ep.name, p.port_id, kind, now) {
            Ok(d) => devices.push(d),
            // A device that says no is that device's problem; anything else (a broken or
            // malformed exchange) leaves the connection in doubt and fails the switch.
            Err(e @ FabricError::Refused { .. }) => device_errors.push((p.port_id, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    let record = SwitchRecord {
        name: ep.name.clone(),
        addr: ep.addr,
        vendor_id: id.vendor_id,
        device_id: id.device_id,
        serial_number: id.serial_number,
        firmware_version: fw.active_revision(),
        num_physical_ports: sw.num_physical_ports,
        bound_vppbs: sw.bound_vppbs,
        ports: ports.iter().map(PortRecord::from_info).collect(),
        vcs,
        device_errors,
    };
    Ok((record, devices))
}

fn scan_device<T: FmTransport>(
    client: &mut FmClient<T>,
    switch: &str,
    port: u8,
    kind: DeviceKind,
    now: DateTime<Utc>,
) -> Result<DeviceRecord, FabricError> {
    let id = client.identify_device(port)?;
    let fw = client.fw_info(Some(port))?;
    let mut record = DeviceRecord {
        switch: switch.to_owned(),
        port,
        kind,
        vendor_id: id.vendor_id,
        device_id: id.device_id,
        serial_number: id.serial_number,
        firmware_version: fw.active_revision(),
        ld_count: 1,
        memory_size: None,
        ld_bytes: Vec::new(),
        qos_allocated_bw: Vec::new(),
        qos_bw_limit: Vec::new(),
        status: PortStatus::Active,
        last_seen: now,
        error: None,
    };
    if kind == DeviceKind::Type3Mld {
        let info = client.ld_info(port)?;
        let alloc = client.ld_allocations(port)?;
        let granule = corridor_protocols::fmapi::mld::granularity_bytes(alloc.memory_granularity)
            .ok_or_else(|| FabricError::Mismatch {
            peer: client.peer().to_owned(),
            detail: format!(
                "port {port}: LD allocation granularity code {} is reserved",
                alloc.memory_granularity
            ),
        })?;
        let window = LdWindow {
            start_ld: 0,
            count: u8::try_from(info.ld_count).unwrap_or(u8::MAX),
        };
        record.ld_count = info.ld_count;
        record.memory_size = Some(info.memory_size);
        record.ld_bytes = alloc
            .allocations
            .iter()
            .map(|a: &LdAllocation| {
                a.range1_multiplier
                    .saturating_add(a.range2_multiplier)
                    .saturating_mul(granule)
            })
            .collect();
        record.qos_allocated_bw = client.qos_allocated_bw(port, window)?.fractions;
        record.qos_bw_limit = client.qos_bw_limit(port, window)?.fractions;
    }
    Ok(record)
}

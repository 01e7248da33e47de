//! Semantic validation of a parsed topology document.
//!
//! Parsing already guarantees types, known fields and id syntax. This pass checks what a type
//! cannot: uniqueness, references, physical plausibility. It collects every problem instead of
//! stopping at the first, so one edit-run cycle fixes a whole file.

use std::collections::HashMap;

use super::error::Issue;
use super::model::{
    AmbientProfile, CxlDevice, CxlDeviceKind, CxlSwitch, FIXED_SPACINGS_GHZ,
    FLEX_SLOT_GRANULARITY_GHZ, Grid, GridKind, Host, Link, OpticalPort, PortPeer, PortRole,
    TopologyDocument, TwinSettings,
};
use super::units::Bytes;

/// TOML integers are signed 64-bit; larger `u64`s could not be written back out.
const TOML_INT_MAX: u64 = i64::MAX as u64;

/// CXL HDM decoders map host physical address ranges in 256 MiB units (decoder base and size
/// registers hold address bits 63:28, CXL 2.0 HDM Decoder Capability Structure), so device
/// capacity, and any share of it, comes in that granule.
pub const CXL_CAPACITY_GRANULE: Bytes = Bytes(256 << 20);

/// An MLD is addressed by a 4-bit LD-ID (CXL 2.0), so it has at most 16 logical devices.
pub const MAX_LOGICAL_DEVICES: u8 = 16;

/// PCIe/CXL link widths a port can train to.
const LINK_WIDTHS: [u8; 5] = [1, 2, 4, 8, 16];

/// PCIe signalling rates, GT/s (Gen1..Gen6). CXL 1.1/2.0 run at 32 (Gen5), CXL 3.x at 64
/// (Gen6); lower rates appear when a link trains down.
const LINK_SPEEDS_GTS: [f64; 6] = [2.5, 5.0, 8.0, 16.0, 32.0, 64.0];

/// Span of the DWDM frequency table in ITU-T G.694.1 (184.500–195.9375 THz, covering the L and
/// C bands), GHz. A channel outside it is almost certainly a typo in `first_channel`.
const ITU_TABLE_GHZ: (f64, f64) = (184_500.0, 195_937.5);

/// Absolute zero, °C: the only hard floor on a temperature.
const ABSOLUTE_ZERO_C: f64 = -273.15;

/// Checks `doc` and returns every problem found, in document order (empty if valid).
#[must_use]
pub fn validate(doc: &TopologyDocument) -> Vec<Issue> {
    let mut v = Validator {
        doc,
        issues: Vec::new(),
    };
    v.twin(&doc.twin);
    v.hosts();
    v.switches();
    v.devices();
    v.standing_paths();
    v.optical_ports();
    v.links();
    v.ambient_profiles();
    v.issues
}

struct Validator<'a> {
    doc: &'a TopologyDocument,
    issues: Vec<Issue>,
}

/// Records the first path each key was seen at, and reports later repeats.
struct FirstSeen<'a>(HashMap<&'a str, String>);

impl<'a> FirstSeen<'a> {
    fn new() -> Self {
        Self(HashMap::new())
    }

    /// Returns the earlier path if `key` was already seen.
    fn check(&mut self, key: &'a str, path: &str) -> Option<String> {
        match self.0.get(key) {
            Some(first) => Some(first.clone()),
            None => {
                self.0.insert(key, path.to_owned());
                None
            }
        }
    }
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn plausible_temperature(c: f64) -> bool {
    c.is_finite() && c > ABSOLUTE_ZERO_C
}

impl<'a> Validator<'a> {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.issues.push(Issue::new(path, message));
    }

    fn require(&mut self, ok: bool, path: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(path, message);
        }
    }

    fn require_positive(&mut self, x: f64, path: String, what: &str) {
        self.require(
            positive(x),
            path,
            format!("{what} must be a positive number, got {x}"),
        );
    }

    fn require_text(&mut self, s: &str, path: String, what: &str) {
        self.require(
            !s.trim().is_empty(),
            path,
            format!("{what} must not be empty"),
        );
    }

    fn twin(&mut self, twin: &TwinSettings) {
        self.require(
            twin.seed <= TOML_INT_MAX,
            "twin.seed",
            format!("seed must be at most {TOML_INT_MAX} (TOML integers are signed 64-bit)"),
        );
        self.require_positive(twin.time_scale, "twin.time_scale".into(), "time_scale");
        let name = &twin.ambient_profile;
        if !self.doc.ambient_profiles.iter().any(|p| p.name == *name) {
            self.push(
                "twin.ambient_profile",
                format!("unknown ambient profile \"{name}\""),
            );
        }
    }

    fn hosts(&mut self) {
        let mut host_ids = FirstSeen::new();
        let mut memory_ids = FirstSeen::new();
        for (i, host) in self.doc.hosts.iter().enumerate() {
            let p = format!("hosts[{i}]");
            if let Some(first) = host_ids.check(&host.id, &p) {
                self.push(
                    format!("{p}.id"),
                    format!("duplicate host id \"{}\" (first used by {first})", host.id),
                );
            }
            self.host(host, &p, &mut memory_ids);
        }
    }

    fn host(&mut self, host: &'a Host, p: &str, memory_ids: &mut FirstSeen<'a>) {
        self.require_text(&host.name, format!("{p}.name"), "name");
        self.require_text(&host.cpu, format!("{p}.cpu"), "cpu");
        self.require(
            host.sockets >= 1,
            format!("{p}.sockets"),
            "a host needs at least one socket",
        );
        self.require(
            !host.memory.is_empty(),
            format!("{p}.memory"),
            "a host needs at least one memory device",
        );
        // Linux puts each NUMA node in exactly one memory tier, so one node cannot hold two.
        let mut node_tier = HashMap::new();
        for (j, mem) in host.memory.iter().enumerate() {
            let mp = format!("{p}.memory[{j}]");
            if let Some(first) = memory_ids.check(&mem.id, &mp) {
                self.push(
                    format!("{mp}.id"),
                    format!(
                        "duplicate memory device id \"{}\" (first used by {first})",
                        mem.id
                    ),
                );
            }
            self.require(
                mem.bytes.0 > 0 && mem.bytes.0 <= TOML_INT_MAX,
                format!("{mp}.bytes"),
                format!(
                    "bytes must be between 1 and {TOML_INT_MAX}, got {}",
                    mem.bytes.0
                ),
            );
            self.require_positive(
                mem.bandwidth_gbs.0,
                format!("{mp}.bandwidth_gbs"),
                "bandwidth_gbs",
            );
            self.require_positive(mem.latency_ns.0, format!("{mp}.latency_ns"), "latency_ns");
            match node_tier.get(&mem.numa_node) {
                Some(&(tier, k)) if tier != mem.tier => self.push(
                    format!("{mp}.numa_node"),
                    format!(
                        "NUMA node {} already holds {tier:?} memory ({p}.memory[{k}]); \
                         a node belongs to exactly one tier",
                        mem.numa_node
                    ),
                ),
                Some(_) => {}
                None => {
                    node_tier.insert(mem.numa_node, (mem.tier, j));
                }
            }
        }
    }

    fn switches(&mut self) {
        let mut ids = FirstSeen::new();
        // Devices re-seed this set from the switches, so serials are unique across both.
        let mut serials = FirstSeen::new();
        for (i, sw) in self.doc.cxl_switches.iter().enumerate() {
            let p = format!("cxl_switches[{i}]");
            if let Some(first) = ids.check(&sw.id, &p) {
                self.push(
                    format!("{p}.id"),
                    format!(
                        "duplicate CXL switch id \"{}\" (first used by {first})",
                        sw.id
                    ),
                );
            }
            let sp = format!("{p}.serial_number");
            self.require_text(&sw.serial_number, sp.clone(), "serial_number");
            if let Some(first) = serials.check(&sw.serial_number, &sp) {
                self.push(
                    sp,
                    format!(
                        "duplicate serial number \"{}\" (also {first})",
                        sw.serial_number
                    ),
                );
            }
            self.require_text(
                &sw.firmware_version,
                format!("{p}.firmware_version"),
                "firmware_version",
            );
            self.switch_ports(sw, &p);
        }
    }

    fn switch_ports(&mut self, sw: &'a CxlSwitch, p: &str) {
        let mut numbers = FirstSeen::new();
        let mut peers: HashMap<&PortPeer, String> = HashMap::new();
        let port_keys: Vec<String> = sw.ports.iter().map(|port| port.port.to_string()).collect();
        for (j, port) in sw.ports.iter().enumerate() {
            let pp = format!("{p}.ports[{j}]");
            if let Some(first) = numbers.check(&port_keys[j], &pp) {
                self.push(
                    format!("{pp}.port"),
                    format!(
                        "duplicate port number {} (first used by {first})",
                        port.port
                    ),
                );
            }
            self.require(
                LINK_WIDTHS.contains(&port.width),
                format!("{pp}.width"),
                format!("width must be 1, 2, 4, 8 or 16 lanes, got {}", port.width),
            );
            self.require(
                LINK_SPEEDS_GTS.contains(&port.speed_gts.0),
                format!("{pp}.speed_gts"),
                format!(
                    "speed_gts must be a PCIe rate (2.5, 5, 8, 16, 32 or 64), got {}",
                    port.speed_gts.0
                ),
            );
            let Some(peer) = &port.connected_to else {
                continue;
            };
            let cp = format!("{pp}.connected_to");
            if let Some(first) = peers.get(peer) {
                self.push(
                    cp.clone(),
                    format!("{} is already connected to {first}", describe_peer(peer)),
                );
            } else {
                peers.insert(peer, pp.clone());
            }
            match (port.role, peer) {
                (PortRole::Upstream, PortPeer::Host(host)) => {
                    if !self.doc.hosts.iter().any(|h| h.id == *host) {
                        self.push(cp, format!("unknown host \"{host}\""));
                    }
                }
                (PortRole::Downstream, PortPeer::Device(dev)) => {
                    match self.doc.cxl_devices.iter().find(|d| d.id == *dev) {
                        None => self.push(cp, format!("unknown CXL device \"{dev}\"")),
                        Some(d) if d.switch != sw.id || d.port != port.port => self.push(
                            cp,
                            format!(
                                "CXL device \"{dev}\" says it is on switch \"{}\" port {}, \
                                 not \"{}\" port {}",
                                d.switch, d.port, sw.id, port.port
                            ),
                        ),
                        Some(_) => {}
                    }
                }
                (PortRole::Fabric, PortPeer::Switch(other)) => {
                    // The other end must be a fabric port cabled back to this one.
                    let back = self
                        .doc
                        .cxl_switches
                        .iter()
                        .find(|s| s.id == other.id)
                        .and_then(|s| s.ports.iter().find(|q| q.port == other.port));
                    let reciprocal = back.is_some_and(|q| {
                        q.role == PortRole::Fabric
                            && q.connected_to
                                == Some(PortPeer::Switch(super::model::SwitchPortRef {
                                    id: sw.id.clone(),
                                    port: port.port,
                                }))
                    });
                    if other.id == sw.id {
                        self.push(cp, "an inter-switch link joins two different switches");
                    } else if !reciprocal {
                        self.push(
                            cp,
                            format!(
                                "switch \"{}\" port {} is not a fabric port cabled back to switch \"{}\" port {}",
                                other.id, other.port, sw.id, port.port
                            ),
                        );
                    }
                }
                (PortRole::Upstream, _) => {
                    self.push(cp, "an upstream port connects to a host");
                }
                (PortRole::Downstream, _) => {
                    self.push(cp, "a downstream port connects to a device");
                }
                (PortRole::Fabric, _) => {
                    self.push(cp, "a fabric port connects to another switch's fabric port");
                }
            }
        }
    }

    fn devices(&mut self) {
        let mut ids = FirstSeen::new();
        let mut serials = FirstSeen::new();
        for (i, sw) in self.doc.cxl_switches.iter().enumerate() {
            serials.check(
                &sw.serial_number,
                &format!("cxl_switches[{i}].serial_number"),
            );
        }
        let mut attachments: HashMap<(&str, u8), String> = HashMap::new();
        for (i, dev) in self.doc.cxl_devices.iter().enumerate() {
            let p = format!("cxl_devices[{i}]");
            if let Some(first) = ids.check(&dev.id, &p) {
                self.push(
                    format!("{p}.id"),
                    format!(
                        "duplicate CXL device id \"{}\" (first used by {first})",
                        dev.id
                    ),
                );
            }
            let sp = format!("{p}.serial_number");
            self.require_text(&dev.serial_number, sp.clone(), "serial_number");
            if let Some(first) = serials.check(&dev.serial_number, &sp) {
                self.push(
                    sp,
                    format!(
                        "duplicate serial number \"{}\" (also {first})",
                        dev.serial_number
                    ),
                );
            }
            self.require_text(
                &dev.firmware_version,
                format!("{p}.firmware_version"),
                "firmware_version",
            );
            self.device_attachment(dev, &p, &mut attachments);
            self.device_shape(dev, &p);
        }
    }

    /// Each standing path joins a known host to a known device on a switch the host has an
    /// upstream port on, with a positive guarantee, once per (host, device).
    fn standing_paths(&mut self) {
        let mut seen = FirstSeen::new();
        let mut pairs = Vec::new();
        for (i, path) in self.doc.cxl_paths.iter().enumerate() {
            let p = format!("cxl_paths[{i}]");
            self.require_positive(
                path.min_bandwidth_gbps.get(),
                format!("{p}.min_bandwidth_gbps"),
                "min_bandwidth_gbps",
            );
            let Some(device) = self.doc.cxl_devices.iter().find(|d| d.id == path.device) else {
                self.push(
                    format!("{p}.device"),
                    format!("unknown CXL device \"{}\"", path.device),
                );
                continue;
            };
            let cabled = self
                .doc
                .cxl_switches
                .iter()
                .filter(|s| s.id == device.switch)
                .flat_map(|s| &s.ports)
                .any(|port| {
                    port.role == PortRole::Upstream
                        && matches!(&port.connected_to, Some(PortPeer::Host(h)) if *h == path.host)
                });
            self.require(
                cabled,
                format!("{p}.host"),
                format!(
                    "host \"{}\" has no upstream port on switch \"{}\", which device \"{}\" hangs off",
                    path.host, device.switch, path.device
                ),
            );
            pairs.push((format!("{}/{}", path.host, path.device), p));
        }
        for (pair, p) in &pairs {
            if let Some(first) = seen.check(pair, p) {
                self.push(
                    p.clone(),
                    format!("a second standing path for {pair} (first: {first})"),
                );
            }
        }
    }

    fn device_attachment(
        &mut self,
        dev: &'a CxlDevice,
        p: &str,
        attachments: &mut HashMap<(&'a str, u8), String>,
    ) {
        let Some(sw) = self.doc.cxl_switches.iter().find(|s| s.id == dev.switch) else {
            self.push(
                format!("{p}.switch"),
                format!("unknown CXL switch \"{}\"", dev.switch),
            );
            return;
        };
        let pp = format!("{p}.port");
        let Some(port) = sw.ports.iter().find(|x| x.port == dev.port) else {
            self.push(pp, format!("switch \"{}\" has no port {}", sw.id, dev.port));
            return;
        };
        if let Some(first) = attachments.get(&(sw.id.as_str(), dev.port)) {
            self.push(
                pp,
                format!(
                    "port {} of switch \"{}\" is already used by {first}",
                    dev.port, sw.id
                ),
            );
            return;
        }
        attachments.insert((sw.id.as_str(), dev.port), p.to_owned());
        if port.role != PortRole::Downstream {
            self.push(
                pp,
                format!(
                    "port {} of switch \"{}\" is an upstream port; devices attach downstream",
                    dev.port, sw.id
                ),
            );
        } else if let Some(PortPeer::Device(other)) = &port.connected_to
            && *other != dev.id
        {
            self.push(
                pp,
                format!(
                    "port {} of switch \"{}\" is connected to device \"{other}\"",
                    dev.port, sw.id
                ),
            );
        }
    }

    fn device_shape(&mut self, dev: &CxlDevice, p: &str) {
        let lp = format!("{p}.logical_devices");
        match (dev.kind, dev.logical_devices) {
            (CxlDeviceKind::Type3Sld, None | Some(1)) => {}
            (CxlDeviceKind::Type3Sld, Some(n)) => self.push(
                lp,
                format!("a single-logical device has 1 logical device, got {n}; use kind = \"type3-mld\""),
            ),
            (CxlDeviceKind::Type3Mld, None) => {
                self.push(lp, "a multi-logical device needs logical_devices (2 to 16)");
            }
            (CxlDeviceKind::Type3Mld, Some(n)) => self.require(
                (2..=MAX_LOGICAL_DEVICES).contains(&n),
                lp,
                format!("logical_devices must be between 2 and {MAX_LOGICAL_DEVICES}, got {n}"),
            ),
        }
        let cap = dev.capacity_bytes.0;
        self.require(
            cap > 0 && cap <= TOML_INT_MAX && cap.is_multiple_of(CXL_CAPACITY_GRANULE.0),
            format!("{p}.capacity_bytes"),
            format!("capacity_bytes must be a positive multiple of 256 MiB (268435456), got {cap}"),
        );
        self.require_positive(
            dev.bandwidth_gbs.0,
            format!("{p}.bandwidth_gbs"),
            "bandwidth_gbs",
        );
        self.require_positive(dev.latency_ns.0, format!("{p}.latency_ns"), "latency_ns");
    }

    fn optical_ports(&mut self) {
        let mut ids = FirstSeen::new();
        let mut serials = FirstSeen::new();
        for (i, port) in self.doc.optical_ports.iter().enumerate() {
            let p = format!("optical_ports[{i}]");
            if let Some(first) = ids.check(&port.id, &p) {
                self.push(
                    format!("{p}.id"),
                    format!(
                        "duplicate optical port id \"{}\" (first used by {first})",
                        port.id
                    ),
                );
            }
            if !self.doc.hosts.iter().any(|h| h.id == port.host) {
                self.push(
                    format!("{p}.host"),
                    format!("unknown host \"{}\"", port.host),
                );
            }
            let sp = format!("{p}.module.serial");
            if let Some(first) = serials.check(port.module.serial.as_str(), &sp) {
                self.push(
                    sp,
                    format!(
                        "duplicate module serial \"{}\" (also {first})",
                        port.module.serial
                    ),
                );
            }
            self.optical_port(port, &p);
        }
    }

    fn optical_port(&mut self, port: &OpticalPort, p: &str) {
        self.grid(&port.grid, &format!("{p}.grid"));
        self.require(
            port.lanes >= 1 && port.lanes <= port.grid.channels,
            format!("{p}.lanes"),
            format!(
                "lanes must be between 1 and grid.channels ({}), got {}",
                port.grid.channels, port.lanes
            ),
        );
        self.require_positive(
            port.lane_rate_gbps.0,
            format!("{p}.lane_rate_gbps"),
            "lane_rate_gbps",
        );
        self.require(
            port.coupler_loss_db.is_non_negative(),
            format!("{p}.coupler_loss_db"),
            format!(
                "coupler_loss_db must be a finite loss ≥ 0, got {}",
                port.coupler_loss_db.0
            ),
        );
        let (rx, tx) = (
            port.receiver_sensitivity_dbm.0,
            port.laser.output_power_dbm.0,
        );
        self.require(
            tx.is_finite(),
            format!("{p}.laser.output_power_dbm"),
            "output_power_dbm must be finite",
        );
        // A receiver that needs more power than the laser emits can never close a link.
        self.require(
            rx.is_finite() && (!tx.is_finite() || rx < tx),
            format!("{p}.receiver_sensitivity_dbm"),
            format!("receiver_sensitivity_dbm ({rx}) must be finite and below laser.output_power_dbm ({tx})"),
        );
        self.require_positive(
            port.laser.drift_nm_per_k.0,
            format!("{p}.laser.drift_nm_per_k"),
            "drift_nm_per_k",
        );
        let r = &port.ring;
        let rp = format!("{p}.ring");
        self.require_positive(r.radius_um.0, format!("{rp}.radius_um"), "radius_um");
        self.require_positive(r.loaded_q, format!("{rp}.loaded_q"), "loaded_q");
        self.require(
            r.group_index.is_finite() && r.group_index >= 1.0,
            format!("{rp}.group_index"),
            format!("group_index must be at least 1, got {}", r.group_index),
        );
        self.require_positive(
            r.thermal_drift_nm_per_k.0,
            format!("{rp}.thermal_drift_nm_per_k"),
            "thermal_drift_nm_per_k",
        );
        self.require_positive(
            r.heater_efficiency_mw_per_nm.0,
            format!("{rp}.heater_efficiency_mw_per_nm"),
            "heater_efficiency_mw_per_nm",
        );
    }

    fn grid(&mut self, grid: &Grid, gp: &str) {
        let spacing = grid.spacing_ghz.0;
        let spacing_ok = match grid.kind {
            GridKind::Fixed => FIXED_SPACINGS_GHZ.contains(&spacing),
            GridKind::Flex => {
                positive(spacing) && (spacing / FLEX_SLOT_GRANULARITY_GHZ).fract() == 0.0
            }
        };
        if !spacing_ok {
            let rule = match grid.kind {
                GridKind::Fixed => "an ITU-T G.694.1 fixed-grid spacing (100, 50, 25 or 12.5 GHz)",
                GridKind::Flex => "a flex-grid slot width, a positive multiple of 12.5 GHz",
            };
            self.push(
                format!("{gp}.spacing_ghz"),
                format!("spacing_ghz must be {rule}, got {spacing}"),
            );
        }
        if grid.channels == 0 {
            self.push(
                format!("{gp}.channels"),
                "a grid needs at least one channel",
            );
        } else if spacing_ok {
            let lo = grid.channel_frequency(0).0;
            let hi = grid.channel_frequency(grid.channels - 1).0;
            let (min, max) = ITU_TABLE_GHZ;
            self.require(
                lo >= min && hi <= max,
                format!("{gp}.first_channel"),
                format!(
                    "channels span {:.4}–{:.4} THz, outside the ITU-T G.694.1 table \
                     ({:.4}–{:.4} THz)",
                    lo / 1000.0,
                    hi / 1000.0,
                    min / 1000.0,
                    max / 1000.0
                ),
            );
        }
    }

    fn links(&mut self) {
        let mut ids = FirstSeen::new();
        let mut used_ports = FirstSeen::new();
        for (i, link) in self.doc.links.iter().enumerate() {
            let p = format!("links[{i}]");
            if let Some(first) = ids.check(&link.id, &p) {
                self.push(
                    format!("{p}.id"),
                    format!("duplicate link id \"{}\" (first used by {first})", link.id),
                );
            }
            self.link(link, &p, &mut used_ports);
        }
    }

    fn link(&mut self, link: &'a Link, p: &str, used_ports: &mut FirstSeen<'a>) {
        if link.a == link.b {
            self.push(
                format!("{p}.b"),
                format!("link connects optical port \"{}\" to itself", link.a),
            );
        }
        for (end, port_id) in [("a", &link.a), ("b", &link.b)] {
            let ep = format!("{p}.{end}");
            let Some(port) = self.doc.optical_ports.iter().find(|o| o.id == *port_id) else {
                self.push(ep, format!("unknown optical port \"{port_id}\""));
                continue;
            };
            if end == "b" && link.a == link.b {
                continue;
            }
            // A port is one physical attachment (a fibre or a waveguide); its lanes are
            // wavelengths multiplexed on that one medium.
            if let Some(first) = used_ports.check(port_id, &ep) {
                self.push(
                    ep.clone(),
                    format!("optical port \"{port_id}\" is already connected by {first}"),
                );
            }
            if port.medium != link.medium {
                self.push(
                    ep,
                    format!(
                        "optical port \"{port_id}\" couples into {:?} but the link is {:?}",
                        port.medium, link.medium
                    ),
                );
            }
        }
        self.require_positive(link.length_mm.0, format!("{p}.length_mm"), "length_mm");
        if let Some(loss) = link.loss_db_per_cm {
            self.require(
                loss.is_non_negative(),
                format!("{p}.loss_db_per_cm"),
                format!("loss_db_per_cm must be a finite loss ≥ 0, got {}", loss.0),
            );
        }
    }

    fn ambient_profiles(&mut self) {
        if self.doc.ambient_profiles.is_empty() {
            self.push(
                "ambient_profiles",
                "at least one ambient profile is required",
            );
        }
        let mut names = FirstSeen::new();
        for (i, profile) in self.doc.ambient_profiles.iter().enumerate() {
            let p = format!("ambient_profiles[{i}]");
            if let Some(first) = names.check(&profile.name, &p) {
                self.push(
                    format!("{p}.name"),
                    format!(
                        "duplicate ambient profile name \"{}\" (first used by {first})",
                        profile.name
                    ),
                );
            }
            self.ambient_profile(profile, &p);
        }
    }

    fn ambient_profile(&mut self, profile: &AmbientProfile, p: &str) {
        let t = profile.base_temp_c.0;
        self.require(
            plausible_temperature(t),
            format!("{p}.base_temp_c"),
            format!("base_temp_c must be finite and above absolute zero, got {t}"),
        );
        let swing = profile.swing_c.0;
        self.require(
            swing.is_finite() && swing >= 0.0,
            format!("{p}.swing_c"),
            format!("swing_c must be a finite peak-to-peak swing ≥ 0, got {swing}"),
        );
        self.require_positive(profile.period_s.0, format!("{p}.period_s"), "period_s");
        let mut previous: Option<f64> = None;
        for (k, step) in profile.steps.iter().enumerate() {
            let sp = format!("{p}.steps[{k}]");
            let at = step.at_s.0;
            if !(at.is_finite() && at >= 0.0) {
                self.push(
                    format!("{sp}.at_s"),
                    format!("at_s must be a finite offset ≥ 0 s, got {at}"),
                );
            } else if previous.is_some_and(|prev| at <= prev) {
                self.push(
                    format!("{sp}.at_s"),
                    format!(
                        "steps must be in strictly increasing at_s order, got {at} after {}",
                        previous.unwrap_or_default()
                    ),
                );
            }
            previous = Some(at);
            self.require(
                plausible_temperature(step.temp_c.0),
                format!("{sp}.temp_c"),
                format!(
                    "temp_c must be finite and above absolute zero, got {}",
                    step.temp_c.0
                ),
            );
        }
    }
}

fn describe_peer(peer: &PortPeer) -> String {
    match peer {
        PortPeer::Host(h) => format!("host \"{h}\""),
        PortPeer::Device(d) => format!("CXL device \"{d}\""),
        PortPeer::Switch(s) => format!("switch \"{}\" port {}", s.id, s.port),
    }
}

//! The topology document: what a TOML topology file deserialises into.
//!
//! These types are plain data with public fields, so tools and tests can build or mutate a
//! document freely. Nothing here is trusted until [`super::Topology::from_document`] has
//! validated it; the rest of the system only ever sees a validated [`super::Topology`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{
    CmisText, CxlDeviceId, CxlSwitchId, HostId, LinkId, MemoryDeviceId, OpticalPortId, PciId,
    ProfileName,
};
use super::units::{
    Bytes, Celsius, Dbm, Decibels, DecibelsPerCentimeter, GigabitsPerSecond, GigabytesPerSecond,
    Gigahertz, GigatransfersPerSecond, Micrometers, Millimeters, MilliwattsPerNanometer,
    Nanometers, NanometersPerKelvin, Nanoseconds, Seconds,
};

/// A whole rack as written in a topology file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyDocument {
    /// Simulation settings: seed, start time, speed, active ambient profile.
    pub twin: TwinSettings,
    /// Servers with their local memory.
    #[serde(default)]
    pub hosts: Vec<Host>,
    /// CXL switches joining hosts to pooled memory.
    #[serde(default)]
    pub cxl_switches: Vec<CxlSwitch>,
    /// CXL Type-3 memory devices behind the switches.
    #[serde(default)]
    pub cxl_devices: Vec<CxlDevice>,
    /// Standing fabric paths: fabmand creates each at start unless a path already joins
    /// the same host and device (the paths a twin's hosts need for their pooled memory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cxl_paths: Vec<StandingCxlPath>,
    /// Photonic transceiver ports on the hosts.
    #[serde(default)]
    pub optical_ports: Vec<OpticalPort>,
    /// Point-to-point optical links between ports.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Ambient temperature profiles the twin can run.
    #[serde(default)]
    pub ambient_profiles: Vec<AmbientProfile>,
}

/// The `[twin]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwinSettings {
    /// Seed of every pseudo-random stream in the twin. TOML integers are signed 64-bit, so
    /// the seed must be at most `i64::MAX`.
    pub seed: u64,
    /// Simulated time at which the twin starts (RFC 3339, with an offset).
    #[serde(with = "rfc3339")]
    pub start_time: DateTime<Utc>,
    /// Simulated seconds per real second (1.0 = wall-clock speed).
    pub time_scale: f64,
    /// Name of the ambient profile active at start.
    pub ambient_profile: ProfileName,
}

/// A server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique host id.
    pub id: HostId,
    /// Human-readable name.
    pub name: String,
    /// CPU architecture, as `uname -m` prints it (`x86_64`, `aarch64`).
    pub cpu: String,
    /// Number of CPU sockets.
    pub sockets: u32,
    /// Memory attached to this host, one entry per (NUMA node, tier).
    #[serde(default)]
    pub memory: Vec<MemoryDevice>,
}

/// Memory tier, ordered from fastest to slowest as the placement code ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryTier {
    /// On-package high-bandwidth memory (T0).
    Hbm,
    /// Local DDR DRAM (T1).
    Dram,
    /// CXL-attached memory (T2).
    Cxl,
    /// Persistent memory (T3).
    Pmem,
}

/// One host memory device: a tier's worth of memory on one NUMA node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryDevice {
    /// Unique id (unique across all hosts).
    pub id: MemoryDeviceId,
    /// Memory tier.
    pub tier: MemoryTier,
    /// Capacity.
    pub bytes: Bytes,
    /// Peak sustainable bandwidth (STREAM-like), GB/s.
    pub bandwidth_gbs: GigabytesPerSecond,
    /// Idle load-to-use latency, ns.
    pub latency_ns: Nanoseconds,
    /// Linux NUMA node number the memory appears as.
    pub numa_node: u32,
}

/// A CXL switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CxlSwitch {
    /// Unique switch id.
    pub id: CxlSwitchId,
    /// PCI vendor id, e.g. `"0x1000"`.
    pub vendor_id: PciId,
    /// PCI device id.
    pub device_id: PciId,
    /// Serial number (unique across switches and devices).
    pub serial_number: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Physical ports.
    #[serde(default)]
    pub ports: Vec<SwitchPort>,
}

/// Direction of a switch port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    /// Towards a host root port (USP).
    Upstream,
    /// Towards a device (DSP).
    Downstream,
    /// An inter-switch link to another switch's fabric port (CXL 3.x port-based routing).
    Fabric,
}

/// What a switch port is cabled to. Written as an inline table, `{ host = "h0" }`,
/// `{ device = "cxl-pool-0" }` or `{ switch = { id = "sw1", port = 12 } }`, so the kind of
/// the peer is explicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PortPeer {
    /// A host's CXL root port.
    Host(HostId),
    /// A CXL memory device.
    Device(CxlDeviceId),
    /// Another switch's fabric port (an inter-switch link).
    Switch(SwitchPortRef),
}

/// One port of one switch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPortRef {
    pub id: CxlSwitchId,
    pub port: u8,
}

/// A physical switch port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPort {
    /// Physical port number (the FM API's port bitmap is 256 bits, so a `u8`).
    pub port: u8,
    /// Upstream (to a host), downstream (to a device) or fabric (to another switch).
    pub role: PortRole,
    /// Link width in lanes (1, 2, 4, 8 or 16).
    pub width: u8,
    /// Signalling rate in GT/s (32 for PCIe 5 / CXL 2.0, 64 for PCIe 6 / CXL 3.x).
    pub speed_gts: GigatransfersPerSecond,
    /// The peer this port is cabled to; absent for an empty port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_to: Option<PortPeer>,
}

/// Kind of CXL device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CxlDeviceKind {
    /// Type-3 single-logical device: one host-visible memory device.
    #[serde(rename = "type3-sld")]
    Type3Sld,
    /// Type-3 multi-logical device: partitioned into `logical_devices` LDs that the fabric
    /// manager can bind to different hosts.
    #[serde(rename = "type3-mld")]
    Type3Mld,
}

/// Memory media of a CXL device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    /// Volatile DRAM.
    Dram,
    /// Persistent memory.
    Pmem,
}

/// A CXL Type-3 memory device (the RFC's fabric device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CxlDevice {
    /// Unique device id.
    pub id: CxlDeviceId,
    /// SLD or MLD.
    pub kind: CxlDeviceKind,
    /// Number of logical devices; required for an MLD (2–16), absent or 1 for an SLD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_devices: Option<u8>,
    /// Switch the device hangs off.
    pub switch: CxlSwitchId,
    /// Downstream port of that switch.
    pub port: u8,
    /// PCI vendor id.
    pub vendor_id: PciId,
    /// PCI device id.
    pub device_id: PciId,
    /// Serial number (unique across switches and devices).
    pub serial_number: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Capacity, a multiple of 256 MiB.
    pub capacity_bytes: Bytes,
    /// Device bandwidth, GB/s.
    pub bandwidth_gbs: GigabytesPerSecond,
    /// Idle latency seen by a host through the switch, ns.
    pub latency_ns: Nanoseconds,
    /// Volatile or persistent media.
    pub media: Media,
}

/// A host-to-device fabric path the twin starts with (`[[cxl_paths]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandingCxlPath {
    /// The host (it must have an upstream port on the device's switch).
    pub host: HostId,
    /// The pooled device.
    pub device: CxlDeviceId,
    /// The guaranteed bandwidth, Gb/s: what the host's memory on the device may be
    /// promised (memqosd admits floors up to it).
    pub min_bandwidth_gbps: GigabitsPerSecond,
}

impl CxlDevice {
    /// Number of logical devices the device exposes (1 for an SLD).
    #[must_use]
    pub fn logical_device_count(&self) -> u8 {
        match self.kind {
            CxlDeviceKind::Type3Sld => 1,
            CxlDeviceKind::Type3Mld => self.logical_devices.unwrap_or(1),
        }
    }
}

/// Optical waveguide medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Medium {
    /// Silicon-on-insulator strip waveguide.
    Soi,
    /// Silicon-nitride waveguide.
    Sin,
    /// Single-mode fibre.
    Fiber,
}

impl Medium {
    /// Typical propagation loss, used when a link gives no `loss_db_per_cm`.
    ///
    /// SOI 3 dB/cm and SiN 0.1 dB/cm are the middles of the 2–4 and 0.05–0.2 dB/cm ranges in
    /// reference/photonics.md §2 (photonica.io). Fibre is standard SMF at 0.2 dB/km
    /// (ITU-T G.652 cabled attenuation at 1550 nm) = 2e-6 dB/cm: negligible at rack scale,
    /// where connectors and couplers dominate.
    #[must_use]
    pub fn default_loss_db_per_cm(self) -> DecibelsPerCentimeter {
        match self {
            Self::Soi => DecibelsPerCentimeter(3.0),
            Self::Sin => DecibelsPerCentimeter(0.1),
            Self::Fiber => DecibelsPerCentimeter(2e-6),
        }
    }

    /// Group delay per millimetre, picoseconds: 14 ps/mm in Si, ~7 ps/mm in SiN and
    /// 4.9 ns/m in fibre (reference/photonics.md §2, latency = n_g·L/c).
    #[must_use]
    pub fn group_delay_ps_per_mm(self) -> f64 {
        match self {
            Self::Soi => 14.0,
            Self::Sin => 7.0,
            Self::Fiber => 4.9,
        }
    }
}

/// Whether a grid is the fixed ITU grid or the flexible one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GridKind {
    /// Fixed grid: f = 193.1 THz + n·Δ, Δ ∈ {100, 50, 25, 12.5} GHz.
    #[default]
    Fixed,
    /// Flexible grid: centres at 193.1 THz + n·6.25 GHz, slot width m·12.5 GHz.
    Flex,
}

/// The ITU-T G.694.1 anchor frequency, GHz.
pub const GRID_ANCHOR_GHZ: f64 = 193_100.0;
/// Flex-grid centre-frequency granularity, GHz (ITU-T G.694.1).
pub const FLEX_CENTRE_GRANULARITY_GHZ: f64 = 6.25;
/// Flex-grid slot-width granularity, GHz (ITU-T G.694.1).
pub const FLEX_SLOT_GRANULARITY_GHZ: f64 = 12.5;
/// Fixed-grid spacings allowed by ITU-T G.694.1, GHz.
pub const FIXED_SPACINGS_GHZ: [f64; 4] = [100.0, 50.0, 25.0, 12.5];
/// Speed of light in vacuum, m/s (exact, SI).
const SPEED_OF_LIGHT_M_PER_S: f64 = 299_792_458.0;

/// The DWDM channels a port can use.
///
/// Lanes are stored as grid positions, never as nanometres: the RFC's "1550..1557 nm, 1 nm
/// steps" is off-grid (reference/photonics.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Fixed or flexible grid.
    #[serde(default)]
    pub kind: GridKind,
    /// Channel spacing (fixed grid) or slot width (flex grid), GHz.
    pub spacing_ghz: Gigahertz,
    /// Grid index n of the first channel: fixed, f = 193.1 THz + n·spacing; flex, the first
    /// centre is 193.1 THz + n·6.25 GHz and further channels follow at `spacing_ghz`.
    pub first_channel: i32,
    /// Number of consecutive channels the port can tune to.
    pub channels: u16,
}

impl Grid {
    /// Centre frequency of the `index`-th channel of this port (0-based), GHz.
    #[must_use]
    pub fn channel_frequency(&self, index: u16) -> Gigahertz {
        let first = match self.kind {
            GridKind::Fixed => GRID_ANCHOR_GHZ + f64::from(self.first_channel) * self.spacing_ghz.0,
            GridKind::Flex => {
                GRID_ANCHOR_GHZ + f64::from(self.first_channel) * FLEX_CENTRE_GRANULARITY_GHZ
            }
        };
        Gigahertz(first + f64::from(index) * self.spacing_ghz.0)
    }

    /// Vacuum wavelength of the `index`-th channel, nm (λ = c/f; 193.1 THz = 1552.524 nm).
    #[must_use]
    pub fn channel_wavelength(&self, index: u16) -> Nanometers {
        let f_hz = self.channel_frequency(index).0 * 1e9;
        Nanometers(SPEED_OF_LIGHT_M_PER_S / f_hz * 1e9)
    }
}

/// Line modulation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modulation {
    /// Two-level non-return-to-zero, 1 bit per symbol.
    Nrz,
    /// Four-level pulse-amplitude modulation, 2 bits per symbol.
    Pam4,
}

/// Microring resonator parameters (one ring per lane, all alike).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingParameters {
    /// Ring radius, µm (sets the free spectral range).
    pub radius_um: Micrometers,
    /// Loaded quality factor (sets the linewidth λ/Q).
    pub loaded_q: f64,
    /// Group index of the ring waveguide.
    pub group_index: f64,
    /// Resonance drift with temperature, nm/K.
    pub thermal_drift_nm_per_k: NanometersPerKelvin,
    /// Heater power needed per nm of resonance shift, mW/nm.
    pub heater_efficiency_mw_per_nm: MilliwattsPerNanometer,
}

/// Laser parameters (one laser or comb line per lane, all alike).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaserParameters {
    /// Output power per lane, dBm.
    pub output_power_dbm: Dbm,
    /// Wavelength drift with temperature, nm/K.
    pub drift_nm_per_k: NanometersPerKelvin,
}

/// The identity a CMIS module reports in upper page 00h.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleIdentity {
    /// Vendor name (≤ 16 ASCII characters).
    pub vendor_name: CmisText,
    /// Vendor part number (≤ 16 ASCII characters).
    pub part_number: CmisText,
    /// Vendor serial number (≤ 16 ASCII characters; unique across modules).
    pub serial: CmisText,
}

/// A photonic transceiver port on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpticalPort {
    /// Unique port id.
    pub id: OpticalPortId,
    /// Host the port belongs to.
    pub host: HostId,
    /// Medium the port couples into; a link attached to it must use the same medium.
    pub medium: Medium,
    /// DWDM lanes per port (wavelengths used at once); at most `grid.channels`.
    pub lanes: u16,
    /// Modulation format.
    pub modulation: Modulation,
    /// Line rate per lane, Gb/s.
    pub lane_rate_gbps: GigabitsPerSecond,
    /// Receiver sensitivity at the target pre-FEC BER, dBm.
    pub receiver_sensitivity_dbm: Dbm,
    /// Loss of one coupler (chip to medium), dB; a link pays it at each end.
    pub coupler_loss_db: Decibels,
    /// Channel plan.
    pub grid: Grid,
    /// Microring parameters.
    pub ring: RingParameters,
    /// Laser parameters.
    pub laser: LaserParameters,
    /// CMIS module identity.
    pub module: ModuleIdentity,
}

impl OpticalPort {
    /// Aggregate line rate: lanes × lane rate.
    #[must_use]
    pub fn capacity(&self) -> GigabitsPerSecond {
        GigabitsPerSecond(f64::from(self.lanes) * self.lane_rate_gbps.0)
    }
}

/// A point-to-point optical link between two ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Unique link id.
    pub id: LinkId,
    /// One end.
    pub a: OpticalPortId,
    /// The other end.
    pub b: OpticalPortId,
    /// Medium of the link (must match both ports').
    pub medium: Medium,
    /// Physical length, mm.
    pub length_mm: Millimeters,
    /// Propagation loss override; [`Medium::default_loss_db_per_cm`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_db_per_cm: Option<DecibelsPerCentimeter>,
}

impl Link {
    /// Propagation loss per cm in effect (the override, else the medium's typical value).
    #[must_use]
    pub fn loss_per_cm(&self) -> DecibelsPerCentimeter {
        self.loss_db_per_cm
            .unwrap_or_else(|| self.medium.default_loss_db_per_cm())
    }

    /// Propagation loss over the whole length (couplers excluded).
    #[must_use]
    pub fn propagation_loss(&self) -> Decibels {
        Decibels(self.loss_per_cm().0 * self.length_mm.to_centimeters())
    }

    /// One-way propagation delay.
    #[must_use]
    pub fn propagation_delay(&self) -> Nanoseconds {
        Nanoseconds(self.medium.group_delay_ps_per_mm() * self.length_mm.0 / 1000.0)
    }

    /// True if `port` is one of the two ends.
    #[must_use]
    pub fn touches(&self, port: &str) -> bool {
        self.a == port || self.b == port
    }

    /// The far end seen from `port`, or `None` if `port` is not an end of this link.
    #[must_use]
    pub fn other_end(&self, port: &str) -> Option<&OpticalPortId> {
        if self.a == port {
            Some(&self.b)
        } else if self.b == port {
            Some(&self.a)
        } else {
            None
        }
    }
}

/// An ambient temperature profile.
///
/// Temperature at `t` seconds after twin start: the base (`base_temp_c`, replaced by the
/// `temp_c` of the latest step with `at_s ≤ t`) plus a sinusoid of peak-to-peak `swing_c`
/// and period `period_s`, phase zero at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmbientProfile {
    /// Unique profile name.
    pub name: ProfileName,
    /// What the profile represents.
    pub description: String,
    /// Where its figures come from (a reference, or "assumption" with its bound).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Base temperature, °C.
    pub base_temp_c: Celsius,
    /// Peak-to-peak periodic swing, °C (0 for a constant profile).
    pub swing_c: Celsius,
    /// Period of the swing, s (86 400 for diurnal).
    pub period_s: Seconds,
    /// Step changes of the base temperature, in increasing time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<AmbientStep>,
}

/// A step change in an ambient profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmbientStep {
    /// Offset from twin start, s.
    pub at_s: Seconds,
    /// New base temperature from then on, °C.
    pub temp_c: Celsius,
}

impl AmbientProfile {
    /// Ambient temperature `elapsed_s` seconds after twin start (a pure function: the same
    /// offset always gives the same temperature).
    #[must_use]
    pub fn temperature_at(&self, elapsed_s: f64) -> Celsius {
        let base = self
            .steps
            .iter()
            .take_while(|s| s.at_s.0 <= elapsed_s)
            .last()
            .map_or(self.base_temp_c.0, |s| s.temp_c.0);
        let phase = std::f64::consts::TAU * elapsed_s / self.period_s.0;
        Celsius(base + self.swing_c.0 / 2.0 * phase.sin())
    }
}

/// `start_time` as an RFC 3339 string; a native TOML offset datetime is accepted as well.
mod rfc3339 {
    use std::fmt;

    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_any(Rfc3339Visitor)
    }

    struct Rfc3339Visitor;

    fn parse<E: de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                E::custom(format_args!(
                    "{s:?} is not an RFC 3339 date-time with offset \
                     (e.g. \"2025-06-01T00:00:00Z\"): {e}"
                ))
            })
    }

    impl<'de> Visitor<'de> for Rfc3339Visitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 date-time such as \"2025-06-01T00:00:00Z\"")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            parse(s)
        }

        // toml hands a native datetime over as a one-entry map holding its text form.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let Some(_key) = map.next_key::<String>()? else {
                return Err(de::Error::custom("expected a date-time"));
            };
            let text: String = map.next_value()?;
            parse(&text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(kind: GridKind, spacing: f64, first: i32) -> Grid {
        Grid {
            kind,
            spacing_ghz: Gigahertz(spacing),
            first_channel: first,
            channels: 16,
        }
    }

    #[test]
    fn grid_frequencies_follow_g694_1() {
        let g = grid(GridKind::Fixed, 100.0, 0);
        assert_eq!(g.channel_frequency(0), Gigahertz(193_100.0));
        // 193.1 THz = 1552.524 nm (reference/photonics.md §2).
        assert!((g.channel_wavelength(0).0 - 1552.524).abs() < 1e-3);
        let g = grid(GridKind::Fixed, 50.0, -8);
        assert_eq!(g.channel_frequency(3), Gigahertz(193_100.0 - 400.0 + 150.0));
        // Flex: centres on the 6.25 GHz granularity, channels one slot width apart.
        let g = grid(GridKind::Flex, 37.5, 3);
        assert_eq!(g.channel_frequency(0), Gigahertz(193_118.75));
        assert_eq!(g.channel_frequency(2), Gigahertz(193_193.75));
    }

    #[test]
    fn ambient_temperature_steps_and_swings() {
        let p = AmbientProfile {
            name: ProfileName::new("p").unwrap(),
            description: String::new(),
            source: String::new(),
            base_temp_c: Celsius(24.0),
            swing_c: Celsius(4.0),
            period_s: Seconds(86_400.0),
            steps: vec![
                AmbientStep {
                    at_s: Seconds(3600.0),
                    temp_c: Celsius(30.0),
                },
                AmbientStep {
                    at_s: Seconds(7200.0),
                    temp_c: Celsius(24.0),
                },
            ],
        };
        assert_eq!(p.temperature_at(0.0), Celsius(24.0));
        // A quarter period in, the sinusoid peaks at half the peak-to-peak swing.
        let at_peak = 86_400.0 / 4.0;
        assert!((p.temperature_at(at_peak).0 - 26.0).abs() < 1e-9);
        let during_step = p.temperature_at(3600.0).0;
        let expected = 30.0 + 2.0 * (std::f64::consts::TAU * 3600.0 / 86_400.0).sin();
        assert!((during_step - expected).abs() < 1e-9);
        assert!(p.temperature_at(7200.0).0 < 26.0);
    }

    #[test]
    fn link_loss_and_delay_use_the_medium_unless_overridden() {
        let mut link = Link {
            id: LinkId::new("l").unwrap(),
            a: OpticalPortId::new("a").unwrap(),
            b: OpticalPortId::new("b").unwrap(),
            medium: Medium::Sin,
            length_mm: Millimeters(75.0),
            loss_db_per_cm: None,
        };
        // 75 mm of SiN at 0.1 dB/cm; ~7 ps/mm (reference/photonics.md §2).
        assert!((link.propagation_loss().0 - 0.75).abs() < 1e-12);
        assert!((link.propagation_delay().0 - 0.525).abs() < 1e-12);
        link.loss_db_per_cm = Some(DecibelsPerCentimeter(0.2));
        assert!((link.propagation_loss().0 - 1.5).abs() < 1e-12);
        assert_eq!(link.other_end("a").map(OpticalPortId::as_str), Some("b"));
        assert_eq!(link.other_end("c"), None);
    }
}

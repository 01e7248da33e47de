//! CXL fabric devices and paths (`/v1/fabman`, served by fabmand).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::corridor::QosPriority;
use crate::meta::ResourceMeta;
use crate::problem::FieldViolation;
use crate::units::{Bytes, Gbps, Nanoseconds};
use crate::validate::{Validate, Violations, rule};

/// One x16 CXL 3.x link on PCIe 6.0: 64 GT/s × 16 lanes. A single path
/// cannot carry more.
pub const MAX_PATH_GBPS: f64 = 1024.0;
/// 100 µs: CXL memory paths are sub-microsecond even across several switch
/// levels; larger values are most likely a unit mistake.
pub const MAX_PATH_LATENCY_NS: u64 = 100_000;

/// CXL device type (CXL 3.x §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum CxlDeviceType {
    /// Accelerator with a coherent cache, no host-managed memory.
    #[serde(rename = "Type-1")]
    Type1,
    /// Accelerator with cache and memory.
    #[serde(rename = "Type-2")]
    Type2,
    /// Memory expander.
    #[serde(rename = "Type-3")]
    Type3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Active,
    Degraded,
    Offline,
    Failed,
    /// Present but kept out of allocations because attestation failed.
    Quarantined,
}

/// A device on the fabric, as listed by `GET /v1/fabman/devices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FabricDevice {
    #[schema(example = "cxl-dev-001")]
    pub id: String,
    #[serde(rename = "type")]
    pub device_type: CxlDeviceType,
    /// PCI vendor id as `0x`-prefixed hex.
    #[schema(example = "0x8086")]
    pub vendor_id: String,
    #[schema(example = "0x0b5a")]
    pub device_id: String,
    pub serial_number: String,
    pub firmware_version: String,
    pub capacity_bytes: Bytes,
    pub latency_ns: Nanoseconds,
    /// Gigabits per second, as the field name says: a 64 GB/s CXL Gen5 ×16
    /// device is 512. (The RFC's example shows 64 here, which in Gb/s would
    /// be an 8 GB/s device, too slow for its own 150 GB/s T2 bundle.)
    pub bandwidth_gbps: Gbps,
    /// `active` while the device's memory provider (the twin, or the
    /// kernel's `/sys/bus/cxl` on Linux) lists it, `offline` when it no
    /// longer does.
    pub status: DeviceStatus,
    /// Wall-clock time the provider last listed the device, refreshed at
    /// most once a minute while it stays listed; absent if never seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// Id of the current attestation ticket; `null` when not attested.
    pub attestation_ticket: Option<String>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

/// Routing scheme of a path (CXL 3.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum PathType {
    /// Port-based routing: 12-bit PIDs across a multi-level fabric.
    #[serde(rename = "PBR")]
    Pbr,
    /// Hierarchy-based routing: the classic tree below one root port.
    #[serde(rename = "HBR")]
    Hbr,
    /// Global integrated memory: host-to-host memory access over PBR.
    #[serde(rename = "GIM")]
    Gim,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FabricQos {
    pub priority: QosPriority,
    /// Guaranteed share, Gb/s: at most the path's `bandwidth_gbps` (a larger one is a
    /// 422 with rule `compatible`).
    #[schema(value_type = f64, minimum = 0, maximum = 1024)]
    pub min_bandwidth_gbps: Gbps,
    /// Bound on latency, ns: at least the path's `latency_ns` (a smaller one is a 422
    /// with rule `compatible`).
    #[schema(value_type = u64, minimum = 1, maximum = 100000)]
    pub max_latency_ns: Nanoseconds,
    /// Priority flow control.
    pub pfc: bool,
    /// Explicit congestion notification.
    pub ecn: bool,
}

/// Body of `POST /v1/fabman/paths`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FabricPathRequest {
    /// A fabric endpoint: a host (its root ports) or a device (an unknown one is a 422
    /// with rule `exists`).
    #[schema(example = "cxl-dev-001", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub source_device: String,
    /// A fabric endpoint other than `source_device` (the same one is a 422 with rule
    /// `unique`).
    #[schema(example = "cxl-dev-002", pattern = "^[A-Za-z0-9._:-]{1,63}$")]
    pub target_device: String,
    pub path_type: PathType,
    /// Asked bandwidth, Gb/s (one x16 CXL 3.x link carries at most 1024).
    #[schema(value_type = f64, exclusive_minimum = 0, maximum = 1024)]
    pub bandwidth_gbps: Gbps,
    /// Target latency, ns.
    #[schema(value_type = u64, minimum = 1, maximum = 100000)]
    pub latency_ns: Nanoseconds,
    pub qos: FabricQos,
}

impl Validate for FabricPathRequest {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        v.identifier("/source_device", &self.source_device);
        v.identifier("/target_device", &self.target_device);
        if self.source_device == self.target_device {
            v.add(
                "/target_device",
                rule::UNIQUE,
                "a path joins two different devices",
            );
        }
        let bandwidth_ok = v.above(
            "/bandwidth_gbps",
            self.bandwidth_gbps.get(),
            0.0,
            MAX_PATH_GBPS,
        );
        let latency_ok = v.above("/latency_ns", self.latency_ns.get(), 0, MAX_PATH_LATENCY_NS);
        // Compare against the path's own figures only when those are sane,
        // so that one mistake is not reported three times.
        let max_share = if bandwidth_ok {
            self.bandwidth_gbps.get()
        } else {
            MAX_PATH_GBPS
        };
        let share = self.qos.min_bandwidth_gbps.get();
        if v.range("/qos/min_bandwidth_gbps", share, 0.0, MAX_PATH_GBPS) && share > max_share {
            v.add(
                "/qos/min_bandwidth_gbps",
                rule::COMPATIBLE,
                format!(
                    "the guaranteed share {share} exceeds the path's bandwidth_gbps {max_share}"
                ),
            );
        }
        let bound = self.qos.max_latency_ns.get();
        let min_bound = if latency_ok { self.latency_ns.get() } else { 1 };
        if v.range("/qos/max_latency_ns", bound, 1, MAX_PATH_LATENCY_NS) && bound < min_bound {
            v.add(
                "/qos/max_latency_ns",
                rule::COMPATIBLE,
                format!("the latency bound {bound} is below the path's latency_ns {min_bound}"),
            );
        }
        v.into_result()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathStatus {
    Pending,
    /// Routing tables being written to the switches.
    Programming,
    Active,
    Degraded,
    /// A `DELETE` is checking that no memory bundle lives on what the path gives its
    /// host: memqosd places nothing new through it meanwhile. It goes back to its earlier
    /// status if bundles are found (the `DELETE` answers 409), or is released.
    Releasing,
    Released,
    Failed,
}

/// One switch traversed by a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FabricHop {
    pub switch_id: String,
    pub ingress_port: u16,
    pub egress_port: u16,
}

/// A vPPB of a host's virtual CXL switch bound to a device port (Bind vPPB, 5201h).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VppbBinding {
    pub switch_id: String,
    /// The virtual CXL switch of the host's upstream port.
    pub vcs_id: u8,
    pub vppb_id: u8,
    /// The physical downstream port bound.
    pub port: u16,
    /// The logical device bound on a multi-logical device; absent for a whole port (an SLD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ld_id: Option<u16>,
}

/// The memory a path's logical device holds (Get LD Allocations, 5401h, read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LdGrant {
    pub device: String,
    pub ld_id: u16,
    pub capacity_bytes: Bytes,
}

/// The bandwidth share of one logical device (Set QoS Allocated BW, 5407h, and Set QoS BW
/// Limit, 5409h), as read back from the device. Fractions are of the device's bandwidth,
/// in 256ths, as the FM API carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QosShare {
    pub device: String,
    pub ld_id: u16,
    #[schema(maximum = 255)]
    pub allocated_bw_fraction: u8,
    #[schema(maximum = 255)]
    pub bw_limit_fraction: u8,
    /// `allocated_bw_fraction` of the device's bandwidth.
    pub allocated_gbps: Gbps,
    /// `bw_limit_fraction` of the device's bandwidth.
    pub limit_gbps: Gbps,
}

/// What creating the path wrote into the fabric, read back from the switches and devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PathProgramming {
    #[serde(default)]
    pub bindings: Vec<VppbBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ld_allocation: Option<LdGrant>,
    #[serde(default)]
    pub qos_shares: Vec<QosShare>,
    /// Egress port congestion control enabled on the target (Set QoS Control, 5404h): how
    /// a CXL device signals congestion (its DevLoad backpressure), which `qos.ecn` asks for.
    pub congestion_control: bool,
    /// Where the path's bandwidth guarantee is enforced: `device` (QoS shares on a
    /// multi-logical device) or `admission` (only the port ledger: an SLD or a host target
    /// has no FM-owned QoS).
    pub enforcement: QosEnforcement,
    /// What is modelled rather than spoken on the wire (CXL 3.x PBR routing tables and GIM
    /// windows: no open implementation of those commands exists).
    #[serde(default)]
    pub modelled: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QosEnforcement {
    /// The target device enforces the share (QoS Allocated BW and BW Limit).
    Device,
    /// Only admission holds the guarantee: no component on the path takes a QoS share.
    Admission,
}

/// A fabric path as the server returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FabricPath {
    #[schema(example = "path-41d0")]
    pub id: String,
    pub source_device: String,
    pub target_device: String,
    pub path_type: PathType,
    pub bandwidth_gbps: Gbps,
    pub latency_ns: Nanoseconds,
    pub qos: FabricQos,
    pub status: PathStatus,
    #[serde(default)]
    pub hops: Vec<FabricHop>,
    /// The route's idle latency as modelled from the topology (the target's latency through
    /// one switch, plus 100 ns per further switch); absent until routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_latency_ns: Option<Nanoseconds>,
    /// What was programmed, read back; absent until programmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programming: Option<PathProgramming>,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub meta: ResourceMeta,
}

impl FabricPath {
    pub fn request(&self) -> FabricPathRequest {
        FabricPathRequest {
            source_device: self.source_device.clone(),
            target_device: self.target_device.clone(),
            path_type: self.path_type,
            bandwidth_gbps: self.bandwidth_gbps,
            latency_ns: self.latency_ns,
            qos: self.qos.clone(),
        }
    }

    /// A path just accepted from `request`, not yet routed.
    pub fn pending(id: impl Into<String>, request: FabricPathRequest, now: DateTime<Utc>) -> Self {
        let FabricPathRequest {
            source_device,
            target_device,
            path_type,
            bandwidth_gbps,
            latency_ns,
            qos,
        } = request;
        Self {
            id: id.into(),
            source_device,
            target_device,
            path_type,
            bandwidth_gbps,
            latency_ns,
            qos,
            status: PathStatus::Pending,
            hops: Vec::new(),
            predicted_latency_ns: None,
            programming: None,
            created_at: now,
            meta: ResourceMeta::new(now),
        }
    }
}

/// What is attached to a switch port in fabmand's routing graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortAttachment {
    /// A host's root port on an upstream switch port (configuration: FM API does not say
    /// who is behind an upstream port).
    Host,
    /// A Type-3 device on a downstream port.
    Device,
    /// Another switch's fabric port (an inter-switch link); `attached_to` is
    /// `{switch}/{port}`.
    Switch,
}

/// Whether a port's link (and device) answered the last FM API discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortLink {
    /// Link in L0 and, on a device port, the device answering.
    Up,
    /// Link down, device gone, or the switch did not answer.
    Down,
    /// Not discovered yet, or this corridord manages no switches.
    Unknown,
}

/// One switch port fabmand routes over, as it admits bandwidth on it
/// (`GET /v1/fabman/ports`; empty ports carry nothing and are not listed): its
/// capacity, the share guarantees may take, what paths hold and what is left, all read at
/// one store revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FabricPort {
    #[schema(example = "sw0")]
    pub switch_id: String,
    #[schema(example = 9)]
    pub port: u16,
    pub attachment: PortAttachment,
    /// The host or device on the port.
    #[schema(example = "cxl-dev-002")]
    pub attached_to: String,
    /// Raw signalling per direction (width × GT/s), no more than the device on it delivers.
    pub capacity_gbps: Gbps,
    /// What guarantees may take: 75 % of the capacity (above it, latency turns exponential).
    pub admissible_gbps: Gbps,
    /// The sum of the guarantees of the paths crossing the port.
    pub guaranteed_gbps: Gbps,
    /// `admissible_gbps − guaranteed_gbps`: what the next path can be granted here.
    pub free_gbps: Gbps,
    /// The paths crossing the port, by id.
    #[serde(default)]
    pub paths: Vec<String>,
    pub link: PortLink,
    /// When FM API discovery last looked at the port; absent before the first scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
}

/// The largest request payload a raw FM API query may carry: the query commands take at
/// most a few bytes (a port list of up to 256 ids is the longest).
pub const MAX_RAW_PAYLOAD_BYTES: usize = 512;

/// Body of `POST /v1/fabman/switches/{switch_id}/commands`: one FM API query, sent to the
/// switch (or, with `tunnel_port`, to the device behind one of its ports) as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FmApiCommand {
    /// The opcode as the CXL specification writes it: four hex digits and `h`. Only
    /// queries are sent: Identify (0001h), Background Operation Status (0002h), Get FW
    /// Info (0200h), Identify Switch Device (5100h), Get Physical Port State (5101h), Get
    /// VCS Info (5200h), Get LD Info (5400h), Get LD Allocations (5401h), Get QoS Control
    /// (5403h), Get QoS Status (5405h), Get QoS Allocated BW (5406h), Get QoS BW Limit
    /// (5408h), Get Multi-Headed Info (5500h). Commands that change the fabric are
    /// fabmand's own (paths bind vPPBs and set QoS) and are refused.
    #[schema(
        example = "5101h",
        pattern = "^(0001|0002|0200|5100|5101|5200|5400|5401|5403|5405|5406|5408|5500)h$"
    )]
    pub opcode: String,
    /// The request payload as hex, as the command's layout has it (empty for commands
    /// without one; 5101h takes a port count and the port ids: `020809`). A payload that
    /// is not the command's layout is a 422 with rule `compatible`.
    #[serde(default)]
    #[schema(example = "020809", pattern = "^([0-9A-Fa-f]{2}){0,512}$")]
    pub payload_hex: String,
    /// Tunnel the command (Tunnel Management, 5300h) to the component behind this switch
    /// port, e.g. an MLD's FM-owned LD for the 54xxh commands.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::units::integral_option"
    )]
    #[schema(example = 9, minimum = 0, maximum = 255)]
    pub tunnel_port: Option<u8>,
}

impl FmApiCommand {
    /// The opcode's value, when `opcode` is well-formed.
    pub fn opcode_value(&self) -> Option<u16> {
        let digits = self.opcode.strip_suffix('h')?;
        (digits.len() == 4)
            .then(|| u16::from_str_radix(digits, 16).ok())
            .flatten()
    }
}

impl Validate for FmApiCommand {
    fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if self.opcode_value().is_none() {
            v.add(
                "/opcode",
                rule::FORMAT,
                "must be four hexadecimal digits and `h`, as in 5101h",
            );
        }
        v.hex("/payload_hex", &self.payload_hex, 0, MAX_RAW_PAYLOAD_BYTES);
        v.into_result()
    }
}

/// What a switch answered to an [`FmApiCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FmApiReply {
    pub switch_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_port: Option<u8>,
    #[schema(example = "5101h")]
    pub opcode: String,
    /// The command's name in the CXL specification.
    #[schema(example = "Get Physical Port State")]
    pub command: String,
    /// The CCI return code (0 = Success; 3 = Unsupported; CXL r3.1 Table 8-34).
    pub return_code: u16,
    /// The response payload as hex (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hex: Option<String>,
    /// The decoded response as fabmand's codec reads it (on success): a text rendering of
    /// the fields, for people, not a stable format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
}

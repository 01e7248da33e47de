//! Physical switch (set 51h), virtual switch (set 52h) and MLD port (set 53h, tunnelling)
//! commands, laid out as CXL r3.1 §7.6.7.1–7.6.7.3 and libcxlmi's `api-types.h`.

use super::error::FmApiError;
use super::wire::{Reader, count_u8, invalid};

/// Identify Switch Device response, 0x49 bytes (r3.1 §7.6.7.1.1; QEMU asserts the size).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifySwitchDevice {
    /// The port the request came in on.
    pub ingress_port_id: u8,
    /// Number of physical ports.
    pub num_physical_ports: u8,
    /// Number of virtual CXL switches.
    pub num_vcs: u8,
    /// Bit n set: physical port n is active.
    pub active_port_bitmask: [u8; 32],
    /// Bit n set: VCS n is active.
    pub active_vcs_bitmask: [u8; 32],
    /// vPPBs in all VCSs.
    pub total_vppbs: u16,
    /// vPPBs bound to a port.
    pub bound_vppbs: u16,
    /// HDM decoders per upstream port.
    pub hdm_decoders_per_usp: u8,
}

impl IdentifySwitchDevice {
    /// Encoded length.
    pub const LEN: usize = 0x49;

    /// The active physical ports, ascending.
    pub fn active_ports(&self) -> impl Iterator<Item = u8> + '_ {
        bits(&self.active_port_bitmask)
    }

    /// The active VCS ids, ascending.
    pub fn active_vcs(&self) -> impl Iterator<Item = u8> + '_ {
        bits(&self.active_vcs_bitmask)
    }

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.ingress_port_id,
            0,
            self.num_physical_ports,
            self.num_vcs,
        ]);
        out.extend_from_slice(&self.active_port_bitmask);
        out.extend_from_slice(&self.active_vcs_bitmask);
        out.extend_from_slice(&self.total_vppbs.to_le_bytes());
        out.extend_from_slice(&self.bound_vppbs.to_le_bytes());
        out.push(self.hdm_decoders_per_usp);
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Identify Switch Device response");
        let ingress_port_id = r.u8()?;
        r.skip(1)?;
        let v = IdentifySwitchDevice {
            ingress_port_id,
            num_physical_ports: r.u8()?,
            num_vcs: r.u8()?,
            active_port_bitmask: r.array()?,
            active_vcs_bitmask: r.array()?,
            total_vppbs: r.u16()?,
            bound_vppbs: r.u16()?,
            hdm_decoders_per_usp: r.u8()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// Sets bit `n` of a 256-bit little-endian bitmap.
pub fn set_bit(bitmap: &mut [u8; 32], n: u8) {
    bitmap[usize::from(n / 8)] |= 1 << (n % 8);
}

fn bits(bitmap: &[u8; 32]) -> impl Iterator<Item = u8> + '_ {
    (0..=255u8).filter(|&n| bitmap[usize::from(n / 8)] & (1 << (n % 8)) != 0)
}

/// Get Physical Port State request: the ports asked about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetPhysicalPortState {
    /// Port ids.
    pub ports: Vec<u8>,
}

impl GetPhysicalPortState {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.push(count_u8(
            "Get Physical Port State request",
            self.ports.len(),
        )?);
        out.extend_from_slice(&self.ports);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get Physical Port State request");
        let n = r.u8()?;
        let ports = r.entries(n.into(), 1)?.to_vec();
        r.finish()?;
        Ok(GetPhysicalPortState { ports })
    }
}

/// Current port configuration state (r3.1 §7.6.7.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortConfigState {
    /// 0: disabled.
    Disabled,
    /// 1: bind in progress.
    BindInProgress,
    /// 2: unbind in progress.
    UnbindInProgress,
    /// 3: downstream port.
    Dsp,
    /// 4: upstream port.
    Usp,
    /// 5: fabric port.
    FabricPort,
    /// 0Fh: the port id is invalid.
    InvalidPortId,
    /// A reserved value, kept for reporting.
    Other(u8),
}

impl PortConfigState {
    /// The wire byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            Self::Disabled => 0,
            Self::BindInProgress => 1,
            Self::UnbindInProgress => 2,
            Self::Dsp => 3,
            Self::Usp => 4,
            Self::FabricPort => 5,
            Self::InvalidPortId => 0x0f,
            Self::Other(b) => b,
        }
    }

    /// From the wire byte (bits 3:0; 7:4 are reserved).
    #[must_use]
    pub fn from_byte(b: u8) -> Self {
        match b & 0x0f {
            0 => Self::Disabled,
            1 => Self::BindInProgress,
            2 => Self::UnbindInProgress,
            3 => Self::Dsp,
            4 => Self::Usp,
            5 => Self::FabricPort,
            0x0f => Self::InvalidPortId,
            other => Self::Other(other),
        }
    }
}

/// Connected device type (r3.1 §7.6.7.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectedDeviceType {
    /// 0: nothing detected.
    None,
    /// 1: a PCIe device.
    Pcie,
    /// 2: a CXL Type-1 device.
    Type1,
    /// 3: a CXL Type-2 device (or HBR switch).
    Type2,
    /// 4: a CXL Type-3 single-logical device.
    Type3Sld,
    /// 5: a CXL Type-3 multi-logical device.
    Type3Mld,
    /// Another value, kept for reporting.
    Other(u8),
}

impl ConnectedDeviceType {
    /// The wire byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Pcie => 1,
            Self::Type1 => 2,
            Self::Type2 => 3,
            Self::Type3Sld => 4,
            Self::Type3Mld => 5,
            Self::Other(b) => b,
        }
    }

    /// From the wire byte.
    #[must_use]
    pub fn from_byte(b: u8) -> Self {
        match b {
            0 => Self::None,
            1 => Self::Pcie,
            2 => Self::Type1,
            3 => Self::Type2,
            4 => Self::Type3Sld,
            5 => Self::Type3Mld,
            other => Self::Other(other),
        }
    }
}

/// LTSSM state codes (r3.1 §7.6.7.1.2).
pub mod ltssm {
    /// Detect: no link partner.
    pub const DETECT: u8 = 0x00;
    /// L0: the link is up.
    pub const L0: u8 = 0x04;
    /// Disabled.
    pub const DISABLED: u8 = 0x08;
}

/// Link state flags (r3.1 §7.6.7.1.2).
pub mod link_flags {
    /// Bit 0: lane reversal.
    pub const LANE_REVERSAL: u16 = 1 << 0;
    /// Bit 1: PERST# asserted on the port.
    pub const PERST_ASSERTED: u16 = 1 << 1;
    /// Bit 2: PRSNT# — a device is present.
    pub const PRESENT: u16 = 1 << 2;
    /// Bit 3: power control state (power off).
    pub const POWER_OFF: u16 = 1 << 3;
}

/// One 16-byte port state information block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortInfo {
    /// Physical port id.
    pub port_id: u8,
    /// Configuration state.
    pub config_state: PortConfigState,
    /// Connected device's CXL version / mode byte.
    pub connected_cxl_version: u8,
    /// What is connected.
    pub connected_device_type: ConnectedDeviceType,
    /// Bitmask of CXL versions the port supports.
    pub supported_cxl_versions: u8,
    /// Maximum link width, lanes.
    pub max_link_width: u8,
    /// Negotiated link width, lanes (0 when the link is down).
    pub negotiated_link_width: u8,
    /// Bit n: 2.5 · 2^n GT/s supported (bit 4 = 32 GT/s, bit 5 = 64 GT/s).
    pub supported_speeds: u8,
    /// Maximum link speed, PCIe generation (5 = 32 GT/s, 6 = 64 GT/s).
    pub max_link_speed: u8,
    /// Current link speed, PCIe generation (0 when down).
    pub current_link_speed: u8,
    /// LTSSM state ([`ltssm`]).
    pub ltssm_state: u8,
    /// First negotiated lane number.
    pub first_lane: u8,
    /// Link state flags ([`link_flags`]).
    pub link_state: u16,
    /// LDs the port supports.
    pub supported_ld_count: u8,
}

impl PortInfo {
    /// Encoded length.
    pub const LEN: usize = 16;

    /// Whether the link is trained (L0).
    #[must_use]
    pub fn link_up(&self) -> bool {
        self.ltssm_state == ltssm::L0
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.port_id,
            self.config_state.byte(),
            self.connected_cxl_version,
            0,
            self.connected_device_type.byte(),
            self.supported_cxl_versions,
            self.max_link_width,
            self.negotiated_link_width,
            self.supported_speeds,
            self.max_link_speed,
            self.current_link_speed,
            self.ltssm_state,
            self.first_lane,
        ]);
        out.extend_from_slice(&self.link_state.to_le_bytes());
        out.push(self.supported_ld_count);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, FmApiError> {
        let port_id = r.u8()?;
        let config_state = PortConfigState::from_byte(r.u8()?);
        let connected_cxl_version = r.u8()?;
        r.skip(1)?;
        Ok(PortInfo {
            port_id,
            config_state,
            connected_cxl_version,
            connected_device_type: ConnectedDeviceType::from_byte(r.u8()?),
            supported_cxl_versions: r.u8()?,
            max_link_width: r.u8()?,
            negotiated_link_width: r.u8()?,
            supported_speeds: r.u8()?,
            max_link_speed: r.u8()?,
            current_link_speed: r.u8()?,
            ltssm_state: r.u8()?,
            first_lane: r.u8()?,
            link_state: r.u16()?,
            supported_ld_count: r.u8()?,
        })
    }
}

/// Get Physical Port State response: a 4-byte header and one block per port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhysicalPortState {
    /// One block per port asked about.
    pub ports: Vec<PortInfo>,
}

impl PhysicalPortState {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.extend_from_slice(&[
            count_u8("Get Physical Port State response", self.ports.len())?,
            0,
            0,
            0,
        ]);
        for p in &self.ports {
            p.encode(out);
        }
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get Physical Port State response");
        let n = usize::from(r.u8()?);
        r.skip(3)?;
        let mut list = Reader::new(r.entries(n, PortInfo::LEN)?, "port state block");
        let ports = (0..n)
            .map(|_| PortInfo::decode(&mut list))
            .collect::<Result<_, _>>()?;
        r.finish()?;
        Ok(PhysicalPortState { ports })
    }
}

/// Physical Port Control operation (r3.1 §7.6.7.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortOperation {
    /// 0: assert PERST#.
    AssertPerst,
    /// 1: deassert PERST#.
    DeassertPerst,
    /// 2: reset the PPB.
    ResetPpb,
}

/// Physical Port Control request, 2 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhysicalPortControl {
    /// PPB (physical port) id.
    pub ppb_id: u8,
    /// What to do.
    pub operation: PortOperation,
}

impl PhysicalPortControl {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let op = match self.operation {
            PortOperation::AssertPerst => 0,
            PortOperation::DeassertPerst => 1,
            PortOperation::ResetPpb => 2,
        };
        out.extend_from_slice(&[self.ppb_id, op]);
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        const WHAT: &str = "Physical Port Control request";
        let mut r = Reader::new(p, WHAT);
        let ppb_id = r.u8()?;
        let operation = match r.u8()? {
            0 => PortOperation::AssertPerst,
            1 => PortOperation::DeassertPerst,
            2 => PortOperation::ResetPpb,
            other => return Err(invalid(WHAT, "port opcode", other.into())),
        };
        r.finish()?;
        Ok(PhysicalPortControl { ppb_id, operation })
    }
}

/// Get VCS Info request (r3.1 §7.6.7.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetVcsInfo {
    /// First vPPB to report in each VCS.
    pub start_vppb: u8,
    /// At most this many vPPBs per VCS.
    pub vppb_list_limit: u8,
    /// The VCSs asked about.
    pub vcs_ids: Vec<u8>,
}

impl GetVcsInfo {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.extend_from_slice(&[
            self.start_vppb,
            self.vppb_list_limit,
            count_u8("Get VCS Info request", self.vcs_ids.len())?,
        ]);
        out.extend_from_slice(&self.vcs_ids);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get VCS Info request");
        let start_vppb = r.u8()?;
        let vppb_list_limit = r.u8()?;
        let n = r.u8()?;
        let vcs_ids = r.entries(n.into(), 1)?.to_vec();
        r.finish()?;
        Ok(GetVcsInfo {
            start_vppb,
            vppb_list_limit,
            vcs_ids,
        })
    }

    /// How many vPPB entries a VCS with `num_vppbs` vPPBs carries in the answer to this
    /// request: the blocks have no length field of their own, so the response can only be
    /// parsed knowing the request's window.
    #[must_use]
    pub fn entries_for(&self, num_vppbs: u8) -> usize {
        usize::from(num_vppbs.saturating_sub(self.start_vppb)).min(self.vppb_list_limit.into())
    }
}

/// vPPB binding status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingStatus {
    /// 0: not bound.
    Unbound,
    /// 1: bind or unbind in progress.
    InProgress,
    /// 2: bound to a physical port (an SLD or the whole port).
    BoundPort,
    /// 3: bound to one LD of an MLD port.
    BoundLd,
    /// 4: bound to a PID (PBR fabrics).
    BoundPid,
    /// Another value, kept for reporting.
    Other(u8),
}

impl BindingStatus {
    fn byte(self) -> u8 {
        match self {
            Self::Unbound => 0,
            Self::InProgress => 1,
            Self::BoundPort => 2,
            Self::BoundLd => 3,
            Self::BoundPid => 4,
            Self::Other(b) => b,
        }
    }

    fn from_byte(b: u8) -> Self {
        match b {
            0 => Self::Unbound,
            1 => Self::InProgress,
            2 => Self::BoundPort,
            3 => Self::BoundLd,
            4 => Self::BoundPid,
            other => Self::Other(other),
        }
    }
}

/// One vPPB of a VCS, 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VppbInfo {
    /// Binding status.
    pub status: BindingStatus,
    /// Physical port it is bound to.
    pub port_id: u8,
    /// LD it is bound to (0xFF: the whole port).
    pub ld_id: u8,
}

/// One VCS information block: 4 bytes and one [`VppbInfo`] per reported vPPB.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VcsInfoBlock {
    /// VCS id.
    pub vcs_id: u8,
    /// 0 disabled, 1 enabled, 0xFF invalid VCS id.
    pub state: u8,
    /// Upstream port of the VCS.
    pub usp_id: u8,
    /// vPPBs in the VCS (all of them, not only those reported).
    pub num_vppbs: u8,
    /// The reported window of vPPBs.
    pub vppbs: Vec<VppbInfo>,
}

/// Get VCS Info response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VcsInfo {
    /// One block per VCS asked about.
    pub blocks: Vec<VcsInfoBlock>,
}

impl VcsInfo {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.extend_from_slice(&[
            count_u8("Get VCS Info response", self.blocks.len())?,
            0,
            0,
            0,
        ]);
        for b in &self.blocks {
            out.extend_from_slice(&[b.vcs_id, b.state, b.usp_id, b.num_vppbs]);
            for v in &b.vppbs {
                out.extend_from_slice(&[v.status.byte(), v.port_id, v.ld_id, 0]);
            }
        }
        Ok(())
    }

    /// Decodes the payload answering `request`.
    pub fn decode(p: &[u8], request: &GetVcsInfo) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get VCS Info response");
        let n = usize::from(r.u8()?);
        r.skip(3)?;
        // Each block is at least 4 bytes: a count the payload cannot hold is refused
        // before anything is allocated.
        if n.saturating_mul(4) > p.len() {
            return Err(FmApiError::Truncated {
                what: "Get VCS Info response",
                len: p.len(),
                need: 4 + n * 4,
            });
        }
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let [vcs_id, state, usp_id, num_vppbs] = r.array()?;
            let count = request.entries_for(num_vppbs);
            let mut list = Reader::new(r.entries(count, 4)?, "vPPB information");
            let vppbs = (0..count)
                .map(|_| {
                    let [status, port_id, ld_id, _] = list.array()?;
                    Ok(VppbInfo {
                        status: BindingStatus::from_byte(status),
                        port_id,
                        ld_id,
                    })
                })
                .collect::<Result<_, FmApiError>>()?;
            blocks.push(VcsInfoBlock {
                vcs_id,
                state,
                usp_id,
                num_vppbs,
                vppbs,
            });
        }
        r.finish()?;
        Ok(VcsInfo { blocks })
    }
}

/// Bind vPPB request, 6 bytes (r3.1 §7.6.7.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BindVppb {
    /// VCS id.
    pub vcs_id: u8,
    /// vPPB within the VCS.
    pub vppb_id: u8,
    /// Physical port to bind.
    pub port_id: u8,
    /// LD of an MLD port; 0xFFFF binds the whole port (an SLD).
    pub ld_id: u16,
}

impl BindVppb {
    /// `ld_id` that binds a whole port.
    pub const WHOLE_PORT: u16 = 0xffff;

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.vcs_id, self.vppb_id, self.port_id, 0]);
        out.extend_from_slice(&self.ld_id.to_le_bytes());
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Bind vPPB request");
        let [vcs_id, vppb_id, port_id, _] = r.array()?;
        let ld_id = r.u16()?;
        r.finish()?;
        Ok(BindVppb {
            vcs_id,
            vppb_id,
            port_id,
            ld_id,
        })
    }
}

/// Unbind vPPB request, 3 bytes (r3.1 §7.6.7.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnbindVppb {
    /// VCS id.
    pub vcs_id: u8,
    /// vPPB within the VCS.
    pub vppb_id: u8,
    /// Bits 3:0: 0 wait for the port link down, 1 simulate managed hot-remove, 2 surprise
    /// hot-remove.
    pub option: u8,
}

impl UnbindVppb {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.vcs_id, self.vppb_id, self.option]);
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        const WHAT: &str = "Unbind vPPB request";
        let mut r = Reader::new(p, WHAT);
        let [vcs_id, vppb_id, option] = r.array()?;
        r.finish()?;
        if option & 0x0f > 2 {
            return Err(invalid(WHAT, "unbind option", option.into()));
        }
        Ok(UnbindVppb {
            vcs_id,
            vppb_id,
            option,
        })
    }
}

/// Tunnel Management Command target (r3.1 §7.6.7.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelTarget {
    /// 0: the component on a port (id = port) or an LD (id = LD).
    PortOrLd(u8),
    /// 1: the LD pool CCI of an MLD.
    LdPool,
}

/// Tunnel Management Command request: a whole CCI message for the component behind a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TunnelRequest {
    /// Where the inner message goes.
    pub target: TunnelTarget,
    /// The inner CCI message (header and payload).
    pub message: Vec<u8>,
}

impl TunnelRequest {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        let (id, kind) = match self.target {
            TunnelTarget::PortOrLd(id) => (id, 0),
            TunnelTarget::LdPool => (0, 1),
        };
        let len = u16::try_from(self.message.len()).map_err(|_| FmApiError::Oversized {
            what: "tunnelled message",
            len: self.message.len(),
            max: u16::MAX.into(),
        })?;
        out.extend_from_slice(&[id, kind]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.message);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        const WHAT: &str = "Tunnel Management request";
        let mut r = Reader::new(p, WHAT);
        let id = r.u8()?;
        let target = match r.u8()? {
            0 => TunnelTarget::PortOrLd(id),
            1 => TunnelTarget::LdPool,
            other => return Err(invalid(WHAT, "target type", other.into())),
        };
        let len = r.u16()?;
        let message = r.take(len.into())?.to_vec();
        r.finish()?;
        Ok(TunnelRequest { target, message })
    }
}

/// Tunnel Management Command response: the inner component's whole response message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TunnelResponse {
    /// The inner CCI response message (header and payload).
    pub message: Vec<u8>,
}

impl TunnelResponse {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        let len = u16::try_from(self.message.len()).map_err(|_| FmApiError::Oversized {
            what: "tunnelled response",
            len: self.message.len(),
            max: u16::MAX.into(),
        })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.message);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Tunnel Management response");
        let len = r.u16()?;
        r.skip(2)?;
        let message = r.take(len.into())?.to_vec();
        r.finish()?;
        Ok(TunnelResponse { message })
    }
}

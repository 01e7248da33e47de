//! Switch and multi-logical-device twins: small servers answering FM API over the MCTP/TCP
//! framing, built from the twin topology.
//!
//! One [`SwitchTwin`] per topology switch listens on 127.0.0.1 (a free port) and answers
//! the switch commands (Identify, Get FW Info, sets 51h and 52h) from its state: ports
//! (role, width, speed, link), one virtual CXL switch per host-facing upstream port with
//! one vPPB per downstream port (unbound at start: the topology states no bindings), and
//! the devices cabled to its downstream ports. The devices answer through Tunnel
//! Management (5300h) — the way a fabric manager reaches an MLD's FM-owned LD behind a
//! switch — with Identify, Get FW Info and, for MLDs, set 54h: LD info, LD allocations
//! (the capacity split evenly over the LDs at start, 256 MiB granules), QoS control (the
//! spec's defaults), allocated bandwidth (an even share per LD) and bandwidth limits (none:
//! 255/256). An SLD has no FM-owned LD, so it refuses set 54h with Unsupported; a
//! single-headed device refuses Get MHD Info the same way.
//!
//! What the topology holds as text the wire holds as numbers: PCI ids are the topology's,
//! serial numbers are [`wire_serial`] of the topology's serial string, firmware revisions
//! are the topology's string cut to 16 bytes. Commands complete at once (no background
//! operations). Faults go through [`FabricFaults`]: a device unplugged or plugged (its
//! presence, link and vPPB bindings follow), a port's link taken down or up.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use corridor_protocols::fmapi::header::decode_message;
use corridor_protocols::fmapi::mctp::{MESSAGE_TYPE_FM_API, Reassembler, Route, trim_cci};
use corridor_protocols::fmapi::message::encode_status;
use corridor_protocols::fmapi::switch::{link_flags, ltssm, set_bit};
use corridor_protocols::fmapi::{
    BackgroundOperationStatus, BindVppb, BindingStatus, Category, CciHeader, ComponentType,
    ConnectedDeviceType, FmApiError, FwInfo, IdentifyResponse, IdentifySwitchDevice, LdAllocation,
    LdAllocations, LdInfo, PhysicalPortState, PortConfigState, PortInfo, PortOperation, QosControl,
    QosFractions, QosStatus, Request, Response, ReturnCode, TunnelResponse, TunnelTarget, VcsInfo,
    VcsInfoBlock, VppbInfo,
};

use super::tcp::{ReadError, read_message, write_message};
use crate::topology::{CxlDevice, CxlDeviceKind, CxlSwitch, PortPeer, PortRole, Topology};

/// The 64-bit serial a twin component reports in Identify for the topology's serial string:
/// FNV-1a over its bytes (the wire carries the PCIe Device Serial Number, a u64; the
/// topology's serials are text). An inventory maps discovered serials back the same way.
#[must_use]
pub fn wire_serial(serial: &str) -> u64 {
    fnv1a_64(serial.bytes())
}

/// The 64-bit FNV-1a hash of `bytes`: fixed by its definition rather than by
/// a crate's version, so what is derived from it (serials, ids) stays the
/// same across upgrades.
#[must_use]
pub fn fnv1a_64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Log2 of the largest message a twin accepts: 8 KiB, the emulator's message payload size.
const MAX_MESSAGE_LOG2: u8 = 13;
/// HDM decoders per upstream port the twin switch reports (a twin value).
const HDM_DECODERS_PER_USP: u8 = 4;
/// LD allocation granularity code: 256 MiB, the topology's capacity granule.
const GRANULARITY_256M: u8 = 0;
const GRANULE: u64 = 256 << 20;

/// PCIe generation for a signalling rate (Gen5 = 32 GT/s, Gen6 = 64 GT/s).
fn pcie_generation(gts: f64) -> u8 {
    match gts {
        g if g >= 64.0 => 6,
        g if g >= 32.0 => 5,
        g if g >= 16.0 => 4,
        g if g >= 8.0 => 3,
        g if g >= 5.0 => 2,
        _ => 1,
    }
}

/// A Type-3 device twin, reached through its switch port.
#[derive(Debug, Clone)]
struct DeviceTwin {
    identity: IdentifyResponse,
    fw: FwInfo,
    mld: bool,
    memory_size: u64,
    ld_count: u8,
    allocations: Vec<LdAllocation>,
    qos: QosControl,
    allocated_bw: Vec<u8>,
    bw_limit: Vec<u8>,
    /// Fault: the device's CCI answers every command with Internal Error.
    failing: bool,
}

impl DeviceTwin {
    fn from_topology(d: &CxlDevice) -> Self {
        let lds = d.logical_device_count().max(1);
        let capacity = d.capacity_bytes.get();
        let per_ld = capacity / GRANULE / u64::from(lds);
        DeviceTwin {
            identity: IdentifyResponse {
                vendor_id: d.vendor_id.0,
                device_id: d.device_id.0,
                subsystem_vendor_id: d.vendor_id.0,
                subsystem_id: d.device_id.0,
                serial_number: wire_serial(&d.serial_number),
                max_message_size_log2: MAX_MESSAGE_LOG2,
                component_type: ComponentType::Type3,
            },
            fw: FwInfo::single_slot(&d.firmware_version),
            mld: d.kind == CxlDeviceKind::Type3Mld,
            memory_size: capacity,
            ld_count: lds,
            allocations: vec![
                LdAllocation {
                    range1_multiplier: per_ld,
                    range2_multiplier: 0,
                };
                usize::from(lds)
            ],
            qos: QosControl::default(),
            // An even share each; the remainder of 256/n stays unallocated.
            allocated_bw: vec![(256 / u16::from(lds)).min(255) as u8; usize::from(lds)],
            bw_limit: vec![255; usize::from(lds)],
            failing: false,
        }
    }

    fn connected_type(&self) -> ConnectedDeviceType {
        if self.mld {
            ConnectedDeviceType::Type3Mld
        } else {
            ConnectedDeviceType::Type3Sld
        }
    }

    /// Answers one command sent to the device's FM-owned LD.
    fn handle(&mut self, request: &Request) -> Result<Response, ReturnCode> {
        if self.failing {
            return Err(ReturnCode::INTERNAL_ERROR);
        }
        let mld_only = |mld: bool| {
            if mld {
                Ok(())
            } else {
                Err(ReturnCode::UNSUPPORTED)
            }
        };
        match request {
            Request::Identify => Ok(Response::Identify(self.identity)),
            Request::BackgroundOperationStatus => {
                Ok(Response::BackgroundOperationStatus(idle_background()))
            }
            Request::GetFwInfo => Ok(Response::FwInfo(self.fw.clone())),
            Request::GetLdInfo => {
                mld_only(self.mld)?;
                Ok(Response::LdInfo(LdInfo {
                    memory_size: self.memory_size,
                    ld_count: self.ld_count.into(),
                    qos_telemetry_caps: 0b01,
                }))
            }
            Request::GetLdAllocations(w) => {
                mld_only(self.mld)?;
                let (start, end) = window(w.start_ld, w.count, self.ld_count)?;
                Ok(Response::LdAllocations(LdAllocations {
                    number_of_lds: self.ld_count,
                    memory_granularity: GRANULARITY_256M,
                    start_ld: w.start_ld,
                    allocations: self.allocations[start..end].to_vec(),
                }))
            }
            Request::SetLdAllocations(set) => {
                mld_only(self.mld)?;
                let (start, end) =
                    window(set.start_ld, len_u8(set.allocations.len())?, self.ld_count)?;
                let mut next = self.allocations.clone();
                next[start..end].copy_from_slice(&set.allocations);
                let granules = next.iter().try_fold(0u64, |sum, a| {
                    sum.checked_add(a.range1_multiplier)?
                        .checked_add(a.range2_multiplier)
                });
                // The LDs together cannot hold more than the device has.
                if granules.is_none_or(|g| g > self.memory_size / GRANULE) {
                    return Err(ReturnCode::INVALID_INPUT);
                }
                self.allocations = next;
                Ok(Response::SetLdAllocations(set.clone()))
            }
            Request::GetQosControl => {
                mld_only(self.mld)?;
                Ok(Response::QosControl(self.qos))
            }
            Request::SetQosControl(q) => {
                mld_only(self.mld)?;
                let percent_ok = |p: u8| (1..=100).contains(&p);
                if !percent_ok(q.egress_moderate_percent)
                    || !percent_ok(q.egress_severe_percent)
                    || q.backpressure_sample_interval > 15
                {
                    return Err(ReturnCode::INVALID_INPUT);
                }
                self.qos = *q;
                Ok(Response::QosControl(self.qos))
            }
            Request::GetQosStatus => {
                mld_only(self.mld)?;
                // The twin carries no traffic: no backpressure.
                Ok(Response::QosStatus(QosStatus {
                    backpressure_average_percent: 0,
                }))
            }
            Request::GetQosAllocatedBw(w) => {
                mld_only(self.mld)?;
                let (start, end) = window(w.start_ld, w.count, self.ld_count)?;
                Ok(Response::QosAllocatedBw(QosFractions {
                    start_ld: w.start_ld,
                    fractions: self.allocated_bw[start..end].to_vec(),
                }))
            }
            Request::SetQosAllocatedBw(set) => {
                mld_only(self.mld)?;
                let (start, end) =
                    window(set.start_ld, len_u8(set.fractions.len())?, self.ld_count)?;
                let mut next = self.allocated_bw.clone();
                next[start..end].copy_from_slice(&set.fractions);
                // Shares are fractions of the device's bandwidth: together at most 1.
                if next.iter().map(|&f| u32::from(f)).sum::<u32>() > 256 {
                    return Err(ReturnCode::INVALID_INPUT);
                }
                self.allocated_bw = next;
                Ok(Response::QosAllocatedBw(set.clone()))
            }
            Request::GetQosBwLimit(w) => {
                mld_only(self.mld)?;
                let (start, end) = window(w.start_ld, w.count, self.ld_count)?;
                Ok(Response::QosBwLimit(QosFractions {
                    start_ld: w.start_ld,
                    fractions: self.bw_limit[start..end].to_vec(),
                }))
            }
            Request::SetQosBwLimit(set) => {
                mld_only(self.mld)?;
                let (start, end) =
                    window(set.start_ld, len_u8(set.fractions.len())?, self.ld_count)?;
                self.bw_limit[start..end].copy_from_slice(&set.fractions);
                Ok(Response::QosBwLimit(set.clone()))
            }
            // Single-headed devices (Get MHD Info) and switch commands sent to a device.
            _ => Err(ReturnCode::UNSUPPORTED),
        }
    }
}

fn len_u8(n: usize) -> Result<u8, ReturnCode> {
    u8::try_from(n).map_err(|_| ReturnCode::INVALID_INPUT)
}

/// The LD index range `start .. start + count` clipped to the device (a Get's list limit
/// may exceed what exists); a start past the end is invalid.
fn window(start: u8, count: u8, lds: u8) -> Result<(usize, usize), ReturnCode> {
    if start >= lds {
        return Err(ReturnCode::INVALID_INPUT);
    }
    let end = (usize::from(start) + usize::from(count)).min(usize::from(lds));
    Ok((start.into(), end))
}

fn idle_background() -> BackgroundOperationStatus {
    BackgroundOperationStatus {
        running: false,
        percent_complete: 0,
        opcode: 0,
        return_code: 0,
        vendor_status: 0,
    }
}

#[derive(Debug, Clone)]
struct PortTwin {
    role: PortRole,
    width: u8,
    generation: u8,
    device: Option<DeviceTwin>,
    /// A host or another switch is cabled to it (what an upstream or fabric port trains
    /// with; a downstream port trains with its `device`).
    cabled: bool,
    link_enabled: bool,
    perst: bool,
}

impl PortTwin {
    /// Trained: something is cabled, the link is enabled and PERST# is released. An
    /// upstream port counts its host as the partner.
    fn link_up(&self) -> bool {
        let partner = match self.role {
            PortRole::Upstream | PortRole::Fabric => self.cabled,
            PortRole::Downstream => self.device.is_some(),
        };
        partner && self.link_enabled && !self.perst
    }

    fn info(&self, id: u8) -> PortInfo {
        let up = self.link_up();
        let connected = match (&self.device, up) {
            (Some(d), true) => d.connected_type(),
            _ => ConnectedDeviceType::None,
        };
        let mut link_state = 0;
        if self.device.is_some() {
            link_state |= link_flags::PRESENT;
        }
        if self.perst {
            link_state |= link_flags::PERST_ASSERTED;
        }
        PortInfo {
            port_id: id,
            config_state: match self.role {
                PortRole::Upstream => PortConfigState::Usp,
                PortRole::Downstream => PortConfigState::Dsp,
                PortRole::Fabric => PortConfigState::FabricPort,
            },
            connected_cxl_version: if up { 0x02 } else { 0 },
            connected_device_type: connected,
            // CXL 1.1 and 2.0.
            supported_cxl_versions: 0b11,
            max_link_width: self.width,
            negotiated_link_width: if up { self.width } else { 0 },
            supported_speeds: (1u8 << self.generation) - 1,
            max_link_speed: self.generation,
            current_link_speed: if up { self.generation } else { 0 },
            ltssm_state: if !self.link_enabled {
                ltssm::DISABLED
            } else if up {
                ltssm::L0
            } else {
                ltssm::DETECT
            },
            first_lane: 0,
            link_state,
            supported_ld_count: self.device.as_ref().map_or(0, |d| d.ld_count),
        }
    }
}

#[derive(Debug, Clone)]
struct VcsTwin {
    usp: u8,
    /// Per vPPB: the (port, LD) it is bound to; LD `None` = the whole port.
    vppbs: Vec<Option<(u8, Option<u8>)>>,
}

/// The state one switch twin answers from.
#[derive(Debug)]
struct SwitchState {
    identity: IdentifyResponse,
    fw: FwInfo,
    ports: BTreeMap<u8, PortTwin>,
    vcss: Vec<VcsTwin>,
}

impl SwitchState {
    fn from_topology(sw: &CxlSwitch, topology: &Topology) -> Self {
        let ports: BTreeMap<u8, PortTwin> = sw
            .ports
            .iter()
            .map(|p| {
                let device = match &p.connected_to {
                    Some(PortPeer::Device(id)) => topology
                        .cxl_device(id.as_str())
                        .map(DeviceTwin::from_topology),
                    _ => None,
                };
                let twin = PortTwin {
                    role: p.role,
                    width: p.width,
                    generation: pcie_generation(p.speed_gts.get()),
                    device,
                    cabled: p.connected_to.is_some(),
                    link_enabled: true,
                    perst: false,
                };
                (p.port, twin)
            })
            .collect();
        let downstream = ports
            .values()
            .filter(|p| p.role == PortRole::Downstream)
            .count();
        let vcss = sw
            .ports
            .iter()
            .filter(|p| p.role == PortRole::Upstream && p.connected_to.is_some())
            .map(|p| VcsTwin {
                usp: p.port,
                vppbs: vec![None; downstream],
            })
            .collect();
        SwitchState {
            identity: IdentifyResponse {
                vendor_id: sw.vendor_id.0,
                device_id: sw.device_id.0,
                subsystem_vendor_id: sw.vendor_id.0,
                subsystem_id: sw.device_id.0,
                serial_number: wire_serial(&sw.serial_number),
                max_message_size_log2: MAX_MESSAGE_LOG2,
                component_type: ComponentType::Switch,
            },
            fw: FwInfo::single_slot(&sw.firmware_version),
            ports,
            vcss,
        }
    }

    fn identify_switch(&self) -> IdentifySwitchDevice {
        let mut ports = [0u8; 32];
        for &id in self.ports.keys() {
            set_bit(&mut ports, id);
        }
        let mut vcs = [0u8; 32];
        for i in 0..self.vcss.len() {
            set_bit(&mut vcs, i as u8);
        }
        let total: usize = self.vcss.iter().map(|v| v.vppbs.len()).sum();
        let bound = self
            .vcss
            .iter()
            .flat_map(|v| &v.vppbs)
            .filter(|b| b.is_some())
            .count();
        IdentifySwitchDevice {
            ingress_port_id: 0,
            num_physical_ports: self.ports.len() as u8,
            num_vcs: self.vcss.len() as u8,
            active_port_bitmask: ports,
            active_vcs_bitmask: vcs,
            total_vppbs: total as u16,
            bound_vppbs: bound as u16,
            hdm_decoders_per_usp: HDM_DECODERS_PER_USP,
        }
    }

    fn port_info(&self, id: u8) -> PortInfo {
        match self.ports.get(&id) {
            Some(p) => p.info(id),
            None => PortInfo {
                port_id: id,
                config_state: PortConfigState::InvalidPortId,
                connected_cxl_version: 0,
                connected_device_type: ConnectedDeviceType::None,
                supported_cxl_versions: 0,
                max_link_width: 0,
                negotiated_link_width: 0,
                supported_speeds: 0,
                max_link_speed: 0,
                current_link_speed: 0,
                ltssm_state: ltssm::DETECT,
                first_lane: 0,
                link_state: 0,
                supported_ld_count: 0,
            },
        }
    }

    fn vcs_block(&self, id: u8, start: u8, limit: u8) -> VcsInfoBlock {
        let Some(vcs) = self.vcss.get(usize::from(id)) else {
            return VcsInfoBlock {
                vcs_id: id,
                state: 0xff,
                usp_id: 0,
                num_vppbs: 0,
                vppbs: Vec::new(),
            };
        };
        let vppbs = vcs
            .vppbs
            .iter()
            .skip(start.into())
            .take(limit.into())
            .map(|b| match *b {
                None => VppbInfo {
                    status: BindingStatus::Unbound,
                    port_id: 0xff,
                    ld_id: 0xff,
                },
                Some((port, None)) => VppbInfo {
                    status: BindingStatus::BoundPort,
                    port_id: port,
                    ld_id: 0xff,
                },
                Some((port, Some(ld))) => VppbInfo {
                    status: BindingStatus::BoundLd,
                    port_id: port,
                    ld_id: ld,
                },
            })
            .collect();
        VcsInfoBlock {
            vcs_id: id,
            state: 1,
            usp_id: vcs.usp,
            num_vppbs: vcs.vppbs.len() as u8,
            vppbs,
        }
    }

    fn bind(&mut self, b: &BindVppb) -> Result<(), ReturnCode> {
        let port = self
            .ports
            .get(&b.port_id)
            .ok_or(ReturnCode::INVALID_INPUT)?;
        let device = port
            .device
            .as_ref()
            .filter(|_| port.role == PortRole::Downstream && port.link_up())
            .ok_or(ReturnCode::INVALID_INPUT)?;
        let ld = match (device.mld, b.ld_id) {
            (false, BindVppb::WHOLE_PORT) => None,
            (true, ld) if ld < u16::from(device.ld_count) => Some(ld as u8),
            _ => return Err(ReturnCode::INVALID_INPUT),
        };
        // A port (SLD) or an LD (MLD) serves one vPPB at a time.
        let taken = self.vcss.iter().flat_map(|v| &v.vppbs).any(|x| {
            matches!(*x, Some((p, l)) if p == b.port_id && (l == ld || l.is_none() || ld.is_none()))
        });
        let slot = self
            .vcss
            .get_mut(usize::from(b.vcs_id))
            .and_then(|v| v.vppbs.get_mut(usize::from(b.vppb_id)))
            .ok_or(ReturnCode::INVALID_INPUT)?;
        if slot.is_some() || taken {
            return Err(ReturnCode::INVALID_INPUT);
        }
        *slot = Some((b.port_id, ld));
        Ok(())
    }

    fn unbind_port(&mut self, port: u8) {
        for slot in self.vcss.iter_mut().flat_map(|v| &mut v.vppbs) {
            if matches!(*slot, Some((p, _)) if p == port) {
                *slot = None;
            }
        }
    }

    /// Answers one command addressed to the switch.
    fn handle(&mut self, request: &Request) -> Result<Response, ReturnCode> {
        match request {
            Request::Identify => Ok(Response::Identify(self.identity)),
            Request::BackgroundOperationStatus => {
                Ok(Response::BackgroundOperationStatus(idle_background()))
            }
            Request::GetFwInfo => Ok(Response::FwInfo(self.fw.clone())),
            Request::IdentifySwitchDevice => {
                Ok(Response::IdentifySwitchDevice(self.identify_switch()))
            }
            Request::GetPhysicalPortState(r) => {
                Ok(Response::PhysicalPortState(PhysicalPortState {
                    ports: r.ports.iter().map(|&p| self.port_info(p)).collect(),
                }))
            }
            Request::PhysicalPortControl(c) => {
                let port = self
                    .ports
                    .get_mut(&c.ppb_id)
                    .ok_or(ReturnCode::INVALID_INPUT)?;
                match c.operation {
                    PortOperation::AssertPerst => port.perst = true,
                    PortOperation::DeassertPerst => port.perst = false,
                    PortOperation::ResetPpb => {}
                }
                Ok(Response::Empty)
            }
            Request::GetVcsInfo(r) => Ok(Response::VcsInfo(VcsInfo {
                blocks: r
                    .vcs_ids
                    .iter()
                    .map(|&id| self.vcs_block(id, r.start_vppb, r.vppb_list_limit))
                    .collect(),
            })),
            Request::BindVppb(b) => self.bind(b).map(|()| Response::Empty),
            Request::UnbindVppb(u) => {
                let slot = self
                    .vcss
                    .get_mut(usize::from(u.vcs_id))
                    .and_then(|v| v.vppbs.get_mut(usize::from(u.vppb_id)))
                    .ok_or(ReturnCode::INVALID_INPUT)?;
                *slot = None;
                Ok(Response::Empty)
            }
            Request::Tunnel(t) => {
                let TunnelTarget::PortOrLd(port) = t.target else {
                    return Err(ReturnCode::UNSUPPORTED);
                };
                let p = self.ports.get_mut(&port).ok_or(ReturnCode::INVALID_INPUT)?;
                let up = p.link_up();
                let device = p
                    .device
                    .as_mut()
                    .filter(|_| up)
                    .ok_or(ReturnCode::INVALID_INPUT)?;
                let message = answer(&t.message, |r| device.handle(r))
                    .map_err(|_| ReturnCode::INVALID_INPUT)?;
                Ok(Response::Tunnel(TunnelResponse { message }))
            }
            _ => Err(ReturnCode::UNSUPPORTED),
        }
    }
}

/// Decodes one request message and encodes the answer `handle` gives: a response, or a
/// return code alone. A request whose header cannot be read gets no answer (there is no
/// tag to answer to): the error goes back to the caller.
fn answer(
    message: &[u8],
    handle: impl FnOnce(&Request) -> Result<Response, ReturnCode>,
) -> Result<Vec<u8>, FmApiError> {
    let (header, payload) = decode_message(message)?;
    let mut out = Vec::new();
    if header.category != Category::Request {
        encode_status(
            &header_as_request(&header),
            ReturnCode::INVALID_INPUT,
            &mut out,
        )?;
        return Ok(out);
    }
    let outcome = match Request::decode(header.opcode, payload) {
        Ok(request) => handle(&request),
        Err(FmApiError::UnknownOpcode(_)) => Err(ReturnCode::UNSUPPORTED),
        Err(FmApiError::Truncated { .. } | FmApiError::Oversized { .. }) => {
            Err(ReturnCode::INVALID_PAYLOAD_LENGTH)
        }
        Err(_) => Err(ReturnCode::INVALID_INPUT),
    };
    match outcome {
        Ok(response) => response.encode_message(&header, &mut out)?,
        Err(code) => encode_status(&header, code, &mut out)?,
    }
    Ok(out)
}

fn header_as_request(h: &CciHeader) -> CciHeader {
    CciHeader {
        category: Category::Request,
        ..*h
    }
}

/// A locked switch state, recovering from a poisoned lock (a panicking connection thread
/// must not take the twin down with it).
fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One switch twin serving FM API on 127.0.0.1. Stopped (listener closed, connections shut
/// down, threads joined) when dropped.
#[derive(Debug)]
pub struct SwitchTwin {
    id: String,
    addr: SocketAddr,
    state: Arc<Mutex<SwitchState>>,
    stop: Arc<AtomicBool>,
    connections: Connections,
    recorder: Recorder,
    acceptor: Option<JoinHandle<()>>,
}

/// One request and its reply as the switch twin saw them on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Which connection it came on (in accept order): one fabric manager operation uses
    /// its own connection.
    pub connection: u64,
    /// The CCI request message (12-byte header and payload).
    pub request: Vec<u8>,
    /// The CCI response message.
    pub reply: Vec<u8>,
}

/// While recording, every exchange in arrival order.
type Recorder = Arc<Mutex<Option<Vec<Exchange>>>>;

/// The open connections, by a serial number, so that a stop can shut them down and a
/// connection that ends removes its own entry (no descriptor outlives its connection).
type Connections = Arc<Mutex<BTreeMap<u64, TcpStream>>>;

fn lock_connections(
    c: &Mutex<BTreeMap<u64, TcpStream>>,
) -> MutexGuard<'_, BTreeMap<u64, TcpStream>> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SwitchTwin {
    /// Starts the twin of topology switch `sw` on a free loopback port.
    pub fn start(sw: &CxlSwitch, topology: &Topology) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(SwitchState::from_topology(sw, topology)));
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Connections = Arc::new(Mutex::new(BTreeMap::new()));
        let recorder: Recorder = Arc::new(Mutex::new(None));
        let acceptor = {
            let (state, stop, connections, recorder) = (
                state.clone(),
                stop.clone(),
                connections.clone(),
                recorder.clone(),
            );
            std::thread::Builder::new()
                .name(format!("fm-twin-{}", sw.id.as_str()))
                .spawn(move || accept_loop(&listener, &state, &stop, &connections, &recorder))?
        };
        Ok(SwitchTwin {
            id: sw.id.as_str().to_owned(),
            addr,
            state,
            stop,
            connections,
            recorder,
            acceptor: Some(acceptor),
        })
    }

    /// Starts keeping every exchange (dropping what was kept before): for transcripts of
    /// what a fabric manager said.
    pub fn record(&self) {
        *lock(&self.recorder) = Some(Vec::new());
    }

    /// The exchanges kept since [`SwitchTwin::record`], and stops keeping them.
    pub fn take_recording(&self) -> Vec<Exchange> {
        lock(&self.recorder).take().unwrap_or_default()
    }

    /// The topology id of the switch.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where its FM API endpoint listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SwitchTwin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; the loop sees `stop` and returns.
        let _ = TcpStream::connect(self.addr);
        for c in std::mem::take(&mut *lock_connections(&self.connections)).into_values() {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    state: &Arc<Mutex<SwitchState>>,
    stop: &AtomicBool,
    connections: &Connections,
    recorder: &Recorder,
) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for (serial, stream) in (0u64..).zip(listener.incoming()) {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        workers.retain(|w| !w.is_finished());
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        lock_connections(connections).insert(serial, handle);
        // The stop flag may have been set between the check above and the insert, after
        // Drop emptied the map: shut this one down too.
        if stop.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
            break;
        }
        let (state, registry, recorder) = (state.clone(), connections.clone(), recorder.clone());
        if let Ok(w) = std::thread::Builder::new()
            .name("fm-twin-conn".into())
            .spawn(move || {
                serve(stream, &state, &recorder, serial);
                lock_connections(&registry).remove(&serial);
            })
        {
            workers.push(w);
        } else {
            lock_connections(connections).remove(&serial);
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Answers requests on one connection until it closes or sends something unreadable.
fn serve(mut stream: TcpStream, state: &Mutex<SwitchState>, recorder: &Recorder, connection: u64) {
    let mut reassembler = Reassembler::new();
    let mut scratch = Vec::new();
    loop {
        let message = match read_message(&mut stream, &mut reassembler) {
            Ok(m) => m,
            Err(ReadError::Io(_)) => return,
            // A packet out of sequence drops that message only; the next SOM starts afresh.
            Err(ReadError::Frame(_)) => continue,
        };
        if message.message_type != MESSAGE_TYPE_FM_API {
            continue;
        }
        let Ok(cci) = trim_cci(&message.padded_body) else {
            continue;
        };
        let Ok(reply) = answer(cci, |r| lock(state).handle(r)) else {
            continue;
        };
        if let Some(kept) = lock(recorder).as_mut() {
            kept.push(Exchange {
                connection,
                request: cci.to_vec(),
                reply: reply.clone(),
            });
        }
        let route = Route {
            dest_eid: message.src_eid,
            src_eid: message.dest_eid,
            tag: message.tag,
            tag_owner: false,
        };
        if write_message(&mut stream, route, &reply, &mut scratch).is_err() {
            return;
        }
        let _ = stream.flush();
    }
}

/// Where a fault handle call went wrong.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// No such switch in the fabric twin.
    #[error("no switch {0:?} in the fabric twin")]
    UnknownSwitch(String),
    /// No such port on the switch.
    #[error("switch {switch:?} has no port {port}")]
    UnknownPort {
        /// The switch.
        switch: String,
        /// The port.
        port: u8,
    },
    /// The port already has a device (plug) or has none (unplug).
    #[error("port {port} of switch {switch:?}: {reason}")]
    PortState {
        /// The switch.
        switch: String,
        /// The port.
        port: u8,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Fault injection into a running fabric twin: hot-plug and link events.
#[derive(Debug, Clone)]
pub struct FabricFaults {
    switches: BTreeMap<String, Arc<Mutex<SwitchState>>>,
}

impl FabricFaults {
    fn with_port<R>(
        &self,
        switch: &str,
        port: u8,
        f: impl FnOnce(&mut SwitchState, u8) -> Result<R, &'static str>,
    ) -> Result<R, FaultError> {
        let state = self
            .switches
            .get(switch)
            .ok_or_else(|| FaultError::UnknownSwitch(switch.to_owned()))?;
        let mut state = lock(state);
        if !state.ports.contains_key(&port) {
            return Err(FaultError::UnknownPort {
                switch: switch.to_owned(),
                port,
            });
        }
        f(&mut state, port).map_err(|reason| FaultError::PortState {
            switch: switch.to_owned(),
            port,
            reason,
        })
    }

    /// Surprise removal of the device on `port`: presence and link go, and every vPPB bound
    /// to the port is unbound (as a switch does on removal).
    pub fn unplug(&self, switch: &str, port: u8) -> Result<(), FaultError> {
        self.with_port(switch, port, |s, p| {
            let twin = s.ports.get_mut(&p).ok_or("no such port")?;
            twin.device.take().ok_or("no device to unplug")?;
            s.unbind_port(p);
            Ok(())
        })
    }

    /// Hot-plug of `device` (its topology description) into downstream `port`.
    pub fn plug(&self, switch: &str, port: u8, device: &CxlDevice) -> Result<(), FaultError> {
        self.with_port(switch, port, |s, p| {
            let twin = s.ports.get_mut(&p).ok_or("no such port")?;
            if twin.role != PortRole::Downstream {
                return Err("devices plug into downstream ports");
            }
            if twin.device.is_some() {
                return Err("a device is already plugged in");
            }
            twin.device = Some(DeviceTwin::from_topology(device));
            Ok(())
        })
    }

    /// Makes the device on `port` answer every command with Internal Error (a hung device
    /// firmware), or heals it.
    pub fn set_device_failing(
        &self,
        switch: &str,
        port: u8,
        failing: bool,
    ) -> Result<(), FaultError> {
        self.with_port(switch, port, |s, p| {
            let twin = s.ports.get_mut(&p).ok_or("no such port")?;
            twin.device.as_mut().ok_or("no device on the port")?.failing = failing;
            Ok(())
        })
    }

    /// Takes the link of `port` down (the device stays present) or brings it back up.
    pub fn set_link(&self, switch: &str, port: u8, up: bool) -> Result<(), FaultError> {
        self.with_port(switch, port, |s, p| {
            let twin = s.ports.get_mut(&p).ok_or("no such port")?;
            twin.link_enabled = up;
            if !up {
                s.unbind_port(p);
            }
            Ok(())
        })
    }
}

/// The FM API twins of a whole topology: one [`SwitchTwin`] per CXL switch.
#[derive(Debug)]
pub struct FabricTwin {
    switches: Vec<SwitchTwin>,
}

impl FabricTwin {
    /// Starts one switch twin per topology switch, each on its own free loopback port.
    pub fn start(topology: &Topology) -> io::Result<Self> {
        let switches = topology
            .cxl_switches()
            .iter()
            .map(|sw| SwitchTwin::start(sw, topology))
            .collect::<io::Result<_>>()?;
        Ok(FabricTwin { switches })
    }

    /// The running switch twins, in topology order.
    #[must_use]
    pub fn switches(&self) -> &[SwitchTwin] {
        &self.switches
    }

    /// Each switch's FM API endpoint, named by its topology id.
    #[must_use]
    pub fn endpoints(&self) -> Vec<super::SwitchEndpoint> {
        self.switches
            .iter()
            .map(|s| super::SwitchEndpoint {
                name: s.id.clone(),
                addr: s.addr,
            })
            .collect()
    }

    /// Starts recording every switch's exchanges ([`SwitchTwin::record`]).
    pub fn record(&self) {
        for s in &self.switches {
            s.record();
        }
    }

    /// Each switch's recorded exchanges, by topology id, and stops recording.
    #[must_use]
    pub fn take_recordings(&self) -> BTreeMap<String, Vec<Exchange>> {
        self.switches
            .iter()
            .map(|s| (s.id.clone(), s.take_recording()))
            .collect()
    }

    /// The fault handle.
    #[must_use]
    pub fn faults(&self) -> FabricFaults {
        FabricFaults {
            switches: self
                .switches
                .iter()
                .map(|s| (s.id.clone(), s.state.clone()))
                .collect(),
        }
    }
}

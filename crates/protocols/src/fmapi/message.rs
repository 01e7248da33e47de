//! Every implemented command as one [`Request`] and one [`Response`] type, keyed by opcode.
//!
//! A response's layout depends on its request (Get VCS Info blocks carry no length of their
//! own), so responses are decoded against the request they answer.

use super::error::FmApiError;
use super::generic::{BackgroundOperationStatus, FwInfo, IdentifyResponse};
use super::header::{Category, CciHeader, Opcode, ReturnCode, decode_message, encode_message};
use super::mld::{
    LdAllocations, LdInfo, LdWindow, MhdInfo, QosControl, QosFractions, QosStatus, SetLdAllocations,
};
use super::switch::{
    BindVppb, GetPhysicalPortState, GetVcsInfo, IdentifySwitchDevice, PhysicalPortControl,
    PhysicalPortState, TunnelRequest, TunnelResponse, UnbindVppb, VcsInfo,
};
use super::wire::Reader;

/// An FM API request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// 0001h.
    Identify,
    /// 0002h.
    BackgroundOperationStatus,
    /// 0200h.
    GetFwInfo,
    /// 5100h.
    IdentifySwitchDevice,
    /// 5101h.
    GetPhysicalPortState(GetPhysicalPortState),
    /// 5102h.
    PhysicalPortControl(PhysicalPortControl),
    /// 5200h.
    GetVcsInfo(GetVcsInfo),
    /// 5201h.
    BindVppb(BindVppb),
    /// 5202h.
    UnbindVppb(UnbindVppb),
    /// 5300h.
    Tunnel(TunnelRequest),
    /// 5400h.
    GetLdInfo,
    /// 5401h (start LD, list limit).
    GetLdAllocations(LdWindow),
    /// 5402h.
    SetLdAllocations(SetLdAllocations),
    /// 5403h.
    GetQosControl,
    /// 5404h.
    SetQosControl(QosControl),
    /// 5405h.
    GetQosStatus,
    /// 5406h (number of LDs, start LD).
    GetQosAllocatedBw(LdWindow),
    /// 5407h.
    SetQosAllocatedBw(QosFractions),
    /// 5408h (number of LDs, start LD).
    GetQosBwLimit(LdWindow),
    /// 5409h.
    SetQosBwLimit(QosFractions),
    /// 5500h (start LD, list limit).
    GetMhdInfo(LdWindow),
}

impl Request {
    /// The command's opcode.
    #[must_use]
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Identify => Opcode::IDENTIFY,
            Request::BackgroundOperationStatus => Opcode::BACKGROUND_OPERATION_STATUS,
            Request::GetFwInfo => Opcode::GET_FW_INFO,
            Request::IdentifySwitchDevice => Opcode::IDENTIFY_SWITCH_DEVICE,
            Request::GetPhysicalPortState(_) => Opcode::GET_PHYSICAL_PORT_STATE,
            Request::PhysicalPortControl(_) => Opcode::PHYSICAL_PORT_CONTROL,
            Request::GetVcsInfo(_) => Opcode::GET_VCS_INFO,
            Request::BindVppb(_) => Opcode::BIND_VPPB,
            Request::UnbindVppb(_) => Opcode::UNBIND_VPPB,
            Request::Tunnel(_) => Opcode::TUNNEL_MANAGEMENT,
            Request::GetLdInfo => Opcode::GET_LD_INFO,
            Request::GetLdAllocations(_) => Opcode::GET_LD_ALLOCATIONS,
            Request::SetLdAllocations(_) => Opcode::SET_LD_ALLOCATIONS,
            Request::GetQosControl => Opcode::GET_QOS_CONTROL,
            Request::SetQosControl(_) => Opcode::SET_QOS_CONTROL,
            Request::GetQosStatus => Opcode::GET_QOS_STATUS,
            Request::GetQosAllocatedBw(_) => Opcode::GET_QOS_ALLOCATED_BW,
            Request::SetQosAllocatedBw(_) => Opcode::SET_QOS_ALLOCATED_BW,
            Request::GetQosBwLimit(_) => Opcode::GET_QOS_BW_LIMIT,
            Request::SetQosBwLimit(_) => Opcode::SET_QOS_BW_LIMIT,
            Request::GetMhdInfo(_) => Opcode::GET_MHD_INFO,
        }
    }

    /// Appends the request payload (no header).
    pub fn encode_payload(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        match self {
            Request::Identify
            | Request::BackgroundOperationStatus
            | Request::GetFwInfo
            | Request::IdentifySwitchDevice
            | Request::GetLdInfo
            | Request::GetQosControl
            | Request::GetQosStatus => {}
            Request::GetPhysicalPortState(r) => r.encode(out)?,
            Request::PhysicalPortControl(r) => r.encode(out),
            Request::GetVcsInfo(r) => r.encode(out)?,
            Request::BindVppb(r) => r.encode(out),
            Request::UnbindVppb(r) => r.encode(out),
            Request::Tunnel(r) => r.encode(out)?,
            Request::GetLdAllocations(w) | Request::GetMhdInfo(w) => w.encode_start_first(out),
            Request::SetLdAllocations(r) => r.encode(out)?,
            Request::SetQosControl(r) => r.encode(out),
            Request::GetQosAllocatedBw(w) | Request::GetQosBwLimit(w) => w.encode_count_first(out),
            Request::SetQosAllocatedBw(r) | Request::SetQosBwLimit(r) => r.encode(out)?,
        }
        Ok(())
    }

    /// Appends the whole request message (header with `tag`, then payload).
    pub fn encode_message(&self, tag: u8, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        let start = out.len();
        out.extend_from_slice(&[0; super::header::HEADER_LEN]);
        self.encode_payload(out)?;
        let len = out.len() - start - super::header::HEADER_LEN;
        let len = u32::try_from(len).map_err(|_| FmApiError::PayloadTooLarge(len))?;
        let header = CciHeader::request(tag, self.opcode(), len).to_bytes()?;
        out[start..start + super::header::HEADER_LEN].copy_from_slice(&header);
        Ok(())
    }

    /// Decodes a request payload for `opcode`.
    pub fn decode(opcode: Opcode, p: &[u8]) -> Result<Self, FmApiError> {
        let empty = |r: Request| {
            Reader::new(p, "request without payload").finish()?;
            Ok(r)
        };
        match opcode {
            Opcode::IDENTIFY => empty(Request::Identify),
            Opcode::BACKGROUND_OPERATION_STATUS => empty(Request::BackgroundOperationStatus),
            Opcode::GET_FW_INFO => empty(Request::GetFwInfo),
            Opcode::IDENTIFY_SWITCH_DEVICE => empty(Request::IdentifySwitchDevice),
            Opcode::GET_PHYSICAL_PORT_STATE => {
                GetPhysicalPortState::decode(p).map(Request::GetPhysicalPortState)
            }
            Opcode::PHYSICAL_PORT_CONTROL => {
                PhysicalPortControl::decode(p).map(Request::PhysicalPortControl)
            }
            Opcode::GET_VCS_INFO => GetVcsInfo::decode(p).map(Request::GetVcsInfo),
            Opcode::BIND_VPPB => BindVppb::decode(p).map(Request::BindVppb),
            Opcode::UNBIND_VPPB => UnbindVppb::decode(p).map(Request::UnbindVppb),
            Opcode::TUNNEL_MANAGEMENT => TunnelRequest::decode(p).map(Request::Tunnel),
            Opcode::GET_LD_INFO => empty(Request::GetLdInfo),
            Opcode::GET_LD_ALLOCATIONS => {
                LdWindow::decode_start_first(p, "Get LD Allocations request")
                    .map(Request::GetLdAllocations)
            }
            Opcode::SET_LD_ALLOCATIONS => {
                SetLdAllocations::decode(p).map(Request::SetLdAllocations)
            }
            Opcode::GET_QOS_CONTROL => empty(Request::GetQosControl),
            Opcode::SET_QOS_CONTROL => QosControl::decode(p).map(Request::SetQosControl),
            Opcode::GET_QOS_STATUS => empty(Request::GetQosStatus),
            Opcode::GET_QOS_ALLOCATED_BW => {
                LdWindow::decode_count_first(p, "Get QoS Allocated BW request")
                    .map(Request::GetQosAllocatedBw)
            }
            Opcode::SET_QOS_ALLOCATED_BW => QosFractions::decode(p).map(Request::SetQosAllocatedBw),
            Opcode::GET_QOS_BW_LIMIT => LdWindow::decode_count_first(p, "Get QoS BW Limit request")
                .map(Request::GetQosBwLimit),
            Opcode::SET_QOS_BW_LIMIT => QosFractions::decode(p).map(Request::SetQosBwLimit),
            Opcode::GET_MHD_INFO => {
                LdWindow::decode_start_first(p, "Get MHD Info request").map(Request::GetMhdInfo)
            }
            other => Err(FmApiError::UnknownOpcode(other.0)),
        }
    }

    /// Decodes one whole request message: its header (which must say "request") and the
    /// typed request.
    pub fn decode_message(bytes: &[u8]) -> Result<(CciHeader, Self), FmApiError> {
        let (header, payload) = decode_message(bytes)?;
        if header.category != Category::Request {
            return Err(FmApiError::BadCategory(1));
        }
        Ok((header, Request::decode(header.opcode, payload)?))
    }
}

/// A successful FM API response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Response {
    /// 0001h.
    Identify(IdentifyResponse),
    /// 0002h.
    BackgroundOperationStatus(BackgroundOperationStatus),
    /// 0200h.
    FwInfo(FwInfo),
    /// 5100h.
    IdentifySwitchDevice(IdentifySwitchDevice),
    /// 5101h.
    PhysicalPortState(PhysicalPortState),
    /// 5102h, 5201h, 5202h: no payload.
    Empty,
    /// 5200h.
    VcsInfo(VcsInfo),
    /// 5300h.
    Tunnel(TunnelResponse),
    /// 5400h.
    LdInfo(LdInfo),
    /// 5401h.
    LdAllocations(LdAllocations),
    /// 5402h.
    SetLdAllocations(SetLdAllocations),
    /// 5403h and 5404h.
    QosControl(QosControl),
    /// 5405h.
    QosStatus(QosStatus),
    /// 5406h and 5407h.
    QosAllocatedBw(QosFractions),
    /// 5408h and 5409h.
    QosBwLimit(QosFractions),
    /// 5500h.
    MhdInfo(MhdInfo),
}

impl Response {
    /// Appends the response payload (no header).
    pub fn encode_payload(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        match self {
            Response::Identify(r) => r.encode(out),
            Response::BackgroundOperationStatus(r) => r.encode(out),
            Response::FwInfo(r) => r.encode(out),
            Response::IdentifySwitchDevice(r) => r.encode(out),
            Response::PhysicalPortState(r) => r.encode(out)?,
            Response::Empty => {}
            Response::VcsInfo(r) => r.encode(out)?,
            Response::Tunnel(r) => r.encode(out)?,
            Response::LdInfo(r) => r.encode(out),
            Response::LdAllocations(r) => r.encode(out)?,
            Response::SetLdAllocations(r) => r.encode(out)?,
            Response::QosControl(r) => r.encode(out),
            Response::QosStatus(r) => r.encode(out),
            Response::QosAllocatedBw(r) | Response::QosBwLimit(r) => r.encode(out)?,
            Response::MhdInfo(r) => r.encode(out)?,
        }
        Ok(())
    }

    /// Appends the whole response message answering `request` (header echoes its tag and
    /// opcode, return code Success).
    pub fn encode_message(&self, request: &CciHeader, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        let start = out.len();
        out.extend_from_slice(&[0; super::header::HEADER_LEN]);
        self.encode_payload(out)?;
        let len = out.len() - start - super::header::HEADER_LEN;
        let len = u32::try_from(len).map_err(|_| FmApiError::PayloadTooLarge(len))?;
        let header = CciHeader::response_to(request, ReturnCode::SUCCESS, len).to_bytes()?;
        out[start..start + super::header::HEADER_LEN].copy_from_slice(&header);
        Ok(())
    }

    /// Decodes the payload of a successful response to `request`.
    pub fn decode(request: &Request, p: &[u8]) -> Result<Self, FmApiError> {
        Ok(match request {
            Request::Identify => Response::Identify(IdentifyResponse::decode(p)?),
            Request::BackgroundOperationStatus => {
                Response::BackgroundOperationStatus(BackgroundOperationStatus::decode(p)?)
            }
            Request::GetFwInfo => Response::FwInfo(FwInfo::decode(p)?),
            Request::IdentifySwitchDevice => {
                Response::IdentifySwitchDevice(IdentifySwitchDevice::decode(p)?)
            }
            Request::GetPhysicalPortState(_) => {
                Response::PhysicalPortState(PhysicalPortState::decode(p)?)
            }
            Request::PhysicalPortControl(_) | Request::BindVppb(_) | Request::UnbindVppb(_) => {
                Reader::new(p, "response without payload").finish()?;
                Response::Empty
            }
            Request::GetVcsInfo(req) => Response::VcsInfo(VcsInfo::decode(p, req)?),
            Request::Tunnel(_) => Response::Tunnel(TunnelResponse::decode(p)?),
            Request::GetLdInfo => Response::LdInfo(LdInfo::decode(p)?),
            Request::GetLdAllocations(_) => Response::LdAllocations(LdAllocations::decode(p)?),
            Request::SetLdAllocations(_) => {
                Response::SetLdAllocations(SetLdAllocations::decode(p)?)
            }
            Request::GetQosControl | Request::SetQosControl(_) => {
                Response::QosControl(QosControl::decode(p)?)
            }
            Request::GetQosStatus => Response::QosStatus(QosStatus::decode(p)?),
            Request::GetQosAllocatedBw(_) | Request::SetQosAllocatedBw(_) => {
                Response::QosAllocatedBw(QosFractions::decode(p)?)
            }
            Request::GetQosBwLimit(_) | Request::SetQosBwLimit(_) => {
                Response::QosBwLimit(QosFractions::decode(p)?)
            }
            Request::GetMhdInfo(_) => Response::MhdInfo(MhdInfo::decode(p)?),
        })
    }
}

/// Appends a response message carrying only a return code (a failure, or a command that
/// went to the background).
pub fn encode_status(
    request: &CciHeader,
    return_code: ReturnCode,
    out: &mut Vec<u8>,
) -> Result<(), FmApiError> {
    encode_message(&CciHeader::response_to(request, return_code, 0), &[], out)
}

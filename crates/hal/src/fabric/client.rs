//! Typed FM API commands over any [`FmTransport`].

use corridor_protocols::fmapi::header::decode_message;
use corridor_protocols::fmapi::{
    BindVppb, Category, CciHeader, FmApiError, FwInfo, GetPhysicalPortState, GetVcsInfo,
    IdentifyResponse, IdentifySwitchDevice, LdAllocations, LdInfo, LdWindow, PortInfo, QosControl,
    QosFractions, Request, Response, ReturnCode, SetLdAllocations, TunnelRequest, TunnelTarget,
    UnbindVppb, VcsInfoBlock,
};

use super::{FabricError, FmTransport};

/// A fabric manager's view of one FM API endpoint (a switch).
#[derive(Debug)]
pub struct FmClient<T> {
    transport: T,
    next_tag: u8,
    buf: Vec<u8>,
}

impl<T: FmTransport> FmClient<T> {
    /// Wraps a connected transport.
    pub fn new(transport: T) -> Self {
        FmClient {
            transport,
            next_tag: 0,
            buf: Vec::new(),
        }
    }

    /// The endpoint.
    pub fn peer(&self) -> &str {
        self.transport.peer()
    }

    fn malformed(&self, source: FmApiError) -> FabricError {
        FabricError::Malformed {
            peer: self.peer().to_owned(),
            source,
        }
    }

    fn encode(&mut self, request: &Request) -> Result<(u8, Vec<u8>), FabricError> {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        self.buf.clear();
        request
            .encode_message(tag, &mut self.buf)
            .map_err(|source| FabricError::Encode {
                peer: self.peer().to_owned(),
                source,
            })?;
        Ok((tag, std::mem::take(&mut self.buf)))
    }

    /// Checks that `message` answers `request` (sent with `tag`) and decodes it.
    fn answer(
        &self,
        request: &Request,
        tag: u8,
        message: &[u8],
        via: Option<u8>,
    ) -> Result<Response, FabricError> {
        let (header, payload) = decode_message(message).map_err(|e| self.malformed(e))?;
        check_answers(&header, request, tag).map_err(|detail| FabricError::Mismatch {
            peer: self.peer().to_owned(),
            detail,
        })?;
        if header.return_code != ReturnCode::SUCCESS {
            return Err(FabricError::Refused {
                peer: self.peer().to_owned(),
                via: via.map(|p| format!(" via port {p}")).unwrap_or_default(),
                opcode: request.opcode(),
                return_code: header.return_code.0,
            });
        }
        Response::decode(request, payload).map_err(|e| self.malformed(e))
    }

    /// Sends one command to the endpoint itself.
    pub fn call(&mut self, request: &Request) -> Result<Response, FabricError> {
        let opcode = request.opcode();
        let _span = tracing::info_span!(
            "fmapi.command",
            otel.name = %format_args!("FM API {}", opcode.name().unwrap_or("vendor")),
            otel.kind = "client",
            fmapi.opcode = %format_args!("{:04X}h", opcode.0),
            peer = self.peer(),
        )
        .entered();
        let (tag, message) = self.encode(request)?;
        let reply = self.transport.exchange(&message);
        self.buf = message;
        self.answer(request, tag, &reply?, None)
    }

    /// Sends one command to the component behind switch port `port` through Tunnel
    /// Management (5300h): how a fabric manager reaches an MLD's FM-owned LD.
    pub fn tunnel(&mut self, port: u8, request: &Request) -> Result<Response, FabricError> {
        let (tag, inner) = self.encode(request)?;
        let outer = Request::Tunnel(TunnelRequest {
            target: TunnelTarget::PortOrLd(port),
            message: inner,
        });
        let Response::Tunnel(reply) = self.call(&outer)? else {
            unreachable!("a Tunnel request decodes only to a Tunnel response")
        };
        self.answer(request, tag, &reply.message, Some(port))
    }

    /// Identify (0001h) of the endpoint.
    pub fn identify(&mut self) -> Result<IdentifyResponse, FabricError> {
        match self.call(&Request::Identify)? {
            Response::Identify(r) => Ok(r),
            _ => unreachable!("Identify decodes only to Identify"),
        }
    }

    /// Get FW Info (0200h) of the endpoint, or of the device on `port` when given.
    pub fn fw_info(&mut self, port: Option<u8>) -> Result<FwInfo, FabricError> {
        match self.route(port, &Request::GetFwInfo)? {
            Response::FwInfo(r) => Ok(r),
            _ => unreachable!("Get FW Info decodes only to FwInfo"),
        }
    }

    /// Identify (0001h) of the device on `port`.
    pub fn identify_device(&mut self, port: u8) -> Result<IdentifyResponse, FabricError> {
        match self.tunnel(port, &Request::Identify)? {
            Response::Identify(r) => Ok(r),
            _ => unreachable!("Identify decodes only to Identify"),
        }
    }

    /// Identify Switch Device (5100h).
    pub fn identify_switch(&mut self) -> Result<IdentifySwitchDevice, FabricError> {
        match self.call(&Request::IdentifySwitchDevice)? {
            Response::IdentifySwitchDevice(r) => Ok(r),
            _ => unreachable!("Identify Switch Device decodes only to its response"),
        }
    }

    /// Get Physical Port State (5101h) of `ports`.
    pub fn port_state(&mut self, ports: &[u8]) -> Result<Vec<PortInfo>, FabricError> {
        let request = Request::GetPhysicalPortState(GetPhysicalPortState {
            ports: ports.to_vec(),
        });
        match self.call(&request)? {
            Response::PhysicalPortState(r) => Ok(r.ports),
            _ => unreachable!("Get Physical Port State decodes only to its response"),
        }
    }

    /// Get VCS Info (5200h) of `vcs_ids`, every vPPB.
    pub fn vcs_info(&mut self, vcs_ids: &[u8]) -> Result<Vec<VcsInfoBlock>, FabricError> {
        let request = Request::GetVcsInfo(GetVcsInfo {
            start_vppb: 0,
            vppb_list_limit: u8::MAX,
            vcs_ids: vcs_ids.to_vec(),
        });
        match self.call(&request)? {
            Response::VcsInfo(r) => Ok(r.blocks),
            _ => unreachable!("Get VCS Info decodes only to its response"),
        }
    }

    /// Bind vPPB (5201h).
    pub fn bind(&mut self, bind: BindVppb) -> Result<(), FabricError> {
        self.call(&Request::BindVppb(bind)).map(|_| ())
    }

    /// Unbind vPPB (5202h).
    pub fn unbind(&mut self, unbind: UnbindVppb) -> Result<(), FabricError> {
        self.call(&Request::UnbindVppb(unbind)).map(|_| ())
    }

    /// Get LD Info (5400h) of the MLD on `port`.
    pub fn ld_info(&mut self, port: u8) -> Result<LdInfo, FabricError> {
        match self.tunnel(port, &Request::GetLdInfo)? {
            Response::LdInfo(r) => Ok(r),
            _ => unreachable!("Get LD Info decodes only to LdInfo"),
        }
    }

    /// Get LD Allocations (5401h) of the MLD on `port`, every LD.
    pub fn ld_allocations(&mut self, port: u8) -> Result<LdAllocations, FabricError> {
        let window = LdWindow {
            start_ld: 0,
            count: u8::MAX,
        };
        match self.tunnel(port, &Request::GetLdAllocations(window))? {
            Response::LdAllocations(r) => Ok(r),
            _ => unreachable!("Get LD Allocations decodes only to its response"),
        }
    }

    /// Set LD Allocations (5402h) on the MLD on `port`; returns what it accepted.
    pub fn set_ld_allocations(
        &mut self,
        port: u8,
        set: SetLdAllocations,
    ) -> Result<SetLdAllocations, FabricError> {
        match self.tunnel(port, &Request::SetLdAllocations(set))? {
            Response::SetLdAllocations(r) => Ok(r),
            _ => unreachable!("Set LD Allocations decodes only to its response"),
        }
    }

    /// Get QoS Control (5403h) of the MLD on `port`.
    pub fn qos_control(&mut self, port: u8) -> Result<QosControl, FabricError> {
        match self.tunnel(port, &Request::GetQosControl)? {
            Response::QosControl(r) => Ok(r),
            _ => unreachable!("Get QoS Control decodes only to QosControl"),
        }
    }

    /// Set QoS Control (5404h) on the MLD on `port`; returns what it accepted.
    pub fn set_qos_control(
        &mut self,
        port: u8,
        set: QosControl,
    ) -> Result<QosControl, FabricError> {
        match self.tunnel(port, &Request::SetQosControl(set))? {
            Response::QosControl(r) => Ok(r),
            _ => unreachable!("Set QoS Control decodes only to QosControl"),
        }
    }

    /// Get QoS Allocated BW (5406h) of `count` LDs from `start_ld` of the MLD on `port`.
    pub fn qos_allocated_bw(
        &mut self,
        port: u8,
        window: LdWindow,
    ) -> Result<QosFractions, FabricError> {
        match self.tunnel(port, &Request::GetQosAllocatedBw(window))? {
            Response::QosAllocatedBw(r) => Ok(r),
            _ => unreachable!("Get QoS Allocated BW decodes only to fractions"),
        }
    }

    /// Set QoS Allocated BW (5407h) on the MLD on `port`.
    pub fn set_qos_allocated_bw(
        &mut self,
        port: u8,
        set: QosFractions,
    ) -> Result<QosFractions, FabricError> {
        match self.tunnel(port, &Request::SetQosAllocatedBw(set))? {
            Response::QosAllocatedBw(r) => Ok(r),
            _ => unreachable!("Set QoS Allocated BW decodes only to fractions"),
        }
    }

    /// Get QoS BW Limit (5408h) of `count` LDs from `start_ld` of the MLD on `port`.
    pub fn qos_bw_limit(
        &mut self,
        port: u8,
        window: LdWindow,
    ) -> Result<QosFractions, FabricError> {
        match self.tunnel(port, &Request::GetQosBwLimit(window))? {
            Response::QosBwLimit(r) => Ok(r),
            _ => unreachable!("Get QoS BW Limit decodes only to fractions"),
        }
    }

    /// Set QoS BW Limit (5409h) on the MLD on `port`.
    pub fn set_qos_bw_limit(
        &mut self,
        port: u8,
        set: QosFractions,
    ) -> Result<QosFractions, FabricError> {
        match self.tunnel(port, &Request::SetQosBwLimit(set))? {
            Response::QosBwLimit(r) => Ok(r),
            _ => unreachable!("Set QoS BW Limit decodes only to fractions"),
        }
    }

    fn route(&mut self, port: Option<u8>, request: &Request) -> Result<Response, FabricError> {
        match port {
            Some(p) => self.tunnel(p, request),
            None => self.call(request),
        }
    }
}

fn check_answers(header: &CciHeader, request: &Request, tag: u8) -> Result<(), String> {
    if header.category != Category::Response {
        return Err("a request where a response was due".into());
    }
    if header.tag != tag {
        return Err(format!("CCI tag {} in reply to tag {tag}", header.tag));
    }
    if header.opcode != request.opcode() {
        return Err(format!(
            "opcode {} in reply to {}",
            header.opcode,
            request.opcode()
        ));
    }
    Ok(())
}

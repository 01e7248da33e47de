//! The 12-byte CCI message header every FM API request and response starts with
//! (CXL r3.1 §7.6.3, Figure 7-19 "CCI Message Format"; the same layout as libcxlmi's
//! `struct cxlmi_cci_msg`). All multi-byte fields are little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | category: 0 request, 1 response (bits 7:4 reserved) |
//! | 1 | 1 | message tag (a response echoes its request's) |
//! | 2 | 1 | reserved |
//! | 3 | 1 | command (opcode bits 7:0) |
//! | 4 | 1 | command set (opcode bits 15:8) |
//! | 5 | 3 | bits 19:0 payload length, bit 23 background operation |
//! | 8 | 2 | return code (responses) |
//! | 10 | 2 | vendor-specific extended status |

use super::error::FmApiError;

/// Length of the CCI message header.
pub const HEADER_LEN: usize = 12;
/// The largest payload the 20-bit length field can state.
pub const MAX_PAYLOAD: usize = (1 << 20) - 1;

/// Request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Sent by the fabric manager.
    Request,
    /// Sent back by the component.
    Response,
}

impl Category {
    fn byte(self) -> u8 {
        match self {
            Category::Request => 0,
            Category::Response => 1,
        }
    }
}

/// A command opcode: command set in bits 15:8, command in bits 7:0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opcode(pub u16);

impl Opcode {
    /// Identify (CXL r3.1 §8.2.9.1.1).
    pub const IDENTIFY: Opcode = Opcode(0x0001);
    /// Background Operation Status (§8.2.9.1.2).
    pub const BACKGROUND_OPERATION_STATUS: Opcode = Opcode(0x0002);
    /// Get FW Info (§8.2.9.3.1).
    pub const GET_FW_INFO: Opcode = Opcode(0x0200);
    /// Identify Switch Device (§7.6.7.1.1).
    pub const IDENTIFY_SWITCH_DEVICE: Opcode = Opcode(0x5100);
    /// Get Physical Port State (§7.6.7.1.2).
    pub const GET_PHYSICAL_PORT_STATE: Opcode = Opcode(0x5101);
    /// Physical Port Control (§7.6.7.1.3).
    pub const PHYSICAL_PORT_CONTROL: Opcode = Opcode(0x5102);
    /// Get Virtual CXL Switch Info (§7.6.7.2.1).
    pub const GET_VCS_INFO: Opcode = Opcode(0x5200);
    /// Bind vPPB (§7.6.7.2.2).
    pub const BIND_VPPB: Opcode = Opcode(0x5201);
    /// Unbind vPPB (§7.6.7.2.3).
    pub const UNBIND_VPPB: Opcode = Opcode(0x5202);
    /// Tunnel Management Command (§7.6.7.3.1): a CCI message forwarded to the component
    /// behind a switch port (an MLD's FM-owned LD).
    pub const TUNNEL_MANAGEMENT: Opcode = Opcode(0x5300);
    /// Get LD Info (§7.6.7.4.1).
    pub const GET_LD_INFO: Opcode = Opcode(0x5400);
    /// Get LD Allocations (§7.6.7.4.2).
    pub const GET_LD_ALLOCATIONS: Opcode = Opcode(0x5401);
    /// Set LD Allocations (§7.6.7.4.3).
    pub const SET_LD_ALLOCATIONS: Opcode = Opcode(0x5402);
    /// Get QoS Control (§7.6.7.4.4).
    pub const GET_QOS_CONTROL: Opcode = Opcode(0x5403);
    /// Set QoS Control (§7.6.7.4.5).
    pub const SET_QOS_CONTROL: Opcode = Opcode(0x5404);
    /// Get QoS Status (§7.6.7.4.6).
    pub const GET_QOS_STATUS: Opcode = Opcode(0x5405);
    /// Get QoS Allocated BW (§7.6.7.4.7).
    pub const GET_QOS_ALLOCATED_BW: Opcode = Opcode(0x5406);
    /// Set QoS Allocated BW (§7.6.7.4.8).
    pub const SET_QOS_ALLOCATED_BW: Opcode = Opcode(0x5407);
    /// Get QoS BW Limit (§7.6.7.4.9).
    pub const GET_QOS_BW_LIMIT: Opcode = Opcode(0x5408);
    /// Set QoS BW Limit (§7.6.7.4.10).
    pub const SET_QOS_BW_LIMIT: Opcode = Opcode(0x5409);
    /// Get Multi-Headed Info (§7.6.7.5.1).
    pub const GET_MHD_INFO: Opcode = Opcode(0x5500);

    /// The command's name in CXL r3.1, for the commands this codec speaks.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Opcode::IDENTIFY => "Identify",
            Opcode::BACKGROUND_OPERATION_STATUS => "Background Operation Status",
            Opcode::GET_FW_INFO => "Get FW Info",
            Opcode::IDENTIFY_SWITCH_DEVICE => "Identify Switch Device",
            Opcode::GET_PHYSICAL_PORT_STATE => "Get Physical Port State",
            Opcode::PHYSICAL_PORT_CONTROL => "Physical Port Control",
            Opcode::GET_VCS_INFO => "Get Virtual CXL Switch Info",
            Opcode::BIND_VPPB => "Bind vPPB",
            Opcode::UNBIND_VPPB => "Unbind vPPB",
            Opcode::TUNNEL_MANAGEMENT => "Tunnel Management Command",
            Opcode::GET_LD_INFO => "Get LD Info",
            Opcode::GET_LD_ALLOCATIONS => "Get LD Allocations",
            Opcode::SET_LD_ALLOCATIONS => "Set LD Allocations",
            Opcode::GET_QOS_CONTROL => "Get QoS Control",
            Opcode::SET_QOS_CONTROL => "Set QoS Control",
            Opcode::GET_QOS_STATUS => "Get QoS Status",
            Opcode::GET_QOS_ALLOCATED_BW => "Get QoS Allocated BW",
            Opcode::SET_QOS_ALLOCATED_BW => "Set QoS Allocated BW",
            Opcode::GET_QOS_BW_LIMIT => "Get QoS BW Limit",
            Opcode::SET_QOS_BW_LIMIT => "Set QoS BW Limit",
            Opcode::GET_MHD_INFO => "Get Multi-Headed Info",
            _ => return None,
        })
    }

    /// Whether the command only reads state: Identify, the status and info commands and
    /// every `Get …`. The others change the switch or device (or, for Tunnel Management,
    /// carry a command that may).
    #[must_use]
    pub fn is_query(self) -> bool {
        matches!(
            self,
            Opcode::IDENTIFY
                | Opcode::BACKGROUND_OPERATION_STATUS
                | Opcode::GET_FW_INFO
                | Opcode::IDENTIFY_SWITCH_DEVICE
                | Opcode::GET_PHYSICAL_PORT_STATE
                | Opcode::GET_VCS_INFO
                | Opcode::GET_LD_INFO
                | Opcode::GET_LD_ALLOCATIONS
                | Opcode::GET_QOS_CONTROL
                | Opcode::GET_QOS_STATUS
                | Opcode::GET_QOS_ALLOCATED_BW
                | Opcode::GET_QOS_BW_LIMIT
                | Opcode::GET_MHD_INFO
        )
    }

    /// The command set (high byte).
    #[must_use]
    pub fn set(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// The command within its set (low byte).
    #[must_use]
    pub fn command(self) -> u8 {
        self.0 as u8
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}h", self.0)
    }
}

/// A response's return code (CXL r3.1 Table 8-34; the values QEMU's
/// `hw/cxl/cxl-mailbox-utils.c` and libcxlmi use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReturnCode(pub u16);

impl ReturnCode {
    /// The command completed.
    pub const SUCCESS: ReturnCode = ReturnCode(0x0000);
    /// The command runs in the background; poll Background Operation Status.
    pub const BACKGROUND_STARTED: ReturnCode = ReturnCode(0x0001);
    /// A field of the request is invalid.
    pub const INVALID_INPUT: ReturnCode = ReturnCode(0x0002);
    /// The component does not implement the command.
    pub const UNSUPPORTED: ReturnCode = ReturnCode(0x0003);
    /// The component failed internally.
    pub const INTERNAL_ERROR: ReturnCode = ReturnCode(0x0004);
    /// Retry the command.
    pub const RETRY_REQUIRED: ReturnCode = ReturnCode(0x0005);
    /// The component is busy (a background operation runs).
    pub const BUSY: ReturnCode = ReturnCode(0x0006);
    /// The payload length does not fit the command.
    pub const INVALID_PAYLOAD_LENGTH: ReturnCode = ReturnCode(0x0016);

    /// Whether the command was accepted (completed or started in the background).
    #[must_use]
    pub fn is_ok(self) -> bool {
        self == Self::SUCCESS || self == Self::BACKGROUND_STARTED
    }
}

/// A decoded CCI message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CciHeader {
    /// Request or response.
    pub category: Category,
    /// Tag matching a response to its request.
    pub tag: u8,
    /// Command set and command.
    pub opcode: Opcode,
    /// Payload bytes after the header (20 bits).
    pub payload_len: u32,
    /// Bit 23 of the length field: the command runs as a background operation.
    pub background: bool,
    /// Return code (0 in requests).
    pub return_code: ReturnCode,
    /// Vendor-specific extended status.
    pub vendor_status: u16,
}

impl CciHeader {
    /// A request header for `opcode` with `payload_len` payload bytes.
    #[must_use]
    pub fn request(tag: u8, opcode: Opcode, payload_len: u32) -> Self {
        CciHeader {
            category: Category::Request,
            tag,
            opcode,
            payload_len,
            background: false,
            return_code: ReturnCode::SUCCESS,
            vendor_status: 0,
        }
    }

    /// The response header answering `request` with `payload_len` bytes and `return_code`.
    #[must_use]
    pub fn response_to(request: &CciHeader, return_code: ReturnCode, payload_len: u32) -> Self {
        CciHeader {
            category: Category::Response,
            tag: request.tag,
            opcode: request.opcode,
            payload_len,
            background: return_code == ReturnCode::BACKGROUND_STARTED,
            return_code,
            vendor_status: 0,
        }
    }

    /// The 12 header bytes. A payload length above [`MAX_PAYLOAD`] is refused.
    pub fn to_bytes(&self) -> Result<[u8; HEADER_LEN], FmApiError> {
        if self.payload_len as usize > MAX_PAYLOAD {
            return Err(FmApiError::PayloadTooLarge(self.payload_len as usize));
        }
        let len = self.payload_len | (u32::from(self.background) << 23);
        let rc = self.return_code.0.to_le_bytes();
        let vs = self.vendor_status.to_le_bytes();
        Ok([
            self.category.byte(),
            self.tag,
            0,
            self.opcode.command(),
            self.opcode.set(),
            len as u8,
            (len >> 8) as u8,
            (len >> 16) as u8,
            rc[0],
            rc[1],
            vs[0],
            vs[1],
        ])
    }

    /// Decodes the first 12 bytes of `bytes` (which may hold more: the payload).
    pub fn decode(bytes: &[u8]) -> Result<Self, FmApiError> {
        let Some(h) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(FmApiError::Truncated {
                what: "CCI message header",
                len: bytes.len(),
                need: HEADER_LEN,
            });
        };
        // Bits 7:4 of the category byte are reserved; only the low nibble names it.
        let category = match h[0] & 0x0f {
            0 => Category::Request,
            1 => Category::Response,
            other => return Err(FmApiError::BadCategory(other)),
        };
        let len = u32::from(h[5]) | u32::from(h[6]) << 8 | u32::from(h[7]) << 16;
        Ok(CciHeader {
            category,
            tag: h[1],
            opcode: Opcode(u16::from(h[4]) << 8 | u16::from(h[3])),
            payload_len: len & 0x000f_ffff,
            background: len & (1 << 23) != 0,
            return_code: ReturnCode(u16::from_le_bytes([h[8], h[9]])),
            vendor_status: u16::from_le_bytes([h[10], h[11]]),
        })
    }
}

/// Writes one whole CCI message (header with `payload.len()` filled in, then the payload)
/// to `out`.
pub fn encode_message(
    header: &CciHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FmApiError> {
    let len =
        u32::try_from(payload.len()).map_err(|_| FmApiError::PayloadTooLarge(payload.len()))?;
    let bytes = CciHeader {
        payload_len: len,
        ..*header
    }
    .to_bytes()?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&bytes);
    out.extend_from_slice(payload);
    Ok(())
}

/// Splits one whole CCI message into its header and payload, checking that exactly the
/// declared payload follows the header.
pub fn decode_message(bytes: &[u8]) -> Result<(CciHeader, &[u8]), FmApiError> {
    let header = CciHeader::decode(bytes)?;
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != header.payload_len as usize {
        return Err(FmApiError::LengthMismatch {
            declared: header.payload_len as usize,
            actual: payload.len(),
        });
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::Opcode;

    const SPOKEN: [Opcode; 21] = [
        Opcode::IDENTIFY,
        Opcode::BACKGROUND_OPERATION_STATUS,
        Opcode::GET_FW_INFO,
        Opcode::IDENTIFY_SWITCH_DEVICE,
        Opcode::GET_PHYSICAL_PORT_STATE,
        Opcode::PHYSICAL_PORT_CONTROL,
        Opcode::GET_VCS_INFO,
        Opcode::BIND_VPPB,
        Opcode::UNBIND_VPPB,
        Opcode::TUNNEL_MANAGEMENT,
        Opcode::GET_LD_INFO,
        Opcode::GET_LD_ALLOCATIONS,
        Opcode::SET_LD_ALLOCATIONS,
        Opcode::GET_QOS_CONTROL,
        Opcode::SET_QOS_CONTROL,
        Opcode::GET_QOS_STATUS,
        Opcode::GET_QOS_ALLOCATED_BW,
        Opcode::SET_QOS_ALLOCATED_BW,
        Opcode::GET_QOS_BW_LIMIT,
        Opcode::SET_QOS_BW_LIMIT,
        Opcode::GET_MHD_INFO,
    ];

    #[test]
    fn every_spoken_command_has_its_name_and_only_reads_are_queries() {
        for opcode in SPOKEN {
            let name = opcode.name().unwrap_or_else(|| panic!("{opcode} unnamed"));
            let reads = name.starts_with("Get ")
                || name.starts_with("Identify")
                || name == "Background Operation Status";
            assert_eq!(opcode.is_query(), reads, "{opcode} {name}");
        }
        assert_eq!(Opcode(0x4300).name(), None);
        assert!(!Opcode(0x4300).is_query());
    }
}

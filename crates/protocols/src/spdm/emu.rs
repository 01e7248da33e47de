//! The DMTF spdm-emu socket framing (`spdm_emu/spdm_emu_common/command.h`): a 12-byte header
//! of three big-endian u32s — command, transport type, payload size — then the payload.
//! With transport NONE the payload is the bare SPDM message; with MCTP it is prefixed by the
//! MCTP message type 0x05 (SPDM; 0x06 would be a secured message, which we do not speak).

use super::error::{Result, SpdmError};

/// Size of the socket header.
pub const HEADER_LEN: usize = 12;
/// Largest payload we accept from a peer: spdm-emu's own receive buffer is smaller, so
/// anything larger is garbage, not a message.
pub const MAX_PAYLOAD: usize = 0x1_2000;
/// MCTP message type of a plain SPDM message.
pub const MCTP_TYPE_SPDM: u8 = 0x05;

/// Socket commands.
pub mod command {
    pub const NORMAL: u32 = 0x0001;
    pub const CONTINUE: u32 = 0xFFFD;
    pub const SHUTDOWN: u32 = 0xFFFE;
    pub const UNKNOWN: u32 = 0xFFFF;
    pub const TEST: u32 = 0xDEAD;
}

/// Transport types of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmuTransport {
    None,
    Mctp,
}

impl EmuTransport {
    #[must_use]
    pub fn code(self) -> u32 {
        match self {
            EmuTransport::None => 0,
            EmuTransport::Mctp => 1,
        }
    }

    /// Wraps an SPDM message into this transport's payload.
    #[must_use]
    pub fn wrap(self, spdm: &[u8]) -> Vec<u8> {
        match self {
            EmuTransport::None => spdm.to_vec(),
            EmuTransport::Mctp => {
                let mut out = Vec::with_capacity(spdm.len() + 1);
                out.push(MCTP_TYPE_SPDM);
                out.extend_from_slice(spdm);
                out
            }
        }
    }

    /// The SPDM message inside a payload of this transport.
    pub fn unwrap(self, payload: &[u8]) -> Result<&[u8]> {
        match self {
            EmuTransport::None => Ok(payload),
            EmuTransport::Mctp => match payload.split_first() {
                Some((&MCTP_TYPE_SPDM, rest)) => Ok(rest),
                Some((&other, _)) => Err(SpdmError::Inconsistent {
                    message: "MCTP payload",
                    field: "message type",
                    reason: format!("0x{other:02x} is not SPDM (0x05)"),
                }),
                None => Err(SpdmError::Truncated {
                    message: "MCTP payload",
                    field: "message type",
                    need: 1,
                    have: 0,
                }),
            },
        }
    }
}

/// One socket header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmuHeader {
    pub command: u32,
    pub transport_type: u32,
    pub size: u32,
}

impl EmuHeader {
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.command.to_be_bytes());
        out[4..8].copy_from_slice(&self.transport_type.to_be_bytes());
        out[8..12].copy_from_slice(&self.size.to_be_bytes());
        out
    }

    /// Decodes a header and checks the size against [`MAX_PAYLOAD`].
    pub fn decode(bytes: &[u8]) -> Result<EmuHeader> {
        let m = "spdm-emu header";
        let h: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(SpdmError::Truncated {
                message: m,
                field: "header",
                need: HEADER_LEN,
                have: bytes.len(),
            })?;
        let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header = EmuHeader {
            command: word(0),
            transport_type: word(4),
            size: word(8),
        };
        super::codec::fits(m, "size", header.size as usize, MAX_PAYLOAD)?;
        Ok(header)
    }
}

/// A whole frame: header then payload (the SPDM message wrapped for `transport`).
pub fn encode_frame(command: u32, transport: EmuTransport, spdm: &[u8]) -> Result<Vec<u8>> {
    let payload = transport.wrap(spdm);
    super::codec::fits("spdm-emu frame", "size", payload.len(), MAX_PAYLOAD)?;
    let header = EmuHeader {
        command,
        transport_type: transport.code(),
        size: payload.len() as u32,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes a whole frame held in one buffer (tests and fuzzing; the TCP transport reads the
/// header and payload separately). Returns the header and the SPDM message.
pub fn decode_frame(bytes: &[u8], transport: EmuTransport) -> Result<(EmuHeader, &[u8])> {
    let header = EmuHeader::decode(bytes)?;
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != header.size as usize {
        return Err(SpdmError::Inconsistent {
            message: "spdm-emu frame",
            field: "size",
            reason: format!("says {}, frame carries {}", header.size, payload.len()),
        });
    }
    if header.command == command::NORMAL && header.transport_type != transport.code() {
        return Err(SpdmError::Inconsistent {
            message: "spdm-emu frame",
            field: "transport type",
            reason: format!("{} instead of {}", header.transport_type, transport.code()),
        });
    }
    let spdm = if header.command == command::NORMAL {
        transport.unwrap(payload)?
    } else {
        payload
    };
    Ok((header, spdm))
}

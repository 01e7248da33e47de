//! MCTP over a TCP stream, framed as JackrabbitLabs' `cse` switch emulator serves FM API
//! (its default port is 2508): every MCTP packet is a fixed 68-byte record, the 4-byte
//! transport header and a 64-byte body, zero-padded on the last packet of a message
//! (`corridor_protocols::fmapi::mctp`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use corridor_protocols::fmapi::FmApiError;
use corridor_protocols::fmapi::mctp::{
    MESSAGE_TYPE_FM_API, MctpMessage, Reassembler, Route, TCP_PACKET_LEN, packetize, trim_cci,
};

use super::{FabricError, FmTransport};

/// Endpoint id the fabric manager uses for itself.
pub const FM_EID: u8 = 0x08;
/// Endpoint id assumed for the switch's FM API endpoint (a TCP connection reaches exactly
/// one endpoint, so the value only has to be consistent).
pub const SWITCH_EID: u8 = 0x09;

/// Why reading one message failed: the stream, or the bytes on it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stream failed or closed.
    #[error("reading the stream failed")]
    Io(#[from] io::Error),
    /// The packets do not form a message.
    #[error("malformed MCTP packets")]
    Frame(#[from] FmApiError),
}

/// Reads packet records until one message is complete.
pub fn read_message(
    stream: &mut impl Read,
    reassembler: &mut Reassembler,
) -> Result<MctpMessage, ReadError> {
    let mut packet = [0u8; TCP_PACKET_LEN];
    loop {
        stream.read_exact(&mut packet)?;
        if let Some(message) = reassembler.push(&packet)? {
            return Ok(message);
        }
    }
}

/// Writes one FM API message (`cci`: a whole CCI message) as packet records.
pub fn write_message(
    stream: &mut impl Write,
    route: Route,
    cci: &[u8],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    packetize(route, MESSAGE_TYPE_FM_API, cci, scratch);
    stream.write_all(scratch)
}

/// A fabric manager's connection to one switch's FM API endpoint over TCP.
#[derive(Debug)]
pub struct MctpTcpTransport {
    stream: TcpStream,
    peer: String,
    reassembler: Reassembler,
    scratch: Vec<u8>,
    next_tag: u8,
}

impl MctpTcpTransport {
    /// Connects to `addr`; `timeout` bounds the connect and every read and write (FM API
    /// allows a component 2 s to answer, CXL r3.1 §9.20.2).
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self, FabricError> {
        let peer = addr.to_string();
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|source| {
            FabricError::Unreachable {
                peer: peer.clone(),
                source,
            }
        })?;
        let io = |action| {
            let peer = peer.clone();
            move |source| FabricError::Io {
                peer,
                action,
                source,
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .map_err(io("setting the read timeout"))?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(io("setting the write timeout"))?;
        // One small request, one response: Nagle would only add latency.
        stream.set_nodelay(true).map_err(io("disabling Nagle"))?;
        Ok(MctpTcpTransport {
            stream,
            peer,
            reassembler: Reassembler::new(),
            scratch: Vec::new(),
            next_tag: 0,
        })
    }
}

impl FmTransport for MctpTcpTransport {
    fn peer(&self) -> &str {
        &self.peer
    }

    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, FabricError> {
        let tag = self.next_tag;
        self.next_tag = (self.next_tag + 1) & 7;
        let route = Route {
            dest_eid: SWITCH_EID,
            src_eid: FM_EID,
            tag,
            tag_owner: true,
        };
        write_message(&mut self.stream, route, request, &mut self.scratch).map_err(|source| {
            FabricError::Io {
                peer: self.peer.clone(),
                action: "sending a request",
                source,
            }
        })?;
        let message = match read_message(&mut self.stream, &mut self.reassembler) {
            Ok(m) => m,
            Err(ReadError::Io(source)) => {
                return Err(FabricError::Io {
                    peer: self.peer.clone(),
                    action: "reading a response",
                    source,
                });
            }
            Err(ReadError::Frame(source)) => {
                return Err(FabricError::Malformed {
                    peer: self.peer.clone(),
                    source,
                });
            }
        };
        if message.message_type != MESSAGE_TYPE_FM_API {
            return Err(FabricError::Malformed {
                peer: self.peer.clone(),
                source: FmApiError::MctpMessageType {
                    found: message.message_type,
                    expected: MESSAGE_TYPE_FM_API,
                },
            });
        }
        if message.tag != tag || message.tag_owner {
            return Err(FabricError::Mismatch {
                peer: self.peer.clone(),
                detail: format!(
                    "MCTP tag {} (owner bit {}) in reply to tag {tag}",
                    message.tag, message.tag_owner
                ),
            });
        }
        let cci = trim_cci(&message.padded_body).map_err(|source| FabricError::Malformed {
            peer: self.peer.clone(),
            source,
        })?;
        Ok(cci.to_vec())
    }
}

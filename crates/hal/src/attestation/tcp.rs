//! SPDM over TCP with the DMTF spdm-emu socket framing, to talk to `spdm_responder_emu`
//! (`--trans NONE` or `--trans MCTP`, port 2323) or any responder that speaks it.
//!
//! Each exchange writes one frame (command NORMAL) and reads one frame back; the response
//! must carry command NORMAL and the same transport type. [`EmuTcpTransport::shutdown`]
//! sends the SHUTDOWN command, which stops spdm-emu's responder.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use corridor_protocols::spdm::emu::{self, EmuHeader, EmuTransport, command};

use super::{SpdmConnector, SpdmTransport, SpdmTransportError};

/// One TCP connection to an spdm-emu style responder.
#[derive(Debug)]
pub struct EmuTcpTransport {
    stream: TcpStream,
    transport: EmuTransport,
    peer: String,
}

impl EmuTcpTransport {
    /// Connects to `addr`; `timeout` bounds the connect and every read and write.
    pub fn connect(
        addr: SocketAddr,
        transport: EmuTransport,
        timeout: Duration,
    ) -> Result<Self, SpdmTransportError> {
        let peer = addr.to_string();
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
            SpdmTransportError::Unreachable {
                device: peer.clone(),
                reason: e.to_string(),
            }
        })?;
        let io = |action| {
            let peer = peer.clone();
            move |source| SpdmTransportError::Io {
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
        Ok(EmuTcpTransport {
            stream,
            transport,
            peer,
        })
    }

    fn send(&mut self, command: u32, spdm: &[u8]) -> Result<(), SpdmTransportError> {
        let frame = emu::encode_frame(command, self.transport, spdm).map_err(|source| {
            SpdmTransportError::Framing {
                peer: self.peer.clone(),
                source,
            }
        })?;
        self.stream
            .write_all(&frame)
            .map_err(|source| SpdmTransportError::Io {
                peer: self.peer.clone(),
                action: "sending a request",
                source,
            })
    }

    fn receive(&mut self) -> Result<(EmuHeader, Vec<u8>), SpdmTransportError> {
        let mut header = [0u8; emu::HEADER_LEN];
        self.read_exact(&mut header)?;
        let header = EmuHeader::decode(&header).map_err(|source| SpdmTransportError::Framing {
            peer: self.peer.clone(),
            source,
        })?;
        let mut payload = vec![0u8; header.size as usize];
        self.read_exact(&mut payload)?;
        Ok((header, payload))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SpdmTransportError> {
        self.stream.read_exact(buf).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                SpdmTransportError::Closed {
                    peer: self.peer.clone(),
                }
            } else {
                SpdmTransportError::Io {
                    peer: self.peer.clone(),
                    action: "receiving a response",
                    source,
                }
            }
        })
    }

    /// Asks the responder to shut down (spdm-emu exits on it) and waits for its answer.
    pub fn shutdown(mut self) -> Result<(), SpdmTransportError> {
        self.send(command::SHUTDOWN, &[])?;
        match self.receive() {
            Ok(_) | Err(SpdmTransportError::Closed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl SpdmTransport for EmuTcpTransport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, SpdmTransportError> {
        self.send(command::NORMAL, request)?;
        let (header, payload) = self.receive()?;
        let bad = |reason: String| SpdmTransportError::Framing {
            peer: self.peer.clone(),
            source: corridor_protocols::spdm::SpdmError::Inconsistent {
                message: "spdm-emu frame",
                field: "header",
                reason,
            },
        };
        if header.command == command::SHUTDOWN {
            return Err(SpdmTransportError::Closed {
                peer: self.peer.clone(),
            });
        }
        if header.command != command::NORMAL {
            return Err(bad(format!(
                "command 0x{:x} instead of NORMAL",
                header.command
            )));
        }
        if header.transport_type != self.transport.code() {
            return Err(bad(format!(
                "transport type {} instead of {}",
                header.transport_type,
                self.transport.code()
            )));
        }
        self.transport
            .unwrap(&payload)
            .map(<[u8]>::to_vec)
            .map_err(|source| SpdmTransportError::Framing {
                peer: self.peer.clone(),
                source,
            })
    }
}

/// Connects devices to spdm-emu style responders by address.
#[derive(Debug, Clone)]
pub struct EmuTcpConnector {
    pub peers: HashMap<String, SocketAddr>,
    pub transport: EmuTransport,
    pub timeout: Duration,
}

impl SpdmConnector for EmuTcpConnector {
    fn connect(&self, device_id: &str) -> Result<Box<dyn SpdmTransport>, SpdmTransportError> {
        let addr = self
            .peers
            .get(device_id)
            .ok_or_else(|| SpdmTransportError::UnknownDevice {
                device: device_id.to_string(),
            })?;
        Ok(Box::new(EmuTcpTransport::connect(
            *addr,
            self.transport,
            self.timeout,
        )?))
    }
}

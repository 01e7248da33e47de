//! Device attestation seam: the SPDM transport a requester talks through, and its backends.
//!
//! * [`SpdmTransport`]: one SPDM connection — send one request message, receive one
//!   response message. The requester (`corridor-attest`) is generic over it, so the same
//!   code attests a twin device in-process and a real responder over a socket.
//! * [`SpdmConnector`]: opens a connection to a device by its topology id; services hold
//!   one as a trait object chosen at start, like the optical plant.
//! * [`twin`]: [`TwinSpdm`], an in-process SPDM 1.2 responder per simulated device (CXL
//!   switches, CXL memory devices, optical modules), each with a certificate chain under the
//!   twin vendor CA and measurement blocks derived from its firmware in the topology
//!   ([`identity`]), with injectable faults ([`TwinSpdmFaults`]).
//! * [`tcp`]: [`EmuTcpTransport`], the DMTF spdm-emu socket framing over TCP (transport
//!   NONE or MCTP), to talk to `spdm_responder_emu` or any responder that speaks it.
//! * [`keys`]: the twin's deterministic keys and certificates.

pub mod identity;
pub mod keys;
pub mod tcp;
pub mod twin;

use std::fmt;

use corridor_protocols::spdm::SpdmError;

pub use identity::{AttestableDevice, DeviceKind, attestable_devices, reference_measurements};
pub use tcp::{EmuTcpConnector, EmuTcpTransport};
pub use twin::{SpdmFault, TwinSpdm, TwinSpdmConfig, TwinSpdmFaults, TwinSpdmTransport};

/// One SPDM connection to one device.
pub trait SpdmTransport: Send + fmt::Debug {
    /// Sends one SPDM request message and returns the responder's one response message
    /// (the bare SPDM bytes; any transport framing is the backend's business).
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, SpdmTransportError>;
}

/// Opens SPDM connections to devices by topology id.
pub trait SpdmConnector: Send + Sync + fmt::Debug {
    fn connect(&self, device_id: &str) -> Result<Box<dyn SpdmTransport>, SpdmTransportError>;
}

/// Why an SPDM exchange did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum SpdmTransportError {
    #[error("SPDM device {device} is unreachable: {reason}")]
    Unreachable { device: String, reason: String },
    #[error("no SPDM device {device} in this backend")]
    UnknownDevice { device: String },
    #[error("i/o with the SPDM responder at {peer} while {action}")]
    Io {
        peer: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the SPDM responder at {peer} sent a bad frame")]
    Framing {
        peer: String,
        #[source]
        source: SpdmError,
    },
    #[error("the SPDM responder at {peer} closed the connection")]
    Closed { peer: String },
}

/// Why the twin's SPDM devices could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TwinSpdmError {
    #[error("cannot derive the twin key {label}: {reason}")]
    Key { label: String, reason: String },
    #[error("cannot issue the twin certificate of {subject}: {reason}")]
    Certificate { subject: String, reason: String },
    #[error("two twin SPDM devices are called {0}")]
    DuplicateDevice(String),
}

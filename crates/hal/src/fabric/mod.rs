//! The fabric-manager seam: CXL FM API messages to switches and the devices behind them.
//!
//! - [`FmTransport`]: one request message out, one response message back. The backend here
//!   is [`MctpTcpTransport`], MCTP over a TCP stream as JackrabbitLabs' switch emulator
//!   serves it (68-byte packet records; `corridor_protocols::fmapi::mctp` documents the
//!   framing). A Linux `AF_MCTP` backend (`socket(AF_MCTP, SOCK_DGRAM)`, type 07h in
//!   `sockaddr_mctp`) belongs behind the same trait, but only where the kernel has an MCTP
//!   interface (I2C/I3C/PCIe VDM); the machines this project runs on have none
//!   (`/sys/class/net` lists no `mctp*` link), so it is not built and no test pretends.
//! - [`FmClient`]: typed commands over a transport, with Tunnel Management (5300h) to reach
//!   the FM-owned LD of a device behind a switch port.
//! - [`twin`]: switch and multi-logical-device twins answering FM API over the TCP framing,
//!   built from the twin topology, with hot-plug and link faults ([`FabricFaults`]).
//! - [`discover`]: learns a fabric only through FM API and returns typed switch, port and
//!   device records.

mod client;
pub mod discover;
mod tcp;
pub mod twin;

use corridor_protocols::fmapi::{FmApiError, Opcode};

pub use client::FmClient;
pub use discover::{
    DeviceKind, DeviceRecord, Discovery, FabricSnapshot, PortRecord, PortStatus, SwitchEndpoint,
    SwitchRecord,
};
pub use tcp::{MctpTcpTransport, read_message, write_message};
pub use twin::{Exchange, FabricFaults, FabricTwin, SwitchTwin, fnv1a_64, wire_serial};

/// Why an FM API exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    /// The endpoint could not be reached.
    #[error("cannot reach FM API endpoint {peer}")]
    Unreachable {
        /// The endpoint.
        peer: String,
        /// The connect error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("FM API endpoint {peer}: {action} failed")]
    Io {
        /// The endpoint.
        peer: String,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The endpoint sent bytes that are not a well-formed answer.
    #[error("FM API endpoint {peer} sent a malformed frame")]
    Malformed {
        /// The endpoint.
        peer: String,
        /// What was wrong with it.
        #[source]
        source: FmApiError,
    },
    /// A well-formed response that does not answer the request sent.
    #[error("FM API endpoint {peer} answered out of turn: {detail}")]
    Mismatch {
        /// The endpoint.
        peer: String,
        /// What did not match.
        detail: String,
    },
    /// The component refused the command.
    #[error("FM API endpoint {peer}{via} answered {opcode} with return code {return_code:#06x}")]
    Refused {
        /// The endpoint.
        peer: String,
        /// " via port N" for a tunnelled command, else empty.
        via: String,
        /// The command.
        opcode: Opcode,
        /// Its return code.
        return_code: u16,
    },
    /// A request that cannot be encoded (a list longer than its count field).
    #[error("FM API request to {peer} cannot be encoded")]
    Encode {
        /// The endpoint.
        peer: String,
        /// Why.
        #[source]
        source: FmApiError,
    },
}

/// One request message out, one response message back.
pub trait FmTransport: Send {
    /// Who is at the other end (for errors and records).
    fn peer(&self) -> &str;

    /// Sends one CCI request message (12-byte header and payload) and returns the CCI
    /// response message, padding removed; the caller decodes it.
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, FabricError>;
}

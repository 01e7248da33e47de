//! CXL Fabric Manager API (FM API) codecs: pure, no I/O.
//!
//! * [`header`]: the 12-byte CCI message header (CXL r3.1 §7.6.3, Figure 7-19).
//! * [`generic`], [`switch`], [`mld`]: request and response payloads of the commands a
//!   fabric manager needs — Identify (0001h), Background Operation Status (0002h), Get FW
//!   Info (0200h), sets 51h (physical switch), 52h (virtual switch), 53h (Tunnel Management),
//!   54h (MLD components: LD info and allocations, QoS) and 55h (Get Multi-Headed Info).
//! * [`message`]: every command as one [`Request`] / [`Response`] value keyed by opcode.
//! * [`mctp`]: MCTP packetisation (DSP0236) of FM API messages (message type 07h), and the
//!   MCTP-over-TCP stream framing of JackrabbitLabs' switch emulator.
//!
//! Layouts follow the CXL r3.1 sections cited on each type, cross-checked against
//! libcxlmi's `src/cxlmi/api-types.h` and QEMU's switch CCI (memory-cxl.md §3). Decoders
//! are total: any byte string gives a value or an [`FmApiError`], never a panic, and a list
//! count is checked against the bytes present before anything is allocated.

pub mod error;
pub mod generic;
pub mod header;
pub mod mctp;
pub mod message;
pub mod mld;
pub mod switch;
mod wire;

pub use error::FmApiError;
pub use generic::{BackgroundOperationStatus, ComponentType, FwInfo, IdentifyResponse};
pub use header::{Category, CciHeader, HEADER_LEN, MAX_PAYLOAD, Opcode, ReturnCode};
pub use message::{Request, Response};
pub use mld::{
    LdAllocation, LdAllocations, LdInfo, LdWindow, MhdInfo, QosControl, QosFractions, QosStatus,
    SetLdAllocations,
};
pub use switch::{
    BindVppb, BindingStatus, ConnectedDeviceType, GetPhysicalPortState, GetVcsInfo,
    IdentifySwitchDevice, PhysicalPortControl, PhysicalPortState, PortConfigState, PortInfo,
    PortOperation, TunnelRequest, TunnelResponse, TunnelTarget, UnbindVppb, VcsInfo, VcsInfoBlock,
    VppbInfo,
};

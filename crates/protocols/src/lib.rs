//! Pure byte codecs for CorridorOS (see `DESIGN.md` §3, "protocols"): no I/O, no clocks.
//!
//! * [`cmis`]: the OIF CMIS 5.x module memory map (lower page, pages 00h/01h/04h/10h/11h/12h,
//!   VDM pages 20h–2Fh with the F16 format), the module and DataPath state machines, a pure
//!   provisioning planner and a tick-driven simulated module for the digital twin.
//! * [`spdm`]: the DMTF SPDM 1.2 messages of device attestation (both directions), the
//!   certificate-chain header, the signed-message prefix, transcripts and the spdm-emu
//!   socket framing.
//! * [`tcg`]: TPM measured boot: the TCG crypto-agile event log and its replay, and the
//!   `TPMS_ATTEST` / `TPMT_SIGNATURE` / `TPMT_PUBLIC` structures of a quote.
//! * [`fmapi`]: the CXL Fabric Manager API: CCI message header, switch / MLD / QoS command
//!   payloads, MCTP packetisation (message type 07h) and its TCP stream framing.
//! * [`cxl_list`]: the JSON ndctl's `cxl list` prints (memdevs, regions, decoders, ports),
//!   whatever shape the options give it.

pub mod cmis;
pub mod cxl_list;
pub mod fmapi;
pub mod spdm;
pub mod tcg;

//! Hardware abstraction for CorridorOS.
//!
//! This crate holds what the services need to talk about hardware without knowing whether it
//! is real or simulated:
//!
//! - [`topology`]: the digital twin's rack description (TOML), its loader and validator, and
//!   the default rack embedded in the binary;
//! - [`clock`]: the [`Clock`] trait, a scaled real-time clock and a manual clock for tests;
//! - [`optical`]: the [`OpticalPort`] trait (CMIS provisioning, tuning and monitors through the
//!   module memory map) and the [`OpticalPlant`] that holds a control plane's ports, with a
//!   `twin` backend fed by the physics model (its fault injection behind [`TwinFaults`]) and a
//!   `linux` backend over optoe `eeprom` files or `/dev/i2c-N`;
//! - [`memory`]: the [`MemoryProvider`] trait (NUMA nodes, HMAT figures, kernel memory tiers,
//!   CXL memdevs/regions, weighted interleave) with a `linux` sysfs backend and a `twin`
//!   backend, and T0–T3 classification from latency and bandwidth;
//! - [`attestation`]: the [`SpdmTransport`] seam of device attestation, with in-process twin
//!   SPDM 1.2 responders ([`TwinSpdm`], faults behind [`TwinSpdmFaults`]) and a TCP backend
//!   speaking the DMTF spdm-emu socket framing ([`EmuTcpTransport`]);
//! - [`tpm`]: the [`Tpm`] root of trust (attestation key, quotes, PCR reads, the firmware
//!   event log) with the tss-esapi backend [`TssTpm`] (swtpm or `/dev/tpmrm0`) and [`Swtpm`],
//!   a software TPM process for tests and the twin;
//! - [`fscrypt`]: filesystem encryption (v2 policies) over the kernel's ioctls, the
//!   mechanism under persistent memory bundles' encryption at rest;
//! - [`fabric`]: the CXL fabric-manager seam: the [`FmTransport`] trait with MCTP over TCP
//!   ([`MctpTcpTransport`]), a typed FM API client, switch and MLD twins answering FM API
//!   from the topology (faults behind [`FabricFaults`]) and discovery through FM API only;
//! - [`cxl`]: the CXL memory devices of a Linux host for the device inventory, from ndctl's
//!   `cxl list` (behind [`cxl::CxlCli`]) or `/sys/bus/cxl` when the tool is not installed;
//! - [`confidential`]: what confidential-computing technology (SEV-SNP, TDX) the platform
//!   offers or runs under, detected from `/proc` and `/sys`.
//!
//! # Determinism
//!
//! Every number the twin produces is a pure function of the topology (including
//! `[twin] seed`) and the clock readings it is given. Two runs with the same topology, seed
//! and sequence of [`Clock::now`] values produce the same numbers, bit for bit. To keep it
//! so, twin code never reads the system clock, a global RNG or the environment directly:
//! time comes from a [`Clock`], randomness from generators seeded from the topology.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use corridor_hal::{Clock, ManualClock, Topology};
//!
//! let rack = Topology::default_twin();
//! let port = rack.optical_port("op-h0-0").expect("default rack has it");
//! let link = rack.links_of(&port.id).next().expect("every default port is cabled");
//! assert_eq!(link.other_end(&port.id).unwrap().as_str(), "op-h1-0");
//!
//! let clock = ManualClock::from_twin(rack.twin());
//! clock.advance(Duration::from_secs(6 * 3600));
//! let elapsed = (clock.now() - rack.twin().start_time).as_seconds_f64();
//! let ambient = rack.active_ambient_profile().temperature_at(elapsed);
//! assert!((ambient.get() - 26.0).abs() < 1e-9); // diurnal peak: 24 °C + 4 °C / 2
//! ```

pub mod attestation;
pub mod clock;
pub mod compat;
pub mod confidential;
pub mod cxl;
pub mod fabric;
pub mod fscrypt;
pub mod memory;
pub mod optical;
pub mod topology;
pub mod tpm;

pub use attestation::{
    EmuTcpTransport, SpdmConnector, SpdmFault, SpdmTransport, SpdmTransportError, TwinSpdm,
    TwinSpdmConfig, TwinSpdmFaults,
};
pub use clock::{Clock, ClockError, Clocks, ManualClock, ScaledClock, ScenarioClock, WallClock};
pub use fabric::{
    FabricError, FabricFaults, FabricTwin, FmClient, FmTransport, MctpTcpTransport, SwitchTwin,
};
pub use memory::{
    MemoryError, MemoryInventory, MemoryNode, MemoryProvider, SysfsMemory, Tier, TwinMemory,
};
pub use optical::{
    LinuxOptics, OpticalError, OpticalPlant, OpticalPort, PortMonitors, TwinFaults,
    TwinOpticalPort, TwinOptics,
};
pub use topology::{Topology, TopologyDocument, TopologyError};
pub use tpm::{Swtpm, Tpm, TpmError, TpmTransport, TssTpm};

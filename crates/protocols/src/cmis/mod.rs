//! OIF CMIS 5.x memory-map codec (pure: no I/O, no clocks).
//!
//! * [`addr`]: page/bank addressing, linear optoe offsets, lanes.
//! * [`application`]: the lane signal (rate, modulation) behind an application descriptor.
//! * [`map`]: [`MemoryMap`], [`Field`] descriptors ([`map::fields`]) and typed accessors for the
//!   lower page and pages 01h, 04h, 10h, 11h, 12h.
//! * [`vdm`]: VDM descriptors and values (pages 20h–27h), [`f16`]: the VDM F16 number format.
//! * [`tunable`]: laser grid codes and channel ↔ frequency.
//! * [`state`]: module/DataPath state machines, ConfigStatus, the provisioning planner
//!   ([`state::plan_provisioning`]) and a generic plan runner ([`state::run_plan`]).
//! * [`ring_page`]: the HELIOPASS vendor pages B0h–B3h (ring heaters, monitor photodiodes,
//!   modulator bias, lock status, laser fine tuning).
//! * [`module_sim`]: a tick-driven simulated module for the digital twin and tests.
//!
//! Sources for offsets: `reference/photonics.md` §1 and OIF CMIS 5.x; each descriptor cites
//! its own. Multi-byte values are big-endian.

pub mod addr;
pub mod application;
pub mod error;
pub mod f16;
pub mod map;
pub mod module_sim;
pub mod ring_page;
pub mod state;
pub mod tunable;
pub mod vdm;

pub use addr::{ByteAddr, Lane, PageAddress};
pub use application::{LaneCapability, LaneModulation, MediaInterface};
pub use error::{CmisError, Result};
pub use map::{ApplicationDescriptor, DpConfig, Durations, Encoding, Field, MemoryMap};
pub use module_sim::{ModuleSim, SimProfile};
pub use ring_page::{LockState, LockStatus, RingLaneRegs, RingPage, RingPageHeader};
pub use state::{
    Condition, ConfigStatus, DataPathState, ModuleState, PlanTarget, PollOutcome, ProvisionRequest,
    Step, plan_provisioning, run_plan,
};
pub use tunable::{GridSpacing, TuningStatus};
pub use vdm::{VdmDescriptor, VdmType};

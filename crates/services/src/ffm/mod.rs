//! memqosd: free-form memory bundles and bandwidth policies (issue #4).
//!
//! * [`memory`]: the real memory (sealed memfd or persistent file, `mbind`).
//! * [`admission`]: memory devices from a `MemoryProvider` as ledger devices.
//! * [`model`]: max-min fair bandwidth sharing and the M/M/1 tail model.
//! * [`service`]: [`FfmService`]: alloc, get, list, delete, the PATCHes,
//!   leases, policies, restore after restart, the expiry reconciler.
//! * [`handoff`]: the Unix-socket fd hand-off (`SCM_RIGHTS`).

pub mod admission;
pub mod handoff;
pub mod memory;
pub mod model;
pub mod service;

pub use service::{FfmConfig, FfmError, FfmService};

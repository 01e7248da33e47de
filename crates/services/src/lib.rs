//! The CorridorOS services: one module per RFC daemon, plus the resource
//! machinery they all share (store-backed registries, leases, watches and
//! long-running operations).
//!
//! Services own their resources and reconcilers; the HTTP layer in
//! `corridor-server` only translates between HTTP and these calls, so the same
//! logic runs under tests, on the twin and on real hardware.

pub mod attestation;
pub mod caller;
pub mod compat;
pub mod control_plane;
pub mod corridors;
pub mod daemons;
pub mod error;
pub mod fabman;
pub mod ffm;
pub mod heliopass;
pub mod history;
pub mod ids;
pub mod inventory;
pub mod labels;
pub mod labs;
pub mod leadership;
pub mod operations;
pub mod projection;
pub mod registry;
pub mod resource;

pub use caller::Caller;
pub use control_plane::ControlPlane;
pub use error::ServiceError;
pub use registry::{ListOptions, Page, Registry, ResourceEvent, ResourceEventType};
pub use resource::Resource;

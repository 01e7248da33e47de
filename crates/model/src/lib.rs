//! CorridorOS API model: the types of every RFC-0001 resource, their
//! validation, and the RFC 9457 problem type every error is reported in.
//!
//! The crate is pure (no I/O, no clock: callers pass `now`), so the server,
//! the client, the CLI and the tests all share one definition of the
//! contract.
//!
//! Decoding a request body is two steps, both collecting field pointers:
//!
//! 1. [`json::from_body_strict`] rejects malformed JSON (400), a body that
//!    is not an object, wrong types, missing and unknown fields (422);
//! 2. [`Validate::validate`] checks ranges, lengths and cross-field rules,
//!    reporting every violation at once (422).
//!
//! [`json::from_slice_validated`] does both.
//!
//! Field names are the RFC's, including its capitals (`bandwidth_floor_GBs`);
//! Rust field names are snake case and renamed on the wire.

pub mod analytics;
pub mod attestation;
pub mod calibration;
pub mod compat;
pub mod corridor;
pub mod fabric;
pub mod ffm;
pub mod ffm_plan;
pub mod history;
pub mod json;
pub mod labs;
pub mod memory_tiers;
pub mod meta;
pub mod policy;
pub mod problem;
pub mod rfc_examples;
pub mod schema;
pub mod timestamp;
pub mod units;
pub mod validate;

pub use json::{from_slice_strict, from_slice_validated};
pub use meta::{Condition, ConditionStatus, Operation, ResourceMeta};
pub use problem::{FieldViolation, Problem, ProblemKind};
pub use validate::Validate;

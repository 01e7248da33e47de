//! CorridorOS's state store: etcd v3 semantics behind one trait.
//!
//! - [`StateStore`]: ordered keys, one global revision, compare-and-swap
//!   transactions, leases and resumable watches.
//! - [`RedbStore`]: the embedded, single-machine implementation (the default).
//! - `EtcdStore` (feature `etcd`, on by default): the same trait on an etcd
//!   v3 cluster, for control planes spanning machines.
//! - `conformance` (feature `conformance`): the behaviour every implementation
//!   must show, as async checks to run against a fresh store.
//! - [`fencing`]: writes that only hold while their leader still leads.

mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod fencing;
mod redb;
pub mod rider;
mod store;
mod types;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use crate::error::{BoxError, StoreError};
#[cfg(feature = "etcd")]
pub use crate::etcd::{EtcdOptions, EtcdStore, EtcdTls};
pub use crate::fencing::{FencingStore, FencingToken, fenced};
pub use crate::redb::{
    Disk, LeaseClock, LocalDisk, LogFile, RedbOptions, RedbStore, SystemLeaseClock, WalError,
    event_log_paths, wal_path, wal_paths, wal_pending_records,
};
pub use crate::rider::{NoteSink, Rider};
pub use crate::store::StateStore;
pub use crate::types::{
    Compare, CompareOp, CompareTarget, EventKind, KeyValue, KvEvent, LeaseId, LeaseInfo, LeasedTxn,
    NEW_LEASE, Op, OpResult, RangeRequest, RangeResponse, Revision, Txn, TxnResponse, WatchStream,
};

//! The data that crosses the [`StateStore`](crate::StateStore) boundary.
//!
//! These mirror etcd v3's messages closely enough that an etcd backend is a
//! field-by-field mapping, and loosely enough that an embedded backend does not
//! have to pretend to speak gRPC.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;

use crate::StoreError;

/// The store's global logical clock. Every write transaction advances it by
/// exactly one; all the changes of that transaction carry the new value.
pub type Revision = i64;

/// Identifies a lease. Zero is never a valid id (etcd reserves it for "no lease").
pub type LeaseId = i64;

/// A key with its value and the revisions that describe its history.
///
/// A key that does not exist compares as if `create_revision`, `mod_revision`
/// and `version` were all zero, as in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: Revision,
    /// The revision of the last change to the key.
    pub mod_revision: Revision,
    /// How many times the key was written since it was created; 1 after creation.
    pub version: i64,
    pub lease: Option<LeaseId>,
}

/// Reads the keys under a prefix in key order, optionally one page at a time.
///
/// ```
/// # use corridor_store::RangeRequest;
/// let first = RangeRequest::prefix("/nodes/").limit(100);
/// let next = RangeRequest::prefix("/nodes/").after("/nodes/n42").limit(100);
/// # let _ = (first, next);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeRequest {
    prefix: String,
    start_after: Option<String>,
    limit: Option<usize>,
    keys_only: bool,
}

impl RangeRequest {
    /// All keys that start with `prefix` (the empty prefix selects every key).
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            start_after: None,
            limit: None,
            keys_only: false,
        }
    }

    /// Only keys strictly greater than `key`: pass the last key of the previous
    /// page to get the next one.
    #[must_use]
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.start_after = Some(key.into());
        self
    }

    /// At most `limit` keys; [`RangeResponse::more`] tells whether any were left out.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Keys and their revisions, versions and leases without their values
    /// (every [`KeyValue::value`] is empty), as etcd's `keys_only`: a reader
    /// that keeps what it decoded by revision asks which keys changed
    /// without copying every value out of the store.
    #[must_use]
    pub fn keys_only(mut self) -> Self {
        self.keys_only = true;
        self
    }

    pub fn prefix_str(&self) -> &str {
        &self.prefix
    }

    pub fn start_after(&self) -> Option<&str> {
        self.start_after.as_deref()
    }

    pub fn limit_value(&self) -> Option<usize> {
        self.limit
    }

    pub fn is_keys_only(&self) -> bool {
        self.keys_only
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// The store revision the read observed: a watch from `revision + 1`
    /// continues exactly where this read left off.
    pub revision: Revision,
    /// True when the limit cut the answer short.
    pub more: bool,
}

/// What a [`Compare`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareTarget {
    ModRevision(Revision),
    CreateRevision(Revision),
    Version(i64),
    /// Compared byte-wise. As in etcd, a value comparison on a missing key is
    /// always false, whatever the operator.
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

/// One guard of a [`Txn`]: `<key's target> <op> <operand>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compare {
    pub key: String,
    pub target: CompareTarget,
    pub op: CompareOp,
}

impl Compare {
    pub fn mod_revision(key: impl Into<String>, op: CompareOp, revision: Revision) -> Self {
        Self {
            key: key.into(),
            target: CompareTarget::ModRevision(revision),
            op,
        }
    }

    pub fn create_revision(key: impl Into<String>, op: CompareOp, revision: Revision) -> Self {
        Self {
            key: key.into(),
            target: CompareTarget::CreateRevision(revision),
            op,
        }
    }

    pub fn version(key: impl Into<String>, op: CompareOp, version: i64) -> Self {
        Self {
            key: key.into(),
            target: CompareTarget::Version(version),
            op,
        }
    }

    pub fn value(key: impl Into<String>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            target: CompareTarget::Value(value.into()),
            op,
        }
    }

    /// True when the key does not exist (`create_revision == 0`).
    pub fn absent(key: impl Into<String>) -> Self {
        Self::create_revision(key, CompareOp::Equal, 0)
    }

    /// True when the key exists.
    pub fn present(key: impl Into<String>) -> Self {
        Self::create_revision(key, CompareOp::Greater, 0)
    }
}

/// One operation of a [`Txn`] branch. Operations run in order and see the
/// effects of the ones before them; as in etcd, a branch may not write the same
/// key twice (put + put, or put + delete covering it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Put {
        key: String,
        // As bytes, not a sequence of `u8`: one copy instead of a call per
        // byte in the write-ahead log (postcard writes both the same way).
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        /// Attaches the key to a lease (it is deleted when the lease ends); `None`
        /// detaches it from any lease it had.
        lease: Option<LeaseId>,
    },
    Delete {
        key: String,
    },
    DeletePrefix {
        prefix: String,
    },
    Get {
        key: String,
    },
}

impl Op {
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: None,
        }
    }

    pub fn put_with_lease(
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        lease: LeaseId,
    ) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: Some(lease),
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into() }
    }

    pub fn delete_prefix(prefix: impl Into<String>) -> Self {
        Op::DeletePrefix {
            prefix: prefix.into(),
        }
    }

    pub fn get(key: impl Into<String>) -> Self {
        Op::Get { key: key.into() }
    }

    pub fn is_write(&self) -> bool {
        !matches!(self, Op::Get { .. })
    }
}

/// An etcd transaction: if every compare holds, run `success`, else `failure`.
/// No compares means success.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.compares.extend(compares);
        self
    }

    #[must_use]
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.success.extend(ops);
        self
    }

    #[must_use]
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.failure.extend(ops);
        self
    }
}

/// Stands for the lease that [`crate::StateStore::txn_with_new_lease`]
/// grants, in the puts of the transaction's success branch. Real lease ids
/// are positive in both backends, so it cannot name an existing lease.
pub const NEW_LEASE: LeaseId = -1;

impl Txn {
    /// This transaction with [`NEW_LEASE`] in its success branch replaced by
    /// `lease`.
    #[must_use]
    pub fn with_new_lease(mut self, lease: LeaseId) -> Self {
        for op in &mut self.success {
            if let Op::Put {
                lease: l @ Some(NEW_LEASE),
                ..
            } = op
            {
                *l = Some(lease);
            }
        }
        self
    }

    /// Whether the failure branch names [`NEW_LEASE`], which no store
    /// accepts: the lease exists only when the transaction succeeds.
    pub fn new_lease_on_failure(&self) -> bool {
        self.failure.iter().any(|op| {
            matches!(
                op,
                Op::Put {
                    lease: Some(NEW_LEASE),
                    ..
                }
            )
        })
    }
}

/// What [`crate::StateStore::txn_with_new_lease`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedTxn {
    /// The lease granted, if the transaction succeeded.
    pub lease: Option<LeaseId>,
    pub response: TxnResponse,
}

/// The result of one [`Op`], in the order of the branch that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Put { prev: Option<KeyValue> },
    Delete { deleted: Vec<KeyValue> },
    Get { kv: Option<KeyValue> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResponse {
    pub succeeded: bool,
    /// The store revision after the transaction: the transaction's own revision
    /// when it wrote, otherwise the revision its reads observed.
    pub revision: Revision,
    pub results: Vec<OpResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch. The event's revision is `kv.mod_revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEvent {
    pub kind: EventKind,
    /// The key after the change. For a delete: the key, an empty value,
    /// `mod_revision` = the deletion's revision, and zero create revision/version.
    pub kv: KeyValue,
    /// The key before the change, if it existed.
    pub prev_kv: Option<KeyValue>,
}

impl KvEvent {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// What [`StateStore::lease_time_to_live`](crate::StateStore::lease_time_to_live) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    pub id: LeaseId,
    /// The TTL the lease was granted (and is renewed to by each keep-alive).
    pub granted_ttl: Duration,
    /// Time left before the lease expires.
    pub remaining: Duration,
    /// Keys attached to the lease, in key order.
    pub keys: Vec<String>,
}

/// Changes in revision order. It ends after yielding an error.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<KvEvent, StoreError>> + Send>>;

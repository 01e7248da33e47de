//! Errors every backend reports the same way, so callers can match on the kind
//! of failure without knowing which store is underneath.

use std::path::PathBuf;

use crate::{LeaseId, Revision};

/// The source of a [`StoreError::Backend`]: any error of the underlying engine.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The history a read or watch needs has been compacted away.
    /// `compacted` is the oldest revision still available: watch again from there
    /// (after re-reading the current state), as with etcd's `compact_revision`.
    #[error(
        "revision {requested} has been compacted; the oldest available revision is {compacted}"
    )]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    /// A revision beyond the store's current one was asked for (e.g. compacting the future).
    #[error("revision {requested} is ahead of the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    /// The lease does not exist: never granted, revoked, or expired.
    #[error("lease {0} not found or expired")]
    LeaseNotFound(LeaseId),

    /// The request itself is malformed (empty key, a txn writing one key twice, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A watcher read more slowly than the store wrote and its buffer overflowed.
    /// The watch is over; events from `resume_from` on were not delivered.
    #[error(
        "watch fell behind the store's writes and was cancelled; watch again from revision {resume_from}"
    )]
    WatchLagged { resume_from: Revision },

    /// Another handle (in this or another process) has the store open.
    #[error("store {} is already open elsewhere", path.display())]
    AlreadyOpen { path: PathBuf },

    /// The stored bytes do not decode: the file is damaged or from another program.
    #[error("corrupt data in {context}: {detail}")]
    Corrupt {
        context: &'static str,
        detail: String,
    },

    /// The underlying engine failed; `context` says what the store was doing.
    #[error("storage backend failed to {context}")]
    Backend {
        context: &'static str,
        #[source]
        source: BoxError,
    },

    /// The write-ahead log could not be read, written or parsed.
    #[error("could not {context} ({})", path.display())]
    Wal {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: BoxError,
    },

    /// The event log (`<file>.events`, `<file>.events2`) could not be read
    /// or written.
    #[error("could not {context} ({})", path.display())]
    EventLog {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: BoxError,
    },

    /// A write made under a leader's fencing token found the leadership
    /// gone: the leader key `key` no longer has the create revision `held`
    /// (`now` is its create revision, 0 if nobody leads). Nothing was written.
    #[error(
        "leadership lost: {key} was created at revision {held} when this leader took it, and at {now} now (0: nobody leads); nothing was written"
    )]
    Fenced {
        key: String,
        held: Revision,
        now: Revision,
    },

    /// The store is shut down (or shutting down) and accepts no more requests.
    #[error("store is closed")]
    Closed,
}

impl StoreError {
    pub fn backend(context: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            context,
            source: source.into(),
        }
    }
}

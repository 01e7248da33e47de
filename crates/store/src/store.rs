//! The `StateStore` trait: etcd v3's key-value model as the control plane sees it.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    KeyValue, LeaseId, LeaseInfo, Op, OpResult, RangeRequest, RangeResponse, Revision, StoreError,
    Txn, TxnResponse, WatchStream,
};

/// A revisioned, transactional key-value store with leases and watches.
///
/// Semantics follow etcd v3 (and [`crate::conformance`] checks them):
/// - one global [`Revision`]; each transaction that writes advances it by exactly
///   one and all its changes carry that revision; read-only transactions do not;
/// - transactions are serialisable: compares and operations see every earlier
///   transaction and nothing of later ones;
/// - a put naming an unknown or expired lease fails the whole transaction with
///   [`StoreError::LeaseNotFound`] and applies nothing;
/// - a lease that expires or is revoked deletes all its keys in one revision;
/// - a watch delivers every change under its prefix in revision order, without
///   gaps or duplicates, or ends with an error saying why it cannot.
///
/// Used as `Arc<dyn StateStore>`.
#[async_trait]
pub trait StateStore: Debug + Send + Sync + 'static {
    /// Keys under a prefix, in key order, with the revision the read observed.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError>;

    /// One key, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        // The key itself sorts first among the keys it prefixes, so one entry suffices.
        let response = self.range(RangeRequest::prefix(key).limit(1)).await?;
        Ok(response.kvs.into_iter().find(|kv| kv.key == key))
    }

    /// Runs a transaction atomically.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError>;

    /// Writes one key unconditionally and returns the revision of the write.
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, StoreError> {
        let txn = Txn::new().and_then([Op::Put {
            key: key.to_owned(),
            value,
            lease,
        }]);
        Ok(self.txn(txn).await?.revision)
    }

    /// Deletes one key and returns what it held. Deleting a missing key is not
    /// an error and does not advance the revision.
    async fn delete(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let response = self.txn(Txn::new().and_then([Op::delete(key)])).await?;
        Ok(match response.results.into_iter().next() {
            Some(OpResult::Delete { deleted }) => deleted.into_iter().next(),
            _ => None,
        })
    }

    /// The latest revision.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// Grants a lease that lives `ttl` unless kept alive. A backend may round the
    /// TTL up (etcd grants whole seconds, with a minimum); `lease_time_to_live`
    /// tells what was granted.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError>;

    /// Renews a lease for its granted TTL and returns that TTL.
    /// [`StoreError::LeaseNotFound`] if it has expired or never existed.
    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration, StoreError>;

    /// Ends a lease now, deleting its keys in one revision.
    /// [`StoreError::LeaseNotFound`] if it does not exist.
    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError>;

    /// A lease's TTLs and keys, or `None` if it does not exist (any more).
    async fn lease_time_to_live(&self, id: LeaseId) -> Result<Option<LeaseInfo>, StoreError>;

    /// Changes to keys under `prefix` with revision `>= from_revision`; 0 means
    /// only changes after the call. [`StoreError::Compacted`] if that history is
    /// gone. A revision in the future simply waits for it.
    async fn watch(&self, prefix: &str, from_revision: Revision)
    -> Result<WatchStream, StoreError>;

    /// Discards history older than `revision` (which stays watchable).
    /// Compacting to a revision at or below the current compaction is a no-op;
    /// a revision beyond the current one is [`StoreError::FutureRevision`].
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}

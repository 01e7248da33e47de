//! The `StateStore` trait: etcd v3's key-value model as the control plane sees it.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::rider::NoteSink;
use crate::{
    KeyValue, LeaseId, LeaseInfo, LeasedTxn, Op, OpResult, RangeRequest, RangeResponse, Revision,
    StoreError, Txn, TxnResponse, WatchStream,
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

    /// Grants a lease of `ttl` and runs `txn` in one step: every put of
    /// `txn` naming [`crate::NEW_LEASE`] is attached to the new lease. The lease
    /// exists only if the transaction succeeded (`lease` is `None`
    /// otherwise), so a lost compare leaves no lease behind.
    ///
    /// The default is what etcd can do: a lease grant, then the
    /// transaction, then a revoke if it lost (three round trips, two of
    /// them consensus writes). The embedded store overrides it with one
    /// logged write, so a grant that owns its lease waits for one
    /// durable write instead of two.
    async fn txn_with_new_lease(&self, ttl: Duration, txn: Txn) -> Result<LeasedTxn, StoreError> {
        if txn.new_lease_on_failure() {
            return Err(StoreError::InvalidRequest(
                "only the success branch can name the new lease".into(),
            ));
        }
        let lease = self.lease_grant(ttl).await?;
        let response = self.txn(txn.with_new_lease(lease)).await;
        match response {
            Ok(response) if response.succeeded => Ok(LeasedTxn {
                lease: Some(lease),
                response,
            }),
            other => {
                // Nothing refers to the lease: give it back now rather than
                // let it linger until it expires.
                let _ = self.lease_revoke(lease).await;
                other.map(|response| LeasedTxn {
                    lease: None,
                    response,
                })
            }
        }
    }

    /// Runs `txn` and, if it succeeded, ends `lease` with it: the usual
    /// release, where the transaction deletes the lease's keys and the
    /// lease itself has no further use. A lease already gone (expired) is
    /// not an error.
    ///
    /// The default is etcd's two calls (the revoke is a second consensus
    /// write); the embedded store does both in one logged write.
    async fn txn_then_revoke(&self, txn: Txn, lease: LeaseId) -> Result<TxnResponse, StoreError> {
        let response = self.txn(txn).await?;
        if response.succeeded {
            match self.lease_revoke(lease).await {
                Ok(()) | Err(StoreError::LeaseNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(response)
    }

    /// Makes `sink` the owner of the notes this store's writes carry (see
    /// [`crate::rider`]) and hands it the notes its log held on open.
    /// `false` if this backend cannot carry notes: a write then never makes
    /// a [`crate::Rider`] durable, and its owner must sync the note itself.
    /// The default (etcd, whose log is not ours) cannot.
    async fn carry_notes(&self, sink: Arc<dyn NoteSink>) -> Result<bool, StoreError> {
        let _ = sink;
        Ok(false)
    }

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

//! Fencing tokens for work that only a leader may do.
//!
//! A leader elected through a store lease can be deposed without knowing it:
//! paused past its lease (GC, `SIGSTOP`, a slow disk), cut off from the
//! store, or simply slower than the replica that took over. Jepsen's etcd
//! analysis shows that a lock alone is not safe for this; every write the
//! leader makes must itself prove that the leadership still holds. Here the
//! proof is a compare on the leader key's create revision (the fencing
//! token): a later leader's key has a later create revision, and an expired
//! one has none, so a deposed leader's write fails inside the same
//! transaction that would have applied it.
//!
//! [`FencingStore`] adds that compare to every write made inside
//! [`fenced`]; outside it the store behaves exactly like the one it wraps.
//! The token travels with the task (a tokio task-local), so reconcilers
//! need not thread it through every call, and a task spawned from a fenced
//! one is fenced only if it was spawned with [`spawn`], which carries the
//! token over.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Compare, CompareOp, LeaseId, LeaseInfo, LeasedTxn, NoteSink, Op, OpResult, RangeRequest,
    RangeResponse, Revision, StateStore, StoreError, Txn, TxnResponse, WatchStream,
};

/// The leadership a fenced write must still hold: the leader key and the
/// create revision it had when this leader wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencingToken {
    pub key: String,
    pub create_revision: Revision,
}

impl FencingToken {
    /// The compare every fenced write carries.
    pub fn compare(&self) -> Compare {
        Compare::create_revision(&self.key, CompareOp::Equal, self.create_revision)
    }
}

tokio::task_local! {
    static FENCE: FencingToken;
}

/// Runs `work` with every write it makes through a [`FencingStore`] guarded
/// by `token`.
pub async fn fenced<F: Future>(token: FencingToken, work: F) -> F::Output {
    FENCE.scope(token, work).await
}

/// The fencing token of the running task, if it runs inside [`fenced`].
pub fn current_fence() -> Option<FencingToken> {
    FENCE.try_with(Clone::clone).ok()
}

/// Spawns `future` as its own task, inside the caller's fence if it has
/// one: work a fenced task starts stays fenced (`tokio::spawn` alone would
/// drop the task-local token).
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match current_fence() {
        Some(token) => tokio::spawn(fenced(token, future)),
        None => tokio::spawn(future),
    }
}

/// A store whose writes inside [`fenced`] carry the fencing compare.
#[derive(Debug)]
pub struct FencingStore {
    inner: Arc<dyn StateStore>,
}

impl FencingStore {
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self { inner }
    }
}

/// `txn` with the fence's compare added, and a read of the leader key in
/// its failure branch so a lost compare can be told apart from the caller's
/// own. A failure branch that writes is refused: a deposed leader would
/// apply it.
fn guard(txn: Txn, token: &FencingToken) -> Result<Txn, StoreError> {
    if txn.failure.iter().any(Op::is_write) {
        return Err(StoreError::InvalidRequest(
            "a fenced transaction may only read in its failure branch".into(),
        ));
    }
    let mut txn = txn;
    txn.compares.push(token.compare());
    txn.failure.push(Op::get(&token.key));
    Ok(txn)
}

/// Removes the leader-key read [`guard`] added and reports a lost
/// leadership as [`StoreError::Fenced`].
fn unguard(mut response: TxnResponse, token: &FencingToken) -> Result<TxnResponse, StoreError> {
    if response.succeeded {
        return Ok(response);
    }
    let holder = match response.results.pop() {
        Some(OpResult::Get { kv }) => kv,
        other => {
            return Err(StoreError::Corrupt {
                context: "a fenced transaction's answer",
                detail: format!("expected the leader key's read last, got {other:?}"),
            });
        }
    };
    match holder {
        Some(kv) if kv.create_revision == token.create_revision => Ok(response),
        holder => Err(StoreError::Fenced {
            key: token.key.clone(),
            held: token.create_revision,
            now: holder.map_or(0, |kv| kv.create_revision),
        }),
    }
}

#[async_trait]
impl StateStore for FencingStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.inner.range(request).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        match current_fence() {
            None => self.inner.txn(txn).await,
            Some(token) => {
                let response = self.inner.txn(guard(txn, &token)?).await?;
                unguard(response, &token)
            }
        }
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.inner.current_revision().await
    }

    // Lease grants and renewals write nothing a follower could be misled
    // by; revokes delete keys but only a lease's owner knows its id.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.inner.lease_grant(ttl).await
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        self.inner.lease_keep_alive(id).await
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        self.inner.lease_revoke(id).await
    }

    async fn lease_time_to_live(&self, id: LeaseId) -> Result<Option<LeaseInfo>, StoreError> {
        self.inner.lease_time_to_live(id).await
    }

    async fn txn_with_new_lease(&self, ttl: Duration, txn: Txn) -> Result<LeasedTxn, StoreError> {
        match current_fence() {
            None => self.inner.txn_with_new_lease(ttl, txn).await,
            Some(token) => {
                let leased = self
                    .inner
                    .txn_with_new_lease(ttl, guard(txn, &token)?)
                    .await?;
                Ok(LeasedTxn {
                    lease: leased.lease,
                    response: unguard(leased.response, &token)?,
                })
            }
        }
    }

    async fn txn_then_revoke(&self, txn: Txn, lease: LeaseId) -> Result<TxnResponse, StoreError> {
        match current_fence() {
            None => self.inner.txn_then_revoke(txn, lease).await,
            Some(token) => {
                let response = self
                    .inner
                    .txn_then_revoke(guard(txn, &token)?, lease)
                    .await?;
                unguard(response, &token)
            }
        }
    }

    async fn carry_notes(&self, sink: Arc<dyn NoteSink>) -> Result<bool, StoreError> {
        self.inner.carry_notes(sink).await
    }

    async fn watch(
        &self,
        prefix: &str,
        from_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        self.inner.watch(prefix, from_revision).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }
}

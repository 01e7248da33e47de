//! A `StateStore` decorator that counts every call and its outcome, so
//! `/metrics` shows store traffic whatever backend runs underneath.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use corridor_store::{
    LeaseId, LeaseInfo, LeasedTxn, NoteSink, RangeRequest, RangeResponse, Revision, StateStore,
    StoreError, Txn, TxnResponse, WatchStream,
};

use tracing::Instrument;

use crate::metrics::Metrics;

/// A store transaction's span: a child of the request that caused it.
fn txn_span(kind: &'static str) -> tracing::Span {
    tracing::info_span!("store.txn", otel.name = %format_args!("store {kind}"), store.kind = kind)
}

#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn StateStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    /// Counts one transaction of kind `op` by outcome and times it from
    /// `started` to its durable commit (or refusal).
    fn observe_txn(
        &self,
        op: &'static str,
        started: std::time::Instant,
        response: Result<&TxnResponse, &StoreError>,
    ) {
        let elapsed = started.elapsed();
        let outcome = match response {
            Ok(response) if response.succeeded => "ok",
            Ok(_) => "compare_failed",
            Err(_) => "error",
        };
        self.metrics.observe_store(op, outcome);
        self.metrics.observe_store_txn(outcome, elapsed);
    }

    fn count<T>(&self, op: &'static str, result: &Result<T, StoreError>) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics.observe_store(op, outcome);
    }
}

#[async_trait]
impl StateStore for MeteredStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
        let result = self.inner.range(request).await;
        self.count("range", &result);
        result
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let started = std::time::Instant::now();
        let result = self.inner.txn(txn).instrument(txn_span("txn")).await;
        self.observe_txn("txn", started, result.as_ref());
        result
    }

    async fn txn_with_new_lease(&self, ttl: Duration, txn: Txn) -> Result<LeasedTxn, StoreError> {
        let started = std::time::Instant::now();
        let result = self
            .inner
            .txn_with_new_lease(ttl, txn)
            .instrument(txn_span("txn_with_new_lease"))
            .await;
        let response = result.as_ref().map(|leased| &leased.response);
        self.observe_txn("txn_with_new_lease", started, response);
        result
    }

    async fn txn_then_revoke(&self, txn: Txn, lease: LeaseId) -> Result<TxnResponse, StoreError> {
        let started = std::time::Instant::now();
        let result = self
            .inner
            .txn_then_revoke(txn, lease)
            .instrument(txn_span("txn_then_revoke"))
            .await;
        self.observe_txn("txn_then_revoke", started, result.as_ref());
        result
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.inner.current_revision().await
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let result = self.inner.lease_grant(ttl).await;
        self.count("lease_grant", &result);
        result
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        let result = self.inner.lease_keep_alive(id).await;
        self.count("lease_keep_alive", &result);
        result
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        let result = self.inner.lease_revoke(id).await;
        self.count("lease_revoke", &result);
        result
    }

    async fn lease_time_to_live(&self, id: LeaseId) -> Result<Option<LeaseInfo>, StoreError> {
        self.inner.lease_time_to_live(id).await
    }

    async fn watch(
        &self,
        prefix: &str,
        from_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        let result = self.inner.watch(prefix, from_revision).await;
        self.count("watch", &result);
        result
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let result = self.inner.compact(revision).await;
        self.count("compact", &result);
        result
    }

    async fn carry_notes(&self, sink: Arc<dyn NoteSink>) -> Result<bool, StoreError> {
        self.inner.carry_notes(sink).await
    }
}

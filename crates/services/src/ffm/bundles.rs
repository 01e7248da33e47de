//! Reading and ending bundles: get, list and watch (through the caller's
//! visibility), lease renewal, DELETE, and freeing a bundle's memory and
//! capacity (shared by DELETE and the expiry reconciler).

use corridor_model::ffm::{FfmBundle, Persistence};
use corridor_store::{Compare, CompareOp, Op, Revision, Txn};

use super::error::{FfmError, store_err};
use super::grants::grant_key;
use super::tokens::token_key;
use super::{BundleAndToken, FfmService, lock, visibility};
use std::sync::Arc;

use crate::labels::LabelSelector;
use crate::projection::Projection;
use crate::registry::ResourceEvents;
use crate::registry::check_precondition;
use crate::{Caller, ListOptions, Page, ServiceError};

impl FfmService {
    /// The bundle with live telemetry, and its token if the caller may
    /// receive it.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<BundleAndToken, FfmError> {
        let (bundle, _) = visibility::get(&self.bundles, caller, id).await?;
        let token = self.token_for(caller, &bundle);
        Ok(BundleAndToken {
            bundle: self.with_telemetry(bundle).await,
            token,
        })
    }

    /// One page of the bundles the caller sees, with live telemetry.
    pub async fn list(
        &self,
        caller: &Caller,
        options: &ListOptions,
    ) -> Result<Page<FfmBundle>, FfmError> {
        let mut page = visibility::list(&self.bundles, caller, options).await?;
        let ids: Vec<&str> = page.items.iter().map(|b| b.id.as_str()).collect();
        let snapshot = self.snapshot_covering(&ids).await;
        page.items = page
            .items
            .into_iter()
            .map(|b| self.overlay(b, &snapshot))
            .collect();
        Ok(page)
    }

    /// A row `derive` makes of each bundle the caller sees, as stored (no
    /// telemetry overlay: [`modelled_figures`](Self::modelled_figures) has
    /// it), in id order. Rows of bundles unchanged since the last call with
    /// the same `projection` are kept, not derived again: for a reader that
    /// reads every bundle often, such as the metrics exporter.
    pub async fn project<R>(
        &self,
        caller: &Caller,
        projection: &mut Projection<R>,
        derive: impl Fn(&FfmBundle) -> R,
    ) -> Result<Vec<Arc<R>>, FfmError> {
        Ok(visibility::project(&self.bundles, caller, projection, derive).await?)
    }

    /// Changes after `from_revision` (0 = from now) to the bundles the
    /// caller sees, as stored (no telemetry: it is not a stored change).
    pub async fn watch(
        &self,
        caller: &Caller,
        from_revision: Revision,
        selector: LabelSelector,
    ) -> Result<ResourceEvents<FfmBundle>, FfmError> {
        Ok(visibility::watch(&self.bundles, caller, from_revision, selector).await?)
    }

    /// `POST /v1/ffm/{id}/lease`: another full TTL for object, grant and
    /// token (they share the lease).
    pub async fn renew(&self, caller: &Caller, id: &str) -> Result<FfmBundle, FfmError> {
        visibility::get(&self.bundles, caller, id).await?;
        let renewed = self.bundles.renew_lease(id, self.clock.now()).await?;
        Ok(self.with_telemetry(renewed).await)
    }

    /// `DELETE /v1/ffm/{id}`: removes object, grant and token in one
    /// transaction, then frees the memory. The bundle is not read when this
    /// process still holds the version it created
    /// ([`Self::delete_as_written`]); otherwise it is read once, for the
    /// visibility check and the transaction's precondition alike.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        precondition: Option<Revision>,
    ) -> Result<FfmBundle, FfmError> {
        if let Some(bundle) = self.delete_as_written(caller, id, precondition).await? {
            return Ok(bundle);
        }
        let (bundle, kv) = visibility::get(&self.bundles, caller, id).await?;
        check_precondition::<FfmBundle>(id, precondition, &kv)?;
        let response = self.end(id, &kv.key, kv.mod_revision, kv.lease).await?;
        if !response.succeeded {
            return Err(FfmError::Service(ServiceError::StaleVersion {
                kind: "ffm",
                id: id.to_owned(),
                expected: kv.mod_revision.to_string(),
                actual: "a newer version".into(),
            }));
        }
        if self.hosts.serves(&bundle.host) {
            self.release(id, bundle.persistence, Some(&bundle.security_domain));
        } else {
            // Another host's bundle: its memory (and any file) is in the memqosd serving
            // that host, whose watch frees it; here only the ledger's record goes.
            self.forget_other(id);
        }
        Ok(bundle)
    }

    /// DELETE without reading the bundle: when the version this process
    /// created may still be the stored one, the release compares on its
    /// revision, and if that holds the object kept is the object stored
    /// (reading and decoding it was a twentieth of memqosd's CPU under
    /// alloc + DELETE load; BENCHMARKS.md). `None` sends the request down the
    /// reading path: nothing kept (restored, another replica's, already
    /// rewritten), a caller who may not see it, an `If-Match` of another
    /// version, or a newer version found by the compare; each of those gets
    /// there the answer it always got.
    async fn delete_as_written(
        &self,
        caller: &Caller,
        id: &str,
        precondition: Option<Revision>,
    ) -> Result<Option<FfmBundle>, FfmError> {
        let Some(written) = lock(&self.live).get(id).and_then(|l| l.written.clone()) else {
            return Ok(None);
        };
        if !caller.may_see(Some(&written.bundle.security_domain))
            || precondition.is_some_and(|wanted| wanted != written.revision)
        {
            return Ok(None);
        }
        let key = crate::Registry::<FfmBundle>::key(id);
        let response = self
            .end(id, &key, written.revision, Some(written.lease))
            .await?;
        if !response.succeeded {
            if let Some(live) = lock(&self.live).get_mut(id) {
                live.written = None;
            }
            return Ok(None);
        }
        // Released first: that drops the live entry's reference, so the kept
        // object is moved out rather than copied.
        self.release(
            id,
            written.bundle.persistence,
            Some(&written.bundle.security_domain),
        );
        Ok(Some(Arc::unwrap_or_clone(written.bundle)))
    }

    /// Deletes the bundle `id` (stored under `key`) if it is still at
    /// `revision`, with its grant and token; its lease, if any, ends in the
    /// same durable write, so no orphaned lease is left to expire.
    async fn end(
        &self,
        id: &str,
        key: &str,
        revision: Revision,
        lease: Option<corridor_store::LeaseId>,
    ) -> Result<corridor_store::TxnResponse, FfmError> {
        let release = Txn {
            compares: vec![Compare::mod_revision(key, CompareOp::Equal, revision)],
            success: vec![
                Op::delete(key),
                Op::delete(grant_key(id)),
                Op::delete(token_key(id)),
            ],
            failure: Vec::new(),
        };
        match lease {
            Some(lease) => self.store.txn_then_revoke(release, lease).await,
            None => self.store.txn(release).await,
        }
        .map_err(store_err("delete a bundle"))
    }

    /// Frees a bundle's memory and ledger entry (idempotent: DELETE and the
    /// reconciler may both call it). `domain` is the bundle's security
    /// domain when known (where its persistent file is kept); a live
    /// bundle's own is used otherwise.
    pub(super) fn release(&self, id: &str, persistence: Persistence, domain: Option<&str>) {
        // Memory first, capacity last: whoever sees the capacity back also
        // sees the old bundle's memory and token gone.
        let gone = lock(&self.live).remove(id);
        self.telemetry.forget(id);
        let _ = lock(&self.ledger).free(id);
        let persistent = persistence != Persistence::None
            || gone.as_ref().is_some_and(|l| l.memory.file().is_some());
        if !persistent {
            return;
        }
        match (&gone, domain) {
            (Some(live), _) => self.remove_persistent(id, &live.domain),
            (None, Some(domain)) => self.remove_persistent(id, domain),
            // Neither live nor described: whatever file there was went with an earlier
            // release of the same bundle.
            (None, None) => {}
        }
    }
}

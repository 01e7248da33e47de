//! After a restart (`kill -9` included): every grant re-applied to the
//! ledger, every bundle's memory recreated (persistent bundles reopen their
//! file), its fd path rewritten with the new pid, and its token kept.

use chrono::{DateTime, Utc};
use corridor_model::ffm::{PageSize, Persistence};
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_planner::memory as planner;
use corridor_store::RangeRequest;
use futures::StreamExt;

use super::error::{FfmError, store_err};
use super::grants::{GRANT_PREFIX, grant_key};
use super::tokens::{random_token, token_key};
use super::{FfmService, Live, lock};
use crate::ServiceError;
use crate::error::error_chain;

/// Bundles restored at once (each makes its memory and one store write).
const RESTORE_CONCURRENCY: usize = 32;

impl FfmService {
    /// Rebuilds the ledger and every live bundle's memory from the store.
    /// Returns the revision the grants were read at.
    pub(super) async fn restore(&self) -> Result<i64, FfmError> {
        let (grants, revision) = self.read_grants().await?;
        // Other hosts' bundles live in the memqosds serving them: only counted here.
        let (grants, others): (Vec<_>, Vec<_>) = grants.into_iter().partition(|g| {
            g.request
                .host
                .as_deref()
                .is_none_or(|h| self.hosts.serves(h))
        });
        for grant in others {
            self.record_other(grant);
        }
        let now = self.clock.now();
        let restored: Vec<_> = futures::stream::iter(grants)
            .map(|grant| self.restore_one(grant, now))
            .buffer_unordered(RESTORE_CONCURRENCY)
            .collect()
            .await;
        let n = restored.iter().filter(|r| r.is_ok()).count();
        for e in restored.into_iter().filter_map(Result::err) {
            tracing::error!(error = %error_chain(&e), "bundle not restored");
        }
        if n > 0 {
            tracing::info!(bundles = n, "memqosd: live bundles restored");
        }
        Ok(revision)
    }

    pub(super) async fn read_grants(&self) -> Result<(Vec<planner::Bundle>, i64), FfmError> {
        let mut after: Option<String> = None;
        let mut grants = Vec::new();
        let mut revision = 0;
        loop {
            let mut request = RangeRequest::prefix(GRANT_PREFIX).limit(1000);
            if let Some(a) = &after {
                request = request.after(a.clone());
            }
            let response = self
                .store
                .range(request)
                .await
                .map_err(store_err("read the capacity ledger"))?;
            if revision == 0 {
                revision = response.revision;
            }
            for kv in &response.kvs {
                after = Some(kv.key.clone());
                match serde_json::from_slice::<planner::Bundle>(&kv.value) {
                    Ok(g) => grants.push(g),
                    Err(e) => tracing::error!(key = %kv.key, error = %e, "undecodable grant"),
                }
            }
            if !response.more || response.kvs.is_empty() {
                return Ok((grants, revision));
            }
        }
    }

    async fn restore_one(
        &self,
        mut grant: planner::Bundle,
        now: DateTime<Utc>,
    ) -> Result<(), FfmError> {
        let id = grant.id.clone();
        let (mut bundle, kv) = match self.bundles.get_kv(&id).await {
            Ok(found) => found,
            Err(ServiceError::NotFound { .. }) => {
                // The object went with its lease; the grant is an orphan.
                let _ = self.store.delete(&grant_key(&id)).await;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // An interrupted migration is abandoned: the data never left the
        // source placement.
        grant.migrating_to = None;
        {
            let mut ledger = lock(&self.ledger);
            let mut placement = grant.placement.clone();
            placement.revision = ledger.revision();
            if let Err(e) = ledger.apply(&id, grant.request.clone(), placement) {
                tracing::error!(bundle = %id, error = %e, "restored grant does not fit the ledger");
            }
        }
        let token = match self.store.get(&token_key(&id)).await {
            Ok(Some(kv)) => String::from_utf8_lossy(&kv.value).into_owned(),
            _ => random_token(),
        };
        self.prepare_at_rest(bundle.persistence, &bundle.security_domain)
            .await?;
        let (memory, outcome) = self.materialise(
            &id,
            &bundle.security_domain,
            bundle.bytes.get(),
            bundle.persistence,
            // The pages it was made of, whatever the setting says now.
            bundle.page_size == PageSize::Hugetlb,
            &grant.placement,
        )?;
        bundle.fds = vec![memory.proc_path()];
        bundle.page_size = memory.page_size();
        bundle
            .meta
            .set_condition(self.placed_condition(&outcome, now));
        bundle.meta.set_condition(match bundle.persistence {
            Persistence::None => Condition::new(
                "DataRetained",
                ConditionStatus::False,
                "RecreatedAfterRestart",
                "persistence none: the memory was recreated empty when memqosd restarted; earlier contents are lost",
                now,
            ),
            _ => Condition::new(
                "DataRetained",
                ConditionStatus::True,
                "ReopenedAfterRestart",
                format!(
                    "contents reopened from {}",
                    memory.file().map(|p| p.display().to_string()).unwrap_or_default()
                ),
                now,
            ),
        });
        if bundle.meta.condition(super::liveness::HOST_LOST).is_some() {
            bundle.meta.set_condition(super::liveness::back(now));
        }
        if let Some(c) = self.at_rest_condition(
            bundle.persistence,
            &bundle.security_domain,
            memory.file(),
            now,
        ) {
            bundle.meta.set_condition(c);
        }
        bundle.meta.updated_at = now;
        self.write_with_grant(&kv, &bundle, Some(&grant)).await?;
        lock(&self.live).insert(id, Live::new(memory, token, &bundle));
        Ok(())
    }
}

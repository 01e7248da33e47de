//! The store keys beside a bundle object: its ledger grant
//! (`/ffm/grants/{id}`) and the epoch that fences a stale memqosd
//! (`/ffm/epoch`), and the one write that changes object and grant together.

use chrono::{DateTime, Utc};
use corridor_model::ffm::FfmBundle;
use corridor_planner::memory as planner;
use corridor_store::{Compare, CompareOp, KeyValue, Op, StateStore, Txn};

use super::FfmService;
use super::error::{FfmError, store_err};
use crate::ServiceError;

pub(super) const GRANT_PREFIX: &str = "/ffm/grants/";
const EPOCH_KEY: &str = "/ffm/epoch";

pub(super) fn grant_key(id: &str) -> String {
    format!("{GRANT_PREFIX}{id}")
}

/// Writes this process's epoch: every later capacity write compares it, so
/// a second memqosd opening the same store fences this one. Returns the
/// epoch's revision.
pub(super) async fn fence(store: &dyn StateStore, now: DateTime<Utc>) -> Result<i64, FfmError> {
    store
        .put(
            EPOCH_KEY,
            format!("pid {} at {now}", std::process::id()).into_bytes(),
            None,
        )
        .await
        .map_err(store_err("fence the capacity ledger"))
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("memqosd values serialise")
}

impl FfmService {
    /// The compare every capacity write carries: the ledger is still ours.
    pub(super) fn epoch_unchanged(&self) -> Compare {
        Compare::mod_revision(EPOCH_KEY, CompareOp::Equal, self.epoch)
    }

    /// Whether `/ffm/epoch` is still the one this process wrote (a failed compare was
    /// about something else then).
    pub(super) async fn epoch_is_ours(&self) -> bool {
        matches!(self.store.get(EPOCH_KEY).await, Ok(Some(kv)) if kv.mod_revision == self.epoch)
    }

    /// Writes the object (CAS on the revision read) and its grant in one txn.
    pub(super) async fn write_with_grant(
        &self,
        kv: &KeyValue,
        object: &FfmBundle,
        grant: Option<&planner::Bundle>,
    ) -> Result<i64, FfmError> {
        self.write_with_grant_if(kv, object, grant, Vec::new())
            .await
    }

    /// [`FfmService::write_with_grant`], also comparing `extra` (the paths under memory
    /// the write newly places, [`FfmService::reach_compares`]).
    pub(super) async fn write_with_grant_if(
        &self,
        kv: &KeyValue,
        object: &FfmBundle,
        grant: Option<&planner::Bundle>,
        extra: Vec<Compare>,
    ) -> Result<i64, FfmError> {
        let mut ops = vec![Op::Put {
            key: kv.key.clone(),
            value: json(object),
            lease: kv.lease,
        }];
        if let Some(g) = grant {
            ops.push(Op::Put {
                key: grant_key(&object.id),
                value: json(g),
                lease: kv.lease,
            });
        }
        let response = self
            .store
            .txn(Txn {
                compares: [
                    Compare::mod_revision(&kv.key, CompareOp::Equal, kv.mod_revision),
                    self.epoch_unchanged(),
                ]
                .into_iter()
                .chain(extra)
                .collect(),
                success: ops,
                failure: Vec::new(),
            })
            .await
            .map_err(store_err("update a bundle"))?;
        if !response.succeeded {
            return Err(FfmError::Service(ServiceError::StaleVersion {
                kind: "ffm",
                id: object.id.clone(),
                expected: kv.mod_revision.to_string(),
                actual: "a newer version (or the ledger was fenced)".into(),
            }));
        }
        Ok(response.revision)
    }
}

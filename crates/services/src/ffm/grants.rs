//! The store keys beside a bundle object: its ledger grant
//! (`/ffm/grants/{id}`), the compares of the host's epoch that fence a stale memqosd
//! (`super::cluster`), and the one write that changes object and grant together.

use corridor_model::ffm::FfmBundle;
use corridor_planner::memory as planner;
use corridor_store::{Compare, CompareOp, KeyValue, Op, Txn};

use super::FfmService;
use super::cluster::epoch_key;
use super::error::{FfmError, store_err};
use crate::ServiceError;

pub(super) const GRANT_PREFIX: &str = "/ffm/grants/";
pub(super) fn grant_key(id: &str) -> String {
    format!("{GRANT_PREFIX}{id}")
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("memqosd values serialise")
}

impl FfmService {
    /// The compare every write of a bundle of `host` carries: this memqosd still serves
    /// the host. A host it does not serve is [`FfmError::HostServedElsewhere`].
    pub(super) async fn epoch_unchanged(&self, host: &str) -> Result<Compare, FfmError> {
        if self.hosts.serves(host) {
            Ok(Compare::mod_revision(
                epoch_key(host),
                CompareOp::Equal,
                self.epoch,
            ))
        } else {
            Err(FfmError::HostServedElsewhere {
                host: host.to_owned(),
                served_by: self.served_by(host).await,
            })
        }
    }

    /// Whether the epoch of `host` is still the one this process wrote (a failed compare
    /// was about something else then).
    pub(super) async fn epoch_is_ours(&self, host: &str) -> bool {
        self.hosts.serves(host)
            && matches!(self.store.get(&epoch_key(host)).await, Ok(Some(kv)) if kv.mod_revision == self.epoch)
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
    /// the write newly places, [`FfmService::reach_compares`]; the policies the decision
    /// was taken on, [`FfmService::policies_unchanged`]).
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
            // Last: the other memqosds have applied the grant once they see this.
            ops.push(Self::host_written(&object.host, &object.id));
        }
        let response = self
            .store
            .txn(Txn {
                compares: [
                    Compare::mod_revision(&kv.key, CompareOp::Equal, kv.mod_revision),
                    self.epoch_unchanged(&object.host).await?,
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

//! Time-windowed bandwidth floors (`/v1/policies`), e.g. "min 150 GB/s
//! 20:00–08:00".
//!
//! A policy is admitted by the ledger like a bundle's floor: one that would
//! over-commit a device in a window is refused (409) and changes nothing,
//! and so is deleting one when the floors it lowered would then over-commit.
//! Names are unique per security domain: the name is claimed by a key
//! `/ffm/policy-names/{domain}/{name}` (value: the policy's id) written
//! with a "key absent" compare in the policy's own create transaction, so
//! two racing creates cannot both take it; the delete transaction frees it.

use chrono::{DateTime, Utc};
use corridor_model::policy::{Policy, PolicyRequest, parse_hhmm};
use corridor_model::validate::Validate;
use corridor_planner::memory::{self as planner, DailyWindow, Ledger, MBps};
use corridor_store::{Compare, CompareOp, Op, Revision, StateStore, Txn};

use super::error::{FfmError, store_err};
use super::timezone::{day_bit, offset_range};
use super::{FfmService, lock, visibility};
use crate::ids::new_id;
use crate::labels::LabelSelector;
use crate::registry::ResourceEvents;
use crate::{Caller, ListOptions, Page, Registry, ServiceError};

const NAME_PREFIX: &str = "/ffm/policy-names/";

/// Decisions a policy change makes while grants on other hosts keep moving the ledger.
const POLICY_ATTEMPTS: usize = 8;

/// The key that reserves `name` within `domain`. Both are identifiers
/// (validated: no `/`), so the key is unambiguous.
fn name_key(domain: &str, name: &str) -> String {
    format!("{NAME_PREFIX}{domain}/{name}")
}

fn name_taken(policy: &Policy) -> FfmError {
    FfmError::PolicyNameTaken {
        domain: policy.security_domain.clone(),
        name: policy.name.clone(),
    }
}

/// At start: every stored policy into the ledger, and its name reserved if
/// it is not yet (policies stored before names were reserved). A policy
/// that no longer fits the ledger (a smaller admission share, say) is left
/// out of admission but stays listed, and can be deleted.
pub(super) async fn load(
    registry: &Registry<Policy>,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
) -> Result<(), FfmError> {
    let mut options = ListOptions::default();
    loop {
        let page = registry.list(&options).await?;
        for policy in &page.items {
            match ledger_policy(policy, now) {
                Ok(p) => {
                    if let Err(e) = ledger.set_policy(p) {
                        tracing::error!(policy = %policy.id, error = %e, "stored policy does not fit the ledger; left out of admission");
                    }
                }
                Err(e) => {
                    tracing::error!(policy = %policy.id, error = %e, "stored policy is not understood; left out of admission");
                }
            }
            reserve_name(registry.store().as_ref(), policy).await?;
        }
        match page.continue_token {
            Some(t) => options.continue_token = Some(t),
            None => return Ok(()),
        }
    }
}

/// Every stored policy in the ledger's form, as another memqosd committed them (one not
/// understood is left out, as at start).
pub(super) async fn read_all(
    registry: &Registry<Policy>,
    now: DateTime<Utc>,
) -> Result<Vec<planner::WindowedFloor>, FfmError> {
    let mut options = ListOptions::default();
    let mut out = Vec::new();
    loop {
        let page = registry.list(&options).await?;
        out.extend(
            page.items
                .iter()
                .filter_map(|policy| ledger_policy(policy, now).ok()),
        );
        match page.continue_token {
            Some(t) => options.continue_token = Some(t),
            None => return Ok(out),
        }
    }
}

async fn reserve_name(store: &dyn StateStore, policy: &Policy) -> Result<(), FfmError> {
    let key = name_key(&policy.security_domain, &policy.name);
    let held = store
        .get(&key)
        .await
        .map_err(store_err("read a policy name"))?;
    match held {
        Some(kv) if kv.value != policy.id.as_bytes() => {
            tracing::warn!(policy = %policy.id, name = %policy.name, holder = %String::from_utf8_lossy(&kv.value), "policy shares its name with an older one in its domain");
        }
        Some(_) => {}
        None => {
            store
                .txn(Txn {
                    compares: vec![Compare::absent(&key)],
                    success: vec![Op::put(key, policy.id.clone().into_bytes())],
                    failure: Vec::new(),
                })
                .await
                .map_err(store_err("reserve a policy name"))?;
        }
    }
    Ok(())
}

impl FfmService {
    /// Creates a policy owned by [`Caller::owner_for`] the request's
    /// domain: `PolicyNameTaken` if the domain has one of that name,
    /// `Rejected` if it would over-commit a device in a window.
    pub async fn create_policy(
        &self,
        caller: &Caller,
        mut request: PolicyRequest,
    ) -> Result<Policy, FfmError> {
        if let Some(owner) = caller.owner_for(Some(&request.security_domain)) {
            request.security_domain = owner;
        }
        request.validate().map_err(FfmError::Invalid)?;
        let policy = Policy::new(
            new_id(self.clock.as_ref(), "pol"),
            request,
            self.clock.now(),
        );
        let planner_policy = ledger_policy(&policy, policy.created_at)?;
        let name = name_key(&policy.security_domain, &policy.name);
        // Checked before admission so a taken name is reported as such, not
        // as whatever the ledger thinks of the floor; the transaction's
        // compare is what makes it true under races.
        for attempt in 1.. {
            if self.name_held(&name).await? {
                return Err(name_taken(&policy));
            }
            let mut compares = {
                let mut ledger = lock(&self.ledger);
                ledger.set_policy(planner_policy.clone())?;
                // Under the same lock: every host's grants and the policies it counted.
                self.ledger_unchanged()
            };
            compares.push(Compare::absent(&name));
            let created = self
                .policies
                .create_with(
                    &policy,
                    None,
                    compares,
                    vec![
                        Op::put(&name, policy.id.clone().into_bytes()),
                        // Last: the other memqosds have the policy once they see this.
                        Self::policies_written(&policy.id),
                    ],
                )
                .await;
            let error = match created {
                Ok(p) => return Ok(p),
                Err(e) => e,
            };
            let _ = lock(&self.ledger).remove_policy(&policy.id);
            match error {
                ServiceError::ConditionFailed { .. } if self.name_held(&name).await? => {
                    return Err(name_taken(&policy));
                }
                // A grant or policy this ledger had not applied: decide again on it.
                ServiceError::ConditionFailed { .. } if attempt < POLICY_ATTEMPTS => {
                    self.catch_up().await?;
                }
                ServiceError::ConditionFailed { .. } => {
                    return Err(FfmError::LedgerChanged { attempts: attempt });
                }
                other => return Err(other.into()),
            }
        }
        unreachable!("the loop returns")
    }

    async fn name_held(&self, key: &str) -> Result<bool, FfmError> {
        Ok(self
            .store
            .get(key)
            .await
            .map_err(store_err("read a policy name"))?
            .is_some())
    }

    pub async fn get_policy(&self, caller: &Caller, id: &str) -> Result<Policy, FfmError> {
        Ok(visibility::get(&self.policies, caller, id).await?.0)
    }

    /// One page of the policies the caller sees.
    pub async fn list_policies(
        &self,
        caller: &Caller,
        options: &ListOptions,
    ) -> Result<Page<Policy>, FfmError> {
        Ok(visibility::list(&self.policies, caller, options).await?)
    }

    /// Changes after `from_revision` (0 = from now) to the policies the
    /// caller sees.
    pub async fn watch_policies(
        &self,
        caller: &Caller,
        from_revision: Revision,
        selector: LabelSelector,
    ) -> Result<ResourceEvents<Policy>, FfmError> {
        Ok(visibility::watch(&self.policies, caller, from_revision, selector).await?)
    }

    /// Deletes a policy and frees its name in one transaction; the floors
    /// it set return to the bundles' own (refused if that over-commits).
    pub async fn delete_policy(&self, caller: &Caller, id: &str) -> Result<Policy, FfmError> {
        for attempt in 1.. {
            let (policy, kv) = visibility::get(&self.policies, caller, id).await?;
            // A stored policy left out of admission at start is not in the
            // ledger: there is nothing to take out, and it is deleted all the same.
            let (removed, compares) = {
                let mut ledger = lock(&self.ledger);
                let removed = if ledger.policies().iter().any(|p| p.id == id) {
                    Some(ledger.remove_policy(id)?)
                } else {
                    None
                };
                // Under the same lock: every host's grants and the policies it counted.
                (removed, self.ledger_unchanged())
            };
            let result = self.delete_policy_keys(&policy, &kv, compares).await;
            if result.is_err()
                && let Some(p) = removed
                && let Err(e) = lock(&self.ledger).set_policy(p)
            {
                tracing::error!(policy = id, error = %e, "a policy whose delete failed no longer fits the ledger");
            }
            match result {
                Ok(revision) => {
                    let mut deleted = policy;
                    deleted.meta.resource_version = revision.to_string();
                    return Ok(deleted);
                }
                // The ledger moved (the policy itself is read again above: gone is 404).
                Err(FfmError::LedgerChanged { .. }) if attempt < POLICY_ATTEMPTS => {
                    self.catch_up().await?;
                }
                Err(FfmError::LedgerChanged { .. }) => {
                    return Err(FfmError::LedgerChanged { attempts: attempt });
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// The policy object and, if it holds it, its name key; guarded by the
    /// object's revision and `ledger` (the version keys the decision counted).
    /// Returns the delete's revision.
    async fn delete_policy_keys(
        &self,
        policy: &Policy,
        kv: &corridor_store::KeyValue,
        ledger: Vec<Compare>,
    ) -> Result<Revision, FfmError> {
        let name = name_key(&policy.security_domain, &policy.name);
        let mut compares = vec![Compare::mod_revision(
            &kv.key,
            CompareOp::Equal,
            kv.mod_revision,
        )];
        compares.extend(ledger);
        let mut ops = vec![Op::delete(&kv.key)];
        let holder = self
            .store
            .get(&name)
            .await
            .map_err(store_err("read a policy name"))?;
        if let Some(holder) = holder
            && holder.value == policy.id.as_bytes()
        {
            compares.push(Compare::mod_revision(
                &name,
                CompareOp::Equal,
                holder.mod_revision,
            ));
            ops.push(Op::delete(&name));
        }
        // Last: the other memqosds have the change once they see this.
        ops.push(Self::policies_written(&policy.id));
        let response = self
            .store
            .txn(Txn {
                compares,
                success: ops,
                failure: Vec::new(),
            })
            .await
            .map_err(store_err("delete a policy"))?;
        if response.succeeded {
            return Ok(response.revision);
        }
        // Policies are never updated in place, so a lost compare means a
        // concurrent delete took it, or the ledger moved under the decision.
        let gone = self
            .store
            .get(&kv.key)
            .await
            .map_err(store_err("read a policy"))?
            .is_none_or(|now| now.mod_revision != kv.mod_revision);
        Err(if gone {
            FfmError::Service(ServiceError::NotFound {
                kind: "policies",
                id: policy.id.clone(),
            })
        } else {
            FfmError::LedgerChanged { attempts: 1 }
        })
    }
}

/// The ledger's form of a policy: a daily window in minutes at the UTC
/// offsets its zone takes from `now` on (two for a zone with daylight saving
/// time), over the whole domain.
fn ledger_policy(policy: &Policy, now: DateTime<Utc>) -> Result<planner::WindowedFloor, FfmError> {
    if !policy.target.is_empty() {
        return Err(FfmError::field(
            "/target",
            "supported",
            "this ledger admits whole-domain policies only; leave target empty",
        ));
    }
    let (lo, hi) = offset_range(&policy.window.time_zone, now).ok_or_else(|| {
        FfmError::field(
            "/window/time_zone",
            "exists",
            format!(
                "{:?} is not a time zone of the IANA tz database",
                policy.window.time_zone
            ),
        )
    })?;
    let field = |at: &str, text: &str| {
        parse_hhmm(text).ok_or_else(|| {
            FfmError::field(
                at,
                "format",
                format!("{text:?} is not a 24-hour time HH:MM"),
            )
        })
    };
    let start = field("/window/start", &policy.window.start)?;
    let end = field("/window/end", &policy.window.end)?;
    let days = if policy.window.days.is_empty() {
        planner::EVERY_DAY
    } else {
        policy
            .window
            .days
            .iter()
            .fold(0u8, |acc, d| acc | 1 << day_bit(*d))
    };
    let window = DailyWindow::new(start, end)
        .map_err(|e| FfmError::field("/window", "format", e.to_string()))?
        .with_offsets(lo, hi)
        .on_days(days);
    Ok(planner::WindowedFloor {
        id: policy.id.clone(),
        floor: MBps::from_gbps(policy.min_gbs.get()),
        window,
        security_domain: Some(policy.security_domain.clone()),
        time_zone: Some(policy.window.time_zone.clone()),
    })
}

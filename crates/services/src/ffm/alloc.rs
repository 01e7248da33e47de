//! `POST /v1/ffm/alloc`: admission under the in-memory ledger's lock, then
//! one store transaction that writes the bundle, its grant and its token on
//! the bundle's lease (and compares the host's epoch and the policies' version).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_model::ffm::{FfmAllocRequest, FfmBundle, Persistence};
use corridor_model::validate::Validate;
use corridor_planner::memory::{self as planner, BundleDemand, Ledger, MBps, Placement, Rejection};
use corridor_store::{NEW_LEASE, Op};

use super::error::FfmError;
use super::grants::{grant_key, json};
use super::tokens::{random_token, token_key};
use super::{BundleAndToken, FfmService, Live, Written, admission, lock};
use crate::ids::new_id;
use crate::{Caller, ServiceError};

/// Decisions tried (by an alloc or a dry run) when the fabric paths under a placement keep changing.
pub(super) const REACH_ATTEMPTS: usize = 3;

/// An allocation request made ready for admission: the owner applied,
/// validated, its host resolved, the bundle it would become and what the
/// ledger is asked for. A real alloc and a dry run start from the same one.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) bundle: FfmBundle,
    pub(super) demand: BundleDemand,
    pub(super) host: String,
    pub(super) now: DateTime<Utc>,
}

impl FfmService {
    /// Applies the owner ([`Caller::owner_for`]), validates the request and
    /// resolves its host: every refusal a request gets before admission.
    pub(super) fn pending(
        &self,
        caller: &Caller,
        mut request: FfmAllocRequest,
    ) -> Result<Pending, FfmError> {
        if let Some(owner) = caller.owner_for(Some(&request.security_domain)) {
            request.security_domain = owner;
        }
        request.validate().map_err(FfmError::Invalid)?;
        let host = self.hosts.resolve(request.host.as_deref())?;
        let id = new_id(self.clock.as_ref(), "ffm");
        let now = self.clock.now();
        let bundle = FfmBundle::pending(&id, request, self.config.default_ttl, &host, now);
        let demand = BundleDemand {
            bytes: bundle.bytes.get(),
            latency_class: admission::tier(bundle.latency_class),
            floor: MBps::from_gbps(bundle.bandwidth_floor_gbs.get()),
            security_domain: Some(bundle.security_domain.clone()),
            start_s: now.timestamp(),
            end_s: None,
            // Only memory the bundle's host reaches.
            host: Some(host.clone()),
        };
        Ok(Pending {
            bundle,
            demand,
            host,
            now,
        })
    }

    /// The admission decision, shared by a real alloc and a dry run: where
    /// the ledger would place `pending` now, or the refusal naming the host,
    /// tier, binding device and window. `then` runs under the same hold of
    /// the ledger's lock with the placement (a real alloc claims it there,
    /// a dry run reads what the plan reports), so both see the ledger the
    /// decision was taken on.
    pub(super) fn decide<R>(
        &self,
        pending: &Pending,
        then: impl FnOnce(&mut Ledger, &Placement) -> Result<R, Rejection>,
    ) -> Result<(Placement, R), FfmError> {
        let refused = |r| FfmError::for_host(&pending.host, pending.demand.latency_class, r);
        let mut ledger = lock(&self.ledger);
        let placement = ledger.admit(&pending.demand).map_err(refused)?;
        let outcome = then(&mut ledger, &placement).map_err(refused)?;
        Ok((placement, outcome))
    }

    /// Allocates a bundle owned by [`Caller::owner_for`] the request's
    /// domain. The token comes back only if the caller may receive it.
    pub async fn create(
        &self,
        caller: &Caller,
        request: FfmAllocRequest,
    ) -> Result<BundleAndToken, FfmError> {
        let pending = self.pending(caller, request)?;
        // Refuses a host another memqosd serves before any memory is made.
        let fence = self.epoch_unchanged(&pending.host).await?;
        let (planner_request, host, now) =
            (pending.demand.clone(), pending.host.clone(), pending.now);
        let mut bundle = pending.bundle.clone();
        let id = bundle.id.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (placement, policies) = self.decide(&pending, |ledger, placement| {
                ledger.apply(&id, planner_request.clone(), placement.clone())?;
                // Under the same lock: the policies this decision counted.
                Ok(self.policies_unchanged())
            })?;
            let committed = match self.reach_compares(&placement) {
                Ok(reach) => {
                    let compares = [fence.clone(), policies].into_iter().chain(reach).collect();
                    self.commit(&mut bundle, &planner_request, &placement, compares, now)
                        .await
                }
                Err(e) => Err(e),
            };
            let error = match committed {
                Ok(()) => {
                    let token = self.token_for(caller, &bundle);
                    return Ok(BundleAndToken {
                        bundle: self.with_telemetry(bundle).await,
                        token,
                    });
                }
                Err(e) => e,
            };
            let _ = lock(&self.ledger).free(&id);
            if bundle.persistence != Persistence::None {
                self.remove_persistent(&id, &bundle.security_domain);
            }
            // A path that opened a slice of the placement, or the policies, changed under
            // the decision (the host's epoch is still ours): decide again on them as they
            // are now.
            let changed = match &error {
                FfmError::ReachWithdrawn { .. } => true,
                FfmError::Fenced => self.epoch_is_ours(&host).await,
                _ => false,
            };
            if !changed {
                return Err(error);
            }
            if attempt >= REACH_ATTEMPTS {
                return Err(match error {
                    FfmError::Fenced if self.follows_paths() => FfmError::ReachWithdrawn {
                        device: self.pooled_devices_of(&placement).join(", "),
                        host,
                    },
                    FfmError::Fenced => FfmError::LedgerChanged { attempts: attempt },
                    other => other,
                });
            }
            if self.follows_paths() {
                self.load_reach().await?;
            }
            self.catch_up().await?;
        }
    }

    /// Makes the memory and writes object, grant and token in one
    /// transaction; the bundle becomes live once that succeeded.
    async fn commit(
        &self,
        bundle: &mut FfmBundle,
        request: &BundleDemand,
        placement: &Placement,
        compares: Vec<corridor_store::Compare>,
        now: DateTime<Utc>,
    ) -> Result<(), FfmError> {
        self.prepare_at_rest(bundle.persistence, &bundle.security_domain)
            .await?;
        let (memory, outcome) = self.materialise(
            &bundle.id,
            &bundle.security_domain,
            bundle.bytes.get(),
            bundle.persistence,
            self.wants_hugetlb(bundle),
            placement,
        )?;
        bundle.fds = vec![memory.proc_path()];
        bundle.page_size = memory.page_size();
        bundle.placement = self.placement_view(placement);
        bundle.attestations = self.attestations_of(&bundle.placement).await;
        bundle
            .meta
            .set_condition(self.placed_condition(&outcome, now));
        if let Some(c) = self.at_rest_condition(
            bundle.persistence,
            &bundle.security_domain,
            memory.file(),
            now,
        ) {
            bundle.meta.set_condition(c);
        }
        let token = random_token();
        let ttl_s = bundle.policy_lease_ttl_s.get();
        bundle.meta.lease_expires_at = Some(now + chrono::Duration::seconds(ttl_s as i64));
        let grant = planner::Bundle {
            id: bundle.id.clone(),
            request: request.clone(),
            placement: placement.clone(),
            migrating_to: None,
        };
        // Object, grant, token and their lease: one transaction, so one
        // durable write on the embedded store.
        let created = self
            .bundles
            .create_with_new_lease(
                bundle,
                Duration::from_secs(ttl_s),
                compares,
                vec![
                    Op::put_with_lease(grant_key(&bundle.id), json(&grant), NEW_LEASE),
                    Op::put_with_lease(
                        token_key(&bundle.id),
                        token.clone().into_bytes(),
                        NEW_LEASE,
                    ),
                    // Last: the other memqosds have applied the grant once they see this.
                    Self::host_written(&bundle.host, &bundle.id),
                ],
            )
            .await;
        let lease;
        (*bundle, lease) = match created {
            Ok(created) => created,
            Err(e) => {
                return Err(match e {
                    ServiceError::ConditionFailed { .. } => FfmError::Fenced,
                    other => FfmError::Service(other),
                });
            }
        };
        let mut live = Live::new(memory, token, bundle);
        live.written = bundle
            .meta
            .resource_version
            .parse()
            .ok()
            .map(|revision| Written {
                bundle: Arc::new(bundle.clone()),
                revision,
                lease,
            });
        lock(&self.live).insert(bundle.id.clone(), live);
        Ok(())
    }
}

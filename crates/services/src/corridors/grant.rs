//! The store transactions that move capacity: grant (with gold pre-emption
//! of bronze), release, and move (reroute).
//!
//! Each is one transaction over the corridor object(s) and the ledger keys,
//! guarded by compares: new ledger keys must be absent (create_revision 0),
//! objects changed or released alongside must be at the revision read. A
//! failed compare means the cache was stale: refresh from the store and
//! plan again, a bounded number of times.

use std::time::Duration;

use corridor_model::corridor::{
    Corridor, CorridorAssignment, CorridorRequest, CorridorStatus, EyeMargin, LaneState, LaneStatus,
};
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_model::units::{Gbps, Nanometers};
use corridor_store::{Compare, CompareOp, LeaseId, Op, Revision, Txn};

use super::admission::{self, Plan};
use super::error::CorridorError;
use super::fabric::{Fabric, wavelength_nm};
use super::ledger::{Holder, channel_key, lane_key};
use super::{ADMISSION_ATTEMPTS, CorridorService, conditions, lock};
use crate::ids::new_id;
use crate::{Registry, ServiceError};

/// Ledger keys a corridor object holds, from its own record (the object
/// is written in the same transaction as its keys, so they agree).
pub fn keys_of(fabric: &Fabric, corridor: &Corridor) -> Vec<String> {
    let Some(a) = &corridor.assignment else {
        return Vec::new();
    };
    if corridor.status == CorridorStatus::Released {
        return Vec::new();
    }
    let mut keys = Vec::new();
    let mut ports: Vec<&str> = Vec::new();
    for link in &corridor.path {
        for &n in &a.grid_channels {
            keys.push(channel_key(link, n));
        }
        if let Some(l) = fabric.link_index(link) {
            for p in fabric.links[l].ports {
                let id = fabric.ports[p].id.as_str();
                if !ports.contains(&id) {
                    ports.push(id);
                }
            }
        }
    }
    for port in ports {
        for &lane in &a.module_lanes {
            keys.push(lane_key(port, lane));
        }
    }
    keys
}

fn plan_keys(fabric: &Fabric, plan: &Plan) -> Vec<String> {
    let mut keys = Vec::new();
    for &link in &plan.path.links {
        for &slot in &plan.slots {
            let n = fabric.channel_of_slot(link.index(), slot);
            keys.push(channel_key(fabric.link_id(link), n));
        }
    }
    for node in &plan.path.nodes {
        for &lane in &plan.module_lanes {
            keys.push(lane_key(&fabric.ports[node.index()].id, lane));
        }
    }
    keys
}

/// Writes the plan into `corridor`: path, channels, assignment and the
/// model's predictions until telemetry replaces them.
fn apply_plan(fabric: &Fabric, corridor: &mut Corridor, plan: &Plan) {
    let first_link = plan.path.links[0].index();
    let spacing = fabric.ports[fabric.links[first_link].ports[0]].spacing_ghz;
    let channels: Vec<i32> = plan
        .slots
        .iter()
        .map(|&s| fabric.channel_of_slot(first_link, s))
        .collect();
    let src = plan.path.nodes[0].index();
    let dst = plan.path.nodes[plan.path.nodes.len() - 1].index();
    corridor.path = plan
        .path
        .links
        .iter()
        .map(|&l| fabric.link_id(l).to_owned())
        .collect();
    corridor.hops = plan.path.links.len() as u32;
    corridor.channels = channels
        .iter()
        .enumerate()
        .map(|(i, &n)| LaneStatus {
            lane: i as u32,
            lambda_nm: Nanometers(wavelength_nm(n, spacing)),
            state: LaneState::Down,
            ber: None,
            rx_power_dbm: None,
        })
        .collect();
    corridor.achievable_gbps = Gbps(plan.lane.achievable_gbps);
    // Until the lanes are lit, `ber` is the model's prediction (post-FEC).
    corridor.ber = plan.lane.post_fec_ber;
    corridor.eye_margin = if plan.lane.margin_db >= plan.lane.required_margin_db {
        EyeMargin::Ok
    } else {
        EyeMargin::Marginal
    };
    corridor.assignment = Some(CorridorAssignment {
        ports: [fabric.ports[src].id.clone(), fabric.ports[dst].id.clone()],
        module_lanes: plan.module_lanes.clone(),
        grid_channels: channels,
        grid_spacing_ghz: spacing,
        lane_rate_gbps: plan.lane.rate.0,
        modulation: format!("{:?}", plan.lane.modulation).to_lowercase(),
        fec: format!("{:?}", plan.lane.fec).to_lowercase(),
        latency_ns: plan.lane.latency_ns,
        margin_db: plan.lane.margin_db,
        energy_pj_per_bit: plan.lane.energy_pj_per_bit,
    });
}

fn encode(corridor: &Corridor) -> Vec<u8> {
    serde_json::to_vec(corridor).expect("API types always serialise to JSON")
}

/// Admission loop: plan on the cache, grant in one transaction, replan on
/// a lost race.
pub async fn admit(
    service: &CorridorService,
    request: &CorridorRequest,
) -> Result<(Corridor, Option<LeaseId>), CorridorError> {
    let fabric = &service.fabric;
    let mut refreshed_after_block = false;
    let id = new_id("cor");
    for _ in 0..ADMISSION_ATTEMPTS {
        // Plan and hold the plan in the cache under one lock, so concurrent
        // requests in this process plan around each other instead of all
        // racing for the same first-fit lane; the store still decides.
        let plan = {
            let mut cache = lock(&service.cache);
            let plan = admission::plan(fabric, &cache, request);
            if let Ok(plan) = &plan {
                for victim in &plan.preempt {
                    cache.release(victim);
                }
                cache.hold_tentative(&id, plan.holding(request.qos.priority));
            }
            plan
        };
        let plan = match plan {
            Ok(plan) => plan,
            Err(CorridorError::InsufficientCapacity(_)) if !refreshed_after_block => {
                // The cache may miss releases by lease expiry or by another
                // replica: look at the store once before saying no.
                refreshed_after_block = true;
                service.refresh().await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        match try_grant(service, &id, request, &plan).await {
            Ok(corridor) => return Ok(corridor),
            Err(CorridorError::Service(
                ServiceError::ConditionFailed { .. } | ServiceError::NotFound { .. },
            )) => {
                lock(&service.cache).release(&id);
                service.refresh().await?;
            }
            Err(e) => {
                lock(&service.cache).release(&id);
                return Err(e);
            }
        }
    }
    Err(CorridorError::Contention {
        attempts: ADMISSION_ATTEMPTS,
    })
}

async fn try_grant(
    service: &CorridorService,
    id: &str,
    request: &CorridorRequest,
    plan: &Plan,
) -> Result<(Corridor, Option<LeaseId>), CorridorError> {
    let fabric = &service.fabric;
    let now = service.clock.now();
    let holder = Holder {
        corridor: id.to_owned(),
        qos: request.qos.priority,
    };
    let mut corridor = Corridor::pending(holder.corridor.clone(), request.clone(), now);
    apply_plan(fabric, &mut corridor, plan);
    corridor.status = CorridorStatus::Provisioning;
    corridor.meta.set_condition(Condition::new(
        conditions::ADMITTED,
        ConditionStatus::True,
        "CapacityGranted",
        format!(
            "{} lanes on {} at {:.2} Gb/s {} per lane; {} ledger keys held",
            plan.slots.len(),
            corridor.path.join(" > "),
            plan.lane.rate.0,
            format!("{:?}", plan.lane.modulation).to_uppercase(),
            plan_keys(fabric, plan).len()
        ),
        now,
    ));
    let keys = plan_keys(fabric, plan);
    let mut compares = Vec::new();
    let mut ops = Vec::new();
    // Pre-empted bronze corridors: released in this very transaction.
    let mut victim_keys: Vec<String> = Vec::new();
    let mut victims = Vec::new();
    for victim in &plan.preempt {
        let (mut object, kv) = service.registry.get_kv(victim).await?;
        compares.push(Compare::mod_revision(
            kv.key.clone(),
            CompareOp::Equal,
            kv.mod_revision,
        ));
        victim_keys.extend(keys_of(fabric, &object));
        object.status = CorridorStatus::Released;
        object.meta.updated_at = now;
        object.meta.lease_expires_at = None;
        object.meta.set_condition(Condition::new(
            conditions::PREEMPTED,
            ConditionStatus::True,
            "PreemptedByGold",
            format!(
                "released to make room for gold corridor {} on {}; the capacity is gone, delete this record when read",
                corridor.id,
                corridor.path.join(" > ")
            ),
            now,
        ));
        ops.push(Op::Put {
            key: kv.key.clone(),
            value: encode(&object),
            // The record outlives the grant: no lease, the owner deletes it.
            lease: None,
        });
        victims.push((object, kv.lease));
    }
    for key in &keys {
        if !victim_keys.contains(key) {
            compares.push(Compare::absent(key.clone()));
        }
    }
    for key in &victim_keys {
        if !keys.contains(key) {
            ops.push(Op::Delete { key: key.clone() });
        }
    }
    let lease = match request.policy_lease_ttl_s {
        Some(ttl) => Some(
            service
                .store
                .lease_grant(Duration::from_secs(ttl.get()))
                .await
                .map_err(|e| {
                    CorridorError::Service(ServiceError::Store {
                        context: "grant a corridor lease",
                        source: e,
                    })
                })?,
        ),
        None => None,
    };
    if let (Some(ttl), Some(_)) = (request.policy_lease_ttl_s, lease) {
        corridor.meta.lease_expires_at =
            Some(now + chrono::Duration::seconds(i64::try_from(ttl.get()).unwrap_or(i64::MAX)));
    }
    let value = Holder {
        corridor: corridor.id.clone(),
        qos: holder.qos,
    }
    .encode();
    for key in &keys {
        ops.push(Op::Put {
            key: key.clone(),
            value: value.clone(),
            lease,
        });
    }
    let created = service
        .registry
        .create_with(&corridor, lease, compares, ops)
        .await;
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            revoke(service, lease).await;
            return Err(e.into());
        }
    };
    {
        let mut cache = lock(&service.cache);
        for (victim, _) in &victims {
            cache.release(&victim.id);
        }
        cache.hold(&created.id, plan.holding(request.qos.priority));
        cache.confirm(&created.id);
    }
    for (victim, lease) in victims {
        if let Some(a) = &victim.assignment {
            let _ = service.darken(&victim.id, a).await;
        }
        revoke(service, lease).await;
    }
    Ok((created, lease))
}

async fn revoke(service: &CorridorService, lease: Option<LeaseId>) {
    if let Some(lease) = lease {
        let _ = service.store.lease_revoke(lease).await;
    }
}

/// Deletes the corridor object and its ledger keys in one transaction.
/// `read` is the object and its record as the caller has just read them
/// (used for the first attempt instead of reading again; the transaction's
/// compare on the record's revision guards it like any read).
pub async fn release(
    service: &CorridorService,
    id: &str,
    precondition: Option<Revision>,
    mut read: Option<(Corridor, corridor_store::KeyValue)>,
) -> Result<Corridor, CorridorError> {
    for _ in 0..ADMISSION_ATTEMPTS {
        let (object, kv) = match read.take() {
            Some(read) => read,
            None => service.registry.get_kv(id).await?,
        };
        if let Some(expected) = precondition
            && expected != kv.mod_revision
        {
            return Err(ServiceError::StaleVersion {
                kind: "corridors",
                id: id.to_owned(),
                expected: expected.to_string(),
                actual: kv.mod_revision.to_string(),
            }
            .into());
        }
        let mut ops = vec![Op::Delete {
            key: kv.key.clone(),
        }];
        ops.extend(
            keys_of(&service.fabric, &object)
                .into_iter()
                .map(|key| Op::Delete { key }),
        );
        let response = service
            .store
            .txn(Txn {
                compares: vec![Compare::mod_revision(
                    kv.key.clone(),
                    CompareOp::Equal,
                    kv.mod_revision,
                )],
                success: ops,
                failure: Vec::new(),
            })
            .await
            .map_err(|e| ServiceError::Store {
                context: "release a corridor",
                source: e,
            })?;
        if !response.succeeded {
            continue;
        }
        revoke(service, kv.lease).await;
        lock(&service.cache).release(id);
        let mut released = object;
        released.meta.resource_version = response.revision.to_string();
        return Ok(released);
    }
    Err(CorridorError::Contention {
        attempts: ADMISSION_ATTEMPTS,
    })
}

/// Moves a corridor to `plan` (another path or channel set): old keys out,
/// new keys in, object rewritten, all in one transaction.
pub async fn move_to(
    service: &CorridorService,
    corridor: &Corridor,
    plan: &Plan,
    reason: &str,
) -> Result<Corridor, CorridorError> {
    let fabric = &service.fabric;
    let (current, kv) = service.registry.get_kv(&corridor.id).await?;
    let old_keys = keys_of(fabric, &current);
    let new_keys = plan_keys(fabric, plan);
    let now = service.clock.now();
    let mut moved = current.clone();
    apply_plan(fabric, &mut moved, plan);
    moved.status = CorridorStatus::Provisioning;
    moved.meta.updated_at = now;
    moved.meta.set_condition(Condition::new(
        conditions::REPAIRED,
        ConditionStatus::True,
        "Rerouted",
        format!(
            "{reason}; moved from {} to {}",
            current.path.join(" > "),
            moved.path.join(" > ")
        ),
        now,
    ));
    let mut compares = vec![Compare::mod_revision(
        kv.key.clone(),
        CompareOp::Equal,
        kv.mod_revision,
    )];
    let mut ops = vec![Op::Put {
        key: kv.key.clone(),
        value: encode(&moved),
        lease: kv.lease,
    }];
    let value = Holder {
        corridor: corridor.id.clone(),
        qos: corridor.qos.priority,
    }
    .encode();
    for key in &new_keys {
        if !old_keys.contains(key) {
            compares.push(Compare::absent(key.clone()));
        }
        ops.push(Op::Put {
            key: key.clone(),
            value: value.clone(),
            lease: kv.lease,
        });
    }
    for key in &old_keys {
        if !new_keys.contains(key) {
            ops.push(Op::Delete { key: key.clone() });
        }
    }
    let response = service
        .store
        .txn(Txn {
            compares,
            success: ops,
            failure: Vec::new(),
        })
        .await
        .map_err(|e| ServiceError::Store {
            context: "move a corridor",
            source: e,
        })?;
    if !response.succeeded {
        return Err(ServiceError::ConditionFailed {
            kind: "corridors",
            id: corridor.id.clone(),
        }
        .into());
    }
    {
        let mut cache = lock(&service.cache);
        cache.release(&corridor.id);
        cache.hold(&corridor.id, plan.holding(corridor.qos.priority));
    }
    moved.meta.resource_version = response.revision.to_string();
    let _ = Registry::<Corridor>::key(&corridor.id);
    Ok(moved)
}

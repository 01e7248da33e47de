//! The store transactions that move capacity: grant (with the gold
//! pre-emption of bronze the planner decided), release, and move (reroute).
//! Pure: each function builds the corridor object or the one transaction;
//! the service runs it.
//!
//! Each transaction covers the corridor object(s) and the ledger keys,
//! guarded by compares: new ledger keys must be absent (create_revision 0),
//! objects changed or released alongside must be at the revision read. A
//! failed compare means the cache was stale: the service refreshes it from
//! the store and plans again, a bounded number of times.

use chrono::{DateTime, Utc};
use corridor_model::corridor::{
    Corridor, CorridorAssignment, CorridorRequest, CorridorStatus, EyeMargin, LaneState, LaneStatus,
};
use corridor_model::meta::{Condition, ConditionStatus};
use corridor_model::units::{Gbps, Nanometers};
use corridor_store::{Compare, CompareOp, KeyValue, LeaseId, Op, Revision, Txn};

use super::admission::Plan;
use super::conditions;
use super::fabric::{Fabric, wavelength_nm};
use super::ledger::{Holder, channel_key, lane_key};
use crate::Registry;

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
    for &port in &plan.lane_ports {
        for &lane in &plan.module_lanes {
            keys.push(lane_key(&fabric.ports[port].id, lane));
        }
    }
    keys
}

/// Writes the plan into `corridor`: path, channels, assignment and the
/// model's predictions until telemetry replaces them.
pub fn apply_plan(fabric: &Fabric, corridor: &mut Corridor, plan: &Plan) {
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
    corridor.assigned_lambda_nm = channels
        .iter()
        .map(|&n| Nanometers(wavelength_nm(n, spacing)))
        .collect();
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
    // Until the lanes are lit, `ber` is the model's prediction (post-FEC),
    // floored as a measurement would be.
    (corridor.ber, corridor.ber_is_upper_bound) =
        super::optics::reported_ber(plan.lane.post_fec_ber);
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

/// The corridor a grant of `plan` creates: planned, `provisioning`, its
/// capacity admitted, and when its lease expires.
pub fn granted(
    fabric: &Fabric,
    id: &str,
    request: &CorridorRequest,
    plan: &Plan,
    lease_ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Corridor {
    let mut corridor = Corridor::pending(id.to_owned(), request.clone(), now);
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
            plan.slots.len() * plan.path.links.len()
                + plan.module_lanes.len() * plan.lane_ports.len()
        ),
        now,
    ));
    corridor.meta.lease_expires_at =
        Some(now + chrono::Duration::from_std(lease_ttl).unwrap_or(chrono::Duration::MAX));
    corridor
}

/// A bronze corridor as a gold grant leaves it: released, saying by whom.
/// The record outlives the grant (no lease): its owner deletes it.
pub fn preempted(victim: &mut Corridor, by: &Corridor, now: DateTime<Utc>) {
    victim.status = CorridorStatus::Released;
    victim.meta.updated_at = now;
    victim.meta.lease_expires_at = None;
    victim.meta.set_condition(Condition::new(
        conditions::PREEMPTED,
        ConditionStatus::True,
        "PreemptedByGold",
        format!(
            "released to make room for gold corridor {} on {}; the capacity is gone, delete this record when read",
            by.id,
            by.path.join(" > ")
        ),
        now,
    ));
}

/// The grant: in one transaction, the new corridor object (absent before)
/// and every ledger key of `plan` (absent before, unless a victim holds it)
/// attached to `lease`; each pre-empted victim (still at the revision it
/// was read at) rewritten as [`preempted`], without a lease, and its ledger
/// keys the grant does not take over deleted.
pub fn grant_txn(
    fabric: &Fabric,
    corridor: &Corridor,
    plan: &Plan,
    victims: &[(Corridor, KeyValue)],
    lease: LeaseId,
    now: DateTime<Utc>,
) -> Txn {
    let lease = Some(lease);
    let key = Registry::<Corridor>::key(&corridor.id);
    let keys = plan_keys(fabric, plan);
    let mut compares = vec![Compare::absent(key.clone())];
    let mut ops = vec![Op::Put {
        key,
        value: encode(corridor),
        lease,
    }];
    let mut victim_keys: Vec<String> = Vec::new();
    for (victim, kv) in victims {
        compares.push(Compare::mod_revision(
            kv.key.clone(),
            CompareOp::Equal,
            kv.mod_revision,
        ));
        // The victim's record as read says which keys it holds; the
        // compare above makes sure that is still so.
        victim_keys.extend(keys_of(fabric, victim));
        let mut released = victim.clone();
        preempted(&mut released, corridor, now);
        ops.push(Op::Put {
            key: kv.key.clone(),
            value: encode(&released),
            lease: None,
        });
        ops.push(Op::Delete {
            key: super::error_count::key(&victim.id),
        });
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
    let value = Holder {
        corridor: corridor.id.clone(),
        qos: corridor.qos.priority,
    }
    .encode();
    for key in keys {
        ops.push(Op::Put {
            key,
            value: value.clone(),
            lease,
        });
    }
    Txn {
        compares,
        success: ops,
        failure: Vec::new(),
    }
}

/// The release: the corridor object (if still at `revision`) and its
/// ledger keys deleted in one transaction.
pub fn release_txn(fabric: &Fabric, corridor: &Corridor, revision: Revision) -> Txn {
    let key = Registry::<Corridor>::key(&corridor.id);
    let mut ops = vec![
        Op::Delete { key: key.clone() },
        Op::Delete {
            key: super::error_count::key(&corridor.id),
        },
    ];
    ops.extend(
        keys_of(fabric, corridor)
            .into_iter()
            .map(|key| Op::Delete { key }),
    );
    Txn {
        compares: vec![Compare::mod_revision(key, CompareOp::Equal, revision)],
        success: ops,
        failure: Vec::new(),
    }
}

/// The move of `current` (at the revision of `kv`) to `plan`, another path
/// or channel set: `moved` is the object as it will be; old keys out, new
/// keys in (absent before unless the corridor held them), all in one
/// transaction under the corridor's lease.
pub fn move_txn(
    fabric: &Fabric,
    current: &Corridor,
    kv: &KeyValue,
    moved: &Corridor,
    plan: &Plan,
) -> Txn {
    let old_keys = keys_of(fabric, current);
    let new_keys = plan_keys(fabric, plan);
    let mut compares = vec![Compare::mod_revision(
        kv.key.clone(),
        CompareOp::Equal,
        kv.mod_revision,
    )];
    let mut ops = vec![Op::Put {
        key: kv.key.clone(),
        value: encode(moved),
        lease: kv.lease,
    }];
    let value = Holder {
        corridor: current.id.clone(),
        qos: current.qos.priority,
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
    Txn {
        compares,
        success: ops,
        failure: Vec::new(),
    }
}

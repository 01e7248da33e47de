//! The capacity ledger: one store key per granted (link, grid channel) and
//! per held (port, module lane), each naming the corridor that holds it.
//!
//! The keys are the truth. A grant creates them with a "key absent"
//! compare in the same transaction as the corridor object, so two grants
//! can never hold the same wavelength on the same link, whatever the
//! concurrency, crashes or restarts; a leased corridor attaches its keys to
//! its lease, so expiry frees them with it. [`Cache`] is only a planning
//! aid rebuilt from these keys.

use std::collections::HashMap;

use corridor_model::corridor::QosPriority;
use corridor_planner::{Grant, GrantId, LaneMask, LinkId, NodeId, Occupancy, Qos, mask_of};
use corridor_store::{RangeRequest, StateStore};
use serde::{Deserialize, Serialize};

use super::fabric::Fabric;
use crate::ServiceError;

pub const LEDGER_PREFIX: &str = "/ledger/corridors/";

pub fn channel_key(link: &str, channel: i32) -> String {
    format!("{LEDGER_PREFIX}links/{link}/{channel}")
}

pub fn lane_key(port: &str, lane: u8) -> String {
    format!("{LEDGER_PREFIX}ports/{port}/{lane}")
}

/// The value of a ledger key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub corridor: String,
    pub qos: QosPriority,
}

impl Holder {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("holder serialises")
    }
}

pub fn planner_qos(priority: QosPriority) -> Qos {
    match priority {
        QosPriority::Gold => Qos::Gold,
        QosPriority::Silver => Qos::Silver,
        QosPriority::Bronze => Qos::Bronze,
    }
}

/// One corridor's holding, as the cache sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub qos: QosPriority,
    /// (link index, slots).
    pub links: Vec<(usize, Vec<u16>)>,
    /// (port index, module lanes).
    pub ports: Vec<(usize, Vec<u8>)>,
}

/// In-memory view of the ledger, for planning only: the planner's
/// occupancy (channels per link, module lanes per port) and which corridor
/// holds each grant.
#[derive(Debug, Clone)]
pub struct Cache {
    pub occupancy: Occupancy,
    pub holdings: HashMap<String, (GrantId, Holding)>,
    pub by_grant: HashMap<GrantId, String>,
    /// Plans of admissions still in flight (held here so that concurrent
    /// admissions plan around them; not yet in the store).
    pub tentative: HashMap<String, Holding>,
    next_grant: u64,
}

impl Cache {
    pub fn empty(fabric: &Fabric) -> Self {
        Self {
            occupancy: Occupancy::new(fabric.planner.topology()),
            holdings: HashMap::new(),
            by_grant: HashMap::new(),
            tentative: HashMap::new(),
            next_grant: 1,
        }
    }

    /// Records a holding; a corridor already held is left as it is.
    pub fn hold(&mut self, corridor: &str, holding: Holding) {
        if self.holdings.contains_key(corridor) {
            return;
        }
        let id = GrantId(self.next_grant);
        self.next_grant += 1;
        let slots: Vec<u16> = holding
            .links
            .first()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let links: Vec<LinkId> = holding
            .links
            .iter()
            .map(|(l, _)| LinkId(*l as u32))
            .collect();
        let module_lanes: Vec<(NodeId, LaneMask)> = holding
            .ports
            .iter()
            .map(|(port, lanes)| {
                let mask = lanes
                    .iter()
                    .filter(|&&l| (1..=32).contains(&l))
                    .fold(0, |m, &l| m | 1 << (l - 1));
                (NodeId(*port as u32), mask)
            })
            .collect();
        if !links.is_empty() && !slots.is_empty() {
            // A conflicting grant in the cache means the cache is stale
            // (the store refused nothing): the next refresh repairs it.
            let _ = self.occupancy.grant(Grant {
                id,
                qos: planner_qos(holding.qos),
                links,
                channels: mask_of(&slots),
                module_lanes,
            });
        }
        self.by_grant.insert(id, corridor.to_owned());
        self.holdings.insert(corridor.to_owned(), (id, holding));
    }

    /// Holds an in-flight admission's plan.
    pub fn hold_tentative(&mut self, corridor: &str, holding: Holding) {
        self.tentative.insert(corridor.to_owned(), holding.clone());
        self.hold(corridor, holding);
    }

    /// The admission committed: its holding is now backed by the store.
    pub fn confirm(&mut self, corridor: &str) {
        self.tentative.remove(corridor);
    }

    /// A cache rebuilt from the store keeps this one's in-flight holds.
    pub fn adopt_tentative(&mut self, from: &Cache) {
        for (corridor, holding) in &from.tentative {
            if !self.holdings.contains_key(corridor) {
                self.hold_tentative(corridor, holding.clone());
            }
        }
    }

    pub fn release(&mut self, corridor: &str) {
        self.tentative.remove(corridor);
        if let Some((id, _)) = self.holdings.remove(corridor) {
            self.occupancy.release(id);
            self.by_grant.remove(&id);
        }
    }

    /// Rebuilds the cache from the ledger keys in the store.
    pub async fn load(fabric: &Fabric, store: &dyn StateStore) -> Result<Self, ServiceError> {
        let response = store
            .range(RangeRequest::prefix(LEDGER_PREFIX))
            .await
            .map_err(ServiceError::store("read the corridor capacity ledger"))?;
        let mut found: HashMap<String, Holding> = HashMap::new();
        for kv in &response.kvs {
            let holder: Holder =
                serde_json::from_slice(&kv.value).map_err(|source| ServiceError::Corrupt {
                    kind: "corridor ledger",
                    key: kv.key.clone(),
                    source,
                })?;
            let rest = &kv.key[LEDGER_PREFIX.len()..];
            let mut parts = rest.split('/');
            let (kind, name, index) = (parts.next(), parts.next(), parts.next());
            let entry = found.entry(holder.corridor.clone()).or_insert(Holding {
                qos: holder.qos,
                links: Vec::new(),
                ports: Vec::new(),
            });
            match (kind, name, index) {
                (Some("links"), Some(link), Some(n)) => {
                    let (Some(l), Ok(n)) = (fabric.link_index(link), n.parse::<i32>()) else {
                        continue;
                    };
                    let first = fabric.ports[fabric.links[l].ports[0]].first_channel;
                    let slot = (n - first) as u16;
                    match entry.links.iter_mut().find(|(x, _)| *x == l) {
                        Some((_, slots)) => slots.push(slot),
                        None => entry.links.push((l, vec![slot])),
                    }
                }
                (Some("ports"), Some(port), Some(lane)) => {
                    let (Some(p), Ok(lane)) = (fabric.port_index(port), lane.parse::<u8>()) else {
                        continue;
                    };
                    match entry.ports.iter_mut().find(|(x, _)| *x == p) {
                        Some((_, lanes)) => lanes.push(lane),
                        None => entry.ports.push((p, vec![lane])),
                    }
                }
                _ => {}
            }
        }
        let mut cache = Self::empty(fabric);
        let mut ids: Vec<_> = found.into_iter().collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        for (corridor, mut holding) in ids {
            for (_, slots) in &mut holding.links {
                slots.sort_unstable();
            }
            cache.hold(&corridor, holding);
        }
        Ok(cache)
    }
}

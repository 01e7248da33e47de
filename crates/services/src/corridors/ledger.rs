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
    /// Local changes made while reloads from the store are in flight, in
    /// order: a reload's snapshot may predate them, and must not undo them.
    reload_journal: Vec<(u64, LocalChange)>,
    /// Sequence number of the next local change.
    change_seq: u64,
    /// Reloads begun and not yet finished.
    reloads_in_flight: usize,
}

/// A change to the cache that a snapshot read before it cannot show.
#[derive(Debug, Clone)]
enum LocalChange {
    /// The corridor's capacity went back (released, or its admission
    /// lost): ids are never reused, so it is gone for good.
    Released(String),
    /// The corridor's grant committed.
    Confirmed(String, Holding),
}

impl Cache {
    pub fn empty(fabric: &Fabric) -> Self {
        Self {
            occupancy: Occupancy::new(fabric.planner.topology()),
            holdings: HashMap::new(),
            by_grant: HashMap::new(),
            tentative: HashMap::new(),
            next_grant: 1,
            reload_journal: Vec::new(),
            change_seq: 0,
            reloads_in_flight: 0,
        }
    }

    fn note(&mut self, change: LocalChange) {
        if self.reloads_in_flight > 0 {
            self.reload_journal.push((self.change_seq, change));
        }
        self.change_seq += 1;
    }

    /// Marks the start of a reload: call before reading the store, and
    /// pass the mark to [`finish_reload`](Self::finish_reload).
    pub fn begin_reload(&mut self) -> u64 {
        self.reloads_in_flight += 1;
        self.change_seq
    }

    /// Replaces this cache with `fresh`, read from the store after `mark`
    /// was taken, keeping what happened here since: in-flight admissions,
    /// and grants confirmed or capacity released after the mark (the
    /// snapshot may predate them; without this a release would come back
    /// as a stale hold and refuse admissions the store has room for).
    pub fn finish_reload(&mut self, mut fresh: Cache, mark: u64) {
        for (seq, change) in &self.reload_journal {
            if *seq < mark {
                continue;
            }
            match change {
                LocalChange::Released(corridor) => fresh.release(corridor),
                LocalChange::Confirmed(corridor, holding) => fresh.hold(corridor, holding.clone()),
            }
        }
        // Last: an admission retrying under the same id may have been
        // released above and be held again now.
        fresh.adopt_tentative(self);
        fresh.reloads_in_flight = self.reloads_in_flight.saturating_sub(1);
        fresh.change_seq = self.change_seq;
        if fresh.reloads_in_flight > 0 {
            fresh.reload_journal = std::mem::take(&mut self.reload_journal);
        } else {
            fresh.reload_journal = Vec::new();
        }
        *self = fresh;
    }

    /// Ends a reload that failed (the store could not be read).
    pub fn abandon_reload(&mut self) {
        self.reloads_in_flight = self.reloads_in_flight.saturating_sub(1);
        if self.reloads_in_flight == 0 {
            self.reload_journal.clear();
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
        if self.reloads_in_flight > 0
            && let Some((_, holding)) = self.holdings.get(corridor)
        {
            let holding = holding.clone();
            self.note(LocalChange::Confirmed(corridor.to_owned(), holding));
        }
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
        if self.reloads_in_flight > 0 {
            self.note(LocalChange::Released(corridor.to_owned()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corridors::fabric::tests::default_fabric;

    fn holding(port: usize) -> Holding {
        Holding {
            qos: QosPriority::Silver,
            links: vec![(0, vec![3])],
            ports: vec![(port, vec![1])],
        }
    }

    /// A reload whose snapshot was read before a release must not bring
    /// the released corridor back as a hold: every later admission that
    /// needed its lanes would be refused although the store has room.
    #[test]
    fn a_release_during_a_reload_stays_released() {
        let fabric = default_fabric();
        let mut cache = Cache::empty(&fabric);
        cache.hold("cor-a", holding(0));
        let mark = cache.begin_reload();
        let snapshot = cache.clone(); // the store as read, before the release
        cache.release("cor-a");
        cache.finish_reload(snapshot, mark);
        assert!(
            !cache.holdings.contains_key("cor-a"),
            "{:?}",
            cache.holdings
        );
        assert_eq!(cache.reloads_in_flight, 0);
        assert!(cache.reload_journal.is_empty());
    }

    /// A grant confirmed after the snapshot was read stays held, and an
    /// admission retrying under its id after a release is held again.
    #[test]
    fn grants_confirmed_and_admissions_in_flight_survive_a_reload() {
        let fabric = default_fabric();
        let mut cache = Cache::empty(&fabric);
        cache.hold_tentative("cor-b", holding(0));
        cache.hold_tentative("cor-c", holding(2));
        let mark = cache.begin_reload();
        let snapshot = Cache::empty(&fabric); // neither committed yet
        cache.confirm("cor-b");
        // cor-c lost its race, was released and planned again.
        cache.release("cor-c");
        cache.hold_tentative("cor-c", holding(4));
        cache.finish_reload(snapshot, mark);
        assert!(cache.holdings.contains_key("cor-b"));
        assert_eq!(cache.holdings["cor-c"].1, holding(4));
        assert!(cache.tentative.contains_key("cor-c"));
    }

    /// Two overlapping reloads: the first to finish keeps the journal the
    /// second still needs.
    #[test]
    fn overlapping_reloads_each_see_the_changes_after_their_mark() {
        let fabric = default_fabric();
        let mut cache = Cache::empty(&fabric);
        cache.hold("cor-d", holding(0));
        cache.hold("cor-e", holding(2));
        let first = cache.begin_reload();
        let first_snapshot = cache.clone();
        let second = cache.begin_reload();
        cache.release("cor-d");
        let second_snapshot = cache.clone();
        cache.release("cor-e");
        cache.finish_reload(first_snapshot, first);
        assert_eq!(cache.reloads_in_flight, 1);
        cache.finish_reload(second_snapshot, second);
        assert!(cache.holdings.is_empty(), "{:?}", cache.holdings);
        assert_eq!(cache.reloads_in_flight, 0);
    }
}

//! The writer's in-memory view of leases: their deadlines and their keys.
//!
//! The `LEASES` table is the truth for deadlines (wall-clock unix
//! milliseconds, so they survive a restart); this index mirrors it so the
//! writer can tell whether a lease is alive and when the next one expires
//! without a scan. Which keys a lease holds is written once, in each key's
//! own record (`KEYS`); the index keeps the reverse map, rebuilt from those
//! records on open, as etcd's lessor does (mvcc `restore` attaches every
//! key to its lease as it reads the key space back). A table of its own
//! cost two B-tree writes per leased key granted and released (a corridor
//! grant holds a key per lane and channel) for a map that only revocation
//! reads. Only the writer thread touches the index, which is what lets
//! expiry be decided without races against keep-alives.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::ReadableTable;

use super::apply::backend;
use super::schema;
use crate::{LeaseId, StoreError};

/// Where the store reads "now" to grant, renew and expire leases: the
/// system's time in a daemon ([`SystemLeaseClock`]). A deterministic replay
/// (CorridorLabs) passes its scenario clock instead, so a lease's deadline
/// and expiry are a function of the scenario, not of when it ran.
pub trait LeaseClock: Send + Sync + Debug {
    /// Unix milliseconds now.
    fn now_unix_ms(&self) -> i64;
}

/// The system's wall clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLeaseClock;

impl LeaseClock for SystemLeaseClock {
    fn now_unix_ms(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

pub(crate) fn duration_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseEntry {
    pub ttl_ms: u64,
    pub deadline_ms: i64,
}

impl LeaseEntry {
    pub fn starting_at(ttl_ms: u64, now_ms: i64) -> Self {
        Self {
            ttl_ms,
            deadline_ms: now_ms.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct LeaseIndex {
    entries: HashMap<LeaseId, LeaseEntry>,
    by_deadline: BTreeSet<(i64, LeaseId)>,
    /// The keys whose record names each lease, in key order (a revocation
    /// deletes them in that order, as it did when they were a table).
    keys: HashMap<LeaseId, BTreeSet<String>>,
}

impl LeaseIndex {
    /// The index of what `leases` and `keys` hold (the committed state).
    pub fn load(
        leases: &impl ReadableTable<i64, (u64, i64)>,
        keys: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Self, StoreError> {
        let mut index = Self::default();
        for row in leases.iter().map_err(backend("load the leases"))? {
            let (id, entry) = row.map_err(backend("load the leases"))?;
            let (ttl_ms, deadline_ms) = entry.value();
            index.set(
                id.value(),
                LeaseEntry {
                    ttl_ms,
                    deadline_ms,
                },
            );
        }
        for row in keys.iter().map_err(backend("load the leased keys"))? {
            let (key, record) = row.map_err(backend("load the leased keys"))?;
            let key = key.value();
            if let Some(lease) = schema::decode_record_header(key, record.value())?.lease {
                index.attach(lease, key);
            }
        }
        Ok(index)
    }

    /// Records that `key`'s record names `lease`.
    pub fn attach(&mut self, lease: LeaseId, key: &str) {
        self.keys.entry(lease).or_default().insert(key.to_owned());
    }

    /// Records that `key`'s record no longer names `lease`.
    pub fn detach(&mut self, lease: LeaseId, key: &str) {
        if let Some(keys) = self.keys.get_mut(&lease) {
            keys.remove(key);
            if keys.is_empty() {
                self.keys.remove(&lease);
            }
        }
    }

    /// The keys `lease` holds, in key order.
    pub fn keys_of(&self, lease: LeaseId) -> Vec<String> {
        self.keys
            .get(&lease)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn set(&mut self, id: LeaseId, entry: LeaseEntry) {
        if let Some(old) = self.entries.insert(id, entry) {
            self.by_deadline.remove(&(old.deadline_ms, id));
        }
        self.by_deadline.insert((entry.deadline_ms, id));
    }

    pub fn remove(&mut self, id: LeaseId) {
        if let Some(old) = self.entries.remove(&id) {
            self.by_deadline.remove(&(old.deadline_ms, id));
        }
        self.keys.remove(&id);
    }

    /// The lease, unless it is unknown or past its deadline. An expired lease the
    /// writer has not swept yet is already dead to callers: a keep-alive or put
    /// that races the sweep must not resurrect it.
    pub fn alive(&self, id: LeaseId, now_ms: i64) -> Option<LeaseEntry> {
        self.entries
            .get(&id)
            .copied()
            .filter(|entry| entry.deadline_ms > now_ms)
    }

    pub fn contains(&self, id: LeaseId) -> bool {
        self.entries.contains_key(&id)
    }

    pub fn expired(&self, now_ms: i64) -> Vec<LeaseId> {
        self.by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= now_ms)
            .map(|(_, id)| *id)
            .collect()
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_moves_the_deadline_and_expiry_follows_it() {
        let mut index = LeaseIndex::default();
        index.set(1, LeaseEntry::starting_at(1_000, 0));
        index.set(2, LeaseEntry::starting_at(500, 0));
        assert_eq!(index.next_deadline(), Some(500));
        assert_eq!(index.expired(600), vec![2]);

        index.set(2, LeaseEntry::starting_at(500, 600));
        assert_eq!(index.expired(600), Vec::<LeaseId>::new());
        assert_eq!(index.expired(1_000), vec![1]);
        assert!(index.alive(2, 1_000).is_some());
        assert!(
            index.alive(2, 1_100).is_none(),
            "deadline reached means dead"
        );

        index.remove(1);
        assert_eq!(index.next_deadline(), Some(1_100));
        assert!(!index.contains(1));
    }
}

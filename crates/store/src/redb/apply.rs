//! What one group commit does to the tables: transactions, lease changes,
//! compaction. Runs only on the writer thread, inside its write transaction.
//!
//! Every operation validates first and mutates second, so a request that is
//! refused (bad lease, duplicate key) leaves nothing behind, while a storage
//! failure mid-way aborts the whole batch (see [`Applied`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use redb::{ReadableTable, Table, WriteTransaction};

use super::lease::{LeaseEntry, LeaseIndex, duration_ms};
use super::schema::{self, KEYS, LEASES, META, META_COMPACTED, META_NEXT_LEASE, META_REVISION};
use crate::{
    Compare, CompareOp, CompareTarget, EventKind, KeyValue, KvEvent, LeaseId, LeasedTxn, Op,
    OpResult, Revision, StoreError, Txn, TxnResponse,
};

/// The outer error is fatal to the batch (the write transaction is abandoned and
/// every caller of the batch gets it); the inner result is this request's answer.
pub(crate) type Applied<T> = Result<Result<T, StoreError>, StoreError>;

/// All changes made at one revision, as published to watchers.
#[derive(Debug)]
pub(crate) struct RevisionEvents {
    pub revision: Revision,
    pub events: Vec<KvEvent>,
}

/// The store-wide counters kept in the `META` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    pub revision: Revision,
    /// Events below this revision are gone.
    pub compacted: Revision,
    pub next_lease: LeaseId,
}

pub(crate) fn backend<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |error| StoreError::backend(context, error.into())
}

/// The tables and counters of one batch, with what it has produced so far.
pub(crate) struct Batch<'txn, 'idx> {
    keys: Table<'txn, &'static str, &'static [u8]>,
    meta: Table<'txn, &'static str, i64>,
    leases: Table<'txn, i64, (u64, i64)>,
    lease_index: &'idx mut LeaseIndex,
    counters: Counters,
    now_ms: i64,
    published: Vec<Arc<RevisionEvents>>,
    dirty: bool,
}

/// What a batch leaves behind once its tables are closed.
pub(crate) struct BatchOutcome {
    pub counters: Counters,
    pub published: Vec<Arc<RevisionEvents>>,
    /// Whether anything was written; a batch of pure reads is aborted, not committed,
    /// to spare an fsync.
    pub dirty: bool,
}

impl<'txn, 'idx> Batch<'txn, 'idx> {
    pub fn open(
        wtx: &'txn WriteTransaction,
        counters: Counters,
        lease_index: &'idx mut LeaseIndex,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let open = backend("open a table for writing");
        Ok(Self {
            keys: wtx
                .open_table(KEYS)
                .map_err(backend("open the keys table"))?,
            meta: wtx.open_table(META).map_err(open)?,
            leases: wtx
                .open_table(LEASES)
                .map_err(backend("open the lease table"))?,
            lease_index,
            counters,
            now_ms,
            published: Vec::new(),
            dirty: false,
        })
    }

    pub fn txn(&mut self, txn: Txn) -> Applied<TxnResponse> {
        let mut succeeded = true;
        for compare in &txn.compares {
            if !self.holds(compare)? {
                succeeded = false;
                break;
            }
        }
        let ops = if succeeded { txn.success } else { txn.failure };
        if let Err(refused) = self.validate(&ops) {
            return Ok(Err(refused));
        }

        let revision = self.counters.revision + 1;
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let result = match op {
                Op::Put { key, value, lease } => {
                    let prev = self.read(&key)?;
                    let kv = KeyValue {
                        create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                        key,
                        value,
                        mod_revision: revision,
                        lease,
                    };
                    self.write_key(&kv, prev.as_ref())?;
                    events.push(KvEvent {
                        kind: EventKind::Put,
                        kv,
                        prev_kv: prev.clone(),
                    });
                    OpResult::Put { prev }
                }
                Op::Delete { key } => {
                    let deleted: Vec<KeyValue> = self.read(&key)?.into_iter().collect();
                    self.delete_keys(&deleted, revision, &mut events)?;
                    OpResult::Delete { deleted }
                }
                Op::DeletePrefix { prefix } => {
                    let deleted = self.read_prefix(&prefix)?;
                    self.delete_keys(&deleted, revision, &mut events)?;
                    OpResult::Delete { deleted }
                }
                Op::Get { key } => OpResult::Get {
                    kv: self.read(&key)?,
                },
            };
            results.push(result);
        }
        // As in etcd, only a transaction that changed something takes a revision.
        self.record(events)?;
        Ok(Ok(TxnResponse {
            succeeded,
            revision: self.counters.revision,
            results,
        }))
    }

    pub fn lease_grant(&mut self, ttl: Duration) -> Applied<LeaseId> {
        let ttl_ms = duration_ms(ttl);
        if ttl_ms == 0 {
            return Ok(Err(StoreError::InvalidRequest(
                "a lease needs a TTL of at least 1 ms".into(),
            )));
        }
        let id = self.counters.next_lease;
        self.counters.next_lease += 1;
        self.set_lease(id, LeaseEntry::starting_at(ttl_ms, self.now_ms))?;
        Ok(Ok(id))
    }

    /// [`crate::StateStore::txn_with_new_lease`] inside the batch: the
    /// lease is granted only when the compares hold, and taken back if the
    /// transaction is then refused (a put naming another, unknown lease).
    pub fn txn_with_new_lease(&mut self, ttl: Duration, txn: Txn) -> Applied<LeasedTxn> {
        if txn.new_lease_on_failure() {
            return Ok(Err(StoreError::InvalidRequest(
                "only the success branch can name the new lease".into(),
            )));
        }
        let mut holds = true;
        for compare in &txn.compares {
            if !self.holds(compare)? {
                holds = false;
                break;
            }
        }
        if !holds {
            // The failure branch runs; it cannot name the lease.
            return Ok(self.txn(txn)?.map(|response| LeasedTxn {
                lease: None,
                response,
            }));
        }
        let lease = match self.lease_grant(ttl)? {
            Ok(lease) => lease,
            Err(refused) => return Ok(Err(refused)),
        };
        match self.txn(txn.with_new_lease(lease))? {
            Ok(response) => Ok(Ok(LeasedTxn {
                lease: Some(lease),
                response,
            })),
            Err(refused) => {
                // Nothing was written under it: the lease has no keys.
                self.lease_revoke(lease)?.ok();
                Ok(Err(refused))
            }
        }
    }

    /// [`crate::StateStore::txn_then_revoke`] inside the batch.
    pub fn txn_then_revoke(&mut self, txn: Txn, lease: LeaseId) -> Applied<TxnResponse> {
        let response = match self.txn(txn)? {
            Ok(response) => response,
            Err(refused) => return Ok(Err(refused)),
        };
        if response.succeeded {
            match self.lease_revoke(lease)? {
                Ok(()) | Err(StoreError::LeaseNotFound(_)) => {}
                Err(refused) => return Ok(Err(refused)),
            }
        }
        Ok(Ok(response))
    }

    pub fn lease_keep_alive(&mut self, id: LeaseId) -> Applied<Duration> {
        let Some(entry) = self.lease_index.alive(id, self.now_ms) else {
            return Ok(Err(StoreError::LeaseNotFound(id)));
        };
        self.set_lease(id, LeaseEntry::starting_at(entry.ttl_ms, self.now_ms))?;
        Ok(Ok(Duration::from_millis(entry.ttl_ms)))
    }

    /// Ends a lease (revoked or expired): its keys go in one revision.
    pub fn lease_revoke(&mut self, id: LeaseId) -> Applied<()> {
        if !self.lease_index.contains(id) {
            return Ok(Err(StoreError::LeaseNotFound(id)));
        }
        let owned = self.lease_index.keys_of(id);
        let revision = self.counters.revision + 1;
        let mut deleted = Vec::with_capacity(owned.len());
        for key in &owned {
            // A key re-attached elsewhere would not be listed here; one listed here
            // is owned by this lease.
            if let Some(kv) = self.read(key)? {
                deleted.push(kv);
            }
        }
        let mut events = Vec::with_capacity(deleted.len());
        self.delete_keys(&deleted, revision, &mut events)?;
        self.leases.remove(id).map_err(backend("remove a lease"))?;
        self.lease_index.remove(id);
        self.dirty = true;
        self.record(events)?;
        Ok(Ok(()))
    }

    pub fn compact(&mut self, revision: Revision) -> Applied<()> {
        if revision > self.counters.revision {
            return Ok(Err(StoreError::FutureRevision {
                requested: revision,
                current: self.counters.revision,
            }));
        }
        self.compact_to(revision)?;
        Ok(Ok(()))
    }

    /// Keeps the last `keep` revisions of the event log (0 keeps everything):
    /// moves the compaction floor, below which the writer drops the log's
    /// files (`event_log`).
    pub fn retain(&mut self, keep: u64) -> Result<(), StoreError> {
        if keep == 0 {
            return Ok(());
        }
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.compact_to(self.counters.revision.saturating_sub(keep) + 1)
    }

    pub fn finish(mut self) -> Result<BatchOutcome, StoreError> {
        if self.dirty {
            let counters = self.counters;
            for (name, value) in [
                (META_REVISION, counters.revision),
                (META_COMPACTED, counters.compacted),
                (META_NEXT_LEASE, counters.next_lease),
            ] {
                self.meta
                    .insert(name, value)
                    .map_err(backend("update the store counters"))?;
            }
        }
        Ok(BatchOutcome {
            counters: self.counters,
            published: self.published,
            dirty: self.dirty,
        })
    }

    fn compact_to(&mut self, revision: Revision) -> Result<(), StoreError> {
        if revision <= self.counters.compacted {
            return Ok(());
        }
        self.counters.compacted = revision;
        self.dirty = true;
        Ok(())
    }

    fn holds(&self, compare: &Compare) -> Result<bool, StoreError> {
        // Only a value compare needs the value: the others read the record's
        // revisions without copying it (a grant compares a key per lane).
        let current = match compare.target {
            CompareTarget::Value(_) => self.read(&compare.key)?,
            _ => self.read_header(&compare.key)?,
        };
        Ok(compare_holds(compare, current.as_ref()))
    }

    fn validate(&self, ops: &[Op]) -> Result<(), StoreError> {
        let mut written: HashSet<&str> = HashSet::new();
        for op in ops {
            match op {
                Op::Put { key, lease, .. } => {
                    require_key(key)?;
                    if !written.insert(key) {
                        return Err(StoreError::InvalidRequest(format!(
                            "transaction writes key {key:?} more than once"
                        )));
                    }
                    if let Some(lease) = *lease
                        && self.lease_index.alive(lease, self.now_ms).is_none()
                    {
                        return Err(StoreError::LeaseNotFound(lease));
                    }
                }
                Op::Delete { key } | Op::Get { key } => require_key(key)?,
                Op::DeletePrefix { prefix } => {
                    if prefix.is_empty() {
                        return Err(StoreError::InvalidRequest(
                            "DeletePrefix with an empty prefix would delete every key".into(),
                        ));
                    }
                }
            }
        }
        // etcd refuses a put and a delete of the same key in one transaction; so do we,
        // whichever comes first.
        for op in ops {
            let overlaps = match op {
                Op::Delete { key } => written.contains(key.as_str()),
                Op::DeletePrefix { prefix } => {
                    written.iter().any(|k| k.starts_with(prefix.as_str()))
                }
                _ => false,
            };
            if overlaps {
                return Err(StoreError::InvalidRequest(
                    "transaction puts and deletes the same key".into(),
                ));
            }
        }
        Ok(())
    }

    fn read(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.read_with(key, schema::decode_record)
    }

    /// A key's record without its value (see [`schema::decode_record_header`]).
    fn read_header(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.read_with(key, schema::decode_record_header)
    }

    fn read_with(
        &self,
        key: &str,
        decode: fn(&str, &[u8]) -> Result<KeyValue, StoreError>,
    ) -> Result<Option<KeyValue>, StoreError> {
        let Some(bytes) = self.keys.get(key).map_err(backend("read a key"))? else {
            return Ok(None);
        };
        decode(key, bytes.value()).map(Some)
    }

    fn read_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        let mut found = Vec::new();
        for row in self
            .keys
            .range::<&str>(prefix..)
            .map_err(backend("scan a prefix"))?
        {
            let (key, bytes) = row.map_err(backend("scan a prefix"))?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            found.push(schema::decode_record(key, bytes.value())?);
        }
        Ok(found)
    }

    fn write_key(&mut self, kv: &KeyValue, prev: Option<&KeyValue>) -> Result<(), StoreError> {
        self.keys
            .insert(kv.key.as_str(), schema::encode_record(kv).as_slice())
            .map_err(backend("write a key"))?;
        let old_lease = prev.and_then(|p| p.lease);
        if old_lease != kv.lease {
            if let Some(old) = old_lease {
                self.lease_index.detach(old, &kv.key);
            }
            if let Some(new) = kv.lease {
                self.lease_index.attach(new, &kv.key);
            }
        }
        self.dirty = true;
        Ok(())
    }

    fn delete_keys(
        &mut self,
        deleted: &[KeyValue],
        revision: Revision,
        events: &mut Vec<KvEvent>,
    ) -> Result<(), StoreError> {
        for prev in deleted {
            self.keys
                .remove(prev.key.as_str())
                .map_err(backend("delete a key"))?;
            if let Some(lease) = prev.lease {
                self.lease_index.detach(lease, &prev.key);
            }
            events.push(KvEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: prev.key.clone(),
                    value: Vec::new(),
                    create_revision: 0,
                    mod_revision: revision,
                    version: 0,
                    lease: None,
                },
                prev_kv: Some(prev.clone()),
            });
            self.dirty = true;
        }
        Ok(())
    }

    fn set_lease(&mut self, id: LeaseId, entry: LeaseEntry) -> Result<(), StoreError> {
        self.leases
            .insert(id, (entry.ttl_ms, entry.deadline_ms))
            .map_err(backend("write a lease"))?;
        self.lease_index.set(id, entry);
        self.dirty = true;
        Ok(())
    }

    /// Gives the changes of one transaction the next revision; the writer
    /// appends them to the event log before the batch commits.
    fn record(&mut self, events: Vec<KvEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let revision = self.counters.revision + 1;
        debug_assert!(events.iter().all(|e| e.kv.mod_revision == revision));
        self.counters.revision = revision;
        self.dirty = true;
        self.published
            .push(Arc::new(RevisionEvents { revision, events }));
        Ok(())
    }
}

fn require_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        Err(StoreError::InvalidRequest("empty key".into()))
    } else {
        Ok(())
    }
}

/// etcd's comparison rules, a missing key reading as all zeroes.
pub(crate) fn compare_holds(compare: &Compare, current: Option<&KeyValue>) -> bool {
    use std::cmp::Ordering;
    let ordering: Ordering = match &compare.target {
        CompareTarget::ModRevision(r) => current.map_or(0, |kv| kv.mod_revision).cmp(r),
        CompareTarget::CreateRevision(r) => current.map_or(0, |kv| kv.create_revision).cmp(r),
        CompareTarget::Version(v) => current.map_or(0, |kv| kv.version).cmp(v),
        CompareTarget::Value(v) => match current {
            // etcd cannot tell a missing value from an empty one, so it fails them all.
            None => return false,
            Some(kv) => kv.value.as_slice().cmp(v.as_slice()),
        },
    };
    match compare.op {
        CompareOp::Equal => ordering == Ordering::Equal,
        CompareOp::NotEqual => ordering != Ordering::Equal,
        CompareOp::Less => ordering == Ordering::Less,
        CompareOp::Greater => ordering == Ordering::Greater,
    }
}

//! Reads, straight from the caller on a redb read transaction: MVCC snapshots
//! never wait for the writer, so reads need no trip through its channel.

use std::time::Duration;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};

use super::apply::backend;
use super::event_log::EventLog;
use super::schema::{self, INITIAL_REVISION, KEYS, LEASES, META, META_COMPACTED, META_REVISION};
use crate::{
    KeyValue, KvEvent, LeaseId, LeaseInfo, RangeRequest, RangeResponse, Revision, StoreError,
};

pub(crate) fn begin(db: &Database) -> Result<ReadTransaction, StoreError> {
    db.begin_read().map_err(backend("begin a read transaction"))
}

/// (current revision, compacted revision) as of the snapshot.
pub(crate) fn revisions(rtx: &ReadTransaction) -> Result<(Revision, Revision), StoreError> {
    let meta = rtx
        .open_table(META)
        .map_err(backend("open the meta table"))?;
    let read = |name| -> Result<Option<i64>, StoreError> {
        Ok(meta
            .get(name)
            .map_err(backend("read the store counters"))?
            .map(|v| v.value()))
    };
    Ok((
        read(META_REVISION)?.unwrap_or(INITIAL_REVISION),
        read(META_COMPACTED)?.unwrap_or(0),
    ))
}

pub(crate) fn range(db: &Database, request: &RangeRequest) -> Result<RangeResponse, StoreError> {
    let rtx = begin(db)?;
    let (revision, _) = revisions(&rtx)?;
    let keys = rtx
        .open_table(KEYS)
        .map_err(backend("open the keys table"))?;
    let prefix = request.prefix_str();
    // Limit 0 means "no limit", as in etcd.
    let limit = request
        .limit_value()
        .filter(|&n| n > 0)
        .unwrap_or(usize::MAX);

    let rows = match request.start_after() {
        Some(after) if after >= prefix => {
            keys.range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        }
        _ => keys.range::<&str>(prefix..),
    }
    .map_err(backend("scan keys"))?;

    let mut kvs = Vec::new();
    let mut more = false;
    for row in rows {
        let (key, bytes) = row.map_err(backend("scan keys"))?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        if kvs.len() == limit {
            more = true;
            break;
        }
        kvs.push(if request.is_keys_only() {
            schema::decode_record_header(key, bytes.value())?
        } else {
            schema::decode_record(key, bytes.value())?
        });
    }
    Ok(RangeResponse {
        kvs,
        revision,
        more,
    })
}

pub(crate) fn get(db: &Database, key: &str) -> Result<Option<KeyValue>, StoreError> {
    let rtx = begin(db)?;
    let keys = rtx
        .open_table(KEYS)
        .map_err(backend("open the keys table"))?;
    match keys.get(key).map_err(backend("read a key"))? {
        Some(bytes) => schema::decode_record(key, bytes.value()).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn lease_time_to_live(
    db: &Database,
    id: LeaseId,
    now_ms: i64,
) -> Result<Option<LeaseInfo>, StoreError> {
    let rtx = begin(db)?;
    let leases = rtx
        .open_table(LEASES)
        .map_err(backend("open the lease table"))?;
    let Some((ttl_ms, deadline_ms)) = leases
        .get(id)
        .map_err(backend("read a lease"))?
        .map(|v| v.value())
    else {
        return Ok(None);
    };
    // Past its deadline the lease is dead even if the writer has not swept it yet.
    let Some(remaining) = deadline_ms.checked_sub(now_ms).filter(|ms| *ms > 0) else {
        return Ok(None);
    };
    // Which keys a lease holds is in each key's record (the writer's index
    // of them is its own): a scan, for a call only diagnostics make.
    let table = rtx
        .open_table(KEYS)
        .map_err(backend("open the keys table"))?;
    let mut keys = Vec::new();
    for row in table.iter().map_err(backend("list a lease's keys"))? {
        let (key, record) = row.map_err(backend("list a lease's keys"))?;
        let key = key.value();
        if schema::decode_record_header(key, record.value())?.lease == Some(id) {
            keys.push(key.to_owned());
        }
    }
    Ok(Some(LeaseInfo {
        id,
        granted_ttl: Duration::from_millis(ttl_ms),
        remaining: Duration::from_millis(u64::try_from(remaining).unwrap_or(0)),
        keys,
    }))
}

/// One page of history: the events under `prefix` of revisions `from..=to`,
/// reading at most `max_revisions` revisions. Returns the events and the next
/// revision to read.
pub(crate) fn history_page(
    db: &Database,
    log: &EventLog,
    prefix: &str,
    from: Revision,
    to: Revision,
    max_revisions: usize,
) -> Result<(Vec<KvEvent>, Revision), StoreError> {
    let (_, compacted) = revisions(&begin(db)?)?;
    if from < compacted {
        return Err(StoreError::Compacted {
            requested: from,
            compacted,
        });
    }
    let mut found = Vec::new();
    let next = log.read_page(from, to, max_revisions, |bytes| {
        found.extend(
            schema::decode_events(bytes)?
                .into_iter()
                .filter(|event| event.kv.key.starts_with(prefix)),
        );
        Ok(())
    })?;
    Ok((found, next))
}

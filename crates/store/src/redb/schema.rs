//! Table layout of the redb file and the byte encoding of its values.
//!
//! The encoding is a small hand-written little-endian format rather than serde:
//! values are read on every range and compare, and a fixed layout keeps them
//! compact (JSON would spell each byte of a value as a decimal number).

use redb::TableDefinition;

use crate::{EventKind, KeyValue, KvEvent, LeaseId, Revision, StoreError};

/// key → [`encode_record`]: the live keys.
pub(crate) const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// name → value: the counters below.
pub(crate) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
/// revision → [`encode_events`]: where the event log lived before it moved
/// to files of its own (`event_log`); a store that still has it hands its
/// rows to the log on open and drops it.
pub(crate) const LEGACY_EVENTS: TableDefinition<i64, &[u8]> = TableDefinition::new("events");
/// lease id → (granted ttl in ms, deadline in unix ms).
pub(crate) const LEASES: TableDefinition<i64, (u64, i64)> = TableDefinition::new("leases");
/// (lease id, key) → (): which keys each lease owned, in stores written
/// before the writer kept that map in memory (`lease::LeaseIndex`, rebuilt
/// from each key's record); such a store drops the table on open.
pub(crate) const LEGACY_LEASE_KEYS: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("lease_keys");

pub(crate) const META_REVISION: &str = "revision";
/// Events below this revision are gone (or going: `event_log`).
pub(crate) const META_COMPACTED: &str = "compacted";
pub(crate) const META_NEXT_LEASE: &str = "next_lease";
/// Sequence number of the last write-ahead-log record this file contains;
/// replay after a crash starts after it.
pub(crate) const META_WAL_SEQ: &str = "wal_seq";

/// The revision of an empty store. etcd starts at 1 too, so the first write is 2
/// on either backend.
pub(crate) const INITIAL_REVISION: Revision = 1;

/// The stored form of a key's value and revisions (the key is the table key).
pub(crate) fn encode_record(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + kv.value.len());
    put_kv_fields(&mut out, kv);
    out
}

pub(crate) fn decode_record(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    let mut reader = Reader::new(bytes, "keys table");
    let kv = reader.kv_fields(key.to_owned())?;
    reader.finish()?;
    Ok(kv)
}

/// A key's record without its value (left empty): what a keys-only range
/// answers. The value's length is still checked against the record.
pub(crate) fn decode_record_header(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    let mut reader = Reader::new(bytes, "keys table");
    let kv = reader.kv_header(key.to_owned())?;
    reader.finish()?;
    Ok(kv)
}

/// The stored form of all events of one revision.
pub(crate) fn encode_events(events: &[KvEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    put_u32(&mut out, events.len());
    for event in events {
        out.push(match event.kind {
            EventKind::Put => 0,
            EventKind::Delete => 1,
        });
        put_bytes(&mut out, event.kv.key.as_bytes());
        put_kv_fields(&mut out, &event.kv);
        match &event.prev_kv {
            None => out.push(0),
            Some(prev) => {
                out.push(1);
                // The previous value always has the event's key.
                put_kv_fields(&mut out, prev);
            }
        }
    }
    out
}

pub(crate) fn decode_events(bytes: &[u8]) -> Result<Vec<KvEvent>, StoreError> {
    let mut reader = Reader::new(bytes, "event log");
    let count = reader.u32()?;
    let mut events = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let kind = match reader.u8()? {
            0 => EventKind::Put,
            1 => EventKind::Delete,
            other => return Err(reader.corrupt(format!("unknown event kind {other}"))),
        };
        let key = reader.string()?;
        let kv = reader.kv_fields(key.clone())?;
        let prev_kv = match reader.u8()? {
            0 => None,
            1 => Some(reader.kv_fields(key)?),
            other => return Err(reader.corrupt(format!("bad prev_kv tag {other}"))),
        };
        events.push(KvEvent { kind, kv, prev_kv });
    }
    reader.finish()?;
    Ok(events)
}

fn put_kv_fields(out: &mut Vec<u8>, kv: &KeyValue) {
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    // 0 is not a valid lease id, so it can stand for "none".
    out.extend_from_slice(&kv.lease.unwrap_or(0).to_le_bytes());
    put_bytes(out, &kv.value);
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("store values are limited to 4 GiB");
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    context: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], context: &'static str) -> Self {
        Self { bytes, context }
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            context: self.context,
            detail,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < n {
            return Err(self.corrupt(format!(
                "truncated: wanted {n} bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, StoreError> {
        let bytes: [u8; 4] = self.take(4)?.try_into().expect("took 4 bytes");
        Ok(u32::from_le_bytes(bytes) as usize)
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        let bytes: [u8; 8] = self.take(8)?.try_into().expect("took 8 bytes");
        Ok(i64::from_le_bytes(bytes))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        let len = self.u32()?;
        Ok(self.take(len)?.to_vec())
    }

    fn string(&mut self) -> Result<String, StoreError> {
        String::from_utf8(self.bytes()?).map_err(|e| self.corrupt(format!("key is not UTF-8: {e}")))
    }

    fn kv_fields(&mut self, key: String) -> Result<KeyValue, StoreError> {
        let mut kv = self.kv_revisions(key)?;
        kv.value = self.bytes()?;
        Ok(kv)
    }

    /// The fields of [`kv_fields`](Self::kv_fields), skipping the value.
    fn kv_header(&mut self, key: String) -> Result<KeyValue, StoreError> {
        let kv = self.kv_revisions(key)?;
        let len = self.u32()?;
        self.take(len)?;
        Ok(kv)
    }

    /// A record's revisions, version and lease; the value follows them.
    fn kv_revisions(&mut self, key: String) -> Result<KeyValue, StoreError> {
        let create_revision = self.i64()?;
        let mod_revision = self.i64()?;
        let version = self.i64()?;
        let lease: LeaseId = self.i64()?;
        Ok(KeyValue {
            key,
            value: Vec::new(),
            create_revision,
            mod_revision,
            version,
            lease: (lease != 0).then_some(lease),
        })
    }

    fn finish(self) -> Result<(), StoreError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(format!("{} trailing bytes", self.bytes.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kv_strategy(key: String) -> impl Strategy<Value = KeyValue> {
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            proptest::option::of(1..i64::MAX),
        )
            .prop_map(move |(value, c, m, v, lease)| KeyValue {
                key: key.clone(),
                value,
                create_revision: c,
                mod_revision: m,
                version: v,
                lease,
            })
    }

    fn event_strategy() -> impl Strategy<Value = KvEvent> {
        "[a-z/]{0,12}".prop_flat_map(|key| {
            (
                any::<bool>(),
                kv_strategy(key.clone()),
                proptest::option::of(kv_strategy(key)),
            )
                .prop_map(|(put, kv, prev_kv)| KvEvent {
                    kind: if put {
                        EventKind::Put
                    } else {
                        EventKind::Delete
                    },
                    kv,
                    prev_kv,
                })
        })
    }

    proptest! {
        #[test]
        fn records_round_trip(kv in "[a-zé/]{1,12}".prop_flat_map(kv_strategy)) {
            let decoded = decode_record(&kv.key, &encode_record(&kv)).unwrap();
            prop_assert_eq!(&decoded, &kv);
            let header = decode_record_header(&kv.key, &encode_record(&kv)).unwrap();
            prop_assert_eq!(header, KeyValue { value: Vec::new(), ..kv });
        }

        #[test]
        fn events_round_trip(events in proptest::collection::vec(event_strategy(), 0..5)) {
            prop_assert_eq!(decode_events(&encode_events(&events)).unwrap(), events);
        }

        #[test]
        fn truncated_events_are_corrupt_not_panics(
            events in proptest::collection::vec(event_strategy(), 1..3),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode_events(&events);
            let cut = cut.index(bytes.len());
            let is_corrupt = matches!(decode_events(&bytes[..cut]), Err(StoreError::Corrupt { .. }));
            prop_assert!(is_corrupt);
        }

        #[test]
        fn truncated_records_are_corrupt_with_or_without_the_value(
            kv in "[a-z/]{0,12}".prop_flat_map(kv_strategy),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode_record(&kv);
            let cut = cut.index(bytes.len());
            let whole = matches!(decode_record(&kv.key, &bytes[..cut]), Err(StoreError::Corrupt { .. }));
            let header = matches!(decode_record_header(&kv.key, &bytes[..cut]), Err(StoreError::Corrupt { .. }));
            prop_assert!(whole && header);
        }
    }
}

//! The write-ahead log that makes group commits cheap.
//!
//! A durable redb commit rewrites every B-tree page a batch touched and
//! fsyncs them; etcd instead fsyncs one appended WAL record. With the log,
//! each batch's *requests* are appended here and fdatasync'd (the batch is
//! durable from then on), and redb commits without fsync. Every checkpoint
//! interval (`RedbOptions::checkpoint_interval`, or [`CHECKPOINT_BYTES`] of
//! log) one redb commit is made durable and the log is emptied.
//!
//! Replaying a record re-runs its requests through the same batch code with
//! the record's clock reading and expired leases, so the outcome is the one
//! the callers were given. Every commit stores the sequence number of its
//! record in the `meta` table, so after a crash replay starts right after
//! the last batch redb kept, whether the crash hit before or after the
//! checkpoint emptied the log.
//!
//! File layout: an 8-byte header [`MAGIC`], then frames of
//! `u32 LE payload length | u32 LE CRC-32 of payload | payload`, the payload
//! a postcard-encoded [`Record`], then zeros to the end of the file. The
//! file is preallocated with written zeros ([`SEGMENT_BYTES`]) because an
//! fdatasync that also has to journal a new file size or newly allocated
//! blocks costs ext4 a journal commit (3.2 ms against 0.77 ms per 64-byte
//! append on this project's VMs); a checkpoint zeroes the used part again
//! instead of truncating, first the first frame header, synced, then the
//! rest (so a power cut half-way leaves an empty log, not old records behind
//! zeroed pages; `Wal::reset`). A zero frame header ends the log: as the
//! first frame whatever follows it, elsewhere only zeros may. Only the last
//! frame can be torn (appends are sequential and each is synced before the
//! next), so a bad frame followed only by zeros is a write that was never
//! acknowledged and is cut off; a bad frame followed by data is corruption
//! and refuses to open.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::disk::{Disk, LogFile};
use crate::{LeaseId, Revision, StoreError, Txn};

pub(crate) const MAGIC: &[u8; 8] = b"CRDWAL\x00\x01";
const FRAME_HEADER: usize = 8;
/// A single batch is at most `max_batch` requests; anything near this is
/// not a record this code wrote.
const MAX_PAYLOAD: usize = 1 << 30;

/// How large the log may grow before a checkpoint, whatever the time.
pub(crate) const CHECKPOINT_BYTES: u64 = 3 << 20;
/// Size the log file is preallocated to (and grown by, should a single
/// checkpoint interval ever write more).
pub(crate) const SEGMENT_BYTES: u64 = 4 << 20;

/// One group commit's requests, as the writer applied them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub seq: u64,
    pub now_ms: i64,
    pub expired: Vec<LeaseId>,
    pub requests: Vec<Logged>,
}

/// A request as logged. The variant order is the wire format: append only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Logged {
    Txn(Txn),
    LeaseGrant(Duration),
    LeaseKeepAlive(LeaseId),
    LeaseRevoke(LeaseId),
    Compact(Revision),
    TxnWithNewLease(Duration, Txn),
    TxnThenRevoke(Txn, LeaseId),
    /// A note riding the request that follows it (`crate::rider`), or, in
    /// a record of notes only, one its sink had not settled when the log
    /// was emptied. Replay applies nothing for it.
    Note(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// [`Logged`] borrowing the request, so logging does not clone a batch.
/// Same variants in the same order, hence the same encoding.
#[derive(Debug, Serialize)]
pub(crate) enum LoggedRef<'a> {
    Txn(&'a Txn),
    LeaseGrant(Duration),
    LeaseKeepAlive(LeaseId),
    LeaseRevoke(LeaseId),
    Compact(Revision),
    TxnWithNewLease(Duration, &'a Txn),
    TxnThenRevoke(&'a Txn, LeaseId),
    Note(#[serde(with = "serde_bytes")] &'a [u8]),
}

#[derive(Debug, Serialize)]
pub(crate) struct RecordRef<'a> {
    pub seq: u64,
    pub now_ms: i64,
    pub expired: &'a [LeaseId],
    pub requests: Vec<LoggedRef<'a>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WalError {
    #[error("the file does not start with the CorridorOS WAL header")]
    BadHeader,
    #[error("frame at byte {offset} is damaged and is not the last one")]
    Corrupt { offset: usize },
    #[error("frame at byte {offset} does not decode: {reason}")]
    Undecodable { offset: usize, reason: String },
}

/// Encodes and frames one record in one buffer: the payload is written
/// after room for the header, which is filled in once its length and CRC
/// are known (no second copy of the payload, which carries every value a
/// batch writes).
pub(crate) fn encode(record: &RecordRef<'_>) -> Vec<u8> {
    let mut out =
        postcard::to_extend(record, vec![0; FRAME_HEADER]).expect("records always encode");
    let payload = &out[FRAME_HEADER..];
    let len = u32::try_from(payload.len()).expect("a record is far below 4 GiB");
    let crc = crc32fast::hash(payload);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4..FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
    out
}

/// What a log file holds: its records and the length of the valid prefix
/// (anything after it is a torn last write).
#[derive(Debug, PartialEq)]
pub(crate) struct Decoded {
    pub records: Vec<Record>,
    pub valid_len: usize,
}

/// Parses a whole log file. An empty file is an empty log.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, WalError> {
    if bytes.is_empty() {
        return Ok(Decoded {
            records: Vec::new(),
            valid_len: 0,
        });
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        // A header torn by a crash while the log was first created holds no
        // record: cut short, or still the zeros the file was preallocated
        // with (the header is written after them and never again). A zero
        // header in front of whole records, or anything else, is not our file.
        let unwritten = bytes.len() >= MAGIC.len()
            && bytes[..MAGIC.len()].iter().all(|b| *b == 0)
            && !frame_follows(bytes, MAGIC.len());
        if unwritten || (bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes)) {
            return Ok(Decoded {
                records: Vec::new(),
                valid_len: 0,
            });
        }
        return Err(WalError::BadHeader);
    }
    let mut records = Vec::new();
    let mut offset = MAGIC.len();
    let zeros_from = |from: usize| {
        bytes
            .get(from..)
            .is_none_or(|tail| tail.iter().all(|b| *b == 0))
    };
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < FRAME_HEADER {
            break; // a torn last frame header at the end of the file
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len == 0 && crc == 0 {
            // No record is empty: this is the zeroed, unused end of the file,
            // or, as the first frame, an emptied log whose reset was cut
            // short (see `Wal::reset`): what follows it is stale. Elsewhere,
            // bytes after it are the remains of a torn last write whose
            // header page was lost (a later page of the same write landed),
            // unless a whole record follows: that is damage.
            if offset == MAGIC.len() || !frame_follows(bytes, offset + 1) {
                break;
            }
            return Err(WalError::Corrupt { offset });
        }
        let end = FRAME_HEADER.saturating_add(len);
        if len > MAX_PAYLOAD || end > rest.len() {
            // Only the last frame may be incomplete; a length that runs past
            // the end of the file is that frame.
            break;
        }
        let payload = &rest[FRAME_HEADER..end];
        if crc32fast::hash(payload) != crc {
            if zeros_from(offset + end) || !frame_follows(bytes, offset + 1) {
                break; // torn last frame
            }
            return Err(WalError::Corrupt { offset });
        }
        let record: Record = postcard::from_bytes(payload).map_err(|e| WalError::Undecodable {
            offset,
            reason: e.to_string(),
        })?;
        records.push(record);
        offset += end;
    }
    Ok(Decoded {
        records,
        valid_len: offset,
    })
}

/// Whether a whole record (a frame whose CRC holds over a payload that
/// decodes) starts anywhere at or after `from`. Only the last write can be
/// torn, and under torn pages any subset of its pages may land, so bytes
/// after the last good record that hold no whole record are what is left of
/// it; a whole record after a bad frame means acknowledged data after damage.
fn frame_follows(bytes: &[u8], from: usize) -> bool {
    let Some(last) = bytes.len().checked_sub(FRAME_HEADER) else {
        return false;
    };
    (from..=last).any(|at| {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let start = at + FRAME_HEADER;
        len != 0
            && len <= MAX_PAYLOAD
            && len <= bytes.len() - start
            && crc32fast::hash(&bytes[start..start + len]) == crc
            && postcard::from_bytes::<Record>(&bytes[start..start + len]).is_ok()
    })
}

/// How many records the log at `path` holds (0 when there is no log): what
/// a reopen would consider replaying. For diagnostics and tests.
pub fn pending_records(path: &Path) -> Result<usize, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(StoreError::Wal {
                context: "read the write-ahead log",
                path: path.to_path_buf(),
                source: source.into(),
            });
        }
    };
    decode(&bytes)
        .map(|decoded| decoded.records.len())
        .map_err(|source| StoreError::Wal {
            context: "parse the write-ahead log",
            path: path.to_path_buf(),
            source: source.into(),
        })
}

/// The open log file.
pub(crate) struct Wal {
    file: Box<dyn LogFile>,
    path: PathBuf,
    /// End of the last record.
    len: u64,
    /// End of the bytes that may hold records older than the last reset
    /// (beyond `len` only while a reset is unfinished).
    stale_end: u64,
    /// Bytes of the file, all written (records or zeros).
    capacity: u64,
}

/// Zeros written per call when preallocating or zeroing.
const ZERO_CHUNK: usize = 1 << 20;

impl Wal {
    /// Opens (or creates) the log on `disk` and returns the records it
    /// holds, cutting off a torn last write.
    pub fn open(disk: &dyn Disk, path: &Path) -> Result<(Wal, Vec<Record>), StoreError> {
        let io = |context: &'static str| {
            let path = path.to_path_buf();
            move |source: std::io::Error| StoreError::Wal {
                context,
                path,
                source: source.into(),
            }
        };
        let mut file = disk
            .open_log(path)
            .map_err(io("open the write-ahead log"))?;
        let bytes = file.read_all().map_err(io("read the write-ahead log"))?;
        let decoded = decode(&bytes).map_err(|error| StoreError::Wal {
            context: "parse the write-ahead log",
            path: path.to_path_buf(),
            source: error.into(),
        })?;
        let mut wal = Wal {
            file,
            path: path.to_path_buf(),
            len: decoded.valid_len as u64,
            stale_end: decoded.valid_len as u64,
            capacity: bytes.len() as u64,
        };
        // Preallocating first only appends zeros after what is there.
        wal.preallocate(SEGMENT_BYTES)
            .map_err(io("preallocate the write-ahead log"))?;
        if decoded.valid_len < MAGIC.len() {
            wal.file
                .write_all_at(MAGIC, 0)
                .map_err(io("initialise the write-ahead log"))?;
            wal.len = MAGIC.len() as u64;
            wal.stale_end = wal.len;
        } else if bytes[decoded.valid_len..].iter().any(|b| *b != 0) {
            tracing::warn!(
                path = %path.display(),
                at = decoded.valid_len,
                "zeroing what follows the last record of the write-ahead log \
                 (a torn, unacknowledged write or an interrupted reset)"
            );
            let dirty_end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1) as u64;
            wal.zero(wal.len, dirty_end)
                .map_err(io("zero the torn end of the write-ahead log"))?;
        }
        wal.file
            .sync_all()
            .map_err(io("sync the write-ahead log"))?;
        Ok((wal, decoded.records))
    }

    /// Appends one framed record and waits until it is on disk.
    pub fn append(&mut self, framed: &[u8]) -> std::io::Result<()> {
        if self.stale_end > self.len {
            // A reset failed half-way: old records must not follow new ones.
            self.zero(self.len, self.stale_end)?;
            self.file.sync_data()?;
            self.stale_end = self.len;
        }
        let end = self.len + framed.len() as u64;
        if end > self.capacity {
            self.preallocate(end.next_multiple_of(SEGMENT_BYTES))?;
        }
        self.file.append_durable(framed, self.len)?;
        self.len = end;
        Ok(())
    }

    /// Empties the log after a durable checkpoint: the used part is zeroed
    /// (so no stale record can follow a new one) and writing starts over.
    ///
    /// In two synced steps, because the zeros of one step may reach the disk
    /// page by page in any order if the power fails: first the first frame
    /// header alone, which empties the log at once ([`decode`] stops there
    /// whatever follows), then the rest. A single step could leave old
    /// records behind a zeroed page, which reads as corruption.
    pub fn reset(&mut self) -> std::io::Result<()> {
        let first = MAGIC.len() as u64;
        let used = self.len.max(self.stale_end);
        if used <= first {
            return Ok(()); // nothing written since the last reset
        }
        let header_end = (first + FRAME_HEADER as u64).min(used);
        // The old records are dead from here (redb holds them durably); if a
        // step fails, the next append finishes the zeroing before it writes,
        // rather than writing after records a zero first header now hides.
        self.len = first;
        self.stale_end = used;
        self.zero(first, header_end)?;
        self.file.sync_data()?;
        self.zero(header_end, used)?;
        self.file.sync_data()?;
        self.stale_end = first;
        Ok(())
    }

    /// Writes zeros over `from..to`.
    fn zero(&mut self, from: u64, to: u64) -> std::io::Result<()> {
        let zeros = vec![0u8; ZERO_CHUNK];
        let mut at = from;
        while at < to {
            let n = usize::try_from(to - at).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
            self.file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    /// Grows the file to `size` with written zeros (not a sparse hole, not
    /// an unwritten extent: either would make each append's fdatasync
    /// journal block allocation).
    fn preallocate(&mut self, size: u64) -> std::io::Result<()> {
        if self.capacity >= size {
            return Ok(());
        }
        self.zero(self.capacity, size)?;
        self.file.sync_all()?;
        self.capacity = size;
        Ok(())
    }

    /// Bytes of records since the last checkpoint.
    pub fn pending_bytes(&self) -> u64 {
        self.len.saturating_sub(MAGIC.len() as u64)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::redb::disk::LocalDisk;
    use crate::{Compare, CompareOp, Op};

    fn sample() -> Record {
        Record {
            seq: 7,
            now_ms: 1_700_000_000_000,
            expired: vec![3],
            requests: vec![
                Logged::Txn(
                    Txn::new()
                        .when([Compare::absent("/a")])
                        .and_then([Op::put("/a", b"x".to_vec())]),
                ),
                Logged::LeaseGrant(Duration::from_secs(5)),
                Logged::LeaseKeepAlive(4),
                Logged::LeaseRevoke(5),
                Logged::Compact(9),
                Logged::TxnWithNewLease(
                    Duration::from_secs(60),
                    Txn::new().and_then([Op::put_with_lease(
                        "/b",
                        b"y".to_vec(),
                        crate::NEW_LEASE,
                    )]),
                ),
                Logged::TxnThenRevoke(Txn::new().and_then([Op::delete("/b")]), 6),
                Logged::Note(b"{\"request_id\":\"req-1\"}".to_vec()),
            ],
        }
    }

    fn encode_owned(record: &Record) -> Vec<u8> {
        let requests = record
            .requests
            .iter()
            .map(|r| match r {
                Logged::Txn(txn) => LoggedRef::Txn(txn),
                Logged::LeaseGrant(ttl) => LoggedRef::LeaseGrant(*ttl),
                Logged::LeaseKeepAlive(id) => LoggedRef::LeaseKeepAlive(*id),
                Logged::LeaseRevoke(id) => LoggedRef::LeaseRevoke(*id),
                Logged::Compact(rev) => LoggedRef::Compact(*rev),
                Logged::TxnWithNewLease(ttl, txn) => LoggedRef::TxnWithNewLease(*ttl, txn),
                Logged::TxnThenRevoke(txn, lease) => LoggedRef::TxnThenRevoke(txn, *lease),
                Logged::Note(note) => LoggedRef::Note(note),
            })
            .collect();
        encode(&RecordRef {
            seq: record.seq,
            now_ms: record.now_ms,
            expired: &record.expired,
            requests,
        })
    }

    fn log_of(records: &[Record]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for record in records {
            bytes.extend(encode_owned(record));
        }
        bytes
    }

    /// Golden vector: the exact bytes of one small record, so a change to
    /// the types that would make old logs unreadable fails here first.
    #[test]
    fn golden_frame() {
        let record = Record {
            seq: 1,
            now_ms: 2,
            expired: vec![],
            requests: vec![Logged::Txn(
                Txn::new().and_then([Op::put("/k", b"v".to_vec())]),
            )],
        };
        let framed = encode_owned(&record);
        let expected_payload: &[u8] = &[
            0x01, // seq varint
            0x04, // now_ms zigzag varint
            0x00, // expired: empty
            0x01, // one request
            0x00, // Logged::Txn
            0x00, // compares: empty
            0x01, // success: one op
            0x00, // Op::Put
            0x02, b'/', b'k', // key
            0x01, b'v', // value
            0x00, // lease: None
            0x00, // failure: empty
        ];
        assert_eq!(&framed[8..], expected_payload);
        assert_eq!(
            framed[0..4],
            (expected_payload.len() as u32).to_le_bytes(),
            "length prefix"
        );
        assert_eq!(
            framed[4..8],
            crc32fast::hash(expected_payload).to_le_bytes()
        );
        assert_eq!(
            decode(&log_of(std::slice::from_ref(&record)))
                .unwrap()
                .records,
            vec![record]
        );
    }

    /// Golden vector for the byte fields (a value, a value compare, a
    /// note): a length varint, then the bytes as they are, whichever way
    /// serde is told to write them; 200 bytes need a two-byte length.
    #[test]
    fn golden_frame_of_byte_fields() {
        let value = vec![0xa5; 200];
        let record = Record {
            seq: 3,
            now_ms: 0,
            expired: vec![],
            requests: vec![
                Logged::Txn(
                    Txn::new()
                        .when([Compare::value("/k", CompareOp::Equal, b"ab".to_vec())])
                        .and_then([Op::put("/k", value.clone())]),
                ),
                Logged::Note(vec![7, 8, 9]),
            ],
        };
        let mut expected_payload: Vec<u8> = vec![
            0x03, // seq
            0x00, // now_ms
            0x00, // expired: empty
            0x02, // two requests
            0x00, // Logged::Txn
            0x01, // compares: one
            0x02, b'/', b'k', // key
            0x03, // CompareTarget::Value
            0x02, b'a', b'b', // the compared bytes
            0x00, // CompareOp::Equal
            0x01, // success: one op
            0x00, // Op::Put
            0x02, b'/', b'k', // key
            0xc8, 0x01, // value: 200 bytes
        ];
        expected_payload.extend_from_slice(&value);
        expected_payload.extend_from_slice(&[
            0x00, // lease: None
            0x00, // failure: empty
            0x07, // Logged::Note
            0x03, 7, 8, 9, // the note
        ]);
        let framed = encode_owned(&record);
        assert_eq!(&framed[8..], &expected_payload[..]);
        // The owned types (what replay decodes) write the same bytes as
        // the borrowing ones the writer encodes with.
        assert_eq!(postcard::to_stdvec(&record).unwrap(), expected_payload);
        assert_eq!(
            decode(&log_of(std::slice::from_ref(&record)))
                .unwrap()
                .records,
            vec![record]
        );
    }

    #[test]
    fn records_round_trip() {
        let records = vec![sample(), Record { seq: 8, ..sample() }];
        let bytes = log_of(&records);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.records, records);
        assert_eq!(decoded.valid_len, bytes.len());
    }

    #[test]
    fn a_torn_last_frame_is_cut_and_earlier_damage_refused() {
        let bytes = log_of(&[sample(), Record { seq: 8, ..sample() }]);
        let first_end = MAGIC.len() + encode_owned(&sample()).len();
        for cut in first_end..bytes.len() {
            let decoded = decode(&bytes[..cut]).unwrap();
            assert_eq!(decoded.records.len(), 1, "cut at {cut}");
            assert_eq!(decoded.valid_len, first_end);
        }
        let mut flipped = bytes.clone();
        flipped[bytes.len() - 1] ^= 0xff;
        assert_eq!(decode(&flipped).unwrap().records.len(), 1);
        // The preallocated zeros after the log end it, torn frame or not.
        let mut padded = bytes.clone();
        padded.extend([0u8; 100]);
        assert_eq!(decode(&padded).unwrap().records.len(), 2);
        assert_eq!(decode(&padded).unwrap().valid_len, bytes.len());
        let mut torn = bytes[..bytes.len() - 3].to_vec();
        torn.extend([0u8; 100]);
        assert_eq!(decode(&torn).unwrap().records.len(), 1);
        // Bytes after the zeros that hold no whole record are the remains of
        // a torn last write (a later page of it landed, not the first): cut.
        let mut stray = padded.clone();
        stray.push(1);
        assert_eq!(decode(&stray).unwrap().records.len(), 2);
        assert_eq!(decode(&stray).unwrap().valid_len, bytes.len());
        // A whole record after the zeros is acknowledged data after damage.
        let mut gap = padded.clone();
        gap.extend(encode_owned(&Record { seq: 9, ..sample() }));
        assert!(matches!(decode(&gap), Err(WalError::Corrupt { .. })));
        let mut damaged = bytes.clone();
        damaged[MAGIC.len() + FRAME_HEADER] ^= 0xff;
        assert_eq!(
            decode(&damaged),
            Err(WalError::Corrupt {
                offset: MAGIC.len()
            })
        );
        // A zeroed first frame header is an emptied log, whatever follows it
        // (a reset cut short by a power failure).
        let mut emptied = bytes.clone();
        emptied[MAGIC.len()..MAGIC.len() + FRAME_HEADER].fill(0);
        assert_eq!(decode(&emptied).unwrap().records, vec![]);
        assert_eq!(decode(&emptied).unwrap().valid_len, MAGIC.len());
        assert_eq!(decode(b"NOTAWAL!"), Err(WalError::BadHeader));
        // Preallocated zeros whose header never landed: an empty log.
        assert_eq!(decode(&[0u8; 64]).unwrap().valid_len, 0);
        // A zero header in front of a whole record is damage, not a new log.
        let mut headless = log_of(&[sample()]);
        headless[..MAGIC.len()].fill(0);
        assert_eq!(decode(&headless), Err(WalError::BadHeader));
        assert_eq!(decode(&MAGIC[..3]).unwrap().records, vec![]);
    }

    #[test]
    fn the_file_survives_reopen_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.wal");
        let (mut wal, records) = Wal::open(&LocalDisk, &path).unwrap();
        assert!(records.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), SEGMENT_BYTES);
        wal.append(&encode_owned(&sample())).unwrap();
        // A torn write after it: a frame header promising more than arrived.
        let torn = &encode_owned(&Record { seq: 8, ..sample() })[..12];
        wal.file.write_all_at(torn, wal.len).unwrap();
        drop(wal);
        let (mut wal, records) = Wal::open(&LocalDisk, &path).unwrap();
        assert_eq!(records, vec![sample()]);
        assert_eq!(
            Wal::open(&LocalDisk, &path).unwrap().1,
            vec![sample()],
            "the torn bytes were zeroed"
        );
        wal.append(&encode_owned(&Record { seq: 8, ..sample() }))
            .unwrap();
        wal.reset().unwrap();
        assert_eq!(wal.pending_bytes(), 0);
        drop(wal);
        assert!(Wal::open(&LocalDisk, &path).unwrap().1.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), SEGMENT_BYTES);
    }

    /// Real files with one injected failure: of every write starting at
    /// byte `write_at`, or of the `sync_call`-th `sync_data` (the write or
    /// sync is then not done; a failed sync still leaves its writes in the
    /// file, as the page cache would).
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        WriteAt(u64),
        SyncCall(usize),
    }

    #[derive(Debug, Clone)]
    struct Flaky {
        fault: Fault,
        syncs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    struct FlakyFile(std::fs::File, Flaky);

    impl Disk for Flaky {
        fn open_database(&self, path: &Path) -> std::io::Result<Box<dyn redb::StorageBackend>> {
            LocalDisk.open_database(path)
        }

        fn open_log(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            Ok(Box::new(FlakyFile(file, self.clone())))
        }

        fn sync_directory(&self, dir: &Path) -> std::io::Result<()> {
            LocalDisk.sync_directory(dir)
        }

        fn read_database_head(&self, path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
            LocalDisk.read_database_head(path, len)
        }

        fn empty_database(&self, path: &Path) -> std::io::Result<()> {
            LocalDisk.empty_database(path)
        }
    }

    impl LogFile for FlakyFile {
        fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
            self.0.read_all()
        }
        fn write_all_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
            if let Fault::WriteAt(at) = self.1.fault
                && at == offset
            {
                return Err(std::io::Error::other("injected write failure"));
            }
            LogFile::write_all_at(&mut self.0, data, offset)
        }
        fn sync_data(&mut self) -> std::io::Result<()> {
            let call = 1 + self
                .1
                .syncs
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Fault::SyncCall(n) = self.1.fault
                && n == call
            {
                return Err(std::io::Error::other("injected fdatasync failure"));
            }
            LogFile::sync_data(&mut self.0)
        }
        fn sync_all(&mut self) -> std::io::Result<()> {
            LogFile::sync_all(&mut self.0)
        }
    }

    /// A reset that fails at any step: the next append zeroes what is left
    /// of the old records first, so no old record can follow a new one and
    /// no new one hides behind a zeroed first frame header.
    #[test]
    fn an_append_after_a_failed_reset_is_the_only_record() {
        // Old records full of what reads as a 16-byte frame header at one
        // alignment in four, and new records of four lengths: left in place,
        // the old bytes after a new record read as a damaged frame followed
        // by data, and the log refuses to open.
        let long = |seq| Record {
            seq,
            requests: vec![Logged::Txn(
                Txn::new().and_then([Op::put("/long", [16u8, 0, 0, 0].repeat(100))]),
            )],
            ..sample()
        };
        // sync_data calls: the two appends, then the reset's two steps. The
        // appends write at MAGIC.len(), so a write there cannot be failed.
        let faults = [
            Fault::SyncCall(3),
            Fault::WriteAt((MAGIC.len() + FRAME_HEADER) as u64),
            Fault::SyncCall(4),
        ];
        for (fault, extra) in faults.into_iter().flat_map(|f| (0..4).map(move |e| (f, e))) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("w.wal");
            let disk = Flaky {
                fault,
                syncs: Default::default(),
            };
            let (mut wal, _) = Wal::open(&disk, &path).unwrap();
            wal.append(&encode_owned(&long(1))).unwrap();
            wal.append(&encode_owned(&long(2))).unwrap();
            assert!(wal.reset().is_err());
            let short = Record {
                seq: 3,
                expired: vec![1; extra],
                ..sample()
            };
            wal.append(&encode_owned(&short)).unwrap();
            drop(wal);
            let reopened = Wal::open(&LocalDisk, &path).map(|(_, records)| records);
            assert_eq!(
                reopened.ok(),
                Some(vec![short]),
                "{fault:?}, {extra} extra bytes"
            );
        }
    }

    proptest! {
        /// Fuzzing the parser: arbitrary bytes after the header never panic,
        /// and whatever decodes lies within the input.
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend(tail);
            if let Ok(decoded) = decode(&bytes) {
                prop_assert!(decoded.valid_len <= bytes.len());
            }
        }

        /// Any prefix of a valid log decodes to a prefix of its records.
        #[test]
        fn prefixes_decode_to_prefixes(n in 1usize..5, cut_fraction in 0.0f64..1.0) {
            let records: Vec<Record> = (0..n as u64).map(|seq| Record { seq, ..sample() }).collect();
            let bytes = log_of(&records);
            let cut = MAGIC.len() + ((bytes.len() - MAGIC.len()) as f64 * cut_fraction) as usize;
            let decoded = decode(&bytes[..cut]).unwrap();
            prop_assert_eq!(&records[..decoded.records.len()], &decoded.records[..]);
        }
    }
}

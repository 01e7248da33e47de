//! The event log: every revision's changes, for watches that resume.
//!
//! It lives in two append-only files beside the database, not in a redb
//! table. As a table, every revision was a B-tree insert on the writer, and
//! every checkpoint copied and freed the event pages written since the last
//! one: with memqosd's 10,000 bundles, about 5 kB of events (with their
//! previous values) per allocation and free, the largest part of each
//! checkpoint's stall on the writer (BENCHMARKS.md, "The event log out of
//! redb"). Appended to a file, a revision costs one `pwrite` into the page
//! cache.
//!
//! **Layout.** Each file starts with [`MAGIC`], then frames of
//! `u32 LE payload length | u32 LE CRC-32 of payload | payload`, the payload
//! the revision (`i64` LE), a codec byte and its events
//! ([`schema::encode_events`]): as they are ([`STORED`]), or as an LZ4 block
//! after their length as `u32` LE ([`LZ4`]) when that is smaller. The
//! events carry JSON values, twice for a change (the value and the previous
//! one), which LZ4 shrinks: the log's bytes are written and synced at
//! every checkpoint, beside the write-ahead log's fdatasyncs that every
//! request waits for, and fewer of them took memqosd's p99 down
//! (BENCHMARKS.md, "The event log out of redb"). Revisions follow each
//! other without gaps, across both files.
//!
//! **Durability.** A revision's events are appended before the redb commit
//! that makes the revision visible, so a reader that sees a revision finds
//! its events. They must be on disk before that commit's checkpoint is:
//! once redb holds a revision durably, no write-ahead log replay will make
//! its events again. The store file's write-behind calls [`EventLog::sync`]
//! before it writes a checkpoint's pages ([`super::write_behind`]), off the
//! writer. On open, frames past redb's durable revision are cut (the log's
//! replay appends them again), and a log that lacks revisions redb has
//! (damage, or a store written before this log existed without its old
//! table) starts after them: its history is reported compacted, never
//! invented.
//!
//! **Compaction.** Revisions below the compaction floor are dropped a whole
//! file at a time: once every revision of the other file is compacted and
//! some of the current one's are, the writer empties the other file and
//! appends there. So the files hold between one and two retention windows.
//!
//! **Readers** take a page of frames with `pread`, outside the lock the
//! writer appends under; a file emptied under a reader is noticed by its
//! epoch and reported as compacted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redb::StorageBackend;

use super::apply::RevisionEvents;
use super::disk::Disk;
use super::schema;
use crate::{Revision, StoreError};

pub(crate) const MAGIC: &[u8; 8] = b"CRDEVT\x00\x01";
const FRAME_HEADER: usize = 8;
const REVISION_BYTES: usize = 8;
/// Codec byte: the events as they are.
const STORED: u8 = 0;
/// Codec byte: `u32` LE length of the events, then an LZ4 block of them.
const LZ4: u8 = 1;
/// Events shorter than this are stored as they are.
const COMPRESS_FROM: usize = 64;
/// The revision and the codec byte.
const MIN_PAYLOAD: usize = REVISION_BYTES + 1;
/// Far above any revision's events; a length beyond it is damage.
const MAX_PAYLOAD: usize = 1 << 30;
/// The file appended to is not switched before it holds this many
/// revisions (or the whole retention window, if smaller), so compacting to
/// the newest revision over and over does not empty a file (and sync it)
/// per write.
const MIN_FILE_REVISIONS: usize = 1024;
/// Bytes read at a time when a file is scanned on open.
const SCAN_CHUNK: usize = 1 << 20;

/// The event log files of the store file at `path`: `<file>.events` and
/// `<file>.events2`.
pub fn event_log_paths(path: &Path) -> [PathBuf; 2] {
    super::beside(path, ["events", "events2"])
}

/// One of the two files and the index of its frames.
struct Segment {
    file: Arc<dyn StorageBackend>,
    path: PathBuf,
    /// The revision of the first frame (meaningless while `offsets` is empty).
    first: Revision,
    /// Where each frame starts: revision `first + i` at `offsets[i]`.
    offsets: Vec<u64>,
    /// Where the next frame goes.
    end: u64,
    /// Bumped whenever the file is emptied, so a reader that read it
    /// without the lock can tell.
    epoch: u64,
}

impl Segment {
    fn last(&self) -> Option<Revision> {
        (!self.offsets.is_empty()).then(|| self.first + self.offsets.len() as i64 - 1)
    }

    fn holds(&self, revision: Revision) -> bool {
        self.last()
            .is_some_and(|last| revision >= self.first && revision <= last)
    }

    fn offset_of(&self, revision: Revision) -> u64 {
        let index = usize::try_from(revision - self.first).expect("a held revision");
        self.offsets[index]
    }

    /// Forgets every frame (the file is emptied by the caller).
    fn clear(&mut self, first: Revision) {
        self.offsets.clear();
        self.first = first;
        self.end = MAGIC.len() as u64;
        self.epoch += 1;
    }
}

struct Files {
    segments: [Segment; 2],
    /// The segment appended to.
    active: usize,
    /// The revision the next append must start with; `None` until the log
    /// is recovered against the database (or adopts old events).
    next: Option<Revision>,
}

impl Files {
    /// The oldest revision the log holds, or the next one when it holds none.
    fn floor(&self) -> Option<Revision> {
        let standby = &self.segments[1 - self.active];
        let active = &self.segments[self.active];
        standby
            .last()
            .map(|_| standby.first)
            .or_else(|| active.last().map(|_| active.first))
            .or(self.next)
    }
}

/// See the module documentation.
pub(crate) struct EventLog {
    files: RwLock<Files>,
    /// See [`MIN_FILE_REVISIONS`].
    min_file_revisions: usize,
}

/// Where an append started, so a batch that fails afterwards can be undone.
#[derive(Debug)]
pub(crate) struct Mark {
    active: usize,
    frames: usize,
    end: u64,
    next: Option<Revision>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files = self.read();
        f.debug_struct("EventLog")
            .field("path", &files.segments[files.active].path)
            .field("next", &files.next)
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// Opens (or creates) both files and indexes their frames. Nothing is
    /// written until [`EventLog::recover`]. `retain` is the store's
    /// retention window in revisions (0: everything).
    pub fn open(disk: &dyn Disk, paths: &[PathBuf; 2], retain: u64) -> Result<Self, StoreError> {
        let open = |path: &PathBuf| -> Result<Segment, StoreError> {
            let file: Arc<dyn StorageBackend> = Arc::from(
                disk.open_event_log(path)
                    .map_err(event_log_error("open the event log", path))?,
            );
            let scanned = scan(&*file).map_err(event_log_error("read the event log", path))?;
            Ok(Segment {
                file,
                path: path.clone(),
                first: scanned.first.unwrap_or(0),
                offsets: scanned.offsets,
                end: scanned.end,
                epoch: 0,
            })
        };
        let segments = [open(&paths[0])?, open(&paths[1])?];
        // The newer file is the one appended to.
        let active = match (segments[0].last(), segments[1].last()) {
            (_, None) => 0,
            (None, Some(_)) => 1,
            (Some(_), Some(_)) => usize::from(segments[1].first > segments[0].first),
        };
        Ok(EventLog {
            files: RwLock::new(Files {
                segments,
                active,
                next: None,
            }),
            min_file_revisions: match usize::try_from(retain) {
                Ok(0) | Err(_) => MIN_FILE_REVISIONS,
                Ok(retain) => retain.min(MIN_FILE_REVISIONS),
            },
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Files> {
        // Every critical section leaves the index consistent.
        self.files.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Files> {
        self.files.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the files hold no frame at all.
    pub fn is_empty(&self) -> bool {
        self.read().segments.iter().all(|s| s.offsets.is_empty())
    }

    /// Takes the events of a store written before this log existed (its
    /// `events` table), which must be contiguous. Only into an empty log.
    pub fn adopt(
        &self,
        rows: impl IntoIterator<Item = (Revision, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let mut rows = rows.into_iter().peekable();
        let Some(&(first, _)) = rows.peek() else {
            return Ok(());
        };
        {
            let mut files = self.write();
            files.active = 0;
            files.next = Some(first);
        }
        self.empty_file(0, first)?;
        for (revision, events) in rows {
            self.append_payloads([(revision, events.as_slice())])?;
        }
        self.sync()
            .map_err(event_log_error("sync the adopted events", &self.path()))
    }

    /// Makes the log agree with a database whose last durable revision is
    /// `durable`: frames past it are cut, a file that does not continue
    /// the other is emptied, and a log that lacks revisions up to `durable`
    /// starts after them. Both files are synced. Returns the oldest
    /// revision the log holds (or would hold next, when it holds none):
    /// watches from before it are compacted.
    pub fn recover(&self, durable: Revision) -> Result<Revision, StoreError> {
        let mut files = self.write();
        for segment in &mut files.segments {
            if segment.last().is_some_and(|last| last > durable) {
                let keep = usize::try_from((durable - segment.first + 1).max(0)).unwrap_or(0);
                if keep < segment.offsets.len() {
                    segment.end = segment.offsets[keep];
                    segment.offsets.truncate(keep);
                }
            }
        }
        // The newer file holds the highest revision; the older one counts
        // only if it ends right before the newer one starts.
        let newer = match (files.segments[0].last(), files.segments[1].last()) {
            (Some(a), Some(b)) => usize::from(b > a),
            (None, Some(_)) => 1,
            _ => 0,
        };
        let older = 1 - newer;
        let continues = files.segments[newer]
            .last()
            .is_some_and(|_| files.segments[older].last() == Some(files.segments[newer].first - 1));
        let complete = files.segments[newer].last() == Some(durable)
            || (durable < FIRST_WRITE && files.segments[newer].last().is_none());
        let mut emptied = [false; 2];
        if !continues {
            emptied[older] = true;
        }
        if !complete {
            // Revisions redb has are missing: the log starts after them.
            if files.segments[newer].last().is_some() || durable >= FIRST_WRITE {
                tracing::warn!(
                    path = %files.segments[newer].path.display(),
                    durable,
                    held = ?files.segments[newer].last(),
                    "the event log lacks revisions the store has; watches from before {} are reported compacted",
                    durable + 1
                );
            }
            emptied = [true, true];
        }
        files.active = newer;
        files.next = Some(durable + 1);
        let next = durable + 1;
        for (index, segment) in files.segments.iter_mut().enumerate() {
            // A file without the header (`scan` found none) starts anew.
            let fresh = emptied[index] || segment.end < MAGIC.len() as u64;
            let result = if fresh {
                segment.clear(next);
                empty(&*segment.file)
            } else {
                cut(&*segment.file, segment.end)
            };
            result
                .and_then(|()| segment.file.sync_data())
                .map_err(event_log_error("recover the event log", &segment.path))?;
        }
        Ok(files.floor().unwrap_or(next))
    }

    /// Appends the events of `revisions`, which must start at the next
    /// revision. Returns where the append started, for [`EventLog::undo`].
    pub fn append(&self, revisions: &[Arc<RevisionEvents>]) -> Result<Mark, StoreError> {
        let encoded: Vec<(Revision, Vec<u8>)> = revisions
            .iter()
            .map(|r| (r.revision, schema::encode_events(&r.events)))
            .collect();
        self.append_payloads(encoded.iter().map(|(r, bytes)| (*r, bytes.as_slice())))
    }

    fn append_payloads<'a>(
        &self,
        revisions: impl IntoIterator<Item = (Revision, &'a [u8])>,
    ) -> Result<Mark, StoreError> {
        let (file, at, mark) = {
            let files = self.read();
            let segment = &files.segments[files.active];
            let mark = Mark {
                active: files.active,
                frames: segment.offsets.len(),
                end: segment.end,
                next: files.next,
            };
            (Arc::clone(&segment.file), segment.end, mark)
        };
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        let mut expected = mark.next;
        let mut first = None;
        for (revision, events) in revisions {
            if expected.is_some_and(|next| next != revision) {
                return Err(StoreError::Corrupt {
                    context: "event log",
                    detail: format!(
                        "revision {revision} appended where {} was due",
                        expected.unwrap_or_default()
                    ),
                });
            }
            first.get_or_insert(revision);
            expected = Some(revision + 1);
            offsets.push(at + bytes.len() as u64);
            push_frame(&mut bytes, revision, events);
        }
        if bytes.is_empty() {
            return Ok(mark);
        }
        // Only the writer appends, so nobody moves the end meanwhile; the
        // write happens outside the lock, and readers see the frames once
        // they are indexed.
        file.write(at, &bytes)
            .map_err(event_log_error("append to the event log", &self.path()))?;
        let mut files = self.write();
        let segment = &mut files.segments[mark.active];
        if segment.offsets.is_empty() {
            segment.first = first.expect("frames were framed");
        }
        segment.offsets.extend(offsets);
        segment.end = at + bytes.len() as u64;
        files.next = expected;
        Ok(mark)
    }

    /// Undoes the appends since `mark`: their batch never committed.
    pub fn undo(&self, mark: Mark) {
        let mut files = self.write();
        files.active = mark.active;
        files.next = mark.next;
        let segment = &mut files.segments[mark.active];
        segment.offsets.truncate(mark.frames);
        segment.end = mark.end;
        // Left in place, the frames would be cut on open anyway (they are
        // past every durable revision); overwritten by the next append.
        if let Err(error) = segment.file.set_len(mark.end) {
            tracing::warn!(%error, path = %segment.path.display(), "could not cut an undone append from the event log");
        }
    }

    /// Drops the other file once every revision in it is below `compacted`
    /// and the file appended to holds enough: the writer calls it after each
    /// commit. Empties that file, durably, before appending to it, so a
    /// power cut cannot bring its old frames back.
    pub fn retire_compacted(&self, compacted: Revision) -> Result<(), StoreError> {
        let (standby, next) = {
            let files = self.read();
            let active = &files.segments[files.active];
            let standby = &files.segments[1 - files.active];
            let due = active.offsets.len() >= self.min_file_revisions
                && active.first < compacted
                && standby.last().is_none_or(|last| last < compacted);
            if !due {
                return Ok(());
            }
            (1 - files.active, files.next.unwrap_or(active.first))
        };
        self.empty_file(standby, next)?;
        self.write().active = standby;
        Ok(())
    }

    /// Makes every frame appended so far durable.
    pub fn sync(&self) -> std::io::Result<()> {
        let files: Vec<Arc<dyn StorageBackend>> = self
            .read()
            .segments
            .iter()
            .map(|s| Arc::clone(&s.file))
            .collect();
        for file in files {
            file.sync_data()?;
        }
        Ok(())
    }

    /// The oldest revision the log holds (the next one, when it holds none).
    pub fn floor(&self) -> Option<Revision> {
        self.read().floor()
    }

    /// Reads the frames of revisions `from..=to`, at most `max` of them and
    /// none past the end of `from`'s file, and hands each revision's
    /// encoded events to `each`. Returns the next revision to read.
    pub fn read_page(
        &self,
        from: Revision,
        to: Revision,
        max: usize,
        mut each: impl FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<Revision, StoreError> {
        let (file, epoch, index, start, stop, last) = {
            let files = self.read();
            let Some(index) = files.segments.iter().position(|s| s.holds(from)) else {
                return Err(self.missing(&files, from));
            };
            let segment = &files.segments[index];
            let last = to
                .min(segment.last().expect("it holds `from`"))
                .min(from.saturating_add(i64::try_from(max.max(1)).unwrap_or(i64::MAX) - 1));
            let stop = if Some(last) == segment.last() {
                segment.end
            } else {
                segment.offset_of(last + 1)
            };
            (
                Arc::clone(&segment.file),
                segment.epoch,
                index,
                segment.offset_of(from),
                stop,
                last,
            )
        };
        let mut bytes = vec![0; usize::try_from(stop - start).unwrap_or(0)];
        let read = file
            .read(start, &mut bytes)
            .map_err(event_log_error("read the event log", &self.path()))
            .and_then(|()| frames(&bytes, from, last));
        let payloads = match read {
            Ok(payloads) => payloads,
            Err(error) => {
                let files = self.read();
                if files.segments[index].epoch != epoch {
                    // Emptied under the read: compacted meanwhile.
                    return Err(self.missing(&files, from));
                }
                return Err(error);
            }
        };
        for body in payloads {
            each(&decode_body(body)?)?;
        }
        Ok(last + 1)
    }

    /// Why `revision` cannot be read: compacted, or (inside what the log
    /// should hold) missing.
    fn missing(&self, files: &Files, revision: Revision) -> StoreError {
        match files.floor() {
            Some(floor) if revision < floor => StoreError::Compacted {
                requested: revision,
                compacted: floor,
            },
            _ => StoreError::Corrupt {
                context: "event log",
                detail: format!("revision {revision} is missing"),
            },
        }
    }

    fn path(&self) -> PathBuf {
        let files = self.read();
        files.segments[files.active].path.clone()
    }

    /// Empties file `index` down to its header, durably, its next frame to
    /// be revision `first`. Unindexed first, so no reader starts on it.
    fn empty_file(&self, index: usize, first: Revision) -> Result<(), StoreError> {
        let (file, path) = {
            let mut files = self.write();
            files.segments[index].clear(first);
            (
                Arc::clone(&files.segments[index].file),
                files.segments[index].path.clone(),
            )
        };
        empty(&*file)
            .and_then(|()| file.sync_data())
            .map_err(event_log_error("empty an event log file", &path))
    }
}

/// The revision of the first write: an empty store is at revision 1.
const FIRST_WRITE: Revision = 2;

fn push_frame(out: &mut Vec<u8>, revision: Revision, events: &[u8]) {
    let compressed = (events.len() >= COMPRESS_FROM)
        .then(|| lz4_flex::block::compress(events))
        .filter(|block| block.len() + 4 < events.len());
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    out.extend_from_slice(&revision.to_le_bytes());
    match &compressed {
        Some(block) => {
            out.push(LZ4);
            let len = u32::try_from(events.len()).expect("a revision's events are far below 4 GiB");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(block);
        }
        None => {
            out.push(STORED);
            out.extend_from_slice(events);
        }
    }
    let payload = &out[start + FRAME_HEADER..];
    let len = u32::try_from(payload.len()).expect("a revision's events are far below 4 GiB");
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A frame's events from its codec byte on (see the module documentation).
fn decode_body(body: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        context: "event log",
        detail,
    };
    match body.split_first() {
        Some((&STORED, events)) => Ok(std::borrow::Cow::Borrowed(events)),
        Some((&LZ4, rest)) if rest.len() >= 4 => {
            let (len, block) = rest.split_at(4);
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            // An LZ4 block expands at most about 255-fold: a larger length
            // is damage, not a reason to allocate it.
            if len > block.len().saturating_mul(255).saturating_add(16) {
                return Err(corrupt(format!(
                    "an LZ4 block of {} bytes cannot hold {len}",
                    block.len()
                )));
            }
            lz4_flex::block::decompress(block, len)
                .map(std::borrow::Cow::Owned)
                .map_err(|error| corrupt(format!("an LZ4 block does not decode: {error}")))
        }
        Some((codec, _)) => Err(corrupt(format!("unknown codec {codec}"))),
        None => Err(corrupt("a frame without a codec".into())),
    }
}

/// The encoded events of each frame in `bytes`, which must be revisions
/// `from..=last` exactly.
fn frames(bytes: &[u8], from: Revision, last: Revision) -> Result<Vec<&[u8]>, StoreError> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut expected = from;
    while at < bytes.len() {
        let Some((revision, events, len)) = parse_frame(&bytes[at..]) else {
            return Err(StoreError::Corrupt {
                context: "event log",
                detail: format!("the frame of revision {expected} is damaged"),
            });
        };
        if revision != expected {
            return Err(StoreError::Corrupt {
                context: "event log",
                detail: format!("revision {expected} is missing (found {revision})"),
            });
        }
        out.push(events);
        at += len;
        expected += 1;
    }
    if expected != last + 1 {
        return Err(StoreError::Corrupt {
            context: "event log",
            detail: format!("revision {expected} is missing"),
        });
    }
    Ok(out)
}

/// One whole frame at the start of `bytes`: its revision, its events and
/// its length, or `None` if it is cut short or damaged.
fn parse_frame(bytes: &[u8]) -> Option<(Revision, &[u8], usize)> {
    let header = bytes.get(..FRAME_HEADER)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    if !(MIN_PAYLOAD..=MAX_PAYLOAD).contains(&len) {
        return None;
    }
    let payload = bytes.get(FRAME_HEADER..FRAME_HEADER + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let revision = Revision::from_le_bytes(payload[..REVISION_BYTES].try_into().ok()?);
    Some((revision, &payload[REVISION_BYTES..], FRAME_HEADER + len))
}

/// What a file holds: its frames' first revision and offsets, and where
/// the next frame goes.
#[derive(Debug, PartialEq)]
struct Scanned {
    first: Option<Revision>,
    offsets: Vec<u64>,
    end: u64,
}

/// Indexes a file's frames: the valid, contiguous run after the header.
/// The first frame that is cut short, damaged or out of order ends it (a
/// torn last append, or old bytes past it); [`EventLog::recover`] cuts
/// the file there. A file without the header (never written, or created
/// and cut before its header was synced) holds nothing.
fn scan(file: &dyn StorageBackend) -> std::io::Result<Scanned> {
    let len = file.len()?;
    let nothing = Scanned {
        first: None,
        offsets: Vec::new(),
        end: 0,
    };
    if len < MAGIC.len() as u64 {
        return Ok(nothing);
    }
    let mut chunk = Chunk::new(file, len);
    if chunk.get(0, MAGIC.len())? != Some(MAGIC.as_slice()) {
        return Ok(nothing);
    }
    let mut at = MAGIC.len() as u64;
    let mut first = None;
    let mut offsets = Vec::new();
    while let Some(header) = chunk.get(at, FRAME_HEADER)? {
        let payload = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        if !(MIN_PAYLOAD..=MAX_PAYLOAD).contains(&payload) {
            break;
        }
        let Some(frame) = chunk.get(at, FRAME_HEADER + payload)? else {
            break;
        };
        let Some((revision, _, frame_len)) = parse_frame(frame) else {
            break;
        };
        let due = first.map(|f: Revision| f + offsets.len() as i64);
        if due.is_some_and(|due| due != revision) || revision < FIRST_WRITE {
            break;
        }
        first.get_or_insert(revision);
        offsets.push(at);
        at += frame_len as u64;
    }
    Ok(Scanned {
        first,
        offsets,
        end: at,
    })
}

/// Reads a file in large chunks for [`scan`].
struct Chunk<'a> {
    file: &'a dyn StorageBackend,
    len: u64,
    start: u64,
    bytes: Vec<u8>,
}

impl<'a> Chunk<'a> {
    fn new(file: &'a dyn StorageBackend, len: u64) -> Self {
        Chunk {
            file,
            len,
            start: 0,
            bytes: Vec::new(),
        }
    }

    /// `len` bytes at `at`, or `None` past the end of the file.
    fn get(&mut self, at: u64, len: usize) -> std::io::Result<Option<&[u8]>> {
        let end = at + len as u64;
        if end > self.len {
            return Ok(None);
        }
        if at < self.start || end > self.start + self.bytes.len() as u64 {
            let size = (self.len - at).min(len.max(SCAN_CHUNK) as u64);
            self.bytes = vec![0; usize::try_from(size).unwrap_or(len)];
            self.file.read(at, &mut self.bytes)?;
            self.start = at;
        }
        let from = usize::try_from(at - self.start).expect("inside the chunk");
        Ok(Some(&self.bytes[from..from + len]))
    }
}

/// Empties a file down to the header.
fn empty(file: &dyn StorageBackend) -> std::io::Result<()> {
    file.set_len(0)?;
    file.write(0, MAGIC)
}

/// Cuts a file after its last good frame.
fn cut(file: &dyn StorageBackend, end: u64) -> std::io::Result<()> {
    if file.len()? != end {
        file.set_len(end)?;
    }
    Ok(())
}

fn event_log_error(
    context: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::EventLog {
        context,
        path,
        source: source.into(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::redb::LocalDisk;
    use crate::{EventKind, KeyValue, KvEvent};

    fn put(revision: Revision, key: &str) -> Arc<RevisionEvents> {
        Arc::new(RevisionEvents {
            revision,
            events: vec![KvEvent {
                kind: EventKind::Put,
                kv: KeyValue {
                    key: key.into(),
                    value: revision.to_le_bytes().to_vec(),
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                    lease: None,
                },
                prev_kv: None,
            }],
        })
    }

    fn puts(revisions: std::ops::RangeInclusive<Revision>) -> Vec<Arc<RevisionEvents>> {
        revisions.map(|r| put(r, &format!("/k/{r}"))).collect()
    }

    /// The revisions `from..=to` as read back, page by page.
    fn read_back(
        log: &EventLog,
        from: Revision,
        to: Revision,
    ) -> Result<Vec<Revision>, StoreError> {
        let mut found = Vec::new();
        let mut next = from;
        while next <= to {
            next = log.read_page(next, to, 7, |bytes| {
                let events = schema::decode_events(bytes)?;
                found.push(events[0].kv.mod_revision);
                Ok(())
            })?;
        }
        Ok(found)
    }

    fn opened(dir: &Path, retain: u64) -> EventLog {
        EventLog::open(&LocalDisk, &event_log_paths(&dir.join("s.redb")), retain).unwrap()
    }

    #[test]
    fn golden_frame() {
        let mut out = Vec::new();
        push_frame(&mut out, 2, b"ev");
        let payload = [2, 0, 0, 0, 0, 0, 0, 0, STORED, b'e', b'v'];
        let crc = crc32fast::hash(&payload);
        let mut expected = vec![11, 0, 0, 0];
        expected.extend_from_slice(&crc.to_le_bytes());
        expected.extend_from_slice(&payload);
        assert_eq!(out, expected);
        assert_eq!(
            crc, 0x9207_43c6,
            "CRC-32 (IEEE) of the payload, as Python's zlib.crc32 gives it"
        );
        let (revision, body, len) = parse_frame(&out).unwrap();
        assert_eq!((revision, len), (2, 19));
        assert_eq!(decode_body(body).unwrap().as_ref(), b"ev");
    }

    /// LZ4 blocks written by hand from the block format's definition: a
    /// token (literal length 3 in the high nibble, no match) and the
    /// literals; and one with a match (token 0x1f: one literal, then a
    /// match of 15 + 4 and one more byte at offset 1, which repeats the
    /// literal 21 times in all) and the last sequence, literals only.
    #[test]
    fn golden_lz4_bodies() {
        let literals = [LZ4, 3, 0, 0, 0, 0x30, b'a', b'b', b'c'];
        assert_eq!(decode_body(&literals).unwrap().as_ref(), b"abc");
        let repeated = [LZ4, 22, 0, 0, 0, 0x1f, b'x', 1, 0, 1, 0x10, b'y'];
        let mut expected = vec![b'x'; 21];
        expected.push(b'y');
        assert_eq!(decode_body(&repeated).unwrap().as_ref(), expected);
        // A length the block cannot hold, an unknown codec, nothing at all.
        assert!(decode_body(&[LZ4, 0xff, 0xff, 0xff, 0x7f, 0x30, 1, 2, 3]).is_err());
        assert!(decode_body(&[7, 1, 2]).is_err());
        assert!(decode_body(&[]).is_err());
    }

    #[test]
    fn large_events_are_compressed_and_read_back() {
        let events = schema::encode_events(&put(9, &"/ffm/bundles/".repeat(40)).events);
        let mut out = Vec::new();
        push_frame(&mut out, 9, &events);
        assert!(
            out.len() < events.len() / 2,
            "{} of {}",
            out.len(),
            events.len()
        );
        let (_, body, _) = parse_frame(&out).unwrap();
        assert_eq!(body[0], LZ4);
        assert_eq!(decode_body(body).unwrap().as_ref(), events.as_slice());
    }

    #[test]
    fn appended_revisions_read_back_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(1).unwrap(), 2);
        log.append(&puts(2..=40)).unwrap();
        log.append(&puts(41..=41)).unwrap();
        assert_eq!(
            read_back(&log, 2, 41).unwrap(),
            (2..=41).collect::<Vec<_>>()
        );
        assert_eq!(read_back(&log, 17, 20).unwrap(), vec![17, 18, 19, 20]);
        drop(log);

        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(41).unwrap(), 2);
        assert_eq!(
            read_back(&log, 2, 41).unwrap(),
            (2..=41).collect::<Vec<_>>()
        );
        let out_of_order = log.append(&puts(43..=43)).unwrap_err();
        assert!(
            matches!(out_of_order, StoreError::Corrupt { .. }),
            "{out_of_order}"
        );
    }

    #[test]
    fn recovery_cuts_what_the_database_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let log = opened(dir.path(), 0);
        log.recover(1).unwrap();
        log.append(&puts(2..=30)).unwrap();
        drop(log);
        // The database kept only up to 20: 21..=30 are appended again by the
        // replay, with whatever events it makes.
        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(20).unwrap(), 2);
        log.append(&[put(21, "/again")]).unwrap();
        let mut keys = Vec::new();
        log.read_page(21, 21, 1, |bytes| {
            keys.push(schema::decode_events(bytes)?[0].kv.key.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(keys, ["/again"]);
        assert!(matches!(
            read_back(&log, 22, 22),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_log_missing_revisions_the_database_has_starts_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = opened(dir.path(), 0);
        log.recover(1).unwrap();
        log.append(&puts(2..=10)).unwrap();
        drop(log);
        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(15).unwrap(), 16, "11..=15 are lost");
        assert!(matches!(
            read_back(&log, 5, 5),
            Err(StoreError::Compacted {
                requested: 5,
                compacted: 16
            })
        ));
        log.append(&puts(16..=17)).unwrap();
        assert_eq!(read_back(&log, 16, 17).unwrap(), vec![16, 17]);
    }

    #[test]
    fn a_torn_last_append_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let paths = event_log_paths(&dir.path().join("s.redb"));
        let log = opened(dir.path(), 0);
        log.recover(1).unwrap();
        log.append(&puts(2..=5)).unwrap();
        drop(log);
        let whole = std::fs::read(&paths[0]).unwrap();
        // The last frame loses its last byte; then garbage past it.
        let mut torn = whole[..whole.len() - 1].to_vec();
        torn.extend_from_slice(&[0xab; 40]);
        std::fs::write(&paths[0], &torn).unwrap();
        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(4).unwrap(), 2);
        assert_eq!(read_back(&log, 2, 4).unwrap(), vec![2, 3, 4]);
        log.append(&puts(5..=6)).unwrap();
        drop(log);
        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(6).unwrap(), 2);
        assert_eq!(read_back(&log, 2, 6).unwrap(), (2..=6).collect::<Vec<_>>());
    }

    #[test]
    fn an_undone_append_leaves_no_revision_behind() {
        let dir = tempfile::tempdir().unwrap();
        let log = opened(dir.path(), 0);
        log.recover(1).unwrap();
        log.append(&puts(2..=3)).unwrap();
        let mark = log.append(&puts(4..=6)).unwrap();
        log.undo(mark);
        log.append(&[put(4, "/instead")]).unwrap();
        assert_eq!(read_back(&log, 2, 4).unwrap(), vec![2, 3, 4]);
        drop(log);
        let log = opened(dir.path(), 0);
        assert_eq!(log.recover(6).unwrap(), 7, "5 and 6 were never logged");
    }

    #[test]
    fn compacted_files_are_dropped_whole_and_read_as_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let paths = event_log_paths(&dir.path().join("s.redb"));
        let log = opened(dir.path(), 10);
        log.recover(1).unwrap();
        let mut compacted = 0;
        for revision in 2..=60 {
            log.append(&[put(revision, "/k")]).unwrap();
            // The store keeps the last 10 revisions.
            compacted = (revision - 10 + 1).max(compacted);
            log.retire_compacted(compacted).unwrap();
            let floor = log.floor().unwrap();
            assert!(
                floor <= compacted.max(2) && revision - floor < 30,
                "at {revision}: floor {floor}, compacted {compacted}"
            );
        }
        let floor = log.floor().unwrap();
        assert!(floor > 2, "old files were dropped");
        assert!(matches!(
            read_back(&log, floor - 1, floor - 1),
            Err(StoreError::Compacted { compacted, .. }) if compacted == floor
        ));
        assert_eq!(
            read_back(&log, 51, 60).unwrap(),
            (51..=60).collect::<Vec<_>>()
        );
        let sizes: u64 = paths
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(
            sizes < 40 * 60,
            "the files hold at most two windows: {sizes} bytes"
        );
        drop(log);
        let log = opened(dir.path(), 10);
        assert_eq!(log.recover(60).unwrap(), floor);
        assert_eq!(
            read_back(&log, floor, 60).unwrap(),
            (floor..=60).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_file_emptied_under_a_reader_reads_as_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let log = opened(dir.path(), 4);
        log.recover(1).unwrap();
        log.append(&puts(2..=9)).unwrap();
        log.retire_compacted(6).unwrap();
        log.append(&puts(10..=13)).unwrap();
        // The reader found revision 2 in a file that is emptied before
        // its read: the epoch check turns the damage into compaction.
        let (index, epoch) = {
            let files = log.read();
            let index = files.segments.iter().position(|s| s.holds(2)).unwrap();
            (index, files.segments[index].epoch)
        };
        log.retire_compacted(11).unwrap();
        let files = log.read();
        assert_ne!(files.segments[index].epoch, epoch);
        assert!(matches!(
            log.missing(&files, 2),
            StoreError::Compacted { compacted: 10, .. }
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bodies_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_body(&body);
        }

        #[test]
        fn any_events_round_trip(events in proptest::collection::vec(any::<u8>(), 0..2000), repeat in 1usize..8) {
            let events = events.repeat(repeat);
            let mut out = Vec::new();
            push_frame(&mut out, 5, &events);
            let (revision, body, len) = parse_frame(&out).unwrap();
            prop_assert_eq!((revision, len), (5, out.len()));
            let decoded = decode_body(body).unwrap();
            prop_assert_eq!(decoded.as_ref(), events.as_slice());
        }

        #[test]
        fn scanning_arbitrary_bytes_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            let dir = tempfile::tempdir().unwrap();
            let paths = event_log_paths(&dir.path().join("s.redb"));
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            std::fs::write(&paths[0], &bytes).unwrap();
            let log = opened(dir.path(), 0);
            let floor = log.recover(1).unwrap();
            prop_assert_eq!(floor, 2);
        }

        #[test]
        fn any_prefix_of_a_log_opens_to_a_prefix_of_its_revisions(n in 1i64..12, cut in 0.0f64..1.0) {
            let dir = tempfile::tempdir().unwrap();
            let paths = event_log_paths(&dir.path().join("s.redb"));
            let log = opened(dir.path(), 0);
            log.recover(1).unwrap();
            log.append(&puts(2..=n + 1)).unwrap();
            drop(log);
            let whole = std::fs::read(&paths[0]).unwrap();
            let keep = ((whole.len() as f64) * cut) as usize;
            std::fs::write(&paths[0], &whole[..keep]).unwrap();
            let log = opened(dir.path(), 0);
            let held = log.read().segments[0].last();
            if let Some(last) = held {
                prop_assert_eq!(log.recover(last).unwrap(), 2);
                prop_assert_eq!(read_back(&log, 2, last).unwrap(), (2..=last).collect::<Vec<_>>());
            }
        }
    }
}

//! The history's files: one directory per time span holding up to
//! [`BUCKETS`] append-only bucket files shared by every corridor (and
//! bundle) whose id hashes to them, removed whole when retention has
//! passed the span.
//!
//! Layout: `<dir>/<start ms>-<end ms>/<bucket, 2 hex digits>.log`. The span
//! is in the directory's name so its files keep their bounds when the
//! retention (and with it the span of new directories) is changed between
//! runs. A bucket file is a sequence of frames: a little-endian `u32`
//! length, then the id (one length byte and its bytes), then a postcard
//! [`Record`]. The bucket is the FNV-1a hash of the id, a fixed function,
//! so a restart finds an id's records where it left them.
//!
//! Why buckets, not a file per id: corridors come and go many times a
//! second under load, and creating a file per corridor (an inode, a
//! directory entry, an open and a close) cost about 6 % of corridord's CPU
//! in the grant benchmark and left a file per corridor ever granted for
//! retention to remove. A span has at most 256 files, made once. Reading
//! one id reads its bucket, a 256th of the span, and skips other ids'
//! frames without decoding them; the synchrony query reads each bucket
//! once ([`HistoryLog::read_all`]). The id in every frame costs its length
//! plus one byte a record.
//!
//! Nothing is fsynced: history is an observation kept for looking back,
//! not an acknowledged write, and a crash loses only what the page cache
//! had not written back. A frame torn by a crash is cut when the bucket is
//! first appended to by the next process, so later frames stay readable.
//!
//! Files of the two earlier layouts, a file per id (`<span>/<hex of the
//! id>.seg`, and before it `<hex of the id>/<span>.seg`), are moved into
//! the buckets when the log is opened. A crash in the middle of that move
//! can append a file's frames twice; reads drop records that are exactly
//! repeated, so the move is safe to redo.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::record::{Record, StoredChange};
use super::window::{Span, Window};

/// Bucket files per span.
pub const BUCKETS: usize = 256;

/// What one pruning pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Bucket files removed.
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct HistoryLog {
    dir: PathBuf,
    /// Length of a new span.
    span_ms: i64,
    /// Bucket files this process has checked for a torn tail (and cut).
    /// At most [`BUCKETS`] per span kept.
    checked: Mutex<HashSet<PathBuf>>,
    /// The span directories and the open bucket files. Appends and pruning
    /// both hold this lock, so a span is never removed under an append
    /// writing to it. This process is the directory's only writer, so the
    /// list of spans read at open stays true.
    appending: Mutex<Appending>,
}

#[derive(Debug, Default)]
struct Appending {
    /// Every span directory, by start.
    spans: Vec<Span>,
    open: HashMap<(Span, u8), OpenBucket>,
    /// Bucket files opened so far (each one's `opened` is its count).
    opened: u64,
}

/// How many bucket files stay open for appending: every bucket of the
/// current span; past it, the oldest-opened is closed (and opened again by
/// name if appended to later).
pub const OPEN_FILES: usize = BUCKETS;

#[derive(Debug)]
struct OpenBucket {
    file: File,
    /// When it was opened (an open count), to close the oldest first.
    opened: u64,
}

/// The longest id a frame holds (its length is one byte).
const MAX_ID_BYTES: usize = u8::MAX as usize;

/// The bucket of `id`: 32-bit FNV-1a (a fixed, documented function: the
/// layout must not change with the toolchain, as `std`'s hasher may).
fn bucket_of(id: &str) -> u8 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    // BUCKETS is 256: the low byte.
    (hash & 0xff) as u8
}

/// Appends one frame of `record` for `id` to `buffer`.
pub(super) fn push_frame(buffer: &mut Vec<u8>, id: &str, record: &Record) -> io::Result<()> {
    if id.len() > MAX_ID_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("history id of {} bytes (at most {MAX_ID_BYTES})", id.len()),
        ));
    }
    let bytes = record.encode();
    let len = u32::try_from(1 + id.len() + bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
    buffer.extend_from_slice(&len.to_le_bytes());
    buffer.push(id.len() as u8);
    buffer.extend_from_slice(id.as_bytes());
    buffer.extend_from_slice(&bytes);
    Ok(())
}

/// The id and the encoded record of a frame's payload, if it is well formed.
fn split_payload(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&id_len, rest) = payload.split_first()?;
    let id_len = usize::from(id_len);
    (rest.len() >= id_len).then(|| rest.split_at(id_len))
}

impl HistoryLog {
    /// The log in `dir` (created if missing) with new spans `span_ms`
    /// long. Files of the earlier layouts are moved into their buckets.
    pub fn open(dir: &Path, span_ms: i64) -> io::Result<HistoryLog> {
        fs::create_dir_all(dir)?;
        let log = HistoryLog {
            dir: dir.to_path_buf(),
            span_ms,
            checked: Mutex::new(HashSet::new()),
            appending: Mutex::new(Appending {
                spans: span_dirs(dir)?,
                ..Appending::default()
            }),
        };
        log.move_per_id_files()?;
        Ok(log)
    }

    fn span_dir(&self, span: Span) -> PathBuf {
        self.dir.join(span_name(span))
    }

    fn bucket_path(&self, span: Span, bucket: u8) -> PathBuf {
        self.span_dir(span).join(bucket_name(bucket))
    }

    /// The span directories, oldest first.
    fn spans(&self) -> Vec<Span> {
        crate::corridors::lock(&self.appending).spans.clone()
    }

    /// Appends `records` of corridor (or bundle) `id`, each to the span of
    /// its wall time.
    pub fn append(&self, id: &str, records: &[Record]) -> io::Result<()> {
        self.append_all(records.iter().map(|record| (id, record)))
    }

    /// Appends every `(id, record)`: one write per bucket file touched, so
    /// concurrent readers see whole frames or a tail they stop at. A bucket
    /// that fails does not keep the others from being written; the first
    /// error is returned.
    pub fn append_all<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, &'a Record)>,
    ) -> io::Result<()> {
        let mut by_file: BTreeMap<(i64, u8), Vec<u8>> = BTreeMap::new();
        for (id, record) in entries {
            let start_ms = Span::holding(record.at_us().div_euclid(1000), self.span_ms).start_ms;
            push_frame(
                by_file.entry((start_ms, bucket_of(id))).or_default(),
                id,
                record,
            )?;
        }
        let mut first_error = None;
        let mut guard = crate::corridors::lock(&self.appending);
        for ((start_ms, bucket), frames) in by_file {
            if let Err(e) = self.write_frames(&mut guard, start_ms, bucket, &frames) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Writes `frames` to `bucket` of the span holding `at_ms` (one made
    /// under another span length, or a new one).
    fn write_frames(
        &self,
        appending: &mut Appending,
        at_ms: i64,
        bucket: u8,
        frames: &[u8],
    ) -> io::Result<()> {
        let span = match appending.spans.iter().find(|s| s.holds(at_ms)) {
            Some(existing) => *existing,
            None => self.add_span(appending, Span::holding(at_ms, self.span_ms))?,
        };
        if !appending.open.contains_key(&(span, bucket)) {
            let file = self.open_bucket(&self.bucket_path(span, bucket))?;
            if appending.open.len() >= OPEN_FILES {
                close_oldest(&mut appending.open);
            }
            appending.opened += 1;
            let opened = appending.opened;
            appending
                .open
                .insert((span, bucket), OpenBucket { file, opened });
        }
        let open = appending
            .open
            .get_mut(&(span, bucket))
            .expect("opened above");
        open.file.write_all(frames)
    }

    /// Makes `span`'s directory and lists it among the spans.
    fn add_span(&self, appending: &mut Appending, span: Span) -> io::Result<Span> {
        fs::create_dir_all(self.span_dir(span))?;
        let at = appending
            .spans
            .partition_point(|s| s.start_ms < span.start_ms);
        appending.spans.insert(at, span);
        Ok(span)
    }

    /// The bucket file at `path` open for appending, its tail cut if torn
    /// the first time this process opens it.
    fn open_bucket(&self, path: &Path) -> io::Result<File> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        if crate::corridors::lock(&self.checked).insert(path.to_path_buf()) {
            cut_torn_tail(&mut file)?;
        }
        Ok(file)
    }

    /// Corridor `id`'s records in `window`, ordered by wall time then store
    /// revision.
    pub fn read(&self, id: &str, window: &Window) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        for span in self.spans() {
            if !span.overlaps(window) {
                continue;
            }
            read_bucket(
                &self.bucket_path(span, bucket_of(id)),
                Some(id),
                |_, record| {
                    if in_window(&record, window) {
                        records.push(record);
                    }
                },
            )?;
        }
        Ok(in_order(records))
    }

    /// Every id's records in `window`, each ordered as [`Self::read`]
    /// orders them: each bucket file is read once.
    pub fn read_all(&self, window: &Window) -> io::Result<BTreeMap<String, Vec<Record>>> {
        let mut by_id: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for span in self.spans() {
            if !span.overlaps(window) {
                continue;
            }
            for path in buckets_in(&self.span_dir(span))? {
                read_bucket(&path, None, |frame_id, record| {
                    if in_window(&record, window)
                        && let Ok(id) = std::str::from_utf8(frame_id)
                    {
                        by_id.entry(id.to_owned()).or_default().push(record);
                    }
                })?;
            }
        }
        Ok(by_id
            .into_iter()
            .map(|(id, records)| (id, in_order(records)))
            .collect())
    }

    /// Corridor `id`'s newest recorded object change, whenever it was.
    pub fn latest_change(&self, id: &str) -> io::Result<Option<StoredChange>> {
        for span in self.spans().into_iter().rev() {
            let mut newest: Option<StoredChange> = None;
            read_bucket(
                &self.bucket_path(span, bucket_of(id)),
                Some(id),
                |_, record| {
                    if let Record::Change(change) = record
                        && newest.as_ref().is_none_or(|n| n.revision < change.revision)
                    {
                        newest = Some(change);
                    }
                },
            )?;
            if newest.is_some() {
                return Ok(newest);
            }
        }
        Ok(None)
    }

    /// Removes every span retention has passed at `now`, with its files.
    pub fn prune(&self, now: DateTime<Utc>, retention: std::time::Duration) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        let mut guard = crate::corridors::lock(&self.appending);
        let appending = &mut *guard;
        let expired: Vec<Span> = appending
            .spans
            .iter()
            .filter(|s| s.expired(now, retention))
            .copied()
            .collect();
        for span in expired {
            let dir = self.span_dir(span);
            for path in buckets_in(&dir)? {
                pruned.files += 1;
                pruned.bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                crate::corridors::lock(&self.checked).remove(&path);
            }
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            appending.spans.retain(|s| *s != span);
            appending.open.retain(|(s, _), _| *s != span);
        }
        Ok(pruned)
    }

    /// Bytes the history holds on disk (every bucket file).
    pub fn bytes_on_disk(&self) -> io::Result<u64> {
        let mut total = 0;
        for span in self.spans() {
            for path in buckets_in(&self.span_dir(span))? {
                total += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// Moves the per-id files of the earlier layouts into the buckets (see
    /// the module's documentation), then removes them.
    fn move_per_id_files(&self) -> io::Result<()> {
        for (span, id, path) in per_id_files(&self.dir)? {
            let bytes = fs::read(&path)?;
            let mut frames_out = Vec::new();
            for record in frames(&bytes).filter_map(|payload| Record::decode(payload).ok()) {
                push_frame(&mut frames_out, &id, &record)?;
            }
            if !frames_out.is_empty() {
                // The span the file named, even if records stray outside it.
                let mut guard = crate::corridors::lock(&self.appending);
                if !guard.spans.contains(&span) {
                    self.add_span(&mut guard, span)?;
                }
                self.write_frames(&mut guard, span.start_ms, bucket_of(&id), &frames_out)?;
            }
            fs::remove_file(&path)?;
            if let Some(parent) = path.parent()
                && parse_span_name(parent.file_name().and_then(|n| n.to_str()).unwrap_or(""))
                    .is_none()
            {
                // The oldest layout's per-id directory; left if it holds
                // anything else.
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(())
    }
}

fn in_window(record: &Record, window: &Window) -> bool {
    DateTime::<Utc>::from_timestamp_micros(record.at_us()).is_some_and(|at| window.contains(at))
}

/// `records` by wall time then store revision, without exact repeats (a
/// redone move of an earlier layout's file).
fn in_order(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_by_key(|r| (r.at_us(), r.revision()));
    let mut kept: Vec<Record> = Vec::with_capacity(records.len());
    let mut group_start = 0;
    for record in records {
        if kept.last().is_none_or(|last| {
            (last.at_us(), last.revision()) != (record.at_us(), record.revision())
        }) {
            group_start = kept.len();
        }
        if !kept[group_start..].contains(&record) {
            kept.push(record);
        }
    }
    kept
}

/// Closes the bucket file opened longest ago.
fn close_oldest(open: &mut HashMap<(Span, u8), OpenBucket>) {
    if let Some(key) = open
        .iter()
        .min_by_key(|(_, bucket)| bucket.opened)
        .map(|(key, _)| *key)
    {
        open.remove(&key);
    }
}

fn span_name(span: Span) -> String {
    format!("{:013}-{:013}", span.start_ms, span.end_ms)
}

fn parse_span_name(name: &str) -> Option<Span> {
    let (start, end) = name.split_once('-')?;
    let span = Span {
        start_ms: start.parse().ok()?,
        end_ms: end.parse().ok()?,
    };
    (span.start_ms < span.end_ms).then_some(span)
}

fn bucket_name(bucket: u8) -> String {
    format!("{bucket:02x}.log")
}

/// The id a hex name of an earlier layout encodes.
fn unhex(name: &str) -> Option<String> {
    if !name.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The span directories of `dir`, oldest first; entries of other names
/// are ignored.
fn span_dirs(dir: &Path) -> io::Result<Vec<Span>> {
    let mut spans = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Some(span) = entry.file_name().to_str().and_then(parse_span_name)
        {
            spans.push(span);
        }
    }
    spans.sort_by_key(|s| s.start_ms);
    Ok(spans)
}

/// The bucket files of a span directory (none if the directory does not
/// exist); files of other names are ignored.
fn buckets_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_bucket = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .is_some_and(|n| n.len() == 2 && u8::from_str_radix(n, 16).is_ok());
        if is_bucket {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The per-id files of the earlier layouts under `dir`: `<span>/<hex of
/// the id>.seg` and `<hex of the id>/<span>.seg`, with their span and id.
fn per_id_files(dir: &Path) -> io::Result<Vec<(Span, String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let outer_span = parse_span_name(&name);
        let outer_id = outer_span.is_none().then(|| unhex(&name)).flatten();
        if outer_span.is_none() && outer_id.is_none() {
            continue;
        }
        for file in fs::read_dir(entry.path())? {
            let path = file?.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
            else {
                continue;
            };
            let named = match (&outer_span, &outer_id) {
                (Some(span), _) => unhex(stem).map(|id| (*span, id)),
                (None, Some(id)) => parse_span_name(stem).map(|span| (span, id.clone())),
                (None, None) => None,
            };
            if let Some((span, id)) = named {
                found.push((span, id, path));
            }
        }
    }
    Ok(found)
}

/// Calls `each` with the id and record of every whole frame of a bucket
/// file (none if it does not exist), or with `only` that id's: other ids'
/// frames are skipped before their record is decoded. A frame that does not
/// decode (written by an incompatible build) is skipped; a torn last frame
/// ends the read.
fn read_bucket(
    path: &Path,
    only: Option<&str>,
    mut each: impl FnMut(&[u8], Record),
) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        // No records in this bucket of the span, or pruned since listed.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for payload in frames(&bytes) {
        if let Some((id, encoded)) = split_payload(payload)
            && only.is_none_or(|only| only.as_bytes() == id)
            && let Ok(record) = Record::decode(encoded)
        {
            each(id, record);
        }
    }
    Ok(())
}

/// The payloads of the whole frames of `bytes`, up to a torn tail.
fn frames(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let frame = next_frame(bytes, at)?;
        at = frame.end;
        Some(&bytes[frame])
    })
}

/// The payload range of the frame starting at `at`, if it is whole.
fn next_frame(bytes: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    let header = bytes.get(at..at.checked_add(4)?)?;
    let len = u32::from_le_bytes(header.try_into().ok()?) as usize;
    let start = at + 4;
    let end = start.checked_add(len)?;
    (end <= bytes.len()).then_some(start..end)
}

/// Cuts a file back to its last whole frame (a crash mid-append left a
/// torn one), so frames appended after it can be read.
fn cut_torn_tail(file: &mut File) -> io::Result<()> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let mut whole = 0;
    while let Some(frame) = next_frame(&bytes, whole) {
        whole = frame.end;
    }
    if whole < bytes.len() {
        file.set_len(whole as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::one_lane_sample;
    use super::*;
    use chrono::TimeZone;

    fn ms(m: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(m).unwrap()
    }

    /// Every record the tests write.
    fn everything() -> Window {
        Window {
            from: ms(0),
            to: ms(100_000),
        }
    }

    fn sample(at_ms: i64, revision: u64) -> Record {
        Record::Sample(one_lane_sample(at_ms * 1000, revision, 40.0))
    }

    fn revisions(log: &HistoryLog, id: &str) -> Vec<u64> {
        log.read(id, &everything())
            .unwrap()
            .iter()
            .map(Record::revision)
            .collect()
    }

    fn ids(log: &HistoryLog) -> Vec<String> {
        log.read_all(&everything()).unwrap().into_keys().collect()
    }

    /// Every file under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    /// Two ids of the same bucket.
    fn same_bucket() -> (String, String) {
        let first = "cor-0".to_string();
        let second = (1..)
            .map(|i| format!("cor-{i}"))
            .find(|id| bucket_of(id) == bucket_of(&first))
            .unwrap();
        (first, second)
    }

    #[test]
    fn a_window_reads_its_records_in_order_across_spans() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        let records: Vec<Record> = (0..30)
            .map(|i| sample(10_000 + i * 250, 5 + i as u64))
            .collect();
        // Appended out of order and in two calls.
        log.append("cor-1", &records[15..]).unwrap();
        log.append("cor-1", &records[..15]).unwrap();
        log.append("cor-2", &records[..3]).unwrap();
        let window = Window {
            from: ms(11_000),
            to: ms(13_000),
        };
        let read = log.read("cor-1", &window).unwrap();
        let times: Vec<i64> = read.iter().map(|r| r.at_us() / 1000).collect();
        assert_eq!(times, (0..9).map(|i| 11_000 + i * 250).collect::<Vec<_>>());
        assert!(read.windows(2).all(|w| w[0].revision() < w[1].revision()));
        assert!(log.read("cor-3", &window).unwrap().is_empty());
        assert_eq!(ids(&log), ["cor-1", "cor-2"]);
        // Every id at once: the same records as one at a time.
        let all = log.read_all(&window).unwrap();
        assert_eq!(all["cor-1"], read);
        assert!(
            !all.contains_key("cor-2"),
            "cor-2 has nothing in the window"
        );
    }

    #[test]
    fn ids_sharing_a_bucket_read_only_their_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        let (a, b) = same_bucket();
        log.append_all([
            (a.as_str(), &sample(1_000, 1)),
            (b.as_str(), &sample(1_001, 2)),
        ])
        .unwrap();
        log.append(&a, &[sample(1_002, 3)]).unwrap();
        assert_eq!(revisions(&log, &a), [1, 3]);
        assert_eq!(revisions(&log, &b), [2]);
        assert_eq!(files_under(dir.path()).len(), 1, "one bucket file");
    }

    #[test]
    fn a_span_holds_at_most_one_file_per_bucket_however_many_ids() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        let ids: Vec<String> = (0..2_000).map(|i| format!("cor-{i:012x}")).collect();
        for (i, id) in ids.iter().enumerate() {
            log.append(id, &[sample(1_000, i as u64)]).unwrap();
        }
        let files = files_under(dir.path());
        assert!(files.len() <= BUCKETS, "{} files", files.len());
        // The ids spread over the buckets (a fixed hash, not one bucket).
        assert!(files.len() > BUCKETS / 2, "{} files", files.len());
        for (i, id) in ids.iter().enumerate().step_by(97) {
            assert_eq!(revisions(&log, id), [i as u64], "{id}");
        }
    }

    #[test]
    fn the_bucket_of_an_id_is_fixed() {
        // The layout on disk depends on it: a change would lose history.
        assert_eq!(bucket_of(""), 0xc5);
        assert_eq!(bucket_of("a"), 0x2c);
        assert_eq!(bucket_of("cor-556669210c31"), bucket_of("cor-556669210c31"));
    }

    #[test]
    fn an_id_too_long_for_a_frame_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        let long = "x".repeat(MAX_ID_BYTES + 1);
        let e = log.append(&long, &[sample(1_000, 1)]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(files_under(dir.path()).is_empty());
        let longest = "x".repeat(MAX_ID_BYTES);
        log.append(&longest, &[sample(1_000, 2)]).unwrap();
        assert_eq!(revisions(&log, &longest), [2]);
    }

    #[test]
    fn pruning_removes_exactly_the_spans_retention_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        let records: Vec<Record> = (0..10).map(|i| sample(i * 1_000 + 500, i as u64)).collect();
        assert_ne!(bucket_of("cor-1"), bucket_of("cor-2"));
        log.append("cor-1", &records).unwrap();
        log.append("cor-2", &records[..2]).unwrap();
        let retention = std::time::Duration::from_secs(5);
        // At 9 s the cut-off is 4 s: the spans [0, 1 s) … [3 s, 4 s) hold
        // only older records; [4 s, 5 s) may hold younger ones. cor-1 has a
        // file in each, cor-2 in the first two.
        let pruned = log.prune(ms(9_000), retention).unwrap();
        assert_eq!(pruned.files, 4 + 2, "{pruned:?}");
        let left: Vec<i64> = log
            .read("cor-1", &everything())
            .unwrap()
            .iter()
            .map(|r| r.at_us() / 1000)
            .collect();
        assert_eq!(left, (4..10).map(|i| i * 1_000 + 500).collect::<Vec<_>>());
        // cor-2 had only expired records: it has no history left, and the
        // expired spans' directories are gone.
        assert_eq!(ids(&log), ["cor-1"]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 6);
        assert!(pruned.bytes > 0);
        // Nothing more to remove at the same time.
        assert_eq!(log.prune(ms(9_000), retention).unwrap(), Pruned::default());
    }

    #[test]
    fn an_append_after_pruning_removed_its_open_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        log.append("cor-1", &[sample(500, 1)]).unwrap();
        let retention = std::time::Duration::from_secs(5);
        assert_eq!(log.prune(ms(9_000), retention).unwrap().files, 1);
        // A late record for the same span: written to a file that exists,
        // not to the removed one still open.
        log.append("cor-1", &[sample(600, 2)]).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [2]);
    }

    #[test]
    fn more_files_than_stay_open_keep_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        let ids: Vec<String> = (0..600).map(|i| format!("cor-{i}")).collect();
        // Three spans' buckets: more files than stay open.
        for round in 0..3u64 {
            let batch: Vec<(String, Record)> = ids
                .iter()
                .map(|id| (id.clone(), sample(1_000 * round as i64 + 10, round)))
                .collect();
            log.append_all(batch.iter().map(|(id, r)| (id.as_str(), r)))
                .unwrap();
        }
        assert!(files_under(dir.path()).len() > OPEN_FILES);
        assert!(crate::corridors::lock(&log.appending).open.len() <= OPEN_FILES);
        // Appended to again after its files were closed: found by name.
        log.append("cor-0", &[sample(15, 3)]).unwrap();
        for id in &ids {
            let expected: &[u64] = if id == "cor-0" {
                &[0, 3, 1, 2]
            } else {
                &[0, 1, 2]
            };
            assert_eq!(revisions(&log, id), expected, "{id}");
        }
    }

    fn framed(record: Record) -> Vec<u8> {
        let bytes = record.encode();
        let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        framed
    }

    #[test]
    fn files_of_the_per_id_layouts_are_moved_into_their_buckets() {
        let dir = tempfile::tempdir().unwrap();
        // The oldest layout: <hex of the id>/<start>-<end>.seg.
        let oldest = dir.path().join("636f722d31"); // "cor-1"
        fs::create_dir(&oldest).unwrap();
        fs::write(
            oldest.join("0000000000000-0000000001000.seg"),
            framed(sample(500, 1)),
        )
        .unwrap();
        // The one after it: <start>-<end>/<hex of the id>.seg, with a torn tail.
        let span = dir.path().join("0000000001000-0000000002000");
        fs::create_dir(&span).unwrap();
        let mut torn = framed(sample(1_500, 2));
        torn.extend_from_slice(&[200, 0, 0, 0, 1]);
        fs::write(span.join("636f722d31.seg"), torn).unwrap();
        fs::write(span.join("636f722d32.seg"), framed(sample(1_700, 5))).unwrap(); // "cor-2"

        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [1, 2]);
        assert_eq!(revisions(&log, "cor-2"), [5]);
        assert!(!oldest.exists());
        let left = files_under(dir.path());
        assert!(
            left.iter().all(|p| p.extension().unwrap() == "log"),
            "{left:?}"
        );
        log.append("cor-1", &[sample(1_600, 3)]).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [1, 2, 3]);
        assert_eq!(ids(&log), ["cor-1", "cor-2"]);
    }

    #[test]
    fn a_move_redone_after_a_crash_repeats_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let span = dir.path().join("0000000001000-0000000002000");
        fs::create_dir(&span).unwrap();
        let old = span.join("636f722d31.seg");
        fs::write(&old, framed(sample(1_500, 2))).unwrap();
        drop(HistoryLog::open(dir.path(), 1_000).unwrap());
        // A crash after the frames were appended, before the file was removed.
        fs::write(&old, framed(sample(1_500, 2))).unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [2]);
        assert_eq!(log.read_all(&everything()).unwrap()["cor-1"].len(), 1);
    }

    #[test]
    fn a_torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        log.append("cor-1", &[sample(1_000, 1)]).unwrap();
        let path = log.bucket_path(Span::holding(1_000, 10_000), bucket_of("cor-1"));
        // A crash mid-append: half a frame.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(file);
        // A new process (a fresh log) appends after it.
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        log.append("cor-1", &[sample(2_000, 2)]).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [1, 2]);
    }

    #[test]
    fn the_latest_change_is_found_in_the_newest_span_holding_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        let change = |at_ms: i64, revision| {
            Record::Change(StoredChange {
                at_us: at_ms * 1000,
                revision,
                change: 1,
                object: b"{}".to_vec(),
            })
        };
        let (a, b) = same_bucket();
        log.append(&a, &[change(500, 3), change(700, 4), sample(5_500, 9)])
            .unwrap();
        // Another id of the same bucket, newer: not a's.
        log.append(&b, &[change(800, 7)]).unwrap();
        assert_eq!(log.latest_change(&a).unwrap().unwrap().revision, 4);
        assert!(log.latest_change("cor-none").unwrap().is_none());
    }
}

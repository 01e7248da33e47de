//! The history's files: one directory per time span holding one
//! append-only segment file per corridor (or bundle), removed whole when
//! retention has passed the span.
//!
//! Layout: `<dir>/<start ms>-<end ms>/<hex of the id>.seg`. The id is
//! hex-encoded so that no id, whatever it holds, names another path; the
//! span is in the directory's name so its files keep their bounds when the
//! retention (and with it the span of new directories) is changed between
//! runs. A segment is a sequence of frames, a little-endian `u32` length
//! then a postcard [`Record`].
//!
//! Directories are per span, not per corridor: corridors come and go many
//! times a second under load, and a directory per corridor cost a `mkdir`
//! per grant (a tenth of corridord's CPU in the grant benchmark) and left
//! millions of directories for retention to remove. A span's directory is
//! made once; pruning removes it whole.
//!
//! Nothing is fsynced: history is an observation kept for looking back,
//! not an acknowledged write, and a crash loses only what the page cache
//! had not written back. A frame torn by a crash is cut when the segment
//! is next appended to, so later frames stay readable.
//!
//! The segment an id is appending to stays open (up to [`OPEN_SEGMENTS`]
//! of them): a corridor's changes and samples go to the same segment for
//! the whole span. [`HistoryLog::close`] lets a deleted corridor's go;
//! pruning closes what it removes.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::record::Record;
use super::window::{Span, Window};

/// What one pruning pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub segments: usize,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct HistoryLog {
    dir: PathBuf,
    /// Length of a new span.
    span_ms: i64,
    /// Segments found on disk whose tail this process has checked (and cut
    /// if torn). One it created itself is not kept here: a set of every
    /// segment ever opened would grow by a path per corridor granted.
    checked: Mutex<HashSet<PathBuf>>,
    /// The span directories and the open segments. Appends and pruning
    /// both hold this lock, so a span is never removed under an append
    /// writing to it. This process is the directory's only writer, so the
    /// list of spans read at open stays true.
    appending: Mutex<Appending>,
}

#[derive(Debug, Default)]
struct Appending {
    /// Every span directory, by start.
    spans: Vec<Span>,
    open: HashMap<String, OpenSegment>,
    /// Segments opened so far (each one's `opened` is its count).
    opened: u64,
}

/// How many segments stay open for appending: the corridors of a busy
/// rack; past it, the oldest-opened is closed (and found again by name
/// if appended to later).
pub const OPEN_SEGMENTS: usize = 256;

#[derive(Debug)]
struct OpenSegment {
    span: Span,
    file: File,
    /// When it was opened (an append count), to close the oldest first.
    opened: u64,
}

impl HistoryLog {
    /// The log in `dir` (created if missing) with new spans `span_ms`
    /// long. Files of the earlier layout (a directory per corridor) are
    /// moved into their span's directory.
    pub fn open(dir: &Path, span_ms: i64) -> io::Result<HistoryLog> {
        fs::create_dir_all(dir)?;
        move_per_corridor_files(dir)?;
        let spans = span_dirs(dir)?;
        Ok(HistoryLog {
            dir: dir.to_path_buf(),
            span_ms,
            checked: Mutex::new(HashSet::new()),
            appending: Mutex::new(Appending {
                spans,
                ..Appending::default()
            }),
        })
    }

    fn span_dir(&self, span: Span) -> PathBuf {
        self.dir.join(span_name(span))
    }

    fn segment_path(&self, span: Span, id: &str) -> PathBuf {
        self.span_dir(span).join(segment_name(id))
    }

    /// The span directories, oldest first.
    fn spans(&self) -> Vec<Span> {
        crate::corridors::lock(&self.appending).spans.clone()
    }

    /// Appends `records` of corridor `id`, each to the segment of its
    /// wall time.
    pub fn append(&self, id: &str, records: &[Record]) -> io::Result<()> {
        let mut by_segment: Vec<(Span, Vec<u8>)> = Vec::new();
        for record in records {
            let span = Span::holding(record.at_us().div_euclid(1000), self.span_ms);
            let bytes = record.encode();
            let frame_len = u32::try_from(bytes.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
            let buffer = match by_segment.iter_mut().find(|(s, _)| *s == span) {
                Some((_, buffer)) => buffer,
                None => {
                    by_segment.push((span, Vec::new()));
                    &mut by_segment.last_mut().expect("just pushed").1
                }
            };
            buffer.extend_from_slice(&frame_len.to_le_bytes());
            buffer.extend_from_slice(&bytes);
        }
        let mut guard = crate::corridors::lock(&self.appending);
        let appending = &mut *guard;
        for (span, frames) in by_segment {
            let open_here = appending
                .open
                .get(id)
                .is_some_and(|open| open.span.holds(span.start_ms));
            if !open_here {
                // A span made under another length holds it, or a new one.
                let span = match appending.spans.iter().find(|s| s.holds(span.start_ms)) {
                    Some(existing) => *existing,
                    None => {
                        fs::create_dir_all(self.span_dir(span))?;
                        let at = appending
                            .spans
                            .partition_point(|s| s.start_ms < span.start_ms);
                        appending.spans.insert(at, span);
                        span
                    }
                };
                let file = self.open_segment(&self.segment_path(span, id))?;
                if appending.open.len() >= OPEN_SEGMENTS && !appending.open.contains_key(id) {
                    close_oldest(&mut appending.open);
                }
                appending.opened += 1;
                appending.open.insert(
                    id.to_owned(),
                    OpenSegment {
                        span,
                        file,
                        opened: appending.opened,
                    },
                );
            }
            let open = appending.open.get_mut(id).expect("opened above");
            // One write per segment per call: concurrent readers see whole
            // frames or a tail they stop at.
            open.file.write_all(&frames)?;
        }
        Ok(())
    }

    /// Closes the segment `id` is appending to, if open (its corridor is
    /// gone: nothing more will be appended).
    pub fn close(&self, id: &str) {
        crate::corridors::lock(&self.appending).open.remove(id);
    }

    /// The segment at `path` open for appending, its tail cut if torn the
    /// first time this process opens it. A segment this call creates has no
    /// tail to check.
    fn open_segment(&self, path: &Path) -> io::Result<File> {
        match OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(path)
        {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let mut file = OpenOptions::new().read(true).append(true).open(path)?;
        let first_use = crate::corridors::lock(&self.checked).insert(path.to_path_buf());
        if first_use {
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
            for record in read_segment(&self.segment_path(span, id))? {
                if let Some(at) = DateTime::<Utc>::from_timestamp_micros(record.at_us())
                    && window.contains(at)
                {
                    records.push(record);
                }
            }
        }
        records.sort_by_key(|r| (r.at_us(), r.revision()));
        Ok(records)
    }

    /// Corridor `id`'s newest recorded object change, whenever it was.
    pub fn latest_change(&self, id: &str) -> io::Result<Option<super::record::StoredChange>> {
        for span in self.spans().into_iter().rev() {
            let newest = read_segment(&self.segment_path(span, id))?
                .into_iter()
                .filter_map(|r| match r {
                    Record::Change(c) => Some(c),
                    Record::Sample(_) | Record::Bundle(_) => None,
                })
                .max_by_key(|c| c.revision);
            if newest.is_some() {
                return Ok(newest);
            }
        }
        Ok(None)
    }

    /// Removes every span retention has passed at `now`, with its
    /// segments.
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
            for (_, path) in segments_in(&dir)? {
                pruned.segments += 1;
                pruned.bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                crate::corridors::lock(&self.checked).remove(&path);
            }
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            appending.spans.retain(|s| *s != span);
            appending.open.retain(|_, open| open.span != span);
        }
        Ok(pruned)
    }

    /// The ids of the corridors (and bundles) that have history files.
    pub fn corridor_ids(&self) -> io::Result<Vec<String>> {
        let mut ids = std::collections::BTreeSet::new();
        for span in self.spans() {
            for (id, _) in segments_in(&self.span_dir(span))? {
                ids.insert(id);
            }
        }
        Ok(ids.into_iter().collect())
    }

    /// Bytes the history holds on disk (every segment file).
    pub fn bytes_on_disk(&self) -> io::Result<u64> {
        let mut total = 0;
        for span in self.spans() {
            for (_, path) in segments_in(&self.span_dir(span))? {
                total += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(total)
    }
}

/// Closes the segment opened longest ago.
fn close_oldest(open: &mut HashMap<String, OpenSegment>) {
    if let Some(id) = open
        .iter()
        .min_by_key(|(_, segment)| segment.opened)
        .map(|(id, _)| id.clone())
    {
        open.remove(&id);
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

fn segment_name(id: &str) -> String {
    let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.seg")
}

/// The id a hex name encodes.
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

/// The segments of a span directory with the ids they hold (none if the
/// directory does not exist); files of other names are ignored.
fn segments_in(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(unhex)
        {
            found.push((id, path));
        }
    }
    Ok(found)
}

/// Moves the files of the earlier layout, `<dir>/<hex of the id>/<start
/// ms>-<end ms>.seg`, to `<dir>/<start ms>-<end ms>/<hex of the id>.seg`,
/// and removes the emptied per-corridor directories.
fn move_per_corridor_files(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !entry.file_type()?.is_dir()
            || parse_span_name(&name).is_some()
            || unhex(&name).is_none()
        {
            continue;
        }
        for file in fs::read_dir(entry.path())? {
            let file = file?;
            let Some(span) = file
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(parse_span_name)
            else {
                continue;
            };
            let span_dir = dir.join(span_name(span));
            fs::create_dir_all(&span_dir)?;
            fs::rename(file.path(), span_dir.join(format!("{name}.seg")))?;
        }
        // Left if it holds anything else.
        let _ = fs::remove_dir(entry.path());
    }
    Ok(())
}

/// Every whole frame of a segment (none if it does not exist); a frame
/// that does not decode (written by an incompatible build) is skipped, a
/// torn last frame ends the read.
fn read_segment(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        // No records of this id in the span, or pruned since listed.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(frame) = next_frame(&bytes, at) {
        if let Ok(record) = Record::decode(&bytes[frame.clone()]) {
            records.push(record);
        }
        at = frame.end;
    }
    Ok(records)
}

/// The payload range of the frame starting at `at`, if it is whole.
fn next_frame(bytes: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    let header = bytes.get(at..at.checked_add(4)?)?;
    let len = u32::from_le_bytes(header.try_into().ok()?) as usize;
    let start = at + 4;
    let end = start.checked_add(len)?;
    (end <= bytes.len()).then_some(start..end)
}

/// Cuts a segment back to its last whole frame (a crash mid-append left a
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

    #[test]
    fn a_window_reads_its_records_in_order_across_segments() {
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
        assert_eq!(log.corridor_ids().unwrap(), ["cor-1", "cor-2"]);
        // The id names a directory only through its hex.
        assert!(log.read("../..", &window).unwrap().is_empty());
    }

    #[test]
    fn pruning_removes_exactly_the_segments_retention_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        let records: Vec<Record> = (0..10).map(|i| sample(i * 1_000 + 500, i as u64)).collect();
        log.append("cor-1", &records).unwrap();
        log.append("cor-2", &records[..2]).unwrap();
        let retention = std::time::Duration::from_secs(5);
        // At 9 s the cut-off is 4 s: the segments [0, 1 s) … [3 s, 4 s)
        // hold only older records; [4 s, 5 s) may hold younger ones.
        let pruned = log.prune(ms(9_000), retention).unwrap();
        assert_eq!(pruned.segments, 4 + 2, "{pruned:?}");
        let left: Vec<i64> = log
            .read("cor-1", &everything())
            .unwrap()
            .iter()
            .map(|r| r.at_us() / 1000)
            .collect();
        assert_eq!(left, (4..10).map(|i| i * 1_000 + 500).collect::<Vec<_>>());
        // cor-2 had only expired segments: it has no history left, and
        // the expired spans' directories are gone.
        assert_eq!(log.corridor_ids().unwrap(), ["cor-1"]);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 6);
        assert!(pruned.bytes > 0);
        // Nothing more to remove at the same time.
        assert_eq!(log.prune(ms(9_000), retention).unwrap(), Pruned::default());
    }

    fn revisions(log: &HistoryLog, id: &str) -> Vec<u64> {
        log.read(id, &everything())
            .unwrap()
            .iter()
            .map(Record::revision)
            .collect()
    }

    #[test]
    fn an_append_after_pruning_removed_its_open_segment_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        log.append("cor-1", &[sample(500, 1)]).unwrap();
        let retention = std::time::Duration::from_secs(5);
        assert_eq!(log.prune(ms(9_000), retention).unwrap().segments, 1);
        // A late record for the same span: written to a segment that
        // exists, not to the removed file still open.
        log.append("cor-1", &[sample(600, 2)]).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [2]);
    }

    #[test]
    fn more_ids_than_open_segments_keep_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        let ids: Vec<String> = (0..OPEN_SEGMENTS + 7).map(|i| format!("cor-{i}")).collect();
        for round in 0..3u64 {
            for id in &ids {
                log.append(id, &[sample(1_000 + round as i64, round)])
                    .unwrap();
            }
        }
        assert!(crate::corridors::lock(&log.appending).open.len() <= OPEN_SEGMENTS);
        for id in &ids {
            assert_eq!(revisions(&log, id), [0, 1, 2], "{id}");
        }
        // Closed and appended to again: the same segment, found by name.
        log.close("cor-0");
        log.append("cor-0", &[sample(1_500, 3)]).unwrap();
        assert_eq!(revisions(&log, "cor-0"), [0, 1, 2, 3]);
        let files = fs::read_dir(dir.path())
            .unwrap()
            .flat_map(|span| segments_in(&span.unwrap().path()).unwrap())
            .filter(|(id, _)| id == "cor-0")
            .count();
        assert_eq!(files, 1);
    }

    #[test]
    fn files_of_the_per_corridor_layout_are_moved_into_their_spans() {
        let dir = tempfile::tempdir().unwrap();
        // The earlier layout: <hex of the id>/<start>-<end>.seg.
        let old = dir.path().join("636f722d31"); // "cor-1"
        fs::create_dir(&old).unwrap();
        let frame = |record: Record| {
            let bytes = record.encode();
            let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            framed
        };
        fs::write(
            old.join("0000000000000-0000000001000.seg"),
            frame(sample(500, 1)),
        )
        .unwrap();
        fs::write(
            old.join("0000000001000-0000000002000.seg"),
            frame(sample(1_500, 2)),
        )
        .unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [1, 2]);
        assert!(!old.exists());
        log.append("cor-1", &[sample(1_600, 3)]).unwrap();
        assert_eq!(revisions(&log, "cor-1"), [1, 2, 3]);
        assert_eq!(log.corridor_ids().unwrap(), ["cor-1"]);
    }

    #[test]
    fn only_segments_found_on_disk_are_remembered_as_checked() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        for i in 0..5 {
            log.append(&format!("cor-{i}"), &[sample(1_000, i)])
                .unwrap();
        }
        assert!(
            crate::corridors::lock(&log.checked).is_empty(),
            "segments it created"
        );
        // A fresh log (a restart) finds cor-0's segment on disk: checked once.
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        log.append("cor-0", &[sample(2_000, 7)]).unwrap();
        log.append("cor-9", &[sample(2_000, 8)]).unwrap();
        assert_eq!(crate::corridors::lock(&log.checked).len(), 1);
    }

    #[test]
    fn a_torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        log.append("cor-1", &[sample(1_000, 1)]).unwrap();
        let path = log.segment_path(Span::holding(1_000, 10_000), "cor-1");
        // A crash mid-append: half a frame.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(file);
        // A new process (a fresh log) appends after it.
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        log.append("cor-1", &[sample(2_000, 2)]).unwrap();
        let revisions: Vec<u64> = log
            .read("cor-1", &everything())
            .unwrap()
            .iter()
            .map(Record::revision)
            .collect();
        assert_eq!(revisions, [1, 2]);
    }

    #[test]
    fn the_latest_change_is_found_in_the_newest_segment_holding_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 1_000).unwrap();
        let change = |at_ms: i64, revision| {
            Record::Change(super::super::record::StoredChange {
                at_us: at_ms * 1000,
                revision,
                change: 1,
                object: b"{}".to_vec(),
            })
        };
        log.append("cor-1", &[change(500, 3), change(700, 4), sample(5_500, 9)])
            .unwrap();
        assert_eq!(log.latest_change("cor-1").unwrap().unwrap().revision, 4);
        assert!(log.latest_change("cor-2").unwrap().is_none());
    }
}

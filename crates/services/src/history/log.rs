//! The history's files: per corridor, one append-only segment file per
//! time span, removed whole when retention has passed it.
//!
//! Layout: `<dir>/<hex of the corridor id>/<start ms>-<end ms>.seg`. The
//! id is hex-encoded so that no id, whatever it holds, names another path;
//! the span is in the name so a segment keeps its own bounds when the
//! retention (and with it the span of new segments) is changed between
//! runs. A segment is a sequence of frames, a little-endian `u32` length
//! then a postcard [`Record`].
//!
//! Nothing is fsynced: history is an observation kept for looking back,
//! not an acknowledged write, and a crash loses only what the page cache
//! had not written back. A frame torn by a crash is cut when the segment
//! is next appended to, so later frames stay readable.

use std::collections::HashSet;
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
    /// Length of a new segment's span.
    span_ms: i64,
    /// Segments whose tail this process has checked (and cut if torn).
    checked: Mutex<HashSet<PathBuf>>,
}

impl HistoryLog {
    /// The log in `dir` (created if missing) with new segments `span_ms`
    /// long.
    pub fn open(dir: &Path, span_ms: i64) -> io::Result<HistoryLog> {
        fs::create_dir_all(dir)?;
        Ok(HistoryLog {
            dir: dir.to_path_buf(),
            span_ms,
            checked: Mutex::new(HashSet::new()),
        })
    }

    fn corridor_dir(&self, id: &str) -> PathBuf {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(hex)
    }

    /// Appends `records` of corridor `id`, each to the segment of its
    /// wall time.
    pub fn append(&self, id: &str, records: &[Record]) -> io::Result<()> {
        let dir = self.corridor_dir(id);
        fs::create_dir_all(&dir)?;
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
        for (span, frames) in by_segment {
            let path = self
                .existing_segment(&dir, span.start_ms)?
                .unwrap_or_else(|| {
                    dir.join(format!("{:013}-{:013}.seg", span.start_ms, span.end_ms))
                });
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)?;
            let first_use = crate::corridors::lock(&self.checked).insert(path.clone());
            if first_use {
                cut_torn_tail(&mut file)?;
            }
            // One write per segment per call: concurrent readers see whole
            // frames or a tail they stop at.
            file.write_all(&frames)?;
        }
        Ok(())
    }

    /// A segment of `dir` whose span holds `start_ms` (one made under
    /// another span length), if any.
    fn existing_segment(&self, dir: &Path, at_ms: i64) -> io::Result<Option<PathBuf>> {
        Ok(segments(dir)?
            .into_iter()
            .find(|(span, _)| span.start_ms <= at_ms && at_ms < span.end_ms)
            .map(|(_, path)| path))
    }

    /// Corridor `id`'s records in `window`, ordered by wall time then store
    /// revision.
    pub fn read(&self, id: &str, window: &Window) -> io::Result<Vec<Record>> {
        let dir = self.corridor_dir(id);
        let mut records = Vec::new();
        for (span, path) in segments(&dir)? {
            if !span.overlaps(window) {
                continue;
            }
            for record in read_segment(&path)? {
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
        let dir = self.corridor_dir(id);
        let mut spans = segments(&dir)?;
        spans.sort_by_key(|(span, _)| std::cmp::Reverse(*span));
        for (_, path) in spans {
            let newest = read_segment(&path)?
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

    /// Removes every segment retention has passed at `now`, and the
    /// directories of corridors left with none.
    pub fn prune(&self, now: DateTime<Utc>, retention: std::time::Duration) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        for entry in fs::read_dir(&self.dir)? {
            let dir = entry?.path();
            if !dir.is_dir() {
                continue;
            }
            let all = segments(&dir)?;
            let mut left = all.len();
            for (span, path) in all {
                if span.expired(now, retention) {
                    let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    match fs::remove_file(&path) {
                        Ok(()) => {
                            pruned.segments += 1;
                            pruned.bytes += bytes;
                            left -= 1;
                            crate::corridors::lock(&self.checked).remove(&path);
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => left -= 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            if left == 0 {
                // A concurrent append may have just created a segment:
                // then the directory is not empty and stays.
                let _ = fs::remove_dir(&dir);
            }
        }
        Ok(pruned)
    }

    /// The ids of the corridors that have history files.
    pub fn corridor_ids(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if let Some(id) = entry.file_name().to_str().and_then(unhex) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Bytes the history holds on disk (every segment file).
    pub fn bytes_on_disk(&self) -> io::Result<u64> {
        let mut total = 0;
        for entry in fs::read_dir(&self.dir)? {
            let dir = entry?.path();
            if dir.is_dir() {
                for (_, path) in segments(&dir)? {
                    total += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        Ok(total)
    }
}

/// The id a corridor directory's hex name encodes.
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

/// The segment files of a corridor directory with their spans (none if
/// the directory does not exist); files of other names are ignored.
fn segments(dir: &Path) -> io::Result<Vec<(Span, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if let Some(span) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_segment_name)
        {
            found.push((span, path));
        }
    }
    Ok(found)
}

fn parse_segment_name(name: &str) -> Option<Span> {
    let (start, end) = name.strip_suffix(".seg")?.split_once('-')?;
    let span = Span {
        start_ms: start.parse().ok()?,
        end_ms: end.parse().ok()?,
    };
    (span.start_ms < span.end_ms).then_some(span)
}

/// Every whole frame of a segment; a frame that does not decode (written
/// by an incompatible build) is skipped, a torn last frame ends the read.
fn read_segment(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        // Pruned between listing and reading.
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
        // cor-2 had only expired segments: its directory is gone too.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(pruned.bytes > 0);
        // Nothing more to remove at the same time.
        assert_eq!(log.prune(ms(9_000), retention).unwrap(), Pruned::default());
    }

    #[test]
    fn a_torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = HistoryLog::open(dir.path(), 10_000).unwrap();
        log.append("cor-1", &[sample(1_000, 1)]).unwrap();
        let (_, path) = segments(&log.corridor_dir("cor-1")).unwrap().remove(0);
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

//! The audit log: one JSON line per mutating call and per denial in
//! `<state_dir>/audit.log`, append-only, `0600`, rotated by size.
//!
//! A single writer thread owns the file. A mutating request's record must
//! be durable before the request is answered, and there are two ways it
//! gets there:
//!
//! - **Riding the store's write** (the embedded store with its log): before
//!   the handler runs, the record as it stands (everything but the status)
//!   becomes a note ([`corridor_store::rider`]) that the request's first
//!   store write carries in its own log record, so the one fdatasync the
//!   request waits for anyway covers it. Once answered, the complete line
//!   (with the status) is handed to the writer without a wait; until it is
//!   written the note stays "pending" here, and the store keeps every note
//!   in its log until this log has synced it ([`NoteSink::settle`], once
//!   per store checkpoint, or the store logs the note again). After a
//!   crash, notes the store finds in its log whose line never reached this
//!   file are written as they are: the request committed, its status is
//!   not known (`detail` says so).
//! - **Its own sync**, for denials, requests that wrote nothing, and stores
//!   that cannot carry notes (etcd): the writer takes every record waiting
//!   in its queue, writes them, and makes them durable with one `fdatasync`
//!   before acknowledging any of them (a group commit, as the store's).
//!
//! A line and its note are told apart from other requests' by the request
//! id and the time the request arrived (request ids restart with the
//! process).
//!
//! Nothing waits for a carried request's line, for the notes a store write
//! made durable or for an abandoned request, so those are deferred: queued
//! without waking the writer, which collects them at most [`LINGER`] after
//! the first, or sooner with the next record something waits for, and
//! writes them with one `write`. Waking a thread per request cost about a
//! tenth of corridord's CPU in the corridor grant benchmark.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use corridor_store::{NoteSink, Rider, StateStore, StoreError};
use serde::{Deserialize, Serialize};

use crate::config::AuditSettings;

/// File name of the live audit log in the state directory.
pub const AUDIT_FILE: &str = "audit.log";

/// How long the writer lets deferred jobs gather before it writes them.
pub const LINGER: Duration = Duration::from_millis(5);

/// What a recovered note says in place of the status it never got.
pub const COMMITTED_UNANSWERED: &str = "the request's store write committed; the process stopped or the client left before the response was recorded, so the status is not known";

/// One audit record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// When the request arrived, RFC 3339, UTC.
    pub time: String,
    pub request_id: String,
    /// `admin`, `read-only`, `domain/tenantA`, `anonymous`, …
    pub principal: String,
    /// Serial of the client certificate, when one was presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Method and route template, e.g. `POST /v1/corridors/{id}/lease`.
    pub action: String,
    /// The path as requested.
    pub resource: String,
    /// `allowed` or `denied`.
    pub result: &'static str,
    /// The HTTP status the caller got; absent only in a record recovered
    /// from the store's log (see `detail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why a request was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set on a record written from a note the store carried, when the
    /// request's own line was never written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

/// Which request a line or note belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
struct Key {
    request_id: String,
    time: String,
}

impl Key {
    fn of(entry: &AuditEntry) -> Key {
        Key {
            request_id: entry.request_id.clone(),
            time: entry.time.clone(),
        }
    }

    fn parse(line: &[u8]) -> Option<Key> {
        serde_json::from_slice(line).ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the audit log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot have the state store carry audit records")]
    Attach(#[source] StoreError),
}

#[derive(Debug)]
enum Job {
    /// A line to write, answered once it is durable.
    Synced(String, tokio::sync::oneshot::Sender<()>),
    /// The complete line of a request whose note a durable store write
    /// carried: written without a sync of its own.
    Completed(Key, String),
    /// A request ended without a line (its handler was dropped when the
    /// client went away): its note, if a durable write carried it (or
    /// carries it shortly: the write may still be queued in the store), is
    /// written as it is.
    Abandoned(Key),
    /// Notes the store has just made durable.
    Committed(Vec<Arc<[u8]>>),
    /// The store is about to drop the notes it holds: sync, then answer
    /// those still waiting for their line.
    Settle(mpsc::SyncSender<std::io::Result<Vec<Arc<[u8]>>>>),
    /// Notes the store found in its log on open.
    Recovered(Vec<Arc<[u8]>>, mpsc::SyncSender<std::io::Result<()>>),
    /// Deferred jobs are waiting: collect them within [`LINGER`].
    Deferred,
    /// Write everything queued so far and sync, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The writer's two queues: jobs something waits for, which wake it, and
/// deferred ones, which wake it only when the first of a batch arrives.
#[derive(Debug, Clone)]
struct Queue {
    wakes: mpsc::Sender<Job>,
    deferred: Arc<Mutex<Vec<Job>>>,
}

impl Queue {
    /// Queues a job the caller waits for (or that must be seen at once).
    fn send(&self, job: Job) -> Result<(), mpsc::SendError<Job>> {
        self.wakes.send(job)
    }

    /// Queues a job nothing waits for, in order with the other deferred
    /// jobs.
    fn defer(&self, job: Job) -> Result<(), mpsc::SendError<Job>> {
        let first = {
            let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
            deferred.push(job);
            deferred.len() == 1
        };
        if first && let Err(stopped) = self.wakes.send(Job::Deferred) {
            // No writer to collect them: drop what was queued rather than
            // let it grow.
            self.deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            return Err(stopped);
        }
        Ok(())
    }
}

/// Handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: Queue,
    path: PathBuf,
    /// Whether the store carries notes (see the module documentation).
    carried: Arc<AtomicBool>,
}

impl AuditLog {
    /// Opens (or creates) `dir/audit.log` and starts the writer thread.
    pub fn open(dir: &Path, settings: AuditSettings) -> Result<AuditLog, AuditError> {
        let path = dir.join(AUDIT_FILE);
        let writer = Writer::open(path.clone(), settings)?;
        let (wakes, jobs) = mpsc::channel::<Job>();
        let queue = Queue {
            wakes,
            deferred: Arc::default(),
        };
        let deferred = Arc::clone(&queue.deferred);
        std::thread::Builder::new()
            .name("corridord-audit".into())
            .spawn(move || writer.run(jobs, &deferred))
            .map_err(|source| AuditError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(AuditLog {
            queue,
            path,
            carried: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets `store` carry this log's records with its writes, where it can,
    /// and writes the records it recovered from its log. Returns whether it
    /// carries them.
    pub async fn attach(&self, store: &dyn StateStore) -> Result<bool, AuditError> {
        let sink = Arc::new(Sink {
            queue: self.queue.clone(),
        });
        let carried = store.carry_notes(sink).await.map_err(AuditError::Attach)?;
        self.carried.store(carried, Ordering::Release);
        Ok(carried)
    }

    /// Appends `entry` and waits until it is durable.
    pub async fn record(&self, entry: &AuditEntry) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.queue.send(Job::Synced(line(entry), done)).is_err() {
            tracing::error!("audit writer has stopped; record lost");
            return;
        }
        let _ = written.await;
    }

    /// Writes every record queued so far, deferred ones included, and
    /// waits until they are durable: for a clean stop.
    pub async fn flush(&self) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.queue.send(Job::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// The note a mutating request's store write can carry: `entry` as it
    /// stands before the handler runs, to be written as it is if the
    /// request's own line never is. `None` when the store carries no notes.
    pub fn rider(&self, entry: &AuditEntry) -> Option<Pending> {
        if !self.carried.load(Ordering::Acquire) {
            return None;
        }
        let note = AuditEntry {
            status: None,
            detail: Some(COMMITTED_UNANSWERED),
            ..entry.clone()
        };
        let note = serde_json::to_vec(&note).expect("audit entries serialise");
        Some(Pending {
            rider: Rider::new(note),
            key: Key::of(entry),
            queue: self.queue.clone(),
            finished: false,
        })
    }

    /// Records a mutating request's outcome: without a wait if `pending`
    /// rode a durable store write (its note is on disk, see the module
    /// documentation), else durably before returning.
    pub async fn finish(&self, pending: Option<Pending>, entry: &AuditEntry) {
        if let Some(mut pending) = pending
            && pending.rider.is_durable()
        {
            pending.finished = true;
            if self
                .queue
                .defer(Job::Completed(Key::of(entry), line(entry)))
                .is_err()
            {
                tracing::error!("audit writer has stopped; the record is in the store's log");
            }
            return;
        }
        self.record(entry).await;
    }
}

fn line(entry: &AuditEntry) -> String {
    let mut line = serde_json::to_string(entry).expect("audit entries serialise");
    line.push('\n');
    line
}

/// A mutating request's note while its handler runs. Dropped unfinished
/// (the client went away and the handler with it), it has the note written
/// as the request's line if a durable write carried it.
#[derive(Debug)]
pub struct Pending {
    rider: Rider,
    key: Key,
    queue: Queue,
    finished: bool,
}

impl Pending {
    pub fn rider(&self) -> Rider {
        self.rider.clone()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.queue.defer(Job::Abandoned(self.key.clone()));
        }
    }
}

/// The writer thread as the store's note sink. Its calls block the store's
/// writer thread only for `settle` and `recovered`, which wait for this
/// log's writer to sync.
#[derive(Debug)]
struct Sink {
    queue: Queue,
}

fn stopped() -> std::io::Error {
    std::io::Error::other("the audit writer has stopped")
}

impl NoteSink for Sink {
    fn committed(&self, notes: Vec<Arc<[u8]>>) {
        let _ = self.queue.defer(Job::Committed(notes));
    }

    fn settle(&self) -> std::io::Result<Vec<Arc<[u8]>>> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue.send(Job::Settle(reply)).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    fn recovered(&self, notes: Vec<Arc<[u8]>>) -> std::io::Result<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue
            .send(Job::Recovered(notes, reply))
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

struct Writer {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    settings: AuditSettings,
    /// Notes a durable store write carried whose request's line is not
    /// written yet.
    pending: HashMap<Key, Arc<[u8]>>,
    /// Requests that ended without a line before a write carrying their
    /// note was committed (it may still be queued in the store), with the
    /// settle count when they ended; forgotten two settles later, by when
    /// any such write has long been committed.
    abandoned: HashMap<Key, u64>,
    settles: u64,
    /// Lines of the batch being applied, written by [`Writer::flush`].
    unwritten: Vec<u8>,
}

fn open_append(path: &Path) -> Result<std::fs::File, AuditError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        })
}

impl Writer {
    fn open(path: PathBuf, settings: AuditSettings) -> Result<Writer, AuditError> {
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path,
            file,
            size,
            settings,
            pending: HashMap::new(),
            abandoned: HashMap::new(),
            settles: 0,
            unwritten: Vec::new(),
        })
    }

    fn run(mut self, jobs: mpsc::Receiver<Job>, deferred: &Mutex<Vec<Job>>) {
        // When the deferred jobs queued since the last collection are due.
        let mut due: Option<Instant> = None;
        loop {
            let woken = match due {
                None => jobs
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(at) => jobs.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            let mut batch = Vec::new();
            let stopping = match woken {
                Ok(first) => {
                    batch.push(first);
                    batch.extend(jobs.try_iter());
                    false
                }
                Err(mpsc::RecvTimeoutError::Timeout) => false,
                Err(mpsc::RecvTimeoutError::Disconnected) => true,
            };
            let deferred_waiting = batch.iter().any(|job| matches!(job, Job::Deferred));
            let collect = stopping
                || due.is_some_and(|at| Instant::now() >= at)
                || batch.iter().any(|job| !matches!(job, Job::Deferred));
            if collect {
                // Deferred jobs first: a record something waits for, or a
                // settle, must find every line and note queued before it.
                let taken =
                    std::mem::take(&mut *deferred.lock().unwrap_or_else(|e| e.into_inner()));
                batch.splice(0..0, taken);
                due = None;
            } else if deferred_waiting && due.is_none() {
                due = Some(Instant::now() + LINGER);
            }
            self.apply(batch);
            if stopping {
                return;
            }
        }
    }

    /// Writes a batch of jobs' lines with one `write`, and syncs once if a
    /// job waits for durability.
    fn apply(&mut self, batch: Vec<Job>) {
        let mut acks = Vec::new();
        let mut settles_waiting = Vec::new();
        for job in batch {
            match job {
                Job::Synced(line, ack) => {
                    self.write(line.as_bytes());
                    acks.push(ack);
                }
                Job::Flush(ack) => acks.push(ack),
                Job::Completed(key, line) => {
                    self.write(line.as_bytes());
                    self.pending.remove(&key);
                }
                Job::Abandoned(key) => match self.pending.remove(&key) {
                    Some(note) => self.write_note(&note),
                    None => {
                        self.abandoned.insert(key, self.settles);
                    }
                },
                Job::Committed(notes) => {
                    for note in notes {
                        match Key::parse(&note) {
                            Some(key) if self.abandoned.remove(&key).is_some() => {
                                self.write_note(&note);
                            }
                            Some(key) => {
                                self.pending.insert(key, note);
                            }
                            None => tracing::error!("a carried audit note does not parse"),
                        }
                    }
                }
                Job::Settle(reply) => {
                    self.settles += 1;
                    let settles = self.settles;
                    self.abandoned.retain(|_, at| *at + 2 > settles);
                    settles_waiting.push(reply);
                }
                Job::Recovered(notes, reply) => {
                    self.flush();
                    let _ = reply.send(self.recover(notes));
                }
                Job::Deferred => {}
            }
        }
        self.flush();
        if acks.is_empty() && settles_waiting.is_empty() {
            return;
        }
        let synced = self.file.sync_data();
        if let Err(error) = &synced {
            tracing::error!(%error, path = %self.path.display(), "audit fsync failed");
        }
        for ack in acks {
            let _ = ack.send(());
        }
        for reply in settles_waiting {
            let _ = reply.send(match &synced {
                Ok(()) => Ok(self.pending.values().cloned().collect()),
                Err(error) => Err(std::io::Error::new(error.kind(), error.to_string())),
            });
        }
    }

    /// Appends `line` to the lines the next [`Writer::flush`] writes,
    /// rotating first when it would take the file past its size.
    fn write(&mut self, line: &[u8]) {
        let size = self.size + self.unwritten.len() as u64;
        if size > 0 && size + line.len() as u64 > self.settings.max_bytes {
            self.flush();
            self.rotate();
        }
        self.unwritten.extend_from_slice(line);
    }

    fn flush(&mut self) {
        if self.unwritten.is_empty() {
            return;
        }
        match self.file.write_all(&self.unwritten) {
            Ok(()) => self.size += self.unwritten.len() as u64,
            Err(error) => {
                tracing::error!(%error, path = %self.path.display(), "audit write failed")
            }
        }
        self.unwritten.clear();
    }

    fn write_note(&mut self, note: &[u8]) {
        let mut line = Vec::with_capacity(note.len() + 1);
        line.extend_from_slice(note);
        line.push(b'\n');
        self.write(&line);
    }

    /// Writes the recovered notes whose line is in neither the live file
    /// nor the last rotated one (a line is written after its note was
    /// carried, so it cannot be older than that), then syncs.
    fn recover(&mut self, notes: Vec<Arc<[u8]>>) -> std::io::Result<()> {
        let mut written = HashSet::new();
        for path in [
            self.path.clone(),
            PathBuf::from(format!("{}.1", self.path.display())),
        ] {
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            for line in std::io::BufReader::new(file).split(b'\n') {
                if let Some(key) = Key::parse(&line?) {
                    written.insert(key);
                }
            }
        }
        let mut restored = 0;
        for note in notes {
            match Key::parse(&note) {
                Some(key) if written.contains(&key) => {}
                Some(key) => {
                    self.write_note(&note);
                    written.insert(key);
                    restored += 1;
                }
                None => tracing::error!("a recovered audit note does not parse"),
            }
        }
        if restored > 0 {
            tracing::warn!(
                restored,
                "audit records of committed requests restored from the store's log"
            );
        }
        self.flush();
        self.file.sync_data()
    }

    /// `audit.log` becomes `audit.log.1`, `.1` becomes `.2`, … and the
    /// oldest beyond `keep` is deleted.
    fn rotate(&mut self) {
        let _ = self.file.sync_data();
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(numbered(self.settings.keep));
        for n in (1..self.settings.keep).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        if let Err(error) = std::fs::rename(&self.path, numbered(1)) {
            tracing::error!(%error, "audit rotation failed; continuing in the same file");
            return;
        }
        match open_append(&self.path) {
            Ok(file) => {
                self.file = file;
                self.size = 0;
            }
            Err(error) => tracing::error!(error = %error, "cannot reopen the audit log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            time: "2026-01-01T00:00:00Z".into(),
            request_id: format!("req-{n}"),
            principal: "admin".into(),
            serial: None,
            action: "POST /v1/corridors".into(),
            resource: "/v1/corridors".into(),
            result: "allowed",
            status: Some(201),
            reason: None,
            detail: None,
        }
    }

    #[tokio::test]
    async fn records_are_json_lines_0600_and_rotate_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            max_bytes: 1024,
            keep: 2,
        };
        let log = AuditLog::open(dir.path(), settings).unwrap();
        for n in 0..40 {
            log.record(&entry(n)).await;
        }
        let mode = std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let live = std::fs::read_to_string(log.path()).unwrap();
        assert!(live.len() <= 1024, "{}", live.len());
        let last: serde_json::Value = serde_json::from_str(live.lines().last().unwrap()).unwrap();
        assert_eq!(last["request_id"], "req-39");
        assert!(dir.path().join("audit.log.1").exists());
        assert!(dir.path().join("audit.log.2").exists());
        assert!(!dir.path().join("audit.log.3").exists());
    }

    fn copy_dir(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    fn lines(dir: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join(AUDIT_FILE))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn open_with_store(
        dir: &Path,
    ) -> (AuditLog, std::sync::Arc<dyn corridor_store::StateStore>) {
        let store: std::sync::Arc<dyn corridor_store::StateStore> = std::sync::Arc::new(
            corridor_store::RedbStore::open(dir.join("store.redb"), Default::default()).unwrap(),
        );
        let log = AuditLog::open(dir, AuditSettings::default()).unwrap();
        assert!(
            log.attach(store.as_ref()).await.unwrap(),
            "redb carries notes"
        );
        (log, store)
    }

    /// A write whose request's record rode it: the store's log holds the
    /// record until the audit log has it, so when the process stops after
    /// the write but before the record's own line (here: the request's
    /// state is forgotten, as a crash would), the record is written on the
    /// next start, once, with no status. A record whose line was written is
    /// not written again.
    #[tokio::test]
    async fn a_carried_record_survives_a_crash_before_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let (log, store) = open_with_store(dir.path()).await;
        // One request answered normally.
        let answered = log.rider(&entry(1)).unwrap();
        corridor_store::rider::carry(answered.rider(), store.put("/a", b"1".to_vec(), None))
            .await
            .unwrap();
        assert!(answered.rider().is_durable());
        log.finish(Some(answered), &entry(1)).await;
        // One whose process "dies" after its write was acknowledged.
        let cut = log.rider(&entry(2)).unwrap();
        corridor_store::rider::carry(cut.rider(), store.put("/b", b"2".to_vec(), None))
            .await
            .unwrap();
        assert!(cut.rider().is_durable());
        std::mem::forget(cut);
        // A synced record after both: everything queued before it is written.
        log.record(&entry(3)).await;

        // The files as a crash would leave them (redb's last commits were
        // not synced; the log replays them).
        let crashed = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), crashed.path());
        let before: Vec<_> = lines(crashed.path());
        assert!(
            !before.iter().any(|l| l["request_id"] == "req-2"),
            "{before:?}"
        );
        let (_, reopened) = open_with_store(crashed.path()).await;
        assert!(reopened.get("/b").await.unwrap().is_some());
        let after = lines(crashed.path());
        let of = |id: &str| -> Vec<&serde_json::Value> {
            after.iter().filter(|l| l["request_id"] == id).collect()
        };
        assert_eq!(of("req-1").len(), 1, "{after:?}");
        assert_eq!(of("req-1")[0]["status"], 201);
        assert_eq!(of("req-2").len(), 1, "{after:?}");
        assert_eq!(of("req-2")[0]["result"], "allowed");
        assert!(of("req-2")[0].get("status").is_none(), "{after:?}");
        assert_eq!(of("req-2")[0]["detail"], COMMITTED_UNANSWERED);

        // A store checkpoint (here: the final one as it closes) keeps the
        // record the audit log still lacks in its emptied log.
        drop(store);
        let closed = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), closed.path());
        let (_, _reopened) = open_with_store(closed.path()).await;
        let after = lines(closed.path());
        assert_eq!(
            after.iter().filter(|l| l["request_id"] == "req-2").count(),
            1,
            "{after:?}"
        );
    }

    /// A log with the lines of requests 0..n deferred, as carried requests'.
    fn with_deferred_lines(dir: &Path, n: usize) -> AuditLog {
        let log = AuditLog::open(dir, AuditSettings::default()).unwrap();
        for request in 0..n {
            log.queue
                .defer(Job::Completed(
                    Key::of(&entry(request)),
                    line(&entry(request)),
                ))
                .unwrap();
        }
        log
    }

    /// A carried request's line is deferred, not lost: it reaches the file
    /// within about [`LINGER`] with nothing else to wake the writer (no
    /// store here, whose checkpoints would).
    #[tokio::test]
    async fn a_deferred_line_is_written_without_another_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = with_deferred_lines(dir.path(), 3);
        let deadline = Instant::now() + LINGER * 200;
        loop {
            let written = std::fs::read_to_string(log.path()).unwrap_or_default();
            if written.lines().count() == 3 {
                assert!(written.contains("\"req-2\""), "{written}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the lines never came: {written:?}"
            );
            tokio::time::sleep(LINGER).await;
        }
    }

    /// A flush writes the deferred lines at once, before it returns (a
    /// clean stop relies on it).
    #[tokio::test]
    async fn a_flush_writes_the_deferred_lines_before_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let log = with_deferred_lines(dir.path(), 3);
        log.flush().await;
        let written = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(written.lines().count(), 3, "{written}");
    }

    /// A request whose client went away after its write committed (the
    /// handler, and its pending record, dropped): its note becomes its line,
    /// whether the write was committed before or after the drop.
    #[tokio::test]
    async fn an_abandoned_request_keeps_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let (log, store) = open_with_store(dir.path()).await;
        let committed_first = log.rider(&entry(1)).unwrap();
        corridor_store::rider::carry(
            committed_first.rider(),
            store.put("/a", b"1".to_vec(), None),
        )
        .await
        .unwrap();
        drop(committed_first);
        // Dropped while its write is still on its way to the store.
        let dropped_first = log.rider(&entry(2)).unwrap();
        let rider = dropped_first.rider();
        drop(dropped_first);
        corridor_store::rider::carry(rider, store.put("/b", b"2".to_vec(), None))
            .await
            .unwrap();
        log.record(&entry(3)).await;
        let written = lines(dir.path());
        for id in ["req-1", "req-2"] {
            let of: Vec<_> = written.iter().filter(|l| l["request_id"] == id).collect();
            assert_eq!(of.len(), 1, "{id}: {written:?}");
            assert_eq!(of[0]["detail"], COMMITTED_UNANSWERED);
        }
    }
}

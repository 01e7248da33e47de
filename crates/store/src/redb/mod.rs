//! [`StateStore`] on a single redb file: crash-safe, one process, one machine.
//!
//! Layout: [`schema`] (tables and encoding), [`writer`] (the group-commit
//! thread, which also expires leases), [`apply`] (what a batch does to the
//! tables), [`reader`] (snapshot reads), [`event_log`] (every revision's
//! events, in files of their own), [`watch`] (history replay + live
//! events), [`lease`] (the writer's deadline index).

mod apply;
mod disk;
mod event_log;
mod lease;
mod logs;
mod reader;
mod schema;
mod wal;
mod watch;
mod write_behind;
mod writer;

pub use self::disk::{Disk, LocalDisk, LogFile};
pub use self::event_log::event_log_paths;
pub use self::lease::{LeaseClock, SystemLeaseClock};
pub use self::wal::{WalError, pending_records as wal_pending_records};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, DatabaseError, ReadableTable, TableError};
use tokio::sync::{broadcast, oneshot};

use self::apply::{Counters, backend};
use self::event_log::EventLog;
use self::lease::LeaseIndex;
use self::logs::WalState;
use self::schema::{
    INITIAL_REVISION, KEYS, LEASES, LEGACY_EVENTS, LEGACY_LEASE_KEYS, META, META_COMPACTED,
    META_NEXT_LEASE, META_REVISION, META_WAL_SEQ,
};
use self::write_behind::WriteBehind;
use self::writer::{Command, Reply, Writer, WriterConfig};
use crate::rider::{self, NoteSink};
use crate::{
    KeyValue, LeaseId, LeaseInfo, LeasedTxn, RangeRequest, RangeResponse, Revision, StateStore,
    StoreError, Txn, TxnResponse, WatchStream,
};

/// Tuning for [`RedbStore::open`]. The defaults suit a control plane.
#[derive(Debug, Clone)]
pub struct RedbOptions {
    /// How many of the latest revisions the event log keeps for watches that
    /// resume (0 keeps all). Older ones are compacted as writes go on.
    pub retain_revisions: u64,
    /// The most requests one group commit takes.
    pub max_batch: usize,
    /// Revisions buffered per watcher before a slow one is cancelled with
    /// [`StoreError::WatchLagged`].
    pub watch_buffer: usize,
    /// redb's page cache.
    pub cache_size_bytes: usize,
    /// Acknowledge a batch once its record is fsync'd to a write-ahead log
    /// beside the file (`<file>.wal`) and checkpoint redb durably every
    /// 250 ms, instead of a durable redb commit per batch. Equally durable;
    /// about twice the write throughput (BENCHMARKS.md).
    pub write_ahead_log: bool,
    /// With the log: how long acknowledged writes may live only in the log
    /// before a durable redb commit empties it (bounds replay after a crash).
    pub checkpoint_interval: Duration,
    /// With the log: write a checkpoint's pages and sync them on a thread of
    /// their own, so the writer goes on answering meanwhile (the log is
    /// emptied once they are on disk). Off, the writer does that I/O itself
    /// and every request waits for it, about 20 ms per checkpoint under load
    /// (BENCHMARKS.md); kept as a switch for that comparison.
    pub checkpoint_write_behind: bool,
    /// The time leases are granted, renewed and expired by (the system's
    /// clock unless a replay drives time itself).
    pub lease_clock: Arc<dyn LeaseClock>,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            retain_revisions: 100_000,
            max_batch: 512,
            watch_buffer: 4096,
            cache_size_bytes: 64 * 1024 * 1024,
            write_ahead_log: true,
            checkpoint_interval: Duration::from_millis(250),
            checkpoint_write_behind: true,
            lease_clock: Arc::new(SystemLeaseClock),
        }
    }
}

/// The redb-backed store. Cheap to clone (all clones share one database);
/// the writer thread stops and the file is released when the last clone drops.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    db: Arc<Database>,
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Arc<apply::RevisionEvents>>,
    event_log: Arc<EventLog>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Set once a note sink is attached: writes then take their caller's
    /// rider along (`crate::rider`).
    carrying: AtomicBool,
    lease_clock: Arc<dyn LeaseClock>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store at `path`. Needs no async runtime: the writer
    /// is a plain thread. [`StoreError::AlreadyOpen`] if any handle, in this
    /// process or another, has the file open.
    pub fn open(path: impl AsRef<Path>, options: RedbOptions) -> Result<Self, StoreError> {
        Self::open_on(&LocalDisk, path, options)
    }

    /// [`RedbStore::open`] with the files on `disk` (which is only used while
    /// opening). Tests use it to put the store on storage that misbehaves.
    pub fn open_on(
        disk: &dyn Disk,
        path: impl AsRef<Path>,
        options: RedbOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut builder = Database::builder();
        builder.set_cache_size(options.cache_size_bytes);
        let uncreated = disk::discard_uncreated_database(disk, &path).map_err(|error| {
            let error = std::io::Error::new(error.kind(), format!("{}: {error}", path.display()));
            StoreError::backend("check the database file", error)
        })?;
        if uncreated {
            tracing::warn!(path = %path.display(), "the database file's creation was interrupted (no magic number); created again");
        }
        let file = disk.open_database(&path).map_err(|error| {
            let error = std::io::Error::new(error.kind(), format!("{}: {error}", path.display()));
            StoreError::backend("open the database file", error)
        })?;
        let event_log = Arc::new(EventLog::open(
            disk,
            &event_log_paths(&path),
            options.retain_revisions,
        )?);
        // Whatever redb is about to hold durably, the event log holds first
        // (see `event_log`).
        let sync_events: write_behind::BeforeWrite = {
            let event_log = Arc::clone(&event_log);
            Arc::new(move || event_log.sync())
        };
        // With the log, checkpoints are written behind the writer (the logs
        // hold what they cover until they are on disk); without it, every
        // commit is the acknowledgement and must be on disk when it returns.
        let (file, generations) = if options.write_ahead_log && options.checkpoint_write_behind {
            WriteBehind::new(file, sync_events)
                .map_err(|e| StoreError::backend("start the store file's write-behind", e))?
        } else {
            WriteBehind::through(file, sync_events)
        };
        let db = builder
            .create_with_backend(file)
            .map_err(|error| match error {
                DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::AlreadyOpen { path: path.clone() }
                }
                other => StoreError::backend("open the database file", other),
            })?;
        let db = Arc::new(db);
        let (mut counters, leases, wal_seq) = initialise(&db)?;
        adopt_legacy_events(&db, &event_log, counters.compacted)?;
        let floor = event_log.recover(counters.revision)?;
        // History the log lost reads as compacted (the next batch stores it).
        counters.compacted = counters.compacted.max(floor);

        let (commands, receiver) = mpsc::channel();
        let (events, _) = broadcast::channel(options.watch_buffer.max(1));
        let (wal, records) = match options.write_ahead_log {
            true => {
                let [first, second] = wal_paths(&path);
                let (active, records) = wal::Wal::open(disk, &first)?;
                let (standby, more) = wal::Wal::open(disk, &second)?;
                (
                    Some(WalState::new(
                        active,
                        standby,
                        generations,
                        wal_seq,
                        options.checkpoint_interval,
                    )),
                    logs::merge(records, more),
                )
            }
            false => (None, Vec::new()),
        };
        // Either file may have just been created: nothing is acknowledged
        // before their names are as durable as their contents.
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        disk.sync_directory(dir).map_err(|error| {
            let error = std::io::Error::new(error.kind(), format!("{}: {error}", dir.display()));
            StoreError::backend("sync the store's directory", error)
        })?;
        let mut writer = Writer {
            db: Arc::clone(&db),
            commands: receiver,
            events: events.clone(),
            event_log: Arc::clone(&event_log),
            counters,
            leases,
            config: WriterConfig {
                max_batch: options.max_batch.max(1),
                retain_revisions: options.retain_revisions,
            },
            clock: Arc::clone(&options.lease_clock),
            wal,
            poisoned: false,
            sink: None,
            unclaimed: Vec::new(),
        };
        let replayed = writer.recover(records)?;
        if replayed > 0 {
            tracing::info!(path = %path.display(), replayed, "replayed write-ahead log records redb had not yet made durable");
        }
        let handle = std::thread::Builder::new()
            .name("corridor-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::backend("start the writer thread", e))?;

        Ok(Self {
            inner: Arc::new(Inner {
                path,
                db,
                commands,
                events,
                event_log,
                writer: Mutex::new(Some(handle)),
                carrying: AtomicBool::new(false),
                lease_clock: options.lease_clock,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn request<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// A write request, carrying the calling task's rider if it has one no
    /// earlier write took and a sink owns the notes.
    async fn write<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let rider = if self.inner.carrying.load(Ordering::Acquire) {
            rider::take()
        } else {
            None
        };
        match rider {
            Some(rider) => {
                self.request(|reply| Command::Noted(rider, Box::new(command(reply))))
                    .await
            }
            None => self.request(command).await,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Requests already queued before this are still committed and answered.
        let _ = self.commands.send(Command::Shutdown);
        let handle = self
            .writer
            .lock()
            .map(|mut h| h.take())
            .unwrap_or_else(|p| p.into_inner().take());
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "store writer thread panicked");
        }
    }
}

/// The first write-ahead log of the store file at `path`.
pub fn wal_path(path: &Path) -> PathBuf {
    let [first, _] = wal_paths(path);
    first
}

/// Both write-ahead logs of the store file at `path` (`<file>.wal` and
/// `<file>.wal2`; a checkpoint switches from one to the other).
pub fn wal_paths(path: &Path) -> [PathBuf; 2] {
    beside(path, ["wal", "wal2"])
}

/// Files named after the store file at `path`: `<file>.<suffix>`.
fn beside(path: &Path, suffixes: [&str; 2]) -> [PathBuf; 2] {
    suffixes.map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Creates missing tables and reads the counters, leases and log position
/// the writer starts from.
fn initialise(db: &Database) -> Result<(Counters, LeaseIndex, u64), StoreError> {
    let wtx = db
        .begin_write()
        .map_err(backend("begin the initial transaction"))?;
    let loaded = {
        let mut meta = wtx
            .open_table(META)
            .map_err(backend("create the meta table"))?;
        let keys = wtx
            .open_table(KEYS)
            .map_err(backend("create the keys table"))?;
        let leases = wtx
            .open_table(LEASES)
            .map_err(backend("create the lease table"))?;

        let mut read_or_init = |name: &str, initial: i64| -> Result<i64, StoreError> {
            let existing = meta
                .get(name)
                .map_err(backend("read the store counters"))?
                .map(|v| v.value());
            match existing {
                Some(value) => Ok(value),
                None => {
                    meta.insert(name, initial)
                        .map_err(backend("initialise the store counters"))?;
                    Ok(initial)
                }
            }
        };
        let counters = Counters {
            revision: read_or_init(META_REVISION, INITIAL_REVISION)?,
            compacted: read_or_init(META_COMPACTED, 0)?,
            next_lease: read_or_init(META_NEXT_LEASE, 1)?,
        };
        let wal_seq = u64::try_from(read_or_init(META_WAL_SEQ, 0)?).unwrap_or(0);
        let leases = LeaseIndex::load(&leases, &keys)?;
        (counters, leases, wal_seq)
    };
    // The keys' own records say which lease holds them (`lease`).
    wtx.delete_table(LEGACY_LEASE_KEYS)
        .map_err(backend("drop the old lease keys table"))?;
    wtx.commit()
        .map_err(backend("commit the initial transaction"))?;
    Ok(loaded)
}

/// Moves the events of a store written before the event log had files of
/// its own (its `events` table) into the log, then drops the table.
fn adopt_legacy_events(
    db: &Database,
    event_log: &EventLog,
    compacted: Revision,
) -> Result<(), StoreError> {
    let rows = {
        let rtx = reader::begin(db)?;
        let table = match rtx.open_table(LEGACY_EVENTS) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(error) => return Err(StoreError::backend("open the old event table", error)),
        };
        let mut rows = Vec::new();
        if event_log.is_empty() {
            for row in table
                .range::<i64>(compacted..)
                .map_err(backend("read the old event table"))?
            {
                let (revision, events) = row.map_err(backend("read the old event table"))?;
                rows.push((revision.value(), events.value().to_vec()));
            }
        }
        rows
    };
    let adopted = rows.len();
    event_log.adopt(rows)?;
    let wtx = db
        .begin_write()
        .map_err(backend("begin dropping the old event table"))?;
    wtx.delete_table(LEGACY_EVENTS)
        .map_err(backend("drop the old event table"))?;
    wtx.commit()
        .map_err(backend("commit dropping the old event table"))?;
    tracing::info!(adopted, "moved the event table into the event log's files");
    Ok(())
}

#[async_trait]
impl StateStore for RedbStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse, StoreError> {
        reader::range(&self.inner.db, &request)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        reader::get(&self.inner.db, key)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.write(|reply| Command::Txn(txn, reply)).await
    }

    /// One logged write: lease and transaction share the batch's fsync.
    async fn txn_with_new_lease(&self, ttl: Duration, txn: Txn) -> Result<LeasedTxn, StoreError> {
        self.write(|reply| Command::TxnWithNewLease(ttl, txn, reply))
            .await
    }

    /// One logged write: the revoke rides the transaction's batch.
    async fn txn_then_revoke(&self, txn: Txn, lease: LeaseId) -> Result<TxnResponse, StoreError> {
        self.write(|reply| Command::TxnThenRevoke(txn, lease, reply))
            .await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(reader::revisions(&reader::begin(&self.inner.db)?)?.0)
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.write(|reply| Command::LeaseGrant(ttl, reply)).await
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        self.write(|reply| Command::LeaseKeepAlive(id, reply)).await
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        self.write(|reply| Command::LeaseRevoke(id, reply)).await
    }

    async fn lease_time_to_live(&self, id: LeaseId) -> Result<Option<LeaseInfo>, StoreError> {
        reader::lease_time_to_live(&self.inner.db, id, self.inner.lease_clock.now_unix_ms())
    }

    async fn watch(
        &self,
        prefix: &str,
        from_revision: Revision,
    ) -> Result<WatchStream, StoreError> {
        // Subscribe before looking at the log; see the `watch` module.
        let live = self.inner.events.subscribe();
        watch::watch(
            &self.inner.db,
            &self.inner.event_log,
            live,
            prefix,
            from_revision,
        )
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.request(|reply| Command::Compact(revision, reply))
            .await
    }

    /// With the write-ahead log, a note rides its write's log record and
    /// stays in the log until the sink settles it; without the log there is
    /// no record to ride.
    async fn carry_notes(&self, sink: Arc<dyn NoteSink>) -> Result<bool, StoreError> {
        let carrying = self
            .request(|reply| Command::AttachSink(sink, reply))
            .await?;
        if carrying {
            self.inner.carrying.store(true, Ordering::Release);
        }
        Ok(carrying)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    /// The race a watch must survive: revisions committed after it subscribed but
    /// before it read the log arrive twice, once from each. Forcing that overlap
    /// here (subscribe, write, then start the watch) makes it deterministic.
    #[tokio::test]
    async fn revisions_in_both_log_and_channel_are_delivered_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("s.redb"), RedbOptions::default()).unwrap();
        let live = store.inner.events.subscribe();
        let first = store.put("/k", b"1".to_vec(), None).await.unwrap();
        store.put("/k", b"2".to_vec(), None).await.unwrap();
        store.put("/k", b"3".to_vec(), None).await.unwrap();

        let mut watch =
            watch::watch(&store.inner.db, &store.inner.event_log, live, "", first).unwrap();
        let after = store.put("/k", b"4".to_vec(), None).await.unwrap();
        for revision in first..=after {
            assert_eq!(watch.next().await.unwrap().unwrap().revision(), revision);
        }
        let extra = tokio::time::timeout(Duration::from_millis(50), watch.next()).await;
        assert!(extra.is_err(), "unexpected extra event {extra:?}");
    }

    /// Every event of `store` from revision 2 to its current one.
    async fn history(store: &RedbStore) -> Vec<crate::KvEvent> {
        let to = store.current_revision().await.unwrap();
        let mut watch = store.watch("", 2).await.unwrap();
        let mut events = Vec::new();
        while events
            .last()
            .is_none_or(|e: &crate::KvEvent| e.revision() < to)
        {
            events.push(watch.next().await.unwrap().unwrap());
        }
        events
    }

    /// A store written before the event log had files of its own keeps its
    /// history: the old table's rows move into the files, and the table goes.
    #[tokio::test]
    async fn the_old_event_table_moves_into_the_event_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        store.put("/a", b"1".to_vec(), None).await.unwrap();
        store.put("/a", b"2".to_vec(), None).await.unwrap();
        store.delete("/a").await.unwrap();
        let written = history(&store).await;
        drop(store);
        // What an older build left: the events in a table, no files.
        for file in event_log_paths(&path) {
            std::fs::remove_file(file).unwrap();
        }
        {
            let db = Database::open(&path).unwrap();
            let wtx = db.begin_write().unwrap();
            {
                let mut table = wtx.open_table(LEGACY_EVENTS).unwrap();
                for event in &written {
                    let bytes = schema::encode_events(std::slice::from_ref(event));
                    table.insert(event.revision(), bytes.as_slice()).unwrap();
                }
            }
            wtx.commit().unwrap();
        }

        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        assert_eq!(history(&store).await, written);
        let rtx = reader::begin(&store.inner.db).unwrap();
        assert!(matches!(
            rtx.open_table(LEGACY_EVENTS),
            Err(TableError::TableDoesNotExist(_))
        ));
    }

    /// A store written when each lease's keys were a table of their own
    /// opens without it: the table goes, and the keys' records say which
    /// lease holds them.
    #[tokio::test]
    async fn the_old_lease_keys_table_is_dropped_and_leases_still_end_with_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
        store.put("/a", b"1".to_vec(), Some(lease)).await.unwrap();
        store.put("/b", b"2".to_vec(), None).await.unwrap();
        drop(store);
        {
            let db = Database::open(&path).unwrap();
            let wtx = db.begin_write().unwrap();
            {
                let mut table = wtx.open_table(LEGACY_LEASE_KEYS).unwrap();
                table.insert((lease, "/a"), ()).unwrap();
            }
            wtx.commit().unwrap();
        }

        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        {
            let rtx = reader::begin(&store.inner.db).unwrap();
            assert!(matches!(
                rtx.open_table(LEGACY_LEASE_KEYS),
                Err(TableError::TableDoesNotExist(_))
            ));
        }
        store.lease_revoke(lease).await.unwrap();
        assert!(store.get("/a").await.unwrap().is_none());
        assert!(store.get("/b").await.unwrap().is_some());
    }

    /// Without the table or the files, the history is gone: watches from
    /// before the store's revision are told so, and new writes are logged.
    #[tokio::test]
    async fn a_lost_event_log_reads_as_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        store.put("/a", b"1".to_vec(), None).await.unwrap();
        let last = store.put("/a", b"2".to_vec(), None).await.unwrap();
        drop(store);
        for file in event_log_paths(&path) {
            std::fs::remove_file(file).unwrap();
        }
        let store = RedbStore::open(&path, RedbOptions::default()).unwrap();
        match store.watch("", 2).await {
            Err(StoreError::Compacted { compacted, .. }) => assert_eq!(compacted, last + 1),
            other => panic!("expected compaction, got {:?}", other.map(|_| "a watch")),
        }
        let mut watch = store.watch("", last + 1).await.unwrap();
        let next = store.put("/b", b"3".to_vec(), None).await.unwrap();
        assert_eq!(watch.next().await.unwrap().unwrap().revision(), next);
    }
}

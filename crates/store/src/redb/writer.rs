//! The single writer thread and its group commit.
//!
//! redb allows one write transaction at a time and each durable commit costs an
//! fsync, so instead of making callers queue for the lock one by one, the
//! writer takes every request waiting on its channel (up to `max_batch`),
//! applies them in arrival order inside one write transaction, commits once,
//! and only then answers them and publishes their events. Callers never see a
//! write that is not on disk, and a failed commit fails the whole batch.
//!
//! With the write-ahead log (the default, see [`super::wal`]) "on disk" means
//! the batch's record is appended and fdatasync'd to the log; redb commits
//! without fsync and a durable checkpoint follows every few hundred
//! milliseconds. Without it, every batch is a durable redb commit.
//!
//! The writer also expires leases: it sleeps on its channel no longer than the
//! next lease deadline, so a lease ends through the same serial path as every
//! other write and cannot race a keep-alive.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use redb::{Database, Durability, ReadableDatabase, WriteTransaction};
use tokio::sync::{broadcast, oneshot};

use super::apply::{Applied, Batch, BatchOutcome, Counters, RevisionEvents, backend};
use super::event_log::EventLog;
use super::lease::{LeaseClock, LeaseIndex};
use super::logs::WalState;
use super::schema::{KEYS, LEASES, META, META_WAL_SEQ};
use super::wal::{self, Logged, LoggedRef, Record, RecordRef};
use crate::rider::{NoteSink, Rider};
use crate::{LeaseId, LeasedTxn, Revision, StoreError, Txn, TxnResponse};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) enum Command {
    Txn(Txn, Reply<TxnResponse>),
    TxnWithNewLease(Duration, Txn, Reply<LeasedTxn>),
    TxnThenRevoke(Txn, LeaseId, Reply<TxnResponse>),
    LeaseGrant(Duration, Reply<LeaseId>),
    LeaseKeepAlive(LeaseId, Reply<Duration>),
    LeaseRevoke(LeaseId, Reply<()>),
    Compact(Revision, Reply<()>),
    /// A write carrying its caller's note (`crate::rider`): logged in the
    /// same record, just before the write.
    Noted(Rider, Box<Command>),
    /// Makes the sink the owner of carried notes.
    AttachSink(Arc<dyn NoteSink>, Reply<bool>),
    Shutdown,
}

/// An answer held back until the batch's commit settles: it is sent as is on
/// success, or replaced by the commit's error.
type Deferred = Box<dyn FnOnce(Option<&Arc<StoreError>>) + Send>;

fn defer<T: Send + 'static>(reply: Reply<T>, answer: Result<T, StoreError>) -> Deferred {
    Box::new(move |failure| {
        let answer = match failure {
            None => answer,
            Some(error) => Err(StoreError::backend(
                "commit the group of writes this request was part of",
                Arc::clone(error),
            )),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = reply.send(answer);
    })
}

pub(crate) struct WriterConfig {
    pub max_batch: usize,
    pub retain_revisions: u64,
}

pub(crate) struct Writer {
    pub db: Arc<Database>,
    pub commands: Receiver<Command>,
    pub events: broadcast::Sender<Arc<RevisionEvents>>,
    /// Where every revision's events are appended before its commit.
    pub event_log: Arc<EventLog>,
    pub counters: Counters,
    pub leases: LeaseIndex,
    pub config: WriterConfig,
    pub wal: Option<WalState>,
    /// Set when a batch reached the log but redb refused it: memory and
    /// disk disagree, so the writer refuses everything until a restart
    /// replays the log.
    pub poisoned: bool,
    /// The owner of carried notes, once attached.
    pub sink: Option<Arc<dyn NoteSink>>,
    /// Notes found in the log on open that no sink has taken yet: they are
    /// logged again whenever the log is emptied.
    pub unclaimed: Vec<Arc<[u8]>>,
    /// Lease time (the system's clock, or a replay's).
    pub clock: Arc<dyn LeaseClock>,
}

impl Writer {
    pub fn run(mut self) {
        let mut shutting_down = false;
        while !shutting_down {
            let mut commands = Vec::new();
            let lease_wait = self.leases.next_deadline().map(|deadline| {
                let wait = deadline.saturating_sub(self.clock.now_unix_ms()).max(0);
                Duration::from_millis(u64::try_from(wait).unwrap_or(0))
            });
            let checkpoint_wait = self.wal.as_ref().and_then(WalState::checkpoint_wait);
            let first = match lease_wait.into_iter().chain(checkpoint_wait).min() {
                Some(wait) => self.commands.recv_timeout(wait),
                None => self
                    .commands
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match first {
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    shutting_down = true;
                }
                Ok(command) => commands.push(command),
                // A lease deadline came due.
                Err(RecvTimeoutError::Timeout) => {}
            }
            while !shutting_down && commands.len() < self.config.max_batch {
                match self.commands.try_recv() {
                    Ok(Command::Shutdown) => shutting_down = true,
                    Ok(command) => commands.push(command),
                    Err(_) => break,
                }
            }
            self.process(commands);
        }
        if self.wal.as_ref().is_some_and(|w| w.pending_bytes() > 0)
            && !self.poisoned
            && let Err(error) = self.checkpoint(Wait::ForDisk)
        {
            tracing::error!(%error, "final checkpoint failed; the log will be replayed on open");
        }
        if let Some(state) = self.wal.as_mut() {
            state.finish(
                self.sink.as_ref(),
                &self.unclaimed,
                self.clock.now_unix_ms(),
            );
        }
        tracing::debug!("store writer stopped");
    }

    /// Re-applies the log's records that redb lost in a crash, then makes
    /// the result durable and empties the log. Runs before the writer
    /// thread starts, so nobody waits on it.
    pub fn recover(&mut self, records: Vec<Record>) -> Result<usize, StoreError> {
        let Some(state) = self.wal.as_ref() else {
            return Ok(0);
        };
        let any_records = !records.is_empty();
        let mut expected = state.seq + 1;
        let mut replayed = 0;
        for record in records {
            // A note stays wanted until its sink has it, whether or not redb
            // kept the write it rode.
            self.unclaimed
                .extend(record.requests.iter().filter_map(|logged| match logged {
                    Logged::Note(note) => Some(Arc::from(note.as_slice())),
                    _ => None,
                }));
            if record.seq < expected {
                continue; // redb kept this batch (or it holds notes only)
            }
            if record.seq != expected {
                return Err(StoreError::Corrupt {
                    context: "the write-ahead log",
                    detail: format!("record {} follows {}", record.seq, expected - 1),
                });
            }
            let commands = record
                .requests
                .into_iter()
                .filter_map(replayed_command)
                .collect();
            let mut deferred = Vec::new();
            let outcome = self.apply(
                commands,
                &record.expired,
                record.now_ms,
                &mut deferred,
                Some(record.seq),
            )?;
            self.counters = outcome.counters;
            if let Some(state) = self.wal.as_mut() {
                state.seq = record.seq;
            }
            expected += 1;
            replayed += 1;
        }
        if replayed > 0 || any_records {
            self.checkpoint(Wait::ForDisk)?;
        }
        Ok(replayed)
    }

    /// A durable redb commit of everything applied so far; then the log
    /// is switched (`Wait::No`) or, once the commit is on disk, both logs are
    /// emptied (`Wait::ForDisk`).
    fn checkpoint(&mut self, wait: Wait) -> Result<(), StoreError> {
        let Some(state) = self.wal.as_mut() else {
            return Ok(());
        };
        let mut wtx = self
            .db
            .begin_write()
            .map_err(backend("begin a checkpoint"))?;
        wtx.set_durability(Durability::Immediate)
            .map_err(backend("request a durable checkpoint"))?;
        {
            let mut meta = wtx
                .open_table(META)
                .map_err(backend("open the meta table for a checkpoint"))?;
            meta.insert(META_WAL_SEQ, i64::try_from(state.seq).unwrap_or(i64::MAX))
                .map_err(backend("record the checkpoint's log position"))?;
        }
        wtx.commit().map_err(backend("commit a checkpoint"))?;
        let now_ms = self.clock.now_unix_ms();
        match wait {
            Wait::No => state.rotate(self.sink.as_ref(), &self.unclaimed, now_ms),
            Wait::ForDisk => state.empty_all(self.sink.as_ref(), &self.unclaimed, now_ms),
        }
    }

    fn process(&mut self, mut commands: Vec<Command>) {
        commands.retain_mut(|command| {
            let Command::AttachSink(sink, reply) = command else {
                return true;
            };
            let (sink, reply) = (
                Arc::clone(sink),
                std::mem::replace(reply, oneshot::channel().0),
            );
            let _ = reply.send(self.attach(sink));
            false
        });
        if self.poisoned {
            let error = Arc::new(StoreError::Corrupt {
                context: "the store writer",
                detail: "an earlier commit failed after its log record was written; \
                         reopen the store to replay the log"
                    .into(),
            });
            for answer in commands.into_iter().filter_map(refuse) {
                answer(Some(&error));
            }
            return;
        }
        let now_ms = self.clock.now_unix_ms();
        let expired = self.leases.expired(now_ms);
        if commands.is_empty() && expired.is_empty() {
            if self
                .wal
                .as_ref()
                .is_some_and(|w| w.pending_bytes() > 0 && w.checkpoint_due())
                && let Err(error) = self.checkpoint(Wait::No)
            {
                tracing::error!(%error, "checkpoint failed; retrying with the next batch");
            }
            return;
        }
        let mut deferred = Vec::with_capacity(commands.len());
        match self.apply(commands, &expired, now_ms, &mut deferred, None) {
            Ok(outcome) => {
                self.counters = outcome.counters;
                // Events first: a caller that watches from the revision it was just
                // given must find it either in the log or on the channel.
                for revision in outcome.published {
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(revision);
                }
                for answer in deferred {
                    answer(None);
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "group commit failed; the batch is discarded");
                self.reload_leases();
                let error = Arc::new(error);
                for answer in deferred {
                    answer(Some(&error));
                }
            }
        }
    }

    /// Hands the notes recovered from the log to `sink`, which owns every
    /// note carried from now on.
    fn attach(&mut self, sink: Arc<dyn NoteSink>) -> Result<bool, StoreError> {
        if self.wal.is_none() {
            // Without the log a note would have nowhere to ride.
            return Ok(false);
        }
        sink.recovered(self.unclaimed.clone())
            .map_err(|source| StoreError::Wal {
                context: "hand the notes recovered from the write-ahead log to their owner",
                path: self
                    .wal
                    .as_ref()
                    .map(|w| w.wal.path().to_path_buf())
                    .unwrap_or_default(),
                source: source.into(),
            })?;
        // The next emptying of the log drops them.
        self.unclaimed.clear();
        self.sink = Some(sink);
        Ok(true)
    }

    /// Runs a batch in one write transaction. On `Err` nothing of it is on
    /// disk. `replay` is the log record's sequence number when the batch is
    /// being replayed from the log rather than received live.
    fn apply(
        &mut self,
        commands: Vec<Command>,
        expired: &[LeaseId],
        now_ms: i64,
        deferred: &mut Vec<Deferred>,
        replay: Option<u64>,
    ) -> Result<BatchOutcome, StoreError> {
        // The record is encoded before the requests are consumed; it is
        // only written if the batch changes something.
        // A live record also carries the notes of the log left at the last
        // checkpoint that its sink could not settle (`logs`).
        let logged = match (self.wal.as_mut(), replay) {
            (Some(state), None) => {
                let seq = state.seq + 1;
                let carried = state.carried_notes();
                let carried_any = !carried.is_empty();
                let framed = wal::encode(&RecordRef {
                    seq,
                    now_ms,
                    expired,
                    requests: carried
                        .iter()
                        .map(|note| LoggedRef::Note(note))
                        .chain(commands.iter().flat_map(logged_refs))
                        .collect(),
                });
                Some((framed, carried_any))
            }
            _ => None,
        };
        let durability = if self.wal.is_some() {
            Durability::None
        } else {
            Durability::Immediate
        };
        // Every caller needs an answer even when the batch dies before reaching its
        // request: those get a placeholder that the batch's error replaces.
        let begun = self
            .db
            .begin_write()
            .map_err(backend("begin a write transaction"))
            .and_then(|mut wtx| {
                wtx.set_durability(durability)
                    .map_err(backend("set the commit's durability"))?;
                Ok(wtx)
            });
        let wtx = match begun {
            Ok(wtx) => wtx,
            Err(error) => {
                deferred.extend(commands.into_iter().filter_map(refuse));
                return Err(error);
            }
        };

        // Notes ride only when a sink will own them (it is attached before
        // any rider is sent, see `RedbStore::carry_notes`).
        let riders: Vec<Rider> = if self.sink.is_some() {
            commands
                .iter()
                .filter_map(|c| match c {
                    Command::Noted(rider, _) => Some(rider.clone()),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let outcome = {
            let mut batch = match Batch::open(&wtx, self.counters, &mut self.leases, now_ms) {
                Ok(batch) => batch,
                Err(error) => {
                    deferred.extend(commands.into_iter().filter_map(refuse));
                    return Err(error);
                }
            };
            let mut fatal: Option<StoreError> = None;
            for &id in expired {
                match batch.lease_revoke(id) {
                    Ok(Ok(())) => tracing::debug!(lease = id, "lease expired"),
                    Ok(Err(error)) => tracing::warn!(lease = id, %error, "could not expire lease"),
                    Err(error) => {
                        fatal = Some(error);
                        break;
                    }
                }
            }
            for command in commands {
                if fatal.is_some() {
                    deferred.extend(refuse(command));
                    continue;
                }
                let command = match command {
                    Command::Noted(_, inner) => *inner,
                    other => other,
                };
                let answer = match command {
                    Command::Txn(txn, reply) => settle(batch.txn(txn), reply, &mut fatal),
                    Command::TxnWithNewLease(ttl, txn, reply) => {
                        settle(batch.txn_with_new_lease(ttl, txn), reply, &mut fatal)
                    }
                    Command::TxnThenRevoke(txn, lease, reply) => {
                        settle(batch.txn_then_revoke(txn, lease), reply, &mut fatal)
                    }
                    Command::LeaseGrant(ttl, reply) => {
                        settle(batch.lease_grant(ttl), reply, &mut fatal)
                    }
                    Command::LeaseKeepAlive(id, reply) => {
                        settle(batch.lease_keep_alive(id), reply, &mut fatal)
                    }
                    Command::LeaseRevoke(id, reply) => {
                        settle(batch.lease_revoke(id), reply, &mut fatal)
                    }
                    Command::Compact(revision, reply) => {
                        settle(batch.compact(revision), reply, &mut fatal)
                    }
                    // Unwrapped above; attached in `process`.
                    Command::Noted(..) | Command::AttachSink(..) | Command::Shutdown => continue,
                };
                deferred.push(answer);
            }
            if let Some(error) = fatal {
                return Err(error);
            }
            batch.retain(self.config.retain_revisions)?;
            batch.finish()?
        };

        if !outcome.dirty {
            wtx.abort().map_err(backend("end a read-only batch"))?;
            return Ok(outcome);
        }
        // The events go to the log before the commit makes their revisions
        // visible, and are taken back if the batch fails before it.
        let mark = self.event_log.append(&outcome.published)?;
        let committed = self.commit(wtx, logged, replay, now_ms, &riders);
        match &committed {
            Ok(()) => {
                if let Err(error) = self.event_log.retire_compacted(outcome.counters.compacted) {
                    tracing::warn!(%error, "could not drop the compacted part of the event log; it stays until the next try");
                }
            }
            Err(_) => self.event_log.undo(mark),
        }
        committed.map(|()| outcome)
    }

    /// Commits a batch applied in `wtx`: without the log, durably; with it,
    /// after its record (`logged`) is appended and synced, unless it is a
    /// replay of record `replay`.
    fn commit(
        &mut self,
        mut wtx: WriteTransaction,
        logged: Option<(Vec<u8>, bool)>,
        replay: Option<u64>,
        now_ms: i64,
        riders: &[Rider],
    ) -> Result<(), StoreError> {
        let Some(state) = self.wal.as_mut() else {
            wtx.commit().map_err(backend("commit a group of writes"))?;
            return Ok(());
        };
        let seq = replay.unwrap_or(state.seq + 1);
        {
            let mut meta = wtx
                .open_table(META)
                .map_err(backend("open the meta table"))?;
            meta.insert(META_WAL_SEQ, i64::try_from(seq).unwrap_or(i64::MAX))
                .map_err(backend("record the batch's log position"))?;
        }
        if replay.is_some() {
            wtx.commit()
                .map_err(backend("commit a replayed group of writes"))?;
            return Ok(());
        }
        let (framed, carried_notes) = logged.expect("live batches with a log are encoded");
        state
            .wal
            .append(&framed)
            .map_err(|source| StoreError::Wal {
                context: "append to the write-ahead log",
                path: state.wal.path().to_path_buf(),
                source: source.into(),
            })?;
        state.seq = seq;
        if carried_notes {
            state.notes_carried();
        }
        // The record is durable: so are the notes it carries (a failed
        // commit below is replayed from it).
        hand_over(riders, self.sink.as_ref());
        // Every checkpoint interval the batch's own commit is the durable
        // one; its I/O happens behind the writer (`write_behind`), and the
        // log it leaves is emptied once that is done (`logs`).
        let durable = state.checkpoint_due()
            && match wtx.set_durability(Durability::Immediate) {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(%error, "could not make this batch's commit the checkpoint");
                    false
                }
            };
        if let Err(error) = wtx.commit() {
            // The record is durable but memory does not have it: only a
            // replay can reconcile the two.
            self.poisoned = true;
            return Err(StoreError::backend(
                "commit a logged group of writes",
                error,
            ));
        }
        if durable && let Err(error) = state.rotate(self.sink.as_ref(), &self.unclaimed, now_ms) {
            // Nothing more reaches the disk; the logs keep every write.
            tracing::error!(%error, "a checkpoint did not reach the disk; refusing writes until a reopen replays the log");
            self.poisoned = true;
        }
        Ok(())
    }

    /// After a failed batch the in-memory lease index may hold changes that never
    /// reached disk; the committed tables are the truth.
    fn reload_leases(&mut self) {
        let loaded = self
            .db
            .begin_read()
            .map_err(redb::Error::from)
            .and_then(|rtx| Ok((rtx.open_table(LEASES)?, rtx.open_table(KEYS)?)))
            .map_err(|error| StoreError::backend("reload the leases", error))
            .and_then(|(leases, keys)| LeaseIndex::load(&leases, &keys));
        match loaded {
            Ok(index) => self.leases = index,
            Err(error) => tracing::error!(%error, "could not reload leases after a failed commit"),
        }
    }
}

/// Whether a checkpoint waits for its commit to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Switch logs and go on; the one left is emptied once the commit is on
    /// disk.
    No,
    /// Wait, then empty both logs (open and shutdown).
    ForDisk,
}

/// Turns one request's outcome into its deferred answer, noting a fatal error.
fn settle<T: Send + 'static>(
    applied: Applied<T>,
    reply: Reply<T>,
    fatal: &mut Option<StoreError>,
) -> Deferred {
    match applied {
        Ok(answer) => defer(reply, answer),
        Err(error) => {
            *fatal = Some(error);
            // Replaced by the batch failure before it is sent.
            defer(reply, Err(StoreError::Closed))
        }
    }
}

/// A request as the log records it: a carried note, then the write.
fn logged_refs(command: &Command) -> Vec<LoggedRef<'_>> {
    match command {
        Command::Noted(rider, inner) => {
            let mut refs = vec![LoggedRef::Note(rider.note())];
            refs.extend(logged_ref(inner));
            refs
        }
        other => logged_ref(other).into_iter().collect(),
    }
}

fn logged_ref(command: &Command) -> Option<LoggedRef<'_>> {
    Some(match command {
        Command::Txn(txn, _) => LoggedRef::Txn(txn),
        Command::TxnWithNewLease(ttl, txn, _) => LoggedRef::TxnWithNewLease(*ttl, txn),
        Command::TxnThenRevoke(txn, lease, _) => LoggedRef::TxnThenRevoke(txn, *lease),
        Command::LeaseGrant(ttl, _) => LoggedRef::LeaseGrant(*ttl),
        Command::LeaseKeepAlive(id, _) => LoggedRef::LeaseKeepAlive(*id),
        Command::LeaseRevoke(id, _) => LoggedRef::LeaseRevoke(*id),
        Command::Compact(revision, _) => LoggedRef::Compact(*revision),
        Command::Noted(_, inner) => return logged_ref(inner),
        Command::AttachSink(..) | Command::Shutdown => return None,
    })
}

/// A logged request turned back into a command nobody waits for (a note
/// is not a command).
fn replayed_command(logged: Logged) -> Option<Command> {
    Some(match logged {
        Logged::Txn(txn) => Command::Txn(txn, oneshot::channel().0),
        Logged::TxnWithNewLease(ttl, txn) => {
            Command::TxnWithNewLease(ttl, txn, oneshot::channel().0)
        }
        Logged::TxnThenRevoke(txn, lease) => {
            Command::TxnThenRevoke(txn, lease, oneshot::channel().0)
        }
        Logged::LeaseGrant(ttl) => Command::LeaseGrant(ttl, oneshot::channel().0),
        Logged::LeaseKeepAlive(id) => Command::LeaseKeepAlive(id, oneshot::channel().0),
        Logged::LeaseRevoke(id) => Command::LeaseRevoke(id, oneshot::channel().0),
        Logged::Compact(revision) => Command::Compact(revision, oneshot::channel().0),
        Logged::Note(_) => return None,
    })
}

/// A placeholder answer for a request the batch never reached.
fn refuse(command: Command) -> Option<Deferred> {
    Some(match command {
        Command::Txn(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::TxnWithNewLease(_, _, reply) => defer(reply, Err(StoreError::Closed)),
        Command::TxnThenRevoke(_, _, reply) => defer(reply, Err(StoreError::Closed)),
        Command::LeaseGrant(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::LeaseKeepAlive(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::LeaseRevoke(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::Compact(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::Noted(_, inner) => return refuse(*inner),
        Command::AttachSink(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::Shutdown => return None,
    })
}

/// The notes of a batch now on disk go to their sink, and their riders learn
/// it, before any write of the batch is acknowledged.
fn hand_over(riders: &[Rider], sink: Option<&Arc<dyn NoteSink>>) {
    let Some(sink) = sink else { return };
    if riders.is_empty() {
        return;
    }
    sink.committed(riders.iter().map(|r| Arc::clone(r.note())).collect());
    for rider in riders {
        rider.mark_durable();
    }
}

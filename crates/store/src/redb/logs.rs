//! The two write-ahead logs, and when each may be emptied.
//!
//! A checkpoint is a durable redb commit, but its I/O happens behind the
//! writer ([`super::write_behind`]): when the commit returns, the records it
//! covers may not be on disk in redb yet, so the log holding them cannot be
//! emptied, while new records must go on being appended. Hence two logs: at
//! a checkpoint the writer switches to the other one (emptied earlier), and
//! a thread empties the one it left as soon as the checkpoint's generation is
//! on disk. Replay reads both, in sequence order; whatever redb holds
//! durably (at or below its stored sequence number) is skipped.
//!
//! Notes (`crate::rider`) in the log left must be settled by their sink
//! before it is emptied, and those the sink cannot settle yet must be logged
//! again in the current log. Settling waits for the sink's own fsync (the
//! audit log's: 0.6–10 ms under load), so the thread does it, not the writer:
//! it settles, hands the notes left over to the writer, which puts them in
//! its next record ([`WalState::carried_notes`]), and empties the log only
//! once that record is on disk and the checkpoint is too.
//!
//! If the other log is not empty yet when the next checkpoint comes (its
//! thread still waits for the disk), the writer waits for it; if emptying it
//! failed, the writer keeps appending to the current log and tries again at
//! the next checkpoint: a longer log, nothing lost.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::wal::{self, LoggedRef, Record, RecordRef, Wal};
use super::write_behind::Generations;
use crate::StoreError;
use crate::rider::NoteSink;

/// The log not appended to.
enum Standby {
    /// Empty: the next checkpoint switches to it.
    Empty(Wal),
    /// A thread settles its notes; those left over are to be logged again
    /// in the current log.
    Settling(Settling),
    /// Its notes left over are being carried in the current log's next
    /// record; the thread empties it once that record is on disk.
    Carrying(Settling),
    /// Holds the records of a checkpoint not yet known to be on disk; a
    /// thread empties it once it is.
    Emptying(mpsc::Receiver<Emptied>),
    /// Its notes could not be settled: settled again, on the writer, at the
    /// next checkpoint, before it is emptied.
    Unsettled(Wal, u64),
    /// Holds only records redb has on disk (emptying it failed, or it was
    /// found so on open): emptied before it is used.
    Stale(Wal),
    /// Holds records the failed write-behind never put on disk: kept for
    /// the replay of the next open.
    Kept(Wal),
    /// None: while being replaced, or lost with a thread that died.
    Moving,
}

/// The writer's side of a log being settled and emptied by its thread.
struct Settling {
    /// The sink's answer: the notes it cannot settle yet.
    kept: mpsc::Receiver<std::io::Result<Vec<Arc<[u8]>>>>,
    /// Told once those notes are on disk in the current log; dropped, the
    /// thread keeps the log (its notes stay).
    logged: mpsc::Sender<()>,
    emptied: mpsc::Receiver<Emptied>,
}

impl Settling {
    /// Tells the thread whether the notes left over are logged (`logged`:
    /// it empties the log once the checkpoint is on disk) or not (dropping
    /// the sender: it keeps the log); the thread's answer comes next.
    fn release(self, logged: bool) -> Standby {
        if logged {
            let _ = self.logged.send(());
        }
        Standby::Emptying(self.emptied)
    }
}

struct Emptied {
    wal: Wal,
    outcome: Result<(), EmptyFailure>,
}

enum EmptyFailure {
    /// The checkpoint never reached the disk: the records must stay.
    NotDurable(std::io::Error),
    /// The checkpoint is on disk; zeroing the log failed.
    Reset(std::io::Error),
    /// The sink could not settle the log's notes, or those it could not
    /// were not logged again; the checkpoint's generation.
    Unsettled(u64),
}

/// The logs and where the writer is in them.
pub(crate) struct WalState {
    /// The log appended to.
    pub wal: Wal,
    standby: Standby,
    generations: Generations,
    /// Sequence number of the last record written or replayed.
    pub seq: u64,
    pub last_checkpoint: Instant,
    pub interval: Duration,
    /// Notes of the log left at the last checkpoint that its sink could
    /// not settle: the next record carries them.
    carry: Vec<Arc<[u8]>>,
}

impl WalState {
    /// `standby` may hold records (an open after a crash): it is treated
    /// as stale, which is right once the open's checkpoint is on disk.
    pub fn new(
        active: Wal,
        standby: Wal,
        generations: Generations,
        seq: u64,
        interval: Duration,
    ) -> Self {
        WalState {
            wal: active,
            standby: Standby::Stale(standby),
            generations,
            seq,
            last_checkpoint: Instant::now(),
            interval,
            carry: Vec::new(),
        }
    }

    pub fn checkpoint_due(&self) -> bool {
        self.wal.pending_bytes() >= wal::CHECKPOINT_BYTES
            || self.last_checkpoint.elapsed() >= self.interval
    }

    /// When an idle writer should wake to checkpoint, if anything is pending.
    pub fn checkpoint_wait(&self) -> Option<Duration> {
        (self.wal.pending_bytes() > 0)
            .then(|| self.interval.saturating_sub(self.last_checkpoint.elapsed()))
    }

    /// Bytes of records in the log appended to.
    pub fn pending_bytes(&self) -> u64 {
        self.wal.pending_bytes()
    }

    /// Right after a durable commit that covers every record logged so far:
    /// switches to the other log and has a thread settle the notes of the
    /// one left and empty it once that commit is on disk (the notes the
    /// sink cannot settle are carried into the new log first). `Err` only
    /// when the write-behind failed, so nothing more can be made durable
    /// (the caller stops writing).
    pub fn rotate(
        &mut self,
        sink: Option<&Arc<dyn NoteSink>>,
        unclaimed: &[Arc<[u8]>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.last_checkpoint = Instant::now();
        let generation = self.generations.sealed();
        let Some(next) = self.take_empty_standby(sink, unclaimed, now_ms)? else {
            return Ok(());
        };
        let left = std::mem::replace(&mut self.wal, next);
        self.standby = self.settle_and_empty(left, generation, sink, unclaimed);
        Ok(())
    }

    /// The notes the next record must carry (see [`WalState::rotate`]),
    /// once the thread settling the log left has answered; never waits.
    pub fn carried_notes(&mut self) -> &[Arc<[u8]>] {
        if let Standby::Settling(settling) = &self.standby {
            match settling.kept.try_recv() {
                Err(mpsc::TryRecvError::Empty) => {}
                answer => self.take_settled(answer.ok()),
            }
        }
        &self.carry
    }

    /// The record carrying [`WalState::carried_notes`] is on disk: the
    /// log left may be emptied.
    pub fn notes_carried(&mut self) {
        self.end_carrying(true);
    }

    /// Ends carrying the notes of the log left: it is emptied once the
    /// checkpoint is on disk if they were `logged`, else kept.
    fn end_carrying(&mut self, logged: bool) {
        match std::mem::replace(&mut self.standby, Standby::Moving) {
            Standby::Carrying(settling) => {
                self.carry.clear();
                self.standby = settling.release(logged);
            }
            other => self.standby = other,
        }
    }

    /// Takes the settling thread's answer (`None`: it died): the notes
    /// left over are carried by the next record, or, with none, the log
    /// may be emptied at once.
    fn take_settled(&mut self, answer: Option<std::io::Result<Vec<Arc<[u8]>>>>) {
        let Standby::Settling(settling) = std::mem::replace(&mut self.standby, Standby::Moving)
        else {
            return;
        };
        self.standby = match answer {
            Some(Ok(kept)) if kept.is_empty() => settling.release(true),
            Some(Ok(kept)) => {
                self.carry = kept;
                Standby::Carrying(settling)
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "the note sink could not settle; the log left is kept until the next checkpoint");
                settling.release(false)
            }
            None => settling.release(false),
        };
    }

    /// Waits for the settling thread's answer and logs the notes left over
    /// in a record of their own, when no batch record carried them.
    fn finish_settling(&mut self, now_ms: i64) {
        if let Standby::Settling(settling) = &self.standby {
            let answer = settling.kept.recv().ok();
            self.take_settled(answer);
        }
        if let Standby::Carrying(_) = self.standby {
            match log_notes(&mut self.wal, &self.carry, self.seq, now_ms) {
                Ok(()) => self.notes_carried(),
                Err(error) => {
                    tracing::warn!(%error, path = %self.wal.path().display(), "could not log the unsettled notes again; the log left is kept");
                    self.end_carrying(false);
                }
            }
        }
    }

    /// Has a thread settle the notes of `left` and, once the writer has
    /// logged those left over and `generation` is on disk, empty it.
    fn settle_and_empty(
        &self,
        left: Wal,
        generation: u64,
        sink: Option<&Arc<dyn NoteSink>>,
        unclaimed: &[Arc<[u8]>],
    ) -> Standby {
        let (hand, handed) = mpsc::channel::<Wal>();
        let (answer, kept) = mpsc::channel();
        let (logged, go) = mpsc::channel::<()>();
        let (done, emptied) = mpsc::channel();
        let generations = self.generations.clone();
        let sink = sink.cloned();
        let unclaimed = unclaimed.to_vec();
        let spawned = std::thread::Builder::new()
            .name("corridor-store-log".into())
            .spawn(move || {
                let Ok(wal) = handed.recv() else { return };
                let _ = answer.send(settle(sink.as_ref(), &unclaimed));
                let emptied = match go.recv() {
                    Ok(()) => empty_once_durable(wal, &generations, generation),
                    Err(_) => Emptied {
                        wal,
                        outcome: Err(EmptyFailure::Unsettled(generation)),
                    },
                };
                let _ = done.send(emptied);
            });
        match spawned {
            Ok(_) => {
                let _ = hand.send(left);
                Standby::Settling(Settling {
                    kept,
                    logged,
                    emptied,
                })
            }
            Err(error) => {
                tracing::warn!(%error, "could not start a thread to settle and empty the write-ahead log; doing it at the next checkpoint");
                Standby::Unsettled(left, generation)
            }
        }
    }

    /// Empties both logs once every commit so far is on disk, keeping the
    /// notes the sink cannot settle. For open and shutdown, where nobody
    /// waits on the writer.
    pub fn empty_all(
        &mut self,
        sink: Option<&Arc<dyn NoteSink>>,
        unclaimed: &[Arc<[u8]>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let generation = self.generations.sealed();
        self.generations
            .wait_durable(generation)
            .map_err(wal_error(
                "wait for the checkpoint to reach the disk",
                self.wal.path(),
            ))?;
        // Whatever the other log holds is on disk now; if it cannot be
        // emptied, replay skips it.
        if let Some(standby) = self.take_empty_standby(sink, unclaimed, now_ms)? {
            self.standby = Standby::Empty(standby);
        }
        let kept = settle(sink, unclaimed).map_err(wal_error(
            "settle the notes the write-ahead log carries before emptying it",
            self.wal.path(),
        ))?;
        self.wal.reset().map_err(wal_error(
            "empty the write-ahead log after a checkpoint",
            self.wal.path(),
        ))?;
        log_notes(&mut self.wal, &kept, self.seq, now_ms).map_err(wal_error(
            "keep unsettled notes in the emptied write-ahead log",
            self.wal.path(),
        ))
    }

    /// The other log, emptied, or `None` (with a warning) when it cannot be
    /// yet. Waits for its thread if it still runs.
    fn take_empty_standby(
        &mut self,
        sink: Option<&Arc<dyn NoteSink>>,
        unclaimed: &[Arc<[u8]>],
        now_ms: i64,
    ) -> Result<Option<Wal>, StoreError> {
        self.finish_settling(now_ms);
        let mut wal = match std::mem::replace(&mut self.standby, Standby::Moving) {
            Standby::Empty(wal) => return Ok(Some(wal)),
            Standby::Stale(wal) => wal,
            Standby::Unsettled(wal, generation) => {
                // Settle again, here: this is the rare path (a sink that
                // failed, or no thread to be had).
                let settled = settle(sink, unclaimed)
                    .and_then(|kept| log_notes(&mut self.wal, &kept, self.seq, now_ms));
                if let Err(error) = settled {
                    tracing::warn!(%error, path = %wal.path().display(), "the note sink could not settle; the log is kept until the next checkpoint");
                    self.standby = Standby::Unsettled(wal, generation);
                    return Ok(None);
                }
                if let Err(error) = self.generations.wait_durable(generation) {
                    let path = wal.path().to_path_buf();
                    self.standby = Standby::Kept(wal);
                    return Err(wal_error("write a checkpoint to the store file", &path)(
                        error,
                    ));
                }
                wal
            }
            Standby::Emptying(emptied) => match emptied.recv() {
                Ok(Emptied {
                    wal,
                    outcome: Ok(()),
                }) => return Ok(Some(wal)),
                Ok(Emptied {
                    wal,
                    outcome: Err(EmptyFailure::Reset(error)),
                }) => {
                    tracing::warn!(%error, path = %wal.path().display(), "could not empty the write-ahead log; trying again");
                    wal
                }
                Ok(Emptied {
                    wal,
                    outcome: Err(EmptyFailure::Unsettled(generation)),
                }) => {
                    self.standby = Standby::Unsettled(wal, generation);
                    return Ok(None);
                }
                Ok(Emptied {
                    wal,
                    outcome: Err(EmptyFailure::NotDurable(error)),
                }) => {
                    let path = wal.path().to_path_buf();
                    self.standby = Standby::Kept(wal);
                    return Err(wal_error("write a checkpoint to the store file", &path)(
                        error,
                    ));
                }
                Err(_) => {
                    return Err(StoreError::Corrupt {
                        context: "the write-ahead log",
                        detail: "the thread emptying the other log stopped without a word".into(),
                    });
                }
            },
            Standby::Kept(wal) => {
                self.standby = Standby::Kept(wal);
                return Ok(None);
            }
            // Both settled above; `Moving` only while being replaced.
            standby @ (Standby::Settling(_) | Standby::Carrying(_) | Standby::Moving) => {
                self.standby = standby;
                return Ok(None);
            }
        };
        match wal.reset() {
            Ok(()) => Ok(Some(wal)),
            Err(error) => {
                tracing::warn!(%error, path = %wal.path().display(), "could not empty the other write-ahead log; staying on this one");
                self.standby = Standby::Stale(wal);
                Ok(None)
            }
        }
    }

    /// Waits for a running settling or emptying thread, so nothing writes
    /// to the logs once the writer has stopped.
    pub fn finish(
        &mut self,
        sink: Option<&Arc<dyn NoteSink>>,
        unclaimed: &[Arc<[u8]>],
        now_ms: i64,
    ) {
        if let Standby::Settling(_) | Standby::Carrying(_) | Standby::Emptying(_) = self.standby {
            match self.take_empty_standby(sink, unclaimed, now_ms) {
                Ok(Some(wal)) => self.standby = Standby::Empty(wal),
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, "the last checkpoint did not reach the disk; the log will be replayed on open")
                }
            }
        }
    }
}

fn empty_once_durable(mut wal: Wal, generations: &Generations, generation: u64) -> Emptied {
    let outcome = match generations.wait_durable(generation) {
        Err(error) => Err(EmptyFailure::NotDurable(error)),
        Ok(()) => wal.reset().map_err(EmptyFailure::Reset),
    };
    Emptied { wal, outcome }
}

/// The records of both logs, in the order replay applies them: by sequence
/// number, a batch's own record before a record of notes only that carries
/// the same number (a checkpoint's unsettled notes), which replay skips.
pub(crate) fn merge(mut first: Vec<Record>, second: Vec<Record>) -> Vec<Record> {
    first.extend(second);
    first.sort_by_key(|record| (record.seq, notes_only(record)));
    first
}

fn notes_only(record: &Record) -> bool {
    record
        .requests
        .iter()
        .all(|logged| matches!(logged, wal::Logged::Note(_)))
}

fn settle(
    sink: Option<&Arc<dyn NoteSink>>,
    unclaimed: &[Arc<[u8]>],
) -> std::io::Result<Vec<Arc<[u8]>>> {
    match sink {
        Some(sink) => sink.settle(),
        None => Ok(unclaimed.to_vec()),
    }
}

/// Logs `notes` in a record of notes only that takes the checkpoint's
/// sequence number `seq`, which replay skips.
fn log_notes(wal: &mut Wal, notes: &[Arc<[u8]>], seq: u64, now_ms: i64) -> std::io::Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    let framed = wal::encode(&RecordRef {
        seq,
        now_ms,
        expired: &[],
        requests: notes.iter().map(|n| LoggedRef::Note(n)).collect(),
    });
    wal.append(&framed)
}

fn wal_error(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Wal {
        context,
        path,
        source: source.into(),
    }
}

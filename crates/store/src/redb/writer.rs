//! The single writer thread and its group commit.
//!
//! redb allows one write transaction at a time and each durable commit costs an
//! fsync, so instead of making callers queue for the lock one by one, the
//! writer takes every request waiting on its channel (up to `max_batch`),
//! applies them in arrival order inside one write transaction, commits once,
//! and only then answers them and publishes their events. Callers never see a
//! write that is not on disk, and a failed commit fails the whole batch.
//!
//! The writer also expires leases: it sleeps on its channel no longer than the
//! next lease deadline, so a lease ends through the same serial path as every
//! other write and cannot race a keep-alive.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use redb::{Database, Durability, ReadableDatabase};
use tokio::sync::{broadcast, oneshot};

use super::apply::{Applied, Batch, BatchOutcome, Counters, RevisionEvents, backend};
use super::lease::{LeaseIndex, now_unix_ms};
use super::schema::LEASES;
use crate::{LeaseId, Revision, StoreError, Txn, TxnResponse};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) enum Command {
    Txn(Txn, Reply<TxnResponse>),
    LeaseGrant(Duration, Reply<LeaseId>),
    LeaseKeepAlive(LeaseId, Reply<Duration>),
    LeaseRevoke(LeaseId, Reply<()>),
    Compact(Revision, Reply<()>),
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
    pub counters: Counters,
    pub leases: LeaseIndex,
    pub config: WriterConfig,
}

impl Writer {
    pub fn run(mut self) {
        let mut shutting_down = false;
        while !shutting_down {
            let mut commands = Vec::new();
            let first = match self.leases.next_deadline() {
                Some(deadline) => {
                    let wait = deadline.saturating_sub(now_unix_ms()).max(0);
                    let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
                    self.commands.recv_timeout(wait)
                }
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
        tracing::debug!("store writer stopped");
    }

    fn process(&mut self, commands: Vec<Command>) {
        let now_ms = now_unix_ms();
        let expired = self.leases.expired(now_ms);
        if commands.is_empty() && expired.is_empty() {
            return;
        }
        let mut deferred = Vec::with_capacity(commands.len());
        match self.apply(commands, &expired, now_ms, &mut deferred) {
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

    /// Runs a batch in one write transaction. On `Err` nothing of it is on disk.
    fn apply(
        &mut self,
        commands: Vec<Command>,
        expired: &[LeaseId],
        now_ms: i64,
        deferred: &mut Vec<Deferred>,
    ) -> Result<BatchOutcome, StoreError> {
        // Every caller needs an answer even when the batch dies before reaching its
        // request: those get a placeholder that the batch's error replaces.
        let begun = self
            .db
            .begin_write()
            .map_err(backend("begin a write transaction"))
            .and_then(|mut wtx| {
                wtx.set_durability(Durability::Immediate)
                    .map_err(backend("request a durable commit"))?;
                Ok(wtx)
            });
        let wtx = match begun {
            Ok(wtx) => wtx,
            Err(error) => {
                deferred.extend(commands.into_iter().filter_map(refuse));
                return Err(error);
            }
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
                let answer = match command {
                    Command::Txn(txn, reply) => settle(batch.txn(txn), reply, &mut fatal),
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
                    Command::Shutdown => continue,
                };
                deferred.push(answer);
            }
            if let Some(error) = fatal {
                return Err(error);
            }
            batch.retain(self.config.retain_revisions)?;
            batch.finish()?
        };

        if outcome.dirty {
            wtx.commit().map_err(backend("commit a group of writes"))?;
        } else {
            wtx.abort().map_err(backend("end a read-only batch"))?;
        }
        Ok(outcome)
    }

    /// After a failed batch the in-memory lease index may hold changes that never
    /// reached disk; the table is the truth.
    fn reload_leases(&mut self) {
        let loaded = self
            .db
            .begin_read()
            .map_err(redb::Error::from)
            .and_then(|rtx| Ok(rtx.open_table(LEASES)?))
            .and_then(|table| Ok(LeaseIndex::load(&table)?));
        match loaded {
            Ok(index) => self.leases = index,
            Err(error) => tracing::error!(%error, "could not reload leases after a failed commit"),
        }
    }
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

/// A placeholder answer for a request the batch never reached.
fn refuse(command: Command) -> Option<Deferred> {
    Some(match command {
        Command::Txn(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::LeaseGrant(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::LeaseKeepAlive(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::LeaseRevoke(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::Compact(_, reply) => defer(reply, Err(StoreError::Closed)),
        Command::Shutdown => return None,
    })
}

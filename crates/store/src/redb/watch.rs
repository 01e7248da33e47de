//! Watches: replay from the event log, then follow the live channel.
//!
//! The order of the steps is what makes a watch gapless: subscribe to the live
//! channel *first*, then take a snapshot of the log. Every revision committed
//! after the subscription arrives on the channel; every revision before the
//! snapshot is in the log; revisions in both are dropped from the channel
//! because the watch only moves forward (`next`).

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use redb::Database;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::apply::RevisionEvents;
use super::event_log::EventLog;
use super::reader;
use crate::{KvEvent, Revision, StoreError, WatchStream};

/// Revisions read from the log per step, so a long replay neither holds one
/// read transaction open for long nor loads the whole history into memory.
const HISTORY_PAGE: usize = 256;

/// The revision of the first write: an empty store is at revision 1.
const FIRST_WRITE_REVISION: Revision = 2;

pub(crate) fn watch(
    db: &Arc<Database>,
    log: &Arc<EventLog>,
    live: broadcast::Receiver<Arc<RevisionEvents>>,
    prefix: &str,
    from_revision: Revision,
) -> Result<WatchStream, StoreError> {
    if from_revision < 0 {
        return Err(StoreError::InvalidRequest(format!(
            "cannot watch from negative revision {from_revision}"
        )));
    }
    let (current, compacted) = reader::revisions(&reader::begin(db)?)?;
    // The log may start later than the floor redb records (history it
    // lost, see `event_log`).
    let compacted = compacted.max(log.floor().unwrap_or(compacted));
    if from_revision > 0 && from_revision.max(FIRST_WRITE_REVISION) < compacted {
        return Err(StoreError::Compacted {
            requested: from_revision,
            compacted,
        });
    }
    let watch = Watch {
        // Weak, so a forgotten watch does not keep the database file open (and locked)
        // after the store is dropped.
        db: Arc::downgrade(db),
        log: Arc::downgrade(log),
        live,
        prefix: prefix.to_owned(),
        // Revision 1 is the empty store's; no write made it and the log
        // starts at 2, so a watch from 1 starts with the first write.
        next: if from_revision == 0 {
            current + 1
        } else {
            from_revision.max(FIRST_WRITE_REVISION)
        },
        history_end: current,
        pending: VecDeque::new(),
        finished: false,
    };
    Ok(Box::pin(futures::stream::unfold(watch, Watch::step)))
}

struct Watch {
    db: Weak<Database>,
    log: Weak<EventLog>,
    live: broadcast::Receiver<Arc<RevisionEvents>>,
    prefix: String,
    /// The lowest revision not yet delivered (or skipped as not matching).
    next: Revision,
    /// Revisions up to here come from the log, later ones from the channel.
    history_end: Revision,
    pending: VecDeque<KvEvent>,
    finished: bool,
}

impl Watch {
    async fn step(mut self) -> Option<(Result<KvEvent, StoreError>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.finished {
                return None;
            }
            if let Err(error) = self.fill().await {
                self.finished = true;
                return Some((Err(error), self));
            }
        }
    }

    async fn fill(&mut self) -> Result<(), StoreError> {
        if self.next <= self.history_end {
            return self.replay();
        }
        match self.live.recv().await {
            Ok(revision) if revision.revision < self.next => Ok(()),
            Ok(revision) => {
                if revision.revision > self.next {
                    // The channel carries every revision in order, so this does not
                    // happen; if it ever did, the log still has the missing ones.
                    self.history_end = revision.revision - 1;
                    while self.next <= self.history_end {
                        self.replay()?;
                    }
                }
                let prefix = self.prefix.as_str();
                self.pending.extend(
                    revision
                        .events
                        .iter()
                        .filter(|event| event.kv.key.starts_with(prefix))
                        .cloned(),
                );
                self.next = revision.revision + 1;
                Ok(())
            }
            Err(RecvError::Lagged(_)) => Err(StoreError::WatchLagged {
                resume_from: self.next,
            }),
            Err(RecvError::Closed) => Err(StoreError::Closed),
        }
    }

    fn replay(&mut self) -> Result<(), StoreError> {
        while self.next <= self.history_end {
            let db = self.db.upgrade().ok_or(StoreError::Closed)?;
            let log = self.log.upgrade().ok_or(StoreError::Closed)?;
            let (events, next) = reader::history_page(
                &db,
                &log,
                &self.prefix,
                self.next,
                self.history_end,
                HISTORY_PAGE,
            )?;
            self.next = next;
            if !events.is_empty() {
                // Hand these out before reading more.
                self.pending.extend(events);
                return Ok(());
            }
        }
        Ok(())
    }
}

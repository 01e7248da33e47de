//! Notes that ride a write: bytes a caller needs on disk no later than its
//! next store write, made durable by that write's own log record instead of
//! an fsync of their own.
//!
//! corridord's audit log is the user: a mutating request's audit record
//! must be durable before the request is answered, and the request already
//! waits for one durable store write. Carrying the record in the write's
//! log record makes the two one wait. The store only keeps a note until its
//! owner (a [`NoteSink`]) says it has made the note durable itself:
//!
//! 1. a request runs inside [`carry`] with its [`Rider`];
//! 2. its first write that reaches the store's log takes the note along (the
//!    note and the write are in one log record, so one fdatasync covers
//!    both), hands it to the sink ([`NoteSink::committed`]) before the write
//!    is acknowledged, and marks the rider [durable](Rider::is_durable);
//! 3. before the log is emptied (a checkpoint) the store asks the sink to
//!    make its notes durable ([`NoteSink::settle`]); the notes the sink
//!    cannot settle yet are logged again in the emptied log;
//! 4. after a crash, the notes found in the log are handed to the sink when
//!    it is attached ([`NoteSink::recovered`]); some of them it may already
//!    hold.
//!
//! Only a backend with its own log can carry notes ([`crate::StateStore::carry_notes`]
//! says whether one does); elsewhere a rider never becomes durable and its
//! owner must make the note durable itself.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A note and whether a durable write has carried it.
#[derive(Debug, Clone)]
pub struct Rider {
    note: Arc<[u8]>,
    durable: Arc<AtomicBool>,
    /// Taken by a write (so the request's later writes do not log it again).
    taken: Arc<AtomicBool>,
}

impl Rider {
    pub fn new(note: impl Into<Arc<[u8]>>) -> Self {
        Rider {
            note: note.into(),
            durable: Arc::new(AtomicBool::new(false)),
            taken: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn note(&self) -> &Arc<[u8]> {
        &self.note
    }

    /// Whether a write that is on disk carried the note (and the sink was
    /// told of it). False if no write of the request reached the log, or
    /// the store cannot carry notes.
    pub fn is_durable(&self) -> bool {
        self.durable.load(Ordering::Acquire)
    }

    pub(crate) fn mark_durable(&self) {
        self.durable.store(true, Ordering::Release);
    }
}

tokio::task_local! {
    static RIDER: Rider;
}

/// Runs `work` with `rider` available to the store writes it makes (on this
/// task; a task it spawns does not inherit the rider).
pub async fn carry<F: Future>(rider: Rider, work: F) -> F::Output {
    RIDER.scope(rider, work).await
}

/// The current task's rider, if it has one no write has taken yet.
pub(crate) fn take() -> Option<Rider> {
    RIDER
        .try_with(|rider| (!rider.taken.swap(true, Ordering::AcqRel)).then(|| rider.clone()))
        .ok()
        .flatten()
}

/// Who owns the notes a store carries.
///
/// Called on the store's writer thread, so every call holds up the store's
/// writes while it runs: `committed` must only hand the notes over;
/// `settle` (once per checkpoint) and `recovered` (once, on attach) may
/// write and sync.
pub trait NoteSink: Debug + Send + Sync + 'static {
    /// Notes just made durable in the store's log, in commit order, before
    /// any write carrying them is acknowledged.
    fn committed(&self, notes: Vec<Arc<[u8]>>);

    /// The store is about to empty its log: make every note committed so
    /// far durable on your side, and return those you cannot yet (they are
    /// logged again). An error keeps every note committed so far in the
    /// log.
    fn settle(&self) -> std::io::Result<Vec<Arc<[u8]>>>;

    /// Notes the log held when the store was opened (written before a
    /// crash, or not yet settled when it was closed). Some may already be
    /// durable on the sink's side; the sink makes the others durable before
    /// returning.
    fn recovered(&self, notes: Vec<Arc<[u8]>>) -> std::io::Result<()>;
}

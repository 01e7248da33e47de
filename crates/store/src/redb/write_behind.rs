//! A redb storage backend whose durable commits return before their I/O.
//!
//! With the write-ahead log, a durable redb commit is only a checkpoint: the
//! log already holds every acknowledged write, and it is kept until the
//! checkpoint is on disk. Yet redb does the checkpoint's I/O inside the
//! commit, on the writer thread, while every request waits: about 12 MiB of
//! page writes and an fdatasync, 20 ms at 16,000 requests/s with 10,000
//! bundles (BENCHMARKS.md, "The store's checkpoint off the request path").
//!
//! This backend takes that I/O off the writer. Writes are copied into the
//! open *generation*; `sync_data` seals it and returns at once; an I/O thread
//! writes each sealed generation to the file and syncs it, strictly one after
//! the other. So the file goes through exactly the states it would have gone
//! through with synchronous syncs, only later: nothing of generation n+1
//! reaches the file before generation n is synced, which is the order redb's
//! crash safety rests on (it reuses the pages of the previous durable commit
//! only after the next one's sync). What a crash can lose is the last
//! generations, which the log still holds: the writer empties a log only
//! after [`Generations::wait_durable`] says the checkpoint that covers it is
//! on disk.
//!
//! Reads see every write, staged or not: they read the file, then replay the
//! staged operations over the buffer in order. `set_len` is staged like a
//! write (a shrink applied before the previous generation is synced could cut
//! pages that generation's durable state still uses), so the file is never
//! shorter than the logical length, and a staged shrink zeroes what a read
//! finds beyond it.
//!
//! An I/O error is sticky: every later call fails, the log is not emptied,
//! and a reopen replays it.
//!
//! Before any byte of a generation reaches the file, a [`BeforeWrite`]
//! runs: the store syncs its event log there, whose frames must be on disk
//! before redb durably holds their revisions ([`super::event_log`]).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use redb::{BackendError, StorageBackend};

/// Runs before a generation's first write reaches the file.
pub(crate) type BeforeWrite = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// At most this many sealed generations wait for the I/O thread before
/// `sync_data` waits for it: bounds the memory staged writes hold.
const MAX_SEALED: usize = 2;

/// One staged change to the file.
enum Staged {
    Write { offset: u64, data: Box<[u8]> },
    SetLen(u64),
}

impl Staged {
    /// Replays this change over `out`, which holds the bytes at `offset`.
    fn replay(&self, offset: u64, out: &mut [u8]) {
        let end = offset + out.len() as u64;
        match self {
            Staged::Write { offset: at, data } => {
                let write_end = at + data.len() as u64;
                let from = offset.max(*at);
                let to = end.min(write_end);
                if from < to {
                    let dst = (from - offset) as usize..(to - offset) as usize;
                    let src = (from - at) as usize..(to - at) as usize;
                    out[dst].copy_from_slice(&data[src]);
                }
            }
            Staged::SetLen(len) => {
                if *len < end {
                    let from = (*len).max(offset);
                    out[(from - offset) as usize..].fill(0);
                }
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// Changes since the last `sync_data`.
    open: Vec<Staged>,
    /// Sealed generations, oldest first, with their numbers; the I/O thread
    /// writes the front one and removes it once it is synced.
    sealed: VecDeque<(u64, Arc<Vec<Staged>>)>,
    /// Generations sealed so far (the last one's number).
    sealed_through: u64,
    /// Every generation up to this one is written and synced.
    durable_through: u64,
    /// The file's length as redb sees it.
    len: u64,
    /// The first I/O error, after which nothing more is written.
    failed: Option<(io::ErrorKind, String)>,
    closing: bool,
}

impl State {
    fn check(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some((kind, message)) => Err(io::Error::new(
                *kind,
                format!(
                    "an earlier write-behind write or sync of the store file failed: {message}"
                ),
            )),
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every change the I/O thread or a waiter cares about.
    changed: Condvar,
    before_write: BeforeWrite,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every
        // critical section is a few field updates).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|p| p.into_inner())
    }
}

/// Which generations are on disk: what the writer asks before it empties a
/// log.
#[derive(Clone)]
pub(crate) struct Generations {
    shared: Arc<Shared>,
}

impl Generations {
    /// The number of the last generation sealed (the last `sync_data`).
    pub fn sealed(&self) -> u64 {
        self.shared.lock().sealed_through
    }

    /// Waits until generation `generation` and all before it are on disk.
    pub fn wait_durable(&self, generation: u64) -> io::Result<()> {
        let mut state = self.shared.lock();
        loop {
            state.check()?;
            if state.durable_through >= generation {
                return Ok(());
            }
            state = self.shared.wait(state);
        }
    }
}

impl fmt::Debug for Generations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Generations")
            .field("sealed", &state.sealed_through)
            .field("durable", &state.durable_through)
            .finish()
    }
}

/// The backend. See the module documentation.
pub(crate) struct WriteBehind {
    inner: Arc<dyn StorageBackend>,
    shared: Arc<Shared>,
    /// `None` when writes go through at once ([`WriteBehind::through`]).
    io_thread: Mutex<Option<JoinHandle<()>>>,
    behind: bool,
    /// Writing through: the next write is the first of a generation, so
    /// [`BeforeWrite`] runs first.
    generation_starts: AtomicBool,
}

impl fmt::Debug for WriteBehind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBehind")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl WriteBehind {
    pub fn new(
        inner: Box<dyn StorageBackend>,
        before_write: BeforeWrite,
    ) -> io::Result<(Self, Generations)> {
        let inner: Arc<dyn StorageBackend> = Arc::from(inner);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                len: inner.len()?,
                ..State::default()
            }),
            changed: Condvar::new(),
            before_write,
        });
        let io_thread = std::thread::Builder::new()
            .name("corridor-store-io".into())
            .spawn({
                let (inner, shared) = (Arc::clone(&inner), Arc::clone(&shared));
                move || write_generations(&*inner, &shared)
            })?;
        let generations = Generations {
            shared: Arc::clone(&shared),
        };
        Ok((
            WriteBehind {
                inner,
                shared,
                io_thread: Mutex::new(Some(io_thread)),
                behind: true,
                generation_starts: AtomicBool::new(true),
            },
            generations,
        ))
    }

    /// Every call goes straight to `inner`: each sync is on disk when it
    /// returns, and its generation is durable at once (the store without
    /// its log, where a commit is the acknowledgement, or with
    /// `RedbOptions::checkpoint_write_behind` off).
    pub fn through(
        inner: Box<dyn StorageBackend>,
        before_write: BeforeWrite,
    ) -> (Self, Generations) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            before_write,
        });
        let generations = Generations {
            shared: Arc::clone(&shared),
        };
        (
            WriteBehind {
                inner: Arc::from(inner),
                shared,
                io_thread: Mutex::new(None),
                behind: false,
                generation_starts: AtomicBool::new(true),
            },
            generations,
        )
    }

    /// Writing through: runs [`BeforeWrite`] if this is a generation's
    /// first change.
    fn start_generation(&self) -> io::Result<()> {
        if self.generation_starts.swap(false, Ordering::AcqRel)
            && let Err(error) = (self.shared.before_write)()
        {
            self.generation_starts.store(true, Ordering::Release);
            return Err(error);
        }
        Ok(())
    }

    fn stage(&self, change: Staged) -> io::Result<()> {
        let mut state = self.shared.lock();
        state.check()?;
        if let Staged::SetLen(len) = change {
            state.len = len;
        }
        state.open.push(change);
        Ok(())
    }
}

impl WriteBehind {
    /// Reads what the file holds at `offset`, zeros where it ends. The file
    /// may be shorter than the logical length while a growth is staged (a
    /// grown file reads as zeros), and the I/O thread may shrink it under
    /// the read: then the length is taken again. Whatever the I/O thread
    /// writes meanwhile is still staged and replayed over the result.
    fn read_file(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut attempts = 0;
        loop {
            let on_file = self.inner.len()?;
            let readable = usize::try_from(on_file.saturating_sub(offset))
                .unwrap_or(usize::MAX)
                .min(out.len());
            out[readable..].fill(0);
            if readable == 0 {
                return Ok(());
            }
            match self.inner.read(offset, &mut out[..readable]) {
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof && attempts < 3 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }
}

/// The I/O thread: writes and syncs sealed generations in order until the
/// backend closes with nothing left to write.
fn write_generations(inner: &dyn StorageBackend, shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.failed.is_some() || (state.sealed.is_empty() && state.closing) {
            shared.changed.notify_all();
            return;
        }
        let Some((generation, changes)) = state.sealed.front() else {
            state = shared.wait(state);
            continue;
        };
        // The generation stays in `sealed`, readable, until it is synced.
        let (generation, changes) = (*generation, Arc::clone(changes));
        drop(state);
        let result = write_generation(inner, &changes, &shared.before_write);
        state = shared.lock();
        match result {
            Ok(()) => {
                state.sealed.pop_front();
                state.durable_through = generation;
            }
            Err(error) => state.failed = Some((error.kind(), error.to_string())),
        }
        shared.changed.notify_all();
    }
}

fn write_generation(
    inner: &dyn StorageBackend,
    changes: &[Staged],
    before_write: &BeforeWrite,
) -> io::Result<()> {
    if !changes.is_empty() {
        before_write()?;
    }
    for change in changes {
        match change {
            Staged::Write { offset, data } => inner.write(*offset, data)?,
            Staged::SetLen(len) => inner.set_len(*len)?,
        }
    }
    inner.sync_data()
}

impl StorageBackend for WriteBehind {
    fn len(&self) -> io::Result<u64> {
        if !self.behind {
            return self.inner.len();
        }
        let state = self.shared.lock();
        state.check()?;
        Ok(state.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        if !self.behind {
            return self.inner.read(offset, out);
        }
        let state = self.shared.lock();
        state.check()?;
        let end = offset + out.len() as u64;
        if end > state.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {offset}..{end} beyond the store file's {} bytes",
                    state.len
                ),
            ));
        }
        self.read_file(offset, out)?;
        for (_, changes) in &state.sealed {
            for change in changes.iter() {
                change.replay(offset, out);
            }
        }
        for change in &state.open {
            change.replay(offset, out);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if !self.behind {
            self.start_generation()?;
            return self.inner.set_len(len);
        }
        self.stage(Staged::SetLen(len))
    }

    /// Seals the open generation for the I/O thread and returns; waits only
    /// when [`MAX_SEALED`] generations are already waiting.
    fn sync_data(&self) -> io::Result<()> {
        if !self.behind {
            self.inner.sync_data()?;
            self.generation_starts.store(true, Ordering::Release);
            let mut state = self.shared.lock();
            state.sealed_through += 1;
            state.durable_through = state.sealed_through;
            return Ok(());
        }
        let mut state = self.shared.lock();
        while state.sealed.len() >= MAX_SEALED && state.failed.is_none() {
            state = self.shared.wait(state);
        }
        state.check()?;
        let changes = std::mem::take(&mut state.open);
        state.sealed_through += 1;
        let generation = state.sealed_through;
        state.sealed.push_back((generation, Arc::new(changes)));
        self.shared.changed.notify_all();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if !self.behind {
            self.start_generation()?;
            return self.inner.write(offset, data);
        }
        self.stage(Staged::Write {
            offset,
            data: data.into(),
        })
    }

    /// Writes and syncs everything staged, stops the I/O thread, then
    /// closes the file.
    fn close(&self) -> io::Result<()> {
        if !self.behind {
            return self.inner.close();
        }
        let sealed = {
            let state = self.shared.lock();
            !state.open.is_empty()
        };
        let flushed = if sealed { self.sync_data() } else { Ok(()) };
        {
            let mut state = self.shared.lock();
            state.closing = true;
            self.shared.changed.notify_all();
            while !state.sealed.is_empty() && state.failed.is_none() {
                state = self.shared.wait(state);
            }
        }
        let thread = self
            .io_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        let written = self.shared.lock().check();
        let closed = self.inner.close();
        flushed.and(written).and(closed)
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // redb calls `close`; should it not have (a failed open), the
        // thread finishes what is sealed and stops.
        {
            let mut state = self.shared.lock();
            state.closing = true;
            self.shared.changed.notify_all();
        }
        if let Some(thread) = self
            .io_thread
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// What reached the file, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Op {
        Write(u64, Vec<u8>),
        SetLen(u64),
        Sync,
        /// The [`BeforeWrite`] of [`marking`] ran.
        Before,
    }

    /// A file in memory that records every operation; its syncs wait while
    /// `held` is set, and fail once `broken` is.
    #[derive(Debug, Default)]
    struct Recorded {
        bytes: Mutex<Vec<u8>>,
        ops: Mutex<Vec<Op>>,
        held: AtomicBool,
        broken: AtomicBool,
    }

    #[derive(Debug, Clone, Default)]
    struct File(Arc<Recorded>);

    impl File {
        fn ops(&self) -> Vec<Op> {
            self.0.ops.lock().unwrap().clone()
        }
    }

    /// A [`BeforeWrite`] that records [`Op::Before`] among the file's ops.
    fn marking(file: &File) -> BeforeWrite {
        let file = file.clone();
        Arc::new(move || {
            file.0.ops.lock().unwrap().push(Op::Before);
            Ok(())
        })
    }

    impl StorageBackend for File {
        fn len(&self) -> io::Result<u64> {
            Ok(self.0.bytes.lock().unwrap().len() as u64)
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            let bytes = self.0.bytes.lock().unwrap();
            let range = offset as usize..offset as usize + out.len();
            let found = bytes.get(range).ok_or(io::ErrorKind::UnexpectedEof)?;
            out.copy_from_slice(found);
            Ok(())
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            self.0.bytes.lock().unwrap().resize(len as usize, 0);
            self.0.ops.lock().unwrap().push(Op::SetLen(len));
            Ok(())
        }

        fn sync_data(&self) -> io::Result<()> {
            while self.0.held.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if self.0.broken.load(Ordering::Acquire) {
                return Err(io::Error::other("the disk is gone"));
            }
            self.0.ops.lock().unwrap().push(Op::Sync);
            Ok(())
        }

        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            let mut bytes = self.0.bytes.lock().unwrap();
            let end = offset as usize + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[offset as usize..end].copy_from_slice(data);
            self.0
                .ops
                .lock()
                .unwrap()
                .push(Op::Write(offset, data.to_vec()));
            Ok(())
        }
    }

    /// Lets held syncs go when dropped, so a failing test does not leave
    /// the I/O thread waiting forever (declared after the backend, it drops
    /// first).
    struct Release(File);

    impl Drop for Release {
        fn drop(&mut self) {
            self.0.0.held.store(false, Ordering::Release);
        }
    }

    fn read(backend: &WriteBehind, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0xee; len];
        backend.read(offset, &mut out).unwrap();
        out
    }

    #[test]
    fn reads_see_every_staged_change_in_order() {
        let file = File::default();
        file.0.held.store(true, Ordering::Release);
        let (backend, generations) =
            WriteBehind::new(Box::new(file.clone()), marking(&file)).unwrap();
        let _release = Release(file.clone());
        backend.set_len(16).unwrap();
        backend.write(0, &[1; 8]).unwrap();
        backend.sync_data().unwrap();
        // Generation 2, staged behind the held sync of generation 1.
        backend.write(4, &[2; 8]).unwrap();
        backend.set_len(6).unwrap();
        backend.set_len(12).unwrap();
        assert_eq!(backend.len().unwrap(), 12);
        assert_eq!(
            read(&backend, 0, 12),
            [1, 1, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0],
            "the shrink cut the second write, the growth reads as zeros"
        );
        assert!(
            file.ops().iter().all(|op| *op != Op::Write(4, vec![2; 8])),
            "nothing of generation 2 reaches the file while generation 1 is unsynced"
        );
        backend.sync_data().unwrap();
        file.0.held.store(false, Ordering::Release);
        generations.wait_durable(generations.sealed()).unwrap();
        assert_eq!(read(&backend, 0, 12), [1, 1, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            file.ops(),
            [
                Op::Before,
                Op::SetLen(16),
                Op::Write(0, vec![1; 8]),
                Op::Sync,
                Op::Before,
                Op::Write(4, vec![2; 8]),
                Op::SetLen(6),
                Op::SetLen(12),
                Op::Sync,
            ],
            "the file goes through the states synchronous syncs would give it, \
             each generation after its BeforeWrite"
        );
        backend.close().unwrap();
    }

    #[test]
    fn a_generation_is_durable_only_once_its_sync_returned() {
        let file = File::default();
        file.0.held.store(true, Ordering::Release);
        let (backend, generations) =
            WriteBehind::new(Box::new(file.clone()), marking(&file)).unwrap();
        let _release = Release(file.clone());
        backend.write(0, &[7; 4]).unwrap();
        backend.sync_data().unwrap();
        let sealed = generations.sealed();
        let waiter = std::thread::spawn({
            let generations = generations.clone();
            move || generations.wait_durable(sealed)
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "durable before the sync returned");
        file.0.held.store(false, Ordering::Release);
        waiter.join().unwrap().unwrap();
        backend.close().unwrap();
    }

    #[test]
    fn a_failed_sync_is_never_durable_and_fails_everything_after() {
        let file = File::default();
        file.0.broken.store(true, Ordering::Release);
        let (backend, generations) =
            WriteBehind::new(Box::new(file.clone()), marking(&file)).unwrap();
        backend.write(0, &[7; 4]).unwrap();
        backend.sync_data().unwrap();
        let error = generations.wait_durable(generations.sealed()).unwrap_err();
        assert!(error.to_string().contains("the disk is gone"), "{error}");
        assert!(backend.write(8, &[1]).is_err());
        assert!(backend.sync_data().is_err());
        assert!(backend.close().is_err());
    }

    #[test]
    fn closing_writes_and_syncs_what_is_staged() {
        let file = File::default();
        let (backend, _generations) =
            WriteBehind::new(Box::new(file.clone()), marking(&file)).unwrap();
        backend.write(0, &[3; 4]).unwrap();
        backend.close().unwrap();
        assert_eq!(file.ops(), [Op::Before, Op::Write(0, vec![3; 4]), Op::Sync]);
    }

    #[test]
    fn through_goes_straight_to_the_file() {
        let file = File::default();
        let (backend, generations) = WriteBehind::through(Box::new(file.clone()), marking(&file));
        backend.write(0, &[5; 2]).unwrap();
        backend.write(2, &[6; 2]).unwrap();
        assert_eq!(
            file.ops(),
            [
                Op::Before,
                Op::Write(0, vec![5; 2]),
                Op::Write(2, vec![6; 2])
            ],
            "BeforeWrite runs once, before the generation's first write"
        );
        backend.sync_data().unwrap();
        assert_eq!(file.ops().last(), Some(&Op::Sync));
        assert_eq!(generations.sealed(), 1);
        generations.wait_durable(1).unwrap();
        backend.set_len(8).unwrap();
        assert_eq!(file.ops()[4..], [Op::Before, Op::SetLen(8)]);
    }
}

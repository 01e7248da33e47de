//! Where the store's files live: the seam between the store and storage.
//!
//! [`RedbStore::open`](super::RedbStore::open) uses [`LocalDisk`], plain files
//! with redb's own file backend, exactly as before this seam existed. Tests
//! open the store on a [`Disk`] of their own through
//! [`RedbStore::open_on`](super::RedbStore::open_on), for instance one that
//! forgets every byte not yet fsync'd when it "loses power"
//! (`tests/power_cut/`), which a SIGKILL cannot show because the page cache
//! survives the process.
//!
//! The disk is consulted only while opening; the log is then reached
//! through one boxed [`LogFile`], whose dynamic call costs nothing next to
//! the fdatasync each append waits for.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use redb::StorageBackend;
use redb::backends::FileBackend;

/// Opens the database file and its write-ahead log.
pub trait Disk: Debug + Send + Sync {
    /// Opens (or creates, empty) the redb database file at `path`: a
    /// `redb::backends::FileBackend` on a real filesystem, or storage of
    /// one's own. The store puts its write-behind layer on top.
    fn open_database(&self, path: &Path) -> std::io::Result<Box<dyn StorageBackend>>;

    /// Opens (or creates, empty) the write-ahead log file at `path`.
    fn open_log(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>>;

    /// Opens (or creates, empty) an event log file at `path`: a file read
    /// and written at offsets, like the database's, so by default the same
    /// kind of file.
    fn open_event_log(&self, path: &Path) -> std::io::Result<Box<dyn StorageBackend>> {
        self.open_database(path)
    }

    /// Makes the entries of directory `dir` durable: a file just created
    /// survives a power cut only once its directory is synced, however
    /// often the file itself was.
    fn sync_directory(&self, dir: &Path) -> std::io::Result<()>;

    /// Up to the first `len` bytes of the database file at `path` (empty
    /// when there is no file), read before redb opens it.
    fn read_database_head(&self, path: &Path, len: usize) -> std::io::Result<Vec<u8>>;

    /// Truncates the database file at `path` to nothing, durably.
    fn empty_database(&self, path: &Path) -> std::io::Result<()>;
}

/// Where redb keeps its magic number: the first bytes of the file.
const REDB_MAGIC_LEN: usize = 9;

/// Empties a database file whose creation a crash interrupted, so redb
/// creates it again; returns whether it did.
///
/// redb creates a database by sizing the file, writing and flushing its
/// header without the magic number, then writing the magic number and
/// flushing again, so that a file with the magic number is a whole
/// database. A file with bytes and zeros where the magic number goes is
/// one that never got there: nothing was ever committed to it (the write-ahead log, if
/// any, still holds every acknowledged write), yet redb refuses to open it
/// ("magic number mismatch") and the store could never start again. A
/// database that did get its magic number never loses it (every later
/// header write carries it), and any other foreign bytes are left for
/// redb to refuse.
pub(super) fn discard_uncreated_database(disk: &dyn Disk, path: &Path) -> std::io::Result<bool> {
    let head = disk.read_database_head(path, REDB_MAGIC_LEN)?;
    if head.is_empty() || head.iter().any(|b| *b != 0) {
        return Ok(false);
    }
    disk.empty_database(path)?;
    Ok(true)
}

/// What the write-ahead log needs of its file. Durability is exactly what
/// [`LogFile::sync_data`] and [`LogFile::sync_all`] promise, as with
/// `fdatasync(2)` and `fsync(2)`: bytes written and not yet synced may be
/// lost, or partly lost, if the machine loses power.
pub trait LogFile: Send {
    /// The whole file.
    fn read_all(&mut self) -> std::io::Result<Vec<u8>>;
    /// Writes all of `data` at `offset`, growing the file if needed.
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()>;
    /// Writes `data` at `offset`, where the file holds only zeros from
    /// `offset` to its end, and makes it durable: what an append to the log
    /// is. By default [`LogFile::write_all_at`], then
    /// [`LogFile::sync_data`].
    fn append_durable(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        self.write_all_at(data, offset)?;
        self.sync_data()
    }
    /// Makes the data written so far (and the file size) durable.
    fn sync_data(&mut self) -> std::io::Result<()>;
    /// [`LogFile::sync_data`] and every other piece of metadata.
    fn sync_all(&mut self) -> std::io::Result<()>;
}

/// `path` for reading and writing, created empty if missing, never truncated.
fn open_or_create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The local filesystem: what production uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalDisk;

impl Disk for LocalDisk {
    fn open_database(&self, path: &Path) -> std::io::Result<Box<dyn StorageBackend>> {
        let backend = FileBackend::new(open_or_create(path)?).map_err(std::io::Error::other)?;
        Ok(Box::new(backend))
    }

    fn open_log(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        Ok(Box::new(LocalLog::open(path)?))
    }

    fn sync_directory(&self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn read_database_head(&self, path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut head = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut head)?;
        Ok(head)
    }

    fn empty_database(&self, path: &Path) -> std::io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(0)?;
        file.sync_all()
    }
}

impl LogFile for File {
    fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn write_all_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        FileExt::write_all_at(self, data, offset)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        File::sync_data(self)
    }

    fn sync_all(&mut self) -> std::io::Result<()> {
        File::sync_all(self)
    }
}

/// Unit of a direct write: a multiple of every logical block size Linux
/// supports (512 B to 4 KiB), and the page size.
const DIRECT_BLOCK: usize = 4096;

/// The write-ahead log on the local filesystem.
///
/// Appends go through a second descriptor opened `O_DIRECT | O_DSYNC`: one
/// `pwrite` that reaches the device and returns once the data is durable,
/// instead of a buffered write into the page cache and an `fdatasync` that
/// writes the dirty page back (the writeback was about half of the
/// fdatasync's CPU in the grant benchmark's profile). A direct write must
/// cover whole aligned blocks, so each append rewrites the start of its
/// first block with the bytes already there (kept in `tail`) and pads its
/// last block with zeros, which is what the file holds past the end of the
/// log ([`LogFile::append_durable`]'s precondition). Rewriting bytes with
/// themselves is what buffered writeback does too (it writes whole pages),
/// so a torn append cannot damage an earlier record either way.
///
/// Everything else (reading, zeroing, the header) uses the buffered
/// descriptor; the kernel keeps the two coherent (a direct write first
/// writes back and then drops the cached pages of its range). A filesystem
/// without `O_DIRECT` (tmpfs) gets the buffered write and `fdatasync`.
struct LocalLog {
    file: File,
    direct: Option<File>,
    /// The file's bytes from the start of the block the next append begins
    /// in up to that append's offset, as last written; `None` once
    /// anything else wrote to the file.
    tail: Option<Tail>,
    /// Reused for each append's aligned copy.
    buffer: Vec<u8>,
}

struct Tail {
    block_start: u64,
    bytes: Vec<u8>,
}

impl LocalLog {
    fn open(path: &Path) -> std::io::Result<Self> {
        let file = open_or_create(path)?;
        let direct = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
            .open(path)
        {
            Ok(direct) => Some(direct),
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!(path = %path.display(), "no O_DIRECT here: the log appends through the page cache");
                None
            }
            Err(error) => return Err(error),
        };
        Ok(Self {
            file,
            direct,
            tail: None,
            buffer: Vec::new(),
        })
    }

    /// The bytes of the file from the start of `offset`'s block to
    /// `offset`: remembered from the last append, else read.
    fn take_tail(&mut self, offset: u64) -> std::io::Result<Tail> {
        let block_start = offset - offset % DIRECT_BLOCK as u64;
        if let Some(tail) = self.tail.take()
            && tail.block_start == block_start
            && tail.block_start + tail.bytes.len() as u64 == offset
        {
            return Ok(tail);
        }
        let mut bytes = vec![0; usize::try_from(offset - block_start).expect("under a block")];
        self.file.read_exact_at(&mut bytes, block_start)?;
        Ok(Tail { block_start, bytes })
    }
}

impl LogFile for LocalLog {
    fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        self.file.read_all()
    }

    fn write_all_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        self.tail = None;
        FileExt::write_all_at(&self.file, data, offset)
    }

    fn append_durable(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        if self.direct.is_none() {
            self.write_all_at(data, offset)?;
            return self.sync_data();
        }
        let tail = self.take_tail(offset)?;
        let written = tail.bytes.len() + data.len();
        let padded = written.next_multiple_of(DIRECT_BLOCK);
        // An aligned window of a plain vector: O_DIRECT wants the memory
        // aligned as well as the offset and length. Only the padding needs
        // zeros; the rest is copied over.
        if self.buffer.len() < padded + DIRECT_BLOCK {
            self.buffer.resize(padded + DIRECT_BLOCK, 0);
        }
        let at = self.buffer.as_ptr().align_offset(DIRECT_BLOCK);
        let window = &mut self.buffer[at..at + padded];
        window[..tail.bytes.len()].copy_from_slice(&tail.bytes);
        window[tail.bytes.len()..written].copy_from_slice(data);
        window[written..].fill(0);
        let direct = self.direct.as_ref().expect("checked above");
        FileExt::write_all_at(direct, window, tail.block_start)?;
        let end = offset + data.len() as u64;
        let block_start = end - end % DIRECT_BLOCK as u64;
        let kept = usize::try_from(block_start - tail.block_start).expect("within the window");
        let mut bytes = tail.bytes;
        bytes.clear();
        bytes.extend_from_slice(&window[kept..written]);
        self.tail = Some(Tail { block_start, bytes });
        Ok(())
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&mut self) -> std::io::Result<()> {
        self.file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SIZE: usize = 256 << 10;

    /// What a step does before its append.
    #[derive(Debug, Clone, Copy)]
    enum Before {
        Nothing,
        /// Zeros written back over the used part, as `Wal::reset` does.
        Empty,
        /// The append goes where the last one went (the log retrying a
        /// write it saw fail), at least as long, so it covers it.
        Retry,
    }

    /// What the log does to its file, at random: appends of any length
    /// (within a block, across blocks, ending on a boundary), emptying and
    /// retries between them. The file must hold exactly what a plain buffer
    /// given the same writes holds.
    fn check(steps: &[(usize, Before)]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LocalLog::open(&path).unwrap();
        assert!(
            log.direct.is_some(),
            "the test directory's filesystem takes O_DIRECT (ext4 here)"
        );
        log.write_all_at(&vec![0; SIZE], 0).unwrap();
        log.write_all_at(b"CRDWAL\x00\x01", 0).unwrap();
        let mut model = vec![0u8; SIZE];
        model[..8].copy_from_slice(b"CRDWAL\x00\x01");
        let (mut len, mut last) = (8, 0);
        for (n, &(size, before)) in steps.iter().enumerate() {
            let mut size = size;
            match before {
                Before::Nothing => {}
                Before::Empty => {
                    log.write_all_at(&vec![0; len - 8], 8).unwrap();
                    model[8..len].fill(0);
                    len = 8;
                }
                Before::Retry => {
                    len -= last;
                    size = size.max(last);
                }
            }
            let size = size.min(SIZE - len);
            let data: Vec<u8> = (0..size).map(|i| (n * 31 + i) as u8 | 1).collect();
            log.append_durable(&data, len as u64).unwrap();
            model[len..len + size].copy_from_slice(&data);
            len += size;
            last = size;
            assert!(
                std::fs::read(&path).unwrap() == model,
                "file differs after step {n}"
            );
        }
    }

    #[test]
    fn appends_on_and_across_block_boundaries_keep_every_byte() {
        check(&[
            (4088, Before::Nothing), // ends exactly on the first block boundary
            (1, Before::Nothing),
            (4095, Before::Nothing), // again on a boundary
            (10_000, Before::Nothing),
            (3, Before::Empty),
            (8192, Before::Nothing),
            (100, Before::Nothing),
            (50, Before::Retry),
        ]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn direct_appends_write_what_buffered_writes_would(
            steps in prop::collection::vec(
                (
                    1usize..9000,
                    prop_oneof![
                        8 => Just(Before::Nothing),
                        1 => Just(Before::Empty),
                        1 => Just(Before::Retry),
                    ],
                ),
                1..24,
            )
        ) {
            check(&steps);
        }
    }
}

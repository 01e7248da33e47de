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
use std::os::unix::fs::FileExt;
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
        Ok(Box::new(open_or_create(path)?))
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

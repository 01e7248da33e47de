//! A disk in memory that can lose power.
//!
//! Each file keeps two images: what the running system reads (`current`) and
//! what is on the platter (`durable`). `sync_data`/`sync_all` copy the pages
//! written since the last sync from one to the other; nothing else does. When
//! the power is cut, every handle opened before fails from then on, and
//! [`SimDisk::reboot`] builds the next boot's disk from the durable images:
//! with [`Loss::Unsynced`] every unsynced byte is gone; with
//! [`Loss::TornPages`] each page written since the last sync independently
//! reached the platter or did not, as when the kernel's write-back got to
//! some dirty pages of a file and not others (a page is the unit: sectors
//! inside one page are not torn apart). A file created since its directory
//! was last synced is gone after the cut ([`Loss::TornPages`]: gone or not,
//! at random), however often the file itself was synced.
//!
//! The power can be cut at a chosen point ([`SimDisk::arm`]): the `n`-th
//! mutating operation (write, set_len, sync) from then on fails instead of
//! happening, and so does everything after it. The cut and each sync are
//! ordered by one lock, so a sync either finished before the cut (and its
//! data survives) or fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use corridor_store::{Disk, LogFile};
use rand::Rng;
use redb::StorageBackend;

/// The unit of write-back and of tearing.
pub const PAGE: usize = 4096;

/// What a power cut does to data written since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// All of it is lost.
    Unsynced,
    /// Each dirty page is lost or kept, independently, at random.
    TornPages,
}

#[derive(Debug, Default, Clone)]
struct SimFile {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// Pages of `current` written since the last sync.
    dirty: BTreeSet<usize>,
}

impl SimFile {
    fn write(&mut self, offset: usize, data: &[u8]) {
        let end = offset + data.len();
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[offset..end].copy_from_slice(data);
        if !data.is_empty() {
            self.dirty.extend(offset / PAGE..=(end - 1) / PAGE);
        }
    }

    fn set_len(&mut self, len: usize) {
        let old = self.current.len();
        self.current.resize(len, 0);
        // New zeros are data like any other; a shrink shows at the next sync.
        if len > old {
            self.dirty.extend(old / PAGE..=(len - 1) / PAGE);
        }
    }

    fn sync(&mut self) {
        self.durable.resize(self.current.len(), 0);
        for page in std::mem::take(&mut self.dirty) {
            let (start, end) = self.page_bounds(page);
            if start < end {
                self.durable[start..end].copy_from_slice(&self.current[start..end]);
            }
        }
    }

    fn page_bounds(&self, page: usize) -> (usize, usize) {
        let start = page * PAGE;
        (
            start.min(self.current.len()),
            (start + PAGE).min(self.current.len()),
        )
    }

    /// What the platter holds after the power fails.
    fn after_power_loss(&self, loss: Loss, rng: &mut impl Rng) -> SimFile {
        let mut image = self.durable.clone();
        if loss == Loss::TornPages {
            for &page in &self.dirty {
                let (start, end) = self.page_bounds(page);
                if start < end && rng.random_bool(0.5) {
                    if image.len() < end {
                        image.resize(end, 0);
                    }
                    image[start..end].copy_from_slice(&self.current[start..end]);
                }
            }
        }
        SimFile {
            current: image.clone(),
            durable: image,
            dirty: BTreeSet::new(),
        }
    }
}

#[derive(Debug)]
struct State {
    files: BTreeMap<PathBuf, SimFile>,
    /// Files whose name a directory sync made durable.
    named: BTreeSet<PathBuf>,
    powered: bool,
    /// Mutating operations still allowed before the power fails.
    ops_left: Option<u64>,
    /// Every mutating operation this boot, in order: the file and what.
    history: Vec<(PathBuf, Operation)>,
}

/// A mutating operation on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Write,
    SetLen,
    Sync,
    SyncDirectory,
}

/// One boot of the simulated disk. Cheap to clone (clones share it).
#[derive(Debug, Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl Default for SimDisk {
    fn default() -> Self {
        Self::with_files(BTreeMap::new())
    }
}

impl SimDisk {
    fn with_files(files: BTreeMap<PathBuf, SimFile>) -> Self {
        SimDisk {
            state: Arc::new(Mutex::new(State {
                named: files.keys().cloned().collect(),
                files,
                powered: true,
                ops_left: None,
                history: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the disk from the others.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cuts the power just before the `n`-th mutating operation from now
    /// (`n` = 0: at once).
    pub fn arm(&self, n: u64) {
        let mut state = self.lock();
        if n == 0 {
            state.powered = false;
        } else {
            state.ops_left = Some(n);
        }
    }

    pub fn powered(&self) -> bool {
        self.lock().powered
    }

    /// The mutating operations this boot so far, in order.
    pub fn history(&self) -> Vec<(PathBuf, Operation)> {
        self.lock().history.clone()
    }

    /// The next boot: the files as the platter holds them after this boot's
    /// power loss (cutting the power first if it is still on).
    pub fn reboot(&self, loss: Loss, rng: &mut impl Rng) -> SimDisk {
        let mut state = self.lock();
        state.powered = false;
        let mut files = BTreeMap::new();
        for (path, file) in &state.files {
            if state.named.contains(path) || (loss == Loss::TornPages && rng.random_bool(0.5)) {
                files.insert(path.clone(), file.after_power_loss(loss, rng));
            }
        }
        SimDisk::with_files(files)
    }

    /// The bytes a reader of `path` sees now.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.current.clone())
    }

    fn handle(&self, path: &Path) -> SimHandle {
        self.lock().files.entry(path.to_path_buf()).or_default();
        SimHandle {
            disk: self.clone(),
            path: path.to_path_buf(),
        }
    }
}

impl Disk for SimDisk {
    fn open_database(&self, path: &Path) -> std::io::Result<Box<dyn StorageBackend>> {
        Ok(Box::new(self.handle(path)))
    }

    fn open_log(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        Ok(Box::new(self.handle(path)))
    }

    fn sync_directory(&self, dir: &Path) -> std::io::Result<()> {
        let mut state = self.lock();
        spend_operation(&mut state, dir, Operation::SyncDirectory)?;
        let in_dir: Vec<PathBuf> = state
            .files
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .cloned()
            .collect();
        state.named.extend(in_dir);
        Ok(())
    }

    fn read_database_head(&self, path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
        let state = self.lock();
        if !state.powered {
            return Err(power_off());
        }
        Ok(state
            .files
            .get(path)
            .map_or_else(Vec::new, |f| f.current[..len.min(f.current.len())].to_vec()))
    }

    fn empty_database(&self, path: &Path) -> std::io::Result<()> {
        let handle = self.handle(path);
        StorageBackend::set_len(&handle, 0)?;
        StorageBackend::sync_data(&handle)
    }
}

/// Counts one mutating operation, or fails it if the power is off or goes
/// off now.
fn spend_operation(state: &mut State, path: &Path, operation: Operation) -> std::io::Result<()> {
    if !state.powered {
        return Err(power_off());
    }
    match state.ops_left {
        Some(0) | Some(1) => {
            state.powered = false;
            return Err(power_off());
        }
        Some(n) => state.ops_left = Some(n - 1),
        None => {}
    }
    state.history.push((path.to_path_buf(), operation));
    Ok(())
}

/// An open file on one boot of the disk.
#[derive(Debug)]
struct SimHandle {
    disk: SimDisk,
    path: PathBuf,
}

fn power_off() -> std::io::Error {
    std::io::Error::other("the simulated disk has lost power")
}

impl SimHandle {
    fn read<R>(&self, f: impl FnOnce(&SimFile) -> R) -> std::io::Result<R> {
        let state = self.disk.lock();
        if !state.powered {
            return Err(power_off());
        }
        Ok(f(&state.files[&self.path]))
    }

    fn mutate(&self, operation: Operation, f: impl FnOnce(&mut SimFile)) -> std::io::Result<()> {
        let mut state = self.disk.lock();
        spend_operation(&mut state, &self.path, operation)?;
        let file = state.files.get_mut(&self.path).expect("opened files exist");
        f(file);
        Ok(())
    }
}

impl StorageBackend for SimHandle {
    fn len(&self) -> std::io::Result<u64> {
        self.read(|f| f.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.read(|f| {
            let start = offset as usize;
            match f.current.get(start..start + out.len()) {
                Some(bytes) => {
                    out.copy_from_slice(bytes);
                    Ok(())
                }
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "read past the end of the simulated file",
                )),
            }
        })?
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.mutate(Operation::SetLen, |f| f.set_len(len as usize))
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.mutate(Operation::Sync, SimFile::sync)
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.mutate(Operation::Write, |f| f.write(offset as usize, data))
    }
}

impl LogFile for SimHandle {
    fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        self.read(|f| f.current.clone())
    }

    fn write_all_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
        self.mutate(Operation::Write, |f| f.write(offset as usize, data))
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        self.mutate(Operation::Sync, SimFile::sync)
    }

    fn sync_all(&mut self) -> std::io::Result<()> {
        self.mutate(Operation::Sync, SimFile::sync)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Write { offset: usize, len: usize, byte: u8 },
        Sync,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..3 * PAGE, 1..2 * PAGE, 1..=255u8)
                .prop_map(|(offset, len, byte)| Step::Write { offset, len, byte }),
            1 => Just(Step::Sync),
        ]
    }

    proptest! {
        /// After a cut, every synced byte is there; with `Unsynced` nothing
        /// else is, and with `TornPages` each page is either as last synced
        /// or as last written.
        #[test]
        fn a_power_loss_keeps_exactly_what_was_synced(
            steps in proptest::collection::vec(step(), 0..24),
            torn in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let path = Path::new("/f");
            let disk = SimDisk::default();
            let mut file = disk.open_log(path).unwrap();
            disk.sync_directory(Path::new("/")).unwrap();
            let mut synced = Vec::new();
            for step in &steps {
                match step {
                    Step::Write { offset, len, byte } => {
                        file.write_all_at(&vec![*byte; *len], *offset as u64).unwrap();
                    }
                    Step::Sync => {
                        file.sync_data().unwrap();
                        synced = disk.contents(path).unwrap();
                    }
                }
            }
            let written = disk.contents(path).unwrap();
            let loss = if torn { Loss::TornPages } else { Loss::Unsynced };
            let after = disk.reboot(loss, &mut StdRng::seed_from_u64(seed));
            prop_assert!(file.write_all_at(b"x", 0).is_err(), "the old boot's handles are dead");
            let image = after.contents(path).unwrap();
            match loss {
                Loss::Unsynced => prop_assert_eq!(&image, &synced),
                Loss::TornPages => {
                    prop_assert!(image.len() >= synced.len() && image.len() <= written.len().max(synced.len()));
                    // A page kept beyond the synced end leaves a hole of zeros before it.
                    let mut synced = synced.clone();
                    synced.resize(image.len(), 0);
                    for (page, bytes) in image.chunks(PAGE).enumerate() {
                        let start = page * PAGE;
                        let was = |v: &Vec<u8>| v.get(start..start + bytes.len()).is_some_and(|b| b == bytes);
                        prop_assert!(was(&synced) || was(&written), "page {} is neither synced nor written", page);
                    }
                }
            }
        }
    }

    #[test]
    fn the_armed_operation_fails_and_so_does_everything_after() {
        let path = Path::new("/f");
        let disk = SimDisk::default();
        let mut file = disk.open_log(path).unwrap();
        disk.sync_directory(Path::new("/")).unwrap();
        disk.arm(2);
        file.write_all_at(b"a", 0).unwrap();
        assert!(file.sync_data().is_err());
        assert!(!disk.powered());
        assert!(file.read_all().is_err());
        let after = disk.reboot(Loss::Unsynced, &mut StdRng::seed_from_u64(0));
        assert_eq!(after.contents(path).unwrap(), b"");
    }

    #[test]
    fn a_new_file_needs_its_directory_synced_to_survive() {
        let disk = SimDisk::default();
        for name in ["/d/named", "/d/unnamed"] {
            let mut file = disk.open_log(Path::new(name)).unwrap();
            file.write_all_at(b"data", 0).unwrap();
            file.sync_all().unwrap();
            if name == "/d/named" {
                disk.sync_directory(Path::new("/d")).unwrap();
            }
        }
        let after = disk.reboot(Loss::Unsynced, &mut StdRng::seed_from_u64(0));
        assert_eq!(after.contents(Path::new("/d/named")).unwrap(), b"data");
        assert_eq!(after.contents(Path::new("/d/unnamed")), None);
    }
}

//! Backing memory: the syscalls that create a bundle's memory and place it on NUMA nodes,
//! behind the [`MemoryBackend`] trait so that services hold no syscall.
//!
//! [`LinuxMemoryBackend`] is the kernel's:
//!
//! * `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate(bytes)` (sparse: no page
//!   exists until touched), then `F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL`, so no holder of
//!   the fd can resize it under another's mapping (a shrink would SIGBUS every mapper).
//! * A NUMA policy is set by mapping the fd `MAP_SHARED`, calling `mbind` on the mapping and
//!   unmapping it: for shmem (memfd) the kernel keeps a *shared* policy on the inode, which
//!   governs every later fault from any process (mm/shmem.c `shmem_set_policy`). A regular
//!   file has no shared policy: there it holds for that mapping only.
//! * Several nodes use `MPOL_WEIGHTED_INTERLEAVE` (Linux 6.9+, by raw syscall; the weights
//!   are the system-wide `/sys/kernel/mm/mempolicy/weighted_interleave/nodeN`), falling back
//!   to `MPOL_INTERLEAVE` when the kernel refuses it.
//! * Migration to one node is `move_pages(2)` over the resident pages that are elsewhere, in
//!   chunks ([`move_chunk_pages`]), each chunk's count reported as it completes (the
//!   operation's progress). A bundle's pages are usually mapped by its users too, and the
//!   kernel moves a page mapped by several processes only with `MPOL_MF_MOVE_ALL`, which needs
//!   `CAP_SYS_NICE`; without it the call falls back to `MPOL_MF_MOVE` and says how many shared
//!   pages stayed. Migration to several nodes is `mbind` with the same flags (the kernel
//!   spreads the pages by the interleave). Pages off the target are found with `move_pages` in
//!   query mode (`nodes = NULL`), so every count is the kernel's, not an estimate. Residency
//!   is `mincore(2)`. Scans go 1 GiB at a time, so a 256 GiB bundle costs no more scan memory
//!   than a small one.

use std::ffi::c_void;
use std::fmt::Debug;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use thiserror::Error;

/// `mbind` modes (include/uapi/linux/mempolicy.h).
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
/// `mbind`/`move_pages` flag: move pages mapped only by this process.
const MPOL_MF_MOVE: u32 = 1 << 1;
/// `mbind`/`move_pages` flag: move pages whoever maps them (`CAP_SYS_NICE`).
const MPOL_MF_MOVE_ALL: u32 = 1 << 2;
/// A migration reports progress about this many times, whatever the bundle's size.
pub const MOVE_REPORTS: u64 = 64;
/// Pages per `move_pages` call of a migration, at least (4 MiB: the per-call cost of
/// page-table walks and TLB shootdowns stays spread) and at most (1 GiB, one scan window).
const MOVE_CHUNK_PAGES: std::ops::RangeInclusive<u64> = 1024..=(1 << 18);
/// Passes over a chunk's pages before those still elsewhere are reported as left behind.
const MOVE_PASSES: usize = 4;

/// Pages per `move_pages` call for a migration of `resident` pages: about
/// [`MOVE_REPORTS`] calls, within [`MOVE_CHUNK_PAGES`].
#[must_use]
pub fn move_chunk_pages(resident: u64) -> usize {
    (resident / MOVE_REPORTS).clamp(*MOVE_CHUNK_PAGES.start(), *MOVE_CHUNK_PAGES.end()) as usize
}

const PAGE: u64 = 4096;
/// Pages scanned at a time (1 GiB of 4 KiB pages).
const WINDOW_PAGES: usize = 1 << 18;

/// A syscall that failed, and which step of the operation it was.
#[derive(Debug, Error)]
#[error("{step}")]
pub struct BackendError {
    /// What was being done ("memfd_create", "mbind", …).
    pub step: &'static str,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

impl BackendError {
    fn new(step: &'static str, source: impl Into<std::io::Error>) -> Self {
        Self {
            step,
            source: source.into(),
        }
    }

    fn last_os(step: &'static str) -> Self {
        Self::new(step, std::io::Error::last_os_error())
    }
}

/// The NUMA policy mode a [`MemoryBackend::bind`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumaMode {
    /// One node: `MPOL_BIND`.
    Bind,
    /// Several nodes, weighted by the kernel's interleave weights.
    WeightedInterleave,
    /// Several nodes, equal weights: the kernel refused weighted interleave (before 6.9).
    Interleave,
    /// Several nodes, each 2 MiB extent bound to one of them, in the bundle's own ratio
    /// ([`weighted_extents`]).
    Extents,
}

impl NumaMode {
    /// The kernel's name of the mode.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bind => "MPOL_BIND",
            Self::WeightedInterleave => "MPOL_WEIGHTED_INTERLEAVE",
            Self::Interleave => "MPOL_INTERLEAVE",
            Self::Extents => "MPOL_BIND per extent",
        }
    }
}

/// What [`MemoryBackend::bind`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The mode in force.
    pub mode: NumaMode,
    /// Resident pages that left nodes outside the target set (0 unless asked to move).
    pub moved_pages: u64,
}

/// How far a [`MemoryBackend::migrate`] has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationProgress {
    /// Pages present in memory when the migration started (the work to examine).
    pub resident_pages: u64,
    /// Resident pages examined so far.
    pub examined_pages: u64,
    /// Pages the kernel moved onto the target so far.
    pub moved_pages: u64,
    /// Pages that stayed off the target (busy, or shared without `CAP_SYS_NICE`).
    pub left_pages: u64,
}

/// What a [`MemoryBackend::migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The mode in force afterwards.
    pub mode: NumaMode,
    pub progress: MigrationProgress,
    /// Whether pages mapped by other processes could be moved (`MPOL_MF_MOVE_ALL`); false
    /// when the kernel refused it for want of `CAP_SYS_NICE`.
    pub moved_shared: bool,
}

/// The unit a bundle over several nodes is split in: one huge page, so each extent can be one
/// 2 MiB page and no page straddles two nodes.
pub const EXTENT: u64 = 2 << 20;

/// A byte range of a bundle bound to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRange {
    pub offset: u64,
    pub len: u64,
    pub node: u32,
}

/// Splits `bytes` into [`EXTENT`]s dealt to `weights`' nodes by smooth weighted round robin
/// (each extent to the node furthest below its share so far), so every node's bytes stay
/// within one extent of its share at every point of the bundle, and neighbouring extents
/// usually alternate (a sequential reader draws on every node). Adjacent extents of one node
/// are merged. Nodes of weight 0 get nothing; all weights 0 binds everything to the first.
#[must_use]
pub fn weighted_extents(bytes: u64, weights: &[(u32, u64)]) -> Vec<NodeRange> {
    let total: u64 = weights.iter().map(|&(_, w)| w).sum();
    let mut current = vec![0i128; weights.len()];
    let mut ranges: Vec<NodeRange> = Vec::new();
    let mut offset = 0;
    while offset < bytes {
        let pick = if total == 0 {
            0
        } else {
            for (c, &(_, w)) in current.iter_mut().zip(weights) {
                *c += i128::from(w);
            }
            let pick = (0..weights.len())
                .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
                .unwrap_or(0);
            current[pick] -= i128::from(total);
            pick
        };
        let Some(&(node, _)) = weights.get(pick) else {
            break;
        };
        let len = EXTENT.min(bytes - offset);
        match ranges.last_mut() {
            Some(last) if last.node == node => last.len += len,
            _ => ranges.push(NodeRange { offset, len, node }),
        }
        offset += len;
    }
    ranges
}

/// The syscalls behind a memory bundle.
pub trait MemoryBackend: Send + Sync + Debug {
    /// A new anonymous memory file of `bytes` (sparse), sealed against any resize.
    ///
    /// # Errors
    /// The step that failed (create, size, seal).
    fn sealed_memfd(&self, name: &str, bytes: u64) -> Result<OwnedFd, BackendError>;

    /// Whether the fd is sealed against grow, shrink and further sealing.
    ///
    /// # Errors
    /// The seals cannot be read.
    fn sealed_against_resize(&self, fd: BorrowedFd<'_>) -> Result<bool, BackendError>;

    /// Sets the NUMA policy of the first `bytes` of the fd to `nodes` (non-empty; one node
    /// binds, several interleave). With `move_resident`, pages already resident elsewhere are
    /// migrated, and the number that left the other nodes is returned.
    ///
    /// # Errors
    /// The step that failed (map, mbind, the residency scans).
    fn bind(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        nodes: &[u32],
        move_resident: bool,
    ) -> Result<Binding, BackendError>;

    /// Pages of the first `bytes` of the fd present in memory.
    ///
    /// # Errors
    /// The step that failed (map, mincore).
    fn resident_pages(&self, fd: BorrowedFd<'_>, bytes: u64) -> Result<u64, BackendError>;

    /// Binds each range of `layout` (from [`weighted_extents`]) to its node: a bundle over
    /// several nodes in its own ratio, which the kernel's weighted interleave cannot give (its
    /// weights are system-wide). With `move_resident`, resident pages move to their range's
    /// node and the count that did is returned.
    ///
    /// # Errors
    /// The step that failed (map, mbind, the residency scans).
    fn bind_extents(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        layout: &[NodeRange],
        move_resident: bool,
    ) -> Result<Binding, BackendError>;

    /// Sets the NUMA policy of the first `bytes` of the fd to `nodes` (as [`Self::bind`]) and
    /// moves the resident pages that are elsewhere onto them, calling `progress` as chunks
    /// complete.
    ///
    /// # Errors
    /// The step that failed (map, mbind, the residency scans, move_pages).
    fn migrate(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        nodes: &[u32],
        progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<Migration, BackendError>;
}

/// The Linux kernel's memfd, `mbind`, `move_pages` and `mincore`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxMemoryBackend;

impl MemoryBackend for LinuxMemoryBackend {
    fn sealed_memfd(&self, name: &str, bytes: u64) -> Result<OwnedFd, BackendError> {
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(|e| BackendError::new("memfd_create", e))?;
        rustix::fs::ftruncate(&fd, bytes)
            .map_err(|e| BackendError::new("ftruncate the memfd", e))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL)
            .map_err(|e| BackendError::new("seal the memfd against resize", e))?;
        Ok(fd)
    }

    fn sealed_against_resize(&self, fd: BorrowedFd<'_>) -> Result<bool, BackendError> {
        match rustix::fs::fcntl_get_seals(fd) {
            Ok(seals) => Ok(seals.contains(SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL)),
            // Only shmem and hugetlbfs files carry seals; anything else cannot be sealed.
            Err(rustix::io::Errno::INVAL) => Ok(false),
            Err(e) => Err(BackendError::new("read the seals", e)),
        }
    }

    fn bind(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        nodes: &[u32],
        move_resident: bool,
    ) -> Result<Binding, BackendError> {
        let one = nodes.len() == 1;
        if bytes == 0 {
            // Nothing to map; an empty bundle has no page to place.
            return Ok(Binding {
                mode: if one {
                    NumaMode::Bind
                } else {
                    NumaMode::WeightedInterleave
                },
                moved_pages: 0,
            });
        }
        if move_resident {
            let migration = self.migrate(fd, bytes, nodes, &mut |_| {})?;
            return Ok(Binding {
                mode: migration.mode,
                moved_pages: migration.progress.moved_pages,
            });
        }
        let mapping = Mapping::new(fd, bytes)?;
        let mode = mapping.set_policy(nodes, 0)?;
        Ok(Binding {
            mode,
            moved_pages: 0,
        })
    }

    fn migrate(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        nodes: &[u32],
        progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<Migration, BackendError> {
        let mut done = MigrationProgress::default();
        if bytes == 0 {
            return Ok(Migration {
                mode: if nodes.len() == 1 {
                    NumaMode::Bind
                } else {
                    NumaMode::WeightedInterleave
                },
                progress: done,
                moved_shared: true,
            });
        }
        let mapping = Mapping::new(fd, bytes)?;
        done.resident_pages = self.resident_pages(fd, bytes)?;
        progress(done);
        if let [target] = nodes {
            // The policy first, so pages faulted in during the move land on the target.
            let mode = mapping.set_policy(nodes, 0)?;
            let mut moved_shared = mapping.move_resident_to(*target, &mut done, progress)?;
            // A page can come back after its chunk moved: a NUMA-balancing hinting fault that
            // read the old policy before the mbind migrates it to the old node afterwards
            // (seen on 6.1 under a concurrent writer: 4 of 8,192 pages). One more sweep moves
            // such pages again; what it leaves is what stays left.
            if mapping.off_target_pages(nodes)? > 0 {
                let mut sweep = MigrationProgress {
                    resident_pages: done.resident_pages,
                    ..MigrationProgress::default()
                };
                moved_shared &= mapping.move_resident_to(*target, &mut sweep, &mut |_| {})?;
                done.moved_pages += sweep.moved_pages;
                done.left_pages = sweep.left_pages;
                progress(done);
            }
            return Ok(Migration {
                mode,
                progress: done,
                moved_shared,
            });
        }
        // Several nodes: the kernel's interleave decides where each page goes, so mbind
        // moves them; counted before and after.
        let before = mapping.off_target_pages(nodes)?;
        let (mode, moved_shared) = match mapping.set_policy(nodes, MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)
        {
            Ok(mode) => (mode, true),
            Err(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
                (mapping.set_policy(nodes, MPOL_MF_MOVE)?, false)
            }
            Err(e) => return Err(e),
        };
        let after = mapping.off_target_pages(nodes)?;
        done.examined_pages = done.resident_pages;
        done.moved_pages = before.saturating_sub(after);
        done.left_pages = after;
        progress(done);
        Ok(Migration {
            mode,
            progress: done,
            moved_shared,
        })
    }

    fn bind_extents(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        layout: &[NodeRange],
        move_resident: bool,
    ) -> Result<Binding, BackendError> {
        if bytes == 0 {
            return Ok(Binding {
                mode: NumaMode::Extents,
                moved_pages: 0,
            });
        }
        let mapping = Mapping::new(fd, bytes)?;
        let before = if move_resident {
            mapping.misplaced_pages(layout)?
        } else {
            0
        };
        let mut flags = if move_resident {
            MPOL_MF_MOVE | MPOL_MF_MOVE_ALL
        } else {
            0
        };
        for range in layout {
            let mask = node_mask(&[range.node]);
            match mapping.mbind_range(range.offset, range.len, MPOL_BIND, &mask, flags) {
                Err(e) if e.source.raw_os_error() == Some(libc::EPERM) && move_resident => {
                    flags = MPOL_MF_MOVE;
                    mapping.mbind_range(range.offset, range.len, MPOL_BIND, &mask, flags)?;
                }
                other => other?,
            }
        }
        let moved_pages = if move_resident {
            before.saturating_sub(mapping.misplaced_pages(layout)?)
        } else {
            0
        };
        Ok(Binding {
            mode: NumaMode::Extents,
            moved_pages,
        })
    }

    fn resident_pages(&self, fd: BorrowedFd<'_>, bytes: u64) -> Result<u64, BackendError> {
        if bytes == 0 {
            return Ok(0);
        }
        let mapping = Mapping::new(fd, bytes)?;
        let mut resident = 0;
        for (first, count) in mapping.windows() {
            resident += mapping
                .residency(first, count)?
                .iter()
                .filter(|&&b| b & 1 == 1)
                .count() as u64;
        }
        Ok(resident)
    }
}

/// `maxnode`-style bit mask over `u64` words.
fn node_mask(nodes: &[u32]) -> Vec<u64> {
    let max = nodes.iter().copied().max().unwrap_or(0) as usize;
    let mut mask = vec![0u64; max / 64 + 1];
    for &n in nodes {
        mask[n as usize / 64] |= 1 << (n % 64);
    }
    mask
}

/// A temporary `MAP_SHARED` mapping of a bundle's fd, unmapped on drop.
/// Mapping does not populate anything: a sparse bundle stays sparse.
struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mapping {
    fn new(fd: BorrowedFd<'_>, bytes: u64) -> Result<Self, BackendError> {
        let len = usize::try_from(bytes).map_err(|_| {
            BackendError::new(
                "map the bundle",
                std::io::Error::other("larger than the address space"),
            )
        })?;
        // SAFETY: a fresh mapping chosen by the kernel (null hint) aliases no Rust object; it
        // is only handed to mbind/mincore/move_pages/madvise and unmapped in Drop, never
        // dereferenced.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::NORESERVE,
                fd,
                0,
            )
        }
        .map_err(|e| BackendError::new("mmap the bundle", e))?;
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            BackendError::new("mmap the bundle", std::io::Error::other("null mapping"))
        })?;
        Ok(Self { ptr, len })
    }

    /// Binds (one node) or interleaves (several) the mapping over `nodes` with `mbind` `flags`;
    /// the mode in force.
    fn set_policy(&self, nodes: &[u32], flags: u32) -> Result<NumaMode, BackendError> {
        let mask = node_mask(nodes);
        if nodes.len() == 1 {
            self.mbind(MPOL_BIND, &mask, flags)?;
            Ok(NumaMode::Bind)
        } else if self.mbind(MPOL_WEIGHTED_INTERLEAVE, &mask, flags).is_ok() {
            Ok(NumaMode::WeightedInterleave)
        } else {
            self.mbind(MPOL_INTERLEAVE, &mask, flags)?;
            Ok(NumaMode::Interleave)
        }
    }

    /// `mbind` of `[offset, offset + len)` of the mapping (offset page-aligned). By raw
    /// syscall because libc has no wrapper and `MPOL_WEIGHTED_INTERLEAVE` is newer than most
    /// libnuma.
    fn mbind_range(
        &self,
        offset: u64,
        len: u64,
        mode: i32,
        mask: &[u64],
        flags: u32,
    ) -> Result<(), BackendError> {
        // maxnode counts bits; the kernel reads maxnode-1 of them (the historical off-by-one
        // libnuma also compensates for).
        let maxnode = (mask.len() * 64 + 1) as libc::c_ulong;
        let end = (offset + len).min(self.len as u64);
        // SAFETY: [offset, end) lies inside our live mapping (the whole of it, or a range of
        // the bundle's layout clamped to it); the mask outlives the call and holds maxnode-1
        // bits; mbind touches no Rust memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mbind,
                self.ptr.as_ptr().cast::<u8>().add(offset as usize),
                (end - offset) as libc::c_ulong,
                mode as libc::c_ulong,
                mask.as_ptr(),
                maxnode,
                flags as libc::c_ulong,
            )
        };
        if rc != 0 {
            return Err(BackendError::last_os("mbind"));
        }
        Ok(())
    }

    /// Resident pages not on the node `layout` gives their range.
    fn misplaced_pages(&self, layout: &[NodeRange]) -> Result<u64, BackendError> {
        let mut misplaced = 0u64;
        self.for_each_resident_run(&mut |first, count| {
            let addrs = self.page_addrs(first, count);
            for (i, node) in query_nodes(&addrs)?.into_iter().enumerate() {
                let offset = (first + i) as u64 * PAGE;
                // The layout is sorted by offset: the range holding the page is the last
                // one starting at or before it.
                let want = layout[..layout.partition_point(|r| r.offset <= offset)]
                    .last()
                    .filter(|r| offset < r.offset + r.len)
                    .map(|r| r.node);
                if node >= 0 && want.is_some_and(|w| w != node.unsigned_abs()) {
                    misplaced += 1;
                }
            }
            Ok(())
        })?;
        Ok(misplaced)
    }

    fn mbind(&self, mode: i32, mask: &[u64], flags: u32) -> Result<(), BackendError> {
        self.mbind_range(0, self.len as u64, mode, mask, flags)
    }

    /// The mapping in windows of [`WINDOW_PAGES`] pages, `(first, count)`: scans never hold
    /// per-page state for more than one window.
    fn windows(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let pages = self.len.div_ceil(PAGE as usize);
        (0..pages)
            .step_by(WINDOW_PAGES)
            .map(move |first| (first, WINDOW_PAGES.min(pages - first)))
    }

    /// `mincore` vector of `count` pages from page `first`: bit 0 of each byte = page
    /// resident. For shmem this reports the page cache, mapped here or not.
    fn residency(&self, first: usize, count: usize) -> Result<Vec<u8>, BackendError> {
        let off = first * PAGE as usize;
        let len = (count * PAGE as usize).min(self.len - off);
        let mut vec = vec![0u8; count];
        // SAFETY: [off, off+len) lies inside our live mapping; vec has one byte per page of it.
        let rc = unsafe {
            libc::mincore(
                self.ptr.as_ptr().cast::<u8>().add(off).cast(),
                len,
                vec.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(BackendError::last_os("mincore"));
        }
        Ok(vec)
    }

    /// Calls `each` with every run of resident pages, `(first page, count)`, after mapping
    /// them here with `MADV_POPULATE_READ` (they are in the page cache already, so nothing is
    /// allocated): `move_pages` and `mbind(MPOL_MF_MOVE)` only see pages mapped in this
    /// address space.
    fn for_each_resident_run(
        &self,
        each: &mut dyn FnMut(usize, usize) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        for (first, count) in self.windows() {
            let residency = self.residency(first, count)?;
            let mut i = 0;
            while i < residency.len() {
                if residency[i] & 1 == 0 {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < residency.len() && residency[i] & 1 == 1 {
                    i += 1;
                }
                let off = (first + start) * PAGE as usize;
                let len = ((i - start) * PAGE as usize).min(self.len - off);
                // SAFETY: [off, off+len) lies inside our mapping (page indexes come from
                // mincore over it); populate-read only maps pages already in the page cache.
                let rc = unsafe {
                    libc::madvise(
                        self.ptr.as_ptr().cast::<u8>().add(off).cast(),
                        len,
                        libc::MADV_POPULATE_READ,
                    )
                };
                if rc != 0 {
                    return Err(BackendError::last_os("madvise(MADV_POPULATE_READ)"));
                }
                each(first + start, i - start)?;
            }
        }
        Ok(())
    }

    /// The addresses of `count` pages from page `first`.
    fn page_addrs(&self, first: usize, count: usize) -> Vec<*mut c_void> {
        let base = self.ptr.as_ptr().cast::<u8>();
        (first..first + count)
            // SAFETY: callers pass page ranges inside the mapping.
            .map(|p| unsafe { base.add(p * PAGE as usize) }.cast())
            .collect()
    }

    /// Resident pages that are on none of `targets`, via `move_pages` in query mode.
    fn off_target_pages(&self, targets: &[u32]) -> Result<u64, BackendError> {
        let mut off_target = 0u64;
        self.for_each_resident_run(&mut |first, count| {
            let addrs = self.page_addrs(first, count);
            off_target += query_nodes(&addrs)?
                .iter()
                .filter(|&&n| n >= 0 && !targets.contains(&n.unsigned_abs()))
                .count() as u64;
            Ok(())
        })?;
        Ok(off_target)
    }

    /// Moves every resident page not on `target` there, [`move_chunk_pages`] at a time,
    /// updating `done` and calling `progress` after each chunk. Whether pages mapped by other
    /// processes could be moved (false: the kernel refused `MPOL_MF_MOVE_ALL`).
    fn move_resident_to(
        &self,
        target: u32,
        done: &mut MigrationProgress,
        progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<bool, BackendError> {
        let mut flags = MPOL_MF_MOVE_ALL;
        let chunk_pages = move_chunk_pages(done.resident_pages);
        self.for_each_resident_run(&mut |first, count| {
            for chunk in (first..first + count).step_by(chunk_pages) {
                let n = chunk_pages.min(first + count - chunk);
                let addrs = self.page_addrs(chunk, n);
                // Only pages elsewhere go to move_pages, so every page it reports on the
                // target afterwards is one it moved.
                let off: Vec<*mut c_void> = query_nodes(&addrs)?
                    .iter()
                    .zip(&addrs)
                    .filter(|&(&node, _)| node >= 0 && node.unsigned_abs() != target)
                    .map(|(_, &addr)| addr)
                    .collect();
                if !off.is_empty() {
                    let (moved, left) = self.move_pages_to(&off, target, &mut flags)?;
                    done.moved_pages += moved;
                    done.left_pages += left;
                }
                done.examined_pages += n as u64;
                progress(*done);
            }
            Ok(())
        })?;
        Ok(flags == MPOL_MF_MOVE_ALL)
    }
}

impl Mapping {
    /// Moves the pages at `addrs` (all off `target`) there, passing again over those a pass
    /// left behind (a page being written or locked can fail to move for a moment); the pages
    /// it moved and those still elsewhere, as the kernel reports them afterwards. `flags`
    /// drops to `MPOL_MF_MOVE` for good when the kernel refuses `MPOL_MF_MOVE_ALL`.
    fn move_pages_to(
        &self,
        addrs: &[*mut c_void],
        target: u32,
        flags: &mut u32,
    ) -> Result<(u64, u64), BackendError> {
        let mut off = addrs.to_vec();
        for _ in 0..MOVE_PASSES {
            let status = match move_pages(&off, target, *flags) {
                Err(e)
                    if e.source.raw_os_error() == Some(libc::EPERM) && *flags != MPOL_MF_MOVE =>
                {
                    *flags = MPOL_MF_MOVE;
                    move_pages(&off, target, *flags)?
                }
                other => other?,
            };
            // When some pages fail, the kernel (6.1 at least) returns their count and leaves
            // the status array unwritten: then where the pages are is asked again.
            let status = match status {
                Some(status) => status,
                None => query_nodes(&off)?,
            };
            off = status
                .iter()
                .zip(&off)
                .filter(|&(&node, _)| node < 0 || node.unsigned_abs() != target)
                .map(|(_, &addr)| addr)
                .collect();
            if off.is_empty() {
                break;
            }
        }
        let left = off.len() as u64;
        Ok((addrs.len() as u64 - left, left))
    }
}

/// The node of each page at `addrs` in this process (`move_pages` with `nodes = NULL`, which
/// moves nothing); a negative entry is an errno (`-ENOENT`: not present).
fn query_nodes(addrs: &[*mut c_void]) -> Result<Vec<i32>, BackendError> {
    let (rc, status) = sys_move_pages(addrs, None, 0);
    if rc < 0 {
        return Err(BackendError::last_os("move_pages (query)"));
    }
    Ok(status)
}

/// Moves the pages at `addrs` (mapped in this process) to `target` with `flags`: each page's
/// node (or a negative errno) when the kernel moved every page it could, `None` when it
/// reports pages not moved, for it then leaves the status array unwritten (ask
/// [`query_nodes`]).
fn move_pages(
    addrs: &[*mut c_void],
    target: u32,
    flags: u32,
) -> Result<Option<Vec<i32>>, BackendError> {
    let nodes = vec![target as i32; addrs.len()];
    // A positive return is the number of pages not migrated.
    match sys_move_pages(addrs, Some(&nodes), flags) {
        (0, status) => Ok(Some(status)),
        (1.., _) => Ok(None),
        _ => Err(BackendError::last_os("move_pages")),
    }
}

/// `move_pages(2)` on this process: `nodes` (one per address) moves, `None` only asks where
/// each page is. The raw return and the status array.
fn sys_move_pages(
    addrs: &[*mut c_void],
    nodes: Option<&[i32]>,
    flags: u32,
) -> (libc::c_long, Vec<i32>) {
    debug_assert!(nodes.is_none_or(|n| n.len() == addrs.len()));
    let mut status = vec![0i32; addrs.len()];
    // SAFETY: pid 0 = this process; addrs, status (and nodes, when given) have `addrs.len()`
    // elements each and outlive the call; the kernel reads the addresses' pages and writes
    // only `status`, never other Rust memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as libc::c_long,
            addrs.len() as libc::c_ulong,
            addrs.as_ptr(),
            nodes.map_or(std::ptr::null(), <[i32]>::as_ptr),
            status.as_mut_ptr(),
            flags as libc::c_long,
        )
    };
    (rc, status)
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`, once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::fd::AsFd;

    use super::*;

    fn local_nodes() -> Vec<u32> {
        std::fs::read_to_string("/sys/devices/system/node/has_memory")
            .ok()
            .and_then(|t| crate::memory::parse_list(t.trim()).ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| vec![0])
    }

    #[test]
    fn a_memfd_is_sparse_sealed_and_bound_where_asked() {
        let linux = LinuxMemoryBackend;
        let fd = linux.sealed_memfd("hal-test", 1 << 30).unwrap();
        assert!(linux.sealed_against_resize(fd.as_fd()).unwrap());
        assert!(
            rustix::fs::ftruncate(&fd, 4096).is_err(),
            "shrink is sealed"
        );
        assert_eq!(linux.resident_pages(fd.as_fd(), 1 << 30).unwrap(), 0);
        let nodes = local_nodes();
        let binding = linux.bind(fd.as_fd(), 1 << 30, &nodes[..1], true).unwrap();
        assert_eq!(binding.mode, NumaMode::Bind);
        assert_eq!(binding.moved_pages, 0);
        let mut f = std::fs::File::from(fd.try_clone().unwrap());
        f.write_all(b"hello").unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(linux.resident_pages(fd.as_fd(), 1 << 30).unwrap(), 2);
        // Moving to the node the pages are on moves nothing.
        let again = linux.bind(fd.as_fd(), 1 << 30, &nodes[..1], true).unwrap();
        assert_eq!(again.moved_pages, 0);
    }

    #[test]
    fn extents_follow_the_weights_and_alternate() {
        let mib = 1 << 20;
        // 7:1 over 16 MiB: 14 MiB and 2 MiB, the lighter node in the middle of the cycle.
        let layout = weighted_extents(16 * mib, &[(2, 27), (1, 4)]);
        let bytes_on = |n: u32| {
            layout
                .iter()
                .filter(|r| r.node == n)
                .map(|r| r.len)
                .sum::<u64>()
        };
        assert_eq!(bytes_on(2) + bytes_on(1), 16 * mib);
        assert_eq!((bytes_on(2), bytes_on(1)), (14 * mib, 2 * mib));
        assert!(
            layout.windows(2).all(|w| w[0].node != w[1].node),
            "{layout:?}"
        );
        assert!(
            layout
                .windows(2)
                .all(|w| w[0].offset + w[0].len == w[1].offset)
        );
        // Equal weights alternate extent by extent; a tail shorter than an extent stays.
        let even = weighted_extents(5 * mib, &[(0, 1), (1, 1)]);
        assert_eq!(
            even.iter().map(|r| (r.node, r.len)).collect::<Vec<_>>(),
            vec![(0, 2 * mib), (1, 2 * mib), (0, mib)]
        );
        assert_eq!(weighted_extents(3 * mib, &[(4, 0), (5, 0)]).len(), 1);
        assert!(weighted_extents(0, &[(0, 1)]).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn every_node_stays_within_one_extent_of_its_share(
            extents in 1u64..400,
            weights in proptest::collection::vec(1u64..1000, 1..5),
        ) {
            let bytes = extents * EXTENT;
            let shares: Vec<(u32, u64)> =
                weights.iter().enumerate().map(|(i, &w)| (i as u32, w)).collect();
            let layout = weighted_extents(bytes, &shares);
            let total: u64 = weights.iter().sum();
            for &(node, w) in &shares {
                let got: u64 = layout.iter().filter(|r| r.node == node).map(|r| r.len).sum();
                let want = bytes as f64 * w as f64 / total as f64;
                proptest::prop_assert!((got as f64 - want).abs() <= EXTENT as f64, "{node}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_plain_file_is_not_sealed_and_node_masks_cover_every_node() {
        let linux = LinuxMemoryBackend;
        let file = tempfile::tempfile().unwrap();
        assert!(!linux.sealed_against_resize(file.as_fd()).unwrap());
        assert_eq!(node_mask(&[0]), vec![1]);
        assert_eq!(node_mask(&[1, 64]), vec![2, 1]);
        assert_eq!(NumaMode::Interleave.as_str(), "MPOL_INTERLEAVE");
    }
}

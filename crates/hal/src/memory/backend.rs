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
//!   operation's progress). A page is moved through the address space of a process that maps
//!   it (`move_pages(pid, …)`, at the address that process's `/proc/<pid>/maps` gives the
//!   bundle's offset), for the processes the caller names as holders; only pages none of
//!   them maps are mapped into this process and moved from here. Mapping every page here too
//!   made the kernel unmap and remap each page in two processes (and a 2 MiB page its user
//!   maps with one PMD took 512 PTEs here). The kernel moves a page mapped by several
//!   processes only with `MPOL_MF_MOVE_ALL`, which needs `CAP_SYS_NICE`; without it the call
//!   falls back to `MPOL_MF_MOVE` and says how many shared pages stayed. Migration to several
//!   nodes is `mbind` with the same flags (the kernel spreads the pages by the interleave).
//!   Pages off the target are found with `move_pages` in query mode (`nodes = NULL`), or,
//!   when the holders' `/proc/<pid>/numa_maps` show none of their pages on the target, not
//!   asked at all: their chunks go to `move_pages` whole and its status array says which
//!   pages moved. Every count is the kernel's, not an estimate. Residency
//!   is `mincore(2)`. Scans go 1 GiB at a time, so a 256 GiB bundle costs no more scan memory
//!   than a small one.

use std::collections::BTreeMap;
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
/// A migration reports progress about this many times, whatever the bundle's size: one
/// report per `move_pages` call. Few, because every call has a fixed cost on top of its
/// pages: `do_pages_move` begins with `lru_cache_disable()` (mm/migrate.c, mm/swap.c), an
/// expedited RCU grace period and an LRU drain queued on every CPU and waited for, which
/// an emulated machine pays dearly (BENCHMARKS.md, "Fewer `move_pages` calls").
pub const MOVE_REPORTS: u64 = 4;
/// Pages per `move_pages` call of a migration, at least (4 MiB: the per-call cost stays
/// spread) and at most (1 GiB, one scan window).
const MOVE_CHUNK_PAGES: std::ops::RangeInclusive<u64> = 1024..=(1 << 18);
/// Threads one large `move_pages` is split across, at most (the copy runs on the caller's
/// CPU; more threads than this would take CPUs from the bundle's own users).
const MOVE_THREADS_MAX: usize = 4;
/// Pages each thread of a split `move_pages` gets, at least (2 MiB: a thread's start costs
/// far less than copying them).
const MOVE_THREAD_MIN_PAGES: usize = 512;
/// Passes over a chunk's pages before those still elsewhere are reported as left behind.
const MOVE_PASSES: usize = 4;

/// Pages per `move_pages` call for a migration of `resident` pages: about
/// [`MOVE_REPORTS`] calls, within [`MOVE_CHUNK_PAGES`].
#[must_use]
pub fn move_chunk_pages(resident: u64) -> usize {
    (resident / MOVE_REPORTS).clamp(*MOVE_CHUNK_PAGES.start(), *MOVE_CHUNK_PAGES.end()) as usize
}

const PAGE: u64 = 4096;
/// The huge page a hugetlb bundle is made of (x86-64's 2 MiB).
pub const HUGE_PAGE_BYTES: u64 = 2 << 20;
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
    /// Of the examined pages, those examined (and moved if elsewhere) in a holder's address
    /// space rather than through the daemon's own mapping.
    pub holder_pages: u64,
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

    /// A new memory file of `bytes` (a multiple of [`HUGE_PAGE_BYTES`]) backed by the
    /// kernel's pool of 2 MiB huge pages (`MFD_HUGETLB | MFD_HUGE_2MB`), sealed against any
    /// resize. No page is taken from the pool yet: [`Self::populate`] takes them.
    ///
    /// # Errors
    /// The step that failed (create, size, seal).
    fn sealed_hugetlb_memfd(&self, name: &str, bytes: u64) -> Result<OwnedFd, BackendError>;

    /// Takes every page of the first `bytes` of the fd now, each range of `layout` on its
    /// node (empty: wherever the kernel's default policy puts them): a shared mapping that
    /// reserves them (for hugetlb memory, a pool with too few free pages refuses it with
    /// `ENOMEM`), bound range by range, faulted in with `MADV_POPULATE_WRITE` (Linux 5.14).
    /// So a hugetlb bundle holds its pages from allocation instead of meeting an empty pool
    /// at a later fault. The binding is the populating mapping's own: hugetlbfs keeps no
    /// shared policy on the file (shmem does), so an `mbind` through another mapping would
    /// not reach these faults.
    ///
    /// # Errors
    /// The step that failed (map, mbind, populate); `ENOMEM` when the memory is not there.
    fn populate(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        layout: &[NodeRange],
    ) -> Result<(), BackendError>;

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
    ///
    /// `holders` are processes known to map the fd (the hand-off socket's peers): a page one
    /// of them maps is moved through that process's address space (its `/proc/<pid>/maps`
    /// says where), so the kernel unmaps it from the users' mappings only; pages no holder
    /// maps are moved through a mapping of the daemon's own. A holder that is gone, or whose
    /// memory this process may not inspect (`PTRACE_MODE_READ_REALCREDS`), is passed over.
    fn migrate(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        nodes: &[u32],
        holders: &[i32],
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

    fn sealed_hugetlb_memfd(&self, name: &str, bytes: u64) -> Result<OwnedFd, BackendError> {
        if !bytes.is_multiple_of(HUGE_PAGE_BYTES) {
            return Err(BackendError::new(
                "size a hugetlb memfd",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{bytes} bytes is not a whole number of 2 MiB pages"),
                ),
            ));
        }
        let fd = rustix::fs::memfd_create(
            name,
            MemfdFlags::CLOEXEC
                | MemfdFlags::ALLOW_SEALING
                | MemfdFlags::HUGETLB
                | MemfdFlags::HUGE_2MB,
        )
        .map_err(|e| BackendError::new("memfd_create with MFD_HUGETLB", e))?;
        rustix::fs::ftruncate(&fd, bytes)
            .map_err(|e| BackendError::new("ftruncate the hugetlb memfd", e))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL)
            .map_err(|e| BackendError::new("seal the hugetlb memfd against resize", e))?;
        Ok(fd)
    }

    fn populate(
        &self,
        fd: BorrowedFd<'_>,
        bytes: u64,
        layout: &[NodeRange],
    ) -> Result<(), BackendError> {
        if bytes == 0 {
            return Ok(());
        }
        let mapping = Mapping::reserving(fd, bytes)?;
        for range in layout {
            mapping.mbind_range(
                range.offset,
                range.len,
                MPOL_BIND,
                &node_mask(&[range.node]),
                0,
            )?;
        }
        // SAFETY: the whole of our live mapping; MADV_POPULATE_WRITE only faults its pages in
        // (writing nothing a reader could see: fresh pages are zero).
        unsafe {
            rustix::mm::madvise(
                mapping.ptr.as_ptr(),
                mapping.len,
                rustix::mm::Advice::LinuxPopulateWrite,
            )
        }
        .map_err(|e| BackendError::new("populate the bundle (MADV_POPULATE_WRITE)", e))
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
            let migration = self.migrate(fd, bytes, nodes, &[], &mut |_| {})?;
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
        holders: &[i32],
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
        let mapping = Mapping::scanning(fd, bytes)?;
        // Counted through this mapping: a second one would scan (and, for hugetlb, map)
        // every page again.
        done.resident_pages = mapping.resident_pages()?;
        progress(done);
        if let [target] = nodes {
            // The policy first, so pages faulted in during the move land on the target.
            let mode = mapping.set_policy(nodes, 0)?;
            // Where the holders map the bundle, read once: a holder that maps or unmaps it
            // during the move only changes which address space a page moves through.
            let mut holders = holder_mappings(fd, holders);
            // Whether no page the holders map is on the target yet (the usual case: the
            // bundle sits on its old nodes), from their numa_maps after the policy is set,
            // so a page first touched from here on lands on the target and counts as moved.
            let none_on_target = !holders.is_empty()
                && holder_pages_by_node(&holders)
                    .is_some_and(|by_node| by_node.get(target).is_none_or(|&n| n == 0));
            let mut moved_shared = mapping.move_resident_to(
                *target,
                &mut holders,
                none_on_target,
                &mut done,
                progress,
            )?;
            // A page can come back after its chunk moved: a NUMA-balancing hinting fault that
            // read the old policy before the mbind migrates it to the old node afterwards
            // (seen on 6.1 under a concurrent writer: 4 of 8,192 pages). One more sweep moves
            // such pages again; what it leaves is what stays left. When every page went
            // through holders, their numa_maps say whether any is off the target (a mapping
            // counted twice only makes the sweep run); else every page is asked.
            let all_through_holders = done.holder_pages == done.examined_pages;
            let off_target = match holder_pages_by_node(&holders) {
                Some(by_node) if all_through_holders => by_node
                    .iter()
                    .filter(|&(n, _)| n != target)
                    .map(|(_, &p)| p)
                    .sum(),
                _ => mapping.off_target_pages(nodes, &mut holders)?,
            };
            if off_target > 0 {
                let mut sweep = MigrationProgress {
                    resident_pages: done.resident_pages,
                    ..MigrationProgress::default()
                };
                moved_shared &= mapping.move_resident_to(
                    *target,
                    &mut holders,
                    false,
                    &mut sweep,
                    &mut |_| {},
                )?;
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
        // moves them; counted before and after. mbind moves only pages mapped in the calling
        // process, so these counts go through the daemon's own mapping (no holders), which
        // maps every resident page as it counts.
        let before = mapping.off_target_pages(nodes, &mut [])?;
        let (mode, moved_shared) = match mapping.set_policy(nodes, MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)
        {
            Ok(mode) => (mode, true),
            Err(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
                (mapping.set_policy(nodes, MPOL_MF_MOVE)?, false)
            }
            Err(e) => return Err(e),
        };
        let after = mapping.off_target_pages(nodes, &mut [])?;
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
        let mapping = if move_resident {
            Mapping::scanning(fd, bytes)?
        } else {
            Mapping::new(fd, bytes)?
        };
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
        Mapping::scanning(fd, bytes)?.resident_pages()
    }
}

/// Whether the fd is a file of hugetlbfs (a `MFD_HUGETLB` memfd is).
fn is_hugetlbfs(fd: BorrowedFd<'_>) -> bool {
    /// `HUGETLBFS_MAGIC` (include/uapi/linux/magic.h).
    const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
    rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type == HUGETLBFS_MAGIC)
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
    /// A mapping that reserves nothing: bundles stay sparse.
    fn new(fd: BorrowedFd<'_>, bytes: u64) -> Result<Self, BackendError> {
        Self::map(fd, bytes, MapFlags::SHARED | MapFlags::NORESERVE)
    }

    /// A mapping whose residency scans (`mincore`) see every page the file holds. mincore
    /// sees a hugetlb page only where the calling mapping's page tables map it (for shmem it
    /// also asks the page cache), so in a fresh mapping a hugetlb bundle would look empty:
    /// its pages, all there since its allocation, are mapped first (`MADV_POPULATE_READ`
    /// maps what the file holds). Only for scans: on a hole that would allocate, so a
    /// binding made before the pages exist uses [`Self::new`].
    fn scanning(fd: BorrowedFd<'_>, bytes: u64) -> Result<Self, BackendError> {
        let mapping = Self::new(fd, bytes)?;
        if is_hugetlbfs(fd) {
            // SAFETY: the whole of the live mapping just made; populating for reading only
            // maps pages and writes nothing.
            unsafe {
                rustix::mm::madvise(
                    mapping.ptr.as_ptr(),
                    mapping.len,
                    rustix::mm::Advice::LinuxPopulateRead,
                )
            }
            .map_err(|e| {
                BackendError::new("map a hugetlb bundle's pages (MADV_POPULATE_READ)", e)
            })?;
        }
        Ok(mapping)
    }

    /// Pages of the mapping present in memory.
    fn resident_pages(&self) -> Result<u64, BackendError> {
        let mut resident = 0;
        for (first, count) in self.windows() {
            resident += self
                .residency(first, count)?
                .iter()
                .filter(|&&b| b & 1 == 1)
                .count() as u64;
        }
        Ok(resident)
    }

    /// A mapping that reserves the file's pages (for hugetlb memory, from the pool, or
    /// `ENOMEM`), to populate.
    fn reserving(fd: BorrowedFd<'_>, bytes: u64) -> Result<Self, BackendError> {
        Self::map(fd, bytes, MapFlags::SHARED)
    }

    fn map(fd: BorrowedFd<'_>, bytes: u64, flags: MapFlags) -> Result<Self, BackendError> {
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
                flags,
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
            for (i, node) in query_nodes(0, &addrs)?.into_iter().enumerate() {
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
                self.populate_read_run(first + start, i - start)?;
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

    /// Resident pages that are on none of `targets`, via `move_pages` in query mode, each asked
    /// in the address space of the first of `holders` that maps it, else in this one.
    fn off_target_pages(
        &self,
        targets: &[u32],
        holders: &mut [HolderMapping],
    ) -> Result<u64, BackendError> {
        let mut off_target = 0u64;
        self.for_each_resident_chunk(holders, WINDOW_PAGES, &mut |pid, addrs| {
            let nodes = query_nodes(pid, addrs)?;
            off_target += nodes
                .iter()
                .filter(|&&n| n >= 0 && !targets.contains(&n.unsigned_abs()))
                .count() as u64;
            Ok(absent(&nodes))
        })?;
        Ok(off_target)
    }

    /// Calls `each(pid, addrs)` with every resident page of the bundle, up to `chunk_pages` at
    /// a time, addressed in the first of `holders` that maps it (`pid` its process) and, for
    /// pages no holder maps, in this mapping (`pid` 0; mapped here first with
    /// `MADV_POPULATE_READ`, since `move_pages` only sees pages mapped in the address space it
    /// is given). `each` answers which of the pages are not mapped there (the kernel's
    /// `-ENOENT` or `-EFAULT`): those go on to the next holder, then here. A holder whose
    /// process is gone or may not be inspected (`each` failed `ESRCH` or `EPERM`) is marked
    /// unusable and its pages go on too.
    fn for_each_resident_chunk(
        &self,
        holders: &mut [HolderMapping],
        chunk_pages: usize,
        each: &mut ChunkVisitor<'_>,
    ) -> Result<(), BackendError> {
        for (first, count) in self.windows() {
            let residency = self.residency(first, count)?;
            let mut pending: Vec<usize> = (0..count)
                .filter(|&i| residency[i] & 1 == 1)
                .map(|i| first + i)
                .collect();
            for holder in holders.iter_mut() {
                if pending.is_empty() {
                    break;
                }
                if !holder.usable {
                    continue;
                }
                let (inside, mut elsewhere): (Vec<usize>, Vec<usize>) = pending
                    .iter()
                    .partition(|&&p| holder.page_addr(p as u64).is_some());
                for chunk in inside.chunks(chunk_pages) {
                    if !holder.usable {
                        elsewhere.extend_from_slice(chunk);
                        continue;
                    }
                    let addrs: Vec<*mut c_void> = chunk
                        .iter()
                        .filter_map(|&p| holder.page_addr(p as u64))
                        .collect();
                    match each(holder.pid, &addrs) {
                        Ok(not_there) => elsewhere.extend(
                            chunk
                                .iter()
                                .zip(not_there)
                                .filter(|&(_, not_there)| not_there)
                                .map(|(&page, _)| page),
                        ),
                        // ESRCH: the process is gone; EPERM: this process may not inspect it
                        // (another uid, or it made itself non-dumpable).
                        Err(e)
                            if matches!(
                                e.source.raw_os_error(),
                                Some(libc::ESRCH | libc::EPERM)
                            ) =>
                        {
                            holder.usable = false;
                            elsewhere.extend_from_slice(chunk);
                        }
                        Err(e) => return Err(e),
                    }
                }
                elsewhere.sort_unstable();
                pending = elsewhere;
            }
            self.populate_pages(&pending)?;
            for chunk in pending.chunks(chunk_pages) {
                let addrs: Vec<*mut c_void> = chunk.iter().map(|&p| self.page_addr(p)).collect();
                each(0, &addrs)?;
            }
        }
        Ok(())
    }

    /// Maps `pages` (sorted page indexes, resident) into this mapping with
    /// `MADV_POPULATE_READ`, run by run: they are in the page cache already, so nothing is
    /// allocated.
    fn populate_pages(&self, pages: &[usize]) -> Result<(), BackendError> {
        let mut i = 0;
        while i < pages.len() {
            let start = i;
            while i + 1 < pages.len() && pages[i + 1] == pages[i] + 1 {
                i += 1;
            }
            i += 1;
            self.populate_read_run(pages[start], i - start)?;
        }
        Ok(())
    }

    /// Maps `count` pages from page `first` that are already in the page cache
    /// (`MADV_POPULATE_READ`), so `move_pages` from this mapping sees them.
    fn populate_read_run(&self, first: usize, count: usize) -> Result<(), BackendError> {
        let off = first * PAGE as usize;
        let len = (count * PAGE as usize).min(self.len - off);
        // SAFETY: [off, off+len) lies inside our mapping (page indexes come from mincore
        // over it); populate-read only maps pages already in the page cache.
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
        Ok(())
    }

    /// The address of page `page` in this mapping.
    fn page_addr(&self, page: usize) -> *mut c_void {
        // SAFETY: callers pass page indexes inside the mapping.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(page * PAGE as usize) }.cast()
    }

    /// Moves every resident page not on `target` there, [`move_chunk_pages`] at a time and
    /// through a holder's address space where one maps it, updating `done` and calling
    /// `progress` after each chunk. Whether pages mapped by other processes could be moved
    /// (false: the kernel refused `MPOL_MF_MOVE_ALL`).
    ///
    /// With `none_on_target` (the holders' `numa_maps` showed no page of theirs on the
    /// target), a holder's chunk goes to `move_pages` as it is, as a bare caller would give
    /// it, and every page the kernel reports on the target afterwards is one it moved. Else
    /// (and always through this process's own mapping) each chunk is first asked where its
    /// pages are, and only those elsewhere are moved: asking costs one more page-table walk
    /// per page, which under emulation was a fifth of a migration.
    fn move_resident_to(
        &self,
        target: u32,
        holders: &mut [HolderMapping],
        none_on_target: bool,
        done: &mut MigrationProgress,
        progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<bool, BackendError> {
        let mut flags = MPOL_MF_MOVE_ALL;
        let chunk_pages = move_chunk_pages(done.resident_pages);
        self.for_each_resident_chunk(holders, chunk_pages, &mut |pid, addrs| {
            let not_there = if pid != 0 && none_on_target {
                let status = move_present_to(pid, addrs, target, &mut flags)?;
                let not_there = absent(&status);
                let present = not_there.iter().filter(|&&a| !a).count() as u64;
                let placed = status
                    .iter()
                    .filter(|&&n| n >= 0 && n.unsigned_abs() == target)
                    .count() as u64;
                done.moved_pages += placed;
                done.left_pages += present - placed;
                done.examined_pages += present;
                done.holder_pages += present;
                not_there
            } else {
                let nodes = query_nodes(pid, addrs)?;
                // Only pages elsewhere go to move_pages, so every page it reports on the
                // target afterwards is one it moved.
                let off: Vec<*mut c_void> = nodes
                    .iter()
                    .zip(addrs)
                    .filter(|&(&node, _)| node >= 0 && node.unsigned_abs() != target)
                    .map(|(_, &addr)| addr)
                    .collect();
                if !off.is_empty() {
                    let (moved, left) = move_pages_to(pid, &off, target, &mut flags)?;
                    done.moved_pages += moved;
                    done.left_pages += left;
                }
                let not_there = absent(&nodes);
                // Through this mapping every resident page is examined (populated here
                // first); through a holder only those it maps.
                let examined = if pid == 0 {
                    addrs.len() as u64
                } else {
                    not_there.iter().filter(|&&a| !a).count() as u64
                };
                done.examined_pages += examined;
                if pid != 0 {
                    done.holder_pages += examined;
                }
                not_there
            };
            progress(*done);
            Ok(not_there)
        })?;
        Ok(flags == MPOL_MF_MOVE_ALL)
    }
}

/// What [`Mapping::for_each_resident_chunk`] calls with a chunk's process (0: this one) and
/// page addresses there; it answers which pages are not mapped there.
type ChunkVisitor<'a> = dyn FnMut(i32, &[*mut c_void]) -> Result<Vec<bool>, BackendError> + 'a;

/// Which of a `move_pages` status array's pages are not mapped in the address space asked
/// (`-ENOENT`: no page there; `-EFAULT`: no mapping).
fn absent(status: &[i32]) -> Vec<bool> {
    status
        .iter()
        .map(|&n| n == -libc::ENOENT || n == -libc::EFAULT)
        .collect()
}

/// Per node, the pages of `holders`' mappings of the bundle that their processes map, from
/// `/proc/<pid>/numa_maps` (one line per mapping, `N<node>=<pages>`; the kernel counts a
/// 2 MiB page mapped whole at once, where `move_pages` in query mode walks its 512 base
/// pages one by one). `None` when a usable holder's file cannot be read or lacks a mapping.
fn holder_pages_by_node(holders: &[HolderMapping]) -> Option<BTreeMap<u32, u64>> {
    let mut by_node = BTreeMap::new();
    let mut pids: Vec<i32> = holders.iter().filter(|h| h.usable).map(|h| h.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        let text = std::fs::read_to_string(format!("/proc/{pid}/numa_maps")).ok()?;
        for holder in holders.iter().filter(|h| h.usable && h.pid == pid) {
            let line = text.lines().find(|l| {
                l.split_ascii_whitespace()
                    .next()
                    .and_then(|a| u64::from_str_radix(a, 16).ok())
                    == Some(holder.start)
            })?;
            for (node, pages) in numa_maps_nodes(line) {
                *by_node.entry(node).or_insert(0) += pages;
            }
        }
    }
    Some(by_node)
}

/// The `N<node>=<pages>` fields of one `numa_maps` line.
fn numa_maps_nodes(line: &str) -> impl Iterator<Item = (u32, u64)> + '_ {
    line.split_ascii_whitespace().filter_map(|field| {
        let (node, pages) = field.strip_prefix('N')?.split_once('=')?;
        Some((node.parse().ok()?, pages.parse().ok()?))
    })
}

/// Where one process maps (part of) a bundle: one line of its `/proc/<pid>/maps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HolderMapping {
    pid: i32,
    /// The mapping's first and end addresses in that process.
    start: u64,
    end: u64,
    /// The bundle offset mapped at `start`.
    offset: u64,
    /// False once the process was found gone or closed to this one.
    usable: bool,
}

impl HolderMapping {
    /// The address, in the holder's process, of the bundle's page `page`, if it maps it.
    fn page_addr(&self, page: u64) -> Option<*mut c_void> {
        let at = (page * PAGE).checked_sub(self.offset)?;
        (at < self.end - self.start).then(|| (self.start + at) as usize as *mut c_void)
    }
}

/// One line of `/proc/<pid>/maps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MapsLine {
    start: u64,
    end: u64,
    /// The file offset mapped at `start`.
    offset: u64,
    /// The file's device (major, minor) and inode.
    device: (u32, u32),
    inode: u64,
}

/// One line of `/proc/<pid>/maps` (`start-end perms offset major:minor inode path`).
fn parse_maps_line(line: &str) -> Option<MapsLine> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let _perms = fields.next()?;
    let offset = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let inode = fields.next()?;
    Some(MapsLine {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset: u64::from_str_radix(offset, 16).ok()?,
        device: (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        ),
        inode: inode.parse().ok()?,
    })
}

/// The mappings of the file behind `fd` in each of `pids`, found by its device and inode in
/// `/proc/<pid>/maps`. A process that is gone, or whose maps this process may not read
/// (`PTRACE_MODE_READ_FSCREDS`), contributes nothing: its pages are moved through the daemon's
/// own mapping instead.
fn holder_mappings(fd: BorrowedFd<'_>, pids: &[i32]) -> Vec<HolderMapping> {
    let Ok(stat) = rustix::fs::fstat(fd) else {
        return Vec::new();
    };
    let device = (
        rustix::fs::major(stat.st_dev),
        rustix::fs::minor(stat.st_dev),
    );
    let mut seen = pids.to_vec();
    seen.sort_unstable();
    seen.dedup();
    let mut found = Vec::new();
    for pid in seen {
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        found.extend(maps.lines().filter_map(parse_maps_line).filter_map(|m| {
            (m.device == device && m.inode == stat.st_ino).then_some(HolderMapping {
                pid,
                start: m.start,
                end: m.end,
                offset: m.offset,
                usable: true,
            })
        }));
    }
    found
}

/// Moves the pages at `addrs` in process `pid` (0: this one; all off `target`) there,
/// passing again over those a pass left behind (a page being written or locked can fail to
/// move for a moment); the pages it moved and those still elsewhere, as the kernel reports
/// them afterwards. `flags` drops to `MPOL_MF_MOVE` for good when the kernel refuses
/// `MPOL_MF_MOVE_ALL`.
fn move_pages_to(
    pid: i32,
    addrs: &[*mut c_void],
    target: u32,
    flags: &mut u32,
) -> Result<(u64, u64), BackendError> {
    let mut off = addrs.to_vec();
    for _ in 0..MOVE_PASSES {
        let status = match move_pages(pid, &off, target, *flags) {
            Err(e) if e.source.raw_os_error() == Some(libc::EPERM) && *flags != MPOL_MF_MOVE => {
                *flags = MPOL_MF_MOVE;
                move_pages(pid, &off, target, *flags)?
            }
            other => other?,
        };
        // When some pages fail, the kernel (6.1 at least) returns their count and leaves
        // the status array unwritten: then where the pages are is asked again.
        let status = match status {
            Some(status) => status,
            None => query_nodes(pid, &off)?,
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

/// Moves the pages at `addrs` in process `pid` to `target` without asking where they are
/// first, as a bare caller would, passing again over pages that did not move (up to
/// [`MOVE_PASSES`] in all); each page's status afterwards: its node, or a negative errno
/// (`-ENOENT`/`-EFAULT`: not mapped there, passed over at once). `flags` as for
/// [`move_pages_to`].
fn move_present_to(
    pid: i32,
    addrs: &[*mut c_void],
    target: u32,
    flags: &mut u32,
) -> Result<Vec<i32>, BackendError> {
    let mut status = vec![-libc::ENOENT; addrs.len()];
    let mut todo: Vec<usize> = (0..addrs.len()).collect();
    for _ in 0..MOVE_PASSES {
        let these: Vec<*mut c_void> = todo.iter().map(|&i| addrs[i]).collect();
        let now = match move_pages(pid, &these, target, *flags) {
            Err(e) if e.source.raw_os_error() == Some(libc::EPERM) && *flags != MPOL_MF_MOVE => {
                *flags = MPOL_MF_MOVE;
                move_pages(pid, &these, target, *flags)?
            }
            other => other?,
        };
        let now = match now {
            Some(now) => now,
            None => query_nodes(pid, &these)?,
        };
        for (&i, &node) in todo.iter().zip(&now) {
            status[i] = node;
        }
        todo.retain(|&i| {
            let node = status[i];
            !(node >= 0 && node.unsigned_abs() == target)
                && node != -libc::ENOENT
                && node != -libc::EFAULT
        });
        if todo.is_empty() {
            break;
        }
    }
    Ok(status)
}

/// The node of each page at `addrs` in process `pid` (0: this one) (`move_pages` with
/// `nodes = NULL`, which moves nothing); a negative entry is an errno (`-ENOENT`: not
/// present).
fn query_nodes(pid: i32, addrs: &[*mut c_void]) -> Result<Vec<i32>, BackendError> {
    let (rc, status) = sys_move_pages(pid, addrs, None, 0);
    if rc < 0 {
        return Err(BackendError::last_os("move_pages (query)"));
    }
    Ok(status)
}

/// Moves the pages at `addrs` (mapped in process `pid`, 0 for this one) to `target` with
/// `flags`: each page's node (or a negative errno) when the kernel moved every page it could,
/// `None` when it reports pages not moved, for it then leaves the status array unwritten (ask
/// [`query_nodes`]).
///
/// A large move is split into consecutive parts, one `move_pages` call each on its own
/// thread ([`move_threads`]): the kernel copies a page on the CPU of the thread that asked,
/// so one call moves at one CPU's copy speed while the others idle.
fn move_pages(
    pid: i32,
    addrs: &[*mut c_void],
    target: u32,
    flags: u32,
) -> Result<Option<Vec<i32>>, BackendError> {
    let threads = move_threads(addrs.len());
    if threads <= 1 {
        return move_pages_once(pid, addrs, target, flags);
    }
    let per_thread = addrs.len().div_ceil(threads);
    let parts: Vec<Result<Option<Vec<i32>>, BackendError>> = std::thread::scope(|scope| {
        let running: Vec<_> = addrs
            .chunks(per_thread)
            .map(|part| {
                let part = PageAddrs(part);
                std::thread::Builder::new()
                    .name("move-pages".into())
                    .spawn_scoped(scope, move || {
                        let part = part;
                        move_pages_once(pid, part.0, target, flags)
                    })
                    // No thread to be had: this part moves on this one.
                    .map_err(|_| move_pages_once(pid, part.0, target, flags))
            })
            .collect();
        running
            .into_iter()
            .map(|part| match part {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(done_here) => done_here,
            })
            .collect()
    });
    let mut statuses = Vec::with_capacity(addrs.len());
    let mut all_written = true;
    for part in parts {
        match part? {
            Some(status) => statuses.extend(status),
            None => all_written = false,
        }
    }
    Ok(all_written.then_some(statuses))
}

/// Threads one `move_pages` of `pages` pages is split across: one per CPU this process may
/// run on, at most [`MOVE_THREADS_MAX`], each with at least [`MOVE_THREAD_MIN_PAGES`].
fn move_threads(pages: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cpus.min(MOVE_THREADS_MAX)
        .min(pages / MOVE_THREAD_MIN_PAGES)
        .max(1)
}

/// Page addresses of another process (or this one) handed to a thread that passes them to
/// `move_pages`.
#[derive(Clone, Copy)]
struct PageAddrs<'a>(&'a [*mut c_void]);

// SAFETY: the pointers are only numbers naming pages to the kernel; no thread dereferences
// them, so sharing them between threads cannot race on the memory they point to.
unsafe impl Send for PageAddrs<'_> {}

/// One `move_pages` call moving the pages at `addrs` to `target`, as [`move_pages`] answers.
fn move_pages_once(
    pid: i32,
    addrs: &[*mut c_void],
    target: u32,
    flags: u32,
) -> Result<Option<Vec<i32>>, BackendError> {
    let nodes = vec![target as i32; addrs.len()];
    // A positive return is the number of pages not migrated.
    match sys_move_pages(pid, addrs, Some(&nodes), flags) {
        (0, status) => Ok(Some(status)),
        (1.., _) => Ok(None),
        _ => Err(BackendError::last_os("move_pages")),
    }
}

/// `move_pages(2)` on process `pid` (0: this one): `nodes` (one per address) moves, `None`
/// only asks where each page is. The raw return and the status array. The addresses are the
/// other process's; the kernel checks that this one may inspect it
/// (`PTRACE_MODE_READ_REALCREDS`: the same uid, or `CAP_SYS_PTRACE`) and fails `EPERM`
/// otherwise, `ESRCH` when it is gone.
fn sys_move_pages(
    pid: i32,
    addrs: &[*mut c_void],
    nodes: Option<&[i32]>,
    flags: u32,
) -> (libc::c_long, Vec<i32>) {
    debug_assert!(nodes.is_none_or(|n| n.len() == addrs.len()));
    let mut status = vec![0i32; addrs.len()];
    // SAFETY: addrs, status (and nodes, when given) have `addrs.len()` elements each and
    // outlive the call; the kernel only reads the address values (they name pages of process
    // `pid` and are never dereferenced here) and writes only `status`, never other Rust
    // memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            libc::c_long::from(pid),
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

    /// A move large enough to be split across threads answers each page's status at that
    /// page's index: here every third page is mapped (`-ENOENT` for the others), a pattern
    /// the parts' length is not a multiple of, so parts joined out of order or short show.
    #[test]
    fn a_split_move_answers_every_page_in_order() {
        let pages = 4 * MOVE_THREAD_MIN_PAGES;
        let len = pages * PAGE as usize;
        // SAFETY: a fresh private anonymous mapping, unmapped below; nothing else uses it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let addrs: Vec<*mut c_void> = (0..pages)
            // SAFETY: inside the mapping above.
            .map(|i| unsafe { base.cast::<u8>().add(i * PAGE as usize) }.cast())
            .collect();
        for &addr in addrs.iter().step_by(3) {
            // SAFETY: a page of the mapping above, writable.
            unsafe { addr.cast::<u8>().write(1) };
        }
        let node = local_nodes()[0];
        if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
            assert!(move_threads(pages) > 1, "a move this large is split");
        }
        let status = move_pages(0, &addrs, node, MPOL_MF_MOVE)
            .unwrap()
            .expect("every mapped page is on the node already");
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(base, len) };
        assert_eq!(status.len(), pages);
        for (i, &s) in status.iter().enumerate() {
            let expected = if i % 3 == 0 {
                node as i32
            } else {
                -libc::ENOENT
            };
            assert_eq!(s, expected, "page {i}");
        }
    }

    /// A hugetlb memfd must be whole 2 MiB pages, and one larger than what the pool has
    /// free is refused with ENOMEM when its pages are taken, not at a later fault. (The
    /// pool's size is whatever the machine has: asking for one page more than is free is
    /// refused on any.)
    #[test]
    fn a_hugetlb_memfd_is_whole_pages_and_refused_beyond_the_free_pool() {
        let linux = LinuxMemoryBackend;
        let odd = linux.sealed_hugetlb_memfd("hal-hugetlb-odd", HUGE_PAGE_BYTES + PAGE);
        assert_eq!(
            odd.unwrap_err().source.kind(),
            std::io::ErrorKind::InvalidInput
        );
        let available = crate::memory::SysfsMemory::new("/sys")
            .available_huge_pages()
            .unwrap()
            .expect("the kernel has a 2 MiB hugetlb pool");
        let bytes = (available + 1) * HUGE_PAGE_BYTES;
        let fd = linux.sealed_hugetlb_memfd("hal-hugetlb", bytes).unwrap();
        assert!(linux.sealed_against_resize(fd.as_fd()).unwrap());
        let refused = linux.populate(fd.as_fd(), bytes, &[]).unwrap_err();
        assert_eq!(
            refused.source.kind(),
            std::io::ErrorKind::OutOfMemory,
            "{refused}: {}",
            refused.source
        );
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
    fn a_maps_line_names_range_offset_device_and_inode() {
        let line = "7f3a1c000000-7f3a1c400000 rw-s 00200000 00:01 4242                       \
                    /memfd:corridor-ffm-b1 (deleted)";
        assert_eq!(
            parse_maps_line(line),
            Some(MapsLine {
                start: 0x7f3a_1c00_0000,
                end: 0x7f3a_1c40_0000,
                offset: 0x20_0000,
                device: (0, 1),
                inode: 4242
            })
        );
        assert_eq!(
            parse_maps_line("7f00-7f10 r--p 00000000 fd:1a 9 /usr/lib/x.so").map(|m| m.device),
            Some((0xfd, 0x1a))
        );
        assert_eq!(parse_maps_line("garbage"), None);
        let numa = "7f3a1c000000 bind:1 file=/memfd:corridor-ffm-b1\\040(deleted) dirty=16384 \
                    mapmax=2 N0=512 N1=15872 kernelpagesize_kB=4";
        assert_eq!(
            numa_maps_nodes(numa).collect::<Vec<_>>(),
            vec![(0, 512), (1, 15872)]
        );
        let holder = HolderMapping {
            pid: 1,
            start: 0x10_0000,
            end: 0x10_2000,
            offset: 2 * PAGE,
            usable: true,
        };
        assert_eq!(holder.page_addr(1), None, "before the mapped part");
        assert_eq!(holder.page_addr(2), Some(0x10_0000 as *mut c_void));
        assert_eq!(holder.page_addr(3), Some(0x10_1000 as *mut c_void));
        assert_eq!(holder.page_addr(4), None, "after it");
    }

    /// A holder that maps the second half of a bundle: its pages are examined in its address
    /// space, the first half (resident, mapped by no holder) through the daemon's own mapping,
    /// and a holder that is gone is passed over; every resident page is examined once.
    #[test]
    fn pages_a_holder_maps_are_examined_there_and_the_rest_through_our_own_mapping() {
        let linux = LinuxMemoryBackend;
        let bytes = 64 * PAGE;
        let fd = linux.sealed_memfd("hal-holder", bytes).unwrap();
        let mut f = std::fs::File::from(fd.try_clone().unwrap());
        f.write_all(&vec![7u8; bytes as usize]).unwrap();
        // This process plays the holder: the second half mapped at an offset.
        let half = (bytes / 2) as usize;
        // SAFETY: a fresh shared mapping of the memfd's second half, unmapped below.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                half,
                ProtFlags::READ,
                MapFlags::SHARED,
                &fd,
                bytes / 2,
            )
        }
        .unwrap();
        // SAFETY: the range is the mapping just created; populating maps resident pages.
        unsafe { libc::madvise(ptr, half, libc::MADV_POPULATE_READ) };
        let me = std::process::id() as i32;
        let found = holder_mappings(fd.as_fd(), &[me, me]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].start, found[0].offset), (ptr as u64, bytes / 2));
        // A pid no process has (above pid_max): gone, passed over.
        let nodes = local_nodes();
        let node = {
            let mapping = Mapping::new(fd.as_fd(), bytes).unwrap();
            let addr = mapping.page_addr(0);
            mapping.populate_pages(&[0]).unwrap();
            query_nodes(0, &[addr]).unwrap()[0].unsigned_abs()
        };
        let mut reports = Vec::new();
        let migration = linux
            .migrate(fd.as_fd(), bytes, &[node], &[i32::MAX, me], &mut |p| {
                reports.push(p);
            })
            .unwrap();
        let done = migration.progress;
        assert_eq!(done.resident_pages, 64);
        assert_eq!(done.examined_pages, 64, "{reports:?}");
        assert_eq!(done.holder_pages, 32, "the holder's half: {reports:?}");
        assert_eq!((done.moved_pages, done.left_pages), (0, 0));
        assert!(nodes.contains(&node));
        // SAFETY: unmaps the mapping created above, once.
        unsafe { rustix::mm::munmap(ptr, half) }.unwrap();
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

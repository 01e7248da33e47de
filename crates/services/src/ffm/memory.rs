//! The real memory behind a bundle: a sealed `memfd` (or, for persistent
//! bundles, a sparse file in the persistent directory) with the placement's
//! NUMA policy applied by `mbind(2)`.
//!
//! * `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate(bytes)`
//!   (sparse: no page exists until touched), then `F_SEAL_GROW |
//!   F_SEAL_SHRINK | F_SEAL_SEAL` so no holder of the fd can resize it under
//!   another's mapping (a shrink would SIGBUS every mapper).
//! * The policy is set by mapping the fd `MAP_SHARED`, calling `mbind` on the
//!   mapping and unmapping it again: for shmem (memfd) the kernel keeps a
//!   *shared* policy on the inode, so it governs every later page fault from
//!   any process (mm/shmem.c `shmem_set_policy`). Regular files have no
//!   shared policy: for persistent bundles the policy only holds for the
//!   mapping it was set on, and the outcome says so.
//! * Several nodes use `MPOL_WEIGHTED_INTERLEAVE` (Linux 6.9+, weights are the
//!   system-wide `/sys/kernel/mm/mempolicy/weighted_interleave/nodeN`); on an
//!   older kernel (EINVAL) plain `MPOL_INTERLEAVE`, and the outcome says so.
//! * Migration is `mbind(MPOL_MF_MOVE)` over the resident pages; resident
//!   pages off the target nodes are counted with `move_pages(2)` (query
//!   mode, `nodes = NULL`) before and after, so `moved_pages` is what the
//!   kernel reports, not an estimate. Scans go 1 GiB at a time, so the
//!   RFC's 256 GiB bundle costs no more scan memory than a small one.

use std::ffi::c_void;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// `mbind` modes (include/uapi/linux/mempolicy.h).
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
/// `mbind` flag: move pages that violate the new policy.
const MPOL_MF_MOVE: u32 = 1 << 1;

const PAGE: u64 = 4096;
/// Pages scanned at a time (1 GiB of 4 KiB pages).
const WINDOW_PAGES: usize = 1 << 18;

/// What went wrong with a bundle's memory, with the step and the bundle.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("bundle {id}: {step}")]
    Sys {
        id: String,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("bundle {id}: persistent file {path}")]
    File {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn sys<'a>(id: &'a str, step: &'static str) -> impl FnOnce(rustix::io::Errno) -> MemoryError + 'a {
    move |e| MemoryError::Sys {
        id: id.to_owned(),
        step,
        source: e.into(),
    }
}

/// How the NUMA policy was applied, for the bundle's conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Local NUMA nodes the memory is bound to.
    pub nodes: Vec<u32>,
    /// `MPOL_BIND`, `MPOL_WEIGHTED_INTERLEAVE` or `MPOL_INTERLEAVE`.
    pub mode: &'static str,
    /// Whatever a reader must know: fallbacks, twin nodes that are not on
    /// this host, single-node hosts.
    pub notes: Vec<String>,
}

/// NUMA nodes of this host that have memory (`/sys/devices/system/node/has_memory`,
/// falling back to `online`, then to node 0).
pub fn local_memory_nodes() -> Vec<u32> {
    for file in ["has_memory", "online"] {
        if let Ok(text) = std::fs::read_to_string(format!("/sys/devices/system/node/{file}"))
            && let Ok(nodes) = corridor_hal::memory::parse_list(text.trim())
            && !nodes.is_empty()
        {
            return nodes;
        }
    }
    vec![0]
}

/// The memory of one bundle.
#[derive(Debug)]
pub struct BundleMemory {
    id: String,
    fd: OwnedFd,
    bytes: u64,
    /// `Some` for persistent bundles: the file holding the data.
    file: Option<PathBuf>,
}

impl BundleMemory {
    /// A new sealed memfd of `bytes` (sparse).
    pub fn memfd(id: &str, bytes: u64) -> Result<Self, MemoryError> {
        let fd = rustix::fs::memfd_create(
            format!("corridor-ffm-{id}"),
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(sys(id, "memfd_create"))?;
        rustix::fs::ftruncate(&fd, bytes).map_err(sys(id, "ftruncate the memfd"))?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL)
            .map_err(sys(id, "seal the memfd against resize"))?;
        Ok(Self {
            id: id.to_owned(),
            fd,
            bytes,
            file: None,
        })
    }

    /// Opens (creating if absent) the persistent file of a bundle, sized to
    /// `bytes` (sparse). Existing data is kept: this is how a restart gets a
    /// persistent bundle's contents back.
    pub fn persistent(id: &str, bytes: u64, dir: &Path) -> Result<Self, MemoryError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(format!("{id}.mem"));
        let file_err = |source| MemoryError::File {
            id: id.to_owned(),
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(file_err)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(file_err)?;
        let len = file.metadata().map_err(file_err)?.len();
        if len != bytes {
            file.set_len(bytes).map_err(file_err)?;
        }
        Ok(Self {
            id: id.to_owned(),
            fd: file.into(),
            bytes,
            file: Some(path),
        })
    }

    /// Removes a persistent bundle's file (after DELETE or expiry).
    pub fn remove_file(id: &str, dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(format!("{id}.mem"))) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The fd as the RFC shows it: `/proc/<pid>/fd/<n>`. A process of the
    /// same user can `open()` it; everyone else uses the Unix-socket hand-off.
    pub fn proc_path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd())
    }

    /// Applies the policy for `wanted` NUMA nodes with `weights` (the
    /// placement's, one per node; ignored for one node). With `move_pages`,
    /// resident pages are migrated and the count of pages that changed node
    /// is returned.
    pub fn apply_policy(
        &self,
        wanted: &[u32],
        move_resident: bool,
    ) -> Result<(PolicyOutcome, u64), MemoryError> {
        let local = local_memory_nodes();
        let mut notes = Vec::new();
        let mut nodes: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|n| local.contains(n))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.len() < wanted.len() {
            notes.push(format!(
                "placement nodes {wanted:?} are not all memory nodes of this host (it has {local:?}); \
                 the twin's placement is modelled and the memory is bound to the host's nodes"
            ));
        }
        if nodes.is_empty() {
            nodes = local.clone();
        }
        if local.len() == 1 {
            notes.push(format!(
                "this host has one NUMA node ({}): the placement is real but trivially one node",
                local[0]
            ));
        }
        if self.file.is_some() {
            notes.push(
                "persistent bundle: a regular file has no shared NUMA policy; \
                 the policy holds for the daemon's mapping only"
                    .to_owned(),
            );
        }
        if self.bytes == 0 {
            return Ok((
                PolicyOutcome {
                    nodes,
                    mode: "MPOL_BIND",
                    notes,
                },
                0,
            ));
        }
        let mapping = Mapping::new(&self.id, self.fd.as_fd(), self.bytes)?;
        let before = if move_resident {
            mapping.off_target_pages(&self.id, &nodes)?
        } else {
            0
        };
        let mask = node_mask(&nodes);
        let flags = if move_resident { MPOL_MF_MOVE } else { 0 };
        let mode = if nodes.len() == 1 {
            mapping.mbind(&self.id, MPOL_BIND, &mask, flags)?;
            "MPOL_BIND"
        } else {
            match mapping.mbind(&self.id, MPOL_WEIGHTED_INTERLEAVE, &mask, flags) {
                Ok(()) => "MPOL_WEIGHTED_INTERLEAVE",
                Err(_) => {
                    notes.push(
                        "kernel refused MPOL_WEIGHTED_INTERLEAVE (needs Linux 6.9+): \
                         plain MPOL_INTERLEAVE, equal weights"
                            .to_owned(),
                    );
                    mapping.mbind(&self.id, MPOL_INTERLEAVE, &mask, flags)?;
                    "MPOL_INTERLEAVE"
                }
            }
        };
        // Pages that were resident off the target nodes and no longer are:
        // what mbind(MPOL_MF_MOVE) moved (pages it could not move stay off).
        let moved = if move_resident {
            before.saturating_sub(mapping.off_target_pages(&self.id, &nodes)?)
        } else {
            0
        };
        Ok((PolicyOutcome { nodes, mode, notes }, moved))
    }

    /// Pages of the bundle present in memory (`mincore`), for telemetry.
    pub fn resident_pages(&self) -> Result<u64, MemoryError> {
        if self.bytes == 0 {
            return Ok(0);
        }
        let mapping = Mapping::new(&self.id, self.fd.as_fd(), self.bytes)?;
        let mut resident = 0;
        for (first, count) in mapping.windows() {
            resident += mapping
                .residency(&self.id, first, count)?
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
    fn new(id: &str, fd: BorrowedFd<'_>, bytes: u64) -> Result<Self, MemoryError> {
        let len = usize::try_from(bytes).map_err(|_| MemoryError::Sys {
            id: id.to_owned(),
            step: "map the bundle",
            source: std::io::Error::other("larger than the address space"),
        })?;
        // SAFETY: a fresh mapping chosen by the kernel (null hint) aliases no
        // Rust object; it is only handed to mbind/mincore/move_pages and
        // unmapped in Drop, never dereferenced.
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
        .map_err(sys(id, "mmap the bundle"))?;
        let ptr = NonNull::new(ptr).ok_or_else(|| MemoryError::Sys {
            id: id.to_owned(),
            step: "mmap the bundle",
            source: std::io::Error::other("null mapping"),
        })?;
        Ok(Self { ptr, len })
    }

    fn mbind(&self, id: &str, mode: i32, mask: &[u64], flags: u32) -> Result<(), MemoryError> {
        // maxnode counts bits; the kernel reads maxnode-1 of them (the
        // historical off-by-one libnuma also compensates for).
        let maxnode = (mask.len() * 64 + 1) as libc::c_ulong;
        // SAFETY: addr/len is our own live mapping; the mask outlives the
        // call and holds maxnode-1 bits; mbind touches no Rust memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mbind,
                self.ptr.as_ptr(),
                self.len as libc::c_ulong,
                mode as libc::c_ulong,
                mask.as_ptr(),
                maxnode,
                flags as libc::c_ulong,
            )
        };
        if rc != 0 {
            return Err(MemoryError::Sys {
                id: id.to_owned(),
                step: "mbind",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// The mapping in windows of [`WINDOW_PAGES`] pages, `(first, count)`:
    /// scans never hold per-page state for more than one window, so a
    /// 256 GiB bundle costs no more memory to scan than a 1 GiB one.
    fn windows(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let pages = self.len.div_ceil(PAGE as usize);
        (0..pages)
            .step_by(WINDOW_PAGES)
            .map(move |first| (first, WINDOW_PAGES.min(pages - first)))
    }

    /// `mincore` vector of `count` pages from page `first`: bit 0 of each
    /// byte = page resident. For shmem this reports the page cache, mapped
    /// here or not.
    fn residency(&self, id: &str, first: usize, count: usize) -> Result<Vec<u8>, MemoryError> {
        let off = first * PAGE as usize;
        let len = (count * PAGE as usize).min(self.len - off);
        let mut vec = vec![0u8; count];
        // SAFETY: [off, off+len) lies inside our live mapping; vec has one
        // byte per page of it.
        let rc = unsafe {
            libc::mincore(
                self.ptr.as_ptr().cast::<u8>().add(off).cast(),
                len,
                vec.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(MemoryError::Sys {
                id: id.to_owned(),
                step: "mincore",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(vec)
    }

    /// Resident pages that are on none of `targets`, via `move_pages` in
    /// query mode. Resident pages are first mapped with
    /// `MADV_POPULATE_READ` (they are in the page cache already, so nothing
    /// is allocated) because both `move_pages` and `mbind(MPOL_MF_MOVE)`
    /// only see pages mapped in this address space.
    fn off_target_pages(&self, id: &str, targets: &[u32]) -> Result<u64, MemoryError> {
        let base = self.ptr.as_ptr().cast::<u8>();
        let mut off_target = 0u64;
        for (first, count) in self.windows() {
            let residency = self.residency(id, first, count)?;
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
                // SAFETY: [off, off+len) lies inside our mapping (page
                // indexes come from mincore over it); populate-read only
                // maps pages already in the page cache.
                let rc =
                    unsafe { libc::madvise(base.add(off).cast(), len, libc::MADV_POPULATE_READ) };
                if rc != 0 {
                    return Err(MemoryError::Sys {
                        id: id.to_owned(),
                        step: "madvise(MADV_POPULATE_READ)",
                        source: std::io::Error::last_os_error(),
                    });
                }
                let addrs: Vec<*mut c_void> = (start..i)
                    // SAFETY: each address is a page inside our mapping.
                    .map(|p| unsafe { base.add((first + p) * PAGE as usize) }.cast())
                    .collect();
                let mut status = vec![0i32; addrs.len()];
                // SAFETY: pid 0 = this process; addrs/status have `count`
                // elements; nodes = NULL asks for the current node of each
                // page and moves nothing.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_move_pages,
                        0 as libc::c_long,
                        addrs.len() as libc::c_ulong,
                        addrs.as_ptr(),
                        std::ptr::null::<i32>(),
                        status.as_mut_ptr(),
                        0 as libc::c_long,
                    )
                };
                if rc < 0 {
                    return Err(MemoryError::Sys {
                        id: id.to_owned(),
                        step: "move_pages (query)",
                        source: std::io::Error::last_os_error(),
                    });
                }
                off_target += status
                    .iter()
                    .filter(|&&n| n >= 0 && !targets.contains(&n.unsigned_abs()))
                    .count() as u64;
            }
        }
        Ok(off_target)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`, once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

    #[test]
    fn memfd_is_sparse_sealed_and_bound() {
        let m = BundleMemory::memfd("t1", 1 << 30).unwrap();
        let seals = rustix::fs::fcntl_get_seals(m.fd()).unwrap();
        assert!(seals.contains(SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL));
        assert!(
            rustix::fs::ftruncate(m.fd(), 4096).is_err(),
            "shrink is sealed"
        );
        assert_eq!(m.resident_pages().unwrap(), 0, "nothing touched yet");
        let (outcome, moved) = m.apply_policy(&local_memory_nodes(), true).unwrap();
        assert_eq!(moved, 0);
        assert!(!outcome.nodes.is_empty());
        // Touch two pages through a dup of the fd, as a client would.
        let mut f = std::fs::File::from(m.fd().try_clone_to_owned().unwrap());
        f.write_all(b"hello").unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(m.resident_pages().unwrap(), 2);
        // Migrating to the nodes it is already on moves nothing.
        let (_, moved) = m.apply_policy(&outcome.nodes, true).unwrap();
        assert_eq!(moved, 0);
        assert!(m.proc_path().starts_with("/proc/"));
    }

    #[test]
    fn persistent_file_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let m = BundleMemory::persistent("p1", 8192, dir.path()).unwrap();
            let mut f = std::fs::File::from(m.fd().try_clone_to_owned().unwrap());
            f.write_all(b"persist").unwrap();
        }
        let m = BundleMemory::persistent("p1", 8192, dir.path()).unwrap();
        let mut f = std::fs::File::from(m.fd().try_clone_to_owned().unwrap());
        let mut buf = [0u8; 7];
        f.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"persist");
        BundleMemory::remove_file("p1", dir.path()).unwrap();
        assert!(!dir.path().join("p1.mem").exists());
    }
}

//! The real memory behind a bundle: a sealed `memfd` (or, for persistent
//! bundles, a sparse file in the persistent directory) with the placement's
//! NUMA policy applied.
//!
//! The syscalls (memfd creation and sealing, mapping, `mbind` with weighted
//! interleave, `move_pages`, `mincore`) live in the HAL behind
//! [`MemoryBackend`] (`corridor_hal::memory::backend`); this module decides
//! what to ask for and what to tell the bundle's owner:
//!
//! * what a placement may bind at all ([`NumaTarget`]): the NUMA nodes of
//!   this machine when the devices were discovered on it (sysfs), nothing
//!   when they are the twin's (their node numbers are the modelled hosts',
//!   and passing them to `mbind` would bind real memory to whatever this
//!   machine happens to number the same);
//! * which of the wanted nodes this machine has (a sysfs tree read from
//!   another root may name nodes it lacks);
//! * the notes on the `Placed` condition: a fallback from weighted to plain
//!   interleave (kernels before 6.9), a one-node host, a persistent bundle
//!   (a regular file has no shared NUMA policy, so the policy holds for the
//!   daemon's mapping only).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use corridor_hal::memory::{
    BackendError, EXTENT, LinuxMemoryBackend, MemoryBackend, MigrationProgress, NodeRange,
    NumaMode, SysfsMemory, weighted_extents,
};
use corridor_model::ffm::PageSize;

/// The backend bundles use: the running kernel's.
fn backend() -> &'static dyn MemoryBackend {
    static LINUX: LinuxMemoryBackend = LinuxMemoryBackend;
    &LINUX
}

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

fn sys(id: &str) -> impl FnOnce(BackendError) -> MemoryError + '_ {
    move |e| MemoryError::Sys {
        id: id.to_owned(),
        step: e.step,
        source: e.source,
    }
}

/// How the NUMA policy was applied, for the bundle's conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Local NUMA nodes the memory is bound to.
    pub nodes: Vec<u32>,
    /// `MPOL_BIND`, `MPOL_WEIGHTED_INTERLEAVE`, `MPOL_INTERLEAVE`,
    /// [`SOLE_NODE_MODE`] or [`MODELLED_MODE`].
    pub mode: &'static str,
    /// Whatever a reader must know: fallbacks, twin nodes that are not on
    /// this host, single-node hosts.
    pub notes: Vec<String>,
    /// Resident pages a migration examined (and moved, if elsewhere) in a
    /// hand-off peer's address space rather than through corridord's own
    /// mapping; 0 when nothing migrated.
    pub holder_pages: u64,
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

/// What a placement asks of this machine's memory policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumaTarget {
    /// Bind to these NUMA nodes of this machine, each with its share of
    /// the bytes.
    ThisMachine(Vec<(u32, u64)>),
    /// The placement is on modelled (twin) devices, named here: nothing of
    /// this machine corresponds to them, so nothing is bound.
    Modelled(Vec<String>),
}

/// The mode reported when a modelled placement binds nothing.
pub const MODELLED_MODE: &str = "MPOL_DEFAULT";

/// The mode reported when a new bundle is placed on a host with one memory
/// node: every page lands on it whatever the policy, so none is set. An
/// `MPOL_BIND` there changes nowhere a page goes, yet the kernel looks the
/// shared policy up on every page fault: populating a bundle took a median
/// 1.04× a bare memfd with it (ten figures, 1.00–1.08×) and 0.98× without
/// (eight, 0.93–1.02×; BENCHMARKS.md).
pub const SOLE_NODE_MODE: &str = "no policy (the host's only node)";

/// The memory of one bundle.
#[derive(Debug)]
pub struct BundleMemory {
    id: String,
    fd: OwnedFd,
    bytes: u64,
    /// `Some` for persistent bundles: the file holding the data.
    file: Option<PathBuf>,
    /// Processes the hand-off socket gave the fd to and whose connection is
    /// still open (one entry per connection): a migration moves the pages
    /// they map through their own address spaces.
    holders: Mutex<Vec<i32>>,
    /// On the hugetlb pool (2 MiB pages), not shmem.
    hugetlb: bool,
}

impl BundleMemory {
    /// A new sealed memfd of `bytes` (sparse).
    pub fn memfd(id: &str, bytes: u64) -> Result<Self, MemoryError> {
        Self::anonymous(id, bytes, false)
    }

    /// A new sealed memfd of `bytes` (a whole number of 2 MiB pages) on the hugetlb pool;
    /// its pages are taken by [`Self::populate`], once its placement is bound.
    pub fn hugetlb_memfd(id: &str, bytes: u64) -> Result<Self, MemoryError> {
        Self::anonymous(id, bytes, true)
    }

    fn anonymous(id: &str, bytes: u64, hugetlb: bool) -> Result<Self, MemoryError> {
        let name = format!("corridor-ffm-{id}");
        let fd = if hugetlb {
            backend().sealed_hugetlb_memfd(&name, bytes)
        } else {
            backend().sealed_memfd(&name, bytes)
        }
        .map_err(sys(id))?;
        Ok(Self {
            id: id.to_owned(),
            fd,
            bytes,
            file: None,
            holders: Mutex::default(),
            hugetlb,
        })
    }

    /// Takes every page of the memory now, on the nodes [`Self::place`] bound it to with
    /// `target` (it answered `placed`): each page bound again through the populating
    /// mapping, since a hugetlb file keeps no shared policy (see `MemoryBackend::populate`).
    pub fn populate(&self, target: &NumaTarget, placed: &PolicyOutcome) -> Result<(), MemoryError> {
        let layout = match target {
            NumaTarget::Modelled(_) => Vec::new(),
            NumaTarget::ThisMachine(shares) if placed.mode == NumaMode::Extents.as_str() => {
                weighted_extents(self.bytes, shares)
            }
            NumaTarget::ThisMachine(_) => match placed.nodes.as_slice() {
                [] => Vec::new(),
                &[node] => vec![NodeRange {
                    offset: 0,
                    len: self.bytes,
                    node,
                }],
                nodes => {
                    let even: Vec<(u32, u64)> = nodes.iter().map(|&n| (n, 1)).collect();
                    weighted_extents(self.bytes, &even)
                }
            },
        };
        backend()
            .populate(self.fd.as_fd(), self.bytes, &layout)
            .map_err(sys(&self.id))
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
            // std opens every file O_CLOEXEC: the fd does not leak into children.
            .mode(0o600)
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
            holders: Mutex::default(),
            hugetlb: false,
        })
    }

    /// Removes a persistent bundle's file (after DELETE or expiry).
    pub fn remove_file(id: &str, dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(format!("{id}.mem"))) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Records that process `pid` received the fd (the hand-off peer).
    pub fn add_holder(&self, pid: i32) {
        self.holders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pid);
    }

    /// Forgets one hand-off to `pid` (its connection closed).
    pub fn remove_holder(&self, pid: i32) {
        let mut holders = self
            .holders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = holders.iter().position(|&p| p == pid) {
            holders.swap_remove(i);
        }
    }

    fn holder_pids(&self) -> Vec<i32> {
        self.holders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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

    /// The pages the kernel may back this memory with: huge pages for a
    /// memfd of at least one 2 MiB page on a host whose shmem THP policy
    /// allows them (read now: an operator may change it at any time, and a
    /// bundle reports the policy it was created under).
    pub fn page_size(&self) -> PageSize {
        const HUGE_PAGE: u64 = 2 << 20;
        if self.hugetlb {
            return PageSize::Hugetlb;
        }
        if self.file.is_some() || self.bytes < HUGE_PAGE {
            return PageSize::Base;
        }
        match SysfsMemory::new("/sys").shmem_huge_pages() {
            Ok(Some(policy)) if policy.allows_huge_pages() => PageSize::TransparentHuge,
            _ => PageSize::Base,
        }
    }

    /// The fd as the RFC shows it: `/proc/<pid>/fd/<n>`. A process of the
    /// same user can `open()` it; everyone else uses the Unix-socket hand-off.
    pub fn proc_path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd())
    }

    /// Applies what a placement asks: [`Self::apply_policy`] for nodes of
    /// this machine; for a modelled placement no `mbind` at all (the memory
    /// keeps this machine's default policy) and a note saying so. With
    /// `migration`, resident pages move and it hears of each chunk.
    pub fn place(
        &self,
        target: &NumaTarget,
        migration: Option<&mut dyn FnMut(MigrationProgress)>,
    ) -> Result<(PolicyOutcome, u64), MemoryError> {
        match target {
            NumaTarget::ThisMachine(shares) => {
                let mut nodes: Vec<u32> = shares.iter().map(|&(n, _)| n).collect();
                nodes.sort_unstable();
                nodes.dedup();
                // This machine's nodes are read only for a split: a one-node
                // placement reads them once, in `apply_policy`.
                if nodes.len() > 1 && {
                    let local = local_memory_nodes();
                    nodes.iter().all(|n| local.contains(n))
                } {
                    self.apply_split(shares, migration)
                } else {
                    self.apply_policy(&nodes, migration)
                }
            }
            NumaTarget::Modelled(devices) => Ok((
                PolicyOutcome {
                    nodes: Vec::new(),
                    mode: MODELLED_MODE,
                    notes: vec![format!(
                        "the placement on {devices:?} is modelled: those are twin devices whose \
                         NUMA numbers name no node of this machine, so nothing is bound and the \
                         memory follows this machine's default policy"
                    )],
                    holder_pages: 0,
                },
                0,
            )),
        }
    }

    /// A bundle over several nodes of this machine in the ratio of its
    /// shares: each 2 MiB extent bound to one node (the HAL's
    /// `weighted_extents`), since the kernel's weighted interleave takes
    /// system-wide weights that no one bundle's ratio may set. With
    /// `migration`, resident pages move to their extent's node (one report,
    /// at the end).
    fn apply_split(
        &self,
        shares: &[(u32, u64)],
        migration: Option<&mut dyn FnMut(MigrationProgress)>,
    ) -> Result<(PolicyOutcome, u64), MemoryError> {
        let layout = weighted_extents(self.bytes, shares);
        let moving = migration.is_some();
        let resident = if moving { self.resident_pages()? } else { 0 };
        let binding = backend()
            .bind_extents(self.fd.as_fd(), self.bytes, &layout, moving)
            .map_err(sys(&self.id))?;
        if let Some(progress) = migration {
            progress(MigrationProgress {
                resident_pages: resident,
                examined_pages: resident,
                moved_pages: binding.moved_pages,
                left_pages: 0,
                holder_pages: 0,
            });
        }
        let mut notes = vec![format!(
            "{} extents of 2 MiB bound node by node in the placement's ratio {:?}",
            self.bytes.div_ceil(EXTENT),
            shares
        )];
        if self.file.is_some() {
            notes.push(
                "persistent bundle: a regular file has no shared NUMA policy; \
                 the policy holds for the daemon's mapping only"
                    .to_owned(),
            );
        }
        let mut nodes: Vec<u32> = shares.iter().map(|&(n, _)| n).collect();
        nodes.sort_unstable();
        nodes.dedup();
        Ok((
            PolicyOutcome {
                nodes,
                mode: binding.mode.as_str(),
                notes,
                holder_pages: 0,
            },
            binding.moved_pages,
        ))
    }

    /// Applies the policy for `wanted` NUMA nodes (the kernel's weighted
    /// interleave over several). With `migration`, resident pages elsewhere are moved onto
    /// them (`move_pages`, chunk by chunk, each reported to `migration`) and
    /// the count of pages that changed node is returned.
    pub fn apply_policy(
        &self,
        wanted: &[u32],
        migration: Option<&mut dyn FnMut(MigrationProgress)>,
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
        // Nothing to bind: a new bundle's pages can only land on the one
        // node (a migration still binds, so it reports what it did).
        let sole_node = local.len() == 1 && nodes == local && migration.is_none();
        if local.len() == 1 {
            notes.push(format!(
                "this host has one NUMA node ({}): the placement is real but trivially one node{}",
                local[0],
                if sole_node {
                    ", so no policy is set (every page lands there, and a bind would only cost each page fault a policy lookup)"
                } else {
                    ""
                }
            ));
        }
        if self.file.is_some() {
            notes.push(
                "persistent bundle: a regular file has no shared NUMA policy; \
                 the policy holds for the daemon's mapping only"
                    .to_owned(),
            );
        }
        if sole_node {
            return Ok((
                PolicyOutcome {
                    nodes,
                    mode: SOLE_NODE_MODE,
                    notes,
                    holder_pages: 0,
                },
                0,
            ));
        }
        if self.bytes == 0 {
            return Ok((
                PolicyOutcome {
                    nodes,
                    mode: "MPOL_BIND",
                    notes,
                    holder_pages: 0,
                },
                0,
            ));
        }
        let (mode, moved, holder_pages) = match migration {
            None => {
                let binding = backend()
                    .bind(self.fd.as_fd(), self.bytes, &nodes, false)
                    .map_err(sys(&self.id))?;
                (binding.mode, 0, 0)
            }
            Some(progress) => {
                let done = backend()
                    .migrate(
                        self.fd.as_fd(),
                        self.bytes,
                        &nodes,
                        &self.holder_pids(),
                        progress,
                    )
                    .map_err(sys(&self.id))?;
                let left = done.progress.left_pages;
                if left > 0 && !done.moved_shared {
                    notes.push(format!(
                        "{left} pages stayed off {nodes:?}: they are mapped by other processes \
                         too, and moving shared pages (MPOL_MF_MOVE_ALL) needs CAP_SYS_NICE, \
                         which corridord lacks"
                    ));
                } else if left > 0 {
                    notes.push(format!(
                        "{left} pages stayed off {nodes:?}: the kernel could not move them \
                         (busy or pinned); they follow the policy when next faulted"
                    ));
                }
                (
                    done.mode,
                    done.progress.moved_pages,
                    done.progress.holder_pages,
                )
            }
        };
        if mode == NumaMode::Interleave {
            notes.push(
                "kernel refused MPOL_WEIGHTED_INTERLEAVE (needs Linux 6.9+): \
                 plain MPOL_INTERLEAVE, equal weights"
                    .to_owned(),
            );
        }
        Ok((
            PolicyOutcome {
                nodes,
                mode: mode.as_str(),
                notes,
                holder_pages,
            },
            moved,
        ))
    }

    /// Pages of the bundle present in memory (`mincore`), for telemetry.
    pub fn resident_pages(&self) -> Result<u64, MemoryError> {
        backend()
            .resident_pages(self.fd.as_fd(), self.bytes)
            .map_err(sys(&self.id))
    }

    /// Whether the fd is sealed against grow, shrink and further seals
    /// (memfd bundles are; persistent files cannot be).
    pub fn sealed_against_resize(&self) -> Result<bool, MemoryError> {
        backend()
            .sealed_against_resize(self.fd.as_fd())
            .map_err(sys(&self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

    #[test]
    fn memfd_is_sparse_sealed_and_bound() {
        let m = BundleMemory::memfd("t1", 1 << 30).unwrap();
        assert!(m.sealed_against_resize().unwrap());
        let dup = std::fs::File::from(m.fd().try_clone_to_owned().unwrap());
        assert!(dup.set_len(4096).is_err(), "shrink is sealed");
        assert!(dup.set_len(2 << 30).is_err(), "grow is sealed");
        assert_eq!(m.resident_pages().unwrap(), 0, "nothing touched yet");
        let (outcome, moved) = m
            .apply_policy(&local_memory_nodes(), Some(&mut |_| {}))
            .unwrap();
        assert_eq!(moved, 0);
        assert!(!outcome.nodes.is_empty());
        // Touch two pages through a dup of the fd, as a client would.
        let mut f = std::fs::File::from(m.fd().try_clone_to_owned().unwrap());
        f.write_all(b"hello").unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(m.resident_pages().unwrap(), 2);
        // Migrating to the nodes it is already on moves nothing.
        let (_, moved) = m.apply_policy(&outcome.nodes, Some(&mut |_| {})).unwrap();
        assert_eq!(moved, 0);
        assert!(m.proc_path().starts_with("/proc/"));
    }

    /// The policy the kernel holds for the first page of `memory`'s file
    /// (`get_mempolicy(MPOL_F_ADDR)` through a shared mapping of it).
    fn shared_policy_mode(memory: &BundleMemory) -> i32 {
        use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
        const MPOL_F_ADDR: libc::c_ulong = 1 << 1;
        // SAFETY: a fresh shared mapping of one page at a kernel-chosen
        // address, only handed to get_mempolicy and unmapped below.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                4096,
                ProtFlags::READ,
                MapFlags::SHARED,
                memory.fd(),
                0,
            )
        }
        .unwrap();
        let mut mode: libc::c_int = -1;
        // SAFETY: `mode` is a live int; no node mask is asked for (null, 0);
        // the address lies in the mapping made above.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_get_mempolicy,
                &mut mode as *mut libc::c_int,
                std::ptr::null_mut::<libc::c_ulong>(),
                0 as libc::c_ulong,
                ptr,
                MPOL_F_ADDR,
            )
        };
        assert_eq!(rc, 0, "get_mempolicy: {}", std::io::Error::last_os_error());
        // SAFETY: the mapping made above, no longer used.
        unsafe { munmap(ptr, 4096) }.unwrap();
        mode
    }

    #[test]
    fn a_new_bundle_on_a_host_of_one_node_gets_no_policy() {
        const MPOL_DEFAULT: i32 = 0;
        const MPOL_BIND: i32 = 2;
        let local = local_memory_nodes();
        let m = BundleMemory::memfd("sole", 1 << 21).unwrap();
        let (outcome, _) = m.apply_policy(&local[..1], None).unwrap();
        if local.len() == 1 {
            assert_eq!(outcome.mode, SOLE_NODE_MODE);
            assert_eq!(shared_policy_mode(&m), MPOL_DEFAULT);
        } else {
            // One node of several: the bind is what keeps pages there.
            assert_eq!(outcome.mode, "MPOL_BIND");
            assert_eq!(shared_policy_mode(&m), MPOL_BIND);
        }
        assert_eq!(outcome.nodes, local[..1]);
        // A migration binds whatever the host, and says so.
        let (outcome, _) = m.apply_policy(&local[..1], Some(&mut |_| {})).unwrap();
        assert_eq!(outcome.mode, "MPOL_BIND");
        assert_eq!(shared_policy_mode(&m), MPOL_BIND);
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

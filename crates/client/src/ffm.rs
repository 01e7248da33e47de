//! memqosd: free-form memory bundles and policies, and mapping a bundle's
//! memory into this process through corridord's Unix-socket fd hand-off.
//!
//! ```no_run
//! # async fn demo(client: corridor_client::Client, request: corridor_model::ffm::FfmAllocRequest) {
//! let bundle = client.ffm_alloc(&request).await.unwrap();
//! let mut map = bundle.map("/var/lib/corridoros/ffm.sock").unwrap();
//! // Optional: fault every page in now, on every CPU, rather than on first touch.
//! map.populate().unwrap();
//! map.as_mut_slice()[..5].copy_from_slice(b"hello");
//! # }
//! ```

use std::io::{IoSliceMut, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::ptr::NonNull;

use corridor_model::ffm::{
    BandwidthPatch, FfmAllocRequest, FfmBundle, FfmTelemetry, LatencyClass, LatencyClassPatch,
};
use corridor_model::ffm_plan::BundlePlan;
use corridor_model::memory_tiers::MemoryTiers;
use corridor_model::meta::Operation;
use corridor_model::policy::{Policy, PolicyRequest};
use corridor_model::units::GigabytesPerSecond;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Client, Result, decode, encode_segment};

/// The response header carrying a bundle's hand-off token.
pub const TOKEN_HEADER: &str = "x-ffm-token";

/// A bundle with the token that lets its domain map it.
#[derive(Debug, Clone)]
pub struct BundleHandle {
    pub bundle: FfmBundle,
    /// `None` when the caller may see the bundle but not map it (read-only).
    pub token: Option<String>,
}

impl BundleHandle {
    /// Receives the bundle's fd over corridord's hand-off socket and maps
    /// it shared, read-write. The connection stays open while the mapping
    /// lives: for a non-shareable bundle it is the one hold corridord allows.
    pub fn map(&self, socket: impl AsRef<Path>) -> std::result::Result<MappedBundle, MapError> {
        let token = self.token.as_deref().ok_or(MapError::NoToken)?;
        MappedBundle::open(
            socket.as_ref(),
            &self.bundle.id,
            &self.bundle.security_domain,
            token,
        )
    }
}

/// Why a bundle could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("no hand-off token: the server gives it to the bundle's domain, admin and operator")]
    NoToken,
    #[error("hand-off socket {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corridord refused the hand-off: {0}")]
    Refused(String),
    #[error("corridord answered without a file descriptor")]
    NoFd,
}

#[derive(Debug, Serialize)]
struct HandoffRequest<'a> {
    id: &'a str,
    security_domain: &'a str,
    token: &'a str,
}

#[derive(Debug, serde::Deserialize)]
struct HandoffReply {
    ok: bool,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

/// A bundle's memory mapped into this process (`MAP_SHARED`): every
/// process mapping the same bundle sees the same bytes.
#[derive(Debug)]
pub struct MappedBundle {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    /// The hand-off connection; closing it releases a non-shareable hold.
    _hold: UnixStream,
}

// SAFETY: the mapping is plain shared memory owned by this value; access
// goes through &self/&mut self like any buffer.
unsafe impl Send for MappedBundle {}
// SAFETY: as above; shared references only read.
unsafe impl Sync for MappedBundle {}

impl MappedBundle {
    /// Asks `socket` for bundle `id` and maps what it hands over.
    pub fn open(
        socket: &Path,
        id: &str,
        security_domain: &str,
        token: &str,
    ) -> std::result::Result<Self, MapError> {
        let (stream, fd, bytes) = receive(socket, id, security_domain, token)?;
        let len = usize::try_from(bytes).map_err(|_| MapError::Io {
            path: socket.display().to_string(),
            source: std::io::Error::other("bundle larger than the address space"),
        })?;
        let io = |source: std::io::Error| MapError::Io {
            path: socket.display().to_string(),
            source,
        };
        if len == 0 {
            return Err(io(std::io::Error::other("empty bundle")));
        }
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a new mapping at a kernel-chosen address aliases nothing;
        // it lives until Drop unmaps it, and `len` is the fd's size.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::NORESERVE,
                &fd,
                0,
            )
        }
        .map_err(|e| io(e.into()))?;
        // Ask for transparent huge pages: on a host whose shmem policy is
        // `advise`, only mappings that ask get them (the bundle's
        // `page_size` says whether the host allows them at all). Advice, so
        // a kernel without THP refusing it changes nothing.
        // SAFETY: the range is exactly the mapping just created.
        let _ = unsafe { rustix::mm::madvise(ptr, len, rustix::mm::Advice::LinuxHugepage) };
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io(std::io::Error::other("null mapping")))?;
        Ok(Self {
            ptr,
            len,
            fd,
            _hold: stream,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The received descriptor (e.g. to pass on or to `pwrite`).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Allocates and maps every page of the bundle for writing now, so the
    /// first touches do not fault (what `MAP_POPULATE` does for a private
    /// mapping). Pages already there keep their bytes.
    ///
    /// The kernel zeroes each new page on the CPU of the thread that faults
    /// it in, so one call populates at one CPU's speed. The range is split
    /// into consecutive parts on 2 MiB boundaries, one `MADV_POPULATE_WRITE`
    /// call per part, each on its own thread: one per CPU this process may
    /// use, at most [`POPULATE_THREADS_MAX`], each part about
    /// [`POPULATE_PART_MIN`] bytes or more. Returns how many parts it made
    /// (a thread each, unless one could not start and its part ran on the
    /// calling thread). Needs Linux 5.14 or later (`EINVAL` before).
    pub fn populate(&self) -> std::io::Result<usize> {
        // SAFETY: ptr/len is this live mapping, borrowed for the call.
        unsafe { populate_write(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr/len is our live mapping; other processes may write
        // concurrently, which for plain bytes is the documented contract of
        // shared memory.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self excludes other borrows in this
        // process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for MappedBundle {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`, once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// [`MappedBundle::populate`] for any mapping: `MADV_POPULATE_WRITE` of
/// `[start, start + len)` split over threads. Public so that a benchmark
/// can populate anonymous memory or a bare memfd the same way.
///
/// # Safety
///
/// `[start, start + len)` must be mapped by this process for the whole
/// call (populating does not change the bytes there).
pub unsafe fn populate_write(start: *mut u8, len: usize) -> std::io::Result<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let parts = populate_parts(start as usize, len, cpus);
    let threads = parts.len();
    let populate = |(start, len): (usize, usize)| -> std::io::Result<()> {
        // SAFETY: each part lies inside the caller's mapping, live for
        // the call; populating only faults pages in and leaves their
        // contents as they are.
        unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                len,
                rustix::mm::Advice::LinuxPopulateWrite,
            )
        }
        .map_err(std::io::Error::from)
    };
    let Some((&first, rest)) = parts.split_first() else {
        return Ok(0);
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter()
            .map(|&part| {
                std::thread::Builder::new()
                    .name("bundle-populate".into())
                    .spawn_scoped(scope, move || populate(part))
                    // A thread that cannot start: its part runs here.
                    .map_err(|_| part)
            })
            .collect();
        populate(first)?;
        for other in others {
            match other {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                Err(part) => populate(part)?,
            }
        }
        Ok(threads)
    })
}

/// At most this many threads populate one bundle ([`MappedBundle::populate`]).
pub const POPULATE_THREADS_MAX: usize = 4;
/// The least a populating thread is given: below it, starting a thread costs
/// more than the CPU it adds (16 MiB is about 4 ms of zeroing on one core).
pub const POPULATE_PART_MIN: usize = 16 << 20;
/// The boundary parts are cut on: a transparent or hugetlb huge page is
/// never split between two threads.
const HUGE_PAGE: usize = 2 << 20;

/// The mapping `[start, start + len)` cut into at most `cpus` (and
/// [`POPULATE_THREADS_MAX`]) consecutive `(start, len)` parts of about
/// [`POPULATE_PART_MIN`] or more (a cut moves up to the next [`HUGE_PAGE`]
/// boundary); together they cover the range exactly once. Empty for an
/// empty range.
fn populate_parts(start: usize, len: usize, cpus: usize) -> Vec<(usize, usize)> {
    if len == 0 {
        return Vec::new();
    }
    let threads = cpus
        .min(POPULATE_THREADS_MAX)
        .min(len / POPULATE_PART_MIN)
        .max(1);
    let end = start + len;
    let mut parts = Vec::with_capacity(threads);
    let mut from = start;
    for i in 1..threads {
        let cut = (start + len / threads * i).next_multiple_of(HUGE_PAGE);
        if cut > from && cut < end {
            parts.push((from, cut - from));
            from = cut;
        }
    }
    parts.push((from, end - from));
    parts
}

/// One hand-off: the request line out, the reply line and fd in.
fn receive(
    socket: &Path,
    id: &str,
    security_domain: &str,
    token: &str,
) -> std::result::Result<(UnixStream, OwnedFd, u64), MapError> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let io = |source: std::io::Error| MapError::Io {
        path: socket.display().to_string(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    let mut line = serde_json::to_vec(&HandoffRequest {
        id,
        security_domain,
        token,
    })
    .map_err(|e| io(std::io::Error::other(e)))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut buf = [0u8; 1024];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| io(e.into()))?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            fd = fds.next();
        }
    }
    let reply: HandoffReply = serde_json::from_slice(buf[..got.bytes].trim_ascii_end())
        .map_err(|e| io(std::io::Error::other(e)))?;
    if !reply.ok {
        return Err(MapError::Refused(reply.error.unwrap_or_default()));
    }
    let fd = fd.ok_or(MapError::NoFd)?;
    Ok((stream, fd, reply.bytes.unwrap_or(0)))
}

impl Client {
    /// A JSON call whose response headers matter (the bundle token).
    async fn send_json_with_headers<B: Serialize + ?Sized + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(T, reqwest::header::HeaderMap)> {
        let (bytes, headers) = self.send_raw(method, path, body).await?;
        Ok((decode(&self.url(path), &bytes)?, headers))
    }

    fn handle(bundle: FfmBundle, headers: &reqwest::header::HeaderMap) -> BundleHandle {
        BundleHandle {
            bundle,
            token: headers
                .get(TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// `POST /v1/ffm/alloc`.
    pub async fn ffm_alloc(&self, request: &FfmAllocRequest) -> Result<BundleHandle> {
        let (bundle, headers) = self
            .send_json_with_headers(Method::POST, "/v1/ffm/alloc", Some(request))
            .await?;
        Ok(Self::handle(bundle, &headers))
    }

    /// `POST /v1/ffm/alloc?dry_run=true`: the plan an alloc would grant
    /// now, nothing committed.
    pub async fn ffm_plan(&self, request: &FfmAllocRequest) -> Result<BundlePlan> {
        self.send_json_with_headers(Method::POST, "/v1/ffm/alloc?dry_run=true", Some(request))
            .await
            .map(|(plan, _)| plan)
    }

    /// `GET /v1/ffm/{id}`, with the token when the caller may have it.
    pub async fn ffm_get(&self, id: &str) -> Result<BundleHandle> {
        let (bundle, headers) = self
            .send_json_with_headers::<(), _>(
                Method::GET,
                &format!("/v1/ffm/{}", encode_segment(id)),
                None,
            )
            .await?;
        Ok(Self::handle(bundle, &headers))
    }

    /// Every bundle the caller may see (all pages).
    pub async fn ffm_list(&self) -> Result<Vec<FfmBundle>> {
        Ok(self.list_all("/v1/ffm", None).await?.items)
    }

    pub async fn ffm_delete(&self, id: &str) -> Result<FfmBundle> {
        self.send_json_with_headers::<(), _>(
            Method::DELETE,
            &format!("/v1/ffm/{}", encode_segment(id)),
            None,
        )
        .await
        .map(|(b, _)| b)
    }

    /// `PATCH /v1/ffm/{id}/bandwidth`.
    pub async fn ffm_set_floor(&self, id: &str, floor_gbs: f64) -> Result<FfmBundle> {
        let patch = BandwidthPatch {
            floor_gbs: GigabytesPerSecond(floor_gbs),
        };
        self.send_json_with_headers(
            Method::PATCH,
            &format!("/v1/ffm/{}/bandwidth", encode_segment(id)),
            Some(&patch),
        )
        .await
        .map(|(b, _)| b)
    }

    /// `PATCH /v1/ffm/{id}/latency_class`: the migration's operation.
    pub async fn ffm_migrate(&self, id: &str, latency_class: LatencyClass) -> Result<Operation> {
        self.send_json_with_headers(
            Method::PATCH,
            &format!("/v1/ffm/{}/latency_class", encode_segment(id)),
            Some(&LatencyClassPatch { latency_class }),
        )
        .await
        .map(|(o, _)| o)
    }

    pub async fn ffm_telemetry(&self, id: &str) -> Result<FfmTelemetry> {
        self.get_json(&format!("/v1/ffm/{}/telemetry", encode_segment(id)))
            .await
    }

    /// `GET /v1/ffm/tiers`: every device memqosd allocates on, its tier and
    /// why, and the floors admitted on it per policy window (infrastructure
    /// principals: admin, operator, read-only).
    pub async fn ffm_tiers(&self) -> Result<MemoryTiers> {
        self.get_json("/v1/ffm/tiers").await
    }

    pub async fn ffm_renew(&self, id: &str) -> Result<FfmBundle> {
        self.send_json_with_headers::<(), _>(
            Method::POST,
            &format!("/v1/ffm/{}/lease", encode_segment(id)),
            None,
        )
        .await
        .map(|(b, _)| b)
    }

    pub async fn policy_create(&self, request: &PolicyRequest) -> Result<Policy> {
        self.send_json_with_headers(Method::POST, "/v1/policies", Some(request))
            .await
            .map(|(p, _)| p)
    }

    pub async fn policies(&self) -> Result<Vec<Policy>> {
        Ok(self.list_all("/v1/policies", None).await?.items)
    }

    pub async fn policy(&self, id: &str) -> Result<Policy> {
        self.get_json(&format!("/v1/policies/{}", encode_segment(id)))
            .await
    }

    pub async fn policy_delete(&self, id: &str) -> Result<Policy> {
        self.send_json_with_headers::<(), _>(
            Method::DELETE,
            &format!("/v1/policies/{}", encode_segment(id)),
            None,
        )
        .await
        .map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populate_parts_cover_the_range_once_with_cuts_on_huge_pages() {
        for start in [0x7f00_0000_0000usize, 0x7f00_0000_1000, 0x7f00_001f_f000] {
            for len in [
                4096,
                15 << 20,
                16 << 20,
                33 << 20,
                (64 << 20) + 4096,
                1 << 30,
            ] {
                for cpus in 1..=6 {
                    let parts = populate_parts(start, len, cpus);
                    let most = cpus
                        .min(POPULATE_THREADS_MAX)
                        .min(len / POPULATE_PART_MIN)
                        .max(1);
                    assert!(
                        !parts.is_empty() && parts.len() <= most,
                        "{start:#x} {len} {cpus}: {parts:?}"
                    );
                    assert_eq!(parts[0].0, start);
                    for pair in parts.windows(2) {
                        let (from, size) = pair[0];
                        assert_eq!(from + size, pair[1].0, "parts are consecutive");
                        assert_eq!(pair[1].0 % HUGE_PAGE, 0, "cut off a huge page boundary");
                        assert!(
                            size + HUGE_PAGE > POPULATE_PART_MIN,
                            "a part too small: {parts:?}"
                        );
                    }
                    let (last, size) = parts[parts.len() - 1];
                    assert!(size > 0);
                    assert_eq!(last + size, start + len, "the range is covered to its end");
                }
            }
        }
        assert!(populate_parts(0x7f00_0000_0000, 0, 4).is_empty());
        // Two CPUs split a 128 MiB bundle in two.
        assert_eq!(
            populate_parts(0, 128 << 20, 2),
            vec![(0, 64 << 20), (64 << 20, 64 << 20)]
        );
    }

    #[test]
    fn populating_allocates_every_page_and_keeps_what_was_written() {
        use rustix::fs::{MemfdFlags, fstat, ftruncate, memfd_create};
        use rustix::mm::{MapFlags, ProtFlags};
        const LEN: usize = 64 << 20;
        let fd = memfd_create("populate-test", MemfdFlags::CLOEXEC).unwrap();
        ftruncate(&fd, LEN as u64).unwrap();
        // SAFETY: a new shared mapping of the memfd, unmapped by the
        // MappedBundle's Drop.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                LEN,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .unwrap();
        let (hold, _peer) = UnixStream::pair().unwrap();
        let mut bundle = MappedBundle {
            ptr: NonNull::new(ptr.cast()).unwrap(),
            len: LEN,
            fd,
            _hold: hold,
        };
        let marks = [0, 4096, (32 << 20) + 17, LEN - 1];
        for (i, &at) in marks.iter().enumerate() {
            bundle.as_mut_slice()[at] = i as u8 + 1;
        }
        let allocated = |b: &MappedBundle| fstat(b.fd()).unwrap().st_blocks as usize * 512;
        assert!(allocated(&bundle) < LEN, "only the marked pages exist yet");

        let threads = bundle.populate().unwrap();

        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(threads, cpus.min(POPULATE_THREADS_MAX));
        assert_eq!(
            allocated(&bundle),
            LEN,
            "every page of the bundle is allocated"
        );
        for (i, &at) in marks.iter().enumerate() {
            assert_eq!(bundle.as_slice()[at], i as u8 + 1, "byte {at} kept");
        }
    }
}

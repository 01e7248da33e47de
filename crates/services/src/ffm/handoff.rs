//! The fd hand-off: a Unix socket (`<state_dir>/ffm.sock`, `0600`) that
//! passes a bundle's fd with `SCM_RIGHTS`.
//!
//! Protocol, one request per connection: the client sends one line of JSON
//! `{"id": "...", "security_domain": "...", "token": "..."}`; the server
//! answers one line of JSON `{"ok": true, "bytes": N}` with the fd attached,
//! or `{"ok": false, "error": "..."}`. Authorisation is the peer's
//! credentials (`SO_PEERCRED`: the uid must be the daemon's or root, on top
//! of the socket's `0600` mode) plus the bundle's token, which memqosd gives
//! only to callers allowed to see the bundle (its domain or a cluster
//! principal). Unknown bundle, other domain and wrong token get the same
//! answer. The peer's pid is kept on the bundle's memory while the
//! connection lasts: a migration moves the pages that process maps through
//! its own address space.
//!
//! A `shareable` bundle may be handed to any number of connections. A
//! non-shareable one to one connection at a time: the hold lasts until the
//! client closes the connection (the client keeps it open while the mapping
//! lives). Once a process holds an fd the kernel cannot stop it from passing
//! it on; the rule bounds what memqosd hands out, nothing more.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Weak};

use corridor_hal::memory::fd_passing::{own_uid, peer_credentials, send_with_fd};
use serde::{Deserialize, Serialize};

use super::memory::BundleMemory;
use super::tokens::same_token;
use super::{FfmService, lock};

/// Why a hand-off was refused (the socket answers with this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandoffError {
    /// Unknown bundle, other domain or wrong token: one answer, so the
    /// socket does not reveal which bundles exist.
    #[error("no such bundle for this domain and token")]
    Denied,
    #[error("bundle is not shareable and is already held by another client")]
    Busy,
}

/// A hand-off in progress: keeps a non-shareable bundle's single slot until
/// dropped (when the client's connection closes).
#[derive(Debug)]
pub struct Hold {
    service: Weak<FfmService>,
    id: String,
    /// The bundle's memory and the peer's pid, once [`Hold::peer`] named it.
    memory: Weak<BundleMemory>,
    pid: Option<i32>,
}

impl Hold {
    /// Names the process at the other end (its `SO_PEERCRED` pid): while the
    /// hold lasts, a migration moves the pages that process maps through its
    /// own address space rather than through a mapping of corridord's.
    pub fn peer(&mut self, pid: i32) {
        if let Some(memory) = self.memory.upgrade() {
            if let Some(old) = self.pid.replace(pid) {
                memory.remove_holder(old);
            }
            memory.add_holder(pid);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let (Some(memory), Some(pid)) = (self.memory.upgrade(), self.pid) {
            memory.remove_holder(pid);
        }
        if let Some(service) = self.service.upgrade()
            && let Some(l) = lock(&service.live).get_mut(&self.id)
        {
            l.holders = l.holders.saturating_sub(1);
        }
    }
}

impl FfmService {
    /// Authorises a hand-off of bundle `id` to a client of `domain` holding
    /// `token`; returns a duplicate of the fd and the hold that ends with the
    /// client's connection.
    pub fn handoff(
        self: &Arc<Self>,
        id: &str,
        domain: &str,
        token: &str,
    ) -> Result<(OwnedFd, Hold), HandoffError> {
        let mut live = lock(&self.live);
        let l = live.get_mut(id).ok_or(HandoffError::Denied)?;
        if l.domain != domain || !same_token(&l.token, token) {
            return Err(HandoffError::Denied);
        }
        if !l.shareable && l.holders > 0 {
            return Err(HandoffError::Busy);
        }
        let fd = l
            .memory
            .fd()
            .try_clone_to_owned()
            .map_err(|_| HandoffError::Denied)?;
        l.holders += 1;
        Ok((
            fd,
            Hold {
                service: Arc::downgrade(self),
                id: id.to_owned(),
                memory: Arc::downgrade(&l.memory),
                pid: None,
            },
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    pub id: String,
    pub security_domain: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffReply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Binds the socket (replacing a stale one) with mode `0600`.
pub fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves hand-offs until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::UnixListener,
    service: Arc<FfmService>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "ffm socket accept failed");
                continue;
            }
        };
        let service = Arc::clone(&service);
        // Blocking I/O on a dedicated thread: a connection lives as long as
        // the client's mapping (it is the hold of a non-shareable bundle).
        let std_stream = match stream.into_std().and_then(|s| {
            s.set_nonblocking(false)?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "ffm socket: cannot take the connection");
                continue;
            }
        };
        // A detached thread, not the blocking pool: a client holding its
        // connection must not keep the runtime from shutting down.
        let spawned = std::thread::Builder::new()
            .name("ffm-handoff".into())
            .spawn(move || {
                if let Err(e) = handle(std_stream, &service) {
                    tracing::debug!(error = %e, "ffm socket connection ended");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "ffm socket: cannot start a connection thread");
        }
    }
}

fn reply(stream: &mut UnixStream, r: &HandoffReply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

fn handle(mut stream: UnixStream, service: &Arc<FfmService>) -> std::io::Result<()> {
    let cred = peer_credentials(&stream)?;
    if cred.uid != own_uid() && cred.uid != 0 {
        return reply(
            &mut stream,
            &HandoffReply {
                ok: false,
                bytes: None,
                error: Some("peer uid is neither corridord's nor root".into()),
            },
        );
    }
    let mut line = String::new();
    BufReader::new((&stream).take(4096)).read_line(&mut line)?;
    let request: HandoffRequest = match serde_json::from_str(line.trim()) {
        Ok(r) => r,
        Err(e) => {
            return reply(
                &mut stream,
                &HandoffReply {
                    ok: false,
                    bytes: None,
                    error: Some(format!("bad request: {e}")),
                },
            );
        }
    };
    let (fd, mut hold) =
        match service.handoff(&request.id, &request.security_domain, &request.token) {
            Ok(x) => x,
            Err(e) => {
                return reply(
                    &mut stream,
                    &HandoffReply {
                        ok: false,
                        bytes: None,
                        error: Some(e.to_string()),
                    },
                );
            }
        };
    hold.peer(cred.pid);
    let fd = std::fs::File::from(fd);
    let bytes = fd.metadata().map(|m| m.len()).unwrap_or(0);
    tracing::info!(bundle = %request.id, pid = cred.pid, uid = cred.uid, "ffm fd handed over");
    let mut body = serde_json::to_vec(&HandoffReply {
        ok: true,
        bytes: Some(bytes),
        error: None,
    })
    .map_err(std::io::Error::other)?;
    body.push(b'\n');
    send_with_fd(&stream, &body, fd.as_fd())?;
    drop(fd);
    // Hold until the client hangs up (EOF or error).
    let mut sink = [0u8; 64];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    drop(hold);
    Ok(())
}

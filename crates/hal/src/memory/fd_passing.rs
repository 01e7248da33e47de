//! Handing a bundle's fd to another process over a Unix socket, and the process limits that
//! bound how many bundles (fds) one daemon can hold: the socket and process syscalls memqosd
//! needs, so the service itself makes none.

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

/// Who is at the other end of a Unix socket (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// The peer's process id when it connected.
    pub pid: i32,
    /// The peer's effective user id.
    pub uid: u32,
}

/// The credentials of the process at the other end of `stream`.
///
/// # Errors
/// `getsockopt(SO_PEERCRED)` failed.
pub fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok(PeerCredentials {
        pid: cred.pid.as_raw_nonzero().get(),
        uid: cred.uid.as_raw(),
    })
}

/// This process's real user id.
#[must_use]
pub fn own_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Sends `body` with `fd` attached (`SCM_RIGHTS`), in one `sendmsg` that raises no SIGPIPE
/// when the peer has gone.
///
/// # Errors
/// `sendmsg` failed.
pub fn send_with_fd(stream: &UnixStream, body: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let fds = [fd];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        stream,
        &[IoSlice::new(body)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Lifts the soft `RLIMIT_NOFILE` to the hard limit (every live bundle holds an fd, so the
/// number of bundles should be bounded by admission, not by a default of 1024). Returns the
/// limit now in force.
///
/// # Errors
/// `setrlimit` refused.
pub fn raise_fd_limit() -> io::Result<Option<u64>> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
        return Ok(limit.maximum);
    }
    Ok(limit.current)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn an_fd_crosses_a_socket_pair_with_our_own_credentials() {
        let (a, b) = UnixStream::pair().unwrap();
        let cred = peer_credentials(&b).unwrap();
        assert_eq!(cred.uid, own_uid());
        assert_eq!(cred.pid, std::process::id() as i32);
        let file = tempfile::tempfile().unwrap();
        file.set_len(12_288).unwrap();
        send_with_fd(&a, b"{\"ok\":true}\n", file.as_fd()).unwrap();
        // The receiving side: the line arrives (the fd itself is the client's business).
        let mut line = [0u8; 12];
        (&b).read_exact(&mut line).unwrap();
        assert_eq!(&line, b"{\"ok\":true}\n");
        let limit = raise_fd_limit().unwrap();
        assert!(limit.is_none_or(|l| l >= 1024), "{limit:?}");
    }
}

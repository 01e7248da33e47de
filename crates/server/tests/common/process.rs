//! The real `corridord` binary as a child process, for what only a process
//! shows: flags and environment, signals, kill -9. It is stopped by its own
//! pid, and killed when the test ends however it ends.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_pki::Principal;

use super::clients::tls_options;

/// How long a starting corridord may take to answer /readyz.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on now, outside the range outgoing
/// connections take theirs from (`corridor_store::etcd::testing::free_port`).
pub fn free_port() -> u16 {
    corridor_store::etcd::testing::free_port().expect("a free loopback port")
}

/// The `corridord` binary cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_corridord");

/// `corridord` with its output discarded; a test adds its flags and
/// environment (and pipes stderr to read the log).
pub fn command() -> Command {
    let mut command = Command::new(BINARY);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

/// A running corridord child.
pub struct Corridord {
    child: Child,
    addr: String,
    state_dir: PathBuf,
    tls: bool,
}

impl Corridord {
    /// Starts `command`, which the caller set to listen on 127.0.0.1:`port`
    /// with state in `state_dir`, serving TLS unless `tls` is false
    /// (--insecure-dev).
    pub fn spawn(mut command: Command, state_dir: &Path, port: u16, tls: bool) -> Corridord {
        Corridord {
            child: command.spawn().unwrap(),
            addr: format!("127.0.0.1:{port}"),
            state_dir: state_dir.to_path_buf(),
            tls,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sets the port, for a child started on port 0 that reported the one
    /// the kernel gave it.
    pub fn set_port(&mut self, port: u16) {
        self.addr = format!("127.0.0.1:{port}");
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Sends `signal` to the child's pid.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped
        // before `self` is dropped or waited for, so it names no other
        // process.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    /// SIGKILL, and reaps the child.
    pub fn kill_dash_nine(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the child to exit; panics if it does not.
    pub fn wait_exit(&mut self, timeout: Duration, what: &str) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "corridord ignored {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The rest of the child's stderr (if it was piped), to its end.
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut text).unwrap();
        }
        text
    }

    /// Panics with the log if the child has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("corridord exited with {status}: {}", self.stderr());
        }
    }

    /// Waits until /readyz answers 200 (to the admin's certificate, once
    /// corridord has written its PKI).
    pub async fn ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("{}/readyz", self.base());
        loop {
            let client = if self.tls {
                // Until corridord has written its PKI there is no
                // certificate to present (or half of one).
                let tls = tls_options(&self.state_dir, Some(&Principal::Admin));
                corridor_client::rustls_config(&tls).ok().map(|config| {
                    reqwest::Client::builder()
                        .tls_backend_preconfigured(config)
                        .build()
                        .unwrap()
                })
            } else {
                Some(reqwest::Client::new())
            };
            let answered = match client {
                Some(client) => client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|response| response.status() == 200),
                None => false,
            };
            // A 200 counts only from a live child: a port found free before
            // the child bound it may have gone to another server since.
            self.assert_running();
            if answered {
                return;
            }
            assert!(Instant::now() < deadline, "corridord never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Corridord::ready`] for a test without an async runtime.
    pub fn ready_blocking(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.get_status_blocking("/readyz") == Some(200) {
                return;
            }
            self.assert_running();
            assert!(Instant::now() < deadline, "corridord never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The status of a GET of `path` as the admin, over std::net and rustls
    /// so it needs no async runtime; `None` until corridord has written its
    /// PKI and listens.
    pub fn get_status_blocking(&self, path: &str) -> Option<u16> {
        use std::io::Write;
        let tls = tls_options(&self.state_dir, Some(&Principal::Admin));
        let config = corridor_client::rustls_config(&tls).ok()?;
        let name = rustls_pki_types::ServerName::try_from("localhost").ok()?;
        let mut connection = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
        let mut tcp = std::net::TcpStream::connect(&self.addr).ok()?;
        let mut stream = rustls::Stream::new(&mut connection, &mut tcp);
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut response = Vec::new();
        // A close_notify-less EOF is fine here: we only need the status line.
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for Corridord {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

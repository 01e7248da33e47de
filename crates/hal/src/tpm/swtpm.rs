//! [`Swtpm`]: a software TPM 2.0 (swtpm) run as a child process on free loopback ports, for
//! tests, benchmarks and the twin. Stopped (killed by pid and reaped) when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tss::TpmTransport;
use super::{Result, TpmError};

/// A running swtpm. Its TPM state lives in the directory given to [`Swtpm::start`]; a fresh
/// directory is a freshly manufactured TPM (new endorsement seed, PCRs at their reset values).
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Swtpm {
    /// Starts `swtpm socket --tpm2` with its state in `state_dir`, the TPM server and control
    /// channel on free adjacent `127.0.0.1` ports (the `swtpm` TCTI finds the control
    /// channel at the server port + 1), already started (`startup-clear`), and waits until
    /// it accepts connections.
    ///
    /// # Errors
    /// [`TpmError::Swtpm`] when swtpm is not installed (`scripts/install-tpm.sh`), exits, or
    /// does not listen within 10 s.
    pub fn start(state_dir: &Path) -> Result<Self> {
        stop_stale(state_dir);
        let mut last = String::new();
        // A free port found by binding port 0 can be taken by someone else before swtpm binds
        // it; try a few pairs.
        for _ in 0..5 {
            let (port, ctrl) = free_ports()?;
            let log = state_dir.join("swtpm.log");
            let child = Command::new("swtpm")
                .arg("socket")
                .arg("--tpm2")
                .arg("--tpmstate")
                .arg(format!("dir={}", state_dir.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
                .arg("--flags")
                .arg("not-need-init,startup-clear")
                .arg("--log")
                .arg(format!("file={},level=1", log.display()))
                .arg("--pid")
                .arg(format!("file={}", pid_file(state_dir).display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    TpmError::Swtpm(format!("cannot run swtpm (scripts/install-tpm.sh): {e}"))
                })?;
            let mut swtpm = Swtpm { child, port, log };
            match swtpm.wait_listening(Duration::from_secs(10)) {
                Ok(()) => return Ok(swtpm),
                Err(e) => last = e,
            }
            // `swtpm` drops here: killed and reaped.
        }
        Err(TpmError::Swtpm(last))
    }

    /// The swtpm server port (its control channel is on the next port).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The transport for [`super::TssTpm::open`].
    #[must_use]
    pub fn transport(&self) -> TpmTransport {
        TpmTransport::Swtpm {
            host: "127.0.0.1".into(),
            port: self.port,
        }
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_listening(&mut self, within: Duration) -> std::result::Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("swtpm exited ({status}): {}", log.trim()));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "swtpm did not listen on port {} within {within:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pid_file(state_dir: &Path) -> PathBuf {
    state_dir.join("swtpm.pid")
}

/// Stops the swtpm a previous owner of `state_dir` left running (its parent was killed
/// before it could stop it): swtpm locks its state directory, so a new one could not start.
/// Only a process whose command line is swtpm on this very directory is signalled, so a
/// recycled pid is left alone.
fn stop_stale(state_dir: &Path) {
    let Ok(text) = std::fs::read_to_string(pid_file(state_dir)) else {
        return;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return;
    };
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return;
    };
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let ours = format!("dir={}", state_dir.display());
    if !cmdline.contains("swtpm") || !cmdline.split(' ').any(|arg| arg == ours) {
        return;
    }
    // SAFETY: kill(2) with a pid read from the pid file, checked above to be an swtpm on
    // this state directory; it touches no memory of ours.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    // The lock is released when the process is gone; reaping is its parent's (init's) job.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}/cmdline")).exists() && Instant::now() < deadline {
        let alive = std::fs::read(format!("/proc/{pid}/stat"))
            .map(|stat| !String::from_utf8_lossy(&stat).contains(") Z "))
            .unwrap_or(false);
        if !alive {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free server port whose successor is free too: the `swtpm` TCTI always reaches the
/// control channel on the server port + 1.
fn free_ports() -> Result<(u16, u16)> {
    let mut last = None;
    for _ in 0..50 {
        let server = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr().map(|a| (l, a.port())))
            .map_err(|e| TpmError::Swtpm(format!("no free loopback port: {e}")))?;
        let Some(ctrl_port) = server.1.checked_add(1) else {
            continue;
        };
        match TcpListener::bind(("127.0.0.1", ctrl_port)) {
            // Both are released just before swtpm binds them.
            Ok(_ctrl) => return Ok((server.1, ctrl_port)),
            Err(e) => last = Some(e),
        }
    }
    Err(TpmError::Swtpm(format!(
        "no free pair of adjacent loopback ports: {last:?}"
    )))
}

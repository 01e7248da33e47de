//! What the corridord benchmarks share: a real `corridord` child process on
//! a free loopback port with its own state directory, stopped by pid.

// Each benchmark includes this module and uses a different part of it
// (memory and cold start for one, the PKI directory for the other).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on now, outside the range outgoing
/// connections take theirs from (`corridor_store::etcd::testing::free_port`).
fn free_port() -> u16 {
    corridor_store::etcd::testing::free_port().expect("a free loopback port")
}

/// Waits until `base`'s `/readyz` answers 2xx through `http`; panics after
/// `timeout`.
pub async fn wait_ready(http: &reqwest::Client, base: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("corridord did not become ready within {timeout:?}");
}

/// A corridord child that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub state: tempfile::TempDir,
    /// When the process was spawned, for cold-start measurements.
    pub started: Instant,
}

impl Server {
    /// Starts corridord with a fresh state directory; `insecure` serves
    /// plain HTTP (`--insecure-dev`), otherwise HTTPS with a new local PKI.
    pub fn spawn(insecure: bool) -> Server {
        Self::spawn_with(insecure, &[])
    }

    /// As [`Server::spawn`], with more corridord arguments.
    pub fn spawn_with(insecure: bool, args: &[&str]) -> Server {
        Self::spawn_binary(env!("CARGO_BIN_EXE_corridord"), insecure, args)
    }

    /// As [`Server::spawn_with`], running the corridord at `binary` (another
    /// build, for a side-by-side comparison in one run).
    pub fn spawn_binary(binary: &str, insecure: bool, args: &[&str]) -> Server {
        let state = tempfile::tempdir().expect("temp state dir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut command = Command::new(binary);
        command
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if insecure {
            command.arg("--insecure-dev");
        }
        // Quiet unless the caller chose a filter (clap takes `--log` once).
        if !args.contains(&"--log") {
            command.args(["--log", "warn"]);
        }
        command.args(args);
        let started = Instant::now();
        let child = command.spawn().expect("corridord starts");
        Server {
            child,
            addr,
            state,
            started,
        }
    }

    /// CPU time the child has used so far (user + system, all threads), from
    /// `/proc/<pid>/stat`, in seconds (clock-tick resolution).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The command name (field 2) may hold spaces: count fields after
        // its closing parenthesis; utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
    }

    /// The child's resident set size, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Server {
    /// Kills the child at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid; the child has not been
        // reaped yet (we wait right after), so the pid cannot be reused.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `replica` runs the singleton work (`corridor_leader 1` in its
/// `/metrics`); false when it does not answer.
pub async fn leads(http: &reqwest::Client, replica: &Server) -> bool {
    let Ok(response) = http
        .get(format!("http://{}/metrics", replica.addr))
        .send()
        .await
    else {
        return false;
    };
    response
        .text()
        .await
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("corridor_leader "))
        .is_some_and(|value| value.trim() == "1")
}

/// The index of the replica that leads, waiting up to `within`.
pub async fn leader_of(
    http: &reqwest::Client,
    replicas: &[Server],
    within: Duration,
) -> Option<usize> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        for (i, r) in replicas.iter().enumerate() {
            if leads(http, r).await {
                return Some(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

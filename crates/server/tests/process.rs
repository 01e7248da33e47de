//! The real `corridord` binary: configuration from flags and environment,
//! readiness, and a graceful exit on SIGTERM. Every child is stopped by pid.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child by pid if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if get_status(url) == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Minimal blocking GET over std::net, so this test needs no async runtime.
fn get_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn corridord_starts_from_env_and_flags_and_stops_cleanly_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_corridord"))
        // The environment sets the state dir; the flag sets the address.
        .env("CORRIDOR_STATE_DIR", state.path())
        .env("CORRIDOR_LISTEN", "127.0.0.1:1") // overridden by the flag below
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_ready(&format!("{base}/readyz")),
        "corridord never became ready"
    );
    assert!(state.path().join("store.redb").exists());

    // SAFETY: kill(2) on our own unreaped child's pid.
    let rc = unsafe { libc::kill(guard.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "corridord ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    use std::io::Read;
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // JSON logs: every line parses and the shutdown was logged.
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    }
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}

#[test]
fn a_bad_config_file_is_reported_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corridord.toml");
    std::fs::write(&path, "listne = \"127.0.0.1:9\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_corridord"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listne"), "{stderr}");
}

#[test]
fn openapi_subcommand_prints_the_document() {
    let output = Command::new(env!("CARGO_BIN_EXE_corridord"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "CorridorOS API");
}

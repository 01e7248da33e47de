//! The real `corridord` binary: configuration from flags and environment,
//! readiness, and a graceful exit on SIGTERM. Every child is stopped by pid.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{self, Corridord, free_port};
use corridor_client::TlsOptions;
use corridor_pki::PkiPaths;

mod common;

#[test]
fn corridord_starts_from_env_and_flags_and_stops_cleanly_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = process::command();
    command
        // The environment sets the state dir; the flag sets the address.
        .env("CORRIDOR_STATE_DIR", state.path())
        .env("CORRIDOR_LISTEN", "127.0.0.1:1") // overridden by the flag below
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stderr(Stdio::piped());
    let mut corridord = Corridord::spawn(command, state.path(), port, true);
    corridord.ready_blocking();
    assert!(state.path().join("store.redb").exists());
    assert_eq!(
        corridord.get_status_blocking("/v1/fabman/devices"),
        Some(200)
    );

    corridord.signal(libc::SIGTERM);
    let status = corridord.wait_exit(Duration::from_secs(10), "SIGTERM");
    assert!(status.success(), "exit status {status}");
    let stderr = corridord.stderr();
    // JSON logs: every line parses and the shutdown was logged.
    for line in stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    }
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    // Keys stay on disk: neither the PEM armour nor any line of a private
    // key reaches the log, and every key file is owner-only.
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    let pki = PkiPaths::in_state_dir(state.path());
    for entry in std::fs::read_dir(&pki.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if !line.starts_with("-----") {
                    assert!(
                        !stderr.contains(line),
                        "key material from {} in the log",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(stderr.contains("local PKI: created"), "{stderr}");
}

#[test]
fn sighup_reloads_the_server_certificate_for_new_connections() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = process::command();
    command
        .arg("--state-dir")
        .arg(state.path())
        .arg("--listen")
        .arg(&addr);
    let mut corridord = Corridord::spawn(command, state.path(), port, true);
    corridord.ready_blocking();
    let before = server_serial(state.path(), &addr);

    // A new server certificate from the same CA, then SIGHUP.
    let pki = PkiPaths::in_state_dir(state.path());
    let issued = corridor_pki::Ca::load(&pki)
        .unwrap()
        .issue_server(&["localhost".into(), "127.0.0.1".into()])
        .unwrap();
    corridor_pki::write_file(&pki.server_key(), issued.key_pem.as_bytes(), 0o600).unwrap();
    corridor_pki::write_file(&pki.server_cert(), issued.cert_pem.as_bytes(), 0o644).unwrap();
    corridord.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = server_serial(state.path(), &addr);
        if now == issued.serial {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {now}, not {}",
            issued.serial
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(before, issued.serial);
    assert_eq!(corridord.get_status_blocking("/readyz"), Some(200));
}

/// The serial of the certificate the server presents to a new connection.
fn server_serial(state_dir: &Path, addr: &str) -> String {
    let pki = PkiPaths::in_state_dir(state_dir);
    let tls = TlsOptions {
        ca: pki.ca_cert(),
        identity: None,
    };
    let config = corridor_client::rustls_config(&tls).unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp).unwrap();
    }
    let leaf = &connection.peer_certificates().unwrap()[0];
    corridor_pki::certificate_serial(leaf).unwrap()
}

#[test]
fn a_bad_config_file_is_reported_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corridord.toml");
    std::fs::write(&path, "listne = \"127.0.0.1:9\"\n").unwrap();
    let output = Command::new(process::BINARY)
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
    let output = Command::new(process::BINARY)
        .arg("openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "CorridorOS API");
}

/// Under systemd (`Type=notify`): READY=1 once it serves, WATCHDOG=1 at
/// half of `WATCHDOG_USEC` while it runs, STOPPING=1 on SIGTERM — read
/// from a datagram socket standing in for the service manager's.
#[test]
fn corridord_notifies_systemd_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;

    let state = tempfile::tempdir().unwrap();
    let socket_path = state.path().join("notify.sock");
    let manager = UnixDatagram::bind(&socket_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = free_port();
    let mut command = process::command();
    command
        .env("CORRIDOR_STATE_DIR", state.path().join("state"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    let mut corridord = Corridord::spawn(command, &state.path().join("state"), port, true);
    let next = |manager: &UnixDatagram| {
        let mut buf = [0u8; 512];
        let n = manager.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next(&manager);
    assert!(first.lines().any(|l| l == "READY=1"), "{first}");
    assert!(first.contains("STATUS=serving on"), "{first}");
    // Ready means ready: /readyz already answers.
    corridord.ready_blocking();

    // At half of 400 ms: at least three pings within a second.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(1) {
        if next(&manager).lines().any(|l| l == "WATCHDOG=1") {
            pings += 1;
        }
    }
    assert!(pings >= 3, "{pings} watchdog pings in a second");

    corridord.signal(libc::SIGTERM);
    let mut stopping = false;
    for _ in 0..10 {
        if next(&manager).lines().any(|l| l == "STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
    let status = corridord.wait_exit(Duration::from_secs(10), "SIGTERM");
    assert!(status.success(), "exit status {status}");
}

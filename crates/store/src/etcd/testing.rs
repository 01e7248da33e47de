//! A throwaway single-node etcd for tests and benchmarks: a real `etcd`
//! process on free loopback ports with its data in a temporary directory,
//! killed by process id when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{EtcdOptions, EtcdStore, EtcdTls};

/// A running etcd. Drop it to stop it.
#[derive(Debug)]
pub struct ThrowawayEtcd {
    child: Child,
    endpoint: String,
    log: PathBuf,
    version: String,
    client_tls: Option<EtcdTls>,
    _dir: tempfile::TempDir,
}

/// PEM files for an etcd that serves TLS and requires client certificates
/// signed by `client_ca` (`--client-cert-auth`).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
}

impl Drop for ThrowawayEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

impl ThrowawayEtcd {
    /// Starts a plain-HTTP etcd and waits (up to 20 s) until it answers.
    pub async fn start() -> Result<ThrowawayEtcd, String> {
        Self::launch(None).await
    }

    /// Starts an etcd that serves only mutual TLS; `client` is what this
    /// harness connects with to see it come up (and what [`Self::store`]
    /// uses).
    pub async fn start_mtls(server: ServerTls, client: EtcdTls) -> Result<ThrowawayEtcd, String> {
        Self::launch(Some((server, client))).await
    }

    async fn launch(tls: Option<(ServerTls, EtcdTls)>) -> Result<ThrowawayEtcd, String> {
        let binary = find_on_path("etcd").ok_or(
            "no `etcd` on PATH (scripts/install-etcd.sh installs it; `make test` runs it)",
        )?;
        let version = Command::new(&binary)
            .arg("--version")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let version = String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or("unknown version")
            .to_string();
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let (client, peer) = (
            free_port().map_err(|e| e.to_string())?,
            free_port().map_err(|e| e.to_string())?,
        );
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = dir.path().join("etcd.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut command = Command::new(&binary);
        if let Some((server, _)) = &tls {
            command
                .arg("--client-cert-auth")
                .arg("--cert-file")
                .arg(&server.cert)
                .arg("--key-file")
                .arg(&server.key)
                .arg("--trusted-ca-file")
                .arg(&server.client_ca);
        }
        let child = command
            .args(["--name", "throwaway", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("throwaway={peer_url}")])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start etcd: {e}"))?;
        let mut etcd = ThrowawayEtcd {
            child,
            endpoint: client_url,
            log,
            version,
            client_tls: tls.map(|(_, client)| client),
            _dir: dir,
        };
        etcd.wait_until_serving().await?;
        Ok(etcd)
    }

    async fn wait_until_serving(&mut self) -> Result<(), String> {
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut last_error = String::new();
        while Instant::now() < give_up {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<_> = log.lines().rev().take(5).collect();
                return Err(format!("etcd exited with {status}: {}", tail.join(" | ")));
            }
            let mut options = self.options();
            options.timeout = Duration::from_secs(2);
            match EtcdStore::connect(options).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    last_error =
                        std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(": ");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("etcd did not answer within 20 s: {last_error}"))
    }

    /// The client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What `etcd --version` printed first.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The process id, for tests that kill it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How to connect to this etcd (with the client TLS it was started with).
    pub fn options(&self) -> EtcdOptions {
        let options = EtcdOptions::new([self.endpoint.clone()]);
        match &self.client_tls {
            Some(tls) => options.with_tls(tls.clone()),
            None => options,
        }
    }

    /// A store connected to this etcd.
    pub async fn store(&self) -> Result<EtcdStore, crate::StoreError> {
        EtcdStore::connect(self.options()).await
    }
}

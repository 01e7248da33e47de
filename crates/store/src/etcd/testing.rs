//! A throwaway single-node etcd for tests and benchmarks: a real `etcd`
//! process on free loopback ports with its data in a temporary directory,
//! killed by process id when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{EtcdOptions, EtcdStore};

/// A running etcd. Drop it to stop it.
#[derive(Debug)]
pub struct ThrowawayEtcd {
    child: Child,
    endpoint: String,
    log: PathBuf,
    version: String,
    _dir: tempfile::TempDir,
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
    /// Starts etcd and waits (up to 20 s) until it serves writes.
    pub async fn start() -> Result<ThrowawayEtcd, String> {
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
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = dir.path().join("etcd.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = Command::new(&binary)
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
            let options = etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(2));
            match etcd_client::Client::connect([&self.endpoint], Some(options)).await {
                Ok(mut client) => match client.status().await {
                    Ok(_) => return Ok(()),
                    Err(e) => last_error = e.to_string(),
                },
                Err(e) => last_error = e.to_string(),
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

    /// A store connected to this etcd.
    pub async fn store(&self) -> Result<EtcdStore, crate::StoreError> {
        EtcdStore::connect(EtcdOptions::new([self.endpoint.clone()])).await
    }
}

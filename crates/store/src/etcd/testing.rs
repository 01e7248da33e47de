//! Throwaway etcds for tests and benchmarks: real `etcd` processes on free
//! loopback ports with their data in a temporary directory, killed by
//! process id when dropped. [`ThrowawayEtcd`] is one member;
//! [`ThrowawayCluster`] is three, with the means to kill, restart, pause and
//! resume members and to find the leader.

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

/// A loopback port nobody listens on now, for a server a test starts next.
///
/// `bind(127.0.0.1:0)` would hand out a port of the kernel's ephemeral range,
/// the range every outgoing connection takes its source port from: between
/// the answer and the server's own bind, any client of any test could be
/// given the same port (a test once lost its server's port that way). So
/// the port comes from the 10,000 below that range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), which only explicit binds
/// use; each call of this process tries the next one of a sequence that
/// starts at a place drawn once per process, so two servers of one test
/// binary never get the same port, and returns the first it can bind.
/// Falls back to `bind(0)` if the range starts too low to leave room.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const SPAN: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_low < SPAN + 1_024 {
        return Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
    }
    let first = ephemeral_low - SPAN;
    // std's hasher is randomly keyed per process: all the randomness the
    // start needs.
    let seed = {
        use std::hash::BuildHasher;
        let drawn = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        u32::try_from(drawn % u64::from(SPAN)).expect("below SPAN")
    };
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::Relaxed, Ordering::Relaxed);
    let mut last_error = None;
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let port = u16::try_from(first + offset).expect("below the ephemeral range");
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => return Ok(port),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free loopback port")))
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
        let (binary, version) = etcd_binary()?;
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

/// What `etcd --version` printed first, and where the binary is.
fn etcd_binary() -> Result<(PathBuf, String), String> {
    let binary = find_on_path("etcd")
        .ok_or("no `etcd` on PATH (scripts/install-etcd.sh installs it; `make test` runs it)")?;
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or("unknown version")
        .to_string();
    Ok((binary, version))
}

/// One member of a [`ThrowawayCluster`].
#[derive(Debug)]
struct Member {
    name: String,
    client_url: String,
    peer_url: String,
    data_dir: PathBuf,
    log: PathBuf,
    /// `None` while the member is killed.
    child: Option<Child>,
}

/// A throwaway 3-member etcd cluster (static bootstrap with
/// `--initial-cluster`) on free loopback ports. Drop it to kill every
/// member and remove the data.
#[derive(Debug)]
pub struct ThrowawayCluster {
    binary: PathBuf,
    version: String,
    initial_cluster: String,
    token: String,
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                // A stopped process still dies of SIGKILL; SIGCONT first
                // anyway so nothing lingers half-alive if the kill is lost.
                let _ = signal(child.id(), "CONT");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Sends a signal with `kill(1)`, so this harness needs no libc binding.
fn signal(pid: u32, name: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{name} {pid} failed: {status}"))
    }
}

impl ThrowawayCluster {
    /// Number of members.
    pub const SIZE: usize = 3;

    /// Starts three members and waits (up to 30 s) until each answers and
    /// the cluster has a leader. Tries again, on new ports, up to twice: a
    /// port found free can be taken by another test's member before this
    /// one binds it (tests start clusters in parallel).
    pub async fn start() -> Result<ThrowawayCluster, String> {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::start_once().await {
                Ok(cluster) => return Ok(cluster),
                Err(error) => failures.push(error),
            }
        }
        Err(failures.join("; then: "))
    }

    async fn start_once() -> Result<ThrowawayCluster, String> {
        let (binary, version) = etcd_binary()?;
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut members = Vec::new();
        for i in 0..Self::SIZE {
            let name = format!("m{i}");
            let client = free_port().map_err(|e| e.to_string())?;
            let peer = free_port().map_err(|e| e.to_string())?;
            members.push(Member {
                client_url: format!("http://127.0.0.1:{client}"),
                peer_url: format!("http://127.0.0.1:{peer}"),
                data_dir: dir.path().join(format!("{name}.data")),
                log: dir.path().join(format!("{name}.log")),
                name,
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "throwaway-{}",
            dir.path().file_name().unwrap_or_default().to_string_lossy()
        );
        let mut cluster = ThrowawayCluster {
            binary,
            version,
            initial_cluster,
            token,
            members,
            _dir: dir,
        };
        for i in 0..Self::SIZE {
            cluster.spawn(i)?;
        }
        let give_up = Instant::now() + Duration::from_secs(30);
        for i in 0..Self::SIZE {
            cluster.wait_for_member(i, give_up).await?;
        }
        cluster.leader().await?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let member = &mut self.members[i];
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .map_err(|e| e.to_string())?;
        let child = Command::new(&self.binary)
            .args(["--name", &member.name, "--data-dir"])
            .arg(&member.data_dir)
            .args(["--listen-client-urls", &member.client_url])
            .args(["--advertise-client-urls", &member.client_url])
            .args(["--listen-peer-urls", &member.peer_url])
            .args(["--initial-advertise-peer-urls", &member.peer_url])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-token", &self.token])
            // Ignored once the data dir holds the membership (a restart).
            .args(["--initial-cluster-state", "new"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start etcd {}: {e}", member.name))?;
        member.child = Some(child);
        Ok(())
    }

    /// Waits until member `i` answers a status request.
    async fn wait_for_member(&mut self, i: usize, give_up: Instant) -> Result<(), String> {
        let mut last_error = String::from("no answer yet");
        while Instant::now() < give_up {
            let member = &mut self.members[i];
            if let Some(Ok(Some(status))) = member.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(&member.log).unwrap_or_default();
                let tail: Vec<_> = log.lines().rev().take(5).collect();
                return Err(format!(
                    "etcd {} exited with {status}: {}",
                    member.name,
                    tail.join(" | ")
                ));
            }
            match self.status(i).await {
                Ok(status) if status.leader() != 0 => return Ok(()),
                Ok(_) => last_error = "no leader yet".into(),
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "etcd {} not serving in time: {last_error}",
            self.members[i].name
        ))
    }

    /// Member `i`'s answer to etcd's maintenance status request.
    async fn status(&self, i: usize) -> Result<etcd_client::StatusResponse, String> {
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(1));
        let mut client =
            etcd_client::Client::connect([self.members[i].client_url.as_str()], Some(options))
                .await
                .map_err(|e| format!("connect to {}: {e}", self.members[i].name))?;
        client
            .status()
            .await
            .map_err(|e| format!("status of {}: {e}", self.members[i].name))
    }

    /// The index of the leader, as the first running member that knows one
    /// reports it (retried for up to 10 s, e.g. during an election).
    pub async fn leader(&self) -> Result<usize, String> {
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut last_error = String::from("no member answered");
        while Instant::now() < give_up {
            let mut ids = Vec::new();
            let mut leader = 0;
            for i in 0..self.members.len() {
                if self.members[i].child.is_none() {
                    continue;
                }
                match self.status(i).await {
                    Ok(status) => {
                        let id = status.header().map_or(0, |h| h.member_id());
                        ids.push((i, id));
                        if status.leader() != 0 {
                            leader = status.leader();
                        }
                    }
                    Err(e) => last_error = e,
                }
            }
            if let Some(&(i, _)) = ids.iter().find(|(_, id)| leader != 0 && *id == leader) {
                return Ok(i);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("no leader within 10 s: {last_error}"))
    }

    /// The client URLs, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Member `i`'s client URL.
    pub fn endpoint(&self, i: usize) -> &str {
        &self.members[i].client_url
    }

    /// What `etcd --version` printed first.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Member `i`'s process id, `None` while it is killed.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    /// SIGKILLs member `i` (by its pid) and reaps it; its data stays.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts killed member `i` on its data dir and waits (up to 30 s)
    /// until it answers with a leader.
    pub async fn restart(&mut self, i: usize) -> Result<(), String> {
        if self.members[i].child.is_some() {
            return Err(format!("etcd {} is running", self.members[i].name));
        }
        self.spawn(i)?;
        self.wait_for_member(i, Instant::now() + Duration::from_secs(30))
            .await
    }

    /// SIGSTOPs member `i`: its sockets stay open but nothing answers.
    pub fn pause(&self, i: usize) -> Result<(), String> {
        let pid = self.pid(i).ok_or("member is killed")?;
        signal(pid, "STOP")
    }

    /// SIGCONTs member `i`.
    pub fn resume(&self, i: usize) -> Result<(), String> {
        let pid = self.pid(i).ok_or("member is killed")?;
        signal(pid, "CONT")
    }

    /// How to connect to all members, in member order.
    pub fn options(&self) -> EtcdOptions {
        EtcdOptions::new(self.endpoints())
    }

    /// A store on all members.
    pub async fn store(&self) -> Result<EtcdStore, crate::StoreError> {
        EtcdStore::connect(self.options()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ports: Vec<u16> = (0..64).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert!(port < ephemeral_low, "{port} is in the ephemeral range");
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}

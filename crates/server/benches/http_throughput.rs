//! HTTP benchmark of a real corridord process on loopback:
//! cold start to `/readyz`, idle RSS, and `GET /v1/fabman/devices` with 32
//! keep-alive connections (throughput, p50/p99 latency), with the tracing
//! spans disabled by the log filter and enabled without a collector, side by
//! side.
//!
//! The load generator is a minimal HTTP/1.1 client over raw TCP so that, on
//! a 2-core machine, it takes as little CPU from the server as possible.
//!
//! Run with `cargo bench -p corridor-server --bench http_throughput`
//! (part of `make bench`). Set `HTTP_BENCH_SECONDS` to change the load time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

use support::Server;

const CONNECTIONS: usize = 32;
const COLD_STARTS: usize = 5;
const PATH: &str = "/v1/fabman/devices";

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    request: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr, path: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
            request: request.into_bytes(),
        })
    }

    /// Sends the request and reads one whole response; returns the status.
    async fn round_trip(&mut self) -> std::io::Result<u16> {
        self.stream.write_all(&self.request).await?;
        self.buffer.clear();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end]).unwrap_or("");
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let total = end + 4 + length;
                while self.buffer.len() < total {
                    let n = self.stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
                return Ok(status);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn wait_ready(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut connection) = Connection::open(addr, "/readyz").await
            && let Ok(200) = connection.round_trip().await
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("HTTP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    // `cargo bench` passes --bench; nothing else to parse.
    println!(
        "# corridord HTTP benchmark (loopback, {CONNECTIONS} keep-alive connections, {seconds} s)"
    );

    let mut cold = Vec::new();
    for _ in 0..COLD_STARTS {
        // Plain HTTP: this benchmark measures the API; `--bench tls` measures TLS.
        let server = Server::spawn(true);
        assert!(
            wait_ready(server.addr, Duration::from_secs(10)).await,
            "corridord did not become ready"
        );
        cold.push(server.started.elapsed());
    }
    cold.sort();
    println!(
        "cold start to /readyz: median {:.1} ms, max {:.1} ms over {COLD_STARTS} starts (fresh state dir each)",
        percentile(&cold, 0.5).as_secs_f64() * 1e3,
        cold.last().unwrap().as_secs_f64() * 1e3
    );

    let server = Server::spawn(true);
    assert!(wait_ready(server.addr, Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = server.rss_kib().unwrap_or(0);
    println!("idle RSS after start: {:.1} MiB", idle_rss as f64 / 1024.0);
    drop(server);

    // Side by side, alternating: the request, store and device spans
    // disabled by the log filter (`--log warn`, the level these figures
    // were always taken at) and enabled with no OTLP collector (`--log
    // info`, corridord's default), so the spans' own cost shows.
    let duration = Duration::from_secs(seconds);
    for round in 1..=2 {
        for (name, filter) in [
            ("spans off (--log warn)", "warn"),
            ("spans on, no collector (--log info)", "info"),
        ] {
            let server = Server::spawn_with(true, &["--log", filter]);
            assert!(wait_ready(server.addr, Duration::from_secs(10)).await);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (rps, p50, p99, count, errors) = load(server.addr, duration).await;
            println!(
                "round {round}, {name}: GET {PATH}: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {count} requests, {errors} errors"
            );
            if round == 2 && filter == "info" {
                println!(
                    "RSS after load: {:.1} MiB",
                    server.rss_kib().unwrap_or(0) as f64 / 1024.0
                );
            }
        }
    }
}

/// `duration` of load on 32 keep-alive connections after a 1 s warm-up:
/// requests per second, p50 and p99 in ms, requests, errors.
async fn load(addr: SocketAddr, duration: Duration) -> (f64, f64, f64, usize, u64) {
    let warmup = Duration::from_secs(1);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(addr, PATH).await.expect("connect");
            let start = Instant::now();
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            while start.elapsed() < warmup + duration {
                let sent = Instant::now();
                match connection.round_trip().await {
                    Ok(200) => {
                        if start.elapsed() > warmup {
                            latencies.push(sent.elapsed());
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("load task");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    (
        latencies.len() as f64 / duration.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.len(),
        errors,
    )
}

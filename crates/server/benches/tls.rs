//! TLS benchmark of a real corridord process on loopback, same run:
//!
//! 1. New mTLS connections per second (full TLS 1.3 handshake with the
//!    admin client certificate, no resumption, then one `GET /healthz`),
//!    offering X25519MLKEM768 and then X25519 alone.
//! 2. Keep-alive `GET /v1/fabman/devices` throughput over mTLS against
//!    plain HTTP (`--insecure-dev`), 32 connections each; the ratio.
//!
//! Client and server share the machine's cores, so the figures are for the
//! pair. Run with `cargo bench -p corridor-server --bench tls` (part of
//! `make bench`); `TLS_BENCH_SECONDS` sets each phase's length.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corridor_client::TlsOptions;
use corridor_pki::{PkiPaths, Principal};
use rustls::crypto::aws_lc_rs::kx_group;
use rustls::{ClientConfig, NamedGroup};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod support;

use support::Server;

const HANDSHAKE_CONCURRENCY: usize = 8;
const CONNECTIONS: usize = 32;
const PATH: &str = "/v1/fabman/devices";

/// The admin's client configuration, offering only `groups`, with session
/// resumption off so every connection is a full handshake.
fn client_config(
    state: &Path,
    groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
) -> Arc<ClientConfig> {
    let pki = PkiPaths::in_state_dir(state);
    let tls = TlsOptions {
        ca: pki.ca_cert(),
        identity: Some((
            pki.client_cert(&Principal::Admin),
            pki.client_key(&Principal::Admin),
        )),
    };
    // Same trust and identity as corridorctl, offering only `groups`.
    let mut config =
        corridor_client::rustls_config_with_groups(&tls, groups).expect("client TLS config");
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Sends one request and reads one whole response; returns the status.
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    buffer.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..end]).unwrap_or("");
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
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
    }
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
        .into_bytes()
}

async fn connect_tls(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").expect("valid name"), tcp)
        .await
}

async fn wait_ready(addr: SocketAddr, tls: Option<Arc<ClientConfig>>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buffer = Vec::new();
    while Instant::now() < deadline {
        let ok = match &tls {
            Some(config) => match connect_tls(addr, config.clone()).await {
                Ok(mut s) => matches!(
                    round_trip(&mut s, &request("/readyz"), &mut buffer).await,
                    Ok(200)
                ),
                Err(_) => false,
            },
            None => match TcpStream::connect(addr).await {
                Ok(mut s) => matches!(
                    round_trip(&mut s, &request("/readyz"), &mut buffer).await,
                    Ok(200)
                ),
                Err(_) => false,
            },
        };
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("corridord did not become ready");
}

/// Full handshakes per second with `config`, `HANDSHAKE_CONCURRENCY` at a
/// time; checks the negotiated group on every connection.
async fn handshakes(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    group: NamedGroup,
    seconds: u64,
) -> (f64, u64) {
    let duration = Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..HANDSHAKE_CONCURRENCY {
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut done = 0u64;
            let mut errors = 0u64;
            let mut buffer = Vec::new();
            let healthz = request("/healthz");
            while start.elapsed() < duration {
                match connect_tls(addr, config.clone()).await {
                    Ok(mut stream) => {
                        assert_eq!(
                            stream
                                .get_ref()
                                .1
                                .negotiated_key_exchange_group()
                                .map(|g| g.name()),
                            Some(group)
                        );
                        match round_trip(&mut stream, &healthz, &mut buffer).await {
                            Ok(200) => done += 1,
                            _ => errors += 1,
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (done, errors)
        }));
    }
    let (mut done, mut errors) = (0, 0);
    for task in tasks {
        let (d, e) = task.await.expect("handshake task");
        done += d;
        errors += e;
    }
    (done as f64 / duration.as_secs_f64(), errors)
}

/// Keep-alive requests per second over `CONNECTIONS` connections.
async fn keep_alive(addr: SocketAddr, tls: Option<Arc<ClientConfig>>, seconds: u64) -> (f64, u64) {
    let duration = Duration::from_secs(seconds);
    let warmup = Duration::from_millis(500);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut buffer = Vec::with_capacity(64 * 1024);
            let get = request(PATH);
            let mut count = 0u64;
            let mut errors = 0u64;
            macro_rules! run {
                ($stream:expr) => {{
                    let mut stream = $stream;
                    let start = Instant::now();
                    while start.elapsed() < warmup + duration {
                        match round_trip(&mut stream, &get, &mut buffer).await {
                            Ok(200) if start.elapsed() > warmup => count += 1,
                            Ok(200) => {}
                            _ => errors += 1,
                        }
                    }
                }};
            }
            match tls {
                Some(config) => run!(connect_tls(addr, config).await.expect("TLS connect")),
                None => run!(TcpStream::connect(addr).await.expect("connect")),
            }
            (count, errors)
        }));
    }
    let (mut count, mut errors) = (0, 0);
    for task in tasks {
        let (c, e) = task.await.expect("load task");
        count += c;
        errors += e;
    }
    (count as f64 / duration.as_secs_f64(), errors)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("TLS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!(
        "# corridord TLS benchmark (loopback, client and server share the cores, {seconds} s per phase)"
    );

    let tls_server = Server::spawn(false);
    // The PKI appears during start; wait for it before building configs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !PkiPaths::in_state_dir(tls_server.state.path())
        .crl()
        .exists()
    {
        assert!(Instant::now() < deadline, "no PKI");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hybrid = client_config(tls_server.state.path(), vec![kx_group::X25519MLKEM768]);
    let classical = client_config(tls_server.state.path(), vec![kx_group::X25519]);
    wait_ready(tls_server.addr, Some(hybrid.clone())).await;

    let (rate, errors) = handshakes(
        tls_server.addr,
        hybrid.clone(),
        NamedGroup::X25519MLKEM768,
        seconds,
    )
    .await;
    println!(
        "full TLS 1.3 mTLS handshakes + GET /healthz, X25519MLKEM768: {rate:.0}/s ({errors} errors, {HANDSHAKE_CONCURRENCY} concurrent)"
    );
    let (rate_x, errors) =
        handshakes(tls_server.addr, classical, NamedGroup::X25519, seconds).await;
    println!(
        "full TLS 1.3 mTLS handshakes + GET /healthz, X25519:          {rate_x:.0}/s ({errors} errors, {HANDSHAKE_CONCURRENCY} concurrent)"
    );
    println!("hybrid / classical handshake rate: {:.2}", rate / rate_x);

    let (tls_rps, tls_errors) = keep_alive(tls_server.addr, Some(hybrid), seconds).await;
    drop(tls_server);
    let plain_server = Server::spawn(true);
    wait_ready(plain_server.addr, None).await;
    let (plain_rps, plain_errors) = keep_alive(plain_server.addr, None, seconds).await;
    drop(plain_server);
    println!(
        "keep-alive GET {PATH} over mTLS:     {tls_rps:.0} req/s ({tls_errors} errors, {CONNECTIONS} connections)"
    );
    println!(
        "keep-alive GET {PATH} over plain HTTP: {plain_rps:.0} req/s ({plain_errors} errors, {CONNECTIONS} connections)"
    );
    println!(
        "mTLS / plain throughput ratio: {:.2} (target >= 0.8)",
        tls_rps / plain_rps
    );
}

//! The server test harness every `tests/*.rs` binary shares: an in-process
//! corridord on a free loopback port with its own state directory
//! ([`server`]), clients for a principal built from that directory's PKI
//! ([`clients`]), replies and RFC 9457 problem assertions ([`problem`]),
//! the real `corridord` binary as a child process stopped by pid
//! ([`process`]), the RFC's request bodies verbatim ([`rfc`]) and others
//! ([`requests`]), and an OTLP
//! receiver and promtool for the observability tests ([`observability`]),
//! what the cluster-mode tests share ([`cluster`]: who leads, a corridor's
//! port lanes, a replay of the store's corridor history) and a TCP proxy
//! they can partition ([`tcp_proxy`]),
//! and a headless Chromium with a certificate-presenting proxy for the
//! console ([`browser`], [`forward`]).
//!
//! Each test binary compiles this module on its own and uses a part of it,
//! so what one binary leaves unused is not dead code.
#![allow(dead_code)]

pub mod browser;
pub mod clients;
pub mod cluster;
pub mod forward;
pub mod observability;
pub mod problem;
pub mod process;
pub mod requests;
pub mod rfc;
pub mod server;
pub mod tcp_proxy;

/// The workspace root (crates/server is two levels below it).
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/server is two levels below the workspace")
        .to_path_buf()
}

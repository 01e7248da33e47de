//! A userspace TCP forwarder a test can cut: a free loopback port in front
//! of one upstream address, forwarding bytes both ways until it is
//! partitioned. Partitioned, it drops every open connection (both sockets
//! are closed) and blackholes new ones: they are accepted and held without
//! a byte read or written, as a peer behind a dead link looks, until the
//! proxy heals (and then closed, so the client connects afresh).
//!
//! The forwarder runs on the test's tokio runtime and stops when dropped.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running forwarder; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    partitioned: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards 127.0.0.1:(a free port) to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (partitioned, state) = watch::channel(false);
        let upstream = upstream.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(inbound, upstream.clone(), state.clone()));
            }
        });
        TcpProxy {
            addr,
            partitioned,
            task,
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts the link: open connections are closed, new ones hang.
    pub fn partition(&self) {
        self.partitioned.send_replace(true);
    }

    /// Restores the link for new connections.
    pub fn heal(&self) {
        self.partitioned.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Connection tasks end when the sender goes (their watch closes).
        self.task.abort();
    }
}

/// One accepted connection: held while partitioned, forwarded otherwise,
/// and closed the moment a partition begins.
async fn serve(mut inbound: TcpStream, upstream: String, mut state: watch::Receiver<bool>) {
    if *state.borrow() {
        // Blackholed: hold the socket, read nothing, until the link heals
        // (or the proxy goes away); then close it.
        let _ = state.wait_for(|partitioned| !*partitioned).await;
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
        // The upstream is down (a killed member): close, as it would.
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = state.wait_for(|partitioned| *partitioned) => {}
    }
    // Dropping both sockets closes them; a prompt shutdown sends the FIN
    // before the tasks are torn down.
    let _ = inbound.shutdown().await;
    let _ = outbound.shutdown().await;
}

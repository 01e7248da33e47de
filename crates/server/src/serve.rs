//! The accept loop: TCP, then TLS (unless `--insecure-dev`), then HTTP/1.1
//! or HTTP/2 through hyper-util, with the connection's identity attached to
//! every request.
//!
//! `axum::serve` cannot do this: it takes a plain listener and hides the
//! connection, and the client certificate is a property of the connection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use corridor_pki::Principal;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::http::auth::Identity;
use crate::tls::{RevokedSerials, TlsState};

/// A client that has not finished its handshake by then is dropped, so
/// half-open connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and waits for open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<TlsState>>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning; the
                    // listener itself is still fine.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            match tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(
                            TokioIo::new(tcp),
                            service(app, Identity::InsecureDev),
                        )
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%remote, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%remote, "TLS handshake timed out");
                                return;
                            }
                        };
                    let identity = identity_of(stream.get_ref().1);
                    let serial = identity.serial().map(str::to_owned);
                    let conn = builder
                        .serve_connection_with_upgrades(
                            TokioIo::new(stream),
                            service(app, identity),
                        )
                        .into_owned();
                    let Some(serial) = serial else {
                        let _ = watcher.watch(conn).await;
                        return;
                    };
                    // Dropping the connection future closes the socket; a
                    // request in flight on it is cut off, which is what a
                    // revocation asks for.
                    tokio::select! {
                        _ = watcher.watch(conn) => {}
                        () = revoked(&serial, tls.revocations()) => {
                            tracing::info!(%remote, %serial, "closed the connection of a revoked client certificate");
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves once `serial` is among the revoked serials; never if the
/// channel closes (the server is going away and drains on its own).
async fn revoked(serial: &str, mut revocations: tokio::sync::watch::Receiver<RevokedSerials>) {
    if revocations
        .wait_for(|revoked| revoked.contains(serial))
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

/// The principal of a verified client certificate. rustls has already
/// checked the chain, validity and CRL; this only reads the name.
fn identity_of(connection: &rustls::ServerConnection) -> Identity {
    let Some(leaf) = connection.peer_certificates().and_then(|c| c.first()) else {
        return Identity::Anonymous;
    };
    let serial = corridor_pki::certificate_serial(leaf).unwrap_or_default();
    match Principal::from_certificate(leaf) {
        Ok(principal) => Identity::Certificate { principal, serial },
        Err(error) => Identity::Unrecognised {
            reason: error.to_string(),
            serial,
        },
    }
}

/// Puts the connection's identity into every request, then routes it.
fn service(app: Router, identity: Identity) -> WithIdentity {
    WithIdentity { app, identity }
}

#[derive(Debug, Clone)]
struct WithIdentity {
    app: Router,
    identity: Identity,
}

impl hyper::service::Service<hyper::Request<Incoming>> for WithIdentity {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = axum::routing::future::RouteFuture<std::convert::Infallible>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.identity.clone());
        // A Router is always ready, so calling without poll_ready is fine.
        tower::Service::call(&mut self.app.clone(), request)
    }
}

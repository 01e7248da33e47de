//! The TLS listener: TLS 1.3 only, hybrid post-quantum key exchange when
//! the client offers it, client certificates checked against the CA, the
//! validity window and the CRL, and reload without dropping connections.

use std::sync::Arc;
use std::time::Duration;

use common::server::{Options, Server};
use corridor_client::TlsOptions;
use corridor_pki::{Ca, PkiPaths, Principal};
use rustls::crypto::aws_lc_rs::{self, kx_group};
use rustls::{ClientConfig, NamedGroup, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

mod common;

/// Raw TLS connections to the harness's server, with the client's groups,
/// versions and certificate chosen by the test.
trait RawTls {
    fn admin_pem(&self) -> (CertPem, KeyPem);
    fn roots(&self) -> RootCertStore;
    fn client_config(
        &self,
        groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<(CertPem, KeyPem)>,
    ) -> ClientConfig;
    async fn connect(&self, config: ClientConfig) -> std::io::Result<TlsStream<TcpStream>>;
}

impl RawTls for Server {
    fn admin_pem(&self) -> (CertPem, KeyPem) {
        let pki = self.pki();
        (
            CertPem(std::fs::read(pki.client_cert(&Principal::Admin)).unwrap()),
            KeyPem(std::fs::read(pki.client_key(&Principal::Admin)).unwrap()),
        )
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.pki().ca_cert()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        roots
    }

    /// A client config with the given groups and versions, presenting
    /// `identity` if given.
    fn client_config(
        &self,
        groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<(CertPem, KeyPem)>,
    ) -> ClientConfig {
        let mut provider = aws_lc_rs::default_provider();
        provider.kx_groups = groups;
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(self.roots());
        match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(&cert.0)
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(&key.0).unwrap(),
                )
                .unwrap(),
        }
    }

    async fn connect(&self, config: ClientConfig) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr()).await?;
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    }
}

struct CertPem(Vec<u8>);
struct KeyPem(Vec<u8>);

/// One keep-alive HTTP/1.1 GET on an open stream; the status, or the I/O
/// error (a refused client certificate shows up here in TLS 1.3, on the
/// first read after the handshake).
async fn get(stream: &mut TlsStream<TcpStream>, path: &str) -> std::io::Result<u16> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Ok(text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0));
            }
        }
    }
}

#[tokio::test]
async fn the_hybrid_group_is_negotiated_when_offered_and_x25519_otherwise() {
    let server = Server::start().await;
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

    let config = server.client_config(
        vec![kx_group::X25519MLKEM768, kx_group::X25519],
        tls13,
        Some(server.admin_pem()),
    );
    let mut stream = server.connect(config).await.unwrap();
    assert_eq!(get(&mut stream, "/v1/fabman/devices").await.unwrap(), 200);
    let connection = stream.get_ref().1;
    assert_eq!(
        connection.negotiated_key_exchange_group().map(|g| g.name()),
        Some(NamedGroup::X25519MLKEM768)
    );
    assert_eq!(
        connection.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    let config = server.client_config(vec![kx_group::X25519], tls13, Some(server.admin_pem()));
    let mut stream = server.connect(config).await.unwrap();
    assert_eq!(get(&mut stream, "/healthz").await.unwrap(), 200);
    assert_eq!(
        stream
            .get_ref()
            .1
            .negotiated_key_exchange_group()
            .map(|g| g.name()),
        Some(NamedGroup::X25519)
    );

    // The client crate (corridorctl) offers the hybrid group first too.
    let tls = TlsOptions {
        ca: server.pki().ca_cert(),
        identity: None,
    };
    let config = corridor_client::rustls_config(&tls).unwrap();
    let mut stream = server.connect(config).await.unwrap();
    assert_eq!(get(&mut stream, "/healthz").await.unwrap(), 200);
    assert_eq!(
        stream
            .get_ref()
            .1
            .negotiated_key_exchange_group()
            .map(|g| g.name()),
        Some(NamedGroup::X25519MLKEM768)
    );
    server.stop().await;
}

#[tokio::test]
async fn tls_1_2_is_refused() {
    let server = Server::start().await;
    let config = server.client_config(
        vec![kx_group::X25519],
        &[&rustls::version::TLS12],
        Some(server.admin_pem()),
    );
    let result = server.connect(config).await;
    assert!(result.is_err(), "a TLS 1.2 handshake succeeded");
    server.stop().await;
}

#[tokio::test]
async fn plain_http_is_refused() {
    let server = Server::start().await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut response)).await;
    assert!(
        !String::from_utf8_lossy(&response).contains("HTTP/1.1"),
        "plain HTTP got an HTTP answer: {response:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn expired_and_foreign_certificates_are_refused() {
    let server = Server::start().await;
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let ca = Ca::load(&server.pki()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .issue_client_valid(
            &Principal::Admin,
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        )
        .unwrap();
    let config = server.client_config(
        vec![kx_group::X25519MLKEM768],
        tls13,
        Some((
            CertPem(expired.cert_pem.into_bytes()),
            KeyPem(expired.key_pem.into_bytes()),
        )),
    );
    let refused = match server.connect(config).await {
        Err(_) => true,
        Ok(mut stream) => get(&mut stream, "/healthz").await.is_err(),
    };
    assert!(refused, "an expired certificate was accepted");

    // A certificate from another CA (another installation's admin).
    let other = tempfile::tempdir().unwrap();
    corridor_pki::ensure(other.path(), &[]).unwrap();
    let other_pki = PkiPaths::in_state_dir(other.path());
    let config = server.client_config(
        vec![kx_group::X25519MLKEM768],
        tls13,
        Some((
            CertPem(std::fs::read(other_pki.client_cert(&Principal::Admin)).unwrap()),
            KeyPem(std::fs::read(other_pki.client_key(&Principal::Admin)).unwrap()),
        )),
    );
    let refused = match server.connect(config).await {
        Err(_) => true,
        Ok(mut stream) => get(&mut stream, "/healthz").await.is_err(),
    };
    assert!(refused, "a foreign CA's certificate was accepted");
    server.stop().await;
}

#[tokio::test]
async fn revocation_applies_on_reload_and_closes_the_revoked_clients_connections() {
    let server = Server::start().await;
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let ca = Ca::load(&server.pki()).unwrap();
    let issued = ca.issue_client(&Principal::Operator).unwrap();
    let identity = || {
        Some((
            CertPem(issued.cert_pem.clone().into_bytes()),
            KeyPem(issued.key_pem.clone().into_bytes()),
        ))
    };
    let config = server.client_config(vec![kx_group::X25519MLKEM768], tls13, identity());
    let mut open = server.connect(config.clone()).await.unwrap();
    assert_eq!(get(&mut open, "/v1/fabman/devices").await.unwrap(), 200);
    let admin = server.client_config(
        vec![kx_group::X25519MLKEM768],
        tls13,
        Some(server.admin_pem()),
    );
    let mut bystander = server.connect(admin).await.unwrap();
    assert_eq!(get(&mut bystander, "/healthz").await.unwrap(), 200);

    ca.revoke(&issued.serial).unwrap();
    // Until the reload, the old CRL is in force.
    let mut before = server.connect(config.clone()).await.unwrap();
    assert_eq!(get(&mut before, "/healthz").await.unwrap(), 200);

    server.tls().unwrap().reload().unwrap();
    let refused = match server.connect(config).await {
        Err(_) => true,
        Ok(mut stream) => get(&mut stream, "/healthz").await.is_err(),
    };
    assert!(refused, "a revoked certificate was accepted after reload");
    // The revoked client's open connection is closed; another client's
    // connection made before the reload is still served.
    let mut closed = false;
    for _ in 0..100 {
        if get(&mut open, "/healthz").await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        closed,
        "the revoked client's open connection was still served"
    );
    assert_eq!(get(&mut bystander, "/healthz").await.unwrap(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_failed_reload_keeps_the_previous_configuration() {
    let server = Server::start().await;
    let good = std::fs::read(server.pki().server_cert()).unwrap();
    std::fs::write(server.pki().server_cert(), b"not a certificate").unwrap();
    assert!(server.tls().unwrap().reload().is_err());
    let config = server.client_config(
        vec![kx_group::X25519MLKEM768],
        &[&rustls::version::TLS13],
        Some(server.admin_pem()),
    );
    let mut stream = server.connect(config).await.unwrap();
    assert_eq!(get(&mut stream, "/healthz").await.unwrap(), 200);
    std::fs::write(server.pki().server_cert(), good).unwrap();
    server.tls().unwrap().reload().unwrap();
    server.stop().await;
}

#[tokio::test]
async fn insecure_dev_serves_plain_http() {
    let server = Options::default().insecure_dev().start().await;
    assert!(server.tls().is_none());
    let base = server.base();
    assert!(base.starts_with("http://"), "{base}");
    let client = corridor_client::Client::new(base).unwrap();
    assert_eq!(client.devices().await.unwrap().len(), 4);
    assert!(!server.pki().ca_key().exists());
    server.stop().await;
}

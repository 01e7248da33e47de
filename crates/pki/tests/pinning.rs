//! The pinned verifier over real TLS 1.3 handshakes: the pinned key is
//! accepted, a valid certificate from the same CA with another key is not.

use std::sync::Arc;

use corridor_pki::pinning::{PinnedServerVerifier, SpkiPin};
use corridor_pki::{Ca, PkiPaths, ensure};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS server on 127.0.0.1 presenting `cert_pem`; answers one byte.
async fn device(cert_pem: &str, key_pem: &str) -> (u16, tokio::task::JoinHandle<()>) {
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let _ = tls.write_all(b"!").await;
                let _ = tls.shutdown().await;
            }
        }
    });
    (port, task)
}

async fn connect(port: u16, roots: &RootCertStore, pins: Vec<SpkiPin>) -> std::io::Result<u8> {
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots.clone()), provider())
        .build()
        .unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(PinnedServerVerifier::new(webpki, pins))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte).await?;
    Ok(byte[0])
}

#[tokio::test]
async fn only_the_pinned_key_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    ensure(dir.path(), &[]).unwrap();
    let ca = Ca::load(&PkiPaths::in_state_dir(dir.path())).unwrap();
    let enrolled = ca.issue_server(&["localhost".into()]).unwrap();
    let impostor = ca.issue_server(&["localhost".into()]).unwrap();
    let mut roots = RootCertStore::empty();
    let ca_pem = std::fs::read(PkiPaths::in_state_dir(dir.path()).ca_cert()).unwrap();
    roots
        .add(CertificateDer::from_pem_slice(&ca_pem).unwrap())
        .unwrap();
    let pin = SpkiPin::of_certificate(
        CertificateDer::from_pem_slice(enrolled.cert_pem.as_bytes())
            .unwrap()
            .as_ref(),
    )
    .unwrap();

    let (good_port, good) = device(&enrolled.cert_pem, &enrolled.key_pem).await;
    assert_eq!(connect(good_port, &roots, vec![pin]).await.unwrap(), b'!');

    // Same CA, same name, valid chain — but not the enrolled key.
    let (bad_port, bad) = device(&impostor.cert_pem, &impostor.key_pem).await;
    let refused = connect(bad_port, &roots, vec![pin]).await.unwrap_err();
    assert!(
        refused.to_string().contains("not pinned"),
        "unexpected error: {refused}"
    );

    // A pinned key behind an untrusted chain is refused too: pinning adds
    // to the WebPKI checks, it does not replace them.
    let other = tempfile::tempdir().unwrap();
    ensure(other.path(), &[]).unwrap();
    let other_ca_pem = std::fs::read(PkiPaths::in_state_dir(other.path()).ca_cert()).unwrap();
    let mut other_roots = RootCertStore::empty();
    other_roots
        .add(CertificateDer::from_pem_slice(&other_ca_pem).unwrap())
        .unwrap();
    assert!(connect(good_port, &other_roots, vec![pin]).await.is_err());

    good.abort();
    bad.abort();
}

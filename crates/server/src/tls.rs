//! TLS for corridord: rustls with the aws-lc-rs provider, TLS 1.3 only,
//! hybrid post-quantum key exchange first, client certificates verified
//! against the CA and the CRL.
//!
//! The `ServerConfig` lives behind a lock and is swapped whole on reload
//! (SIGHUP): each new handshake takes the current one, connections already
//! established keep the config they were made with, so nothing is dropped —
//! except connections authenticated by a certificate the new CRL revokes:
//! the set of revoked serials is published on a watch channel and the
//! accept loop closes those connections (see `serve`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use corridor_pki::PkiPaths;
use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, kx_group};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// Where the server's TLS material comes from: the generated local PKI, or
/// files the operator brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA bundle client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRL (PEM) of revoked client certificates; optional for a brought CA.
    pub crl: Option<PathBuf>,
}

impl TlsFiles {
    pub fn local_pki(state_dir: &Path) -> TlsFiles {
        let paths = PkiPaths::in_state_dir(state_dir);
        TlsFiles {
            cert: paths.server_cert(),
            key: paths.server_key(),
            client_ca: paths.ca_cert(),
            crl: Some(paths.crl()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("{path} holds no {what}")]
    Empty { what: &'static str, path: PathBuf },
    #[error("the client CA bundle {path} is unusable")]
    Roots {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot build the client certificate verifier")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("the server certificate and key do not form a usable TLS configuration")]
    Config(#[source] rustls::Error),
    #[error("the CRL in {path} cannot be parsed")]
    Crl {
        path: PathBuf,
        #[source]
        source: corridor_pki::PrincipalError,
    },
}

/// Serials (as `corridor_pki::serial_hex`) of revoked client certificates.
pub type RevokedSerials = Arc<HashSet<String>>;

/// The crypto provider every TLS endpoint of CorridorOS uses: aws-lc-rs,
/// with X25519MLKEM768 first, X25519 next and P-256 last for clients that
/// have neither (curl on older OpenSSL).
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    provider.kx_groups = vec![
        kx_group::X25519MLKEM768,
        kx_group::X25519,
        kx_group::SECP256R1,
    ];
    Arc::new(provider)
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Builds a fresh server configuration from the files as they are now.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    Ok(load_files(files)?.0)
}

/// The server configuration and the serials its CRLs revoke.
fn load_files(files: &TlsFiles) -> Result<(Arc<ServerConfig>, RevokedSerials), TlsError> {
    let provider = provider();
    let chain = read_certs("certificates", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|source| TlsError::Read {
        what: "a private key",
        path: files.key.clone(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for ca in read_certs("CA certificates", &files.client_ca)? {
        roots.add(ca).map_err(|source| TlsError::Roots {
            path: files.client_ca.clone(),
            source,
        })?;
    }
    let mut crls = Vec::new();
    if let Some(path) = files.crl.as_ref().filter(|p| p.exists()) {
        crls = CertificateRevocationListDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsError::Read {
                what: "CRLs",
                path: path.clone(),
                source,
            })?;
    }
    let mut revoked = HashSet::new();
    for crl in &crls {
        let path = files.crl.clone().unwrap_or_default();
        revoked.extend(
            corridor_pki::crl_revoked_serials(crl.as_ref())
                .map_err(|source| TlsError::Crl { path, source })?,
        );
    }
    // Clients without a certificate may finish the handshake: they reach
    // only /healthz and /readyz (probes rarely hold certificates) and get a
    // 401 problem elsewhere, which says more than a handshake alert. A
    // certificate that is presented must verify: expired, revoked or
    // foreign ones fail the handshake.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .allow_unauthenticated()
        .build()
        .map_err(TlsError::Verifier)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), Arc::new(revoked)))
}

/// The current server configuration, swappable at run time.
#[derive(Debug)]
pub struct TlsState {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    revoked: tokio::sync::watch::Sender<RevokedSerials>,
}

impl TlsState {
    pub fn load(files: TlsFiles) -> Result<TlsState, TlsError> {
        let (config, revoked) = load_files(&files)?;
        Ok(TlsState {
            files,
            current: RwLock::new(config),
            revoked: tokio::sync::watch::Sender::new(revoked),
        })
    }

    /// The revoked serials, updated on every successful reload. Open
    /// connections watch it so a revocation also ends sessions that were
    /// authenticated before it.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<RevokedSerials> {
        self.revoked.subscribe()
    }

    /// The configuration new handshakes use.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Re-reads certificate, key, CA and CRL. On error the old
    /// configuration stays in force, so a half-copied certificate never
    /// takes the server down.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (config, revoked) = load_files(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.revoked.send_replace(revoked);
        Ok(())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

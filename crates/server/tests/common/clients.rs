//! Clients as corridorctl builds them: the CA and a principal's certificate
//! from a state directory's PKI.

use std::path::Path;

use corridor_client::TlsOptions;
use corridor_pki::{PkiPaths, Principal};

/// The TLS options of `principal` (`None`: no client certificate) for the
/// PKI in `state_dir`.
pub fn tls_options(state_dir: &Path, principal: Option<&Principal>) -> TlsOptions {
    let pki = PkiPaths::in_state_dir(state_dir);
    TlsOptions {
        ca: pki.ca_cert(),
        identity: principal.map(|p| (pki.client_cert(p), pki.client_key(p))),
    }
}

/// A raw HTTP client speaking TLS with `tls`, for requests the typed client
/// does not make (bad input, other methods, headers).
pub fn http_client(tls: &TlsOptions) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(corridor_client::rustls_config(tls).unwrap())
        .build()
        .unwrap()
}

/// The typed client of `principal` for the server at `base`.
pub fn typed_client(
    base: &str,
    state_dir: &Path,
    principal: &Principal,
) -> corridor_client::Client {
    corridor_client::Client::with_tls(base, &tls_options(state_dir, Some(principal))).unwrap()
}

/// A tenant's principal.
pub fn domain(name: &str) -> Principal {
    Principal::domain(name).unwrap()
}

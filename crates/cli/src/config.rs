//! Where corridorctl finds the server and its TLS material.

use std::path::{Path, PathBuf};

use corridor_client::TlsOptions;
use corridor_pki::{PkiPaths, Principal};

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
}

/// `~/.config/corridoros/corridorctl.toml` (or under `$XDG_CONFIG_HOME`).
fn config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("corridoros").join("corridorctl.toml"))
}

/// The flag or environment value (clap merges those), else the config
/// file, else the default.
pub fn server_address(flag_or_env: Option<&str>) -> anyhow::Result<String> {
    if let Some(server) = flag_or_env {
        return Ok(server.to_string());
    }
    if let Some(path) = config_path().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let file: FileConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid {}: {e}", path.display()))?;
        if let Some(server) = file.server {
            return Ok(server);
        }
    }
    Ok(corridor_client::DEFAULT_SERVER.to_string())
}

/// Explicit TLS settings from flags or the environment.
#[derive(Debug, Default)]
pub struct TlsFlags<'a> {
    pub state_dir: Option<&'a Path>,
    pub ca: Option<&'a Path>,
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
}

/// The state directory: the flag or CORRIDOR_STATE_DIR, else the same
/// default corridord uses.
pub fn state_dir(flag_or_env: Option<&Path>) -> anyhow::Result<PathBuf> {
    match flag_or_env {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(corridor_pki::default_state_dir()?),
    }
}

/// TLS options for an `https://` server: each file from its flag, else
/// from the local PKI in the state directory (CA and admin certificate),
/// so a corridorctl on the server's machine needs no flags at all.
pub fn tls_options(flags: &TlsFlags<'_>) -> anyhow::Result<TlsOptions> {
    let pki = PkiPaths::in_state_dir(&state_dir(flags.state_dir)?);
    let ca = flags
        .ca
        .map(Path::to_path_buf)
        .unwrap_or_else(|| pki.ca_cert());
    if !ca.exists() {
        anyhow::bail!(
            "no CA certificate at {}: start corridord once (it creates its PKI there), \
             or pass --ca / CORRIDOR_CA, or --state-dir / CORRIDOR_STATE_DIR",
            ca.display()
        );
    }
    let identity = match (flags.cert, flags.key) {
        (Some(cert), Some(key)) => Some((cert.to_path_buf(), key.to_path_buf())),
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("--cert and --key go together")
        }
        (None, None) => {
            let cert = pki.client_cert(&Principal::Admin);
            let key = pki.client_key(&Principal::Admin);
            // Without a readable admin key (another user's state dir), go
            // on without a client certificate: /healthz still answers.
            (cert.exists() && std::fs::File::open(&key).is_ok()).then_some((cert, key))
        }
    };
    Ok(TlsOptions { ca, identity })
}

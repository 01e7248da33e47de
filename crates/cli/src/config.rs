//! Where corridorctl finds the server.

use std::path::PathBuf;

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

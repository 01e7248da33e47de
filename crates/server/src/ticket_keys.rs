//! attestd's ticket-signing keys on disk: created on first start in
//! `<state dir>/attestd/` (directory 0700, keys 0600, PKCS#8 DER), loaded
//! afterwards, so tickets keep verifying across restarts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use corridor_attest::ticket::{KeyError, TicketSigner};

const ML_DSA_FILE: &str = "ticket-ml-dsa-65.pk8";
const ECDSA_FILE: &str = "ticket-es384.pk8";

#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the ticket keys in {dir}")]
    Keys {
        dir: PathBuf,
        #[source]
        source: KeyError,
    },
}

/// The signer whose keys live in `<state_dir>/attestd/`, created there if
/// neither file exists. One file without the other is an error, never a
/// silent new key pair: tickets already issued would stop verifying.
pub fn load_or_create(state_dir: &Path) -> Result<TicketSigner, TicketKeyError> {
    let dir = state_dir.join("attestd");
    let mldsa = dir.join(ML_DSA_FILE);
    let ecdsa = dir.join(ECDSA_FILE);
    let keys = |source| TicketKeyError::Keys {
        dir: dir.clone(),
        source,
    };
    if mldsa.exists() || ecdsa.exists() {
        return TicketSigner::from_pkcs8_files(&mldsa, &ecdsa).map_err(keys);
    }
    let signer = TicketSigner::generate().map_err(keys)?;
    let (mldsa_der, ecdsa_der) = signer.to_pkcs8().map_err(keys)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| TicketKeyError::Write {
            path: dir.clone(),
            source,
        })?;
    for (path, der) in [(&mldsa, &mldsa_der), (&ecdsa, &ecdsa_der)] {
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| {
                f.write_all(der)?;
                f.sync_all()
            });
        written.map_err(|source| TicketKeyError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_are_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join("attestd").join(ML_DSA_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.mldsa_public_key(), again.mldsa_public_key());
        assert_eq!(first.ecdsa_public_key(), again.ecdsa_public_key());
        // Half a key pair is refused, not replaced.
        fs::remove_file(dir.path().join("attestd").join(ECDSA_FILE)).unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }
}

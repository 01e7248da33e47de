//! The key vault of persistent bundles: one fscrypt master key per security domain, kept
//! only sealed by the TPM, unlocking `<memory_dir>/<domain>/`.
//!
//! First use of a domain: 64 random bytes from the OS (made in place in a
//! [`MasterKey`]), sealed by the TPM to the configured
//! PCR policy; the sealed blob (and nothing else) is written to `<key_dir>/<domain>.sealed`
//! (mode 0600, written to a temporary file and renamed, so a crash leaves the old blob or
//! the new one); the key is added to the filesystem of the memory directory and the empty
//! directory `<memory_dir>/<domain>/` gets a v2 policy naming it. Every later start (or
//! first use after a restart) unseals the blob and adds the key again. The raw key lives in
//! this process only between unsealing and the add ioctl, and is zeroed after.
//!
//! Mechanisms (the ioctls, sealing) are the HAL's; what is decided here is the layout, one
//! key per domain, and when keys are made.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use corridor_hal::fscrypt::{self, FscryptError, KeyIdentifier, MasterKey, Policy};
use corridor_hal::tpm::{PcrSelection, SealedSecret, Tpm, TpmError};

/// Why a domain's encrypted directory could not be unlocked.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("security domain {0:?} cannot name a directory")]
    DomainName(String),
    #[error("security domain {domain:?}: the TPM refused to seal or unseal its key")]
    Tpm {
        domain: String,
        #[source]
        source: TpmError,
    },
    #[error("security domain {domain:?}: fscrypt")]
    Fscrypt {
        domain: String,
        #[source]
        source: FscryptError,
    },
    #[error(
        "security domain {domain:?}: {dir} is encrypted with key {found}, not the sealed key \
         {sealed} (the sealed blob was replaced or lost; the directory's data cannot be read)"
    )]
    KeyMismatch {
        domain: String,
        dir: PathBuf,
        found: String,
        sealed: KeyIdentifier,
    },
    #[error("sealed key file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Per-domain fscrypt keys sealed by a TPM. See the module documentation.
#[derive(Debug)]
pub struct KeyVault {
    tpm: Arc<dyn Tpm>,
    pcrs: Vec<PcrSelection>,
    memory_dir: PathBuf,
    key_dir: PathBuf,
    /// Domains whose key this process added, and its identifier. The lock is held across a
    /// whole unlock, so a domain's key is made once.
    unlocked: Mutex<HashMap<String, KeyIdentifier>>,
}

impl KeyVault {
    /// A vault for the encrypted directories under `memory_dir`, keeping sealed keys in
    /// `key_dir`, sealing with `tpm` to `pcrs`.
    pub fn new(
        tpm: Arc<dyn Tpm>,
        pcrs: Vec<PcrSelection>,
        memory_dir: PathBuf,
        key_dir: PathBuf,
    ) -> Self {
        Self {
            tpm,
            pcrs,
            memory_dir,
            key_dir,
            unlocked: Mutex::new(HashMap::new()),
        }
    }

    /// The TPM keys are sealed by.
    pub fn tpm(&self) -> &Arc<dyn Tpm> {
        &self.tpm
    }

    /// The PCRs keys are sealed to.
    pub fn pcrs(&self) -> &[PcrSelection] {
        &self.pcrs
    }

    /// The encrypted directory of `domain` (whether or not it exists yet).
    pub fn domain_dir(&self, domain: &str) -> PathBuf {
        self.memory_dir.join(domain)
    }

    /// Where `domain`'s sealed key is stored.
    pub fn sealed_path(&self, domain: &str) -> PathBuf {
        self.key_dir.join(format!("{domain}.sealed"))
    }

    /// The identifier of `domain`'s key, if this process unlocked it.
    pub fn identifier(&self, domain: &str) -> Option<KeyIdentifier> {
        self.lock_map().get(domain).copied()
    }

    fn lock_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyIdentifier>> {
        self.unlocked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `domain`'s directory usable: its key made and sealed on first use, or unsealed
    /// and added again after a restart; the directory created and its policy set. Returns
    /// the directory.
    ///
    /// Calls the TPM (blocking, milliseconds on swtpm) on the first use of a domain in this
    /// process only.
    pub fn unlock(&self, domain: &str) -> Result<PathBuf, VaultError> {
        if domain.is_empty()
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(VaultError::DomainName(domain.to_owned()));
        }
        let mut unlocked = self.lock_map();
        let dir = self.domain_dir(domain);
        if unlocked.contains_key(domain) {
            return Ok(dir);
        }
        let fs = |source| VaultError::Fscrypt {
            domain: domain.to_owned(),
            source,
        };
        let key = self.key_of(domain)?;
        let id = fscrypt::add_key(&self.memory_dir, &key).map_err(fs)?;
        drop(key);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(VaultError::File { path: dir, source });
            }
        }
        match fscrypt::policy(&dir).map_err(fs)? {
            None => fscrypt::set_policy(&dir, id).map_err(fs)?,
            Some(Policy::V2 { key, .. }) if key == id => {}
            Some(other) => {
                return Err(VaultError::KeyMismatch {
                    domain: domain.to_owned(),
                    dir,
                    found: match other {
                        Policy::V2 { key, .. } => key.to_string(),
                        Policy::V1 => "v1".into(),
                    },
                    sealed: id,
                });
            }
        }
        unlocked.insert(domain.to_owned(), id);
        Ok(dir)
    }

    /// The domain's key: unsealed from its blob, or made and sealed when it has none.
    fn key_of(&self, domain: &str) -> Result<MasterKey, VaultError> {
        let tpm_err = |source| VaultError::Tpm {
            domain: domain.to_owned(),
            source,
        };
        let path = self.sealed_path(domain);
        let file_err = |source| VaultError::File {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let sealed = SealedSecret::from_bytes(&bytes).map_err(tpm_err)?;
                let secret = self.tpm.unseal(&sealed, &self.pcrs).map_err(tpm_err)?;
                MasterKey::new(secret.expose()).map_err(|source| VaultError::Fscrypt {
                    domain: domain.to_owned(),
                    source,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate().map_err(|source| VaultError::Fscrypt {
                    domain: domain.to_owned(),
                    source,
                })?;
                let sealed = self.tpm.seal(key.expose(), &self.pcrs).map_err(tpm_err)?;
                write_private(&self.key_dir, &path, &sealed.to_bytes()).map_err(file_err)?;
                Ok(key)
            }
            Err(source) => Err(file_err(source)),
        }
    }
}

/// Writes `bytes` to `path` with mode 0600 (its directory 0700), through a temporary file
/// renamed into place and synced, so a crash leaves either the old content or the new.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = path.with_extension("sealed.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

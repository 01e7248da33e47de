//! Encryption at rest of persistent bundles: the operator's choice ([`Protection`]), what it
//! resolves to on this machine at start (`AtRest`), and what a bundle's conditions say
//! about it.
//!
//! * [`Protection::Fscrypt`]: each security domain's bundle files live in
//!   `<memory_dir>/<domain>/`, an fscrypt v2 directory whose key the TPM seals
//!   ([`KeyVault`]). If the memory directory's filesystem cannot encrypt, persistent bundles
//!   are refused (422 on `/persistence`, saying why) rather than silently kept in plaintext.
//! * [`Protection::PlaintextOptOut`]: the operator's explicit choice to keep files in
//!   plaintext in `<memory_dir>/`; every persistent bundle's `EncryptedAtRest` condition
//!   says so.
//! * [`Protection::Unavailable`]: no protection can be offered (no TPM): persistent bundles
//!   are refused with the reason given.
//!
//! Volatile bundles (`persistence: none`, sealed memfds) never reach a file; see
//! ARCHITECTURE.md on swap for what protects them.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use corridor_hal::fscrypt::{self, FscryptError};
use corridor_hal::tpm::{HashAlg, PcrSelection, Tpm};
use corridor_model::ffm::Persistence;
use corridor_model::meta::{Condition, ConditionStatus};

use super::FfmService;
use super::config::FfmConfig;
use super::error::FfmError;
use super::memory::BundleMemory;
use super::vault::KeyVault;
use crate::error::error_chain;

/// The PCRs domain keys are sealed to by default (SHA-256 bank): 0 (firmware code), 2
/// (option ROMs), 4 (boot loader and kernel), 7 (secure-boot policy) — the boot a key
/// must not survive a change of. An update of firmware or kernel changes them too, and the
/// keys must then be resealed (not done yet: see ARCHITECTURE.md).
pub const DEFAULT_SEAL_PCRS: [u8; 4] = [0, 2, 4, 7];

/// How persistent bundles are protected at rest: the operator's choice.
#[derive(Debug, Clone)]
pub enum Protection {
    /// fscrypt per security domain, keys sealed by `tpm` to `pcrs`.
    Fscrypt {
        tpm: Arc<dyn Tpm>,
        pcrs: Vec<PcrSelection>,
    },
    /// The operator's explicit opt-out: persistent bundles in plaintext files.
    PlaintextOptOut,
    /// No protection is possible here (`reason` says why): persistent bundles are refused.
    Unavailable { reason: String },
}

impl Protection {
    /// fscrypt with keys sealed by `tpm` to [`DEFAULT_SEAL_PCRS`].
    pub fn fscrypt(tpm: Arc<dyn Tpm>) -> Self {
        Protection::Fscrypt {
            tpm,
            pcrs: vec![PcrSelection::new(HashAlg::Sha256, &DEFAULT_SEAL_PCRS)],
        }
    }
}

/// What [`Protection`] resolved to at start.
#[derive(Debug)]
pub(super) enum AtRest {
    Encrypted(Arc<KeyVault>),
    Plaintext,
    Refused(String),
}

impl AtRest {
    /// Resolves the configured protection: fscrypt needs the memory directory's filesystem
    /// to support encryption, which is checked here, once.
    pub(super) fn resolve(config: &FfmConfig) -> Self {
        match &config.protection {
            Protection::PlaintextOptOut => AtRest::Plaintext,
            Protection::Unavailable { reason } => AtRest::Refused(reason.clone()),
            Protection::Fscrypt { tpm, pcrs } => {
                let dir = &config.memory_dir;
                let checked = std::fs::create_dir_all(dir)
                    .map_err(|source| FscryptError::Sys {
                        op: "mkdir",
                        path: dir.clone(),
                        source,
                    })
                    .and_then(|()| fscrypt::check_support(dir));
                match checked {
                    Ok(()) => AtRest::Encrypted(Arc::new(KeyVault::new(
                        Arc::clone(tpm),
                        pcrs.clone(),
                        dir.clone(),
                        config.key_dir.clone(),
                    ))),
                    Err(e) => AtRest::Refused(format!(
                        "persistent bundles are kept encrypted (fscrypt) and {}; \
                         put the memory directory on a filesystem with encryption \
                         (ext4 with `-O encrypt`, f2fs) or have the operator opt out of \
                         encryption at rest explicitly",
                        error_chain(&e)
                    )),
                }
            }
        }
    }
}

impl FfmService {
    /// Unlocks `domain`'s key before a persistent bundle's memory is made, on a blocking
    /// thread: the first use of a domain in this process calls the TPM (seal or unseal),
    /// which blocks for milliseconds (swtpm) to hundreds of milliseconds (a discrete TPM).
    /// Nothing to do for volatile bundles, unencrypted storage, or a domain already open.
    pub(super) async fn prepare_at_rest(
        &self,
        persistence: Persistence,
        domain: &str,
    ) -> Result<(), FfmError> {
        let AtRest::Encrypted(vault) = &self.at_rest else {
            return Ok(());
        };
        if persistence == Persistence::None || vault.identifier(domain).is_some() {
            return Ok(());
        }
        let vault = Arc::clone(vault);
        let domain = domain.to_owned();
        tokio::task::spawn_blocking(move || vault.unlock(&domain))
            .await
            .map_err(|e| FfmError::Task("unlock a domain's key", e))??;
        Ok(())
    }

    /// The refusal a persistent bundle gets when persistent bundles cannot be protected
    /// (decided at start); touches no key, so a dry run can ask.
    pub(super) fn refuse_unprotected(&self, persistence: Persistence) -> Result<(), FfmError> {
        match &self.at_rest {
            AtRest::Refused(reason) if persistence != Persistence::None => Err(FfmError::field(
                "/persistence",
                "encryption_at_rest",
                reason.clone(),
            )),
            _ => Ok(()),
        }
    }

    /// The directory a persistent bundle of `domain` lives in, unlocking the domain's key
    /// when encrypted; the 422 refusal when persistent bundles cannot be protected.
    pub(super) fn persistent_dir(&self, domain: &str) -> Result<PathBuf, FfmError> {
        match &self.at_rest {
            AtRest::Encrypted(vault) => Ok(vault.unlock(domain)?),
            AtRest::Plaintext => Ok(self.config.memory_dir.clone()),
            AtRest::Refused(_) => self
                .refuse_unprotected(Persistence::File)
                .map(|()| self.config.memory_dir.clone()),
        }
    }

    /// Removes a persistent bundle's file wherever its domain keeps it (a missing one is no
    /// error).
    pub(super) fn remove_persistent(&self, id: &str, domain: &str) {
        let dir = match &self.at_rest {
            AtRest::Encrypted(vault) => vault.domain_dir(domain),
            AtRest::Plaintext | AtRest::Refused(_) => self.config.memory_dir.clone(),
        };
        if let Err(e) = BundleMemory::remove_file(id, &dir) {
            tracing::warn!(bundle = id, error = %e, "cannot remove a persistent bundle's file");
        }
    }

    /// `EncryptedAtRest` of a persistent bundle (none for volatile ones).
    pub(super) fn at_rest_condition(
        &self,
        persistence: Persistence,
        domain: &str,
        file: Option<&std::path::Path>,
        now: DateTime<Utc>,
    ) -> Option<Condition> {
        if persistence == Persistence::None {
            return None;
        }
        let file = file.map(|p| p.display().to_string()).unwrap_or_default();
        Some(match &self.at_rest {
            AtRest::Encrypted(vault) => {
                let key = vault
                    .identifier(domain)
                    .map(|k| k.to_string())
                    .unwrap_or_default();
                let mut message = format!(
                    "{file} is encrypted by fscrypt (v2 policy: AES-256-XTS contents, \
                     AES-256-CTS names) with security domain {domain:?}'s key {key}, stored \
                     only sealed by the TPM ({}) to PCRs {:?}",
                    vault.tpm().transport(),
                    vault.pcrs()
                );
                if vault.tpm().is_software() {
                    message.push_str(
                        "; the TPM is software (swtpm): no firmware measured this machine's \
                         boot into its PCRs, so the seal binds the key to that swtpm's state, \
                         not to a measured boot",
                    );
                }
                Condition::new(
                    "EncryptedAtRest",
                    ConditionStatus::True,
                    "Fscrypt",
                    message,
                    now,
                )
            }
            AtRest::Plaintext | AtRest::Refused(_) => Condition::new(
                "EncryptedAtRest",
                ConditionStatus::False,
                "PlaintextOptOut",
                format!(
                    "the operator opted out of encryption at rest: this bundle's data is \
                     plaintext in {file}"
                ),
                now,
            ),
        })
    }
}

//! Errors of the fscrypt seam.

use std::path::PathBuf;

/// Why an fscrypt operation failed, with the path it was asked of.
#[derive(Debug, thiserror::Error)]
pub enum FscryptError {
    /// The filesystem holding `path` cannot encrypt: it lacks fscrypt (tmpfs, overlayfs, …),
    /// the feature is off (ext4 without `-O encrypt`, `tune2fs -O encrypt`), or the kernel
    /// was built without `CONFIG_FS_ENCRYPTION`.
    #[error("the filesystem of {path} does not support encryption ({why})")]
    Unsupported {
        /// The directory asked about.
        path: PathBuf,
        /// What the kernel answered.
        why: &'static str,
    },
    /// Setting a policy on a directory that is not empty (the kernel refuses: existing
    /// files would stay plaintext).
    #[error("{path} is not empty; an encryption policy can only be set on an empty directory")]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The directory is encrypted already, with another policy or key.
    #[error("{path} is encrypted already with a different policy (key {found})")]
    OtherPolicy {
        /// The directory.
        path: PathBuf,
        /// The key identifier it has (hex), or `"v1"` for a v1 policy.
        found: String,
    },
    /// A raw key of the wrong size.
    #[error("an fscrypt master key of {0} bytes (16 to 64)")]
    KeySize(usize),
    /// The operating system's random generator failed.
    #[error("the OS random generator failed to make a key")]
    Random,
    /// The ioctl (or the open before it) failed.
    #[error("{op} on {path}")]
    Sys {
        /// The operation (`FS_IOC_ADD_ENCRYPTION_KEY`, `open`, …).
        op: &'static str,
        /// The path it was asked of.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
}

/// Result of the fscrypt seam.
pub type Result<T> = std::result::Result<T, FscryptError>;

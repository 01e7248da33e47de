//! The fscrypt ioctls on the running kernel: add and remove a v2 master key, set and read a
//! directory's v2 policy, and tell whether a directory's filesystem can encrypt at all.
//!
//! Each call opens the path read-only (directories included) and issues one ioctl on it;
//! keys are added to and removed from the filesystem the path is on (they belong to the
//! superblock, not to the directory).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::abi::{
    AddKeyArg, FS_IOC_ADD_ENCRYPTION_KEY, FS_IOC_GET_ENCRYPTION_POLICY_EX,
    FS_IOC_REMOVE_ENCRYPTION_KEY, FS_IOC_SET_ENCRYPTION_POLICY, GetPolicyExArg,
    KEY_IDENTIFIER_SIZE, KEY_SPEC_TYPE_IDENTIFIER, KeySpecifier, MAX_KEY_SIZE, MODE_AES_256_CTS,
    MODE_AES_256_XTS, POLICY_FLAGS_PAD_32, POLICY_V2, PolicyV2, REMOVAL_FILES_BUSY,
    REMOVAL_OTHER_USERS, RemoveKeyArg,
};
use super::error::{FscryptError, Result};
use super::key::{KeyIdentifier, MasterKey};

/// A directory's encryption policy, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// A v1 policy (keys named by descriptor, no key verification): never set here.
    V1,
    /// A v2 policy.
    V2 {
        /// The key that encrypts the directory.
        key: KeyIdentifier,
        /// `FSCRYPT_MODE_*` of file contents.
        contents_mode: u8,
        /// `FSCRYPT_MODE_*` of file names.
        filenames_mode: u8,
        /// `FSCRYPT_POLICY_FLAG*`.
        flags: u8,
    },
}

/// What removing a key left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyRemoval {
    /// Some files were open: their key stays usable until they close
    /// (`FSCRYPT_KEY_REMOVAL_STATUS_FLAG_FILES_BUSY`); the removal is incomplete.
    pub files_busy: bool,
    /// Only this user's claim went; other users still hold the key.
    pub other_users: bool,
}

fn open(path: &Path, op: &'static str) -> Result<File> {
    File::open(path).map_err(|source| FscryptError::Sys {
        op,
        path: path.to_owned(),
        source,
    })
}

/// Issues `request` on `file` with `arg` as its argument.
///
/// # Safety
/// `T` must be the structure the kernel expects for `request` (its size at least the size
/// the request number encodes, plus any flexible tail the kernel reads from its fields).
unsafe fn ioctl<T>(file: &File, request: u32, arg: &mut T) -> io::Result<()> {
    // SAFETY: `file` is an open descriptor; `arg` is a live, exclusively borrowed `T`, and the
    // caller guarantees `T` is the structure `request` reads and writes, so the kernel stays
    // within it.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, std::ptr::from_mut(arg)) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn unsupported(path: &Path, e: &io::Error) -> Option<FscryptError> {
    let why = match e.raw_os_error()? {
        libc::EOPNOTSUPP => "the encryption feature is off or the kernel lacks fscrypt",
        libc::ENOTTY => "the filesystem has no encryption ioctls",
        _ => return None,
    };
    Some(FscryptError::Unsupported {
        path: path.to_owned(),
        why,
    })
}

/// The policy of `dir`, `None` when it is not encrypted.
///
/// # Errors
/// [`FscryptError::Unsupported`] when the filesystem cannot encrypt; [`FscryptError::Sys`]
/// for any other failure.
pub fn policy(dir: &Path) -> Result<Option<Policy>> {
    let file = open(dir, "open")?;
    let mut arg = GetPolicyExArg {
        policy_size: std::mem::size_of::<PolicyV2>() as u64,
        ..GetPolicyExArg::default()
    };
    // SAFETY: `GetPolicyExArg` is `struct fscrypt_get_policy_ex_arg` with its union at its
    // largest (v2) size, and `policy_size` tells the kernel not to write more than that.
    match unsafe { ioctl(&file, FS_IOC_GET_ENCRYPTION_POLICY_EX, &mut arg) } {
        Ok(()) => Ok(Some(match arg.policy.version {
            POLICY_V2 => Policy::V2 {
                key: KeyIdentifier(arg.policy.master_key_identifier),
                contents_mode: arg.policy.contents_encryption_mode,
                filenames_mode: arg.policy.filenames_encryption_mode,
                flags: arg.policy.flags,
            },
            _ => Policy::V1,
        })),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
        Err(e) => Err(unsupported(dir, &e).unwrap_or(FscryptError::Sys {
            op: "FS_IOC_GET_ENCRYPTION_POLICY_EX",
            path: dir.to_owned(),
            source: e,
        })),
    }
}

/// Whether the filesystem of `dir` can encrypt (a policy can be read, or the kernel says
/// the directory is simply unencrypted).
///
/// # Errors
/// [`FscryptError::Unsupported`] when it cannot, with the kernel's reason.
pub fn check_support(dir: &Path) -> Result<()> {
    policy(dir).map(|_| ())
}

/// Adds `key` to the filesystem holding `path` (`FS_IOC_ADD_ENCRYPTION_KEY`, v2) and returns
/// the identifier the kernel derived for it. Adding a key that is present already is not an
/// error (the kernel counts this user's claim once).
///
/// # Errors
/// [`FscryptError::Unsupported`] when the filesystem cannot encrypt; [`FscryptError::Sys`]
/// otherwise (`EACCES`/`EPERM` without the right to add keys, `EDQUOT` over the key quota).
pub fn add_key(path: &Path, key: &MasterKey) -> Result<KeyIdentifier> {
    let raw = key.expose();
    let file = open(path, "open")?;
    let mut arg = AddKeyArg {
        key_spec: KeySpecifier {
            kind: KEY_SPEC_TYPE_IDENTIFIER,
            ..KeySpecifier::default()
        },
        raw_size: raw.len() as u32,
        key_id: 0,
        reserved: [0; 8],
        raw: [0; MAX_KEY_SIZE],
    };
    arg.raw[..raw.len()].copy_from_slice(raw);
    // SAFETY: `AddKeyArg` is `struct fscrypt_add_key_arg` followed by `MAX_KEY_SIZE` bytes of
    // its flexible `raw[]`; the kernel reads `raw_size` (at most `MAX_KEY_SIZE`) of them.
    let result = unsafe { ioctl(&file, FS_IOC_ADD_ENCRYPTION_KEY, &mut arg) };
    let mut id = [0u8; KEY_IDENTIFIER_SIZE];
    id.copy_from_slice(&arg.key_spec.u[..KEY_IDENTIFIER_SIZE]);
    for b in &mut arg.raw {
        // SAFETY: `b` is a valid, aligned `&mut u8` inside `arg`; volatile so the copy of the
        // key on this stack frame is really cleared.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    result.map_err(|e| {
        unsupported(path, &e).unwrap_or(FscryptError::Sys {
            op: "FS_IOC_ADD_ENCRYPTION_KEY",
            path: path.to_owned(),
            source: e,
        })
    })?;
    Ok(KeyIdentifier(id))
}

/// Sets a v2 policy on the empty directory `dir`: contents AES-256-XTS, names AES-256-CTS
/// padded to 32 bytes (the kernel's recommended modes), under the key `key` (which must be
/// added already). Setting the same policy again is a no-op.
///
/// # Errors
/// [`FscryptError::NotEmpty`], [`FscryptError::OtherPolicy`] (the directory has another
/// policy), [`FscryptError::Unsupported`], [`FscryptError::Sys`] (`ENOKEY`: the key is not
/// added).
pub fn set_policy(dir: &Path, key: KeyIdentifier) -> Result<()> {
    let file = open(dir, "open")?;
    let mut arg = PolicyV2 {
        version: POLICY_V2,
        contents_encryption_mode: MODE_AES_256_XTS,
        filenames_encryption_mode: MODE_AES_256_CTS,
        flags: POLICY_FLAGS_PAD_32,
        reserved: [0; 4],
        master_key_identifier: key.0,
    };
    // SAFETY: `PolicyV2` is `struct fscrypt_policy_v2`; the kernel reads its version byte and
    // then the whole v2 structure.
    unsafe { ioctl(&file, FS_IOC_SET_ENCRYPTION_POLICY, &mut arg) }.map_err(|e| {
        match e.raw_os_error() {
            Some(libc::ENOTEMPTY) => FscryptError::NotEmpty {
                path: dir.to_owned(),
            },
            Some(libc::EEXIST) => FscryptError::OtherPolicy {
                path: dir.to_owned(),
                found: match policy(dir) {
                    Ok(Some(Policy::V2 { key, .. })) => key.to_string(),
                    Ok(Some(Policy::V1)) => "v1".into(),
                    _ => "unknown".into(),
                },
            },
            _ => unsupported(dir, &e).unwrap_or(FscryptError::Sys {
                op: "FS_IOC_SET_ENCRYPTION_POLICY",
                path: dir.to_owned(),
                source: e,
            }),
        }
    })
}

/// Removes this user's claim on `key` from the filesystem holding `path`
/// (`FS_IOC_REMOVE_ENCRYPTION_KEY`): the kernel wipes its copy of the key and evicts the
/// plaintext page cache and names of the files it unlocked, except files still open.
///
/// # Errors
/// [`FscryptError::Sys`] (`ENOKEY`: the key is not there).
pub fn remove_key(path: &Path, key: KeyIdentifier) -> Result<KeyRemoval> {
    let file = open(path, "open")?;
    let mut arg = RemoveKeyArg {
        key_spec: KeySpecifier {
            kind: KEY_SPEC_TYPE_IDENTIFIER,
            ..KeySpecifier::default()
        },
        ..RemoveKeyArg::default()
    };
    arg.key_spec.u[..KEY_IDENTIFIER_SIZE].copy_from_slice(&key.0);
    // SAFETY: `RemoveKeyArg` is `struct fscrypt_remove_key_arg`, read and written in place.
    unsafe { ioctl(&file, FS_IOC_REMOVE_ENCRYPTION_KEY, &mut arg) }.map_err(|e| {
        unsupported(path, &e).unwrap_or(FscryptError::Sys {
            op: "FS_IOC_REMOVE_ENCRYPTION_KEY",
            path: path.to_owned(),
            source: e,
        })
    })?;
    Ok(KeyRemoval {
        files_busy: arg.removal_status_flags & REMOVAL_FILES_BUSY != 0,
        other_users: arg.removal_status_flags & REMOVAL_OTHER_USERS != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filesystem_without_encryption_is_a_typed_error() {
        // /proc never supports fscrypt, whatever the machine.
        match check_support(Path::new("/proc")) {
            Err(FscryptError::Unsupported { path, .. }) => assert_eq!(path, Path::new("/proc")),
            other => panic!("expected Unsupported, got {other:?}"),
        }
        match policy(Path::new("/nonexistent-dir-of-corridor-tests")) {
            Err(FscryptError::Sys { op: "open", .. }) => {}
            other => panic!("expected an open error, got {other:?}"),
        }
    }
}

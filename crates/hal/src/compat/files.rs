//! The file-system side of a launch: opening the guest program inside
//! the allowed roots, and a private working directory for it.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The program, opened: its fd is what the translator reads, so a path
/// swapped after the checks cannot change what runs.
#[derive(Debug)]
pub struct OpenedProgram {
    pub fd: OwnedFd,
    /// The path with every symlink resolved.
    pub canonical: PathBuf,
    /// The first bytes (up to 64), for the ELF header.
    pub head: Vec<u8>,
}

/// Why a program cannot be opened for a launch.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{path} does not exist or cannot be resolved")]
    Resolve {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} resolves to {canonical}, outside the allowed roots ({roots})")]
    OutsideRoots {
        path: String,
        canonical: String,
        roots: String,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} cannot be read")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Opens `path` if, with symlinks resolved, it is a regular file under
/// one of `roots` (themselves resolved) and not under `forbidden`.
pub fn open_program(
    path: &Path,
    roots: &[PathBuf],
    forbidden: Option<&Path>,
) -> Result<OpenedProgram, ProgramError> {
    let shown = path.display().to_string();
    let canonical = std::fs::canonicalize(path).map_err(|source| ProgramError::Resolve {
        path: shown.clone(),
        source,
    })?;
    let inside =
        |root: &Path| std::fs::canonicalize(root).is_ok_and(|root| canonical.starts_with(root));
    let forbidden_hit = forbidden.is_some_and(inside);
    if forbidden_hit || !roots.iter().any(|r| inside(r)) {
        return Err(ProgramError::OutsideRoots {
            path: shown,
            canonical: canonical.display().to_string(),
            roots: if roots.is_empty() {
                "none configured".to_owned()
            } else {
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }
    let mut file = std::fs::File::open(&canonical).map_err(|source| ProgramError::Read {
        path: shown.clone(),
        source,
    })?;
    let metadata = file.metadata().map_err(|source| ProgramError::Read {
        path: shown.clone(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(ProgramError::NotAFile { path: shown });
    }
    let mut head = Vec::with_capacity(64);
    (&mut file)
        .take(64)
        .read_to_end(&mut head)
        .map_err(|source| ProgramError::Read {
            path: shown,
            source,
        })?;
    Ok(OpenedProgram {
        fd: OwnedFd::from(file),
        canonical,
        head,
    })
}

/// Creates `dir` (and its parent) `0700`, owned by `owner` when given (the
/// launched program's uid and gid).
pub fn prepare_working_dir(dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(parent)?;
        // Others may pass through to their own directory, not list it.
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711))?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Removes a working directory and what the program left in it.
pub fn remove_working_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(dir)
}

/// Whether this process runs as root (it can then switch launched
/// programs to their own uid).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// This process's uid and gid.
pub fn own_ids() -> (u32, u32) {
    // SAFETY: getuid/getgid have no preconditions.
    unsafe { (libc::getuid(), libc::getgid()) }
}

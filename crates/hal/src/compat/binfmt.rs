//! binfmt_misc on this host: reading the table the kernel shows, and
//! running a program through a registration made inside a user namespace
//! of its own, so the host's table is never touched.
//!
//! Since Linux 6.7 a `binfmt_misc` mount inside a user namespace is a
//! private instance: a registration written to it is seen only by
//! processes of that namespace and goes away with it. The namespace is made
//! by util-linux's `unshare(1)` (`--user --map-root-user --mount`), which
//! mounts the instance over `/proc/sys/fs/binfmt_misc`, registers, and
//! execs the program directly — the kernel then picks the interpreter from
//! the registration, exactly as it would system-wide.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use corridor_compat::binfmt::{BinfmtError, Entry, Registration, parse_status};

/// Where the kernel shows the host's binfmt_misc table.
pub const HOST_BINFMT_ROOT: &str = "/proc/sys/fs/binfmt_misc";

/// The binfmt_misc table as read from a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinfmtTable {
    /// Whether binfmt_misc is mounted there at all (`status` exists).
    pub mounted: bool,
    /// Whether the table is enabled (`status` reads `enabled`).
    pub enabled: bool,
    /// Each registered entry by name, or why its file did not parse.
    pub entries: Vec<(String, Result<Entry, BinfmtError>)>,
}

/// Why the table could not be read, or a namespaced run could not start.
#[derive(Debug, thiserror::Error)]
pub enum BinfmtHostError {
    #[error("cannot read the binfmt_misc table at {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the registration cannot be written: {0}")]
    Registration(#[from] BinfmtError),
    #[error("cannot start unshare(1) for a private binfmt_misc namespace")]
    Spawn(#[source] std::io::Error),
    #[error("waiting for the namespaced program failed")]
    Wait(#[source] std::io::Error),
    #[error("the kernel refused the write to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Registers `registration` in the binfmt_misc table mounted at `root`
/// (the kernel parses the string written to `register`; it refuses a name
/// already taken with `EEXIST`).
///
/// # Errors
/// [`BinfmtHostError::Registration`] when it cannot be written as a
/// string, [`BinfmtHostError::Write`] when the kernel refuses it.
pub fn register(root: &Path, registration: &Registration) -> Result<(), BinfmtHostError> {
    let line = registration.render()?;
    let path = root.join("register");
    // One write(2): the kernel reads the whole registration from it.
    std::fs::write(&path, line).map_err(|source| BinfmtHostError::Write { path, source })
}

/// Removes the entry `name` from the table mounted at `root` (writing `-1`
/// to its file, as the kernel documents).
///
/// # Errors
/// [`BinfmtHostError::Write`] when there is no such entry or the kernel
/// refuses.
pub fn unregister(root: &Path, name: &str) -> Result<(), BinfmtHostError> {
    let path = root.join(name);
    std::fs::write(&path, "-1").map_err(|source| BinfmtHostError::Write { path, source })
}

/// Reads the binfmt_misc table mounted at `root` (the host's is
/// [`HOST_BINFMT_ROOT`]; tests pass a fixture directory).
///
/// # Errors
/// [`BinfmtHostError::Read`] when the directory exists but cannot be listed
/// or an entry cannot be read. An absent `status` means not mounted.
pub fn read_table(root: &Path) -> Result<BinfmtTable, BinfmtHostError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|source| BinfmtHostError::Read { path, source })
    };
    let status_path = root.join("status");
    if !status_path.exists() {
        return Ok(BinfmtTable {
            mounted: false,
            enabled: false,
            entries: Vec::new(),
        });
    }
    let enabled = parse_status(&read(status_path)?).unwrap_or(false);
    let listing = std::fs::read_dir(root).map_err(|source| BinfmtHostError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let mut names = Vec::new();
    for item in listing {
        let item = item.map_err(|source| BinfmtHostError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name != "status" && name != "register" {
            names.push(name);
        }
    }
    names.sort();
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        let text = read(root.join(&name))?;
        entries.push((name, Entry::parse(&text)));
    }
    Ok(BinfmtTable {
        mounted: true,
        enabled,
        entries,
    })
}

/// What a program run through a namespaced registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacedRun {
    /// Exit code, or `None` when a signal ended it (or it was killed at
    /// the deadline).
    pub exit_code: Option<i32>,
    /// Whether it was killed for running past the deadline.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

/// What `unshare` runs as root of the new user namespace: mount a private
/// binfmt_misc instance over the host's path, then the rest of the script.
const MOUNT_PRIVATE_INSTANCE: &str = "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc";

/// `unshare` arguments that run `sh -c <script>` as root of a new user and
/// mount namespace, killed with `unshare` itself; `script` sees `$1…`.
fn unshare_argv(script: &str) -> Vec<OsString> {
    let script = format!("{MOUNT_PRIVATE_INSTANCE} && {script}");
    [
        "--user",
        "--map-root-user",
        "--mount",
        "--fork",
        "--kill-child",
        "sh",
        "-c",
        &script,
        "sh",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// The command — `unshare` and its arguments — that runs `program` with
/// `args` directly (no interpreter named on the command line) in a user and
/// mount namespace of its own whose private binfmt_misc holds only
/// `registration`. The kernel then picks the interpreter from the
/// registration, as it would system-wide; the host's table is untouched.
///
/// # Errors
/// [`BinfmtHostError::Registration`] when the registration cannot be
/// written as a string.
pub fn private_namespace_command(
    registration: &Registration,
    program: &Path,
    args: &[String],
) -> Result<(String, Vec<OsString>), BinfmtHostError> {
    let register = registration.render()?;
    let mut argv = unshare_argv(
        "printf '%s' \"$1\" > /proc/sys/fs/binfmt_misc/register && shift && exec \"$@\"",
    );
    argv.push(register.into());
    argv.push(program.as_os_str().to_owned());
    argv.extend(args.iter().map(OsString::from));
    Ok(("unshare".to_owned(), argv))
}

/// The command that runs `program` with `args` as root of a user and mount
/// namespace whose `/proc/sys/fs/binfmt_misc` is an empty private instance:
/// there, "the host's table" is that instance, so system-wide registration
/// can be exercised without touching the host's.
pub fn private_instance_command(program: &Path, args: &[&str]) -> (String, Vec<OsString>) {
    let mut argv = unshare_argv("exec \"$@\"");
    argv.push(program.as_os_str().to_owned());
    argv.extend(args.iter().map(OsString::from));
    ("unshare".to_owned(), argv)
}

/// This kernel's release, and whether it gives a user namespace a
/// binfmt_misc instance of its own (Linux 6.7 and later).
pub fn private_instances() -> (String, bool) {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let supported = kernel_at_least(&release, 6, 7);
    (release, supported)
}

/// Whether a `uname -r` release is `major.minor` or later.
fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Runs `program` with `args` directly (no interpreter named on the command
/// line) in a user and mount namespace of its own whose private
/// binfmt_misc holds only `registration`, killing it at `timeout`.
///
/// # Errors
/// [`BinfmtHostError`] when the registration is malformed or unshare(1)
/// cannot be started. A kernel that refuses the private mount (before 6.7)
/// shows as a non-zero exit with the mount error in `stderr`.
pub fn run_in_private_namespace(
    registration: &Registration,
    program: &Path,
    args: &[String],
    timeout: Duration,
) -> Result<NamespacedRun, BinfmtHostError> {
    let (unshare, argv) = private_namespace_command(registration, program, args)?;
    let mut child = Command::new(unshare)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BinfmtHostError::Spawn)?;
    // Drain both pipes on their own threads so a chatty program cannot
    // block on a full pipe while we wait for it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(BinfmtHostError::Wait)? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // unshare --kill-child takes the namespace's process down with it.
            let _ = child.kill();
            break child.wait().map_err(BinfmtHostError::Wait)?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(NamespacedRun {
        exit_code: status.code(),
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("6.18.44-fc-v1252", 6, 7));
        assert!(kernel_at_least("6.7.0", 6, 7));
        assert!(kernel_at_least("7.0", 6, 7));
        assert!(!kernel_at_least("6.1.0-28-amd64", 6, 7));
        assert!(!kernel_at_least("5.19.17", 6, 7));
        assert!(!kernel_at_least("garbage", 6, 7));
    }

    #[test]
    fn a_fixture_table_reads_entries_and_bad_ones_say_why() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!read_table(dir.path()).unwrap().mounted);
        std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
        std::fs::write(dir.path().join("register"), "").unwrap();
        std::fs::write(
            dir.path().join("qemu-riscv64"),
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken"), "enabled\nnonsense\n").unwrap();
        let table = read_table(dir.path()).unwrap();
        assert!(table.mounted && table.enabled);
        let names: Vec<&str> = table.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["broken", "qemu-riscv64"]);
        assert!(table.entries[0].1.is_err());
        let entry = table.entries[1].1.as_ref().unwrap();
        assert_eq!(
            entry.interpreter,
            "/usr/libexec/qemu-binfmt/riscv64-binfmt-P"
        );
        assert!(entry.enabled);
    }
}

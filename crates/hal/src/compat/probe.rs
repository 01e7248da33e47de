//! Which translator binaries this host has, and their versions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One QEMU user-mode binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslatorBinary {
    /// QEMU's target name (`riscv64`, `aarch64`, `x86_64`, …).
    pub target: String,
    pub path: PathBuf,
    /// `qemu-<target>-static`: refuses TCG plugins.
    pub static_build: bool,
    /// First line of `--version`, when it ran.
    pub version: Option<String>,
}

/// Finds translators.
pub trait TranslatorProbe: Send + Sync + std::fmt::Debug {
    /// Every QEMU user-mode binary for `targets`, dynamic build first;
    /// with `versions`, each is run once with `--version` (a process
    /// start each: not for a launch's path).
    fn qemu(&self, targets: &[&str], versions: bool) -> Vec<TranslatorBinary>;
    /// The path of an executable named `name` on the search path.
    fn which(&self, name: &str) -> Option<PathBuf>;
}

/// Looks in a list of directories (`/usr/bin`, `/usr/local/bin` by
/// default) and runs `--version`.
#[derive(Debug, Clone)]
pub struct HostProbe {
    dirs: Vec<PathBuf>,
}

impl Default for HostProbe {
    fn default() -> Self {
        HostProbe::new(vec!["/usr/local/bin".into(), "/usr/bin".into()])
    }
}

impl HostProbe {
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        HostProbe { dirs }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line `binary --version` prints, if it runs and exits 0 within
/// the call (QEMU prints and exits at once).
pub fn version_line(binary: &Path) -> Option<String> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
}

impl TranslatorProbe for HostProbe {
    fn qemu(&self, targets: &[&str], versions: bool) -> Vec<TranslatorBinary> {
        let mut found = Vec::new();
        for target in targets {
            for static_build in [false, true] {
                let name = if static_build {
                    format!("qemu-{target}-static")
                } else {
                    format!("qemu-{target}")
                };
                if let Some(path) = self.which(&name) {
                    let version = if versions { version_line(&path) } else { None };
                    found.push(TranslatorBinary {
                        target: (*target).to_owned(),
                        path,
                        static_build,
                        version,
                    });
                }
            }
        }
        found
    }

    fn which(&self, name: &str) -> Option<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| is_executable(path))
    }
}

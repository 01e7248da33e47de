//! What an operator configures about launches.

use std::path::PathBuf;
use std::time::Duration;

use corridor_hal::compat::Limits;

/// compatd's settings (`[compat]` in corridord's file).
#[derive(Debug, Clone)]
pub struct CompatConfig {
    /// Directories whose programs may be launched (after resolving
    /// symlinks). Empty: no program may be launched.
    pub allowed_roots: Vec<PathBuf>,
    /// corridord's state directory: never a launch root or working dir.
    pub state_dir: Option<PathBuf>,
    /// Where each process gets its working directory (`<work_root>/<id>`).
    pub work_root: PathBuf,
    /// uid and gid launched programs run as when corridord is root.
    pub run_as: (u32, u32),
    pub limits: Limits,
    /// Wall-clock limit when a launch gives none.
    pub default_timeout: Duration,
    /// Bytes of output kept per process.
    pub output_limit: usize,
    /// Ended processes kept for `GET` (the oldest go first).
    pub keep_finished: usize,
    /// Whether programs under a dynamic QEMU build run with compatd's TCG
    /// plugin counting the guest instructions and translated blocks.
    pub count_instructions: bool,
    /// Whether `PUT /v1/compat/binfmt/{name}` may register a profile in the
    /// host's own binfmt_misc table (off by default: it changes how every
    /// process on the host runs those programs; it also needs root).
    pub binfmt_system_wide: bool,
}

impl CompatConfig {
    /// Where compatd's TCG plugin is installed: beside the working
    /// directories, readable by the launched programs' uid, never in the
    /// state directory.
    pub fn plugin_dir(&self) -> PathBuf {
        self.work_root.join(".plugins")
    }
}

impl Default for CompatConfig {
    fn default() -> Self {
        CompatConfig {
            allowed_roots: Vec::new(),
            state_dir: None,
            work_root: std::env::temp_dir().join("corridor-compat"),
            // nobody/nogroup: unprivileged and owning nothing.
            run_as: (65534, 65534),
            limits: Limits::default(),
            default_timeout: Duration::from_secs(60),
            output_limit: 64 * 1024,
            keep_finished: 256,
            count_instructions: true,
            binfmt_system_wide: false,
        }
    }
}

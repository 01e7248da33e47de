//! compatd's host seam: finding translators (QEMU user mode) and their
//! versions, launching a program under one as a confined child (its own
//! uid, rlimits, process group, working directory) and observing what it
//! costs. Every syscall compatd needs is here; the service decides what
//! to run and records it.

pub mod binfmt;
pub mod cross;
pub mod files;
pub mod launch;
pub mod probe;
pub mod tcg;

pub use files::{
    OpenedProgram, ProgramError, open_program, own_ids, prepare_working_dir, remove_working_dir,
    running_as_root,
};
pub use launch::{
    ExitInfo, LaunchError, LaunchSpec, Launched, Limits, ProcessLauncher, SpawnLauncher,
    UsageSample,
};
pub use probe::{HostProbe, TranslatorBinary, TranslatorProbe};

//! Cross-compiling the project's C test programs (`crates/compat/programs`)
//! for the guests the tests and the benchmark run: static, `-O2`, with
//! Debian's cross compilers. Outputs are cached beside the build (the
//! caller picks the directory) and rebuilt when the source is newer.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a program could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CrossError {
    #[error("{compiler} is not installed (scripts/install-compat.sh installs it)")]
    Missing { compiler: String },
    #[error("{compiler} failed on {source_file}: {stderr}")]
    Failed {
        compiler: String,
        source_file: String,
        stderr: String,
    },
    #[error("preparing {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where tests and benchmarks keep the shipped programs they build:
/// `target/<profile>/compat-programs`, beside the running test binary
/// (`target/<profile>/deps/<test>`), so a build directory caches them.
pub fn program_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| Path::new("."))
        .join("compat-programs")
}

/// The shipped program `crates/compat/programs/<name>.c` built for
/// `target` into [`program_dir`] (for tests and benchmarks, which run from
/// the source tree).
///
/// # Errors
/// As [`compile_c`].
pub fn shipped_program(name: &str, target: &str) -> Result<PathBuf, CrossError> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../compat/programs")
        .join(format!("{name}.c"));
    compile_c(&source, target, &program_dir())
}

/// The compiler for `target` (`native`, or a Debian triplet's CPU:
/// `riscv64`, `aarch64`).
pub fn compiler(target: &str) -> String {
    match target {
        "native" => "cc".to_owned(),
        cpu => format!("{cpu}-linux-gnu-gcc"),
    }
}

/// `<out_dir>/<stem>.<target>`, compiled from `source` unless it is
/// already there and newer than `source`.
pub fn compile_c(source: &Path, target: &str, out_dir: &Path) -> Result<PathBuf, CrossError> {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "program".to_owned());
    let output = out_dir.join(format!("{stem}.{target}"));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(out), Some(src)) = (modified(&output), modified(source))
        && out >= src
    {
        return Ok(output);
    }
    std::fs::create_dir_all(out_dir).map_err(|source| CrossError::Io {
        path: out_dir.display().to_string(),
        source,
    })?;
    let compiler = compiler(target);
    // Build under a name of this call's own and rename, so a concurrent
    // build (another test thread of this process, or another process)
    // neither runs a half-written program nor renames this one's file away.
    static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = out_dir.join(format!(
        "{stem}.{target}.{}-{build}.partial",
        std::process::id()
    ));
    let result = Command::new(&compiler)
        .args(["-O2", "-static", "-o"])
        .arg(&partial)
        .arg(source)
        .output()
        .map_err(|_| CrossError::Missing {
            compiler: compiler.clone(),
        })?;
    if !result.status.success() {
        return Err(CrossError::Failed {
            compiler,
            source_file: source.display().to_string(),
            stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
        });
    }
    std::fs::rename(&partial, &output).map_err(|source| CrossError::Io {
        path: output.display().to_string(),
        source,
    })?;
    Ok(output)
}

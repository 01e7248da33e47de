//! compatd's TCG plugin: the shared object built from
//! `plugins/tcg_counter.c` by this crate's build script, written out where
//! a launched program's QEMU can load it, and the counts it leaves behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use corridor_compat::tcg_counts::TcgCounts;

/// The plugin, as built for this host.
pub const PLUGIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/corridor-tcg-counter.so"));

/// The plugin's file name inside the directory it is installed in.
pub const PLUGIN_FILE: &str = "corridor-tcg-counter.so";

/// The file the plugin writes its counts to, in the program's working
/// directory.
pub const COUNTS_FILE: &str = ".corridor-tcg-counts";

/// Writes the plugin to `dir/corridor-tcg-counter.so` (the directory
/// `0755`, the file `0644`: a launched program's own uid must read it),
/// replacing any older copy atomically, and answers its path.
///
/// # Errors
/// The directory cannot be made or the file written.
pub fn install_plugin(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let path = dir.join(PLUGIN_FILE);
    // Unique per call: several services (or processes) may install into
    // one directory at once, and each renames only its own copy.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = dir.join(format!(".{PLUGIN_FILE}.{}.{call}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&staging)?;
    file.write_all(PLUGIN)?;
    file.sync_all()?;
    drop(file);
    // A QEMU starting now maps either the old file or the new one, never
    // a half-written one.
    std::fs::rename(&staging, &path)?;
    Ok(path)
}

/// The plugin's argument naming where it writes its counts.
pub fn counts_argument(working_dir: &Path) -> String {
    format!("out={}", working_dir.join(COUNTS_FILE).display())
}

/// The counts the plugin left in `working_dir`, if it wrote a well-formed
/// report (none when QEMU was killed before its exit hook ran).
pub fn read_counts(working_dir: &Path) -> Option<TcgCounts> {
    let text = std::fs::read_to_string(working_dir.join(COUNTS_FILE)).ok()?;
    TcgCounts::parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_plugin_is_a_shared_object_exporting_the_plugin_entry_points() {
        assert_eq!(&PLUGIN[..4], b"\x7fELF");
        // ET_DYN: a shared object QEMU can dlopen.
        assert_eq!(u16::from_le_bytes([PLUGIN[16], PLUGIN[17]]), 3);
        for symbol in [&b"qemu_plugin_install"[..], b"qemu_plugin_version"] {
            assert!(
                PLUGIN.windows(symbol.len()).any(|w| w == symbol),
                "{} missing",
                String::from_utf8_lossy(symbol)
            );
        }
    }

    #[test]
    fn installing_twice_leaves_one_readable_copy() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        let first = install_plugin(&plugins).unwrap();
        let second = install_plugin(&plugins).unwrap();
        assert_eq!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), PLUGIN);
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(std::fs::read_dir(&plugins).unwrap().count(), 1);
    }

    #[test]
    fn concurrent_installs_into_one_directory_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::thread::scope(|scope| {
            let installs: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| install_plugin(&plugins)))
                .collect();
            for install in installs {
                install.join().unwrap().unwrap();
            }
        });
        assert_eq!(std::fs::read_dir(&plugins).unwrap().count(), 1);
    }

    #[test]
    fn counts_are_read_back_only_when_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_counts(dir.path()), None);
        std::fs::write(dir.path().join(COUNTS_FILE), "instructions 5\nblocks 2\n").unwrap();
        assert_eq!(
            read_counts(dir.path()),
            Some(TcgCounts {
                instructions: 5,
                blocks: 2
            })
        );
        std::fs::write(dir.path().join(COUNTS_FILE), "instructions 5\n").unwrap();
        assert_eq!(read_counts(dir.path()), None);
    }
}

//! System-wide binfmt_misc registration through compatd, tested where it
//! cannot touch the host: the test runs itself again as root of a user
//! namespace whose mount namespace has a binfmt_misc instance of its own
//! (Linux 6.7 and later) mounted over `/proc/sys/fs/binfmt_misc`, so the
//! "host's table" compatd writes there is that private instance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use corridor_hal::compat::binfmt::{HOST_BINFMT_ROOT, private_instance_command, read_table};
use corridor_hal::compat::cross::shipped_program;
use corridor_model::problem::Problem;
use corridor_services::compat::{CompatConfig, CompatError, CompatService};
use corridor_services::error::ToProblem;
use corridor_store::{RedbOptions, RedbStore, StateStore};

/// Set in the re-run inside the namespace.
const INSIDE: &str = "CORRIDOR_TEST_PRIVATE_BINFMT";
const TEST: &str = "a_profile_is_registered_and_removed_in_the_tables_compatd_is_given";

fn hello_riscv64() -> PathBuf {
    shipped_program("hello", "riscv64").unwrap()
}

fn problem(e: CompatError) -> Problem {
    e.to_problem()
}

#[test]
fn a_profile_is_registered_and_removed_in_the_tables_compatd_is_given() {
    let hello = hello_riscv64();
    if std::env::var_os(INSIDE).is_none() {
        let host_before = read_table(Path::new(HOST_BINFMT_ROOT)).unwrap();
        let (unshare, argv) = private_instance_command(
            &std::env::current_exe().unwrap(),
            &[TEST, "--exact", "--nocapture", "--test-threads=1"],
        );
        let output = Command::new(unshare)
            .args(argv)
            .env(INSIDE, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{text}");
        // The run inside really ran the test (not zero tests).
        assert!(text.contains("1 passed"), "{text}");
        assert_eq!(
            read_table(Path::new(HOST_BINFMT_ROOT)).unwrap(),
            host_before
        );
        return;
    }

    // Inside: a fresh private instance, compatd as root of the namespace.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let state = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(
            RedbStore::open(state.path().join("state.redb"), RedbOptions::default()).unwrap(),
        );
        let service = CompatService::start(store).await.unwrap();
        let refused = service.register_system_wide("riscv64-linux").await;
        assert_eq!(
            problem(refused.unwrap_err()).reason.as_deref(),
            Some("SystemWideOff")
        );
        service.configure(CompatConfig {
            binfmt_system_wide: true,
            ..CompatConfig::default()
        });

        // Before: the kernel cannot run a riscv64 ELF by itself.
        let direct = Command::new(&hello).output();
        assert!(direct.is_err(), "{direct:?}");

        let registered = service.register_system_wide("riscv64-linux").await.unwrap();
        assert_eq!(registered.host_entries, ["corridor-riscv64-linux"]);
        let table = read_table(Path::new(HOST_BINFMT_ROOT)).unwrap();
        assert_eq!(table.entries.len(), 1);
        let ran = Command::new(&hello).arg("exit:5").output().unwrap();
        assert_eq!(ran.status.code(), Some(5), "{ran:?}");
        assert!(String::from_utf8_lossy(&ran.stdout).starts_with("hello from"));

        let again = service.register_system_wide("riscv64-linux").await;
        assert_eq!(
            problem(again.unwrap_err()).reason.as_deref(),
            Some("AlreadyRegistered")
        );
        let unknown = service.register_system_wide("no-such-profile").await;
        assert_eq!(problem(unknown.unwrap_err()).status, 404);

        let removed = service
            .unregister_system_wide("riscv64-linux")
            .await
            .unwrap();
        assert!(removed.host_entries.is_empty());
        assert!(Command::new(&hello).output().is_err());
        let gone = service.unregister_system_wide("riscv64-linux").await;
        assert_eq!(problem(gone.unwrap_err()).status, 404);
    });
}

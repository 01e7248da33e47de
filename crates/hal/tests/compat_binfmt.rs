//! A binfmt_misc registration made inside a user namespace of its own runs
//! a riscv64 program directly (the kernel picks QEMU from the
//! registration), without touching the host's table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use corridor_compat::registration_for;
use corridor_hal::compat::binfmt::{HOST_BINFMT_ROOT, read_table, run_in_private_namespace};
use corridor_hal::compat::cross::shipped_program;
use corridor_model::compat::GuestArch;

fn hello_riscv64() -> PathBuf {
    shipped_program("hello", "riscv64").unwrap()
}

fn qemu_riscv64() -> String {
    let path = Path::new("/usr/bin/qemu-riscv64");
    assert!(
        path.exists(),
        "qemu-riscv64 missing: scripts/install-compat.sh installs qemu-user"
    );
    path.display().to_string()
}

#[test]
fn a_namespaced_registration_runs_a_riscv64_program_directly() {
    let hello = hello_riscv64();
    let before = read_table(Path::new(HOST_BINFMT_ROOT)).unwrap();
    // `F`: the kernel opens the interpreter when the entry is registered,
    // so the namespace needs nothing else of the host's files.
    let registration =
        registration_for("riscv64-test", GuestArch::Riscv64, &qemu_riscv64(), "F").unwrap();
    let run = run_in_private_namespace(
        &registration,
        &hello,
        &["from-binfmt".to_string()],
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    assert!(run.stdout.contains("hello"), "{run:?}");
    assert!(!run.timed_out);

    // Without the registration the same exec fails: the kernel cannot run
    // a riscv64 ELF on this host by itself.
    let mut other = registration.clone();
    other.matcher = corridor_compat::binfmt::Matcher::Extension("nothing".into());
    let refused = run_in_private_namespace(&other, &hello, &[], Duration::from_secs(20)).unwrap();
    assert_ne!(refused.exit_code, Some(0), "{refused:?}");

    // The host's table is as it was.
    assert_eq!(read_table(Path::new(HOST_BINFMT_ROOT)).unwrap(), before);
}

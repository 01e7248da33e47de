//! Builds compatd's TCG plugin (`plugins/tcg_counter.c`) into a shared
//! object that `corridor_hal::compat::tcg` embeds: QEMU loads plugins only
//! from a file, so corridord carries it and writes it out at start.

use std::path::PathBuf;

fn main() {
    let source = "plugins/tcg_counter.c";
    println!("cargo:rerun-if-changed={source}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("corridor-tcg-counter.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-fvisibility=hidden",
            "-Wall",
            "-o",
        ])
        .arg(&out)
        .arg(source)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler for {source}: {e}"));
    assert!(status.success(), "the C compiler failed on {source}");
}

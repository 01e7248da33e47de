//! memqosd on a real kernel with two NUMA nodes (Debian's 6.12 cloud kernel
//! under QEMU TCG, `scripts/install-vm.sh`): migration of a bundle between
//! the nodes against bare `move_pages` of the same pages, and populating a
//! fresh bundle against anonymous memory and a bare memfd (all with 2 MiB
//! pages), alternating in the same guest. The figures are TCG's (an emulated CPU copies the pages), so
//! they compare the two paths, not this machine's memory.
//!
//! `cargo bench -p corridor-server --bench guest_memory`

#[path = "../tests/guest/mod.rs"]
mod guest;

fn main() {
    // Inside the guest, tests/vm/init.sh runs this binary again with the
    // scenario in the environment: that run is the measuring side.
    if std::env::var_os("CORRIDOR_GUEST_SCENARIO").is_some() {
        guest::bench::run();
        return;
    }
    let boot = guest::boot(guest::Scenario::Hmat);
    println!(
        "guest_memory: Linux {} under QEMU TCG, {:.1} s boot to power-off",
        boot.kernel,
        boot.elapsed.as_secs_f64()
    );
    let lines: Vec<&str> = boot
        .console
        .lines()
        .filter_map(|l| l.strip_prefix("corridor-guest-bench: "))
        .collect();
    assert!(
        lines.last() == Some(&"done"),
        "the guest benchmark did not finish; console:\n{}",
        boot.console
    );
    for line in &lines[..lines.len() - 1] {
        println!("guest_memory: {line}");
    }
}

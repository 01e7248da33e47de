//! memqosd on a real kernel with real memory tiers: Debian's 6.12 cloud
//! kernel under QEMU (TCG) with two HMAT-described NUMA nodes, the same on
//! Debian 12's own 6.1 kernel, and 6.12 again with an emulated CXL Type-3
//! device onlined as a third node. Inside the
//! guest the real corridord runs with `--memory-provider linux` and this
//! binary's `guest_agent` checks where the kernel put every page.
//!
//! One guest at a time (each takes two emulated CPUs of this machine's two).

mod guest;

use std::sync::Mutex;

use guest::Scenario;

/// Boots run one at a time, whatever the test harness's thread count.
static ONE_GUEST: Mutex<()> = Mutex::new(());

fn boot_and_pass(scenario: Scenario) {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let boot = guest::boot(scenario);
    eprintln!(
        "{} guest on Linux {}: {:.1} s boot to power-off",
        scenario.name(),
        boot.kernel,
        boot.elapsed.as_secs_f64()
    );
    assert!(
        boot.passed(),
        "the agent inside the {} guest did not pass; console:\n{}",
        scenario.name(),
        boot.console
    );
    eprintln!("{}", boot.report());
}

#[test]
fn a_two_node_hmat_guest_places_bundles_by_tier_and_migrates_them_live() {
    boot_and_pass(Scenario::Hmat);
}

#[test]
fn on_debian_12s_own_kernel_whose_tiers_ignore_hmat_the_tiers_still_come_from_hmat() {
    boot_and_pass(Scenario::HmatLts);
}

#[test]
fn a_cxl_guest_onlines_the_device_as_a_memory_node_memqosd_allocates_on() {
    boot_and_pass(Scenario::Cxl);
}

/// Not a host test: `tests/vm/init.sh` runs it inside the guest.
#[test]
#[ignore = "runs inside the guest kernel, started by the tests above"]
fn guest_agent() {
    guest::agent::run();
}

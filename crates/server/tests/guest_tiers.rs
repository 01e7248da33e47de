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
    let mut boot = guest::boot(scenario);
    if boot.kernel_died_before_init() {
        // Once only: a second crash, or any failure once our code runs,
        // fails the test.
        eprintln!(
            "the {} guest's kernel died before /init ran; booting it once more. Console:\n{}",
            scenario.name(),
            boot.console
        );
        boot = guest::boot(scenario);
    }
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

/// The one retry is for a kernel that died before `/init` ran; a crash or
/// a failure after our first line is the test's to report.
#[test]
fn only_a_kernel_that_died_before_init_is_booted_again() {
    let boot = |console: &str| guest::Boot {
        kernel: "6.12".into(),
        console: console.into(),
        elapsed: std::time::Duration::ZERO,
    };
    let oops = "[    2.241284] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[    2.241587] CPU: 0 UID: 0 PID: 0 Comm: swapper/0";
    assert!(boot(oops).kernel_died_before_init());
    assert!(boot("[    3.1] Kernel panic - not syncing: VFS").kernel_died_before_init());
    // Our code ran: its failures are not retried.
    assert!(
        !boot(&format!(
            "corridor-guest: kernel 6.12, scenario cxl\n{oops}"
        ))
        .kernel_died_before_init()
    );
    assert!(!boot("corridor-guest: kernel 6.12\ncorridor-guest: FAIL").kernel_died_before_init());
}
